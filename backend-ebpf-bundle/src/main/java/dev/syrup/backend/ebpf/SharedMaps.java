package dev.syrup.backend.ebpf;

import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
import dev.syrup.bpf.BpfException;
import dev.syrup.bpf.BpfMap;
import dev.syrup.bpf.BpfObject;
import dev.syrup.bpf.Fd;
import dev.syrup.bpf.MapInfo;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Maps across layers (paper §5.3): the policy Maps of one owner's deployments, by name, so that
 * two deployments of one application (at any hooks) that declare a Map of the same name and
 * shape use one kernel map. One instance per bundle ({@link #INSTANCE}), used by every
 * deployment kind.
 *
 * <p>A deployment is known by its pin dir {@code <bpffs root>/<owner>/<id>}; its owner is the
 * parent directory, so different owners (and different bpffs roots) never share. Per install:
 * {@link #reuse} before load (hands the object the Maps other live deployments of the owner
 * already have, or refuses a shape mismatch; changes nothing), then {@link #commit} once the
 * policy runs and its Maps are pinned. {@link #release} when the deployment closes.
 *
 * <p>Each deployment pins the shared map under its own pin dir, so one deployment's unpin never
 * takes the map from another; the registry also keeps an fd of its own per Map, closed when the
 * last deployment using the Map goes (then the kernel frees it).
 */
final class SharedMaps {

    private static final System.Logger LOG = System.getLogger(SharedMaps.class.getName());

    static final SharedMaps INSTANCE = new SharedMaps();

    private record Key(Path ownerDir, String name) {}

    private static final class Entry {
        final BpfMap map;
        final Set<Path> users = new LinkedHashSet<>();

        Entry(BpfMap map) {
            this.map = map;
        }
    }

    private final Map<Key, Entry> entries = new HashMap<>();

    SharedMaps() {}

    /**
     * Before load: every Map {@code obj} declares (not in {@code internal}, not .data/.bss/.rodata)
     * that another live deployment of the same owner already has becomes that kernel map
     * ({@link BpfObject#reuseMap}). A Map whose only user is this deployment itself (a
     * replacement) is not reused: the new version gets its own, as before sharing existed.
     *
     * @throws SyrupException INVALID when the shapes differ, naming both deployments and the attribute
     */
    void reuse(BpfObject obj, DeploymentDir dir, Set<String> internal) throws SyrupException {
        reuse(obj, dir.path, internal);
    }

    synchronized void reuse(BpfObject obj, Path dir, Set<String> internal) throws SyrupException {
        Path pinDir = dir.toAbsolutePath().normalize();
        Map<String, Entry> matches = new HashMap<>();
        for (MapInfo d : obj.declaredMaps()) {
            if (internal.contains(d.name()) || d.name().contains(".")) {
                continue;
            }
            Entry e = entries.get(key(pinDir, d.name()));
            if (e == null) {
                continue;
            }
            Path other = e.users.stream().filter(u -> !u.equals(pinDir)).findFirst().orElse(null);
            if (other == null) {
                continue;
            }
            String diff = difference(d, e.map);
            if (diff != null) {
                throw new SyrupException(Kind.INVALID, "map '" + d.name() + "' of deployment " + id(pinDir)
                        + " does not match the map of that name of deployment " + id(other) + " (same owner "
                        + owner(pinDir) + ", so it would be shared): " + diff);
            }
            matches.put(d.name(), e);
        }
        for (Map.Entry<String, Entry> m : matches.entrySet()) {
            obj.reuseMap(m.getKey(), m.getValue().map);
        }
    }

    /**
     * After the loaded {@code obj} runs in the deployment and its Maps are pinned: records the
     * deployment as a user of each of its Maps (a new Map becomes shareable under its pin), and
     * drops it from the Maps its previous policy version had and this one has not.
     */
    void commit(BpfObject obj, DeploymentDir dir, Set<String> internal) {
        commit(obj, dir.path, internal);
    }

    synchronized void commit(BpfObject obj, Path dir, Set<String> internal) {
        Path pinDir = dir.toAbsolutePath().normalize();
        Set<Key> now = new LinkedHashSet<>();
        for (BpfMap m : obj.maps()) {
            String name = m.name();
            if (internal.contains(name) || name.contains(".")) {
                continue;
            }
            Key k = key(pinDir, name);
            now.add(k);
            Entry e = entries.get(k);
            if (e != null && !sameMap(e.map, m)) {
                e.users.remove(pinDir);
                if (e.users.isEmpty()) {
                    // This deployment's previous version was the only user: its new map takes over.
                    entries.remove(k);
                    e.map.close();
                    e = null;
                } else {
                    // Another deployment made the Map meanwhile (a race of two first installs):
                    // this one keeps its own, unshared.
                    LOG.log(System.Logger.Level.WARNING, "map '" + name + "' of deployment " + id(pinDir)
                            + " is not shared: another deployment of " + owner(pinDir) + " created one at the same time");
                    continue;
                }
            }
            if (e == null) {
                if (m.pinnedPath().isEmpty()) {
                    continue;
                }
                try {
                    e = new Entry(BpfMap.adopt(Fd.adopt(m.duplicateFd()))); // the live map's, not whatever its pin now is
                } catch (BpfException ex) {
                    LOG.log(System.Logger.Level.WARNING, "map '" + name + "' of deployment " + id(pinDir)
                            + " cannot be shared: " + ex.getMessage());
                    continue;
                }
                entries.put(k, e);
            }
            e.users.add(pinDir);
        }
        for (Map.Entry<Key, Entry> e : new ArrayList<>(entries.entrySet())) {
            if (!now.contains(e.getKey()) && e.getValue().users.contains(pinDir)) {
                drop(e.getKey(), e.getValue(), pinDir);
            }
        }
    }

    /** The deployment is gone: it no longer uses any Map; a Map without users is let go. */
    void release(DeploymentDir dir) {
        release(dir.path);
    }

    synchronized void release(Path dir) {
        Path pinDir = dir.toAbsolutePath().normalize();
        for (Map.Entry<Key, Entry> e : new ArrayList<>(entries.entrySet())) {
            if (e.getValue().users.contains(pinDir)) {
                drop(e.getKey(), e.getValue(), pinDir);
            }
        }
    }

    /** The deployments (pin dirs) using the owner's Map {@code name}; empty when none. */
    synchronized List<Path> users(Path ownerDir, String name) {
        Entry e = entries.get(new Key(ownerDir.toAbsolutePath().normalize(), name));
        return e == null ? List.of() : List.copyOf(e.users);
    }

    private void drop(Key k, Entry e, Path pinDir) {
        e.users.remove(pinDir);
        if (e.users.isEmpty()) {
            entries.remove(k);
            e.map.close();
        }
    }

    private static boolean sameMap(BpfMap a, BpfMap b) {
        try {
            return a.info().id() == b.info().id();
        } catch (RuntimeException e) {
            return false;
        }
    }

    /** How a declared Map differs from a kernel map in shape, or null when it does not. */
    static String difference(MapInfo d, BpfMap m) {
        if (d.typeId() != m.typeId()) {
            return "type " + typeName(d.typeId()) + " vs " + typeName(m.typeId());
        }
        if (d.keySize() != m.keySize()) {
            return "key size " + d.keySize() + " vs " + m.keySize();
        }
        if (d.valueSize() != m.valueSize()) {
            return "value size " + d.valueSize() + " vs " + m.valueSize();
        }
        if (d.maxEntries() != m.maxEntries()) {
            return "max entries " + d.maxEntries() + " vs " + m.maxEntries();
        }
        if (d.flags() != m.flags()) {
            return "flags 0x" + Integer.toHexString(d.flags()) + " vs 0x" + Integer.toHexString(m.flags());
        }
        return null;
    }

    private static String typeName(int id) {
        dev.syrup.bpf.MapType t = dev.syrup.bpf.MapType.of(id);
        return t == dev.syrup.bpf.MapType.UNKNOWN ? "type " + id : t.name().toLowerCase(java.util.Locale.ROOT);
    }

    private static Key key(Path pinDir, String name) {
        return new Key(pinDir.getParent(), name);
    }

    private static String id(Path pinDir) {
        return String.valueOf(pinDir.getFileName());
    }

    private static String owner(Path pinDir) {
        return SocketSelectHook.ownerOf(pinDir);
    }
}
