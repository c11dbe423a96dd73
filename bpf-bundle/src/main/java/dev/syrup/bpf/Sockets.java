package dev.syrup.bpf;

import dev.syrup.bpf.internal.Native;
import dev.syrup.linux.LibC;

/** Integer socket options on a raw socket {@link Fd}. */
public final class Sockets {

    public static final int SOL_SOCKET = LibC.SOL_SOCKET;
    public static final int SO_REUSEPORT = LibC.SO_REUSEPORT;
    public static final int SO_RCVBUF = LibC.SO_RCVBUF;
    /** Sets the receive buffer beyond net.core.rmem_max (CAP_NET_ADMIN). */
    public static final int SO_RCVBUFFORCE = LibC.SO_RCVBUFFORCE;
    public static final int SO_ATTACH_REUSEPORT_EBPF = LibC.SO_ATTACH_REUSEPORT_EBPF;
    public static final int SO_DETACH_REUSEPORT_BPF = LibC.SO_DETACH_REUSEPORT_BPF;
    public static final int SO_COOKIE = LibC.SO_COOKIE;

    private Sockets() {}

    public static void setIntOption(Fd socket, int level, int name, int value) {
        Native n = Native.get();
        int rc = n.libc().setsockopt(socket.get(), level, name, new int[] {value}, 4);
        n.checkLibc("setsockopt(fd " + socket.get() + ", " + level + ", " + name + ")", rc);
    }

    public static int getIntOption(Fd socket, int level, int name) {
        Native n = Native.get();
        int[] value = new int[1];
        int rc = n.libc().getsockopt(socket.get(), level, name, value, new int[] {4});
        n.checkLibc("getsockopt(fd " + socket.get() + ", " + level + ", " + name + ")", rc);
        return value[0];
    }

    /** The socket's cookie (SO_COOKIE): what a lookup in a REUSEPORT_SOCKARRAY or SOCKMAP returns for it. */
    public static long cookie(Fd socket) {
        Native n = Native.get();
        int[] value = new int[2];
        int rc = n.libc().getsockopt(socket.get(), SOL_SOCKET, SO_COOKIE, value, new int[] {8});
        n.checkLibc("getsockopt(fd " + socket.get() + ", SO_COOKIE)", rc);
        return Integer.toUnsignedLong(value[0]) | ((long) value[1] << 32); // little-endian, as the kernel's
    }
}
