package dev.syrup.daemon.shell;

import dev.syrup.api.Deployer;
import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
import dev.syrup.daemon.shell.completers.DeploymentCompleter;
import dev.syrup.daemon.shell.completers.MapCompleter;
import java.util.OptionalLong;
import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Argument;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Completion;
import org.apache.karaf.shell.api.action.Option;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;

@Command(scope = "syrup", name = "map-get", description = "Prints one entry of a Map a deployment's policy declares")
@Service
public class MapGetCommand implements Action {

    @Reference
    Deployer deployer;

    @Argument(index = 0, name = "id", required = true, description = "Deployment id")
    @Completion(DeploymentCompleter.class)
    String id;

    @Argument(index = 1, name = "map", required = true, description = "Map name as declared in the policy")
    @Completion(MapCompleter.class)
    String map;

    @Argument(index = 2, name = "key", required = true, description = "Key, an unsigned 32-bit number")
    String key;

    @Option(name = "--json", description = "One JSON document instead of the table")
    boolean json;

    @Override
    public Object execute() throws SyrupException {
        int k = parseKey(key);
        OptionalLong v = deployer.map(id, map).lookup(k);
        if (v.isEmpty()) {
            throw new SyrupException(Kind.NOT_FOUND, map + " has no key " + key);
        }
        if (json) {
            var o = Json.object().put("key", Integer.toUnsignedLong(k));
            Json.putU64(o, "value", v.getAsLong());
            Json.print(System.out, o);
            return null;
        }
        System.out.println(Long.toUnsignedString(v.getAsLong()));
        return null;
    }

    static int parseKey(String key) throws SyrupException {
        try {
            return Integer.parseUnsignedInt(key);
        } catch (NumberFormatException e) {
            throw new SyrupException(Kind.INVALID, "key '" + key + "' is not an unsigned 32-bit number");
        }
    }
}
