package dev.syrup.bpf;

import dev.syrup.bpf.internal.Native;
import java.nio.file.Path;
import java.util.Optional;
import jnr.ffi.Pointer;

/**
 * A loaded BPF program: either a program of a {@link BpfObject} — its fd belongs to the object,
 * is valid once the object is loaded and is closed with the object ({@link #close()} is then a
 * no-op) — or a standalone program opened from a pin with {@link #openPinned(Path)}, which owns
 * its fd. After close every method but {@link #name()} and {@link #type()} throws
 * {@link IllegalStateException}.
 */
public final class BpfProgram implements AutoCloseable {

    private final BpfObject owner;
    private final Pointer handle;
    private final Fd ownFd;
    private final String name;
    private final int typeId;
    private volatile Path pinned;

    BpfProgram(BpfObject owner, Pointer handle) {
        this.owner = owner;
        this.handle = handle;
        this.ownFd = null;
        Native n = Native.get();
        this.name = n.bpf().bpf_program__name(handle);
        this.typeId = n.bpf().bpf_program__type(handle);
    }

    private BpfProgram(Fd fd, ProgramInfo info) {
        this.owner = null;
        this.handle = null;
        this.ownFd = fd;
        this.name = info.name();
        this.typeId = info.typeId();
    }

    /**
     * bpf_obj_get of a pinned program (e.g. to re-adopt after a restart, or to put it into a
     * PROG_ARRAY). The name is the kernel's (at most 15 characters). Close it when done.
     */
    public static BpfProgram openPinned(Path path) {
        int fd = Native.checkBpf("bpf_obj_get(" + path + ")", Native.get().bpf().bpf_obj_get(path.toString()));
        Fd owned = Fd.adopt(fd);
        try {
            Infos.requireKind(fd, "bpf-prog");
            BpfProgram p = new BpfProgram(owned, Infos.program(fd));
            p.pinned = path;
            return p;
        } catch (RuntimeException e) {
            owned.close();
            throw e;
        }
    }

    /**
     * As {@link #openPinned(Path)}, for the pin {@code name} in {@code dir}, never following a
     * link ({@link PinDir#get}).
     */
    public static BpfProgram openPinned(PinDir dir, String name) {
        Fd owned = dir.get(name);
        try {
            Infos.requireKind(owned.get(), "bpf-prog");
            return new BpfProgram(owned, Infos.program(owned.get()));
        } catch (RuntimeException e) {
            owned.close();
            throw e;
        }
    }

    Pointer handle() {
        return handle;
    }

    /** The program's (function) name in the ELF object. */
    public String name() {
        return name;
    }

    /** Program type from the ELF section name (e.g. "xdp" → XDP, "sk_reuseport" → SK_REUSEPORT). */
    public ProgramType type() {
        return ProgramType.of(typeId);
    }

    public int typeId() {
        return typeId;
    }

    /** The program fd; owned by the object (or by this standalone program). Throws IllegalStateException before load or after close. */
    public int fd() {
        if (owner == null) {
            return ownFd.get();
        }
        owner.checkOpen();
        int fd = Native.get().bpf().bpf_program__fd(handle);
        if (fd < 0) {
            throw new IllegalStateException("program '" + name + "' is not loaded");
        }
        return fd;
    }

    /** The kernel's view (id, tag, ...); requires a loaded program. */
    public ProgramInfo info() {
        return Infos.program(fd());
    }

    /**
     * Attaches this sk_lookup program to a network namespace with a BPF link (libbpf's
     * bpf_program__attach_netns): it then runs on every socket lookup in that namespace, after
     * the links made before it, until the link is closed. {@code netns} names the namespace
     * file, e.g. {@code /proc/self/ns/net} or {@code /run/netns/NAME}; it is opened for the call
     * only. Needs CAP_NET_ADMIN.
     *
     * @throws BpfException e.g. EINVAL when this is not an {@link ProgramType#SK_LOOKUP} program
     */
    public BpfLink attachNetns(Path netns) {
        return BpfLink.createNetns(fd(), BpfLink.BPF_SK_LOOKUP, netns);
    }

    /**
     * Result of a BPF_PROG_TEST_RUN given a context rather than a packet.
     *
     * @param retval     the program's return value of the last run
     * @param durationNs the kernel's average duration per repetition, in ns
     * @param ctxOut     the context after the run (e.g. the cookie of the socket an sk_lookup program selected)
     */
    public record ContextRun(int retval, long durationNs, byte[] ctxOut) {}

    /**
     * bpf_prog_test_run_opts with {@code ctx} as the program's context and no packet, run
     * {@code repeat} times (0 means 1): for program types whose test run takes a context, such
     * as {@link ProgramType#SK_LOOKUP} ({@code struct bpf_sk_lookup}).
     */
    public ContextRun testRun(byte[] ctx, int repeat) {
        Native n = Native.get();
        // struct bpf_test_run_opts (libbpf 1.1 bpf.h): sz@0, data_in@8, data_out@16, data_size_in@24,
        // data_size_out@28, ctx_in@32, ctx_out@40, ctx_size_in@48, ctx_size_out@52, retval@56,
        // repeat@60, duration@64, flags@68, cpu@72, batch_size@76; sizeof 80.
        Pointer opts = n.allocate(80);
        Pointer in = n.allocate(Math.max(1, ctx.length));
        in.put(0, ctx, 0, ctx.length);
        Pointer out = n.allocate(Math.max(1, ctx.length));
        opts.putLong(0, 80);
        opts.putAddress(32, in.address());
        opts.putAddress(40, out.address());
        opts.putInt(48, ctx.length);
        opts.putInt(52, ctx.length);
        opts.putInt(60, repeat);
        Native.checkBpf("bpf_prog_test_run_opts(" + name + ")", n.bpf().bpf_prog_test_run_opts(fd(), opts));
        byte[] result = new byte[Math.min(opts.getInt(52), ctx.length)];
        out.get(0, result, 0, result.length);
        return new ContextRun(opts.getInt(56), Integer.toUnsignedLong(opts.getInt(64)), result);
    }

    /** bpf_obj_pin: the program outlives its object and this process at {@code path} until unpinned. */
    public void pin(Path path) {
        Pins.pin(fd(), "program '" + name + "'", path);
        pinned = path;
    }

    /** Removes the pin made by {@link #pin}; no-op when none. */
    public void unpin() {
        Pins.remove(pinned);
        pinned = null;
    }

    public Optional<Path> pinnedPath() {
        return Optional.ofNullable(pinned);
    }

    /** Closes a standalone program's fd; no-op for a program of an object. Idempotent. Pins stay. */
    @Override
    public void close() {
        if (ownFd != null) {
            ownFd.close();
        }
    }

    @Override
    public String toString() {
        return "BpfProgram[" + name + ", " + type() + "]";
    }
}
