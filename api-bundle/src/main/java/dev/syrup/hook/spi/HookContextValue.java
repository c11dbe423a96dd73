package dev.syrup.hook.spi;

import java.nio.file.Path;
import java.util.Objects;
import java.util.OptionalInt;

/** {@link HookContext} as a value: what {@link HookContext#of} makes. */
record HookContextValue(String owner, String deploymentId, Path pinDir, OptionalInt executorUid) implements HookContext {

    HookContextValue {
        Objects.requireNonNull(owner, "owner");
        Objects.requireNonNull(deploymentId, "deploymentId");
        Objects.requireNonNull(pinDir, "pinDir");
        Objects.requireNonNull(executorUid, "executorUid");
    }
}
