package dev.syrup.backend.offload;

import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
import dev.syrup.api.Target;
import dev.syrup.bpf.BpfException;
import dev.syrup.bpf.BpfObject;
import dev.syrup.bpf.BpfProgram;
import dev.syrup.bpf.Errno;
import dev.syrup.bpf.VerifierException;
import dev.syrup.bpf.Xdp;
import dev.syrup.bpf.XdpAttachment;
import dev.syrup.hook.kit.DeploymentDir;
import dev.syrup.hook.kit.MapRegistry;
import dev.syrup.hook.kit.PolicyDeployment;
import dev.syrup.hook.kit.PolicyObjects;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A policy offloaded to one NIC: checked ({@link OffloadChecker}), loaded device-bound, attached
 * in hardware mode. A replacement is loaded and verified for the device first, then attached
 * over the old one (one netlink XDP update); on failure the old one keeps running.
 *
 * <p>On the kit ({@link PolicyDeployment}), with one difference the kernel's ABI makes: every
 * map of an offloaded program lives in the NIC's memory ({@code map_ifindex}, set for the whole
 * object by {@link BpfObject#bindToDevice}), so the hook's own maps (the port map, the decision
 * counters, a shared {@code ARRAY} as offload has no per-CPU maps) are not made beforehand but
 * created with the first version on the device and kept for every later one. The policy's Maps
 * are pinned, re-adopted after a restart and shared by name with the owner's other deployments
 * as at every hook — but only with deployments on the same NIC: a device map is unusable by a
 * host program and the other way round, so the registry refuses such a pair (INVALID) rather
 * than splitting one Map in two.
 */
final class XdpOffloadDeployment extends PolicyDeployment {

    private static final System.Logger LOG = System.getLogger(XdpOffloadDeployment.class.getName());
    /** The hook's own maps: never shared, never pinned as the policy's. */
    static final Set<String> INTERNAL_MAPS = XdpOffloadHook.RULES.ownMaps().keySet();

    private final String iface;
    private final int queues;

    XdpOffloadDeployment(MapRegistry registry, Target target, String iface, int queues, DeploymentDir pinDir) {
        super(target, registry, pinDir, XdpOffloadHook.RULES, XdpOffloadHook.PROGRAM, XdpOffloadHook.MAX_EXECUTORS, Map.of());
        this.iface = iface;
        this.queues = queues;
    }

    @Override
    public int executors() {
        return queues;
    }

    @Override
    public List<String> describeExecutors() {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < queues; i++) {
            out.add(i + ": " + iface + " rx queue " + i);
        }
        return out;
    }

    @Override
    protected void check(Path object) throws SyrupException {
        requireOffloadable(object);
    }

    /** Every program and map of the object on the NIC: prog_ifindex, map_ifindex. */
    @Override
    protected void prepare(BpfObject next) {
        next.bindToDevice(Xdp.ifindex(iface));
    }

    /** The policy's attachment in hardware mode; null before the first install. */
    private XdpAttachment attachment;

    @Override
    protected void swap(BpfObject next, BpfProgram prog, BpfObject previous) {
        next.map(XdpOffloadHook.PORT_MAP).update(intBytes(0),
                intBytes(((target().protocol() == dev.syrup.api.Protocol.TCP ? 6 : 17) << 16) | target().port()));
        if (attachment == null) {
            attachment = XdpAttachment.attach(Xdp.ifindex(iface), prog, Xdp.XDP_FLAGS_HW_MODE, java.util.OptionalInt.empty());
        } else {
            attachment.update(prog);
        }
    }

    @Override
    protected SyrupException failed(RuntimeException e) {
        int ifindex;
        try {
            ifindex = Xdp.ifindex(iface);
        } catch (BpfException gone) {
            return new SyrupException(Kind.UNAVAILABLE, "offloading the policy to " + iface + " failed: " + gone.getMessage(), e);
        }
        SyrupException unavailable = unavailable(e, ifindex);
        return unavailable != null ? unavailable
                : new SyrupException(Kind.KERNEL, "offloading the policy to " + iface + " failed: " + e.getMessage(), e);
    }

    @Override
    protected void detach() {
        if (attachment == null) {
            return;
        }
        try {
            attachment.close();
            attachment = null;
        } catch (BpfException e) {
            LOG.log(System.Logger.Level.WARNING, "detaching the offloaded policy from " + iface + ": " + e.getMessage());
        }
    }

    @Override
    public void registerExecutor(int index, long pid, int fd) throws SyrupException {
        throw new SyrupException(Kind.INVALID, "xdp_offload's executors are the NIC's RX queues; there is nothing to register");
    }

    /** The offload check of {@code object}; INVALID naming every finding. */
    static void requireOffloadable(Path object) throws SyrupException {
        List<OffloadChecker.Finding> findings;
        try {
            findings = OffloadChecker.check(object);
        } catch (IOException | RuntimeException e) {
            throw new SyrupException(Kind.INVALID, "cannot read the compiled policy " + object + ": " + e.getMessage(), e);
        }
        if (!findings.isEmpty()) {
            StringBuilder b = new StringBuilder("the policy cannot run on the NIC (offload check):");
            findings.forEach(f -> b.append("\n  ").append(f));
            throw new SyrupException(Kind.INVALID, b.toString());
        }
    }

    /**
     * Opens {@code object} under the hook's rules, binds its programs and maps to {@code ifindex}
     * and loads it, as an install does. A device without offload refuses the device-bound load
     * (EINVAL), which is reported as UNAVAILABLE.
     */
    static BpfObject loadDeviceBound(Path object, int ifindex) throws SyrupException {
        BpfObject obj = PolicyObjects.open(object, XdpOffloadHook.RULES);
        try {
            obj.bindToDevice(ifindex);
            obj.load();
            return obj;
        } catch (RuntimeException e) {
            obj.close();
            SyrupException unavailable = unavailable(e, ifindex);
            if (unavailable != null) {
                throw unavailable;
            }
            if (e instanceof VerifierException v) {
                throw new SyrupException(Kind.VERIFIER, "the device's verifier rejected the policy (program " + v.programName() + ", "
                        + Errno.name(v.errno()) + "):\n" + String.join("\n", v.reason()), v);
            }
            throw e;
        }
    }

    /**
     * A device-bound load or attach refused because the device takes no offloaded programs
     * (EINVAL, EOPNOTSUPP; ENODEV from a map), as UNAVAILABLE; the device's verifier refusing the
     * policy itself as VERIFIER; null for anything else.
     */
    private static SyrupException unavailable(RuntimeException e, int ifindex) {
        if (e instanceof VerifierException v) {
            if (v.errno() == Errno.EINVAL || v.errno() == Errno.EOPNOTSUPP) {
                return new SyrupException(Kind.UNAVAILABLE, "the device-bound load on ifindex " + ifindex + " failed with "
                        + Errno.name(v.errno()) + ": the device takes no offloaded programs" + reason(v.reason()), v);
            }
            return new SyrupException(Kind.VERIFIER, "the device's verifier rejected the policy (program " + v.programName() + ", "
                    + Errno.name(v.errno()) + "):\n" + String.join("\n", v.reason()), v);
        }
        if (e instanceof BpfException b
                && (b.errno() == Errno.EINVAL || b.errno() == Errno.EOPNOTSUPP || b.errno() == Errno.ENODEV)) {
            return new SyrupException(Kind.UNAVAILABLE, "the device-bound load on ifindex " + ifindex + " failed with "
                    + Errno.name(b.errno()) + ": the device takes no offloaded programs (" + b.getMessage() + ")", b);
        }
        return null;
    }

    private static String reason(List<String> log) {
        return log.isEmpty() ? "" : " (" + String.join("; ", log) + ")";
    }

    private static byte[] intBytes(int v) {
        return ByteBuffer.allocate(4).order(ByteOrder.nativeOrder()).putInt(v).array();
    }
}
