package dev.syrup.bpf;

import dev.syrup.bpf.internal.Native;
import jnr.ffi.Pointer;

/** XDP attach/detach by interface index, and BPF_PROG_TEST_RUN for XDP (and other test-runnable) programs. */
public final class Xdp {

    /** bpf_xdp_attach flags (linux/if_link.h). */
    public static final int XDP_FLAGS_UPDATE_IF_NOEXIST = 1, XDP_FLAGS_SKB_MODE = 1 << 1,
            XDP_FLAGS_DRV_MODE = 1 << 2, XDP_FLAGS_HW_MODE = 1 << 3, XDP_FLAGS_REPLACE = 1 << 4;

    /** XDP return codes. */
    public static final int XDP_ABORTED = 0, XDP_DROP = 1, XDP_PASS = 2, XDP_TX = 3, XDP_REDIRECT = 4;

    private Xdp() {}

    /** if_nametoindex; throws BpfException (ENODEV) when there is no such interface. */
    public static int ifindex(String interfaceName) {
        Native n = Native.get();
        int idx = n.libc().if_nametoindex(interfaceName);
        if (idx == 0) {
            int e = n.errno();
            throw new BpfException("if_nametoindex(" + interfaceName + ")", e == 0 ? Errno.ENODEV : e);
        }
        return idx;
    }

    /** bpf_xdp_attach(ifindex, prog, flags, NULL); flags choose the mode (SKB/DRV/HW). */
    public static void attach(int ifindex, BpfProgram program, int flags) {
        Native.checkBpf("bpf_xdp_attach(ifindex " + ifindex + ", " + program.name() + ")",
                Native.get().bpf().bpf_xdp_attach(ifindex, program.fd(), flags, null));
    }

    /** bpf_xdp_detach(ifindex, flags, NULL); use the same mode flags as the attach. */
    public static void detach(int ifindex, int flags) {
        Native.checkBpf("bpf_xdp_detach(ifindex " + ifindex + ")",
                Native.get().bpf().bpf_xdp_detach(ifindex, flags, null));
    }

    /**
     * bpf_xdp_query_id: the id of the program attached in the mode given by {@code flags}
     * ({@link #XDP_FLAGS_SKB_MODE}, {@link #XDP_FLAGS_DRV_MODE}, {@link #XDP_FLAGS_HW_MODE}; 0 for
     * the only one attached), empty when none.
     */
    public static java.util.OptionalInt attachedProgramId(int ifindex, int flags) {
        int[] id = new int[1];
        Native.checkBpf("bpf_xdp_query_id(ifindex " + ifindex + ")",
                Native.get().bpf().bpf_xdp_query_id(ifindex, flags, id));
        return id[0] == 0 ? java.util.OptionalInt.empty() : java.util.OptionalInt.of(id[0]);
    }

    /**
     * Result of BPF_PROG_TEST_RUN.
     *
     * @param retval the program's return value of the last run (e.g. {@link #XDP_PASS})
     * @param durationNs the kernel's average duration per repetition, in ns
     * @param dataOut the packet after the program ran (possibly modified)
     */
    public record TestRun(int retval, long durationNs, byte[] dataOut) {}

    /**
     * bpf_prog_test_run_opts with {@code data} as the packet, run {@code repeat} times (0 means 1).
     * XDP needs at least 14 bytes (an Ethernet header). sk_reuseport programs cannot be
     * test-run (ENOTSUPP, 524).
     */
    public static TestRun testRun(BpfProgram program, byte[] data, int repeat) {
        Native n = Native.get();
        // struct bpf_test_run_opts (libbpf 1.1 bpf.h): sz@0, data_in@8, data_out@16, data_size_in@24,
        // data_size_out@28, ctx_in@32, ctx_out@40, ctx_size_in@48, ctx_size_out@52, retval@56,
        // repeat@60, duration@64, flags@68, cpu@72, batch_size@76; sizeof 80.
        Pointer opts = n.allocate(80);
        int outSize = data.length + 256; // XDP may grow the packet at the head/tail
        Pointer in = n.allocate(Math.max(1, data.length));
        in.put(0, data, 0, data.length);
        Pointer out = n.allocate(outSize);
        opts.putLong(0, 80);
        opts.putAddress(8, in.address());
        opts.putAddress(16, out.address());
        opts.putInt(24, data.length);
        opts.putInt(28, outSize);
        opts.putInt(60, repeat);
        Native.checkBpf("bpf_prog_test_run_opts(" + program.name() + ")",
                n.bpf().bpf_prog_test_run_opts(program.fd(), opts));
        int outLen = Math.min(opts.getInt(28), outSize);
        byte[] result = new byte[outLen];
        out.get(0, result, 0, outLen);
        return new TestRun(opts.getInt(56), Integer.toUnsignedLong(opts.getInt(64)), result);
    }
}
