package dev.syrup.daemon;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.syrup.api.DeployRequest;
import dev.syrup.api.Deployment;
import dev.syrup.api.DeploymentStats;
import dev.syrup.api.Protocol;
import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
import dev.syrup.api.Target;
import dev.syrup.backend.ebpf.SocketSelectHook;
import dev.syrup.daemon.metrics.DeploymentMBeans;
import dev.syrup.daemon.metrics.PrometheusEndpoint;
import dev.syrup.isolation.PortDispatcher;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.function.Predicate;
import java.util.stream.Stream;
import javax.management.MBeanServer;
import javax.management.ObjectName;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Decision counters on the real kernel: the socket_select glue counts every decision of the
 * policy per executor, PASS and DROP; the Deployer, the deployment's MBean and the Prometheus
 * endpoint all report the same numbers.
 */
class StatsKernelTest {

    @TempDir
    static Path dir;

    private DeploymentManager syrupd;
    private PortDispatcher dispatcher;
    private PrometheusEndpoint prometheus;
    private Path bpffs;
    private final MBeanServer jmx = ManagementFactory.getPlatformMBeanServer();

    @BeforeAll
    static void kernel() {
        Kernel.require();
    }

    @BeforeEach
    void start() throws IOException {
        bpffs = Path.of("/sys/fs/bpf/syrup-test-" + UUID.randomUUID().toString().substring(0, 8));
        syrupd = new DeploymentManager(DaemonConfig.of(dir.resolve("work").toString(), bpffs.toString()));
        dispatcher = new PortDispatcher();
        syrupd.addHook(new SocketSelectHook(dispatcher));
        prometheus = new PrometheusEndpoint(syrupd, "127.0.0.1", 0);
    }

    @AfterEach
    void stop() throws IOException {
        prometheus.close();
        syrupd.deactivate();
        dispatcher.close();
        Files.deleteIfExists(bpffs);
    }

    private Deployment deploy(String policy, int port, boolean replace) throws SyrupException {
        return syrupd.deploy(new DeployRequest(policy, SocketSelectHook.NAME, Target.port(Protocol.UDP, port), Map.of(),
                replace, DeployRequest.ADMIN));
    }

    /** Counters are bumped in softirq context, possibly after send() returned: wait for them. */
    private DeploymentStats awaitStats(String id, Predicate<DeploymentStats> done) throws Exception {
        long end = System.currentTimeMillis() + 10_000;
        DeploymentStats s = syrupd.stats(id);
        while (!done.test(s) && System.currentTimeMillis() < end) {
            Thread.sleep(20);
            s = syrupd.stats(id);
        }
        return s;
    }

    private String scrape() throws Exception {
        HttpResponse<String> r = HttpClient.newHttpClient().send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + prometheus.port() + "/metrics"))
                        .timeout(Duration.ofSeconds(10)).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode());
        assertTrue(r.headers().firstValue("Content-Type").orElse("").startsWith("text/plain; version=0.0.4"));
        return r.body();
    }

    private static String labels(Deployment d, String policy) {
        return "id=\"" + d.id() + "\",hook=\"socket_select\",port=\"" + d.target().port() + "\",proto=\"udp\",policy=\""
                + policy + "\",owner=\"admin\"";
    }

    @Test
    void roundRobinCountsOneThousandPerExecutorEverywhere() throws Exception {
        try (UdpGroup group = new UdpGroup(4); UdpGroup.Sender tx = new UdpGroup.Sender(group.port)) {
            Deployment d = deploy("round_robin", group.port, false);
            assertEquals(new DeploymentStats(List.of(0L, 0L, 0L, 0L), 0, 0, 0), syrupd.stats(d.id()), "zero at deploy");

            tx.send(4000, 0);
            assertEquals(4000, group.await(4000, 10_000));
            DeploymentStats s = awaitStats(d.id(), x -> x.decisions() >= 4000);
            assertEquals(new DeploymentStats(List.of(1000L, 1000L, 1000L, 1000L), 0, 0, 0), s);
            assertEquals(4000, s.decisions());

            ObjectName name = new ObjectName("dev.syrup:type=Deployment,id=" + d.id() + ",hook=socket_select,port="
                    + group.port);
            assertEquals(name, DeploymentMBeans.name(d));
            assertTrue(jmx.isRegistered(name), "MBean " + name + " registered with the deployment");
            assertArrayEquals(new long[] {1000, 1000, 1000, 1000}, (long[]) jmx.getAttribute(name, "ExecutorDecisions"));
            assertEquals(0L, jmx.getAttribute(name, "Pass"));
            assertEquals(0L, jmx.getAttribute(name, "Drop"));
            assertEquals(4000L, jmx.getAttribute(name, "Decisions"));
            assertEquals("round_robin", jmx.getAttribute(name, "Policy"));
            assertEquals("admin", jmx.getAttribute(name, "Owner"));

            String text = scrape();
            String l = labels(d, "round_robin");
            for (int i = 0; i < 4; i++) {
                assertTrue(text.contains("syrup_decisions_total{" + l + ",outcome=\"executor\",executor=\"" + i + "\"} 1000\n"),
                        text);
            }
            assertTrue(text.contains("syrup_decisions_total{" + l + ",outcome=\"pass\"} 0\n"), text);
            assertTrue(text.contains("syrup_decisions_total{" + l + ",outcome=\"drop\"} 0\n"), text);
            assertTrue(text.contains("syrup_deployment_executors{" + l + "} 4\n"), text);
            assertTrue(text.contains("# TYPE syrup_decisions_total counter\n"), text);

            // Not one of the policy's Maps, and not pinned.
            assertEquals(List.of(), syrupd.maps(d.id()));
            try (Stream<Path> pins = Files.exists(bpffs) ? Files.walk(bpffs) : Stream.empty()) {
                assertTrue(pins.noneMatch(p -> p.getFileName().toString().contains("syr_stats")));
            }

            syrupd.undeploy(d.id());
            assertFalse(jmx.isRegistered(name), "MBean unregistered with the deployment");
            assertEquals(Kind.NOT_FOUND, assertThrows(SyrupException.class, () -> syrupd.stats(d.id())).kind());
            assertFalse(scrape().contains("id=\"" + d.id() + "\""), "gone from the endpoint");
        }
    }

    @Test
    void dropPolicyCountsEveryDatagramAsDrop() throws Exception {
        Path drop = dir.resolve("drop_all.c");
        Files.writeString(drop, "uint32_t schedule(void *pkt_start, void *pkt_end) { return SYR_DROP; }\n");
        try (UdpGroup group = new UdpGroup(2); UdpGroup.Sender tx = new UdpGroup.Sender(group.port)) {
            Deployment d = deploy(drop.toString(), group.port, false);
            tx.send(500, 0);
            DeploymentStats s = awaitStats(d.id(), x -> x.drop() >= 500);
            assertEquals(new DeploymentStats(List.of(0L, 0L), 0, 500, 0), s);
            assertEquals(0, group.total(), "and nothing arrived");

            ObjectName name = DeploymentMBeans.name(d);
            assertEquals(500L, jmx.getAttribute(name, "Drop"));
            assertEquals(0L, jmx.getAttribute(name, "Pass"));
            assertArrayEquals(new long[] {0, 0}, (long[]) jmx.getAttribute(name, "ExecutorDecisions"));
            assertTrue(scrape().contains("syrup_decisions_total{" + labels(d, drop.toString()) + ",outcome=\"drop\"} 500\n"));
        }
    }

    @Test
    void countsSurviveReplaceAndPassAndOutOfRangeAreTheirOwn() throws Exception {
        Path pass = dir.resolve("pass_all.c");
        Files.writeString(pass, "uint32_t schedule(void *pkt_start, void *pkt_end) { return SYR_PASS; }\n");
        Path far = dir.resolve("far.c");
        Files.writeString(far, "uint32_t schedule(void *pkt_start, void *pkt_end) { return 1000; }\n");
        try (UdpGroup group = new UdpGroup(2); UdpGroup.Sender tx = new UdpGroup.Sender(group.port)) {
            Deployment d = deploy("round_robin", group.port, false);
            tx.send(200, 0);
            assertEquals(200, group.await(200, 10_000));
            awaitStats(d.id(), x -> x.decisions() >= 200);

            deploy(pass.toString(), group.port, true);
            tx.send(300, 0);
            assertEquals(500, group.await(500, 10_000));
            awaitStats(d.id(), x -> x.decisions() >= 500);

            deploy(far.toString(), group.port, true);
            tx.send(50, 0);
            assertEquals(550, group.await(550, 10_000));
            DeploymentStats s = awaitStats(d.id(), x -> x.decisions() >= 550);
            assertEquals(new DeploymentStats(List.of(100L, 100L), 300, 0, 50), s,
                    "one deployment's counters, across three policy versions");
            assertEquals(far.toString(), jmx.getAttribute(DeploymentMBeans.name(d), "Policy"), "the MBean follows --replace");
        }
    }

    /** What a process of {@code uid} gets from {@code url}: the HTTP status, then the body. */
    private static String scrapeAs(int uid, String url) throws Exception {
        Path src = Files.createTempDirectory("syrup-scrape-");
        try {
            Files.setPosixFilePermissions(src, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
            Path scrape = Files.writeString(src.resolve("Scrape.java"), """
                    public class Scrape {
                        public static void main(String[] a) throws Exception {
                            var c = (java.net.HttpURLConnection) new java.net.URL(a[0]).openConnection();
                            int status = c.getResponseCode();
                            System.out.println(status);
                            var in = status < 400 ? c.getInputStream() : c.getErrorStream();
                            if (in != null) System.out.write(in.readAllBytes());
                            System.out.flush();
                        }
                    }
                    """);
            Files.setPosixFilePermissions(scrape, java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
            String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
            Process p = new ProcessBuilder("setpriv", "--reuid=" + uid, "--regid=" + uid, "--clear-groups",
                    java, "-Xmx64m", scrape.toString(), url).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes());
            assertEquals(0, p.waitFor(), out);
            return out;
        } finally {
            try (Stream<Path> files = Files.walk(src)) {
                files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
            }
        }
    }

    /** Attack: a tenant (uid 23403) scrapes the endpoint to learn every tenant's deployments. */
    @Test
    void metricsAnswerOnlyAllowedUids() throws Exception {
        try (UdpGroup group = new UdpGroup(2)) {
            Deployment d = deploy("round_robin", group.port, false);
            String url = "http://127.0.0.1:" + prometheus.port() + "/metrics";
            assertTrue(scrape().contains(labels(d, "round_robin")), "root reads the counters");

            String tenant = scrapeAs(23403, url);
            assertTrue(tenant.startsWith("403\n"), tenant);
            assertFalse(tenant.contains(d.id()) || tenant.contains(Integer.toString(group.port)), tenant);

            try (var open = new PrometheusEndpoint(syrupd, "127.0.0.1", 0, java.util.Set.of(0, 23403), java.util.Set.of())) {
                String allowed = scrapeAs(23403, "http://127.0.0.1:" + open.port() + "/metrics");
                assertTrue(allowed.startsWith("200\n") && allowed.contains(labels(d, "round_robin")), allowed);
                assertTrue(scrapeAs(23404, "http://127.0.0.1:" + open.port() + "/metrics").startsWith("403\n"));
            }
            syrupd.undeploy(d.id());
        }
    }
}
