package dev.syrup.dist;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;
import static org.ops4j.pax.exam.karaf.options.KarafDistributionOption.replaceConfigurationFile;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.util.function.BooleanSupplier;
import org.junit.Test;
import org.ops4j.pax.exam.Option;
import org.osgi.framework.Bundle;

/**
 * A Syrup backend installed into the running distribution: the offload hook's feature
 * ({@code syrup-offload}) is not booted; feature:install brings its bundle (offline, from the
 * distribution's system/ folder) and its hook appears in syrup:hooks without a restart;
 * feature:uninstall takes both away again.
 */
public class OffloadFeatureIT extends SyrupTestSupport {

    /**
     * No ACL on feature:install/uninstall: the test's shell session has no JAAS login (a
     * console or SSH login of the admin user has the roles the ACL asks for).
     */
    @Override
    protected Option[] extraOptions() {
        try {
            File f = File.createTempFile("acl-feature", ".cfg");
            f.deleteOnExit();
            Files.writeString(f.toPath(), "# no restrictions in this test\n");
            return new Option[] {replaceConfigurationFile("etc/org.apache.karaf.command.acl.feature.cfg", f)};
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Test
    public void offloadBackendInstalledAndRemovedAtRunTime() throws Exception {
        assertNull("the offload backend is not booted", bundle("syrup-backend-xdp-offload"));
        assertTrue(!executeCommand("syrup:hooks --no-format").contains("xdp_offload"));

        executeCommand("feature:install syrup-offload");
        Bundle offload = bundle("syrup-backend-xdp-offload");
        assertNotNull(offload);
        assertEquals(Bundle.ACTIVE, offload.getState());
        eventually(() -> executeCommand("syrup:hooks --no-format").contains("xdp_offload"));
        String hooks = executeCommand("syrup:hooks --no-format");
        // No nfp/netdevsim device on test machines: the offload hook is listed with its reason.
        assertTrue(hooks, hooks.contains("xdp_offload") && hooks.contains("unavailable: no offload-capable NIC"));
        // The other hooks stayed as they were.
        assertTrue(hooks, hooks.contains("socket_select") && hooks.contains("cpu_redirect"));

        executeCommand("feature:uninstall syrup-offload");
        assertNull(bundle("syrup-backend-xdp-offload"));
        eventually(() -> !executeCommand("syrup:hooks --no-format").contains("xdp_offload"));
        hooks = executeCommand("syrup:hooks --no-format");
        assertTrue(hooks, !hooks.contains("xdp_offload") && hooks.contains("socket_select"));
        assertEquals(Bundle.ACTIVE, bundle("syrup-backend-ebpf").getState());
    }

    private static void eventually(BooleanSupplier ok) throws InterruptedException {
        long end = System.nanoTime() + 10_000_000_000L;
        while (!ok.getAsBoolean() && System.nanoTime() < end) {
            Thread.sleep(100);
        }
    }
}
