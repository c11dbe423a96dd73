package dev.syrup.bpf.bench;

import dev.syrup.bpf.BpfMap;
import dev.syrup.bpf.MapType;
import dev.syrup.bpf.internal.LibBpf;
import dev.syrup.bpf.internal.Native;
import java.lang.reflect.Proxy;
import jnr.ffi.annotations.IgnoreError;
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

/**
 * Diagnostic: the CPU cost of {@link BpfMap}'s own per-call work on the syscall path, without the
 * syscall (whose µs of noise hide it in {@link MapBench}). The map is created for real; then the
 * native layer is replaced by one whose libbpf is a {@link Proxy} answering lookup/update with 0
 * and doing nothing. {@link #proxyFloor} is that proxy called directly (boxing, Object[] and
 * reflection dispatch included): {@code lookup − proxyFloor} is BpfMap's own work.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
public class BpfMapOverheadBench {

    BpfMap map;
    Native real;
    LibBpf fakeBpf;
    int i;
    long value;
    final byte[] key = new byte[4];
    final byte[] val = new byte[8];

    @Setup(Level.Trial)
    public void setUp() {
        map = BpfMap.create(MapType.ARRAY, "bench_overhead", 4, 8, MapBench.ENTRIES, 0);
        real = Native.get();
        fakeBpf = (LibBpf) Proxy.newProxyInstance(LibBpf.class.getClassLoader(), new Class<?>[] {LibBpf.class},
                (proxy, method, args) -> {
                    switch (method.getName()) {
                        case "bpf_map_lookup_elem":
                        case "bpf_map_update_elem":
                            return 0;
                        default:
                            throw new UnsupportedOperationException(method.getName());
                    }
                });
        noOp = jnr.ffi.LibraryLoader.create(NoOp.class).failImmediately().load("c");
        scratch = real.allocate(16); // kept: freed when unreachable
        keyAddr = scratch.address();
        Native.install(new Native(fakeBpf, real.libc(), real.runtime(), real::errno));
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        Native.install(real);
        map.close();
    }

    private int next() {
        return i = (i + 1) & (MapBench.ENTRIES - 1);
    }

    /** BpfMap.lookup(int) with a native call that does nothing. */
    @Benchmark
    public OptionalLong lookupNoSyscall() {
        return map.lookup(next());
    }

    /** BpfMap.update(int, long) with a native call that does nothing. */
    @Benchmark
    public void updateNoSyscall() {
        map.update(next(), ++value);
    }

    /** The do-nothing native call alone, with the address arguments lookup(int) passes. */
    @Benchmark
    public int proxyFloor() {
        key[0] = (byte) next();
        return fakeBpf.bpf_map_lookup_elem(map.fd(), keyAddr, keyAddr + 8);
    }

    /** A real native call through jnr-ffi with the same all-primitive signature, doing no work (memcmp of 0 bytes). */
    public interface NoOp {
        @IgnoreError
        int memcmp(long a, long b, long n);
    }

    NoOp noOp;
    jnr.ffi.Pointer scratch;
    long keyAddr;

    /**
     * What jnr-ffi adds to each libbpf call of the syscall path: a call as lookup(int) makes one,
     * to a C function that returns at once (its own cost in C is ~1-2 ns).
     */
    @Benchmark
    public int jnrCallFloor() {
        return noOp.memcmp(keyAddr, keyAddr + 8, next() & 0);
    }
}
