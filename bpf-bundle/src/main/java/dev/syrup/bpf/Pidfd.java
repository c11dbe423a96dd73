package dev.syrup.bpf;

import dev.syrup.bpf.internal.Native;
import dev.syrup.linux.LibC;
import dev.syrup.linux.Structs;

/** pidfd_open(2) and pidfd_getfd(2): adopt another process's (or our own) file descriptors. */
public final class Pidfd {

    private Pidfd() {}

    /** pidfd_open(pid, 0). */
    public static Fd open(long pid) {
        Native n = Native.get();
        long rc = n.libc().syscall(LibC.SYS_PIDFD_OPEN, pid, 0, 0);
        return Fd.adopt(n.checkLibc("pidfd_open(" + pid + ")", rc));
    }

    /**
     * pidfd_getfd(pidfd, targetFd, 0): a duplicate, in this process, of the target's
     * {@code targetFd} (same open file description). Needs PTRACE_MODE_ATTACH_REALCREDS on the target.
     */
    public static Fd getfd(Fd pidfd, int targetFd) {
        Native n = Native.get();
        long rc = n.libc().syscall(LibC.SYS_PIDFD_GETFD, pidfd.get(), targetFd, 0);
        return Fd.adopt(n.checkLibc("pidfd_getfd(" + pidfd.get() + ", " + targetFd + ")", rc));
    }

    /**
     * poll(2) for POLLIN on each descriptor (a pidfd becomes readable when its process exits).
     * Returns, per descriptor, whether it is readable or errored (POLLIN, POLLERR, POLLHUP,
     * POLLNVAL); all false after {@code timeoutMillis} (negative: wait forever). EINTR counts
     * as a timeout.
     */
    public static boolean[] poll(int[] fds, int timeoutMillis) {
        Native n = Native.get();
        int[] pollfds = Structs.Pollfd.of(fds, LibC.POLLIN);
        int rc = n.libc().poll(pollfds, fds.length, timeoutMillis);
        boolean[] ready = new boolean[fds.length];
        if (rc < 0) {
            int e = n.errno();
            if (e == Errno.EINTR) {
                return ready;
            }
            throw new BpfException("poll(" + fds.length + " fds)", e);
        }
        for (int i = 0; i < fds.length; i++) {
            int revents = Structs.Pollfd.revents(pollfds, i);
            ready[i] = (revents & (LibC.POLLIN | LibC.POLLERR | LibC.POLLHUP | LibC.POLLNVAL)) != 0;
        }
        return ready;
    }
}
