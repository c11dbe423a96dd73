package dev.syrup.bpf;

/**
 * Attaches an {@code sk_reuseport} program to the SO_REUSEPORT group of a socket. The program
 * applies to the whole group (all sockets bound to the same address and port with SO_REUSEPORT),
 * replaces any previous one, and stays attached after the program's fd is closed: only
 * {@link #detach(Fd)} (or the last socket of the group closing) removes it.
 */
public final class ReuseportGroup {

    private ReuseportGroup() {}

    /** setsockopt(socket, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, &amp;progFd, 4). */
    public static void attach(Fd socket, BpfProgram program) {
        Sockets.setIntOption(socket, Sockets.SOL_SOCKET, Sockets.SO_ATTACH_REUSEPORT_EBPF, program.fd());
    }

    /** setsockopt(socket, SOL_SOCKET, SO_DETACH_REUSEPORT_BPF): back to the kernel's hash. ENOENT if none attached. */
    public static void detach(Fd socket) {
        Sockets.setIntOption(socket, Sockets.SOL_SOCKET, Sockets.SO_DETACH_REUSEPORT_BPF, 0);
    }
}
