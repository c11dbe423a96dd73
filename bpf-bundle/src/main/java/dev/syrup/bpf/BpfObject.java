package dev.syrup.bpf;

import dev.syrup.bpf.internal.Native;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;

/**
 * An ELF object file of BPF programs and maps, through libbpf: {@link #open(Path)}, then
 * {@link #load()}, then use its {@link #programs()} and {@link #maps()}. The object owns every
 * fd of its programs and maps; {@link #close()} (bpf_object__close) releases them all. Close is
 * idempotent; use after close throws {@link IllegalStateException}. Not thread-safe for
 * open/load/close; programs and maps may be used from any thread once loaded.
 *
 * <p>A failed load throws {@link VerifierException} carrying the verifier log of the failing
 * program (libbpf retries a failed load with log level 1 into a buffer given to each program).
 *
 * <p>An untrusted object is opened with {@link #open(Path, ProgramRules)}: judged before libbpf
 * sees it, and loaded with only the capabilities its rules give.
 */
public final class BpfObject implements AutoCloseable {

    /** Verifier log buffer per program (the kernel keeps the tail of a longer log and fails with ENOSPC only on success). */
    static final int LOG_SIZE = 1 << 20;

    private final Path path;
    private Pointer handle;
    private final Map<String, BpfProgram> programs = new LinkedHashMap<>();
    private final Map<String, BpfMap> maps = new LinkedHashMap<>();
    /** ELF names of reused maps by handle address: libbpf renames a reused map to the kernel map's name. */
    private final Map<Long, String> reusedNames = new java.util.HashMap<>();
    private volatile boolean closed;
    private boolean loaded;
    /** The device {@link #bindToDevice} bound it to; 0 for none. */
    private int device;
    /** The rules it was opened under; null for a trusted object. */
    private ProgramRules rules;
    /** The ELF image libbpf parsed (bpf_object__open_mem reads it until the object is loaded or closed). */
    @SuppressWarnings("unused")
    private Pointer image;

    private BpfObject(Path path, Pointer handle) {
        this.path = path;
        this.handle = handle;
    }

    /** bpf_object__open_file: parses the ELF file; nothing is created in the kernel yet. */
    public static BpfObject open(Path elf) {
        Native n = Native.get();
        Pointer h = n.checkPointer("bpf_object__open_file(" + elf + ")",
                n.bpf().bpf_object__open_file(elf.toString(), null));
        BpfObject obj = new BpfObject(elf, h);
        try {
            for (Pointer p = n.bpf().bpf_object__next_program(h, null); p != null && p.address() != 0;
                    p = n.bpf().bpf_object__next_program(h, p)) {
                BpfProgram prog = new BpfProgram(obj, p);
                obj.programs.put(prog.name(), prog);
            }
        } catch (RuntimeException e) {
            obj.close();
            throw e;
        }
        return obj;
    }

    /**
     * Opens an untrusted object under {@code rules}. Its bytes are read once and judged
     * ({@link ProgramRules#check}: no system call), then handed to libbpf from memory, so what
     * loads is what was judged; libbpf's view of it is judged again (each program's section and
     * type, each map's type and pin path). {@link #load()} then runs with only
     * {@link ProgramRules#capabilities()} effective on the loading thread, so the verifier applies
     * the rules of that privilege.
     *
     * @throws ObjectRejectedException when the rules refuse the object (nothing was created)
     */
    public static BpfObject open(Path elf, ProgramRules rules) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(elf);
        } catch (IOException e) {
            throw new BpfException("read(" + elf + "): " + e.getMessage(), 5 /* EIO */);
        }
        ObjectSpec spec;
        try {
            spec = ObjectSpec.read(bytes);
        } catch (IllegalArgumentException e) {
            throw new ObjectRejectedException(rules.scope(), List.of(e.getMessage()));
        }
        rules.check(spec);
        Native n = Native.get();
        Pointer image = Memory.allocateDirect(n.runtime(), Math.max(1, bytes.length));
        image.put(0, bytes, 0, bytes.length);
        // libbpf names the object (and its .bss/.data/.rodata maps) after object_name, as
        // bpf_object__open_file does after the file: up to the first dot.
        String name = elf.getFileName().toString();
        if (name.indexOf('.') > 0) {
            name = name.substring(0, name.indexOf('.'));
        }
        byte[] nameBytes = name.getBytes(StandardCharsets.UTF_8);
        Pointer cname = n.allocate(nameBytes.length + 1);
        cname.put(0, nameBytes, 0, nameBytes.length);
        Pointer opts = n.allocate(16); // struct bpf_object_open_opts {sz, object_name}: the rest is zero
        opts.putLong(0, 16);
        opts.putPointer(8, cname);
        Pointer h = n.checkPointer("bpf_object__open_mem(" + elf + ")", n.bpf().bpf_object__open_mem(image, bytes.length, opts));
        BpfObject obj = new BpfObject(elf, h);
        obj.image = image;
        obj.rules = rules;
        try {
            List<String> violations = new ArrayList<>();
            for (Pointer p = n.bpf().bpf_object__next_program(h, null); p != null && p.address() != 0;
                    p = n.bpf().bpf_object__next_program(h, p)) {
                BpfProgram prog = new BpfProgram(obj, p);
                obj.programs.put(prog.name(), prog);
                String bad = rules.sectionViolation(n.bpf().bpf_program__section_name(p), prog.type());
                if (bad != null) {
                    violations.add("program " + prog.name() + ": " + bad);
                }
            }
            for (Pointer m = n.bpf().bpf_object__next_map(h, null); m != null && m.address() != 0;
                    m = n.bpf().bpf_object__next_map(h, m)) {
                String pin = n.bpf().bpf_map__pin_path(m);
                String bad = rules.mapViolation(n.bpf().bpf_map__name(m), n.bpf().bpf_map__type(m),
                        pin == null ? null : "pinning at " + pin);
                if (bad != null) {
                    violations.add(bad);
                }
            }
            if (!violations.isEmpty()) {
                throw new ObjectRejectedException(rules.scope(), violations);
            }
        } catch (RuntimeException e) {
            obj.close();
            throw e;
        }
        return obj;
    }

    /** The rules the object was opened under, if any. */
    public java.util.Optional<ProgramRules> rules() {
        return java.util.Optional.ofNullable(rules);
    }

    /**
     * bpf_object__load: creates the maps and loads the programs into the kernel (for an object
     * opened under rules, with only their capabilities effective on this thread). On a verifier
     * refusal throws {@link VerifierException} for the failing program; on other failures
     * {@link BpfException}. After a failed load only {@link #close()} is useful.
     */
    public void load() {
        checkOpen();
        if (loaded) {
            throw new IllegalStateException("object " + path + " is already loaded");
        }
        Native n = Native.get();
        Map<BpfProgram, Pointer> logs = new LinkedHashMap<>();
        for (BpfProgram p : programs.values()) {
            Pointer buf = n.allocate(LOG_SIZE);
            Native.checkBpf("bpf_program__set_log_buf(" + p.name() + ")",
                    n.bpf().bpf_program__set_log_buf(p.handle(), buf, LOG_SIZE));
            logs.put(p, buf);
        }
        int rc;
        try {
            rc = rules == null ? n.bpf().bpf_object__load(handle)
                    : Capabilities.withEffective(rules.capabilities(), () -> n.bpf().bpf_object__load(handle));
            if (rc < 0) {
                // The failing program is the one whose log is not empty.
                for (Map.Entry<BpfProgram, Pointer> e : logs.entrySet()) {
                    String log = e.getValue().getString(0, LOG_SIZE, StandardCharsets.UTF_8);
                    if (!log.isEmpty()) {
                        throw new VerifierException(e.getKey().name(), -rc, log);
                    }
                }
                throw new BpfException("bpf_object__load(" + path + ")", -rc);
            }
        } finally {
            for (BpfProgram p : programs.values()) {
                n.bpf().bpf_program__set_log_buf(p.handle(), null, 0); // the buffers are about to be freed
            }
        }
        loaded = true;
        for (Pointer m = n.bpf().bpf_object__next_map(handle, null); m != null && m.address() != 0;
                m = n.bpf().bpf_object__next_map(handle, m)) {
            BpfMap map = BpfMap.ofObject(this, m);
            maps.put(reusedNames.getOrDefault(m.address(), map.name()), map);
        }
    }

    /**
     * Before {@link #load()}: the object's map {@code name} becomes {@code existing} instead of a
     * new map (bpf_map__reuse_fd; the object holds its own duplicate of the fd). This is how a
     * replacement program shares state, e.g. a deployment's executor map, with the one it replaces.
     * After load, {@link #map(String)} still finds it by the ELF name given here, while its
     * {@link BpfMap#name()} is the existing map's kernel name (libbpf renames it).
     *
     * @throws NoSuchElementException when the object declares no such map
     */
    public void reuseMap(String name, BpfMap existing) {
        checkOpen();
        if (loaded) {
            throw new IllegalStateException("object " + path + " is already loaded; reuse maps before load");
        }
        Native n = Native.get();
        Pointer m = n.bpf().bpf_object__find_map_by_name(handle, name);
        if (m == null || m.address() == 0) {
            throw new NoSuchElementException("no map '" + name + "' in " + path);
        }
        Native.checkBpf("bpf_map__reuse_fd(" + name + ")", n.bpf().bpf_map__reuse_fd(m, existing.fd()));
        reusedNames.put(m.address(), name);
    }

    /**
     * Before {@link #load()}: the maps the ELF file declares, as libbpf will create them (id 0;
     * a map already given to {@link #reuseMap} shows the reused map's shape). Includes the
     * internal .data/.bss/.rodata maps.
     */
    public List<MapInfo> declaredMaps() {
        checkOpen();
        Native n = Native.get();
        List<MapInfo> out = new ArrayList<>();
        for (Pointer m = n.bpf().bpf_object__next_map(handle, null); m != null && m.address() != 0;
                m = n.bpf().bpf_object__next_map(handle, m)) {
            int type = n.bpf().bpf_map__type(m);
            out.add(new MapInfo(0, reusedNames.getOrDefault(m.address(), n.bpf().bpf_map__name(m)), MapType.of(type), type,
                    n.bpf().bpf_map__key_size(m), n.bpf().bpf_map__value_size(m), n.bpf().bpf_map__max_entries(m),
                    n.bpf().bpf_map__map_flags(m)));
        }
        return out;
    }

    /**
     * Before {@link #load()}: binds every program and map of the object to the network device
     * {@code ifindex} (bpf_program__set_ifindex / bpf_map__set_ifindex, i.e. the load's
     * {@code prog_ifindex} and the maps' {@code map_ifindex}): the programs are then translated
     * for and run on that NIC, and the maps live in its memory (XDP hardware offload). Only
     * offload-capable drivers accept it; others fail the load (EINVAL).
     */
    public void bindToDevice(int ifindex) {
        checkOpen();
        if (loaded) {
            throw new IllegalStateException("object " + path + " is already loaded; bind it to a device before load");
        }
        Native n = Native.get();
        for (BpfProgram p : programs.values()) {
            n.bpf().bpf_program__set_ifindex(p.handle(), ifindex);
        }
        for (Pointer m = n.bpf().bpf_object__next_map(handle, null); m != null && m.address() != 0;
                m = n.bpf().bpf_object__next_map(handle, m)) {
            Native.checkBpf("bpf_map__set_ifindex(" + n.bpf().bpf_map__name(m) + ")", n.bpf().bpf_map__set_ifindex(m, ifindex));
        }
        device = ifindex;
    }

    /** The device {@link #bindToDevice} bound the object to; empty for a host object. */
    public java.util.OptionalInt device() {
        return device == 0 ? java.util.OptionalInt.empty() : java.util.OptionalInt.of(device);
    }

    public Path path() {
        return path;
    }

    public boolean isLoaded() {
        return loaded;
    }

    /** The programs, in ELF order (available before load). */
    public List<BpfProgram> programs() {
        checkOpen();
        return List.copyOf(programs.values());
    }

    /** @throws NoSuchElementException when the object has no such program */
    public BpfProgram program(String name) {
        checkOpen();
        BpfProgram p = programs.get(name);
        if (p == null) {
            throw new NoSuchElementException("no program '" + name + "' in " + path + "; has " + programs.keySet());
        }
        return p;
    }

    /** The maps (after load), including libbpf's internal .data/.bss/.rodata maps. */
    public List<BpfMap> maps() {
        checkOpen();
        requireLoaded();
        return Collections.unmodifiableList(new ArrayList<>(maps.values()));
    }

    /** @throws NoSuchElementException when the object has no such map */
    public BpfMap map(String name) {
        checkOpen();
        requireLoaded();
        BpfMap m = maps.get(name);
        if (m == null) {
            throw new NoSuchElementException("no map '" + name + "' in " + path + "; has " + maps.keySet());
        }
        return m;
    }

    private void requireLoaded() {
        if (!loaded) {
            throw new IllegalStateException("object " + path + " is not loaded");
        }
    }

    void checkOpen() {
        if (closed) {
            throw new IllegalStateException("object " + path + " is closed");
        }
    }

    public boolean isClosed() {
        return closed;
    }

    /** bpf_object__close: closes every program and map fd of this object. Idempotent. Pins stay. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        Pointer h = handle;
        handle = null;
        Native.get().bpf().bpf_object__close(h);
    }

    @Override
    public String toString() {
        return "BpfObject[" + path + ", programs " + programs.keySet() + (closed ? ", closed]" : "]");
    }
}
