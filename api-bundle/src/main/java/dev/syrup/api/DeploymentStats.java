package dev.syrup.api;

import java.util.List;

/**
 * What a deployment's policy decided since the deployment was made (kept across
 * {@code --replace}), counted by the hook's generated glue after each {@code schedule()} call
 * and summed over CPUs.
 *
 * @param executors decisions per executor index, {@code executors.get(i)} for index i (as many
 *                  entries as the hook's executor slots)
 * @param pass      {@code SYR_PASS}: left to the layer's default
 * @param drop      {@code SYR_DROP}
 * @param other     an index beyond the hook's executor slots (falls back to the default, like PASS)
 */
public record DeploymentStats(List<Long> executors, long pass, long drop, long other) {

    public DeploymentStats {
        executors = List.copyOf(executors);
    }

    /** Every decision counted. */
    public long decisions() {
        return executors.stream().mapToLong(Long::longValue).sum() + pass + drop + other;
    }

    /** Decisions for executor {@code index}, 0 for an index past the recorded ones. */
    public long executor(int index) {
        return index >= 0 && index < executors.size() ? executors.get(index) : 0;
    }
}
