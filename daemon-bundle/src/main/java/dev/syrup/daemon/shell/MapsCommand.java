package dev.syrup.daemon.shell;

import dev.syrup.api.Deployer;
import dev.syrup.api.Deployment;
import dev.syrup.api.SyrupException;
import dev.syrup.api.map.SyrupMap;
import dev.syrup.daemon.shell.completers.DeploymentCompleter;
import java.util.List;
import java.util.Map;
import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Argument;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Completion;
import org.apache.karaf.shell.api.action.Option;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;
import org.apache.karaf.shell.support.table.ShellTable;

@Command(scope = "syrup", name = "maps", description = "Lists the Maps the policies of deployments declare")
@Service
public class MapsCommand implements Action {

    @Reference
    Deployer deployer;

    @Argument(index = 0, name = "id", required = false, description = "Deployment id (default: every deployment)")
    @Completion(DeploymentCompleter.class)
    String id;

    @Option(name = "--no-format", description = "Plain output, no table borders")
    boolean noFormat;

    @Option(name = "--json", description = "One JSON document instead of the table")
    boolean json;

    @Override
    public Object execute() throws SyrupException {
        List<String> ids = id != null ? List.of(id) : deployer.list().stream().map(Deployment::id).toList();
        var out = Json.array();
        ShellTable table = new ShellTable();
        for (String c : new String[] {"Deployment", "Name", "Type", "KeySize", "ValueSize", "MaxEntries", "InUse", "PinnedPath"}) {
            table.column(c);
        }
        for (String d : ids) {
            List<SyrupMap> maps;
            try {
                maps = deployer.maps(d);
            } catch (SyrupException e) {
                if (id != null) {
                    throw e;
                }
                continue; // undeployed while listing
            }
            for (SyrupMap m : maps) {
                if (json) {
                    var o = out.addObject().put("deployment", d).put("name", m.name()).put("type", m.type())
                            .put("key_size", m.keySize()).put("value_size", m.valueSize()).put("max_entries", m.maxEntries());
                    String used = inUse(m);
                    if (used.equals("?")) {
                        o.putNull("in_use");
                    } else {
                        o.put("in_use", Long.parseLong(used));
                    }
                    o.put("pinned", m.pinnedPath().orElse(null));
                    continue;
                }
                table.addRow().addContent(d, m.name(), m.type(), m.keySize(), m.valueSize(), m.maxEntries(),
                        inUse(m), m.pinnedPath().orElse("-"));
            }
        }
        if (json) {
            Json.print(System.out, out);
            return null;
        }
        table.print(System.out, !noFormat);
        return null;
    }

    /**
     * Entries in use: the keys present for a hash map, the non-zero entries for an array (whose
     * every index always exists); {@code ?} when it cannot be read (not u32 -> u64).
     */
    static String inUse(SyrupMap m) {
        if (m.keySize() != 4 || m.valueSize() != 8) {
            return "?";
        }
        try {
            Map<Integer, Long> all = m.dump();
            return Long.toString(m.type().contains("array") ? all.values().stream().filter(v -> v != 0).count() : all.size());
        } catch (SyrupException | RuntimeException e) {
            return "?";
        }
    }
}
