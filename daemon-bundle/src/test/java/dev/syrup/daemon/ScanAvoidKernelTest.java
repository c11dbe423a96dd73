package dev.syrup.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.syrup.api.DeployRequest;
import dev.syrup.api.Deployment;
import dev.syrup.api.Protocol;
import dev.syrup.api.Target;
import dev.syrup.api.map.SyrupMap;
import dev.syrup.backend.ebpf.SocketSelectHook;
import dev.syrup.isolation.PortDispatcher;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The built-in {@code scan_avoid} (paper Figure 5b/5c) on the real kernel: executors the
 * application marks as serving a SCAN get (almost) nothing, the others share the inputs, and
 * with every executor marked the inputs still go somewhere.
 */
class ScanAvoidKernelTest {

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
    void inputsAvoidExecutorsServingAScan() throws Exception {
        try (UdpGroup group = new UdpGroup(4); UdpGroup.Sender tx = new UdpGroup.Sender(group.port)) {
            Deployment d = syrupd.deploy(new DeployRequest("scan_avoid", SocketSelectHook.NAME,
                    Target.port(Protocol.UDP, group.port), Map.of(), false, DeployRequest.ADMIN));
            SyrupMap scan = syrupd.map(d.id(), "scan");
            assertEquals(4, scan.maxEntries(), "one entry per executor");

            // Nobody serves a SCAN: random spread over the four.
            tx.send(4000, 0);
            assertEquals(4000, group.await(4000, 10_000));
            for (long n : group.perSocket()) {
                assertTrue(n > 800 && n < 1200, "about 1000 each: " + Arrays.toString(group.perSocket()));
            }

            // Executors 1 and 3 serve a SCAN: 16 probes miss both free ones once in 65536.
            scan.update(1, 1);
            scan.update(3, 1);
            group.reset();
            tx.send(4000, 0);
            assertEquals(4000, group.await(4000, 10_000));
            long[] n = group.perSocket();
            System.out.println("scan_avoid, executors 1 and 3 busy: " + Arrays.toString(n));
            assertTrue(n[1] + n[3] <= 4, "busy executors get (almost) nothing: " + Arrays.toString(n));
            assertTrue(n[0] > 1700 && n[2] > 1700, "the free ones share the rest: " + Arrays.toString(n));

            // The SCAN on 1 ends, one starts on 0.
            scan.update(1, 0);
            scan.update(0, 1);
            group.reset();
            tx.send(4000, 0);
            assertEquals(4000, group.await(4000, 10_000));
            n = group.perSocket();
            assertTrue(n[0] + n[3] <= 4, "busy executors get (almost) nothing: " + Arrays.toString(n));
            assertTrue(n[1] > 1700 && n[2] > 1700, "the free ones share the rest: " + Arrays.toString(n));

            // All busy: no executor is free, inputs still go to one (none is lost).
            for (int i = 0; i < 4; i++) {
                scan.update(i, 1);
            }
            group.reset();
            tx.send(2000, 0);
            assertEquals(2000, group.await(2000, 10_000), "nothing dropped when every executor is busy");
        }
    }
}
