// Demo server: N single-threaded UDP sockets sharing one port through SO_REUSEPORT, so the
// kernel (or a Syrup socket_select policy) decides which socket - and thus which thread -
// serves each datagram. JDK only; run with `java examples/demo/DemoServer.java`.
//
// Request: u32 LE type (0 = GET, 1 = SCAN), u32 LE user id, then anything (echoed back).
// Reply:   the request bytes, then u32 LE index of the socket that served it.
// A GET spins --get-us of CPU; a SCAN spins --scan-us, or with --scan-waits waits that long
// (as for storage), holding its socket's thread but no core.

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.DatagramChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.Collectors;
import java.util.stream.Stream;

public class DemoServer {
    record Sock(DatagramChannel ch, long inode) {}

    public static void main(String[] args) throws Exception {
        String host = "127.0.0.1";
        int port = 9000, n = 4, rcvbuf = 8 << 20;
        long getNs = 10_000, scanNs = 700_000;
        boolean scanWaits = false;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--host" -> host = args[++i];
                case "--port" -> port = Integer.parseInt(args[++i]);
                case "--sockets" -> n = Integer.parseInt(args[++i]);
                case "--rcvbuf" -> rcvbuf = Integer.parseInt(args[++i]);
                case "--get-us" -> getNs = Long.parseLong(args[++i]) * 1000;
                case "--scan-us" -> scanNs = Long.parseLong(args[++i]) * 1000;
                case "--scan-waits" -> scanWaits = true;
                default -> {
                    System.err.println("usage: DemoServer [--host 127.0.0.1] [--port 9000] [--sockets 4]"
                            + " [--rcvbuf BYTES] [--get-us 10] [--scan-us 700] [--scan-waits]");
                    System.exit(2);
                }
            }
        }
        InetSocketAddress addr = new InetSocketAddress(host, port);

        // A socket without SO_REUSEPORT cannot bind into an existing reuseport group, so this
        // fails if a stale server still holds the port (we would silently join its group).
        try (DatagramChannel probe = DatagramChannel.open(StandardProtocolFamily.INET)) {
            probe.bind(addr);
        } catch (IOException e) {
            System.err.println("port " + port + " is in use: " + e.getMessage());
            System.exit(1);
        }

        // Open the sockets one after another: Syrup numbers executors by ascending socket inode.
        // Socket inodes come from per-CPU batches, so creation order is usually but not always
        // inode order; index the sockets by inode rank so our indices match Syrup's.
        // INET, not Java's default dual-stack INET6: plain IPv4 sockets, listed in /proc/net/udp.
        List<Sock> socks = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            Set<Long> before = socketInodes();
            DatagramChannel ch = DatagramChannel.open(StandardProtocolFamily.INET);
            Set<Long> added = socketInodes();
            added.removeAll(before);
            socks.add(new Sock(ch, added.size() == 1 ? added.iterator().next() : -1));
        }
        socks.sort(Comparator.comparingLong(Sock::inode));
        for (Sock s : socks) {
            s.ch.setOption(StandardSocketOptions.SO_REUSEPORT, true);
            s.ch.setOption(StandardSocketOptions.SO_RCVBUF, rcvbuf);
            s.ch.bind(addr);
        }

        AtomicLongArray served = new AtomicLongArray(n);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            StringBuilder sb = new StringBuilder("served");
            for (int i = 0; i < served.length(); i++) sb.append(' ').append(i).append('=').append(served.get(i));
            System.out.println(sb);
        }));

        List<Thread> workers = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int idx = i;
            DatagramChannel ch = socks.get(i).ch;
            long g = getNs, s = scanNs;
            boolean w = scanWaits;
            Thread t = new Thread(() -> serve(idx, ch, g, s, w, served), "sock-" + i);
            t.setDaemon(true); // SIGTERM: let the JVM exit and run the hook
            t.start();
            workers.add(t);
        }
        System.out.println("ready port=" + port + " sockets=" + n + " pid=" + ProcessHandle.current().pid()
                + " rcvbuf=" + socks.get(0).ch.getOption(StandardSocketOptions.SO_RCVBUF)
                + " inodes=" + socks.stream().map(x -> Long.toString(x.inode)).collect(Collectors.joining(",")));
        System.out.flush();
        for (Thread t : workers) t.join();
    }

    static void serve(int idx, DatagramChannel ch, long getNs, long scanNs, boolean scanWaits,
                      AtomicLongArray served) {
        ByteBuffer buf = ByteBuffer.allocateDirect(2048).order(ByteOrder.LITTLE_ENDIAN);
        try {
            while (true) {
                buf.clear();
                InetSocketAddress from = (InetSocketAddress) ch.receive(buf);
                if (buf.position() < 8 || buf.remaining() < 4) continue; // not a request
                int type = buf.getInt(0);
                if (type == 1 && scanWaits) {
                    waitFor(scanNs);
                } else {
                    spin(type == 1 ? scanNs : getNs);
                }
                buf.putInt(idx).flip();
                ch.send(buf, from);
                served.incrementAndGet(idx);
            }
        } catch (IOException e) {
            System.err.println("sock-" + idx + ": " + e);
        }
    }

    // Busy CPU, not sleep: the point is that a SCAN occupies its thread.
    static void spin(long ns) {
        long end = System.nanoTime() + ns;
        while (System.nanoTime() < end) Thread.onSpinWait();
    }

    // Waiting, as for storage: the SCAN holds its socket's thread but no core.
    static void waitFor(long ns) {
        long end = System.nanoTime() + ns;
        for (long left = ns; left > 0; left = end - System.nanoTime()) LockSupport.parkNanos(left);
    }

    static Set<Long> socketInodes() throws IOException {
        Set<Long> out = new HashSet<>();
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            for (Path fd : (Iterable<Path>) fds::iterator) {
                try {
                    String t = Files.readSymbolicLink(fd).toString(); // "socket:[12345]"
                    if (t.startsWith("socket:[")) out.add(Long.parseLong(t.substring(8, t.length() - 1)));
                } catch (IOException ignored) { // fd closed meanwhile (e.g. the listing's own)
                }
            }
        }
        return out;
    }
}
