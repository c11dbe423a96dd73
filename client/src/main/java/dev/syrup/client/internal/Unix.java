package dev.syrup.client.internal;

import dev.syrup.linux.LibC;
import dev.syrup.linux.Linux;
import dev.syrup.linux.Structs;
import dev.syrup.linux.Structs.Cmsghdr;
import dev.syrup.linux.Structs.Msghdr;
import java.io.IOException;
import java.lang.ref.Reference;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import jnr.ffi.Pointer;

/**
 * The client's native calls: a Unix stream socket that can receive a file descriptor
 * ({@code SCM_RIGHTS}), and mmap of a received map fd. Blocking; errors are IOExceptions
 * naming the call and errno.
 */
public final class Unix {

    private static final int EINTR = 4, EPIPE = 32, ECONNRESET = 104;
    private static final int CONTROL = 64;

    private static volatile Unix instance;

    private final LibC libc;

    private Unix(LibC libc) {
        this.libc = libc;
    }

    public static Unix get() {
        Unix u = instance;
        if (u == null) {
            synchronized (Unix.class) {
                if (instance == null) {
                    instance = new Unix(Linux.libc());
                }
                u = instance;
            }
        }
        return u;
    }

    private static IOException error(String call) {
        return new IOException(Linux.describe(call, Linux.errno()));
    }

    /** A connected AF_UNIX stream socket. */
    public int connect(Path path) throws IOException {
        byte[] addr;
        try {
            addr = Structs.SockaddrUn.of(path.toString());
        } catch (IllegalArgumentException e) {
            throw new IOException(e.getMessage());
        }
        int fd = libc.socket(LibC.AF_UNIX, LibC.SOCK_STREAM | LibC.SOCK_CLOEXEC, 0);
        if (fd < 0) {
            throw error("socket(AF_UNIX)");
        }
        if (libc.connect(fd, addr, addr.length) != 0) {
            IOException e = error("connect(" + path + ")");
            libc.close(fd);
            throw e;
        }
        return fd;
    }

    /** A write refused because syrupd had closed the connection (EPIPE, ECONNRESET): what it sent before is still readable. */
    public static final class PeerClosed extends IOException {
        PeerClosed(String message) {
            super(message);
        }
    }

    public void writeFully(int fd, byte[] data) throws IOException {
        int off = 0;
        while (off < data.length) {
            byte[] chunk = off == 0 ? data : java.util.Arrays.copyOfRange(data, off, data.length);
            long rc = libc.write(fd, chunk, chunk.length);
            if (rc < 0) {
                int e = Linux.errno();
                if (e == EINTR) {
                    continue;
                }
                if (e == EPIPE || e == ECONNRESET) {
                    throw new PeerClosed(Linux.describe("write(control socket)", e));
                }
                throw error("write(control socket)");
            }
            off += (int) rc;
        }
    }

    /**
     * Reads exactly {@code len} bytes into {@code buf}; a descriptor passed along with them is
     * stored in {@code fdOut[0]} (else it is left alone). EOF before {@code len} is an IOException.
     */
    public void readFully(int fd, byte[] buf, int len, int[] fdOut) throws IOException {
        Pointer data = Linux.allocate(Math.max(len, 1));
        Pointer iov = Linux.allocate(Structs.Iovec.SIZE);
        Pointer control = Linux.allocate(CONTROL);
        Pointer msg = Linux.allocate(Msghdr.SIZE);
        int off = 0;
        while (off < len) {
            control.setMemory(0, CONTROL, (byte) 0);
            Msghdr.set(msg, iov, data.address() + off, len - off, control, CONTROL);
            long rc = libc.recvmsg(fd, msg, LibC.MSG_CMSG_CLOEXEC);
            Reference.reachabilityFence(iov); // msg holds only its address
            if (rc < 0) {
                if (Linux.errno() == EINTR) {
                    continue;
                }
                throw error("recvmsg(control socket)");
            }
            if (rc == 0) {
                throw new IOException("syrupd closed the connection");
            }
            for (int got : Cmsghdr.rights(control, msg.getLong(Msghdr.CONTROLLEN))) {
                if (fdOut[0] < 0) {
                    fdOut[0] = got;
                } else {
                    libc.close(got);
                }
            }
            off += (int) rc;
        }
        data.get(0, buf, 0, len);
    }

    public void close(int fd) {
        libc.close(fd);
    }

    /** getsockopt(SOL_SOCKET, name) of an int option, or -1 when it fails. */
    public int socketOption(int fd, int name) {
        int[] v = new int[1];
        return libc.getsockopt(fd, LibC.SOL_SOCKET, name, v, new int[] {4}) == 0 ? v[0] : -1;
    }

    /** A shared read-write mapping of {@code length} bytes of {@code fd}, as a direct buffer. */
    public Mapping mmap(int fd, long length) throws IOException {
        Pointer p = libc.mmap(null, length, LibC.PROT_READ | LibC.PROT_WRITE, LibC.MAP_SHARED, fd, 0);
        if (Linux.mapFailed(p)) {
            throw error("mmap(map fd " + fd + ", " + length + " bytes)");
        }
        return new Mapping(p, length, Linux.buffer(p.address(), (int) length));
    }

    public void munmap(Mapping m) throws IOException {
        if (libc.munmap(m.address, m.length) != 0) {
            throw error("munmap");
        }
    }

    /** An mmap'ed region. */
    public static final class Mapping {
        final Pointer address;
        final long length;
        public final ByteBuffer buffer;

        Mapping(Pointer address, long length, ByteBuffer buffer) {
            this.address = address;
            this.length = length;
            this.buffer = buffer;
        }
    }
}
