package dev.syrup.bench.kv;

import java.io.FileWriter;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.InetSocketAddress;
import java.net.PortUnreachableException;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.DatagramChannel;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.locks.LockSupport;
import org.HdrHistogram.Histogram;

/**
 * Open-loop load generator for KvServer: Poisson arrivals at each offered rate of a sweep, from
 * many source ports (the paper's 50 5-tuples), GET/SCAN mix. Each request carries its send time
 * and sequence number; a reply later than --timeout-ms (or none) counts as a drop. Latencies go to
 * an HdrHistogram. Appends one CSV row per (rate, run) to --csv:
 * policy,offered_rps,run,sent,replies,drops,throughput_rps,p50_us,p99_us,p999_us,max_us,send_lag_p99_us
 *
 * <p>Two users (paper Figure 7): {@code --ls-rates L1,L2,..} with one total in {@code --rates}
 * sweeps the latency-sensitive user's share of that total; each request is from user 1 (LS) with
 * probability L/total, else from user 2 (BE), and each user gets its own row:
 * policy,total_rps,ls_rps,run,user,sent,replies,drops,throughput_rps,p50_us,p99_us,p999_us,max_us,send_lag_p99_us
 *
 * <p>{@code --by-type} (Figure 8): GETs and SCANs get their own latencies, as two rows in the
 * first format labelled {@code POLICY-GET} and {@code POLICY-SCAN}.
 */
public final class LoadGen {
    static final int LEN = 24;
    static final int LS_USER = 1, BE_USER = 2;

    public static void main(String[] args) throws Exception {
        String host = "127.0.0.1", label = "run", csv = null;
        int port = 9100, sources = 50, runs = 1, timeoutMs = 200, firstRun = 1;
        double seconds = 2, warmup = 0.5, scanRatio = 0, prime = 2;
        boolean byType = false;
        List<Integer> rates = new ArrayList<>(), lsRates = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--host" -> host = args[++i];
                case "--port" -> port = Integer.parseInt(args[++i]);
                case "--rates" -> { for (String r : args[++i].split(",")) rates.add(Integer.parseInt(r.trim())); }
                case "--runs" -> runs = Integer.parseInt(args[++i]);
                case "--first-run" -> firstRun = Integer.parseInt(args[++i]);
                case "--seconds" -> seconds = Double.parseDouble(args[++i]);
                case "--warmup" -> warmup = Double.parseDouble(args[++i]);
                case "--prime" -> prime = Double.parseDouble(args[++i]);
                case "--ls-rates" -> { for (String r : args[++i].split(",")) lsRates.add(Integer.parseInt(r.trim())); }
                case "--scan-ratio" -> scanRatio = Double.parseDouble(args[++i]);
                case "--sources" -> sources = Integer.parseInt(args[++i]);
                case "--timeout-ms" -> timeoutMs = Integer.parseInt(args[++i]);
                case "--label" -> label = args[++i];
                case "--csv" -> csv = args[++i];
                case "--by-type" -> byType = true;
                default -> {
                    System.err.println("usage: LoadGen --rates R1,R2,.. [--runs 1] [--first-run 1] [--seconds 2] [--warmup 0.5] [--prime 2]"
                            + " [--ls-rates L1,L2,.. (one total in --rates)] [--scan-ratio 0] [--sources 50] [--timeout-ms 200] [--port 9100] [--label P] [--csv FILE]");
                    System.exit(2);
                }
            }
        }
        InetSocketAddress server = new InetSocketAddress(host, port);
        DatagramChannel[] chs = new DatagramChannel[sources];
        Selector sel = Selector.open();
        for (int k = 0; k < sources; k++) {
            chs[k] = DatagramChannel.open(StandardProtocolFamily.INET);
            chs[k].setOption(StandardSocketOptions.SO_RCVBUF, 1 << 20);
            chs[k].bind(new InetSocketAddress(host, 0)).connect(server);
            chs[k].configureBlocking(false);
            chs[k].register(sel, SelectionKey.OP_READ);
        }
        if (!lsRates.isEmpty() && (rates.size() != 1 || lsRates.stream().anyMatch(l -> l < 0 || l > rates.get(0)))) {
            System.err.println("LoadGen: --ls-rates needs exactly one total in --rates and each LS rate within it");
            System.exit(2);
        }
        // Without --ls-rates: one "point" per rate; with it: one per LS rate at the one total.
        List<Integer> sweep = lsRates.isEmpty() ? rates : lsRates;
        int total = sweep.size() * runs, done = 0; // progress counts this invocation's points
        long start = System.nanoTime();
        if (prime > 0 && !sweep.isEmpty()) {
            // Fresh JVMs on both sides (a new server per policy) serve the first point of a sweep
            // slower while they compile: at 10k GETs p99 520 us on the first point, 170-265 us on
            // repeats of it. So the first rate runs unrecorded first, for every policy alike.
            System.err.printf("\r  %-12s priming %.1f s at the first point", label, prime);
            int x = sweep.get(0);
            int rate = lsRates.isEmpty() ? x : rates.get(0);
            point(chs, sel, rate, lsRates.isEmpty() ? -1 : x / (double) rate, prime, 0, scanRatio, timeoutMs, 1L, byType);
        }
        for (int x : sweep) {
            int rate = lsRates.isEmpty() ? x : rates.get(0);
            double lsShare = lsRates.isEmpty() ? -1 : x / (double) rate;
            for (int run = firstRun; run < firstRun + runs; run++) {
                progress(label, x, run, done, total, start);
                List<String> rows = point(chs, sel, rate, lsShare, seconds, warmup, scanRatio, timeoutMs, run * 7919L + x, byType);
                done++;
                if (csv != null) {
                    try (PrintWriter w = new PrintWriter(new FileWriter(csv, true))) {
                        if (byType) {
                            w.println(label + "-GET," + rate + "," + run + "," + rows.get(0));
                            w.println(label + "-SCAN," + rate + "," + run + "," + rows.get(1));
                        } else if (lsShare < 0) w.println(label + "," + rate + "," + run + "," + rows.get(0));
                        else for (int u = 0; u < 2; u++) {
                            w.println(label + "," + rate + "," + x + "," + run + "," + (u == 0 ? "LS" : "BE") + "," + rows.get(u));
                        }
                    }
                }
            }
        }
        progress(label, 0, 0, done, total, start);
        System.err.println();
        for (DatagramChannel ch : chs) ch.close();
    }

    static void progress(String label, int rate, int run, int done, int total, long start) {
        int width = 30, filled = total == 0 ? width : done * width / total;
        String bar = "#".repeat(filled) + ".".repeat(width - filled);
        String what = done == total ? "done" : String.format("%d rps run %d", rate, run);
        System.err.printf("\r  %-12s [%s] %d/%d %-20s %4.0fs", label, bar, done, total, what,
                (System.nanoTime() - start) / 1e9);
        System.err.flush();
    }

    /**
     * One load point. Returns the CSV columns after policy,offered_rps,run: one row, or with
     * {@code lsShare >= 0} (two users) one row per user, LS first.
     */
    static List<String> point(DatagramChannel[] chs, Selector sel, int rate, double lsShare, double seconds, double warmup,
                              double scanRatio, int timeoutMs, long seed, boolean byType) throws Exception {
        int skip = (int) (rate * warmup), n = skip + (int) (rate * seconds);
        int classes = lsShare < 0 && !byType ? 1 : 2;
        byte[] cls = new byte[n]; // which user sent request i (index into the per-user counters)
        AtomicIntegerArray got = new AtomicIntegerArray(n);
        Histogram[] hist = new Histogram[classes];
        for (int c = 0; c < classes; c++) hist[c] = new Histogram(10_000_000_000L, 3);
        Histogram lag = new Histogram(10_000_000_000L, 3);
        long timeoutNs = timeoutMs * 1_000_000L;
        Random rnd = new Random(seed);
        for (int i = 0; i < n; i++) {
            cls[i] = (byte) (byType ? (rnd.nextDouble() < scanRatio ? 1 : 0) : classes == 2 && rnd.nextDouble() >= lsShare ? 1 : 0);
        }
        Thread rx = new Thread(() -> receive(sel, got, cls, skip, timeoutNs, hist), "rx");
        rx.start();
        ByteBuffer b = ByteBuffer.allocateDirect(LEN).order(ByteOrder.LITTLE_ENDIAN);
        long t0 = System.nanoTime(), next = t0;
        for (int i = 0; i < n; i++) {
            next += (long) (-Math.log(1 - rnd.nextDouble()) * 1e9 / rate);
            long wait = next - System.nanoTime();
            if (wait > 20_000) LockSupport.parkNanos(wait - 10_000);
            while (next - System.nanoTime() > 0) Thread.onSpinWait();
            long now = System.nanoTime();
            if (i >= skip) lag.recordValue(Math.max(0, now - next));
            boolean scan = byType ? cls[i] == 1 : scanRatio > 0 && rnd.nextDouble() < scanRatio;
            int user = classes == 1 || byType ? i % 1000 : cls[i] == 0 ? LS_USER : BE_USER;
            b.clear();
            b.putInt(scan ? 1 : 0).putInt(user).putLong(now).putLong(i).flip();
            send(chs[rnd.nextInt(chs.length)], b);
        }
        long end = System.nanoTime();
        Thread.sleep(timeoutMs + 50L);
        rx.interrupt();
        rx.join();
        int[] sent = new int[classes], ok = new int[classes];
        for (int i = skip; i < n; i++) {
            sent[cls[i]]++;
            ok[cls[i]] += got.get(i);
        }
        double elapsed = Math.max((end - t0) / 1e9 - warmup, 1e-3);
        List<String> rows = new ArrayList<>();
        for (int c = 0; c < classes; c++) {
            rows.add(String.join(",", Integer.toString(sent[c]), Integer.toString(ok[c]), Integer.toString(sent[c] - ok[c]),
                    String.format("%.0f", ok[c] / elapsed),
                    us(hist[c], 50), us(hist[c], 99), us(hist[c], 99.9), String.format("%.1f", hist[c].getMaxValue() / 1000.0),
                    us(lag, 99)));
        }
        return rows;
    }

    /**
     * Sends one request; a failure (a full buffer) makes it a drop. A connected UDP socket reports
     * the ICMP port unreachable of an earlier datagram that a policy dropped (SK_DROP: no socket, so
     * the kernel answers port unreachable, unlimited on loopback) by failing the next call on it,
     * whoever's request that is; reporting clears it, so the request is sent again once. Without
     * this, the token policy's drops of one user's requests cost the other user 3-7% of its own,
     * never offered (measured in fig7: 2,956 of 43,399 LS requests at LS 8.6k, BE 60k rps).
     */
    static void send(DatagramChannel ch, ByteBuffer b) {
        for (int attempt = 0; attempt < 2; attempt++) {
            try {
                ch.write(b);
                return;
            } catch (PortUnreachableException e) {
                b.rewind();
            } catch (IOException e) {
                return;
            }
        }
    }

    static String us(Histogram h, double p) {
        return h.getTotalCount() == 0 ? "" : String.format("%.1f", h.getValueAtPercentile(p) / 1000.0);
    }

    static void receive(Selector sel, AtomicIntegerArray got, byte[] cls, int skip, long timeoutNs, Histogram[] hist) {
        ByteBuffer b = ByteBuffer.allocateDirect(2048).order(ByteOrder.LITTLE_ENDIAN);
        while (!Thread.currentThread().isInterrupted()) {
            try {
                if (sel.select(20) == 0) continue;
                for (SelectionKey k : sel.selectedKeys()) {
                    DatagramChannel ch = (DatagramChannel) k.channel();
                    while (true) {
                        b.clear();
                        try {
                            if (ch.read(b) <= 0) break;
                        } catch (IOException e) { // ECONNREFUSED: server not there
                            break;
                        }
                        long now = System.nanoTime();
                        if (b.position() < LEN + 4) continue;
                        long seq = b.getLong(16);
                        if (seq < 0 || seq >= got.length()) continue;
                        long d = now - b.getLong(8);
                        if (d > timeoutNs) continue; // too late: counts as a drop
                        if (got.getAndSet((int) seq, 1) == 0 && seq >= skip) hist[cls[(int) seq]].recordValue(d);
                    }
                }
                sel.selectedKeys().clear();
            } catch (IOException e) {
                return;
            }
        }
    }
}
