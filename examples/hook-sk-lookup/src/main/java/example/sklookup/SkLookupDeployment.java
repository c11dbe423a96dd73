package example.sklookup;

import dev.syrup.api.Protocol;
import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
import dev.syrup.api.Target;
import dev.syrup.bpf.BpfException;
import dev.syrup.bpf.BpfLink;
import dev.syrup.bpf.BpfMap;
import dev.syrup.bpf.BpfObject;
import dev.syrup.bpf.BpfProgram;
import dev.syrup.bpf.Fd;
import dev.syrup.bpf.MapType;
import dev.syrup.bpf.Pidfd;
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
 * A policy on one port at sk_lookup, on the hook kit ({@link PolicyDeployment}): the kit opens
 * each policy version under the hook's rules, gives it the deployment's maps, the Maps pinned
 * by a previous syrupd and those the owner's other deployments (at any hook) already have,
 * loads it, pins its Maps, counts its decisions and retires the previous version. What is this
 * hook's own is the step that makes a loaded policy run ({@link #swap}): fill the SOCKMAP, then
 * create the netns link (first install) or swap the program in it (BPF_LINK_UPDATE: every
 * lookup sees the old or the new policy), and {@link #detach}: close the link, so the
 * namespace's lookups are the kernel's again.
 *
 * <p>syrupd holds no socket between operations: each executor is duplicated from its holder
 * (pidfd_getfd) for the moment of putting it in the SOCKMAP; the map keeps its own reference
 * and the kernel removes a socket from it when the socket closes.
 */
final class SkLookupDeployment extends PolicyDeployment {

    private static final Path NETNS = Path.of("/proc/self/ns/net");
    private static final int IPPROTO_TCP = 6, IPPROTO_UDP = 17;

    /** An executor: a socket on an executor port, and where it was duplicated from. */
    private record Executor(ProcSockets.Socket socket, ProcSockets.Bound holder) {
        @Override
        public String toString() {
            return "port " + socket.port() + " socket inode " + socket.inode() + " pid " + holder.pid() + " fd " + holder.fd();
        }
    }

    private final int span;
    private final ProcSockets proc;
    private final OptionalInt uid;
    private final Runnable release;
    private final BpfMap executorsMap;
    /** Guarded by {@code this}. */
    private List<Executor> executors;
    private int filled;
    private boolean registered;
    private BpfLink link;

    private SkLookupDeployment(MapRegistry registry, int span, ProcSockets proc, Target target, OptionalInt uid, Runnable release,
                               DeploymentDir pinDir, BpfMap executorsMap, BpfMap portMap, BpfMap stats, List<Executor> executors) {
        super(target, registry, pinDir, SkLookupHook.RULES, SkLookupHook.PROGRAM, SkLookupHook.MAX_EXECUTORS,
                Map.of(SkLookupHook.EXECUTORS_MAP, executorsMap, SkLookupHook.PORT_MAP, portMap, DecisionStats.MAP, stats));
        this.span = span;
        this.proc = proc;
        this.uid = uid;
        this.release = release;
        this.executorsMap = executorsMap;
        this.executors = executors;
    }

    static SkLookupDeployment open(MapRegistry registry, int span, ProcSockets proc, Target target, Path pinDir, OptionalInt uid,
                                   Runnable release) throws SyrupException {
        List<Executor> found = scan(span, proc, target, uid);
        if (found.isEmpty()) {
            throw new SyrupException(Kind.NO_EXECUTORS, "no executors for " + target + " at sk_lookup: no "
                    + target.protocol().label() + " socket is bound to ports " + (target.port() + 1) + ".."
                    + (target.port() + span));
        }
        if (found.size() > SkLookupHook.MAX_EXECUTORS) {
            throw new SyrupException(Kind.INVALID, found.size() + " sockets on the executor ports of " + target
                    + "; at most " + SkLookupHook.MAX_EXECUTORS);
        }
        DeploymentDir dir = new DeploymentDir(pinDir);
        List<BpfMap> made = new ArrayList<>();
        try {
            dir.get(); // made now (0700): the deployment's pins go there
            BpfMap socks = BpfMap.create(MapType.SOCKMAP, SkLookupHook.EXECUTORS_MAP, 4, 8, SkLookupHook.MAX_EXECUTORS, 0);
            made.add(socks);
            BpfMap port = BpfMap.create(MapType.ARRAY, SkLookupHook.PORT_MAP, 4, 4, 1, 0);
            made.add(port);
            port.updateInt(0, ((target.protocol() == Protocol.TCP ? IPPROTO_TCP : IPPROTO_UDP) << 16) | target.port());
            BpfMap stats = DecisionStats.create(SkLookupHook.MAX_EXECUTORS);
            made.add(stats);
            return new SkLookupDeployment(registry, span, proc, target, uid, release, dir, socks, port, stats, found);
        } catch (BpfException e) {
            made.forEach(BpfMap::close);
            PolicyObjects.abandon(dir);
            throw new SyrupException(Kind.KERNEL, "cannot open " + target + " at sk_lookup: " + e.getMessage(), e);
        }
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
        if (!registered) {
            fill(scan(span, proc, target(), uid));
        }
        if (link == null) {
            link = prog.attachNetns(NETNS);
        } else {
            link.update(prog); // the swap: old or new policy, never none
        }
    }

    @Override
    protected void detach() {
        try {
            if (link != null) {
                link.close(); // the namespace's lookups are the kernel's again
                link = null;
            }
        } finally {
            release.run();
        }
    }

    @Override
    public synchronized void registerExecutor(int index, long pid, int fd) throws SyrupException {
        requireOpen();
        if (index < 0 || index >= SkLookupHook.MAX_EXECUTORS) {
            throw new SyrupException(Kind.INVALID, "executor index " + index + " is out of range 0.." + (SkLookupHook.MAX_EXECUTORS - 1));
        }
        Executor held = scan(span, proc, target(), uid).stream()
                .filter(e -> e.holder().pid() == pid && e.holder().fd() == fd).findFirst()
                .orElseThrow(() -> new SyrupException(Kind.INVALID, "fd " + fd + " of pid " + pid
                        + " is not a socket bound to an executor port of " + target()));
        try (Fd pidfd = Pidfd.open(pid); Fd socket = Pidfd.getfd(pidfd, fd)) {
            if (!ProcSockets.is(socket, held.socket().inode(), uid)) {
                throw new SyrupException(Kind.DENIED, "fd " + fd + " of pid " + pid + " changed while it was checked");
            }
            executorsMap.updateFd(index, socket);
        } catch (BpfException e) {
            throw new SyrupException(Kind.KERNEL, "cannot register fd " + fd + " of pid " + pid + ": " + e.getMessage(), e);
        }
        List<Executor> now = new ArrayList<>(registered ? executors : List.of());
        while (now.size() <= index) {
            now.add(null);
        }
        now.set(index, held);
        executors = now.stream().filter(java.util.Objects::nonNull).toList();
        filled = Math.max(filled, index + 1);
        registered = true;
    }

    /** The netns link's kernel id, while a policy is installed. */
    synchronized OptionalInt linkId() {
        return link == null ? OptionalInt.empty() : OptionalInt.of(link.id());
    }

    /** The kernel id of the decision counters: for tests, which track their own maps by id. */
    synchronized OptionalInt countersId() {
        return own(DecisionStats.MAP).map(m -> OptionalInt.of(m.info().id())).orElse(OptionalInt.empty());
    }

    /** Socket i of {@code found} into slot i; the slots past them emptied. */
    private void fill(List<Executor> found) throws SyrupException {
        List<Executor> adopted = new ArrayList<>();
        for (Executor e : found) {
            // Empty: the holder exited, closed it or reused its number since /proc was read.
            try (Fd socket = ProcSockets.duplicate(e.holder(), uid).orElse(null)) {
                if (socket != null) {
                    executorsMap.updateFd(adopted.size(), socket);
                    adopted.add(e);
                }
            } catch (BpfException ex) {
                throw new SyrupException(Kind.KERNEL, "cannot adopt " + e + ": " + ex.getMessage(), ex);
            }
        }
        if (adopted.isEmpty()) {
            throw new SyrupException(Kind.NO_EXECUTORS, "no socket is bound to the executor ports of " + target() + " any more");
        }
        for (int i = adopted.size(); i < filled; i++) {
            executorsMap.delete(i);
        }
        filled = adopted.size();
        executors = List.copyOf(adopted);
    }

    /**
     * The executors a deployment may take, in index order (port, then inode). With {@code uid},
     * DENIED unless the uid holds a socket on the target port, and while any socket on the
     * target port or on an executor port belongs to another uid.
     */
    private static List<Executor> scan(int span, ProcSockets proc, Target target, OptionalInt uid) throws SyrupException {
        List<ProcSockets.Socket> all = proc.on(target.protocol(), target.port(), target.port() + span);
        if (uid.isPresent()) {
            long mine = Integer.toUnsignedLong(uid.getAsInt());
            // As syrupd's tenant check, again here: the tenant holds P, so nobody else's
            // service can be bound to P and have its inputs steered away.
            if (all.stream().noneMatch(s -> s.port() == target.port() && s.receiving() && s.uid() == mine)) {
                throw new SyrupException(Kind.DENIED, "no " + target.protocol().label() + " socket of uid "
                        + Integer.toUnsignedString(uid.getAsInt()) + " is bound to port " + target.port()
                        + ": a tenant may deploy at sk_lookup only on a port it holds");
            }
            for (ProcSockets.Socket s : all) {
                if (s.uid() != mine) {
                    throw new SyrupException(Kind.DENIED, target.protocol().label() + " port " + s.port()
                            + " has a socket of uid " + s.uid() + " (inode " + s.inode()
                            + "): a tenant may deploy at sk_lookup only where every socket on the port and on its executor ports is its own");
                }
            }
        }
        List<ProcSockets.Socket> candidates = all.stream().filter(s -> s.port() != target.port() && s.receiving()).toList();
        Map<Long, ProcSockets.Bound> holders = new java.util.HashMap<>();
        proc.bound(candidates.stream().map(ProcSockets.Socket::inode).toList()).forEach(b -> holders.put(b.inode(), b));
        List<Executor> out = new ArrayList<>();
        for (ProcSockets.Socket s : candidates) {
            ProcSockets.Bound b = holders.get(s.inode());
            if (b != null) {
                out.add(new Executor(s, b));
            }
        }
        return out;
    }
}
