package dev.syrup.api;

import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * What a policy decided for each input of a {@link PolicyTest}, read from the hook glue's decision
 * counters after each run.
 *
 * @param decisions     per input: an executor index ({@code >= 0}), {@link #PASS}, {@link #DROP},
 *                      {@link #OTHER} (an index beyond the hook's executor slots) or {@link #NONE}
 *                      (the hook never hands this input to the policy, e.g. not IPv4 UDP/TCP)
 * @param nsPerDecision the kernel's average time per run of the program (BPF_PROG_TEST_RUN's
 *                      duration, its loop included), over {@code timedRuns} runs
 * @param timedRuns     how many runs the time is averaged over
 * @param program       the program that ran, e.g. {@code xdp syr_xdp_skb}, or the shim standing in
 *                      for a program type the kernel cannot test-run
 */
public record TestResult(List<Integer> decisions, double nsPerDecision, long timedRuns, String program) {

    public static final int PASS = -1, DROP = -2, OTHER = -3, NONE = -4;

    public TestResult {
        decisions = List.copyOf(decisions);
    }

    /** How a decision reads: {@code 2}, {@code PASS}, {@code DROP}, {@code OTHER}, {@code NONE}. */
    public static String label(int decision) {
        return switch (decision) {
            case PASS -> "PASS";
            case DROP -> "DROP";
            case OTHER -> "OTHER";
            case NONE -> "NONE";
            default -> Integer.toString(decision);
        };
    }

    /** The inverse of {@link #label}. */
    public static int parse(String label) {
        return switch (label) {
            case "PASS" -> PASS;
            case "DROP" -> DROP;
            case "OTHER" -> OTHER;
            case "NONE" -> NONE;
            default -> Integer.parseInt(label);
        };
    }

    /** How many inputs got each decision: executor indexes ascending, then PASS, DROP, OTHER, NONE. */
    public Map<Integer, Long> histogram() {
        Map<Integer, Long> h = new TreeMap<>((a, b) -> a >= 0 && b >= 0 ? Integer.compare(a, b)
                : a >= 0 ? -1 : b >= 0 ? 1 : Integer.compare(b, a));
        for (int d : decisions) {
            h.merge(d, 1L, Long::sum);
        }
        return h;
    }
}
