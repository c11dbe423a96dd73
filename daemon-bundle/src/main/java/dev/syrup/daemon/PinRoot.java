package dev.syrup.daemon;

import dev.syrup.bpf.BpfException;
import dev.syrup.bpf.Errno;
import dev.syrup.bpf.PinDir;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * syrupd's bpffs root ({@code /sys/fs/bpf/syrup} by default), held open for syrupd's lifetime.
 * Everything below it is root's alone: directories {@code 0700}, pins {@code 0600}, no
 * application owns anything there (they get their Maps as fds). {@link #open} refuses a root
 * another user could have made or could change; below it syrupd acts through fds and follows no
 * link ({@link PinDir}), so even a link planted there (by root) redirects nothing.
 */
final class PinRoot implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger(PinRoot.class.getName());

    static final int MODE = 0700;
    private static final int STICKY = 01000;

    private final PinDir root;

    private PinRoot(PinDir root) {
        this.root = root;
    }

    /**
     * Checks and opens the root, making it ({@code 0700}) when it is missing. Refused, naming the
     * path and what is wrong: a symbolic link anywhere on the way; a level above it that is not
     * root's or that other users can write without the sticky bit; a root that is not a
     * directory on a bpffs or not owned by root. A root-owned root that others may read or write
     * is tightened to {@code 0700}, with a warning.
     *
     * @throws IOException why the root cannot be syrupd's
     */
    static PinRoot open(Path root) throws IOException {
        if (!root.isAbsolute() || root.getParent() == null) {
            throw refuse(root, "not an absolute path below /");
        }
        Path path = root.normalize();
        // Each level above: no link, root's, and not open to others (unless sticky, as /tmp and a
        // default bpffs mount, 1777, are: others may add entries there but not move root's).
        Path at = path.getRoot();
        for (Path c : path.getParent()) {
            at = at.resolve(c);
            try (PinDir level = openLevel(path, at)) {
                PinDir.Stat st = level.stat();
                if (st.uid() != 0) {
                    throw refuse(path, at + " is owned by uid " + st.uid() + ", not root");
                }
                if ((st.permissions() & 022) != 0 && (st.permissions() & STICKY) == 0) {
                    throw refuse(path, at + " is writable by other users (" + st + ") and not sticky");
                }
            }
        }
        PinDir dir;
        try {
            dir = PinDir.open(path);
        } catch (BpfException e) {
            if (e.errno() != Errno.ENOENT) {
                throw refuse(path, e.errno() == Errno.ELOOP ? "it is a symbolic link" : e.getMessage());
            }
            dir = make(path);
        }
        try {
            check(path, dir);
        } catch (IOException | RuntimeException e) {
            dir.close();
            throw e;
        }
        return new PinRoot(dir);
    }

    private static PinDir openLevel(Path root, Path level) throws IOException {
        try {
            return PinDir.open(level);
        } catch (BpfException e) {
            throw refuse(root, switch (e.errno()) {
                case Errno.ELOOP -> level + " is a symbolic link (syrupd follows none on the way to its root)";
                case Errno.ENOENT -> level + " does not exist (make it, root's, or mount a bpffs: mount -t bpf -o mode=0700 bpf "
                        + level + ")";
                case Errno.ENOTDIR -> level + " is not a directory";
                default -> e.getMessage();
            });
        }
    }

    private static PinDir make(Path root) throws IOException {
        try (PinDir parent = PinDir.open(root.getParent())) {
            if (!parent.onBpffs()) {
                throw refuse(root, root.getParent() + " is not a bpffs (mount one: mount -t bpf -o mode=0700 bpf "
                        + root.getParent() + ")");
            }
            PinDir dir = parent.mkdir(root.getFileName().toString(), MODE);
            LOG.log(System.Logger.Level.INFO, "made the bpffs root " + root + " (0700)");
            return dir;
        } catch (BpfException e) {
            throw refuse(root, "cannot make it: " + e.getMessage());
        }
    }

    private static void check(Path root, PinDir dir) throws IOException {
        PinDir.Stat st = dir.stat();
        if (!dir.onBpffs()) {
            throw refuse(root, "not on a bpffs (mount one: mount -t bpf -o mode=0700 bpf " + root.getParent() + ")");
        }
        if (st.uid() != 0) {
            throw refuse(root, "owned by uid " + st.uid() + ", not root: whoever made it could change what syrupd pins"
                    + " (remove it, or set another bpffsRoot)");
        }
        if ((st.permissions() & 077) != 0) {
            LOG.log(System.Logger.Level.WARNING, "bpffs root " + root + " was " + st + ": tightened to 0700");
            dir.chmod(MODE);
        }
    }

    private static IOException refuse(Path root, String why) {
        return new IOException("bpffs root " + root + " refused: " + why);
    }

    Path path() {
        return root.path();
    }

    /**
     * The owner directories a previous syrupd left, for recovery. What is not a root-owned
     * directory is removed, saying so (never followed: a link goes itself): a directory of
     * another owner is what an earlier syrupd gave an application. Names in {@code others} (trees
     * that other parts of syrupd keep under the root) are left alone and not returned.
     */
    List<String> owners(java.util.Set<String> others) {
        List<String> out = new ArrayList<>();
        for (String name : root.list()) {
            if (!others.contains(name)) {
                out.add(name);
            }
        }
        return safeDirs(root, out);
    }

    /** As {@link #owners()}, for the deployment directories of {@code owner}. */
    List<String> deployments(String owner) {
        try (PinDir o = root.dir(owner)) {
            return safeDirs(o, o.list());
        } catch (BpfException e) {
            LOG.log(System.Logger.Level.WARNING, "cannot look into " + root.path().resolve(owner) + ": " + e.getMessage());
            return List.of();
        }
    }

    private static List<String> safeDirs(PinDir dir, List<String> names) {
        List<String> out = new ArrayList<>();
        for (String name : names) {
            Path p = dir.path().resolve(name);
            try {
                Optional<PinDir.Stat> st = dir.stat(name);
                if (st.isEmpty()) {
                    continue;
                }
                if (!st.get().isDirectory() || st.get().uid() != 0) {
                    LOG.log(System.Logger.Level.WARNING, "removing " + p + " (" + st.get() + "): syrupd makes only"
                            + " root-owned directories there" + (st.get().isLink() ? "; the link is not followed" : ""));
                    removeTree(dir, name);
                    continue;
                }
                if ((st.get().permissions() & 077) != 0) {
                    try (PinDir d = dir.dir(name)) {
                        d.chmod(MODE);
                    }
                }
                out.add(name);
            } catch (BpfException e) {
                LOG.log(System.Logger.Level.WARNING, "cannot check " + p + ": " + e.getMessage());
            }
        }
        return out;
    }

    /** Removes a deployment's pin directory and everything in it, walking by fds. */
    void removeDeployment(String owner, String id) {
        if (root.isClosed()) {
            return;
        }
        try (PinDir o = root.dir(owner)) {
            removeTree(o, id);
        } catch (BpfException e) {
            if (e.errno() != Errno.ENOENT) {
                LOG.log(System.Logger.Level.WARNING, "cannot remove " + root.path().resolve(owner).resolve(id) + ": " + e.getMessage());
            }
        }
    }

    private static void removeTree(PinDir dir, String name) {
        try {
            for (Path link : dir.removeTree(name)) {
                LOG.log(System.Logger.Level.WARNING, "removed the symbolic link " + link + " (not made by syrupd; not followed)");
            }
        } catch (BpfException e) {
            LOG.log(System.Logger.Level.WARNING, "cannot remove " + dir.path().resolve(name) + ": " + e.getMessage());
        }
    }

    /** Removes {@code <root>/<owner>} when no deployment of the owner pins anything there any more. */
    void removeOwnerIfEmpty(String owner) {
        if (root.isClosed()) {
            return;
        }
        try {
            root.rmdir(owner);
        } catch (BpfException e) {
            if (e.errno() != Errno.ENOTEMPTY) {
                LOG.log(System.Logger.Level.WARNING, "cannot remove " + root.path().resolve(owner) + ": " + e.getMessage());
            }
        }
    }

    @Override
    public void close() {
        root.close();
    }
}
