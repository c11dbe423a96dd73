package dev.syrup.isolation;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.syrup.api.DeploymentStats;
import dev.syrup.api.Protocol;
import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
import dev.syrup.api.Target;
import dev.syrup.api.map.SyrupMap;
import dev.syrup.backend.ebpf.XdpDrvHook;
import dev.syrup.backend.ebpf.XdpHook;
import dev.syrup.backend.ebpf.XdpSkbHook;
import dev.syrup.bpf.Xdp;
import dev.syrup.client.Syrup;
import dev.syrup.client.XdpSocket;
import dev.syrup.hook.spi.HookContext;
import dev.syrup.hook.spi.HookDeployment;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.DatagramChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hooks {@code xdp_skb} and {@code xdp_drv} with real AF_XDP sockets ({@link XdpSocket}) on a veth
 * pair this test makes: its end {@code dev} (one queue) stays here with 10.212.N.1, the peer goes
 * into network namespace {@code ns} with 10.212.N.2 and sends UDP from there (bash's /dev/udp,
 * through nsenter). The policy is MICA-style (paper §5.4): the key in the first 4 bytes of the
 * UDP payload is hashed and the hash picks one of two AF_XDP sockets, both bound to queue 0 of
 * {@code dev} (the second shares the first's UMEM: the kernel binds one UMEM owner per queue).
 */
class XdpHookKernelTest {

    /** Keys sent; each one twice. */
    private static final int KEYS = 120;
    private static final int EXECUTORS = 2;

    /** Finds the UDP header with syrup.h's syr_l4() (the glue defines SYR_PKT_L2) and hashes the payload's first u32. */
    static final String MICA = """
            SYR_MAP(t_seen, 1);

            uint32_t schedule(void *pkt_start, void *pkt_end)
            {
            	struct udphdr *udp = syr_l4(pkt_start, pkt_end);
            	uint32_t zero = 0, *key, h;
            	uint64_t *seen;

            	if (!udp)
            		return SYR_PASS;
            	key = (void *)(udp + 1);
            	if (!syr_has(key, sizeof(*key), pkt_end))
            		return SYR_PASS;
            	seen = syr_map_lookup_elem(&t_seen, &zero);
            	if (seen)
            		__sync_fetch_and_add(seen, 1);
            	h = *key * 2654435761u;
            	return (h >> 16) % NUM_EXECUTORS;
            }
            """;

    /** Counts what it sees and lets it on to the kernel's stack. */
    static final String COUNT = """
            SYR_MAP(t_seen, 1);

            uint32_t schedule(void *pkt_start, void *pkt_end)
            {
            	uint32_t zero = 0;
            	uint64_t *seen = syr_map_lookup_elem(&t_seen, &zero);
            	if (seen)
            		__sync_fetch_and_add(seen, 1);
            	return SYR_PASS;
            }
            """;

    /** The executor the MICA policy picks for {@code key}: the same hash, in Java. */
    static int home(int key) {
        int h = key * (int) 2654435761L;
        return (int) (Integer.toUnsignedLong(h >>> 16) % EXECUTORS);
    }

    @TempDir
    Path dir;

    private String ns;
    private String dev;
    private String local;
    private String peerAddr;
    private Path bpffs;

    @BeforeAll
    static void kernel() {
        Kernel.require();
    }

    @BeforeEach
    void veth() throws Exception {
        int r = ThreadLocalRandom.current().nextInt(0x10000, 0xfffff);
        int net = ThreadLocalRandom.current().nextInt(1, 254);
        ns = "syrn" + Integer.toHexString(r);
        dev = "syrx" + Integer.toHexString(r);
        String peer = "syry" + Integer.toHexString(r);
        local = "10.212." + net + ".1";
        peerAddr = "10.212." + net + ".2";
        bpffs = Path.of("/sys/fs/bpf/syrup-test-" + UUID.randomUUID().toString().substring(0, 8));
        Kernel.run("ip", "netns", "add", ns);
        Kernel.run("ip", "link", "add", dev, "numtxqueues", "1", "numrxqueues", "1", "type", "veth", "peer", "name", peer,
                "numtxqueues", "1", "numrxqueues", "1");
        Kernel.run("ip", "link", "set", peer, "netns", ns);
        Kernel.run("ip", "addr", "add", local + "/24", "dev", dev);
        Kernel.run("ip", "link", "set", dev, "up");
        String mac = Files.readString(Path.of("/sys/class/net", dev, "address")).trim();
        // A static neighbour: no ARP round trip before the first datagram.
        inNs("ip addr add " + peerAddr + "/24 dev " + peer + " && ip link set " + peer + " up && ip link set lo up"
                + " && ip neigh replace " + local + " lladdr " + mac + " dev " + peer);
    }

    @AfterEach
    void removeVeth() throws IOException {
        Kernel.quietly("ip", "link", "del", dev);
        Kernel.quietly("ip", "netns", "del", ns);
        if (Files.exists(bpffs)) {
            try (Stream<Path> s = Files.walk(bpffs)) {
                for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                    Files.deleteIfExists(p);
                }
            }
        }
    }

    private void inNs(String script) throws Exception {
        Kernel.run("nsenter", "--net=/run/netns/" + ns, "bash", "-c", script);
    }

    /**
     * Each key twice, as the first 4 payload bytes of its own datagram, then 4 bytes more. Key k
     * is the text {@code %04d} of k, read as a little-endian u32 (plain text keeps the shell out of it).
     */
    private void sendKeys(int port) throws Exception {
        StringBuilder sb = new StringBuilder();
        for (int round = 0; round < 2; round++) {
            for (int k = 0; k < KEYS; k++) {
                sb.append("printf '").append(String.format("%04d", k)).append("tail' > /dev/udp/")
                        .append(local).append('/').append(port).append('\n');
            }
        }
        inNs(sb.toString());
    }

    private static int scramble(int k) {
        byte[] b = String.format("%04d", k).getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).getInt();
    }

    private void sendPlain(int port, int n) throws Exception {
        inNs("for i in $(seq 1 " + n + "); do printf 'plain%04d' $i > /dev/udp/" + local + "/" + port + "; done");
    }

    private Path compile(XdpHook hook, String name, String policy) throws Exception {
        Path c = dir.resolve(name + ".c");
        Files.writeString(c, policy);
        return Kernel.compile(dir, name + "_glue", hook.wrapper(c.toString()), "NUM_EXECUTORS=" + EXECUTORS);
    }

    /**
     * Receives on both sockets until {@code expected} packets came or 10 s passed; checks each
     * packet's destination port and that its key's home is the socket it came to.
     *
     * @return packets per socket
     */
    private static int[] receiveKeys(List<XdpSocket> socks, int port, int expected) throws Exception {
        int[] got = new int[socks.size()];
        List<String> wrong = new ArrayList<>();
        long end = System.nanoTime() + 10_000_000_000L;
        int total = 0;
        while (total < expected && System.nanoTime() < end) {
            for (int i = 0; i < socks.size(); i++) {
                int index = i;
                total += socks.get(i).receive(64, (umem, off, len, room) -> {
                    ByteBuffer p = umem.duplicate().order(ByteOrder.BIG_ENDIAN);
                    int ihl = (p.get(off + 14) & 0x0f) * 4;
                    int udp = off + 14 + ihl;
                    int dport = p.getShort(udp + 2) & 0xffff;
                    int key = p.order(ByteOrder.LITTLE_ENDIAN).getInt(udp + 8);
                    got[index]++;
                    if (dport != port || home(key) != index) {
                        wrong.add("key " + key + " (home " + home(key) + ") to port " + dport + " came to socket " + index);
                    }
                    return -1;
                });
            }
            if (total < expected) {
                socks.get(0).poll(20);
            }
        }
        assertEquals(List.of(), wrong, "every packet on its key's home socket, for this port only");
        return got;
    }

    private static int expectedOn(int socket) {
        int n = 0;
        for (int k = 0; k < KEYS; k++) {
            if (home(scramble(k)) == socket) {
                n += 2;
            }
        }
        return n;
    }

    @Test
    void genericModeKeyHashOverTwoSocketsAndASecondApplicationOnAnotherPort() throws Exception {
        int portA = ThreadLocalRandom.current().nextInt(20000, 30000);
        int portB = portA + 1;
        int ifindex = Xdp.ifindex(dev);
        java.util.Map<String, String> fds = Kernel.openFds();
        java.util.Set<Integer> progsBefore = Kernel.programIds();
        java.util.Set<Integer> mapsBefore = Kernel.mapIds();
        java.util.Set<Integer> progs;
        java.util.Set<Integer> maps;
        try (PortDispatcher d = new PortDispatcher();
             XdpSocket s0 = XdpSocket.open(dev, 0);
             XdpSocket s1 = s0.shareUmem();
             DatagramChannel plain = DatagramChannel.open()) {
            assertFalse(s0.zeroCopy(), "veth has no zero-copy: AUTO fell back to copy mode");
            plain.bind(new InetSocketAddress(local, portB));
            plain.configureBlocking(false);
            plain.setOption(java.net.StandardSocketOptions.SO_RCVBUF, 1 << 20);
            XdpSkbHook hook = new XdpSkbHook(d);
            Path mica = compile(hook, "t_mica", MICA);
            Path count = compile(hook, "t_count", COUNT);

            HookDeployment app1 = hook.open(new Target(Protocol.UDP, portA, Optional.of(dev)), HookContext.ofPinDir(bpffs.resolve("app1").resolve("d1")));
            HookDeployment app2 = hook.open(new Target(Protocol.UDP, portB, Optional.of(dev)), HookContext.ofPinDir(bpffs.resolve("app2").resolve("d2")));
            try {
                assertTrue(Xdp.attachedProgramId(ifindex, Xdp.XDP_FLAGS_SKB_MODE).isPresent(), "the root runs in generic mode");
                app1.install(mica);
                app2.install(count);
                long pid = ProcessHandle.current().pid();
                progs = Kernel.newPrograms(progsBefore);
                maps = Kernel.newMaps(mapsBefore);
                app1.registerExecutor(0, pid, s0.fd());
                app1.registerExecutor(1, pid, s1.fd());
                assertEquals(2, app1.executors());
                assertEquals(Kind.INVALID, assertThrows(SyrupException.class,
                        () -> app1.registerExecutor(0, pid, Syrup.fdOf(plain))).kind(), "only AF_XDP sockets");

                // The other mode cannot share the interface: a clear CONFLICT.
                SyrupException conflict = assertThrows(SyrupException.class, () -> new XdpDrvHook(d)
                        .open(new Target(Protocol.UDP, portB + 1, Optional.of(dev)), HookContext.ofPinDir(bpffs.resolve("app3").resolve("d3"))));
                assertEquals(Kind.CONFLICT, conflict.kind());
                assertTrue(conflict.getMessage().contains("cannot share") && conflict.getMessage().contains("xdp_skb"),
                        conflict.getMessage());

                sendKeys(portA);
                sendPlain(portB, 50);
                int[] got = receiveKeys(List.of(s0, s1), portA, 2 * KEYS);
                assertEquals(expectedOn(0), got[0], "socket 0: the keys whose hash is 0, each twice");
                assertEquals(expectedOn(1), got[1], "socket 1: the keys whose hash is 1, each twice");
                assertTrue(got[0] > 0 && got[1] > 0, "both sockets serve keys");
                assertEquals(0, s0.statistics().rxDropped() + s1.statistics().rxDropped(), "nothing dropped");
                assertEquals(2 * KEYS, seen(app1), "app1's policy saw its port's packets only");
                assertEquals(new DeploymentStats(List.of((long) expectedOn(0), (long) expectedOn(1)), 0, 0, 0), app1.stats(),
                        "app1's decision counters: per socket what it received");

                int plainGot = 0;
                ByteBuffer buf = ByteBuffer.allocate(64);
                long end = System.nanoTime() + 5_000_000_000L;
                while (plainGot < 50 && System.nanoTime() < end) {
                    if (plain.receive(buf) != null) {
                        plainGot++;
                        buf.clear();
                    } else {
                        Thread.sleep(5);
                    }
                }
                assertEquals(50, plainGot, "app2's policy passed its packets on to the kernel's UDP socket");
                assertEquals(50, seen(app2), "app2's policy saw its port's packets only");
                assertEquals(new DeploymentStats(List.of(), 50, 0, 0), app2.stats(), "app2's decision counters: 50 PASS");
            } finally {
                app1.close();
                app2.close();
            }
            assertEquals(OptionalInt.empty(), Xdp.attachedProgramId(ifindex, 0), "the root goes with the last deployment");
        }
        assertTrue(progs.size() >= 3 && maps.size() >= 3, "root, two policies, XSKMAPs: " + progs + " " + maps);
        Kernel.assertGone(progs, maps);
        assertEquals(java.util.Map.of(), Kernel.newFds(fds), "fds left open (sockets, rings, maps)");
    }

    @Test
    void nativeModeKeyHashOverTwoSockets() throws Exception {
        int port = ThreadLocalRandom.current().nextInt(20000, 30000);
        int ifindex = Xdp.ifindex(dev);
        try (PortDispatcher d = new PortDispatcher()) {
            XdpDrvHook hook = new XdpDrvHook(d);
            Path mica = compile(hook, "t_mica", MICA);
            try (HookDeployment app = hook.open(new Target(Protocol.UDP, port, Optional.of(dev)), HookContext.ofPinDir(bpffs.resolve("app1").resolve("d1")));
                 XdpSocket s0 = XdpSocket.open(dev, 0);
                 XdpSocket s1 = s0.shareUmem()) {
                assertTrue(Xdp.attachedProgramId(ifindex, Xdp.XDP_FLAGS_DRV_MODE).isPresent(), "the root runs in native mode");
                app.install(mica);
                long pid = ProcessHandle.current().pid();
                app.registerExecutor(0, pid, s0.fd());
                app.registerExecutor(1, pid, s1.fd());
                sendKeys(port);
                int[] got = receiveKeys(List.of(s0, s1), port, 2 * KEYS);
                assertEquals(expectedOn(0), got[0]);
                assertEquals(expectedOn(1), got[1]);
                assertEquals(0, s0.statistics().rxDropped() + s1.statistics().rxDropped(), "nothing dropped");
                assertEquals(2 * KEYS, seen(app));
                assertEquals(new DeploymentStats(List.of((long) expectedOn(0), (long) expectedOn(1)), 0, 0, 0), app.stats(),
                        "decision counters: per socket what it received");
            }
            assertEquals(OptionalInt.empty(), Xdp.attachedProgramId(ifindex, 0));
        }
    }

    /**
     * The example's in-place echo (examples/xdp-echo): a peer in the namespace sends datagrams
     * and gets each one back, from the address it sent to, with its payload.
     */
    @Test
    void echoInPlaceAnswersTheSender() throws Exception {
        int port = ThreadLocalRandom.current().nextInt(20000, 30000);
        // The echo keeps the UDP checksum: the sender must hand over finished ones.
        inNs("ethtool -K " + dev.replace("syrx", "syry") + " tx off >/dev/null");
        try (PortDispatcher d = new PortDispatcher()) {
            XdpSkbHook hook = new XdpSkbHook(d);
            Path all = compile(hook, "t_all", "uint32_t schedule(void *s, void *e) { return 0; }\n");
            try (HookDeployment app = hook.open(new Target(Protocol.UDP, port, Optional.of(dev)), HookContext.ofPinDir(bpffs.resolve("app1").resolve("d1")));
                 XdpSocket s0 = XdpSocket.open(dev, 0)) {
                app.install(all);
                app.registerExecutor(0, ProcessHandle.current().pid(), s0.fd());
                int n = 50;
                java.util.concurrent.CompletableFuture<List<String>> peer = new java.util.concurrent.CompletableFuture<>();
                Thread t = new Thread(() -> {
                    try {
                        Netns.enter(ns);
                        List<String> answers = new ArrayList<>();
                        try (DatagramChannel ch = DatagramChannel.open()) {
                            ch.bind(new InetSocketAddress(peerAddr, 0));
                            ch.socket().setSoTimeout(5000);
                            java.nio.channels.Selector sel = java.nio.channels.Selector.open();
                            ch.configureBlocking(false);
                            ch.register(sel, java.nio.channels.SelectionKey.OP_READ);
                            for (int i = 0; i < n; i++) {
                                ch.send(ByteBuffer.wrap(("echo" + i).getBytes()), new InetSocketAddress(local, port));
                                ByteBuffer in = ByteBuffer.allocate(64);
                                java.net.SocketAddress from = null;
                                if (sel.select(5000) > 0) {
                                    from = ch.receive(in);
                                    sel.selectedKeys().clear();
                                }
                                in.flip();
                                answers.add(from + " " + new String(in.array(), 0, in.limit()));
                            }
                            sel.close();
                        }
                        peer.complete(answers);
                    } catch (Throwable e) {
                        peer.completeExceptionally(e);
                    }
                });
                t.start();
                long end = System.nanoTime() + 20_000_000_000L;
                while (!peer.isDone() && System.nanoTime() < end) {
                    if (s0.receive(64, XdpHookKernelTest::echo) == 0) {
                        s0.poll(5);
                    }
                }
                List<String> answers = peer.get(5, java.util.concurrent.TimeUnit.SECONDS);
                List<String> expected = new ArrayList<>();
                for (int i = 0; i < n; i++) {
                    expected.add("/" + local + ":" + port + " echo" + i);
                }
                assertEquals(expected, answers);
            }
        }
    }

    /** examples/xdp-echo/XdpEchoServer.echo: swap MACs, IPv4 addresses and UDP ports in place. */
    static int echo(ByteBuffer umem, int off, int len, int room) {
        if (len < 42 || umem.getShort(off + 12) != (short) 0x0800 || umem.get(off + 23) != 17) {
            return -1;
        }
        int ihl = (umem.get(off + 14) & 0x0f) * 4;
        swap(umem, off, off + 6, 6);
        swap(umem, off + 26, off + 30, 4);
        swap(umem, off + 14 + ihl, off + 14 + ihl + 2, 2);
        return len;
    }

    private static void swap(ByteBuffer b, int x, int y, int n) {
        for (int i = 0; i < n; i++) {
            byte t = b.get(x + i);
            b.put(x + i, b.get(y + i));
            b.put(y + i, t);
        }
    }

    private static long seen(HookDeployment dep) throws SyrupException {
        SyrupMap m = dep.maps().stream().filter(x -> x.name().equals("t_seen")).findFirst().orElseThrow();
        return m.lookup(0).orElse(0);
    }
}
