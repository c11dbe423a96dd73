package dev.syrup.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.syrup.api.DeployRequest;
import dev.syrup.api.Deployment;
import dev.syrup.api.Protocol;
import dev.syrup.api.SyrupException;
import dev.syrup.api.Target;
import dev.syrup.api.map.SyrupMap;
import dev.syrup.backend.ebpf.CpuRedirectHook;
import dev.syrup.backend.ebpf.SocketSelectHook;
import dev.syrup.bpf.BpfMap;
import dev.syrup.dispatch.Dispatcher.XdpMode;
import dev.syrup.isolation.PortDispatcher;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Maps across layers (paper §5.3): a socket_select deployment on a loopback UDP port and a
 * cpu_redirect deployment on a veth of this test (peer in a namespace) of one owner both declare
 * {@code busy}; they get one kernel map. Another owner's {@code busy} is its own; a {@code busy}
 * of another shape is refused with nothing changed; the map lives until its last user goes.
 */
class SharedMapsKernelTest {

    private static final String APP = "app";
    private static final String OTHER = "other";

    @TempDir
    static Path dir;

    private String ns;
    private String dev;
    private String peer;
    private Path bpffs;
    private DeploymentManager syrupd;
    private PortDispatcher dispatcher;

    @BeforeAll
    static void kernel() {
        Kernel.require();
    }

    @BeforeEach
    void start() throws Exception {
        int r = ThreadLocalRandom.current().nextInt(0x10000, 0xfffff);
        int net = ThreadLocalRandom.current().nextInt(1, 254);
        ns = "syrsn" + Integer.toHexString(r);
        dev = "syrsx" + Integer.toHexString(r);
        peer = "syrsy" + Integer.toHexString(r);
        run("ip", "netns", "add", ns);
        run("ip", "link", "add", dev, "type", "veth", "peer", "name", peer);
        run("ip", "link", "set", peer, "netns", ns);
        run("ip", "addr", "add", "10.213." + net + ".1/24", "dev", dev);
        run("ip", "link", "set", dev, "up");
        bpffs = Path.of("/sys/fs/bpf/syrup-test-" + UUID.randomUUID().toString().substring(0, 8));
        syrupd = new DeploymentManager(DaemonConfig.of(dir.resolve("work").toString(), bpffs.toString()));
        dispatcher = new PortDispatcher();
        syrupd.addHook(new SocketSelectHook(dispatcher));
        syrupd.addHook(new CpuRedirectHook(dispatcher, List.of(0), XdpMode.SKB, 64));
    }

    @AfterEach
    void stop() throws IOException {
        try {
            syrupd.deactivate();
            assertEquals(List.of(), dispatcher.claims(), "every claim released with its deployment");
            dispatcher.close();
            assertFalse(Files.exists(bpffs.resolve(APP)), "pins left under " + bpffs);
            assertFalse(Files.exists(bpffs.resolve(OTHER)), "pins left under " + bpffs);
            Files.deleteIfExists(bpffs);
        } finally {
            quietly("ip", "link", "del", dev);
            quietly("ip", "netns", "del", ns);
        }
    }

    @Test
    void oneOwnersDeploymentsAtTwoLayersShareAMapByName() throws Exception {
        // socket_select steers every datagram to the executor busy[0] names.
        Path steer = policy("steer_by_busy.c", """
                #include "syrup.h"
                SYR_MAP(busy, 1);
                uint32_t schedule(void *pkt_start, void *pkt_end)
                {
                	uint32_t zero = 0;
                	uint64_t *b = syr_map_lookup_elem(&busy, &zero);
                	return b ? (uint32_t)*b : SYR_PASS;
                }
                """);
        // cpu_redirect only reads it.
        Path read = policy("read_busy.c", """
                #include "syrup.h"
                SYR_MAP(busy, 1);
                uint32_t schedule(void *pkt_start, void *pkt_end)
                {
                	uint32_t zero = 0;
                	uint64_t *b = syr_map_lookup_elem(&busy, &zero);
                	return b && *b == 7 ? SYR_DROP : SYR_PASS;
                }
                """);
        Path wider = policy("wider_busy.c", """
                #include "syrup.h"
                SYR_MAP(busy, 2);
                uint32_t schedule(void *pkt_start, void *pkt_end)
                {
                	uint32_t zero = 0;
                	uint64_t *b = syr_map_lookup_elem(&busy, &zero);
                	return b && *b == 7 ? SYR_DROP : SYR_PASS;
                }
                """);
        try (UdpGroup group = new UdpGroup(3); UdpGroup.Sender tx = new UdpGroup.Sender(group.port)) {
            Deployment a = syrupd.deploy(new DeployRequest(steer.toString(), SocketSelectHook.NAME,
                    Target.port(Protocol.UDP, group.port), Map.of(), false, APP));
            Deployment b = syrupd.deploy(new DeployRequest(read.toString(), CpuRedirectHook.NAME,
                    new Target(Protocol.UDP, 9101, Optional.of(dev)), Map.of(), false, APP));
            SyrupMap busyA = syrupd.map(a.id(), "busy");
            SyrupMap busyB = syrupd.map(b.id(), "busy");
            int id = kernelId(busyA);
            assertEquals(id, kernelId(busyB), "one kernel map behind both deployments' busy");
            assertTrue(syrupd.maps(b.id()).stream().anyMatch(m -> m.name().equals("busy")), "listed by the second too");

            busyA.update(0, 2);
            assertEquals(OptionalLong.of(2), busyB.lookup(0), "written through the first, read through the second");
            tx.send(300, 0);
            assertEquals(300, group.await(300, 5000));
            assertEquals(300, group.received(2), "steered by the shared value");
            busyB.update(0, 1);
            assertEquals(OptionalLong.of(1), busyA.lookup(0));
            tx.send(300, 0);
            assertEquals(600, group.await(600, 5000));
            assertEquals(300, group.received(1), "steering follows a write made through the second deployment");

            // Another shape under the same name: refused, nothing changes.
            List<Deployment> before = syrupd.list();
            SyrupException mismatch = assertThrows(SyrupException.class, () -> syrupd.deploy(new DeployRequest(
                    wider.toString(), CpuRedirectHook.NAME, new Target(Protocol.UDP, 9102, Optional.of(dev)),
                    Map.of(), false, APP)));
            assertEquals(SyrupException.Kind.INVALID, mismatch.kind());
            assertTrue(mismatch.getMessage().contains("max entries 2 vs 1"), mismatch.getMessage());
            assertTrue(mismatch.getMessage().contains("deployment " + a.id()), "names the map's deployment: " + mismatch.getMessage());
            assertEquals(before, syrupd.list(), "no deployment added");
            assertEquals(OptionalLong.of(1), busyA.lookup(0));
            assertEquals(id, kernelId(syrupd.map(b.id(), "busy")));

            // A replacement of a sharing deployment keeps using the shared map.
            Deployment a2 = syrupd.deploy(new DeployRequest(steer.toString(), SocketSelectHook.NAME,
                    Target.port(Protocol.UDP, group.port), Map.of(), true, APP));
            assertEquals(a.id(), a2.id());
            busyA = syrupd.map(a.id(), "busy");
            assertEquals(id, kernelId(busyA), "the replacement reuses the shared map");
            assertEquals(OptionalLong.of(1), busyA.lookup(0));

            // Another owner never shares.
            Deployment c = syrupd.deploy(new DeployRequest(read.toString(), CpuRedirectHook.NAME,
                    new Target(Protocol.UDP, 9103, Optional.of(dev)), Map.of(), false, OTHER));
            SyrupMap busyC = syrupd.map(c.id(), "busy");
            assertNotEquals(id, kernelId(busyC), "another owner's busy is its own");
            assertEquals(OptionalLong.of(0), busyC.lookup(0));
            syrupd.undeploy(c.id());

            // The map outlives its first user.
            Path pinA = Path.of(busyA.pinnedPath().orElseThrow());
            Path pinB = Path.of(busyB.pinnedPath().orElseThrow());
            syrupd.undeploy(a.id());
            assertFalse(Files.exists(pinA), "the first deployment's pin goes with it");
            assertTrue(Files.exists(pinB), "the second deployment's pin stays");
            SyrupMap still = syrupd.map(b.id(), "busy");
            assertEquals(OptionalLong.of(1), still.lookup(0), "the second still reads the shared map");
            assertEquals(id, kernelId(still));

            syrupd.undeploy(b.id());
            try (Stream<Path> pins = Files.walk(bpffs)) {
                assertEquals(List.of(), pins.filter(f -> !Files.isDirectory(f)).toList(), "no pin left under " + bpffs);
            }
            SocketSelectKernelTest.assertGoneById(Set.of(), Set.of(id));
        }
    }

    private static int kernelId(SyrupMap m) {
        try (BpfMap pinned = BpfMap.openPinned(Path.of(m.pinnedPath().orElseThrow()))) {
            return pinned.info().id();
        }
    }

    private static Path policy(String name, String source) throws IOException {
        Path p = dir.resolve(name);
        Files.writeString(p, source);
        return p;
    }

    private static void run(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IllegalStateException(String.join(" ", cmd) + " failed: " + out);
        }
    }

    private static void quietly(String... cmd) {
        try {
            run(cmd);
        } catch (Exception e) {
            // best effort cleanup
        }
    }
}
