package dev.syrup.hook.kit;

import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
import dev.syrup.api.map.SyrupMap;
import dev.syrup.bpf.BpfException;
import dev.syrup.bpf.BpfMap;
import dev.syrup.bpf.MapType;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * A policy's Map as the API presents it ({@link SyrupMap}: u32 -> u64 reads and writes, dumps,
 * an fd for the application), over the live kernel map. It does not own the map: the
 * deployment's object does, and a {@code KernelMap} is not used after that object closes.
 */
public final class KernelMap implements SyrupMap {

    private final BpfMap map;
    private final String name;

    public KernelMap(String name, BpfMap map) {
        this.name = name;
        this.map = map;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public String type() {
        return map.type() == null ? "type " + map.typeId() : map.type().name().toLowerCase(Locale.ROOT);
    }

    @Override
    public int keySize() {
        return map.keySize();
    }

    @Override
    public int valueSize() {
        return map.valueSize();
    }

    @Override
    public int maxEntries() {
        return map.maxEntries();
    }

    @Override
    public Optional<String> pinnedPath() {
        return map.pinnedPath().map(Object::toString);
    }

    @Override
    public int duplicateFd() throws SyrupException {
        try {
            return map.duplicateFd();
        } catch (BpfException | IllegalStateException e) {
            throw failed("duplicating the fd of", e);
        }
    }

    @Override
    public OptionalLong lookup(int key) throws SyrupException {
        checkU64();
        try {
            return map.lookup(key);
        } catch (BpfException | IllegalStateException e) {
            throw failed("lookup", e);
        }
    }

    @Override
    public void update(int key, long value) throws SyrupException {
        checkU64();
        if (isArray() && Integer.compareUnsigned(key, map.maxEntries()) >= 0) {
            throw new SyrupException(Kind.INVALID, "key " + Integer.toUnsignedString(key) + " is out of range for array map "
                    + name + " (" + map.maxEntries() + " entries)");
        }
        try {
            map.update(key, value);
        } catch (BpfException | IllegalStateException e) {
            throw failed("update", e);
        }
    }

    @Override
    public boolean delete(int key) throws SyrupException {
        if (isArray()) {
            throw new SyrupException(Kind.INVALID, name + " is an array map: its entries cannot be deleted, only set");
        }
        try {
            return map.delete(key);
        } catch (BpfException | IllegalStateException e) {
            throw failed("delete", e);
        }
    }

    @Override
    public SortedMap<Integer, Long> dump() throws SyrupException {
        checkU64();
        SortedMap<Integer, Long> out = new TreeMap<>(Integer::compareUnsigned);
        try {
            map.forEachLong(BpfMap.BATCH, out::put); // BPF_MAP_LOOKUP_BATCH: a syscall per BATCH entries
        } catch (BpfException | IllegalStateException e) {
            throw failed("dump", e);
        }
        return out;
    }

    @Override
    public void updateAll(Map<Integer, Long> entries) throws SyrupException {
        checkU64();
        int[] keys = new int[entries.size()];
        long[] values = new long[entries.size()];
        int i = 0;
        for (Map.Entry<Integer, Long> e : entries.entrySet()) {
            keys[i] = e.getKey();
            values[i++] = e.getValue();
            if (isArray() && Integer.compareUnsigned(keys[i - 1], map.maxEntries()) >= 0) {
                throw new SyrupException(Kind.INVALID, "key " + Integer.toUnsignedString(keys[i - 1])
                        + " is out of range for array map " + name + " (" + map.maxEntries() + " entries)");
            }
        }
        try {
            map.updateBatch(keys, values); // BPF_MAP_UPDATE_BATCH
        } catch (BpfException | IllegalStateException e) {
            throw failed("update", e);
        }
    }

    private boolean isArray() {
        return map.type() == MapType.ARRAY || map.type() == MapType.PERCPU_ARRAY;
    }

    private void checkU64() throws SyrupException {
        if (map.keySize() != 4 || map.valueSize() != 8) {
            throw new SyrupException(Kind.INVALID, "map " + name + " has " + map.keySize() + "-byte keys and "
                    + map.valueSize() + "-byte values; only u32 -> u64 maps can be read and written as numbers");
        }
    }

    private SyrupException failed(String op, RuntimeException e) {
        return new SyrupException(Kind.KERNEL, op + " on map " + name + " failed: " + e.getMessage(), e);
    }
}
