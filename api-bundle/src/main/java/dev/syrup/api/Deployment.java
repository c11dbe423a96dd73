package dev.syrup.api;

import java.time.Instant;

/**
 * A running deployment as the daemon reports it.
 *
 * @param id        short unique id, stable for the deployment's life
 * @param policy    built-in name or the policy file's path
 * @param hook      hook name
 * @param target    claimed inputs
 * @param owner     the application that deployed it ({@code admin} for the shell)
 * @param executors number of executors
 * @param created   when it was first deployed
 * @param replaced  how many times the policy was replaced
 */
public record Deployment(String id, String policy, String hook, Target target, String owner,
                         int executors, Instant created, int replaced) {
}
