package dev.syrup.daemon.shell;

import dev.syrup.api.DeployRequest;
import dev.syrup.api.Deployer;
import dev.syrup.api.Deployment;
import dev.syrup.api.Protocol;
import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
import dev.syrup.api.Target;
import dev.syrup.daemon.shell.completers.HookCompleter;
import dev.syrup.daemon.shell.completers.PolicyCompleter;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Argument;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Completion;
import org.apache.karaf.shell.api.action.Option;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;

@Command(scope = "syrup", name = "deploy", description = "Compiles a policy and deploys it at a hook; prints the deployment id last")
@Service
public class DeployCommand implements Action {

    @Reference
    Deployer deployer;

    @Argument(index = 0, name = "policy", required = true, description = "A built-in policy name or the path of a .c file")
    @Completion(PolicyCompleter.class)
    String policy;

    @Option(name = "--hook", required = true, description = "Hook to deploy at (see syrup:hooks)")
    @Completion(HookCompleter.class)
    String hook;

    @Option(name = "--port", required = true, description = "Port whose inputs the policy schedules")
    int port;

    @Option(name = "--proto", description = "udp (default) or tcp")
    String proto = "udp";

    @Option(name = "--replace", description = "Swap the policy of the deployment already on this port (make-before-break)")
    boolean replace;

    @Option(name = "-D", multiValued = true, description = "Preprocessor definition NAME=VALUE passed to the compiler (repeatable)")
    List<String> defines;

    @Override
    public Object execute() throws SyrupException {
        if (port < 1 || port > 65535) {
            throw new SyrupException(Kind.INVALID, "port out of range: " + port);
        }
        Target target = Target.port(Protocol.parse(proto), port);
        DeployRequest req = new DeployRequest(policy, hook, target, parse(defines), replace, DeployRequest.ADMIN);
        Deployment d = deployer.deploy(req);
        System.out.println((d.replaced() > 0 && replace ? "Replaced policy of" : "Deployed") + " " + d.policy() + " at "
                + d.hook() + " " + d.target() + " over " + d.executors() + " executor(s): " + d.id());
        return null;
    }

    static Map<String, String> parse(List<String> defines) throws SyrupException {
        Map<String, String> out = new LinkedHashMap<>();
        if (defines == null) {
            return out;
        }
        for (String d : defines) {
            int eq = d.indexOf('=');
            String name = eq < 0 ? d : d.substring(0, eq);
            if (name.isEmpty()) {
                throw new SyrupException(Kind.INVALID, "bad define '" + d + "' (expected NAME=VALUE)");
            }
            out.put(name, eq < 0 ? "" : d.substring(eq + 1));
        }
        return out;
    }
}
