package dev.syrup.daemon.shell;

import dev.syrup.api.Deployer;
import dev.syrup.api.SyrupException;
import dev.syrup.api.map.SyrupMap;
import dev.syrup.daemon.events.MapCopies;
import dev.syrup.daemon.shell.completers.DeploymentCompleter;
import dev.syrup.daemon.shell.completers.MapCompleter;
import java.time.Instant;
import java.util.List;
import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Argument;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Completion;
import org.apache.karaf.shell.api.action.Option;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;

@Command(scope = "syrup", name = "map-watch",
        description = "Prints the changes of a Map as they happen (whoever makes them), until interrupted (Ctrl-C)")
@Service
public class MapWatchCommand implements Action {

    @Reference
    Deployer deployer;

    @Argument(index = 0, name = "id", required = true, description = "Deployment id")
    @Completion(DeploymentCompleter.class)
    String id;

    @Argument(index = 1, name = "map", required = true, description = "Map name as declared in the policy")
    @Completion(MapCompleter.class)
    String map;

    @Option(name = "--interval", description = "Milliseconds between two looks at the Map (default 1000)")
    long interval = 1000;

    @Option(name = "--count", description = "Stop after printing this many changes (default: never)")
    long count;

    @Option(name = "--duration", description = "Stop after this many milliseconds (default: never)")
    long duration;

    @Override
    public Object execute() throws SyrupException {
        SyrupMap m = deployer.map(id, map);
        MapCopies copies = new MapCopies();
        copies.diff(id, map, m.dump(), Instant.now());
        System.out.println("watching " + id + " " + map + " every " + interval + " ms; format: time deployment map[key] old -> new");
        System.out.flush();
        long end = duration > 0 ? System.currentTimeMillis() + duration : Long.MAX_VALUE;
        long printed = 0;
        try {
            while (System.currentTimeMillis() < end && (count <= 0 || printed < count)) {
                Thread.sleep(Math.max(1, Math.min(interval, end - System.currentTimeMillis())));
                List<dev.syrup.api.map.MapEvent> changes = copies.diff(id, map, m.dump(), Instant.now());
                for (dev.syrup.api.map.MapEvent e : changes) {
                    String line = e.toText();
                    System.out.println(line.substring(0, line.lastIndexOf(' '))); // who changed it is not known here
                    if (count > 0 && ++printed >= count) {
                        break;
                    }
                }
                System.out.flush();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt(); // Ctrl-C
        }
        return null;
    }
}
