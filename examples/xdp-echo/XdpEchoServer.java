import dev.syrup.api.Protocol;
import dev.syrup.client.PolicyHandle;
import dev.syrup.client.Syrup;
import dev.syrup.client.XdpSocket;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * A UDP echo server on an AF_XDP socket, using only the Syrup client jar (syrup-client, with
 * syrup-api, syrup-native and jnr-ffi).
 *
 * <p>It opens an {@link XdpSocket} on queue {@code --queue} of {@code --iface}, asks syrupd to
 * deploy a one-line policy at {@code xdp_skb} (or {@code xdp_drv} with {@code --mode drv}) that
 * sends every packet to UDP port {@code --port} on that interface to executor 0, registers the
 * socket as executor 0, and then answers each datagram in place: Ethernet, IPv4 and UDP source
 * and destination are swapped (the checksums stay valid: they do not depend on the order) and the
 * frame goes back out of the same socket. It runs until killed, or for {@code --seconds}, and
 * prints how many datagrams it echoed each second.
 *
 * <pre>
 * java -cp CLIENT_CLASSPATH XdpEchoServer.java --iface veth0 --port 7000 [--queue 0] [--mode skb|drv] [--seconds N]
 * </pre>
 */
public final class XdpEchoServer {

    private static final String POLICY = """
            /* Every packet syrupd's dispatcher hands us is to our port: all to AF_XDP socket 0. */
            uint32_t schedule(void *pkt_start, void *pkt_end)
            {
            	return 0;
            }
            """;

    public static void main(String[] args) throws Exception {
        String iface = null;
        int port = 7000, queue = 0, seconds = 0;
        String mode = "skb";
        for (int i = 0; i + 1 < args.length; i += 2) {
            switch (args[i]) {
                case "--iface" -> iface = args[i + 1];
                case "--port" -> port = Integer.parseInt(args[i + 1]);
                case "--queue" -> queue = Integer.parseInt(args[i + 1]);
                case "--mode" -> mode = args[i + 1];
                case "--seconds" -> seconds = Integer.parseInt(args[i + 1]);
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        if (iface == null) {
            throw new IllegalArgumentException("usage: XdpEchoServer --iface IF --port P [--queue Q] [--mode skb|drv] [--seconds N]");
        }
        Path policy = Files.createTempFile("xdp_echo", ".c");
        Files.writeString(policy, POLICY);
        // The UDP socket marks the port as ours (syrupd lets an application deploy only on a
        // port it holds) and answers what the policy passes on.
        try (DatagramChannel claim = DatagramChannel.open().bind(new InetSocketAddress(port));
             XdpSocket xsk = XdpSocket.open(iface, queue);
             Syrup syrup = Syrup.connect()) {
            PolicyHandle p = syrup.deployPolicy(policy, "xdp_" + mode, Protocol.UDP, port, iface,
                    Map.of("NUM_EXECUTORS", "1"), false);
            p.registerSocket(xsk, 0);
            System.out.println("echoing udp/" + port + " on " + iface + " queue " + queue + " ("
                    + (xsk.zeroCopy() ? "zero-copy" : "copy mode") + ", deployment " + p.id() + ")");
            long end = seconds > 0 ? System.nanoTime() + seconds * 1_000_000_000L : Long.MAX_VALUE;
            long echoed = 0, lastReport = System.nanoTime(), lastCount = 0;
            while (System.nanoTime() < end) {
                int n = xsk.receive(64, XdpEchoServer::echo);
                echoed += n;
                if (n == 0) {
                    xsk.poll(10);
                }
                long now = System.nanoTime();
                if (now - lastReport >= 1_000_000_000L) {
                    System.out.println("echoed " + (echoed - lastCount) + "/s, " + echoed + " in all");
                    lastReport = now;
                    lastCount = echoed;
                }
            }
            xsk.flush();
            p.undeploy();
            System.out.println("echoed " + echoed + " in all");
        } finally {
            Files.deleteIfExists(policy);
        }
    }

    /** Turns the frame at {@code off} into its answer in place; -1 (drop) for anything but IPv4/UDP. */
    static int echo(ByteBuffer umem, int off, int len, int room) {
        if (len < 42 || umem.getShort(off + 12) != (short) 0x0800 || umem.get(off + 23) != 17) {
            return -1;
        }
        int ihl = (umem.get(off + 14) & 0x0f) * 4;
        if (ihl < 20 || 14 + ihl + 8 > len) {
            return -1;
        }
        swap(umem, off, off + 6, 6);                    // MAC addresses
        swap(umem, off + 26, off + 30, 4);              // IPv4 addresses
        swap(umem, off + 14 + ihl, off + 14 + ihl + 2, 2); // UDP ports
        return len;
    }

    private static void swap(ByteBuffer b, int x, int y, int n) {
        for (int i = 0; i < n; i++) {
            byte t = b.get(x + i);
            b.put(x + i, b.get(y + i));
            b.put(y + i, t);
        }
    }
}
