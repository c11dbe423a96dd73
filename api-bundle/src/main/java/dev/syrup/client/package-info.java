/**
 * The application side of Syrup: a client of syrupd's control socket that deploys policies,
 * registers the application's sockets as executors and opens the Maps its policies declare
 * (ARRAY Maps created {@code BPF_F_MMAPABLE} are read and updated through shared memory).
 * Needs only the JDK and jnr-ffi, so it works as a plain jar outside OSGi. The wire protocol is
 * {@link dev.syrup.client.Message}.
 */
@Version("0.2.0")
@Export
package dev.syrup.client;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
