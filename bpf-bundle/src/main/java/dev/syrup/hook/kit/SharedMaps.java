package dev.syrup.hook.kit;

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
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;

/**
 * The {@link MapRegistry} service: backend-ebpf registers one instance, and every hook of every
 * bundle that takes the service shares through it.
 *
 * <p>Each deployment pins a shared map under its own pin dir, so one deployment's unpin never
 * takes the map from another; the registry also keeps an fd of its own per Map, closed when the
 * last deployment using the Map goes (then the kernel frees it).
 *
 * <p>Outside OSGi there is no service: hooks made with their plain constructors (tests, an
 * embedding program) share {@link #standalone()}, one per class loader.
 */
@Component(service = MapRegistry.class)
public final class SharedMaps implements MapRegistry {

    private static final System.Logger LOG = System.getLogger(SharedMaps.class.getName());

    private static final SharedMaps STANDALONE = new SharedMaps();

    private record Key(Path ownerDir, String name) {}

    private static final class Entry {
        final BpfMap map;
        final Set<Path> users = new LinkedHashSet<>();

        Entry(BpfMap map) {
            this.map = map;
        }
    }

    private final Map<Key, Entry> entries = new HashMap<>();

    public SharedMaps() {}

    /** The registry of hooks made outside OSGi (no service to inject): one per class loader. */
    public static MapRegistry standalone() {
        return STANDALONE;
    }

    @Override
    public synchronized void reuse(BpfObject obj, Path dir, Set<String> internal) throws SyrupException {
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
            String diff = MapRegistry.difference(d, e.map);
            if (diff == null) {
                diff = PolicyObjects.placeDifference(obj, e.map);
            }
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

    @Override
    public synchronized void commit(BpfObject obj, Path dir, Set<String> internal) {
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

    @Override
    public synchronized void release(Path dir) {
        Path pinDir = dir.toAbsolutePath().normalize();
        for (Map.Entry<Key, Entry> e : new ArrayList<>(entries.entrySet())) {
            if (e.getValue().users.contains(pinDir)) {
                drop(e.getKey(), e.getValue(), pinDir);
            }
        }
    }

    /** The service goes (its bundle stops, after the hooks using it): the fds it still holds go with it. */
    @Deactivate
    synchronized void deactivate() {
        for (Entry e : entries.values()) {
            e.map.close();
        }
        entries.clear();
    }

    @Override
    public synchronized List<Path> users(Path ownerDir, String name) {
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

    private static Key key(Path pinDir, String name) {
        return new Key(pinDir.getParent(), name);
    }

    private static String id(Path pinDir) {
        return String.valueOf(pinDir.getFileName());
    }

    private static String owner(Path pinDir) {
        Path parent = pinDir.getParent();
        return parent != null && parent.getFileName() != null ? parent.getFileName().toString() : "unknown";
    }
}
