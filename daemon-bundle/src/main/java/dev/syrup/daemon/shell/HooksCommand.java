package dev.syrup.daemon.shell;

import dev.syrup.api.Availability;
import dev.syrup.api.Deployer;
import dev.syrup.hook.spi.Executor;
import dev.syrup.hook.spi.Hook;
import dev.syrup.hook.spi.Input;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.function.Function;
import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Option;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;
import org.apache.karaf.shell.support.table.ShellTable;
import org.osgi.framework.BundleContext;
import org.osgi.framework.InvalidSyntaxException;
import org.osgi.framework.ServiceReference;

@Command(scope = "syrup", name = "hooks", description = "Lists the scheduling hooks installed and whether they can deploy here;"
        + " with --kinds, the input and executor kinds registered (what a policy sees, what its index names)")
@Service
public class HooksCommand implements Action {

    @Reference
    Deployer deployer;

    @Reference
    BundleContext bundleContext;

    @Option(name = "--kinds", description = "List the input and executor kinds (Syrup's and plugins') instead of the hooks")
    boolean kinds;

    @Option(name = "--no-format", description = "Plain output, no table borders")
    boolean noFormat;

    @Option(name = "--json", description = "One JSON document instead of the table")
    boolean json;

    @Override
    public Object execute() throws InvalidSyntaxException {
        return kinds ? listKinds() : listHooks();
    }

    private Object listHooks() {
        if (json) {
            var out = Json.array();
            for (Hook h : deployer.hooks()) {
                var o = out.addObject().put("name", h.name()).put("input", h.input().name())
                        .put("executor", h.executor().name()).put("available", h.availability().available());
                if (!h.availability().available()) {
                    o.put("reason", h.availability().reason());
                }
            }
            Json.print(System.out, out);
            return null;
        }
        ShellTable table = new ShellTable();
        table.column("Name");
        table.column("Input");
        table.column("Executor");
        table.column("Status");
        for (Hook h : deployer.hooks()) {
            table.addRow().addContent(h.name(), h.input().name(), h.executor().name(), status(h.availability()));
        }
        table.print(System.out, !noFormat);
        return null;
    }

    /** A registered kind: input or executor, its name, its two descriptions, the bundle that registered it. */
    private record Kind(String role, String name, String first, String second, String bundle) {}

    private Object listKinds() throws InvalidSyntaxException {
        List<Kind> all = new ArrayList<>();
        collect(Input.class, "input", i -> new String[] {i.name(), i.view(), i.request()}, all);
        collect(Executor.class, "executor", e -> new String[] {e.name(), e.adoption(), e.index()}, all);
        all.sort(Comparator.comparing(Kind::role).reversed().thenComparing(Kind::name));
        if (json) {
            var out = Json.array();
            for (Kind k : all) {
                var o = out.addObject().put("kind", k.role()).put("name", k.name());
                if (k.role().equals("input")) {
                    o.put("view", k.first()).put("request", k.second());
                } else {
                    o.put("adoption", k.first()).put("index", k.second());
                }
                o.put("bundle", k.bundle());
            }
            Json.print(System.out, out);
            return null;
        }
        ShellTable table = new ShellTable();
        table.column("Kind");
        table.column("Name");
        table.column("Sees / adopted").maxSize(70).wrap();
        table.column("Request / index").maxSize(50).wrap();
        table.column("Bundle");
        for (Kind k : all) {
            table.addRow().addContent(k.role(), k.name(), k.first(), k.second(), k.bundle());
        }
        table.print(System.out, !noFormat);
        return null;
    }

    private <T> void collect(Class<T> type, String role, Function<T, String[]> parts, List<Kind> out)
            throws InvalidSyntaxException {
        for (ServiceReference<T> ref : bundleContext.getServiceReferences(type, null)) {
            T kind = bundleContext.getService(ref);
            if (kind == null) {
                continue;
            }
            try {
                String[] p = parts.apply(kind);
                out.add(new Kind(role, p[0], p[1], p[2], ref.getBundle().getSymbolicName()));
            } finally {
                bundleContext.ungetService(ref);
            }
        }
    }

    /** An available hook may still say something (which engine runs, why another cannot). */
    static String status(Availability a) {
        return a.available() && !a.reason().isBlank() ? "available (" + a.reason() + ")" : a.toString();
    }
}
