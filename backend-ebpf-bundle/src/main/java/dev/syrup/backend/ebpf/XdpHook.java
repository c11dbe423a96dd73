package dev.syrup.backend.ebpf;

import dev.syrup.api.Availability;
import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
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
import dev.syrup.hook.spi.Executor;
import dev.syrup.hook.spi.Hook;
import dev.syrup.hook.spi.HookContext;
import dev.syrup.hook.spi.HookDeployment;
import dev.syrup.hook.spi.Input;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * Hooks {@code xdp_skb} and {@code xdp_drv} (paper §4.2, §5.4): the policy sees each packet of its
 * (protocol, port) on one interface from the Ethernet header on, before the network stack, and
 * returns the index of an AF_XDP socket of the application, {@code SYR_PASS} (on to the stack)
 * or {@code SYR_DROP}. The glue turns an index into {@code bpf_redirect_map} on the deployment's
 * {@code XSKMAP}; an index with no socket behind it falls back to {@code XDP_PASS}.
 *
 * <p>The policy runs in the interface's slot of the {@link Dispatcher}'s XDP root program
 * ({@link Dispatcher#claimXdp}), generic mode for {@code xdp_skb}, native (driver) mode for
 * {@code xdp_drv}; an interface runs one mode at a time.
 *
 * <p>Executors are registered by the application after deploying
 * ({@link HookDeployment#registerExecutor}: its AF_XDP socket, duplicated with pidfd_getfd), so a
 * deployment starts with none: pass {@code -D NUM_EXECUTORS=n}. An AF_XDP socket receives only
 * from the queue it is bound to: bind the sockets to the queues the packets arrive on.
 */
public abstract class XdpHook implements Hook {

    /** The executor map the glue declares; not shown to users as one of the policy's Maps. */
    static final String EXECUTORS_MAP = "syr_xsks";
    static final String PROGRAM = "syr_xdp_sock";
    /** Upper bound on executors per deployment (the XSKMAP's size). */
    public static final int MAX_EXECUTORS = 64;

    private final Dispatcher dispatcher;
    private final MapRegistry registry;
    private final XdpMode mode;

    XdpHook(Dispatcher dispatcher, MapRegistry registry, XdpMode mode) {
        this.dispatcher = Objects.requireNonNull(dispatcher, "dispatcher");
        this.registry = Objects.requireNonNull(registry, "registry");
        this.mode = mode;
    }

    /**
     * What a policy's object may be at {@code hook}: the glue's XDP program, the common helpers
     * plus the redirect into the XSKMAP and reading the packet, the glue's maps, loaded with
     * CAP_BPF and CAP_NET_ADMIN (XDP is a CAP_NET_ADMIN program type).
     */
    public static ProgramRules rules(String hook) {
        return ProgramRules.of(hook)
                .withSection("xdp", ProgramType.XDP)
                .withHelpers("bpf_redirect_map", "bpf_xdp_get_buff_len", "bpf_xdp_load_bytes")
                .withOwnMap(EXECUTORS_MAP, MapType.XSKMAP)
                .withOwnMap(DecisionStats.MAP, MapType.PERCPU_ARRAY)
                .withCapabilities(Capability.BPF, Capability.NET_ADMIN);
    }

    public XdpMode mode() {
        return mode;
    }

    @Override
    public Input input() {
        return Input.PACKET;
    }

    @Override
    public Executor executor() {
        return Executor.XDP_SOCKET;
    }

    @Override
    public Availability availability() {
        return KernelSupport.missing().map(Availability::no).orElse(Availability.yes());
    }

    @Override
    public String wrapper(String policyInclude) {
        return Glue.preamble(name(), policyInclude, true, """
                #if NUM_EXECUTORS < 1
                #error "%s: the executors are AF_XDP sockets the application registers after deploying; pass -D NUM_EXECUTORS=<how many>"
                #endif""".formatted(name())) + """
                /* Executor index -> the application's AF_XDP socket (syrupd fills it on REGISTER_SOCKET). */
                struct {
                	__uint(type, BPF_MAP_TYPE_XSKMAP);
                	__uint(max_entries, %1$d);
                	__type(key, __u32);
                	__type(value, __u32);
                } %2$s SEC(".maps");

                %4$s
                /* Tail-called by the interface's root XDP program, for this port only. */
                SEC("xdp")
                int %3$s(struct xdp_md *ctx)
                {
                	/* pkt_start is the Ethernet header: syr_l4() finds the UDP/TCP header. */
                	__u32 idx = schedule((void *)(long)ctx->data, (void *)(long)ctx->data_end);

                	syr__count(idx);
                	if (idx == SYR_PASS)
                		return XDP_PASS;
                	if (idx == SYR_DROP)
                		return XDP_DROP;
                	/* No socket at idx: XDP_PASS (the flags' low bits are the fallback action). */
                	return bpf_redirect_map(&%2$s, idx, XDP_PASS);
                }

                """.formatted(MAX_EXECUTORS, EXECUTORS_MAP, PROGRAM, Glue.counters(MAX_EXECUTORS)) + Glue.LICENSE;
    }

    /** The claim a previous syrupd left for a deployment that is not coming back stops deciding. */
    @Override
    public void discard(Target target, Path pinDir) {
        dispatcher.discard("xdp", target);
    }

    @Override
    public HookDeployment open(Target target, HookContext context) throws SyrupException {
        Path pinDir = context.pinDir();
        if (target.iface().isEmpty()) {
            throw new SyrupException(Kind.INVALID, name() + " works on an interface's packets: give one (--iface)");
        }
        Dispatcher.Claim claim;
        try {
            claim = dispatcher.claimXdp(context.owner(), target, mode, pinDir);
        } catch (SyrupException e) {
            if (e.kind() == Kind.CONFLICT && e.getMessage().contains("cannot share")) {
                String other = mode == XdpMode.SKB ? "xdp_drv" : "xdp_skb";
                throw new SyrupException(Kind.CONFLICT, name() + " runs XDP in " + (mode == XdpMode.SKB
                        ? "generic (skb)" : "native (driver)") + " mode, but " + e.getMessage()
                        + "; deploy at " + other + " on " + target.iface().get() + ", or undeploy what runs there first", e);
            }
            throw e;
        }
        return XdpDeployment.open(registry, claim, target, pinDir, name());
    }

    static String label(XdpMode mode) {
        return mode.name().toLowerCase(Locale.ROOT);
    }

    @Override
    public long mapBytes(Path object) throws SyrupException {
        return PolicyObjects.mapBytes(object, XdpDeployment.INTERNAL_MAPS);
    }

    @Override
    public TestResult test(Path object, List<byte[]> inputs, Map<String, Map<Long, Long>> maps, int executors)
            throws SyrupException {
        return PolicyTestRun.run(object, PROGRAM, rules(name()), MAX_EXECUTORS, executors, inputs, maps,
                "xdp " + PROGRAM + " (the object " + name() + " deploys)");
    }
}
