package dev.syrup.daemon.control;

import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
import java.io.IOException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

/**
 * Which stored policy text ({@link PolicySources}) each tenant deployment was made from, so a
 * file lives exactly as long as something needs it: written only once the request passed the
 * ownership checks, kept while a deploy using it runs and while a deployment made from it lives,
 * removed when the last one ends (undeploy, the application's exit, a failed deploy, a replace
 * by another text). A tenant may have at most {@code maxPerOwner} files at once (the
 * administrator: any number).
 */
final class StoredSources {

    private static final System.Logger LOG = System.getLogger(StoredSources.class.getName());

    private final PolicySources sources;
    private final int maxPerOwner;
    /** Guarded by {@code this}: file to the deployments made from it. */
    private final Map<Path, Set<String>> users = new HashMap<>();
    /** Guarded by {@code this}: file to the deploys using it now. */
    private final Map<Path, Integer> inFlight = new HashMap<>();
    /** Guarded by {@code this}: file to its owner. */
    private final Map<Path, String> owners = new HashMap<>();

    StoredSources(PolicySources sources, int maxPerOwner) {
        this.sources = sources;
        this.maxPerOwner = maxPerOwner;
    }

    /**
     * Stores {@code text} for a deploy of {@code app} about to start; {@code LIMIT} when the
     * owner has as many files as it may. Each write is followed by {@link #abandoned} when the
     * deploy ends, after {@link #committed} when it made a deployment.
     */
    synchronized Path write(String app, String name, String text) throws SyrupException {
        long has = owners.values().stream().filter(app::equals).count();
        if (has >= maxPerOwner && !dev.syrup.api.DeployRequest.ADMIN.equals(app)) {
            throw new SyrupException(Kind.LIMIT, app + " has " + has + " policy sources stored, the most a tenant may"
                    + " have (setting maxSourcesPerTenant of " + ControlServer.PID + ")");
        }
        Path file = sources.write(app, name, text);
        owners.put(file, app);
        inFlight.merge(file, 1, Integer::sum);
        return file;
    }

    /**
     * The deploy from {@code file} (null: a built-in) made, or replaced the policy of, deployment
     * {@code id}: the file its previous policy came from is no longer its.
     */
    synchronized void committed(Path file, String id) {
        for (Path other : new HashSet<>(users.keySet())) {
            if (!other.equals(file)) {
                unuse(other, id);
            }
        }
        if (file != null) {
            users.computeIfAbsent(file, f -> new HashSet<>()).add(id);
        }
    }

    /** The deploy from {@code file} ended; unless {@link #committed}, the file goes. */
    synchronized void abandoned(Path file) {
        inFlight.computeIfPresent(file, (f, n) -> n > 1 ? n - 1 : null);
        dropIfUnused(file);
    }

    /** Deployment {@code id} is gone. */
    synchronized void ended(String id) {
        for (Path file : new HashSet<>(users.keySet())) {
            unuse(file, id);
        }
    }

    /**
     * Forgets every deployment not in {@code live} (removed another way: by the administrator,
     * with its hook). Asked under this lock, so a deployment committed meanwhile is in it.
     */
    synchronized void retain(java.util.function.Supplier<Collection<String>> live) {
        Set<String> keep = new HashSet<>(live.get());
        for (Map.Entry<Path, Set<String>> e : new HashMap<>(users).entrySet()) {
            for (String id : new HashSet<>(e.getValue())) {
                if (!keep.contains(id)) {
                    unuse(e.getKey(), id);
                }
            }
        }
    }

    /** Files stored for {@code app} now. */
    synchronized int count(String app) {
        return (int) owners.values().stream().filter(app::equals).count();
    }

    /** Removes every file (the control socket stops; its deployments went with it). */
    synchronized void clear() {
        for (Path file : new HashSet<>(owners.keySet())) {
            delete(file);
        }
        owners.clear();
        users.clear();
        inFlight.clear();
    }

    private void unuse(Path file, String id) {
        Set<String> ids = users.get(file);
        if (ids != null && ids.remove(id) && ids.isEmpty()) {
            users.remove(file);
            dropIfUnused(file);
        }
    }

    private void dropIfUnused(Path file) {
        if (!users.containsKey(file) && !inFlight.containsKey(file)) {
            owners.remove(file);
            delete(file);
        }
    }

    /** Removes {@code file}, then its digest directory and its owner's directory when empty. */
    private static void delete(Path file) {
        try {
            Files.deleteIfExists(file);
            Path dir = file.getParent();
            for (int i = 0; i < 2 && dir != null; i++, dir = dir.getParent()) {
                Files.deleteIfExists(dir);
            }
        } catch (DirectoryNotEmptyException e) {
            // another of the owner's texts is stored there
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "cannot remove the stored policy text " + file + ": " + e.getMessage());
        }
    }
}
