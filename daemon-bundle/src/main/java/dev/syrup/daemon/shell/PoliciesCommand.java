package dev.syrup.daemon.shell;

import dev.syrup.api.Deployer;
import dev.syrup.api.SyrupException;
import dev.syrup.daemon.compile.Builtins;
import dev.syrup.daemon.shell.completers.PolicyCompleter;
import java.nio.charset.StandardCharsets;
import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Argument;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Completion;
import org.apache.karaf.shell.api.action.Option;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;
import org.apache.karaf.shell.support.table.ShellTable;

@Command(scope = "syrup", name = "policies", description = "Lists the built-in policies, or prints one's C source")
@Service
public class PoliciesCommand implements Action {

    @Reference
    Deployer deployer;

    @Argument(index = 0, name = "name", required = false, description = "A built-in policy: print its source")
    @Completion(PolicyCompleter.class)
    String name;

    @Option(name = "--no-format", description = "Plain output, no table borders")
    boolean noFormat;

    @Option(name = "--json", description = "One JSON document instead of the table (with a name: its source too)")
    boolean json;

    @Override
    public Object execute() throws SyrupException {
        if (name != null) {
            String source = new String(Builtins.text(name), StandardCharsets.UTF_8);
            if (json) {
                Json.print(System.out, Json.object().put("name", name).put("description", summary(source)).put("source", source));
            } else {
                System.out.print(source);
            }
            return null;
        }
        if (json) {
            var out = Json.array();
            for (String n : deployer.builtins()) {
                out.addObject().put("name", n).put("description", summary(new String(Builtins.text(n), StandardCharsets.UTF_8)));
            }
            Json.print(System.out, out);
            return null;
        }
        ShellTable table = new ShellTable();
        table.column("Name");
        table.column("Description");
        for (String n : deployer.builtins()) {
            table.addRow().addContent(n, summary(new String(Builtins.text(n), StandardCharsets.UTF_8)));
        }
        table.print(System.out, !noFormat);
        return null;
    }

    /** The built-in's first comment line, after "name — ". */
    static String summary(String c) {
        String first = c.lines().findFirst().orElse("").replaceFirst("^/\\*\\s*", "").replaceFirst("\\s*\\*/\\s*$", "");
        int dash = first.indexOf(" — ");
        return dash >= 0 ? first.substring(dash + 3) : first;
    }
}
