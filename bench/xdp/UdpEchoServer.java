import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;

/**
 * The plain-Java baseline of bench/xdp.sh: one DatagramChannel on PORT echoes each datagram
 * back for SECONDS seconds (receive rate is what is measured), printing {@code ready} once bound
 * and {@code received N} at the end.
 *
 * <pre>java UdpEchoServer.java PORT SECONDS</pre>
 */
public final class UdpEchoServer {
    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(args[0]);
        long end = System.nanoTime() + Long.parseLong(args[1]) * 1_000_000_000L;
        try (DatagramChannel ch = DatagramChannel.open()) {
            ch.setOption(StandardSocketOptions.SO_RCVBUF, 4 << 20);
            ch.bind(new InetSocketAddress(port));
            ch.configureBlocking(false);
            ByteBuffer b = ByteBuffer.allocateDirect(2048);
            long n = 0;
            System.out.println("ready");
            while (System.nanoTime() < end) {
                b.clear();
                SocketAddress from = ch.receive(b);
                if (from == null) {
                    Thread.onSpinWait();
                    continue;
                }
                n++;
                b.flip();
                ch.send(b, from);
            }
            System.out.println("received " + n);
        }
    }
}
