package dev.syrup.daemon.shell.completers;

import dev.syrup.api.Deployer;
import java.util.List;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;
import org.apache.karaf.shell.api.console.CommandLine;
import org.apache.karaf.shell.api.console.Completer;
import org.apache.karaf.shell.api.console.Session;
import org.apache.karaf.shell.support.completers.FileCompleter;
import org.apache.karaf.shell.support.completers.StringsCompleter;

/** Completes built-in policy names, then file paths. */
@Service
public class PolicyCompleter implements Completer {

    @Reference
    Deployer deployer;

    @Override
    public int complete(Session session, CommandLine line, List<String> candidates) {
        int at = new StringsCompleter(deployer.builtins()).complete(session, line, candidates);
        return candidates.isEmpty() ? new FileCompleter().complete(session, line, candidates) : at;
    }
}
