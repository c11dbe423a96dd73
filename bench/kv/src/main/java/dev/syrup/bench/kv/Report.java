package dev.syrup.bench.kv;

import java.awt.Color;
import java.awt.Font;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.plot.XYPlot;
import org.jfree.data.xy.YIntervalSeries;
import org.jfree.data.xy.YIntervalSeriesCollection;

/**
 * Aggregates LoadGen's CSV (several runs per load point), draws p99 latency vs offered load (one
 * line per policy, error bars = standard deviation across runs, log y, the SLO as a line) to
 * NAME.png, writes NAME-agg.csv, and prints the Markdown results section: per policy the highest
 * offered load whose mean p99 (and every lower load's) stays under the SLO with at most 1% drops,
 * and its ratio to the baseline policy's.
 *
 * <p>Usage: Report --csv RAW.csv --out DIR --name fig6 --title TITLE --slo-us 500 [--baseline default]
 */
public final class Report {
    record Row(String policy, int rate, int run, int sent, int replies, int drops, double tput,
               double p50, double p99, double p999, double lag99) {}

    record Agg(int rate, int runs, double tput, double p50, double p99, double p99sd, double dropPct, double lag99) {}

    public static void main(String[] args) throws Exception {
        Locale.setDefault(Locale.US);
        ReportArgs opts = ReportArgs.parse("Report", args, false);
        String csv = opts.csv(), out = opts.out(), name = opts.name(), title = opts.title(), baseline = opts.baseline();
        double slo = opts.sloUs(), timeoutUs = opts.timeoutUs();
        Map<String, TreeMap<Integer, List<Row>>> byPolicy = new LinkedHashMap<>();
        for (String line : Files.readAllLines(Path.of(csv))) {
            String[] f = line.split(",", -1);
            if (f.length < 12 || f[0].equals("policy")) continue;
            // A point without any reply has no percentiles: it is as bad as the timeout.
            Row r = new Row(f[0], Integer.parseInt(f[1]), Integer.parseInt(f[2]), Integer.parseInt(f[3]),
                    Integer.parseInt(f[4]), Integer.parseInt(f[5]), Double.parseDouble(f[6]),
                    num(f[7], timeoutUs), num(f[8], timeoutUs), num(f[9], timeoutUs), num(f[11], 0));
            byPolicy.computeIfAbsent(r.policy, k -> new TreeMap<>()).computeIfAbsent(r.rate, k -> new ArrayList<>()).add(r);
        }

        Map<String, List<Agg>> aggs = new LinkedHashMap<>();
        StringBuilder aggCsv = new StringBuilder("policy,offered_rps,runs,throughput_rps,p50_us,p99_us,p99_sd_us,drops_pct,send_lag_p99_us\n");
        for (var e : byPolicy.entrySet()) {
            List<Agg> list = new ArrayList<>();
            for (var pt : e.getValue().entrySet()) {
                List<Row> rs = pt.getValue();
                double tput = 0, p50 = 0, p99 = 0, sq = 0, sent = 0, drops = 0, lag = 0;
                for (Row r : rs) { tput += r.tput; p50 += r.p50; p99 += r.p99; sent += r.sent; drops += r.drops; lag += r.lag99; }
                int k = rs.size();
                p99 /= k;
                for (Row r : rs) sq += (r.p99 - p99) * (r.p99 - p99);
                Agg a = new Agg(pt.getKey(), k, tput / k, p50 / k, p99, k > 1 ? Math.sqrt(sq / (k - 1)) : 0,
                        sent == 0 ? 0 : 100 * drops / sent, lag / k);
                list.add(a);
                aggCsv.append(String.format("%s,%d,%d,%.0f,%.1f,%.1f,%.1f,%.3f,%.1f%n", e.getKey(), a.rate, a.runs,
                        a.tput, a.p50, a.p99, a.p99sd, a.dropPct, a.lag99));
            }
            aggs.put(e.getKey(), list);
        }
        Files.writeString(Path.of(out, name + "-agg.csv"), aggCsv);
        plot(aggs, new File(out, name + ".png"), title, slo);

        // Results section (Markdown).
        StringBuilder md = new StringBuilder();
        md.append(String.format("### %s%n%n", title));
        md.append(String.format("SLO: p99 <= %.0f us with <= 1%% drops, at the load point and every lower one.%n%n", slo));
        md.append("| policy | load sustained under the SLO (rps) | vs ").append(baseline).append(" | max throughput (rps) | p99 vs ")
          .append(baseline).append(", median (range) over the loads both meet the SLO at |\n");
        md.append("|---|---|---|---|---|\n");
        Map<String, Integer> sustained = new LinkedHashMap<>();
        for (var e : aggs.entrySet()) {
            int best = 0;
            for (Agg a : e.getValue()) {
                if (meets(a, slo)) best = a.rate; else break;
            }
            sustained.put(e.getKey(), best);
        }
        Integer base = sustained.get(baseline);
        for (var e : aggs.entrySet()) {
            int s = sustained.get(e.getKey());
            double maxT = e.getValue().stream().mapToDouble(Agg::tput).max().orElse(0);
            String ratio;
            if (base == null) ratio = "-";
            else if (base == 0) ratio = s == 0 ? "- (neither meets the SLO)" : "> " + fmtRatio(s, lowest(aggs.get(baseline))) + " (" + baseline + " meets the SLO at no load tried)";
            else ratio = fmtRatio(s, base);
            md.append(String.format("| %s | %s | %s | %.0f | %s |%n", e.getKey(), s == 0 ? "none of the loads tried" : Integer.toString(s), ratio, maxT,
                    e.getKey().equals(baseline) ? "1.00x" : p99Ratio(aggs.get(baseline), e.getValue(), slo)));
        }
        md.append("\nPer load point (means over runs; p99 sd = standard deviation of p99 across runs; ")
          .append("send lag = how late the generator sent, p99 — large values mean the client, not the server, was short of CPU):\n\n");
        md.append("| policy | offered | runs | throughput | p50 us | p99 us (± sd) | drops % | send lag p99 us |\n|---|---|---|---|---|---|---|---|\n");
        for (var e : aggs.entrySet()) {
            for (Agg a : e.getValue()) {
                md.append(String.format("| %s | %d | %d | %.0f | %.1f | %.1f (± %.1f) | %.2f | %.1f |%n", e.getKey(), a.rate, a.runs,
                        a.tput, a.p50, a.p99, a.p99sd, a.dropPct, a.lag99));
            }
        }
        // Noise: relative spread of p99 across runs, over the points under the SLO (where it is
        // meaningful) and over all points.
        double cvSum = 0, cvAll = 0;
        int cvN = 0, allN = 0, lagged = 0, points = 0;
        for (List<Agg> l : aggs.values()) {
            for (Agg a : l) {
                points++;
                if (a.lag99 > 1000) lagged++;
                if (a.runs < 2 || a.p99 <= 0) continue;
                cvAll += a.p99sd / a.p99;
                allN++;
                if (a.p99 <= slo) { cvSum += a.p99sd / a.p99; cvN++; }
            }
        }
        if (allN == 0) md.append("\nNoise: one run per point, no spread measured.\n");
        else md.append(String.format("%nNoise: p99 varies across runs by %s under the SLO and by %.0f%% over all %d points"
                + " (mean coefficient of variation).%n", cvN == 0 ? "- (no point)" : String.format("%.0f%% (%d points)", 100 * cvSum / cvN, cvN),
                100 * cvAll / allN, allN));
        md.append(String.format("%nClient health: %d of %d points had a send lag p99 above 1 ms%s%n", lagged, points,
                lagged * 4 > points ? " — the generator itself was short of CPU there (other work on the machine, or the server"
                        + " saturating the cores it shares with the generator): those latencies measure the machine as much as the policy." : "."));
        md.append("\nSUSTAINED");
        for (var e : sustained.entrySet()) md.append(' ').append(e.getKey()).append('=').append(e.getValue());
        md.append('\n');
        System.out.print(md);
    }

    static int lowest(List<Agg> l) {
        return l == null || l.isEmpty() ? 1 : l.get(0).rate;
    }

    /**
     * How much lower {@code policy}'s p99 is than {@code base}'s, load by load, over the loads both
     * meet the SLO at (below it the tail is the policy's; above, queueing everywhere): the median
     * ratio and its range, e.g. "1.33x lower (0.62-3.87x)".
     */
    static String p99Ratio(List<Agg> base, List<Agg> policy, double slo) {
        if (base == null) return "-";
        List<Double> r = new ArrayList<>();
        for (Agg a : policy) {
            for (Agg b : base) {
                if (b.rate == a.rate && meets(a, slo) && meets(b, slo) && a.p99 > 0) r.add(b.p99 / a.p99);
            }
        }
        if (r.isEmpty()) return "- (no load where both meet the SLO)";
        return String.format("%.2fx lower (%.2f-%.2fx, %d loads)", Charts.median(r), java.util.Collections.min(r),
                java.util.Collections.max(r), r.size());
    }

    static boolean meets(Agg a, double slo) {
        return a.p99 <= slo && a.dropPct <= 1.0;
    }

    static String fmtRatio(int a, int b) {
        return String.format("%.2fx", a / (double) Math.max(b, 1));
    }

    static double num(String s, double dflt) {
        return s.isEmpty() ? dflt : Double.parseDouble(s);
    }

    static void plot(Map<String, List<Agg>> aggs, File png, String title, double slo) throws Exception {
        YIntervalSeriesCollection ds = new YIntervalSeriesCollection();
        for (var e : aggs.entrySet()) {
            YIntervalSeries s = new YIntervalSeries(e.getKey());
            for (Agg a : e.getValue()) {
                double y = Math.max(a.p99, 1);
                s.add(a.rate / 1000.0, y, Math.max(1, y - a.p99sd), y + a.p99sd);
            }
            ds.addSeries(s);
        }
        NumberAxis x = new NumberAxis("offered load (kRPS)");
        XYPlot plot = Charts.style(new XYPlot(ds, x, Charts.latencyAxis("p99 latency (µs)", ds, slo), Charts.lines(ds.getSeriesCount())), slo);
        JFreeChart chart = new JFreeChart(title, new Font("SansSerif", Font.BOLD, 14), plot, true);
        chart.setBackgroundPaint(Color.WHITE);
        ChartUtils.saveChartAsPNG(png, chart, 900, 560);
    }
}
