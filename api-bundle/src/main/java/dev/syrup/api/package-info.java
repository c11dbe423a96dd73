/**
 * Service contracts of Syrup: hooks (where a policy runs), their inputs and executors,
 * deployments, and the daemon's deployment service.
 */
@Version("0.7.0")
@Export
package dev.syrup.api;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
