package dev.syrup.api;

/**
 * The kernel program a deployment's policy runs as, as {@code bpftool prog show id <id>} shows it.
 *
 * @param id   the kernel's program id
 * @param name the program's name (the kernel keeps 15 characters)
 * @param type the program type, e.g. {@code sk_reuseport}, {@code xdp}
 * @param tag  the kernel's tag (hash of the instructions), 16 hex digits
 */
public record KernelProgram(int id, String name, String type, String tag) {
}
