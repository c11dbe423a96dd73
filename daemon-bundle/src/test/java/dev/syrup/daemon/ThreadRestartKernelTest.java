package dev.syrup.daemon;

import static dev.syrup.daemon.Kernel.eventually;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.syrup.api.DeployRequest;
import dev.syrup.api.Deployment;
import dev.syrup.api.Protocol;
import dev.syrup.api.Target;
import dev.syrup.backend.ghost.Sched;
import dev.syrup.backend.ghost.ThreadSchedulerHook;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * thread_scheduler across a graceful restart of syrupd (framework shutdown, then a new manager
 * and a new hook, as a new process has them): the threads go back as registered while syrupd is
 * down; the re-adopted deployment registers again those of its threads that still run, at their
 * index, and its policy schedules them from the Map kept pinned meanwhile (no write after the
 * restart); a thread that ended meanwhile is forgotten; an application's deployment, which is not
 * re-adopted, leaves its threads as registered and no saved state. Real threads of this JVM.
 */
class ThreadRestartKernelTest {

    @TempDir
    Path dir;
    private Path bpffs;
    private Path work;
    private DeploymentManager syrupd;
    private final Sched sched = Sched.get();
    private final List<Thread> threads = new ArrayList<>();

    @BeforeEach
    void start() {
        Kernel.require();
        bpffs = Path.of("/sys/fs/bpf/syrup-test-" + UUID.randomUUID().toString().substring(0, 8));
        work = dir.resolve("work");
        boot();
    }

    private void boot() {
        try {
            syrupd = new DeploymentManager(DaemonConfig.of(work.toString(), bpffs.toString()));
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        syrupd.addHook(new ThreadSchedulerHook(ThreadSchedulerHook.Settings.defaults().withEngine("linux")));
    }

    @AfterEach
    void stop() throws Exception {
        syrupd.deactivate();
        for (Thread t : threads) {
            t.interrupt();
            t.join(2000);
        }
        assertFalse(Files.exists(bpffs.resolve("threads")), "saved thread states left under " + bpffs);
        assertFalse(Files.exists(bpffs.resolve(DeployRequest.ADMIN)), "pins left under " + bpffs);
        assertFalse(Files.exists(bpffs.resolve("app1")), "pins left under " + bpffs);
        Files.deleteIfExists(bpffs);
    }

    /** A thread that wakes every ms (scheduler events, as a server's would) until interrupted; its tid. */
    private int thread(String name) throws Exception {
        CompletableFuture<Integer> tid = new CompletableFuture<>();
        Thread t = new Thread(() -> {
            tid.complete(sched.gettid());
            while (!Thread.currentThread().isInterrupted()) {
                LockSupport.parkNanos(1_000_000);
            }
        }, name);
        t.setDaemon(true);
        t.start();
        threads.add(t);
        return tid.get();
    }

    private int[] registered(String id) throws Exception {
        // The hook's deployment, through the manager: what it registered, by index.
        return ((dev.syrup.backend.ghost.ThreadDeployment) syrupd.hookDeployment(id)).threads();
    }

    @Test
    void aRestartRegistersTheStillRunningThreadsAgain() throws Exception {
        int get = thread("t-get"), scan = thread("t-scan"), gone = thread("t-gone");
        Sched.State getOrig = sched.state(get), scanOrig = sched.state(scan), goneOrig = sched.state(gone);
        long pid = ProcessHandle.current().pid();
        Deployment d = syrupd.deploy(new DeployRequest("get_priority", ThreadSchedulerHook.NAME,
                Target.port(Protocol.UDP, 47311), Map.of("NUM_THREADS", "4"), false, DeployRequest.ADMIN));
        assertEquals(0, syrupd.registerThread(d.id(), pid, 0, get));
        assertEquals(1, syrupd.registerThread(d.id(), pid, 0, scan));
        assertEquals(2, syrupd.registerThread(d.id(), pid, 0, gone));
        syrupd.map(d.id(), "scan").update(1, 1); // thread 1 serves a SCAN
        syrupd.map(d.id(), "scan").update(2, 1);
        assertTrue(eventually(() -> sched.policy(scan) == Sched.SCHED_IDLE && sched.policy(gone) == Sched.SCHED_IDLE, 2000));

        syrupd.stop(true); // the framework shuts down
        assertEquals(scanOrig, sched.state(scan), "no agent while syrupd is down: back as registered");
        assertEquals(goneOrig, sched.state(gone));
        assertEquals(getOrig, sched.state(get));
        assertTrue(Files.exists(bpffs.resolve("threads").resolve("admin-" + d.id())), "the registrations stay saved");
        assertTrue(Files.exists(bpffs.resolve(DeployRequest.ADMIN).resolve(d.id()).resolve("scan")), "scan stays pinned");
        Thread t = threads.remove(2); // this thread ends while syrupd is down
        t.interrupt();
        t.join(2000);

        long t0 = System.nanoTime();
        boot();
        assertEquals(1, syrupd.list().size(), "re-adopted");
        assertEquals(OptionalLong.of(1), syrupd.map(d.id(), "scan").lookup(1), "scan's contents came back");
        assertTrue(eventually(() -> sched.policy(scan) == Sched.SCHED_IDLE, 2000),
                "the SCAN thread is scheduled by the policy again, with no write after the restart");
        System.out.printf("re-adoption to the SCAN thread SCHED_IDLE again: %d ms%n", (System.nanoTime() - t0) / 1_000_000);
        assertEquals(getOrig, sched.state(get), "the GET thread runs as registered");
        int[] now = registered(d.id());
        assertEquals(get, now[0]);
        assertEquals(scan, now[1]);
        assertEquals(0, now[2], "the thread that ended is forgotten");
        assertEquals(2, Arrays.stream(now).filter(x -> x != 0).count());

        // And it goes on deciding: thread 0 serves a SCAN now, thread 1 is done with its own.
        syrupd.map(d.id(), "scan").update(0, 1);
        syrupd.map(d.id(), "scan").update(1, 0);
        assertTrue(eventually(() -> sched.policy(get) == Sched.SCHED_IDLE && sched.state(scan).equals(scanOrig), 2000));
        syrupd.undeploy(d.id());
        assertEquals(getOrig, sched.state(get), "undeploy restores every thread");
        assertEquals(scanOrig, sched.state(scan));
    }

    @Test
    void anApplicationsDeploymentIsNotReadoptedAndItsThreadsStayAsRegistered() throws Exception {
        int tid = thread("t-app");
        Sched.State orig = sched.state(tid);
        Deployment d = syrupd.deploy(new DeployRequest("get_priority", ThreadSchedulerHook.NAME,
                Target.port(Protocol.UDP, 47312), Map.of("NUM_THREADS", "4"), false, "app1"));
        assertEquals(0, syrupd.registerThread(d.id(), ProcessHandle.current().pid(), 0, tid));
        syrupd.map(d.id(), "scan").update(0, 1);
        assertTrue(eventually(() -> sched.policy(tid) == Sched.SCHED_IDLE, 2000));
        syrupd.stop(true);
        assertEquals(orig, sched.state(tid));
        boot();
        assertEquals(List.of(), syrupd.list(), "an application's deployment is not re-adopted");
        assertFalse(Files.exists(bpffs.resolve("threads")), "its saved registrations went with it");
        LockSupport.parkNanos(100_000_000L);
        assertEquals(orig, sched.state(tid), "its thread runs as registered");
    }

}
