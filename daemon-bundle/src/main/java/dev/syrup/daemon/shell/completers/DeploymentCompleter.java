package dev.syrup.daemon.shell.completers;

import dev.syrup.api.Deployer;
import dev.syrup.api.Deployment;
import java.util.List;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;
import org.apache.karaf.shell.api.console.CommandLine;
import org.apache.karaf.shell.api.console.Completer;
import org.apache.karaf.shell.api.console.Session;
import org.apache.karaf.shell.support.completers.StringsCompleter;

/** Completes live deployment ids. */
@Service
public class DeploymentCompleter implements Completer {

    @Reference
    Deployer deployer;

    @Override
    public int complete(Session session, CommandLine line, List<String> candidates) {
        return new StringsCompleter(deployer.list().stream().map(Deployment::id).toList())
                .complete(session, line, candidates);
    }
}
