package dev.syrup.daemon.control;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.syrup.api.Protocol;
import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
import dev.syrup.backend.ebpf.XdpSkbHook;
import dev.syrup.client.PolicyHandle;
import dev.syrup.client.Syrup;
import dev.syrup.client.XdpSocket;
import dev.syrup.hook.spi.Hook;
import dev.syrup.isolation.PortDispatcher;
import java.io.File;
import java.lang.reflect.Method;
import java.net.InetSocketAddress;
import java.nio.channels.DatagramChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * An application's AF_XDP socket through the control socket, end to end: the Java client deploys
 * at {@code xdp_skb} on a veth (DEPLOY with {@code iface}), registers its {@link XdpSocket}
 * (REGISTER_SOCKET: syrupd duplicates it with pidfd_getfd into the XSKMAP) and receives the
 * datagrams a peer in a network namespace sends to the port.
 */
class XdpControlKernelTest {

    private ControlTestSupport syrupd;
    private PortDispatcher dispatcher;
    private String ns;
    private String dev;
    private String local;

    @BeforeEach
    void start() throws Exception {
        ControlTestSupport.requireKernel();
        syrupd = new ControlTestSupport();
        dispatcher = new PortDispatcher();
        Method add = syrupd.manager.getClass().getDeclaredMethod("addHook", Hook.class);
        add.setAccessible(true);
        add.invoke(syrupd.manager, new XdpSkbHook(dispatcher));
        int r = ThreadLocalRandom.current().nextInt(0x10000, 0xfffff);
        int net = ThreadLocalRandom.current().nextInt(1, 254);
        ns = "syrn" + Integer.toHexString(r);
        dev = "syrx" + Integer.toHexString(r);
        String peer = "syry" + Integer.toHexString(r);
        local = "10.215." + net + ".1";
        run("ip", "netns", "add", ns);
        run("ip", "link", "add", dev, "numtxqueues", "1", "numrxqueues", "1", "type", "veth", "peer", "name", peer,
                "numtxqueues", "1", "numrxqueues", "1");
        run("ip", "link", "set", peer, "netns", ns);
        run("ip", "addr", "add", local + "/24", "dev", dev);
        run("ip", "link", "set", dev, "up");
        String mac = Files.readString(Path.of("/sys/class/net", dev, "address")).trim();
        run("nsenter", "--net=/run/netns/" + ns, "bash", "-c", "ip addr add 10.215." + net + ".2/24 dev " + peer
                + " && ip link set " + peer + " up && ip neigh replace " + local + " lladdr " + mac + " dev " + peer);
    }

    @AfterEach
    void stop() throws Exception {
        try {
            if (syrupd != null) {
                syrupd.close();
            }
            if (dispatcher != null) {
                dispatcher.close();
            }
        } finally {
            quietly("ip", "link", "del", dev);
            quietly("ip", "netns", "del", ns);
        }
    }

    @Test
    void theClientDeploysRegistersItsAfXdpSocketAndReceives() throws Exception {
        int port = ThreadLocalRandom.current().nextInt(20000, 30000);
        Path policy = syrupd.file("all_to_0.c", "uint32_t schedule(void *s, void *e) { return 0; }\n");
        try (Syrup syrup = Syrup.connect(syrupd.socket());
             XdpSocket xsk = XdpSocket.open(dev, 0);
             DatagramChannel other = DatagramChannel.open().bind(new InetSocketAddress("127.0.0.1", 0))) {
            SyrupException noCount = assertThrows(SyrupException.class,
                    () -> syrup.deployPolicy(policy, "xdp_skb", Protocol.UDP, port, dev, Map.of(), false));
            assertEquals(Kind.COMPILE, noCount.kind());
            assertTrue(noCount.getMessage().contains("NUM_EXECUTORS"), noCount.getMessage());

            PolicyHandle p = syrup.deployPolicy(policy, "xdp_skb", Protocol.UDP, port, dev, Map.of("NUM_EXECUTORS", "1"), false);
            assertEquals("xdp_skb", p.info().hook());
            assertEquals(Kind.INVALID, assertThrows(SyrupException.class,
                    () -> syrup.registerSocketFd(p.id(), Syrup.fdOf(other), 0)).kind(), "a UDP socket is no AF_XDP executor");
            p.registerSocket(xsk, 0);

            run("nsenter", "--net=/run/netns/" + ns, "bash", "-c",
                    "for i in $(seq 1 20); do printf 'xsk%04d' $i > /dev/udp/" + local + "/" + port + "; done");
            int got = 0;
            long end = System.nanoTime() + 10_000_000_000L;
            while (got < 20 && System.nanoTime() < end) {
                int n = xsk.receive(64, (umem, off, len, room) -> -1);
                got += n;
                if (n == 0) {
                    xsk.poll(20);
                }
            }
            assertEquals(20, got, "every datagram to the port reached the registered AF_XDP socket");
            p.undeploy();
            assertEquals(java.util.List.of(), dispatcher.claims(), "undeploy released the interface's claim");
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
