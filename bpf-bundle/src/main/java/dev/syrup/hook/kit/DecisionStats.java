package dev.syrup.hook.kit;

import dev.syrup.api.DeploymentStats;
import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
import dev.syrup.bpf.BpfException;
import dev.syrup.bpf.BpfMap;
import dev.syrup.bpf.MapType;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * Per-deployment decision counters, shared by every hook's generated glue: a
 * {@code PERCPU_ARRAY} ({@value #MAP}) of u64 with one slot per executor index
 * ({@code 0 .. maxExecutors-1}), then PASS, DROP and OTHER (an index beyond the slots).
 *
 * <p>A hook's wrapper puts {@link #declare(int)} after the policy and calls
 * {@code syr__count(idx)} right after {@code schedule()} returns: one per-CPU lookup and a
 * plain add (per-CPU, so no atomic). The map belongs to the deployment, not to a policy
 * version: the deployment creates it with {@link #create(int)} and hands it to every object it
 * loads ({@code BpfObject.reuseMap(MAP, map)}), so counts survive {@code --replace}. It is not
 * one of the policy's Maps (not pinned, not listed), like the executor map.
 *
 * <pre>
 * __u32 idx = schedule(start, end);
 * syr__count(idx);
 * </pre>
 *
 * <p>A hook of another bundle does the same: {@link #declare} in its wrapper,
 * {@link #create} per deployment, {@code reuseMap(MAP, ...)} before each load, list
 * {@link #MAP} among its own maps (not shared, not pinned), and {@link #read} for
 * {@link dev.syrup.hook.spi.HookDeployment#stats}.
 */
public final class DecisionStats {

    /** Map name in the glue (internal: policies must not declare it). */
    public static final String MAP = "syr_stats";

    private DecisionStats() {}


    /** Number of slots for {@code maxExecutors} executors: executors, PASS, DROP, OTHER. */
    public static int slots(int maxExecutors) {
        return maxExecutors + 3;
    }

    /**
     * The C declaration of the counter map and of {@code syr__count(__u32 idx)}; needs
     * {@code syrup.h} (SYR_PASS, SYR_DROP, the BPF helpers) included before it.
     */
    public static String declare(int maxExecutors) {
        return declare(maxExecutors, "BPF_MAP_TYPE_PERCPU_ARRAY", "*n += 1;\t/* this CPU's own slot: no atomic needed */");
    }

    /**
     * As {@link #declare}, for a program whose maps cannot be per-CPU (NIC offload runs HASH and
     * ARRAY maps only): one {@code ARRAY} of the same slots, each count an atomic add (which
     * offload supports). {@link #read} reads either.
     */
    public static String declareShared(int maxExecutors) {
        return declare(maxExecutors, "BPF_MAP_TYPE_ARRAY", "__sync_fetch_and_add(n, 1);\t/* shared by every CPU */");
    }

    private static String declare(int maxExecutors, String type, String add) {
        return """
                /* Decision counters (syrupd's, not the policy's): executors 0..%1$d, then PASS, DROP, OTHER. */
                struct {
                	__uint(type, %7$s);
                	__uint(max_entries, %2$d);
                	__type(key, __u32);
                	__type(value, __u64);
                } %3$s SEC(".maps");

                static __always_inline void syr__count(__u32 idx)
                {
                	__u32 slot = idx < %4$d ? idx : idx == SYR_PASS ? %4$d : idx == SYR_DROP ? %5$d : %6$d;
                	__u64 *n = bpf_map_lookup_elem(&%3$s, &slot);

                	if (n)
                		%8$s
                }
                """.formatted(maxExecutors - 1, slots(maxExecutors), MAP, maxExecutors, maxExecutors + 1,
                maxExecutors + 2, type, add);
    }

    /** A new, zeroed counter map for one deployment. */
    public static BpfMap create(int maxExecutors) {
        return BpfMap.create(MapType.PERCPU_ARRAY, MAP, 4, 8, slots(maxExecutors), 0);
    }

    /** Every slot, summed over CPUs: executors 0..maxExecutors-1, then PASS, DROP, OTHER. */
    public static long[] sums(BpfMap map, int maxExecutors) {
        long[] sums = new long[slots(maxExecutors)];
        for (int slot = 0; slot < sums.length; slot++) {
            sums[slot] = sum(map, slot);
        }
        return sums;
    }

    /** One slot, summed over CPUs. */
    public static long sum(BpfMap map, int slot) {
        int cpus = map.lookupValueSize() / 8;
        byte[] key = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(slot).array();
        byte[] v = map.lookup(key).orElse(null);
        long sum = 0;
        if (v != null) {
            ByteBuffer b = ByteBuffer.wrap(v).order(ByteOrder.LITTLE_ENDIAN);
            for (int cpu = 0; cpu < cpus; cpu++) {
                sum += b.getLong(cpu * 8);
            }
        }
        return sum;
    }

    /**
     * Reads every slot and sums it over CPUs. {@code executors} limits how many executor
     * entries are reported (the deployment's executor count); decisions for higher indexes
     * inside the slots are still reported, so nothing counted is hidden.
     */
    public static DeploymentStats read(BpfMap map, int maxExecutors, int executors) throws SyrupException {
        try {
            int cpus = map.lookupValueSize() / 8;
            long[] sums = new long[slots(maxExecutors)];
            for (int slot = 0; slot < sums.length; slot++) {
                byte[] key = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(slot).array();
                byte[] v = map.lookup(key).orElse(null);
                if (v == null) {
                    continue;
                }
                ByteBuffer b = ByteBuffer.wrap(v).order(ByteOrder.LITTLE_ENDIAN);
                long sum = 0;
                for (int cpu = 0; cpu < cpus; cpu++) {
                    sum += b.getLong(cpu * 8);
                }
                sums[slot] = sum;
            }
            int shown = Math.max(0, Math.min(executors, maxExecutors));
            for (int i = maxExecutors - 1; i >= shown; i--) {
                if (sums[i] != 0) {
                    shown = i + 1;
                    break;
                }
            }
            List<Long> per = new ArrayList<>(shown);
            for (int i = 0; i < shown; i++) {
                per.add(sums[i]);
            }
            return new DeploymentStats(per, sums[maxExecutors], sums[maxExecutors + 1], sums[maxExecutors + 2]);
        } catch (BpfException | IllegalStateException e) {
            throw new SyrupException(Kind.KERNEL, "reading the decision counters failed: " + e.getMessage(), e);
        }
    }
}
