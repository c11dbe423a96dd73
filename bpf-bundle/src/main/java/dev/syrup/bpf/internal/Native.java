package dev.syrup.bpf.internal;

import dev.syrup.bpf.BpfException;
import dev.syrup.linux.LibC;
import dev.syrup.linux.Linux;
import dev.syrup.linux.Structs.OpenHow;
import java.util.Objects;
import java.util.function.IntSupplier;
import jnr.ffi.LastError;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;

/**
 * The single chokepoint for native calls of {@code dev.syrup.bpf}: libbpf, libc and errno.
 * Nothing else in the library loads a native library: libbpf is bound here, libc is the one
 * binding of {@code dev.syrup.linux} ({@link Linux#libc()}). Unit tests replace the instance
 * with {@link #install(Native)} (for example with {@link java.lang.reflect.Proxy} fakes of
 * {@link LibBpf} and {@link LibC}).
 */
public final class Native {

    private static final Object LOCK = new Object();
    private static volatile Native instance;
    private static volatile Throwable loadFailure;

    private final LibBpf bpf;
    private final LibC libc;
    private final Runtime runtime;
    private final IntSupplier errno;

    public Native(LibBpf bpf, LibC libc, Runtime runtime, IntSupplier errno) {
        this.bpf = Objects.requireNonNull(bpf);
        this.libc = Objects.requireNonNull(libc);
        this.runtime = Objects.requireNonNull(runtime);
        this.errno = Objects.requireNonNull(errno);
    }

    /** The current instance, loading libbpf and libc on first use. */
    public static Native get() {
        Native n = instance;
        if (n != null) {
            return n;
        }
        synchronized (LOCK) {
            if (instance == null) {
                instance = load();
            }
            return instance;
        }
    }

    /** Replaces the instance (tests); returns the previous one, which may be null. */
    public static Native install(Native replacement) {
        synchronized (LOCK) {
            Native previous = instance;
            instance = replacement;
            return previous;
        }
    }

    private static Native load() {
        LibBpf bpf;
        try {
            bpf = loadLibbpf();
        } catch (RuntimeException | LinkageError e) {
            loadFailure = e;
            throw new IllegalStateException("libbpf 1.x is not loadable (tried \"bpf\" and \"libbpf.so.1\"): " + e, e);
        }
        LibC libc = Linux.libc();
        Runtime runtime = Runtime.getRuntime(bpf);
        Native n = new Native(bpf, libc, runtime, () -> LastError.getLastError(runtime));
        LibbpfLog.install(n);
        return n;
    }

    private static LibBpf loadLibbpf() {
        RuntimeException first = null;
        for (String name : new String[] {"bpf", "libbpf.so.1"}) {
            try {
                return LibraryLoader.create(LibBpf.class).failImmediately().load(name);
            } catch (RuntimeException | LinkageError e) {
                if (first == null) {
                    first = new IllegalStateException(e.toString(), e);
                } else {
                    first.addSuppressed(e);
                }
            }
        }
        throw first;
    }

    public LibBpf bpf() {
        return bpf;
    }

    public LibC libc() {
        return libc;
    }

    public Runtime runtime() {
        return runtime;
    }

    /** errno saved by the last native call on this thread. */
    public int errno() {
        return errno.getAsInt();
    }

    /** Zeroed native memory, freed when unreachable. */
    public Pointer allocate(int size) {
        Pointer p = Memory.allocateDirect(runtime, size, true);
        p.setMemory(0, size, (byte) 0);
        return p;
    }

    /** For a libbpf int result: returns it when {@code >= 0}, else throws for errno {@code -rc}. */
    public static int checkBpf(String operation, int rc) {
        if (rc < 0) {
            throw new BpfException(operation, -rc);
        }
        return rc;
    }

    /** For a libc result: returns it unless it is -1, else throws with the saved errno. */
    public int checkLibc(String operation, long rc) {
        if (rc == -1) {
            throw new BpfException(operation, errno());
        }
        return (int) rc;
    }

    /** For a pointer result of libbpf: NULL means failure with errno set. */
    public Pointer checkPointer(String operation, Pointer p) {
        if (p == null || p.address() == 0) {
            int e = errno();
            throw new BpfException(operation, e == 0 ? 22 /* EINVAL: libbpf gave no errno */ : e);
        }
        return p;
    }

    /** Closes a file descriptor; errors other than EBADF are reported, EINTR is ignored (Linux closes anyway). */
    public void close(int fd) {
        if (libc.close(fd) == -1) {
            int e = errno();
            if (e != 4 /* EINTR */) {
                throw new BpfException("close(" + fd + ")", e);
            }
        }
    }

    // --- raw system calls libc and libbpf 1.1 have no wrapper for -----------------------------

    /** openat2(dirfd, path, {flags, 0, resolve}): the new fd, or a {@link BpfException} naming {@code operation}. */
    public int openat2(String operation, int dirfd, String path, long flags, long resolve) {
        Pointer how = allocate(OpenHow.SIZE);
        how.putLong(OpenHow.FLAGS, flags);
        how.putLong(OpenHow.RESOLVE, resolve);
        return checkLibc(operation, libc.syscall(LibC.SYS_OPENAT2, dirfd, cString(path), how, OpenHow.SIZE));
    }

    /** bpf(cmd, attr, size) itself: its result, or a {@link BpfException} naming {@code operation}. */
    public int sysBpf(String operation, int cmd, Pointer attr, int size) {
        return checkLibc(operation, libc.syscall(LibC.SYS_BPF, cmd, attr, size));
    }

    /** A NUL-terminated UTF-8 copy of {@code s} in native memory. */
    public Pointer cString(String s) {
        byte[] b = s.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        Pointer p = allocate(b.length + 1);
        p.put(0, b, 0, b.length);
        return p;
    }

    /** Why loading failed the first time, or null. */
    public static Throwable loadFailure() {
        return loadFailure;
    }
}
