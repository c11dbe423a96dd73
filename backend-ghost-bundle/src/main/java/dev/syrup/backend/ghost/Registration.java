package dev.syrup.backend.ghost;

import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
import dev.syrup.backend.ghost.Sched.SchedException;
import dev.syrup.backend.ghost.Sched.State;

/** The checks of a thread's registration, whatever the engine: whose thread it is, and what it was. */
final class Registration {

    private Registration() {
    }

    /**
     * Thread {@code tid}, named by process {@code callerPid} running as {@code uid}, must be a
     * thread of that process and uid ({@link ProcThreads#checkOwner}), and the deployment, bound
     * to process {@code boundPid} by its first registration (0: none yet), must serve that process.
     * Returns the caller's pid.
     *
     * @throws SyrupException {@code INVALID} for a bad pid, {@code DENIED} for another process's
     *                        or uid's thread, {@code NOT_FOUND} for no such thread
     */
    static int owner(String deployment, long callerPid, int uid, int tid, int boundPid) throws SyrupException {
        if (callerPid <= 0 || callerPid > Integer.MAX_VALUE) {
            throw new SyrupException(Kind.INVALID, "bad pid " + callerPid);
        }
        int pid = (int) callerPid;
        ProcThreads.checkOwner(pid, uid, tid);
        if (boundPid != 0 && boundPid != pid) {
            throw new SyrupException(Kind.DENIED, "thread_scheduler deployment " + deployment
                    + " schedules the threads of process " + boundPid + ", not of " + pid);
        }
        return pid;
    }

    /**
     * The thread's class, priority and affinity now: what it gets back when it leaves the deployment.
     *
     * @throws SyrupException {@code NOT_FOUND} when it is gone, {@code INVALID} for a
     *                        SCHED_DEADLINE thread (its parameters cannot be restored with sched_setscheduler)
     */
    static State original(Sched sched, int tid) throws SyrupException {
        State original;
        try {
            original = sched.state(tid);
        } catch (SchedException e) {
            throw new SyrupException(e.gone() ? Kind.NOT_FOUND : Kind.KERNEL, "thread " + tid + ": " + e.getMessage());
        }
        if ((original.policy() & ~Sched.SCHED_RESET_ON_FORK) == Sched.SCHED_DEADLINE) {
            throw new SyrupException(Kind.INVALID, "thread " + tid + " is SCHED_DEADLINE: it cannot be scheduled by a policy");
        }
        return original;
    }
}
