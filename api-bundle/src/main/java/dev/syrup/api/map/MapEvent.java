package dev.syrup.api.map;

import java.time.Instant;
import java.util.Objects;
import java.util.OptionalLong;

/**
 * One change of one entry of a deployment's Map, as syrupd publishes it on
 * {@link MapEvents#ENDPOINT}.
 *
 * <p>Keys are u32 and values u64, carried in Java's signed {@code int}/{@code long}: print them
 * with {@link Integer#toUnsignedString(int)} / {@link Long#toUnsignedString(long)}. An empty
 * {@code oldValue} means the key was absent (a new hash entry, or not known before: the first
 * change of a key syrupd had not read); an empty {@code newValue} means the key was deleted.
 *
 * @param deployment the deployment id, e.g. {@code d1}
 * @param map        the Map's name as the policy declares it
 * @param key        the key (u32)
 * @param oldValue   the value before the change, if there was one
 * @param newValue   the value after the change; empty when the key was deleted
 * @param time       when syrupd made (or, for {@link Origin#KERNEL}, observed) the change
 * @param origin     who made the change
 */
public record MapEvent(String deployment, String map, int key, OptionalLong oldValue, OptionalLong newValue,
                       Instant time, Origin origin) {

    /** Who changed the entry. */
    public enum Origin {
        /** An administrator through the Karaf shell ({@code syrup:map-put}, {@code syrup:map-delete}). */
        SHELL,
        /** An application through syrupd's control socket. */
        CLIENT,
        /** Another bundle through the {@code Deployer} service / {@link SyrupMap#update}. */
        API,
        /**
         * The policy itself, in the kernel, or anyone writing the map directly (an mmap'ed array,
         * the pinned file): seen by syrupd's periodic comparison of the map with its last copy.
         */
        KERNEL;

        /** Lower-case name, as in the text form. */
        public String label() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    public MapEvent {
        Objects.requireNonNull(deployment, "deployment");
        Objects.requireNonNull(map, "map");
        Objects.requireNonNull(oldValue, "oldValue");
        Objects.requireNonNull(newValue, "newValue");
        Objects.requireNonNull(time, "time");
        Objects.requireNonNull(origin, "origin");
    }

    /** Whether the key was deleted. */
    public boolean deleted() {
        return newValue.isEmpty();
    }

    /**
     * One line, the form the bridge and {@code syrup:map-watch} print:
     * {@code 2026-01-01T10:00:00Z d1 busy[0] 0 -> 1 shell} ({@code -} for an absent value).
     */
    public String toText() {
        return time + " " + deployment + " " + map + "[" + Integer.toUnsignedString(key) + "] "
                + text(oldValue) + " -> " + text(newValue) + " " + origin.label();
    }

    private static String text(OptionalLong v) {
        return v.isPresent() ? Long.toUnsignedString(v.getAsLong()) : "-";
    }
}
