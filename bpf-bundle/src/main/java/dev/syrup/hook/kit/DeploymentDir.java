package dev.syrup.hook.kit;

import dev.syrup.bpf.BpfException;
import dev.syrup.bpf.Errno;
import dev.syrup.bpf.PinDir;
import java.nio.file.Path;
import java.util.Optional;

/**
 * A deployment's pin directory, {@code <bpffs root>/<owner>/<id>}. Its path names it (owner,
 * id, messages, the {@link MapRegistry}); everything done in it goes through one fd, opened on first
 * use without following a link (the directory made {@code 0700} when missing, root's alone) and
 * held until the deployment ends, so a directory renamed or replaced meanwhile changes nothing
 * syrupd acts on.
 */
public final class DeploymentDir {

    /** The mode a missing directory is made with: root's alone. */
    public static final int MODE = 0700;

    private final Path path;
    /** Guarded by {@code this}. */
    private PinDir dir;

    public DeploymentDir(Path path) {
        this.path = path.toAbsolutePath().normalize();
    }

    /** The directory, made now if it is missing. */
    /** The directory's path, absolute and normalized: what names it, never what is acted on. */
    public Path path() {
        return path;
    }

    public synchronized PinDir get() {
        if (dir == null) {
            dir = PinDir.create(path, MODE);
        }
        return dir;
    }

    /** The directory if it exists (a previous syrupd's, or made by {@link #get}); nothing is made. */
    public synchronized Optional<PinDir> existing() {
        if (dir == null) {
            try {
                dir = PinDir.open(path);
            } catch (BpfException e) {
                if (e.errno() == Errno.ENOENT) {
                    return Optional.empty();
                }
                throw e;
            }
        }
        return Optional.of(dir);
    }

    /**
     * Lets go of the fd; with {@code remove} the directory goes too, when it is empty and still
     * the one held (never what took its place). False when it stays for such a reason.
     */
    public synchronized boolean end(boolean remove) {
        PinDir d = dir;
        dir = null;
        if (d == null) {
            return true;
        }
        if (!remove) {
            d.close();
            return true;
        }
        return d.delete();
    }

    @Override
    public String toString() {
        return path.toString();
    }
}
