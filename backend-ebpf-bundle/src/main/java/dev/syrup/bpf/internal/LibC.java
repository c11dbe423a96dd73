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
