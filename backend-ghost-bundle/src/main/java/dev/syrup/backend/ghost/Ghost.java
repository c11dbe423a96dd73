package dev.syrup.backend.ghost;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * The ghOSt engine's side of the ghOSt ABI (google/ghost-kernel, include/uapi/linux/ghost.h,
 * GHOST_VERSION 57 layout): an agent creates an enclave through ghostfs
 * ({@code /sys/fs/ghost/ctl}), moves the application's threads into the {@code SCHED_GHOST}
 * class, reads the kernel's task messages from a shared-memory queue
 * ({@code struct ghost_ring} of {@code struct ghost_msg}), and commits "run task T on CPU c"
 * as a transaction ({@code struct ghost_txn} in the CPU's {@code ghost_cpu_data} page, then
 * {@code GHOST_IOC_COMMIT_TXN}).
 *
 * <p>The Syrup mapping (paper §4.1): each task message is decoded into the same event the
 * stock engine's tracepoints produce ({@link Event}); when a CPU of the enclave is free, the
 * agent offers it to the runnable threads, runs the verified policy for each, and commits a
 * transaction for the first thread whose decision is that CPU (or any CPU). This class holds
 * the encoding and the availability check; it runs no agent on a kernel without ghOSt, which
 * is every kernel but Google's patched ones, including this one.
 */
public final class Ghost {

    public static final Path GHOSTFS = Path.of("/sys/fs/ghost");

    /** Message types (enum in ghost.h). */
    public static final int MSG_NOP = 0, MSG_TASK_FIRST = 64, MSG_TASK_DEAD = 64, MSG_TASK_BLOCKED = 65,
            MSG_TASK_WAKEUP = 66, MSG_TASK_NEW = 67, MSG_TASK_PREEMPT = 68, MSG_TASK_YIELD = 69,
            MSG_TASK_DEPARTED = 70, MSG_TASK_SWITCHTO = 71, MSG_TASK_AFFINITY_CHANGED = 72, MSG_TASK_LATCHED = 73,
            MSG_CPU_TICK = 128, MSG_CPU_TIMER_EXPIRED = 129, MSG_CPU_NOT_IDLE = 130;

    /** struct ghost_msg header: type u16, length u16 (header included), seqnum u32. */
    public static final int MSG_HEADER = 8;
    /** struct ghost_ring: head, tail, overflow (u32 each), then the messages. */
    public static final int RING_HEADER = 12;
    /** struct ghost_txn, cache-line aligned. */
    public static final int TXN_SIZE = 64;
    public static final int TXN_VERSION = 0;
    /** GHOST_TXN_READY: the transaction may be claimed by the agent. */
    public static final int TXN_READY = Integer.MAX_VALUE;
    /** GHOST_TXN_COMPLETE (INT_MIN); the failure states follow it (ABORTED = INT_MIN + 1, ...). */
    public static final int TXN_COMPLETE = Integer.MIN_VALUE;
    /** txn.commit_flags. */
    public static final int COMMIT_AT_SCHEDULE = 1, COMMIT_AT_TXN_COMMIT = 1 << 1, ALLOW_TASK_ONCPU = 1 << 2;
    /** ghost_run flags used in txn.run_flags. */
    public static final int RTLA_ON_PREEMPT = 1, RTLA_ON_BLOCKED = 1 << 1, RTLA_ON_YIELD = 1 << 2;
    /** gtid = 0 | pid (22 bits) | seqnum (41 bits). */
    public static final int GTID_SEQNUM_BITS = 41, GTID_PID_BITS = 22;
    /** _IOW('g', 8, struct ghost_ioc_commit_txn) — the struct is a pointer and two ints: 16 bytes. */
    public static final long IOC_COMMIT_TXN = ioc(1, 'g', 8, 16);

    private Ghost() {
    }

    /** Why the ghOSt engine cannot run here, empty when it can. */
    public static Optional<String> missing() {
        if (!Files.isDirectory(GHOSTFS) || !Files.exists(GHOSTFS.resolve("ctl"))) {
            int err;
            try {
                err = Sched.get().errnoOfSetScheduler(0, Sched.SCHED_GHOST, 0);
            } catch (RuntimeException | LinkageError e) {
                err = -1;
            }
            String cls = err == Sched.EINVAL
                    ? "no ghost scheduling class (sched_setscheduler(SCHED_GHOST = 18) is EINVAL)"
                    : "the ghost scheduling class cannot be probed";
            return Optional.of("ghOSt: no ghostfs at " + GHOSTFS + " and " + cls + " - this kernel ("
                    + System.getProperty("os.version") + ") is not a ghOSt kernel");
        }
        try {
            // one ABI version a line: the ones the kernel supports
            java.util.List<String> v = Files.readAllLines(GHOSTFS.resolve("version")).stream().map(String::trim).toList();
            if (!v.contains(Integer.toString(VERSION))) {
                return Optional.of("ghOSt: the kernel speaks ghOSt ABI " + String.join(", ", v) + ", this agent " + VERSION);
            }
        } catch (java.io.IOException | RuntimeException e) {
            return Optional.of("ghOSt: cannot read " + GHOSTFS.resolve("version") + ": " + e.getMessage());
        }
        return Optional.empty();
    }

    /** A thread event, as both engines give it to the policy (struct syr_thread.event). */
    public record Event(int tid, int event, int cpu) {
    }

    public static long gtid(int tid, long seqnum) {
        return ((long) tid << GTID_SEQNUM_BITS) | (seqnum & ((1L << GTID_SEQNUM_BITS) - 1));
    }

    public static int tidOf(long gtid) {
        return (int) ((gtid >>> GTID_SEQNUM_BITS) & ((1L << GTID_PID_BITS) - 1));
    }

    /** Payload size of each task message type (C layout, x86_64). */
    public static int payloadSize(int type) {
        return switch (type) {
            case MSG_TASK_DEAD, MSG_TASK_AFFINITY_CHANGED -> 8;
            case MSG_TASK_BLOCKED, MSG_TASK_WAKEUP, MSG_TASK_NEW, MSG_TASK_SWITCHTO, MSG_TASK_LATCHED -> 32;
            case MSG_TASK_PREEMPT, MSG_TASK_YIELD -> 40;
            case MSG_TASK_DEPARTED -> 24;
            default -> throw new IllegalArgumentException("message type " + type + " is not a task message");
        };
    }

    /**
     * Decodes the message at {@code offset} of a queue's message area into the event the policy
     * sees; empty for messages that are no thread event (NOP, CPU messages, affinity changes).
     * Fields: TASK_WAKEUP {gtid@0, agent_data@8, deferrable@16, last_ran_cpu@20, wake_up_cpu@24,
     * waker_cpu@28}; TASK_BLOCKED {gtid@0, runtime@8, cpu_seqnum@16, cpu@24}; TASK_PREEMPT and
     * TASK_YIELD {gtid@0, runtime@8, cpu_seqnum@16, agent_data@24, cpu@32}; TASK_NEW {gtid@0,
     * runtime@8, runnable u16@16, sw_info@20}; TASK_DEAD and TASK_DEPARTED {gtid@0, ...}.
     */
    public static Optional<Event> decode(ByteBuffer ring, int offset) {
        ByteBuffer b = ring.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        int type = Short.toUnsignedInt(b.getShort(offset));
        int length = Short.toUnsignedInt(b.getShort(offset + 2));
        if (type < MSG_TASK_FIRST || type > MSG_TASK_FIRST + 63) {
            return Optional.empty();
        }
        if (length < MSG_HEADER + payloadSize(type)) {
            throw new IllegalArgumentException("message type " + type + " of length " + length + " is shorter than its payload");
        }
        int p = offset + MSG_HEADER;
        int tid = tidOf(b.getLong(p));
        return switch (type) {
            case MSG_TASK_NEW -> Optional.of(new Event(tid, ThreadGlue.EV_NEW, -1));
            case MSG_TASK_WAKEUP -> Optional.of(new Event(tid, ThreadGlue.EV_WOKE, b.getInt(p + 24)));
            case MSG_TASK_BLOCKED -> Optional.of(new Event(tid, ThreadGlue.EV_BLOCKED, b.getInt(p + 24)));
            case MSG_TASK_PREEMPT, MSG_TASK_YIELD -> Optional.of(new Event(tid, ThreadGlue.EV_PREEMPTED, b.getInt(p + 32)));
            case MSG_TASK_DEAD, MSG_TASK_DEPARTED -> Optional.of(new Event(tid, ThreadGlue.EV_EXITED, -1));
            default -> Optional.empty();
        };
    }

    /** 8 bytes: the ring's slot, {@code sizeof(struct ghost_msg)}; a message takes its length rounded up to slots. */
    public static final int SLOT = 8;
    /** struct ghost_queue_header: version u32 @0, start u32 @4 (the ring's offset), nelems u32 @8. */
    public static final int QUEUE_START = 4, QUEUE_NELEMS = 8;
    /** This agent's ABI version (ghost.h GHOST_VERSION). */
    public static final int VERSION = 57;

    /**
     * One message of a queue as the agent needs it: header, the task's gtid (0 for CPU messages),
     * the CPU it names (-1 when none), TASK_NEW's runnable flag and status word (region, index).
     */
    public record Message(int type, int length, int seqnum, long gtid, int cpu, boolean runnable, int swRegion, int swIndex) {
        public int tid() {
            return tidOf(gtid);
        }

        /** Ring slots it takes: its length rounded up to {@link #SLOT}. */
        public int slots() {
            return (length + SLOT - 1) / SLOT;
        }
    }

    /** The message at {@code offset}, with the payload fields of its type (layouts as for {@link #decode}). */
    public static Message message(ByteBuffer ring, int offset) {
        ByteBuffer b = ring.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        int type = Short.toUnsignedInt(b.getShort(offset));
        int length = Short.toUnsignedInt(b.getShort(offset + 2));
        int seqnum = b.getInt(offset + 4);
        if (length < MSG_HEADER) {
            throw new IllegalArgumentException("message of length " + length + " at " + offset + ": the queue is corrupt");
        }
        if (type < MSG_TASK_FIRST || type > MSG_TASK_FIRST + 63) {
            int cpu = type >= MSG_CPU_TICK && length >= MSG_HEADER + 4 ? b.getInt(offset + MSG_HEADER) : -1;
            return new Message(type, length, seqnum, 0, cpu, false, 0, 0);
        }
        if (type <= MSG_TASK_LATCHED && length < MSG_HEADER + payloadSize(type)) {
            throw new IllegalArgumentException("message type " + type + " of length " + length + " is shorter than its payload");
        }
        int p = offset + MSG_HEADER;
        long gtid = b.getLong(p);
        return switch (type) {
            case MSG_TASK_NEW -> new Message(type, length, seqnum, gtid, -1, b.getShort(p + 16) != 0, b.getInt(p + 20), b.getInt(p + 24));
            case MSG_TASK_WAKEUP -> new Message(type, length, seqnum, gtid, b.getInt(p + 24), true, 0, 0);
            case MSG_TASK_BLOCKED, MSG_TASK_SWITCHTO, MSG_TASK_LATCHED -> new Message(type, length, seqnum, gtid, b.getInt(p + 24), false, 0, 0);
            case MSG_TASK_PREEMPT, MSG_TASK_YIELD -> new Message(type, length, seqnum, gtid, b.getInt(p + 32), true, 0, 0);
            case MSG_TASK_DEPARTED -> new Message(type, length, seqnum, gtid, b.getInt(p + 16), false, 0, 0);
            default -> new Message(type, length, seqnum, gtid, -1, false, 0, 0);
        };
    }

    /** Encodes a message (header + payload fields as above) at {@code offset}; returns its length. */
    public static int encode(ByteBuffer ring, int offset, int type, int seqnum, long gtid, int cpu) {
        ByteBuffer b = ring.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        int length = MSG_HEADER + payloadSize(type);
        for (int i = 0; i < length; i++) {
            b.put(offset + i, (byte) 0);
        }
        b.putShort(offset, (short) type);
        b.putShort(offset + 2, (short) length);
        b.putInt(offset + 4, seqnum);
        int p = offset + MSG_HEADER;
        b.putLong(p, gtid);
        switch (type) {
            case MSG_TASK_WAKEUP -> {
                b.putInt(p + 20, cpu);
                b.putInt(p + 24, cpu);
                b.putInt(p + 28, cpu);
            }
            case MSG_TASK_BLOCKED, MSG_TASK_SWITCHTO, MSG_TASK_LATCHED -> b.putInt(p + 24, cpu);
            case MSG_TASK_PREEMPT, MSG_TASK_YIELD -> b.putInt(p + 32, cpu);
            case MSG_TASK_DEPARTED -> b.putInt(p + 16, cpu);
            case MSG_TASK_NEW -> b.putShort(p + 16, (short) 1);
            default -> {
            }
        }
        return length;
    }

    /** The ring's producer and consumer indexes: the kernel produces at head, the agent consumes at tail. */
    public record RingIndexes(int head, int tail, int overflow) {
    }

    public static RingIndexes ring(ByteBuffer ring) {
        ByteBuffer b = ring.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        return new RingIndexes(b.getInt(0), b.getInt(4), b.getInt(8));
    }

    /**
     * Fills the CPU's transaction: "run {@code gtid} on {@code cpu}". Layout: version i32@0,
     * cpu i32@4, state i32@8, agent_barrier u32@12, task_barrier u32@16, run_flags u16@20,
     * commit_flags u8@22, unused@23, gtid i64@24, commit_time i64@32, cpu_seqnum u64@40,
     * sync_group_owner i32@48. The state is written last: READY hands it to the kernel.
     */
    public static void encodeTxn(ByteBuffer txn, int cpu, long gtid, int agentBarrier, int taskBarrier,
            int runFlags, int commitFlags) {
        ByteBuffer b = txn.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(0, TXN_VERSION);
        b.putInt(4, cpu);
        b.putInt(12, agentBarrier);
        b.putInt(16, taskBarrier);
        b.putShort(20, (short) runFlags);
        b.put(22, (byte) commitFlags);
        b.put(23, (byte) 0);
        b.putLong(24, gtid);
        b.putLong(32, 0);
        b.putLong(40, 0);
        b.putInt(48, -1);
        b.putInt(8, TXN_READY);
    }

    /** The committed transaction's state: COMPLETE, a failure (INT_MIN+1 ...), or a claiming CPU / READY. */
    public static int txnState(ByteBuffer txn) {
        return txn.duplicate().order(ByteOrder.LITTLE_ENDIAN).getInt(8);
    }

    /** Names of the failure states that follow GHOST_TXN_COMPLETE, in ghost.h's order. */
    private static final String[] TXN_STATES = {"COMPLETE", "ABORTED", "TARGET_ONCPU", "TARGET_STALE",
            "TARGET_NOT_FOUND", "TARGET_NOT_RUNNABLE", "AGENT_STALE", "CPU_OFFLINE", "CPU_UNAVAIL", "INVALID_FLAGS",
            "INVALID_TARGET", "NOT_PERMITTED", "INVALID_CPU", "NO_AGENT", "UNSUPPORTED_VERSION", "POISONED"};

    public static String txnStateName(int state) {
        if (state == TXN_READY) {
            return "READY";
        }
        long i = (long) state - Integer.MIN_VALUE;
        if (i >= 0 && i < TXN_STATES.length) {
            return TXN_STATES[(int) i];
        }
        return state >= 0 ? "CLAIMED by cpu " + state : "state " + state;
    }

    /** Linux _IOC(dir, type, nr, size) on x86_64: dir 1 = write (_IOW). */
    static long ioc(int dir, char type, int nr, int size) {
        return ((long) dir << 30) | ((long) size << 16) | ((long) type << 8) | nr;
    }
}
