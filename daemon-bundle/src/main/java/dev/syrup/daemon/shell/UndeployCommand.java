package dev.syrup.daemon.shell;

import dev.syrup.api.Deployer;
import dev.syrup.api.SyrupException;
import dev.syrup.daemon.shell.completers.DeploymentCompleter;
import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Argument;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Completion;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;

@Command(scope = "syrup", name = "undeploy", description = "Removes a deployment and restores the layer's default scheduling")
@Service
public class UndeployCommand implements Action {

    @Reference
    Deployer deployer;

    @Argument(index = 0, name = "id", required = true, description = "Deployment id (see syrup:list)")
    @Completion(DeploymentCompleter.class)
    String id;

    @Override
    public Object execute() throws SyrupException {
        deployer.undeploy(id);
        System.out.println("Undeployed " + id);
        return null;
    }
}
