package dev.syrup.api.map;

import dev.syrup.api.SyrupException;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.SortedMap;

/**
 * A Map a policy declares: u32 keys and u64 values by default (paper §3.4).
 * Operations go to the live kernel object; they are atomic per element.
 */
public interface SyrupMap {

    /** Name as declared in the policy. */
    String name();

    /** Kernel map type, e.g. {@code array}, {@code hash}. */
    String type();

    int keySize();

    int valueSize();

    int maxEntries();

    /** Where it is pinned in bpffs, if it is (root's alone: for the administrator, not for applications). */
    Optional<String> pinnedPath();

    /**
     * A new file descriptor of the live kernel map, owned by the caller (who closes it): how syrupd
     * hands a Map to its application (SCM_RIGHTS), from the map it holds, never by opening a path.
     *
     * @throws SyrupException {@code UNAVAILABLE} when this Map has no kernel map in this process
     */
    default int duplicateFd() throws SyrupException {
        throw new SyrupException(SyrupException.Kind.UNAVAILABLE, "map " + name() + " has no kernel map in this process");
    }

    OptionalLong lookup(int key) throws SyrupException;

    void update(int key, long value) throws SyrupException;

    /** @return whether the key was present (array maps cannot delete: {@code INVALID}) */
    boolean delete(int key) throws SyrupException;

    /** All entries in key order (an array map lists every index). */
    SortedMap<Integer, Long> dump() throws SyrupException;

    /**
     * Updates every entry of {@code entries}, each atomically but not all at once (a kernel Map
     * does it in batches of bpf() calls). On a failure the entries before the failing one may be
     * updated; a key out of an array map's range is refused before anything changes.
     */
    default void updateAll(Map<Integer, Long> entries) throws SyrupException {
        for (Map.Entry<Integer, Long> e : entries.entrySet()) {
            update(e.getKey(), e.getValue());
        }
    }
}
