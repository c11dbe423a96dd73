package dev.syrup.bpf;

import dev.syrup.bpf.internal.Native;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import jnr.ffi.Pointer;

/**
 * A program of a {@link BpfObject}. Its fd belongs to the object: it is valid once the object is
 * loaded and is closed with the object (never close it yourself). After the object is closed
 * every method but {@link #name()} and {@link #type()} throws {@link IllegalStateException}.
 */
public final class BpfProgram {

    private final BpfObject owner;
    private final Pointer handle;
    private final String name;
    private final int typeId;
    private volatile Path pinned;

    BpfProgram(BpfObject owner, Pointer handle) {
        this.owner = owner;
        this.handle = handle;
        Native n = Native.get();
        this.name = n.bpf().bpf_program__name(handle);
        this.typeId = n.bpf().bpf_program__type(handle);
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

    /** The program fd; owned by the object. Throws IllegalStateException before load or after close. */
    public int fd() {
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

    /** bpf_obj_pin: the program outlives its object and this process at {@code path} until unpinned. */
    public void pin(Path path) {
        Native.checkBpf("bpf_obj_pin(program '" + name + "', " + path + ")",
                Native.get().bpf().bpf_obj_pin(fd(), path.toString()));
        pinned = path;
    }

    /** Removes the pin made by {@link #pin}; no-op when none. */
    public void unpin() {
        Path p = pinned;
        if (p != null) {
            try {
                Files.deleteIfExists(p);
            } catch (IOException e) {
                throw new UncheckedIOException("unpin " + p, e);
            }
            pinned = null;
        }
    }

    public Optional<Path> pinnedPath() {
        return Optional.ofNullable(pinned);
    }

    @Override
    public String toString() {
        return "BpfProgram[" + name + ", " + type() + "]";
    }
}
