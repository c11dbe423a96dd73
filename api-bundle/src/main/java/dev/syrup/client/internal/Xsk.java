package dev.syrup.client.internal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import jnr.ffi.LastError;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;

/**
 * The system calls of an AF_XDP socket (linux/if_xdp.h), as thin wrappers that throw an
 * IOException naming the call and errno. Used by {@link dev.syrup.client.XdpSocket}.
 */
public final class Xsk {

    public static final int AF_XDP = 44, SOCK_RAW = 3, SOCK_CLOEXEC = 0x80000, SOL_XDP = 283, SOL_SOCKET = 1;
    public static final int XDP_MMAP_OFFSETS = 1, XDP_RX_RING = 2, XDP_TX_RING = 3, XDP_UMEM_REG = 4,
            XDP_UMEM_FILL_RING = 5, XDP_UMEM_COMPLETION_RING = 6, XDP_STATISTICS = 7, XDP_OPTIONS = 8;
    public static final long XDP_PGOFF_RX_RING = 0, XDP_PGOFF_TX_RING = 0x80000000L,
            XDP_UMEM_PGOFF_FILL_RING = 0x100000000L, XDP_UMEM_PGOFF_COMPLETION_RING = 0x180000000L;
    public static final int XDP_SHARED_UMEM = 1, XDP_COPY = 2, XDP_ZEROCOPY = 4, XDP_USE_NEED_WAKEUP = 8;
    public static final int XDP_RING_NEED_WAKEUP = 1, XDP_OPTIONS_ZEROCOPY = 1;
    public static final int EINTR = 4, EAGAIN = 11, EBUSY = 16, ENOBUFS = 105, ENETDOWN = 100;
    public static final int MSG_DONTWAIT = 0x40, POLLIN = 1, POLLOUT = 4;
    private static final int PROT_READ = 1, PROT_WRITE = 2, MAP_SHARED = 1, MAP_PRIVATE = 2, MAP_ANONYMOUS = 0x20,
            MAP_POPULATE = 0x8000;

    private static volatile Xsk instance;

    private final XskLibC libc;
    private final Runtime runtime;

    private Xsk(XskLibC libc) {
        this.libc = libc;
        this.runtime = Runtime.getRuntime(libc);
    }

    public static Xsk get() {
        Xsk x = instance;
        if (x == null) {
            synchronized (Xsk.class) {
                if (instance == null) {
                    instance = new Xsk(LibraryLoader.create(XskLibC.class).failImmediately().load("c"));
                }
                x = instance;
            }
        }
        return x;
    }

    public int errno() {
        return LastError.getLastError(runtime);
    }

    public IOException error(String call) {
        int e = errno();
        return new ErrnoException(call + ": " + libc.strerror(e) + " (errno " + e + ")", e);
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
        int fd = libc.socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            throw error("socket(AF_XDP)");
        }
        return fd;
    }

    public void setsockopt(int fd, int name, byte[] value, String what) throws IOException {
        if (libc.setsockopt(fd, SOL_XDP, name, value, value.length) != 0) {
            throw error("setsockopt(" + what + ")");
        }
    }

    public void setIntOption(int fd, int name, int value, String what) throws IOException {
        setsockopt(fd, name, le(4).putInt(value).array(), what);
    }

    /** getsockopt(SOL_XDP, name) into a little... native-order buffer of {@code size} bytes. */
    public ByteBuffer getsockopt(int fd, int level, int name, int size, String what) throws IOException {
        byte[] v = new byte[size];
        int[] len = {size};
        if (libc.getsockopt(fd, level, name, v, len) != 0) {
            throw error("getsockopt(" + what + ")");
        }
        return ByteBuffer.wrap(v, 0, len[0]).order(ByteOrder.nativeOrder());
    }

    public void bind(int fd, int flags, int ifindex, int queue, int sharedUmemFd) throws IOException {
        ByteBuffer a = le(16);
        a.putShort((short) AF_XDP).putShort((short) flags).putInt(ifindex).putInt(queue).putInt(sharedUmemFd);
        if (libc.bind(fd, a.array(), 16) != 0) {
            throw error("bind(AF_XDP, ifindex " + ifindex + ", queue " + queue + ", flags " + flags + ")");
        }
    }

    /** Anonymous, page-aligned, populated memory for a UMEM. */
    public Region anonymous(long length) throws IOException {
        Pointer p = libc.mmap(null, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        return region(p, length, "mmap(anonymous, " + length + " bytes)");
    }

    /** A ring of the socket, shared with the kernel. */
    public Region mapRing(int fd, long length, long pgoff, String what) throws IOException {
        Pointer p = libc.mmap(null, length, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, pgoff);
        return region(p, length, "mmap(" + what + " ring, " + length + " bytes)");
    }

    private Region region(Pointer p, long length, String what) throws IOException {
        if (p == null || p.address() == -1L) {
            throw error(what);
        }
        if (length > Integer.MAX_VALUE) {
            libc.munmap(p, length);
            throw new IOException(what + ": more than 2 GiB");
        }
        ByteBuffer b = com.kenai.jffi.MemoryIO.getInstance().newDirectByteBuffer(p.address(), (int) length)
                .order(ByteOrder.nativeOrder());
        return new Region(p, length, b);
    }

    public void unmap(Region r) {
        libc.munmap(r.address, r.length);
    }

    /** poll(2) on one fd; true when one of {@code events} is ready. */
    public boolean poll(int fd, int events, int timeoutMillis) throws IOException {
        byte[] pfd = le(8).putInt(fd).putShort((short) events).putShort((short) 0).array();
        int rc = libc.poll(pfd, 1, timeoutMillis);
        if (rc < 0) {
            if (errno() == EINTR) {
                return false;
            }
            throw error("poll(AF_XDP)");
        }
        short revents = ByteBuffer.wrap(pfd).order(ByteOrder.nativeOrder()).getShort(6);
        return rc > 0 && (revents & events) != 0;
    }

    /** sendto(fd, NULL, 0, MSG_DONTWAIT): has the kernel transmit what is in the TX ring; the errno, 0 on success. */
    public int kickTx(int fd) {
        return libc.sendto(fd, null, 0, MSG_DONTWAIT, null, 0) < 0 ? errno() : 0;
    }

    /** recvfrom(fd, NULL, 0, MSG_DONTWAIT): has the driver refill from the fill ring (need_wakeup). */
    public void kickRx(int fd) {
        libc.recvfrom(fd, null, 0, MSG_DONTWAIT, null, null);
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
