package dev.syrup.backend.ebpf;

import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
import dev.syrup.api.Target;
import dev.syrup.bpf.BpfException;
import dev.syrup.bpf.BpfMap;
import dev.syrup.bpf.BpfObject;
import dev.syrup.bpf.BpfProgram;
import dev.syrup.bpf.Fd;
import dev.syrup.bpf.MapType;
import dev.syrup.bpf.Pidfd;
import dev.syrup.dispatch.Dispatcher;
import dev.syrup.hook.kit.DecisionStats;
import dev.syrup.hook.kit.DeploymentDir;
import dev.syrup.hook.kit.MapRegistry;
import dev.syrup.hook.kit.PolicyDeployment;
import dev.syrup.hook.kit.PolicyObjects;
import dev.syrup.hook.kit.ProcSockets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;

/**
 * A policy on one port's SO_REUSEPORT group.
 *
 * <p>The executor map belongs to the deployment, not to a policy: every policy version loaded
 * here reuses it, because a socket can sit in only one REUSEPORT_SOCKARRAY at a time (a second
 * insert is EBUSY) — and that is what lets a replacement be swapped in without a gap.
 *
 * <p>syrupd holds no socket between operations: the application's sockets are duplicated from
 * it (pidfd_getfd) for the moment of an install or a close, then the duplicates are closed, so
 * a socket lives exactly as long as the application keeps it. The kernel drops a closed socket
 * from the sockarray by itself.
 *
 * <p>Inputs reach the policy through the {@link Dispatcher}: the deployment holds the claim on
 * its (protocol, port) from {@link #open} to {@link #close()}; an install attaches the
 * dispatcher's root program to the port's group (idempotent) and then puts the new policy in
 * the claim's slot, which is the atomic swap. The rest of an install and close is the kit's
 * ({@link PolicyDeployment}).
 */
final class SocketSelectDeployment extends PolicyDeployment {

    private static final System.Logger LOG = System.getLogger(SocketSelectDeployment.class.getName());
    /** The hook's own maps: never shared across deployments ({@link MapRegistry}). */
    static final java.util.Set<String> INTERNAL_MAPS = SocketSelectHook.RULES.ownMaps().keySet();

    private final ProcSockets proc;
    /** When present, only this uid's sockets may be adopted, and none of another uid may be on the port. */
    private final OptionalInt uid;
    private final Dispatcher.Claim claim;
    private final BpfMap slots;
    /** Guarded by {@code this}. */
    private List<ProcSockets.Bound> executors;
    /** Socket inode in each slot of {@link #slots}, as this deployment filled it. */
    private final List<Long> slotted = new ArrayList<>();
    /** Once the application registers its executors itself, syrupd stops re-adopting the port's sockets. */
    private boolean registered;
    /** Whether the dispatcher was attached to the port's group(s) through this deployment. */
    private boolean groupAttached;

    private SocketSelectDeployment(ProcSockets proc, MapRegistry registry, OptionalInt uid, Dispatcher.Claim claim, Target target,
                                   DeploymentDir pinDir, List<ProcSockets.Bound> executors, BpfMap slots, BpfMap stats) {
        super(target, registry, pinDir, SocketSelectHook.RULES, SocketSelectHook.PROGRAM, SocketSelectHook.MAX_EXECUTORS,
                Map.of(SocketSelectHook.EXECUTORS_MAP, slots, DecisionStats.MAP, stats));
        this.proc = proc;
        this.uid = uid;
        this.claim = claim;
        this.executors = executors;
        this.slots = slots;
    }

    static SocketSelectDeployment open(ProcSockets proc, MapRegistry registry, Dispatcher dispatcher, String owner, Target target, Path pinDir,
                                       OptionalInt uid) throws SyrupException {
        List<ProcSockets.Bound> found = scan(proc, target, uid, true);
        if (found.isEmpty()) {
            throw new SyrupException(Kind.NO_EXECUTORS, "nobody listens on " + target
                    + ": no " + target.protocol().label() + " socket is bound to port " + target.port()
                    + (target.protocol() == dev.syrup.api.Protocol.TCP ? " in LISTEN state" : ""));
        }
        if (found.size() > SocketSelectHook.MAX_EXECUTORS) {
            throw new SyrupException(Kind.INVALID, found.size() + " sockets on " + target + "; at most "
                    + SocketSelectHook.MAX_EXECUTORS + " executors are supported");
        }
        Dispatcher.Claim claim = dispatcher.claimSocket(owner, target, pinDir);
        DeploymentDir dir = new DeploymentDir(pinDir);
        BpfMap slots;
        try {
            slots = PolicyObjects.pinnedOrNew(dir, BpfMap.create(MapType.REUSEPORT_SOCKARRAY, SocketSelectHook.EXECUTORS_MAP,
                    4, 8, SocketSelectHook.MAX_EXECUTORS, 0));
        } catch (BpfException | SyrupException e) {
            PolicyObjects.abandon(dir);
            claim.close();
            throw new SyrupException(Kind.KERNEL, "cannot create the executor map for " + target + ": " + e.getMessage(), e);
        }
        BpfMap stats;
        try {
            stats = DecisionStats.create(SocketSelectHook.MAX_EXECUTORS);
        } catch (BpfException e) {
            PolicyObjects.unpinAndClose(slots);
            PolicyObjects.abandon(dir);
            claim.close();
            throw new SyrupException(Kind.KERNEL, "cannot create the decision counters for " + target + ": " + e.getMessage(), e);
        }
        return new SocketSelectDeployment(proc, registry, uid, claim, target, dir, found, slots, stats);
    }

    @Override
    public synchronized int executors() {
        return executors.size();
    }

    @Override
    public synchronized List<String> describeExecutors() {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < executors.size(); i++) {
            out.add(i + ": " + executors.get(i));
        }
        return out;
    }

    @Override
    protected void swap(BpfObject next, BpfProgram prog, BpfObject previous) throws SyrupException {
        List<Fd> sockets = new ArrayList<>();
        try {
            sockets = adopt(true);
            if (previous == null) {
                knowSlots(sockets);
            }
            if (!registered) {
                fillSlots(sockets);
            }
            // The dispatcher first (idempotent: the group then runs the root program, which
            // tail-calls whatever the slot holds — the old policy, or nothing = the default) ...
            for (Fd s : sockets) {
                claim.attachGroup(s.get());
                groupAttached = true;
            }
            // ... then the swap: the slot's program pointer is replaced in one step, so every
            // datagram is scheduled by either the old or the new policy, never by none.
            claim.install(prog.fd());
        } finally {
            sockets.forEach(Fd::close);
        }
    }

    @Override
    public synchronized void registerExecutor(int index, long pid, int fd) throws SyrupException {
        requireOpen();
        if (index < 0 || index >= SocketSelectHook.MAX_EXECUTORS) {
            throw new SyrupException(Kind.INVALID, "executor index " + index + " is out of range 0.."
                    + (SocketSelectHook.MAX_EXECUTORS - 1));
        }
        ProcSockets.Bound bound = scan(proc, target(), uid, true).stream()
                .filter(b -> b.pid() == pid && b.fd() == fd).findFirst()
                .orElse(null);
        if (bound == null) {
            // Also true when the fd is a socket of the process bound elsewhere: bound() only
            // lists the port's own sockets, and it names the first holder of each.
            throw new SyrupException(Kind.INVALID, "fd " + fd + " of pid " + pid + " is not a socket bound to " + target());
        }
        try (Fd pidfd = Pidfd.open(pid); Fd socket = Pidfd.getfd(pidfd, fd)) {
            if (!ProcSockets.is(socket, bound.inode(), uid)) {
                throw new SyrupException(Kind.DENIED, "fd " + fd + " of pid " + pid + " is not a socket of uid "
                        + (uid.isPresent() ? Integer.toUnsignedString(uid.getAsInt()) : "?") + " bound to " + target());
            }
            // A socket sits in one slot at most (a second insert is EBUSY): moving it empties its old slot.
            int was = slotted.indexOf(bound.inode());
            if (was >= 0 && was != index) {
                slots.delete(was);
                slotted.set(was, 0L);
            }
            slots.delete(index);
            slots.updateFd(index, socket);
        } catch (BpfException e) {
            throw new SyrupException(Kind.KERNEL, "cannot register fd " + fd + " of pid " + pid + ": " + e.getMessage(), e);
        }
        while (slotted.size() <= index) {
            slotted.add(0L);
        }
        slotted.set(index, bound.inode());
        registered = true;
        List<ProcSockets.Bound> now = new ArrayList<>();
        for (long inode : slotted) {
            executors.stream().filter(b -> b.inode() == inode).findFirst()
                    .or(() -> inode == bound.inode() ? java.util.Optional.of(bound) : java.util.Optional.empty())
                    .ifPresent(now::add);
        }
        executors = List.copyOf(now);
    }

    @Override
    protected void detach() {
        if (groupAttached) {
            List<Fd> sockets = List.of();
            try {
                // Only its own sockets' groups are this deployment's to detach from, whoever else came.
                sockets = adopt(false);
                LOG.log(System.Logger.Level.INFO, "detaching the dispatcher on " + target() + " from " + sockets.size() + " socket(s)");
                for (Fd s : sockets) {
                    claim.detachGroup(s.get()); // no-op once detached through an earlier socket
                }
            } catch (SyrupException e) {
                // The sockets are gone with their group, and so is the attachment.
                LOG.log(System.Logger.Level.INFO, "nothing to detach on " + target() + ": " + e.getMessage());
            } catch (BpfException | IllegalStateException e) {
                LOG.log(System.Logger.Level.WARNING, "detaching the dispatcher from " + target() + " failed: " + e.getMessage());
            } finally {
                sockets.forEach(Fd::close);
            }
        }
        // Empties the slot and releases the claim (and the root program with the last claim);
        // only then can the policy program go.
        claim.close();
        // Empty the sockarray before letting it go: the kernel frees it later, and until then its
        // sockets count as taken, so a new deployment on them would get EBUSY.
        for (int i = 0; i < slotted.size(); i++) {
            try {
                slots.delete(i);
            } catch (BpfException e) {
                LOG.log(System.Logger.Level.WARNING, "emptying executor slot " + i + " of " + target() + ": " + e.getMessage());
            }
        }
        slotted.clear();
    }

    /**
     * Before the first install: what the executor map holds already, when it is one a previous
     * syrupd left (a restart), by socket cookie. A socket found in its slot is then left there:
     * taking it out and putting it back would let the policy that still decides miss it.
     */
    private void knowSlots(List<Fd> sockets) {
        java.util.Map<Long, Long> inodeByCookie = new java.util.HashMap<>();
        for (int i = 0; i < sockets.size(); i++) {
            inodeByCookie.put(dev.syrup.bpf.Sockets.cookie(sockets.get(i)), executors.get(i).inode());
        }
        slotted.clear();
        for (int i = 0; i < SocketSelectHook.MAX_EXECUTORS; i++) {
            java.util.OptionalLong cookie = slots.lookup(i);
            slotted.add(cookie.isPresent() ? inodeByCookie.getOrDefault(cookie.getAsLong(), -1L) : 0L);
        }
        while (!slotted.isEmpty() && slotted.get(slotted.size() - 1) == 0L) {
            slotted.remove(slotted.size() - 1);
        }
    }

    /**
     * Puts socket i (of the ones just adopted) in slot i. A slot that already holds the same
     * socket is left alone (re-inserting it would be EBUSY); the kernel itself empties the slot
     * of a socket that closed.
     */
    private void fillSlots(List<Fd> sockets) {
        for (int i = 0; i < sockets.size(); i++) {
            long inode = executors.get(i).inode();
            if (i < slotted.size() && slotted.get(i) == inode) {
                continue;
            }
            int at = slotted.indexOf(inode);
            if (at >= 0) { // a socket sits in one slot at most: moving it empties its old one
                slots.delete(at);
                slotted.set(at, 0L);
            }
            slots.delete(i);
            slots.updateFd(i, sockets.get(i));
            if (i < slotted.size()) {
                slotted.set(i, inode);
            } else {
                slotted.add(inode);
            }
        }
        while (slotted.size() > sockets.size()) {
            slots.delete(slotted.size() - 1);
            slotted.remove(slotted.size() - 1);
        }
    }

    /**
     * Duplicates the sockets now bound to the port into this process, in executor order, and
     * records them as the executors. {@code strict}: see {@link #scan}.
     */
    private List<Fd> adopt(boolean strict) throws SyrupException {
        List<ProcSockets.Bound> found = scan(proc, target(), uid, strict);
        if (found.isEmpty()) {
            throw new SyrupException(Kind.NO_EXECUTORS, "no socket is bound to " + target() + " any more");
        }
        List<Fd> out = new ArrayList<>(found.size());
        List<ProcSockets.Bound> adopted = new ArrayList<>(found.size());
        try {
            for (ProcSockets.Bound b : found) {
                // Empty: the holder exited, closed it, or reused its number since /proc was read.
                ProcSockets.duplicate(b, uid).ifPresent(socket -> {
                    out.add(socket);
                    adopted.add(b);
                });
            }
        } catch (RuntimeException e) {
            out.forEach(Fd::close);
            throw new SyrupException(Kind.KERNEL, "cannot adopt the sockets of " + target() + ": " + e.getMessage(), e);
        }
        executors = List.copyOf(adopted);
        return out;
    }

    /**
     * The sockets on the target's port that may be adopted, in executor order. With {@code uid},
     * {@code DENIED} when any socket on the port (on any address, held by anyone) belongs to
     * another uid: a tenant's policy must never see, nor its dispatcher attach to, another
     * tenant's sockets. Called at every adoption (open, each install's re-scan, a registration),
     * under the deployment's lock, so what is adopted is what was just checked. Not
     * {@code strict} (closing): another uid's sockets are left out instead.
     */
    private static List<ProcSockets.Bound> scan(ProcSockets proc, Target target, OptionalInt uid, boolean strict)
            throws SyrupException {
        java.util.TreeMap<Long, Long> owners = proc.owners(target.protocol(), target.port());
        if (uid.isPresent()) {
            long mine = Integer.toUnsignedLong(uid.getAsInt());
            if (!strict) {
                owners.values().removeIf(owner -> owner != mine);
            }
            for (java.util.Map.Entry<Long, Long> e : owners.entrySet()) {
                if (e.getValue() != mine) {
                    throw new SyrupException(Kind.DENIED, target.protocol().label() + " port " + target.port()
                            + " also has a socket of uid " + e.getValue() + " (inode " + e.getKey()
                            + "): a tenant may deploy only on a port whose sockets are all its own (uid " + mine + ")");
                }
            }
        }
        return proc.bound(owners.navigableKeySet());
    }
}
