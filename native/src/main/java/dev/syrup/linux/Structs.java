package dev.syrup.linux;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import jnr.ffi.Pointer;

/**
 * Offsets and sizes of the kernel and libc structs Syrup passes through {@link LibC} and bpf(2),
 * on LP64 Linux (x86_64 and aarch64, little-endian), with the few encoders their users share.
 * Each nested class is one struct, named after it; {@code SIZE} is what Syrup passes as its size.
 * The unit test compiles a C program against the system headers and compares every offset here.
 */
public final class Structs {

    private Structs() {
    }

    // --- sockets -----------------------------------------------------------------------------

    /** {@code struct sockaddr_un} (sys/un.h). */
    public static final class SockaddrUn {
        public static final int FAMILY = 0, PATH = 2, SIZE = 110;
        /** The longest path: sun_path is 108 bytes including the terminating NUL. */
        public static final int MAX_PATH = 107;

        private SockaddrUn() {
        }

        /**
         * The address of {@code path} (its length as the address length: family, path, NUL).
         *
         * @throws IllegalArgumentException when the path is empty or longer than {@link #MAX_PATH} bytes
         */
        public static byte[] of(String path) {
            byte[] p = path.getBytes(StandardCharsets.UTF_8);
            if (p.length == 0 || p.length > MAX_PATH) {
                throw new IllegalArgumentException("socket path must be 1.." + MAX_PATH + " bytes: " + path);
            }
            byte[] addr = new byte[PATH + p.length + 1];
            addr[FAMILY] = (byte) LibC.AF_UNIX;
            System.arraycopy(p, 0, addr, PATH, p.length);
            return addr;
        }
    }

    /** {@code struct sockaddr_xdp} (linux/if_xdp.h): family u16, flags u16, ifindex, queue_id, shared_umem_fd u32. */
    public static final class SockaddrXdp {
        public static final int FAMILY = 0, FLAGS = 2, IFINDEX = 4, QUEUE_ID = 8, SHARED_UMEM_FD = 12, SIZE = 16;

        private SockaddrXdp() {
        }

        public static byte[] of(int flags, int ifindex, int queue, int sharedUmemFd) {
            return buffer(SIZE).putShort(FAMILY, (short) LibC.AF_XDP).putShort(FLAGS, (short) flags)
                    .putInt(IFINDEX, ifindex).putInt(QUEUE_ID, queue).putInt(SHARED_UMEM_FD, sharedUmemFd).array();
        }
    }

    /** {@code struct iovec}. */
    public static final class Iovec {
        public static final int BASE = 0, LEN = 8, SIZE = 16;

        private Iovec() {
        }
    }

    /** {@code struct msghdr} (glibc, LP64). */
    public static final class Msghdr {
        public static final int NAME = 0, NAMELEN = 8, IOV = 16, IOVLEN = 24, CONTROL = 32, CONTROLLEN = 40,
                FLAGS = 48, SIZE = 56;

        private Msghdr() {
        }

        /**
         * A zeroed msghdr with one iovec of {@code len} bytes at {@code data} and, when
         * {@code control} is not null, {@code controlLen} bytes of ancillary data there. The
         * iovec is {@code iov} ({@link Iovec#SIZE} bytes), filled here.
         */
        public static void set(Pointer msg, Pointer iov, long data, long len, Pointer control, long controlLen) {
            msg.setMemory(0, SIZE, (byte) 0);
            iov.putLong(Iovec.BASE, data);
            iov.putLong(Iovec.LEN, len);
            msg.putLong(IOV, iov.address());
            msg.putLong(IOVLEN, 1);
            if (control != null) {
                msg.putLong(CONTROL, control.address());
                msg.putLong(CONTROLLEN, controlLen);
            }
        }
    }

    /** {@code struct cmsghdr} (glibc, LP64): len size_t, level int, type int, then the data, 8-byte aligned. */
    public static final class Cmsghdr {
        public static final int LEN = 0, LEVEL = 8, TYPE = 12, DATA = 16;

        private Cmsghdr() {
        }

        /** CMSG_LEN(n). */
        public static long len(int n) {
            return DATA + n;
        }

        /** CMSG_SPACE(n). */
        public static long space(int n) {
            return DATA + align(n);
        }

        private static long align(long n) {
            return (n + 7) & ~7L;
        }

        /** Writes one {@code SCM_RIGHTS} message carrying {@code fd} at the start of {@code control} ({@code space(4)} bytes). */
        public static void putRights(Pointer control, int fd) {
            control.putLong(LEN, len(4));
            control.putInt(LEVEL, LibC.SOL_SOCKET);
            control.putInt(TYPE, LibC.SCM_RIGHTS);
            control.putInt(DATA, fd);
        }

        /**
         * Every descriptor of the {@code SCM_RIGHTS} messages in the first {@code controlLen}
         * bytes of {@code control} (as recvmsg left them), in order; the caller owns them all.
         */
        public static int[] rights(Pointer control, long controlLen) {
            int[] fds = new int[0];
            for (long pos = 0; pos + DATA <= controlLen; ) {
                long len = control.getLong(pos + LEN);
                if (len < DATA) {
                    break;
                }
                if (control.getInt(pos + LEVEL) == LibC.SOL_SOCKET && control.getInt(pos + TYPE) == LibC.SCM_RIGHTS) {
                    for (long p = pos + DATA; p + 4 <= pos + len && p + 4 <= controlLen; p += 4) {
                        fds = Arrays.copyOf(fds, fds.length + 1);
                        fds[fds.length - 1] = control.getInt(p);
                    }
                }
                pos += align(len);
            }
            return fds;
        }
    }

    /** {@code struct ucred} (SO_PEERCRED): pid, uid, gid as ints. */
    public static final class Ucred {
        public static final int PID = 0, UID = 4, GID = 8, SIZE = 12;

        private Ucred() {
        }
    }

    /** {@code struct timeval} (LP64): tv_sec, tv_usec as longs. */
    public static final class Timeval {
        public static final int SEC = 0, USEC = 8, SIZE = 16;

        private Timeval() {
        }

        public static byte[] ofMillis(long millis) {
            return buffer(SIZE).putLong(SEC, millis / 1000).putLong(USEC, millis % 1000 * 1000).array();
        }
    }

    /**
     * {@code struct pollfd}: fd int, events short, revents short. Passed to {@link LibC#poll} as
     * two ints per entry: the fd, then {@code events | revents << 16} (little-endian).
     */
    public static final class Pollfd {
        public static final int FD = 0, EVENTS = 4, REVENTS = 6, SIZE = 8;

        private Pollfd() {
        }

        /** The packed array polling each of {@code fds} for {@code events}. */
        public static int[] of(int[] fds, int events) {
            int[] p = new int[fds.length * 2];
            for (int i = 0; i < fds.length; i++) {
                p[2 * i] = fds[i];
                p[2 * i + 1] = events & 0xffff;
            }
            return p;
        }

        /** revents of entry {@code i} after poll. */
        public static int revents(int[] packed, int i) {
            return packed[2 * i + 1] >>> 16;
        }
    }

    // --- files -------------------------------------------------------------------------------

    /** {@code struct open_how} (linux/openat2.h): flags, mode, resolve as u64. */
    public static final class OpenHow {
        public static final int FLAGS = 0, MODE = 8, RESOLVE = 16, SIZE = 24;

        private OpenHow() {
        }
    }

    /** {@code struct statx} (linux/stat.h): the same layout on every architecture. */
    public static final class Statx {
        public static final int UID = 20, GID = 24, MODE = 28, INO = 32, DEV_MAJOR = 136, DEV_MINOR = 140, SIZE = 256;

        private Statx() {
        }
    }

    /** {@code struct statfs} (glibc, LP64): f_type is the first field. */
    public static final class Statfs {
        public static final int TYPE = 0, SIZE = 120;

        private Statfs() {
        }
    }

    /** {@code struct dirent} (glibc, LP64: d_ino, d_off, d_reclen, d_type, then d_name[256]). */
    public static final class Dirent {
        public static final int NAME = 19, NAME_SIZE = 256;

        private Dirent() {
        }
    }

    // --- threads -----------------------------------------------------------------------------

    /** {@code struct __user_cap_header_struct}: version, pid (0: the calling thread). */
    public static final class CapHeader {
        public static final int VERSION = 0, PID = 4, SIZE = 8;

        private CapHeader() {
        }
    }

    /**
     * {@code struct __user_cap_data_struct}: effective, permitted, inheritable (u32 each); version 3
     * takes two of them, the low 32 capabilities then the high ones ({@link #SIZE} for both).
     */
    public static final class CapData {
        public static final int EFFECTIVE = 0, PERMITTED = 4, INHERITABLE = 8, ONE = 12, SIZE = 2 * ONE;

        private CapData() {
        }

        /** The 64-bit mask of the set at {@code field} ({@link #EFFECTIVE}, ...). */
        public static long get(Pointer data, int field) {
            return (data.getInt(field) & 0xffffffffL) | ((data.getInt(ONE + field) & 0xffffffffL) << 32);
        }

        public static void put(Pointer data, int field, long mask) {
            data.putInt(field, (int) mask);
            data.putInt(ONE + field, (int) (mask >>> 32));
        }
    }

    /** {@code struct sched_param}: sched_priority. */
    public static final class SchedParam {
        public static final int PRIORITY = 0, SIZE = 4;

        private SchedParam() {
        }
    }

    /** glibc's {@code cpu_set_t}: a bit per CPU, 1024 CPUs. */
    public static final class CpuSet {
        public static final int SIZE = 128;

        private CpuSet() {
        }
    }

    /** {@code struct perf_event_attr} (linux/perf_event.h), as far as PERF_ATTR_SIZE_VER7. */
    public static final class PerfEventAttr {
        public static final int TYPE = 0, SIZE_FIELD = 4, CONFIG = 8, SAMPLE_PERIOD = 16, SIZE = 128;

        private PerfEventAttr() {
        }
    }

    // --- AF_XDP (linux/if_xdp.h) -------------------------------------------------------------

    /** {@code struct xdp_ring_offset}: producer, consumer, desc, flags (u64 each). */
    public static final class XdpRingOffset {
        public static final int PRODUCER = 0, CONSUMER = 8, DESC = 16, FLAGS = 24, SIZE = 32;

        private XdpRingOffset() {
        }
    }

    /** {@code struct xdp_mmap_offsets}: one {@link XdpRingOffset} per ring. */
    public static final class XdpMmapOffsets {
        public static final int RX = 0, TX = 32, FR = 64, CR = 96, SIZE = 128;

        private XdpMmapOffsets() {
        }
    }

    /**
     * {@code struct xdp_umem_reg}: addr, len (u64), chunk_size, headroom (u32). {@link #SIZE} is the
     * original 24-byte layout, which every kernel takes (later ones add flags and tx_metadata_len).
     */
    public static final class XdpUmemReg {
        public static final int ADDR = 0, LEN = 8, CHUNK_SIZE = 16, HEADROOM = 20, SIZE = 24;

        private XdpUmemReg() {
        }

        public static byte[] of(long addr, long len, int chunkSize, int headroom) {
            return buffer(SIZE).putLong(ADDR, addr).putLong(LEN, len).putInt(CHUNK_SIZE, chunkSize)
                    .putInt(HEADROOM, headroom).array();
        }
    }

    /** {@code struct xdp_desc}: addr u64, len u32, options u32 (an RX or TX ring entry). */
    public static final class XdpDesc {
        public static final int ADDR = 0, LEN = 8, OPTIONS = 12, SIZE = 16;

        private XdpDesc() {
        }
    }

    /** A fill or completion ring entry: a UMEM address (u64). */
    public static final int XDP_UMEM_ENTRY = 8;

    /** {@code struct xdp_statistics}: six u64 counters, in this order. */
    public static final class XdpStatistics {
        public static final int RX_DROPPED = 0, RX_INVALID_DESCS = 8, TX_INVALID_DESCS = 16, RX_RING_FULL = 24,
                RX_FILL_RING_EMPTY_DESCS = 32, TX_RING_EMPTY_DESCS = 40, SIZE = 48;

        private XdpStatistics() {
        }
    }

    /** {@code struct xdp_options}: flags u32. */
    public static final class XdpOptions {
        public static final int FLAGS = 0, SIZE = 4;

        private XdpOptions() {
        }
    }

    // --- bpf(2) (linux/bpf.h) ----------------------------------------------------------------

    /** {@code union bpf_attr} for BPF_OBJ_PIN / BPF_OBJ_GET: pathname u64, bpf_fd, file_flags, path_fd. */
    public static final class BpfObjAttr {
        public static final int PATHNAME = 0, BPF_FD = 8, FILE_FLAGS = 12, PATH_FD = 16, SIZE = 24;

        private BpfObjAttr() {
        }
    }

    /** {@code struct bpf_map_info}, as far as Syrup reads it. */
    public static final class BpfMapInfo {
        public static final int TYPE = 0, ID = 4, KEY_SIZE = 8, VALUE_SIZE = 12, MAX_ENTRIES = 16, MAP_FLAGS = 20,
                NAME = 24, NAME_SIZE = 16, IFINDEX = 40, SIZE = 88;

        private BpfMapInfo() {
        }
    }

    /** {@code struct bpf_prog_info}, as far as Syrup reads it (its pointer fields stay 0). */
    public static final class BpfProgInfo {
        public static final int TYPE = 0, ID = 4, TAG = 8, TAG_SIZE = 8, NAME = 64, NAME_SIZE = 16, SIZE = 232;

        private BpfProgInfo() {
        }
    }

    /** {@code struct bpf_link_info}: type, id, prog_id, then a union Syrup does not read. */
    public static final class BpfLinkInfo {
        public static final int TYPE = 0, ID = 4, PROG_ID = 8, SIZE = 64;

        private BpfLinkInfo() {
        }
    }

    private static ByteBuffer buffer(int size) {
        return ByteBuffer.allocate(size).order(ByteOrder.nativeOrder());
    }
}
