package dev.syrup.backend.ghost;

import dev.syrup.api.DeploymentStats;
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
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;

/**
 * A thread_scheduler deployment on the stock Linux engine.
 *
 * <p>Kernel side: the hook's event programs ({@code thread_events.bpf.c}) attached to the
 * scheduler tracepoints through perf events for the deployment's life, recording registered
 * threads' events in {@code syr_events}; the policy's object ({@link ThreadGlue}), a test-run
 * program writing {@code syr_decisions}. {@code syr_threads} (tid → index), {@code syr_events}
 * and {@code syr_decisions} belong to the deployment and outlive policy versions.
 *
 * <p>Agent (a thread of syrupd, SCHED_FIFO above the policy's threads): every
 * {@code pollMicros} it runs the policy (BPF_PROG_TEST_RUN) for each new event and each
 * per-thread Map entry the application changed, then applies each new decision of
 * {@code syr_decisions}:
 * <ul>
 * <li>index {@code i}: SCHED_FIFO (with SCHED_RESET_ON_FORK) at the configured priority, affinity
 *     = core {@code cores[i]};
 * <li>{@code SYR_ANY_CORE}: SCHED_FIFO on every core of the deployment;
 * <li>{@code SYR_PASS} (and an index out of range): the thread's class, priority and affinity as
 *     they were when it was registered;
 * <li>{@code SYR_DROP}: SCHED_IDLE on the registered affinity.
 * </ul>
 * A decision equal to what the thread already has costs no system call.
 *
 * <p>Safety: only threads registered by the one process this deployment serves, each checked in
 * /proc (tgid and uid) when registered; a watchdog thread (SCHED_FIFO, above the agent) puts
 * every thread back as it was registered when the agent has not run for {@code watchdogMs};
 * unregister, close (undeploy, agent stop, bundle stop) do the same; an exited thread is
 * forgotten without a system call (its tid could be reused). RT throttling stays as configured.
 */
public final class ThreadDeployment implements ThreadSchedulerDeployment {

    private static final System.Logger LOG = System.getLogger(ThreadDeployment.class.getName());
    static final Set<String> INTERNAL = PolicyVersions.INTERNAL;
    private static final String[] TRACEPOINTS = {"sched_wakeup", "sched_switch", "sched_process_exit"};
    private static final String[] TP_PROGRAMS = {ThreadGlue.WAKEUP_PROGRAM, ThreadGlue.SWITCH_PROGRAM, ThreadGlue.EXIT_PROGRAM};
    private static final int LATENCY_SAMPLES = 8192;

    private final Target target;
    private final String id;
    private final Path pinDir;
    private final MapRegistry registry;
    private final List<Integer> cores;
    private final BitSet coreSet = new BitSet();
    private final ThreadSchedulerHook.Settings settings;
    private final Consumer<ThreadDeployment> onClose;
    private final Sched sched = Sched.get();

    private final BpfMap threads;
    private final BpfMap events;
    private final BpfMap decisions;
    private final MappedArray decided;
    private final MappedArray happened;
    /** The hook's tracepoint programs, attached for the deployment's life. */
    private final BpfObject eventObject;
    private final SavedThreads saved;
    private final PolicyVersions versions;
    private final Slot[] slots;

    /** The running policy; guarded by this. */
    private BpfObject running;
    private int[] perfFds;
    private List<SyrupMap> maps = List.of();
    private List<MappedArray> watched = List.of();
    private int boundPid;

    private final Thread agent;
    private final Thread watchdog;
    private volatile boolean closed;
    private volatile long heartbeat = System.nanoTime();
    private volatile long stallUntil;
    private volatile boolean restoredByWatchdog;
    /** An install holds the deployment while it loads: the agent waits for it, and is not stalled. */
    private volatile boolean installing;
    private volatile long watchdogRestores;
    private volatile long lastWatchdogLatencyNs = -1;

    private final long[] latencies = new long[LATENCY_SAMPLES];
    private long latencyCount;
    private final DecisionCounts counts;
    private long mapEvents;

    /** One registered thread. */
    private static final class Slot {
        final int tid;
        final int index;
        final State original;
        /** What the agent applied last: null = as registered. */
        Applied applied;
        int seq;
        int eventSeq;
        long[] mapValues = new long[0];

        Slot(int tid, int index, State original) {
            this.tid = tid;
            this.index = index;
            this.original = original;
        }
    }

    private record Applied(int policy, int priority, BitSet cpus) {
    }

    ThreadDeployment(Target target, Path pinDir, List<Integer> cores, ThreadSchedulerHook.Settings settings,
            MapRegistry registry, Consumer<ThreadDeployment> onClose) throws SyrupException {
        this.registry = Objects.requireNonNull(registry);
        this.target = Objects.requireNonNull(target);
        this.pinDir = Objects.requireNonNull(pinDir);
        this.id = pinDir.getFileName().toString();
        this.cores = List.copyOf(cores);
        cores.forEach(coreSet::set);
        this.settings = settings;
        this.onClose = onClose;
        this.slots = new Slot[settings.maxThreads()];
        this.counts = new DecisionCounts(cores.size());
        BpfMap t = null, e = null, d = null;
        MappedArray view = null, seen = null;
        BpfObject ev = null;
        SavedThreads sv = null;
        int[] fds = new int[0];
        try {
            t = BpfMap.create(MapType.HASH, ThreadGlue.THREADS_MAP, 4, 4, settings.maxThreads(), 0);
            e = BpfMap.create(MapType.ARRAY, ThreadGlue.EVENTS_MAP, 4, 8, 2 * settings.maxThreads(), BpfMap.BPF_F_MMAPABLE);
            d = BpfMap.create(MapType.ARRAY, ThreadGlue.DECISIONS_MAP, 4, 8, 2 * settings.maxThreads(), BpfMap.BPF_F_MMAPABLE);
            view = MappedArray.map(d);
            seen = MappedArray.map(e);
            sv = new SavedThreads(pinDir, settings.maxThreads());
            ev = loadEvents(t, e);
            fds = new int[TRACEPOINTS.length];
            Arrays.fill(fds, -1);
            for (int i = 0; i < TRACEPOINTS.length; i++) {
                fds[i] = sched.attachTracepoint(ThreadSchedulerHook.tracepointId(TRACEPOINTS[i]), ev.program(TP_PROGRAMS[i]).fd());
            }
        } catch (BpfException | SchedException | IllegalArgumentException | IllegalStateException | SyrupException x) {
            closeFds(fds);
            for (AutoCloseable c : new AutoCloseable[] {ev, view, seen, t, e, d}) {
                if (c != null) {
                    try {
                        c.close();
                    } catch (Exception ignored) {
                        // closing what was made so far
                    }
                }
            }
            if (sv != null) {
                sv.close();
            }
            throw x instanceof SyrupException se ? se
                    : new SyrupException(Kind.KERNEL, "thread_scheduler: cannot set up its maps and event programs: " + x.getMessage(), x);
        }
        this.decided = view;
        this.happened = seen;
        this.saved = sv;
        this.eventObject = ev;
        this.perfFds = fds;
        this.events = e;
        this.threads = t;
        this.decisions = d;
        this.versions = new PolicyVersions(pinDir, registry, d);
        int rt = Math.min(99, settings.fifoPriority() + 1);
        this.agent = new Thread(() -> runAgent(rt), "syrup-thread-agent-" + pinDir.getFileName());
        this.watchdog = new Thread(() -> runWatchdog(Math.min(99, rt + 1)), "syrup-thread-watchdog-" + pinDir.getFileName());
        agent.setDaemon(true);
        watchdog.setDaemon(true);
        agent.start();
        watchdog.start();
    }

    @Override
    public Target target() {
        return target;
    }

    @Override
    public List<Integer> cores() {
        return cores;
    }

    /**
     * Registers thread {@code tid} of process {@code pid}, whose caller runs as {@code uid}, and
     * returns its index (the key of per-thread Maps). The first registration binds the
     * deployment to {@code pid}: threads of any other process are refused.
     *
     * @throws SyrupException {@code DENIED} for a thread of another process or uid, {@code
     *                        NOT_FOUND} for no such thread, {@code LIMIT} when full, {@code
     *                        INVALID} for a SCHED_DEADLINE thread (its parameters cannot be
     *                        restored with sched_setscheduler)
     */
    @Override
    public synchronized int registerThread(long callerPid, int uid, int tid) throws SyrupException {
        checkOpen();
        int pid = Registration.owner(id, callerPid, uid, tid, boundPid);
        for (Slot s : slots) {
            if (s != null && s.tid == tid) {
                return s.index;
            }
        }
        int index = -1;
        for (int i = 0; i < slots.length; i++) {
            if (slots[i] == null) {
                index = i;
                break;
            }
        }
        if (index < 0) {
            throw new SyrupException(Kind.LIMIT, "thread_scheduler deployment has " + slots.length + " threads registered already");
        }
        State original = Registration.original(sched, tid);
        Slot s = new Slot(tid, index, original);
        s.seq = (int) (decided.getLong(2 * index) >>> 32);
        s.eventSeq = (int) (happened.getLong(2 * index) >>> 32);
        s.mapValues = new long[watched.size()];
        for (int m = 0; m < watched.size(); m++) {
            s.mapValues[m] = valueAt(watched.get(m), index);
        }
        try {
            saved.put(tid, original, index, pid, uid); // first: a crash from here on still finds it
            threads.updateInt(tid, index);
        } catch (BpfException e) {
            saved.remove(tid);
            throw new SyrupException(Kind.KERNEL, "cannot register thread " + tid + ": " + e.getMessage(), e);
        }
        slots[index] = s;
        boundPid = pid;
        if (running != null) {
            runPolicy(s, ThreadGlue.EV_NEW);
        }
        return index;
    }

    /**
     * Registers again the threads a previous syrupd had registered in this deployment (a
     * re-adoption after a restart; {@link SavedThreads#take} put them back as registered and
     * kept those that still run as saved): each at its index, with the state it had when first
     * registered, checked again in /proc (still a thread of that process, still that uid). A
     * thread that fails the checks stays as it was registered and is forgotten. Returns how many
     * were registered; the policy decides for them at its install.
     */
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
            } catch (SyrupException x) {
                LOG.log(System.Logger.Level.INFO, "thread_scheduler " + id + ": thread " + e.tid() + " is not registered again: "
                        + x.getMessage());
                continue;
            }
            Slot s = new Slot(e.tid(), e.index(), e.original());
            s.seq = (int) (decided.getLong(2 * s.index) >>> 32);
            s.eventSeq = (int) (happened.getLong(2 * s.index) >>> 32);
            s.mapValues = new long[watched.size()];
            try {
                saved.put(e.tid(), e.original(), e.index(), e.pid(), e.uid());
                threads.updateInt(e.tid(), e.index());
            } catch (BpfException x) {
                saved.remove(e.tid());
                LOG.log(System.Logger.Level.WARNING, "thread_scheduler " + id + ": cannot register thread " + e.tid()
                        + " again: " + x.getMessage());
                continue;
            }
            slots[e.index()] = s;
            boundPid = e.pid();
            if (running != null) {
                runPolicy(s, ThreadGlue.EV_NEW);
            }
            n++;
        }
        if (n > 0) {
            LOG.log(System.Logger.Level.INFO, "thread_scheduler " + id + ": " + n + " thread(s) of process " + boundPid
                    + " registered again after a restart");
        }
        return n;
    }

    /** Puts the thread back as it was registered and forgets it; false when it was not registered. */
    @Override
    public synchronized boolean unregisterThread(int tid) {
        for (int i = 0; i < slots.length; i++) {
            Slot s = slots[i];
            if (s != null && s.tid == tid) {
                forget(s, true);
                return true;
            }
        }
        return false;
    }

    /** The registered threads: tid by index (0 for a free index), for people and tests. */
    public synchronized int[] threads() {
        int[] out = new int[slots.length];
        for (Slot s : slots) {
            if (s != null) {
                out[s.index] = s.tid;
            }
        }
        return out;
    }

    @Override
    public synchronized void install(Path object) throws SyrupException {
        checkOpen();
        installing = true;
        try {
            doInstall(object);
        } finally {
            heartbeat = System.nanoTime();
            installing = false;
        }
    }

    private void doInstall(Path object) throws SyrupException {
        BpfObject obj = versions.load(object, running);
        // The new version runs; the old one goes (both may have decided for a moment: the agent applies the latest).
        BpfObject old = running;
        running = obj;
        if (old != null) {
            versions.retire(old);
        }
        maps = versions.commit(obj);
        watched.forEach(MappedArray::close);
        watched = perThreadMaps(obj);
        for (Slot s : slots) {
            if (s != null) {
                s.mapValues = new long[watched.size()];
                for (int m = 0; m < watched.size(); m++) {
                    s.mapValues[m] = valueAt(watched.get(m), s.index);
                }
                runPolicy(s, ThreadGlue.EV_NEW);
            }
        }
    }

    /** The policy's mmap'able u64 arrays: an entry [index] changing is a SYR_THREAD_CHANGED event of that thread. */
    private List<MappedArray> perThreadMaps(BpfObject obj) {
        List<MappedArray> out = new ArrayList<>();
        for (BpfMap m : obj.maps()) {
            if (INTERNAL.contains(m.name()) || m.name().contains(".") || m.type() != MapType.ARRAY || m.valueSize() != 8
                    || (m.flags() & BpfMap.BPF_F_MMAPABLE) == 0) {
                continue;
            }
            out.add(MappedArray.map(m));
        }
        return out;
    }

    private static long valueAt(MappedArray a, int index) {
        return index < a.size() ? a.getLong(index) : 0;
    }

    /** The hook's event programs (built into the bundle) on the deployment's own maps. */
    private static BpfObject loadEvents(BpfMap threads, BpfMap events) throws SyrupException {
        Path elf;
        try (java.io.InputStream in = ThreadDeployment.class.getResourceAsStream(ThreadGlue.EVENTS_OBJECT)) {
            if (in == null) {
                throw new IllegalStateException(ThreadGlue.EVENTS_OBJECT + " is missing from the bundle");
            }
            elf = Files.createTempFile("syrup-thread-events-", ".bpf.o");
            Files.write(elf, in.readAllBytes());
        } catch (IOException e) {
            throw new SyrupException(Kind.KERNEL, "thread_scheduler: " + e.getMessage(), e);
        }
        BpfObject obj = null;
        try {
            obj = BpfObject.open(elf);
            obj.reuseMap(ThreadGlue.THREADS_MAP, threads);
            obj.reuseMap(ThreadGlue.EVENTS_MAP, events);
            obj.load();
            return obj;
        } catch (RuntimeException e) {
            if (obj != null) {
                obj.close();
            }
            throw e;
        } finally {
            try {
                Files.deleteIfExists(elf);
            } catch (IOException e) {
                // a temporary file
            }
        }
    }

    private void closeFds(int[] fds) {
        for (int fd : fds) {
            if (fd >= 0) {
                sched.close(fd);
            }
        }
    }

    /** Runs the verified policy for one thread's event no tracepoint sees (BPF_PROG_TEST_RUN). */
    private void runPolicy(Slot s, int event) {
        runPolicy(s, event, -1, System.nanoTime());
    }

    private void runPolicy(Slot s, int event, int cpu, long time) {
        try {
            ThreadGlue.run(running, s.tid, s.index, event, cpu, time);
        } catch (BpfException e) {
            LOG.log(System.Logger.Level.WARNING, "thread_scheduler: running the policy for thread " + s.tid + ": " + e.getMessage());
        }
    }

    @Override
    public synchronized List<SyrupMap> maps() {
        return maps;
    }

    /** Decisions the agent saw: per core index, PASS, DROP, other (SYR_ANY_CORE, out of range). */
    @Override
    public synchronized DeploymentStats stats() {
        return counts.stats();
    }

    /** Decision-to-enforcement latency of the applied decisions (ns): p50, p99, max and how many. */
    public synchronized long[] latency() {
        int n = (int) Math.min(latencyCount, LATENCY_SAMPLES);
        long[] copy = Arrays.copyOf(latencies, n);
        Arrays.sort(copy);
        if (n == 0) {
            return new long[] {0, 0, 0, 0};
        }
        return new long[] {copy[n / 2], copy[Math.min(n - 1, (int) Math.ceil(n * 0.99) - 1)], copy[n - 1], latencyCount};
    }

    public long watchdogRestores() {
        return watchdogRestores;
    }

    /** How long the last watchdog restore took from the agent's last beat (ns); -1 before any. */
    public long lastWatchdogLatencyNs() {
        return lastWatchdogLatencyNs;
    }

    @Override
    public Path savedPin() {
        return SavedThreads.pinOf(pinDir);
    }

    /**
     * Tests: the process dies here (kill -9): agent and watchdog stop, every fd goes (the kernel
     * detaches the tracepoints), nothing is restored, the saved states stay pinned.
     */
    void abandon() {
        synchronized (this) {
            closed = true;
        }
        agent.interrupt();
        watchdog.interrupt();
        join(agent);
        join(watchdog);
        synchronized (this) {
            closeFds(perfFds);
            watched.forEach(MappedArray::close);
            if (running != null) {
                versions.retire(running);
            }
            registry.release(pinDir);
            eventObject.close();
            decided.close();
            happened.close();
            threads.close();
            events.close();
            decisions.close();
            saved.abandon();
            try {
                Files.deleteIfExists(pinDir);
            } catch (IOException e) {
                // a test's leftover
            }
        }
        onClose.accept(this);
    }

    /** Tests: the agent stops beating (and deciding) for {@code ms}, as a stuck agent would. */
    void stallAgent(long ms) {
        stallUntil = System.nanoTime() + ms * 1_000_000L;
    }

    // ---- the agent -------------------------------------------------------------------------

    private void runAgent(int rtPriority) {
        raise(rtPriority);
        long period = settings.pollMicros() * 1000L;
        while (!closed) {
            if (System.nanoTime() < stallUntil) {
                LockSupport.parkNanos(1_000_000);
                continue;
            }
            heartbeat = System.nanoTime();
            try {
                poll();
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.WARNING, "thread_scheduler agent: " + e, e);
            }
            LockSupport.parkNanos(period);
        }
    }

    private synchronized void poll() {
        if (closed) {
            return;
        }
        boolean force = restoredByWatchdog;
        if (force) {
            restoredByWatchdog = false;
            for (Slot s : slots) {
                if (s != null) {
                    s.applied = null; // the watchdog put it back as registered
                }
            }
        }
        for (Slot s : slots) {
            if (s == null) {
                continue;
            }
            long e = happened.getLong(2 * s.index);
            int eseq = (int) (e >>> 32);
            if (eseq != s.eventSeq) {
                s.eventSeq = eseq;
                int event = (int) (e >>> 24) & 0xff;
                int cpu = (int) (e & 0xffffff);
                if (running != null) {
                    runPolicy(s, event, cpu, happened.getLong(2 * s.index + 1));
                }
                if (event == ThreadGlue.EV_EXITED) {
                    forget(s, false); // its tid may already belong to another thread
                }
            }
        }
        if (running != null) {
            for (Slot s : slots) {
                if (s == null) {
                    continue;
                }
                for (int m = 0; m < watched.size(); m++) {
                    long v = valueAt(watched.get(m), s.index);
                    if (v != s.mapValues[m]) {
                        s.mapValues[m] = v;
                        runPolicy(s, ThreadGlue.EV_CHANGED);
                    }
                }
            }
        }
        for (Slot s : slots) {
            if (s != null) {
                applyLatest(s, force);
            }
        }
    }

    /** Applies the policy's latest decision for {@code s} when it is new (or, with {@code force}, in any case). */
    private void applyLatest(Slot s, boolean force) {
        long v = decided.getLong(2 * s.index);
        int seq = (int) (v >>> 32);
        if (seq == s.seq && !force) {
            return;
        }
        boolean fresh = seq != s.seq;
        s.seq = seq;
        if (fresh || seq != 0) {
            apply(s, (int) v, decided.getLong(2 * s.index + 1), fresh);
        }
    }

    /**
     * A Map event (routed by Camel from syrupd, {@link ThreadMapEvents}): entry {@code key} of the
     * policy's Map {@code map} changed. The thread registered at index {@code key} is re-decided
     * now ({@code SYR_THREAD_CHANGED}) and the decision applied by the caller's thread, without
     * waiting for a scheduler event or the agent's next look. While the agent is late (the
     * watchdog's business) the decision is only recorded: the agent applies it when it runs.
     *
     * @return whether a registered thread was re-decided
     */
    @Override
    public synchronized boolean mapChanged(String map, int key) {
        if (closed || running == null || key < 0 || key >= slots.length || slots[key] == null
                || maps.stream().noneMatch(m -> m.name().equals(map))) {
            return false;
        }
        Slot s = slots[key];
        for (int m = 0; m < watched.size(); m++) {
            s.mapValues[m] = valueAt(watched.get(m), s.index); // seen: the agent's look finds no change
        }
        runPolicy(s, ThreadGlue.EV_CHANGED);
        mapEvents++;
        if (!restoredByWatchdog && System.nanoTime() - heartbeat <= settings.watchdogMs() * 1_000_000L) {
            applyLatest(s, false);
        }
        return true;
    }

    /** Map events that re-decided a thread ({@link #mapChanged}). */
    public synchronized long mapEvents() {
        return mapEvents;
    }

    @Override
    public String id() {
        return id;
    }

    @Override
    public Path ownerDir() {
        return pinDir.getParent();
    }

    private void apply(Slot s, int decision, long decidedAt, boolean count) {
        if (count) {
            counts.count(decision);
        }
        Applied want;
        if (decision == ThreadGlue.ANY_CORE) {
            want = new Applied(Sched.SCHED_FIFO | Sched.SCHED_RESET_ON_FORK, settings.fifoPriority(), (BitSet) coreSet.clone());
        } else if (decision == ThreadGlue.DROP) {
            want = new Applied(Sched.SCHED_IDLE, 0, s.original.cpus());
        } else if (decision >= 0 && decision < cores.size()) {
            BitSet one = new BitSet();
            one.set(cores.get(decision));
            want = new Applied(Sched.SCHED_FIFO | Sched.SCHED_RESET_ON_FORK, settings.fifoPriority(), one);
        } else {
            want = null; // PASS, or an index with no core: as registered
        }
        if (Objects.equals(want, s.applied)) {
            return;
        }
        try {
            if (want == null) {
                sched.restore(s.tid, s.original);
            } else if (want.policy() == Sched.SCHED_IDLE) {
                sched.setScheduler(s.tid, want.policy(), 0);
                sched.setAffinity(s.tid, want.cpus());
            } else {
                // Where first, then the class: a FIFO thread never runs on a core it was not given.
                sched.setAffinity(s.tid, want.cpus());
                sched.setScheduler(s.tid, want.policy(), want.priority());
            }
            s.applied = want;
            long lat = System.nanoTime() - decidedAt;
            if (lat >= 0) {
                latencies[(int) (latencyCount++ % LATENCY_SAMPLES)] = lat;
            }
        } catch (SchedException e) {
            if (e.gone()) {
                forget(s, false);
            } else {
                LOG.log(System.Logger.Level.WARNING, "thread_scheduler: thread " + s.tid + ": " + e.getMessage());
            }
        }
    }

    /** Drops a thread; with {@code restore}, first puts it back as registered. */
    private void forget(Slot s, boolean restore) {
        slots[s.index] = null;
        try {
            threads.delete(s.tid);
        } catch (BpfException | IllegalStateException e) {
            // already gone: the exit tracepoint deletes it
        }
        if (restore) {
            restoreQuietly(s);
        }
        saved.remove(s.tid);
    }

    private void restoreQuietly(Slot s) {
        try {
            State now = sched.state(s.tid);
            if (!now.equals(s.original)) {
                sched.restore(s.tid, s.original);
            }
        } catch (SchedException e) {
            if (!e.gone()) {
                LOG.log(System.Logger.Level.WARNING, "thread_scheduler: restoring thread " + s.tid + ": " + e.getMessage());
            }
        }
    }

    // ---- the watchdog ----------------------------------------------------------------------

    private void runWatchdog(int rtPriority) {
        raise(rtPriority);
        long limit = settings.watchdogMs() * 1_000_000L;
        boolean restored = false;
        while (!closed) {
            LockSupport.parkNanos(2_000_000);
            long beat = heartbeat;
            long late = System.nanoTime() - beat;
            if (late <= limit || installing) {
                restored = false;
                continue;
            }
            if (restored || closed) {
                continue;
            }
            // Without the deployment's lock: a stuck agent may hold it.
            Slot[] copy = slots.clone();
            for (Slot s : copy) {
                if (s != null) {
                    restoreQuietly(s);
                }
            }
            restored = true;
            restoredByWatchdog = true;
            watchdogRestores++;
            lastWatchdogLatencyNs = System.nanoTime() - beat;
            LOG.log(System.Logger.Level.WARNING, "thread_scheduler " + pinDir.getFileName() + ": the agent has not run for "
                    + late / 1_000_000 + " ms: every thread is back as registered");
        }
    }

    /** The agent and watchdog outrank the policy's SCHED_FIFO threads, so a policy cannot starve them. */
    private void raise(int priority) {
        try {
            sched.setScheduler(sched.gettid(), Sched.SCHED_FIFO | Sched.SCHED_RESET_ON_FORK, priority);
        } catch (SchedException e) {
            LOG.log(System.Logger.Level.WARNING, "thread_scheduler: " + Thread.currentThread().getName()
                    + " stays SCHED_OTHER: " + e.getMessage());
        }
    }

    private void checkOpen() throws SyrupException {
        if (closed) {
            throw new SyrupException(Kind.NOT_FOUND, "thread_scheduler deployment " + pinDir.getFileName() + " is closed");
        }
    }

    /** Every thread back as registered, the policy detached and unloaded, maps, pins and the pin dir gone. */
    @Override
    public void close() {
        end(false);
    }

    /**
     * syrupd's framework shuts down and the next syrupd re-adopts this deployment: every thread
     * back as registered (no agent or watchdog runs them meanwhile), but the registrations stay
     * saved ({@link SavedThreads}) and the policy's Maps pinned in the pin dir, for the next
     * syrupd's deployment to register the threads again and its policy to get the Maps' contents.
     */
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
        agent.interrupt();
        watchdog.interrupt();
        join(agent);
        join(watchdog);
        synchronized (this) {
            closeFds(perfFds);
            perfFds = new int[0];
            for (Slot s : slots) {
                if (s == null) {
                    continue;
                }
                if (keep) {
                    slots[s.index] = null;
                    restoreQuietly(s); // the saved registration stays
                } else {
                    forget(s, true);
                }
            }
            watched.forEach(MappedArray::close);
            watched = List.of();
            if (running != null) {
                if (keep) {
                    running.close(); // its Maps stay pinned
                } else {
                    versions.retire(running);
                }
                running = null;
            }
            registry.release(pinDir);
            maps = List.of();
            eventObject.close();
            decided.close();
            happened.close();
            threads.close();
            events.close();
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

    private static void join(Thread t) {
        try {
            t.join(2000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public String toString() {
        return "thread_scheduler[" + pinDir.getFileName() + ", cores " + cores + "]";
    }
}
