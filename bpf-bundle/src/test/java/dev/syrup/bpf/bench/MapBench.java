package dev.syrup.bpf.bench;

import dev.syrup.bpf.BpfMap;
import dev.syrup.bpf.MapType;
import dev.syrup.bpf.MappedArray;
import dev.syrup.bpf.internal.Native;
import java.util.OptionalLong;
import java.util.concurrent.TimeUnit;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * u32 → u64 map access through {@code dev.syrup.bpf}: the bpf() syscall path ({@link BpfMap}) and
 * the mmap path ({@link MappedArray}). Not a test: run by {@code bench/maps.sh} with JMH; bench/c/mapbench.c
 * does the same operations in C (same map shapes, same key sequence) as the baseline.
 *
 * <p>The {@code raw*} benchmarks are diagnostics, not the library's API: the same libbpf call with
 * preallocated {@code byte[]} (what jnr-ffi costs without the library's per-call work) and with
 * native memory ({@link Pointer}, what the call costs without jnr-ffi's array copies).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
public class MapBench {

    static final int ENTRIES = 1024; // power of two: key = i & (ENTRIES - 1), as in mapbench.c

    /** libbpf's lookup/update with native-memory arguments (diagnostic binding, no array copies). */
    public interface RawBpf {
        int bpf_map_lookup_elem(int fd, Pointer key, Pointer value);

        int bpf_map_update_elem(int fd, Pointer key, Pointer value, long flags);
    }

    BpfMap array;
    BpfMap hash;
    MappedArray mapped;
    int i;
    long value;

    // diagnostics
    int arrayFd;
    byte[] keyBytes = new byte[4];
    byte[] valueBytes = new byte[8];
    RawBpf raw;
    Pointer keyPtr;
    Pointer valuePtr;

    @Setup(Level.Trial)
    public void setUp() {
        array = BpfMap.create(MapType.ARRAY, "bench_array", 4, 8, ENTRIES, BpfMap.BPF_F_MMAPABLE);
        hash = BpfMap.create(MapType.HASH, "bench_hash", 4, 8, ENTRIES, 0);
        for (int k = 0; k < ENTRIES; k++) {
            hash.update(k, k); // every key present: lookups hit, updates replace
        }
        mapped = MappedArray.map(array);
        arrayFd = array.fd();
        raw = LibraryLoader.create(RawBpf.class).failImmediately().load("bpf");
        keyPtr = Memory.allocateDirect(Native.get().runtime(), 4, true);
        valuePtr = Memory.allocateDirect(Native.get().runtime(), 8, true);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        mapped.close();
        array.close();
        hash.close();
    }

    private int next() {
        return i = (i + 1) & (ENTRIES - 1);
    }

    // --- syscall path (BpfMap) -----------------------------------------------------------------

    @Benchmark
    public OptionalLong arrayLookup() {
        return array.lookup(next());
    }

    @Benchmark
    public void arrayUpdate() {
        array.update(next(), ++value);
    }

    @Benchmark
    public OptionalLong hashLookup() {
        return hash.lookup(next());
    }

    @Benchmark
    public void hashUpdate() {
        hash.update(next(), ++value);
    }

    // --- batches (BPF_MAP_*_BATCH): the whole map per invocation, BpfMap.BATCH per call; ns per element

    long sum;
    final int[] batchKeys = new int[ENTRIES];
    final long[] batchValues = new long[ENTRIES];

    @Benchmark
    @OperationsPerInvocation(ENTRIES)
    public long hashLookupBatch() {
        hash.forEachLong(BpfMap.BATCH, (k, v) -> sum += k + v);
        return sum;
    }

    @Benchmark
    @OperationsPerInvocation(ENTRIES)
    public long arrayLookupBatch() {
        array.forEachLong(BpfMap.BATCH, (k, v) -> sum += k + v);
        return sum;
    }

    @Benchmark
    @OperationsPerInvocation(ENTRIES)
    public void hashUpdateBatch() {
        fillBatch();
        hash.updateBatch(batchKeys, batchValues);
    }

    @Benchmark
    @OperationsPerInvocation(ENTRIES)
    public void arrayUpdateBatch() {
        fillBatch();
        array.updateBatch(batchKeys, batchValues);
    }

    private void fillBatch() {
        for (int k = 0; k < ENTRIES; k++) {
            batchKeys[k] = k;
            batchValues[k]++;
        }
    }

    // --- mmap path (MappedArray) ---------------------------------------------------------------

    @Benchmark
    public long mmapGetLong() {
        return mapped.getLong(next());
    }

    @Benchmark
    public long mmapAddAndGet() {
        return mapped.addAndGet(next(), 1);
    }

    // --- diagnostics: where the syscall path's time goes ----------------------------------------

    /** libbpf lookup through the library's own jnr-ffi binding, arrays preallocated (no BpfMap work). */
    @Benchmark
    public int rawArrayLookupBytes() {
        int k = next();
        keyBytes[0] = (byte) k;
        keyBytes[1] = (byte) (k >>> 8);
        return Native.get().bpf().bpf_map_lookup_elem(arrayFd, keyBytes, valueBytes);
    }

    /** libbpf lookup with native memory arguments: the floor for a jnr-ffi call. */
    @Benchmark
    public int rawArrayLookupPointer() {
        keyPtr.putInt(0, next());
        return raw.bpf_map_lookup_elem(arrayFd, keyPtr, valuePtr);
    }

    /** libbpf update with native memory arguments. */
    @Benchmark
    public int rawArrayUpdatePointer() {
        keyPtr.putInt(0, next());
        valuePtr.putLong(0, ++value);
        return raw.bpf_map_update_elem(arrayFd, keyPtr, valuePtr, BpfMap.BPF_ANY);
    }
}
