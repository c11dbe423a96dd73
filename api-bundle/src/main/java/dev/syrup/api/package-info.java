/**
 * Syrup's provider API: the daemon's deployment service ({@link dev.syrup.api.Deployer}), what
 * is deployed where ({@link dev.syrup.api.DeployRequest}, {@link dev.syrup.api.Target},
 * {@link dev.syrup.api.Deployment}) and the values both sides of the hook SPI
 * ({@code dev.syrup.hook.spi}) exchange: errors, availability, counters, test results.
 */
@Version("1.0.0")
@Export
package dev.syrup.api;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
