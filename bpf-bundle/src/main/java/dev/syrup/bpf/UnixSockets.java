package dev.syrup.bpf;

import dev.syrup.bpf.internal.Native;
import dev.syrup.linux.LibC;
import dev.syrup.linux.Structs;
import dev.syrup.linux.Structs.Cmsghdr;
import dev.syrup.linux.Structs.Msghdr;
import java.lang.ref.Reference;
import java.nio.file.Path;
import jnr.ffi.Pointer;

/**
 * Unix domain stream sockets for syrupd's control socket, with what the JDK does not offer:
 * the peer's credentials ({@code SO_PEERCRED}) and file descriptors passed with
 * {@code SCM_RIGHTS}. Calls block; {@link #shutdown(Fd)} wakes a thread blocked in
 * {@link #accept(Fd)} or {@link #read}. Layouts ({@code struct msghdr}, {@code cmsghdr}, ...)
 * are {@link Structs}'.
 */
public final class UnixSockets {

    /** What {@link #read} returns when a receive timeout ({@link #readTimeout}) passed with nothing to read. */
    public static final int TIMED_OUT = -1;
    /** sun_path is 108 bytes including the terminating NUL. */
    public static final int MAX_PATH = Structs.SockaddrUn.MAX_PATH;
    private static final int CONTROL = 64;

    private UnixSockets() {}

    /** The kernel's record of who is at the other end, taken when the connection was made. */
    public record PeerCred(long pid, int uid, int gid) {
    }

    /** Bytes received and the descriptor that came with them, if any. */
    public record Received(int bytes, Fd fd) {
    }

    static byte[] sockaddr(Path path) {
        return Structs.SockaddrUn.of(path.toString());
    }

    /** socket(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC) bound to {@code path} and listening. The path must not exist. */
    public static Fd listen(Path path, int backlog) {
        Native n = Native.get();
        byte[] addr = sockaddr(path);
        Fd fd = Fd.adopt(n.checkLibc("socket(AF_UNIX)",
                n.libc().socket(LibC.AF_UNIX, LibC.SOCK_STREAM | LibC.SOCK_CLOEXEC, 0)));
        try {
            n.checkLibc("bind(" + path + ")", n.libc().bind(fd.get(), addr, addr.length));
            n.checkLibc("listen(" + path + ")", n.libc().listen(fd.get(), backlog));
            return fd;
        } catch (RuntimeException e) {
            fd.close();
            throw e;
        }
    }

    /** A connected client socket. */
    public static Fd connect(Path path) {
        Native n = Native.get();
        byte[] addr = sockaddr(path);
        Fd fd = Fd.adopt(n.checkLibc("socket(AF_UNIX)",
                n.libc().socket(LibC.AF_UNIX, LibC.SOCK_STREAM | LibC.SOCK_CLOEXEC, 0)));
        try {
            n.checkLibc("connect(" + path + ")", n.libc().connect(fd.get(), addr, addr.length));
            return fd;
        } catch (RuntimeException e) {
            fd.close();
            throw e;
        }
    }

    /** accept4(SOCK_CLOEXEC), retried on EINTR and ECONNABORTED. */
    public static Fd accept(Fd listener) {
        Native n = Native.get();
        while (true) {
            int fd = n.libc().accept4(listener.get(), null, null, LibC.SOCK_CLOEXEC);
            if (fd >= 0) {
                return Fd.adopt(fd);
            }
            int e = n.errno();
            if (e != Errno.EINTR && e != 103 /* ECONNABORTED */) {
                throw new BpfException("accept4(fd " + listener.get() + ")", e);
            }
        }
    }

    /** getsockopt(SO_PEERCRED): pid, uid and gid of the process that connected. */
    public static PeerCred peerCred(Fd socket) {
        Native n = Native.get();
        int[] ucred = new int[Structs.Ucred.SIZE / 4];
        int rc = n.libc().getsockopt(socket.get(), LibC.SOL_SOCKET, LibC.SO_PEERCRED, ucred, new int[] {Structs.Ucred.SIZE});
        n.checkLibc("getsockopt(fd " + socket.get() + ", SO_PEERCRED)", rc);
        return new PeerCred(ucred[Structs.Ucred.PID / 4], ucred[Structs.Ucred.UID / 4], ucred[Structs.Ucred.GID / 4]);
    }

    /**
     * {@code SO_RCVTIMEO}: from now on {@link #read} returns {@link #TIMED_OUT} when nothing
     * arrived for {@code millis} (0: wait for ever).
     */
    public static void readTimeout(Fd socket, long millis) {
        Native n = Native.get();
        byte[] tv = Structs.Timeval.ofMillis(millis);
        n.checkLibc("setsockopt(fd " + socket.get() + ", SO_RCVTIMEO)",
                n.libc().setsockopt(socket.get(), LibC.SOL_SOCKET, LibC.SO_RCVTIMEO, tv, tv.length));
    }

    /**
     * read(2) into {@code buf[off..off+len)}; 0 at end of stream, {@link #TIMED_OUT} when a
     * receive timeout passed; retried on EINTR.
     */
    public static int read(Fd socket, byte[] buf, int off, int len) {
        Native n = Native.get();
        byte[] tmp = off == 0 ? buf : new byte[len];
        while (true) {
            long rc = n.libc().read(socket.get(), tmp, len);
            if (rc >= 0) {
                if (tmp != buf) {
                    System.arraycopy(tmp, 0, buf, off, (int) rc);
                }
                return (int) rc;
            }
            int e = n.errno();
            if (e == Errno.EAGAIN) {
                return TIMED_OUT; // only with a receive timeout set: these sockets block
            }
            if (e != Errno.EINTR) {
                throw new BpfException("read(fd " + socket.get() + ")", e);
            }
        }
    }

    /** Writes all of {@code data} (send with MSG_NOSIGNAL: a gone peer is EPIPE, not SIGPIPE). */
    public static void writeFully(Fd socket, byte[] data) {
        sendWithFd(socket, data, -1);
    }

    /**
     * sendmsg(2) of {@code data}; when {@code passed} is not negative that descriptor travels with
     * the first byte as {@code SCM_RIGHTS} (the receiver gets its own duplicate). Partial sends
     * are completed without the descriptor.
     */
    public static void sendWithFd(Fd socket, byte[] data, int passed) {
        Native n = Native.get();
        int off = 0;
        boolean withFd = passed >= 0;
        while (off < data.length || withFd) {
            int len = data.length - off;
            Pointer buf = n.allocate(Math.max(len, 1));
            buf.put(0, data, off, len);
            Pointer iov = n.allocate(Structs.Iovec.SIZE);
            Pointer msg = n.allocate(Msghdr.SIZE);
            Pointer control = null;
            if (withFd) {
                control = n.allocate((int) Cmsghdr.space(4));
                Cmsghdr.putRights(control, passed);
            }
            Msghdr.set(msg, iov, buf.address(), len, control, withFd ? Cmsghdr.space(4) : 0);
            long rc = n.libc().sendmsg(socket.get(), msg, LibC.MSG_NOSIGNAL);
            // msg holds only the addresses: the memory must live until the call returned
            Reference.reachabilityFence(buf);
            Reference.reachabilityFence(iov);
            Reference.reachabilityFence(control);
            if (rc < 0) {
                int e = n.errno();
                if (e == Errno.EINTR) {
                    continue;
                }
                throw new BpfException("sendmsg(fd " + socket.get() + ")", e);
            }
            withFd = false;
            off += (int) rc;
        }
    }

    /**
     * recvmsg(2) of at most {@code len} bytes, accepting one {@code SCM_RIGHTS} descriptor
     * (received close-on-exec). 0 bytes means end of stream.
     */
    public static Received receive(Fd socket, byte[] buf, int off, int len) {
        Native n = Native.get();
        Pointer data = n.allocate(Math.max(len, 1));
        Pointer iov = n.allocate(Structs.Iovec.SIZE);
        Pointer control = n.allocate(CONTROL);
        Pointer msg = n.allocate(Msghdr.SIZE);
        Msghdr.set(msg, iov, data.address(), len, control, CONTROL);
        long rc;
        while (true) {
            rc = n.libc().recvmsg(socket.get(), msg, LibC.MSG_CMSG_CLOEXEC);
            Reference.reachabilityFence(iov); // msg holds only its address
            if (rc >= 0) {
                break;
            }
            int e = n.errno();
            if (e != Errno.EINTR) {
                throw new BpfException("recvmsg(fd " + socket.get() + ")", e);
            }
        }
        data.get(0, buf, off, (int) rc);
        Fd fd = null;
        for (int got : Cmsghdr.rights(control, msg.getLong(Msghdr.CONTROLLEN))) {
            if (fd == null) {
                fd = Fd.adopt(got);
            } else {
                n.close(got); // only one descriptor is expected
            }
        }
        return new Received((int) rc, fd);
    }

    /** shutdown(SHUT_RDWR): wakes threads blocked on the socket; errors (not connected) are ignored. */
    public static void shutdown(Fd socket) {
        if (!socket.isClosed()) {
            Native.get().libc().shutdown(socket.get(), LibC.SHUT_RDWR);
        }
    }
}
