package dev.syrup.daemon;

import static dev.syrup.daemon.Kernel.eventually;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.syrup.api.DeployRequest;
import dev.syrup.api.Deployment;
import dev.syrup.api.Protocol;
import dev.syrup.api.Target;
import dev.syrup.backend.ebpf.SocketSelectHook;
import dev.syrup.backend.ghost.Sched;
import dev.syrup.backend.ghost.ThreadSchedulerHook;
import dev.syrup.isolation.PortDispatcher;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.OptionalLong;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Paper §5.3 through the deployment manager: scan_avoid at socket_select and get_priority at
 * thread_scheduler on one application's port read one Map {@code scan}. A write through the
 * socket layer's deployment is what the thread layer's policy sees, and it re-prioritises the
 * registered thread (request type changed).
 */
class CrossLayerKernelTest {

    @TempDir
    Path dir;

    @Test
    void socketAndThreadLayersShareScan() throws Exception {
        Kernel.require();
        ThreadSchedulerHook threads = new ThreadSchedulerHook(ThreadSchedulerHook.Settings.defaults().withEngine("linux"));
        Assumptions.assumeTrue(threads.availability().available(), threads.availability().toString());
        Path bpffs = Path.of("/sys/fs/bpf/syrup-test-" + UUID.randomUUID().toString().substring(0, 8));
        DeploymentManager syrupd = new DeploymentManager(DaemonConfig.of(dir.resolve("work").toString(), bpffs.toString()));
        PortDispatcher dispatcher = new PortDispatcher();
        syrupd.addHook(new SocketSelectHook(dispatcher));
        syrupd.addHook(threads);
        Sched sched = Sched.get();
        CompletableFuture<Integer> tid = new CompletableFuture<>();
        Thread worker = new Thread(() -> {
            tid.complete(sched.gettid());
            while (!Thread.currentThread().isInterrupted()) {
                LockSupport.parkNanos(1_000_000);
            }
        }, "t-cross");
        worker.setDaemon(true);
        worker.start();
        try (UdpGroup group = new UdpGroup(4)) {
            Deployment sock = syrupd.deploy(new DeployRequest("scan_avoid", SocketSelectHook.NAME,
                    Target.port(Protocol.UDP, group.port), Map.of(), false, DeployRequest.ADMIN));
            Deployment thr = syrupd.deploy(new DeployRequest("get_priority", ThreadSchedulerHook.NAME,
                    Target.port(Protocol.UDP, group.port), Map.of("NUM_THREADS", "4"), false, DeployRequest.ADMIN));
            int t = tid.get();
            Sched.State orig = sched.state(t);
            assertEquals(0, syrupd.registerThread(thr.id(), ProcessHandle.current().pid(), 0, t));
            Thread.sleep(50);
            assertEquals(orig, sched.state(t), "a GET server runs as registered");

            syrupd.map(sock.id(), "scan").update(0, 1); // the socket layer's Map: thread 0 serves a SCAN
            assertEquals(OptionalLong.of(1), syrupd.map(thr.id(), "scan").lookup(0), "one kernel map behind both");
            assertTrue(eventually(() -> sched.policy(t) == Sched.SCHED_IDLE, 2000), "demoted by the shared Map");
            syrupd.map(thr.id(), "scan").update(0, 0);
            assertEquals(OptionalLong.of(0), syrupd.map(sock.id(), "scan").lookup(0));
            assertTrue(eventually(() -> sched.state(t).equals(orig), 2000), "a GET server again");

            syrupd.undeploy(thr.id());
            assertEquals(orig, sched.state(t), "undeploy restores the thread");
            syrupd.undeploy(sock.id());
        } finally {
            worker.interrupt();
            syrupd.deactivate();
            dispatcher.close();
        }
        assertFalse(Files.exists(bpffs.resolve(DeployRequest.ADMIN)), "pins left under " + bpffs);
        Files.deleteIfExists(bpffs);
    }

    /**
     * The other order, which sharing through pin paths could not do: the thread layer's
     * deployment comes first and makes {@code scan}; the socket layer's, made after it, gets
     * that Map from the registry. Either may go first; the Map lives until the last user goes.
     */
    @Test
    void threadLayerFirstSharesScanWithALaterSocketLayer() throws Exception {
        Kernel.require();
        ThreadSchedulerHook threads = new ThreadSchedulerHook(ThreadSchedulerHook.Settings.defaults().withEngine("linux"));
        Assumptions.assumeTrue(threads.availability().available(), threads.availability().toString());
        Path bpffs = Path.of("/sys/fs/bpf/syrup-test-" + UUID.randomUUID().toString().substring(0, 8));
        DeploymentManager syrupd = new DeploymentManager(DaemonConfig.of(dir.resolve("work").toString(), bpffs.toString()));
        PortDispatcher dispatcher = new PortDispatcher();
        syrupd.addHook(new SocketSelectHook(dispatcher));
        syrupd.addHook(threads);
        try (UdpGroup group = new UdpGroup(4)) {
            Deployment thr = syrupd.deploy(new DeployRequest("get_priority", ThreadSchedulerHook.NAME,
                    Target.port(Protocol.UDP, group.port), Map.of("NUM_THREADS", "4"), false, DeployRequest.ADMIN));
            syrupd.map(thr.id(), "scan").update(2, 1);
            Deployment sock = syrupd.deploy(new DeployRequest("scan_avoid", SocketSelectHook.NAME,
                    Target.port(Protocol.UDP, group.port), Map.of(), false, DeployRequest.ADMIN));
            assertEquals(OptionalLong.of(1), syrupd.map(sock.id(), "scan").lookup(2), "the thread layer's Map, with its value");
            syrupd.map(sock.id(), "scan").update(3, 1);
            assertEquals(OptionalLong.of(1), syrupd.map(thr.id(), "scan").lookup(3), "one kernel map behind both");

            syrupd.undeploy(thr.id()); // the first user goes: the Map stays the socket layer's
            assertEquals(OptionalLong.of(1), syrupd.map(sock.id(), "scan").lookup(2));
            syrupd.undeploy(sock.id());
        } finally {
            syrupd.deactivate();
            dispatcher.close();
        }
        assertFalse(Files.exists(bpffs.resolve(DeployRequest.ADMIN)), "pins left under " + bpffs);
        Files.deleteIfExists(bpffs);
    }

}
