package dev.syrup.daemon.events;

import dev.syrup.api.map.MapEvent;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.OptionalLong;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * The last known content of each watched Map, for the kernel poller: comparing a fresh dump
 * with the copy gives the changes nobody told syrupd about (the policy's own, an mmap'ed
 * writer's). Changes made through Syrup update the copy as they are published, so they are
 * not reported twice. Not thread-safe: callers hold the event bus lock.
 */
public final class MapCopies {

    private final Map<String, SortedMap<Integer, Long>> copies = new HashMap<>();

    private static String id(String deployment, String map) {
        return deployment + "/" + map;
    }

    /**
     * Compares {@code now} with the copy of the Map and makes it the copy. The first look at a
     * Map is its baseline and reports nothing.
     */
    public List<MapEvent> diff(String deployment, String map, SortedMap<Integer, Long> now, Instant time) {
        SortedMap<Integer, Long> before = copies.put(id(deployment, map), new TreeMap<>(now));
        List<MapEvent> out = new ArrayList<>();
        if (before == null) {
            return out;
        }
        for (Map.Entry<Integer, Long> e : now.entrySet()) {
            Long old = before.get(e.getKey());
            if (!Objects.equals(old, e.getValue())) {
                out.add(new MapEvent(deployment, map, e.getKey(), old == null ? OptionalLong.empty() : OptionalLong.of(old),
                        OptionalLong.of(e.getValue()), time, MapEvent.Origin.KERNEL));
            }
        }
        for (Map.Entry<Integer, Long> e : before.entrySet()) {
            if (!now.containsKey(e.getKey())) {
                out.add(new MapEvent(deployment, map, e.getKey(), OptionalLong.of(e.getValue()), OptionalLong.empty(),
                        time, MapEvent.Origin.KERNEL));
            }
        }
        out.sort(java.util.Comparator.comparingInt(MapEvent::key));
        return out;
    }

    /** Applies a change made through Syrup to the copy, if the Map has one. */
    public void apply(MapEvent e) {
        SortedMap<Integer, Long> copy = copies.get(id(e.deployment(), e.map()));
        if (copy == null) {
            return;
        }
        if (e.newValue().isPresent()) {
            copy.put(e.key(), e.newValue().getAsLong());
        } else {
            copy.remove(e.key());
        }
    }

    /** Forgets the copies of Maps not in {@code live} ("deployment/map"). */
    public void retain(Set<String> live) {
        copies.keySet().retainAll(live);
    }

    public static String key(String deployment, String map) {
        return id(deployment, map);
    }
}
