package dev.syrup.daemon.shell;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.syrup.api.DeploymentStats;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/** syrup:stats' table from two samples: counts of the second, rates from the difference. */
class StatsCommandTest {

    private static List<String> lines(DeploymentStats a, DeploymentStats b, double seconds) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        StatsCommand.print(new PrintStream(out, true, StandardCharsets.UTF_8), a, b, seconds, false);
        return out.toString(StandardCharsets.UTF_8).lines().map(l -> l.trim().replaceAll("\\s+", " ")).toList();
    }

    @Test
    void countsSharesAndRates() {
        List<String> l = lines(new DeploymentStats(List.of(100L, 300L), 0, 0, 0),
                new DeploymentStats(List.of(600L, 800L), 100, 500, 0), 0.5);
        assertTrue(l.contains("0 600 30.0% 1000.0"), String.join("\n", l));
        assertTrue(l.contains("1 800 40.0% 1000.0"), String.join("\n", l));
        assertTrue(l.contains("PASS 100 5.0% 200.0"), String.join("\n", l));
        assertTrue(l.contains("DROP 500 25.0% 1000.0"), String.join("\n", l));
        assertTrue(l.contains("total 2000 100.0% 3200.0"), String.join("\n", l));
        assertFalse(String.join("\n", l).contains("OTHER"), "OTHER only when there is some");
    }

    @Test
    void noIntervalNoRateColumn() {
        DeploymentStats s = new DeploymentStats(List.of(5L), 0, 0, 2);
        List<String> l = lines(s, s, 0);
        assertTrue(l.contains("0 5 71.4%"), String.join("\n", l));
        assertTrue(l.contains("OTHER 2 28.6%"), String.join("\n", l));
        assertTrue(l.contains("total 7 100.0%"), String.join("\n", l));
    }
}
