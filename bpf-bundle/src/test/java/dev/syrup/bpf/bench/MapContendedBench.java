package dev.syrup.bpf.bench;

import dev.syrup.bpf.BpfMap;
import dev.syrup.bpf.MapType;
import dev.syrup.bpf.MappedArray;
import java.util.OptionalLong;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;

/**
 * {@link MapBench}'s ARRAY lookup/update and mmap getLong/addAndGet with two threads contending:
 * both threads on the SAME map and the SAME key (0). Not a test: run by {@code bench/maps.sh};
 * bench/c/mapbench.c's {@code contended*} operations do the same with two pthreads. JMH reports
 * the mean of the threads' own ns/op.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Threads(2)
public class MapContendedBench {

    static final int KEY = 0;

    BpfMap array;
    MappedArray mapped;

    /** Each thread's own update value, as each C thread has its own. */
    @State(Scope.Thread)
    public static class Counter {
        long value;
    }

    @Setup(Level.Trial)
    public void setUp() {
        array = BpfMap.create(MapType.ARRAY, "bench_contended", 4, 8, MapBench.ENTRIES, BpfMap.BPF_F_MMAPABLE);
        mapped = MappedArray.map(array);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        mapped.close();
        array.close();
    }

    @Benchmark
    public OptionalLong contendedArrayLookup() {
        return array.lookup(KEY);
    }

    @Benchmark
    public void contendedArrayUpdate(Counter c) {
        array.update(KEY, ++c.value);
    }

    @Benchmark
    public long contendedMmapGetLong() {
        return mapped.getLong(KEY);
    }

    @Benchmark
    public long contendedMmapAddAndGet() {
        return mapped.addAndGet(KEY, 1);
    }
}
