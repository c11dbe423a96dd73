package dev.syrup.daemon.shell;

import dev.syrup.api.Deployer;
import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
import dev.syrup.api.map.MapEvent;
import dev.syrup.daemon.shell.completers.DeploymentCompleter;
import dev.syrup.daemon.shell.completers.MapCompleter;
import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Argument;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Completion;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;

@Command(scope = "syrup", name = "map-put", description = "Sets one entry of a Map a deployment's policy declares (u32 key, u64 value)")
@Service
public class MapPutCommand implements Action {

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

    @Argument(index = 3, name = "value", required = true, description = "Value, an unsigned 64-bit number")
    String value;

    @Override
    public Object execute() throws SyrupException {
        int k;
        long v;
        try {
            k = Integer.parseUnsignedInt(key);
        } catch (NumberFormatException e) {
            throw new SyrupException(Kind.INVALID, "key '" + key + "' is not an unsigned 32-bit number");
        }
        try {
            v = Long.parseUnsignedLong(value);
        } catch (NumberFormatException e) {
            throw new SyrupException(Kind.INVALID, "value '" + value + "' is not an unsigned 64-bit number");
        }
        deployer.map(id, map, MapEvent.Origin.SHELL).update(k, v);
        System.out.println(map + "[" + key + "] = " + value);
        return null;
    }
}
