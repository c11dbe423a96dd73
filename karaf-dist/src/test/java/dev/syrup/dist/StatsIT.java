package dev.syrup.dist;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;
import static org.ops4j.pax.exam.karaf.options.KarafDistributionOption.editConfigurationFilePut;

import java.lang.management.ManagementFactory;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import javax.management.MBeanServer;
import javax.management.ObjectName;
import org.junit.After;
import org.junit.Before;
import org.junit.Test;
import org.ops4j.pax.exam.Option;

/**
 * Decision counters in the real distribution: syrup:stats, the deployment's MBean in the
 * platform MBeanServer and the Prometheus endpoint (off by default; turned on here on a free
 * port in etc/dev.syrup.metrics.cfg, scraped by this test, which runs as root) show the same
 * numbers.
 */
public class StatsIT extends SyrupTestSupport {

    @Override
    protected Option[] extraOptions() {
        return new Option[] {editConfigurationFilePut("etc/dev.syrup.metrics.cfg", "port", freePort())};
    }

    private SyrupCommandsIT.Group group;

    @Before
    public void openSockets() throws Exception {
        group = new SyrupCommandsIT.Group(4);
    }

    @After
    public void closeSockets() throws Exception {
        group.close();
        for (String line : executeCommand("syrup:list --no-format").lines().toList()) {
            String id = line.trim().split("\\s+")[0];
            if (id.startsWith("d")) {
                executeCommand("syrup:undeploy " + id);
            }
        }
    }

    private static int metricsPort() throws Exception {
        Path cfg = Path.of(System.getProperty("karaf.etc"), "dev.syrup.metrics.cfg");
        for (String line : Files.readAllLines(cfg)) {
            String[] kv = line.split("=", 2);
            if (kv.length == 2 && kv[0].trim().equals("port")) {
                return Integer.parseInt(kv[1].trim());
            }
        }
        throw new AssertionError("no port in " + cfg);
    }

    private static String scrape(int port) throws Exception {
        HttpResponse<String> r = HttpClient.newHttpClient().send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/metrics")).timeout(Duration.ofSeconds(10)).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode());
        return r.body();
    }

    @Test
    public void statsCommandMBeanAndPrometheusAgree() throws Exception {
        String out = executeCommand("syrup:deploy round_robin --hook socket_select --port " + group.port);
        String id = out.trim().substring(out.trim().lastIndexOf(' ') + 1);
        group.send(4000);
        assertEquals(4000, group.await(4000));

        // A decision is counted before its datagram is delivered: all 4000 are in.
        String stats = executeCommand("syrup:stats --no-format --interval 0 " + id);
        for (int i = 0; i < 4; i++) {
            int idx = i;
            assertTrue(stats, stats.lines().anyMatch(l -> l.trim().matches(idx + "\\s+1000\\s+25\\.0%")));
        }
        assertTrue(stats, stats.lines().anyMatch(l -> l.trim().matches("PASS\\s+0\\s+0\\.0%")));
        assertTrue(stats, stats.lines().anyMatch(l -> l.trim().matches("DROP\\s+0\\s+0\\.0%")));
        assertTrue(stats, stats.lines().anyMatch(l -> l.trim().matches("total\\s+4000\\s+100\\.0%")));
        String rates = executeCommand("syrup:stats --no-format --interval 200 " + id);
        assertTrue(rates, rates.lines().anyMatch(l -> l.trim().matches("total\\s+4000\\s+100\\.0%\\s+0\\.0")));

        MBeanServer jmx = ManagementFactory.getPlatformMBeanServer();
        ObjectName name = new ObjectName("dev.syrup:type=Deployment,id=" + id + ",hook=socket_select,port=" + group.port);
        assertTrue(name + " registered", jmx.isRegistered(name));
        assertArrayEquals(new long[] {1000, 1000, 1000, 1000}, (long[]) jmx.getAttribute(name, "ExecutorDecisions"));
        assertEquals(0L, jmx.getAttribute(name, "Drop"));
        assertEquals(4000L, jmx.getAttribute(name, "Decisions"));

        String text = scrape(metricsPort());
        String labels = "id=\"" + id + "\",hook=\"socket_select\",port=\"" + group.port
                + "\",proto=\"udp\",policy=\"round_robin\",owner=\"admin\"";
        assertTrue(text, text.contains("syrup_decisions_total{" + labels + ",outcome=\"executor\",executor=\"3\"} 1000\n"));
        assertTrue(text, text.contains("syrup_decisions_total{" + labels + ",outcome=\"drop\"} 0\n"));

        executeCommand("syrup:undeploy " + id);
        assertFalse("MBean unregistered with the deployment", jmx.isRegistered(name));
        assertFalse(scrape(metricsPort()).contains("id=\"" + id + "\""));
    }
}
