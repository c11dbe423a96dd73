package dev.syrup.bpf.internal;

import jnr.ffi.Pointer;
import jnr.ffi.annotations.In;
import jnr.ffi.annotations.Out;
import jnr.ffi.types.size_t;

/**
 * The libc functions used by {@code dev.syrup.bpf}; -1 and errno on failure. Only
 * {@link Native} holds an instance. LP64 only ({@code size_t}/{@code off_t} as {@code long}).
 */
public interface LibC {

    int close(int fd);


    int munmap(long addr, @size_t long length);

    /** syscall(2) with three integer arguments (unused ones are ignored by the kernel). */
    long syscall(long number, long arg1, long arg2, long arg3);

    /**
     * syscall(2) with six arguments. Used for mmap (SYS_mmap = 9): binding libc {@code mmap}
     * directly through jnr-ffi 2.2.19 passed a corrupted offset (glibc refused with EINVAL
     * before entering the kernel), while the 7-argument syscall() goes through jffi's generic
     * call path and passes all arguments intact.
     */
    long syscall(long number, long arg1, long arg2, long arg3, long arg4, long arg5, long arg6);

    int setsockopt(int fd, int level, int optname, @In int[] optval, int optlen);

    int getsockopt(int fd, int level, int optname, @Out int[] optval, @In @Out int[] optlen);

    int if_nametoindex(String name);

    int vsnprintf(Pointer buf, long size, Pointer format, Pointer vaList);

    int geteuid();
}
