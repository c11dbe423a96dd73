package dev.syrup.backend.ebpf;

import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
import dev.syrup.api.Target;
import dev.syrup.bpf.BpfException;
import dev.syrup.bpf.BpfMap;
import dev.syrup.bpf.BpfObject;
import dev.syrup.bpf.BpfProgram;
import dev.syrup.bpf.Errno;
import dev.syrup.bpf.Fd;
import dev.syrup.bpf.MapType;
import dev.syrup.bpf.Pidfd;
import dev.syrup.bpf.Sockets;
import dev.syrup.dispatch.Dispatcher;
import dev.syrup.hook.kit.DecisionStats;
import dev.syrup.hook.kit.DeploymentDir;
import dev.syrup.hook.kit.MapRegistry;
import dev.syrup.hook.kit.PolicyDeployment;
import dev.syrup.hook.kit.PolicyObjects;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A policy at {@code xdp_skb}/{@code xdp_drv} on one (protocol, port, interface): the claim in the
 * interface's XDP dispatcher, the deployment's {@code XSKMAP} (shared by every policy version, so
 * a replacement keeps the sockets) and the running policy.
 *
 * <p>syrupd keeps no AF_XDP socket open: {@link #registerExecutor} duplicates the application's
 * socket (pidfd_getfd), puts it in the XSKMAP and closes the duplicate; the kernel removes a
 * socket from the map when its last descriptor closes.
 *
 * <p>The decision counters ({@link DecisionStats}) belong to the deployment like the XSKMAP and
 * are kept across replacements.
 */
final class XdpDeployment extends PolicyDeployment {

    private static final System.Logger LOG = System.getLogger(XdpDeployment.class.getName());
    /** The hook's own maps: never shared across deployments ({@link MapRegistry}). */
    static final java.util.Set<String> INTERNAL_MAPS = XdpHook.rules("xdp").ownMaps().keySet();
    private static final int AF_XDP = 44, SO_DOMAIN = 39;

    private final Dispatcher.Claim claim;
    private final String hook;
    private final BpfMap xsks;
    /** Registered executors: index -> "AF_XDP fd N of pid P". Guarded by {@code this}. */
    private final TreeMap<Integer, String> executors = new TreeMap<>();

    private XdpDeployment(MapRegistry registry, Dispatcher.Claim claim, Target target, DeploymentDir pinDir, String hook, BpfMap xsks, BpfMap stats) {
        super(target, registry, pinDir, XdpHook.rules(hook), XdpHook.PROGRAM, XdpHook.MAX_EXECUTORS,
                Map.of(XdpHook.EXECUTORS_MAP, xsks, DecisionStats.MAP, stats));
        this.claim = claim;
        this.hook = hook;
        this.xsks = xsks;
    }

    static XdpDeployment open(MapRegistry registry, Dispatcher.Claim claim, Target target, Path pinDir, String hook) throws SyrupException {
        DeploymentDir dir = new DeploymentDir(pinDir);
        try {
            // Pinned: after a syrupd that died, the policy left in the dispatcher's slot still
            // redirects to these sockets, and the next syrupd's policy takes the same map.
            BpfMap xsks = PolicyObjects.pinnedOrNew(dir, BpfMap.create(MapType.XSKMAP, XdpHook.EXECUTORS_MAP, 4, 4,
                    XdpHook.MAX_EXECUTORS, 0));
            BpfMap stats;
            try {
                stats = DecisionStats.create(XdpHook.MAX_EXECUTORS);
            } catch (BpfException e) {
                PolicyObjects.unpinAndClose(xsks);
                throw new SyrupException(Kind.KERNEL, "cannot create the decision counters for " + target + ": " + e.getMessage(), e);
            }
            return new XdpDeployment(registry, claim, target, dir, hook, xsks, stats);
        } catch (BpfException e) {
            PolicyObjects.abandon(dir);
            claim.close();
            throw new SyrupException(Kind.KERNEL, "cannot create the XSKMAP for " + target + ": " + e.getMessage(), e);
        } catch (SyrupException e) {
            PolicyObjects.abandon(dir);
            claim.close();
            throw e;
        }
    }

    @Override
    protected String describe() {
        return hook + " deployment on " + target();
    }

    /** The registered AF_XDP sockets (none right after deploying). */
    @Override
    public synchronized int executors() {
        return executors.size();
    }

    @Override
    public synchronized List<String> describeExecutors() {
        List<String> out = new ArrayList<>();
        executors.forEach((i, s) -> out.add(i + ": " + s));
        return out;
    }

    /** The swap: one PROG_ARRAY update in the interface's dispatcher. */
    @Override
    protected void swap(BpfObject next, BpfProgram prog, BpfObject previous) throws SyrupException {
        claim.install(prog.fd());
    }

    @Override
    public synchronized void registerExecutor(int index, long pid, int fd) throws SyrupException {
        requireOpen();
        if (index < 0 || index >= XdpHook.MAX_EXECUTORS) {
            throw new SyrupException(Kind.INVALID, "executor index " + index + " is out of range 0.."
                    + (XdpHook.MAX_EXECUTORS - 1));
        }
        try (Fd pidfd = Pidfd.open(pid); Fd socket = Pidfd.getfd(pidfd, fd)) {
            int domain;
            try {
                domain = Sockets.getIntOption(socket, Sockets.SOL_SOCKET, SO_DOMAIN);
            } catch (BpfException e) {
                throw new SyrupException(Kind.INVALID, "fd " + fd + " of pid " + pid + " is not a socket", e);
            }
            if (domain != AF_XDP) {
                throw new SyrupException(Kind.INVALID, "fd " + fd + " of pid " + pid + " is not an AF_XDP socket"
                        + " (address family " + domain + "); " + hook + " schedules onto AF_XDP sockets");
            }
            xsks.updateFd(index, socket);
        } catch (BpfException e) {
            throw new SyrupException(Kind.KERNEL, "cannot register fd " + fd + " of pid " + pid + " at " + index
                    + ": " + e.getMessage() + (e.errno() == Errno.EOPNOTSUPP ? " (is it bound to an interface queue?)" : ""), e);
        }
        executors.put(index, "AF_XDP fd " + fd + " of pid " + pid);
    }

    /** Indexes may have gaps: up to the highest registered. */
    @Override
    protected int countedExecutors() {
        return executors.isEmpty() ? 0 : executors.lastKey() + 1;
    }

    /** Empties the slot and releases the claim (and detaches the root with the interface's last claim). */
    @Override
    protected void detach() {
        claim.close();
        for (int i : executors.keySet()) {
            try {
                xsks.delete(i);
            } catch (BpfException e) {
                LOG.log(System.Logger.Level.DEBUG, "emptying executor slot " + i + " of " + target() + ": " + e.getMessage());
            }
        }
        executors.clear();
    }
}
