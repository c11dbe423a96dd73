package dev.syrup.daemon.events;

import dev.syrup.api.SyrupException;
import dev.syrup.api.map.MapEvent;
import dev.syrup.api.map.SyrupMap;
import java.time.Instant;
import java.util.Optional;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.OptionalLong;
import java.util.SortedMap;
import java.util.function.Supplier;

/**
 * A deployment's Map whose {@code update} and {@code delete} publish a {@link MapEvent}
 * (with the value before the change, read just before it) when an event bus is present.
 */
public final class EventingMap implements SyrupMap {

    private final SyrupMap map;
    private final String deployment;
    private final MapEvent.Origin origin;
    private final Supplier<MapEventBus> bus;

    public EventingMap(SyrupMap map, String deployment, MapEvent.Origin origin, Supplier<MapEventBus> bus) {
        this.map = map;
        this.deployment = deployment;
        this.origin = origin;
        this.bus = bus;
    }

    @Override
    public String name() {
        return map.name();
    }

    @Override
    public String type() {
        return map.type();
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
        return map.pinnedPath();
    }

    @Override
    public int duplicateFd() throws SyrupException {
        return map.duplicateFd();
    }

    @Override
    public OptionalLong lookup(int key) throws SyrupException {
        return map.lookup(key);
    }

    @Override
    public SortedMap<Integer, Long> dump() throws SyrupException {
        return map.dump();
    }

    @Override
    public void update(int key, long value) throws SyrupException {
        MapEventBus b = bus.get();
        if (b == null) {
            map.update(key, value);
            return;
        }
        synchronized (b.lock()) {
            OptionalLong old = map.lookup(key);
            map.update(key, value);
            b.publish(new MapEvent(deployment, map.name(), key, old, OptionalLong.of(value), Instant.now(), origin));
        }
    }

    /** The Map's own bulk update (a kernel Map's batch); an event per entry whose value changed. */
    @Override
    public void updateAll(Map<Integer, Long> entries) throws SyrupException {
        MapEventBus b = bus.get();
        if (b == null) {
            map.updateAll(entries);
            return;
        }
        synchronized (b.lock()) {
            Map<Integer, OptionalLong> old = new LinkedHashMap<>();
            for (Integer k : entries.keySet()) {
                old.put(k, map.lookup(k));
            }
            try {
                map.updateAll(entries);
            } finally { // a failed batch may have written some: publish what changed
                for (Map.Entry<Integer, OptionalLong> e : old.entrySet()) {
                    OptionalLong now = map.lookup(e.getKey());
                    if (!now.equals(e.getValue())) {
                        b.publish(new MapEvent(deployment, map.name(), e.getKey(), e.getValue(), now, Instant.now(), origin));
                    }
                }
            }
        }
    }

    @Override
    public boolean delete(int key) throws SyrupException {
        MapEventBus b = bus.get();
        if (b == null) {
            return map.delete(key);
        }
        synchronized (b.lock()) {
            OptionalLong old = map.lookup(key);
            boolean deleted = map.delete(key);
            if (deleted) {
                b.publish(new MapEvent(deployment, map.name(), key, old, OptionalLong.empty(), Instant.now(), origin));
            }
            return deleted;
        }
    }

    /** The Map under this one (changes made through it publish nothing). */
    public SyrupMap unwrap() {
        return map;
    }
}
