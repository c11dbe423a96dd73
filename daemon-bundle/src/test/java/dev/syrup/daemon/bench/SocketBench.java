package dev.syrup.daemon.bench;

import dev.syrup.api.DeployRequest;
import dev.syrup.api.Deployment;
import dev.syrup.api.Protocol;
import dev.syrup.api.Target;
import dev.syrup.backend.ebpf.SocketSelectHook;
import dev.syrup.bpf.BpfObject;
import dev.syrup.bpf.Fd;
import dev.syrup.bpf.Pidfd;
import dev.syrup.bpf.ReuseportGroup;
import dev.syrup.client.Syrup;
import dev.syrup.daemon.DaemonConfig;
import dev.syrup.daemon.DeploymentManager;
import dev.syrup.daemon.UdpGroup;
import dev.syrup.hook.spi.Hook;
import dev.syrup.isolation.PortDispatcher;
import java.io.IOException;
import java.lang.reflect.Method;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
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
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * Datagrams/s through one SO_REUSEPORT group of two UDP sockets on loopback, under three
 * selections of the same group with the same sender, alternating in one run: the kernel's default
 * (its hash), a bare C {@code sk_reuseport} round-robin program attached to the group, and Syrup's
 * round_robin deployed at socket_select (the dispatcher's root program tail-calling the policy).
 * Many flows (one source port per datagram in turn) and one flow. On loopback the sender's
 * thread runs the receive path, selection included, so the send rate carries the program's cost.
 *
 * <p>{@code java ... SocketBench OUT_DIR SECONDS ROUNDS FLOWS} writes {@code socket.csv} and
 * {@code summary.md}. Not a test: run through {@code bench/socket.sh}.
 */
public final class SocketBench {

    static final String BARE = """
            #include <linux/bpf.h>
            #include <bpf/bpf_helpers.h>
            struct {
            	__uint(type, BPF_MAP_TYPE_REUSEPORT_SOCKARRAY);
            	__uint(max_entries, 2);
            	__type(key, __u32);
            	__type(value, __u64);
            } socks SEC(".maps");
            static __u32 next;
            SEC("sk_reuseport")
            int bare_rr(struct sk_reuseport_md *md)
            {
            	__u32 idx = __sync_fetch_and_add(&next, 1) % 2;
            	bpf_sk_select_reuseport(md, &socks, &idx, 0);
            	return SK_PASS;
            }
            char _license[] SEC("license") = "GPL";
            """;

    private SocketBench() {
    }

    public static void main(String[] args) throws Exception {
        java.util.logging.Logger root = java.util.logging.Logger.getLogger("");
        root.setLevel(java.util.logging.Level.WARNING);
        for (var h : root.getHandlers()) {
            h.setLevel(java.util.logging.Level.WARNING);
        }
        Path out = Path.of(args[0]);
        double seconds = Double.parseDouble(args[1]);
        int rounds = Integer.parseInt(args[2]);
        int flows = Integer.parseInt(args[3]);
        Path bare = compileBare(out);
        Path bpffs = Path.of("/sys/fs/bpf/syrup-bench-" + UUID.randomUUID().toString().substring(0, 8));
        Path work = Files.createTempDirectory("syrup-socket-bench-");
        DeploymentManager syrupd = new DeploymentManager(DaemonConfig.of(work.toString(), bpffs.toString()));
        PortDispatcher dispatcher = new PortDispatcher();
        Method add = DeploymentManager.class.getDeclaredMethod("addHook", Hook.class);
        add.setAccessible(true);
        add.invoke(syrupd, new SocketSelectHook(dispatcher));

        List<DatagramChannel> group = new ArrayList<>();
        int port = 0;
        for (int i = 0; i < 2; i++) {
            DatagramChannel ch = DatagramChannel.open();
            ch.setOption(StandardSocketOptions.SO_REUSEPORT, true);
            ch.bind(new InetSocketAddress("127.0.0.1", port));
            port = ((InetSocketAddress) ch.getLocalAddress()).getPort();
            group.add(ch);
        }
        UdpGroup.forceReceiveBuffers(port, 32 << 20);
        AtomicLongArray received = new AtomicLongArray(2);
        AtomicBoolean stop = new AtomicBoolean();
        List<Thread> readers = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            int idx = i;
            Thread t = new Thread(() -> {
                ByteBuffer buf = ByteBuffer.allocateDirect(64);
                while (!stop.get()) {
                    try {
                        buf.clear();
                        group.get(idx).receive(buf);
                        received.incrementAndGet(idx);
                    } catch (IOException e) {
                        return;
                    }
                }
            }, "reader-" + i);
            t.setDaemon(true);
            t.start();
            readers.add(t);
        }
        List<DatagramChannel> senders = new ArrayList<>();
        for (int i = 0; i < flows; i++) {
            senders.add(DatagramChannel.open().bind(new InetSocketAddress("127.0.0.1", 0)));
        }
        InetSocketAddress to = new InetSocketAddress("127.0.0.1", port);
        StringBuilder csv = new StringBuilder("flows,variant,round,sent_per_s,received_per_s,share0\n");
        Map<String, List<double[]>> results = new java.util.TreeMap<>();
        try (Fd self = Pidfd.open(ProcessHandle.current().pid());
             Fd s0 = Pidfd.getfd(self, Syrup.fdOf(group.get(0)));
             Fd s1 = Pidfd.getfd(self, Syrup.fdOf(group.get(1)));
             BpfObject obj = BpfObject.open(bare)) {
            obj.load();
            for (int nflows : new int[] {flows, 1}) {
                List<DatagramChannel> from = senders.subList(0, nflows);
                for (int r = 0; r < rounds; r++) {
                    for (String variant : rotate(List.of("default", "bare_c", "syrup"), r)) {
                        String id = null;
                        if (variant.equals("bare_c")) {
                            // A socket sits in one sockarray at a time: the bare program's only while it runs.
                            obj.map("socks").updateFd(0, s0);
                            obj.map("socks").updateFd(1, s1);
                            ReuseportGroup.attach(s0, obj.program("bare_rr"));
                        } else if (variant.equals("syrup")) {
                            Deployment d = syrupd.deploy(new DeployRequest("round_robin", "socket_select",
                                    Target.port(Protocol.UDP, port), Map.of(), false, DeployRequest.ADMIN));
                            id = d.id();
                        }
                        Thread.sleep(100);
                        double[] m = measure(from, to, received, seconds);
                        if (variant.equals("bare_c")) {
                            ReuseportGroup.detach(s0);
                            obj.map("socks").delete(0);
                            obj.map("socks").delete(1);
                        } else if (id != null) {
                            syrupd.undeploy(id);
                        }
                        results.computeIfAbsent(nflows + "," + variant, k -> new ArrayList<>()).add(m);
                        csv.append(String.format(Locale.ROOT, "%d,%s,%d,%.0f,%.0f,%.4f%n", nflows, variant, r, m[0], m[1], m[2]));
                        System.err.printf(Locale.ROOT, "bench socket: %2d flow(s) %-8s sent %.0f/s received %.0f/s, socket 0 %.1f%%%n",
                                nflows, variant, m[0], m[1], 100 * m[2]);
                    }
                }
            }
        } finally {
            stop.set(true);
            for (DatagramChannel ch : senders) {
                ch.close();
            }
            for (DatagramChannel ch : group) {
                ch.close();
            }
            Method deactivate = DeploymentManager.class.getDeclaredMethod("deactivate");
            deactivate.setAccessible(true);
            deactivate.invoke(syrupd);
            dispatcher.close();
            Files.deleteIfExists(bpffs);
        }
        Files.writeString(out.resolve("socket.csv"), csv);
        StringBuilder t = new StringBuilder("| flows | selection | sent/s (median) | received/s (median) | socket 0 share | "
                + "sent vs default | sent vs bare C |\n|---:|---|---:|---:|---:|---:|---:|\n");
        for (int nflows : new int[] {flows, 1}) {
            double def = median(results.get(nflows + ",default"), 0);
            double c = median(results.get(nflows + ",bare_c"), 0);
            for (String v : List.of("default", "bare_c", "syrup")) {
                List<double[]> l = results.get(nflows + "," + v);
                double sent = median(l, 0);
                t.append(String.format(Locale.ROOT, "| %d | %s | %.0f | %.0f | %.1f%% | %.3f | %.3f |%n", nflows, v, sent,
                        median(l, 1), 100 * median(l, 2), sent / def, sent / c));
            }
        }
        String machine = Files.exists(out.resolve("machine.txt")) ? Files.readString(out.resolve("machine.txt")) : "";
        String md = "# socket_select: datagrams/s through one SO_REUSEPORT group\n\nGenerated " + Instant.now() + ". Two UDP "
                + "sockets on 127.0.0.1 (one SO_REUSEPORT group, 32 MiB receive buffers, a reader thread each); one sender "
                + "thread sends 16-byte datagrams as fast as it can, from " + flows + " source ports in turn (many flows) or "
                + "one, for " + seconds + " s per sample; " + rounds + " rounds, the three selections in rotating order each "
                + "round. *default*: no program (the kernel's hash); *bare_c*: a C sk_reuseport program, round robin over a "
                + "REUSEPORT_SOCKARRAY, attached to the group; *syrup*: round_robin deployed by syrupd at socket_select (the "
                + "dispatcher's root, a tail call, the policy and its decision counters). Goal: syrup ≥ 0.98× bare C, "
                + "socket 0's share 50% ± 1% for the round-robins.\n\n" + t + "\n```\n" + machine + "```\n\nRaw samples: `socket.csv`.\n";
        Files.writeString(out.resolve("summary.md"), md);
        System.out.print(md);
    }

    /** {sent/s, received/s, socket 0's share of what was received}. */
    static double[] measure(List<DatagramChannel> from, InetSocketAddress to, AtomicLongArray received, double seconds)
            throws IOException, InterruptedException {
        ByteBuffer buf = ByteBuffer.allocateDirect(16);
        long r0 = received.get(0), r1 = received.get(1);
        long sent = 0;
        long t0 = System.nanoTime();
        long end = t0 + (long) (seconds * 1e9);
        int n = from.size();
        while (true) {
            for (int i = 0; i < 256; i++) {
                buf.clear();
                buf.putLong(0, sent);
                from.get((int) (sent % n)).send(buf, to);
                sent++;
            }
            if (System.nanoTime() >= end) {
                break;
            }
        }
        double secs = (System.nanoTime() - t0) / 1e9;
        Thread.sleep(200); // the readers drain what was queued
        long a = received.get(0) - r0, b = received.get(1) - r1;
        return new double[] {sent / secs, (a + b) / secs, a + b == 0 ? 0 : (double) a / (a + b)};
    }

    static List<String> rotate(List<String> l, int by) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < l.size(); i++) {
            out.add(l.get((i + by) % l.size()));
        }
        return out;
    }

    static double median(List<double[]> samples, int col) {
        double[] v = samples.stream().mapToDouble(s -> s[col]).sorted().toArray();
        return v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
    }

    static Path compileBare(Path dir) throws IOException, InterruptedException {
        Path src = dir.resolve("bare_rr.c");
        Path obj = dir.resolve("bare_rr.o");
        Files.writeString(src, BARE);
        String arch = System.getProperty("os.arch").equals("aarch64") ? "aarch64" : "x86_64";
        Process p = new ProcessBuilder("clang", "-O2", "-g", "-target", "bpf", "-mcpu=v3", "-I/usr/include/" + arch + "-linux-gnu",
                "-c", src.toString(), "-o", obj.toString()).redirectErrorStream(true).start();
        String o = new String(p.getInputStream().readAllBytes());
        if (p.waitFor() != 0) {
            throw new IOException("clang failed for " + src + ":\n" + o);
        }
        return obj;
    }
}
