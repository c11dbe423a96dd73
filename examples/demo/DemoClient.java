// Open-loop load client for DemoServer: Poisson arrivals at a fixed rate, a GET/SCAN mix, and
// per-socket counts plus GET and SCAN latency percentiles. JDK only; run with
// `java examples/demo/DemoClient.java`.
//
// Request (24 bytes): u32 LE type (0 = GET, 1 = SCAN), u32 LE user id, u64 LE send time (ns),
// u64 LE sequence number. The reply is the request plus a u32 LE server socket index.
//
// All requests leave from ONE source port unless --source-ports K is given: with one flow the
// kernel's default reuseport hash sends everything to a single server socket.
//
// --calibrate SECONDS: no open loop; keeps --window requests outstanding for that long (closed
// loop, same mix) and prints "capacity N" (replies/s): what the server sustains right now on
// this machine, with whatever else runs on it. The demo sets its load from that.

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.DatagramChannel;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

public class DemoClient {
    static final int LEN = 24;

    public static void main(String[] args) throws Exception {
        String host = "127.0.0.1", label = "run";
        int port = 9000, rate = 4000, sources = 1, nsock = 4;
        double seconds = 5, warmup = 0.5, scanRatio = 0.01;
        long seed = 1;
        boolean csv = false;
        double calibrate = 0;
        int window = 16;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--host" -> host = args[++i];
                case "--port" -> port = Integer.parseInt(args[++i]);
                case "--rate" -> rate = Integer.parseInt(args[++i]);
                case "--seconds" -> seconds = Double.parseDouble(args[++i]);
                case "--warmup" -> warmup = Double.parseDouble(args[++i]);
                case "--scan-ratio" -> scanRatio = Double.parseDouble(args[++i]);
                case "--source-ports" -> sources = Integer.parseInt(args[++i]);
                case "--sockets" -> nsock = Integer.parseInt(args[++i]);
                case "--seed" -> seed = Long.parseLong(args[++i]);
                case "--label" -> label = args[++i];
                case "--csv" -> csv = true;
                case "--calibrate" -> calibrate = Double.parseDouble(args[++i]);
                case "--window" -> window = Integer.parseInt(args[++i]);
                default -> {
                    System.err.println("usage: DemoClient [--host 127.0.0.1] [--port 9000] [--rate 4000]"
                            + " [--seconds 5] [--warmup 0.5] [--scan-ratio 0.01] [--source-ports 1]"
                            + " [--sockets 4] [--seed 1] [--label NAME] [--csv] [--calibrate SECONDS [--window 16]]");
                    System.exit(2);
                }
            }
        }

        if (calibrate > 0) {
            System.out.println("capacity " + capacity(new InetSocketAddress(host, port), calibrate, window, scanRatio, seed));
            return;
        }

        // Warm-up requests (JIT in client and server) are sent like the rest but not counted.
        int skip = (int) (rate * warmup), total = skip + (int) (rate * seconds);
        long[] lat = new long[total];    // ns, -1 = no reply
        int[] sockOf = new int[total];
        boolean[] scan = new boolean[total];
        Arrays.fill(lat, -1);
        Random rnd = new Random(seed);
        for (int i = 0; i < total; i++) scan[i] = rnd.nextDouble() < scanRatio;

        InetSocketAddress server = new InetSocketAddress(host, port);
        DatagramChannel[] chs = new DatagramChannel[sources];
        Thread[] rx = new Thread[sources];
        for (int k = 0; k < sources; k++) {
            chs[k] = DatagramChannel.open(StandardProtocolFamily.INET);
            // room for replies while this JVM waits for a core: a full buffer would count as lost
            chs[k].setOption(StandardSocketOptions.SO_RCVBUF, 8 << 20);
            chs[k].bind(new InetSocketAddress(host, 0)).connect(server);
            DatagramChannel ch = chs[k];
            rx[k] = new Thread(() -> receive(ch, lat, sockOf), "rx-" + k);
            rx[k].start();
        }

        // Open loop: the send schedule does not depend on replies. Latency is measured from the
        // actual send time, so client-side lateness on a busy machine is not blamed on the server.
        ByteBuffer b = ByteBuffer.allocateDirect(LEN).order(ByteOrder.LITTLE_ENDIAN);
        long next = System.nanoTime();
        for (int i = 0; i < total; i++) {
            next += (long) (-Math.log(1 - rnd.nextDouble()) * 1e9 / rate);
            long wait = next - System.nanoTime();
            if (wait > 0) LockSupport.parkNanos(wait);
            b.clear();
            b.putInt(scan[i] ? 1 : 0).putInt(i % 1000).putLong(System.nanoTime()).putLong(i).flip();
            try {
                chs[i % sources].write(b);
            } catch (IOException e) { // e.g. ECONNREFUSED from an earlier ICMP: count as lost
            }
        }
        Thread.sleep(1000); // replies later than this count as lost
        for (DatagramChannel ch : chs) ch.close();
        for (Thread t : rx) t.join();

        report(label, lat, sockOf, scan, skip, nsock, rate, seconds, scanRatio, sources, csv);
    }

    /** Replies per second with {@code window} requests outstanding; the first quarter is warm-up. */
    static long capacity(InetSocketAddress server, double seconds, int window, double scanRatio, long seed)
            throws Exception {
        Semaphore slots = new Semaphore(window);
        AtomicLong replies = new AtomicLong();
        try (DatagramChannel ch = DatagramChannel.open(StandardProtocolFamily.INET)) {
            ch.bind(new InetSocketAddress(server.getAddress(), 0)).connect(server);
            Thread rx = new Thread(() -> {
                ByteBuffer b = ByteBuffer.allocateDirect(2048);
                while (true) {
                    b.clear();
                    try {
                        ch.read(b);
                    } catch (ClosedChannelException e) {
                        return;
                    } catch (IOException e) {
                        continue;
                    }
                    replies.incrementAndGet();
                    slots.release();
                }
            }, "rx-calibrate");
            rx.start();
            Random rnd = new Random(seed);
            ByteBuffer b = ByteBuffer.allocateDirect(LEN).order(ByteOrder.LITTLE_ENDIAN);
            long start = System.nanoTime(), warm = start + (long) (seconds * 0.25e9), end = start + (long) (seconds * 1e9);
            long fromCount = -1, fromTime = 0;
            for (long i = 0; ; i++) {
                // a lost datagram must not stall the loop: a slot comes back after 100 ms anyway
                if (!slots.tryAcquire(100, TimeUnit.MILLISECONDS)) {
                    slots.release(window - slots.availablePermits());
                    continue;
                }
                long now = System.nanoTime();
                if (now >= end) break;
                if (fromCount < 0 && now >= warm) { fromCount = replies.get(); fromTime = now; }
                b.clear();
                b.putInt(rnd.nextDouble() < scanRatio ? 1 : 0).putInt(0).putLong(now).putLong(-1).flip();
                try {
                    ch.write(b);
                } catch (IOException e) {
                    slots.release();
                }
            }
            long n = replies.get() - Math.max(fromCount, 0);
            double secs = (System.nanoTime() - (fromCount < 0 ? start : fromTime)) / 1e9;
            ch.close();
            rx.join();
            return Math.round(n / secs);
        }
    }

    static void receive(DatagramChannel ch, long[] lat, int[] sockOf) {
        ByteBuffer b = ByteBuffer.allocateDirect(2048).order(ByteOrder.LITTLE_ENDIAN);
        while (true) {
            b.clear();
            try {
                ch.read(b);
            } catch (ClosedChannelException e) { // includes close() from the main thread
                return;
            } catch (IOException e) { // ECONNREFUSED while the server is not up yet
                continue;
            }
            long now = System.nanoTime();
            if (b.position() < LEN + 4) continue;
            int seq = (int) b.getLong(16);
            if (seq < 0 || seq >= lat.length) continue;
            lat[seq] = now - b.getLong(8);
            sockOf[seq] = b.getInt(LEN);
        }
    }

    static void report(String label, long[] lat, int[] sockOf, boolean[] scan, int skip, int nsock,
                       int rate, double seconds, double scanRatio, int sources, boolean csv) {
        int maxSock = nsock;
        for (int i = skip; i < lat.length; i++) if (lat[i] >= 0) maxSock = Math.max(maxSock, sockOf[i] + 1);
        long[] perSock = new long[maxSock];
        long[] get = new long[lat.length], scn = new long[lat.length];
        int ng = 0, ns = 0, sent = lat.length - skip, lost = 0;
        for (int i = skip; i < lat.length; i++) {
            if (lat[i] < 0) { lost++; continue; }
            perSock[sockOf[i]]++;
            if (scan[i]) scn[ns++] = lat[i]; else get[ng++] = lat[i];
        }
        get = Arrays.copyOf(get, ng);
        scn = Arrays.copyOf(scn, ns);
        Arrays.sort(get);
        Arrays.sort(scn);

        System.out.printf("%s: %d requests in %.1f s at %d/s, %.1f%% SCAN, %d source port(s)%n",
                label, sent, seconds, rate, scanRatio * 100, sources);
        StringBuilder h = new StringBuilder("  socket  "), c = new StringBuilder("  served  ");
        for (int i = 0; i < maxSock; i++) {
            h.append(String.format("%8d", i));
            c.append(String.format("%8d", perSock[i]));
        }
        System.out.println(h);
        System.out.println(c);
        System.out.printf("  %-6s %7s %9s %9s%n", "type", "replies", "p50(us)", "p99(us)");
        System.out.printf("  %-6s %7d %9s %9s%n", "GET", ng, us(get, 0.50), us(get, 0.99));
        System.out.printf("  %-6s %7d %9s %9s%n", "SCAN", ns, us(scn, 0.50), us(scn, 0.99));
        System.out.printf("  lost   %7d%n", lost);
        if (csv) {
            // label,sent,per-socket counts joined by '/',get_p50_us,get_p99_us,scan_p50_us,scan_p99_us,lost
            StringBuilder s = new StringBuilder();
            for (int i = 0; i < maxSock; i++) s.append(i == 0 ? "" : "/").append(perSock[i]);
            System.out.println(String.join(",", "csv", label, Integer.toString(sent), s.toString(),
                    us(get, 0.50), us(get, 0.99), us(scn, 0.50), us(scn, 0.99), Integer.toString(lost)));
        }
    }

    // Nearest-rank percentile in microseconds; "-" when there is no sample.
    static String us(long[] sorted, double p) {
        if (sorted.length == 0) return "-";
        int i = (int) Math.ceil(p * sorted.length) - 1;
        return Long.toString(sorted[Math.max(0, i)] / 1000);
    }
}
