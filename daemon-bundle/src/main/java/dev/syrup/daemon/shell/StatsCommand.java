package dev.syrup.daemon.shell;

import dev.syrup.api.Deployer;
import dev.syrup.api.DeploymentStats;
import dev.syrup.api.SyrupException;
import dev.syrup.daemon.shell.completers.DeploymentCompleter;
import java.io.PrintStream;
import java.util.Locale;
import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Argument;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Completion;
import org.apache.karaf.shell.api.action.Option;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;
import org.apache.karaf.shell.support.table.ShellTable;

@Command(scope = "syrup", name = "stats", description = "A deployment's decisions per executor, PASS and DROP, "
        + "counted in the kernel since it was deployed, with rates over a short interval")
@Service
public class StatsCommand implements Action {

    @Reference
    Deployer deployer;

    @Argument(index = 0, name = "id", required = true, description = "Deployment id")
    @Completion(DeploymentCompleter.class)
    String id;

    @Option(name = "--interval", description = "Milliseconds between the two samples the rates come from; 0: counts only")
    long intervalMs = 1000;

    @Option(name = "--no-format", description = "Plain output, no table borders")
    boolean noFormat;

    @Option(name = "--json", description = "One JSON document (one per refresh with --watch)")
    boolean json;

    @Option(name = "--watch", aliases = "-w", description = "Refresh every --interval until Ctrl-C")
    boolean watch;

    @Option(name = "--count", description = "With --watch: stop after this many refreshes (0: until Ctrl-C)")
    long count;

    @Override
    public Object execute() throws SyrupException, InterruptedException {
        if (intervalMs < 0 || intervalMs > 600_000 || (watch && intervalMs == 0)) {
            throw new SyrupException(SyrupException.Kind.INVALID, "--interval must be " + (watch ? 1 : 0) + ".." + 600_000 + " ms");
        }
        if (watch) {
            watch(System.out);
            return null;
        }
        DeploymentStats first = deployer.stats(id);
        long t0 = System.nanoTime();
        DeploymentStats last = first;
        double seconds = 0;
        if (intervalMs > 0) {
            Thread.sleep(intervalMs);
            last = deployer.stats(id);
            seconds = (System.nanoTime() - t0) / 1e9;
        }
        if (json) {
            Json.print(System.out, json(id, first, last, seconds));
        } else {
            print(System.out, first, last, seconds, !noFormat);
        }
        return null;
    }

    /**
     * Like {@code scx_stats --monitor}: every interval, the counts and the rates over that
     * interval, until Ctrl-C (the shell interrupts this thread) or {@code --count} refreshes.
     */
    void watch(PrintStream out) throws SyrupException {
        DeploymentStats last = deployer.stats(id);
        long t = System.nanoTime();
        for (long n = 0; count == 0 || n < count; n++) {
            try {
                Thread.sleep(intervalMs);
            } catch (InterruptedException e) {
                return; // Ctrl-C
            }
            DeploymentStats now = deployer.stats(id);
            long t1 = System.nanoTime();
            double seconds = (t1 - t) / 1e9;
            if (json) {
                Json.print(out, json(id, last, now, seconds).put("time", java.time.Instant.now().toString()));
            } else {
                out.println(id + " at " + java.time.LocalTime.now().withNano(0) + " (Ctrl-C to stop)");
                print(out, last, now, seconds, !noFormat);
            }
            out.flush();
            last = now;
            t = t1;
        }
    }

    /** The counts of {@code last}, and with {@code seconds > 0} the rates since {@code first}. */
    static com.fasterxml.jackson.databind.node.ObjectNode json(String id, DeploymentStats first, DeploymentStats last,
            double seconds) {
        var o = Json.object().put("id", id);
        o.setAll(Json.stats(last));
        if (seconds > 0) {
            var r = o.putObject("rates");
            r.put("seconds", seconds);
            var per = r.putArray("executors");
            int n = Math.max(first.executors().size(), last.executors().size());
            for (int i = 0; i < n; i++) {
                per.add((last.executor(i) - first.executor(i)) / seconds);
            }
            r.put("pass", (last.pass() - first.pass()) / seconds).put("drop", (last.drop() - first.drop()) / seconds)
                    .put("decisions", (last.decisions() - first.decisions()) / seconds);
        }
        return o;
    }

    /** The table; {@code seconds == 0}: no rate column. */
    static void print(PrintStream out, DeploymentStats first, DeploymentStats last, double seconds, boolean format) {
        ShellTable table = new ShellTable();
        table.column("Executor");
        table.column("Decisions").alignRight();
        table.column("Share").alignRight();
        if (seconds > 0) {
            table.column("Rate/s").alignRight();
        }
        long total = last.decisions();
        int n = Math.max(first.executors().size(), last.executors().size());
        for (int i = 0; i < n; i++) {
            row(table, Integer.toString(i), first.executor(i), last.executor(i), total, seconds);
        }
        row(table, "PASS", first.pass(), last.pass(), total, seconds);
        row(table, "DROP", first.drop(), last.drop(), total, seconds);
        if (last.other() != 0) {
            row(table, "OTHER", first.other(), last.other(), total, seconds);
        }
        row(table, "total", first.decisions(), total, total, seconds);
        table.print(out, format);
    }

    private static void row(ShellTable table, String name, long before, long now, long total, double seconds) {
        var row = table.addRow();
        row.addContent(name, Long.toString(now),
                total == 0 ? "-" : String.format(Locale.ROOT, "%.1f%%", 100.0 * now / total));
        if (seconds > 0) {
            row.addContent(String.format(Locale.ROOT, "%.1f", (now - before) / seconds));
        }
    }
}
