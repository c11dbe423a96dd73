package dev.syrup.bpf;

import dev.syrup.bpf.internal.Native;
import dev.syrup.linux.LibC;
import dev.syrup.linux.Linux;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.concurrent.atomic.AtomicBoolean;
import jnr.ffi.Pointer;

/**
 * The values of a {@code BPF_F_MMAPABLE} ARRAY map with 8-byte values, mapped into this process
 * (mmap of the map fd, PROT_READ|PROT_WRITE, MAP_SHARED): reads and writes are plain memory
 * accesses shared with BPF programs and other processes, no system call.
 *
 * <p>How: the mapping's address is wrapped in a direct {@link ByteBuffer} by
 * {@link Linux#buffer(long, int)} (jffi's JNI {@code NewDirectByteBuffer}, already shipped with
 * jnr-ffi), and accessed through
 * {@link MethodHandles#byteBufferViewVarHandle(Class, ByteOrder) byteBufferViewVarHandle(long[].class,
 * LITTLE_ENDIAN)}. Unlike {@code jnr.ffi.Pointer}, a VarHandle on a direct buffer offers real
 * atomic read-modify-write (lock-prefixed instructions on x86_64) and memory-ordering modes, and
 * compiles to a single load or store; the mapping is page aligned and values are 8 bytes, so
 * every access is aligned as atomics require. No JNI of our own, no {@code sun.misc.Unsafe}.
 *
 * <p>Memory ordering: {@link #getLong} is an acquire load and {@link #setLong} a release store
 * (plain MOVs on x86_64, a few ns); {@link #addAndGet} and {@link #compareAndSet} are
 * sequentially consistent, like the BPF side's {@code __sync_fetch_and_add}. {@link #getVolatile}
 * is offered for readers that need a total order with other volatile accesses.
 *
 * <p>{@link #close()} unmaps (idempotent); any access afterwards throws
 * {@link IllegalStateException} — it never touches unmapped memory. The map itself stays owned by
 * its {@link BpfMap}; the mapping keeps the map alive in the kernel until unmapped.
 */
public final class MappedArray implements AutoCloseable {

    private static final int PAGE = 4096;
    private static final VarHandle LONGS = MethodHandles.byteBufferViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);

    private final String name;
    private final Pointer mapping;
    private final long length;
    private final int size;
    private volatile ByteBuffer buffer;
    private final AtomicBoolean closed = new AtomicBoolean();

    private MappedArray(String name, Pointer mapping, long length, int size) {
        this.name = name;
        this.mapping = mapping;
        this.length = length;
        this.size = size;
        this.buffer = Linux.buffer(mapping.address(), size * 8);
    }

    /** Maps {@code map}, which must be an ARRAY created with {@link BpfMap#BPF_F_MMAPABLE} and 8-byte values. */
    public static MappedArray map(BpfMap map) {
        if (map.type() != MapType.ARRAY || (map.flags() & BpfMap.BPF_F_MMAPABLE) == 0) {
            throw new IllegalArgumentException("map '" + map.name() + "' is not a BPF_F_MMAPABLE ARRAY: " + map);
        }
        if (map.valueSize() != 8) {
            throw new IllegalArgumentException("map '" + map.name() + "' has " + map.valueSize() + "-byte values, need 8");
        }
        if ((long) map.maxEntries() * 8 > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("map '" + map.name() + "' is too large to map as one buffer");
        }
        long length = ((long) map.maxEntries() * 8 + PAGE - 1) / PAGE * PAGE;
        Native n = Native.get();
        Pointer p = n.libc().mmap(null, length, LibC.PROT_READ | LibC.PROT_WRITE, LibC.MAP_SHARED, map.fd(), 0);
        long addr = p == null ? -1 : p.address();
        n.checkLibc("mmap(map '" + map.name() + "', " + length + " bytes)", addr);
        return new MappedArray(map.name(), p, length, map.maxEntries());
    }

    /** Number of elements. */
    public int size() {
        return size;
    }

    private ByteBuffer buf() {
        ByteBuffer b = buffer;
        if (b == null) {
            throw new IllegalStateException("mapping of '" + name + "' is closed");
        }
        return b;
    }

    private static int offset(int index, int size) {
        if (index < 0 || index >= size) {
            throw new IndexOutOfBoundsException("index " + index + ", size " + size);
        }
        return index << 3;
    }

    /** Acquire load of element {@code index}. */
    public long getLong(int index) {
        return (long) LONGS.getAcquire(buf(), offset(index, size));
    }

    /** Volatile (sequentially consistent) load. */
    public long getVolatile(int index) {
        return (long) LONGS.getVolatile(buf(), offset(index, size));
    }

    /** Release store. */
    public void setLong(int index, long value) {
        LONGS.setRelease(buf(), offset(index, size), value);
    }

    /** Atomic add; returns the new value. */
    public long addAndGet(int index, long delta) {
        return (long) LONGS.getAndAdd(buf(), offset(index, size), delta) + delta;
    }

    /** Atomic compare-and-set. */
    public boolean compareAndSet(int index, long expected, long value) {
        return LONGS.compareAndSet(buf(), offset(index, size), expected, value);
    }

    /**
     * munmap. Callers must ensure no other thread is still accessing the array (an access racing
     * with close may fault); accesses after close throw IllegalStateException.
     */
    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            buffer = null;
            Native n = Native.get();
            n.checkLibc("munmap(map '" + name + "')", n.libc().munmap(mapping, length));
        }
    }

    @Override
    public String toString() {
        return "MappedArray[" + name + ", " + size + " x u64" + (closed.get() ? ", closed]" : "]");
    }
}
