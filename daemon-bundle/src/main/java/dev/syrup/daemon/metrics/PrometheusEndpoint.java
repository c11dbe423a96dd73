package dev.syrup.daemon.metrics;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.syrup.api.Deployer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.util.HashSet;
import java.util.OptionalInt;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.Designate;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;

/**
 * {@code GET http://127.0.0.1:PORT/metrics}: every deployment's decision counters in the
 * Prometheus text format ({@link PrometheusText}), read from the kernel at each scrape. Plain
 * JDK HTTP server (no extra bundles); configured by {@code etc/dev.syrup.metrics.cfg}.
 *
 * <p>The labels name every tenant's deployments, ports, policies and owners, so the endpoint is
 * off unless configured, and then answers only local processes of the allowed uids (root by
 * default; the peer's uid is looked up in the kernel's socket table, {@link TcpPeers}) and the
 * allow-listed remote addresses; anyone else gets 403. A port that is taken is logged, not fatal.
 */
@Component(service = PrometheusEndpoint.class, immediate = true, configurationPid = PrometheusEndpoint.PID)
@Designate(ocd = PrometheusEndpoint.Config.class)
public final class PrometheusEndpoint implements AutoCloseable {

    public static final String PID = "dev.syrup.metrics";

    private static final System.Logger LOG = System.getLogger(PrometheusEndpoint.class.getName());

    @ObjectClassDefinition(name = "Syrup metrics", description = "Prometheus endpoint for deployment decision counters")
    public @interface Config {
        @AttributeDefinition(description = "Address to listen on")
        String address() default "127.0.0.1";

        @AttributeDefinition(description = "TCP port; -1 (default) turns the endpoint off, 0 picks a free one")
        int port() default -1;

        @AttributeDefinition(description = "Uids of the local processes that may scrape, comma-separated (default root)")
        String allowUids() default "0";

        @AttributeDefinition(description = "Remote addresses that may scrape, comma-separated (default none)")
        String allowFrom() default "";
    }

    private final HttpServer server;
    private final ExecutorService executor;
    private final Set<Integer> allowUids;
    private final Set<InetAddress> allowFrom;

    @Activate
    public PrometheusEndpoint(@Reference Deployer deployer, Config config) {
        this(deployer, config.address(), config.port(), uids(config.allowUids()), addresses(config.allowFrom()));
    }

    /** An endpoint for root's local processes only. */
    public PrometheusEndpoint(Deployer deployer, String address, int port) {
        this(deployer, address, port, Set.of(0), Set.of());
    }

    public PrometheusEndpoint(Deployer deployer, String address, int port, Set<Integer> allowUids, Set<InetAddress> allowFrom) {
        this.allowUids = Set.copyOf(allowUids);
        this.allowFrom = Set.copyOf(allowFrom);
        HttpServer s = null;
        ExecutorService ex = null;
        if (port >= 0) {
            try {
                s = HttpServer.create(new InetSocketAddress(address, port), 8);
                ex = Executors.newSingleThreadExecutor(r -> {
                    Thread t = new Thread(r, "syrup-metrics");
                    t.setDaemon(true);
                    return t;
                });
                s.setExecutor(ex);
                s.createContext("/metrics", x -> serve(x, deployer));
                s.start();
                LOG.log(System.Logger.Level.INFO, "Prometheus metrics on http://" + address + ":"
                        + s.getAddress().getPort() + "/metrics");
            } catch (IOException | RuntimeException e) {
                LOG.log(System.Logger.Level.WARNING, "no Prometheus endpoint on " + address + ":" + port + ": " + e);
                if (s != null) {
                    s.stop(0);
                }
                if (ex != null) {
                    ex.shutdownNow();
                }
                s = null;
                ex = null;
            }
        }
        this.server = s;
        this.executor = ex;
    }

    /** The port listened on, -1 when off. */
    public int port() {
        return server == null ? -1 : server.getAddress().getPort();
    }

    /** May this connection's peer read the counters? */
    boolean allowed(InetSocketAddress local, InetSocketAddress remote) {
        try {
            OptionalInt uid = TcpPeers.uid(local, remote);
            return uid.isPresent() ? allowUids.contains(uid.getAsInt()) : allowFrom.contains(remote.getAddress());
        } catch (IOException | RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "metrics: cannot tell who " + remote + " is: " + e);
            return false;
        }
    }

    private void serve(HttpExchange x, Deployer deployer) throws IOException {
        try (x) {
            if (!allowed(x.getLocalAddress(), x.getRemoteAddress())) {
                x.sendResponseHeaders(403, -1);
                return;
            }
            if (!"GET".equals(x.getRequestMethod()) && !"HEAD".equals(x.getRequestMethod())) {
                x.sendResponseHeaders(405, -1);
                return;
            }
            byte[] body;
            int status = 200;
            try {
                body = PrometheusText.render(deployer).getBytes(StandardCharsets.UTF_8);
            } catch (RuntimeException e) {
                status = 500;
                body = ("error: " + e + "\n").getBytes(StandardCharsets.UTF_8);
            }
            x.getResponseHeaders().set("Content-Type", PrometheusText.CONTENT_TYPE);
            x.sendResponseHeaders(status, "HEAD".equals(x.getRequestMethod()) ? -1 : body.length);
            if (!"HEAD".equals(x.getRequestMethod())) {
                try (OutputStream out = x.getResponseBody()) {
                    out.write(body);
                }
            }
        }
    }

    static Set<Integer> uids(String list) {
        Set<Integer> uids = new HashSet<>();
        for (String uid : list.split(",")) {
            if (!uid.isBlank()) {
                uids.add(Integer.parseInt(uid.trim()));
            }
        }
        return uids;
    }

    static Set<InetAddress> addresses(String list) {
        Set<InetAddress> addresses = new HashSet<>();
        for (String a : list.split(",")) {
            if (!a.isBlank()) {
                try {
                    addresses.add(InetAddress.getByName(a.trim()));
                } catch (UnknownHostException e) {
                    throw new IllegalArgumentException("allowFrom: not an address: " + a.trim(), e);
                }
            }
        }
        return addresses;
    }

    @Deactivate
    public void close() {
        if (server != null) {
            server.stop(0);
            executor.shutdownNow();
        }
    }
}
