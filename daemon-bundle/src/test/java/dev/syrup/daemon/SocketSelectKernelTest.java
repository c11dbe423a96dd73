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
import dev.syrup.bpf.KernelObjects;
import dev.syrup.bpf.ProgramInfo;
import java.io.IOException;
import java.lang.annotation.Annotation;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
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
    private Path bpffs;

    @BeforeAll
    static void kernel() {
        Kernel.require();
    }

    @BeforeEach
    void start() throws IOException {
        bpffs = Path.of("/sys/fs/bpf/syrup-test-" + UUID.randomUUID().toString().substring(0, 8));
        syrupd = new DeploymentManager(config(dir.resolve("work").toString(), bpffs.toString()));
        hook = new SocketSelectHook();
        syrupd.addHook(hook);
    }

    @AfterEach
    void stop() throws IOException {
        syrupd.deactivate();
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
            assertTrue(compile.getMessage().contains(syntax + ":3:"), compile.getMessage());

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

    /** Ids of the kernel's programs that Syrup's glue names (names are cut to 15 characters). */
    static Set<Integer> syrupPrograms() {
        return KernelObjects.programs().stream().filter(p -> p.name().startsWith("syr_"))
                .map(ProgramInfo::id).collect(Collectors.toSet());
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

    static DeploymentManager.Config config(String workDir, String bpffsRoot) {
        return new DeploymentManager.Config() {
            @Override
            public Class<? extends Annotation> annotationType() {
                return DeploymentManager.Config.class;
            }

            @Override
            public String clang() {
                return "clang";
            }

            @Override
            public String workDir() {
                return workDir;
            }

            @Override
            public String bpffsRoot() {
                return bpffsRoot;
            }
        };
    }
}
