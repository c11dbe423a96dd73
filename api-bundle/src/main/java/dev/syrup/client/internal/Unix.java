package dev.syrup.client.internal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import jnr.ffi.LastError;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;

/**
 * The client's native calls: a Unix stream socket that can receive a file descriptor
 * ({@code SCM_RIGHTS}), and mmap of a received map fd. Blocking; errors are IOExceptions
 * naming the call and errno.
 */
public final class Unix {

    private static final int AF_UNIX = 1, SOCK_STREAM = 1, SOCK_CLOEXEC = 0x80000;
    private static final int SOL_SOCKET = 1, SCM_RIGHTS = 1, MSG_NOSIGNAL = 0x4000, MSG_CMSG_CLOEXEC = 0x40000000;
    private static final int EINTR = 4;
    private static final int PROT_READ = 1, PROT_WRITE = 2, MAP_SHARED = 1;

    private static volatile Unix instance;

    private final ClientLibC libc;
    private final Runtime runtime;

    private Unix(ClientLibC libc) {
        this.libc = libc;
        this.runtime = Runtime.getRuntime(libc);
    }

    public static Unix get() {
        Unix u = instance;
        if (u == null) {
            synchronized (Unix.class) {
                if (instance == null) {
                    instance = new Unix(LibraryLoader.create(ClientLibC.class).failImmediately().load("c"));
                }
                u = instance;
            }
        }
        return u;
    }

    private IOException error(String call) {
        int e = LastError.getLastError(runtime);
        return new IOException(call + ": " + libc.strerror(e) + " (errno " + e + ")");
    }

    private int errno() {
        return LastError.getLastError(runtime);
    }

    /** A connected AF_UNIX stream socket. */
    public int connect(Path path) throws IOException {
        byte[] p = path.toString().getBytes(StandardCharsets.UTF_8);
        if (p.length == 0 || p.length > 107) {
            throw new IOException("socket path must be 1..107 bytes: " + path);
        }
        byte[] addr = new byte[2 + p.length + 1];
        addr[0] = AF_UNIX;
        System.arraycopy(p, 0, addr, 2, p.length);
        int fd = libc.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
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

    public void writeFully(int fd, byte[] data) throws IOException {
        int off = 0;
        while (off < data.length) {
            byte[] chunk = off == 0 ? data : java.util.Arrays.copyOfRange(data, off, data.length);
            long rc = libc.write(fd, chunk, chunk.length);
            if (rc < 0) {
                if (errno() == EINTR) {
                    continue;
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
        Pointer data = Memory.allocateDirect(runtime, Math.max(len, 1));
        Pointer iov = Memory.allocateDirect(runtime, 16);
        Pointer control = Memory.allocateDirect(runtime, 64);
        Pointer msg = Memory.allocateDirect(runtime, 56);
        int off = 0;
        while (off < len) {
            msg.setMemory(0, 56, (byte) 0);
            control.setMemory(0, 64, (byte) 0);
            iov.putLong(0, data.address() + off);
            iov.putLong(8, len - off);
            msg.putLong(16, iov.address());
            msg.putLong(24, 1);
            msg.putLong(32, control.address());
            msg.putLong(40, 64);
            long rc = libc.recvmsg(fd, msg, MSG_CMSG_CLOEXEC);
            if (rc < 0) {
                if (errno() == EINTR) {
                    continue;
                }
                throw error("recvmsg(control socket)");
            }
            if (rc == 0) {
                throw new IOException("syrupd closed the connection");
            }
            long controlLen = msg.getLong(40);
            for (long pos = 0; pos + 16 <= controlLen; ) {
                long cmsgLen = control.getLong(pos);
                if (cmsgLen < 16) {
                    break;
                }
                if (control.getInt(pos + 8) == SOL_SOCKET && control.getInt(pos + 12) == SCM_RIGHTS) {
                    for (long p = pos + 16; p + 4 <= pos + cmsgLen; p += 4) {
                        int got = control.getInt(p);
                        if (fdOut[0] < 0) {
                            fdOut[0] = got;
                        } else {
                            libc.close(got);
                        }
                    }
                }
                pos += (cmsgLen + 7) & ~7L;
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
        return libc.getsockopt(fd, SOL_SOCKET, name, v, new int[] {4}) == 0 ? v[0] : -1;
    }

    /** A shared read-write mapping of {@code length} bytes of {@code fd}, as a direct buffer. */
    public Mapping mmap(int fd, long length) throws IOException {
        Pointer p = libc.mmap(null, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == null || p.address() == -1L) {
            throw error("mmap(map fd " + fd + ", " + length + " bytes)");
        }
        ByteBuffer buffer = com.kenai.jffi.MemoryIO.getInstance().newDirectByteBuffer(p.address(), (int) length);
        return new Mapping(p, length, buffer);
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
