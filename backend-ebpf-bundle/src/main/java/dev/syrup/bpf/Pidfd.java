package dev.syrup.bpf;

import dev.syrup.bpf.internal.Native;

/** pidfd_open(2) and pidfd_getfd(2): adopt another process's (or our own) file descriptors. */
public final class Pidfd {

    /** x86_64 and aarch64 (asm-generic) share these numbers. */
    static final int SYS_PIDFD_OPEN = 434;
    static final int SYS_PIDFD_GETFD = 438;

    private Pidfd() {}

    /** pidfd_open(pid, 0). */
    public static Fd open(long pid) {
        Native n = Native.get();
        long rc = n.libc().syscall(SYS_PIDFD_OPEN, pid, 0, 0);
        return Fd.adopt(n.checkLibc("pidfd_open(" + pid + ")", rc));
    }

    /**
     * pidfd_getfd(pidfd, targetFd, 0): a duplicate, in this process, of the target's
     * {@code targetFd} (same open file description). Needs PTRACE_MODE_ATTACH_REALCREDS on the target.
     */
    public static Fd getfd(Fd pidfd, int targetFd) {
        Native n = Native.get();
        long rc = n.libc().syscall(SYS_PIDFD_GETFD, pidfd.get(), targetFd, 0);
        return Fd.adopt(n.checkLibc("pidfd_getfd(" + pidfd.get() + ", " + targetFd + ")", rc));
    }
}
