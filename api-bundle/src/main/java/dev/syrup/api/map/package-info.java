/** Maps: the key-value stores shared by applications and the policies they deploy. */
@Version("0.4.0")
@Export
package dev.syrup.api.map;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
