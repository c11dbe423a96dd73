import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Load for bench/xdp.sh: THREADS threads send 64-byte UDP datagrams to HOST:PORT as fast as
 * they can for SECONDS seconds (each from its own socket, replies are not read), then print
 * {@code sent N}.
 *
 * <pre>java UdpBlast.java HOST PORT SECONDS THREADS</pre>
 */
public final class UdpBlast {
    public static void main(String[] args) throws Exception {
        InetSocketAddress to = new InetSocketAddress(args[0], Integer.parseInt(args[1]));
        long end = System.nanoTime() + Long.parseLong(args[2]) * 1_000_000_000L;
        int threads = Integer.parseInt(args[3]);
        AtomicLong sent = new AtomicLong();
        Thread[] t = new Thread[threads];
        for (int i = 0; i < threads; i++) {
            int id = i;
            t[i] = new Thread(() -> {
                try (DatagramChannel ch = DatagramChannel.open()) {
                    ch.connect(to);
                    ByteBuffer b = ByteBuffer.allocateDirect(64);
                    long n = 0;
                    while (System.nanoTime() < end) {
                        for (int k = 0; k < 64; k++) {
                            b.clear();
                            b.putLong(0, id).putLong(8, n++);
                            try {
                                ch.write(b);
                            } catch (java.io.IOException e) {
                                // ECONNREFUSED from an ICMP answer: go on
                            }
                        }
                    }
                    sent.addAndGet(n);
                } catch (Exception e) {
                    e.printStackTrace();
                }
            });
            t[i].start();
        }
        for (Thread x : t) {
            x.join();
        }
        System.out.println("sent " + sent.get());
    }
}
