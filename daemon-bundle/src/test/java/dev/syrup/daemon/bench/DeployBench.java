package dev.syrup.daemon.bench;

import dev.syrup.api.DeployRequest;
import dev.syrup.api.Deployment;
import dev.syrup.api.Protocol;
import dev.syrup.api.Target;
import dev.syrup.backend.ebpf.SocketSelectHook;
import dev.syrup.daemon.DaemonConfig;
import dev.syrup.daemon.DeploymentManager;
import dev.syrup.hook.spi.Hook;
import dev.syrup.isolation.PortDispatcher;
import java.lang.reflect.Method;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.channels.DatagramChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;

/**
 * Deploy latency of syrupd (DeploymentManager with socket_select behind the port dispatcher, in
 * process, the real kernel): a first compile (a policy clang has not compiled before) and a cached
 * policy, then, with 0, 100 and 1000 deployments live, a cached deploy + undeploy on one more port
 * and the time to list the deployments and to read one's counters: how the cost grows with the
 * deployments (the dispatcher's slots, syrupd's lists, the /proc scan that adopts a port's sockets).
 *
 * <p>{@code java ... DeployBench OUT_DIR SAMPLES FIRST_SAMPLES LIVE...} writes {@code deploy.csv}
 * (case,live,sample,ms) and {@code summary.md}. Not a test: run through {@code bench/deploy.sh}.
 */
public final class DeployBench {

    static final double GOAL_CACHED_MS = 20, GOAL_FIRST_MS = 1500;

    private DeployBench() {
    }

    record Summary(String what, int live, double p50, double p99, double max) {
    }

    public static void main(String[] args) throws Exception {
        java.util.logging.Logger root = java.util.logging.Logger.getLogger("");
        root.setLevel(java.util.logging.Level.WARNING); // not one line per deployment
        for (var h : root.getHandlers()) {
            h.setLevel(java.util.logging.Level.WARNING);
        }
        Path out = Path.of(args[0]);
        int samples = Integer.parseInt(args[1]);
        int firstSamples = Integer.parseInt(args[2]);
        List<Integer> lives = new ArrayList<>();
        for (int i = 3; i < args.length; i++) {
            lives.add(Integer.parseInt(args[i]));
        }
        Path bpffs = Path.of("/sys/fs/bpf/syrup-bench-" + UUID.randomUUID().toString().substring(0, 8));
        Path work = Files.createTempDirectory("syrup-deploy-bench-");
        DeploymentManager syrupd = new DeploymentManager(DaemonConfig.of(work.toString(), bpffs.toString()));
        PortDispatcher dispatcher = new PortDispatcher();
        Method add = DeploymentManager.class.getDeclaredMethod("addHook", Hook.class);
        add.setAccessible(true);
        add.invoke(syrupd, new SocketSelectHook(dispatcher));
        List<DatagramChannel> sockets = new ArrayList<>();
        List<String> live = new ArrayList<>();
        StringBuilder csv = new StringBuilder("case,live,sample,ms\n");
        List<Summary> rows = new ArrayList<>();
        List<String> limits = new ArrayList<>();
        try {
            // A first compile: a salt no object in the cache has.
            double[] first = new double[firstSamples];
            for (int i = 0; i < firstSamples; i++) {
                int port = port(sockets);
                long t0 = System.nanoTime();
                Deployment d = syrupd.deploy(new DeployRequest("round_robin", "socket_select", Target.port(Protocol.UDP, port),
                        Map.of("SALT", Long.toString(System.nanoTime())), false, DeployRequest.ADMIN));
                first[i] = (System.nanoTime() - t0) / 1e6;
                syrupd.undeploy(d.id());
                csv.append(String.format(Locale.ROOT, "first_compile,0,%d,%.3f%n", i, first[i]));
            }
            rows.add(summary("deploy, first compile", 0, first));
            syrupd.deploy(new DeployRequest("round_robin", "socket_select", Target.port(Protocol.UDP, port(sockets)), Map.of(),
                    false, DeployRequest.ADMIN)); // compiles round_robin once: the rest is cached
            syrupd.list().forEach(d -> live.add(d.id()));
            for (int wanted : lives) {
                while (live.size() < wanted) {
                    try {
                        live.add(syrupd.deploy(new DeployRequest("round_robin", "socket_select", Target.port(Protocol.UDP,
                                port(sockets)), Map.of(), false, DeployRequest.ADMIN)).id());
                    } catch (dev.syrup.api.SyrupException e) {
                        // A limit (the dispatcher's slots): measured where it stops, one below for the extra deploy.
                        syrupd.undeploy(live.remove(live.size() - 1));
                        limits.add(wanted + " deployments live: not reached, " + e.getMessage() + "; measured with "
                                + live.size() + " live");
                        break;
                    }
                }
                int target = Math.min(wanted, live.size());
                while (live.size() > target) {
                    syrupd.undeploy(live.remove(live.size() - 1));
                }
                int extra = port(sockets);
                double[] dep = new double[samples];
                double[] undep = new double[samples];
                double[] list = new double[samples];
                double[] stats = new double[samples];
                for (int i = 0; i < samples; i++) {
                    long t0 = System.nanoTime();
                    Deployment d = syrupd.deploy(new DeployRequest("round_robin", "socket_select", Target.port(Protocol.UDP, extra),
                            Map.of(), false, DeployRequest.ADMIN));
                    long t1 = System.nanoTime();
                    List<Deployment> all = syrupd.list();
                    long t2 = System.nanoTime();
                    syrupd.stats(d.id());
                    long t3 = System.nanoTime();
                    syrupd.undeploy(d.id());
                    long t4 = System.nanoTime();
                    if (all.size() != target + 1) {
                        throw new IllegalStateException("expected " + (target + 1) + " deployments, listed " + all.size());
                    }
                    dep[i] = (t1 - t0) / 1e6;
                    list[i] = (t2 - t1) / 1e6;
                    stats[i] = (t3 - t2) / 1e6;
                    undep[i] = (t4 - t3) / 1e6;
                    csv.append(String.format(Locale.ROOT, "deploy_cached,%d,%d,%.3f%ndeploy_list,%d,%d,%.3f%n"
                            + "deploy_stats,%d,%d,%.3f%nundeploy,%d,%d,%.3f%n", target, i, dep[i], target, i, list[i], target, i,
                            stats[i], target, i, undep[i]));
                }
                rows.add(summary("deploy, cached policy", target, dep));
                rows.add(summary("undeploy", target, undep));
                rows.add(summary("list", target, list));
                rows.add(summary("stats of one", target, stats));
                System.err.printf(Locale.ROOT, "bench deploy: %d live: deploy p50 %.2f ms p99 %.2f ms, list p50 %.3f ms%n",
                        target, rows.get(rows.size() - 4).p50(), rows.get(rows.size() - 4).p99(), rows.get(rows.size() - 2).p50());
            }
        } finally {
            for (String id : live) {
                try {
                    syrupd.undeploy(id);
                } catch (Exception e) {
                    // best effort
                }
            }
            Method deactivate = DeploymentManager.class.getDeclaredMethod("deactivate");
            deactivate.setAccessible(true);
            deactivate.invoke(syrupd);
            dispatcher.close();
            for (DatagramChannel ch : sockets) {
                ch.close();
            }
            Files.deleteIfExists(bpffs);
        }
        Files.writeString(out.resolve("deploy.csv"), csv);
        StringBuilder t = new StringBuilder("| what | deployments live | p50 (ms) | p99 (ms) | max (ms) | goal |\n|---|---:|---:|---:|---:|---|\n");
        for (Summary s : rows) {
            String goal = s.what().startsWith("deploy, cached") ? (s.p99() <= GOAL_CACHED_MS ? "≤ 20 ms: yes" : "≤ 20 ms: **no**")
                    : s.what().startsWith("deploy, first") ? (s.p99() <= GOAL_FIRST_MS ? "≤ 1.5 s: yes" : "≤ 1.5 s: **no**") : "";
            t.append(String.format(Locale.ROOT, "| %s | %d | %.2f | %.2f | %.2f | %s |%n", s.what(), s.live(), s.p50(), s.p99(),
                    s.max(), goal));
        }
        String machine = Files.exists(out.resolve("machine.txt")) ? Files.readString(out.resolve("machine.txt")) : "";
        String md = "# Deploy latency\n\nGenerated " + Instant.now() + ". syrupd in process (DeploymentManager, socket_select behind\n"
                + "the port dispatcher) on the real kernel. *First compile*: round_robin with a `-D SALT` no cached object has\n"
                + "(clang runs), " + "then undeployed. *Cached*: round_robin deployed on one more port (its own UDP socket) while N\n"
                + "other deployments are live, then `list`, one `stats` read and the undeploy, " + samples + " times per N.\n"
                + "A deploy includes adopting the port's sockets (a /proc scan), claiming a dispatcher slot, the load\n"
                + "(verifier), pinning, and recording the deployment on disk.\n\n" + t
                + (limits.isEmpty() ? "" : "\n" + String.join("\n", limits.stream().map(l -> "- " + l).toList()) + "\n") + "\n```\n" + machine + "```\n\nRaw samples: `deploy.csv`.\n";
        Files.writeString(out.resolve("summary.md"), md);
        System.out.print(md);
    }

    /** A new UDP socket on a free port (its own SO_REUSEPORT group); returns the port. */
    private static int port(List<DatagramChannel> sockets) throws Exception {
        DatagramChannel ch = DatagramChannel.open();
        ch.setOption(StandardSocketOptions.SO_REUSEPORT, true);
        ch.bind(new InetSocketAddress("127.0.0.1", 0));
        sockets.add(ch);
        return ((InetSocketAddress) ch.getLocalAddress()).getPort();
    }

    static Summary summary(String what, int live, double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return new Summary(what, live, pct(s, 0.50), pct(s, 0.99), s[s.length - 1]);
    }

    private static double pct(double[] sorted, double p) {
        int i = (int) Math.ceil(p * sorted.length) - 1;
        return sorted[Math.max(0, Math.min(sorted.length - 1, i))];
    }
}
