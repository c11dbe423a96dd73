package dev.syrup.daemon.shell;

import dev.syrup.api.Availability;
import dev.syrup.api.Deployer;
import dev.syrup.api.Hook;
import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Option;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;
import org.apache.karaf.shell.support.table.ShellTable;

@Command(scope = "syrup", name = "hooks", description = "Lists the scheduling hooks installed and whether they can deploy here")
@Service
public class HooksCommand implements Action {

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
            for (Hook h : deployer.hooks()) {
                var o = out.addObject().put("name", h.name()).put("input", h.input().label())
                        .put("executor", h.executor().label()).put("available", h.availability().available());
                if (!h.availability().available()) {
                    o.put("reason", h.availability().reason());
                }
            }
            Json.print(System.out, out);
            return null;
        }
        ShellTable table = new ShellTable();
        table.column("Name");
        table.column("Input");
        table.column("Executor");
        table.column("Status");
        for (Hook h : deployer.hooks()) {
            table.addRow().addContent(h.name(), h.input().label(), h.executor().label(), status(h.availability()));
        }
        table.print(System.out, !noFormat);
        return null;
    }

    /** An available hook may still say something (which engine runs, why another cannot). */
    static String status(Availability a) {
        return a.available() && !a.reason().isBlank() ? "available (" + a.reason() + ")" : a.toString();
    }
}
