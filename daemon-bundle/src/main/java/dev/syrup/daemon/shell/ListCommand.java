package dev.syrup.daemon.shell;

import dev.syrup.api.Deployer;
import dev.syrup.api.Deployment;
import dev.syrup.api.KernelProgram;
import dev.syrup.api.SyrupException;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Option;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;
import org.apache.karaf.shell.support.table.ShellTable;

@Command(scope = "syrup", name = "list", description = "Lists live deployments")
@Service
public class ListCommand implements Action {

    @Reference
    Deployer deployer;

    @Option(name = "--no-format", description = "Plain output, no table borders")
    boolean noFormat;

    @Option(name = "--json", description = "One JSON document instead of the table")
    boolean json;

    @Override
    public Object execute() {
        if (json) {
            var out = Json.array();
            for (Deployment d : deployer.list()) {
                out.add(Json.deployment(d, program(d)));
            }
            Json.print(System.out, out);
            return null;
        }
        ShellTable table = new ShellTable();
        for (String c : new String[] {"Id", "Policy", "Hook", "Target", "Owner", "Executors", "Replaced", "Prog id", "Tag", "Age"}) {
            table.column(c);
        }
        for (Deployment d : deployer.list()) {
            Optional<KernelProgram> p = program(d);
            table.addRow().addContent(d.id(), d.policy(), d.hook(), d.target().toString(), d.owner(),
                    d.executors(), d.replaced(), p.map(x -> Integer.toString(x.id())).orElse("-"),
                    p.map(KernelProgram::tag).orElse("-"), age(d.created()));
        }
        table.print(System.out, !noFormat);
        return null;
    }

    /** The deployment's kernel program; empty when it has none or is gone meanwhile. */
    private Optional<KernelProgram> program(Deployment d) {
        try {
            return deployer.program(d.id());
        } catch (SyrupException | RuntimeException e) {
            return Optional.empty();
        }
    }

    static String age(Instant since) {
        long s = Duration.between(since, Instant.now()).toSeconds();
        return s < 120 ? s + "s" : s < 7200 ? s / 60 + "m" : s / 3600 + "h";
    }
}
