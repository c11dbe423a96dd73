package dev.syrup.daemon.metrics;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.syrup.api.Deployer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
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
 * {@code GET http://127.0.0.1:9464/metrics}: every deployment's decision counters in the
 * Prometheus text format ({@link PrometheusText}), read from the kernel at each scrape. Plain
 * JDK HTTP server (no extra bundles); configured by {@code etc/dev.syrup.metrics.cfg}
 * ({@code port = -1} turns it off). A port that is taken is logged, not fatal.
 */
@Component(service = PrometheusEndpoint.class, immediate = true, configurationPid = PrometheusEndpoint.PID)
@Designate(ocd = PrometheusEndpoint.Config.class)
public final class PrometheusEndpoint {

    public static final String PID = "dev.syrup.metrics";

    private static final System.Logger LOG = System.getLogger(PrometheusEndpoint.class.getName());

    @ObjectClassDefinition(name = "Syrup metrics", description = "Prometheus endpoint for deployment decision counters")
    public @interface Config {
        @AttributeDefinition(description = "Address to listen on (keep it local: the counters name deployments)")
        String address() default "127.0.0.1";

        @AttributeDefinition(description = "TCP port; 0 picks a free one, -1 turns the endpoint off")
        int port() default 9464;
    }

    private final HttpServer server;
    private final ExecutorService executor;

    @Activate
    public PrometheusEndpoint(@Reference Deployer deployer, Config config) {
        this(deployer, config.address(), config.port());
    }

    public PrometheusEndpoint(Deployer deployer, String address, int port) {
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

    private static void serve(HttpExchange x, Deployer deployer) throws IOException {
        try (x) {
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

    @Deactivate
    public void close() {
        if (server != null) {
            server.stop(0);
            executor.shutdownNow();
        }
    }
}
