package dev.syrup.api;

import dev.syrup.api.map.MapEvent;
import dev.syrup.api.map.SyrupMap;
import dev.syrup.hook.spi.Hook;
import dev.syrup.hook.spi.HookDeployment;
import java.util.List;

/**
 * The daemon's deployment service: the one entry point the shell, the control socket and
 * other bundles use to deploy, replace and remove policies.
 */
public interface Deployer {

    /** Hooks currently installed, sorted by name. */
    List<Hook> hooks();

    /** Names of the built-in policies, sorted. */
    List<String> builtins();

    /**
     * Compiles, verifies and installs a policy. On any failure nothing changes: no deployment
     * is added, and a replaced policy keeps running.
     *
     * @return the new (or, with {@code replace}, the updated) deployment
     */
    Deployment deploy(DeployRequest request) throws SyrupException;

    /** Removes a deployment and restores the layer's default. */
    void undeploy(String id) throws SyrupException;

    /**
     * Puts an executor of the application at {@code index} of a deployment; see
     * {@link HookDeployment#registerExecutor(int, long, int)}. Callers check ownership.
     */
    void registerExecutor(String id, int index, long pid, int fd) throws SyrupException;

    /** Live deployments in the order they were created. */
    List<Deployment> list();

    /**
     * {@link HookDeployment#registerThread(long, int, int)} of deployment {@code id}; callers
     * check that the caller owns the deployment and pass the caller's own pid and uid.
     */
    default int registerThread(String id, long pid, int uid, int tid) throws SyrupException {
        throw new SyrupException(SyrupException.Kind.UNAVAILABLE, "this deployer registers no threads");
    }

    /** Maps the deployment's policy declares. */
    List<SyrupMap> maps(String id) throws SyrupException;

    /** One Map of a deployment, by the name the policy declares. */
    SyrupMap map(String id, String name) throws SyrupException;

    /**
     * A deployment's decision counters (per executor, PASS, DROP), summed over CPUs; see
     * {@link HookDeployment#stats()}.
     *
     * @throws SyrupException {@code NOT_FOUND} for an unknown id, {@code UNAVAILABLE} when its hook keeps none
     */
    default DeploymentStats stats(String id) throws SyrupException {
        throw new SyrupException(SyrupException.Kind.UNAVAILABLE, "this deployer reports no decision counters");
    }

    /**
     * One Map of a deployment whose changes ({@code update}, {@code delete}) are published as
     * {@link MapEvent}s with this origin; {@link #map(String, String)} is {@code origin = API}.
     */
    default SyrupMap map(String id, String name, MapEvent.Origin origin) throws SyrupException {
        return map(id, name);
    }

    /**
     * Runs a policy on inputs in the kernel without deploying it ({@link PolicyTest}); compile and
     * verifier errors are those a deploy would report.
     *
     * @throws SyrupException as {@link #deploy} for the policy, {@code UNAVAILABLE} when the hook
     *                        cannot test-run policies
     */
    default TestResult test(PolicyTest test) throws SyrupException {
        throw new SyrupException(SyrupException.Kind.UNAVAILABLE, "this deployer cannot test policies");
    }

    /** The kernel program deployment {@code id}'s policy runs as, for bpftool; empty when it has none. */
    default java.util.Optional<KernelProgram> program(String id) throws SyrupException {
        return java.util.Optional.empty();
    }
}
