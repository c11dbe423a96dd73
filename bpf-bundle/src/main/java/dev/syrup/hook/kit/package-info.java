/**
 * The hook kit: what every BPF hook's deployment does the same way, for hooks of any bundle.
 *
 * <ul>
 *   <li>{@link dev.syrup.hook.kit.PolicyDeployment} — the base deployment: a hook adds the step
 *       that makes a loaded policy run and the one that takes it out; installs, Maps,
 *       re-adoption, counters and the end are the kit's.</li>
 *   <li>{@link dev.syrup.hook.kit.Glue} — the C glue's preamble, counters and license.</li>
 *   <li>{@link dev.syrup.hook.kit.ProcSockets} — the sockets on a port and their holders, and
 *       checked duplicates of them (socket executors).</li>
 *   <li>{@link dev.syrup.hook.kit.PolicyTestRun} — {@code syrup:test}: a policy run with
 *       BPF_PROG_TEST_RUN, its decisions read from the counters.</li>
 *   <li>{@link dev.syrup.hook.kit.MapRegistry} — the service through which one owner's Maps are
 *       shared by name across its deployments at any hooks (shape-checked, never across owners,
 *       released with the last user); backend-ebpf registers it ({@link dev.syrup.hook.kit.SharedMaps}).</li>
 *   <li>{@link dev.syrup.hook.kit.PolicyObjects} — opening a policy's object under the hook's
 *       rules, make-before-break installs, pinned Maps and their re-adoption after a restart,
 *       the hook's own pinned maps, the end of a deployment (with or without its Maps).</li>
 *   <li>{@link dev.syrup.hook.kit.DeploymentDir} — a deployment's pin directory, acted on through one fd.</li>
 *   <li>{@link dev.syrup.hook.kit.DecisionStats} — the decision counters: C glue, map, reading.</li>
 *   <li>{@link dev.syrup.hook.kit.KernelMap} — a kernel map as a {@link dev.syrup.api.map.SyrupMap}.</li>
 * </ul>
 *
 * <p>The in-tree hooks (socket_select, cpu_redirect, xdp, xdp_offload, thread_scheduler) use it;
 * so can a hook bundle of a third party, which imports this package and {@code dev.syrup.bpf}:
 * two classes, a {@code Hook} and a {@code PolicyDeployment}, make a hook with Maps shared with
 * the in-tree hooks', stats, make-before-break and re-adoption.
 */
@Version("1.0.0")
@Export
package dev.syrup.hook.kit;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
