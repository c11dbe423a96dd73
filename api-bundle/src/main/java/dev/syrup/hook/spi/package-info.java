/**
 * The hook SPI: what a bundle implements to bring a place in the stack where policies run.
 *
 * <ul>
 *   <li>{@link dev.syrup.hook.spi.Hook} — registered as a service, one per hook; syrupd finds it
 *       by name and opens deployments on it with a {@link dev.syrup.hook.spi.HookContext}.</li>
 *   <li>{@link dev.syrup.hook.spi.HookDeployment} — one policy slot at the hook: the executors,
 *       the running policy, its Maps and counters.</li>
 *   <li>{@link dev.syrup.hook.spi.Input} and {@link dev.syrup.hook.spi.Executor} — open
 *       contracts: what the policy sees and what its index means; a plugin may bring new kinds,
 *       registered as services.</li>
 * </ul>
 *
 * <p>What BPF hooks do the same way (Map sharing, make-before-break, pins, counters) is in the
 * hook kit, {@code dev.syrup.hook.kit}; the provider API (deploying) is {@code dev.syrup.api}.
 */
@Version("1.0.0")
@Export
package dev.syrup.hook.spi;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
