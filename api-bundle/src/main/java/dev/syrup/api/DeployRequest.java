package dev.syrup.api;

import java.util.Map;
import java.util.Objects;

/**
 * What to deploy where.
 *
 * @param policy  a built-in policy name or a path to a {@code .c} file
 * @param hook    hook name
 * @param target  inputs to claim
 * @param defines {@code -D} preprocessor definitions passed to the compiler (name to value)
 * @param replace replace the policy of the deployment already on {@code target}
 *                (make-before-break) instead of refusing
 * @param owner   application the deployment belongs to
 */
public record DeployRequest(String policy, String hook, Target target, Map<String, String> defines,
                            boolean replace, String owner) {

    public static final String ADMIN = "admin";

    public DeployRequest {
        Objects.requireNonNull(policy, "policy");
        Objects.requireNonNull(hook, "hook");
        Objects.requireNonNull(target, "target");
        defines = Map.copyOf(defines);
        Objects.requireNonNull(owner, "owner");
    }
}
