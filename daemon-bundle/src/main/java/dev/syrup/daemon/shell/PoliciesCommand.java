package dev.syrup.daemon.shell;

import dev.syrup.api.Deployer;
import dev.syrup.api.SyrupException;
import dev.syrup.daemon.compile.Builtins;
import java.nio.charset.StandardCharsets;
import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Option;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;
import org.apache.karaf.shell.support.table.ShellTable;

@Command(scope = "syrup", name = "policies", description = "Lists the built-in policies")
@Service
public class PoliciesCommand implements Action {

    @Reference
    Deployer deployer;

    @Option(name = "--no-format", description = "Plain output, no table borders")
    boolean noFormat;

    @Override
    public Object execute() throws SyrupException {
        ShellTable table = new ShellTable();
        table.column("Name");
        table.column("Description");
        for (String name : deployer.builtins()) {
            table.addRow().addContent(name, summary(new String(Builtins.text(name), StandardCharsets.UTF_8)));
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
