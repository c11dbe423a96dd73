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
import dev.syrup.hook.kit.DecisionStats;
import dev.syrup.hook.kit.Glue;
import dev.syrup.hook.kit.MapRegistry;
import dev.syrup.hook.kit.PolicyObjects;
import dev.syrup.hook.kit.PolicyTestRun;
import dev.syrup.hook.kit.ProcSockets;
import dev.syrup.hook.kit.SharedMaps;
import dev.syrup.hook.spi.Executor;
import dev.syrup.hook.spi.Hook;
import dev.syrup.hook.spi.HookContext;
import dev.syrup.hook.spi.HookDeployment;
import dev.syrup.hook.spi.Input;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;

/**
 * Hook {@code socket_select}: picks the socket of a SO_REUSEPORT group that receives each UDP
 * datagram or new TCP connection ({@code sk_reuseport} program + {@code REUSEPORT_SOCKARRAY}).
 *
 * <p>Executors are the sockets bound to the port, adopted from whichever process holds them
 * (found through /proc, duplicated with pidfd_getfd); index = ascending socket inode, which is
 * the order the sockets were created in.
 *
 * <p>The policy is never attached to a group itself: each deployment claims its (protocol, port)
 * from the {@link Dispatcher}, whose one {@code sk_reuseport} root program is attached to the
 * port's group and tail-calls the policy in the deployment's slot. A policy thus only ever sees
 * its own port's inputs, and installing or replacing it is one slot update.
 */
@Component(service = Hook.class, property = Hook.NAME_PROPERTY + "=" + SocketSelectHook.NAME)
public final class SocketSelectHook implements Hook {

    public static final String NAME = "socket_select";

    /** The executor map the glue declares; not shown to users as one of the policy's Maps. */
    static final String EXECUTORS_MAP = "syr_executors";
    static final String PROGRAM = "syr_socket_select";
    /** Upper bound on executors per deployment (the sockarray's size). */
    static final int MAX_EXECUTORS = 128;

    /**
     * What a policy's object may be here: the glue's sk_reuseport program, the common helpers
     * plus selecting a socket and reading the datagram, the glue's maps, loaded with CAP_BPF
     * only (sk_reuseport is not a CAP_NET_ADMIN program type).
     */
    public static final ProgramRules RULES = ProgramRules.of(NAME)
            .withSection("sk_reuseport", ProgramType.SK_REUSEPORT)
            .withHelpers("bpf_sk_select_reuseport", "bpf_skb_load_bytes", "bpf_skb_load_bytes_relative")
            .withOwnMap(EXECUTORS_MAP, MapType.REUSEPORT_SOCKARRAY)
            .withOwnMap(DecisionStats.MAP, MapType.PERCPU_ARRAY)
            .withCapabilities(Capability.BPF);

    /**
     * {@link #testWrapper}'s XDP shim: the same policy helpers as {@link #RULES} (selecting a
     * socket has no meaning there), the shim's section, loaded as an XDP program is.
     */
    static final ProgramRules TEST_RULES = ProgramRules.of(NAME + " (test shim)")
            .withSection("xdp", ProgramType.XDP)
            .withOwnMap(DecisionStats.MAP, MapType.PERCPU_ARRAY)
            .withCapabilities(Capability.BPF, Capability.NET_ADMIN);

    private final ProcSockets proc;
    private final Dispatcher dispatcher;
    private final MapRegistry registry;

    /**
     * @param dispatcher the port-matching dispatcher every deployment of this hook goes through
     *                   (under OSGi the isolation bundle's service; in plain tests one made by hand)
     * @param registry   the owners' shared Maps (backend-ebpf's {@link MapRegistry} service)
     */
    @Activate
    public SocketSelectHook(@Reference Dispatcher dispatcher, @Reference MapRegistry registry) {
        this(new ProcSockets(), dispatcher, registry);
    }

    /** Outside OSGi: Maps are shared through {@link SharedMaps#standalone()}. */
    public SocketSelectHook(Dispatcher dispatcher) {
        this(new ProcSockets(), dispatcher, SharedMaps.standalone());
    }

    SocketSelectHook(ProcSockets proc, Dispatcher dispatcher) {
        this(proc, dispatcher, SharedMaps.standalone());
    }

    SocketSelectHook(ProcSockets proc, Dispatcher dispatcher, MapRegistry registry) {
        this.proc = proc;
        this.dispatcher = Objects.requireNonNull(dispatcher, "dispatcher");
        this.registry = Objects.requireNonNull(registry, "registry");
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public Input input() {
        return Input.DATAGRAM;
    }

    @Override
    public Executor executor() {
        return Executor.SOCKET;
    }

    @Override
    public Availability availability() {
        return KernelSupport.missing().map(Availability::no).orElse(Availability.yes());
    }

    @Override
    public String wrapper(String policyInclude) {
        return Glue.preamble(NAME, policyInclude) + """
                struct {
                	__uint(type, BPF_MAP_TYPE_REUSEPORT_SOCKARRAY);
                	__uint(max_entries, %d);
                	__type(key, __u32);
                	__type(value, __u64);
                } %s SEC(".maps");

                %s
                /* Tail-called by the dispatcher's root sk_reuseport program, for this port only. */
                SEC("sk_reuseport")
                int %s(struct sk_reuseport_md *md)
                {
                	/* md->data is the L4 header: what the paper's policies expect. */
                	__u32 idx = schedule(md->data, md->data_end);

                	syr__count(idx);
                	if (idx == SYR_PASS)
                		return SK_PASS;
                	if (idx == SYR_DROP)
                		return SK_DROP;
                	/* An index with no socket falls back to the kernel's hash. */
                	bpf_sk_select_reuseport(md, &%s, &idx, 0);
                	return SK_PASS;
                }

                """.formatted(MAX_EXECUTORS, EXECUTORS_MAP, Glue.counters(MAX_EXECUTORS), PROGRAM, EXECUTORS_MAP) + Glue.LICENSE;
    }

    /**
     * The claim a previous syrupd left for a deployment that is not coming back stops deciding,
     * and the root program comes off the port's group (it passes everything now, but would hold
     * the dispatcher's maps as long as the group lives).
     */
    @Override
    public void discard(Target target, Path pinDir) {
        if (!dispatcher.discard("socket_select", target) || target.iface().isPresent()) {
            return;
        }
        for (ProcSockets.Bound b : proc.bound(target.protocol(), target.port())) {
            try (dev.syrup.bpf.Fd pidfd = dev.syrup.bpf.Pidfd.open(b.pid());
                 dev.syrup.bpf.Fd socket = dev.syrup.bpf.Pidfd.getfd(pidfd, b.fd())) {
                dev.syrup.bpf.ReuseportGroup.detach(socket);
                return; // the group's program is the group's: one socket detaches it
            } catch (dev.syrup.bpf.BpfException e) {
                if (e.errno() == dev.syrup.bpf.Errno.ENOENT) {
                    return; // nothing attached
                }
                // that holder exited or closed it meanwhile: try the next
            }
        }
    }

    /** With an executor uid, only that uid's sockets are adopted, and none of another uid may be on the port. */
    @Override
    public HookDeployment open(Target target, HookContext context) throws SyrupException {
        if (target.iface().isPresent()) {
            throw new SyrupException(SyrupException.Kind.INVALID,
                    "socket_select works on a port's sockets, not on an interface (drop --iface)");
        }
        return SocketSelectDeployment.open(proc, registry, dispatcher, context.owner(), target, context.pinDir(),
                context.executorUid());
    }

    @Override
    public long mapBytes(Path object) throws SyrupException {
        return PolicyObjects.mapBytes(object, SocketSelectDeployment.INTERNAL_MAPS);
    }

    /** The program of {@link #testWrapper}. */
    static final String TEST_PROGRAM = "syr_test_sksel";

    /**
     * sk_reuseport programs cannot be test-run (ENOTSUPP): an XDP shim runs the same
     * {@code schedule()}, compiled the same way (inlined, {@code pkt_start} at the L4 header, the
     * same defines and counters), on the frame's L4 header and what follows.
     */
    @Override
    public String testWrapper(String policyInclude) {
        return Glue.preamble(NAME + " (schedule() in an XDP shim, for syrup:test)", policyInclude) + """
                %s
                SEC("xdp")
                int %s(struct xdp_md *ctx)
                {
                	void *data = (void *)(long)ctx->data;
                	void *end = (void *)(long)ctx->data_end;
                	/* What reaches a socket: IPv4 UDP/TCP, first fragment; md->data is its L4 header.
                	 * syr__l4 parses as the packet hooks' syr_l4 does, in constant steps (the shim is
                	 * verified without CAP_PERFMON, like the policy it carries). */
                	void *l4 = syr__l4(data, end);

                	if (l4 > end)
                		return XDP_ABORTED;
                	__u32 idx = schedule(l4, end);

                	syr__count(idx);
                	return XDP_PASS;
                }

                """.formatted(Glue.counters(MAX_EXECUTORS), TEST_PROGRAM) + Glue.LICENSE;
    }

    @Override
    public TestResult test(Path object, List<byte[]> inputs, Map<String, Map<Long, Long>> maps, int executors)
            throws SyrupException {
        return PolicyTestRun.run(object, TEST_PROGRAM, TEST_RULES, MAX_EXECUTORS, executors, inputs, maps,
                "xdp " + TEST_PROGRAM + " (socket_select's schedule() in an XDP shim: sk_reuseport cannot be test-run)");
    }
}
