package example.sklookup;

import dev.syrup.api.Availability;
import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
import dev.syrup.api.Target;
import dev.syrup.api.TestResult;
import dev.syrup.bpf.BpfException;
import dev.syrup.bpf.BpfObject;
import dev.syrup.bpf.BpfProgram;
import dev.syrup.bpf.Capability;
import dev.syrup.bpf.KernelSupport;
import dev.syrup.bpf.MapType;
import dev.syrup.bpf.ProgramRules;
import dev.syrup.bpf.ProgramType;
import dev.syrup.hook.kit.DecisionStats;
import dev.syrup.hook.kit.Glue;
import dev.syrup.hook.kit.MapRegistry;
import dev.syrup.hook.kit.PolicyObjects;
import dev.syrup.hook.kit.PolicyTestRun;
import dev.syrup.hook.kit.ProcSockets;
import dev.syrup.hook.spi.Executor;
import dev.syrup.hook.spi.Hook;
import dev.syrup.hook.spi.HookContext;
import dev.syrup.hook.spi.HookDeployment;
import dev.syrup.hook.spi.Input;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;

/**
 * Hook {@code sk_lookup}: a {@code BPF_PROG_TYPE_SK_LOOKUP} program, attached to syrupd's
 * network namespace with a BPF link, picks the socket that receives each UDP datagram (or TCP
 * connection) sent to the deployment's port — among sockets bound to <em>other</em> ports.
 *
 * <p>Executors: the sockets (unconnected UDP, listening TCP) bound in syrupd's namespace to the
 * {@link #span} ports right after the deployment's port, {@code P+1 .. P+span} (8 by default,
 * component property {@code executor.ports}), by whoever holds them; index order is port, then
 * socket inode. Nothing needs to be bound to {@code P} itself. They sit in a {@code SOCKMAP};
 * the glue looks the policy's index up there and hands the socket to {@code bpf_sk_assign}.
 *
 * <p>Isolation: every sk_lookup program of a namespace sees every socket lookup there, so the
 * glue itself compares the lookup's protocol and local port with the deployment's (held in the
 * glue's one-entry config map) and passes everything else on untouched, before the policy runs.
 * The isolation bundle's {@code Dispatcher} serves sk_reuseport and XDP only; the kernel runs
 * each netns link in turn, so one link per deployment needs no dispatcher. This hook refuses a
 * second deployment on a (protocol, port) it already serves ({@code CONFLICT}).
 *
 * <p>What every hook does the same way comes from Syrup's hook kit ({@code dev.syrup.hook.kit}):
 * the glue's preamble and decision counters ({@link Glue}), the deployment's installs, Maps,
 * re-adoption and stats ({@link SkLookupDeployment} is a kit {@code PolicyDeployment}), the Map
 * registry the owner's Maps are shared through with its deployments at other hooks, socket
 * adoption ({@link ProcSockets}) and {@code syrup:test} ({@link PolicyTestRun}).
 */
@Component(service = Hook.class, property = Hook.NAME_PROPERTY + "=" + SkLookupHook.NAME)
public final class SkLookupHook implements Hook {

    public static final String NAME = "sk_lookup";
    static final String PROGRAM = "syr_sk_lookup";
    static final String EXECUTORS_MAP = "syr_sklk_socks";
    static final String PORT_MAP = "syr_sklk_port";
    /** The SOCKMAP's size: at most this many executors. */
    static final int MAX_EXECUTORS = 64;
    static final int DEFAULT_SPAN = 8;

    /**
     * What a policy's object may be here: one sk_lookup program (loaded with CAP_BPF and
     * CAP_NET_ADMIN, which the kernel requires of this program type), the common helpers plus
     * assigning and releasing a socket, the glue's two maps.
     */
    static final ProgramRules RULES = ProgramRules.of(NAME)
            .withSection("sk_lookup", ProgramType.SK_LOOKUP)
            .withHelpers("bpf_sk_assign", "bpf_sk_release")
            .withOwnMap(EXECUTORS_MAP, MapType.SOCKMAP)
            .withOwnMap(PORT_MAP, MapType.ARRAY)
            .withOwnMap(DecisionStats.MAP, MapType.PERCPU_ARRAY)
            .withCapabilities(Capability.BPF, Capability.NET_ADMIN);

    private final MapRegistry registry;
    private final ProcSockets sockets;
    private final int span;
    /** (protocol/port) to owner, of this hook's open deployments. */
    private final Map<String, String> claims = new HashMap<>();

    /** @param registry the Map registry of syrupd's BPF backend: the owner's Maps are shared through it */
    @Activate
    public SkLookupHook(@Reference MapRegistry registry, Map<String, Object> config) {
        this(registry, new ProcSockets(), span(config.get("executor.ports")));
    }

    SkLookupHook(MapRegistry registry, ProcSockets sockets, int span) {
        if (span < 1 || span > MAX_EXECUTORS) {
            throw new IllegalArgumentException("executor.ports must be 1.." + MAX_EXECUTORS + ", not " + span);
        }
        this.registry = registry;
        this.sockets = sockets;
        this.span = span;
    }

    private static int span(Object v) {
        return v == null ? DEFAULT_SPAN : Integer.parseInt(v.toString().strip());
    }

    /** How many ports after the deployment's are searched for executors. */
    public int span() {
        return span;
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

    /**
     * sk_lookup runs before any payload is read, and its context has no packet pointers: the
     * policy gets an empty input ({@code pkt_start == pkt_end}), so a bounds-checked read sees
     * nothing and content-blind policies (round_robin, random, Map-driven ones) work as written.
     * {@code schedule()} is inlined (static inline, declared before the policy) as at the
     * in-tree hooks.
     */
    @Override
    public String wrapper(String policyInclude) {
        return Glue.preamble(NAME + " (example plugin)", policyInclude) + """
                struct {
                	__uint(type, BPF_MAP_TYPE_SOCKMAP);
                	__uint(max_entries, %1$d);
                	__type(key, __u32);
                	__type(value, __u64);
                } %2$s SEC(".maps");

                /* Entry 0: (IPPROTO_x << 16) | port, the deployment's target, set by syrupd. */
                struct {
                	__uint(type, BPF_MAP_TYPE_ARRAY);
                	__uint(max_entries, 1);
                	__type(key, __u32);
                	__type(value, __u32);
                } %3$s SEC(".maps");

                %5$s
                SEC("sk_lookup")
                int %4$s(struct bpf_sk_lookup *ctx)
                {
                	__u32 zero = 0;
                	__u32 *want = bpf_map_lookup_elem(&%3$s, &zero);

                	/* Every lookup of the namespace comes here: only the target's are ours. */
                	if (!want || ctx->local_port != (*want & 0xffff) || ctx->protocol != (*want >> 16))
                		return SK_PASS;
                	__u32 idx = schedule((void *)0, (void *)0);

                	syr__count(idx);
                	if (idx == SYR_PASS)
                		return SK_PASS;
                	if (idx == SYR_DROP)
                		return SK_DROP;
                	struct bpf_sock *sk = bpf_map_lookup_elem(&%2$s, &idx);
                	/* An index with no socket: the kernel's own lookup decides. */
                	if (!sk)
                		return SK_PASS;
                	bpf_sk_assign(ctx, sk, 0);
                	bpf_sk_release(sk);
                	return SK_PASS;
                }

                """.formatted(MAX_EXECUTORS, EXECUTORS_MAP, PORT_MAP, PROGRAM, Glue.counters(MAX_EXECUTORS)) + Glue.LICENSE;
    }

    /**
     * With {@code executorUid} (a tenant), {@code DENIED} unless that uid holds a socket on the
     * port itself, and while a socket of another uid is bound to the port or to an executor
     * port: a tenant may neither steer another's inputs nor schedule onto another's sockets.
     */
    @Override
    public HookDeployment open(Target target, HookContext context) throws SyrupException {
        Path pinDir = context.pinDir();
        OptionalInt executorUid = context.executorUid();
        if (target.iface().isPresent()) {
            throw new SyrupException(Kind.INVALID, "sk_lookup works on a port of syrupd's network namespace, not on an interface (drop --iface)");
        }
        if (target.port() + span > 65535) {
            throw new SyrupException(Kind.INVALID, "port " + target.port() + " leaves no room for executor ports "
                    + (target.port() + 1) + ".." + (target.port() + span));
        }
        String owner = context.owner();
        String key = target.protocol().label() + "/" + target.port();
        synchronized (claims) {
            String holder = claims.get(key);
            if (holder != null) {
                throw new SyrupException(Kind.CONFLICT, target + " at sk_lookup is held by " + holder);
            }
            claims.put(key, owner);
        }
        try {
            return SkLookupDeployment.open(registry, span, sockets, target, pinDir, executorUid, () -> {
                synchronized (claims) {
                    claims.remove(key);
                }
            });
        } catch (SyrupException | RuntimeException e) {
            synchronized (claims) {
                claims.remove(key);
            }
            throw e;
        }
    }

    /** Map memory the policy declares, the glue's own maps excluded; read without loading anything. */
    @Override
    public long mapBytes(Path object) throws SyrupException {
        return PolicyObjects.mapBytes(object, RULES.ownMaps().keySet());
    }

    /**
     * sk_lookup programs can be test-run (BPF_PROG_TEST_RUN with a {@code struct bpf_sk_lookup}
     * as the context, no packet): the very object a deployment loads runs once per input, the
     * lookup made from the frame's IPv4 addresses, protocol and ports, and the port map set to
     * that lookup's (protocol, port) so the glue lets the policy decide.
     */
    @Override
    public TestResult test(Path object, List<byte[]> inputs, Map<String, Map<Long, Long>> maps, int executors)
            throws SyrupException {
        return PolicyTestRun.run(object, PROGRAM, RULES, MAX_EXECUTORS, executors, inputs, maps,
                "sk_lookup " + PROGRAM + " (the object sk_lookup deploys, on a lookup made from each frame)", SkLookupHook::run);
    }

    private static long run(BpfObject obj, BpfProgram program, byte[] frame, int repeat) throws SyrupException {
        ByteBuffer f = ByteBuffer.wrap(frame).order(ByteOrder.BIG_ENDIAN);
        int l3 = 14;
        if (frame.length < l3 + 20 || f.getShort(12) != 0x0800 || (f.get(l3) >> 4) != 4) {
            throw new SyrupException(Kind.INVALID, "sk_lookup tests take IPv4 frames (a lookup is made from their addresses and ports)");
        }
        int protocol = f.get(l3 + 9) & 0xff;
        int l4 = l3 + (f.get(l3) & 0x0f) * 4;
        if ((protocol != 6 && protocol != 17) || frame.length < l4 + 4) {
            throw new SyrupException(Kind.INVALID, "sk_lookup tests take UDP or TCP frames, not IP protocol " + protocol);
        }
        int localPort = f.getShort(l4 + 2) & 0xffff;
        // struct bpf_sk_lookup: cookie@0, family@8, protocol@12, remote_ip4@16, remote_port@36
        // (network order), local_ip4@40, local_port@60 (host order), ingress_ifindex@64 (zero in a test)
        ByteBuffer ctx = ByteBuffer.allocate(72).order(ByteOrder.nativeOrder());
        ctx.putInt(8, 2 /* AF_INET */);
        ctx.putInt(12, protocol);
        ctx.put(16, frame, l3 + 12, 4);
        ctx.put(36, frame, l4, 2);
        ctx.put(40, frame, l3 + 16, 4);
        ctx.putInt(60, localPort);
        try {
            obj.map(PORT_MAP).updateInt(0, (protocol << 16) | localPort);
            return program.testRun(ctx.array(), repeat).durationNs();
        } catch (BpfException e) {
            throw new SyrupException(Kind.KERNEL, "test run failed: " + e.getMessage(), e);
        }
    }
}
