package dev.syrup.bpf;

import dev.syrup.bpf.internal.Native;
import dev.syrup.linux.LibC;
import dev.syrup.linux.Structs.BpfLinkInfo;
import java.nio.file.Path;
import jnr.ffi.Pointer;

/**
 * A BPF link (bpf_link_create): an attachment of a program that lasts exactly as long as the
 * link's fd, so {@link #close()} detaches and nothing stays behind when its owner dies. Made by
 * {@link BpfProgram#attachNetns(Path)}. The link holds a reference on its program: the program
 * outlives its object until the link is closed.
 */
public final class BpfLink implements AutoCloseable {

    /** {@code enum bpf_attach_type} BPF_SK_LOOKUP. */
    static final int BPF_SK_LOOKUP = 36;

    private final Fd fd;
    private final int id;
    private volatile int programId;

    private BpfLink(Fd fd) {
        this.fd = fd;
        Native n = Native.get();
        Pointer info = n.allocate(BpfLinkInfo.SIZE);
        int[] len = {BpfLinkInfo.SIZE};
        try {
            Native.checkBpf("bpf_obj_get_info_by_fd(link fd " + fd.get() + ")", n.bpf().bpf_obj_get_info_by_fd(fd.get(), info, len));
        } catch (RuntimeException e) {
            fd.close();
            throw e;
        }
        this.id = info.getInt(BpfLinkInfo.ID);
        this.programId = info.getInt(BpfLinkInfo.PROG_ID);
    }

    /** bpf_link_create of {@code programFd} on the network namespace file {@code netns} (e.g. /proc/self/ns/net). */
    static BpfLink createNetns(int programFd, int attachType, Path netns) {
        Native n = Native.get();
        try (Fd ns = Fd.adopt(n.openat2("open " + netns, LibC.AT_FDCWD, netns.toString(),
                LibC.O_RDONLY | LibC.O_CLOEXEC, 0))) {
            int link = Native.checkBpf("bpf_link_create(prog fd " + programFd + ", netns " + netns + ")",
                    n.bpf().bpf_link_create(programFd, ns.get(), attachType, null));
            return new BpfLink(Fd.adopt(link));
        }
    }

    /**
     * BPF_LINK_UPDATE: the link runs {@code program} instead of its current program, in one
     * step (each input sees the old or the new one, never neither); on failure nothing
     * changed. The caller keeps its reference to {@code program}; the link takes its own.
     */
    public synchronized void update(BpfProgram program) {
        Native.checkBpf("bpf_link_update(link " + id + ", prog " + program.name() + ")",
                Native.get().bpf().bpf_link_update(fd.get(), program.fd(), null));
        programId = program.info().id();
    }

    /** The kernel's link id (bpftool link show). */
    public int id() {
        return id;
    }

    /** Id of the program the link attaches. */
    public int programId() {
        return programId;
    }

    public boolean isClosed() {
        return fd.isClosed();
    }

    /** Detaches: closes the link's only fd. Idempotent. */
    @Override
    public void close() {
        fd.close();
    }

    @Override
    public String toString() {
        return "BpfLink[id " + id + ", prog " + programId + "]";
    }
}
