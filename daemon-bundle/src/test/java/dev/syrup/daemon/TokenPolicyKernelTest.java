package dev.syrup.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.syrup.api.DeployRequest;
import dev.syrup.api.Deployment;
import dev.syrup.api.Protocol;
import dev.syrup.api.Target;
import dev.syrup.api.map.SyrupMap;
import dev.syrup.backend.ebpf.SocketSelectHook;
import dev.syrup.daemon.events.TokenEpochs;
import dev.syrup.isolation.PortDispatcher;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.DatagramChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicLongArray;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The built-in {@code token} policy (paper §3.4, §5.2.2) on the real kernel with its userspace
 * token generator ({@link TokenEpochs}; syrupd's timer route runs it every epoch, here the test
 * runs it in step with the senders, 60 epochs of 50 ms at 2000 tokens/s): a latency-sensitive
 * user gets its rate, a best-effort user the tokens the other leaves, and nobody else anything.
 */
class TokenPolicyKernelTest {

    static final int LS = 1;
    static final int BE = 2;
    static final int OTHER = 3;
    static final long RATE = 2000;      // LS tokens per second
    static final long EPOCH_MS = 50;    // 100 tokens per epoch
    static final int EPOCHS = 60;

    @TempDir
    static Path dir;

    private DeploymentManager syrupd;
    private PortDispatcher dispatcher;
    private Path bpffs;

    @BeforeAll
    static void kernel() {
        Kernel.require();
    }

    @BeforeEach
    void start() throws IOException {
        bpffs = Path.of("/sys/fs/bpf/syrup-test-" + UUID.randomUUID().toString().substring(0, 8));
        syrupd = new DeploymentManager(DaemonConfig.of(dir.resolve("work").toString(), bpffs.toString()));
        dispatcher = new PortDispatcher();
        syrupd.addHook(new SocketSelectHook(dispatcher));
    }

    @AfterEach
    void stop() throws IOException {
        syrupd.deactivate();
        dispatcher.close();
        Files.deleteIfExists(bpffs);
    }

    @Test
    void lsGetsItsRateBeGetsTheLeftoversNobodyElsePasses() throws Exception {
        try (Receiver rx = new Receiver()) {
            Deployment d = syrupd.deploy(new DeployRequest("token", SocketSelectHook.NAME, Target.port(Protocol.UDP, rx.port),
                    Map.of(), false, DeployRequest.ADMIN));
            deployment = d.id();
            SyrupMap tokens = syrupd.map(d.id(), "tokens");
            assertEquals("array", tokens.type());

            // Before any token: everything is dropped.
            epochs(rx, new TokenEpochs(LS, BE, 0, 1000), 1, Map.of(LS, 100L, BE, 100L, OTHER, 100L));
            assertEquals(0, rx.await(1, 300), "no tokens, nothing passes");

            // The generator's epochs are driven here, in step with the senders, so that the test
            // measures the policy and the generator rather than this machine's scheduling: each
            // epoch refills, then the users send that epoch's requests.
            TokenEpochs gen = new TokenEpochs(LS, BE, RATE, EPOCH_MS * 1000);
            long share = RATE * EPOCH_MS / 1000;

            // 1. Both users offer twice the LS rate: LS gets its rate, BE only leftovers (none).
            long[] sent = epochs(rx, gen, EPOCHS, Map.of(LS, 2 * share, BE, 2 * share, OTHER, share / 4));
            long granted = gen.granted();
            System.out.printf("token, LS over its rate: sent LS %d BE %d other %d; granted %d, gifted %d; passed LS %d BE %d other %d%n",
                    sent[LS], sent[BE], sent[OTHER], granted, gen.gifted(), rx.get(LS), rx.get(BE), rx.get(OTHER));
            assertTrue(Math.abs(rx.get(LS) - granted) <= granted * 0.05,
                    "LS passed " + rx.get(LS) + ", its tokens " + granted + " ± 5%");
            assertTrue(rx.get(BE) <= granted * 0.05, "BE gets only leftovers, which are few: " + rx.get(BE));
            assertEquals(0, rx.get(OTHER), "a user without tokens never passes");
            assertTrue(rx.get(LS) + rx.get(BE) <= granted * 1.05, "nothing beyond the tokens passes");

            // 2. LS offers half its rate: all of it passes, and BE gets the rest of LS's tokens.
            rx.reset();
            long g0 = gen.granted();
            long gifted0 = gen.gifted();
            sent = epochs(rx, gen, EPOCHS, Map.of(LS, share / 2, BE, 2 * share, OTHER, share / 4));
            granted = gen.granted() - g0;
            long gifted = gen.gifted() - gifted0;
            System.out.printf("token, LS under its rate: sent LS %d BE %d other %d; granted %d, gifted %d; passed LS %d BE %d other %d%n",
                    sent[LS], sent[BE], sent[OTHER], granted, gifted, rx.get(LS), rx.get(BE), rx.get(OTHER));
            assertTrue(rx.get(LS) >= sent[LS] * 0.95, "LS under its rate passes (95% at least): " + rx.get(LS) + " of " + sent[LS]);
            long rest = granted - rx.get(LS);
            assertTrue(Math.abs(rx.get(BE) - rest) <= granted * 0.05,
                    "BE passed " + rx.get(BE) + ", the rest of LS's tokens " + rest + " ± 5% of " + granted);
            assertEquals(0, rx.get(OTHER), "a user without tokens never passes");
            assertTrue(rx.get(LS) + rx.get(BE) <= granted * 1.05, "nothing beyond the tokens passes");
        }
    }

    @Test
    void roundRobinVariantPlacesWhatItAdmitsInTurn() throws Exception {
        // -D ROUND_ROBIN (fig7's setup): admission as before, then executors in turn.
        try (UdpGroup group = new UdpGroup(4); UdpGroup.Sender tx = new UdpGroup.Sender(group.port)) {
            Deployment d = syrupd.deploy(new DeployRequest("token", SocketSelectHook.NAME, Target.port(Protocol.UDP, group.port),
                    Map.of("ROUND_ROBIN", ""), false, DeployRequest.ADMIN));
            syrupd.map(d.id(), "tokens").update(7, 400); // the Sender's user id
            tx.send(600, 0);
            group.await(Long.MAX_VALUE, 1000);
            long[] per = group.perSocket();
            System.out.println("token -D ROUND_ROBIN, 400 tokens, 600 sent: per socket " + java.util.Arrays.toString(per));
            assertEquals(400, group.total(), "only what the tokens admit passes");
            for (long n : per) {
                assertEquals(100, n, "admitted requests go round robin: " + java.util.Arrays.toString(per));
            }
            assertEquals(0, syrupd.map(d.id(), "tokens").lookup(7).orElse(-1), "every token used");
        }
    }

    /**
     * Runs {@code n} epochs: a refill, then each user's requests of that epoch (interleaved, each
     * user from its own source port), then a wait until what the tokens allow has arrived.
     * Returns the number sent per user.
     */
    private long[] epochs(Receiver rx, TokenEpochs gen, int n, Map<Integer, Long> perEpoch) throws Exception {
        long[] sent = new long[8];
        Map<Integer, DatagramChannel> from = new java.util.HashMap<>();
        ByteBuffer buf = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN);
        InetSocketAddress to = new InetSocketAddress("127.0.0.1", rx.port);
        SyrupMap tokens = syrupd.map(deployment, "tokens");
        try {
            for (int u : perEpoch.keySet()) {
                DatagramChannel ch = DatagramChannel.open();
                ch.bind(new InetSocketAddress("127.0.0.1", 0));
                from.put(u, ch);
            }
            long max = perEpoch.values().stream().mapToLong(Long::longValue).max().orElse(0);
            for (int e = 0; e < n; e++) {
                gen.epoch(tokens);
                long expected = rx.total() + Math.min(perEpoch.getOrDefault(LS, 0L), tokens.lookup(LS).orElse(0))
                        + Math.min(perEpoch.getOrDefault(BE, 0L), tokens.lookup(BE).orElse(0));
                for (long i = 0; i < max; i++) {
                    for (Map.Entry<Integer, Long> r : perEpoch.entrySet()) {
                        if (i < r.getValue()) {
                            int u = r.getKey();
                            buf.clear();
                            buf.putInt(0).putInt(u).putLong(sent[u]).flip();
                            from.get(u).send(buf, to);
                            sent[u]++;
                        }
                    }
                }
                rx.await(expected, 5000);
            }
            rx.await(Long.MAX_VALUE, 200); // stragglers
        } finally {
            for (DatagramChannel ch : from.values()) {
                ch.close();
            }
        }
        return sent;
    }

    private int rxPort;
    private String deployment;

    /** One SO_REUSEPORT UDP socket (the deployment's one executor) counting datagrams per user id. */
    private final class Receiver implements AutoCloseable {
        final int port;
        private final DatagramChannel ch;
        private final AtomicLongArray counts = new AtomicLongArray(8);
        private final Thread reader;

        Receiver() throws IOException {
            ch = DatagramChannel.open();
            ch.setOption(StandardSocketOptions.SO_REUSEPORT, true);
            ch.setOption(StandardSocketOptions.SO_RCVBUF, 8 << 20);
            ch.bind(new InetSocketAddress("127.0.0.1", 0));
            port = ((InetSocketAddress) ch.getLocalAddress()).getPort();
            rxPort = port;
            UdpGroup.forceReceiveBuffers(port, 8 << 20);
            reader = new Thread(() -> {
                ByteBuffer b = ByteBuffer.allocate(2048).order(ByteOrder.LITTLE_ENDIAN);
                try {
                    while (true) {
                        b.clear();
                        ch.receive(b);
                        int user = b.position() >= 8 ? b.getInt(4) : 7;
                        counts.incrementAndGet(user >= 0 && user < 8 ? user : 7);
                    }
                } catch (ClosedChannelException e) {
                    // closed
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            }, "token-rx");
            reader.setDaemon(true);
            reader.start();
        }

        long get(int user) {
            return counts.get(user);
        }

        long total() {
            long t = 0;
            for (int i = 0; i < counts.length(); i++) {
                t += counts.get(i);
            }
            return t;
        }

        void reset() {
            for (int i = 0; i < counts.length(); i++) {
                counts.set(i, 0);
            }
        }

        /** Waits until {@code expected} arrived or, once nothing arrives for {@code quietMillis}, returns the total. */
        long await(long expected, long quietMillis) throws InterruptedException {
            long last = -1;
            long seen;
            long quietSince = System.currentTimeMillis();
            while ((seen = total()) < expected) {
                if (seen != last) {
                    last = seen;
                    quietSince = System.currentTimeMillis();
                } else if (System.currentTimeMillis() - quietSince > quietMillis) {
                    break;
                }
                Thread.sleep(10);
            }
            return total();
        }

        @Override
        public void close() throws IOException {
            ch.close();
            try {
                reader.join(2000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
