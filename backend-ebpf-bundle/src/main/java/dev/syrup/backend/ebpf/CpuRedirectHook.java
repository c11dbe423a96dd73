package dev.syrup.backend.ebpf;

import dev.syrup.api.Availability;
import dev.syrup.api.SyrupException;
import dev.syrup.api.Target;
import dev.syrup.api.TestResult;
import dev.syrup.bpf.Capability;
import dev.syrup.bpf.KernelSupport;
import dev.syrup.bpf.MapType;
import dev.syrup.bpf.ProgramRules;
import dev.syrup.bpf.ProgramType;
import dev.syrup.dispatch.Dispatcher;
import dev.syrup.dispatch.Dispatcher.XdpMode;
import dev.syrup.hook.kit.DecisionStats;
import dev.syrup.hook.kit.Glue;
import dev.syrup.hook.kit.MapRegistry;
import dev.syrup.hook.kit.PolicyObjects;
import dev.syrup.hook.kit.PolicyTestRun;
import dev.syrup.hook.kit.SharedMaps;
import dev.syrup.hook.spi.Executor;
import dev.syrup.hook.spi.Hook;
import dev.syrup.hook.spi.HookContext;
import dev.syrup.hook.spi.HookDeployment;
import dev.syrup.hook.spi.Input;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.TreeSet;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.Designate;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;

/**
 * Hook {@code cpu_redirect}: picks the core that processes each packet of a port (paper §5.4's
 * RSS++-style steering). Input: the packet from its Ethernet header (the glue defines
 * {@code SYR_PKT_L2}; {@code syr_l4()} finds the UDP/TCP header). Executors: the configured
 * cores; index i redirects the packet through the deployment's {@code CPUMAP} to core
 * {@code cores[i]}, where the kernel's cpumap thread builds the skb and runs the normal stack.
 * {@code PASS} lets the packet go on on the receiving core, {@code DROP} drops it; an index
 * with no core passes it.
 *
 * <p>The policy is an XDP program tail-called by the interface's root dispatcher for its own
 * (protocol, port) only ({@link Dispatcher#claimXdp}); the root is attached in the configured
 * mode (generic by default).
 *
 * <p>Each CPUMAP entry also runs a second-stage program ({@code SEC("xdp/cpumap")}) on the
 * target core that counts arrivals per CPU ({@code syr_cpu_packets}, key = the CPU the packet
 * was processed on), so where packets really landed is observable.
 */
@Component(service = Hook.class, property = Hook.NAME_PROPERTY + "=" + CpuRedirectHook.NAME,
        configurationPid = CpuRedirectHook.PID)
@Designate(ocd = CpuRedirectHook.Config.class)
public final class CpuRedirectHook implements Hook {

    public static final String NAME = "cpu_redirect";
    public static final String PID = "dev.syrup.hook.cpu_redirect";

    static final String PROGRAM = "syr_cpu_redirect";
    static final String STAGE_PROGRAM = "syr_cpu_arrive";
    static final String CPUMAP = "syr_cpumap";
    static final String CORES_MAP = "syr_cores";
    /** Arrivals per CPU, counted by the second stage on the core the packet was steered to. */
    public static final String COUNTER_MAP = "syr_cpu_packets";
    static final int DEFAULT_QSIZE = 2048;
    /** Executor slots of the decision counters ({@link DecisionStats}); higher indexes count as OTHER. */
    static final int MAX_EXECUTORS = 128;

    /**
     * What a policy's object may be here: the glue's two XDP programs, the common helpers plus
     * the redirect into the CPUMAP and reading the packet, the glue's maps, loaded with CAP_BPF
     * and CAP_NET_ADMIN (XDP is a CAP_NET_ADMIN program type).
     */
    public static final ProgramRules RULES = ProgramRules.of(NAME)
            .withSection("xdp", ProgramType.XDP)
            .withSection("xdp/cpumap", ProgramType.XDP)
            .withHelpers("bpf_redirect_map", "bpf_xdp_get_buff_len", "bpf_xdp_load_bytes")
            .withOwnMap(CPUMAP, MapType.CPUMAP)
            .withOwnMap(CORES_MAP, MapType.ARRAY)
            .withOwnMap(COUNTER_MAP, MapType.ARRAY)
            .withOwnMap(DecisionStats.MAP, MapType.PERCPU_ARRAY)
            .withCapabilities(Capability.BPF, Capability.NET_ADMIN);

    @ObjectClassDefinition(name = "Syrup cpu_redirect hook")
    public @interface Config {
        @AttributeDefinition(description = "Executor cores, in index order: a list such as \"0,1\" or \"2-5,7\"; empty = every online CPU")
        String cores() default "";

        @AttributeDefinition(description = "XDP mode of the interface's root program: skb (generic, default) or drv (native)")
        String mode() default "skb";

        @AttributeDefinition(description = "Packets queued per core in the CPUMAP (bpf_cpumap_val.qsize)")
        int qsize() default DEFAULT_QSIZE;
    }

    private final Dispatcher dispatcher;
    private final MapRegistry registry;
    private final List<Integer> cores;
    private final XdpMode mode;
    private final int qsize;
    /** Why the configuration cannot be used, shown as the hook's unavailability; null when it can. */
    private final String configError;

    /** Under OSGi: a configuration it cannot use makes the hook unavailable with the reason (it still registers). */
    @Activate
    public CpuRedirectHook(@Reference Dispatcher dispatcher, @Reference MapRegistry registry, Config config) {
        this(dispatcher, registry, Settings.of(config));
    }

    /** Outside OSGi: Maps are shared through {@link SharedMaps#standalone()}. */
    public CpuRedirectHook(Dispatcher dispatcher, Config config) {
        this(dispatcher, SharedMaps.standalone(), Settings.of(config));
    }

    /**
     * @param cores executor cores in index order; empty = every online CPU
     */
    public CpuRedirectHook(Dispatcher dispatcher, List<Integer> cores, XdpMode mode, int qsize) {
        this(dispatcher, SharedMaps.standalone(), new Settings(cores, mode, qsize, null));
        if (qsize < 1) {
            throw new IllegalArgumentException("qsize must be positive: " + qsize);
        }
    }

    private CpuRedirectHook(Dispatcher dispatcher, MapRegistry registry, Settings s) {
        this.dispatcher = Objects.requireNonNull(dispatcher, "dispatcher");
        this.registry = Objects.requireNonNull(registry, "registry");
        this.cores = s.cores.isEmpty() ? onlineCpus() : List.copyOf(s.cores);
        this.mode = Objects.requireNonNull(s.mode, "mode");
        this.qsize = Math.max(1, s.qsize);
        this.configError = s.error;
    }

    private record Settings(List<Integer> cores, XdpMode mode, int qsize, String error) {
        static Settings of(Config c) {
            try {
                if (c.qsize() < 1) {
                    throw new IllegalArgumentException("qsize must be positive: " + c.qsize());
                }
                return new Settings(parseCores(c.cores()), parseMode(c.mode()), c.qsize(), null);
            } catch (IllegalArgumentException e) {
                return new Settings(List.of(), XdpMode.SKB, DEFAULT_QSIZE, "bad configuration " + PID + ": " + e.getMessage());
            }
        }
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public Input input() {
        return Input.PACKET;
    }

    @Override
    public Executor executor() {
        return Executor.CORE;
    }

    public List<Integer> cores() {
        return cores;
    }

    public XdpMode mode() {
        return mode;
    }

    @Override
    public Availability availability() {
        if (configError != null) {
            return Availability.no(configError);
        }
        return KernelSupport.missing().map(Availability::no).orElse(Availability.yes());
    }

    @Override
    public String wrapper(String policyInclude) {
        return Glue.preamble(NAME, policyInclude, true, "") + """
                /* CPU -> per-core queue and thread (keys are CPU numbers). */
                struct {
                	__uint(type, BPF_MAP_TYPE_CPUMAP);
                	__uint(max_entries, 1);
                	__type(key, __u32);
                	__type(value, struct bpf_cpumap_val);
                } %1$s SEC(".maps");

                /* Executor index -> CPU (syrupd fills it from the hook's cores). */
                struct {
                	__uint(type, BPF_MAP_TYPE_ARRAY);
                	__uint(max_entries, 1);
                	__type(key, __u32);
                	__type(value, __u32);
                } %2$s SEC(".maps");

                /* Packets that arrived on each CPU through the CPUMAP. */
                struct {
                	__uint(type, BPF_MAP_TYPE_ARRAY);
                	__uint(max_entries, 1);
                	__type(key, __u32);
                	__type(value, __u64);
                } %3$s SEC(".maps");

                %6$s
                /* Tail-called by the interface's root XDP program, for this port only. */
                SEC("xdp")
                int %4$s(struct xdp_md *ctx)
                {
                	void *data = (void *)(long)ctx->data;
                	void *data_end = (void *)(long)ctx->data_end;
                	__u32 idx = schedule(data, data_end);
                	__u32 *cpu;

                	syr__count(idx);
                	if (idx == SYR_PASS)
                		return XDP_PASS;
                	if (idx == SYR_DROP)
                		return XDP_DROP;
                	cpu = bpf_map_lookup_elem(&%2$s, &idx);
                	if (!cpu)
                		return XDP_PASS; /* no such executor: the default */
                	/* The flags' low bits are the action when the CPU has no entry. */
                	return bpf_redirect_map(&%1$s, *cpu, XDP_PASS);
                }

                /* Runs on the target core, before the skb is built (or on it, in generic mode). */
                SEC("xdp/cpumap")
                int %5$s(struct xdp_md *ctx)
                {
                	__u32 cpu = bpf_get_smp_processor_id();
                	__u64 *n = bpf_map_lookup_elem(&%3$s, &cpu);

                	if (n)
                		__sync_fetch_and_add(n, 1);
                	return XDP_PASS;
                }

                """.formatted(CPUMAP, CORES_MAP, COUNTER_MAP, PROGRAM, STAGE_PROGRAM,
                Glue.counters(MAX_EXECUTORS)) + Glue.LICENSE;
    }

    /** The claim a previous syrupd left for a deployment that is not coming back stops deciding. */
    @Override
    public void discard(Target target, Path pinDir) {
        dispatcher.discard("xdp", target);
    }

    @Override
    public HookDeployment open(Target target, HookContext context) throws SyrupException {
        if (target.iface().isEmpty()) {
            throw new SyrupException(SyrupException.Kind.INVALID,
                    "cpu_redirect schedules an interface's packets: give the interface (--iface)");
        }
        return CpuRedirectDeployment.open(registry, dispatcher, context.owner(), target, context.pinDir(),
                cores, mode, qsize);
    }

    /** "0,1", "2-5,7" → [0, 1], [2, 3, 4, 5, 7]; empty → empty. Order is kept, duplicates refused. */
    public static List<Integer> parseCores(String spec) {
        List<Integer> out = new ArrayList<>();
        if (spec == null || spec.isBlank()) {
            return out;
        }
        for (String part : spec.split(",")) {
            String p = part.trim();
            if (p.isEmpty()) {
                continue;
            }
            int dash = p.indexOf('-');
            int from = Integer.parseInt(dash < 0 ? p : p.substring(0, dash).trim());
            int to = dash < 0 ? from : Integer.parseInt(p.substring(dash + 1).trim());
            if (from < 0 || to < from) {
                throw new IllegalArgumentException("bad core range '" + p + "' in \"" + spec + "\"");
            }
            for (int c = from; c <= to; c++) {
                if (out.contains(c)) {
                    throw new IllegalArgumentException("core " + c + " listed twice in \"" + spec + "\"");
                }
                out.add(c);
            }
        }
        return out;
    }

    static XdpMode parseMode(String mode) {
        return switch (mode == null ? "skb" : mode.trim().toLowerCase(Locale.ROOT)) {
            case "", "skb", "generic" -> XdpMode.SKB;
            case "drv", "native", "driver" -> XdpMode.DRV;
            default -> throw new IllegalArgumentException("XDP mode '" + mode + "': expected skb or drv");
        };
    }

    /** /sys/devices/system/cpu/online, e.g. "0-1"; [0] when it cannot be read. */
    static List<Integer> onlineCpus() {
        try {
            return List.copyOf(new TreeSet<>(parseCores(Files.readString(Path.of("/sys/devices/system/cpu/online")).trim())));
        } catch (IOException | IllegalArgumentException e) {
            return List.of(0);
        }
    }

    @Override
    public long mapBytes(Path object) throws SyrupException {
        return PolicyObjects.mapBytes(object, CpuRedirectDeployment.INTERNAL_MAPS);
    }

    @Override
    public TestResult test(Path object, List<byte[]> inputs, Map<String, Map<Long, Long>> maps, int executors)
            throws SyrupException {
        return PolicyTestRun.run(object, PROGRAM, RULES, MAX_EXECUTORS, executors, inputs, maps,
                "xdp " + PROGRAM + " (the object cpu_redirect deploys)");
    }
}
