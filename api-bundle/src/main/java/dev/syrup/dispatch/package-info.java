/**
 * The port-matching dispatcher's service contract: the one root program per layer that hands
 * each input to the policy of the application that owns its port. A layer service hooks take as
 * a reference; isolation-bundle provides it.
 */
@Version("1.0.0")
@Export
package dev.syrup.dispatch;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
