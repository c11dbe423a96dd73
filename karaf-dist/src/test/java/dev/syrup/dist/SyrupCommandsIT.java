package dev.syrup.dist;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.DatagramChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.concurrent.atomic.AtomicLongArray;
import dev.syrup.api.SyrupException;
import dev.syrup.bpf.Fd;
import dev.syrup.bpf.Pidfd;
import dev.syrup.bpf.Sockets;
import dev.syrup.client.Syrup;
import org.junit.After;
import org.junit.Before;
import org.junit.Test;
import org.osgi.framework.Bundle;

/**
 * The operator's view: syrup:* commands in the real distribution, against UDP sockets this test
 * opens in the Karaf JVM (syrupd adopts them through /proc like any application's), with real
 * datagrams on loopback.
 */
public class SyrupCommandsIT extends SyrupTestSupport {

    private Group group;

    @Before
    public void openSockets() throws IOException {
        group = new Group(4);
    }

    @After
    public void closeSockets() throws Exception {
        group.close();
        Bundle ebpf = bundle("syrup-backend-ebpf");
        if (ebpf.getState() != Bundle.ACTIVE) {
            ebpf.start();
        }
        for (String line : executeCommand("syrup:list --no-format").lines().toList()) {
            String id = line.split("\\s+")[0];
            if (id.startsWith("d")) {
                executeCommand("syrup:undeploy " + id);
            }
        }
    }

    @Test
    public void hooksAndPoliciesAreListed() {
        String hooks = executeCommand("syrup:hooks --no-format");
        assertTrue(hooks, hooks.contains("socket_select") && hooks.contains("available"));
        assertTrue(hooks, hooks.contains("cpu_redirect"));
        // The offload hook's feature is not booted (OffloadFeatureIT installs it).
        assertTrue(hooks, !hooks.contains("xdp_offload"));
        // The input and executor kinds are services: Syrup's (syrup-daemon) are all listed.
        String kinds = executeCommand("syrup:hooks --kinds --json");
        for (String k : List.of("\"kind\":\"input\",\"name\":\"datagram\"", "\"kind\":\"input\",\"name\":\"thread\"",
                "\"kind\":\"executor\",\"name\":\"socket\"", "\"kind\":\"executor\",\"name\":\"rx_queue\"")) {
            assertTrue(kinds, kinds.contains(k));
        }
        assertTrue(kinds, kinds.contains("\"bundle\":\"syrup-daemon\""));
        String policies = executeCommand("syrup:policies --no-format");
        for (String p : List.of("round_robin", "hash", "sita")) {
            assertTrue(policies, policies.contains(p));
        }
    }

    @Test
    public void testAndJsonInTheDistribution() throws Exception {
        String t = executeCommand("syrup:test round_robin --hook socket_select --request GET --count 8 --executors 4 --json");
        assertTrue(t, t.contains("\"histogram\":{\"0\":2,\"1\":2,\"2\":2,\"3\":2}"));
        String sita = executeCommand("syrup:test sita --hook xdp_skb --request SCAN --request GET --count 4 --executors 2 --no-format");
        assertTrue(sita, sita.contains("executor 0") && sita.contains("ns per decision"));
        String id = lastWord(executeCommand("syrup:deploy mica --hook socket_select --port " + group.port));
        String json = executeCommand("syrup:list --json");
        Matcher m = Pattern.compile("\"id\":\"" + id + "\".*?\"program\":\\{\"id\":(\\d+),.*?\"tag\":\"([0-9a-f]{16})\"").matcher(json);
        assertTrue(json, m.find());
        String list = executeCommand("syrup:list --no-format");
        assertTrue(list, list.contains(m.group(1)) && list.contains(m.group(2)));
        String hooks = executeCommand("syrup:hooks --json");
        assertTrue(hooks, hooks.startsWith("[") && hooks.contains("\"name\":\"socket_select\""));
        String source = executeCommand("syrup:policies mica");
        assertTrue(source, source.contains("uint32_t schedule("));
    }

    @Test
    public void roundRobinDeployedFromTheShellSplitsTheLoad() throws Exception {
        group.send(4000);
        assertEquals(4000, group.await(4000));
        assertEquals("the kernel's default puts one source port on one socket", 4000, group.max());

        String out = executeCommand("syrup:deploy round_robin --hook socket_select --port " + group.port);
        String id = lastWord(out);
        assertTrue(out, id.startsWith("d"));
        String list = executeCommand("syrup:list --no-format");
        assertTrue(list, list.contains(id) && list.contains("round_robin") && list.contains("udp/" + group.port));
        // Recorded, for the next syrupd to re-adopt after a restart.
        Path record = record(id);
        assertTrue(record + " exists", Files.exists(record));
        String text = Files.readString(record);
        assertTrue(text, text.contains("policy=round_robin") && text.contains("port=" + group.port) && text.contains("owner=admin"));

        group.reset();
        group.send(4000);
        assertEquals(4000, group.await(4000));
        for (long n : group.counts()) {
            assertTrue(Arrays.toString(group.counts()), Math.abs(n - 1000) <= 10);
        }

        executeCommand("syrup:undeploy " + id);
        assertFalse(executeCommand("syrup:list --no-format").contains(id));
        assertFalse("undeploy removes the record", Files.exists(record));
        group.reset();
        group.send(4000);
        assertEquals(4000, group.await(4000));
        assertEquals("undeploy restores the default", 4000, group.max());
    }

    @Test
    public void mapsOfADeploymentCanBeDumpedAndPut() throws Exception {
        Path policy = Files.createTempFile("pick", ".c");
        Files.writeString(policy, "SYR_MAP(pick, 1);\n"
                + "uint32_t schedule(void *pkt_start, void *pkt_end)\n{\n\tuint32_t k = 0;\n"
                + "\tuint64_t *v = syr_map_lookup_elem(&pick, &k);\n\treturn v ? (uint32_t)*v : SYR_PASS;\n}\n");
        String id = lastWord(executeCommand("syrup:deploy " + policy + " --hook socket_select --port " + group.port));
        executeCommand("syrup:map-put " + id + " pick 0 3");
        String dump = executeCommand("syrup:map-dump --no-format " + id + " pick");
        assertTrue(dump, dump.lines().anyMatch(l -> l.trim().matches("0\\s+3")));
        group.send(400);
        assertEquals(400, group.await(400));
        assertEquals("every datagram went where the map said", 400, group.counts()[3]);
        Files.delete(policy);
    }

    @Test
    public void badInputIsAClearErrorAndChangesNothing() throws Exception {
        String id = lastWord(executeCommand("syrup:deploy round_robin --hook socket_select --port " + group.port));
        String before = withoutAge(executeCommand("syrup:list --no-format"));

        assertFails("syrup:deploy /nonexistent/policy.c --hook socket_select --port " + group.port + " --replace",
                "neither a built-in");
        Path syntax = Files.createTempFile("syntax", ".c");
        Files.writeString(syntax, "uint32_t schedule(void *pkt_start, void *pkt_end)\n{\n\treturn 0\n}\n");
        assertFails("syrup:deploy " + syntax + " --hook socket_select --port " + group.port + " --replace",
                syntax.getFileName() + ":3:");
        Path unchecked = Files.createTempFile("unchecked", ".c");
        Files.writeString(unchecked, "uint32_t schedule(void *pkt_start, void *pkt_end)\n{\n"
                + "\treturn *(uint32_t *)pkt_start % NUM_EXECUTORS;\n}\n");
        assertFails("syrup:deploy " + unchecked + " --hook socket_select --port " + group.port + " --replace",
                "invalid access to packet");
        assertFails("syrup:deploy round_robin --hook no_such_hook --port " + group.port, "no hook 'no_such_hook'");
        assertFails("syrup:deploy round_robin --hook socket_select --port " + freeUdpPort(), "nobody listens");
        assertFails("syrup:deploy sita --hook socket_select --port " + group.port, "--replace");

        assertEquals("syrup:list is the same", before, withoutAge(executeCommand("syrup:list --no-format")));
        group.send(400);
        assertEquals(400, group.await(400));
        for (long n : group.counts()) {
            assertEquals("round_robin still runs: " + Arrays.toString(group.counts()), 100, n);
        }
        assertTrue(executeCommand("syrup:list --no-format").contains(id));
        Files.delete(syntax);
        Files.delete(unchecked);
    }

    @Test
    public void replaceKeepsTrafficFlowing() throws Exception {
        String id = lastWord(executeCommand("syrup:deploy round_robin --hook socket_select --port " + group.port));
        Thread sender = new Thread(() -> {
            try {
                group.send(20_000);
            } catch (IOException | InterruptedException e) {
                throw new RuntimeException(e);
            }
        });
        sender.start();
        String out = executeCommand("syrup:deploy sita --hook socket_select --port " + group.port + " --replace");
        assertEquals(id, lastWord(out));
        sender.join();
        assertEquals("no datagram lost during the replacement", 20_000, group.await(20_000));
        String list = executeCommand("syrup:list --no-format");
        assertTrue(list, list.contains("sita"));
    }

    @Test
    public void stoppingTheBackendRemovesItsHookAndDetaches() throws Exception {
        Set<String> before = syrupProgramIds();
        String id = lastWord(executeCommand("syrup:deploy round_robin --hook socket_select --port " + group.port));
        Set<String> ours = new HashSet<>(syrupProgramIds());
        ours.removeAll(before);
        assertEquals("one program loaded for the deployment", 1, ours.size());

        assertTrue(Files.exists(record(id)));
        bundle("syrup-backend-ebpf").stop();
        assertFalse(executeCommand("syrup:hooks --no-format").contains("socket_select"));
        assertFalse("its deployments are gone", executeCommand("syrup:list --no-format").contains(id));
        // A bundle stop is not a restart of syrupd: nothing is kept to re-adopt.
        assertFalse("and their records", Files.exists(record(id)));
        long end = System.currentTimeMillis() + 5000;
        while (!Collections.disjoint(ours, syrupProgramIds()) && System.currentTimeMillis() < end) {
            Thread.sleep(50); // the kernel frees a program a moment after its last reference (RCU)
        }
        assertTrue("no program left in the kernel", Collections.disjoint(ours, syrupProgramIds()));
        group.send(400);
        assertEquals(400, group.await(400));
        assertEquals("the kernel's default is back", 400, group.max());

        bundle("syrup-backend-ebpf").start();
        long until = System.currentTimeMillis() + 10_000;
        while (!executeCommand("syrup:hooks --no-format").contains("socket_select") && System.currentTimeMillis() < until) {
            Thread.sleep(100);
        }
        assertTrue("the hook comes back with its bundle", executeCommand("syrup:hooks --no-format").contains("socket_select"));
    }

    /** Where syrupd records deployment {@code id} (its work directory under karaf.data). */
    private static Path record(String id) {
        return Path.of(System.getProperty("karaf.data"), "syrup", "deployments", id + ".properties");
    }

    private void assertFails(String command, String expected) {
        try {
            executeCommand(command);
        } catch (AssertionError e) {
            assertTrue("'" + command + "' should say '" + expected + "': " + e.getMessage(), e.getMessage().contains(expected));
            return;
        }
        fail("'" + command + "' should have failed");
    }

    private static String lastWord(String out) {
        String[] words = out.trim().split("\\s+");
        return words[words.length - 1];
    }

    private static String withoutAge(String list) {
        return list.lines().map(l -> l.replaceAll("\\s+\\d+[smh]\\s*$", "")).reduce("", (a, b) -> a + b + "\n");
    }

    private static int freeUdpPort() throws IOException {
        try (DatagramChannel ch = DatagramChannel.open()) {
            ch.bind(new InetSocketAddress("127.0.0.1", 0));
            return ((InetSocketAddress) ch.getLocalAddress()).getPort();
        }
    }

    /** Ids of Syrup's programs (names cut to 15 characters) in the kernel's own listing. */
    private static Set<String> syrupProgramIds() throws IOException, InterruptedException {
        Process p = new ProcessBuilder("bpftool", "prog", "show").redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        p.waitFor();
        Set<String> ids = new HashSet<>();
        Matcher m = Pattern.compile("(?m)^(\\d+): \\S+\\s+name (syr_\\S*)").matcher(out);
        while (m.find()) {
            ids.add(m.group(1));
        }
        return ids;
    }

    /** Four SO_REUSEPORT UDP sockets made one after the other (executor i = socket i), each drained by a thread. */
    static final class Group implements AutoCloseable {
        final int port;
        private final List<DatagramChannel> sockets = new ArrayList<>();
        private final List<Thread> readers = new ArrayList<>();
        private final AtomicLongArray counts;
        private final DatagramChannel tx;

        Group(int n) throws IOException {
            counts = new AtomicLongArray(n);
            int p = 0;
            java.util.Map<DatagramChannel, Long> inodes = new java.util.HashMap<>();
            for (int i = 0; i < n; i++) {
                Set<Long> before = socketInodes();
                DatagramChannel ch = DatagramChannel.open();
                Set<Long> created = socketInodes();
                created.removeAll(before);
                ch.setOption(StandardSocketOptions.SO_REUSEPORT, true);
                ch.setOption(StandardSocketOptions.SO_RCVBUF, 4 << 20);
                ch.bind(new InetSocketAddress("127.0.0.1", p));
                p = ((InetSocketAddress) ch.getLocalAddress()).getPort();
                sockets.add(ch);
                inodes.put(ch, created.size() == 1 ? created.iterator().next() : Long.MAX_VALUE);
                forceReceiveBuffer(ch);
            }
            // syrupd numbers executors by ascending inode, and inodes come in per-CPU batches:
            // index the sockets the way syrupd will.
            sockets.sort(java.util.Comparator.comparingLong(inodes::get));
            port = p;
            for (int i = 0; i < n; i++) {
                int idx = i;
                Thread t = new Thread(() -> drain(idx), "it-udp-" + i);
                t.setDaemon(true);
                t.start();
                readers.add(t);
            }
            tx = DatagramChannel.open();
            tx.bind(new InetSocketAddress("127.0.0.1", 0));
        }

        /**
         * SO_RCVBUF is capped by net.core.rmem_max (a few hundred small datagrams), too little
         * when the machine is busy; root may go beyond with SO_RCVBUFFORCE, which Java does
         * not offer: set it on a duplicate of the channel's descriptor.
         */
        private static void forceReceiveBuffer(DatagramChannel ch) throws IOException {
            try (Fd self = Pidfd.open(ProcessHandle.current().pid()); Fd dup = Pidfd.getfd(self, Syrup.fdOf(ch))) {
                Sockets.setIntOption(dup, Sockets.SOL_SOCKET, Sockets.SO_RCVBUFFORCE, 8 << 20);
            } catch (SyrupException e) {
                throw new IOException(e);
            }
        }

        private static Set<Long> socketInodes() throws IOException {
            Set<Long> out = new HashSet<>();
            try (var fds = Files.list(Path.of("/proc/self/fd"))) {
                for (Path fd : fds.toList()) {
                    try {
                        String link = Files.readSymbolicLink(fd).toString();
                        if (link.startsWith("socket:[")) {
                            out.add(Long.parseLong(link.substring(8, link.length() - 1)));
                        }
                    } catch (IOException e) {
                        // closed meanwhile
                    }
                }
            }
            return out;
        }

        private void drain(int idx) {
            ByteBuffer buf = ByteBuffer.allocate(2048);
            try {
                while (true) {
                    buf.clear();
                    sockets.get(idx).receive(buf);
                    counts.incrementAndGet(idx);
                }
            } catch (ClosedChannelException e) {
                // closed
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        }

        /** GET requests in the documented format, from one source port, paced for the readers. */
        void send(int n) throws IOException, InterruptedException {
            ByteBuffer buf = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN);
            InetSocketAddress to = new InetSocketAddress("127.0.0.1", port);
            for (int i = 0; i < n; i++) {
                buf.clear();
                buf.putInt(0).putInt(1).putLong(i).flip();
                tx.send(buf, to);
                if (i % 20 == 19) { // ~20k/s: the readers keep up with default-sized buffers, even on a busy machine
                    Thread.sleep(1);
                }
            }
        }

        long[] counts() {
            long[] out = new long[counts.length()];
            for (int i = 0; i < out.length; i++) {
                out[i] = counts.get(i);
            }
            return out;
        }

        long max() {
            return Arrays.stream(counts()).max().orElse(0);
        }

        void reset() {
            for (int i = 0; i < counts.length(); i++) {
                counts.set(i, 0);
            }
        }

        long await(long expected) throws InterruptedException {
            long end = System.currentTimeMillis() + 10_000;
            while (Arrays.stream(counts()).sum() < expected && System.currentTimeMillis() < end) {
                Thread.sleep(10);
            }
            Thread.sleep(50);
            return Arrays.stream(counts()).sum();
        }

        @Override
        public void close() throws Exception {
            tx.close();
            for (DatagramChannel ch : sockets) {
                ch.close();
            }
            for (Thread t : readers) {
                t.join(2000);
            }
        }
    }
}
