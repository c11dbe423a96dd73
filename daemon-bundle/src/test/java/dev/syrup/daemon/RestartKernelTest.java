package dev.syrup.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.syrup.api.DeployRequest;
import dev.syrup.api.Deployment;
import dev.syrup.api.Protocol;
import dev.syrup.api.Target;
import dev.syrup.api.map.SyrupMap;
import dev.syrup.backend.ebpf.SocketSelectHook;
import dev.syrup.bpf.BpfMap;
import dev.syrup.bpf.MapType;
import dev.syrup.isolation.PortDispatcher;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * syrupd restarts (DESIGN "State and recovery"): when the framework shuts down, deployments are
 * closed keeping their records and pinned Maps, and the next syrupd (a new manager and a new
 * dispatcher, as in a new process) re-adopts them as their hook appears, with the Maps' contents;
 * what it cannot re-adopt, and pins no record explains, it removes. Real programs and sockets.
 */
class RestartKernelTest {

    private static final String COUNT_TO_ONE = """
            #include "syrup.h"
            SYR_MAP(hits, 4);
            uint32_t schedule(void *pkt_start, void *pkt_end)
            {
            	uint32_t zero = 0;
            	uint64_t *h = syr_map_lookup_elem(&hits, &zero);
            	if (h)
            		__sync_fetch_and_add(h, 1);
            	return 1;
            }
            """;

    @TempDir
    Path dir;

    private Path bpffs;
    private Path work;
    private DeploymentManager syrupd;
    private PortDispatcher dispatcher;

    @BeforeAll
    static void kernel() {
        Kernel.require();
    }

    @BeforeEach
    void start() {
        bpffs = Path.of("/sys/fs/bpf/syrup-test-" + UUID.randomUUID().toString().substring(0, 8));
        work = dir.resolve("work");
        boot();
    }

    /** A syrupd as a new process has it: a new manager and dispatcher, then the hook appears. */
    private void boot() {
        try {
            syrupd = new DeploymentManager(DaemonConfig.of(work.toString(), bpffs.toString()));
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        dispatcher = new PortDispatcher();
        syrupd.addHook(new SocketSelectHook(dispatcher));
    }

    /** The framework shuts down: deployments close keeping what the next syrupd re-adopts. */
    private void shutdown() {
        syrupd.stop(true);
        dispatcher.close();
    }

    @AfterEach
    void stop() throws IOException {
        syrupd.deactivate();
        dispatcher.close();
        assertEquals(List.of(), records(), "no record left");
        assertFalse(Files.exists(bpffs.resolve(DeployRequest.ADMIN)), "pins left under " + bpffs);
        Files.deleteIfExists(bpffs);
    }

    @Test
    void aRestartReadoptsTheDeploymentWithItsMaps() throws Exception {
        Path policy = Files.writeString(dir.resolve("count_to_one.c"), COUNT_TO_ONE);
        try (UdpGroup group = new UdpGroup(2); UdpGroup.Sender tx = new UdpGroup.Sender(group.port)) {
            Deployment d = syrupd.deploy(new DeployRequest(policy.toString(), SocketSelectHook.NAME,
                    Target.port(Protocol.UDP, group.port), Map.of("UNUSED", "1"), false, DeployRequest.ADMIN));
            syrupd.deploy(new DeployRequest(policy.toString(), SocketSelectHook.NAME, Target.port(Protocol.UDP, group.port),
                    Map.of("UNUSED", "2"), true, DeployRequest.ADMIN)); // replaced once: the count must survive too
            tx.send(50, 0);
            assertEquals(50, group.await(50, 3000));
            assertEquals(50, group.received(1), "the policy sends everything to socket 1");
            SyrupMap hits = syrupd.map(d.id(), "hits");
            hits.update(2, 777); // the application's state
            assertEquals(50, hits.lookup(0).orElse(-1));
            Path pin = bpffs.resolve(DeployRequest.ADMIN).resolve(d.id()).resolve("hits");

            Set<Integer> before = SocketSelectKernelTest.syrupPrograms();
            shutdown();
            assertTrue(Files.exists(pin), "the Map stays pinned for the next syrupd");
            assertEquals(List.of(d.id() + ".properties"), records());
            SocketSelectKernelTest.assertGone(before); // only the Maps stay, not the program

            boot();
            List<Deployment> now = syrupd.list();
            assertEquals(1, now.size(), "re-adopted: " + now);
            Deployment back = now.get(0);
            assertEquals(d.id(), back.id());
            assertEquals(1, back.replaced());
            assertEquals(d.created(), back.created());
            assertEquals(2, back.executors());
            SyrupMap again = syrupd.map(d.id(), "hits");
            assertEquals(50, again.lookup(0).orElse(-1), "the Map's contents came back");
            assertEquals(777, again.lookup(2).orElse(-1));

            group.reset();
            tx.send(50, 0);
            assertEquals(50, group.await(50, 3000));
            assertEquals(50, group.received(1), "the re-adopted policy schedules again");
            assertEquals(100, again.lookup(0).orElse(-1), "into the same Map");

            // A new deployment never takes a re-adopted one's id.
            try (UdpGroup other = new UdpGroup(1)) {
                Deployment d2 = syrupd.deploy(new DeployRequest("round_robin", SocketSelectHook.NAME,
                        Target.port(Protocol.UDP, other.port), Map.of(), false, DeployRequest.ADMIN));
                assertTrue(DeploymentRecords.number(d2.id()) > DeploymentRecords.number(d.id()), d2.id());
                syrupd.undeploy(d2.id());
            }
            Set<Integer> progs = SocketSelectKernelTest.syrupPrograms();
            int hitsId;
            try (BpfMap m = BpfMap.openPinned(pin)) {
                hitsId = m.info().id();
            }
            syrupd.undeploy(d.id());
            assertFalse(Files.exists(pin), "undeploy unpins");
            SocketSelectKernelTest.assertGoneById(progs, Set.of(hitsId));
        }
    }

    @Test
    void whatCannotBeReadoptedIsRemoved() throws Exception {
        Path policy = Files.writeString(dir.resolve("count_to_one.c"), COUNT_TO_ONE);
        Path gonePins;
        Path appPins;
        try (UdpGroup group = new UdpGroup(2); UdpGroup app = new UdpGroup(2)) {
            // An administrator's deployment whose sockets will be gone ...
            Deployment gone = syrupd.deploy(new DeployRequest(policy.toString(), SocketSelectHook.NAME,
                    Target.port(Protocol.UDP, group.port), Map.of(), false, DeployRequest.ADMIN));
            // ... and an application's, which lived as long as its connection to this syrupd.
            Deployment owned = syrupd.deploy(new DeployRequest(policy.toString(), SocketSelectHook.NAME,
                    Target.port(Protocol.UDP, app.port), Map.of(), false, "app1"));
            gonePins = bpffs.resolve(DeployRequest.ADMIN).resolve(gone.id());
            appPins = bpffs.resolve("app1").resolve(owned.id());
            shutdown();
            assertTrue(Files.exists(gonePins.resolve("hits")));
            assertTrue(Files.exists(appPins.resolve("hits")));
        }
        // Pins no record explains (a record lost with the work directory, or never written).
        Path stray = bpffs.resolve(DeployRequest.ADMIN).resolve("d41");
        Files.createDirectories(stray);
        try (BpfMap m = BpfMap.create(MapType.ARRAY, "hits", 4, 8, 4, 0)) {
            m.pin(stray.resolve("hits"));
        }

        boot();
        assertEquals(List.of(), syrupd.list(), "nothing re-adopted");
        assertFalse(Files.exists(gonePins), "no executors any more: removed");
        assertFalse(Files.exists(appPins.getParent()), "an application's: removed");
        assertFalse(Files.exists(stray), "pins without a record: removed");
        assertEquals(List.of(), records());
        // Ids go on after the highest one seen, pins included: d42 cannot meet d41's pins.
        try (UdpGroup group = new UdpGroup(1)) {
            Deployment d = syrupd.deploy(new DeployRequest(policy.toString(), SocketSelectHook.NAME,
                    Target.port(Protocol.UDP, group.port), Map.of(), false, DeployRequest.ADMIN));
            assertEquals("d42", d.id());
            syrupd.undeploy(d.id());
        }
    }

    @Test
    void aDeploymentWaitingForItsHookCanBeUndeployed() throws Exception {
        Path policy = Files.writeString(dir.resolve("count_to_one.c"), COUNT_TO_ONE);
        Path pins;
        try (UdpGroup group = new UdpGroup(2)) {
            Deployment d = syrupd.deploy(new DeployRequest(policy.toString(), SocketSelectHook.NAME,
                    Target.port(Protocol.UDP, group.port), Map.of(), false, DeployRequest.ADMIN));
            pins = bpffs.resolve(DeployRequest.ADMIN).resolve(d.id());
            shutdown();
            // The next syrupd, before its socket_select hook appears (its backend not started yet).
            syrupd = new DeploymentManager(DaemonConfig.of(work.toString(), bpffs.toString()));
            dispatcher = new PortDispatcher();
            assertEquals(List.of(), syrupd.list(), "not running: its hook is not there");
            assertTrue(Files.exists(pins.resolve("hits")), "its Maps wait with it");
            syrupd.undeploy(d.id());
            assertFalse(Files.exists(pins), "undeploy removes its pins");
            assertEquals(List.of(), records(), "and its record");
            syrupd.addHook(new SocketSelectHook(dispatcher));
            assertEquals(List.of(), syrupd.list(), "nothing comes back");
        }
    }

    private List<String> records() throws IOException {
        Path d = work.resolve("deployments");
        if (!Files.isDirectory(d)) {
            return List.of();
        }
        try (var files = Files.list(d)) {
            return files.map(f -> f.getFileName().toString()).sorted().toList();
        }
    }
}
