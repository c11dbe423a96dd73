package dev.syrup.bench.kv;

import dev.syrup.bpf.BpfMap;
import dev.syrup.bpf.MappedArray;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.DatagramChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.stream.Stream;
import org.rocksdb.Options;
import org.rocksdb.ReadOptions;
import org.rocksdb.RocksDB;
import org.rocksdb.RocksIterator;
import org.rocksdb.WriteBatch;
import org.rocksdb.WriteOptions;

/**
 * UDP key-value server over RocksDB: N worker threads, each with its own SO_REUSEPORT socket on
 * one port, so the kernel (or a Syrup socket_select policy) picks the thread of each request.
 *
 * <p>Request: u32 LE type (0 = GET, 1 = SCAN), u32 LE user id, then anything (the load generator
 * sends a timestamp and a sequence number). GET is a point lookup of a random key; SCAN iterates
 * {@code scanLen} keys from a random one, with scanLen calibrated at startup so that a SCAN costs
 * about {@code --scan-factor} GETs. Reply: the request bytes, then the u32 LE index of the socket
 * that served it (sockets indexed by ascending inode, as Syrup numbers executors).
 *
 * <p>{@code --scan-map-file FILE}: FILE (written once the policy is deployed) names the pinned
 * {@code scan} Map of a scan_avoid deployment; the worker sets its entry to 1 while it serves a
 * SCAN (paper Figure 5b). The server polls FILE every 200 ms until it has opened the Map.
 *
 * <p>{@code --threads-id-file FILE}: FILE (written once a thread_scheduler policy is deployed)
 * holds its deployment id; the server then registers its worker threads with syrupd over the
 * control socket ({@code --syrup-socket}, default /run/syrup/syrupd.sock) in index order, so
 * worker i (serving socket i) is thread i of the policy (paper §5.3, Figure 8).
 */
public final class KvServer {
    record Sock(DatagramChannel ch, long inode) {}

    static final int KEY_SPACE = 200_000;
    static volatile MappedArray scanMap;

    public static void main(String[] args) throws Exception {
        String host = "127.0.0.1", db = "/tmp/syrup-kv-db", scanMapPath = null, threadsIdPath = null;
        String syrupSocket = "/run/syrup/syrupd.sock";
        int port = 9100, n = 4, rcvbuf = 4 << 20, getReps = 1, fixedScanLen = 0;
        boolean loadOnly = false, calibrateOnly = false;
        double scanFactor = 75;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--host" -> host = args[++i];
                case "--port" -> port = Integer.parseInt(args[++i]);
                case "--threads" -> n = Integer.parseInt(args[++i]);
                case "--db" -> db = args[++i];
                case "--rcvbuf" -> rcvbuf = Integer.parseInt(args[++i]);
                case "--scan-factor" -> scanFactor = Double.parseDouble(args[++i]);
                case "--get-reps" -> getReps = Integer.parseInt(args[++i]);
                case "--scan-map-file" -> scanMapPath = args[++i];
                case "--threads-id-file" -> threadsIdPath = args[++i];
                case "--syrup-socket" -> syrupSocket = args[++i];
                case "--scan-len" -> fixedScanLen = Integer.parseInt(args[++i]);
                case "--load-only" -> loadOnly = true;
                case "--calibrate-only" -> calibrateOnly = true;
                default -> {
                    System.err.println("usage: KvServer [--port 9100] [--threads 4] [--db DIR] [--rcvbuf B]"
                            + " [--scan-factor 75] [--get-reps 1] [--scan-len KEYS] [--scan-map-file FILE] [--load-only] [--calibrate-only]");
                    System.exit(2);
                }
            }
        }
        InetSocketAddress addr = new InetSocketAddress(host, port);
        try (DatagramChannel probe = DatagramChannel.open(StandardProtocolFamily.INET)) {
            probe.bind(addr); // fails if a stale server still holds the port
        } catch (IOException e) {
            System.err.println("port " + port + " is in use: " + e.getMessage());
            System.exit(1);
        }

        RocksDB.loadLibrary();
        Options opts = new Options().setCreateIfMissing(true);
        RocksDB rocks = RocksDB.open(opts, db);
        load(rocks);
        if (loadOnly) { // the scripts load once, so that every server (policy) opens the same files the same way
            rocks.close();
            System.out.println("loaded " + KEY_SPACE + " keys into " + db);
            return;
        }
        int reps = getReps;
        // Calibrate: a SCAN of scanLen keys should cost scanFactor GETs.
        Random rnd = new Random(42);
        ReadOptions ro = new ReadOptions();
        for (int i = 0; i < 20_000; i++) get(rocks, rnd, reps); // warm-up (JIT, block cache)
        for (int i = 0; i < 50; i++) scan(rocks, ro, rnd, 1000);
        // GETs and SCANs are timed in alternating batches (medians), so that a busy machine's
        // noise hits both alike; the scan length is then refined twice.
        // --scan-len: the length calibrated by an earlier server of the same experiment, so that
        // every policy gets the same work per SCAN (only measured here).
        int scanLen = fixedScanLen > 0 ? fixedScanLen : 1000;
        double getNs = 0, scanNs = 0;
        for (int round = 0; round < 3; round++) {
            double[] g = new double[7], sc = new double[7];
            for (int b = 0; b < 7; b++) {
                long t0 = System.nanoTime();
                for (int i = 0; i < 1000; i++) get(rocks, rnd, reps);
                g[b] = (System.nanoTime() - t0) / 1000.0;
                t0 = System.nanoTime();
                for (int i = 0; i < 10; i++) scan(rocks, ro, rnd, scanLen);
                sc[b] = (System.nanoTime() - t0) / 10.0;
            }
            java.util.Arrays.sort(g);
            java.util.Arrays.sort(sc);
            getNs = g[3];
            scanNs = sc[3];
            double ratio = scanNs / getNs;
            if (fixedScanLen > 0 || Math.abs(ratio - scanFactor) < 0.1 * scanFactor) break;
            if (round < 2) scanLen = (int) Math.max(1, Math.round(scanLen * scanFactor / ratio));
        }
        System.out.printf("calibration GET=%.1fus SCAN=%.1fus (%d keys) ratio=%.1f%n",
                getNs / 1000, scanNs / 1000, scanLen, scanNs / getNs);
        if (calibrateOnly) {
            rocks.close();
            return;
        }

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
        if (scanMapPath != null) watchScanMap(Path.of(scanMapPath));

        AtomicLongArray served = new AtomicLongArray(n);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            StringBuilder sb = new StringBuilder("served");
            for (int i = 0; i < served.length(); i++) sb.append(' ').append(i).append('=').append(served.get(i));
            System.out.println(sb);
        }));
        List<Thread> workers = new ArrayList<>();
        int[] tids = new int[n];
        java.util.concurrent.CountDownLatch started = new java.util.concurrent.CountDownLatch(n);
        for (int i = 0; i < n; i++) {
            int idx = i, len = scanLen;
            DatagramChannel ch = socks.get(i).ch;
            Thread t = new Thread(() -> {
                tids[idx] = dev.syrup.client.Syrup.currentTid();
                started.countDown();
                serve(idx, ch, rocks, len, reps, served);
            }, "kv-" + i);
            t.setDaemon(true);
            t.start();
            workers.add(t);
        }
        started.await();
        if (threadsIdPath != null) registerThreads(Path.of(threadsIdPath), Path.of(syrupSocket), tids);
        StringBuilder inodes = new StringBuilder();
        for (Sock s : socks) inodes.append(inodes.length() == 0 ? "" : ",").append(s.inode);
        System.out.println("ready port=" + port + " threads=" + n + " pid=" + ProcessHandle.current().pid()
                + " inodes=" + inodes);
        System.out.flush();
        for (Thread t : workers) t.join();
    }

    static void load(RocksDB rocks) throws Exception {
        if (rocks.get(key(KEY_SPACE - 1)) != null) return; // loaded by an earlier run
        byte[] value = new byte[100];
        new Random(1).nextBytes(value);
        try (WriteOptions wo = new WriteOptions().setDisableWAL(true)) {
            for (int base = 0; base < KEY_SPACE; base += 10_000) {
                try (WriteBatch b = new WriteBatch()) {
                    for (int k = base; k < base + 10_000; k++) b.put(key(k), value);
                    rocks.write(wo, b);
                }
            }
        }
        rocks.flush(new org.rocksdb.FlushOptions().setWaitForFlush(true));
        rocks.compactRange();
    }

    static byte[] key(int k) {
        return String.format("user%08d", k).getBytes(StandardCharsets.US_ASCII);
    }

    static int get(RocksDB rocks, Random rnd, int reps) {
        int found = 0;
        try {
            for (int r = 0; r < reps; r++) if (rocks.get(key(rnd.nextInt(KEY_SPACE))) != null) found++;
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
        return found;
    }

    static int scan(RocksDB rocks, ReadOptions ro, Random rnd, int len) {
        int n = 0;
        try (RocksIterator it = rocks.newIterator(ro)) {
            for (it.seek(key(rnd.nextInt(KEY_SPACE))); it.isValid() && n < len; it.next()) {
                n += it.value().length > 0 ? 1 : 0;
            }
            if (n < len) { // wrapped around the key space
                for (it.seekToFirst(); it.isValid() && n < len; it.next()) n += it.value().length > 0 ? 1 : 0;
            }
        }
        return n;
    }

    static void serve(int idx, DatagramChannel ch, RocksDB rocks, int scanLen, int reps, AtomicLongArray served) {
        ByteBuffer buf = ByteBuffer.allocateDirect(2048).order(ByteOrder.LITTLE_ENDIAN);
        Random rnd = new Random(idx);
        ReadOptions ro = new ReadOptions();
        try {
            while (true) {
                buf.clear();
                InetSocketAddress from = (InetSocketAddress) ch.receive(buf);
                if (buf.position() < 8 || buf.remaining() < 4) continue; // not a request
                if (buf.getInt(0) == 1) {
                    MappedArray m = scanMap;
                    if (m != null && idx < m.size()) m.setLong(idx, 1);
                    scan(rocks, ro, rnd, scanLen);
                    if (m != null && idx < m.size()) m.setLong(idx, 0);
                } else {
                    get(rocks, rnd, reps);
                }
                buf.putInt(idx).flip();
                ch.send(buf, from);
                served.incrementAndGet(idx);
            }
        } catch (IOException e) {
            System.err.println("kv-" + idx + ": " + e);
        }
    }

    /** Registers the workers with the thread_scheduler deployment named in {@code file} once it is written. */
    static void registerThreads(Path file, Path socket, int[] tids) {
        Thread t = new Thread(() -> {
            while (true) {
                if (Files.exists(file)) {
                    try (dev.syrup.client.Syrup syrup = dev.syrup.client.Syrup.connect(socket)) {
                        String id = Files.readString(file).trim();
                        for (int tid : tids) syrup.registerThread(id, tid);
                        System.out.println("threads-registered " + id + " n=" + tids.length);
                        return;
                    } catch (Exception e) {
                        System.err.println("threads from " + file + ": " + e.getMessage());
                    }
                }
                try {
                    Thread.sleep(100);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }, "threads");
        t.setDaemon(true);
        t.start();
    }

    /** Opens the pinned scan Map named in {@code file} once it is written (after the deployment). */
    static void watchScanMap(Path file) {
        Thread t = new Thread(() -> {
            while (scanMap == null) {
                if (Files.exists(file)) {
                    try {
                        Path path = Path.of(Files.readString(file).trim());
                        scanMap = MappedArray.map(BpfMap.openPinned(path));
                        System.out.println("scan-map " + path + " entries=" + scanMap.size());
                        return;
                    } catch (RuntimeException | IOException e) {
                        System.err.println("scan-map from " + file + ": " + e.getMessage());
                    }
                }
                try {
                    Thread.sleep(200);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }, "scan-map");
        t.setDaemon(true);
        t.start();
    }

    static Set<Long> socketInodes() throws IOException {
        Set<Long> out = new HashSet<>();
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            for (Path fd : (Iterable<Path>) fds::iterator) {
                try {
                    String t = Files.readSymbolicLink(fd).toString();
                    if (t.startsWith("socket:[")) out.add(Long.parseLong(t.substring(8, t.length() - 1)));
                } catch (IOException ignored) {
                }
            }
        }
        return out;
    }
}
