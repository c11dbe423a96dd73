package dev.syrup.daemon.control;

import dev.syrup.api.Deployer;
import dev.syrup.api.SyrupException;
import dev.syrup.client.Message;
import dev.syrup.bpf.BpfException;
import dev.syrup.bpf.Fd;
import dev.syrup.bpf.UnixSockets;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.Designate;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;

/**
 * syrupd's control socket (docs/protocol.md): a Unix stream socket, mode 0666, that
 * applications of any uid connect to. Each connection is served on its own thread; the caller
 * is who {@code SO_PEERCRED} says ({@link TenantRules}). Deployments made here live as long as
 * the process that made them ({@link Applications}).
 */
@Component(service = ControlServer.class, immediate = true, configurationPid = ControlServer.PID)
@Designate(ocd = ControlServer.Config.class)
public final class ControlServer implements AutoCloseable {

    public static final String PID = "dev.syrup.daemon.control";

    private static final System.Logger LOG = System.getLogger(ControlServer.class.getName());

    @ObjectClassDefinition(name = "Syrup control socket", description = "Where applications reach syrupd")
    public @interface Config {
        @AttributeDefinition(description = "Path of the Unix domain socket (its directory is created)")
        String socketPath() default "/run/syrup/syrupd.sock";

        @AttributeDefinition(description = "Where policy text received from applications is stored for the compiler; empty means <karaf.data>/syrup/apps")
        String sourceDir() default "";

        @AttributeDefinition(description = "Connections served at once; more are answered with an error and closed")
        int maxConnections() default 256;

        @AttributeDefinition(description = "Milliseconds a request frame may take once its first byte came; a slower"
                + " client gets an error and is disconnected")
        long frameTimeoutMillis() default 10_000;

        @AttributeDefinition(description = "Connections one uid other than root may hold at once; more are refused (LIMIT)")
        int maxConnectionsPerUid() default 16;

        @AttributeDefinition(description = "Milliseconds a connection may stay idle between requests;"
                + " then it gets a LIMIT error and is closed (its deployments stay)")
        long idleTimeoutMillis() default 600_000;

        @AttributeDefinition(description = "Policy source files one tenant may have stored at once (in use by its"
                + " deployments or being deployed)")
        int maxSourcesPerTenant() default 32;

        @AttributeDefinition(description = "Network interfaces tenants may name (iface) for packet hooks (xdp_skb,"
                + " xdp_drv, cpu_redirect, xdp_offload); empty: tenants may not use packet hooks")
        String[] tenantInterfaces() default {};
    }

    /** The limits of {@link Config}, resolved (docs/security.md "Limits"). */
    record Limits(int maxConnections, int connectionsPerUid, long frameTimeoutMillis, long idleTimeoutMillis,
                  int sourcesPerTenant, Set<String> tenantInterfaces) {

        static final Limits DEFAULTS = new Limits(256, 16, 10_000, 600_000, 32, Set.of());

        Limits {
            maxConnections = Math.max(1, maxConnections);
            connectionsPerUid = Math.max(1, connectionsPerUid);
            frameTimeoutMillis = Math.max(1, frameTimeoutMillis);
            idleTimeoutMillis = Math.max(1, idleTimeoutMillis);
            sourcesPerTenant = Math.max(1, sourcesPerTenant);
            tenantInterfaces = Set.copyOf(tenantInterfaces);
        }

        static Limits of(Config c) {
            return new Limits(c.maxConnections(), c.maxConnectionsPerUid(), c.frameTimeoutMillis(), c.idleTimeoutMillis(),
                    c.maxSourcesPerTenant(), Set.of(java.util.Arrays.stream(c.tenantInterfaces())
                    .map(String::strip).filter(i -> !i.isEmpty()).distinct().toArray(String[]::new)));
        }
    }

    private final Deployer deployer;
    private final Path socketPath;
    private final StoredSources sources;
    private final TenantRules rules = new TenantRules();
    private final Applications apps;
    private final Limits limits;
    /** Connections per uid being served; only the acceptor adds, each session's end removes. */
    private final Map<Integer, Integer> perUid = new ConcurrentHashMap<>();
    private volatile Fd listener;
    private volatile boolean bound;
    private final Thread acceptor;
    private final Set<Session> sessions = ConcurrentHashMap.newKeySet();
    private volatile boolean running = true;

    @Activate
    public ControlServer(@Reference Deployer deployer, Config config) throws IOException {
        this(deployer, Path.of(config.socketPath()), config.sourceDir().isBlank()
                ? Path.of(System.getProperty("karaf.data", System.getProperty("java.io.tmpdir")), "syrup", "apps")
                : Path.of(config.sourceDir()), Limits.of(config));
    }

    /** For tests and embedding: serve {@code deployer} at {@code socketPath}, with the default limits. */
    public ControlServer(Deployer deployer, Path socketPath, Path sourceDir) throws IOException {
        this(deployer, socketPath, sourceDir, Limits.DEFAULTS);
    }

    ControlServer(Deployer deployer, Path socketPath, Path sourceDir, int maxConnections, long frameTimeoutMillis)
            throws IOException {
        this(deployer, socketPath, sourceDir, new Limits(maxConnections, Limits.DEFAULTS.connectionsPerUid(),
                frameTimeoutMillis, Limits.DEFAULTS.idleTimeoutMillis(), Limits.DEFAULTS.sourcesPerTenant(), Set.of()));
    }

    ControlServer(Deployer deployer, Path socketPath, Path sourceDir, Limits limits) throws IOException {
        this.deployer = deployer;
        this.limits = limits;
        this.socketPath = socketPath.toAbsolutePath();
        this.sources = new StoredSources(new PolicySources(sourceDir), limits.sourcesPerTenant());
        Path parent = this.socketPath.getParent();
        if (!Files.isDirectory(parent)) {
            Files.createDirectories(parent);
            Files.setPosixFilePermissions(parent, PosixFilePermissions.fromString("rwxr-xr-x"));
        }
        this.apps = new Applications(deployer, sources::ended);
        String busy = null;
        try {
            this.listener = bind();
        } catch (IOException e) {
            busy = e.getMessage();
        }
        this.acceptor = new Thread(this::serve, "syrupd-control " + this.socketPath);
        acceptor.setDaemon(true);
        acceptor.start();
        if (busy == null) {
            LOG.log(System.Logger.Level.INFO, "control socket listening on {0}", this.socketPath);
        } else {
            // Do not take the socket from a live daemon (another Karaf on this host); take it when it is free.
            LOG.log(System.Logger.Level.ERROR, "control socket not started: {0}; retrying every {1} s",
                    busy, RETRY_MILLIS / 1000);
        }
    }

    private static final long RETRY_MILLIS = 5000;

    /** Binds the socket (mode 0666); IOException when the path is taken by a live daemon or is not a socket. */
    private Fd bind() throws IOException {
        if (Files.exists(socketPath, LinkOption.NOFOLLOW_LINKS)) {
            if (Files.isRegularFile(socketPath, LinkOption.NOFOLLOW_LINKS)
                    || Files.isDirectory(socketPath, LinkOption.NOFOLLOW_LINKS)) {
                throw new IOException(socketPath + " exists and is not a socket");
            }
            try (Fd probe = UnixSockets.connect(socketPath)) {
                throw new IOException("another syrupd already listens on " + socketPath);
            } catch (BpfException e) {
                Files.delete(socketPath); // nobody listens: a socket left by a previous run
            }
        }
        Fd fd;
        try {
            fd = UnixSockets.listen(socketPath, 64);
        } catch (BpfException e) {
            throw new IOException(e.getMessage(), e);
        }
        try {
            Files.setPosixFilePermissions(socketPath, PosixFilePermissions.fromString("rw-rw-rw-"));
        } catch (IOException e) {
            fd.close();
            throw e;
        }
        bound = true;
        return fd;
    }

    /** Whether the socket is bound and served. */
    public boolean listening() {
        return listener != null && running;
    }

    public Path socketPath() {
        return socketPath;
    }

    /** Processes that deployed through this socket and are still watched, with their deployments. */
    public List<ApplicationProcess> processes() {
        return apps.snapshot();
    }

    /** Connections being served now. */
    public int connections() {
        return sessions.size();
    }

    private void serve() {
        while (running && listener == null) {
            try {
                Thread.sleep(RETRY_MILLIS);
                listener = bind();
                LOG.log(System.Logger.Level.INFO, "control socket listening on {0}", socketPath);
            } catch (InterruptedException e) {
                return;
            } catch (IOException e) {
                // still taken
            }
        }
        acceptLoop();
    }

    private void acceptLoop() {
        while (running) {
            Fd conn;
            try {
                conn = UnixSockets.accept(listener);
            } catch (RuntimeException e) {
                if (running) {
                    LOG.log(System.Logger.Level.ERROR, "accept on " + socketPath + " failed; control socket stops", e);
                }
                return;
            }
            if (!running) {
                conn.close();
                return;
            }
            if (sessions.size() >= limits.maxConnections()) {
                refuse(conn, SyrupException.Kind.UNAVAILABLE, "syrupd serves " + limits.maxConnections()
                        + " connections at most; try again later");
                continue;
            }
            int uid;
            try {
                uid = UnixSockets.peerCred(conn).uid();
            } catch (RuntimeException e) {
                conn.close(); // gone already
                continue;
            }
            // One uid must not take every slot: the others are served while it is at its limit.
            if (!TenantRules.isAdmin(uid) && perUid.getOrDefault(uid, 0) >= limits.connectionsPerUid()) {
                refuse(conn, SyrupException.Kind.LIMIT, TenantRules.application(uid) + " already has "
                        + limits.connectionsPerUid() + " connections to syrupd, the most one uid may have (setting"
                        + " maxConnectionsPerUid of " + PID + "); close one first");
                continue;
            }
            perUid.merge(uid, 1, Integer::sum);
            Session s = new Session(conn, deployer, rules, sources, apps, limits, ended -> {
                sessions.remove(ended);
                perUid.computeIfPresent(uid, (k, n) -> n > 1 ? n - 1 : null);
            });
            sessions.add(s);
            Thread t = new Thread(s, "syrupd-control-conn");
            t.setDaemon(true);
            t.start();
        }
    }

    private static void refuse(Fd conn, SyrupException.Kind kind, String why) {
        try {
            UnixSockets.sendWithFd(conn, Message.error(kind, why).encode(), -1);
        } catch (BpfException e) {
            // gone already
        }
        conn.close();
    }

    /** Stops listening, ends every connection, and undeploys what applications deployed. */
    @Deactivate
    @Override
    public void close() {
        if (!running) {
            return;
        }
        running = false;
        Fd l = listener;
        if (l != null) {
            UnixSockets.shutdown(l);
        }
        acceptor.interrupt();
        try {
            acceptor.join(2000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        l = listener; // the retry may have bound meanwhile
        if (l != null) {
            UnixSockets.shutdown(l);
            l.close();
        }
        for (Session s : sessions) {
            s.stop();
        }
        apps.close(true);
        sources.clear();
        try {
            if (bound) {
                Files.deleteIfExists(socketPath); // only ours: never another daemon's socket
            }
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "cannot remove " + socketPath + ": " + e.getMessage());
        }
    }
}
