package dev.syrup.bench.kv;

import java.awt.BasicStroke;
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
import org.jfree.chart.plot.CombinedDomainXYPlot;
import org.jfree.chart.plot.ValueMarker;
import org.jfree.chart.plot.XYPlot;
import org.jfree.data.xy.YIntervalSeries;
import org.jfree.data.xy.YIntervalSeriesCollection;

/**
 * Paper Figure 7 from LoadGen's two-user CSV ({@code --ls-rates}): a fixed total load split
 * between a latency-sensitive (LS) and a best-effort (BE) user, swept over the LS share. Draws
 * NAME.png with (a) each user's throughput and (b) the LS user's p99 against the LS offered load,
 * one colour per policy (error bars = sd across runs), writes NAME-agg.csv and prints the
 * Markdown results: per policy the highest LS load whose LS p99 (and every lower one's) meets the
 * SLO with at most 1% LS drops, the LS p99 and the BE throughput, each as a ratio to the baseline.
 *
 * <p>Usage: SplitReport --csv RAW.csv --out DIR --name fig7 --title T --slo-us 2000
 * [--baseline default] [--token-rate R] [--timeout-us 200000]
 */
public final class SplitReport {
    record Row(String policy, int total, int ls, int run, String user, int sent, int drops, double tput, double p99, double lag99) {}

    /** One user at one LS load, over the runs. */
    record Agg(int ls, int runs, int offered, double tput, double tputSd, double p99, double p99sd, double dropPct, double lag99) {}

    /** One policy: per user ("LS", "BE"), per LS load. */
    record Policy(Map<String, TreeMap<Integer, Agg>> users) {
        TreeMap<Integer, Agg> user(String u) {
            return users.getOrDefault(u, new TreeMap<>());
        }
    }

    public static void main(String[] args) throws Exception {
        Locale.setDefault(Locale.US);
        ReportArgs opts = ReportArgs.parse("SplitReport", args, true);
        String csv = opts.csv(), out = opts.out(), name = opts.name(), title = opts.title(), baseline = opts.baseline();
        double slo = opts.sloUs(), timeoutUs = opts.timeoutUs(), tokenRate = opts.tokenRate();
        // policy -> user -> LS load -> runs
        Map<String, Map<String, TreeMap<Integer, List<Row>>>> raw = new LinkedHashMap<>();
        int total = 0;
        for (String line : Files.readAllLines(Path.of(csv))) {
            String[] f = line.split(",", -1);
            if (f.length < 14 || f[0].equals("policy")) continue;
            // No reply at all has no percentiles: as bad as the timeout.
            Row r = new Row(f[0], Integer.parseInt(f[1]), Integer.parseInt(f[2]), Integer.parseInt(f[3]), f[4],
                    Integer.parseInt(f[5]), Integer.parseInt(f[7]), Double.parseDouble(f[8]),
                    f[10].isEmpty() ? timeoutUs : Double.parseDouble(f[10]), f[13].isEmpty() ? 0 : Double.parseDouble(f[13]));
            total = r.total;
            raw.computeIfAbsent(r.policy, k -> new LinkedHashMap<>()).computeIfAbsent(r.user, k -> new TreeMap<>())
                    .computeIfAbsent(r.ls, k -> new ArrayList<>()).add(r);
        }
        Map<String, Policy> policies = new LinkedHashMap<>();
        StringBuilder aggCsv = new StringBuilder("policy,user,total_rps,ls_rps,offered_rps,runs,throughput_rps,throughput_sd,p99_us,p99_sd_us,drops_pct,send_lag_p99_us\n");
        for (var p : raw.entrySet()) {
            Map<String, TreeMap<Integer, Agg>> users = new LinkedHashMap<>();
            for (var u : p.getValue().entrySet()) {
                TreeMap<Integer, Agg> pts = new TreeMap<>();
                for (var pt : u.getValue().entrySet()) {
                    List<Row> rs = pt.getValue();
                    int ls = pt.getKey(), offered = u.getKey().equals("LS") ? ls : total - ls;
                    double[] tp = rs.stream().mapToDouble(Row::tput).toArray(), p99 = rs.stream().mapToDouble(Row::p99).toArray();
                    double sent = rs.stream().mapToInt(Row::sent).sum(), drops = rs.stream().mapToInt(Row::drops).sum();
                    Agg a = new Agg(ls, rs.size(), offered, mean(tp), sd(tp), mean(p99), sd(p99),
                            sent == 0 ? 0 : 100 * drops / sent, rs.stream().mapToDouble(Row::lag99).average().orElse(0));
                    pts.put(ls, a);
                    aggCsv.append(String.format("%s,%s,%d,%d,%d,%d,%.0f,%.0f,%.1f,%.1f,%.3f,%.1f%n", p.getKey(), u.getKey(), total, ls,
                            offered, a.runs, a.tput, a.tputSd, a.p99, a.p99sd, a.dropPct, a.lag99));
                }
                users.put(u.getKey(), pts);
            }
            policies.put(p.getKey(), new Policy(users));
        }
        Files.writeString(Path.of(out, name + "-agg.csv"), aggCsv);
        plot(policies, new File(out, name + ".png"), title, slo, tokenRate);
        System.out.print(markdown(policies, title, slo, tokenRate, total, baseline));
    }

    static String markdown(Map<String, Policy> policies, String title, double slo, double tokenRate, int total, String baseline) {
        StringBuilder md = new StringBuilder(String.format("### %s%n%n", title));
        md.append(String.format("Total offered load %d rps (LS + BE), LS share swept; %s"
                + "SLO for the LS user: p99 <= %.0f us with <= 1%% of its requests dropped, at the LS load and every lower one.%n%n",
                total, tokenRate > 0 ? String.format("LS tokens %.0f/s (unused ones gifted to BE each epoch). ", tokenRate) : "", slo));
        md.append("| policy | LS load sustained under the SLO (rps) | vs ").append(baseline)
          .append(" | LS p99 us, median over loads" + (tokenRate > 0 ? " <= the token rate" : "") + " | vs ").append(baseline)
          .append(" | BE throughput, mean over loads (rps) | vs ").append(baseline).append(" |\n|---|---|---|---|---|---|---|\n");
        Map<String, double[]> head = new LinkedHashMap<>();
        for (var e : policies.entrySet()) {
            int best = 0;
            boolean missed = false;
            List<Double> p99s = new ArrayList<>();
            for (Agg a : e.getValue().user("LS").values()) {
                if (a.ls == 0) continue; // no LS traffic: nothing to meet
                missed |= a.p99 > slo || a.dropPct > 1.0;
                if (!missed) best = a.ls;
                if (tokenRate <= 0 || a.ls <= tokenRate) p99s.add(a.p99);
            }
            double be = e.getValue().user("BE").values().stream().mapToDouble(Agg::tput).average().orElse(0);
            head.put(e.getKey(), new double[]{best, Charts.median(p99s), be});
        }
        double[] base = head.get(baseline);
        for (var e : head.entrySet()) {
            double[] h = e.getValue();
            md.append(String.format("| %s | %s | %s | %.0f | %s | %.0f | %s |%n", e.getKey(),
                    h[0] == 0 ? "none of the loads tried" : String.format("%.0f", h[0]),
                    base == null || base[0] == 0 ? "-" : String.format("%.2fx", h[0] / base[0]),
                    h[1], base == null || h[1] == 0 ? "-" : String.format("%.2fx lower", base[1] / h[1]),
                    h[2], base == null || base[2] == 0 ? "-" : String.format("%.2fx", h[2] / base[2])));
        }
        md.append("\nPer LS load (means over runs; sd across runs; send lag = how late the generator sent, p99):\n\n");
        md.append("| policy | LS offered | BE offered | runs | LS throughput | LS p99 us (± sd) | LS drops % | BE throughput | BE p99 us | BE drops % | send lag p99 us |\n");
        md.append("|---|---|---|---|---|---|---|---|---|---|---|\n");
        int lagged = 0, points = 0;
        for (var e : policies.entrySet()) {
            TreeMap<Integer, Agg> ls = e.getValue().user("LS"), be = e.getValue().user("BE");
            for (int x : ls.keySet()) {
                Agg l = ls.get(x), b = be.get(x);
                points++;
                if (l.lag99 > 1000) lagged++;
                md.append(String.format("| %s | %d | %d | %d | %.0f | %.1f (± %.1f) | %.2f | %s | %s | %s | %.1f |%n", e.getKey(), x, total - x,
                        l.runs, l.tput, l.p99, l.p99sd, l.dropPct, b == null ? "-" : String.format("%.0f", b.tput),
                        b == null ? "-" : String.format("%.1f", b.p99), b == null ? "-" : String.format("%.2f", b.dropPct), l.lag99));
            }
        }
        // Noise: relative spread across runs of the LS p99 and of each user's throughput.
        double cvP99 = 0, cvTput = 0;
        int nP99 = 0, nTput = 0;
        for (Policy p : policies.values()) {
            for (var u : p.users().entrySet()) {
                for (Agg a : u.getValue().values()) {
                    if (a.runs < 2) continue;
                    if (u.getKey().equals("LS") && a.ls > 0 && a.p99 > 0) { cvP99 += a.p99sd / a.p99; nP99++; }
                    if (a.tput > 0) { cvTput += a.tputSd / a.tput; nTput++; }
                }
            }
        }
        md.append(nP99 == 0 && nTput == 0 ? "\nNoise: one run per point, no spread measured.\n"
                : String.format("%nNoise (mean coefficient of variation across runs): LS p99 %.0f%% (%d points), throughput %.0f%% (%d points).%n",
                        nP99 == 0 ? 0 : 100 * cvP99 / nP99, nP99, nTput == 0 ? 0 : 100 * cvTput / nTput, nTput));
        md.append(String.format("%nClient health: %d of %d points had a send lag p99 above 1 ms%s%n", lagged, points,
                lagged * 4 > points ? " — the generator was short of CPU there (other work on the machine, or the server"
                        + " saturating the cores it shares with the generator)." : "."));
        return md.toString();
    }

    static void plot(Map<String, Policy> policies, File png, String title, double slo, double tokenRate) throws Exception {
        YIntervalSeriesCollection tput = new YIntervalSeriesCollection(), lat = new YIntervalSeriesCollection();
        List<Boolean> dashed = new ArrayList<>();
        for (var e : policies.entrySet()) {
            for (String u : new String[]{"LS", "BE"}) {
                YIntervalSeries s = new YIntervalSeries(e.getKey() + " " + u);
                for (Agg a : e.getValue().user(u).values()) {
                    s.add(a.ls / 1000.0, a.tput / 1000.0, Math.max(0, a.tput - a.tputSd) / 1000.0, (a.tput + a.tputSd) / 1000.0);
                }
                tput.addSeries(s);
                dashed.add(u.equals("BE"));
            }
            YIntervalSeries s = new YIntervalSeries(e.getKey() + " LS p99");
            for (Agg a : e.getValue().user("LS").values()) {
                if (a.ls == 0) continue;
                double y = Math.max(a.p99, 1);
                s.add(a.ls / 1000.0, y, Math.max(1, y - a.p99sd), y + a.p99sd);
            }
            lat.addSeries(s);
        }
        // (a): LS solid, BE dashed, both users of a policy in its colour.
        boolean[] dash = new boolean[dashed.size()];
        for (int i = 0; i < dash.length; i++) dash[i] = dashed.get(i);
        var ra = Charts.lines(tput.getSeriesCount(), dash);
        for (int i = 0; i < tput.getSeriesCount(); i++) ra.setSeriesPaint(i, Charts.COLORS[(i / 2) % Charts.COLORS.length]);
        XYPlot a = Charts.style(new XYPlot(tput, null, new NumberAxis("(a) throughput (kRPS)"), ra), 0);
        XYPlot b = Charts.style(new XYPlot(lat, null, Charts.latencyAxis("(b) LS p99 (µs)", lat, slo), Charts.lines(lat.getSeriesCount())), slo);
        CombinedDomainXYPlot plot = new CombinedDomainXYPlot(new NumberAxis("latency-sensitive user's offered load (kRPS); best-effort = total - LS"));
        plot.setGap(12);
        plot.add(a, 1);
        plot.add(b, 1);
        if (tokenRate > 0) {
            ValueMarker m = new ValueMarker(tokenRate / 1000.0, Color.GRAY, new BasicStroke(1f));
            m.setLabel("LS token rate");
            m.setLabelFont(new Font("SansSerif", Font.PLAIN, 11));
            m.setLabelAnchor(org.jfree.chart.ui.RectangleAnchor.TOP_RIGHT); // inside the plot, right of the line
            m.setLabelTextAnchor(org.jfree.chart.ui.TextAnchor.TOP_LEFT);
            a.addDomainMarker(m);
        }
        JFreeChart chart = new JFreeChart(title, new Font("SansSerif", Font.BOLD, 14), plot, true);
        chart.setBackgroundPaint(Color.WHITE);
        ChartUtils.saveChartAsPNG(png, chart, 900, 820);
    }

    static double mean(double[] v) {
        double s = 0;
        for (double x : v) s += x;
        return v.length == 0 ? 0 : s / v.length;
    }

    static double sd(double[] v) {
        if (v.length < 2) return 0;
        double m = mean(v), s = 0;
        for (double x : v) s += (x - m) * (x - m);
        return Math.sqrt(s / (v.length - 1));
    }

}
