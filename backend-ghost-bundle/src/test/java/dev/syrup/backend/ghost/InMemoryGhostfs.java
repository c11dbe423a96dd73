package dev.syrup.backend.ghost;

import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.BitSet;
import java.util.Deque;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.locks.LockSupport;

/**
 * A stand-in for a ghOSt kernel's side of {@link GhostKernel}, in memory, for the agent's tests
 * (this machine has no ghOSt kernel): the queue and the cpu_data region laid out as ghost.h
 * documents them, messages produced as the kernel does (at {@code head}, whole, a NOP filling the
 * ring's end when one would not fit, {@code overflow} counted when full), and a commit that
 * completes each READY transaction or fails it with a state the test scripts.
 */
final class InMemoryGhostfs implements GhostKernel {

    static final int HEADER = 64;

    final int cpus;
    ByteBuffer cpuData;
    ByteBuffer queue;
    BitSet enclave;
    int defaultQueue = -1;
    volatile boolean online;
    // read by the tests while an agent thread runs: thread-safe
    final List<Integer> entered = new CopyOnWriteArrayList<>();
    final List<Long> associated = new CopyOnWriteArrayList<>();
    final Set<Integer> agents = ConcurrentHashMap.newKeySet();
    final List<int[]> freed = new CopyOnWriteArrayList<>();
    final List<BitSet> commits = new CopyOnWriteArrayList<>();
    /** What ran where: "cpu:tid", in commit order. */
    final List<String> ran = new CopyOnWriteArrayList<>();
    /** States the next commits give, instead of COMPLETE (one per transaction). */
    final Deque<Integer> failNext = new ConcurrentLinkedDeque<>();
    volatile boolean destroyed;
    private int seq;

    InMemoryGhostfs(int cpus) {
        this.cpus = cpus;
    }

    @Override
    public ByteBuffer createEnclave(BitSet cpuSet) {
        enclave = (BitSet) cpuSet.clone();
        cpuData = ByteBuffer.allocate(cpus * CPU_DATA_SIZE).order(ByteOrder.LITTLE_ENDIAN);
        for (int c = 0; c < cpus; c++) {
            cpuData.putInt(c * CPU_DATA_SIZE + 4, c);
            cpuData.putInt(c * CPU_DATA_SIZE + 8, Ghost.TXN_COMPLETE); // committed: free to open
        }
        return cpuData;
    }

    @Override
    public int createQueue(int elems) {
        int n = Integer.highestOneBit(Math.max(elems, 2) * 2 - 1); // rounded up to a power of 2, as the kernel does
        queue = ByteBuffer.allocate(HEADER + Ghost.RING_HEADER + n * Ghost.SLOT).order(ByteOrder.LITTLE_ENDIAN);
        queue.putInt(0, 0).putInt(Ghost.QUEUE_START, HEADER).putInt(Ghost.QUEUE_NELEMS, n);
        return 7;
    }

    @Override
    public ByteBuffer queue(int fd) {
        return fd == 7 ? queue : null;
    }

    @Override
    public void setDefaultQueue(int fd) {
        defaultQueue = fd;
    }

    @Override
    public int associateQueue(int fd, long gtid, int barrier) {
        associated.add(gtid);
        return 0;
    }

    @Override
    public void becomeAgent(int cpu, int queueFd) {
        agents.add(cpu);
    }

    @Override
    public void yieldAgent(int cpu) {
        LockSupport.parkNanos(1_000_000);
    }

    @Override
    public void online() {
        online = true;
    }

    /** The thread enters the enclave: the kernel sends its TASK_NEW (runnable) with a status word. */
    @Override
    public void enterGhost(int tid) {
        entered.add(tid);
        produce(Ghost.MSG_TASK_NEW, tid, -1);
    }

    static long gtid(int tid) {
        return Ghost.gtid(tid, 1);
    }

    /** The kernel queues a message of thread {@code tid}; returns where it is, -1 when the ring was full (overflow). */
    synchronized int produce(int type, int tid, int cpu) {
        int ring = HEADER;
        int n = queue.getInt(Ghost.QUEUE_NELEMS);
        int head = queue.getInt(ring), tail = queue.getInt(ring + 4);
        int slots = (Ghost.MSG_HEADER + Ghost.payloadSize(type) + Ghost.SLOT - 1) / Ghost.SLOT;
        int idx = head & (n - 1);
        int fill = idx + slots > n ? n - idx : 0; // a message is never split: a NOP takes the ring's end
        if (head - tail + fill + slots > n) {
            queue.putInt(ring + 8, queue.getInt(ring + 8) + 1);
            return -1;
        }
        if (fill > 0) {
            int at = ring + Ghost.RING_HEADER + idx * Ghost.SLOT;
            queue.putShort(at, (short) Ghost.MSG_NOP).putShort(at + 2, (short) (fill * Ghost.SLOT)).putInt(at + 4, 0);
            head += fill;
            idx = 0;
        }
        int at = ring + Ghost.RING_HEADER + idx * Ghost.SLOT;
        Ghost.encode(queue, at, type, ++seq, gtid(tid), cpu);
        if (type == Ghost.MSG_TASK_NEW) { // its status word: region 0, an index of its own
            queue.putInt(at + Ghost.MSG_HEADER + 20, 0).putInt(at + Ghost.MSG_HEADER + 24, tid % 100);
        }
        VarHandle.releaseFence(); // the message, then head: as the kernel's smp_store_release
        queue.putInt(ring, head + slots);
        return at;
    }

    int tail() {
        return queue.getInt(HEADER + 4);
    }

    int head() {
        return queue.getInt(HEADER);
    }

    /** The transaction of {@code cpu} as the agent left it. */
    ByteBuffer txn(int cpu) {
        return cpuData.slice(cpu * CPU_DATA_SIZE, Ghost.TXN_SIZE).order(ByteOrder.LITTLE_ENDIAN);
    }

    @Override
    public void commit(BitSet set) {
        commits.add((BitSet) set.clone());
        for (int cpu = set.nextSetBit(0); cpu >= 0; cpu = set.nextSetBit(cpu + 1)) {
            ByteBuffer t = txn(cpu);
            if (t.getInt(8) != Ghost.TXN_READY) {
                continue;
            }
            Integer fail = failNext.poll();
            if (fail != null) {
                t.putInt(8, fail);
                continue;
            }
            ran.add(cpu + ":" + Ghost.tidOf(t.getLong(24)));
            t.putInt(8, Ghost.TXN_COMPLETE);
        }
    }

    @Override
    public void freeStatusWord(int region, int index) {
        freed.add(new int[] {region, index});
    }

    @Override
    public void close() {
        destroyed = true;
    }
}
