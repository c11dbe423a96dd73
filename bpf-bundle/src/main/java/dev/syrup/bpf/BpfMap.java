package dev.syrup.bpf;

import dev.syrup.bpf.internal.Native;
import dev.syrup.linux.LibC;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.atomic.AtomicBoolean;
import jnr.ffi.Pointer;

/**
 * A BPF map: either owned by a {@link BpfObject} (its fd is closed with the object; {@link #close()}
 * is then a no-op) or standalone ({@link #create}, {@link #openPinned}, {@link #adopt}), owning its fd.
 * Keys and values are byte arrays in the kernel's native layout (little-endian here); {@code int}
 * keys and {@code long}/{@code int} values are conveniences for the u32 → u64 / u32 maps Syrup uses.
 * Any operation after close throws {@link IllegalStateException}.
 */
public final class BpfMap implements AutoCloseable {

    /** Update flags of bpf_map_update_elem. */
    public static final long BPF_ANY = 0, BPF_NOEXIST = 1, BPF_EXIST = 2;
    /** Map flags. */
    public static final int BPF_F_NO_PREALLOC = 1, BPF_F_RDONLY_PROG = 1 << 7, BPF_F_WRONLY_PROG = 1 << 8,
            BPF_F_MMAPABLE = 1 << 10;

    private final BpfObject owner;
    private final Fd ownFd;
    private final int fd;
    private final String name;
    private final MapType type;
    private final int typeId;
    private final int keySize;
    private final int valueSize;
    private final int maxEntries;
    private final int flags;
    private final AtomicBoolean closed = new AtomicBoolean();
    private volatile Path pinned;
    /** Where {@link #pin(PinDir, String)} or {@link #openPinned(PinDir, String)} put or found it; null: by path. */
    private volatile PinDir pinDir;
    private volatile String pinName;

    private BpfMap(BpfObject owner, Fd ownFd, int fd, String name, int typeId, int keySize, int valueSize,
            int maxEntries, int flags) {
        this.owner = owner;
        this.ownFd = ownFd;
        this.fd = fd;
        this.name = name;
        this.typeId = typeId;
        this.type = MapType.of(typeId);
        this.keySize = keySize;
        this.valueSize = valueSize;
        this.maxEntries = maxEntries;
        this.flags = flags;
    }

    /** A map of a loaded object (called by BpfObject). */
    static BpfMap ofObject(BpfObject owner, Pointer map) {
        Native n = Native.get();
        String name = n.bpf().bpf_map__name(map);
        int fd = Native.checkBpf("bpf_map__fd(" + name + ")", n.bpf().bpf_map__fd(map));
        return new BpfMap(owner, null, fd, name, n.bpf().bpf_map__type(map), n.bpf().bpf_map__key_size(map),
                n.bpf().bpf_map__value_size(map), n.bpf().bpf_map__max_entries(map), n.bpf().bpf_map__map_flags(map));
    }

    /**
     * bpf_map_create: a new standalone map, e.g. {@code create(MapType.ARRAY, "counters", 4, 8, 64,
     * BpfMap.BPF_F_MMAPABLE)}. The name is truncated by the kernel to 15 characters.
     */
    public static BpfMap create(MapType type, String name, int keySize, int valueSize, int maxEntries, int flags) {
        Objects.requireNonNull(type, "type");
        if (type == MapType.UNKNOWN) {
            throw new IllegalArgumentException("unknown map type");
        }
        Native n = Native.get();
        // struct bpf_map_create_opts (libbpf 1.1 bpf.h): size_t sz @0, ..., __u32 map_flags @28; sizeof 48
        Pointer opts = n.allocate(48);
        opts.putLong(0, 48);
        opts.putInt(28, flags);
        int fd = Native.checkBpf("bpf_map_create(" + type + ", " + name + ")",
                n.bpf().bpf_map_create(type.id(), name, keySize, valueSize, maxEntries, opts));
        return fromFd(Fd.adopt(fd), false);
    }

    /** bpf_obj_get: opens a pinned map; type and sizes come from the kernel. */
    public static BpfMap openPinned(Path path) {
        Native n = Native.get();
        int fd = Native.checkBpf("bpf_obj_get(" + path + ")", n.bpf().bpf_obj_get(path.toString()));
        BpfMap m = fromFd(Fd.adopt(fd), true);
        m.pinned = path;
        return m;
    }

    /**
     * BPF_OBJ_GET of the pin {@code name} in {@code dir}, never following a link
     * ({@link PinDir#get}); {@link #unpin} then removes it through the directory's fd.
     */
    public static BpfMap openPinned(PinDir dir, String name) {
        BpfMap m = fromFd(dir.get(name), true);
        m.pinnedAt(dir, name);
        return m;
    }

    /** Takes ownership of a map fd (e.g. received over a Unix socket); closes it if it is not a map. */
    public static BpfMap adopt(Fd fd) {
        return fromFd(fd, true);
    }

    private static BpfMap fromFd(Fd fd, boolean verifyKind) {
        MapInfo info;
        try {
            if (verifyKind) {
                Infos.requireKind(fd.get(), "bpf-map");
            }
            info = Infos.map(fd.get());
        } catch (RuntimeException e) {
            fd.close();
            throw e;
        }
        return new BpfMap(null, fd, fd.get(), info.name(), info.typeId(), info.keySize(), info.valueSize(),
                info.maxEntries(), info.flags());
    }

    // --- description ---------------------------------------------------------------------

    public String name() {
        return name;
    }

    public MapType type() {
        return type;
    }

    /** Raw BPF_MAP_TYPE_* number (useful when {@link #type()} is UNKNOWN). */
    public int typeId() {
        return typeId;
    }

    public int keySize() {
        return keySize;
    }

    public int valueSize() {
        return valueSize;
    }

    public int maxEntries() {
        return maxEntries;
    }

    public int flags() {
        return flags;
    }

    /** The kernel's view (includes the map id). */
    public MapInfo info() {
        return Infos.map(fd());
    }

    /**
     * The network device whose memory the map lives in (created with {@code map_ifindex}, for
     * programs offloaded to that NIC), or empty for a map in host memory. Only programs bound
     * to that device may use it.
     */
    public java.util.OptionalInt device() {
        int ifindex = Infos.mapIfindex(fd());
        return ifindex == 0 ? java.util.OptionalInt.empty() : java.util.OptionalInt.of(ifindex);
    }

    /**
     * A new fd of this map (F_DUPFD_CLOEXEC), owned by the caller: e.g. to hand the map to
     * another process, or to keep it beyond this object.
     */
    public int duplicateFd() {
        Native n = Native.get();
        return n.checkLibc(op("fcntl(F_DUPFD_CLOEXEC)"), n.libc().fcntl(fd(), LibC.F_DUPFD_CLOEXEC, 3));
    }

    /** The map's fd; owned by this map (or its object): do not close it. */
    public int fd() {
        if (owner != null) {
            owner.checkOpen();
        }
        if (closed.get()) {
            throw new IllegalStateException("map '" + name + "' is closed");
        }
        return fd;
    }

    public boolean isClosed() {
        return closed.get() || (owner != null && owner.isClosed());
    }

    // --- element operations --------------------------------------------------------------

    /** Size of a value buffer for lookup: per-CPU maps hold one 8-byte-aligned slot per possible CPU. */
    public int lookupValueSize() {
        if (isPerCpu()) {
            return ((valueSize + 7) & ~7) * KernelSupport.possibleCpus();
        }
        return valueSize;
    }

    private boolean isPerCpu() {
        return type == MapType.PERCPU_HASH || type == MapType.PERCPU_ARRAY || type == MapType.LRU_PERCPU_HASH
                || type == MapType.PERCPU_CGROUP_STORAGE;
    }

    /** bpf_map_lookup_elem; empty when the key is absent (ENOENT). */
    public Optional<byte[]> lookup(byte[] key) {
        checkKey(key);
        byte[] value = new byte[lookupValueSize()];
        int rc = Native.get().bpf().bpf_map_lookup_elem(fd(), key, value);
        if (rc == -Errno.ENOENT) {
            return Optional.empty();
        }
        Native.checkBpf(op("bpf_map_lookup_elem"), rc);
        return Optional.of(value);
    }

    /** bpf_map_update_elem with {@link #BPF_ANY}, {@link #BPF_NOEXIST} or {@link #BPF_EXIST}. */
    public void update(byte[] key, byte[] value, long updateFlags) {
        checkKey(key);
        if (value.length != lookupValueSize()) {
            throw new IllegalArgumentException("value of " + value.length + " bytes, map '" + name + "' takes "
                    + lookupValueSize());
        }
        Native.checkBpf(op("bpf_map_update_elem"), Native.get().bpf().bpf_map_update_elem(fd(), key, value, updateFlags));
    }

    public void update(byte[] key, byte[] value) {
        update(key, value, BPF_ANY);
    }

    /** bpf_map_delete_elem; false when the key was absent. Array maps refuse with EINVAL. */
    public boolean delete(byte[] key) {
        checkKey(key);
        int rc = Native.get().bpf().bpf_map_delete_elem(fd(), key);
        if (rc == -Errno.ENOENT) {
            return false;
        }
        Native.checkBpf(op("bpf_map_delete_elem"), rc);
        return true;
    }

    /** All keys, via bpf_map_get_next_key (a snapshot that may miss concurrent changes). */
    public List<byte[]> keys() {
        List<byte[]> keys = new ArrayList<>();
        byte[] prev = null;
        while (true) {
            byte[] next = new byte[keySize];
            int rc = Native.get().bpf().bpf_map_get_next_key(fd(), prev, next);
            if (rc == -Errno.ENOENT) {
                return keys;
            }
            Native.checkBpf(op("bpf_map_get_next_key"), rc);
            if (prev != null && Arrays.equals(prev, next)) {
                return keys; // defensive: never loop forever
            }
            keys.add(next);
            prev = next;
        }
    }

    // --- u32 key conveniences --------------------------------------------------------------

    /** Lookup of a u32 key; the value read as u32 (value size 4, zero-extended) or u64 (value size 8). */
    public OptionalLong lookup(int key) {
        requireIntKey();
        requireScalarValue();
        Scratch sc = SCRATCH.get();
        sc.mem.putInt(0, key);
        int rc = Native.get().bpf().bpf_map_lookup_elem(fd(), sc.addr, sc.addr + 8);
        if (rc == -Errno.ENOENT) {
            return OptionalLong.empty();
        }
        if (rc < 0) {
            Native.checkBpf(op("bpf_map_lookup_elem"), rc);
        }
        return OptionalLong.of(valueSize == 8 ? sc.mem.getLong(8) : Integer.toUnsignedLong(sc.mem.getInt(8)));
    }

    /**
     * Per-thread native buffers for the u32 -> u64 calls: no allocation and no array copy per
     * call (the syscall path then costs about what it costs from C). Native byte order is
     * little-endian on the machines Syrup runs on, as the kernel's.
     */
    private record Scratch(Pointer mem, long addr) {
        static Scratch allocate() {
            Pointer p = Native.get().allocate(16); // key at 0, value at 8
            return new Scratch(p, p.address());
        }
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::allocate);

    /** Update of a u32 key with a u64 value (value size 8). */
    public void update(int key, long value) {
        requireIntKey();
        if (valueSize != 8 || isPerCpu()) {
            throw new IllegalStateException("map '" + name + "' has " + valueSize + "-byte values, not u64");
        }
        Scratch sc = SCRATCH.get();
        sc.mem.putInt(0, key);
        sc.mem.putLong(8, value);
        int rc = Native.get().bpf().bpf_map_update_elem(fd(), sc.addr, sc.addr + 8, BPF_ANY);
        if (rc < 0) {
            Native.checkBpf(op("bpf_map_update_elem"), rc);
        }
    }

    /**
     * Update of a u32 key with a u32 value — a socket fd for REUSEPORT_SOCKARRAY/SOCKMAP/XSKMAP, a
     * program fd for PROG_ARRAY, a queue size for CPUMAP. Written as u64 when the value size is 8
     * (REUSEPORT_SOCKARRAY accepts both).
     */
    public void updateInt(int key, int value) {
        requireIntKey();
        requireScalarValue();
        update(le32(key), valueSize == 8 ? le64(Integer.toUnsignedLong(value)) : le32(value), BPF_ANY);
    }

    /** Stores a socket (or program) fd at {@code key}; the map keeps its own reference. */
    public void updateFd(int key, Fd fdValue) {
        updateInt(key, fdValue.get());
    }

    public boolean delete(int key) {
        requireIntKey();
        return delete(le32(key));
    }

    /** All u32 keys. */
    public List<Integer> intKeys() {
        requireIntKey();
        List<Integer> out = new ArrayList<>();
        for (byte[] k : keys()) {
            out.add(ByteBuffer.wrap(k).order(ByteOrder.LITTLE_ENDIAN).getInt());
        }
        return out;
    }

    // --- batch operations (BPF_MAP_*_BATCH) ------------------------------------------------------

    /** Elements per bpf() call of the batch operations when the caller does not say. */
    public static final int BATCH = 256;

    /** A u32 key and its value, as {@link #forEachLong} reads them. */
    @FunctionalInterface
    public interface IntLongConsumer {
        void accept(int key, long value);
    }

    /**
     * Per-thread native memory for the batch calls, grown on demand: keys and values are copied
     * in and out in bulk and the calls take addresses, so nothing is marshalled per element.
     */
    private static final class BatchBuffer {
        Pointer mem;
        long addr;
        long size;

        long ensure(long bytes) {
            if (bytes > size) {
                mem = Native.get().allocate(Math.toIntExact(Math.max(bytes, 2 * size)));
                addr = mem.address();
                size = mem.size();
            }
            return addr;
        }
    }

    private static final ThreadLocal<BatchBuffer> BATCH_BUFFER = ThreadLocal.withInitial(BatchBuffer::new);

    /** The kernel has no batch operation for this map type (ENOTSUPP, 524, outside errno.h) or none at all. */
    private static boolean noBatch(int rc) {
        return rc == -524 || rc == -Errno.EOPNOTSUPP || rc == -Errno.ENOSYS;
    }

    /**
     * Every entry through BPF_MAP_LOOKUP_BATCH, {@code batchSize} entries per bpf() call; each key
     * and value a new array in the kernel's layout (a per-CPU value holds every CPU's slot). Each
     * call is a snapshot of its part of the map, so concurrent changes may be missed, as with
     * {@link #keys()}. Where the kernel has no batch lookup for the map type: get_next_key and
     * lookup per key.
     *
     * @return the number of entries given to {@code action}
     */
    public int forEach(int batchSize, java.util.function.BiConsumer<byte[], byte[]> action) {
        int vs = lookupValueSize();
        int[] total = new int[1];
        boolean batched = lookupBatch(batchSize, (mem, keys, values, n) -> {
            byte[] k = new byte[n * keySize];
            byte[] v = new byte[n * vs];
            mem.get(keys, k, 0, k.length);
            mem.get(values, v, 0, v.length);
            for (int i = 0; i < n; i++) { // copied out first: action may use this thread's buffer
                action.accept(Arrays.copyOfRange(k, i * keySize, (i + 1) * keySize),
                        Arrays.copyOfRange(v, i * vs, (i + 1) * vs));
            }
            total[0] += n;
        });
        if (!batched) {
            for (byte[] k : keys()) {
                Optional<byte[]> v = lookup(k);
                if (v.isPresent()) {
                    action.accept(k, v.get());
                    total[0]++;
                }
            }
        }
        return total[0];
    }

    /**
     * As {@link #forEach}, for a map of u32 keys and u32 or u64 values (a u32 zero-extended),
     * without an array per entry.
     */
    public int forEachLong(int batchSize, IntLongConsumer action) {
        requireIntKey();
        requireScalarValue();
        int[] total = new int[1];
        boolean batched = lookupBatch(batchSize, (mem, keys, values, n) -> {
            int[] k = new int[n];
            long[] v = new long[n];
            mem.get(keys, k, 0, n);
            if (valueSize == 8) {
                mem.get(values, v, 0, n);
            } else {
                for (int i = 0; i < n; i++) {
                    v[i] = Integer.toUnsignedLong(mem.getInt(values + 4L * i));
                }
            }
            for (int i = 0; i < n; i++) {
                action.accept(k[i], v[i]);
            }
            total[0] += n;
        });
        if (!batched) {
            for (int k : intKeys()) {
                OptionalLong v = lookup(k);
                if (v.isPresent()) {
                    action.accept(k, v.getAsLong());
                    total[0]++;
                }
            }
        }
        return total[0];
    }

    /** Takes {@code n} entries out of the batch buffer: keys at offset {@code keys}, values at {@code values}. */
    private interface BatchReader {
        void read(Pointer mem, long keys, long values, int n);
    }

    /** The lookup-batch loop; false, having read nothing, when the kernel has no batch lookup for this map. */
    private boolean lookupBatch(int batchSize, BatchReader reader) {
        if (batchSize < 1) {
            throw new IllegalArgumentException("batch size " + batchSize);
        }
        int vs = lookupValueSize();
        int tok = (Math.max(keySize, 4) + 7) & ~7; // position token: a key (array), a u32 bucket (hash)
        int fd = fd();
        int size = batchSize;
        byte[] token = null; // the kernel's position after the previous call; null: from the start
        while (true) {
            BatchBuffer b = BATCH_BUFFER.get();
            // count (8) | token in | token out | size keys | size values
            long keys = 8 + 2L * tok;
            long values = keys + (long) size * keySize;
            long base = b.ensure(values + (long) size * vs);
            b.mem.putInt(0, size);
            if (token != null) {
                b.mem.put(8, token, 0, tok);
            }
            boolean first = token == null;
            int rc = Native.get().bpf().bpf_map_lookup_batch(fd, first ? 0 : base + 8, base + 8 + tok, base + keys,
                    base + values, base, 0);
            if (first && noBatch(rc)) {
                return false;
            }
            int n = b.mem.getInt(0);
            if (rc == -Errno.ENOSPC && n == 0) {
                size *= 2; // a hash bucket holds more entries than size: ask for more at once
                continue;
            }
            if (rc < 0 && rc != -Errno.ENOENT) {
                Native.checkBpf(op("bpf_map_lookup_batch"), rc);
            }
            if (rc != -Errno.ENOENT) {
                token = new byte[tok]; // kept out of the buffer: reader's action may use this thread's
                b.mem.get(8 + tok, token, 0, tok);
            }
            if (n > 0) {
                reader.read(b.mem, keys, values, n);
            }
            if (rc == -Errno.ENOENT) {
                return true; // the end of the map; this last call's n entries are read above
            }
        }
    }

    /**
     * BPF_MAP_UPDATE_BATCH of u32 keys and u64 values ({@code keys[i] -> values[i]}, BPF_ANY),
     * {@link #BATCH} entries per bpf() call. Elements are updated one by one in the kernel, each
     * atomically; on an error those before the failing one are updated and a {@link BpfException}
     * says how many.
     */
    public void updateBatch(int[] keys, long[] values) {
        requireIntKey();
        if (valueSize != 8 || isPerCpu()) {
            throw new IllegalStateException("map '" + name + "' has " + valueSize + "-byte values, not u64");
        }
        if (keys.length != values.length) {
            throw new IllegalArgumentException(keys.length + " keys, " + values.length + " values");
        }
        int fd = fd();
        for (int from = 0; from < keys.length; from += BATCH) {
            int n = Math.min(BATCH, keys.length - from);
            BatchBuffer b = BATCH_BUFFER.get();
            long base = b.ensure(8 + 12L * n); // count | keys | values
            b.mem.putInt(0, n);
            b.mem.put(8, keys, from, n);
            b.mem.put(8 + 4L * n, values, from, n);
            int rc = Native.get().bpf().bpf_map_update_batch(fd, base + 8, base + 8 + 4L * n, base, 0);
            if (rc < 0) {
                if (noBatch(rc)) { // no batch update for this map type: one call each
                    for (int i = from; i < keys.length; i++) {
                        update(keys[i], values[i]);
                    }
                    return;
                }
                Native.checkBpf(op("bpf_map_update_batch (" + (from + b.mem.getInt(0)) + " of " + keys.length
                        + " updated)"), rc);
            }
        }
    }

    /**
     * BPF_MAP_UPDATE_BATCH of {@code count} entries given as consecutive keys and consecutive values
     * in the kernel's layout, as with {@link #BPF_ANY} (the kernel's batch takes no other update
     * flag). As {@link #updateBatch(int[], long[])} on errors.
     */
    public void updateBatch(byte[] keys, byte[] values, int count) {
        int vs = lookupValueSize();
        if (count < 0 || keys.length != count * keySize || values.length != count * vs) {
            throw new IllegalArgumentException(count + " entries need " + count * keySize + " bytes of keys and "
                    + count * vs + " of values, map '" + name + "'");
        }
        int fd = fd();
        for (int from = 0; from < count; from += BATCH) {
            int n = Math.min(BATCH, count - from);
            BatchBuffer b = BATCH_BUFFER.get();
            long base = b.ensure(8 + (long) n * (keySize + vs)); // count | keys | values
            b.mem.putInt(0, n);
            b.mem.put(8, keys, from * keySize, n * keySize);
            b.mem.put(8 + (long) n * keySize, values, from * vs, n * vs);
            int rc = Native.get().bpf().bpf_map_update_batch(fd, base + 8, base + 8 + (long) n * keySize, base, 0);
            if (rc < 0) {
                Native.checkBpf(op("bpf_map_update_batch (" + (from + b.mem.getInt(0)) + " of " + count
                        + " updated)"), rc);
            }
        }
    }

    /**
     * BPF_MAP_DELETE_BATCH of u32 keys, {@link #BATCH} per bpf() call; absent keys are skipped
     * (the kernel stops at one with ENOENT: the call goes on after it). Array maps refuse (EINVAL).
     *
     * @return how many keys were present and deleted
     */
    public int deleteBatch(int[] keys) {
        requireIntKey();
        int fd = fd();
        int deleted = 0;
        int from = 0;
        while (from < keys.length) {
            int n = Math.min(BATCH, keys.length - from);
            BatchBuffer b = BATCH_BUFFER.get();
            long base = b.ensure(8 + 4L * n);
            b.mem.putInt(0, n);
            b.mem.put(8, keys, from, n);
            int rc = Native.get().bpf().bpf_map_delete_batch(fd, base + 8, base, 0);
            int done = b.mem.getInt(0);
            if (rc == -Errno.ENOENT && done < n) {
                deleted += done;
                from += done + 1; // keys[from + done] is absent
                continue;
            }
            if (rc < 0) {
                if (noBatch(rc)) {
                    for (int i = from; i < keys.length; i++) {
                        deleted += delete(keys[i]) ? 1 : 0;
                    }
                    return deleted;
                }
                Native.checkBpf(op("bpf_map_delete_batch"), rc);
            }
            deleted += n;
            from += n;
        }
        return deleted;
    }

    // --- pinning -------------------------------------------------------------------------

    /** bpf_obj_pin: the map outlives this process at {@code path} (on a bpffs) until unpinned. */
    public void pin(Path path) {
        Pins.pin(fd(), "map '" + name + "'", path);
        pinned = path;
        pinDir = null;
    }

    /**
     * Pins the map as {@code name} in {@code dir}, relative to the directory's fd
     * ({@link PinDir#pin}); {@link #unpin} removes it the same way. {@code dir} must stay open
     * until then.
     */
    public void pin(PinDir dir, String name) {
        dir.pin(fd(), name);
        pinnedAt(dir, name);
    }

    private void pinnedAt(PinDir dir, String name) {
        pinned = dir.path().resolve(name);
        pinDir = dir;
        pinName = name;
    }

    /**
     * As {@link #claimPin(Path)}, for the pin {@code name} in {@code dir}: false when it is absent,
     * a link, or another object.
     */
    public boolean claimPin(PinDir dir, String name) {
        if (dir.stat(name).isEmpty()) {
            return false;
        }
        try (BpfMap there = openPinned(dir, name)) {
            if (there.info().id() != info().id()) {
                return false;
            }
        } catch (BpfException | IllegalArgumentException e) {
            return false;
        }
        pinnedAt(dir, name);
        return true;
    }

    /**
     * Takes over an existing pin of this very map (one an earlier process made, found by
     * {@link #openPinned} and reused), so that {@link #unpin} removes it. False, changing
     * nothing, when {@code path} holds no pin or another object's.
     */
    public boolean claimPin(Path path) {
        if (!java.nio.file.Files.exists(path)) {
            return false;
        }
        try (BpfMap there = openPinned(path)) {
            if (there.info().id() != info().id()) {
                return false;
            }
        } catch (BpfException e) {
            return false;
        }
        pinned = path;
        pinDir = null;
        return true;
    }

    /**
     * Removes the pin made by {@link #pin} or opened by {@link #openPinned}; no-op when none. A
     * pin in a {@link PinDir} goes through the directory's fd, and only if it is still a pin
     * ({@link PinDir#unpin}: a link there is left, with a {@link BpfException}).
     */
    public void unpin() {
        PinDir dir = pinDir;
        if (dir != null) {
            dir.unpin(pinName);
        } else {
            Pins.remove(pinned);
        }
        pinned = null;
        pinDir = null;
        pinName = null;
    }

    public Optional<Path> pinnedPath() {
        return Optional.ofNullable(pinned);
    }

    /** Closes a standalone map's fd (the kernel frees the map when nothing else refers to it). */
    @Override
    public void close() {
        if (owner != null) {
            return; // owned by its BpfObject
        }
        if (closed.compareAndSet(false, true)) {
            ownFd.close();
        }
    }

    @Override
    public String toString() {
        return "BpfMap[" + name + ", " + type + ", key " + keySize + ", value " + valueSize + ", max " + maxEntries
                + (isClosed() ? ", closed]" : "]");
    }

    // --- helpers ---------------------------------------------------------------------------

    private String op(String call) {
        return call + "(map '" + name + "')";
    }

    private void checkKey(byte[] key) {
        if (key == null || key.length != keySize) {
            throw new IllegalArgumentException("key of " + (key == null ? "null" : key.length + " bytes") + ", map '"
                    + name + "' takes " + keySize);
        }
    }

    private void requireIntKey() {
        if (keySize != 4) {
            throw new IllegalStateException("map '" + name + "' has " + keySize + "-byte keys, not u32");
        }
    }

    private void requireScalarValue() {
        if ((valueSize != 4 && valueSize != 8) || isPerCpu()) {
            throw new IllegalStateException("map '" + name + "' values are not a single u32/u64");
        }
    }

    static byte[] le32(int v) {
        return ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(v).array();
    }

    static byte[] le64(long v) {
        return ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array();
    }
}
