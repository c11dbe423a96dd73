package dev.syrup.client.internal;

import dev.syrup.linux.LibC;
import dev.syrup.linux.Linux;
import dev.syrup.linux.Structs;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import jnr.ffi.Pointer;

/**
 * The system calls of an AF_XDP socket (linux/if_xdp.h), as thin wrappers that throw an
 * IOException naming the call and errno. Used by {@link dev.syrup.client.XdpSocket}; the
 * constants are {@link LibC}'s, the layouts {@link Structs}'.
 */
public final class Xsk {

    public static final int EINTR = 4, EAGAIN = 11, EBUSY = 16, ENOBUFS = 105, ENETDOWN = 100;

    private static volatile Xsk instance;

    private final LibC libc;

    private Xsk(LibC libc) {
        this.libc = libc;
    }

    public static Xsk get() {
        Xsk x = instance;
        if (x == null) {
            synchronized (Xsk.class) {
                if (instance == null) {
                    instance = new Xsk(Linux.libc());
                }
                x = instance;
            }
        }
        return x;
    }

    public int errno() {
        return Linux.errno();
    }

    public IOException error(String call) {
        int e = errno();
        return new ErrnoException(Linux.describe(call, e), e);
    }

    /** An IOException that carries errno. */
    public static final class ErrnoException extends IOException {
        private final int errno;

        ErrnoException(String message, int errno) {
            super(message);
            this.errno = errno;
        }

        public int errno() {
            return errno;
        }
    }

    public int ifindex(String name) throws IOException {
        int i = libc.if_nametoindex(name);
        if (i == 0) {
            throw error("if_nametoindex(" + name + ")");
        }
        return i;
    }

    public int socket() throws IOException {
        int fd = libc.socket(LibC.AF_XDP, LibC.SOCK_RAW | LibC.SOCK_CLOEXEC, 0);
        if (fd < 0) {
            throw error("socket(AF_XDP)");
        }
        return fd;
    }

    public void setsockopt(int fd, int name, byte[] value, String what) throws IOException {
        if (libc.setsockopt(fd, LibC.SOL_XDP, name, value, value.length) != 0) {
            throw error("setsockopt(" + what + ")");
        }
    }

    public void setIntOption(int fd, int name, int value, String what) throws IOException {
        setsockopt(fd, name, le(4).putInt(value).array(), what);
    }

    /** getsockopt(level, name) into a native-order buffer of {@code size} bytes (limited to what the kernel wrote). */
    public ByteBuffer getsockopt(int fd, int level, int name, int size, String what) throws IOException {
        byte[] v = new byte[size];
        int[] len = {size};
        if (libc.getsockopt(fd, level, name, v, len) != 0) {
            throw error("getsockopt(" + what + ")");
        }
        return ByteBuffer.wrap(v, 0, len[0]).order(ByteOrder.nativeOrder());
    }

    public void bind(int fd, int flags, int ifindex, int queue, int sharedUmemFd) throws IOException {
        byte[] addr = Structs.SockaddrXdp.of(flags, ifindex, queue, sharedUmemFd);
        if (libc.bind(fd, addr, addr.length) != 0) {
            throw error("bind(AF_XDP, ifindex " + ifindex + ", queue " + queue + ", flags " + flags + ")");
        }
    }

    /** Anonymous, page-aligned, populated memory for a UMEM. */
    public Region anonymous(long length) throws IOException {
        Pointer p = libc.mmap(null, length, LibC.PROT_READ | LibC.PROT_WRITE,
                LibC.MAP_PRIVATE | LibC.MAP_ANONYMOUS | LibC.MAP_POPULATE, -1, 0);
        return region(p, length, "mmap(anonymous, " + length + " bytes)");
    }

    /** A ring of the socket, shared with the kernel. */
    public Region mapRing(int fd, long length, long pgoff, String what) throws IOException {
        Pointer p = libc.mmap(null, length, LibC.PROT_READ | LibC.PROT_WRITE, LibC.MAP_SHARED | LibC.MAP_POPULATE, fd, pgoff);
        return region(p, length, "mmap(" + what + " ring, " + length + " bytes)");
    }

    private Region region(Pointer p, long length, String what) throws IOException {
        if (Linux.mapFailed(p)) {
            throw error(what);
        }
        if (length > Integer.MAX_VALUE) {
            libc.munmap(p, length);
            throw new IOException(what + ": more than 2 GiB");
        }
        ByteBuffer b = Linux.buffer(p.address(), (int) length).order(ByteOrder.nativeOrder());
        return new Region(p, length, b);
    }

    public void unmap(Region r) {
        libc.munmap(r.address, r.length);
    }

    /** poll(2) on one fd; true when one of {@code events} is ready. */
    public boolean poll(int fd, int events, int timeoutMillis) throws IOException {
        int[] pfd = Structs.Pollfd.of(new int[] {fd}, events);
        int rc = libc.poll(pfd, 1, timeoutMillis);
        if (rc < 0) {
            if (errno() == EINTR) {
                return false;
            }
            throw error("poll(AF_XDP)");
        }
        return rc > 0 && (Structs.Pollfd.revents(pfd, 0) & events) != 0;
    }

    /** sendto(fd, NULL, 0, MSG_DONTWAIT): has the kernel transmit what is in the TX ring; the errno, 0 on success. */
    public int kickTx(int fd) {
        return libc.sendto(fd, null, 0, LibC.MSG_DONTWAIT, null, 0) < 0 ? errno() : 0;
    }

    /** recvfrom(fd, NULL, 0, MSG_DONTWAIT): has the driver refill from the fill ring (need_wakeup). */
    public void kickRx(int fd) {
        libc.recvfrom(fd, null, 0, LibC.MSG_DONTWAIT, null, null);
    }

    public void close(int fd) {
        libc.close(fd);
    }

    private static ByteBuffer le(int n) {
        return ByteBuffer.allocate(n).order(ByteOrder.nativeOrder());
    }

    /** An mmap'ed region and a direct buffer over it (native byte order). */
    public static final class Region {
        final Pointer address;
        final long length;
        public final ByteBuffer buffer;

        Region(Pointer address, long length, ByteBuffer buffer) {
            this.address = address;
            this.length = length;
            this.buffer = buffer;
        }

        public long address() {
            return address.address();
        }
    }
}
