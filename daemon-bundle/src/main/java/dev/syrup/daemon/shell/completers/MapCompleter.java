package dev.syrup.daemon.shell.completers;

import dev.syrup.api.Deployer;
import dev.syrup.api.SyrupException;
import dev.syrup.api.map.SyrupMap;
import java.util.List;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;
import org.apache.karaf.shell.api.console.CommandLine;
import org.apache.karaf.shell.api.console.Completer;
import org.apache.karaf.shell.api.console.Session;
import org.apache.karaf.shell.support.completers.StringsCompleter;

/** Completes the Map names of the deployment named by the previous argument. */
@Service
public class MapCompleter implements Completer {

    @Reference
    Deployer deployer;

    @Override
    public int complete(Session session, CommandLine line, List<String> candidates) {
        String[] args = line.getArguments();
        int idAt = line.getCursorArgumentIndex() - 1;
        if (idAt < 1 || idAt >= args.length) {
            return -1;
        }
        try {
            List<String> names = deployer.maps(args[idAt]).stream().map(SyrupMap::name).toList();
            return new StringsCompleter(names).complete(session, line, candidates);
        } catch (SyrupException e) {
            return -1;
        }
    }
}
