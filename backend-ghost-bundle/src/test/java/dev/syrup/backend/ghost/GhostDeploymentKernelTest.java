package dev.syrup.backend.ghost;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.syrup.api.Availability;
import dev.syrup.api.Protocol;
import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
import dev.syrup.api.Target;
import dev.syrup.api.KernelProgram;
import dev.syrup.api.map.MapEvent;
import dev.syrup.api.map.SyrupMap;
import dev.syrup.backend.ghost.Sched.State;
import dev.syrup.bpf.KernelObjects;
import dev.syrup.bpf.ProgramInfo;
import dev.syrup.hook.kit.SharedMaps;
import dev.syrup.hook.spi.HookContext;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A thread_scheduler deployment on the ghOSt engine, end to end, with the in-memory stand-in of a
 * ghOSt kernel's side ({@link InMemoryGhostfs}; no ghOSt kernel runs here) in place of ghostfs:
 * the hook opens it, the built-in get_priority is installed through the verifier, real threads of
 * this process are registered, the stand-in queues their messages as the kernel would, the
 * deployment's agent thread consumes them and commits transactions; what the transactions run,
 * a refused install, Map events and what close leaves (nothing).
 */
class GhostDeploymentKernelTest {

    @TempDir
    Path dir;
    private Path bpffsRoot;
    private final List<Worker> workers = new ArrayList<>();

    @BeforeEach
    void setUp() {
        ThreadSchedulerKernelTest.requireKernel();
        bpffsRoot = Path.of("/sys/fs/bpf/syrup-ghd-" + Long.toHexString(ThreadLocalRandom.current().nextLong()));
    }

    @AfterEach
    void tearDown() throws Exception {
        for (Worker w : workers) {
            w.finish();
        }
        if (bpffsRoot != null && Files.exists(bpffsRoot)) {
            try (var s = Files.walk(bpffsRoot)) {
                s.sorted((a, b) -> b.getNameCount() - a.getNameCount()).forEach(p -> p.toFile().delete());
            }
        }
    }

    /** Whether program {@code id} is still in the kernel (tracked by id: other tests load programs too). */
    private static boolean loaded(int id) {
        return KernelObjects.programs().stream().map(ProgramInfo::id).anyMatch(i -> i == id);
    }

    private static MapEvent event(int key, long old, long now) {
        return new MapEvent("g1", "scan", key, OptionalLong.of(old), OptionalLong.of(now), Instant.now(), MapEvent.Origin.SHELL);
    }

    private static boolean eventually(BooleanSupplier c, long ms) {
        long end = System.nanoTime() + ms * 1_000_000L;
        while (System.nanoTime() < end) {
            if (c.getAsBoolean()) {
                return true;
            }
            LockSupport.parkNanos(1_000_000);
        }
        return c.getAsBoolean();
    }

    private Worker worker(String name) throws InterruptedException {
        Worker w = Worker.start(name, Worker.Mode.SLEEP);
        workers.add(w);
        return w;
    }

    private static int pid() {
        return (int) ProcessHandle.current().pid();
    }

    private static String last(List<String> l) {
        return l.isEmpty() ? "" : l.get(l.size() - 1);
    }

    /** Every message the stand-in queued has been consumed and acted on. */
    private static boolean drained(InMemoryGhostfs k, GhostDeployment d, long messages) {
        return k.tail() == k.head() && d.counters()[0] >= messages;
    }

    @Test
    void getPriorityOnTheGhostEngineEndToEnd() throws Exception {
        List<InMemoryGhostfs> kernels = new ArrayList<>();
        ThreadSchedulerHook.GhostEngine standIn = new ThreadSchedulerHook.GhostEngine() {
            @Override
            public Optional<String> missing() {
                return Optional.empty();
            }

            @Override
            public GhostKernel open() {
                InMemoryGhostfs k = new InMemoryGhostfs(1);
                kernels.add(k);
                return k;
            }
        };
        ThreadSchedulerHook hook = new ThreadSchedulerHook(ThreadSchedulerHook.Settings.defaults().withCores(List.of(0))
                .withEngine("auto"), SharedMaps.standalone(), standIn);
        Availability a = hook.availability();
        assertTrue(a.available(), a.reason());
        assertEquals("engine ghost", a.reason(), "auto takes ghOSt when it is there");

        Path pinDir = bpffsRoot.resolve("app").resolve("g1");
        GhostDeployment d = (GhostDeployment) hook.open(Target.port(Protocol.UDP, 9000), HookContext.ofPinDir(pinDir));
        InMemoryGhostfs k = kernels.get(0);
        assertTrue(eventually(() -> k.online, 5000), "the enclave's agent is online");
        assertEquals(Set.of(0), k.agents);
        assertEquals(List.of("core 0"), d.describeExecutors());

        Path obj = ThreadPolicies.compile(dir, "get_priority", ThreadPolicies.builtin("get_priority"), 1, "NUM_THREADS=4");
        d.install(obj);
        KernelProgram first = d.program().orElseThrow();
        assertEquals("xdp", first.type(), "the verified policy, test-run only");
        assertTrue(loaded(first.id()));
        assertTrue(Files.exists(pinDir.resolve("scan")), "the policy's Map is pinned");
        SyrupMap scan = d.maps().stream().filter(m -> m.name().equals("scan")).findFirst().orElseThrow();
        scan.update(1, 1); // threads 1 and 2 serve SCANs
        scan.update(2, 1);

        Worker get = worker("g-get"), scan1 = worker("g-scan1"), scan2 = worker("g-scan2");
        State origGet = Sched.get().state(get.tid());
        assertEquals(0, d.registerThread(pid(), 0, get.tid()));
        assertEquals(1, d.registerThread(pid(), 0, scan1.tid()));
        assertEquals(2, d.registerThread(pid(), 0, scan2.tid()));
        assertEquals(0, d.registerThread(pid(), 0, get.tid()), "registered already: its index");
        assertEquals(List.of(get.tid(), scan1.tid(), scan2.tid()), k.entered, "registered threads enter the enclave");
        // Another uid, another process: DENIED, and nothing enters the enclave.
        SyrupException e1 = assertThrows(SyrupException.class, () -> d.registerThread(pid(), 1234, get.tid()));
        assertEquals(Kind.DENIED, e1.kind(), e1.getMessage());
        SyrupException e2 = assertThrows(SyrupException.class, () -> d.registerThread(1, 0, 1));
        assertEquals(Kind.DENIED, e2.kind(), e2.getMessage());
        assertEquals(3, k.entered.size());

        // Their TASK_NEWs: the core goes to the GET thread; the SCAN threads (SYR_DROP) wait.
        assertTrue(eventually(() -> drained(k, d, 3) && d.running(0) == get.tid(), 5000), "ran " + k.ran);
        assertEquals(List.of("0:" + get.tid()), k.ran);
        assertEquals(Ghost.TXN_COMPLETE, k.txn(0).getInt(8));
        assertEquals(InMemoryGhostfs.gtid(get.tid()), k.txn(0).getLong(24), "the transaction runs the GET thread");

        // The GET thread blocks: nothing else wants the core, a SCAN thread gets it.
        k.produce(Ghost.MSG_TASK_BLOCKED, get.tid(), 0);
        assertTrue(eventually(() -> last(k.ran).equals("0:" + scan1.tid()), 5000), "ran " + k.ran);
        // It wakes (TASK_WAKEUP): it takes the core from the SCAN thread at once.
        k.produce(Ghost.MSG_TASK_WAKEUP, get.tid(), 0);
        assertTrue(eventually(() -> last(k.ran).equals("0:" + get.tid()), 5000), "ran " + k.ran);
        k.produce(Ghost.MSG_TASK_PREEMPT, scan1.tid(), 0); // the kernel tells of the preemption
        assertTrue(eventually(() -> drained(k, d, 6), 5000));
        assertEquals(get.tid(), d.running(0));
        assertEquals(3, k.commits.size(), "two runnable SCAN threads, no transaction: the GET thread keeps the core");

        // A refused install changes nothing: same program, same Map, same decisions.
        String bad = "uint32_t schedule(void *pkt_start, void *pkt_end)\n{\n\treturn *(volatile uint32_t *)(long)bpf_get_prandom_u32();\n}\n";
        Path badObj = ThreadPolicies.compile(dir, "bad", bad, 1);
        SyrupException e3 = assertThrows(SyrupException.class, () -> d.install(badObj));
        assertEquals(Kind.VERIFIER, e3.kind(), e3.getMessage());
        assertEquals(first, d.program().orElseThrow(), "the running version stays");
        assertEquals(1L, scan.lookup(1).orElseThrow());
        k.produce(Ghost.MSG_TASK_BLOCKED, get.tid(), 0);
        assertTrue(eventually(() -> last(k.ran).equals("0:" + scan2.tid()), 5000), "still get_priority: " + k.ran);
        k.produce(Ghost.MSG_TASK_WAKEUP, get.tid(), 0);
        assertTrue(eventually(() -> last(k.ran).equals("0:" + get.tid()), 5000), "ran " + k.ran);
        k.produce(Ghost.MSG_TASK_PREEMPT, scan2.tid(), 0);

        // A replacement: a new program, the Map's values kept, every thread decided again.
        d.install(obj);
        KernelProgram second = d.program().orElseThrow();
        assertNotEquals(first.id(), second.id());
        assertTrue(eventually(() -> !loaded(first.id()), 5000), "the old version is unloaded");
        scan = d.maps().stream().filter(m -> m.name().equals("scan")).findFirst().orElseThrow(); // the new version's
        assertEquals(1L, scan.lookup(2).orElseThrow(), "the replacement keeps the Map's contents");

        // A Map event: scan[2] = 0, the thread at index 2 is decided again and, no longer SYR_DROP, it is
        // offered the core once the GET thread blocks, ahead of the SCAN thread queued before it.
        assertTrue(eventually(() -> drained(k, d, 9), 5000));
        scan.update(2, 0);
        assertTrue(d.mapChanged("scan", 2));
        assertEquals(1, hook.mapChanged(event(2, 1, 0)), "the hook routes Map events to it");
        k.produce(Ghost.MSG_TASK_BLOCKED, get.tid(), 0);
        assertTrue(eventually(() -> last(k.ran).equals("0:" + scan2.tid()), 5000), "ran " + k.ran);
        assertTrue(d.stats().drop() > 0 && d.stats().pass() > 0, "decisions counted: " + d.stats());

        // Close: the agent ends, the enclave is destroyed, the threads are as registered, nothing is left.
        Path saved = SavedThreads.pinOf(pinDir);
        assertTrue(Files.exists(saved), "registrations saved for a crash");
        d.close();
        assertTrue(k.destroyed, "the enclave is destroyed: its threads are back in CFS");
        assertEquals(origGet, Sched.get().state(get.tid()), "as registered");
        assertTrue(eventually(() -> !loaded(second.id()), 5000), "program " + second.id() + " left");
        assertFalse(Files.exists(pinDir), "pin dir left");
        assertFalse(Files.exists(saved), "saved registrations left");
        SyrupException e4 = assertThrows(SyrupException.class, () -> d.registerThread(pid(), 0, get.tid()));
        assertEquals(Kind.NOT_FOUND, e4.kind());
        assertEquals(0, hook.mapChanged(event(2, 0, 1)), "a closed deployment is no longer the hook's");
        assertTrue(Thread.getAllStackTraces().keySet().stream().noneMatch(t -> t.getName().startsWith("syrup-ghost-agent-")
                && t.isAlive()), "the agent threads ended");
    }

    /** With ghostfs (the production factory), on this kernel: UNAVAILABLE naming what is missing, and nothing made. */
    @Test
    void theProductionEngineIsUnavailableHereWithTheReason() {
        ThreadSchedulerHook hook = new ThreadSchedulerHook(ThreadSchedulerHook.Settings.defaults().withEngine("ghost"));
        assertFalse(hook.availability().available());
        Path pinDir = bpffsRoot.resolve("app").resolve("g2");
        SyrupException e = assertThrows(SyrupException.class,
                () -> hook.open(Target.port(Protocol.UDP, 9000), HookContext.ofPinDir(pinDir)));
        assertEquals(Kind.UNAVAILABLE, e.kind());
        assertTrue(e.getMessage().contains("no ghostfs at /sys/fs/ghost"), e.getMessage());
        assertTrue(e.getMessage().contains("sched_setscheduler(SCHED_GHOST = 18) is EINVAL"), e.getMessage());
        assertFalse(Files.exists(pinDir));
        // auto: the Linux engine, saying why not ghOSt
        ThreadSchedulerHook auto = new ThreadSchedulerHook(ThreadSchedulerHook.Settings.defaults());
        assertTrue(auto.availability().reason().startsWith("engine linux; ghOSt: no ghostfs"), auto.availability().reason());
    }
}
