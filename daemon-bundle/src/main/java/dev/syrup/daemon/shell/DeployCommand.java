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
import java.util.Optional;
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

    /*
     * Karaf stops reading options at the first argument, but the documented form puts the
     * policy first (syrup:deploy round_robin --hook socket_select --port 9000): the argument
     * therefore takes the rest of the line, and options found there are read by hand.
     */
    @Argument(index = 0, name = "policy", required = true, multiValued = true,
            description = "A built-in policy name or the path of a .c file (options may follow it)")
    @Completion(PolicyCompleter.class)
    List<String> policyAndOptions;

    @Option(name = "--hook", description = "Hook to deploy at (see syrup:hooks); required")
    @Completion(HookCompleter.class)
    String hook;

    @Option(name = "--port", description = "Port whose inputs the policy schedules; required")
    int port;

    @Option(name = "--proto", description = "udp (default) or tcp")
    String proto = "udp";

    @Option(name = "--iface", description = "Network interface, for the packet hooks (cpu_redirect, xdp_*)")
    String iface;

    @Option(name = "--fallback", description = "Hook to deploy at instead when --hook is unavailable here (e.g. --hook xdp_offload --fallback xdp_drv)")
    @Completion(HookCompleter.class)
    String fallback;

    @Option(name = "--replace", description = "Swap the policy of the deployment already on this port (make-before-break)")
    boolean replace;

    @Option(name = "-D", multiValued = true, description = "Preprocessor definition NAME=VALUE passed to the compiler (repeatable)")
    List<String> defines;

    @Option(name = "--json", description = "Print the deployment as one JSON document")
    boolean json;

    /** Set from {@link #policyAndOptions} by {@link #readTrailingOptions()}. */
    String policy;

    @Override
    public Object execute() throws SyrupException {
        policy = readTrailingOptions();
        if (hook == null) {
            throw new SyrupException(Kind.INVALID, "--hook is required (see syrup:hooks)");
        }
        if (port == 0) {
            throw new SyrupException(Kind.INVALID, "--port is required");
        }
        if (port < 1 || port > 65535) {
            throw new SyrupException(Kind.INVALID, "port out of range: " + port);
        }
        Target target = new Target(Protocol.parse(proto), port, java.util.Optional.ofNullable(iface));
        DeployRequest req = new DeployRequest(policy, hook, target, parse(defines), replace, DeployRequest.ADMIN);
        Deployment d = deployWithFallback(req, json ? System.err : System.out);
        if (json) {
            Optional<dev.syrup.api.KernelProgram> p;
            try {
                p = deployer.program(d.id());
            } catch (SyrupException e) {
                p = Optional.empty();
            }
            Json.print(System.out, Json.deployment(d, p));
            return null;
        }
        System.out.println((d.replaced() > 0 && replace ? "Replaced policy of" : "Deployed") + " " + d.policy() + " at "
                + d.hook() + " " + d.target() + " over " + d.executors() + " executor(s): " + d.id());
        return null;
    }

    /**
     * Deploys {@code req}; when its hook is unavailable here (SyrupException UNAVAILABLE, from
     * the hook's availability or from its open; or UNKNOWN_HOOK, its backend not installed, as
     * the offload one is by default) and {@code --fallback} names another hook,
     * deploys the same policy, target and defines at that hook instead and says so on {@code out}.
     */
    Deployment deployWithFallback(DeployRequest req, java.io.PrintStream out) throws SyrupException {
        try {
            return deployer.deploy(req);
        } catch (SyrupException e) {
            if (fallback == null || fallback.equals(req.hook())
                    || (e.kind() != Kind.UNAVAILABLE && e.kind() != Kind.UNKNOWN_HOOK)) {
                throw e;
            }
            out.println(e.getMessage() + "; deploying at " + fallback + " instead (--fallback)");
            return deployer.deploy(new DeployRequest(req.policy(), fallback, req.target(), req.defines(), req.replace(),
                    req.owner()));
        }
    }

    /** Takes the policy (the first word) and applies the options that follow it. */
    String readTrailingOptions() throws SyrupException {
        String policy = null;
        for (int i = 0; i < policyAndOptions.size(); i++) {
            String word = policyAndOptions.get(i);
            switch (word) {
                case "--replace" -> replace = true;
                case "--json" -> json = true;
                case "--hook", "--port", "--proto", "--iface", "--fallback", "-D" -> {
                    if (i + 1 >= policyAndOptions.size()) {
                        throw new SyrupException(Kind.INVALID, word + " needs a value");
                    }
                    String value = policyAndOptions.get(++i);
                    switch (word) {
                        case "--hook" -> hook = value;
                        case "--proto" -> proto = value;
                        case "--iface" -> iface = value;
                        case "--fallback" -> fallback = value;
                        case "--port" -> port = parsePort(value);
                        default -> {
                            defines = defines == null ? new java.util.ArrayList<>() : new java.util.ArrayList<>(defines);
                            defines.add(value);
                        }
                    }
                }
                default -> {
                    if (word.startsWith("-D") && word.length() > 2) {
                        defines = defines == null ? new java.util.ArrayList<>() : new java.util.ArrayList<>(defines);
                        defines.add(word.substring(2));
                    } else if (word.startsWith("-")) {
                        throw new SyrupException(Kind.INVALID, "unknown option " + word
                                + " (expected --hook, --port, --proto, --iface, --fallback, --replace, --json, -D NAME=VALUE)");
                    } else if (policy != null) {
                        throw new SyrupException(Kind.INVALID, "one policy at a time: got '" + policy + "' and '" + word + "'");
                    } else {
                        policy = word;
                    }
                }
            }
        }
        if (policy == null) {
            throw new SyrupException(Kind.INVALID, "which policy? give a built-in name or a .c file");
        }
        return policy;
    }

    private static int parsePort(String s) throws SyrupException {
        try {
            return Integer.parseInt(s);
        } catch (NumberFormatException e) {
            throw new SyrupException(Kind.INVALID, "port '" + s + "' is not a number");
        }
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
