package dev.syrup.daemon;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.syrup.api.DeployRequest;
import dev.syrup.api.Deployment;
import dev.syrup.api.Protocol;
import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
import dev.syrup.api.Target;
import dev.syrup.backend.ebpf.SocketSelectHook;
import dev.syrup.bpf.BpfMap;
import dev.syrup.bpf.KernelObjects;
import dev.syrup.bpf.MapInfo;
import dev.syrup.bpf.ProgramInfo;
import dev.syrup.dispatch.Dispatcher;
import dev.syrup.isolation.PortDispatcher;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The deploy path end to end on the real kernel: the deployment manager compiles a policy
 * with clang, the socket_select hook loads it through libbpf and attaches it to a real
 * SO_REUSEPORT group this test opened, and real datagrams show where they land.
 */
class SocketSelectKernelTest {

    @TempDir
    static Path dir;

    private DeploymentManager syrupd;
    private SocketSelectHook hook;
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
        hook = new SocketSelectHook(dispatcher);
        syrupd.addHook(hook);
    }

    @AfterEach
    void stop() throws IOException {
        syrupd.deactivate();
        assertEquals(List.of(), dispatcher.claims(), "every claim released with its deployment");
        dispatcher.close();
        assertFalse(Files.exists(bpffs.resolve(DeployRequest.ADMIN)), "pins left under " + bpffs);
        Files.deleteIfExists(bpffs);
    }

    private Deployment deploy(String policy, int port, Protocol proto, boolean replace) throws SyrupException {
        return syrupd.deploy(new DeployRequest(policy, SocketSelectHook.NAME, Target.port(proto, port), Map.of(),
                replace, DeployRequest.ADMIN));
    }

    @Test
    void roundRobinSplitsOneSourcePortEvenlyAndUndeployRestoresTheDefault() throws Exception {
        try (UdpGroup group = new UdpGroup(4); UdpGroup.Sender tx = new UdpGroup.Sender(group.port)) {
            tx.send(4000, 0);
            assertEquals(4000, group.await(4000, 5000));
            long[] byDefault = group.perSocket();
            assertEquals(4000, Arrays.stream(byDefault).max().orElseThrow(),
                    "the kernel's hash puts one source port on one socket: " + Arrays.toString(byDefault));

            Deployment d = deploy("round_robin", group.port, Protocol.UDP, false);
            assertEquals(4, d.executors());
            group.reset();
            tx.send(4000, 0);
            assertEquals(4000, group.await(4000, 5000));
            for (long n : group.perSocket()) {
                assertTrue(Math.abs(n - 1000) <= 10, "round_robin gives 1000 ± 1% each: " + Arrays.toString(group.perSocket()));
            }

            syrupd.undeploy(d.id());
            group.reset();
            tx.send(4000, 0);
            assertEquals(4000, group.await(4000, 5000));
            assertEquals(4000, Arrays.stream(group.perSocket()).max().orElseThrow(),
                    "after undeploy the default is back: " + Arrays.toString(group.perSocket()));
        }
    }

    @Test
    void redeployRightAfterUndeployOnTheSameSockets() throws Exception {
        // The kernel frees a closed sockarray later; the deployment empties it first, or the
        // sockets would still count as taken (EBUSY) for the next deployment.
        try (UdpGroup group = new UdpGroup(4); UdpGroup.Sender tx = new UdpGroup.Sender(group.port)) {
            for (int round = 0; round < 5; round++) {
                Deployment d = deploy("round_robin", group.port, Protocol.UDP, false);
                syrupd.undeploy(d.id());
            }
            deploy("round_robin", group.port, Protocol.UDP, false);
            tx.send(400, 0);
            assertEquals(400, group.await(400, 5000));
            assertArrayEquals(new long[] {100, 100, 100, 100}, group.perSocket());
        }
    }

    @Test
    void sitaSendsEveryScanToExecutorZeroAndNoGetThere() throws Exception {
        try (UdpGroup group = new UdpGroup(4); UdpGroup.Sender tx = new UdpGroup.Sender(group.port)) {
            deploy("sita", group.port, Protocol.UDP, false);
            tx.send(3000, 10); // 300 SCANs, 2700 GETs
            assertEquals(3000, group.await(3000, 5000));
            assertEquals(300, group.received(0, UdpGroup.SCAN), "every SCAN on executor 0");
            assertEquals(0, group.received(0, UdpGroup.GET), "no GET on executor 0");
            for (int s = 1; s < 4; s++) {
                assertEquals(0, group.received(s, UdpGroup.SCAN));
                assertEquals(900, group.received(s, UdpGroup.GET), "GETs round-robin over 1..3");
            }
        }
    }

    @Test
    void dropAllDrops() throws Exception {
        Path drop = dir.resolve("drop_all.c");
        Files.writeString(drop, "uint32_t schedule(void *pkt_start, void *pkt_end) { return SYR_DROP; }\n");
        try (UdpGroup group = new UdpGroup(2); UdpGroup.Sender tx = new UdpGroup.Sender(group.port)) {
            Deployment d = deploy(drop.toString(), group.port, Protocol.UDP, false);
            tx.send(500, 0);
            assertEquals(0, group.await(1, 500), "a DROP policy lets nothing through");
            syrupd.undeploy(d.id());
            tx.send(500, 0);
            assertEquals(500, group.await(500, 5000));
        }
    }

    @Test
    void tcpConnectionsSpreadTheSameWay() throws Exception {
        List<ServerSocketChannel> listeners = new ArrayList<>();
        try {
            int port = 0;
            for (int i = 0; i < 4; i++) {
                ServerSocketChannel s = ServerSocketChannel.open();
                s.setOption(StandardSocketOptions.SO_REUSEPORT, true);
                s.bind(new InetSocketAddress("127.0.0.1", port), 128);
                s.configureBlocking(false);
                port = ((InetSocketAddress) s.getLocalAddress()).getPort();
                listeners.add(s);
            }
            deploy("round_robin", port, Protocol.TCP, false);
            List<SocketChannel> clients = new ArrayList<>();
            for (int i = 0; i < 40; i++) {
                clients.add(SocketChannel.open(new InetSocketAddress("127.0.0.1", port)));
            }
            int[] accepted = new int[4];
            long end = System.currentTimeMillis() + 5000;
            while (Arrays.stream(accepted).sum() < 40 && System.currentTimeMillis() < end) {
                for (int i = 0; i < 4; i++) {
                    SocketChannel c = listeners.get(i).accept();
                    if (c != null) {
                        accepted[i]++;
                        c.close();
                    }
                }
            }
            for (SocketChannel c : clients) {
                c.close();
            }
            assertArrayEquals(new int[] {10, 10, 10, 10}, accepted, "connections round-robin over the listeners");
        } finally {
            for (ServerSocketChannel s : listeners) {
                s.close();
            }
        }
    }

    @Test
    void replaceKeepsTrafficFlowing() throws Exception {
        try (UdpGroup group = new UdpGroup(4); UdpGroup.Sender tx = new UdpGroup.Sender(group.port)) {
            Deployment first = deploy("round_robin", group.port, Protocol.UDP, false);
            AtomicBoolean run = new AtomicBoolean(true);
            AtomicLong sent = new AtomicLong();
            Thread sender = new Thread(() -> {
                try {
                    while (run.get()) {
                        tx.one(UdpGroup.GET, sent.get());
                        if (sent.incrementAndGet() % 100 == 0) {
                            Thread.sleep(1);
                        }
                    }
                } catch (IOException | InterruptedException e) {
                    throw new RuntimeException(e);
                }
            });
            sender.start();
            Thread.sleep(200);
            for (String policy : List.of("sita", "hash", "round_robin")) {
                Deployment d = deploy(policy, group.port, Protocol.UDP, true);
                assertEquals(first.id(), d.id(), "--replace keeps the deployment");
                assertEquals(policy, d.policy());
                Thread.sleep(150);
            }
            run.set(false);
            sender.join();
            assertEquals(sent.get(), group.await(sent.get(), 5000), "no datagram lost across three replacements");
            assertEquals(3, syrupd.list().get(0).replaced());
        }
    }

    @Test
    void nothingOfSyrupRemainsAfterUndeploy() throws Exception {
        Map<String, String> fdsBefore = openFds();
        Set<Integer> before = syrupPrograms();
        try (UdpGroup group = new UdpGroup(3)) {
            Deployment d = deploy("round_robin", group.port, Protocol.UDP, false);
            Set<Integer> ours = new HashSet<>(syrupPrograms());
            ours.removeAll(before);
            assertEquals(1, ours.size(), "one program while deployed");
            syrupd.undeploy(d.id());
            assertGone(ours);
            assertFalse(Files.exists(bpffs.resolve(DeployRequest.ADMIN).resolve(d.id())), "pin dir removed");
        }
        Map<String, String> after = openFds();
        after.entrySet().removeIf(e -> e.getValue().equals(fdsBefore.get(e.getKey())) || e.getValue().startsWith("/proc/"));
        assertEquals(Map.of(), after, "fds left open");
    }

    @Test
    void mapsAreDeclaredPinnedAndWritable() throws Exception {
        Path p = dir.resolve("weighted.c");
        Files.writeString(p, """
                #include "syrup.h"
                SYR_MAP(target, 1);
                uint32_t schedule(void *pkt_start, void *pkt_end)
                {
                	uint32_t zero = 0;
                	uint64_t *t = syr_map_lookup_elem(&target, &zero);
                	return t ? (uint32_t)*t : SYR_PASS;
                }
                """);
        try (UdpGroup group = new UdpGroup(3); UdpGroup.Sender tx = new UdpGroup.Sender(group.port)) {
            Deployment d = deploy(p.toString(), group.port, Protocol.UDP, false);
            var map = syrupd.map(d.id(), "target");
            assertTrue(Files.exists(Path.of(map.pinnedPath().orElseThrow())), "pinned in bpffs");
            map.update(0, 2);
            tx.send(300, 0);
            assertEquals(300, group.await(300, 5000));
            assertEquals(300, group.received(2), "the policy read the value the map holds");
            assertEquals(2L, syrupd.map(d.id(), "target").dump().get(0));
        }
    }

    @Test
    void badInputIsAClearErrorAndChangesNothing() throws Exception {
        try (UdpGroup group = new UdpGroup(2)) {
            Deployment d = deploy("round_robin", group.port, Protocol.UDP, false);
            List<Deployment> before = syrupd.list();
            Set<Integer> progs = syrupPrograms();

            SyrupException missing = assertThrows(SyrupException.class,
                    () -> deploy(dir.resolve("no_such.c").toString(), group.port, Protocol.UDP, true));
            assertEquals(Kind.NOT_FOUND, missing.kind());

            Path syntax = dir.resolve("syntax.c");
            Files.writeString(syntax, "uint32_t schedule(void *pkt_start, void *pkt_end)\n{\n\treturn 0\n}\n");
            SyrupException compile = assertThrows(SyrupException.class,
                    () -> deploy(syntax.toString(), group.port, Protocol.UDP, true));
            assertEquals(Kind.COMPILE, compile.kind());
            assertTrue(compile.getMessage().contains("\nsyntax.c:3:"), compile.getMessage());

            Path unchecked = dir.resolve("unchecked.c");
            Files.writeString(unchecked, "uint32_t schedule(void *pkt_start, void *pkt_end)\n{\n"
                    + "\treturn *(uint32_t *)pkt_start % NUM_EXECUTORS;\n}\n");
            SyrupException verifier = assertThrows(SyrupException.class,
                    () -> deploy(unchecked.toString(), group.port, Protocol.UDP, true));
            assertEquals(Kind.VERIFIER, verifier.kind());
            assertTrue(verifier.getMessage().contains("invalid access to packet"), verifier.getMessage());

            SyrupException hookless = assertThrows(SyrupException.class, () -> syrupd.deploy(new DeployRequest(
                    "round_robin", "no_such_hook", Target.port(Protocol.UDP, group.port), Map.of(), false, DeployRequest.ADMIN)));
            assertEquals(Kind.UNKNOWN_HOOK, hookless.kind());
            assertTrue(hookless.getMessage().contains("socket_select"), "names the installed hooks");

            int idle = freePort();
            SyrupException nobody = assertThrows(SyrupException.class, () -> deploy("round_robin", idle, Protocol.UDP, false));
            assertEquals(Kind.NO_EXECUTORS, nobody.kind());
            assertTrue(nobody.getMessage().contains("nobody listens"), nobody.getMessage());

            SyrupException taken = assertThrows(SyrupException.class, () -> deploy("sita", group.port, Protocol.UDP, false));
            assertEquals(Kind.CONFLICT, taken.kind());
            assertTrue(taken.getMessage().contains(d.id()) && taken.getMessage().contains("--replace"), taken.getMessage());

            assertEquals(before, syrupd.list(), "bad input changed nothing");
            assertEquals("round_robin", syrupd.list().get(0).policy(), "the running policy is kept");
            Set<Integer> extra = new HashSet<>(syrupPrograms());
            extra.removeAll(progs);
            assertGone(extra);
        }
    }

    @Test
    void hookGoingAwayTearsItsDeploymentsDown() throws Exception {
        Set<Integer> before = syrupPrograms();
        try (UdpGroup group = new UdpGroup(2)) {
            deploy("round_robin", group.port, Protocol.UDP, false);
            Set<Integer> ours = new HashSet<>(syrupPrograms());
            ours.removeAll(before);
            syrupd.removeHook(hook);
            assertTrue(syrupd.list().isEmpty());
            assertTrue(syrupd.hooks().isEmpty());
            assertGone(ours);
        }
    }

    // --- through the port-matching dispatcher (isolation bundle) -------------------------

    /** Counts every input it sees in {@code seen[0]} and drops it. */
    private static final String COUNT_AND_DROP = """
            #include "syrup.h"
            SYR_MAP(seen, 1);
            uint32_t schedule(void *pkt_start, void *pkt_end)
            {
            	uint32_t zero = 0;
            	uint64_t *n = syr_map_lookup_elem(&seen, &zero);
            	if (n)
            		__sync_fetch_and_add(n, 1);
            	return SYR_DROP;
            }
            """;

    @Test
    void twoPortsTwoPoliciesAndAThirdPortLeftToTheKernel() throws Exception {
        Path drop = dir.resolve("count_and_drop.c");
        Files.writeString(drop, COUNT_AND_DROP);
        try (UdpGroup a = new UdpGroup(2); UdpGroup b = new UdpGroup(4); UdpGroup c = new UdpGroup(4);
             UdpGroup.Sender toA = new UdpGroup.Sender(a.port); UdpGroup.Sender toB = new UdpGroup.Sender(b.port);
             UdpGroup.Sender toC = new UdpGroup.Sender(c.port)) {
            Deployment da = deploy(drop.toString(), a.port, Protocol.UDP, false);
            Deployment db = deploy("round_robin", b.port, Protocol.UDP, false);
            assertEquals(2, dispatcher.claims().size(), dispatcher.claims().toString());
            assertTrue(dispatcher.claims().stream().allMatch(Dispatcher.ClaimInfo::installed));
            int rootId = dispatcher.socketRootProgram().orElseThrow().info().id();
            assertTrue(programsNamed(PortDispatcher.SK_PROGRAM).contains(rootId), "one root program for every group");
            var seen = syrupd.map(da.id(), "seen");

            toA.send(4000, 0);
            assertEquals(0, a.await(1, 500), "port A: the DROP policy drops everything");
            assertEquals(4000L, seen.lookup(0).orElseThrow(), "port A's policy saw each of its datagrams once");

            toB.send(4000, 0);
            assertEquals(4000, b.await(4000, 5000));
            for (long n : b.perSocket()) {
                assertTrue(Math.abs(n - 1000) <= 10, "port B: round_robin gives 1000 ± 1% each: " + Arrays.toString(b.perSocket()));
            }

            toC.send(4000, 0);
            assertEquals(4000, c.await(4000, 5000));
            assertEquals(4000, Arrays.stream(c.perSocket()).max().orElseThrow(),
                    "port C (no policy): the kernel's hash puts one source port on one socket: " + Arrays.toString(c.perSocket()));

            assertEquals(4000L, seen.lookup(0).orElseThrow(), "port A's policy never saw port B's or C's inputs");
            assertEquals(0, a.total());
            syrupd.undeploy(db.id());
            syrupd.undeploy(da.id());
            assertEquals(List.of(), dispatcher.claims());
        }
    }

    /**
     * A native UDP sender (sendmmsg in batches, paced): a Java sender on this two-core machine
     * cannot promise 50k datagrams/s while clang, the readers and other builds compete for it.
     * {@code blast PORT RATE MILLIS} prints "CLOCK_MONOTONIC-ns sent-so-far" samples, then "total N".
     */
    private static final String BLAST_C = """
            #define _GNU_SOURCE
            #include <arpa/inet.h>
            #include <errno.h>
            #include <netinet/in.h>
            #include <signal.h>
            #include <stdint.h>
            #include <stdio.h>
            #include <stdlib.h>
            #include <string.h>
            #include <sys/socket.h>
            #include <time.h>

            static uint64_t now(void)
            {
            	struct timespec ts;
            	clock_gettime(CLOCK_MONOTONIC, &ts);
            	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
            }

            #define BATCH 16
            #define SAMPLES 100000

            /* The test stops the sender (SIGTERM) shortly after the replacement, however long that took. */
            static volatile sig_atomic_t stop;

            static void on_term(int sig)
            {
            	(void)sig;
            	stop = 1;
            }

            int main(int argc, char **argv)
            {
            	int port = atoi(argv[1]);
            	uint64_t rate = strtoull(argv[2], NULL, 10), millis = strtoull(argv[3], NULL, 10);
            	int s = socket(AF_INET, SOCK_DGRAM, 0);
            	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
            	static uint64_t st[SAMPLES], sn[SAMPLES];
            	uint8_t payload[BATCH][16];
            	struct iovec iov[BATCH];
            	struct mmsghdr msgs[BATCH];
            	int ns = 0;

            	signal(SIGTERM, on_term);
            	inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
            	if (s < 0) {
            		perror("socket");
            		return 1;
            	}
            	memset(msgs, 0, sizeof(msgs));
            	for (int i = 0; i < BATCH; i++) {
            		iov[i].iov_base = payload[i];
            		iov[i].iov_len = 16;
            		msgs[i].msg_hdr.msg_iov = &iov[i];
            		msgs[i].msg_hdr.msg_iovlen = 1;
            		msgs[i].msg_hdr.msg_name = &to;
            		msgs[i].msg_hdr.msg_namelen = sizeof(to);
            	}
            	uint64_t start = now(), end = start + millis * 1000000ull, sent = 0, last = 0;
            	for (uint64_t t = start; t < end && !stop; t = now()) {
            		uint64_t due = (t - start) * rate / 1000000000ull;
            		while (sent < due) {
            			int n = due - sent < BATCH ? (int)(due - sent) : BATCH;
            			for (int i = 0; i < n; i++) {
            				uint32_t type = 0, user = 7;
            				uint64_t seq = sent + i;
            				memcpy(payload[i], &type, 4);
            				memcpy(payload[i] + 4, &user, 4);
            				memcpy(payload[i] + 8, &seq, 8);
            			}
            			int r = sendmmsg(s, msgs, n, 0);
            			if (r < 0 && errno == EINTR)
            				continue;
            			if (r < 0) {
            				perror("sendmmsg");
            				return 1;
            			}
            			sent += r;
            		}
            		if (t - last >= 1000000 && ns < SAMPLES) {
            			st[ns] = t;
            			sn[ns++] = sent;
            			last = t;
            		}
            	}
            	for (int i = 0; i < ns; i++)
            		printf("%llu %llu\\n", (unsigned long long)st[i], (unsigned long long)sn[i]);
            	printf("total %llu\\n", (unsigned long long)sent);
            	return 0;
            }
            """;

    @Test
    void replacingDropByRoundRobinUnderLoadLosesNoDatagram() throws Exception {
        Path drop = dir.resolve("count_and_drop.c");
        Files.writeString(drop, COUNT_AND_DROP);
        Path blast = dir.resolve("blast");
        Files.writeString(dir.resolve("blast.c"), BLAST_C);
        Process cc = new ProcessBuilder("gcc", "-O2", "-o", blast.toString(), dir.resolve("blast.c").toString())
                .redirectErrorStream(true).start();
        String ccOut = new String(cc.getInputStream().readAllBytes());
        assertEquals(0, cc.waitFor(), "gcc blast.c:\n" + ccOut);
        // The compile cache holds round_robin for 4 executors from here on: the replacement then
        // costs a load, a verification and the slot update, and clang does not compete with the
        // sender for this machine's two cores.
        try (UdpGroup warm = new UdpGroup(4)) {
            syrupd.undeploy(deploy("round_robin", warm.port, Protocol.UDP, false).id());
        }
        try (UdpGroup group = new UdpGroup(4)) {
            Deployment d = deploy(drop.toString(), group.port, Protocol.UDP, false);
            // Hold the DROP policy's counter: the replacement unpins and closes it.
            try (BpfMap seen = BpfMap.openPinned(Path.of(syrupd.map(d.id(), "seen").pinnedPath().orElseThrow()))) {
                // 100k/s for at most 20 s: the test stops it 100 ms after the replacement.
                Process sender = new ProcessBuilder(blast.toString(), Integer.toString(group.port), "100000", "20000")
                        .redirectErrorStream(true).start();
                java.util.concurrent.CompletableFuture<String> out = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
                    try {
                        return new String(sender.getInputStream().readAllBytes());
                    } catch (IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                });
                // Replace once the DROP policy has seen a good 200 ms of the load, on a busy machine too.
                long until = System.currentTimeMillis() + 15_000;
                while (seen.lookup(0).orElse(0) < 20_000 && System.currentTimeMillis() < until) {
                    Thread.sleep(10);
                }
                long t0 = System.nanoTime(); // CLOCK_MONOTONIC, like the sender's samples
                Deployment r = deploy("round_robin", group.port, Protocol.UDP, true);
                long t1 = System.nanoTime();
                Thread.sleep(100);
                sender.toHandle().destroy(); // SIGTERM (keeps our end of its stdout open): it prints its samples, exits 0
                assertEquals(0, sender.waitFor(), out.get());
                List<long[]> samples = new ArrayList<>();
                long total = -1;
                for (String line : out.get().split("\n")) {
                    String[] f = line.trim().split(" ");
                    if (f[0].equals("total")) {
                        total = Long.parseLong(f[1]);
                    } else if (f.length == 2) {
                        samples.add(new long[] {Long.parseLong(f[0]), Long.parseLong(f[1])});
                    }
                }
                long dropped = seen.lookup(0).orElseThrow();
                long received = group.await(total - dropped, 10_000);
                dropped = seen.lookup(0).orElseThrow();
                // The window measured: 100 ms either side of the replacement.
                // (The samples nearest outside that window, so it is never empty.)
                long[] a = samples.stream().filter(x -> x[0] <= t0 - 100_000_000L).reduce((x, y) -> y)
                        .orElse(samples.get(0));
                long[] b = samples.stream().filter(x -> x[0] >= t1 + 100_000_000L).findFirst()
                        .orElse(samples.get(samples.size() - 1));
                long[] c0 = samples.stream().filter(x -> x[0] >= t0).findFirst().orElseThrow();
                long[] c1 = samples.stream().filter(x -> x[0] <= t1).reduce((x, y) -> y).orElse(c0);
                double around = (b[1] - a[1]) * 1e9 / (b[0] - a[0]);
                double within = c1[0] > c0[0] ? (c1[1] - c0[1]) * 1e9 / (c1[0] - c0[0]) : Double.NaN;
                System.out.printf("replace under load: %d sent, %d dropped by the DROP policy, %d received; "
                        + "%.0f datagrams/s from 100 ms before to 100 ms after the replacement (%.0f/s within its "
                        + "%.1f ms)%n", total, dropped, received, around, within, (t1 - t0) / 1e6);
                assertEquals("round_robin", r.policy());
                assertTrue(around >= 50_000, "≥ 50k datagrams/s around the replacement: " + around);
                assertTrue(dropped > 0 && received > 0, "both policies ran: dropped " + dropped + ", received " + received);
                assertEquals(total, dropped + received, "every datagram was dropped by the old policy or received under the new one");
                for (long n : group.perSocket()) {
                    assertTrue(Math.abs(n - received / 4.0) <= 1, "round_robin after the swap: " + Arrays.toString(group.perSocket()));
                }
            }
        }
    }

    @Test
    void nothingOfSyrupOrTheDispatcherRemainsAfterUndeployAndClose() throws Exception {
        Path drop = dir.resolve("count_and_drop.c");
        Files.writeString(drop, COUNT_AND_DROP);
        Map<String, String> fdsBefore = openFds();
        Set<Integer> progsBefore = syrupPrograms();
        progsBefore.addAll(programsNamed(PortDispatcher.SK_PROGRAM));
        Set<Integer> mapsBefore = KernelObjects.maps().stream().map(MapInfo::id).collect(Collectors.toSet());
        try (UdpGroup a = new UdpGroup(2); UdpGroup b = new UdpGroup(3)) {
            Deployment da = deploy(drop.toString(), a.port, Protocol.UDP, false);
            Deployment db = deploy("round_robin", b.port, Protocol.UDP, false);
            Set<Integer> progs = new HashSet<>(syrupPrograms());
            progs.addAll(programsNamed(PortDispatcher.SK_PROGRAM));
            progs.removeAll(progsBefore);
            assertTrue(progs.size() >= 3 && progs.contains(dispatcher.socketRootProgram().orElseThrow().info().id()),
                    "two policies and one root program while deployed: " + progs);
            // The dispatcher's maps, the deployments' sockarrays and the DROP policy's counter
            // (by name: other programs may come and go on this machine meanwhile).
            Set<String> names = Set.of("syrup_ports", "syrup_slots", "syr_executors", "seen");
            Set<Integer> maps = KernelObjects.maps().stream().filter(m -> names.contains(m.name()))
                    .map(MapInfo::id).collect(Collectors.toCollection(HashSet::new));
            maps.removeAll(mapsBefore);
            assertTrue(maps.size() >= 5, "ports, slots, two sockarrays, seen: " + maps);

            syrupd.undeploy(da.id());
            syrupd.undeploy(db.id());
            assertEquals(List.of(), dispatcher.claims());
            assertTrue(dispatcher.socketRootProgram().isEmpty(), "the root program goes with the last claim");
            assertGoneById(progs, maps);
            if (Files.exists(bpffs)) {
                try (Stream<Path> pins = Files.walk(bpffs)) {
                    assertEquals(List.of(), pins.filter(f -> !Files.isDirectory(f)).toList(), "no pin left under " + bpffs);
                }
            }
        }
        dispatcher.close();
        Map<String, String> after = openFds();
        after.entrySet().removeIf(e -> e.getValue().equals(fdsBefore.get(e.getKey())) || e.getValue().startsWith("/proc/"));
        assertEquals(Map.of(), after, "fds left open");
    }

    /** Ids of the kernel's programs with exactly this (15-character cut) name. */
    static Set<Integer> programsNamed(String name) {
        String cut = name.length() > 15 ? name.substring(0, 15) : name;
        return KernelObjects.programs().stream().filter(p -> p.name().equals(cut))
                .map(ProgramInfo::id).collect(Collectors.toCollection(HashSet::new));
    }

    /**
     * Polls (RCU and the kernel's deferred map free) until none of these program and map ids
     * exists. Maps are looked up by id only once the programs are gone and after a pause: opening
     * a PROG_ARRAY by id while the kernel is still clearing it leaks it (see PortDispatcher).
     */
    static void assertGoneById(Set<Integer> progs, Set<Integer> maps) throws InterruptedException {
        long end = System.currentTimeMillis() + 5000;
        Set<Integer> p = new HashSet<>(progs);
        while (true) {
            p.retainAll(KernelObjects.programs().stream().map(ProgramInfo::id).collect(Collectors.toSet()));
            if (p.isEmpty() || System.currentTimeMillis() > end) {
                break;
            }
            Thread.sleep(20);
        }
        Set<Integer> m = new HashSet<>(maps);
        while (p.isEmpty()) {
            Thread.sleep(200);
            m.retainAll(KernelObjects.maps().stream().map(MapInfo::id).collect(Collectors.toSet()));
            if (m.isEmpty() || System.currentTimeMillis() > end) {
                break;
            }
        }
        assertEquals(Set.of(), p, "programs still loaded: " + KernelObjects.programs().stream()
                .filter(i -> p.contains(i.id())).toList());
        assertEquals(Set.of(), m, "maps still in the kernel: " + KernelObjects.maps().stream()
                .filter(i -> m.contains(i.id())).toList());
    }

    /** Ids of the kernel's programs that Syrup's glue names (names are cut to 15 characters). */
    static Set<Integer> syrupPrograms() {
        return KernelObjects.programs().stream().filter(p -> p.name().startsWith("syr_"))
                .map(ProgramInfo::id).collect(Collectors.toCollection(HashSet::new));
    }

    /** The kernel frees a program after its last reference drops, a moment later (RCU). */
    static void assertGone(Set<Integer> ids) throws InterruptedException {
        long end = System.currentTimeMillis() + 3000;
        Set<Integer> left = new HashSet<>(ids);
        while (true) {
            left.retainAll(syrupPrograms());
            if (left.isEmpty() || System.currentTimeMillis() > end) {
                break;
            }
            Thread.sleep(20);
        }
        assertTrue(left.isEmpty(), "programs still loaded in the kernel: " + left);
    }

    /** This process's open fds and what they are (fd -> link target). */
    static Map<String, String> openFds() throws IOException {
        Map<String, String> out = new java.util.TreeMap<>();
        try (Stream<Path> s = Files.list(Path.of("/proc/self/fd"))) {
            for (Path fd : s.toList()) {
                try {
                    out.put(fd.getFileName().toString(), Files.readSymbolicLink(fd).toString());
                } catch (IOException e) {
                    // the directory stream's own fd, closed by now
                }
            }
        }
        return out;
    }

    static int freePort() throws IOException {
        try (var ch = java.nio.channels.DatagramChannel.open()) {
            ch.bind(new InetSocketAddress("127.0.0.1", 0));
            return ((InetSocketAddress) ch.getLocalAddress()).getPort();
        }
    }
}
