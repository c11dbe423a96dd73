package example.sklookup;

import dev.syrup.api.KernelProgram;
import dev.syrup.api.Protocol;
import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
import dev.syrup.api.Target;
import dev.syrup.api.map.SyrupMap;
import dev.syrup.bpf.BpfException;
import dev.syrup.bpf.BpfLink;
import dev.syrup.bpf.BpfMap;
import dev.syrup.bpf.BpfObject;
import dev.syrup.bpf.BpfProgram;
import dev.syrup.bpf.Errno;
import dev.syrup.bpf.Fd;
import dev.syrup.bpf.MapType;
import dev.syrup.bpf.Pidfd;
import dev.syrup.bpf.PinDir;
import dev.syrup.bpf.ProgramInfo;
import dev.syrup.bpf.VerifierException;
import dev.syrup.hook.spi.HookDeployment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.OptionalInt;

/**
 * A policy on one port at sk_lookup. It owns: the SOCKMAP of executors and the glue's port map
 * (both shared by every policy version loaded here), the running policy's object, and the
 * netns link. An install loads and verifies the new policy first, then swaps it into the link
 * in one step (BPF_LINK_UPDATE); the first install creates the link. Close drops the link, so
 * the namespace's lookups are the kernel's again, then every fd, map and the pin directory.
 *
 * <p>syrupd holds no socket between operations: each executor is duplicated from its holder
 * (pidfd_getfd) for the moment of putting it in the SOCKMAP; the map keeps its own reference
 * and the kernel removes a socket from it when the socket closes.
 */
final class SkLookupDeployment implements HookDeployment {

    private static final System.Logger LOG = System.getLogger(SkLookupDeployment.class.getName());
    private static final Path NETNS = Path.of("/proc/self/ns/net");
    private static final int IPPROTO_TCP = 6, IPPROTO_UDP = 17;

    private final SkLookupHook hook;
    private final PortSockets proc;
    private final Target target;
    private final OptionalInt uid;
    private final Runnable release;
    private final PinDir pinDir;
    private final BpfMap executorsMap;
    private final BpfMap portMap;
    /** Guarded by {@code this}. */
    private List<PortSockets.Held> executors;
    private int filled;
    private boolean registered;
    private BpfObject running;
    private BpfLink link;
    private boolean closed;

    private SkLookupDeployment(SkLookupHook hook, PortSockets proc, Target target, OptionalInt uid, Runnable release,
                               PinDir pinDir, BpfMap executorsMap, BpfMap portMap, List<PortSockets.Held> executors) {
        this.hook = hook;
        this.proc = proc;
        this.target = target;
        this.uid = uid;
        this.release = release;
        this.pinDir = pinDir;
        this.executorsMap = executorsMap;
        this.portMap = portMap;
        this.executors = executors;
    }

    static SkLookupDeployment open(SkLookupHook hook, PortSockets proc, Target target, Path pinDir, OptionalInt uid,
                                   Runnable release) throws SyrupException {
        List<PortSockets.Held> found = scan(hook, proc, target, uid);
        if (found.isEmpty()) {
            throw new SyrupException(Kind.NO_EXECUTORS, "no executors for " + target + " at sk_lookup: no "
                    + target.protocol().label() + " socket is bound to ports " + (target.port() + 1) + ".."
                    + (target.port() + hook.span()));
        }
        if (found.size() > SkLookupHook.MAX_EXECUTORS) {
            throw new SyrupException(Kind.INVALID, found.size() + " sockets on the executor ports of " + target
                    + "; at most " + SkLookupHook.MAX_EXECUTORS);
        }
        PinDir dir = null;
        BpfMap socks = null;
        BpfMap port = null;
        try {
            dir = PinDir.create(pinDir, 0700);
            socks = BpfMap.create(MapType.SOCKMAP, SkLookupHook.EXECUTORS_MAP, 4, 8, SkLookupHook.MAX_EXECUTORS, 0);
            port = BpfMap.create(MapType.ARRAY, SkLookupHook.PORT_MAP, 4, 4, 1, 0);
            int proto = target.protocol() == Protocol.TCP ? IPPROTO_TCP : IPPROTO_UDP;
            port.updateInt(0, (proto << 16) | target.port());
        } catch (BpfException e) {
            if (port != null) {
                port.close();
            }
            if (socks != null) {
                socks.close();
            }
            if (dir != null) {
                dir.delete();
            }
            throw new SyrupException(Kind.KERNEL, "cannot open " + target + " at sk_lookup: " + e.getMessage(), e);
        }
        return new SkLookupDeployment(hook, proc, target, uid, release, dir, socks, port, found);
    }

    @Override
    public Target target() {
        return target;
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
    public synchronized void install(Path object) throws SyrupException {
        if (closed) {
            throw new IllegalStateException("deployment on " + target + " is closed");
        }
        BpfObject next = null;
        try {
            next = BpfObject.open(object, SkLookupHook.RULES);
            next.reuseMap(SkLookupHook.EXECUTORS_MAP, executorsMap);
            next.reuseMap(SkLookupHook.PORT_MAP, portMap);
            next.load();
            BpfProgram prog = next.program(SkLookupHook.PROGRAM);
            if (!registered) {
                fill(scan(hook, proc, target, uid));
            }
            if (link == null) {
                link = prog.attachNetns(NETNS);
            } else {
                link.update(prog); // the swap: old or new policy, never none
            }
        } catch (VerifierException e) {
            close(next);
            throw new SyrupException(Kind.VERIFIER, "the verifier rejected the policy (program " + e.programName() + ", "
                    + Errno.name(e.errno()) + "):\n" + String.join("\n", e.reason()), e);
        } catch (dev.syrup.bpf.ObjectRejectedException e) {
            close(next);
            throw new SyrupException(Kind.INVALID, e.getMessage(), e);
        } catch (SyrupException e) {
            close(next);
            throw e;
        } catch (BpfException | IllegalStateException | java.util.NoSuchElementException e) {
            close(next);
            throw new SyrupException(Kind.KERNEL, "cannot install the policy on " + target + " at sk_lookup: " + e.getMessage(), e);
        }
        close(running);
        running = next;
    }

    @Override
    public synchronized void registerExecutor(int index, long pid, int fd) throws SyrupException {
        if (closed) {
            throw new IllegalStateException("deployment on " + target + " is closed");
        }
        if (index < 0 || index >= SkLookupHook.MAX_EXECUTORS) {
            throw new SyrupException(Kind.INVALID, "executor index " + index + " is out of range 0.." + (SkLookupHook.MAX_EXECUTORS - 1));
        }
        PortSockets.Held held = scan(hook, proc, target, uid).stream()
                .filter(h -> h.pid() == pid && h.fd() == fd).findFirst()
                .orElseThrow(() -> new SyrupException(Kind.INVALID, "fd " + fd + " of pid " + pid
                        + " is not a socket bound to an executor port of " + target));
        try (Fd pidfd = Pidfd.open(pid); Fd socket = Pidfd.getfd(pidfd, fd)) {
            if (!same(socket, held)) {
                throw new SyrupException(Kind.DENIED, "fd " + fd + " of pid " + pid + " changed while it was checked");
            }
            executorsMap.updateFd(index, socket);
        } catch (BpfException e) {
            throw new SyrupException(Kind.KERNEL, "cannot register fd " + fd + " of pid " + pid + ": " + e.getMessage(), e);
        }
        List<PortSockets.Held> now = new ArrayList<>(registered ? executors : List.of());
        while (now.size() <= index) {
            now.add(null);
        }
        now.set(index, held);
        executors = now.stream().filter(java.util.Objects::nonNull).toList();
        filled = Math.max(filled, index + 1);
        registered = true;
    }

    /** Not exposed at this hook: the policy's Maps live in its object (see docs/hooks.md). */
    @Override
    public List<SyrupMap> maps() {
        return List.of();
    }

    @Override
    public synchronized java.util.Optional<KernelProgram> program() {
        if (running == null) {
            return java.util.Optional.empty();
        }
        ProgramInfo i = running.program(SkLookupHook.PROGRAM).info();
        return java.util.Optional.of(new KernelProgram(i.id(), i.name(),
                i.type() == null ? Integer.toString(i.typeId()) : i.type().name().toLowerCase(Locale.ROOT), i.tag()));
    }

    /** The netns link's kernel id, while a policy is installed. */
    synchronized OptionalInt linkId() {
        return link == null ? OptionalInt.empty() : OptionalInt.of(link.id());
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            if (link != null) {
                link.close(); // the namespace's lookups are the kernel's again
            }
            close(running);
            running = null;
            executorsMap.close();
            portMap.close();
            try {
                pinDir.delete();
            } catch (BpfException e) {
                LOG.log(System.Logger.Level.WARNING, "removing " + pinDir + ": " + e.getMessage());
            }
        } finally {
            release.run();
        }
    }

    /** Socket i of {@code found} into slot i; the slots past them emptied. */
    private void fill(List<PortSockets.Held> found) throws SyrupException {
        List<PortSockets.Held> adopted = new ArrayList<>();
        for (PortSockets.Held h : found) {
            try (Fd pidfd = Pidfd.open(h.pid()); Fd socket = Pidfd.getfd(pidfd, h.fd())) {
                if (!same(socket, h)) {
                    continue; // the fd number was reused since /proc was read
                }
                executorsMap.updateFd(adopted.size(), socket);
                adopted.add(h);
            } catch (BpfException e) {
                if (e.errno() == Errno.ESRCH || e.errno() == Errno.EBADF) {
                    continue; // the holder exited or closed it since /proc was read
                }
                throw new SyrupException(Kind.KERNEL, "cannot adopt " + h + ": " + e.getMessage(), e);
            }
        }
        if (adopted.isEmpty()) {
            throw new SyrupException(Kind.NO_EXECUTORS, "no socket is bound to the executor ports of " + target + " any more");
        }
        for (int i = adopted.size(); i < filled; i++) {
            executorsMap.delete(i);
        }
        filled = adopted.size();
        executors = List.copyOf(adopted);
    }

    /**
     * The executors a deployment may take, in index order. With {@code uid}, DENIED unless the
     * uid holds a socket on the target port, and while any socket on the target port or on an
     * executor port belongs to another uid.
     */
    private static List<PortSockets.Held> scan(SkLookupHook hook, PortSockets proc, Target target, OptionalInt uid)
            throws SyrupException {
        List<PortSockets.Socket> all = proc.on(target.protocol(), target.port(), target.port() + hook.span());
        if (uid.isPresent()) {
            // As syrupd's tenant check, again here: the tenant holds P, so nobody else's
            // service can be bound to P and have its inputs steered away.
            if (all.stream().noneMatch(s -> s.port() == target.port() && s.assignable())) {
                throw new SyrupException(Kind.DENIED, "no " + target.protocol().label() + " socket of uid "
                        + Integer.toUnsignedString(uid.getAsInt()) + " is bound to port " + target.port()
                        + ": a tenant may deploy at sk_lookup only on a port it holds");
            }
            for (PortSockets.Socket s : all) {
                if (s.uid() != uid.getAsInt()) {
                    throw new SyrupException(Kind.DENIED, target.protocol().label() + " port " + s.port()
                            + " has a socket of uid " + Integer.toUnsignedString(s.uid()) + " (inode " + s.inode()
                            + "): a tenant may deploy at sk_lookup only where every socket on the port and on its executor ports is its own");
                }
            }
        }
        return proc.holders(all.stream().filter(s -> s.port() != target.port() && s.assignable()).toList());
    }

    /** Whether the duplicate {@code socket} is the socket the scan found (inode): fd numbers can be reused, inodes cannot. */
    private boolean same(Fd socket, PortSockets.Held h) {
        try {
            Path self = Path.of("/proc/self/fd/" + socket.get());
            long ino = ((Number) Files.getAttribute(self, "unix:ino")).longValue();
            int owner = (Integer) Files.getAttribute(self, "unix:uid");
            return ino == h.socket().inode() && (uid.isEmpty() || owner == uid.getAsInt());
        } catch (java.io.IOException | UnsupportedOperationException e) {
            return false;
        }
    }

    private static void close(BpfObject o) {
        if (o != null) {
            try {
                o.close();
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.WARNING, "closing " + o + ": " + e.getMessage());
            }
        }
    }
}
