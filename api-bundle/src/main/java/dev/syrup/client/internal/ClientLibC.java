package dev.syrup.client.internal;

import jnr.ffi.Pointer;
import jnr.ffi.annotations.In;
import jnr.ffi.annotations.Out;
import jnr.ffi.types.off_t;
import jnr.ffi.types.size_t;
import jnr.ffi.types.ssize_t;

/** The libc functions the client needs (LP64); -1 and errno on failure. Only {@link Unix} holds one. */
public interface ClientLibC {

    int socket(int domain, int type, int protocol);

    int connect(int fd, @In byte[] addr, int addrlen);

    @ssize_t long write(int fd, @In byte[] buf, @size_t long count);

    @ssize_t long recvmsg(int fd, Pointer msg, int flags);

    int close(int fd);

    int getsockopt(int fd, int level, int optname, @Out int[] optval, @In @Out int[] optlen);

    /** {@code addr} is a Pointer on purpose: six primitive parameters select a jnr-ffi fast path that corrupts the sixth. */
    Pointer mmap(Pointer addr, @size_t long length, int prot, int flags, int fd, @off_t long offset);

    int munmap(Pointer addr, @size_t long length);

    String strerror(int errnum);
}
