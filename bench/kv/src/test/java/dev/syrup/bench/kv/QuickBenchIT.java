package dev.syrup.bench.kv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * Keeps the benchmark harness working: {@code bench/fig2.sh --quick} against the distribution of
 * this build (started by the script, stopped after) must finish within two minutes and leave
 * sane files: every policy x load row with real traffic in raw.csv, the aggregate, a PNG of the
 * plot's size and a summary naming the machine. How fast the policies are is not checked here.
 */
class QuickBenchIT {

    static final Path ROOT = Path.of(System.getProperty("syrup.root", "../..")).toAbsolutePath().normalize();
    static final Path RESULTS = Path.of(System.getProperty("syrup.bench.results", "target/results")).toAbsolutePath();
    static final List<Integer> RATES = List.of(10000, 30000, 50000); // fig2.sh --quick
    static final double SECONDS = 1; // per point, after the warm-up

    @Test
    void fig2QuickLeavesSaneResults() throws Exception {
        requireRoot();
        Files.createDirectories(RESULTS);
        Set<Path> before = runs();
        Path log = RESULTS.resolve("fig2-quick.log");
        ProcessBuilder pb = new ProcessBuilder("bash", ROOT.resolve("bench/fig2.sh").toString(), "--quick")
                .directory(ROOT.toFile()).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().put("SYRUP_RESULTS", RESULTS.toString());
        long t0 = System.nanoTime();
        Process p = pb.start();
        if (!p.waitFor(120, TimeUnit.SECONDS)) {
            p.descendants().forEach(ProcessHandle::destroy);
            p.destroy();
            p.waitFor(30, TimeUnit.SECONDS);
            fail("bench/fig2.sh --quick did not finish within 2 minutes; output:\n" + Files.readString(log));
        }
        double took = (System.nanoTime() - t0) / 1e9;
        String out = Files.readString(log);
        assertEquals(0, p.exitValue(), "bench/fig2.sh --quick failed:\n" + out);
        System.out.printf("fig2 --quick: %.0f s%n", took);

        Set<Path> made = runs();
        made.removeAll(before);
        assertEquals(1, made.size(), "one new results folder, got " + made + "\n" + out);
        Path dir = made.iterator().next();

        // raw.csv: one row per policy x load, with the traffic the generator claims.
        List<String[]> rows = new ArrayList<>();
        for (String line : Files.readAllLines(dir.resolve("raw.csv"))) {
            if (!line.startsWith("policy,")) rows.add(line.split(",", -1));
        }
        assertEquals(2 * RATES.size(), rows.size(), "rows of raw.csv");
        Set<String> seen = new TreeSet<>();
        for (String[] r : rows) {
            assertEquals(12, r.length, String.join(",", r));
            int rate = Integer.parseInt(r[1]), sent = Integer.parseInt(r[3]), replies = Integer.parseInt(r[4]),
                    drops = Integer.parseInt(r[5]);
            seen.add(r[0] + "@" + rate);
            assertTrue(RATES.contains(rate), "offered load " + rate);
            // The generator sends rate x seconds requests per point (Poisson spacing, fixed count).
            assertEquals((int) (rate * SECONDS), sent, "sent at " + rate + " rps");
            assertEquals(sent, replies + drops, "sent = replies + drops");
            if (replies > 0) {
                double p50 = Double.parseDouble(r[7]), p99 = Double.parseDouble(r[8]);
                assertTrue(p50 > 0 && p50 <= p99, "0 < p50 <= p99: " + String.join(",", r));
            }
        }
        assertEquals(Set.of("default@10000", "default@30000", "default@50000", "round_robin@10000",
                "round_robin@30000", "round_robin@50000"), seen);
        // The lowest load is far below what either policy serves: most requests come back.
        for (String[] r : rows) {
            if (r[1].equals("10000")) {
                assertTrue(Integer.parseInt(r[4]) > Integer.parseInt(r[3]) / 2, "replies at 10000 rps: " + String.join(",", r));
            }
        }

        assertEquals(1 + 2 * RATES.size(), Files.readAllLines(dir.resolve("fig2-agg.csv")).size(), "fig2-agg.csv lines");
        BufferedImage png = ImageIO.read(dir.resolve("fig2.png").toFile());
        assertNotNull(png, "fig2.png is an image");
        assertEquals(900, png.getWidth());
        assertEquals(560, png.getHeight());

        String md = Files.readString(dir.resolve("summary.md"));
        for (String want : new String[]{"# fig2:", "cores=", "kernel=", "SLO", "| default |", "| round_robin |", "p99 vs default", "Noise:"}) {
            assertTrue(md.contains(want), "summary.md has '" + want + "':\n" + md);
        }
        assertTrue(md.contains("(--quick)"), "summary.md says it was a quick run");
        // The server saw the policy: round_robin's server log counts what each socket served.
        String served = Files.readString(dir.resolve("server-round_robin.log"));
        assertTrue(served.lines().anyMatch(l -> l.matches("served 0=\\d+ 1=\\d+ 2=\\d+ 3=\\d+")), served);
    }

    static Set<Path> runs() throws Exception {
        try (Stream<Path> s = Files.list(RESULTS)) {
            Set<Path> out = new TreeSet<>();
            s.filter(d -> d.getFileName().toString().startsWith("fig2-") && Files.isDirectory(d)).forEach(out::add);
            return out;
        }
    }

    static void requireRoot() throws Exception {
        boolean root = new com.sun.security.auth.module.UnixSystem().getUid() == 0;
        if (!root) {
            String why = "bench/fig2.sh needs root (syrupd loads eBPF programs)";
            if ("1".equals(System.getenv("SYRUP_REQUIRE_KERNEL"))) fail(why + " and SYRUP_REQUIRE_KERNEL=1");
            Assumptions.abort(why);
        }
    }
}
