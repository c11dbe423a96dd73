package example.sklookup;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.syrup.api.Protocol;
import dev.syrup.api.SyrupException;
import dev.syrup.api.Target;
import dev.syrup.api.TestResult;
import dev.syrup.api.map.SyrupMap;
import dev.syrup.bpf.BpfMap;
import dev.syrup.bpf.KernelObjects;
import dev.syrup.bpf.KernelSupport;
import dev.syrup.bpf.MapInfo;
import dev.syrup.bpf.ProgramInfo;
import dev.syrup.hook.kit.MapRegistry;
import dev.syrup.hook.kit.ProcSockets;
import dev.syrup.hook.kit.SharedMaps;
import dev.syrup.hook.spi.HookContext;
import java.io.IOException;
import java.io.InputStream;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The hook against the real kernel, as syrupd drives it: the built-in round_robin compiled with
 * the hook's glue, opened on a port P with UDP sockets bound to P+1..P+3, installed; real
 * datagrams to P then land on those sockets in turn, other ports keep their own traffic, a
 * replacement swaps without a gap, a refused policy changes nothing, the decision counters
 * count every datagram across the replacement, and close leaves no link, program or map behind.
 * A policy's Map is shared with the owner's other deployment and re-adopted from its pin after
 * a restart; syrup:test runs the deployed object on lookups made from frames.
 */
class SkLookupHookTest {

    private static final int EXECUTORS = 3;
    /** Ports P .. P+RANGE are free before the test: P+1..P+3 are executors, P+4 a second deployment's port, P+5..P+7 its executors. */
    private static final int RANGE = 2 * EXECUTORS + 1;
    private static final InetAddress LO = InetAddress.getLoopbackAddress();

    private Path work;
    /** Pin dirs live here: a directory of this test's own on bpffs, removed afterwards. */
    private Path bpffs;
    private final List<DatagramSocket> executors = new ArrayList<>();
    private int port;

    static void requireKernel() {
        var missing = KernelSupport.missing();
        if (missing.isPresent()) {
            if ("1".equals(System.getenv("SYRUP_REQUIRE_KERNEL"))) {
                fail("SYRUP_REQUIRE_KERNEL=1 but the kernel is unusable: " + missing.get());
            }
            Assumptions.abort("kernel tests skipped: " + missing.get());
        }
    }

    @BeforeEach
    void setUp() throws IOException {
        requireKernel();
        work = Files.createTempDirectory("sklookup-test");
        bpffs = Files.createDirectory(Path.of("/sys/fs/bpf/syrup-test-" + java.util.UUID.randomUUID().toString().substring(0, 8)));
        // A port P such that nothing of anyone else's is on P..P+3, then executors on P+1..P+3.
        ProcSockets proc = new ProcSockets();
        for (int attempt = 0; attempt < 50 && executors.isEmpty(); attempt++) {
            int p = ThreadLocalRandom.current().nextInt(20000, 45000);
            if (!proc.on(Protocol.UDP, p, p + RANGE).isEmpty()) {
                continue;
            }
            try {
                for (int i = 1; i <= EXECUTORS; i++) {
                    DatagramSocket s = new DatagramSocket(null);
                    executors.add(s);
                    s.setReceiveBufferSize(1 << 20);
                    s.setSoTimeout(2000);
                    s.bind(new InetSocketAddress(LO, p + i));
                }
                port = p;
            } catch (IOException e) {
                executors.forEach(DatagramSocket::close);
                executors.clear();
            }
        }
        assertFalse(executors.isEmpty(), "no free port range found");
    }

    @AfterEach
    void tearDown() throws IOException {
        executors.forEach(DatagramSocket::close);
        for (Path dir : java.util.Arrays.asList(work, bpffs)) {
            if (dir != null && Files.exists(dir)) {
                try (var s = Files.walk(dir)) {
                    s.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
                }
            }
        }
    }

    @Test
    void roundRobinOverSocketsOnOtherPortsAndNothingLeftAfterClose() throws Exception {
        SkLookupHook hook = new SkLookupHook(new SharedMaps(), new ProcSockets(), EXECUTORS);
        Set<Integer> mapsBefore = ids(KernelObjects.maps().stream().map(MapInfo::id));
        Path pinDir = bpffs.resolve("admin/d1");

        SkLookupDeployment d = (SkLookupDeployment) hook.open(Target.port(Protocol.UDP, port), HookContext.ofPinDir(pinDir));
        int progId;
        int linkId;
        int countersId;
        try {
            assertEquals(EXECUTORS, d.executors());
            assertTrue(d.describeExecutors().get(0).contains("port " + (port + 1)), d.describeExecutors().toString());
            assertTrue(Files.isDirectory(pinDir));
            // A second deployment on the same port is refused while this one holds it.
            assertEquals(SyrupException.Kind.CONFLICT, assertThrows(SyrupException.class,
                    () -> hook.open(Target.port(Protocol.UDP, port), HookContext.ofPinDir(bpffs.resolve("other/d2")))).kind());

            d.install(compile(hook, resource("round_robin.c"), d.executors()));
            progId = d.program().orElseThrow().id();
            assertEquals("sk_lookup", d.program().orElseThrow().type());
            linkId = d.linkId().orElseThrow();
            countersId = d.countersId().orElseThrow();
            assertTrue(KernelObjects.links().stream().anyMatch(l -> l.id() == linkId));

            // Datagram j to P lands on executor j % 3, in order.
            sendAndExpectRoundRobin(0, 12);

            // Other ports are not the policy's: a datagram to P+2 reaches P+2's socket, and the
            // policy's counter does not move (the next datagram to P continues the rotation).
            send(port + 2, 999);
            assertEquals(999, receive(executors.get(1)));
            sendAndExpectRoundRobin(12, 6);

            // A policy the hook's rules refuse (a helper sk_lookup does not allow) changes nothing.
            Path bad = work.resolve("bad.c");
            Files.writeString(bad, "#include \"syrup.h\"\nuint32_t schedule(void *s, void *e)\n"
                    + "{ return bpf_get_current_pid_tgid() % NUM_EXECUTORS; }\n");
            SyrupException refused = assertThrows(SyrupException.class, () -> d.install(compile(hook, bad, EXECUTORS)));
            assertEquals(SyrupException.Kind.VERIFIER, refused.kind(), refused.getMessage());
            assertTrue(refused.getMessage().contains("bpf_get_current_pid_tgid"), refused.getMessage());
            assertEquals(progId, d.program().orElseThrow().id());
            sendAndExpectRoundRobin(18, 3);

            // Replacement: the same link, a new program, the rotation starts again at 0.
            d.install(compile(hook, resource("round_robin.c"), d.executors()));
            int replaced = d.program().orElseThrow().id();
            assertNotEquals(progId, replaced);
            assertEquals(linkId, d.linkId().orElseThrow());
            final int old = progId;
            eventually(() -> KernelObjects.programs().stream().noneMatch(p -> p.id() == old));
            assertTrue(KernelObjects.programs().stream().noneMatch(p -> p.id() == old), "the old program is unloaded");
            sendAndExpectRoundRobin(0, 6);
            progId = replaced;

            // The counters saw every datagram to P, across the replacement (21 + 6, 9 each), and
            // not the one to P+2, which the glue passed before the policy ran.
            dev.syrup.api.DeploymentStats stats = d.stats();
            assertEquals(List.of(9L, 9L, 9L), stats.executors(), stats.toString());
            assertEquals(0, stats.pass());
            assertEquals(0, stats.drop());
            assertEquals(27, stats.decisions());
            assertEquals(countersId, d.countersId().orElseThrow(), "the counters are the deployment's, not a version's");
        } finally {
            d.close();
        }
        final int prog = progId;
        final int link = linkId;
        final int counters = countersId;
        // Nothing is left: no link, no program, no map of this deployment; the port is free again.
        eventually(() -> KernelObjects.programs().stream().noneMatch(p -> p.id() == prog)
                && KernelObjects.links().stream().noneMatch(l -> l.id() == link)
                && KernelObjects.maps().stream().noneMatch(m -> m.id() == counters)
                && newMaps(mapsBefore).isEmpty());
        assertTrue(KernelObjects.maps().stream().noneMatch(m -> m.id() == counters), "counters left");
        assertTrue(KernelObjects.links().stream().noneMatch(l -> l.id() == link), "link left");
        assertTrue(KernelObjects.programs().stream().noneMatch(p -> p.id() == prog), "program left");
        assertEquals(List.of(), newMaps(mapsBefore), "maps left");
        assertFalse(Files.exists(pinDir), "pin dir left");
        // Datagrams to P go nowhere now (nothing is bound there): none reaches an executor.
        send(port, 1);
        for (DatagramSocket s : executors) {
            s.setSoTimeout(300);
            assertThrows(SocketTimeoutException.class, () -> receive(s));
        }
        // And the port can be deployed on again.
        hook.open(Target.port(Protocol.UDP, port), HookContext.ofPinDir(pinDir)).close();
    }

    @Test
    void aMapIsSharedWithTheOwnersOtherDeploymentAndReadoptedAfterARestart() throws Exception {
        MapRegistry registry = new SharedMaps();
        SkLookupHook hook = new SkLookupHook(registry, new ProcSockets(), EXECUTORS);
        int second = port + EXECUTORS + 1;
        List<DatagramSocket> others = new ArrayList<>();
        try {
            for (int i = 1; i <= EXECUTORS; i++) {
                DatagramSocket s = new DatagramSocket(new InetSocketAddress(LO, second + i));
                s.setSoTimeout(2000);
                others.add(s);
            }
            Path pins1 = bpffs.resolve("admin/d1");
            Path pins2 = bpffs.resolve("admin/d2");
            Path policy = resource("count.c");
            SkLookupDeployment d1 = (SkLookupDeployment) hook.open(Target.port(Protocol.UDP, port), HookContext.ofPinDir(pins1));
            SkLookupDeployment d2 = (SkLookupDeployment) hook.open(Target.port(Protocol.UDP, second), HookContext.ofPinDir(pins2));
            int hitsId;
            try {
                d1.install(compile(hook, policy, EXECUTORS));
                d2.install(compile(hook, policy, EXECUTORS));
                // Same owner, same Map name and shape: one kernel map, pinned in both deployments' dirs.
                hitsId = mapId(d1, "hits");
                assertEquals(hitsId, mapId(d2, "hits"), "d1 and d2 share 'hits'");
                assertEquals(List.of(pins1, pins2), registry.users(pins1.getParent(), "hits"));
                // Datagrams to P, then to P+4: one rotation over both, through the one counter.
                sendAndExpectRoundRobin(0, 3);
                for (int j = 3; j < 6; j++) {
                    send(second, j);
                }
                for (int j = 3; j < 6; j++) {
                    assertEquals(j, receive(others.get(j % EXECUTORS)), "datagram " + j + " to " + second);
                }
                assertEquals(6L, map(d2, "hits").lookup(0).orElseThrow());
                assertEquals(List.of(1L, 1L, 1L), d1.stats().executors());
                assertEquals(List.of(1L, 1L, 1L), d2.stats().executors());
            } finally {
                d2.close();
            }
            // A restart: d1 closed keeping its Maps, opened again on its pin dir; its first
            // install adopts the pinned 'hits' with its contents, and the rotation goes on.
            d1.closeKeepingMaps();
            assertTrue(Files.exists(pins1.resolve("hits")), "pinned for the next syrupd");
            SkLookupDeployment again = (SkLookupDeployment) hook.open(Target.port(Protocol.UDP, port), HookContext.ofPinDir(pins1));
            try {
                again.install(compile(hook, policy, EXECUTORS));
                assertEquals(hitsId, mapId(again, "hits"), "the pinned Map is adopted");
                assertEquals(6L, map(again, "hits").lookup(0).orElseThrow());
                sendAndExpectRoundRobin(0, 3); // 6 % 3 = 0: executor 0 first
                assertEquals(9L, map(again, "hits").lookup(0).orElseThrow());
            } finally {
                again.close();
            }
            assertFalse(Files.exists(pins1), "closed for good: pins and pin dir gone");
            eventually(() -> KernelObjects.maps().stream().noneMatch(m -> m.id() == hitsId));
            assertTrue(KernelObjects.maps().stream().noneMatch(m -> m.id() == hitsId), "'hits' left");
        } finally {
            others.forEach(DatagramSocket::close);
        }
    }

    @Test
    void syrupTestRunsTheDeployedObjectOnLookupsMadeFromFrames() throws Exception {
        SkLookupHook hook = new SkLookupHook(new SharedMaps(), new ProcSockets(), EXECUTORS);
        Path obj = compile(hook, resource("round_robin.c"), EXECUTORS);
        List<byte[]> frames = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            frames.add(udpFrame(port));
        }
        TestResult r = hook.test(obj, frames, java.util.Map.of(), EXECUTORS);
        assertEquals(List.of(0, 1, 2, 0, 1, 2), r.decisions(), r.toString());
        assertTrue(r.timedRuns() > 0 && r.nsPerDecision() > 0, r.toString());
        // Not an IPv4 frame: INVALID, nothing ran.
        assertEquals(SyrupException.Kind.INVALID, assertThrows(SyrupException.class,
                () -> hook.test(obj, List.of(new byte[64]), java.util.Map.of(), EXECUTORS)).kind());
    }

    /** Ethernet, IPv4 127.0.0.1 -> 127.0.0.1, UDP 40000 -> {@code to}, 8 bytes of payload. */
    private static byte[] udpFrame(int to) {
        ByteBuffer b = ByteBuffer.allocate(14 + 20 + 8 + 8);
        b.position(12);
        b.putShort((short) 0x0800);
        b.put((byte) 0x45).put((byte) 0).putShort((short) 36).putInt(0).put((byte) 64).put((byte) 17).putShort((short) 0);
        b.put(new byte[] {127, 0, 0, 1}).put(new byte[] {127, 0, 0, 1});
        b.putShort((short) 40000).putShort((short) to).putShort((short) 16).putShort((short) 0);
        return b.array();
    }

    private static SyrupMap map(SkLookupDeployment d, String name) {
        return d.maps().stream().filter(m -> m.name().equals(name)).findFirst().orElseThrow(() -> new AssertionError(d.maps().toString()));
    }

    /** The kernel id of a deployment's Map, through its pin. */
    private static int mapId(SkLookupDeployment d, String name) {
        try (BpfMap m = BpfMap.openPinned(Path.of(map(d, name).pinnedPath().orElseThrow()))) {
            return m.info().id();
        }
    }

    @Test
    void refusesTargetsWithoutExecutorsInterfacesAndOthersPorts() throws Exception {
        SkLookupHook hook = new SkLookupHook(new SharedMaps(), new ProcSockets(), EXECUTORS);
        assertEquals(SyrupException.Kind.NO_EXECUTORS, assertThrows(SyrupException.class,
                () -> hook.open(Target.port(Protocol.TCP, port), HookContext.ofPinDir(work.resolve("a/d1")))).kind());
        assertEquals(SyrupException.Kind.INVALID, assertThrows(SyrupException.class,
                () -> hook.open(new Target(Protocol.UDP, port, java.util.Optional.of("lo")), HookContext.ofPinDir(work.resolve("a/d2")))).kind());
        // A tenant whose uid owns none of the sockets is refused.
        assertEquals(SyrupException.Kind.DENIED, assertThrows(SyrupException.class,
                () -> hook.open(Target.port(Protocol.UDP, port), HookContext.ofPinDir(work.resolve("a/d3"), java.util.OptionalInt.of(23499)))).kind());
        assertFalse(Files.exists(work.resolve("a/d3")));
        // A tenant owning every socket in play (this test's uid) but none on P itself: P is not its to steer.
        int me = (Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid");
        SyrupException notHeld = assertThrows(SyrupException.class,
                () -> hook.open(Target.port(Protocol.UDP, port), HookContext.ofPinDir(work.resolve("a/d4"), java.util.OptionalInt.of(me))));
        assertEquals(SyrupException.Kind.DENIED, notHeld.kind());
        assertTrue(notHeld.getMessage().contains("only on a port it holds"), notHeld.getMessage());
        // Holding P, it may.
        try (DatagramSocket own = new DatagramSocket(new InetSocketAddress(LO, port))) {
            hook.open(Target.port(Protocol.UDP, port), HookContext.ofPinDir(work.resolve("a/d5"), java.util.OptionalInt.of(me))).close();
        }
    }

    /** Sends {@code count} datagrams to P numbered from {@code first}; datagram j must reach executor j % 3. */
    private void sendAndExpectRoundRobin(int first, int count) throws IOException {
        for (int j = first; j < first + count; j++) {
            send(port, j);
        }
        for (int j = first; j < first + count; j++) {
            assertEquals(j, receive(executors.get(j % EXECUTORS)), "datagram " + j + " on executor " + (j % EXECUTORS));
        }
    }

    private static void send(int to, int seq) throws IOException {
        try (DatagramSocket c = new DatagramSocket()) {
            byte[] b = ByteBuffer.allocate(8).putInt(seq).array();
            c.send(new DatagramPacket(b, b.length, LO, to));
        }
    }

    private static int receive(DatagramSocket s) throws IOException {
        DatagramPacket p = new DatagramPacket(new byte[64], 64);
        s.receive(p);
        return ByteBuffer.wrap(p.getData(), 0, 4).getInt();
    }

    private List<MapInfo> newMaps(Set<Integer> before) {
        return KernelObjects.maps().stream().filter(m -> !before.contains(m.id())
                && (m.name().startsWith("syr_sklk") || m.name().startsWith("policy"))).toList();
    }

    private static Set<Integer> ids(java.util.stream.Stream<Integer> s) {
        return s.collect(Collectors.toSet());
    }

    private Path resource(String name) throws IOException {
        Path p = work.resolve(name);
        try (InputStream in = SkLookupHookTest.class.getResourceAsStream(name)) {
            Files.copy(in, p, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
        return p;
    }

    /** As syrupd compiles a policy: the hook's glue including the policy, syrup.h, -DNUM_EXECUTORS. */
    private Path compile(SkLookupHook hook, Path policy, int executors) throws Exception {
        Path inc = work.resolve("include");
        Files.createDirectories(inc);
        if (!Files.exists(inc.resolve("syrup.h"))) {
            try (InputStream in = dev.syrup.api.Target.class.getResourceAsStream("syrup.h")) {
                Files.copy(in, inc.resolve("syrup.h"));
            }
        }
        Path glue = work.resolve("policy-glue-" + System.nanoTime() + ".c");
        Files.writeString(glue, hook.wrapper(policy.toAbsolutePath().toString()));
        Path out = work.resolve("policy" + System.nanoTime() + ".o");
        String arch = System.getProperty("os.arch").equals("aarch64") ? "aarch64" : "x86_64";
        Process p = new ProcessBuilder("clang", "-O2", "-g", "-target", "bpf", "-mcpu=v3", "-Wall",
                "-Wno-unused-function", "-Wno-unused-variable", "-I" + inc, "-I/usr/include/" + arch + "-linux-gnu",
                "-DNUM_EXECUTORS=" + executors, "-c", glue.toString(), "-o", out.toString())
                .redirectErrorStream(true).start();
        String log = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), log);
        return out;
    }

    private static void eventually(java.util.function.BooleanSupplier ok) throws InterruptedException {
        long end = System.nanoTime() + 5_000_000_000L;
        while (!ok.getAsBoolean() && System.nanoTime() < end) {
            Thread.sleep(50);
        }
    }
}
