package dev.syrup.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.syrup.api.DeployRequest;
import dev.syrup.api.Deployment;
import dev.syrup.api.DeploymentStats;
import dev.syrup.api.PolicyTest;
import dev.syrup.api.Protocol;
import dev.syrup.api.Target;
import dev.syrup.api.TestPackets;
import dev.syrup.backend.ebpf.SocketSelectHook;
import dev.syrup.backend.ebpf.XdpSkbHook;
import dev.syrup.client.Syrup;
import dev.syrup.client.XdpSocket;
import dev.syrup.isolation.PortDispatcher;
import java.io.File;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.DatagramChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The same built-in file at two layers (paper §5.4): sita, unchanged, deployed at socket_select
 * (sockets of a SO_REUSEPORT group) and at xdp_skb (AF_XDP sockets on a veth), decides the same
 * for the same traffic from a peer network namespace: every SCAN to executor 0, every GET to 1.
 */
class PortableBuiltinKernelTest {

    static final int SENT = 40;
    static final int SCANS = SENT / 4;

    @TempDir
    static Path dir;

    private DeploymentManager syrupd;
    private PortDispatcher dispatcher;
    private Path bpffs;
    private String ns;
    private String dev;
    private String local;

    @BeforeAll
    static void kernel() {
        Kernel.require();
    }

    @BeforeEach
    void start() throws Exception {
        bpffs = Path.of("/sys/fs/bpf/syrup-test-" + UUID.randomUUID().toString().substring(0, 8));
        syrupd = new DeploymentManager(DaemonConfig.of(dir.resolve("work").toString(), bpffs.toString()));
        dispatcher = new PortDispatcher();
        syrupd.addHook(new SocketSelectHook(dispatcher));
        syrupd.addHook(new XdpSkbHook(dispatcher));
        int r = ThreadLocalRandom.current().nextInt(0x10000, 0xfffff);
        int net = ThreadLocalRandom.current().nextInt(1, 254);
        ns = "syrn" + Integer.toHexString(r);
        dev = "syrx" + Integer.toHexString(r);
        String peer = "syry" + Integer.toHexString(r);
        local = "10.216." + net + ".1";
        run("ip", "netns", "add", ns);
        run("ip", "link", "add", dev, "numtxqueues", "1", "numrxqueues", "1", "type", "veth", "peer", "name", peer,
                "numtxqueues", "1", "numrxqueues", "1");
        run("ip", "link", "set", peer, "netns", ns);
        run("ip", "addr", "add", local + "/24", "dev", dev);
        run("ip", "link", "set", dev, "up");
        String mac = Files.readString(Path.of("/sys/class/net", dev, "address")).trim();
        run("nsenter", "--net=/run/netns/" + ns, "bash", "-c", "ip addr add 10.216." + net + ".2/24 dev " + peer
                + " && ip link set " + peer + " up && ip neigh replace " + local + " lladdr " + mac + " dev " + peer);
    }

    @AfterEach
    void stop() throws Exception {
        try {
            syrupd.deactivate();
            dispatcher.close();
            Files.deleteIfExists(bpffs);
        } finally {
            quietly("ip", "link", "del", dev);
            quietly("ip", "netns", "del", ns);
        }
    }

    /** From the peer namespace: SENT requests to local:port, every 4th a SCAN. */
    private void sendTraffic(int port) throws Exception {
        StringBuilder script = new StringBuilder();
        for (int i = 0; i < SENT; i++) {
            String type = i % 4 == 0 ? "\\x01" : "\\x00";
            script.append("printf '").append(type).append("\\x00\\x00\\x00\\x07\\x00\\x00\\x00' > /dev/udp/")
                    .append(local).append('/').append(port).append("; ");
        }
        run("nsenter", "--net=/run/netns/" + ns, "bash", "-c", script.toString());
    }

    @Test
    void sitaDecidesTheSameAtSocketSelectAndXdpSkb() throws Exception {
        int port = ThreadLocalRandom.current().nextInt(20000, 30000);

        // socket_select: a group of two sockets on local:port, in syrupd's order (ascending inode).
        List<DatagramChannel> group = new ArrayList<>();
        try {
            for (int i = 0; i < 2; i++) {
                DatagramChannel ch = DatagramChannel.open();
                ch.setOption(StandardSocketOptions.SO_REUSEPORT, true);
                ch.bind(new InetSocketAddress(local, port));
                ch.configureBlocking(false);
                group.add(ch);
            }
            group.sort(Comparator.comparingLong(PortableBuiltinKernelTest::inode));
            Deployment d = syrupd.deploy(new DeployRequest("sita", "socket_select", Target.port(Protocol.UDP, port), Map.of(),
                    false, DeployRequest.ADMIN));
            assertEquals(2, d.executors());
            sendTraffic(port);
            int[][] got = new int[2][2];
            long end = System.nanoTime() + 10_000_000_000L;
            ByteBuffer buf = ByteBuffer.allocate(64).order(ByteOrder.LITTLE_ENDIAN);
            while (got[0][0] + got[0][1] + got[1][0] + got[1][1] < SENT && System.nanoTime() < end) {
                boolean any = false;
                for (int s = 0; s < 2; s++) {
                    buf.clear();
                    if (group.get(s).receive(buf) != null) {
                        got[s][buf.getInt(0)]++;
                        any = true;
                    }
                }
                if (!any) {
                    Thread.sleep(5);
                }
            }
            assertEquals(SCANS, got[0][1], "socket_select: every SCAN on socket 0");
            assertEquals(SENT - SCANS, got[1][0], "socket_select: every GET on socket 1");
            assertEquals(0, got[0][0] + got[1][1]);
            assertEquals(new DeploymentStats(List.of((long) SCANS, (long) (SENT - SCANS)), 0, 0, 0), syrupd.stats(d.id()));
            syrupd.undeploy(d.id());
        } finally {
            for (DatagramChannel ch : group) {
                ch.close();
            }
        }

        // xdp_skb: the same file, two AF_XDP sockets on the interface's queue 0.
        try (XdpSocket s0 = XdpSocket.open(dev, 0); XdpSocket s1 = s0.shareUmem()) {
            Deployment d = syrupd.deploy(new DeployRequest("sita", "xdp_skb", new Target(Protocol.UDP, port, Optional.of(dev)),
                    Map.of("NUM_EXECUTORS", "2"), false, DeployRequest.ADMIN));
            long pid = ProcessHandle.current().pid();
            syrupd.registerExecutor(d.id(), 0, pid, s0.fd());
            syrupd.registerExecutor(d.id(), 1, pid, s1.fd());
            sendTraffic(port);
            int[][] got = new int[2][2];
            List<XdpSocket> socks = List.of(s0, s1);
            long end = System.nanoTime() + 10_000_000_000L;
            ByteBuffer buf = ByteBuffer.allocate(2048).order(ByteOrder.LITTLE_ENDIAN);
            while (got[0][0] + got[0][1] + got[1][0] + got[1][1] < SENT && System.nanoTime() < end) {
                boolean any = false;
                for (int s = 0; s < 2; s++) {
                    buf.clear();
                    if (socks.get(s).receive(buf) > 0) {
                        got[s][buf.getInt(14 + 20 + 8)]++; // Ethernet, IPv4, UDP, then the request's type
                        any = true;
                    }
                }
                if (!any) {
                    s0.poll(5);
                }
            }
            assertEquals(SCANS, got[0][1], "xdp_skb: every SCAN on AF_XDP socket 0");
            assertEquals(SENT - SCANS, got[1][0], "xdp_skb: every GET on AF_XDP socket 1");
            assertEquals(0, got[0][0] + got[1][1]);
            assertEquals(new DeploymentStats(List.of((long) SCANS, (long) (SENT - SCANS)), 0, 0, 0), syrupd.stats(d.id()));
            syrupd.undeploy(d.id());
        }

        // syrup:test agrees at both hooks on the same requests.
        List<byte[]> inputs = TestPackets.inputs(List.of("SCAN,user=7", "GET,user=7", "GET,user=7", "GET,user=7"), List.of(),
                List.of(), SENT, port);
        for (String hook : List.of("socket_select", "xdp_skb")) {
            var r = syrupd.test(new PolicyTest("sita", hook, Map.of(), 2, inputs, Map.of(), DeployRequest.ADMIN));
            assertEquals(Map.of(0, (long) SCANS, 1, (long) (SENT - SCANS)), r.histogram(), hook);
        }
    }

    private static long inode(DatagramChannel ch) {
        try {
            String link = Files.readSymbolicLink(Path.of("/proc/self/fd/" + Syrup.fdOf(ch))).toString();
            return Long.parseLong(link.substring(8, link.length() - 1));
        } catch (IOException | dev.syrup.api.SyrupException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void run(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), String.join(" ", cmd));
        assertEquals(0, p.exitValue(), String.join(" ", cmd) + ":\n" + out);
    }

    private static void quietly(String... cmd) {
        try {
            new ProcessBuilder(cmd).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                    .redirectError(ProcessBuilder.Redirect.DISCARD).start().waitFor(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            // clean-up only
        }
    }
}
