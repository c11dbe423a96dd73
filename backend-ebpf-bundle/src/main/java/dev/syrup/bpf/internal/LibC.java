package dev.syrup.bpf.internal;

import jnr.ffi.Pointer;
import jnr.ffi.annotations.In;
import jnr.ffi.annotations.Out;
import jnr.ffi.types.off_t;
import jnr.ffi.types.size_t;
import jnr.ffi.types.ssize_t;

/**
 * The libc functions used by {@code dev.syrup.bpf}; -1 and errno on failure. Only
 * {@link Native} holds an instance. LP64 only ({@code size_t}/{@code off_t} as {@code long}).
 */
public interface LibC {

    int close(int fd);


    /**
     * Returns the address, or -1 (MAP_FAILED). {@code addr} is a Pointer on purpose: declared
     * with six primitive parameters, jnr-ffi 2.2.19 takes jffi's fast-numeric call path, which
     * corrupted the sixth argument (glibc refused the offset with EINVAL without entering the
     * kernel); one Pointer parameter selects the generic path, which passes them intact.
     */
    Pointer mmap(Pointer addr, @size_t long length, int prot, int flags, int fd, @off_t long offset);

    int munmap(Pointer addr, @size_t long length);

    /** syscall(2) with three integer arguments (unused ones are ignored by the kernel). */
    long syscall(long number, long arg1, long arg2, long arg3);

    /** syscall(2) with a pointer argument: bpf(cmd, attr, size). */
    long syscall(long number, long arg1, Pointer arg2, long arg3);

    /** syscall(2) with two pointer arguments: openat2(dirfd, path, how, size). */
    long syscall(long number, long arg1, Pointer arg2, Pointer arg3, long arg4);

    /** fcntl(2) with an int argument (F_DUPFD_CLOEXEC). */
    int fcntl(int fd, int cmd, int arg);

    // Directories in bpffs, acted on through their fds (PinDir).

    int mkdirat(int dirfd, String path, int mode);

    int unlinkat(int dirfd, String path, int flags);

    int fchmod(int fd, int mode);

    /** statx(2) into {@code struct statx} (256 bytes, the same layout on every architecture). */
    int statx(int dirfd, String path, int flags, int mask, Pointer buf);

    /** fstatfs(2); {@code f_type} is the first (long) field on LP64. */
    int fstatfs(int fd, Pointer buf);

    /** Takes ownership of {@code fd}; NULL on failure. */
    Pointer fdopendir(int fd);

    /** The next {@code struct dirent} or NULL at the end; {@code d_name} is at offset 19 on LP64 glibc. */
    Pointer readdir(Pointer dir);

    int closedir(Pointer dir);

    int setsockopt(int fd, int level, int optname, @In int[] optval, int optlen);

    int getsockopt(int fd, int level, int optname, @Out int[] optval, @In @Out int[] optlen);

    int if_nametoindex(String name);

    int vsnprintf(Pointer buf, long size, Pointer format, Pointer vaList);

    int geteuid();

    /** capget(2)/capset(2) of the calling thread: header {version, pid}, data[2] {effective, permitted, inheritable}. */
    int capget(Pointer header, Pointer data);

    int capset(Pointer header, Pointer data);

    // Unix domain sockets of the control socket (UnixSockets). Byte arrays carry sockaddr_un;
    // msghdr for sendmsg is laid out in native memory by the caller (LP64 layout).

    int socket(int domain, int type, int protocol);

    int bind(int fd, @In byte[] addr, int addrlen);

    int listen(int fd, int backlog);

    int connect(int fd, @In byte[] addr, int addrlen);

    /** accept4(fd, NULL, NULL, flags). */
    int accept4(int fd, Pointer addr, Pointer addrlen, int flags);

    @ssize_t long read(int fd, @Out byte[] buf, @size_t long count);

    @ssize_t long write(int fd, @In byte[] buf, @size_t long count);

    @ssize_t long sendmsg(int fd, Pointer msg, int flags);

    @ssize_t long recvmsg(int fd, Pointer msg, int flags);

    int shutdown(int fd, int how);

    /** poll(2) over {@code struct pollfd[]} packed as ints: fd, then events | revents << 16. */
    int poll(@In @Out int[] fds, long nfds, int timeout);
}
