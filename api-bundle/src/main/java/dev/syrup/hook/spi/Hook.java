package dev.syrup.hook.spi;

import dev.syrup.api.Availability;
import dev.syrup.api.DeployRequest;
import dev.syrup.api.SyrupException;
import dev.syrup.api.Target;
import dev.syrup.api.TestResult;
import org.osgi.annotation.versioning.ConsumerType;

/**
 * A scheduling hook: a place in the stack where a policy's {@code schedule()} runs.
 *
 * <p>A backend bundle registers one service per hook. The daemon tracks these services
 * dynamically; when the service goes away the daemon closes every deployment it opened.
 *
 * <p>Deploying is two steps so that the policy can be compiled for the executors found:
 * {@link #open(Target, HookContext)} claims the inputs and adopts the executors, then
 * {@link HookDeployment#install(java.nio.file.Path)} loads and attaches the compiled policy.
 */
@ConsumerType
public interface Hook {

    /** Service property carrying {@link #name()}, for filters such as {@code (syrup.hook=socket_select)}. */
    String NAME_PROPERTY = "syrup.hook";

    /** Short, stable name used on the command line, e.g. {@code socket_select}. */
    String name();

    /** What the policy sees here; a kind this hook's bundle brings is also registered as a service. */
    Input input();

    /** What the policy's index names here; as {@link #input()}. */
    Executor executor();

    /** Whether this hook can deploy here; checked again on every deploy. */
    Availability availability();

    /**
     * The C glue compiled together with the policy: it includes {@code syrup.h}, then the
     * policy file (by the given include path, so compiler errors name the user's file),
     * declares the executor map and turns {@code schedule()}'s result into the hook's action.
     *
     * @param policyInclude path of the policy's C file, as it should appear in
     *                      {@code #include "..."}
     */
    String wrapper(String policyInclude);

    /**
     * Claims {@code target}'s inputs and adopts their executors. Nothing is attached yet.
     *
     * <p>{@code context} says whose deployment it is and where it pins:
     * <ul>
     *   <li>{@link HookContext#pinDir()}: the bpffs directory the deployment pins its objects
     *       under (created by the hook, {@code 0700}, removed on close). Maps pinned there already
     *       (see {@link HookDeployment#closeKeepingMaps}) are the policy's when their shape
     *       matches. The hook opens it once, following no link, and acts through that fd from
     *       then on (never by this path again).</li>
     *   <li>{@link HookContext#executorUid()}: when present (a tenant's deployment,
     *       {@link DeployRequest#executorUid()}), the hook adopts only executors owned by that
     *       uid and refuses ({@code DENIED}) while any executor on the target belongs to another
     *       uid, at open and at every later adoption (re-scans on install,
     *       {@link HookDeployment#registerExecutor}). A hook whose executors no process owns (CPUs,
     *       NIC queues) ignores it.</li>
     *   <li>{@link HookContext#owner()}: whose Maps the policy shares and whose claims it makes.</li>
     * </ul>
     *
     * @throws SyrupException {@code NO_EXECUTORS} when there is nothing to schedule onto,
     *                        {@code UNAVAILABLE} when the hook cannot run here, {@code DENIED}
     *                        for another uid's executor, {@code CONFLICT} for a target another
     *                        owner holds
     */
    HookDeployment open(Target target, HookContext context) throws SyrupException;

    /**
     * Bytes of Map memory the compiled policy {@code object} would create: for each Map it
     * declares (including the compiler's .data/.bss/.rodata ones, excluding the hook's own),
     * (key size + value size) x max entries. Read from the object before anything is loaded, so
     * syrupd can refuse a policy over its owner's limit before the kernel allocates it. The
     * default (a hook that cannot tell) is 0.
     *
     * @throws SyrupException {@code INVALID} when the object cannot be read
     */
    default long mapBytes(java.nio.file.Path object) throws SyrupException {
        return 0;
    }

    /**
     * The glue {@code syrup:test} compiles the policy with: by default {@link #wrapper}, the very
     * object a deployment loads. A hook whose program type the kernel cannot test-run returns a
     * shim of a type that can, running the same {@code schedule()} on the same bytes.
     */
    default String testWrapper(String policyInclude) {
        return wrapper(policyInclude);
    }

    /**
     * Loads {@code object} (compiled from {@link #testWrapper}), seeds its Maps, runs it once per
     * input with BPF_PROG_TEST_RUN and reads each decision from the glue's counters; then unloads
     * it. Nothing is attached.
     *
     * @param inputs    Ethernet frames
     * @param maps      Map name to (key to value), written before the first input
     * @param executors how many executors the policy was compiled for
     * @throws SyrupException {@code VERIFIER} as for a deployment, {@code INVALID} for a seed of a
     *                        Map the policy does not declare, {@code UNAVAILABLE} when this hook
     *                        cannot test policies (the default)
     */
    default TestResult test(java.nio.file.Path object, java.util.List<byte[]> inputs,
            java.util.Map<String, java.util.Map<Long, Long>> maps, int executors) throws SyrupException {
        throw new SyrupException(SyrupException.Kind.UNAVAILABLE, "hook " + name() + " cannot test-run policies");
    }

    /**
     * A deployment recorded at this hook by a previous syrupd will not be re-adopted (an
     * application's, one whose re-adoption failed, one undeployed while waiting for the hook):
     * release what the previous syrupd left in the kernel for it at {@code target}, such as its
     * claim in a dispatcher. Its pins under {@code pinDir} are removed by the caller.
     */
    default void discard(Target target, java.nio.file.Path pinDir) {
    }
}
