package dev.syrup.dist;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.management.ObjectName;
import javax.security.auth.callback.Callback;
import javax.security.auth.callback.NameCallback;
import javax.security.auth.callback.PasswordCallback;
import javax.security.auth.login.LoginContext;
import javax.security.auth.login.LoginException;
import org.junit.Test;
import org.osgi.framework.ServiceReference;

/**
 * The management plane as shipped, inside the booted distribution: the karaf realm (SSH, and
 * JMX when enabled) refuses Karaf's default karaf/karaf and the shipped files hold no
 * credential, the shutdown port is off, the JMX connector is not booted (its feature is in
 * system/ for an operator to install) and the metrics endpoint is off. LauncherIT attacks the
 * same over the network as another uid.
 */
public class ManagementIT extends SyrupTestSupport {

    private static void login(String user, String password) throws LoginException {
        LoginContext context = new LoginContext("karaf", (Callback[] callbacks) -> {
            for (Callback c : callbacks) {
                if (c instanceof NameCallback n) {
                    n.setName(user);
                } else if (c instanceof PasswordCallback p) {
                    p.setPassword(password.toCharArray());
                }
            }
        });
        context.login();
        context.logout();
    }

    @Test
    public void karafRealmRefusesTheDefaultPassword() throws Exception {
        try {
            login("karaf", "karaf");
            fail("karaf/karaf logged in to the karaf realm");
        } catch (LoginException expected) {
            // refused
        }
        Path etc = Path.of(System.getProperty("karaf.etc"));
        for (String file : new String[] {"users.properties", "keys.properties"}) {
            assertFalse(file + " ships a user", Files.readAllLines(etc.resolve(file)).stream()
                    .anyMatch(l -> !l.startsWith("#") && !l.startsWith("_g_") && !l.isBlank()));
        }
    }

    @Test
    public void noShutdownPort() {
        assertEquals("-1", bundleContext.getProperty("karaf.shutdown.port"));
        assertFalse(Files.exists(Path.of(System.getProperty("karaf.data"), "port")));
    }

    @Test
    public void noJmxConnector() throws Exception {
        assertNull("management server bundle", bundle("org.apache.karaf.management.server"));
        assertFalse(featuresService.isInstalled(featuresService.getFeature("management")));
        assertNotNull("management is available offline", featuresService.getFeature("management"));
        assertFalse(ManagementFactory.getPlatformMBeanServer().isRegistered(new ObjectName("connector:name=rmi")));
    }

    @Test
    public void metricsOffByDefault() throws Exception {
        ServiceReference<?> ref = bundleContext.getServiceReference("dev.syrup.daemon.metrics.PrometheusEndpoint");
        assertNotNull("PrometheusEndpoint component", ref);
        Object endpoint = bundleContext.getService(ref);
        try {
            assertEquals(-1, endpoint.getClass().getMethod("port").invoke(endpoint));
        } finally {
            bundleContext.ungetService(ref);
        }
        String cfg = Files.readString(Path.of(System.getProperty("karaf.etc"), "dev.syrup.metrics.cfg"));
        assertTrue(cfg, cfg.lines().anyMatch(l -> l.matches("port\\s*=\\s*-1")));
    }
}
