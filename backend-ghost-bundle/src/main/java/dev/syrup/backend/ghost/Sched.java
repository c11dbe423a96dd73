package dev.syrup.backend.ghost;

import java.util.BitSet;
import jnr.ffi.LastError;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;

/**
 * What the stock Linux engine asks of the kernel, through libc (jnr-ffi): a thread's affinity
 * and scheduling class, and the perf events a tracepoint program is attached with. Every call
 * names the thread by tid; the engine calls them only for threads it registered.
 */
public final class Sched {

    public static final int SCHED_OTHER = 0, SCHED_FIFO = 1, SCHED_RR = 2, SCHED_BATCH = 3,
            SCHED_IDLE = 5, SCHED_DEADLINE = 6;
    /** The ghOSt kernel's scheduling class (ghost.h); EINVAL on a kernel without it. */
    public static final int SCHED_GHOST = 18;
    /** sched_setscheduler flag: the child of a fork does not inherit an RT class. */
    public static final int SCHED_RESET_ON_FORK = 0x40000000;

    static final int ESRCH = 3, EINVAL = 22, EPERM = 1;
    private static final int MASK_BYTES = 128; // 1024 CPUs, like glibc's cpu_set_t
    private static final long NR_PERF_EVENT_OPEN = 298; // x86_64
    private static final long NR_GETTID = 186;
    private static final long PERF_EVENT_IOC_ENABLE = 0x2400, PERF_EVENT_IOC_SET_BPF = 0x40042408;
    private static final int PERF_TYPE_TRACEPOINT = 2, PERF_FLAG_FD_CLOEXEC = 8;

    /** libc, as this class binds it. */
    public interface LibC {
        int sched_setaffinity(int pid, long size, Pointer mask);

        int sched_getaffinity(int pid, long size, Pointer mask);

        int sched_setscheduler(int pid, int policy, Pointer param);

        int sched_getscheduler(int pid);

        int sched_getparam(int pid, Pointer param);

        int sched_getcpu();

        long syscall(long number);

        long syscall(long number, Pointer attr, int pid, int cpu, int groupFd, long flags);

        int ioctl(int fd, long request, long arg);

        int close(int fd);
    }

    private static volatile Sched instance;

    private final LibC c;
    private final Runtime runtime;

    private Sched(LibC c) {
        this.c = c;
        this.runtime = Runtime.getRuntime(c);
    }

    public static Sched get() {
        Sched s = instance;
        if (s == null) {
            synchronized (Sched.class) {
                if (instance == null) {
                    instance = new Sched(LibraryLoader.create(LibC.class).failImmediately().load("c"));
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

    private int errno() {
        return LastError.getLastError(runtime);
    }

    public BitSet affinity(int tid) {
        Pointer m = Memory.allocateDirect(runtime, MASK_BYTES);
        if (c.sched_getaffinity(tid, MASK_BYTES, m) < 0) {
            throw new SchedException("sched_getaffinity(" + tid + ")", errno());
        }
        byte[] b = new byte[MASK_BYTES];
        m.get(0, b, 0, MASK_BYTES);
        return BitSet.valueOf(b);
    }

    public void setAffinity(int tid, BitSet cpus) {
        Pointer m = Memory.allocateDirect(runtime, MASK_BYTES);
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
        Pointer p = Memory.allocateDirect(runtime, 4);
        if (c.sched_getparam(tid, p) < 0) {
            throw new SchedException("sched_getparam(" + tid + ")", errno());
        }
        return new State(cpus, policy, p.getInt(0));
    }

    public int policy(int tid) {
        int policy = c.sched_getscheduler(tid);
        if (policy < 0) {
            throw new SchedException("sched_getscheduler(" + tid + ")", errno());
        }
        return policy & ~SCHED_RESET_ON_FORK;
    }

    public void setScheduler(int tid, int policy, int priority) {
        Pointer p = Memory.allocateDirect(runtime, 4);
        p.putInt(0, priority);
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
        Pointer p = Memory.allocateDirect(runtime, 4);
        p.putInt(0, priority);
        return c.sched_setscheduler(tid, policy, p) < 0 ? errno() : 0;
    }

    public int cpu() {
        return c.sched_getcpu();
    }

    public int gettid() {
        return (int) c.syscall(NR_GETTID);
    }

    /**
     * perf_event_open of tracepoint {@code id} (pid -1, cpu 0: a BPF program attached to a
     * tracepoint runs on every CPU), then PERF_EVENT_IOC_SET_BPF and ENABLE. Returns the perf
     * fd: the attachment lives until it is closed.
     */
    public int attachTracepoint(int tracepointId, int programFd) {
        Pointer attr = Memory.allocateDirect(runtime, 128);
        attr.setMemory(0, 128, (byte) 0);
        attr.putInt(0, PERF_TYPE_TRACEPOINT);
        attr.putInt(4, 128); // PERF_ATTR_SIZE_VER7
        attr.putLong(8, tracepointId);
        attr.putLong(16, 1); // sample_period
        int fd = (int) c.syscall(NR_PERF_EVENT_OPEN, attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC);
        if (fd < 0) {
            throw new SchedException("perf_event_open(tracepoint " + tracepointId + ")", errno());
        }
        if (c.ioctl(fd, PERF_EVENT_IOC_SET_BPF, programFd) < 0 || c.ioctl(fd, PERF_EVENT_IOC_ENABLE, 0) < 0) {
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
