package dev.syrup.bench.kv;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import org.jfree.chart.axis.LogAxis;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.plot.ValueMarker;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYErrorRenderer;
import org.jfree.chart.ui.RectangleAnchor;
import org.jfree.chart.ui.TextAnchor;
import org.jfree.data.xy.YIntervalSeriesCollection;

/** The look the benchmark plots share: colours per policy, error-bar lines, log latency axis, SLO line. */
final class Charts {
    static final Color[] COLORS = {new Color(0xd62728), new Color(0x1f77b4), new Color(0x2ca02c), new Color(0x9467bd), new Color(0xff7f0e)};

    private Charts() {
    }

    /** Lines with points and error bars; series i in {@code COLORS[i]}, dashed where {@code dashed[i]}. */
    static XYErrorRenderer lines(int series, boolean... dashed) {
        XYErrorRenderer r = new XYErrorRenderer();
        r.setDefaultLinesVisible(true);
        r.setDefaultShapesVisible(true);
        r.setErrorStroke(new BasicStroke(1.2f));
        r.setCapLength(6);
        for (int i = 0; i < series; i++) {
            r.setSeriesPaint(i, COLORS[i % COLORS.length]);
            r.setSeriesStroke(i, i < dashed.length && dashed[i]
                    ? new BasicStroke(2f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10, new float[]{7, 4}, 0)
                    : new BasicStroke(2f));
        }
        return r;
    }

    /**
     * A log latency axis from half the lowest mean (or the SLO) to twice the highest bar: an sd
     * larger than its mean (a noisy machine) would otherwise stretch it down to 1 us.
     */
    static LogAxis latencyAxis(String label, YIntervalSeriesCollection ds, double slo) {
        LogAxis y = new LogAxis(label);
        y.setBase(10);
        y.setSmallestValue(1);
        y.setStandardTickUnits(NumberAxis.createIntegerTickUnits());
        double lo = Double.MAX_VALUE, hi = slo;
        for (int i = 0; i < ds.getSeriesCount(); i++) {
            for (int j = 0; j < ds.getItemCount(i); j++) {
                lo = Math.min(lo, ds.getYValue(i, j));
                hi = Math.max(hi, ds.getEndYValue(i, j));
            }
        }
        if (lo < Double.MAX_VALUE) y.setRange(Math.max(1, Math.min(lo, slo) / 2), hi * 2);
        return y;
    }

    /** White background, grey grid, and the SLO as a dashed line when {@code slo > 0}. */
    static XYPlot style(XYPlot plot, double slo) {
        plot.setBackgroundPaint(Color.WHITE);
        plot.setDomainGridlinePaint(Color.LIGHT_GRAY);
        plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
        if (slo > 0) {
            ValueMarker m = new ValueMarker(slo, Color.GRAY,
                    new BasicStroke(1.5f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10, new float[]{6, 4}, 0));
            m.setLabel(String.format("SLO %.0f µs", slo));
            m.setLabelAnchor(RectangleAnchor.TOP_LEFT);
            m.setLabelTextAnchor(TextAnchor.BOTTOM_LEFT);
            m.setLabelFont(new Font("SansSerif", Font.PLAIN, 12));
            plot.addRangeMarker(m);
        }
        return plot;
    }

    /** The median of {@code v}, 0 when empty. */
    static double median(java.util.List<Double> v) {
        if (v.isEmpty()) return 0;
        java.util.List<Double> s = new java.util.ArrayList<>(v);
        s.sort(null);
        int n = s.size();
        return n % 2 == 1 ? s.get(n / 2) : (s.get(n / 2 - 1) + s.get(n / 2)) / 2;
    }
}
