package dev.syrup.backend.ebpf;

import dev.syrup.bpf.BpfObject;
import dev.syrup.bpf.BpfProgram;
import dev.syrup.bpf.Xdp;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import dev.syrup.hook.kit.DecisionStats;

/**
 * Cost of the decision counters ({@link DecisionStats}) per decision, measured with
 * BPF_PROG_TEST_RUN. sk_reuseport programs cannot be test-run, so each policy is built, as the
 * socket_select glue builds it ({@code schedule()} inlined, {@code pkt_start} at the L4 header),
 * into an XDP shim twice: without and with {@code syr__count(idx)} after {@code schedule()}.
 * Both run {@code repeat} times per sample in the kernel, alternating, and the kernel's own
 * average per run is recorded.
 *
 * <p>{@code java ... StatsOverheadBench OUT_DIR INCLUDE_DIR REPEAT ROUNDS POLICY.c...} writes
 * {@code OUT_DIR/stats.csv} (policy,variant,round,ns_per_run) and {@code OUT_DIR/summary.md}.
 * Not a test: run through {@code bench/stats.sh}.
 */
public final class StatsOverheadBench {

    /** Goal: the counters cost at most this much per decision. */
    static final double GOAL_NS = 10.0;

    private StatsOverheadBench() {}

    /** The XDP shim: the policy, and with {@code counted} the socket_select glue's counters. */
    static String shim(String policyInclude, boolean counted) {
        return """
                /* Benchmark shim: policy + %s, as an XDP program (BPF_PROG_TEST_RUN). */
                #include "syrup.h"

                static __always_inline uint32_t schedule(void *pkt_start, void *pkt_end);

                #include "%s"

                %s
                SEC("xdp")
                int syr_bench(struct xdp_md *ctx)
                {
                	void *data = (void *)(long)ctx->data;
                	void *end = (void *)(long)ctx->data_end;
                	void *l4 = data + sizeof(struct ethhdr) + sizeof(struct iphdr);

                	if (l4 > end)
                		return XDP_ABORTED;
                	__u32 idx = schedule(l4, end);
                %s
                	return idx == SYR_DROP ? XDP_DROP : XDP_PASS;
                }

                char _license[] SEC("license") = "GPL";
                """.formatted(counted ? "the decision counters" : "no counters", policyInclude,
                counted ? DecisionStats.declare(SocketSelectHook.MAX_EXECUTORS) : "",
                counted ? "\tsyr__count(idx);" : "");
    }

    /** Ethernet + IPv4 + UDP + a GET request (type 0, user 7). */
    static byte[] packet() {
        byte[] p = new byte[14 + 20 + 8 + 16];
        p[12] = 0x08; // ETH_P_IP
        p[14] = 0x45; // IPv4, ihl 5
        p[16] = 0; p[17] = (byte) (p.length - 14);
        p[22] = 64; p[23] = 17; // ttl, UDP
        p[26] = 127; p[29] = 1; p[30] = 127; p[33] = 1;
        p[34] = (byte) 0xc3; p[35] = 0x50; // src port 50000
        p[36] = 0x23; p[37] = 0x28; // dst port 9000
        p[38] = 0; p[39] = 24; // UDP length
        p[46] = 7; // user_id 7, type 0 = GET
        return p;
    }

    static Path compile(Path dir, Path include, Path policy, boolean counted) throws IOException, InterruptedException {
        String tag = policy.getFileName().toString().replace(".c", "") + (counted ? "-counted" : "-plain");
        Path src = dir.resolve(tag + ".c");
        Path obj = dir.resolve(tag + ".o");
        Files.writeString(src, shim(policy.toAbsolutePath().toString(), counted));
        List<String> cmd = new ArrayList<>(List.of("clang", "-O2", "-g", "-target", "bpf", "-mcpu=v3", "-Wall",
                "-Wno-unused-function", "-Wno-unused-variable", "-I" + include));
        String arch = System.getProperty("os.arch").equals("aarch64") ? "aarch64" : "x86_64";
        cmd.add("-I/usr/include/" + arch + "-linux-gnu");
        cmd.addAll(List.of("-DNUM_EXECUTORS=4", "-c", src.toString(), "-o", obj.toString()));
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
            System.err.println("usage: StatsOverheadBench OUT_DIR INCLUDE_DIR REPEAT ROUNDS POLICY.c...");
            System.exit(2);
        }
        Path out = Path.of(args[0]);
        Path include = Path.of(args[1]);
        int repeat = Integer.parseInt(args[2]);
        int rounds = Integer.parseInt(args[3]);
        Path shims = Files.createDirectories(out.resolve("shims"));
        byte[] pkt = packet();
        StringBuilder csv = new StringBuilder("policy,variant,round,ns_per_run\n");
        StringBuilder table = new StringBuilder();
        table.append("| policy | without counters (ns/run) | with counters (ns/run) | overhead, median (ns/decision) | overhead, mean | ratio | goal ≤ ")
                .append((int) GOAL_NS).append(" ns |\n|---|---:|---:|---:|---:|---:|:---:|\n");
        boolean allMet = true;
        for (int a = 4; a < args.length; a++) {
            Path policy = Path.of(args[a]);
            String name = policy.getFileName().toString().replace(".c", "");
            try (BpfObject plain = BpfObject.open(compile(shims, include, policy, false));
                 BpfObject counted = BpfObject.open(compile(shims, include, policy, true))) {
                plain.load();
                counted.load();
                BpfProgram p0 = plain.program("syr_bench");
                BpfProgram p1 = counted.program("syr_bench");
                // Warm-up (and a check that both variants decide the same)
                Xdp.TestRun w0 = Xdp.testRun(p0, pkt, repeat / 10 + 1);
                Xdp.TestRun w1 = Xdp.testRun(p1, pkt, repeat / 10 + 1);
                if (w0.retval() != w1.retval()) {
                    throw new IllegalStateException(name + ": the variants return " + w0.retval() + " and " + w1.retval());
                }
                double[] ns0 = new double[rounds];
                double[] ns1 = new double[rounds];
                double[] diff = new double[rounds];
                for (int r = 0; r < rounds; r++) {
                    // alternate the order so drifts hit both variants alike
                    if (r % 2 == 0) {
                        ns0[r] = Xdp.testRun(p0, pkt, repeat).durationNs();
                        ns1[r] = Xdp.testRun(p1, pkt, repeat).durationNs();
                    } else {
                        ns1[r] = Xdp.testRun(p1, pkt, repeat).durationNs();
                        ns0[r] = Xdp.testRun(p0, pkt, repeat).durationNs();
                    }
                    diff[r] = ns1[r] - ns0[r];
                    csv.append(name).append(",plain,").append(r).append(',').append((long) ns0[r]).append('\n');
                    csv.append(name).append(",counted,").append(r).append(',').append((long) ns1[r]).append('\n');
                }
                // The counters must have counted every run (warm-up + rounds) of the counted variant.
                long runs = (long) (repeat / 10 + 1) + (long) rounds * repeat;
                long seen = DecisionStats.read(counted.map(DecisionStats.MAP), SocketSelectHook.MAX_EXECUTORS, 4).decisions();
                if (seen != runs) {
                    throw new IllegalStateException(name + ": the counters hold " + seen + " decisions, not " + runs);
                }
                double m0 = median(ns0);
                double m1 = median(ns1);
                double over = median(diff);
                double mean = Arrays.stream(diff).average().orElse(Double.NaN);
                boolean met = over <= GOAL_NS && mean <= GOAL_NS;
                allMet &= met;
                table.append(String.format(Locale.ROOT, "| %s | %.0f | %.0f | %.1f | %.2f | %.2f | %s |%n", name, m0, m1, over, mean,
                        m0 > 0 ? m1 / m0 : Double.NaN, met ? "yes" : "**no**"));
                System.err.printf(Locale.ROOT, "bench stats: %-12s plain %.0f ns, counted %.0f ns, overhead %.1f ns%n",
                        name, m0, m1, over);
            }
        }
        Files.writeString(out.resolve("stats.csv"), csv);
        String machine = Files.exists(out.resolve("machine.txt")) ? Files.readString(out.resolve("machine.txt")) : "";
        String md = "# Decision counters: overhead per decision\n\n"
                + "Generated " + Instant.now() + ". Each policy is compiled twice into an XDP shim the way the\n"
                + "socket_select glue compiles it (`schedule()` inlined, `pkt_start` at the L4 header of an\n"
                + "Ethernet/IPv4/UDP GET request): without and with `syr__count(idx)` (one PERCPU_ARRAY lookup\n"
                + "and add). BPF_PROG_TEST_RUN runs each " + repeat + " times per sample; the kernel reports the\n"
                + "average ns per run. " + rounds + " samples per variant, alternating; medians; the overhead is\n"
                + "the median (and mean) of the per-round differences. The kernel reports whole ns per run, so\n"
                + "a single difference has 1 ns resolution; the mean over the rounds resolves less. The ns per\n"
                + "run include the test-run loop's own cost, the same in both variants; the kernel's timer\n"
                + "leaves out time the loop was rescheduled. After the runs, the counted variant's counters\n"
                + "are checked to hold exactly one decision per run.\n\n"
                + table + "\n"
                + (allMet ? "Goal met for every policy: the counters cost at most " + (int) GOAL_NS + " ns per decision.\n"
                        : "Goal NOT met for every policy (see the table).\n")
                + "\n```\n" + machine + "```\n\nRaw samples: `stats.csv`; shims: `shims/`.\n";
        Files.writeString(out.resolve("summary.md"), md);
        System.out.print(md);
    }
}
