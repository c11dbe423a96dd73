package dev.syrup.daemon.control;

import static dev.syrup.daemon.control.ControlTestSupport.UID_A;
import static dev.syrup.daemon.control.ControlTestSupport.UID_B;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.syrup.api.Deployment;
import dev.syrup.backend.ebpf.XdpSkbHook;
import dev.syrup.bpf.KernelObjects;
import dev.syrup.bpf.MapInfo;
import dev.syrup.client.Message;
import dev.syrup.daemon.control.ControlTestSupport.App;
import dev.syrup.hook.spi.Hook;
import dev.syrup.isolation.PortDispatcher;
import java.lang.reflect.Method;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Per-tenant limits (docs/security.md, "Limits"), each run as non-root tenants against the
 * in-process syrupd with the real socket_select hook and control socket: every refusal is a
 * {@code LIMIT} error naming its setting, and other tenants stay served.
 */
class TenantLimitsKernelTest {

    private ControlTestSupport syrupd;
    private final String tag = Integer.toHexString(ThreadLocalRandom.current().nextInt(0x10000, 0xfffff));

    @BeforeAll
    static void kernel() {
        ControlTestSupport.requireKernel();
    }

    private void start(ControlServer.Limits limits, int deployments, long mapBytes) throws Exception {
        syrupd = new ControlTestSupport(limits, deployments, mapBytes);
    }

    private void start(ControlServer.Limits limits) throws Exception {
        start(limits, 16, 64L << 20);
    }

    private static ControlServer.Limits limits(long idleMillis, int sources, Set<String> ifaces) {
        ControlServer.Limits d = ControlServer.Limits.DEFAULTS;
        return new ControlServer.Limits(d.maxConnections(), d.connectionsPerUid(), d.frameTimeoutMillis(), idleMillis,
                sources, ifaces);
    }

    @AfterEach
    void stop() throws Exception {
        if (syrupd != null) {
            syrupd.close();
        }
    }

    @Test
    void theSeventeenthConnectionOfOneUidIsRefusedWhileAnotherUidIsServed() throws Exception {
        start(ControlServer.Limits.DEFAULTS);
        App a = syrupd.app(UID_A);
        App b = syrupd.app(UID_B);
        String r = a.ok("connect 16"); // it holds one already
        assertTrue(r.startsWith("15 LIMIT") && r.contains("maxConnectionsPerUid"), r);
        long t0 = System.nanoTime();
        assertEquals("", b.ok("list"), "the other uid is answered");
        assertTrue(System.nanoTime() - t0 < 1_000_000_000L, "promptly");
        assertEquals("", a.ok("list"), "the uid's own connections still work");
        a.ok("disconnect-extra");
        long end = System.currentTimeMillis() + 10_000;
        String again;
        do {
            Thread.sleep(50);
            again = a.ok("connect 1");
        } while (!again.startsWith("1") && System.currentTimeMillis() < end);
        assertTrue(again.startsWith("1 "), "a closed connection frees its place: " + again);
    }

    @Test
    void anIdleConnectionIsClosedAfterTheTimeoutAndItsDeploymentsStay() throws Exception {
        start(limits(1500, 32, Set.of()));
        App a = syrupd.app(UID_A);
        int port = Integer.parseInt(a.ok("open 1"));
        String id = a.ok("deploy round_robin " + port);
        long t0 = System.nanoTime();
        try (SocketChannel raw = SocketChannel.open(UnixDomainSocketAddress.of(syrupd.socket()))) {
            ByteBuffer header = ByteBuffer.allocate(Message.HEADER);
            // The daemon speaks first: the idle timeout's error (closing the channel ends a read that hangs).
            java.util.concurrent.CompletableFuture<Integer> read = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
                try {
                    int n = 0;
                    while (header.hasRemaining() && n >= 0) {
                        n = raw.read(header);
                    }
                    return header.position();
                } catch (java.io.IOException e) {
                    return -1;
                }
            });
            try {
                assertEquals(Message.HEADER, read.get(10, java.util.concurrent.TimeUnit.SECONDS), "a reply header");
            } catch (java.util.concurrent.TimeoutException e) {
                raw.close();
                throw new AssertionError("the idle connection was still open after 10 s");
            }
            long idle = (System.nanoTime() - t0) / 1_000_000;
            ByteBuffer body = ByteBuffer.allocate(Message.bodyLength(header.array()));
            while (body.hasRemaining() && raw.read(body) >= 0) {
                // the rest of the frame
            }
            Message m = Message.decode(body.array(), body.capacity());
            assertEquals("LIMIT", m.get(Message.KIND).orElse(""), m.toString());
            assertTrue(m.get("message").orElse(m.toString()).contains("idleTimeoutMillis"), m.toString());
            assertTrue(idle >= 1400 && idle < 5000, "closed after " + idle + " ms idle");
            assertEquals(-1, raw.read(ByteBuffer.allocate(1)), "then closed");
        }
        long end = System.currentTimeMillis() + 5000;
        while (syrupd.server.connections() > 0 && System.currentTimeMillis() < end) {
            Thread.sleep(20);
        }
        assertEquals(0, syrupd.server.connections(), "the tenant's idle connection was closed too");
        assertTrue(a.call("list").startsWith("ERR"), "its client sees the connection gone");
        assertEquals(List.of(id), syrupd.deployer().list().stream().map(Deployment::id).toList(),
                "the deployment lives as long as the process, not the connection");
    }

    @Test
    void aTenantHasAtMostItsDeploymentQuota() throws Exception {
        start(ControlServer.Limits.DEFAULTS, 2, 64L << 20);
        App a = syrupd.app(UID_A);
        App b = syrupd.app(UID_B);
        int[] ports = new int[3];
        for (int i = 0; i < 3; i++) {
            ports[i] = Integer.parseInt(a.ok("open 1"));
        }
        String d1 = a.ok("deploy round_robin " + ports[0]);
        a.ok("deploy round_robin " + ports[1]);
        String r = a.call("deploy round_robin " + ports[2]);
        assertTrue(r.startsWith("ERR LIMIT") && r.contains("maxTenantDeployments"), r);
        assertEquals(2, syrupd.deployer().list().size());
        a.ok("deploy round_robin " + ports[1] + " replace"); // a replace is no new deployment
        int portB = Integer.parseInt(b.ok("open 1"));
        b.ok("deploy round_robin " + portB); // per owner: the other tenant is not held back
        a.ok("undeploy " + d1);
        a.ok("deploy round_robin " + ports[2]);
        assertEquals(3, syrupd.deployer().list().size());
    }

    @Test
    void aPolicyDeclaringA256MiBArrayIsRefusedBeforeAnythingIsCreated() throws Exception {
        start(ControlServer.Limits.DEFAULTS);
        String map = "big" + tag;
        Path big = syrupd.file("big.c", "#include \"syrup.h\"\nSYR_MAP(" + map + ", 1 << 25);\n"
                + "uint32_t schedule(void *s, void *e) { uint32_t k = 0; uint64_t *v = syr_map_lookup_elem(&" + map
                + ", &k); return v ? SYR_PASS : SYR_DROP; }\n");
        App a = syrupd.app(UID_A);
        int port = Integer.parseInt(a.ok("open 1"));
        String r = a.call("deploy " + big + " " + port);
        assertTrue(r.startsWith("ERR LIMIT") && r.contains("maxTenantMapBytes"), r);
        assertEquals(List.of(), syrupd.deployer().list());
        assertTrue(KernelObjects.maps().stream().map(MapInfo::name).noneMatch(map::equals), "no map " + map + " in the kernel");
        assertFalse(Files.exists(syrupd.bpffs.resolve("uid-" + UID_A)), "nothing pinned");

        // The same Map, smaller, fits.
        Path small = syrupd.file("small.c", Files.readString(big).replace("1 << 25", "1 << 10"));
        a.ok("deploy " + small + " " + port);
        assertEquals(1, syrupd.deployer().list().size());
    }

    @Test
    void storedSourcesLiveAsLongAsTheirDeployments() throws Exception {
        start(limits(600_000, 2, Set.of()));
        String drop = "/* " + tag + " */ uint32_t schedule(void *s, void *e) { return SYR_DROP; }\n";
        Path dropFile = syrupd.file("drop.c", drop);
        Path passFile = syrupd.file("pass.c", "uint32_t schedule(void *s, void *e) { return SYR_PASS; }\n");
        Path thirdFile = syrupd.file("third.c", "uint32_t schedule(void *s, void *e) { return 0; }\n");
        Path badFile = syrupd.file("bad.c", "uint32_t schedule(void *s, void *e) { return nope; }\n");
        App a = syrupd.app(UID_A);
        App b = syrupd.app(UID_B);
        int[] ports = new int[3];
        for (int i = 0; i < 3; i++) {
            ports[i] = Integer.parseInt(a.ok("open 1"));
        }
        int portB = Integer.parseInt(b.ok("open 1"));

        // Refused by the port rules: never written. Failed to compile: removed.
        assertTrue(a.call("deploy " + dropFile + " " + portB).startsWith("ERR DENIED"));
        assertEquals(List.of(), stored());
        assertTrue(a.call("deploy " + badFile + " " + ports[0]).startsWith("ERR COMPILE"));
        assertEquals(List.of(), stored());

        // One text, two deployments: one file, kept until both are gone.
        String d1 = a.ok("deploy " + dropFile + " " + ports[0]);
        String d2 = a.ok("deploy " + dropFile + " " + ports[1]);
        assertEquals(1, stored().size(), stored().toString());
        assertEquals(drop, Files.readString(stored().get(0)));
        a.ok("undeploy " + d1);
        assertEquals(1, stored().size());
        a.ok("undeploy " + d2);
        assertEquals(List.of(), stored());

        // A replace by another text: the old file goes with the old policy.
        a.ok("deploy " + dropFile + " " + ports[0]);
        a.ok("deploy " + passFile + " " + ports[0] + " replace");
        assertEquals(1, stored().size());
        assertTrue(Files.readString(stored().get(0)).contains("SYR_PASS"));

        // A replace by a built-in: no file is its any more.
        a.ok("deploy round_robin " + ports[0] + " replace");
        assertEquals(List.of(), stored());
        a.ok("deploy " + passFile + " " + ports[0] + " replace");
        assertEquals(1, stored().size());

        // The per-tenant cap: two files, a third text is refused before it is written.
        a.ok("deploy " + dropFile + " " + ports[1]);
        String r = a.call("deploy " + thirdFile + " " + ports[2]);
        assertTrue(r.startsWith("ERR LIMIT") && r.contains("maxSourcesPerTenant"), r);
        assertEquals(2, stored().size());
        b.ok("deploy " + thirdFile + " " + portB); // another tenant has its own
        assertEquals(3, stored().size());

        // The application exits: its deployments and their files go.
        a.exit();
        long end = System.currentTimeMillis() + 10_000;
        while (stored().size() > 1 && System.currentTimeMillis() < end) {
            Thread.sleep(50);
        }
        assertEquals(1, stored().size(), "only the other tenant's file is left: " + stored());
        assertEquals(1, syrupd.deployer().list().size());
    }

    /** Regular files under the control socket's source directory. */
    private List<Path> stored() throws Exception {
        if (!Files.exists(syrupd.sources())) {
            return List.of();
        }
        try (Stream<Path> s = Files.walk(syrupd.sources())) {
            return s.filter(Files::isRegularFile).sorted().toList();
        }
    }

    @Test
    void aListedInterfaceIsOpenToTenantsForPacketHooks() throws Exception {
        String dev = "syrl" + tag;
        start(limits(600_000, 32, Set.of(dev)));
        PortDispatcher dispatcher = new PortDispatcher();
        try {
            Method add = syrupd.manager.getClass().getDeclaredMethod("addHook", Hook.class);
            add.setAccessible(true);
            add.invoke(syrupd.manager, new XdpSkbHook(dispatcher));
            TenantPortKernelTest.run("ip", "link", "add", dev, "type", "veth", "peer", "name", "syrm" + tag);
            TenantPortKernelTest.run("ip", "link", "set", dev, "up");
            Path policy = syrupd.file("to0.c", "uint32_t schedule(void *s, void *e) { return 0; }\n");
            App tenant = syrupd.app(UID_A);
            int port = Integer.parseInt(tenant.ok("open 1"));
            String id = tenant.ok("deployat xdp_skb " + policy + " " + port + " " + dev + " NUM_EXECUTORS=1");
            assertTrue(TenantPortKernelTest.capture("ip", "link", "show", "dev", dev).contains("xdp"), "XDP on " + dev);
            tenant.ok("undeploy " + id);
            String r = tenant.call("deployat xdp_skb " + policy + " " + port + " lo NUM_EXECUTORS=1");
            assertTrue(r.startsWith("ERR DENIED") && r.contains("(" + dev + ")") && r.contains("tenantInterfaces"), r);
        } finally {
            syrupd.close();
            syrupd = null;
            dispatcher.close();
            TenantPortKernelTest.quietly("ip", "link", "del", dev);
        }
    }
}
