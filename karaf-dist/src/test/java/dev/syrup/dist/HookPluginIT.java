package dev.syrup.dist;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;
import static org.ops4j.pax.exam.CoreOptions.systemProperty;
import static org.ops4j.pax.exam.karaf.options.KarafDistributionOption.replaceConfigurationFile;

import dev.syrup.api.Deployer;
import dev.syrup.bpf.BpfMap;
import dev.syrup.bpf.KernelObjects;
import dev.syrup.bpf.MapInfo;
import dev.syrup.bpf.ProgramInfo;
import dev.syrup.bpf.ProgramType;
import java.io.File;
import java.io.IOException;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.BooleanSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import javax.inject.Inject;
import org.junit.After;
import org.junit.Before;
import org.junit.Test;
import org.ops4j.pax.exam.Option;
import org.osgi.framework.Bundle;

/**
 * A third-party hook installed into the running distribution: the example sk_lookup plugin
 * (examples/hook-sk-lookup, built by this module before the tests; its jar is
 * {@code syrup.example.jar}) is installed with bundle:install, shows up in syrup:hooks without
 * a restart, runs the built-in round_robin over UDP sockets bound to other ports than the
 * deployed one with real datagrams, and stopping or uninstalling it leaves nothing in the kernel.
 * Built on the hook kit, its deployments share an owner's Maps with the in-tree hooks' (one
 * kernel map for a socket_select and an sk_lookup deployment of the same policy) and count
 * their decisions (syrup:stats).
 */
public class HookPluginIT extends SyrupTestSupport {

    private static final int EXECUTORS = 3;
    /** The example hook's default executor window: ports P+1 .. P+8. */
    private static final int SPAN = 8;
    /** {@code BPF_LINK_TYPE_NETNS}. */
    private static final int NETNS_LINK = 5;
    private static final InetAddress LO = InetAddress.getLoopbackAddress();

    /** A policy whose Map drives the rotation: hits[0] counts the inputs, each goes to executor hits[0] % n. */
    private static final String COUNT = """
            #include "syrup.h"

            SYR_MAP(hits, 4);

            uint32_t schedule(void *pkt_start, void *pkt_end)
            {
            	uint32_t zero = 0;
            	uint64_t *n = syr_map_lookup_elem(&hits, &zero);

            	if (!n)
            		return SYR_PASS;
            	return __sync_fetch_and_add(n, 1) % NUM_EXECUTORS;
            }
            """;

    @Inject
    protected Deployer deployer;

    private final List<DatagramSocket> executors = new ArrayList<>();
    private int port;

    /**
     * The jar's path, from the Maven run (failsafe's JVM) into the booted Karaf's; and no ACL on
     * the bundle:* commands: the test's shell session has no JAAS login (a console or SSH login
     * of the admin user has the roles etc/org.apache.karaf.command.acl.bundle.cfg asks for),
     * and gogo runs commands on pooled threads a Subject.doAs does not reach.
     */
    @Override
    protected Option[] extraOptions() {
        String jar = System.getProperty("syrup.example.jar");
        List<Option> options = new ArrayList<>();
        if (jar != null) {
            options.add(systemProperty("syrup.example.jar").value(jar));
        }
        options.add(replaceConfigurationFile("etc/org.apache.karaf.command.acl.bundle.cfg", noAcl()));
        return options.toArray(new Option[0]);
    }

    private static File noAcl() {
        try {
            File f = File.createTempFile("acl-bundle", ".cfg");
            f.deleteOnExit();
            Files.writeString(f.toPath(), "# no restrictions in this test\n");
            return f;
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    @Before
    public void bindExecutors() throws IOException {
        for (int attempt = 0; attempt < 50 && executors.isEmpty(); attempt++) {
            int p = ThreadLocalRandom.current().nextInt(20000, 45000);
            if (anySocketOn(p, p + SPAN)) {
                continue; // someone else's sockets would become executors too
            }
            try {
                for (int i = 1; i <= EXECUTORS; i++) {
                    DatagramSocket s = new DatagramSocket(null);
                    executors.add(s);
                    s.setReceiveBufferSize(1 << 20);
                    s.setSoTimeout(3000);
                    s.bind(new InetSocketAddress(LO, p + i));
                }
                port = p;
            } catch (IOException e) {
                executors.forEach(DatagramSocket::close);
                executors.clear();
            }
        }
        assertFalse("no free port range found", executors.isEmpty());
    }

    @After
    public void close() {
        executors.forEach(DatagramSocket::close);
        Bundle b = bundle("syrup-hook-sk-lookup");
        if (b != null) {
            try {
                b.uninstall();
            } catch (Exception e) {
                // best effort: the test already failed
            }
        }
    }

    /** Runs a shell command as executeCommand does, and prints it with its output (the test's transcript). */
    private String shell(String command) {
        String out = executeCommand(command);
        System.out.println("karaf@root()> " + command);
        if (!out.isBlank()) {
            System.out.println(out.stripTrailing());
        }
        return out;
    }

    @Test
    public void thirdPartyHookInstalledAtRunTimeSteersTrafficAndLeavesNothing() throws Exception {
        String jar = System.getProperty("syrup.example.jar");
        assertNotNull("syrup.example.jar is not set: run through Maven", jar);
        assertTrue(jar + " was not built", new File(jar).isFile());
        assertFalse(executeCommand("syrup:hooks --no-format").contains("sk_lookup"));
        Set<Integer> progsBefore = KernelObjects.programs().stream().map(ProgramInfo::id).collect(Collectors.toSet());
        Set<Integer> mapsBefore = KernelObjects.maps().stream().map(MapInfo::id).collect(Collectors.toSet());
        Set<Integer> linksBefore = KernelObjects.links().stream().map(KernelObjects.LinkInfo::id).collect(Collectors.toSet());

        // Installed into the running syrupd: no restart, the hook service just appears.
        String installed = shell("bundle:install -s " + new File(jar).toURI());
        Bundle plugin = bundle("syrup-hook-sk-lookup");
        assertNotNull(installed, plugin);
        assertEquals(Bundle.ACTIVE, plugin.getState());
        eventually(() -> executeCommand("syrup:hooks --no-format").contains("sk_lookup"));
        String hooks = shell("syrup:hooks --no-format");
        assertTrue(hooks, hooks.lines().anyMatch(l -> l.contains("sk_lookup") && l.contains("available")));

        // Without a policy, datagrams to P reach nobody (nothing is bound to P).
        send(port, -1);
        assertNothingReceived();

        String out = shell("syrup:deploy round_robin --hook sk_lookup --port " + port);
        String id = out.strip().substring(out.strip().lastIndexOf(' ') + 1);
        assertTrue(out, id.startsWith("d"));
        String json = executeCommand("syrup:list --json");
        Matcher m = Pattern.compile("\"id\":\"" + id + "\".*?\"program\":\\{\"id\":(\\d+),").matcher(json);
        assertTrue(json, m.find());
        int prog = Integer.parseInt(m.group(1));
        assertTrue(KernelObjects.programs().stream().anyMatch(p -> p.id() == prog && p.type() == ProgramType.SK_LOOKUP));
        List<KernelObjects.LinkInfo> links = newLinks(linksBefore);
        assertEquals("one netns link for the deployment: " + links, 1, links.size());
        assertEquals(prog, links.get(0).programId());

        // Real datagrams to P: datagram j on the socket of port P+1+(j % 3), in order.
        int n = 300;
        for (int j = 0; j < n; j++) {
            send(port, j);
        }
        int[] counts = new int[EXECUTORS];
        for (int j = 0; j < n; j++) {
            int e = j % EXECUTORS;
            assertEquals("datagram " + j + " on the socket of port " + (port + 1 + e), j, receive(executors.get(e)));
            counts[e]++;
        }
        assertEquals(List.of(100, 100, 100), List.of(counts[0], counts[1], counts[2]));
        System.out.println("# " + n + " datagrams to port " + port + ": " + counts[0] + "/" + counts[1] + "/" + counts[2]
                + " on the sockets of ports " + (port + 1) + ".." + (port + EXECUTORS) + ", in rotation");
        System.out.println("# in the kernel: program " + prog + " (sk_lookup), netns link " + links.get(0).id());

        // bundle:stop: the deployment goes, and with it the link, the program and the maps.
        shell("bundle:stop " + plugin.getBundleId());
        assertFalse(executeCommand("syrup:hooks --no-format").contains("sk_lookup"));
        assertFalse(executeCommand("syrup:list --no-format").contains(id));
        assertNothingLeft(progsBefore, mapsBefore, linksBefore);
        System.out.println("# after bundle:stop: no program, map or link of the deployment left (listed by id)");
        send(port, -2);
        assertNothingReceived();

        // bundle:start: the hook is back (its deployments are not: they were removed).
        shell("bundle:start " + plugin.getBundleId());
        eventually(() -> executeCommand("syrup:hooks --no-format").contains("sk_lookup"));
        assertTrue(executeCommand("syrup:hooks --no-format").contains("sk_lookup"));
        assertFalse(executeCommand("syrup:list --no-format").contains("sk_lookup"));

        // Deployed again, then uninstalled with the deployment running: no trace.
        String again = shell("syrup:deploy round_robin --hook sk_lookup --port " + port);
        for (int j = 0; j < 6; j++) {
            send(port, j);
        }
        for (int j = 0; j < 6; j++) {
            assertEquals(again, j, receive(executors.get(j % EXECUTORS)));
        }
        shell("bundle:uninstall " + plugin.getBundleId());
        assertNull(bundle("syrup-hook-sk-lookup"));
        assertFalse(executeCommand("syrup:hooks --no-format").contains("sk_lookup"));
        assertFalse(executeCommand("syrup:list --no-format").contains("sk_lookup"));
        assertNothingLeft(progsBefore, mapsBefore, linksBefore);
        System.out.println("# after bundle:uninstall: no program, map or link left, no sk_lookup hook");
        send(port, -3);
        assertNothingReceived();
    }

    @Test
    public void sharesTheOwnersMapsWithSocketSelectAndCountsItsDecisions() throws Exception {
        String jar = System.getProperty("syrup.example.jar");
        assertNotNull("syrup.example.jar is not set: run through Maven", jar);
        Set<Integer> progsBefore = KernelObjects.programs().stream().map(ProgramInfo::id).collect(Collectors.toSet());
        Set<Integer> mapsBefore = KernelObjects.maps().stream().map(MapInfo::id).collect(Collectors.toSet());
        Set<Integer> linksBefore = KernelObjects.links().stream().map(KernelObjects.LinkInfo::id).collect(Collectors.toSet());
        executeCommand("bundle:install -s " + new File(jar).toURI());
        Bundle plugin = bundle("syrup-hook-sk-lookup");
        assertNotNull(plugin);
        eventually(() -> executeCommand("syrup:hooks --no-format").contains("sk_lookup"));

        Path dir = Files.createTempDirectory("hook-plugin-it");
        Path policy = Files.writeString(dir.resolve("count.c"), COUNT);
        // One socket of the SO_REUSEPORT group a socket_select deployment of the same owner (admin) schedules.
        try (DatagramSocket group = new DatagramSocket(null)) {
            group.setOption(java.net.StandardSocketOptions.SO_REUSEPORT, true);
            group.bind(new InetSocketAddress(LO, 0));
            group.setSoTimeout(3000);
            int q = group.getLocalPort();
            String a = lastWord(executeCommand("syrup:deploy " + policy + " --hook socket_select --port " + q));
            String b = lastWord(executeCommand("syrup:deploy " + policy + " --hook sk_lookup --port " + port));

            // One kernel map behind both deployments' 'hits'.
            int hitsA = mapId(a, "hits");
            assertEquals("the sk_lookup deployment shares socket_select's 'hits'", hitsA, mapId(b, "hits"));

            // 4 datagrams through socket_select count hits[0] to 4, so sk_lookup's rotation starts at 4 % 3 = 1.
            for (int j = 0; j < 4; j++) {
                send(q, j);
            }
            for (int j = 0; j < 4; j++) {
                assertEquals(j, receive(group));
            }
            for (int j = 0; j < 6; j++) {
                send(port, j);
            }
            for (int j = 0; j < 6; j++) {
                int e = (4 + j) % EXECUTORS;
                assertEquals("datagram " + j + " on the socket of port " + (port + 1 + e), j, receive(executors.get(e)));
            }
            assertEquals(10L, deployer.map(b, "hits").lookup(0).orElseThrow());

            // syrup:stats counts the sk_lookup deployment's decisions as the in-tree hooks' are counted.
            String stats = executeCommand("syrup:stats --no-format --interval 0 " + b);
            for (int i = 0; i < EXECUTORS; i++) {
                int idx = i;
                assertTrue(stats, stats.lines().anyMatch(l -> l.trim().matches(idx + "\\s+2\\s+33\\.3%")));
            }
            assertTrue(stats, stats.lines().anyMatch(l -> l.trim().matches("total\\s+6\\s+100\\.0%")));
            String other = executeCommand("syrup:stats --no-format --interval 0 " + a);
            assertTrue(other, other.lines().anyMatch(l -> l.trim().matches("total\\s+4\\s+100\\.0%")));

            // syrup:test at the plugin's hook: its very object test-run (sk_lookup takes a context, no packet).
            String t = executeCommand("syrup:test round_robin --hook sk_lookup --request GET --count 6 --executors 3 --json");
            assertTrue(t, t.contains("\"histogram\":{\"0\":2,\"1\":2,\"2\":2}"));

            executeCommand("syrup:undeploy " + b);
            executeCommand("syrup:undeploy " + a);
            eventually(() -> KernelObjects.maps().stream().noneMatch(m -> m.id() == hitsA));
            assertTrue("'hits' left after both undeploys", KernelObjects.maps().stream().noneMatch(m -> m.id() == hitsA));
        } finally {
            Files.deleteIfExists(policy);
            Files.deleteIfExists(dir);
        }
        executeCommand("bundle:uninstall " + plugin.getBundleId());
        assertNothingLeft(progsBefore, mapsBefore, linksBefore);
    }

    private static String lastWord(String out) {
        String s = out.strip();
        String id = s.substring(s.lastIndexOf(' ') + 1);
        assertTrue(out, id.startsWith("d"));
        return id;
    }

    /** The kernel id of a deployment's Map, through its pin. */
    private int mapId(String id, String name) throws Exception {
        String pin = deployer.map(id, name).pinnedPath().orElseThrow(() -> new AssertionError(name + " of " + id + " is not pinned"));
        try (BpfMap m = BpfMap.openPinned(Path.of(pin))) {
            return m.info().id();
        }
    }

    /** No sk_lookup program, netns link or map of the hook made since the baseline is left. */
    private void assertNothingLeft(Set<Integer> progs, Set<Integer> maps, Set<Integer> links) throws InterruptedException {
        BooleanSupplier clean = () -> newSkLookupPrograms(progs).isEmpty() && newLinks(links).isEmpty()
                && newHookMaps(maps).isEmpty();
        eventually(clean);
        assertEquals("sk_lookup programs left", List.of(), newSkLookupPrograms(progs));
        assertEquals("links left", List.of(), newLinks(links));
        assertEquals("maps left", List.of(), newHookMaps(maps));
    }

    private static List<ProgramInfo> newSkLookupPrograms(Set<Integer> before) {
        return KernelObjects.programs().stream()
                .filter(p -> !before.contains(p.id()) && p.type() == ProgramType.SK_LOOKUP).toList();
    }

    /** Netns links made since the baseline (this test's; the kernel tests of other modules make none). */
    private static List<KernelObjects.LinkInfo> newLinks(Set<Integer> before) {
        return KernelObjects.links().stream().filter(l -> !before.contains(l.id()) && l.type() == NETNS_LINK).toList();
    }

    private static List<MapInfo> newHookMaps(Set<Integer> before) {
        return KernelObjects.maps().stream().filter(m -> !before.contains(m.id()) && m.name().startsWith("syr_sklk")).toList();
    }

    private void assertNothingReceived() throws IOException {
        for (DatagramSocket s : executors) {
            s.setSoTimeout(300);
            try {
                int got = receive(s);
                fail("datagram " + got + " reached " + s.getLocalSocketAddress());
            } catch (SocketTimeoutException expected) {
                // nothing
            } finally {
                s.setSoTimeout(3000);
            }
        }
    }

    private static void send(int to, int seq) throws IOException {
        try (DatagramSocket c = new DatagramSocket()) {
            byte[] b = ByteBuffer.allocate(8).putInt(seq).array();
            c.send(new DatagramPacket(b, b.length, LO, to));
        }
    }

    private static int receive(DatagramSocket s) throws IOException {
        DatagramPacket p = new DatagramPacket(new byte[64], 64);
        s.receive(p);
        return ByteBuffer.wrap(p.getData(), 0, 4).getInt();
    }

    /** Whether /proc/net/udp{,6} lists a socket on a port in [from, to]. */
    private static boolean anySocketOn(int from, int to) throws IOException {
        for (String f : List.of("/proc/net/udp", "/proc/net/udp6")) {
            for (String line : Files.readAllLines(Path.of(f)).stream().skip(1).toList()) {
                String local = line.trim().split("\\s+")[1];
                int p = Integer.parseInt(local.substring(local.indexOf(':') + 1), 16);
                if (p >= from && p <= to) {
                    return true;
                }
            }
        }
        return false;
    }

    private static void eventually(BooleanSupplier ok) throws InterruptedException {
        long end = System.nanoTime() + 10_000_000_000L;
        while (!ok.getAsBoolean() && System.nanoTime() < end) {
            Thread.sleep(100);
        }
    }
}
