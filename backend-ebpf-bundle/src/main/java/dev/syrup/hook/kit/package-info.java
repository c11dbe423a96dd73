/**
 * The hook kit: what every BPF hook's deployment does the same way, for hooks of any bundle.
 *
 * <ul>
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
 * <p>The in-tree hooks (socket_select, cpu_redirect, xdp, thread_scheduler) use it; so can a
 * hook bundle of a third party, which imports this package and {@code dev.syrup.bpf}.
 */
@Version("1.0.0")
@Export
package dev.syrup.hook.kit;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
