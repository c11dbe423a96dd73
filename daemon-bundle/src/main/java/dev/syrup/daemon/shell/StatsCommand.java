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

    @Override
    public Object execute() throws SyrupException, InterruptedException {
        if (intervalMs < 0 || intervalMs > 600_000) {
            throw new SyrupException(SyrupException.Kind.INVALID, "--interval must be 0.." + 600_000 + " ms");
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
        print(System.out, first, last, seconds, !noFormat);
        return null;
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
