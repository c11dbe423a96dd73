package dev.syrup.backend.offload;

import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
import dev.syrup.api.Target;
import dev.syrup.api.map.SyrupMap;
import dev.syrup.bpf.BpfException;
import dev.syrup.bpf.BpfObject;
import dev.syrup.bpf.BpfProgram;
import dev.syrup.bpf.Errno;
import dev.syrup.bpf.ObjectRejectedException;
import dev.syrup.bpf.VerifierException;
import dev.syrup.bpf.Xdp;
import dev.syrup.hook.spi.HookDeployment;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A policy offloaded to one NIC: checked ({@link OffloadChecker}), loaded device-bound, attached
 * in hardware mode. A replacement is loaded and verified for the device first, then attached
 * over the old one (one netlink XDP update); on failure the old one keeps running.
 */
final class XdpOffloadDeployment implements HookDeployment {

    private static final System.Logger LOG = System.getLogger(XdpOffloadDeployment.class.getName());

    private final Target target;
    private final String iface;
    private final int queues;
    private final Path pinDir;
    private BpfObject running;
    private boolean closed;

    XdpOffloadDeployment(Target target, String iface, int queues, Path pinDir) {
        this.target = target;
        this.iface = iface;
        this.queues = queues;
        this.pinDir = pinDir;
    }

    @Override
    public Target target() {
        return target;
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
    public synchronized void install(Path object) throws SyrupException {
        if (closed) {
            throw new IllegalStateException("deployment on " + target + " is closed");
        }
        requireOffloadable(object);
        BpfObject next = null;
        try {
            int ifindex = Xdp.ifindex(iface);
            next = loadDeviceBound(object, ifindex);
            next.map(XdpOffloadHook.PORT_MAP).update(intBytes(0),
                    intBytes(((target.protocol() == dev.syrup.api.Protocol.TCP ? 6 : 17) << 16) | target.port()));
            BpfProgram prog = next.program(XdpOffloadHook.PROGRAM);
            Xdp.attach(ifindex, prog, Xdp.XDP_FLAGS_HW_MODE | (running == null ? Xdp.XDP_FLAGS_UPDATE_IF_NOEXIST : 0));
        } catch (SyrupException e) {
            close(next);
            throw e;
        } catch (BpfException | IllegalStateException | java.util.NoSuchElementException e) {
            close(next);
            throw new SyrupException(Kind.KERNEL, "offloading the policy to " + iface + " failed: " + e.getMessage(), e);
        }
        close(running);
        running = next;
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
     * Opens {@code object}, binds its programs and maps to {@code ifindex} and loads it. A device
     * without offload refuses the device-bound load (EINVAL), which is reported as UNAVAILABLE.
     */
    static BpfObject loadDeviceBound(Path object, int ifindex) throws SyrupException {
        BpfObject obj;
        try {
            obj = BpfObject.open(object, XdpOffloadHook.RULES);
        } catch (ObjectRejectedException e) {
            throw new SyrupException(Kind.VERIFIER, "the policy is not allowed at " + e.scope() + ":\n"
                    + String.join("\n", e.violations()), e);
        }
        try {
            obj.bindToDevice(ifindex);
            obj.load();
            return obj;
        } catch (VerifierException e) {
            obj.close();
            if (e.errno() == Errno.EINVAL || e.errno() == Errno.EOPNOTSUPP) {
                throw new SyrupException(Kind.UNAVAILABLE, "the device-bound load on ifindex " + ifindex + " failed with "
                        + Errno.name(e.errno()) + ": the device takes no offloaded programs" + reason(e.reason()), e);
            }
            throw new SyrupException(Kind.VERIFIER, "the device's verifier rejected the policy (program " + e.programName() + ", "
                    + Errno.name(e.errno()) + "):\n" + String.join("\n", e.reason()), e);
        } catch (BpfException e) {
            obj.close();
            if (e.errno() == Errno.EINVAL || e.errno() == Errno.EOPNOTSUPP || e.errno() == Errno.ENODEV) {
                throw new SyrupException(Kind.UNAVAILABLE, "the device-bound load on ifindex " + ifindex + " failed with "
                        + Errno.name(e.errno()) + ": the device takes no offloaded programs (" + e.getMessage() + ")", e);
            }
            throw e;
        } catch (RuntimeException e) {
            obj.close();
            throw e;
        }
    }

    private static String reason(List<String> log) {
        return log.isEmpty() ? "" : " (" + String.join("; ", log) + ")";
    }

    @Override
    public void registerExecutor(int index, long pid, int fd) throws SyrupException {
        throw new SyrupException(Kind.INVALID, "xdp_offload's executors are the NIC's RX queues; there is nothing to register");
    }

    @Override
    public List<SyrupMap> maps() {
        return List.of();
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (running != null) {
            try {
                Xdp.detach(Xdp.ifindex(iface), Xdp.XDP_FLAGS_HW_MODE);
            } catch (BpfException e) {
                LOG.log(System.Logger.Level.WARNING, "detaching the offloaded policy from " + iface + ": " + e.getMessage());
            }
            close(running);
            running = null;
        }
    }

    private static void close(BpfObject o) {
        if (o != null) {
            o.close();
        }
    }

    private static byte[] intBytes(int v) {
        return ByteBuffer.allocate(4).order(ByteOrder.nativeOrder()).putInt(v).array();
    }
}
