package dev.syrup.daemon.control;

import static org.junit.jupiter.api.Assertions.fail;

import dev.syrup.api.Deployer;
import dev.syrup.bpf.Fd;
import dev.syrup.bpf.KernelSupport;
import dev.syrup.bpf.Pidfd;
import dev.syrup.bpf.Sockets;
import dev.syrup.daemon.DaemonConfig;
import dev.syrup.daemon.DeploymentManager;
import dev.syrup.hook.spi.Hook;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.lang.reflect.Method;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;

/**
 * An in-process syrupd for control socket tests: a {@link DeploymentManager} with the real
 * socket_select hook and a {@link ControlServer} on a socket under a fresh /tmp directory, plus
 * helpers that run {@link TenantApp} in child JVMs as other uids (setpriv).
 */
final class ControlTestSupport implements AutoCloseable {

    /** Two uids with no passwd entry, standing for two applications' users. */
    static final int UID_A = 23401, UID_B = 23402;

    final Path root;
    final Path bpffs;
    final DeploymentManager manager;
    final Hook hook;
    final ControlServer server;
    private final List<Object> closeables = new ArrayList<>();

    static void requireKernel() {
        Optional<String> missing = KernelSupport.missing();
        if (missing.isPresent()) {
            if ("1".equals(System.getenv("SYRUP_REQUIRE_KERNEL"))) {
                fail("SYRUP_REQUIRE_KERNEL=1 but the kernel cannot run this test: " + missing.get());
            }
            Assumptions.abort("kernel test skipped: " + missing.get());
        }
    }

    ControlTestSupport() throws Exception {
        this(null, java.util.Map.of());
    }

    /** With these {@link DeploymentManager.Config} settings over the defaults (e.g. compile limits). */
    ControlTestSupport(java.util.Map<String, Object> settings) throws Exception {
        this(null, settings);
    }

    /** With these control socket limits (null: the defaults) and tenant deployment and Map memory limits. */
    ControlTestSupport(ControlServer.Limits limits, int maxTenantDeployments, long maxTenantMapBytes) throws Exception {
        this(limits, java.util.Map.of("maxTenantDeployments", maxTenantDeployments, "maxTenantMapBytes", maxTenantMapBytes));
    }

    /** With these control socket limits (null: the defaults) and {@link DeploymentManager.Config} settings. */
    ControlTestSupport(ControlServer.Limits limits, java.util.Map<String, Object> settings) throws Exception {
        String tag = UUID.randomUUID().toString().substring(0, 8);
        root = Files.createTempDirectory("syrup-ctl-");
        Files.setPosixFilePermissions(root, PosixFilePermissions.fromString("rwxr-xr-x"));
        bpffs = Path.of("/sys/fs/bpf/syrup-ctl-test-" + tag);
        manager = new DeploymentManager(DaemonConfig.of(root.resolve("work").toString(), bpffs.toString(), settings));
        hook = socketSelectHook();
        invoke(manager, "addHook", new Class<?>[] {Hook.class}, hook);
        Path sock = root.resolve("run").resolve("syrupd.sock");
        server = limits == null ? new ControlServer(manager, sock, sources())
                : new ControlServer(manager, sock, sources(), limits);
    }

    /** Where the control socket stores the policy texts it receives. */
    Path sources() {
        return root.resolve("apps");
    }

    Deployer deployer() {
        return manager;
    }

    Path socket() {
        return server.socketPath();
    }

    /**
     * The socket_select hook as this checkout constructs it: with the isolation bundle's port
     * dispatcher when the hook takes one, else with no arguments.
     */
    private Hook socketSelectHook() throws Exception {
        Class<?> c = Class.forName("dev.syrup.backend.ebpf.SocketSelectHook");
        try {
            return (Hook) c.getConstructor().newInstance();
        } catch (NoSuchMethodException e) {
            Class<?> d = Class.forName("dev.syrup.isolation.PortDispatcher");
            Object dispatcher = d.getConstructor().newInstance();
            closeables.add(dispatcher);
            for (var k : c.getConstructors()) {
                if (k.getParameterCount() == 1 && k.getParameterTypes()[0].isInstance(dispatcher)) {
                    return (Hook) k.newInstance(dispatcher);
                }
            }
            throw e;
        }
    }

    private static Object invoke(Object target, String name, Class<?>[] types, Object... args) throws Exception {
        Method m = target.getClass().getDeclaredMethod(name, types);
        m.setAccessible(true);
        return m.invoke(target, args);
    }

    /** Writes a world-readable file under the test directory. */
    Path file(String name, String text) throws IOException {
        Path p = root.resolve(name);
        Files.writeString(p, text);
        Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rw-r--r--"));
        return p;
    }

    @Override
    public void close() throws Exception {
        for (Object o : closeables) {
            if (o instanceof App app) {
                app.close();
            }
        }
        server.close();
        invoke(manager, "deactivate", new Class<?>[0]);
        for (Object o : closeables) {
            if (o instanceof AutoCloseable c && !(o instanceof App)) {
                c.close();
            }
        }
        try (Stream<Path> s = Files.walk(bpffs)) {
            List<Path> left = s.sorted(Comparator.reverseOrder()).toList();
            for (Path p : left) {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            // nothing pinned
        }
        try (Stream<Path> s = Files.walk(root)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    // ---- child applications --------------------------------------------------------------

    private Path classpath;

    /** The test class path copied where any uid can read it (the Maven repository may not be). */
    private synchronized Path classpath() throws IOException {
        if (classpath != null) {
            return classpath;
        }
        Path cp = root.resolve("cp");
        Files.createDirectories(cp);
        int n = 0;
        for (String e : System.getProperty("java.class.path").split(java.io.File.pathSeparator)) {
            Path p = Path.of(e);
            String s = p.toString();
            boolean wanted = s.contains("jnr-") || s.contains("jffi") || s.contains("/asm") || s.contains("syrup-api")
                    || s.contains("syrup-client") || s.contains("syrup-native") || s.contains("/client/target/")
                    || s.contains("/native/target/")
                    || s.contains("api-bundle") || s.endsWith("test-classes") || s.contains("junit-jupiter-api")
                    || s.contains("opentest4j") || s.contains("apiguardian");
            if (!wanted || !Files.exists(p)) {
                continue;
            }
            Path dest = cp.resolve(n++ + "-" + p.getFileName());
            if (Files.isDirectory(p)) {
                try (Stream<Path> files = Files.walk(p)) {
                    for (Path f : files.toList()) {
                        Path t = dest.resolve(p.relativize(f).toString());
                        if (Files.isDirectory(f)) {
                            Files.createDirectories(t);
                        } else {
                            Files.copy(f, t, StandardCopyOption.REPLACE_EXISTING);
                        }
                    }
                }
            } else {
                Files.copy(p, dest, StandardCopyOption.REPLACE_EXISTING);
            }
        }
        try (Stream<Path> files = Files.walk(cp)) {
            for (Path f : files.toList()) {
                Files.setPosixFilePermissions(f, PosixFilePermissions.fromString(Files.isDirectory(f) ? "rwxr-xr-x" : "rw-r--r--"));
            }
        }
        classpath = cp;
        return cp;
    }

    /** Starts {@link TenantApp} as {@code uid} (gid = uid, no supplementary groups). */
    App app(int uid) throws IOException {
        return app(uid, List.of());
    }

    /**
     * Starts {@link TenantApp} as {@code uid} under the {@code prefix} command, which root runs
     * (e.g. {@code nsenter --net=/run/netns/N}: the application then lives in that namespace).
     */
    App app(int uid, List<String> prefix) throws IOException {
        App app = new App(java(uid, prefix, TenantApp.class.getName(), socket().toString()).start());
        closeables.add(app);
        return app;
    }

    /** A JVM running {@code main} with {@code args} as {@code uid}, on the test class path, under {@code prefix}. */
    ProcessBuilder java(int uid, List<String> prefix, String main, String... args) throws IOException {
        Path cp = classpath();
        StringBuilder path = new StringBuilder();
        try (Stream<Path> entries = Files.list(cp)) {
            for (Path e : entries.sorted().toList()) {
                path.append(path.length() == 0 ? "" : ":").append(e);
            }
        }
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> cmd = new ArrayList<>(prefix);
        if (uid != 0) {
            cmd.addAll(List.of("setpriv", "--reuid=" + uid, "--regid=" + uid, "--clear-groups"));
        }
        cmd.addAll(List.of(java, "-Xshare:off", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xmx64m",
                "-Djava.io.tmpdir=/tmp", "-cp", path.toString(), main));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(Path.of("/tmp").toFile());
        pb.environment().put("HOME", "/tmp");
        pb.redirectError(ProcessBuilder.Redirect.INHERIT);
        return pb;
    }

    /** One child application, driven line by line. */
    static final class App implements AutoCloseable {
        final Process process;
        final String name;
        final long pid;
        private final Writer in;
        private final BlockingQueue<String> out = new LinkedBlockingQueue<>();

        App(Process process) throws IOException {
            this.process = process;
            this.in = new OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8);
            Thread t = new Thread(() -> {
                try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                    String line;
                    while ((line = r.readLine()) != null) {
                        out.add(line);
                    }
                } catch (IOException e) {
                    // process gone
                }
                out.add("EOF");
            });
            t.setDaemon(true);
            t.start();
            String hello = line();
            if (!hello.startsWith("OK ")) {
                throw new IOException("test application did not start: " + hello);
            }
            String[] f = hello.split(" ");
            this.name = f[1];
            this.pid = Long.parseLong(f[2]);
        }

        private String line() throws IOException {
            try {
                String l = out.poll(60, TimeUnit.SECONDS);
                if (l == null) {
                    throw new IOException("test application did not answer in 60 s");
                }
                return l;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException(e);
            }
        }

        /** Sends a command; returns the whole reply line ({@code OK ...} or {@code ERR ...}). */
        String call(String command) throws IOException {
            in.write(command + "\n");
            in.flush();
            return line();
        }

        /** Sends a command that must succeed; returns what follows {@code OK }. */
        String ok(String command) throws IOException {
            String r = call(command);
            if (!r.startsWith("OK")) {
                throw new AssertionError(name + ": '" + command + "' failed: " + r);
            }
            return r.length() > 3 ? r.substring(3) : "";
        }

        long[] counts() throws IOException {
            String[] f = ok("counts").trim().split(" ");
            long[] c = new long[f.length];
            for (int i = 0; i < f.length; i++) {
                c[i] = Long.parseLong(f[i]);
            }
            return c;
        }

        /** Waits until the sockets together received {@code expected} datagrams (or 5 s), then a little longer. */
        long[] await(long expected) throws IOException, InterruptedException {
            long end = System.currentTimeMillis() + 5000;
            while (System.currentTimeMillis() < end && sum(counts()) < expected) {
                Thread.sleep(20);
            }
            Thread.sleep(100); // stragglers beyond expected would show now
            return counts();
        }

        void exit() throws IOException, InterruptedException {
            in.write("exit\n");
            in.flush();
            process.waitFor(10, TimeUnit.SECONDS);
        }

        @Override
        public void close() {
            process.destroyForcibly();
            try {
                process.waitFor(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    static long sum(long[] a) {
        long s = 0;
        for (long v : a) {
            s += v;
        }
        return s;
    }

    /** Descriptor numbers, in process {@code pid}, of its UDP sockets bound to {@code port}. */
    static List<Integer> socketFds(long pid, int port) throws IOException {
        Set<String> inodes = new HashSet<>();
        for (String table : List.of("udp", "udp6")) {
            for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "net", table))) {
                String[] f = line.trim().split("\\s+");
                if (f.length > 9 && f[1].endsWith(String.format(":%04X", port))) {
                    inodes.add(f[9]);
                }
            }
        }
        List<Integer> out = new ArrayList<>();
        try (Stream<Path> fds = Files.list(Path.of("/proc", Long.toString(pid), "fd"))) {
            for (Path fd : fds.toList()) {
                try {
                    String link = Files.readSymbolicLink(fd).toString();
                    if (link.startsWith("socket:[") && inodes.contains(link.substring(8, link.length() - 1))) {
                        out.add(Integer.parseInt(fd.getFileName().toString()));
                    }
                } catch (IOException e) {
                    // gone
                }
            }
        }
        out.sort(null);
        return out;
    }

    /** Receive buffers beyond rmem_max for an application's sockets (root: SO_RCVBUFFORCE on a pidfd_getfd duplicate). */
    static void forceReceiveBuffers(long pid, int port) throws IOException {
        try (Fd pidfd = Pidfd.open(pid)) {
            for (int fd : socketFds(pid, port)) {
                try (Fd dup = Pidfd.getfd(pidfd, fd)) {
                    Sockets.setIntOption(dup, Sockets.SOL_SOCKET, Sockets.SO_RCVBUFFORCE, 8 << 20);
                }
            }
        }
    }

    /** Sends {@code n} datagrams to 127.0.0.1:{@code port} from one source port, paced. */
    static void send(int port, int n) throws IOException, InterruptedException {
        send("127.0.0.1", port, n);
    }

    /** Sends {@code n} datagrams to {@code address}:{@code port} from one source port, paced. */
    static void send(String address, int port, int n) throws IOException, InterruptedException {
        try (DatagramChannel ch = DatagramChannel.open()) {
            ch.bind(new InetSocketAddress("127.0.0.1", 0));
            InetSocketAddress to = new InetSocketAddress(address, port);
            ByteBuffer buf = ByteBuffer.allocate(16);
            for (int i = 0; i < n; i++) {
                buf.clear();
                buf.putLong(0, i);
                ch.send(buf, to);
                if (i % 200 == 199) {
                    Thread.sleep(1);
                }
            }
        }
    }
}
