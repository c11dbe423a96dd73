package dev.syrup.daemon.control.bench;

import dev.syrup.api.Deployer;
import dev.syrup.api.Protocol;
import dev.syrup.client.ClientMap;
import dev.syrup.client.Syrup;
import dev.syrup.daemon.DaemonConfig;
import dev.syrup.daemon.DeploymentManager;
import dev.syrup.daemon.control.ControlServer;
import dev.syrup.hook.spi.Hook;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.lang.reflect.Method;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.channels.DatagramChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.stream.Stream;

/**
 * Map operations from an unprivileged application through the Java client ({@link Syrup},
 * {@link ClientMap}). The harness (root) runs syrupd in-process (a {@link DeploymentManager} with
 * the socket_select hook behind the port dispatcher and a {@link ControlServer} on a socket under
 * a fresh /tmp directory) and starts {@link App} in a child JVM as a uid with no privileges
 * (setpriv). The app binds a UDP socket, deploys a policy with an mmap-able array Map and a HASH
 * Map, and measures: mmap'ed read and atomic add on the array (ns/op, no system call), and
 * lookup/update of the HASH Map, which the client sends through syrupd (us/op).
 *
 * <p>{@code java ... ClientMapBench OUT_DIR UID N M ROUNDS}: N fast-path ops and M socket ops per
 * sample. Writes {@code OUT_DIR/client.csv} and {@code OUT_DIR/summary.md}. Not a test: run
 * through {@code bench/client.sh}.
 */
public final class ClientMapBench {

    static final String POLICY = """
            #include "syrup.h"
            SYR_MAP(steer, 2);
            SYR_HASH_MAP(tokens, 16);
            uint32_t schedule(void *pkt_start, void *pkt_end)
            {
                uint32_t k0 = 0, k1 = 1;
                uint64_t *to = syr_map_lookup_elem(&steer, &k0);
                uint64_t *seen = syr_map_lookup_elem(&steer, &k1);
                uint64_t *tok = syr_map_lookup_elem(&tokens, &k0);
                if (!to || !seen)
                    return SYR_PASS;
                __sync_fetch_and_add(seen, 1);
                return (*to + (tok ? *tok : 0)) % NUM_EXECUTORS;
            }
            """;

    private ClientMapBench() {}

    static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    static Object invoke(Object target, String name, Class<?>[] types, Object... args) throws Exception {
        Method m = target.getClass().getDeclaredMethod(name, types);
        m.setAccessible(true);
        return m.invoke(target, args);
    }

    /** The client's class path (API, JNR, these classes) copied where any uid can read it. */
    static String childClasspath(Path dir) throws IOException {
        List<String> out = new ArrayList<>();
        int n = 0;
        for (String e : System.getProperty("java.class.path").split(java.io.File.pathSeparator)) {
            Path p = Path.of(e);
            String s = p.toString();
            boolean wanted = s.contains("jnr-") || s.contains("jffi") || s.contains("/asm") || s.contains("syrup-api")
                    || s.contains("syrup-client") || s.contains("syrup-native") || s.contains("/client/target/")
                    || s.contains("/native/target/")
                    || s.contains("api-") || s.endsWith("test-classes");
            if (!wanted || !Files.exists(p)) {
                continue;
            }
            Path dest = dir.resolve(n++ + "-" + p.getFileName());
            try (Stream<Path> files = Files.walk(p)) {
                for (Path f : files.toList()) {
                    Path t = Files.isDirectory(p) ? dest.resolve(p.relativize(f).toString()) : dest;
                    if (Files.isDirectory(f)) {
                        Files.createDirectories(t);
                    } else {
                        Files.copy(f, t, StandardCopyOption.REPLACE_EXISTING);
                    }
                }
            }
            out.add(dest.toString());
        }
        try (Stream<Path> files = Files.walk(dir)) {
            for (Path f : files.toList()) {
                Files.setPosixFilePermissions(f, PosixFilePermissions.fromString(Files.isDirectory(f) ? "rwxr-xr-x" : "rw-r--r--"));
            }
        }
        return String.join(":", out);
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 5) {
            System.err.println("usage: ClientMapBench OUT_DIR UID N M ROUNDS");
            System.exit(2);
        }
        Path out = Path.of(args[0]);
        int uid = Integer.parseInt(args[1]);
        String n = args[2], m = args[3], rounds = args[4];
        Path root = Files.createTempDirectory("syrup-bench-client-");
        Files.setPosixFilePermissions(root, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path bpffs = Path.of("/sys/fs/bpf/syrup-bench-client-" + UUID.randomUUID().toString().substring(0, 8));
        DeploymentManager manager = new DeploymentManager(DaemonConfig.of(root.resolve("work").toString(), bpffs.toString()));
        AutoCloseable dispatcher = (AutoCloseable) Class.forName("dev.syrup.isolation.PortDispatcher").getConstructor().newInstance();
        Hook hook = null;
        for (var k : Class.forName("dev.syrup.backend.ebpf.SocketSelectHook").getConstructors()) {
            if (k.getParameterCount() == 1 && k.getParameterTypes()[0].isInstance(dispatcher)) {
                hook = (Hook) k.newInstance(dispatcher);
            }
        }
        if (hook == null) {
            throw new IllegalStateException("no SocketSelectHook(Dispatcher) constructor");
        }
        invoke(manager, "addHook", new Class<?>[] {Hook.class}, hook);
        List<String> results = new ArrayList<>();
        int rc;
        try (ControlServer server = new ControlServer((Deployer) manager, root.resolve("run").resolve("syrupd.sock"), root.resolve("apps"))) {
            Path policy = root.resolve("bench_policy.c");
            Files.writeString(policy, POLICY);
            Files.setPosixFilePermissions(policy, PosixFilePermissions.fromString("rw-r--r--"));
            Path cpDir = Files.createDirectories(root.resolve("cp"));
            String cp = childClasspath(cpDir);
            String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
            List<String> cmd = List.of("setpriv", "--reuid=" + uid, "--regid=" + uid, "--clear-groups", java, "-Xmx256m",
                    "-Djava.io.tmpdir=/tmp", "-cp", cp, App.class.getName(), server.socketPath().toString(), policy.toString(),
                    n, m, rounds);
            ProcessBuilder pb = new ProcessBuilder(cmd).directory(Path.of("/tmp").toFile()).redirectError(ProcessBuilder.Redirect.INHERIT);
            pb.environment().put("HOME", "/tmp");
            Process p = pb.start();
            try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = r.readLine()) != null) {
                    results.add(line);
                }
            }
            rc = p.waitFor();
        } finally {
            invoke(manager, "deactivate", new Class<?>[0]);
            dispatcher.close();
            for (Path dir : List.of(bpffs, root)) {
                try (Stream<Path> s = Files.walk(dir)) {
                    for (Path f : s.sorted(Comparator.reverseOrder()).toList()) {
                        Files.deleteIfExists(f);
                    }
                } catch (IOException e) {
                    // nothing there
                }
            }
        }
        if (rc != 0 || results.stream().noneMatch(l -> l.startsWith("who: "))) {
            throw new IllegalStateException("the app failed (exit " + rc + "): " + results);
        }
        // Lines: "who: ..." then "round,read_ns,add_ns,lookup_us,update_us" rows.
        String who = results.stream().filter(l -> l.startsWith("who: ")).findFirst().orElseThrow().substring(5);
        List<double[]> rows = results.stream().filter(l -> !l.isEmpty() && Character.isDigit(l.charAt(0)))
                .map(l -> Arrays.stream(l.split(",")).mapToDouble(Double::parseDouble).toArray()).toList();
        double[][] cols = new double[4][rows.size()];
        StringBuilder csv = new StringBuilder("round,read_ns,add_ns,lookup_us,update_us\n");
        for (int i = 0; i < rows.size(); i++) {
            for (int c = 0; c < 4; c++) {
                cols[c][i] = rows.get(i)[c + 1];
            }
            csv.append(String.format(Locale.ROOT, "%d,%.3f,%.3f,%.3f,%.3f%n", i, cols[0][i], cols[1][i], cols[2][i], cols[3][i]));
        }
        Files.writeString(out.resolve("client.csv"), csv);
        String machine = Files.exists(out.resolve("machine.txt")) ? Files.readString(out.resolve("machine.txt")) : "";
        String table = String.format(Locale.ROOT, """
                | operation | path | median | min | max |
                |---|---|---:|---:|---:|
                | `ClientMap.get` (array, acquire load) | mmap fast path | %.2f ns/op | %.2f | %.2f |
                | `ClientMap.addAndGet` (array, atomic add) | mmap fast path | %.2f ns/op | %.2f | %.2f |
                | `ClientMap.lookup` (HASH) | control socket, through syrupd | %.1f µs/op | %.1f | %.1f |
                | `ClientMap.update` (HASH) | control socket, through syrupd | %.1f µs/op | %.1f | %.1f |
                """, median(cols[0]), min(cols[0]), max(cols[0]), median(cols[1]), min(cols[1]), max(cols[1]),
                median(cols[2]), min(cols[2]), max(cols[2]), median(cols[3]), min(cols[3]), max(cols[3]));
        String md = "# Java client: Map operations from an unprivileged application\n\n"
                + "Generated " + Instant.now() + ". syrupd runs in-process in the harness (DeploymentManager with the\n"
                + "socket_select hook behind the port dispatcher, ControlServer on a Unix socket); the application\n"
                + "is a separate JVM started with `setpriv --reuid=" + uid + " --regid=" + uid + " --clear-groups` (" + who + ").\n"
                + "It binds a UDP socket, deploys a policy (`SYR_MAP(steer, 2)`, `SYR_HASH_MAP(tokens, 16)`) on its\n"
                + "port through `Syrup.connect(...)`, and opens both Maps with `openMap`. The array is mmap-able:\n"
                + "the client reads and adds through the mapping, no system call. A HASH Map cannot be mmap'ed: the\n"
                + "client sends its lookup/update to syrupd over the control socket (the array's lookup/update never\n"
                + "take that path, so the socket path is measured on the HASH Map of the same deployment).\n"
                + "Warm-up first (3 x " + n + " fast-path ops of each kind, " + m + " socket ops of each kind), then " + rounds + "\n"
                + "samples of " + n + " fast-path ops and " + m + " socket ops each; medians over the samples. The values\n"
                + "read back are checked (the adds sum up, the HASH Map holds what was last written).\n\n"
                + table + "\n```\n" + machine + "```\n\nRaw samples: `client.csv`.\n";
        Files.writeString(out.resolve("summary.md"), md);
        System.out.print(md);
    }

    static double min(double[] v) {
        return Arrays.stream(v).min().orElse(Double.NaN);
    }

    static double max(double[] v) {
        return Arrays.stream(v).max().orElse(Double.NaN);
    }

    /** The application: {@code App SOCKET POLICY.c N M ROUNDS}; prints who it is, then one CSV row per sample. */
    public static final class App {
        private App() {}

        static long reads(ClientMap map, int n) throws Exception {
            long sink = 0;
            for (int i = 0; i < n; i++) {
                sink += map.get(0);
            }
            return sink;
        }

        static void adds(ClientMap map, int n) throws Exception {
            for (int i = 0; i < n; i++) {
                map.addAndGet(0, 1);
            }
        }

        public static void main(String[] args) throws Exception {
            Path socket = Path.of(args[0]);
            Path policy = Path.of(args[1]);
            int n = Integer.parseInt(args[2]);
            int m = Integer.parseInt(args[3]);
            int rounds = Integer.parseInt(args[4]);
            String status = Files.readAllLines(Path.of("/proc/self/status")).stream()
                    .filter(l -> l.startsWith("Uid:") || l.startsWith("CapEff:")).map(l -> l.replaceAll("\\s+", " "))
                    .reduce((x, y) -> x + "; " + y).orElse("");
            try (Syrup syrup = Syrup.connect(socket); DatagramChannel ch = DatagramChannel.open()) {
                ch.setOption(StandardSocketOptions.SO_REUSEPORT, true);
                ch.bind(new InetSocketAddress("127.0.0.1", 0));
                int port = ((InetSocketAddress) ch.getLocalAddress()).getPort();
                String id = syrup.deployPolicy(policy, "socket_select", Protocol.UDP, port, Map.of(), false).id();
                try (ClientMap steer = syrup.openMap(id, "steer"); ClientMap tokens = syrup.openMap(id, "tokens")) {
                    if (!steer.mapped() || tokens.mapped()) {
                        throw new IllegalStateException("steer mapped=" + steer.mapped() + ", tokens mapped=" + tokens.mapped());
                    }
                    System.out.println("who: " + status
                            + ", app " + syrup.application() + ", deployment " + id);
                    steer.update(0, 5);
                    long sink = 0;
                    for (int w = 0; w < 3; w++) { // the same methods the samples time: compiled before the first
                        sink += reads(steer, n);
                        adds(steer, n);
                    }
                    for (int i = 0; i < m; i++) {
                        tokens.update(i & 7, i);
                        sink += tokens.lookup(i & 7).orElse(0);
                    }
                    long adds = 3L * n;
                    for (int r = 0; r < rounds; r++) {
                        long t0 = System.nanoTime();
                        sink += reads(steer, n);
                        long t1 = System.nanoTime();
                        adds(steer, n);
                        long t2 = System.nanoTime();
                        adds += n;
                        for (int i = 0; i < m; i++) {
                            sink += tokens.lookup(i & 7).orElse(0);
                        }
                        long t3 = System.nanoTime();
                        for (int i = 0; i < m; i++) {
                            tokens.update(i & 7, r * (long) m + i);
                        }
                        long t4 = System.nanoTime();
                        System.out.printf(Locale.ROOT, "%d,%.3f,%.3f,%.3f,%.3f%n", r, (t1 - t0) / (double) n,
                                (t2 - t1) / (double) n, (t3 - t2) / 1000.0 / m, (t4 - t3) / 1000.0 / m);
                    }
                    if (steer.get(0) != 5 + adds) {
                        throw new IllegalStateException("steer[0] = " + steer.get(0) + ", expected " + (5 + adds));
                    }
                    long last = (rounds - 1) * (long) m + (m - 1);
                    if (tokens.lookup((m - 1) & 7).orElse(-1) != last) {
                        throw new IllegalStateException("tokens[" + ((m - 1) & 7) + "] is not " + last);
                    }
                    System.err.println("bench client: app done (" + (sink & 1) + ")");
                }
                syrup.undeploy(id);
            }
        }
    }
}
