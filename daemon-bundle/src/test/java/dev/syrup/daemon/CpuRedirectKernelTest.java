package dev.syrup.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.syrup.api.DeployRequest;
import dev.syrup.api.Deployment;
import dev.syrup.api.DeploymentStats;
import dev.syrup.api.Protocol;
import dev.syrup.api.SyrupException;
import dev.syrup.api.Target;
import dev.syrup.api.map.SyrupMap;
import dev.syrup.backend.ebpf.CpuRedirectHook;
import dev.syrup.bpf.Xdp;
import dev.syrup.dispatch.Dispatcher.XdpMode;
import dev.syrup.isolation.PortDispatcher;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * cpu_redirect end to end: syrupd compiles a policy for the hook, the interface's XDP root
 * dispatcher tail-calls it for the claimed port, and it steers packets to cores through the
 * deployment's CPUMAP. A veth pair this test makes: {@code dev} stays here with 10.212.N.1 and
 * receives; the peer goes into namespace {@code ns} with 10.212.N.2 and sends UDP from there
 * (bash's /dev/udp through nsenter). The first payload byte tells the policy what to do: 'a'
 * core index 0, 'b' core index 1, 'd' DROP, anything else PASS. Where packets landed is read
 * from the second-stage CPUMAP program's per-CPU counter (it runs on the core the packet was
 * sent to and counts under bpf_get_smp_processor_id()).
 */
class CpuRedirectKernelTest {

    private static final int N = 100;

    @TempDir
    static Path dir;

    private String ns;
    private String dev;
    private String peer;
    private String local;
    private Path bpffs;
    private DeploymentManager syrupd;
    private PortDispatcher dispatcher;

    @BeforeAll
    static void kernel() {
        Kernel.require();
    }

    @BeforeEach
    void veth() throws Exception {
        int r = ThreadLocalRandom.current().nextInt(0x10000, 0xfffff);
        int net = ThreadLocalRandom.current().nextInt(1, 254);
        ns = "syrcn" + Integer.toHexString(r);
        dev = "syrcx" + Integer.toHexString(r);
        peer = "syrcy" + Integer.toHexString(r);
        local = "10.212." + net + ".1";
        run("ip", "netns", "add", ns);
        run("ip", "link", "add", dev, "type", "veth", "peer", "name", peer);
        run("ip", "link", "set", peer, "netns", ns);
        run("ip", "addr", "add", local + "/24", "dev", dev);
        run("ip", "link", "set", dev, "up");
        inNs("ip addr add 10.212." + net + ".2/24 dev " + peer + " && ip link set " + peer + " up && ip link set lo up"
                // native XDP on veth leaves the sender's UDP checksum partial after a CPUMAP redirect
                + " && ethtool -K " + peer + " tx off >/dev/null");
        bpffs = Path.of("/sys/fs/bpf/syrup-test-" + UUID.randomUUID().toString().substring(0, 8));
        syrupd = new DeploymentManager(DaemonConfig.of(dir.resolve("work").toString(), bpffs.toString()));
        dispatcher = new PortDispatcher();
    }

    @AfterEach
    void removeVeth() throws IOException {
        try {
            syrupd.deactivate();
            assertEquals(List.of(), dispatcher.claims(), "every claim released with its deployment");
            dispatcher.close();
            assertFalse(Files.exists(bpffs.resolve(DeployRequest.ADMIN)), "pins left under " + bpffs);
            Files.deleteIfExists(bpffs);
        } finally {
            quietly("ip", "link", "del", dev);
            quietly("ip", "netns", "del", ns);
        }
    }

    @Test
    void genericModeSteersToTheChosenCorePassesAndDrops() throws Exception {
        steer(XdpMode.SKB, Xdp.XDP_FLAGS_SKB_MODE);
    }

    @Test
    void nativeModeSteersToTheChosenCorePassesAndDrops() throws Exception {
        steer(XdpMode.DRV, Xdp.XDP_FLAGS_DRV_MODE);
    }

    @Test
    void needsAnInterface() {
        CpuRedirectHook hook = new CpuRedirectHook(dispatcher, List.of(0), XdpMode.SKB, 64);
        syrupd.addHook(hook);
        SyrupException e = assertThrows(SyrupException.class, () -> syrupd.deploy(new DeployRequest(policy(),
                CpuRedirectHook.NAME, Target.port(Protocol.UDP, 9), Map.of(), false, DeployRequest.ADMIN)));
        assertEquals(SyrupException.Kind.INVALID, e.kind());
        assertTrue(e.getMessage().contains("--iface"), e.getMessage());
    }

    private void steer(XdpMode mode, int modeFlag) throws Exception {
        int cpus = Runtime.getRuntime().availableProcessors();
        org.junit.jupiter.api.Assumptions.assumeTrue(cpus >= 2, "needs two CPUs");
        List<Integer> cores = List.of(1, 0);
        CpuRedirectHook hook = new CpuRedirectHook(dispatcher, cores, mode, 256);
        syrupd.addHook(hook);
        int ifindex = Xdp.ifindex(dev);
        try (DatagramChannel rx = DatagramChannel.open()) {
            rx.bind(new InetSocketAddress(local, 0));
            rx.configureBlocking(false);
            int port = ((InetSocketAddress) rx.getLocalAddress()).getPort();
            Deployment d = syrupd.deploy(new DeployRequest(policy(), CpuRedirectHook.NAME,
                    new Target(Protocol.UDP, port, Optional.of(dev)), Map.of(), false, DeployRequest.ADMIN));
            assertEquals(2, d.executors());
            assertTrue(Xdp.attachedProgramId(ifindex, modeFlag).isPresent(), "the root dispatcher runs in " + mode);

            // One batch at a time: the socket's receive buffer holds about a batch.
            send(port, 'a');
            assertEquals(Map.of('a', N), receive(rx, N), "redirected to index 0's core, then up the stack there");
            send(port, 'b');
            assertEquals(Map.of('b', N), receive(rx, N), "redirected to index 1's core, then up the stack there");
            send(port, 'p');
            assertEquals(Map.of('p', N), receive(rx, N), "PASS goes on through the normal stack");
            send(port, 'd');
            assertEquals(Map.of(), receive(rx, 0), "DROP drops");

            SyrupMap arrived = syrupd.maps(d.id()).stream()
                    .filter(m -> m.name().equals(CpuRedirectHook.COUNTER_MAP)).findFirst().orElseThrow();
            // 'a' -> index 0 = cpu 1, 'b' -> index 1 = cpu 0; 'p' and 'd' never enter the CPUMAP.
            assertEquals(N, arrived.lookup(1).orElse(-1), "index 0 landed on cpu 1: " + arrived.dump());
            assertEquals(N, arrived.lookup(0).orElse(-1), "index 1 landed on cpu 0: " + arrived.dump());
            // The decision counters (DecisionStats): each datagram sent while deployed, once.
            DeploymentStats expected = new DeploymentStats(List.of((long) N, (long) N), N, N, 0);
            DeploymentStats stats = syrupd.stats(d.id());
            for (long end = System.nanoTime() + 2_000_000_000L; !stats.equals(expected) && System.nanoTime() < end; ) {
                Thread.sleep(20); // the DROP batch has no receiver to wait for
                stats = syrupd.stats(d.id());
            }
            assertEquals(expected, stats, "N per index, N PASS, N DROP");

            syrupd.undeploy(d.id());
            assertEquals(OptionalInt.empty(), Xdp.attachedProgramId(ifindex, 0), "the root goes with the last claim");
            send(port, 'd');
            assertEquals(Map.of('d', N), receive(rx, N), "after undeploy the port's packets are the stack's again");
        }
    }

    @Test
    void aRestartReadoptsTheDeploymentOnItsInterfaceWithItsMaps() throws Exception {
        Path counting = dir.resolve("count_and_pass.c");
        Files.writeString(counting, """
                #include "syrup.h"
                SYR_MAP(seen, 1);
                uint32_t schedule(void *pkt_start, void *pkt_end)
                {
                	uint32_t zero = 0;
                	uint64_t *n = syr_map_lookup_elem(&seen, &zero);
                	if (n)
                		__sync_fetch_and_add(n, 1);
                	return PASS;
                }
                """);
        syrupd.addHook(new CpuRedirectHook(dispatcher, List.of(0), XdpMode.SKB, 64));
        int ifindex = Xdp.ifindex(dev);
        try (DatagramChannel rx = DatagramChannel.open()) {
            rx.bind(new InetSocketAddress(local, 0));
            rx.configureBlocking(false);
            int port = ((InetSocketAddress) rx.getLocalAddress()).getPort();
            Deployment d = syrupd.deploy(new DeployRequest(counting.toString(), CpuRedirectHook.NAME,
                    new Target(Protocol.UDP, port, Optional.of(dev)), Map.of(), false, DeployRequest.ADMIN));
            send(port, 'x');
            assertEquals(Map.of('x', N), receive(rx, N));
            assertEquals(N, syrupd.map(d.id(), "seen").lookup(0).orElse(-1));
            Path pins = bpffs.resolve(DeployRequest.ADMIN).resolve(d.id());

            // Karaf shuts down: the interface is left clean, the policy's Map stays pinned.
            syrupd.stop(true);
            dispatcher.close();
            assertEquals(OptionalInt.empty(), Xdp.attachedProgramId(ifindex, 0), "nothing left attached");
            assertTrue(Files.exists(pins.resolve("seen")), "the policy's Map stays for the next syrupd");
            assertFalse(Files.exists(pins.resolve(CpuRedirectHook.COUNTER_MAP)), "the hook's own counter does not");

            // The next syrupd.
            syrupd = new DeploymentManager(DaemonConfig.of(dir.resolve("work").toString(), bpffs.toString()));
            dispatcher = new PortDispatcher();
            syrupd.addHook(new CpuRedirectHook(dispatcher, List.of(0), XdpMode.SKB, 64));
            assertEquals(List.of(d.id()), syrupd.list().stream().map(Deployment::id).toList(), "re-adopted");
            assertTrue(Xdp.attachedProgramId(ifindex, Xdp.XDP_FLAGS_SKB_MODE).isPresent(), "the root runs again");
            assertEquals(N, syrupd.map(d.id(), "seen").lookup(0).orElse(-1), "with the Map's contents");
            send(port, 'y');
            assertEquals(Map.of('y', N), receive(rx, N));
            assertEquals(2L * N, syrupd.map(d.id(), "seen").lookup(0).orElse(-1), "counting on in the same Map");
        }
    }

    /** The test policy: 'a' → 0, 'b' → 1, 'd' → DROP, else PASS; found from the Ethernet header by syr_l4(). */
    private static String policy() {
        try {
            Path p = dir.resolve("by_first_byte.c");
            Files.writeString(p, """
                    #include "syrup.h"

                    uint32_t schedule(void *pkt_start, void *pkt_end)
                    {
                    	struct udphdr *udp = syr_l4(pkt_start, pkt_end);
                    	uint8_t *payload;

                    	if (!udp || !syr_has(udp, sizeof(*udp) + 1, pkt_end))
                    		return PASS;
                    	payload = (uint8_t *)(udp + 1);
                    	switch (payload[0]) {
                    	case 'a':
                    		return 0;
                    	case 'b':
                    		return 1;
                    	case 'd':
                    		return DROP;
                    	default:
                    		return PASS;
                    	}
                    }
                    """);
            return p.toString();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** N datagrams from the namespace, payload starting with {@code c}. */
    private void send(int port, char c) throws Exception {
        inNs("for i in $(seq 1 " + N + "); do printf '" + c + "%04d' $i > /dev/udp/" + local + "/" + port + "; done");
    }

    /** Datagrams by first payload byte, until {@code expected} arrived (10 s at most), plus a short grace for extras. */
    private static Map<Character, Integer> receive(DatagramChannel ch, int expected) throws Exception {
        Map<Character, Integer> got = new TreeMap<>();
        ByteBuffer buf = ByteBuffer.allocate(64);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        int total = 0;
        long graceEnd = expected == 0 ? System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(300) : Long.MAX_VALUE;
        while (System.nanoTime() < Math.min(deadline, graceEnd)) {
            buf.clear();
            if (ch.receive(buf) == null) {
                Thread.sleep(5);
                continue;
            }
            buf.flip();
            char c = (char) buf.get(0);
            got.merge(c, 1, Integer::sum);
            if (++total == expected) {
                graceEnd = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(200);
            }
        }
        return got;
    }

    private void inNs(String script) throws Exception {
        run("nsenter", "--net=/run/netns/" + ns, "bash", "-c", script);
    }

    private static void run(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IllegalStateException(String.join(" ", cmd) + " failed: " + out);
        }
    }

    private static void quietly(String... cmd) {
        try {
            run(cmd);
        } catch (Exception e) {
            // best effort cleanup
        }
    }
}
