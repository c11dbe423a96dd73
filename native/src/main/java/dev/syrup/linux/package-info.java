/**
 * The native surface of Syrup in one place: the one jnr-ffi binding of libc ({@link
 * dev.syrup.linux.LibC}, loaded by {@link dev.syrup.linux.Linux}) and the layouts of the kernel
 * and libc structs passed through it ({@link dev.syrup.linux.Structs}). Used by the BPF library
 * (syrupd), the application client and the backends; needs only the JDK and jnr-ffi, so it
 * works as a plain jar outside OSGi.
 */
@Version("1.0.0")
@Export
package dev.syrup.linux;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
