package dev.syrup.daemon;

import dev.syrup.bpf.Fd;
import dev.syrup.bpf.Pidfd;
import dev.syrup.bpf.Sockets;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.DatagramChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * N UDP sockets in one SO_REUSEPORT group on 127.0.0.1, created in index order (so executor
 * index = socket index), each drained by its own thread that counts GETs and SCANs.
 */
public final class UdpGroup implements AutoCloseable {

    static final int GET = 0;
    static final int SCAN = 1;
    private static final int RCVBUF = 8 << 20;

    public final int port;
    private final List<DatagramChannel> sockets = new ArrayList<>();
    private final List<Thread> readers = new ArrayList<>();
    /** [socket * 2 + type] */
    private final AtomicLongArray counts;

    public UdpGroup(int n) throws IOException {
        counts = new AtomicLongArray(n * 2);
        int p = 0;
        java.util.Map<DatagramChannel, Long> inodes = new java.util.HashMap<>();
        for (int i = 0; i < n; i++) {
            java.util.Set<Long> before = socketInodes();
            DatagramChannel ch = DatagramChannel.open();
            java.util.Set<Long> created = socketInodes();
            created.removeAll(before);
            ch.setOption(StandardSocketOptions.SO_REUSEPORT, true);
            ch.setOption(StandardSocketOptions.SO_RCVBUF, RCVBUF);
            ch.bind(new InetSocketAddress("127.0.0.1", p));
            p = ((InetSocketAddress) ch.getLocalAddress()).getPort();
            sockets.add(ch);
            inodes.put(ch, created.size() == 1 ? created.iterator().next() : Long.MAX_VALUE);
        }
        // syrupd numbers executors by ascending inode; inodes come in per-CPU batches, so a
        // thread that moved between CPUs may have created them out of inode order: index the
        // sockets the way syrupd will.
        sockets.sort(java.util.Comparator.comparingLong(inodes::get));
        port = p;
        forceReceiveBuffers(port, RCVBUF);
        for (int i = 0; i < n; i++) {
            int idx = i;
            Thread t = new Thread(() -> drain(idx), "udp-reader-" + i);
            t.setDaemon(true);
            t.start();
            readers.add(t);
        }
    }

    private void drain(int idx) {
        ByteBuffer buf = ByteBuffer.allocate(2048).order(ByteOrder.LITTLE_ENDIAN);
        DatagramChannel ch = sockets.get(idx);
        try {
            while (true) {
                buf.clear();
                ch.receive(buf);
                int type = buf.position() >= 4 ? buf.getInt(0) : GET;
                counts.incrementAndGet(idx * 2 + (type == SCAN ? SCAN : GET));
            }
        } catch (ClosedChannelException e) {
            // closed by close()
        } catch (IOException e) {
            throw new RuntimeException(e);
        }
    }

    /**
     * SO_RCVBUF is capped by net.core.rmem_max (a few hundred small datagrams); root may
     * exceed it with SO_RCVBUFFORCE, which Java does not offer: set it on a duplicate of each
     * of our sockets (found through /proc like syrupd finds an application's).
     */
    public static void forceReceiveBuffers(int port, int bytes) throws IOException {
        java.util.Set<String> inodes = new java.util.HashSet<>();
        for (String table : List.of("/proc/net/udp", "/proc/net/udp6")) {
            for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of(table))) {
                String[] f = line.trim().split("\\s+");
                if (f.length > 9 && f[1].endsWith(String.format(":%04X", port))) {
                    inodes.add(f[9]);
                }
            }
        }
        try (Fd self = Pidfd.open(ProcessHandle.current().pid());
             var fds = java.nio.file.Files.list(java.nio.file.Path.of("/proc/self/fd"))) {
            for (java.nio.file.Path fd : fds.toList()) {
                String link;
                try {
                    link = java.nio.file.Files.readSymbolicLink(fd).toString();
                } catch (IOException e) {
                    continue;
                }
                if (link.startsWith("socket:[") && inodes.contains(link.substring(8, link.length() - 1))) {
                    try (Fd dup = Pidfd.getfd(self, Integer.parseInt(fd.getFileName().toString()))) {
                        Sockets.setIntOption(dup, Sockets.SOL_SOCKET, Sockets.SO_RCVBUFFORCE, bytes);
                    }
                }
            }
        }
    }

    private static java.util.Set<Long> socketInodes() throws IOException {
        java.util.Set<Long> out = new java.util.HashSet<>();
        try (var fds = java.nio.file.Files.list(java.nio.file.Path.of("/proc/self/fd"))) {
            for (java.nio.file.Path fd : fds.toList()) {
                try {
                    String link = java.nio.file.Files.readSymbolicLink(fd).toString();
                    if (link.startsWith("socket:[")) {
                        out.add(Long.parseLong(link.substring(8, link.length() - 1)));
                    }
                } catch (IOException e) {
                    // closed meanwhile (the listing's own fd)
                }
            }
        }
        return out;
    }

    long received(int socket) {
        return counts.get(socket * 2) + counts.get(socket * 2 + 1);
    }

    long received(int socket, int type) {
        return counts.get(socket * 2 + type);
    }

    public long total() {
        long t = 0;
        for (int i = 0; i < counts.length(); i++) {
            t += counts.get(i);
        }
        return t;
    }

    public long[] perSocket() {
        long[] out = new long[sockets.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = received(i);
        }
        return out;
    }

    void reset() {
        for (int i = 0; i < counts.length(); i++) {
            counts.set(i, 0);
        }
    }

    /** Waits until {@code expected} datagrams arrived (or the time is up); returns the total. */
    public long await(long expected, long millis) throws InterruptedException {
        long end = System.currentTimeMillis() + millis;
        long seen;
        while ((seen = total()) < expected && System.currentTimeMillis() < end) {
            Thread.sleep(10);
        }
        Thread.sleep(50); // let stragglers beyond `expected` show up, so "exactly" means exactly
        return total();
    }

    @Override
    public void close() throws IOException {
        for (DatagramChannel ch : sockets) {
            ch.close();
        }
        // The JDK releases a channel's fd only once the thread blocked in receive() has left.
        for (Thread t : readers) {
            try {
                t.join(2000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** Sends datagrams from one source socket (one source port), paced so readers keep up. */
    public static final class Sender implements AutoCloseable {
        private final DatagramChannel ch;
        private final InetSocketAddress to;
        private final ByteBuffer buf = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN);

        public Sender(int port) throws IOException {
            ch = DatagramChannel.open();
            ch.bind(new InetSocketAddress("127.0.0.1", 0));
            to = new InetSocketAddress("127.0.0.1", port);
        }

        void one(int type, long seq) throws IOException {
            buf.clear();
            buf.putInt(type).putInt(7).putLong(seq).flip();
            ch.send(buf, to);
        }

        /** Sends n datagrams; every {@code scanEvery}-th is a SCAN (0: none). */
        public void send(int n, int scanEvery) throws IOException, InterruptedException {
            for (int i = 0; i < n; i++) {
                one(scanEvery > 0 && i % scanEvery == 0 ? SCAN : GET, i);
                if (i % 200 == 199) {
                    Thread.sleep(1);
                }
            }
        }

        @Override
        public void close() throws IOException {
            ch.close();
        }
    }
}
