package dev.syrup.bpf;

import dev.syrup.bpf.internal.Native;
import java.util.OptionalInt;
import jnr.ffi.Pointer;

/**
 * A program attached to an interface's XDP hook through netlink ({@code bpf_xdp_attach}).
 *
 * <p>Unlike a {@link BpfLink}, the kernel keeps a netlink attachment without any fd: the program
 * goes on running on the interface after this process dies, which is what lets a datapath
 * outlive its control plane. So ownership is explicit: {@link #close()} detaches, and only if
 * the interface still runs the program this attachment put there ({@code XDP_FLAGS_REPLACE}
 * with the expected program, one atomic netlink request); {@link #update} swaps programs the
 * same way, so a program someone else attached meanwhile is never replaced or removed.
 */
public final class XdpAttachment implements AutoCloseable {

    /** struct bpf_xdp_attach_opts {size_t sz; int old_prog_fd; size_t :0;} */
    private static final int OPTS_SIZE = 16;

    private final int ifindex;
    private final int mode;
    private int programId;
    private boolean closed;

    private XdpAttachment(int ifindex, int mode, int programId) {
        this.ifindex = ifindex;
        this.mode = mode;
        this.programId = programId;
    }

    /**
     * Attaches {@code program} to interface {@code ifindex} in {@code mode}
     * ({@link Xdp#XDP_FLAGS_SKB_MODE}, {@link Xdp#XDP_FLAGS_DRV_MODE} or
     * {@link Xdp#XDP_FLAGS_HW_MODE}). With {@code replacing} empty the interface must run no XDP
     * program ({@code EBUSY}/{@code EEXIST} otherwise); with a program id, it must run exactly
     * that one, which is replaced in one step ({@code EEXIST} when it runs another).
     */
    public static XdpAttachment attach(int ifindex, BpfProgram program, int mode, OptionalInt replacing) {
        String what = "bpf_xdp_attach(ifindex " + ifindex + ", " + program.name() + ")";
        if (replacing.isEmpty()) {
            Native.checkBpf(what, Native.get().bpf().bpf_xdp_attach(ifindex, program.fd(), mode | Xdp.XDP_FLAGS_UPDATE_IF_NOEXIST, null));
        } else {
            replace(what, ifindex, program.fd(), mode, replacing.getAsInt());
        }
        return new XdpAttachment(ifindex, mode, program.info().id());
    }

    /**
     * The attachment of program {@code programId} that an earlier process left on interface
     * {@code ifindex}, taken over (closing it detaches that program if it still runs there);
     * empty when the interface runs it in no mode.
     */
    public static java.util.Optional<XdpAttachment> adopt(int ifindex, int programId) {
        for (int mode : new int[] {Xdp.XDP_FLAGS_SKB_MODE, Xdp.XDP_FLAGS_DRV_MODE, Xdp.XDP_FLAGS_HW_MODE}) {
            OptionalInt id;
            try {
                id = Xdp.attachedProgramId(ifindex, mode);
            } catch (BpfException e) {
                continue; // a mode the device cannot have
            }
            if (id.isPresent() && id.getAsInt() == programId) {
                return java.util.Optional.of(new XdpAttachment(ifindex, mode, programId));
            }
        }
        return java.util.Optional.empty();
    }

    /**
     * Runs {@code program} instead of this attachment's program, in one step, and only if the
     * interface still runs this attachment's program ({@code EEXIST} otherwise, and nothing changed).
     */
    public synchronized void update(BpfProgram program) {
        if (closed) {
            throw new IllegalStateException("XDP attachment on ifindex " + ifindex + " is closed");
        }
        replace("bpf_xdp_attach(ifindex " + ifindex + ", " + program.name() + ", replacing id " + programId + ")",
                ifindex, program.fd(), mode, programId);
        programId = program.info().id();
    }

    public int ifindex() {
        return ifindex;
    }

    /** The {@code XDP_FLAGS_*} mode bit the program is attached in. */
    public int mode() {
        return mode;
    }

    /** Id of the program this attachment put (or found) on the interface. */
    public synchronized int programId() {
        return programId;
    }

    /** Whether the interface runs this attachment's program now (a query; false once closed). */
    public synchronized boolean isCurrent() {
        return !closed && Xdp.attachedProgramId(ifindex, mode).orElse(-1) == programId;
    }

    /**
     * Detaches the program if the interface still runs it; a program someone attached meanwhile
     * stays, and so does nothing when the interface is gone. Idempotent.
     *
     * @throws BpfException for any other failure of the detach
     */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        try (Fd expected = programFd(programId)) {
            if (expected == null) {
                return; // that program is gone, and with it its attachment
            }
            Pointer opts = opts(expected.get());
            int rc = Native.get().bpf().bpf_xdp_detach(ifindex, mode | Xdp.XDP_FLAGS_REPLACE, opts);
            if (rc == -Errno.EEXIST || rc == -Errno.ENODEV) {
                return; // another program runs there now, or the interface went away
            }
            Native.checkBpf("bpf_xdp_detach(ifindex " + ifindex + ", id " + programId + ")", rc);
        }
    }

    @Override
    public String toString() {
        return "xdp(ifindex " + ifindex + ", program " + programId + (closed ? ", closed" : "") + ")";
    }

    private static void replace(String what, int ifindex, int programFd, int mode, int expectedId) {
        try (Fd expected = programFd(expectedId)) {
            if (expected == null) {
                throw new BpfException(what + ": program " + expectedId + " is gone", Errno.EEXIST);
            }
            Native.checkBpf(what, Native.get().bpf().bpf_xdp_attach(ifindex, programFd, mode | Xdp.XDP_FLAGS_REPLACE,
                    opts(expected.get())));
        }
    }

    private static Pointer opts(int oldProgramFd) {
        Pointer opts = Native.get().allocate(OPTS_SIZE);
        opts.putLong(0, OPTS_SIZE);
        opts.putInt(8, oldProgramFd);
        return opts;
    }

    /** An fd of program {@code id}, or null when there is no such program any more. */
    private static Fd programFd(int id) {
        int fd = Native.get().bpf().bpf_prog_get_fd_by_id(id);
        if (fd == -Errno.ENOENT) {
            return null;
        }
        return Fd.adopt(Native.checkBpf("bpf_prog_get_fd_by_id(" + id + ")", fd));
    }
}
