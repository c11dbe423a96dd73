package dev.syrup.client;

import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
import dev.syrup.api.map.SyrupMap;
import dev.syrup.client.internal.Unix;
import java.io.IOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * A Map of one of this application's deployments (paper §3.4, Table 1).
 *
 * <p><b>Fast path</b>: an ARRAY Map with 8-byte values created {@code BPF_F_MMAPABLE} is mmap'ed
 * into this process from the map fd syrupd passes ({@code SCM_RIGHTS}); mmap of a map fd needs no
 * privilege. {@link #lookup}, {@link #update}, {@link #addAndGet} and {@link #compareAndSet} are
 * then plain memory accesses through a {@link VarHandle} over a direct {@link ByteBuffer} of the
 * mapping ({@link MethodHandles#byteBufferViewVarHandle byteBufferViewVarHandle(long[].class,
 * LITTLE_ENDIAN)}): lookup is an acquire load, update a release store, {@link #addAndGet} and
 * {@link #compareAndSet} are real atomic read-modify-writes (lock-prefixed on x86_64), the same
 * atomicity the policy's {@code __sync_fetch_and_add} has. Values are 8-byte aligned (the mapping
 * is page aligned).
 *
 * <p><b>Other Maps</b> (hash, ...) go through syrupd: one round trip per operation.
 *
 * <p>{@link #close()} unmaps; the Map itself belongs to the deployment and lives until undeploy.
 */
public final class ClientMap implements SyrupMap, AutoCloseable {

    private static final VarHandle LONGS = MethodHandles.byteBufferViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);
    private static final int PAGE = 4096;

    private final Syrup syrup;
    private final String deployment;
    private final String name;
    private final String type;
    private final int keySize;
    private final int valueSize;
    private final int maxEntries;
    private final String path;
    private Unix.Mapping mapping;
    private volatile ByteBuffer values;

    private ClientMap(Syrup syrup, String deployment, Message info) throws SyrupException {
        this.syrup = syrup;
        this.deployment = deployment;
        this.name = info.require("name");
        this.type = info.require("type");
        this.keySize = (int) info.requireLong("key_size", 0, Integer.MAX_VALUE);
        this.valueSize = (int) info.requireLong("value_size", 0, Integer.MAX_VALUE);
        this.maxEntries = (int) info.requireLong("max_entries", 0, Integer.MAX_VALUE);
        this.path = info.get("path").orElse("");
    }

    static ClientMap open(Syrup syrup, String deployment, Message info, int fd) throws SyrupException {
        ClientMap m = new ClientMap(syrup, deployment, info);
        if (fd < 0) {
            return m;
        }
        Unix unix = Unix.get();
        try {
            if ("1".equals(info.get("mmapable").orElse("0")) && m.valueSize == 8 && m.maxEntries > 0
                    && (long) m.maxEntries * 8 <= Integer.MAX_VALUE - PAGE) {
                long length = ((long) m.maxEntries * 8 + PAGE - 1) / PAGE * PAGE;
                m.mapping = unix.mmap(fd, length);
                m.values = m.mapping.buffer;
            }
        } catch (IOException e) {
            throw new SyrupException(Kind.KERNEL, "cannot mmap map '" + m.name + "': " + e.getMessage(), e);
        } finally {
            unix.close(fd); // the mapping keeps the map alive; the fd is no longer needed
        }
        return m;
    }

    /** Whether this Map is mmap'ed (the fast path). */
    public boolean mapped() {
        return values != null;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public String type() {
        return type;
    }

    @Override
    public int keySize() {
        return keySize;
    }

    @Override
    public int valueSize() {
        return valueSize;
    }

    @Override
    public int maxEntries() {
        return maxEntries;
    }

    @Override
    public Optional<String> pinnedPath() {
        return path.isEmpty() ? Optional.empty() : Optional.of(path);
    }

    private int offset(int key) throws SyrupException {
        if (key < 0 || key >= maxEntries) {
            throw new SyrupException(Kind.INVALID, "key " + Integer.toUnsignedString(key) + " outside map '" + name
                    + "' (0.." + (maxEntries - 1) + ")");
        }
        return key << 3;
    }

    private ByteBuffer mappedValues() throws SyrupException {
        ByteBuffer b = values;
        if (b == null) {
            throw new SyrupException(Kind.INVALID, mapping == null && !closed
                    ? "map '" + name + "' is not an mmap-able array: atomic operations need BPF_F_MMAPABLE"
                    : "map '" + name + "' is closed");
        }
        return b;
    }

    private volatile boolean closed;

    private Message request(String op, int key) {
        return Message.request(op).add("id", deployment).add("map", name).add("key", Integer.toUnsignedString(key));
    }

    @Override
    public OptionalLong lookup(int key) throws SyrupException {
        if (mapping != null) {
            if (key < 0 || key >= maxEntries) {
                return OptionalLong.empty();
            }
            return OptionalLong.of((long) LONGS.getAcquire(mappedValues(), key << 3));
        }
        Message r = syrup.call(request(Message.MAP_LOOKUP, key), null);
        return "1".equals(r.require("found")) ? OptionalLong.of(r.requireU64("value")) : OptionalLong.empty();
    }

    /** Acquire load without a range check beyond the buffer's; mmap'ed Maps only. */
    public long get(int key) throws SyrupException {
        return (long) LONGS.getAcquire(mappedValues(), offset(key));
    }

    @Override
    public void update(int key, long value) throws SyrupException {
        if (mapping != null) {
            LONGS.setRelease(mappedValues(), offset(key), value);
            return;
        }
        syrup.call(request(Message.MAP_UPDATE, key).add("value", Long.toUnsignedString(value)), null);
    }

    /** Atomic add (mmap'ed Maps only); returns the new value. */
    public long addAndGet(int key, long delta) throws SyrupException {
        return (long) LONGS.getAndAdd(mappedValues(), offset(key), delta) + delta;
    }

    /** Atomic compare-and-set (mmap'ed Maps only). */
    public boolean compareAndSet(int key, long expected, long value) throws SyrupException {
        return LONGS.compareAndSet(mappedValues(), offset(key), expected, value);
    }

    @Override
    public boolean delete(int key) throws SyrupException {
        if (mapping != null) {
            throw new SyrupException(Kind.INVALID, "map '" + name + "' is an array: its elements cannot be deleted");
        }
        return "1".equals(syrup.call(request(Message.MAP_DELETE, key), null).require("found"));
    }

    @Override
    public SortedMap<Integer, Long> dump() throws SyrupException {
        SortedMap<Integer, Long> out = new TreeMap<>(Integer::compareUnsigned);
        if (mapping != null) {
            for (int i = 0; i < maxEntries; i++) {
                out.put(i, (long) LONGS.getAcquire(mappedValues(), i << 3));
            }
            return out;
        }
        Message r = syrup.call(Message.request(Message.MAP_DUMP).add("id", deployment).add("map", name), null);
        for (String e : r.all("entry")) {
            int eq = e.indexOf('=');
            try {
                out.put(Integer.parseUnsignedInt(e.substring(0, eq)), Long.parseUnsignedLong(e.substring(eq + 1)));
            } catch (RuntimeException ex) {
                throw new SyrupException(Kind.INVALID, "malformed entry '" + e + "'");
            }
        }
        return out;
    }

    /** Unmaps (idempotent). No other thread may still be using the Map. */
    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            values = null;
            if (mapping != null) {
                try {
                    Unix.get().munmap(mapping);
                } catch (IOException e) {
                    throw new IllegalStateException(e.getMessage(), e);
                }
            }
        }
    }

    @Override
    public String toString() {
        return "ClientMap[" + deployment + "/" + name + ", " + type + ", " + maxEntries + " entries"
                + (mapping != null ? ", mmap'ed" : "") + (closed ? ", closed]" : "]");
    }
}
