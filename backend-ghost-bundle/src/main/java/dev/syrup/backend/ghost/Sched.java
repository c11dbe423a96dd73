package dev.syrup.backend.ghost;

import dev.syrup.linux.LibC;
import dev.syrup.linux.Linux;
import dev.syrup.linux.Structs.CpuSet;
import dev.syrup.linux.Structs.PerfEventAttr;
import dev.syrup.linux.Structs.SchedParam;
import java.util.BitSet;
import jnr.ffi.Pointer;

/**
 * What the stock Linux engine asks of the kernel, through libc ({@link Linux#libc()}): a
 * thread's affinity and scheduling class, and the perf events a tracepoint program is attached
 * with. Every call names the thread by tid; the engine calls them only for threads it registered.
 */
public final class Sched {

    public static final int SCHED_OTHER = 0, SCHED_FIFO = 1, SCHED_RR = 2, SCHED_BATCH = 3,
            SCHED_IDLE = 5, SCHED_DEADLINE = 6;
    /** The ghOSt kernel's scheduling class (ghost.h); EINVAL on a kernel without it. */
    public static final int SCHED_GHOST = 18;
    /** sched_setscheduler flag: the child of a fork does not inherit an RT class. */
    public static final int SCHED_RESET_ON_FORK = 0x40000000;

    static final int ESRCH = 3, EINVAL = 22, EPERM = 1;
    private static final int MASK_BYTES = CpuSet.SIZE;

    private static volatile Sched instance;

    private final LibC c;

    private Sched(LibC c) {
        this.c = c;
    }

    public static Sched get() {
        Sched s = instance;
        if (s == null) {
            synchronized (Sched.class) {
                if (instance == null) {
                    instance = new Sched(Linux.libc());
                }
                s = instance;
            }
        }
        return s;
    }

    /** A thread's scheduling state: what the engine changes and restores. */
    public record State(BitSet cpus, int policy, int priority) {
        public boolean resetOnFork() {
            return (policy & SCHED_RESET_ON_FORK) != 0;
        }

        @Override
        public String toString() {
            return "cpus " + cpus + " " + policyName(policy) + "/" + priority;
        }
    }

    /** Raised for a failed call; {@code errno} tells ESRCH (the thread is gone) apart. */
    public static final class SchedException extends RuntimeException {
        private final int errno;

        SchedException(String call, int errno) {
            super(call + ": errno " + errno + (errno == ESRCH ? " (no such thread)" : errno == EPERM ? " (not permitted)" : ""));
            this.errno = errno;
        }

        public int errno() {
            return errno;
        }

        public boolean gone() {
            return errno == ESRCH;
        }
    }

    private static int errno() {
        return Linux.errno();
    }

    public BitSet affinity(int tid) {
        Pointer m = Linux.allocate(MASK_BYTES);
        if (c.sched_getaffinity(tid, MASK_BYTES, m) < 0) {
            throw new SchedException("sched_getaffinity(" + tid + ")", errno());
        }
        byte[] b = new byte[MASK_BYTES];
        m.get(0, b, 0, MASK_BYTES);
        return BitSet.valueOf(b);
    }

    public void setAffinity(int tid, BitSet cpus) {
        Pointer m = Linux.allocate(MASK_BYTES);
        byte[] b = cpus.toByteArray();
        m.put(0, b, 0, Math.min(b.length, MASK_BYTES));
        if (c.sched_setaffinity(tid, MASK_BYTES, m) < 0) {
            throw new SchedException("sched_setaffinity(" + tid + ", " + cpus + ")", errno());
        }
    }

    /** The class (with SCHED_RESET_ON_FORK when set) and its static priority (0 for non-RT). */
    public State state(int tid) {
        BitSet cpus = affinity(tid);
        int policy = c.sched_getscheduler(tid);
        if (policy < 0) {
            throw new SchedException("sched_getscheduler(" + tid + ")", errno());
        }
        Pointer p = Linux.allocate(SchedParam.SIZE);
        if (c.sched_getparam(tid, p) < 0) {
            throw new SchedException("sched_getparam(" + tid + ")", errno());
        }
        return new State(cpus, policy, p.getInt(SchedParam.PRIORITY));
    }

    public int policy(int tid) {
        int policy = c.sched_getscheduler(tid);
        if (policy < 0) {
            throw new SchedException("sched_getscheduler(" + tid + ")", errno());
        }
        return policy & ~SCHED_RESET_ON_FORK;
    }

    public void setScheduler(int tid, int policy, int priority) {
        Pointer p = Linux.allocate(SchedParam.SIZE);
        p.putInt(SchedParam.PRIORITY, priority);
        if (c.sched_setscheduler(tid, policy, p) < 0) {
            throw new SchedException("sched_setscheduler(" + tid + ", " + policyName(policy) + "/" + priority + ")", errno());
        }
    }

    /** Puts the thread back exactly as {@code s} says: class and priority first, then affinity. */
    public void restore(int tid, State s) {
        setScheduler(tid, s.policy(), s.priority());
        setAffinity(tid, s.cpus());
    }

    /** Whether the kernel knows {@code policy}: sched_setscheduler(0, policy) on a probe is EINVAL when not. */
    public int errnoOfSetScheduler(int tid, int policy, int priority) {
        Pointer p = Linux.allocate(SchedParam.SIZE);
        p.putInt(SchedParam.PRIORITY, priority);
        return c.sched_setscheduler(tid, policy, p) < 0 ? errno() : 0;
    }

    public int cpu() {
        return c.sched_getcpu();
    }

    public int gettid() {
        return (int) c.syscall(LibC.SYS_GETTID);
    }

    /**
     * perf_event_open of tracepoint {@code id} (pid -1, cpu 0: a BPF program attached to a
     * tracepoint runs on every CPU), then PERF_EVENT_IOC_SET_BPF and ENABLE. Returns the perf
     * fd: the attachment lives until it is closed.
     */
    public int attachTracepoint(int tracepointId, int programFd) {
        Pointer attr = Linux.allocate(PerfEventAttr.SIZE);
        attr.putInt(PerfEventAttr.TYPE, LibC.PERF_TYPE_TRACEPOINT);
        attr.putInt(PerfEventAttr.SIZE_FIELD, PerfEventAttr.SIZE);
        attr.putLong(PerfEventAttr.CONFIG, tracepointId);
        attr.putLong(PerfEventAttr.SAMPLE_PERIOD, 1);
        int fd = (int) c.syscall(LibC.SYS_PERF_EVENT_OPEN, attr, -1, 0, -1, LibC.PERF_FLAG_FD_CLOEXEC);
        if (fd < 0) {
            throw new SchedException("perf_event_open(tracepoint " + tracepointId + ")", errno());
        }
        if (c.ioctl(fd, LibC.PERF_EVENT_IOC_SET_BPF, programFd) < 0 || c.ioctl(fd, LibC.PERF_EVENT_IOC_ENABLE, 0) < 0) {
            int e = errno();
            c.close(fd);
            throw new SchedException("ioctl(PERF_EVENT_IOC_SET_BPF/ENABLE, tracepoint " + tracepointId + ")", e);
        }
        return fd;
    }

    public void close(int fd) {
        c.close(fd);
    }

    public static String policyName(int policy) {
        String reset = (policy & SCHED_RESET_ON_FORK) != 0 ? "|RESET_ON_FORK" : "";
        return switch (policy & ~SCHED_RESET_ON_FORK) {
            case SCHED_OTHER -> "OTHER";
            case SCHED_FIFO -> "FIFO";
            case SCHED_RR -> "RR";
            case SCHED_BATCH -> "BATCH";
            case SCHED_IDLE -> "IDLE";
            case SCHED_DEADLINE -> "DEADLINE";
            default -> "policy" + (policy & ~SCHED_RESET_ON_FORK);
        } + reset;
    }
}
