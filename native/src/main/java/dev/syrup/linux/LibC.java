package dev.syrup.linux;

import jnr.ffi.Pointer;
import jnr.ffi.annotations.In;
import jnr.ffi.annotations.Out;
import jnr.ffi.types.off_t;
import jnr.ffi.types.size_t;
import jnr.ffi.types.ssize_t;
import org.osgi.annotation.versioning.ProviderType;

/**
 * The libc functions Syrup calls, bound once with jnr-ffi ({@link Linux#libc()}), and the
 * constants passed to them. -1 and errno ({@link Linux#errno()}) on failure unless said
 * otherwise. LP64 only: {@code size_t}, {@code off_t} and {@code long} are Java {@code long}.
 * Structs go through {@link Pointer}s or byte arrays laid out as {@link Structs} says.
 *
 * <p>Overloads of one function (e.g. {@code syscall}, {@code setsockopt}) are one symbol with
 * different argument types; a fake of this interface (unit tests) dispatches on the name.
 */
@ProviderType
public interface LibC {

    // --- file descriptors --------------------------------------------------------------------

    int close(int fd);

    /** fcntl(2) with an int argument (F_DUPFD_CLOEXEC). */
    int fcntl(int fd, int cmd, int arg);

    int ioctl(int fd, long request, long arg);

    @ssize_t long read(int fd, @Out byte[] buf, @size_t long count);

    @ssize_t long write(int fd, @In byte[] buf, @size_t long count);

    /** poll(2) over {@code struct pollfd[]} packed as ints ({@link Structs.Pollfd}). */
    int poll(@In @Out int[] fds, @size_t long nfds, int timeout);

    // --- memory ------------------------------------------------------------------------------

    /**
     * Returns the address, or -1 (MAP_FAILED). {@code addr} is a Pointer on purpose: declared
     * with six primitive parameters, jnr-ffi 2.2.19 takes jffi's fast-numeric call path, which
     * corrupted the sixth argument (glibc refused the offset with EINVAL without entering the
     * kernel); one Pointer parameter selects the generic path, which passes them intact.
     */
    Pointer mmap(Pointer addr, @size_t long length, int prot, int flags, int fd, @off_t long offset);

    int munmap(Pointer addr, @size_t long length);

    // --- system calls without a libc wrapper (numbers: SYS_*) --------------------------------

    long syscall(long number);

    /** Three integer arguments (unused ones are ignored by the kernel). */
    long syscall(long number, long arg1, long arg2, long arg3);

    /** A pointer argument: bpf(cmd, attr, size). */
    long syscall(long number, long arg1, Pointer arg2, long arg3);

    /** Two pointer arguments: openat2(dirfd, path, how, size). */
    long syscall(long number, long arg1, Pointer arg2, Pointer arg3, long arg4);

    /** Five integer arguments: ghost_run(gtid, agent_barrier, task_barrier, cpu, flags). */
    long syscall(long number, long arg1, long arg2, long arg3, long arg4, long arg5);

    /** perf_event_open(attr, pid, cpu, group_fd, flags). */
    long syscall(long number, Pointer attr, int pid, int cpu, int groupFd, long flags);

    // --- files and directories (bpffs, acted on through fds) ---------------------------------

    /** open(2), for files of kernel filesystems only root can write (ghostfs); Syrup's own go through openat2. */
    int open(String path, int flags);

    int mkdirat(int dirfd, String path, int mode);

    int unlinkat(int dirfd, String path, int flags);

    int fchmod(int fd, int mode);

    /** statx(2) into {@link Structs.Statx}. */
    int statx(int dirfd, String path, int flags, int mask, Pointer buf);

    /** fstatfs(2) into {@link Structs.Statfs}. */
    int fstatfs(int fd, Pointer buf);

    /** Takes ownership of {@code fd}; NULL on failure. */
    Pointer fdopendir(int fd);

    /** The next {@link Structs.Dirent} or NULL at the end. */
    Pointer readdir(Pointer dir);

    int closedir(Pointer dir);

    // --- sockets -----------------------------------------------------------------------------

    int socket(int domain, int type, int protocol);

    /** {@code addr}: a {@link Structs.SockaddrUn} or {@link Structs.SockaddrXdp}. */
    int bind(int fd, @In byte[] addr, int addrlen);

    int listen(int fd, int backlog);

    int connect(int fd, @In byte[] addr, int addrlen);

    /** accept4(fd, NULL, NULL, flags). */
    int accept4(int fd, Pointer addr, Pointer addrlen, int flags);

    /** {@code msg}: a {@link Structs.Msghdr}. */
    @ssize_t long sendmsg(int fd, Pointer msg, int flags);

    @ssize_t long recvmsg(int fd, Pointer msg, int flags);

    @ssize_t long sendto(int fd, Pointer buf, @size_t long len, int flags, Pointer addr, int addrlen);

    @ssize_t long recvfrom(int fd, Pointer buf, @size_t long len, int flags, Pointer addr, Pointer addrlen);

    int shutdown(int fd, int how);

    int setsockopt(int fd, int level, int optname, @In int[] optval, int optlen);

    int setsockopt(int fd, int level, int optname, @In byte[] optval, int optlen);

    int getsockopt(int fd, int level, int optname, @Out int[] optval, @In @Out int[] optlen);

    int getsockopt(int fd, int level, int optname, @Out byte[] optval, @In @Out int[] optlen);

    int if_nametoindex(String name);

    // --- threads: scheduling and capabilities ------------------------------------------------

    /** {@code mask}: a {@link Structs.CpuSet} of {@code size} bytes. */
    int sched_setaffinity(int pid, @size_t long size, Pointer mask);

    int sched_getaffinity(int pid, @size_t long size, Pointer mask);

    /** {@code param}: a {@link Structs.SchedParam}. */
    int sched_setscheduler(int pid, int policy, Pointer param);

    int sched_getscheduler(int pid);

    int sched_getparam(int pid, Pointer param);

    int sched_getcpu();

    int geteuid();

    /** capget(2)/capset(2) of the calling thread ({@link Structs.CapHeader}, {@link Structs.CapData}). */
    int capget(Pointer header, Pointer data);

    int capset(Pointer header, Pointer data);

    // --- strings -----------------------------------------------------------------------------

    String strerror(int errnum);

    int vsnprintf(Pointer buf, @size_t long size, Pointer format, Pointer vaList);

    // --- constants (asm-generic values, as on x86_64 and aarch64, unless said) ----------------

    /** Whether this is aarch64 (else x86_64): the two architectures Syrup runs on. */
    boolean ARM64 = "aarch64".equals(System.getProperty("os.arch"));

    /** syscall(2) numbers. */
    long SYS_BPF = ARM64 ? 280 : 321, SYS_PERF_EVENT_OPEN = ARM64 ? 241 : 298, SYS_GETTID = ARM64 ? 178 : 186,
            SYS_SETNS = ARM64 ? 268 : 308, SYS_PIDFD_OPEN = 434, SYS_OPENAT2 = 437, SYS_PIDFD_GETFD = 438;

    /** open(2) flags; O_DIRECTORY differs between x86_64 and the asm-generic architectures. */
    int O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_DIRECTORY = ARM64 ? 0x4000 : 0x10000, O_PATH = 0x200000, O_CLOEXEC = 0x80000;
    /** openat2(2) {@code resolve} flags. */
    long RESOLVE_NO_XDEV = 0x01, RESOLVE_NO_MAGICLINKS = 0x02, RESOLVE_NO_SYMLINKS = 0x04, RESOLVE_BENEATH = 0x08;
    /** *at(2) arguments. */
    int AT_FDCWD = -100, AT_SYMLINK_NOFOLLOW = 0x100, AT_REMOVEDIR = 0x200, AT_EMPTY_PATH = 0x1000;
    int STATX_BASIC_STATS = 0x7ff;
    int F_DUPFD_CLOEXEC = 1030;

    /** mmap(2). */
    int PROT_READ = 1, PROT_WRITE = 2, MAP_SHARED = 1, MAP_PRIVATE = 2, MAP_ANONYMOUS = 0x20, MAP_POPULATE = 0x8000;

    /** poll(2) events. */
    int POLLIN = 1, POLLOUT = 4, POLLERR = 8, POLLHUP = 16, POLLNVAL = 32;

    /** Sockets. */
    int AF_UNIX = 1, AF_XDP = 44, SOCK_STREAM = 1, SOCK_RAW = 3, SOCK_CLOEXEC = 0x80000, SHUT_RDWR = 2;
    int SOL_SOCKET = 1, SOL_XDP = 283;
    int SO_RCVBUF = 8, SO_REUSEPORT = 15, SO_PEERCRED = 17, SO_RCVTIMEO = 20, SO_RCVBUFFORCE = 33,
            SO_ATTACH_REUSEPORT_EBPF = 52, SO_COOKIE = 57, SO_DETACH_REUSEPORT_BPF = 68;
    int SCM_RIGHTS = 1;
    int MSG_DONTWAIT = 0x40, MSG_NOSIGNAL = 0x4000, MSG_CMSG_CLOEXEC = 0x40000000;

    /** AF_XDP socket options (SOL_XDP) and bind flags (linux/if_xdp.h). */
    int XDP_MMAP_OFFSETS = 1, XDP_RX_RING = 2, XDP_TX_RING = 3, XDP_UMEM_REG = 4, XDP_UMEM_FILL_RING = 5,
            XDP_UMEM_COMPLETION_RING = 6, XDP_STATISTICS = 7, XDP_OPTIONS = 8;
    int XDP_SHARED_UMEM = 1, XDP_COPY = 2, XDP_ZEROCOPY = 4, XDP_USE_NEED_WAKEUP = 8;
    int XDP_RING_NEED_WAKEUP = 1, XDP_OPTIONS_ZEROCOPY = 1;
    /** mmap offsets of an AF_XDP socket's rings. */
    long XDP_PGOFF_RX_RING = 0, XDP_PGOFF_TX_RING = 0x80000000L, XDP_UMEM_PGOFF_FILL_RING = 0x100000000L,
            XDP_UMEM_PGOFF_COMPLETION_RING = 0x180000000L;

    /** capget/capset header version (_LINUX_CAPABILITY_VERSION_3: two 32-bit data words per set). */
    int CAPABILITY_VERSION_3 = 0x20080522;

    /** perf_event_open(2) and its ioctls (x86_64 and aarch64 encodings). */
    int PERF_TYPE_TRACEPOINT = 2, PERF_FLAG_FD_CLOEXEC = 8;
    long PERF_EVENT_IOC_ENABLE = 0x2400, PERF_EVENT_IOC_SET_BPF = 0x40042408;

    /** setns(2) namespace type. */
    int CLONE_NEWNET = 0x40000000;
}
