package dev.syrup.daemon.shell;

import dev.syrup.api.Deployer;
import dev.syrup.api.SyrupException;
import dev.syrup.api.map.SyrupMap;
import dev.syrup.daemon.shell.completers.DeploymentCompleter;
import dev.syrup.daemon.shell.completers.MapCompleter;
import java.util.Map;
import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Argument;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Completion;
import org.apache.karaf.shell.api.action.Option;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;
import org.apache.karaf.shell.support.table.ShellTable;

@Command(scope = "syrup", name = "map-dump", description = "Prints every entry of a Map a deployment's policy declares")
@Service
public class MapDumpCommand implements Action {

    @Reference
    Deployer deployer;

    @Argument(index = 0, name = "id", required = true, description = "Deployment id")
    @Completion(DeploymentCompleter.class)
    String id;

    @Argument(index = 1, name = "map", required = true, description = "Map name as declared in the policy")
    @Completion(MapCompleter.class)
    String map;

    @Option(name = "--no-format", description = "Plain output, no table borders")
    boolean noFormat;

    @Option(name = "--json", description = "One JSON document instead of the table")
    boolean json;

    @Override
    public Object execute() throws SyrupException {
        SyrupMap m = deployer.map(id, map);
        if (json) {
            var out = Json.array();
            for (Map.Entry<Integer, Long> e : m.dump().entrySet()) {
                Json.putU64(out.addObject().put("key", Integer.toUnsignedLong(e.getKey())), "value", e.getValue());
            }
            Json.print(System.out, out);
            return null;
        }
        ShellTable table = new ShellTable();
        table.column("Key");
        table.column("Value");
        for (Map.Entry<Integer, Long> e : m.dump().entrySet()) {
            table.addRow().addContent(Integer.toUnsignedString(e.getKey()), Long.toUnsignedString(e.getValue()));
        }
        table.print(System.out, !noFormat);
        return null;
    }
}
