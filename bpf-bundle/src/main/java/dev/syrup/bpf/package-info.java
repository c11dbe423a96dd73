/**
 * A small libbpf-based BPF library over jnr-ffi: ELF objects ({@link dev.syrup.bpf.BpfObject}),
 * programs, maps (created, pinned, mmap'ed), verifier errors with their log, SO_REUSEPORT, XDP and netns (sk_lookup, a {@link dev.syrup.bpf.BpfLink})
 * attachment, pidfd-based fd adoption, bpffs directories acted on through their fds ({@link
 * dev.syrup.bpf.PinDir}) and kernel object listing. Every kernel object has one
 * owner and is released by {@code close()}.
 * Untrusted objects are judged before load ({@link dev.syrup.bpf.ProgramRules}) and loaded with
 * fewer capabilities ({@link dev.syrup.bpf.Capabilities}).
 */
@Version("0.6.0")
@Export
package dev.syrup.bpf;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
