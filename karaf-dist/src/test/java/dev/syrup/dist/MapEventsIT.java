package dev.syrup.dist;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import dev.syrup.api.Deployer;
import dev.syrup.dist.subscriber.Subscriber;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.jar.Attributes;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;
import javax.inject.Inject;
import org.junit.After;
import org.junit.Before;
import org.junit.Test;
import org.osgi.framework.Bundle;
import org.osgi.framework.ServiceReference;
import org.osgi.service.cm.Configuration;
import org.osgi.service.cm.ConfigurationAdmin;

/**
 * Maps across layers in the real distribution: the syrup:maps / map-get / map-delete /
 * map-watch commands, Map events received by a bundle installed at run time (built by this
 * test from {@link Subscriber}) for changes made through the shell, the Deployer API and the
 * policy itself, and an operator bridge set up by configuration alone.
 */
public class MapEventsIT extends SyrupTestSupport {

    private static final String POLICY = "SYR_MAP(hits, 4);\n"
            + "SYR_HASH_MAP(users, 16);\n"
            + "uint32_t schedule(void *pkt_start, void *pkt_end)\n{\n"
            + "\tuint32_t k = 0;\n"
            + "\tuint64_t *v = syr_map_lookup_elem(&hits, &k);\n"
            + "\tif (v)\n\t\t__sync_fetch_and_add(v, 1);\n"
            + "\treturn SYR_PASS;\n}\n";

    @Inject
    protected Deployer deployer;

    @Inject
    protected ConfigurationAdmin configAdmin;

    private SyrupCommandsIT.Group group;
    private Path policy;
    private String id;
    private Bundle subscriber;

    @Before
    public void deploy() throws Exception {
        group = new SyrupCommandsIT.Group(2);
        policy = Files.createTempFile("events", ".c");
        Files.writeString(policy, POLICY);
        String out = executeCommand("syrup:deploy " + policy + " --hook socket_select --port " + group.port);
        String[] words = out.trim().split("\\s+");
        id = words[words.length - 1];
    }

    @After
    public void undeploy() throws Exception {
        if (subscriber != null) {
            subscriber.uninstall();
        }
        executeCommand("syrup:undeploy " + id);
        group.close();
        Files.deleteIfExists(policy);
    }

    @Test
    public void mapCommands() throws Exception {
        String maps = executeCommand("syrup:maps --no-format " + id);
        assertTrue(maps, maps.lines().anyMatch(l -> l.matches("\\s*" + id + "\\s+hits\\s+array\\s+4\\s+8\\s+4\\s+0\\s+/sys/fs/bpf/syrup/admin/" + id + "/hits\\s*")));
        assertTrue(maps, maps.lines().anyMatch(l -> l.matches("\\s*" + id + "\\s+users\\s+hash\\s+4\\s+8\\s+16\\s+0\\s+/sys/fs/bpf/\\S+/users\\s*")));
        assertTrue("all deployments' maps without an id", executeCommand("syrup:maps --no-format").contains("users"));

        executeCommand("syrup:map-put " + id + " users 5 42");
        assertEquals("42", executeCommand("syrup:map-get " + id + " users 5").trim());
        maps = executeCommand("syrup:maps --no-format " + id);
        assertTrue("one entry in use: " + maps, maps.lines().anyMatch(l -> l.matches("\\s*" + id + "\\s+users\\s+hash\\s+4\\s+8\\s+16\\s+1\\s+.*")));
        executeCommand("syrup:map-delete " + id + " users 5");
        assertFails("syrup:map-get " + id + " users 5", "no key 5");
        assertFails("syrup:map-delete " + id + " users 5", "no key 5");
        assertFails("syrup:map-get " + id + " nosuch 0", "has no map 'nosuch'");

        // map-watch sees the policy's own changes (it counts datagrams in hits[0]).
        CompletableFuture<String> watch = CompletableFuture.supplyAsync(
                () -> executeCommand("syrup:map-watch --interval 100 --count 1 " + id + " hits", Duration.ofSeconds(60)));
        // It takes its first look when it starts: send until it has seen a change.
        for (long end = System.currentTimeMillis() + 60_000; !watch.isDone() && System.currentTimeMillis() < end; ) {
            group.send(20);
            Thread.sleep(500);
        }
        String watched = watch.get(10, TimeUnit.SECONDS);
        assertTrue(watched, watched.lines().anyMatch(l -> l.matches("\\S+ " + id + " hits\\[0\\] \\d+ -> [1-9]\\d*")));

        String timed = executeCommand("syrup:map-watch --interval 50 --duration 300 " + id + " users");
        assertTrue("--duration ends it: " + timed, timed.startsWith("watching"));
    }

    @Test
    public void aBundleInstalledAtRunTimeReceivesMapEvents() throws Exception {
        subscriber = bundleContext.installBundle("syrup-test-subscriber", subscriberJar());
        subscriber.start();
        BlockingQueue<String> events = subscriberQueue();

        executeCommand("syrup:map-put " + id + " users 7 9");
        expect(events, id + " users[7] - -> 9 shell");
        executeCommand("syrup:map-put " + id + " users 7 10");
        expect(events, id + " users[7] 9 -> 10 shell");
        executeCommand("syrup:map-delete " + id + " users 7");
        expect(events, id + " users[7] 10 -> - shell");
        deployer.map(id, "users").update(8, 1);
        expect(events, id + " users[8] - -> 1 api");

        // Changes the policy makes itself: the kernel poller compares the Maps every 200 ms.
        configure("dev.syrup.events", "kernelPollMs", "200");
        // The poller's first look at a Map is its baseline: send until a change shows.
        String kernel = null;
        for (long end = System.currentTimeMillis() + 60_000; kernel == null; ) {
            assertTrue("no kernel change of hits[0] within 60 s", System.currentTimeMillis() < end);
            group.send(20);
            kernel = poll(events, l -> l.contains(id + " hits[0] ") && l.endsWith(" kernel"), 1000);
        }
        assertTrue(kernel, kernel.matches("\\S+ " + id + " hits\\[0\\] \\d+ -> [1-9]\\d* kernel"));
        // ... and a change made through Syrup is not reported again as a kernel one.
        executeCommand("syrup:map-put " + id + " users 9 3");
        expect(events, id + " users[9] - -> 3 shell");
        Thread.sleep(1000);
        for (String l : events) {
            assertTrue("no kernel event for users: " + l, !(l.contains(" users[") && l.endsWith(" kernel")));
        }

        // Stopping the subscriber removes its route; events go on (dropped: nobody listens).
        subscriber.stop();
        executeCommand("syrup:map-put " + id + " users 7 1");
        configAdmin.getConfiguration("dev.syrup.events", "?").delete();
    }

    @Test
    public void operatorBridgeByConfiguration() throws Exception {
        // The bridge logs through Camel's log component; this class's karaf.log is where it lands.
        Path log = Path.of((String) configAdmin.getConfiguration("org.ops4j.pax.logging", "?").getProperties()
                .get("log4j2.appender.rolling.fileName"));
        long from = Files.size(log);
        configure("dev.syrup.events.bridge", "to", "log:dev.syrup.events.itbridge?level=INFO", "map", "users");
        try {
            // The bridge's route starts asynchronously after the configuration: put until a line shows.
            long until = System.currentTimeMillis() + 60_000;
            String found = null;
            for (int v = 1; found == null; v++) {
                assertTrue("no bridged event in " + log + " within 60 s", System.currentTimeMillis() < until);
                executeCommand("syrup:map-put " + id + " users 11 " + v);
                Thread.sleep(500);
                String want = " " + id + " users[11] " + (v == 1 ? "-" : Integer.toString(v - 1)) + " -> " + v + " shell";
                found = logSince(log, from).stream().filter(l -> l.contains(want)).findFirst().orElse(null);
            }
            assertTrue(found, found.contains("itbridge"));
            // Its filter (map = users) keeps the other Map's events out.
            executeCommand("syrup:map-put " + id + " hits 1 77");
            executeCommand("syrup:map-put " + id + " users 12 5");
            String want = " " + id + " users[12] - -> 5 shell";
            List<String> lines = List.of();
            for (long end = System.currentTimeMillis() + 30_000; System.currentTimeMillis() < end; Thread.sleep(300)) {
                lines = logSince(log, from);
                if (lines.stream().anyMatch(l -> l.contains(want))) {
                    break;
                }
            }
            assertTrue(String.join("\n", lines), lines.stream().anyMatch(l -> l.contains(want)));
            assertTrue("hits is filtered out", lines.stream().noneMatch(l -> l.contains(" hits[1] ")));
        } finally {
            configAdmin.getConfiguration("dev.syrup.events.bridge", "?").delete();
        }
    }

    @Test
    public void tokenGeneratorByConfiguration() throws Exception {
        String token = executeCommand("syrup:deploy token --hook socket_select --port " + group.port + " --replace");
        String[] words = token.trim().split("\\s+");
        assertEquals("the token policy replaced the test policy", id, words[words.length - 1]);
        // 1000 tokens/s in 10 ms epochs: 10 per epoch for user 1; nobody sends, so user 2 gets 10 each epoch.
        configure("dev.syrup.tokens", "deployment", id, "lsUser", "1", "beUser", "2", "rate", "1000", "epochMs", "10");
        try {
            long until = System.currentTimeMillis() + 30_000;
            while (!executeCommand("syrup:map-get " + id + " tokens 2").trim().equals("10")) {
                assertTrue("user 2 never got user 1's leftover", System.currentTimeMillis() < until);
                Thread.sleep(200);
            }
            // A refill grants 10 per epoch it covers: one, or several when the timer fired late
            // (TokenEpochs catches up with the clock), so user 1 holds a positive multiple of 10.
            long ls = Long.parseLong(executeCommand("syrup:map-get " + id + " tokens 1").trim());
            assertTrue("user 1 holds " + ls, ls > 0 && ls % 10 == 0);
            assertEquals("0", executeCommand("syrup:map-get " + id + " tokens 3").trim());
        } finally {
            configAdmin.getConfiguration("dev.syrup.tokens", "?").delete();
        }
    }

    private static List<String> logSince(Path log, long offset) throws IOException {
        byte[] all = Files.readAllBytes(log);
        int start = (int) Math.min(offset, all.length);
        return new String(all, start, all.length - start, java.nio.charset.StandardCharsets.UTF_8).lines().toList();
    }

    /** What an operator's etc/PID.cfg does: a configuration of that PID with these properties. */
    private void configure(String pid, String... keyValues) throws IOException {
        java.util.Hashtable<String, Object> props = new java.util.Hashtable<>();
        for (int i = 0; i < keyValues.length; i += 2) {
            props.put(keyValues[i], keyValues[i + 1]);
        }
        Configuration c = configAdmin.getConfiguration(pid, "?");
        c.update(props);
    }

    private void assertFails(String command, String message) {
        try {
            String out = executeCommand(command);
            fail(command + " should fail, printed: " + out);
        } catch (AssertionError e) {
            assertTrue(e.getMessage(), e.getMessage().contains(message));
        }
    }

    @SuppressWarnings("unchecked")
    private BlockingQueue<String> subscriberQueue() throws Exception {
        Collection<ServiceReference<BlockingQueue>> refs = bundleContext.getServiceReferences(BlockingQueue.class, "(syrup.test=subscriber)");
        assertEquals("the subscriber's queue", 1, refs.size());
        return bundleContext.getService(refs.iterator().next());
    }

    private static void expect(BlockingQueue<String> events, String suffix) throws InterruptedException {
        String l = await(events, x -> x.endsWith(" " + suffix), suffix);
        assertNotNull(l);
    }

    /** The first event matching within {@code millis} (others before it are skipped), or null. */
    private static String poll(BlockingQueue<String> events, Predicate<String> match, long millis) throws InterruptedException {
        long until = System.currentTimeMillis() + millis;
        for (long left; (left = until - System.currentTimeMillis()) > 0; ) {
            String l = events.poll(left, TimeUnit.MILLISECONDS);
            if (l != null && match.test(l)) {
                return l;
            }
        }
        return null;
    }

    /** The first event matching (others before it are skipped), within 30 s. */
    private static String await(BlockingQueue<String> events, Predicate<String> match, String what) throws InterruptedException {
        List<String> skipped = new ArrayList<>();
        long until = System.currentTimeMillis() + 30_000;
        while (System.currentTimeMillis() < until) {
            String l = events.poll(500, TimeUnit.MILLISECONDS);
            if (l == null) {
                continue;
            }
            if (match.test(l)) {
                return l;
            }
            skipped.add(l);
        }
        throw new AssertionError("no event " + what + " in 30 s; got " + skipped);
    }

    /** A bundle made of {@link Subscriber} and its nested classes, with a hand-written manifest. */
    private static InputStream subscriberJar() throws IOException {
        Manifest mf = new Manifest();
        Attributes a = mf.getMainAttributes();
        a.put(Attributes.Name.MANIFEST_VERSION, "1.0");
        a.putValue("Bundle-ManifestVersion", "2");
        a.putValue("Bundle-SymbolicName", "syrup-test-subscriber");
        a.putValue("Bundle-Version", "1.0.0");
        a.putValue("Bundle-Activator", Subscriber.class.getName());
        a.putValue("Import-Package", "dev.syrup.api.map, org.apache.camel, org.apache.camel.builder, "
                + "org.apache.camel.model, org.apache.camel.spi, org.osgi.framework");
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (JarOutputStream jar = new JarOutputStream(bytes, mf)) {
            for (String c : List.of("Subscriber", "Subscriber$Routes")) {
                String path = Subscriber.class.getPackageName().replace('.', '/') + "/" + c + ".class";
                try (InputStream in = Subscriber.class.getClassLoader().getResourceAsStream(path)) {
                    assertNotNull(path, in);
                    jar.putNextEntry(new JarEntry(path));
                    in.transferTo(jar);
                    jar.closeEntry();
                }
            }
        }
        return new ByteArrayInputStream(bytes.toByteArray());
    }
}
