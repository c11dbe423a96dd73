package dev.syrup.daemon.shell.completers;

import dev.syrup.api.Deployer;
import dev.syrup.hook.spi.Hook;
import java.util.List;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;
import org.apache.karaf.shell.api.console.CommandLine;
import org.apache.karaf.shell.api.console.Completer;
import org.apache.karaf.shell.api.console.Session;
import org.apache.karaf.shell.support.completers.StringsCompleter;

/** Completes installed hook names. */
@Service
public class HookCompleter implements Completer {

    @Reference
    Deployer deployer;

    @Override
    public int complete(Session session, CommandLine line, List<String> candidates) {
        StringsCompleter names = new StringsCompleter(deployer.hooks().stream().map(Hook::name).toList());
        return names.complete(session, line, candidates);
    }
}
