package dev.syrup.daemon.shell;

import dev.syrup.api.Deployer;
import dev.syrup.api.Deployment;
import java.time.Duration;
import java.time.Instant;
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

    @Override
    public Object execute() {
        ShellTable table = new ShellTable();
        for (String c : new String[] {"Id", "Policy", "Hook", "Target", "Owner", "Executors", "Replaced", "Age"}) {
            table.column(c);
        }
        for (Deployment d : deployer.list()) {
            table.addRow().addContent(d.id(), d.policy(), d.hook(), d.target().toString(), d.owner(),
                    d.executors(), d.replaced(), age(d.created()));
        }
        table.print(System.out, !noFormat);
        return null;
    }

    static String age(Instant since) {
        long s = Duration.between(since, Instant.now()).toSeconds();
        return s < 120 ? s + "s" : s < 7200 ? s / 60 + "m" : s / 3600 + "h";
    }
}
