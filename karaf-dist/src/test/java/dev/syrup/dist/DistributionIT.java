package dev.syrup.dist;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import org.junit.Test;
import org.osgi.framework.Bundle;

/** The distribution boots with the syrup feature, and its bundles are running. */
public class DistributionIT extends SyrupTestSupport {

    @Test
    public void syrupFeatureIsInstalled() throws Exception {
        assertTrue("feature syrup installed",
            featuresService.isInstalled(featuresService.getFeature("syrup")));
        String features = executeCommand("feature:list -i");
        for (String name : new String[] {"syrup ", "syrup-api", "syrup-native", "syrup-client", "syrup-ebpf",
                "syrup-ghost", "syrup-isolation", "syrup-daemon", "syrup-jnr"}) {
            assertTrue(name + " in feature:list -i\n" + features, features.contains(name));
        }
        // The offload backend is there to install (OffloadFeatureIT), not booted.
        assertTrue(features, !features.contains("syrup-offload"));
        assertTrue(executeCommand("feature:list"), executeCommand("feature:list").contains("syrup-offload"));
    }

    @Test
    public void syrupBundlesAreActive() {
        for (String bsn : SYRUP_BUNDLES) {
            Bundle b = bundle(bsn);
            assertNotNull("bundle " + bsn + " installed", b);
            assertEquals("state of " + bsn, Bundle.ACTIVE, b.getState());
        }
        String list = executeCommand("bundle:list -s");
        for (String bsn : SYRUP_BUNDLES) {
            assertTrue(bsn + " Active in bundle:list -s\n" + list,
                list.lines().anyMatch(l -> l.contains("Active") && l.contains(bsn)));
        }
    }

    @Test
    public void jnrFfiBundlesAreActive() {
        for (String bsn : new String[] {"com.github.jnr.ffi", "com.github.jnr.jffi",
                "com.github.jnr.x86asm", "com.github.jnr.a64asm"}) {
            Bundle b = bundle(bsn);
            assertNotNull("bundle " + bsn + " installed", b);
            assertEquals("state of " + bsn, Bundle.ACTIVE, b.getState());
        }
        Bundle natives = bundle("com.github.jnr.jffi.native");
        assertNotNull("jffi native fragment installed", natives);
        assertEquals("jffi native fragment resolved (attached)", Bundle.RESOLVED, natives.getState());
    }

    /** The contracts need no native code: only syrup-native binds libc, and the client goes through it. */
    @Test
    public void onlyTheNativeBundleBindsLibc() {
        String api = bundle("syrup-api").getHeaders().get("Import-Package");
        assertTrue("syrup-api imports " + api, api == null || !api.contains("jnr") && !api.contains("jffi"));
        String client = bundle("syrup-client").getHeaders().get("Import-Package");
        assertTrue("syrup-client imports " + client, client.contains("dev.syrup.linux") && !client.contains("jnr.ffi.provider"));
        assertTrue(bundle("syrup-native").getHeaders().get("Export-Package").contains("dev.syrup.linux;version=\"1.0.0\""));
    }

    @Test
    public void scrListWorks() {
        String out = executeCommand("scr:list");
        assertNotNull(out);
    }

    @Test
    public void unknownCommandFails() {
        try {
            executeCommand("no-such:command");
        } catch (AssertionError expected) {
            assertTrue(expected.getMessage(), expected.getMessage().contains("no-such:command"));
            return;
        }
        fail("executeCommand should throw for an unknown command");
    }
}
