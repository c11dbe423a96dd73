/**
 * The application side of Syrup: a client of syrupd's control socket that deploys policies,
 * registers the application's sockets as executors and opens the Maps its policies declare
 * (ARRAY Maps created {@code BPF_F_MMAPABLE} are read and updated through shared memory).
 * Needs only the JDK, the contracts ({@code syrup-api}) and libc through {@code syrup-native}
 * (jnr-ffi), so it works as a plain jar outside OSGi, and never depends on the daemon's bundles.
 * The wire protocol is {@link dev.syrup.client.Message}; the C client ships in this jar under
 * {@code dev/syrup/client/c/}.
 */
@Version("0.2.0")
@Export
package dev.syrup.client;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
