package dev.syrup.backend.ghost;

import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
import dev.syrup.api.map.SyrupMap;
import dev.syrup.bpf.BpfException;
import dev.syrup.bpf.BpfMap;
import dev.syrup.bpf.MapType;
import java.util.Locale;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.SortedMap;
import java.util.TreeMap;

/** A thread policy's Map as syrupd and the shell see it (u32 → u64 for numbers). */
final class PolicyMap implements SyrupMap {

    private final String name;
    private final BpfMap map;

    PolicyMap(String name, BpfMap map) {
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
    public OptionalLong lookup(int key) throws SyrupException {
        numbers();
        try {
            return map.lookup(key);
        } catch (BpfException | IllegalStateException e) {
            throw new SyrupException(Kind.KERNEL, "lookup on map " + name + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void update(int key, long value) throws SyrupException {
        numbers();
        if (array() && Integer.compareUnsigned(key, map.maxEntries()) >= 0) {
            throw new SyrupException(Kind.INVALID, "key " + Integer.toUnsignedString(key) + " is out of range for array map "
                    + name + " (" + map.maxEntries() + " entries)");
        }
        try {
            map.update(key, value);
        } catch (BpfException | IllegalStateException e) {
            throw new SyrupException(Kind.KERNEL, "update on map " + name + ": " + e.getMessage(), e);
        }
    }

    @Override
    public boolean delete(int key) throws SyrupException {
        if (array()) {
            throw new SyrupException(Kind.INVALID, name + " is an array map: its entries cannot be deleted, only set");
        }
        try {
            return map.delete(key);
        } catch (BpfException | IllegalStateException e) {
            throw new SyrupException(Kind.KERNEL, "delete on map " + name + ": " + e.getMessage(), e);
        }
    }

    @Override
    public SortedMap<Integer, Long> dump() throws SyrupException {
        numbers();
        SortedMap<Integer, Long> out = new TreeMap<>(Integer::compareUnsigned);
        try {
            for (int k : map.intKeys()) {
                map.lookup(k).ifPresent(v -> out.put(k, v));
            }
        } catch (BpfException | IllegalStateException e) {
            throw new SyrupException(Kind.KERNEL, "dump of map " + name + ": " + e.getMessage(), e);
        }
        return out;
    }

    private boolean array() {
        return map.type() == MapType.ARRAY || map.type() == MapType.PERCPU_ARRAY;
    }

    private void numbers() throws SyrupException {
        if (map.keySize() != 4 || map.valueSize() != 8) {
            throw new SyrupException(Kind.INVALID, "map " + name + " is not u32 -> u64");
        }
    }
}
