package dev.syrup.backend.offload;

import dev.syrup.api.Availability;
import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
import dev.syrup.api.Target;
import dev.syrup.bpf.Capability;
import dev.syrup.bpf.KernelSupport;
import dev.syrup.bpf.MapType;
import dev.syrup.bpf.ProgramRules;
import dev.syrup.bpf.ProgramType;
import dev.syrup.hook.kit.DecisionStats;
import dev.syrup.hook.kit.DeploymentDir;
import dev.syrup.hook.kit.Glue;
import dev.syrup.hook.kit.MapRegistry;
import dev.syrup.hook.kit.PolicyObjects;
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
import java.util.Optional;
import java.util.Set;
import java.util.stream.Stream;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;

/**
 * Hook {@code xdp_offload}: the policy runs on the NIC (XDP hardware offload,
 * {@code XDP_FLAGS_HW_MODE}) and picks the RX queue — and so the host core whose interrupt
 * serves that queue — of each packet of the port.
 *
 * <p>Kernel ABI used, as upstream has it: the object's programs and maps are loaded
 * device-bound ({@code prog_ifindex}/{@code map_ifindex}, libbpf bpf_program__set_ifindex /
 * bpf_map__set_ifindex), the program is attached with {@code XDP_FLAGS_HW_MODE}. Executors are
 * the interface's RX queues; index i is written to {@code xdp_md->rx_queue_index}: net/core/filter.c
 * (xdp_is_valid_access) accepts a write to that field only from an offloaded program
 * ({@code bpf_prog_is_offloaded}), and the nfp JIT turns it into the NIC's RX-queue selection
 * (where the firmware advertises queue selection). Host XDP (skb/drv) cannot write it at all:
 * there the closest mechanism is a CPUMAP redirect, which is hook {@code cpu_redirect}.
 *
 * <p>An offloaded program runs alone on the NIC (no root dispatcher, no tail calls), so the
 * glue itself matches the deployment's (protocol, port) from a one-entry array that syrupd
 * fills, and passes every other packet.
 *
 * <p>Before any load, {@link OffloadChecker} reads the compiled object and refuses what NIC
 * offload cannot run, by name.
 *
 * <p>The deployment is the kit's ({@link XdpOffloadDeployment}): the policy's Maps (HASH or
 * plain ARRAY, in the NIC's memory) are pinned, re-adopted after a restart and shared with the
 * owner's deployments on the same NIC; the glue counts decisions ({@code syrup:stats}) in an
 * {@code ARRAY} on the NIC with atomic adds, offload having no per-CPU maps.
 *
 * <p>Upstream offload-capable drivers: nfp (Netronome Agilio) and netdevsim (the kernel's
 * simulated device for offload tests).
 */
@Component(service = Hook.class, property = Hook.NAME_PROPERTY + "=" + XdpOffloadHook.NAME)
public final class XdpOffloadHook implements Hook {

    public static final String NAME = "xdp_offload";
    /** Drivers that implement ndo_bpf's offload commands upstream. */
    public static final Set<String> OFFLOAD_DRIVERS = Set.of("nfp", "netdevsim");

    static final String PROGRAM = "syr_xdp_offload";
    static final String PORT_MAP = "syr_port";
    /** Executor slots of the decision counters; higher indexes count as OTHER. */
    static final int MAX_EXECUTORS = 64;

    /**
     * What a policy's object may be here: the glue's XDP program, the common helpers (the
     * offload check narrows them to what the NIC runs), the glue's port map. The kernel
     * creates device-bound maps only for CAP_SYS_ADMIN, so the load keeps it, and with it the
     * verifier's privileged rules: here the object check and the NIC's own verifier are what
     * hold a policy back.
     */
    public static final ProgramRules RULES = ProgramRules.of(NAME)
            .withSection("xdp", ProgramType.XDP)
            .withOwnMap(PORT_MAP, MapType.ARRAY)
            .withOwnMap(DecisionStats.MAP, MapType.ARRAY)
            .withCapabilities(Capability.BPF, Capability.NET_ADMIN, Capability.SYS_ADMIN);

    private final Path sysClassNet;
    private final MapRegistry registry;

    /** @param registry the owners' shared Maps (backend-ebpf's {@link MapRegistry} service) */
    @Activate
    public XdpOffloadHook(@Reference MapRegistry registry) {
        this(Path.of("/sys/class/net"), registry);
    }

    /** Outside OSGi: Maps are shared through {@link SharedMaps#standalone()}. */
    public XdpOffloadHook() {
        this(Path.of("/sys/class/net"), SharedMaps.standalone());
    }

    XdpOffloadHook(Path sysClassNet) {
        this(sysClassNet, SharedMaps.standalone());
    }

    XdpOffloadHook(Path sysClassNet, MapRegistry registry) {
        this.sysClassNet = sysClassNet;
        this.registry = registry;
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
        return Executor.RX_QUEUE;
    }

    @Override
    public Availability availability() {
        Optional<String> missing = KernelSupport.missing();
        if (missing.isPresent()) {
            return Availability.no(missing.get());
        }
        List<String> seen = new ArrayList<>();
        for (String iface : interfaces()) {
            String driver = driver(iface).orElse("virtual");
            if (OFFLOAD_DRIVERS.contains(driver)) {
                return Availability.yes();
            }
            seen.add(iface + " (" + driver + ")");
        }
        return Availability.no("no offload-capable NIC: no interface is driven by " + String.join(" or ", OFFLOAD_DRIVERS.stream().sorted().toList())
                + " (found " + (seen.isEmpty() ? "no interfaces" : String.join(", ", seen)) + "), and a device-bound load"
                + " (prog_ifindex) on any other device fails with EINVAL; use --fallback xdp_drv to run the policy in the driver instead");
    }

    /** Why {@code iface} cannot take an offloaded program, or empty when its driver can. */
    Optional<String> unsupported(String iface) {
        if (!Files.isDirectory(sysClassNet.resolve(iface))) {
            return Optional.of("no interface " + iface);
        }
        String driver = driver(iface).orElse(null);
        if (driver == null) {
            return Optional.of(iface + " is a virtual device (no /sys/class/net/" + iface
                    + "/device/driver); only nfp and netdevsim devices take offloaded programs");
        }
        if (!OFFLOAD_DRIVERS.contains(driver)) {
            return Optional.of(iface + " is driven by " + driver + ", which has no BPF offload (only nfp and netdevsim do)");
        }
        return Optional.empty();
    }

    List<String> interfaces() {
        try (Stream<Path> s = Files.list(sysClassNet)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        } catch (IOException e) {
            return List.of();
        }
    }

    /** Basename of /sys/class/net/IF/device/driver's link target, e.g. "nfp"; empty for virtual devices. */
    Optional<String> driver(String iface) {
        Path link = sysClassNet.resolve(iface).resolve("device").resolve("driver");
        try {
            return Optional.of(link.toRealPath().getFileName().toString());
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    /** RX queues of {@code iface}: the rx-N directories under /sys/class/net/IF/queues. */
    int rxQueues(String iface) {
        try (Stream<Path> s = Files.list(sysClassNet.resolve(iface).resolve("queues"))) {
            return (int) s.filter(p -> p.getFileName().toString().startsWith("rx-")).count();
        } catch (IOException e) {
            return 0;
        }
    }

    @Override
    public String wrapper(String policyInclude) {
        return Glue.preamble(NAME + " (runs on the NIC)", policyInclude, true, "") + """
                /* [0] = (protocol << 16) | port of the deployment; syrupd fills it. */
                struct {
                	__uint(type, BPF_MAP_TYPE_ARRAY);
                	__uint(max_entries, 1);
                	__type(key, __u32);
                	__type(value, __u32);
                } %1$s SEC(".maps");

                %3$s
                SEC("xdp")
                int %2$s(struct xdp_md *ctx)
                {
                	void *data = (void *)(long)ctx->data;
                	void *data_end = (void *)(long)ctx->data_end;
                	struct ethhdr *eth = data;
                	struct iphdr *ip = (void *)(eth + 1);
                	__u8 *l4 = syr_l4(data, data_end);
                	__u32 zero = 0, *want, idx;

                	/* Not this deployment's (protocol, port): as if no program ran. */
                	if (!l4 || (void *)(l4 + 4) > data_end || (void *)(ip + 1) > data_end)
                		return XDP_PASS;
                	want = bpf_map_lookup_elem(&%1$s, &zero);
                	if (!want || *want != (((__u32)ip->protocol << 16) | bpf_ntohs(*(__be16 *)(l4 + 2))))
                		return XDP_PASS;
                	idx = schedule(data, data_end);
                	syr__count(idx);
                	if (idx == SYR_PASS)
                		return XDP_PASS;
                	if (idx == SYR_DROP)
                		return XDP_DROP;
                	if (idx >= NUM_EXECUTORS)
                		return XDP_PASS;
                	/* Writable only in an offloaded program: the NIC delivers the packet on RX queue idx. */
                	ctx->rx_queue_index = idx;
                	return XDP_PASS;
                }

                """.formatted(PORT_MAP, PROGRAM, DecisionStats.declareShared(MAX_EXECUTORS)) + Glue.LICENSE;
    }

    @Override
    public HookDeployment open(Target target, HookContext context) throws SyrupException {
        Path pinDir = context.pinDir();
        String iface = target.iface().orElseThrow(() -> new SyrupException(Kind.INVALID,
                "xdp_offload runs on a NIC: give the interface (--iface)"));
        Optional<String> why = unsupported(iface);
        if (why.isPresent()) {
            throw new SyrupException(Kind.UNAVAILABLE, "hook " + NAME + " is unavailable on " + iface + ": " + why.get());
        }
        int queues = rxQueues(iface);
        if (queues == 0) {
            throw new SyrupException(Kind.NO_EXECUTORS, iface + " lists no RX queues under " + sysClassNet.resolve(iface).resolve("queues"));
        }
        return new XdpOffloadDeployment(registry, target, iface, queues, new DeploymentDir(pinDir));
    }

    @Override
    public long mapBytes(Path object) throws SyrupException {
        return PolicyObjects.mapBytes(object, XdpOffloadDeployment.INTERNAL_MAPS);
    }
}
