package dev.syrup.client.internal;

import jnr.ffi.Pointer;
import jnr.ffi.annotations.In;
import jnr.ffi.annotations.Out;
import jnr.ffi.types.off_t;
import jnr.ffi.types.size_t;
import jnr.ffi.types.ssize_t;

/** The libc functions an AF_XDP socket needs (LP64); -1 and errno on failure. Only {@link Xsk} holds one. */
public interface XskLibC {

    int socket(int domain, int type, int protocol);

    int setsockopt(int fd, int level, int optname, @In byte[] optval, int optlen);

    int getsockopt(int fd, int level, int optname, @Out byte[] optval, @In @Out int[] optlen);

    int bind(int fd, @In byte[] addr, int addrlen);

    /** {@code addr} is a Pointer on purpose: six primitive parameters select a jnr-ffi fast path that corrupts the sixth. */
    Pointer mmap(Pointer addr, @size_t long length, int prot, int flags, int fd, @off_t long offset);

    int munmap(Pointer addr, @size_t long length);

    int poll(@In @Out byte[] fds, @size_t long nfds, int timeout);

    @ssize_t long sendto(int fd, Pointer buf, @size_t long len, int flags, Pointer addr, int addrlen);

    @ssize_t long recvfrom(int fd, Pointer buf, @size_t long len, int flags, Pointer addr, Pointer addrlen);

    int close(int fd);

    String strerror(int errnum);

    int if_nametoindex(String name);
}
