package dev.syrup.hook.kit;

import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
import dev.syrup.api.TestResult;
import dev.syrup.bpf.BpfException;
import dev.syrup.bpf.BpfMap;
import dev.syrup.bpf.BpfObject;
import dev.syrup.bpf.ProgramRules;
import dev.syrup.bpf.BpfProgram;
import dev.syrup.bpf.VerifierException;
import dev.syrup.bpf.Xdp;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * {@link dev.syrup.hook.spi.Hook#test} ({@code syrup:test}) for a BPF hook whose glue counts
 * ({@link DecisionStats}): loads a policy's test object under the hook's rules, seeds its Maps,
 * runs the hook's program once per input with BPF_PROG_TEST_RUN and reads what
 * {@code schedule()} decided from the decision counters: the one slot a run added to. The
 * object is private to the test (its own counters and Maps, nothing pinned, nothing attached)
 * and closed at the end.
 *
 * <p>How one input runs depends on the program type: an XDP program takes the frame as its
 * packet ({@link #XDP}); a type whose test run takes a context instead (sk_lookup, ...) gives
 * its own {@link Run}.
 */
public final class PolicyTestRun {

    /** One test run of {@code program} (of the loaded {@code obj}) on an input frame, {@code repeat} times. */
    @FunctionalInterface
    public interface Run {
        /**
         * @return the kernel's duration per repetition, in ns
         * @throws SyrupException {@code INVALID} for an input this program type cannot be given
         */
        long run(BpfObject obj, BpfProgram program, byte[] frame, int repeat) throws SyrupException;
    }

    /** An XDP program, the frame as its packet. */
    public static final Run XDP = (obj, program, frame, repeat) -> Xdp.testRun(program, frame, repeat).durationNs();

    /** Runs per distinct input for the time per decision. */
    public static final int TIMED_RUNS = 2000;
    /** At most this many distinct inputs are timed. */
    public static final int TIMED_INPUTS = 16;

    private PolicyTestRun() {
    }

    /** {@link #run(Path, String, ProgramRules, int, int, List, Map, String, Run)} of an XDP program. */
    public static TestResult run(Path object, String program, ProgramRules rules, int maxExecutors, int executors,
            List<byte[]> inputs, Map<String, Map<Long, Long>> seeds, String label) throws SyrupException {
        return run(object, program, rules, maxExecutors, executors, inputs, seeds, label, XDP);
    }

    /**
     * @param program      the program to run
     * @param rules        what the object may be and the capabilities it loads with: the same
     *                     check and privilege as a deployment of the hook, so a test is no way
     *                     around either; seeds may not name its own maps
     * @param maxExecutors the glue's executor slots ({@link DecisionStats#declare})
     * @param executors    how many executors the policy was compiled for
     * @param label        how the result names what ran
     * @param run          how one input runs
     */
    public static TestResult run(Path object, String program, ProgramRules rules, int maxExecutors, int executors,
            List<byte[]> inputs, Map<String, Map<Long, Long>> seeds, String label, Run run) throws SyrupException {
        Set<String> internal = rules.ownMaps().keySet();
        try (BpfObject obj = PolicyObjects.open(object, rules)) {
            try {
                obj.load();
            } catch (BpfException | IllegalStateException e) {
                if (e instanceof VerifierException) {
                    throw PolicyObjects.installFailed(e, null); // the verifier's reason, as a deploy reports it
                }
                throw new SyrupException(Kind.KERNEL, "loading the policy failed: " + e.getMessage(), e);
            }
            seed(obj, internal, seeds);
            BpfProgram prog = obj.program(program);
            BpfMap counters = obj.map(DecisionStats.MAP);
            long[] counts = DecisionStats.sums(counters, maxExecutors);
            // The slots a decision most likely lands in are read first: executors 0..n-1, PASS, DROP, OTHER.
            int[] likely = new int[Math.min(executors, maxExecutors) + 3];
            for (int i = 0; i < likely.length - 3; i++) {
                likely[i] = i;
            }
            likely[likely.length - 3] = maxExecutors;
            likely[likely.length - 2] = maxExecutors + 1;
            likely[likely.length - 1] = maxExecutors + 2;
            List<Integer> decisions = new ArrayList<>(inputs.size());
            for (byte[] in : inputs) {
                run.run(obj, prog, in, 1);
                int changed = -1;
                for (int slot : likely) {
                    long now = DecisionStats.sum(counters, slot);
                    if (now != counts[slot]) {
                        counts[slot] = now;
                        changed = slot;
                        break;
                    }
                }
                if (changed < 0) {
                    long[] after = DecisionStats.sums(counters, maxExecutors);
                    for (int slot = 0; slot < after.length && changed < 0; slot++) {
                        if (after[slot] != counts[slot]) {
                            changed = slot;
                        }
                    }
                    counts = after;
                }
                decisions.add(decision(changed, maxExecutors));
            }
            long runs = 0;
            double ns = 0;
            List<byte[]> distinct = new ArrayList<>();
            for (byte[] in : inputs) {
                if (distinct.size() < TIMED_INPUTS && distinct.stream().noneMatch(d -> Arrays.equals(d, in))) {
                    distinct.add(in);
                }
            }
            for (byte[] in : distinct) {
                ns += run.run(obj, prog, in, TIMED_RUNS) * (double) TIMED_RUNS;
                runs += TIMED_RUNS;
            }
            return new TestResult(decisions, runs == 0 ? 0 : ns / runs, runs, label);
        } catch (BpfException | IllegalStateException | java.util.NoSuchElementException e) {
            throw new SyrupException(Kind.KERNEL, "test run failed: " + e.getMessage(), e);
        }
    }

    /** What the slot one run added to means: an index, PASS, DROP, OTHER; NONE (-1) when the policy did not run. */
    private static int decision(int slot, int maxExecutors) {
        return slot < 0 ? TestResult.NONE : slot < maxExecutors ? slot : slot == maxExecutors ? TestResult.PASS
                : slot == maxExecutors + 1 ? TestResult.DROP : TestResult.OTHER;
    }

    private static void seed(BpfObject obj, Set<String> internal, Map<String, Map<Long, Long>> seeds) throws SyrupException {
        for (Map.Entry<String, Map<Long, Long>> s : seeds.entrySet()) {
            String name = s.getKey();
            BpfMap m = internal.contains(name) || name.contains(".") || name.equals(DecisionStats.MAP) ? null
                    : obj.maps().stream().filter(x -> x.name().equals(name)).findFirst().orElse(null);
            if (m == null) {
                throw new SyrupException(Kind.INVALID, "the policy declares no map '" + name + "'; its maps: " + String.join(", ",
                        obj.maps().stream().map(BpfMap::name)
                                .filter(n -> !internal.contains(n) && !n.contains(".") && !n.equals(DecisionStats.MAP)).toList()));
            }
            if (m.keySize() != 4 || m.valueSize() != 8) {
                throw new SyrupException(Kind.INVALID, "map '" + name + "' is not u32 -> u64 (" + m.keySize() + "-byte keys, "
                        + m.valueSize() + "-byte values): it cannot be seeded from the command line");
            }
            for (Map.Entry<Long, Long> e : s.getValue().entrySet()) {
                long key = e.getKey();
                if (key < 0 || key > 0xffffffffL) {
                    throw new SyrupException(Kind.INVALID, "map '" + name + "': key " + key + " is not a u32");
                }
                byte[] k = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt((int) key).array();
                int width = m.lookupValueSize() / 8;
                ByteBuffer v = ByteBuffer.allocate(m.lookupValueSize()).order(ByteOrder.LITTLE_ENDIAN);
                for (int i = 0; i < width; i++) {
                    v.putLong(e.getValue()); // per-CPU Maps: every CPU's copy
                }
                try {
                    m.update(k, v.array());
                } catch (BpfException ex) {
                    throw new SyrupException(Kind.INVALID, "map '" + name + "': cannot set key " + key + ": " + ex.getMessage(), ex);
                }
            }
        }
    }
}
