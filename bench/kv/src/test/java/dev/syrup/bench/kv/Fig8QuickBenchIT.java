package dev.syrup.bench.kv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Keeps fig8's harness working: {@code bench/fig8.sh --quick} (the thread_scheduler hook, the
 * server registering its workers over the control socket, GET and SCAN rows apart, the
 * cross-layer deployment) must finish within five minutes and leave sane files. How fast the
 * policies are is not checked here.
 */
class Fig8QuickBenchIT {

    static final List<String> LABELS = List.of("default", "scan_avoid", "get_priority", "both");
    static final List<Integer> RATES = List.of(300, 900, 1500); // fig8.sh --quick

    @Test
    void fig8QuickLeavesSaneResults() throws Exception {
        QuickBenchIT.requireRoot();
        Path results = QuickBenchIT.RESULTS;
        Files.createDirectories(results);
        Set<Path> before = runs(results);
        Path log = results.resolve("fig8-quick.log");
        ProcessBuilder pb = new ProcessBuilder("bash", QuickBenchIT.ROOT.resolve("bench/fig8.sh").toString(), "--quick")
                .directory(QuickBenchIT.ROOT.toFile()).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().put("SYRUP_RESULTS", results.toString());
        try (java.net.DatagramSocket free = new java.net.DatagramSocket(0, java.net.InetAddress.getLoopbackAddress())) {
            pb.environment().put("PORT", Integer.toString(free.getLocalPort())); // the bench's default port may be taken
        }
        Process p = pb.start();
        if (!p.waitFor(300, TimeUnit.SECONDS)) {
            p.descendants().forEach(ProcessHandle::destroy);
            p.destroy();
            p.waitFor(30, TimeUnit.SECONDS);
            fail("bench/fig8.sh --quick did not finish within 5 minutes; output:\n" + Files.readString(log));
        }
        String out = Files.readString(log);
        assertEquals(0, p.exitValue(), "bench/fig8.sh --quick failed:\n" + out);

        Set<Path> made = runs(results);
        made.removeAll(before);
        assertEquals(1, made.size(), "one new results folder, got " + made + "\n" + out);
        Path dir = made.iterator().next();

        List<String[]> rows = new ArrayList<>();
        for (String line : Files.readAllLines(dir.resolve("raw.csv"))) {
            if (!line.startsWith("policy,")) rows.add(line.split(",", -1));
        }
        Set<String> seen = new TreeSet<>(), want = new TreeSet<>();
        for (String l : LABELS) {
            for (int r : RATES) {
                want.add(l + "-GET@" + r);
                want.add(l + "-SCAN@" + r);
            }
        }
        for (String[] r : rows) {
            assertEquals(12, r.length, String.join(",", r));
            seen.add(r[0] + "@" + r[1]);
            assertEquals(Integer.parseInt(r[3]), Integer.parseInt(r[4]) + Integer.parseInt(r[5]), "sent = replies + drops");
        }
        assertEquals(want, seen, "GET and SCAN rows of every policy and load");
        for (String l : List.of("get_priority", "both")) {
            String server = Files.readString(dir.resolve("server-" + l + ".log"));
            assertTrue(server.lines().anyMatch(s -> s.matches("threads-registered d\\d+ n=8")), l + " registered its workers:\n" + server);
            assertTrue(server.lines().anyMatch(s -> s.startsWith("scan-map ")), l + " opened scan:\n" + server);
        }
        String md = Files.readString(dir.resolve("summary.md"));
        for (String s : new String[]{"# fig8:", "| default-GET |", "| both-SCAN |", "Cross-layer (d) vs the best single layer"}) {
            assertTrue(md.contains(s), "summary.md has '" + s + "':\n" + md);
        }
    }

    static Set<Path> runs(Path results) throws Exception {
        try (Stream<Path> s = Files.list(results)) {
            Set<Path> out = new TreeSet<>();
            s.filter(d -> d.getFileName().toString().startsWith("fig8-") && Files.isDirectory(d)).forEach(out::add);
            return out;
        }
    }
}
