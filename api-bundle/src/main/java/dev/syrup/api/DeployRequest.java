package dev.syrup.api;

import dev.syrup.hook.spi.Hook;
import java.util.Map;
import java.util.Objects;
import java.util.OptionalInt;

/**
 * What to deploy where.
 *
 * @param policy      a built-in policy name or a path to a {@code .c} file
 * @param hook        hook name
 * @param target      inputs to claim
 * @param defines     {@code -D} preprocessor definitions passed to the compiler (name to value)
 * @param replace     replace the policy of the deployment already on {@code target}
 *                    (make-before-break) instead of refusing
 * @param owner       application the deployment belongs to
 * @param executorUid when present, the deployment may adopt only executors that this uid owns
 *                    (a tenant's own sockets), and is refused while the target has executors of
 *                    any other uid; empty for the administrator (any executor on the target).
 *                    Handed to {@link Hook#open(Target, dev.syrup.hook.spi.HookContext)}.
 */
public record DeployRequest(String policy, String hook, Target target, Map<String, String> defines,
                            boolean replace, String owner, OptionalInt executorUid) {

    public static final String ADMIN = "admin";

    public DeployRequest {
        Objects.requireNonNull(policy, "policy");
        Objects.requireNonNull(hook, "hook");
        Objects.requireNonNull(target, "target");
        defines = Map.copyOf(defines);
        Objects.requireNonNull(owner, "owner");
        Objects.requireNonNull(executorUid, "executorUid");
    }

    /** A request whose executors are not restricted to a uid (the administrator's). */
    public DeployRequest(String policy, String hook, Target target, Map<String, String> defines, boolean replace,
                         String owner) {
        this(policy, hook, target, defines, replace, owner, OptionalInt.empty());
    }
}
