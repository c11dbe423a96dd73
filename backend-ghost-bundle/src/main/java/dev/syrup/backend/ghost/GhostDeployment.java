package dev.syrup.backend.ghost;

import dev.syrup.api.DeploymentStats;
import dev.syrup.api.KernelProgram;
import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
import dev.syrup.api.Target;
import dev.syrup.api.map.SyrupMap;
import dev.syrup.backend.ghost.Sched.SchedException;
import dev.syrup.backend.ghost.Sched.State;
import dev.syrup.bpf.BpfException;
import dev.syrup.bpf.BpfMap;
import dev.syrup.bpf.BpfObject;
import dev.syrup.bpf.MapType;
import dev.syrup.bpf.MappedArray;
import dev.syrup.hook.kit.MapRegistry;
import dev.syrup.hook.kit.PolicyObjects;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.function.Consumer;

/**
 * A thread_scheduler deployment on the ghOSt engine: a {@link GhostAgent} for the enclave of the
 * deployment's cores, its loop on threads of syrupd, deciding with the verified policy.
 *
 * <p>The policy is the same object as on the Linux engine ({@link ThreadGlue}'s test-run
 * program writing {@code syr_decisions}), loaded by {@link PolicyVersions}: an install loads the
 * new version beside the running one and swaps them only once it is loaded (a refusal changes
 * nothing), then every thread of the enclave is decided again ({@code SYR_THREAD_NEW}). Each
 * message of the enclave's queue is an event the agent runs the policy for ({@link #decide});
 * the decision is which core the thread is offered next.
 *
 * <p>Registration is checked as on the Linux engine ({@link Registration}: the one process this
 * deployment serves, its uid) and saved ({@link SavedThreads}); a registered thread enters the
 * enclave (SCHED_GHOST). Closing destroys the enclave, which puts every thread back in CFS, then
 * gives each the class, priority and affinity it was registered with.
 */
final class GhostDeployment implements ThreadSchedulerDeployment {

    private static final System.Logger LOG = System.getLogger(GhostDeployment.class.getName());

    private final Target target;
    private final String id;
    private final Path pinDir;
    private final List<Integer> cores;
    private final MapRegistry registry;
    private final Consumer<ThreadSchedulerDeployment> onClose;
    private final Sched sched = Sched.get();
    private final BpfMap decisions;
    private final MappedArray decided;
    private final SavedThreads saved;
    private final PolicyVersions versions;
    private final DecisionCounts counts;
    private final GhostAgent agent;
    /** Registered threads by index; guarded by this. */
    private final Slot[] slots;
    /** Threads the agent saw exit (tids), forgotten at the deployment's next call. */
    private final Queue<Integer> exited = new ConcurrentLinkedQueue<>();
    /** The agent's policy runs under this lock: a version is never run after it is retired. */
    private final Object policyLock = new Object();

    /** The running policy: written under this and policyLock. */
    private BpfObject running;
    private List<SyrupMap> maps = List.of();
    private int boundPid;
    private volatile boolean closed;

    private record Slot(int tid, int index, State original) {
    }

    /**
     * Sets up the enclave of {@code cores} on {@code kernel} (closed here when this fails) and
     * starts its agents.
     */
    GhostDeployment(Target target, Path pinDir, List<Integer> cores, ThreadSchedulerHook.Settings settings,
            MapRegistry registry, GhostKernel kernel, Consumer<ThreadSchedulerDeployment> onClose) throws SyrupException {
        this.target = Objects.requireNonNull(target);
        this.pinDir = Objects.requireNonNull(pinDir);
        this.id = pinDir.getFileName().toString();
        this.cores = List.copyOf(cores);
        this.registry = Objects.requireNonNull(registry);
        this.onClose = onClose;
        this.slots = new Slot[settings.maxThreads()];
        this.counts = new DecisionCounts(cores.size());
        BpfMap d = null;
        MappedArray view = null;
        SavedThreads sv = null;
        GhostAgent a = null;
        try {
            d = BpfMap.create(MapType.ARRAY, ThreadGlue.DECISIONS_MAP, 4, 8, 2 * settings.maxThreads(), BpfMap.BPF_F_MMAPABLE);
            view = MappedArray.map(d);
            sv = new SavedThreads(pinDir, settings.maxThreads());
            this.decided = view;
            // room for every thread's messages of a few steps: ghOSt drops what does not fit (overflow)
            a = new GhostAgent(kernel, cores, this::decide, Math.max(256, 16 * settings.maxThreads()));
            a.start();
        } catch (BpfException | IllegalArgumentException | IllegalStateException | UnsupportedOperationException x) {
            throw failed(x, a, kernel, view, d, sv);
        } catch (InterruptedException x) {
            Thread.currentThread().interrupt();
            throw failed(x, a, kernel, view, d, sv);
        }
        this.decisions = d;
        this.saved = sv;
        this.agent = a;
        this.versions = new PolicyVersions(pinDir, registry, d);
    }

    private static SyrupException failed(Exception x, GhostAgent a, GhostKernel kernel, MappedArray view, BpfMap d,
            SavedThreads sv) {
        if (a != null) {
            a.close(); // the agents stop, the enclave goes
        } else {
            kernel.close();
        }
        if (view != null) {
            view.close();
        }
        if (d != null) {
            d.close();
        }
        if (sv != null) {
            sv.close();
        }
        return new SyrupException(Kind.KERNEL, "thread_scheduler (ghOSt): cannot set up the enclave and its agent: "
                + x.getMessage(), x);
    }

    @Override
    public Target target() {
        return target;
    }

    @Override
    public List<Integer> cores() {
        return cores;
    }

    @Override
    public String id() {
        return id;
    }

    @Override
    public Path ownerDir() {
        return pinDir.getParent();
    }

    @Override
    public Path savedPin() {
        return SavedThreads.pinOf(pinDir);
    }

    /**
     * Registers thread {@code tid} of process {@code pid} (checked as on the Linux engine) and
     * moves it into the enclave; returns its index. Its TASK_NEW is the policy's first event of it.
     */
    @Override
    public synchronized int registerThread(long callerPid, int uid, int tid) throws SyrupException {
        checkOpen();
        forgetExited();
        int pid = Registration.owner(id, callerPid, uid, tid, boundPid);
        int index = -1;
        for (int i = slots.length - 1; i >= 0; i--) {
            if (slots[i] != null && slots[i].tid() == tid) {
                return i;
            }
            if (slots[i] == null) {
                index = i;
            }
        }
        if (index < 0) {
            throw new SyrupException(Kind.LIMIT, "thread_scheduler deployment has " + slots.length + " threads registered already");
        }
        State original = Registration.original(sched, tid);
        enter(new Slot(tid, index, original), pid, uid);
        return index;
    }

    private void enter(Slot s, int pid, int uid) throws SyrupException {
        try {
            saved.put(s.tid(), s.original(), s.index(), pid, uid); // first: a crash from here on still finds it
            agent.register(s.tid(), s.index());
        } catch (BpfException | IllegalStateException e) {
            saved.remove(s.tid());
            throw new SyrupException(Kind.KERNEL, "cannot register thread " + s.tid() + " with the ghOSt enclave: "
                    + e.getMessage(), e);
        }
        slots[s.index()] = s;
        boundPid = pid;
    }

    @Override
    public synchronized int readopt(List<SavedThreads.Entry> again) {
        int n = 0;
        for (SavedThreads.Entry e : again) {
            if (e.index() < 0 || e.index() >= slots.length || slots[e.index()] != null
                    || (boundPid != 0 && boundPid != e.pid())) {
                continue;
            }
            try {
                ProcThreads.checkOwner(e.pid(), e.uid(), e.tid());
                enter(new Slot(e.tid(), e.index(), e.original()), e.pid(), e.uid());
                n++;
            } catch (SyrupException x) {
                LOG.log(System.Logger.Level.INFO, "thread_scheduler " + id + ": thread " + e.tid() + " is not registered again: "
                        + x.getMessage());
            }
        }
        return n;
    }

    @Override
    public synchronized boolean unregisterThread(int tid) {
        forgetExited();
        for (Slot s : slots) {
            if (s != null && s.tid() == tid) {
                agent.unregister(tid);
                forget(s, true);
                return true;
            }
        }
        return false;
    }

    /** The registered threads: tid by index (0 for a free index). */
    public synchronized int[] threads() {
        forgetExited();
        int[] out = new int[slots.length];
        for (Slot s : slots) {
            if (s != null) {
                out[s.index()] = s.tid();
            }
        }
        return out;
    }

    /** Loads the new version; only once it is loaded does it replace the running one (a refusal changes nothing). */
    @Override
    public synchronized void install(Path object) throws SyrupException {
        checkOpen();
        BpfObject obj = versions.load(object, running);
        BpfObject old;
        synchronized (policyLock) {
            old = running;
            running = obj;
            if (old != null) {
                versions.retire(old);
            }
        }
        maps = versions.commit(obj);
        agent.redecide(ThreadGlue.EV_NEW);
    }

    /** The agent's policy: runs the verified version for one event of a thread (BPF_PROG_TEST_RUN). */
    private int decide(int tid, int index, int event, int cpu) {
        if (event == ThreadGlue.EV_EXITED) {
            exited.add(tid);
        }
        synchronized (policyLock) {
            if (running == null) {
                return ThreadGlue.PASS; // no version yet: the enclave's threads share its cores in turn
            }
            try {
                ThreadGlue.run(running, tid, index, event, cpu, System.nanoTime());
            } catch (BpfException e) {
                LOG.log(System.Logger.Level.WARNING, "thread_scheduler: running the policy for thread " + tid + ": " + e.getMessage());
                return ThreadGlue.PASS;
            }
            int d = (int) decided.getLong(2 * index);
            if (event != ThreadGlue.EV_EXITED) {
                counts.count(d);
            }
            return d;
        }
    }

    /**
     * A Map event: the thread registered at index {@code key} is decided again
     * ({@code SYR_THREAD_CHANGED}); the agent's next step offers it a core by that decision.
     */
    @Override
    public synchronized boolean mapChanged(String map, int key) {
        if (closed || running == null || key < 0 || key >= slots.length || slots[key] == null
                || maps.stream().noneMatch(m -> m.name().equals(map))) {
            return false;
        }
        return agent.redecide(slots[key].tid(), ThreadGlue.EV_CHANGED);
    }

    /** The running version's program (test-run by the agent, never attached), as bpftool shows it. */
    @Override
    public synchronized Optional<KernelProgram> program() {
        return running == null ? Optional.empty() : Optional.of(PolicyObjects.kernelProgram(running.program(ThreadGlue.RUN_PROGRAM)));
    }

    @Override
    public synchronized List<SyrupMap> maps() {
        return maps;
    }

    /** The policy's decisions for the enclave's events: per core index, PASS, DROP, other. */
    @Override
    public DeploymentStats stats() {
        return counts.stats();
    }

    /** Messages consumed, transactions completed and failed, messages the kernel could not queue (overflow). */
    long[] counters() {
        return agent.counters();
    }

    /** The thread on core index {@code core} as far as the agent knows; 0 when none. */
    int running(int core) {
        return agent.running(core);
    }

    private void forgetExited() {
        for (Integer tid; (tid = exited.poll()) != null; ) {
            for (Slot s : slots) {
                if (s != null && s.tid() == tid) {
                    forget(s, false); // its tid may already belong to another thread
                }
            }
        }
    }

    private void forget(Slot s, boolean restore) {
        slots[s.index()] = null;
        if (restore) {
            restoreQuietly(s);
        }
        saved.remove(s.tid());
    }

    /** Back to its registered class, priority and affinity (sched_setscheduler out of ghOSt's class, too). */
    private void restoreQuietly(Slot s) {
        try {
            if (!sched.state(s.tid()).equals(s.original())) {
                sched.restore(s.tid(), s.original());
            }
        } catch (SchedException e) {
            if (!e.gone()) {
                LOG.log(System.Logger.Level.WARNING, "thread_scheduler: restoring thread " + s.tid() + ": " + e.getMessage());
            }
        }
    }

    private void checkOpen() throws SyrupException {
        if (closed) {
            throw new SyrupException(Kind.NOT_FOUND, "thread_scheduler deployment " + id + " is closed");
        }
    }

    /** The agents stop and the enclave goes (its threads back in CFS), each thread as registered, the policy, Maps and pins gone. */
    @Override
    public void close() {
        end(false);
    }

    /** As {@link #close}, but the registrations stay saved and the Maps pinned, for the next syrupd to re-adopt. */
    @Override
    public void closeKeepingMaps() {
        end(true);
    }

    private void end(boolean keep) {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        agent.close(); // destroys the enclave: the kernel puts its threads back in CFS
        synchronized (this) {
            forgetExited();
            for (Slot s : slots) {
                if (s == null) {
                    continue;
                }
                if (keep) {
                    slots[s.index()] = null;
                    restoreQuietly(s); // the saved registration stays
                } else {
                    forget(s, true);
                }
            }
            synchronized (policyLock) {
                if (running != null) {
                    if (keep) {
                        running.close(); // its Maps stay pinned
                    } else {
                        versions.retire(running);
                    }
                    running = null;
                }
            }
            registry.release(pinDir);
            maps = List.of();
            decided.close();
            decisions.close();
            if (keep) {
                saved.abandon();
            } else {
                saved.close();
                try {
                    Files.deleteIfExists(pinDir);
                } catch (IOException e) {
                    LOG.log(System.Logger.Level.WARNING, "cannot remove " + pinDir + ": " + e.getMessage());
                }
            }
        }
        onClose.accept(this);
    }

    @Override
    public String toString() {
        return "thread_scheduler[" + id + ", ghOSt, cores " + cores + "]";
    }
}
