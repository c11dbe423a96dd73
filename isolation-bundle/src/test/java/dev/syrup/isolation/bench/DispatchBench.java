package dev.syrup.isolation.bench;

import dev.syrup.bpf.BpfMap;
import dev.syrup.bpf.BpfObject;
import dev.syrup.bpf.BpfProgram;
import dev.syrup.bpf.Xdp;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * What the root XDP dispatcher ({@code xdp_dispatch.bpf.o}: Ethernet/IPv4/UDP parse, one ARRAY
 * lookup of (protocol, port), one tail call) adds in front of a policy, measured with
 * BPF_PROG_TEST_RUN. Each policy is compiled into an XDP shim ({@code schedule()} inlined,
 * {@code pkt_start} at the L4 header, a run counter, XDP_TX as its verdict) and test-run
 * directly and through the dispatcher, its fd in a slot and (UDP, port) mapped to that slot.
 * XDP_TX from the root and the shim's counter show that every dispatched run reached the policy.
 *
 * <p>{@code java ... DispatchBench OUT_DIR INCLUDE_DIR REPEAT ROUNDS POLICY.c...} writes
 * {@code OUT_DIR/dispatch.csv} and {@code OUT_DIR/summary.md}. Not a test: run through
 * {@code bench/dispatch.sh}.
 */
public final class DispatchBench {

    /** Goal: the dispatcher adds at most this much per packet. */
    static final double GOAL_NS = 20.0;
    static final int PORT = 9000, SLOT = 7, UDP = 17;

    private DispatchBench() {}

    static String shim(String policyInclude) {
        return """
                /* Benchmark shim: policy as an XDP program, counting its runs. */
                #include "syrup.h"

                static __always_inline uint32_t schedule(void *pkt_start, void *pkt_end);

                #include "%s"

                struct {
                	__uint(type, BPF_MAP_TYPE_ARRAY);
                	__uint(max_entries, 1);
                	__type(key, __u32);
                	__type(value, __u64);
                } bench_runs SEC(".maps");

                SEC("xdp")
                int syr_bench(struct xdp_md *ctx)
                {
                	void *data = (void *)(long)ctx->data;
                	void *end = (void *)(long)ctx->data_end;
                	void *l4 = data + sizeof(struct ethhdr) + sizeof(struct iphdr);
                	__u32 zero = 0;
                	__u64 *runs;

                	if (l4 > end)
                		return XDP_ABORTED;
                	__u32 idx = schedule(l4, end);
                	runs = bpf_map_lookup_elem(&bench_runs, &zero);
                	if (runs)
                		*runs += 1;
                	return idx == SYR_DROP ? XDP_DROP : XDP_TX;
                }

                char _license[] SEC("license") = "GPL";
                """.formatted(policyInclude);
    }

    /** Ethernet + IPv4 + UDP to port {@link #PORT} + a GET request (type 0, user 7). */
    static byte[] packet() {
        byte[] p = new byte[14 + 20 + 8 + 16];
        p[12] = 0x08; // ETH_P_IP
        p[14] = 0x45; // IPv4, ihl 5
        p[17] = (byte) (p.length - 14);
        p[22] = 64; p[23] = UDP;
        p[26] = 127; p[29] = 1; p[30] = 127; p[33] = 1;
        p[34] = (byte) 0xc3; p[35] = 0x50; // src port 50000
        p[36] = (byte) (PORT >> 8); p[37] = (byte) PORT;
        p[39] = 24; // UDP length
        p[46] = 7;
        return p;
    }

    static Path compile(Path dir, Path include, Path policy) throws IOException, InterruptedException {
        String tag = policy.getFileName().toString().replace(".c", "");
        Path src = dir.resolve(tag + "-xdp.c");
        Path obj = dir.resolve(tag + "-xdp.o");
        Files.writeString(src, shim(policy.toAbsolutePath().toString()));
        String arch = System.getProperty("os.arch").equals("aarch64") ? "aarch64" : "x86_64";
        List<String> cmd = new ArrayList<>(List.of("clang", "-O2", "-g", "-target", "bpf", "-mcpu=v3", "-Wall",
                "-Wno-unused-function", "-Wno-unused-variable", "-I" + include, "-I/usr/include/" + arch + "-linux-gnu",
                "-DNUM_EXECUTORS=4", "-c", src.toString(), "-o", obj.toString()));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        if (p.waitFor() != 0) {
            throw new IOException("clang failed for " + src + ":\n" + out);
        }
        return obj;
    }

    static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 5) {
            System.err.println("usage: DispatchBench OUT_DIR INCLUDE_DIR REPEAT ROUNDS POLICY.c...");
            System.exit(2);
        }
        Path out = Path.of(args[0]);
        Path include = Path.of(args[1]);
        int repeat = Integer.parseInt(args[2]);
        int rounds = Integer.parseInt(args[3]);
        Path shims = Files.createDirectories(out.resolve("shims"));
        Path rootElf = shims.resolve("xdp_dispatch.bpf.o");
        try (InputStream in = DispatchBench.class.getResourceAsStream("/dev/syrup/isolation/xdp_dispatch.bpf.o")) {
            if (in == null) {
                throw new IllegalStateException("xdp_dispatch.bpf.o is not on the class path");
            }
            Files.copy(in, rootElf);
        }
        byte[] pkt = packet();
        byte[] key = ByteBuffer.allocate(4).order(ByteOrder.nativeOrder()).putInt(PORT).array(); // UDP: index = port
        byte[] slot = ByteBuffer.allocate(4).order(ByteOrder.nativeOrder()).putInt(SLOT + 1).array(); // slot + 1
        StringBuilder csv = new StringBuilder("policy,variant,round,ns_per_run\n");
        StringBuilder table = new StringBuilder("| policy | direct (ns/run) | through the dispatcher (ns/run) | added, median (ns) | added, mean | ratio | goal ≤ ")
                .append((int) GOAL_NS).append(" ns |\n|---|---:|---:|---:|---:|---:|:---:|\n");
        // Breakdown, policy-independent: the root alone on an unclaimed port (parse + a 0 entry) and
        // on a claimed port whose slot is empty (parse + an entry + a tail call that falls through).
        byte[] other = packet();
        other[37] = (byte) (PORT + 1);
        double[] miss = new double[rounds], empty = new double[rounds];
        try (BpfObject bare = BpfObject.open(rootElf)) {
            bare.load();
            BpfProgram disp = bare.program("syrup_xdp_disp");
            bare.map("syrup_ports").update(key, slot, BpfMap.BPF_ANY);
            Xdp.testRun(disp, pkt, repeat / 10 + 1);
            for (int r = 0; r < rounds; r++) {
                Xdp.TestRun tm = Xdp.testRun(disp, other, repeat);
                Xdp.TestRun te = Xdp.testRun(disp, pkt, repeat);
                if (tm.retval() != Xdp.XDP_PASS || te.retval() != Xdp.XDP_PASS) {
                    throw new IllegalStateException("the bare root returned " + tm.retval() + "/" + te.retval());
                }
                miss[r] = tm.durationNs();
                empty[r] = te.durationNs();
                csv.append("-,root-unclaimed-port,").append(r).append(',').append(tm.durationNs()).append('\n');
                csv.append("-,root-empty-slot,").append(r).append(',').append(te.durationNs()).append('\n');
            }
        }
        String breakdown = String.format(Locale.ROOT, """
                Breakdown (the root program alone, same packet, medians): unclaimed port (parse + `syrup_ports`
                miss, XDP_PASS) %.0f ns/run; claimed port with an empty slot (parse + hit + a tail call that
                falls through, XDP_PASS) %.0f ns/run. Compare with the constant policy run directly (the
                test-run loop's own cost plus a trivial program) in the table.
                """, median(miss), median(empty));
        System.err.printf(Locale.ROOT, "bench dispatch: root alone: unclaimed port %.0f ns, empty slot %.0f ns%n",
                median(miss), median(empty));
        boolean allMet = true;
        for (int a = 4; a < args.length; a++) {
            Path policy = Path.of(args[a]);
            String name = policy.getFileName().toString().replace(".c", "");
            try (BpfObject pol = BpfObject.open(compile(shims, include, policy));
                 BpfObject root = BpfObject.open(rootElf)) {
                pol.load();
                root.load();
                BpfProgram direct = pol.program("syr_bench");
                BpfProgram disp = root.program("syrup_xdp_disp");
                BpfMap ports = root.map("syrup_ports");
                BpfMap slots = root.map("syrup_slots");
                BpfMap runs = pol.map("bench_runs");
                // Unclaimed port: the root passes without a tail call.
                int unclaimed = Xdp.testRun(disp, pkt, 1).retval();
                if (unclaimed != Xdp.XDP_PASS) {
                    throw new IllegalStateException("root without a claim returned " + unclaimed);
                }
                ports.update(key, slot, BpfMap.BPF_ANY);
                slots.updateInt(SLOT, direct.fd());
                int warm = repeat / 10 + 1;
                Xdp.TestRun w0 = Xdp.testRun(direct, pkt, warm);
                long before = runs.lookup(0).orElse(-1);
                Xdp.TestRun w1 = Xdp.testRun(disp, pkt, warm);
                long after = runs.lookup(0).orElse(-1);
                if (w0.retval() != Xdp.XDP_TX || w1.retval() != Xdp.XDP_TX || after - before != warm) {
                    throw new IllegalStateException(name + ": direct " + w0.retval() + ", dispatched " + w1.retval()
                            + ", policy runs through the root " + (after - before) + " of " + warm + " (no tail call?)");
                }
                double[] ns0 = new double[rounds], ns1 = new double[rounds], diff = new double[rounds];
                for (int r = 0; r < rounds; r++) {
                    Xdp.TestRun t0, t1;
                    if (r % 2 == 0) {
                        t0 = Xdp.testRun(direct, pkt, repeat);
                        t1 = Xdp.testRun(disp, pkt, repeat);
                    } else {
                        t1 = Xdp.testRun(disp, pkt, repeat);
                        t0 = Xdp.testRun(direct, pkt, repeat);
                    }
                    if (t1.retval() != Xdp.XDP_TX) {
                        throw new IllegalStateException(name + ": the root returned " + t1.retval() + ", not the policy's XDP_TX");
                    }
                    ns0[r] = t0.durationNs();
                    ns1[r] = t1.durationNs();
                    diff[r] = ns1[r] - ns0[r];
                    csv.append(name).append(",direct,").append(r).append(',').append(t0.durationNs()).append('\n');
                    csv.append(name).append(",dispatched,").append(r).append(',').append(t1.durationNs()).append('\n');
                }
                long total = runs.lookup(0).orElse(-1);
                long expected = 2L * warm + 2L * rounds * repeat;
                if (total != expected) {
                    throw new IllegalStateException(name + ": the policy ran " + total + " times, not " + expected);
                }
                double m0 = median(ns0), m1 = median(ns1), added = median(diff);
                double mean = Arrays.stream(diff).average().orElse(Double.NaN);
                boolean met = added <= GOAL_NS;
                allMet &= met;
                table.append(String.format(Locale.ROOT, "| %s | %.0f | %.0f | %.1f | %.2f | %.2f | %s |%n", name, m0, m1,
                        added, mean, m0 > 0 ? m1 / m0 : Double.NaN, met ? "yes" : "**no**"));
                System.err.printf(Locale.ROOT, "bench dispatch: %-12s direct %.0f ns, dispatched %.0f ns, added %.1f ns%n",
                        name, m0, m1, added);
            }
        }
        Files.writeString(out.resolve("dispatch.csv"), csv);
        String machine = Files.exists(out.resolve("machine.txt")) ? Files.readString(out.resolve("machine.txt")) : "";
        String md = "# Root XDP dispatcher: cost per packet\n\n"
                + "Generated " + Instant.now() + ". Each policy is compiled into an XDP shim (`schedule()` inlined,\n"
                + "`pkt_start` at the L4 header, one ARRAY counter increment, XDP_TX as its verdict) and run with\n"
                + "BPF_PROG_TEST_RUN on an Ethernet/IPv4/UDP packet to port " + PORT + ": directly, and through the root\n"
                + "dispatcher `xdp_dispatch.bpf.o` (`syrup_xdp_disp`: parse, `syrup_ports` ARRAY lookup of (UDP, " + PORT + ")\n"
                + "-> slot " + SLOT + ", tail call through `syrup_slots`). " + repeat + " runs per sample, " + rounds + " samples\n"
                + "per variant, alternating; medians; \"added\" is the median (and mean) of the per-round\n"
                + "differences (the kernel reports whole ns per run). The tail call is checked: the root returns\n"
                + "the policy's XDP_TX (XDP_PASS without it), and the policy's counter holds exactly one run per\n"
                + "run of either variant.\n\n"
                + table + "\n" + breakdown + "\n"
                + (allMet ? "Goal met for every policy: the dispatcher adds at most " + (int) GOAL_NS + " ns per packet.\n"
                        : "Goal NOT met for every policy (see the table).\n")
                + "\n```\n" + machine + "```\n\nRaw samples: `dispatch.csv`; shims: `shims/`.\n";
        Files.writeString(out.resolve("summary.md"), md);
        System.out.print(md);
    }
}
