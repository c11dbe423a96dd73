package dev.syrup.daemon.control;

import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Option;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;
import org.apache.karaf.shell.support.table.ShellTable;

/** {@code syrup:apps}: the application processes whose deployments syrupd removes when they exit. */
@Command(scope = "syrup", name = "apps", description = "Lists the application processes that deployed through the control socket")
@Service
public class AppsCommand implements Action {

    /** Optional: without the control socket (syrup-ebpf not installed) the daemon's other commands still work. */
    @Reference(optional = true)
    ControlServer server;

    @Option(name = "--no-format", description = "Plain output, no table borders")
    boolean noFormat;

    @Option(name = "--json", description = "One JSON document instead of the table")
    boolean json;

    @Override
    public Object execute() {
        if (server == null) {
            if (json) {
                dev.syrup.daemon.shell.Json.print(System.out, dev.syrup.daemon.shell.Json.object().putNull("socket"));
                return null;
            }
            System.out.println("the control socket is not running (it needs the syrup-ebpf feature)");
            return null;
        }
        if (json) {
            var o = dev.syrup.daemon.shell.Json.object().put("socket", server.socketPath().toString())
                    .put("listening", server.listening()).put("connections", server.connections());
            var ps = o.putArray("processes");
            for (ApplicationProcess p : server.processes()) {
                var d = ps.addObject().put("app", p.app()).put("pid", p.pid()).putArray("deployments");
                p.deployments().forEach(d::add);
            }
            dev.syrup.daemon.shell.Json.print(System.out, o);
            return null;
        }
        System.out.println("control socket " + server.socketPath() + (server.listening() ? "" : " (not listening: taken by another syrupd)")
                + ", " + server.connections() + " connection(s)");
        ShellTable table = new ShellTable();
        table.column("Application");
        table.column("Pid");
        table.column("Deployments");
        for (ApplicationProcess p : server.processes()) {
            table.addRow().addContent(p.app(), p.pid(), String.join(" ", p.deployments()));
        }
        table.print(System.out, !noFormat);
        return null;
    }
}
