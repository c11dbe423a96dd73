package dev.syrup.hook.spi;

import dev.syrup.api.Target;
import java.nio.file.Path;
import java.util.OptionalInt;
import org.osgi.annotation.versioning.ProviderType;

/**
 * What syrupd tells a hook about the deployment it opens ({@link Hook#open(Target, HookContext)}):
 * whose it is, its id, where it pins, and whose executors it may adopt. Hooks read the owner
 * from here rather than from the pin path's layout.
 *
 * <p>Syrup implements this type; hooks only consume it, so methods may be added in a minor
 * version.
 */
@ProviderType
public interface HookContext {

    /** The application the deployment belongs to, e.g. {@code admin} or {@code uid-1001}. */
    String owner();

    /** The deployment's id, e.g. {@code d1}; unique among live deployments. */
    String deploymentId();

    /**
     * bpffs directory the deployment pins its objects under ({@code <root>/<owner>/<id>}): see
     * {@link Hook#open(Target, HookContext)} for what a hook does with it.
     */
    Path pinDir();

    /**
     * When present, the only uid whose executors the deployment may adopt (a tenant's); empty
     * means any (the administrator). See {@link Hook#open(Target, HookContext)}.
     */
    OptionalInt executorUid();

    /** A context with each part given. */
    static HookContext of(String owner, String deploymentId, Path pinDir, OptionalInt executorUid) {
        return new HookContextValue(owner, deploymentId, pinDir, executorUid);
    }

    /**
     * The context of a deployment at {@code <root>/<owner>/<id>}, for tools and tests that
     * open a hook directly (syrupd names the owner itself): the owner is the pin dir's
     * parent's name ({@code unknown} when it has none), the id its own name.
     */
    static HookContext ofPinDir(Path pinDir, OptionalInt executorUid) {
        Path parent = pinDir.getParent();
        String owner = parent != null && parent.getFileName() != null ? parent.getFileName().toString() : "unknown";
        return new HookContextValue(owner, String.valueOf(pinDir.getFileName()), pinDir, executorUid);
    }

    /** {@link #ofPinDir(Path, OptionalInt)} of the administrator (any executor). */
    static HookContext ofPinDir(Path pinDir) {
        return ofPinDir(pinDir, OptionalInt.empty());
    }
}
