package dev.syrup.linux;

import com.kenai.jffi.MemoryIO;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import jnr.ffi.LastError;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;

/**
 * Loads {@link LibC} once per class loader, and what goes with it: errno, native memory, direct
 * buffers over mapped memory. The BPF library reaches libc through its own replaceable
 * chokepoint, which takes this instance; the client and the backends use it directly.
 */
public final class Linux {

    private static final Object LOCK = new Object();
    private static volatile LibC libc;
    private static volatile Runtime runtime;

    private Linux() {
    }

    /** The libc binding, loaded on first use. */
    public static LibC libc() {
        LibC c = libc;
        if (c != null) {
            return c;
        }
        synchronized (LOCK) {
            if (libc == null) {
                LibC loaded = LibraryLoader.create(LibC.class).failImmediately().load("c");
                runtime = Runtime.getRuntime(loaded);
                libc = loaded;
            }
            return libc;
        }
    }

    /** The jnr-ffi runtime {@link #libc()} runs in. */
    public static Runtime runtime() {
        libc();
        return runtime;
    }

    /** errno saved by the last native call on this thread. */
    public static int errno() {
        return LastError.getLastError(runtime());
    }

    /** strerror(3) of {@code errno}. */
    public static String strerror(int errno) {
        return libc().strerror(errno);
    }

    /** "CALL: MESSAGE (errno N)", for an exception naming a failed call. */
    public static String describe(String call, int errno) {
        return call + ": " + strerror(errno) + " (errno " + errno + ")";
    }

    /** Zeroed native memory of {@code size} bytes, freed when unreachable. */
    public static Pointer allocate(int size) {
        Pointer p = Memory.allocateDirect(runtime(), size, true);
        p.setMemory(0, size, (byte) 0);
        return p;
    }

    /** A NUL-terminated UTF-8 copy of {@code s} in native memory. */
    public static Pointer cString(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        Pointer p = allocate(b.length + 1);
        p.put(0, b, 0, b.length);
        return p;
    }

    /**
     * A direct buffer over {@code length} bytes at {@code address} (mmap'ed memory), through jffi's
     * JNI {@code NewDirectByteBuffer}: VarHandles on it give atomics and memory ordering. The
     * buffer does not own the memory: the caller unmaps it, and must not touch the buffer after.
     */
    public static ByteBuffer buffer(long address, int length) {
        return MemoryIO.getInstance().newDirectByteBuffer(address, length);
    }

    /** Whether an mmap result is MAP_FAILED (or NULL). */
    public static boolean mapFailed(Pointer p) {
        return p == null || p.address() == -1L || p.address() == 0;
    }
}
