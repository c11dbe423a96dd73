package dev.syrup.backend.ghost;

import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * The ghOSt engine's agent (paper §4.1 over the ghOSt ABI): a centralized agent, as ghOSt's
 * own centralized schedulers, for the enclave of the deployment's cores.
 *
 * <ol>
 * <li>Setup: the enclave of the cores ({@link GhostKernel#createEnclave}), one message queue
 *     made the enclave's default ({@link GhostKernel#setDefaultQueue}); each registered thread
 *     enters the enclave ({@link #register}); on its TASK_NEW its messages are associated with
 *     the queue.</li>
 * <li>Agents: a thread per core becomes the enclave's agent on it; the first core's is the
 *     global agent, which runs {@link #step} in a loop; the others give their CPU back.</li>
 * <li>{@link #step}: consume every message of the queue (TASK_NEW, WAKEUP, BLOCKED, PREEMPT,
 *     YIELD, DEAD, DEPARTED; CPU messages and NOPs are skipped), each one an event of its thread
 *     for the verified policy ({@link Decider}: the same {@code schedule()} and
 *     {@code struct syr_thread} as the Linux engine); then, core by core, offer each core to the
 *     runnable threads (the paper's core-free semantics): the first, in the order they became
 *     runnable, whose decision is that core's index or {@code SYR_ANY_CORE}, else one whose
 *     decision is {@code SYR_PASS}, else one whose decision is {@code SYR_DROP} (it runs only
 *     when nothing else wants the core). A core running a {@code SYR_DROP} thread is taken from
 *     it for any other (the GET-priority policy's strict priority). The choice is a transaction
 *     in the core's {@code ghost_cpu_data}, committed for all the cores at once
 *     ({@link GhostKernel#commit}); a failed one (a stale barrier: a message is on its way) is
 *     offered again at the next step.</li>
 * </ol>
 * Nothing here runs on a kernel without ghOSt: {@link Ghostfs} refuses with the reason.
 */
final class GhostAgent implements AutoCloseable {

    /** The policy, per event: the decision {@code schedule()} returns for thread {@code tid} at {@code index}. */
    interface Decider {
        int decide(int tid, int index, int event, int cpu);
    }

    private static final System.Logger LOG = System.getLogger(GhostAgent.class.getName());

    private final GhostKernel kernel;
    private final List<Integer> cores;
    private final Decider decider;
    private final ByteBuffer cpuData;
    private final int queueFd;
    private final ByteBuffer queue;
    private final int ring;
    private final int nelems;
    /** Registered threads: tid → index. */
    private final Map<Integer, Integer> registered = new HashMap<>();
    /** Threads in the enclave, by tid. */
    private final Map<Integer, Task> tasks = new HashMap<>();
    /** Runnable threads not on a core, in the order they became runnable. */
    private final LinkedHashMap<Integer, Task> runnable = new LinkedHashMap<>();
    /** What runs on each core (by executor index), as far as the agent committed and was told. */
    private final Task[] onCore;
    private final List<Thread> agents = new ArrayList<>();
    private volatile boolean closed;
    private long overflow;
    private long messages;
    private long commits;
    private long failures;

    /** A thread of the enclave. */
    private static final class Task {
        final int tid;
        final int index;
        final long gtid;
        int seqnum;
        int decision = ThreadGlue.PASS;
        int core = -1;
        int swRegion;
        int swIndex;

        Task(int tid, int index, long gtid) {
            this.tid = tid;
            this.index = index;
            this.gtid = gtid;
        }
    }

    /** Sets up the enclave of {@code cores} and its queue of {@code queueElems} messages. */
    GhostAgent(GhostKernel kernel, List<Integer> cores, Decider decider, int queueElems) {
        this.kernel = kernel;
        this.cores = List.copyOf(cores);
        this.decider = decider;
        this.onCore = new Task[cores.size()];
        BitSet mask = new BitSet();
        cores.forEach(mask::set);
        this.cpuData = kernel.createEnclave(mask).order(ByteOrder.LITTLE_ENDIAN);
        this.queueFd = kernel.createQueue(queueElems);
        this.queue = kernel.queue(queueFd).order(ByteOrder.LITTLE_ENDIAN);
        this.ring = queue.getInt(Ghost.QUEUE_START);
        this.nelems = queue.getInt(Ghost.QUEUE_NELEMS);
        if (Integer.bitCount(nelems) != 1) {
            throw new IllegalStateException("queue of " + nelems + " slots: ghost.h makes it a power of 2");
        }
        kernel.setDefaultQueue(queueFd);
    }

    /** Thread {@code tid}, registered at {@code index}, enters the enclave: the agent schedules it from its TASK_NEW on. */
    synchronized void register(int tid, int index) {
        registered.put(tid, index);
        try {
            kernel.enterGhost(tid);
        } catch (RuntimeException e) {
            registered.remove(tid);
            throw e;
        }
    }

    /**
     * Forgets thread {@code tid}: the agent no longer schedules it. The caller takes it out of
     * the enclave (sched_setscheduler to its registered class: the kernel then sends its
     * TASK_DEPARTED, which finds nothing here).
     */
    synchronized void unregister(int tid) {
        registered.remove(tid);
        Task t = tasks.remove(tid);
        if (t != null) {
            offCore(t);
            runnable.remove(tid);
        }
    }

    /** Runs the policy again for every thread of the enclave ({@code event}: a new policy version), for its next core. */
    synchronized void redecide(int event) {
        for (Task t : tasks.values()) {
            decide(t, event, -1);
        }
    }

    /** Runs the policy again for thread {@code tid} (a per-thread Map entry changed); false when it is not in the enclave yet. */
    synchronized boolean redecide(int tid, int event) {
        Task t = tasks.get(tid);
        if (t == null) {
            return false;
        }
        decide(t, event, -1);
        return true;
    }

    /** Starts an agent thread per core; the first core's runs the loop. Returns once every core has its agent. */
    void start() throws InterruptedException {
        CountDownLatch attached = new CountDownLatch(cores.size());
        for (int i = 0; i < cores.size(); i++) {
            int cpu = cores.get(i);
            boolean global = i == 0;
            Thread t = new Thread(() -> {
                kernel.becomeAgent(cpu, queueFd);
                attached.countDown();
                if (global) {
                    try {
                        attached.await();
                    } catch (InterruptedException e) {
                        return;
                    }
                    kernel.online();
                }
                while (!closed) {
                    if (!global) {
                        kernel.yieldAgent(cpu);
                    } else if (step() == 0) {
                        Thread.onSpinWait(); // the global agent owns its core
                    }
                }
            }, "syrup-ghost-agent-" + cpu);
            t.setDaemon(true);
            agents.add(t);
            t.start();
        }
        if (!attached.await(10, TimeUnit.SECONDS)) {
            throw new IllegalStateException("the agents did not attach to their cores");
        }
    }

    /**
     * One round of the global agent: every message of the queue, then a core for each runnable
     * thread the policy lets have one. Returns how many messages it consumed.
     */
    synchronized int step() {
        int n = drain();
        schedule();
        return n;
    }

    private int drain() {
        int over = queue.getInt(ring + 8);
        if (over != overflow) {
            LOG.log(System.Logger.Level.WARNING, "ghOSt queue overflowed (" + over + " messages lost): threads may wait"
                    + " for an event that never comes");
            overflow = over;
        }
        int head = queue.getInt(ring);
        VarHandle.acquireFence(); // the kernel writes a message, then head (smp_store_release)
        int tail = queue.getInt(ring + 4);
        int n = 0;
        while (tail != head) {
            int at = ring + Ghost.RING_HEADER + (tail & (nelems - 1)) * Ghost.SLOT;
            Ghost.Message m = Ghost.message(queue, at);
            handle(m);
            tail += m.slots();
            VarHandle.releaseFence(); // the message is read before the kernel may reuse its slots
            queue.putInt(ring + 4, tail);
            n++;
        }
        messages += n;
        return n;
    }

    private void handle(Ghost.Message m) {
        if (m.type() < Ghost.MSG_TASK_FIRST || m.type() >= Ghost.MSG_CPU_TICK) {
            return; // NOP, CPU messages
        }
        if (m.type() == Ghost.MSG_TASK_NEW) {
            Integer index = registered.get(m.tid());
            if (index == null) {
                LOG.log(System.Logger.Level.WARNING, "ghOSt: TASK_NEW of thread " + m.tid() + ", which nobody registered");
                return;
            }
            Task t = new Task(m.tid(), index, m.gtid());
            t.seqnum = m.seqnum();
            t.swRegion = m.swRegion();
            t.swIndex = m.swIndex();
            tasks.put(t.tid, t);
            kernel.associateQueue(queueFd, t.gtid, t.seqnum);
            decide(t, ThreadGlue.EV_NEW, -1);
            if (m.runnable()) {
                runnable.put(t.tid, t);
            }
            return;
        }
        Task t = tasks.get(m.tid());
        if (t == null || t.gtid != m.gtid()) {
            return; // not this enclave's thread (or an older incarnation of its tid)
        }
        t.seqnum = m.seqnum();
        switch (m.type()) {
            case Ghost.MSG_TASK_WAKEUP -> {
                decide(t, ThreadGlue.EV_WOKE, m.cpu());
                runnable.put(t.tid, t);
            }
            case Ghost.MSG_TASK_BLOCKED -> {
                offCore(t);
                runnable.remove(t.tid);
                decide(t, ThreadGlue.EV_BLOCKED, m.cpu());
            }
            case Ghost.MSG_TASK_PREEMPT, Ghost.MSG_TASK_YIELD -> {
                offCore(t);
                decide(t, ThreadGlue.EV_PREEMPTED, m.cpu());
                runnable.remove(t.tid);
                runnable.put(t.tid, t); // to the back
            }
            case Ghost.MSG_TASK_DEAD, Ghost.MSG_TASK_DEPARTED -> {
                offCore(t);
                runnable.remove(t.tid);
                tasks.remove(t.tid);
                registered.remove(t.tid);
                decide(t, ThreadGlue.EV_EXITED, m.cpu());
                if (m.type() == Ghost.MSG_TASK_DEAD) {
                    kernel.freeStatusWord(t.swRegion, t.swIndex);
                }
            }
            default -> {
                // SWITCHTO, AFFINITY_CHANGED, LATCHED: nothing to decide
            }
        }
    }

    private void decide(Task t, int event, int cpu) {
        t.decision = decider.decide(t.tid, t.index, event, cpu);
    }

    private void offCore(Task t) {
        if (t.core >= 0 && onCore[t.core] == t) {
            onCore[t.core] = null;
        }
        t.core = -1;
    }

    /** 0: the core's index or ANY_CORE; 1: PASS (or an index with no core); 2: DROP; -1: another core's. */
    private int rank(Task t, int core) {
        int d = t.decision;
        if (d == core || d == ThreadGlue.ANY_CORE) {
            return 0;
        }
        if (d == ThreadGlue.DROP) {
            return 2;
        }
        if (d >= 0 && d < cores.size()) {
            return -1;
        }
        return 1;
    }

    private void schedule() {
        BitSet commit = new BitSet();
        Task[] chosen = new Task[cores.size()];
        List<Task> taken = new ArrayList<>();
        for (int c = 0; c < cores.size(); c++) {
            Task best = null;
            int bestRank = Integer.MAX_VALUE;
            for (Task t : runnable.values()) {
                int r = rank(t, c);
                if (r >= 0 && r < bestRank && !taken.contains(t)) {
                    best = t;
                    bestRank = r;
                }
            }
            Task now = onCore[c];
            if (best == null || (now != null && !(now.decision == ThreadGlue.DROP && bestRank < 2))) {
                continue; // nothing to run, or the core runs something as important
            }
            ByteBuffer txn = cpuData.slice(cores.get(c) * GhostKernel.CPU_DATA_SIZE, Ghost.TXN_SIZE).order(ByteOrder.LITTLE_ENDIAN);
            Ghost.encodeTxn(txn, cores.get(c), best.gtid, 0, best.seqnum, 0, Ghost.COMMIT_AT_TXN_COMMIT);
            chosen[c] = best;
            taken.add(best);
            commit.set(cores.get(c));
        }
        if (commit.isEmpty()) {
            return;
        }
        kernel.commit(commit);
        for (int c = 0; c < cores.size(); c++) {
            Task t = chosen[c];
            if (t == null) {
                continue;
            }
            int state = Ghost.txnState(cpuData.slice(cores.get(c) * GhostKernel.CPU_DATA_SIZE, Ghost.TXN_SIZE));
            if (state != Ghost.TXN_COMPLETE) {
                failures++;
                if (state != Ghost.TXN_COMPLETE + 3 && state != Ghost.TXN_COMPLETE + 6 && state != Ghost.TXN_COMPLETE + 4) {
                    // not TARGET_STALE, AGENT_STALE or TARGET_NOT_FOUND, which a message explains
                    LOG.log(System.Logger.Level.WARNING, "ghOSt: running thread " + t.tid + " on CPU " + cores.get(c) + ": "
                            + Ghost.txnStateName(state));
                }
                continue;
            }
            commits++;
            Task was = onCore[c];
            if (was != null) {
                was.core = -1; // preempted: its TASK_PREEMPT makes it runnable again
            }
            onCore[c] = t;
            t.core = c;
            runnable.remove(t.tid);
        }
    }

    /** Messages consumed, transactions completed and failed, messages the kernel could not queue. */
    synchronized long[] counters() {
        return new long[] {messages, commits, failures, overflow};
    }

    /** The thread on core index {@code core} as far as the agent knows; 0 when none. */
    synchronized int running(int core) {
        Task t = onCore[core];
        return t == null ? 0 : t.tid;
    }

    /** The agents stop and the enclave goes: its threads are back in CFS, as registered. */
    @Override
    public void close() {
        closed = true;
        for (Thread t : agents) {
            t.interrupt();
        }
        for (Thread t : agents) {
            try {
                t.join(2000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        kernel.close();
    }
}
