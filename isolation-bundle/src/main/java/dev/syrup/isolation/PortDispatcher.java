package dev.syrup.isolation;

import dev.syrup.api.Protocol;
import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
import dev.syrup.api.Target;
import dev.syrup.bpf.BpfException;
import dev.syrup.bpf.BpfMap;
import dev.syrup.bpf.BpfObject;
import dev.syrup.bpf.BpfProgram;
import dev.syrup.bpf.Errno;
import dev.syrup.bpf.Fd;
import dev.syrup.bpf.KernelObjects;
import dev.syrup.bpf.KernelSupport;
import dev.syrup.bpf.MapInfo;
import dev.syrup.bpf.ReuseportGroup;
import dev.syrup.bpf.Sockets;
import dev.syrup.bpf.VerifierException;
import dev.syrup.bpf.Xdp;
import dev.syrup.bpf.XdpAttachment;
import dev.syrup.dispatch.Dispatcher;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;
import java.util.TreeMap;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;

/**
 * The {@link Dispatcher}: root programs compiled into this bundle at build time
 * ({@code sk_dispatch.bpf.o}, {@code xdp_dispatch.bpf.o}), loaded through {@link BpfObject} when
 * the first claim at their layer (or interface) arrives and unloaded when the last one goes.
 *
 * <p>Kernel objects: per root an {@code ARRAY} {@code syrup_ports} ((protocol, port) → slot + 1,
 * indexed directly) and a {@code PROG_ARRAY} {@code syrup_slots}; the root program
 * {@code syrup_sk_disp} (one for all SO_REUSEPORT groups) or {@code syrup_xdp_disp} (one per
 * interface). All three are pinned, with a record of each claim, under the dispatcher's tree in
 * bpffs ({@link DispatchPins}): a pinned {@code PROG_ARRAY} keeps its entries, so when syrupd
 * dies without closing anything (kill -9) the policies in the slots, and the executor maps they
 * refer to, go on deciding. The next dispatcher adopts the tree as it starts: its roots reuse
 * the pinned maps (same shape, else a fresh tree, with a warning), and the recorded claims
 * become <em>leftovers</em> that keep their slot and their policy until their owner claims the
 * same target again (it gets the same slot, and its install swaps the program in one update),
 * {@link #discard} says that deployment is not coming back, or its pin dir is gone.
 * {@link #close()} (bundle stop, framework shutdown) releases, detaches and unpins everything:
 * after a graceful stop nothing of the dispatcher's is left.
 *
 * <p>Slots are handed out round-robin rather than lowest-free, so that a slot released now is not
 * reused for another application while a root program that already read its number may still
 * tail-call into it (the root runs under RCU; the next use of a slot is {@value #SLOTS} claims
 * away).
 */
@Component(service = Dispatcher.class, configurationPid = "dev.syrup.daemon")
public final class PortDispatcher implements Dispatcher, AutoCloseable {

    private static final System.Logger LOG = System.getLogger(PortDispatcher.class.getName());

    /** Same as SYRUP_DISPATCH_SLOTS in dispatch.h. */
    static final int SLOTS = 256;
    static final String SOCKET_LAYER = "socket_select";
    static final String XDP_LAYER = "xdp";
    static final String SK_OBJECT = "sk_dispatch.bpf.o";
    static final String XDP_OBJECT = "xdp_dispatch.bpf.o";
    public static final String SK_PROGRAM = "syrup_sk_disp";
    public static final String XDP_PROGRAM = "syrup_xdp_disp";
    /** Ids of the XDP roots the dispatchers of this process have attached (not leftovers of a dead syrupd). */
    private static final Set<Integer> ATTACHED_XDP_ROOTS = java.util.concurrent.ConcurrentHashMap.newKeySet();
    static final String PORTS_MAP = "syrup_ports";
    static final String SLOTS_MAP = "syrup_slots";
    /** How often leftovers whose deployment's pins are gone are looked for. */
    static final long SWEEP_SECONDS = 2;
    /** How long the slots map outlives its root program's id; see {@code closeOutlivingTheProgram}. */
    static final long RELEASE_GRACE_MS = 250;

    /** The daemon's configuration (PID {@code dev.syrup.daemon}), of which the dispatcher reads where to pin. */
    public @interface Config {
        String bpffsRoot() default "/sys/fs/bpf/syrup";
    }

    private static final java.util.concurrent.atomic.AtomicInteger PRIVATE_TREES = new java.util.concurrent.atomic.AtomicInteger();

    private final DispatchPins pins;
    /** A tree nobody adopts (tests' dispatchers): removed as a whole at close. */
    private final boolean privateTree;
    /** Guarded by {@code this}. */
    private Root socketRoot;
    /** By ifindex; guarded by {@code this}. */
    private final Map<Integer, Root> xdpRoots = new TreeMap<>();
    private boolean closed;

    /**
     * A dispatcher with a tree of its own, which no other dispatcher adopts (for tests that run
     * several dispatchers, or none of syrupd's): {@code <bpffs>/syrup-dispatch-<pid>-<n>}.
     */
    public PortDispatcher() {
        this(KernelSupport.BPFFS.resolve("syrup-dispatch-" + ProcessHandle.current().pid() + "-"
                + PRIVATE_TREES.incrementAndGet()), true);
    }

    /** Under OSGi: the tree is {@code <bpffsRoot>/}{@value Dispatcher#PIN_DIR}, beside the deployments' pins. */
    @Activate
    public PortDispatcher(Config config) {
        this(Path.of(config.bpffsRoot()).resolve(Dispatcher.PIN_DIR), false);
    }

    /** A dispatcher pinning under {@code tree}, adopting what an earlier one (a killed syrupd) left there. */
    public PortDispatcher(Path tree) {
        this(tree, false);
    }

    private PortDispatcher(Path tree, boolean privateTree) {
        this.pins = new DispatchPins(tree);
        this.privateTree = privateTree;
        if (!privateTree) {
            adoptAll();
        }
    }

    /**
     * At start: every root a previous dispatcher left pinned is adopted at once, so that its
     * leftovers are known (listed, discarded, released) whether or not anything claims at its
     * layer again. A root with no claim left is released right away.
     */
    private synchronized void adoptAll() {
        pins.sweepOtherVersions();
        try {
            for (String name : pins.roots()) {
                Path dir = pins.dir(name);
                try {
                    if (name.equals(SOCKET_LAYER)) {
                        socketRoot = Root.load(pins, SOCKET_LAYER, SOCKET_LAYER, SK_OBJECT, SK_PROGRAM, null, 0, null);
                        releaseIfIdle(socketRoot);
                    } else if (name.startsWith("xdp-")) {
                        int ifindex = Integer.parseInt(name.substring(4));
                        Optional<String> iface = interfaceName(ifindex);
                        if (iface.isEmpty()) {
                            LOG.log(System.Logger.Level.WARNING, "removing " + dir + ": interface " + ifindex
                                    + " is gone, and its XDP root with it");
                            pins.remove(dir);
                            continue;
                        }
                        Root r = Root.load(pins, XDP_LAYER, name, XDP_OBJECT, XDP_PROGRAM, iface.get(), ifindex, null);
                        xdpRoots.put(ifindex, r);
                        releaseIfIdle(r);
                    } else {
                        LOG.log(System.Logger.Level.WARNING, "removing " + dir + ": not a dispatcher root");
                        pins.remove(dir);
                    }
                } catch (SyrupException | RuntimeException e) {
                    LOG.log(System.Logger.Level.WARNING, "cannot adopt " + dir + ": " + e.getMessage());
                }
            }
        } catch (BpfException e) {
            LOG.log(System.Logger.Level.WARNING, "cannot look for a previous dispatcher's roots in " + pins.tree + ": " + e.getMessage());
        }
        scheduleSweep();
    }

    private static Optional<String> interfaceName(int ifindex) {
        try (var devs = Files.list(Path.of("/sys/class/net"))) {
            for (Path d : devs.toList()) {
                try {
                    if (Integer.parseInt(Files.readString(d.resolve("ifindex")).trim()) == ifindex) {
                        return Optional.of(d.getFileName().toString());
                    }
                } catch (IOException | NumberFormatException e) {
                    // not a device, or going away
                }
            }
        } catch (IOException e) {
            // then nothing can be told
        }
        return Optional.empty();
    }

    /**
     * Releases the leftovers whose deployment's pin dir is gone: syrupd removes those of a
     * deployment it will not re-adopt, at its start (pins no record explains) or when it drops
     * one, possibly after this dispatcher adopted the tree. Done on every entry and, while
     * leftovers remain, every {@value #SWEEP_SECONDS} s.
     */
    private synchronized void sweepLeftovers() {
        if (closed) {
            return;
        }
        List<Root> roots = new ArrayList<>(xdpRoots.values());
        if (socketRoot != null) {
            roots.add(socketRoot);
        }
        for (Root r : roots) {
            if (r.releaseOrphans()) {
                releaseIfIdle(r);
            }
        }
    }

    private boolean hasLeftovers() {
        return (socketRoot != null && socketRoot.hasLeftovers()) || xdpRoots.values().stream().anyMatch(Root::hasLeftovers);
    }

    /** Guarded by {@code this}. */
    private java.util.concurrent.ScheduledExecutorService sweeper;

    private void scheduleSweep() {
        if (!hasLeftovers() || sweeper != null) {
            return;
        }
        sweeper = java.util.concurrent.Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "syrup-dispatcher-leftovers");
            t.setDaemon(true);
            return t;
        });
        sweeper.scheduleWithFixedDelay(() -> {
            synchronized (this) {
                sweepLeftovers();
                if (!hasLeftovers() && sweeper != null) {
                    sweeper.shutdown();
                    sweeper = null;
                }
            }
        }, SWEEP_SECONDS, SWEEP_SECONDS, java.util.concurrent.TimeUnit.SECONDS);
    }

    /** Where this dispatcher pins its roots. */
    public Path tree() {
        return pins.tree;
    }

    @Override
    public Claim claimSocket(String owner, Target target) throws SyrupException {
        return claimSocket(owner, target, null);
    }

    @Override
    public synchronized Claim claimSocket(String owner, Target target, Path deployment) throws SyrupException {
        checkOpen();
        sweepLeftovers();
        requireOwner(owner);
        if (target.iface().isPresent()) {
            throw new SyrupException(Kind.INVALID, "socket_select claims a port, not an interface (" + target + ")");
        }
        boolean fresh = socketRoot == null;
        if (fresh) {
            socketRoot = Root.load(pins, SOCKET_LAYER, SOCKET_LAYER, SK_OBJECT, SK_PROGRAM, null, 0, null);
        }
        try {
            return socketRoot.claim(this, owner, target, deployment);
        } catch (SyrupException | RuntimeException e) {
            if (fresh) {
                releaseIfIdle(socketRoot);
            }
            throw e;
        }
    }

    @Override
    public Claim claimXdp(String owner, Target target, XdpMode mode) throws SyrupException {
        return claimXdp(owner, target, mode, null);
    }

    @Override
    public synchronized Claim claimXdp(String owner, Target target, XdpMode mode, Path deployment) throws SyrupException {
        checkOpen();
        sweepLeftovers();
        requireOwner(owner);
        if (mode == null) {
            throw new SyrupException(Kind.INVALID, "an XDP claim needs a mode (skb or drv)");
        }
        String iface = target.iface().orElseThrow(() -> new SyrupException(Kind.INVALID,
                "an XDP claim needs an interface (" + target + ")"));
        int ifindex;
        try {
            ifindex = Xdp.ifindex(iface);
        } catch (BpfException e) {
            throw new SyrupException(Kind.INVALID, "no network interface '" + iface + "'", e);
        }
        Root root = xdpRoots.get(ifindex);
        boolean fresh = root == null;
        if (fresh) {
            root = Root.load(pins, XDP_LAYER, xdpDir(ifindex), XDP_OBJECT, XDP_PROGRAM, iface, ifindex, mode);
            xdpRoots.put(ifindex, root);
        }
        if (root.attachment == null) {
            try {
                root.attachXdp(mode);
            } catch (SyrupException | RuntimeException e) {
                releaseIfIdle(root); // kept while it holds leftovers: the previous root decides for them
                throw e;
            }
        } else if (root.mode != mode) {
            throw new SyrupException(Kind.CONFLICT, "interface " + iface + " runs Syrup's XDP root in "
                    + root.mode.name().toLowerCase(java.util.Locale.ROOT) + " mode for " + root.holders()
                    + "; generic (skb) and native (drv) XDP cannot share an interface, so a "
                    + mode.name().toLowerCase(java.util.Locale.ROOT) + "-mode claim is refused");
        }
        try {
            return root.claim(this, owner, target, deployment);
        } catch (SyrupException | RuntimeException e) {
            if (fresh) {
                releaseIfIdle(root);
            }
            throw e;
        }
    }

    /**
     * A leftover claim on {@code target} at {@code layer} (a previous syrupd's, whose deployment
     * will not be re-adopted): its port is unmapped and its slot emptied, so the policy the dead
     * syrupd left there stops deciding, and with the last claim the root goes. A claim held now,
     * or none, is left alone. True when no claim holds the target afterwards. Adopts the layer's
     * tree to find it when this dispatcher has not loaded that root yet.
     */
    @Override
    public synchronized boolean discard(String layer, Target target) {
        checkOpen();
        sweepLeftovers();
        Root root;
        try {
            if (SOCKET_LAYER.equals(layer) && target.iface().isEmpty()) {
                if (socketRoot == null && pins.openMaps(pins.dir(SOCKET_LAYER)).map(PortDispatcher::closeAll).orElse(false)) {
                    socketRoot = Root.load(pins, SOCKET_LAYER, SOCKET_LAYER, SK_OBJECT, SK_PROGRAM, null, 0, null);
                }
                root = socketRoot;
            } else if (XDP_LAYER.equals(layer) && target.iface().isPresent()) {
                int ifindex = Xdp.ifindex(target.iface().get());
                root = xdpRoots.get(ifindex);
                if (root == null && pins.openMaps(pins.dir(xdpDir(ifindex))).map(PortDispatcher::closeAll).orElse(false)) {
                    root = Root.load(pins, XDP_LAYER, xdpDir(ifindex), XDP_OBJECT, XDP_PROGRAM, target.iface().get(), ifindex, null);
                    xdpRoots.put(ifindex, root);
                }
            } else {
                return false;
            }
        } catch (SyrupException | RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "cannot look for a leftover claim on " + target + " at " + layer + ": "
                    + e.getMessage());
            return false;
        }
        if (root == null) {
            return true;
        }
        Entry e = root.entries.get(target.protocol() + "/" + target.port());
        if (e != null && e.leftover) {
            LOG.log(System.Logger.Level.INFO, "discarding the claim of " + e.owner + " on " + target + " (slot " + e.slot
                    + ") that the previous syrupd left");
            e.handles = 1;
            root.release(e);
            releaseIfIdle(root);
            return true;
        }
        releaseIfIdle(root);
        return e == null;
    }

    private static boolean closeAll(BpfMap[] maps) {
        for (BpfMap m : maps) {
            m.close();
        }
        return true;
    }

    static String xdpDir(int ifindex) {
        return "xdp-" + ifindex;
    }

    @Override
    public synchronized List<ClaimInfo> claims() {
        sweepLeftovers();
        List<ClaimInfo> out = new ArrayList<>();
        if (socketRoot != null) {
            out.addAll(socketRoot.infos());
        }
        for (Root r : xdpRoots.values()) {
            out.addAll(r.infos());
        }
        return out;
    }

    /** The root program of socket_select, when loaded (for tests and diagnostics). */
    public synchronized Optional<BpfProgram> socketRootProgram() {
        return Optional.ofNullable(socketRoot).map(r -> r.program);
    }

    /** Releases every claim and root program; detaches the XDP roots; unpins the tree. Idempotent. */
    @Deactivate
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (sweeper != null) {
            sweeper.shutdownNow();
            sweeper = null;
        }
        if (socketRoot != null) {
            socketRoot.unload();
            socketRoot = null;
        }
        for (Root r : xdpRoots.values()) {
            r.unload();
        }
        xdpRoots.clear();
        if (privateTree) {
            DispatchPins.removeTree(pins.tree);
        }
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("the dispatcher is closed");
        }
    }

    private static void requireOwner(String owner) throws SyrupException {
        if (owner == null || owner.isBlank()) {
            throw new SyrupException(Kind.INVALID, "a claim needs an owner");
        }
    }

    /** Called with the lock held when a root may have lost its last claim. */
    private void releaseIfIdle(Root root) {
        if (!root.entries.isEmpty() || root.unloaded) {
            return;
        }
        root.unload();
        if (root == socketRoot) {
            socketRoot = null;
        } else {
            xdpRoots.remove(root.ifindex, root);
        }
    }

    /** (protocol, port) as the root programs' index into {@code syrup_ports} (dispatch.h: syrup_port_index). */
    static byte[] portKey(Protocol protocol, int port) {
        return ByteBuffer.allocate(4).order(ByteOrder.nativeOrder())
                .putInt((protocol == Protocol.TCP ? 65536 : 0) + port).array();
    }

    /** The value of a claimed port: slot + 1 (0 means unclaimed). */
    static byte[] portValue(int slot) {
        return ByteBuffer.allocate(4).order(ByteOrder.nativeOrder()).putInt(slot + 1).array();
    }

    static int ipProtocol(Protocol p) {
        return switch (p) {
            case UDP -> 17;
            case TCP -> 6;
        };
    }

    /** One root program with its maps: socket_select's, or one interface's XDP root. */
    private static final class Root {
        final String layer;
        final DispatchPins pins;
        /** Its directory in the tree. */
        final Path dir;
        final BpfObject object;
        final BpfProgram program;
        final BpfMap ports;
        final BpfMap slots;
        /**
         * A user reference to {@code syrup_slots} of its own, opened from the pin: what keeps the
         * slots' entries while the pin is being replaced, and the hold of {@link #closeOutlivingTheProgram}.
         */
        final BpfMap hold;
        final String iface;
        final int ifindex;
        XdpMode mode;
        /** The root program a previous syrupd pinned here (-1: none), replaced by this one. */
        final int previousRoot;
        /** By (protocol, port) key as a string, in claim order. */
        final Map<String, Entry> entries = new LinkedHashMap<>();
        final boolean[] used = new boolean[SLOTS];
        int cursor;
        /** The root's attachment to the interface; null while not attached. */
        XdpAttachment attachment;
        boolean unloaded;

        private Root(String layer, DispatchPins pins, Path dir, BpfObject object, BpfMap hold, String iface, int ifindex,
                     XdpMode mode, String program, int previousRoot) {
            this.layer = layer;
            this.pins = pins;
            this.dir = dir;
            this.object = object;
            this.program = object.program(program);
            this.ports = object.map(PORTS_MAP);
            this.slots = object.map(SLOTS_MAP);
            this.hold = hold;
            this.iface = iface;
            this.ifindex = ifindex;
            this.mode = mode;
            this.previousRoot = previousRoot;
        }

        /**
         * Loads the root, adopting the maps pinned in its directory when they have the shape
         * the object declares (a previous syrupd's: their claims come back as leftovers), else
         * pinning new ones there; the program is pinned in place of the previous one.
         */
        static Root load(DispatchPins pins, String layer, String dirName, String resource, String program, String iface,
                         int ifindex, XdpMode mode) throws SyrupException {
            pins.sweepOtherVersions();
            Path dir = pins.dir(dirName);
            Path elf;
            try (InputStream in = PortDispatcher.class.getResourceAsStream(resource)) {
                if (in == null) {
                    throw new IllegalStateException(resource + " is missing from the isolation bundle");
                }
                elf = Files.createTempFile("syrup-" + layer + "-", ".bpf.o");
                Files.write(elf, in.readAllBytes());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            BpfObject obj = null;
            BpfMap hold = null;
            boolean adopted = false;
            try {
                obj = BpfObject.open(elf);
                int previous = pins.rootProgramId(dir).orElse(-1);
                adopted = adopt(pins, dir, obj);
                obj.load();
                if (!adopted) {
                    pins.pinMaps(dir, obj.map(PORTS_MAP), obj.map(SLOTS_MAP));
                }
                hold = pins.holdSlots(dir);
                pins.pinRoot(dir, obj.program(program));
                Root r = new Root(layer, pins, dir, obj, hold, iface, ifindex, mode, program, previous);
                if (adopted) {
                    r.adoptClaims();
                }
                return r;
            } catch (VerifierException e) {
                failed(pins, dir, obj, hold, adopted);
                throw new SyrupException(Kind.KERNEL, "the kernel refused Syrup's " + layer + " root program: "
                        + String.join("\n", e.reason()), e);
            } catch (RuntimeException e) {
                failed(pins, dir, obj, hold, adopted);
                throw new SyrupException(Kind.KERNEL, "cannot load Syrup's " + layer + " root program: " + e.getMessage(), e);
            } finally {
                try {
                    Files.deleteIfExists(elf);
                } catch (IOException e) {
                    LOG.log(System.Logger.Level.WARNING, "cannot remove " + elf + ": " + e.getMessage());
                }
            }
        }

        /** A load that failed: what it pinned goes; an adopted tree stays for the next try. */
        private static void failed(DispatchPins pins, Path dir, BpfObject obj, BpfMap hold, boolean adopted) {
            if (!adopted) {
                pins.remove(dir);
            }
            closeQuietly(obj);
            if (hold != null) {
                hold.close();
            }
        }

        /** Before load: the object takes the maps pinned in {@code dir} if their shape matches; else that tree goes. */
        private static boolean adopt(DispatchPins pins, Path dir, BpfObject obj) {
            Optional<BpfMap[]> pinned = pins.openMaps(dir);
            if (pinned.isEmpty()) {
                if (DispatchPins.exists(dir)) {
                    LOG.log(System.Logger.Level.WARNING, "removing " + dir + ": an incomplete dispatcher tree");
                    pins.remove(dir);
                }
                return false;
            }
            BpfMap ports = pinned.get()[0];
            BpfMap slots = pinned.get()[1];
            try {
                String diff = null;
                for (MapInfo d : obj.declaredMaps()) {
                    BpfMap m = d.name().equals(PORTS_MAP) ? ports : d.name().equals(SLOTS_MAP) ? slots : null;
                    String x = m == null ? null : DispatchPins.difference(d, m);
                    if (x != null) {
                        diff = d.name() + ": " + x;
                    }
                }
                if (diff != null) {
                    LOG.log(System.Logger.Level.WARNING, "the dispatcher maps pinned in " + dir + " have another shape than this"
                            + " version's (" + diff + "): replacing them; the ports they served get the default until"
                            + " their deployments are installed again");
                    pins.remove(dir);
                    return false;
                }
                obj.reuseMap(PORTS_MAP, ports);
                obj.reuseMap(SLOTS_MAP, slots);
                LOG.log(System.Logger.Level.INFO, "adopted the dispatcher maps pinned in " + dir);
                return true;
            } finally {
                ports.close();
                slots.close();
            }
        }

        /**
         * The claims recorded in the tree become leftovers: each keeps its slot (and the policy
         * in it) until its owner claims the target again or it is discarded. A record that
         * disagrees with {@code syrup_ports}, and a filled slot no record explains, are cleared.
         */
        private void adoptClaims() {
            for (DispatchPins.Claim c : pins.records(dir)) {
                byte[] key = portKey(c.protocol(), c.port());
                boolean valid = c.slot() >= 0 && c.slot() < SLOTS && !used[c.slot()]
                        && ports.lookup(key).map(v -> Arrays.equals(v, portValue(c.slot()))).orElse(false);
                if (!valid || entries.containsKey(c.protocol() + "/" + c.port())) {
                    LOG.log(System.Logger.Level.WARNING, "dropping the record " + c + " in " + dir + ": syrup_ports does not"
                            + " map that port to that slot");
                    pins.unrecord(dir, c);
                    continue;
                }
                Entry e = new Entry(DispatchPins.target(c, iface), c.owner(), c.slot(), key, c);
                e.leftover = true;
                e.handles = 0;
                e.installed = slots.lookup(c.slot()).isPresent();
                used[c.slot()] = true;
                cursor = Math.max(cursor, (c.slot() + 1) % SLOTS);
                entries.put(c.protocol() + "/" + c.port(), e);
                LOG.log(System.Logger.Level.INFO, "claim of " + c.owner() + " on " + e.target + " at " + layer + " (slot " + c.slot()
                        + (e.installed ? ", its policy still deciding" : ", empty") + ") left by the previous syrupd: kept until"
                        + " its deployment is re-adopted or discarded");
            }
            releaseOrphans();
            for (int s = 0; s < SLOTS; s++) {
                if (!used[s] && slots.lookup(s).isPresent()) {
                    LOG.log(System.Logger.Level.WARNING, "emptying slot " + s + " in " + dir + ": no claim explains it");
                    slots.delete(s);
                }
            }
        }

        boolean hasLeftovers() {
            return entries.values().stream().anyMatch(e -> e.leftover);
        }

        /** Releases the leftovers whose deployment's pin dir is gone; whether any was. */
        boolean releaseOrphans() {
            boolean any = false;
            for (Entry e : new ArrayList<>(entries.values())) {
                if (e.leftover && e.record.deployment() != null && !DispatchPins.exists(e.record.deployment())) {
                    // syrupd removes the pins of a deployment it will not re-adopt (no record, an
                    // application's): nothing will claim this again.
                    LOG.log(System.Logger.Level.WARNING, "releasing the claim of " + e.owner + " on " + e.target + " at " + layer
                            + " (slot " + e.slot + ") that the previous syrupd left: its deployment's pins ("
                            + e.record.deployment() + ") are gone");
                    e.handles = 1;
                    release(e);
                    any = true;
                }
            }
            return any;
        }

        void attachXdp(XdpMode want) throws SyrupException {
            OptionalInt other = OptionalInt.empty();
            try {
                other = Xdp.attachedProgramId(ifindex, 0);
            } catch (BpfException e) {
                // query failed: let the attach itself say what is wrong
            }
            // A root of Syrup's attached to an interface this dispatcher has no root on is what a
            // syrupd that crashed (or was killed) left: its slots are the ones this root adopted
            // (or empty ones), so it decides as this one will. Replace it in one netlink update;
            // never anything else (UPDATE_IF_NOEXIST).
            boolean leftover = other.isPresent() && isLeftoverRoot(other.getAsInt());
            try {
                attachment = XdpAttachment.attach(ifindex, program, want.flags(), leftover ? other : OptionalInt.empty());
                if (leftover) {
                    LOG.log(System.Logger.Level.WARNING, "replaced the XDP root (program id " + other.getAsInt() + ") that an earlier"
                            + " syrupd left attached to " + iface);
                }
            } catch (BpfException e) {
                if (e.errno() == Errno.EBUSY || e.errno() == Errno.EEXIST) {
                    throw new SyrupException(Kind.CONFLICT, "interface " + iface + " already runs an XDP program"
                            + (other.isPresent() ? " (id " + other.getAsInt() + ")" : "")
                            + " that Syrup did not attach, or one in the other mode; detach it first", e);
                }
                throw new SyrupException(Kind.KERNEL, "attaching Syrup's XDP root to " + iface + " in "
                        + want.name().toLowerCase(java.util.Locale.ROOT) + " mode failed: " + e.getMessage(), e);
            }
            mode = want;
            ATTACHED_XDP_ROOTS.add(program.info().id());
            LOG.log(System.Logger.Level.INFO, "XDP root attached to " + iface + " (" + want + ")");
        }

        /** Whether program {@code id} is an XDP root of Syrup's that no dispatcher of this process runs. */
        private static boolean isLeftoverRoot(int id) {
            return !ATTACHED_XDP_ROOTS.contains(id)
                    && KernelObjects.programs().stream().anyMatch(p -> p.id() == id && p.name().equals(XDP_PROGRAM));
        }

        Claim claim(PortDispatcher owner, String who, Target target, Path deployment) throws SyrupException {
            String k = target.protocol() + "/" + target.port();
            Entry e = entries.get(k);
            if (e != null) {
                if (!e.owner.equals(who)) {
                    throw new SyrupException(Kind.CONFLICT, layer + " " + target + " is claimed by " + e.owner
                            + (e.leftover ? " (a deployment the previous syrupd left, not re-adopted yet)" : "")
                            + "; it cannot be claimed by " + who + " while " + e.owner + " holds it");
                }
                if (e.leftover) {
                    // The deployment is back: same slot, and the policy there decides until its install swaps it.
                    e.leftover = false;
                    e.handles = 1;
                    LOG.log(System.Logger.Level.INFO, who + " takes back its claim on " + target + " at " + layer + " (slot " + e.slot + ")");
                    return new Handle(owner, this, e);
                }
                e.handles++;
                return new Handle(owner, this, e);
            }
            int slot = freeSlot();
            if (slot < 0) {
                throw new SyrupException(Kind.CONFLICT, "all " + SLOTS + " " + layer + " slots"
                        + (iface != null ? " on " + iface : "") + " are claimed");
            }
            byte[] key = portKey(target.protocol(), target.port());
            DispatchPins.Claim record = new DispatchPins.Claim(target.protocol(), target.port(), slot, who, deployment);
            try {
                // The record first: a crash after it and before the port is mapped leaves a record
                // the next dispatcher finds inconsistent and drops, never a mapped port without one.
                pins.record(dir, record);
                slots.delete(slot); // nothing should be there; never inherit a program
                ports.update(key, portValue(slot), BpfMap.BPF_ANY);
            } catch (BpfException ex) {
                pins.unrecord(dir, record);
                throw new SyrupException(Kind.KERNEL, "cannot claim " + target + ": " + ex.getMessage(), ex);
            }
            used[slot] = true;
            e = new Entry(target, who, slot, key, record);
            entries.put(k, e);
            return new Handle(owner, this, e);
        }

        private int freeSlot() {
            for (int i = 0; i < SLOTS; i++) {
                int s = (cursor + i) % SLOTS;
                if (!used[s]) {
                    cursor = (s + 1) % SLOTS;
                    return s;
                }
            }
            return -1;
        }

        /** Called with the dispatcher's lock held. */
        void release(Entry e) {
            if (--e.handles > 0) {
                return;
            }
            // Unmap the port first, then empty the slot: the root never finds a slot that is being reused.
            try {
                ports.update(e.key, portValue(-1), BpfMap.BPF_ANY); // an array entry cannot be deleted: 0 = unclaimed
            } catch (BpfException ex) {
                LOG.log(System.Logger.Level.WARNING, "unmapping " + e.target + ": " + ex.getMessage());
            }
            try {
                slots.delete(e.slot);
            } catch (BpfException ex) {
                LOG.log(System.Logger.Level.WARNING, "emptying slot " + e.slot + ": " + ex.getMessage());
            }
            pins.unrecord(dir, e.record);
            used[e.slot] = false;
            e.installed = false;
            e.leftover = false;
            entries.remove(e.target.protocol() + "/" + e.target.port());
        }

        String holders() {
            return entries.values().stream().map(x -> x.owner).distinct().sorted().toList().toString();
        }

        List<ClaimInfo> infos() {
            List<ClaimInfo> out = new ArrayList<>();
            for (Entry e : entries.values()) {
                out.add(new ClaimInfo(layer, e.target, e.owner, e.slot, e.installed));
            }
            out.sort(Comparator.comparing((ClaimInfo c) -> c.target().protocol()).thenComparingInt(c -> c.target().port()));
            return out;
        }

        void unload() {
            if (unloaded) {
                return;
            }
            unloaded = true;
            if (attachment != null) {
                try {
                    ATTACHED_XDP_ROOTS.remove(program.info().id());
                } catch (RuntimeException e) {
                    // the id is only for telling leftovers apart
                }
                detach(attachment);
                attachment = null;
            } else if (iface != null && previousRoot >= 0) {
                // Adopted only to discard its claims: the previous syrupd's root may still be attached.
                try {
                    XdpAttachment.adopt(ifindex, previousRoot).ifPresent(this::detach);
                } catch (BpfException e) {
                    LOG.log(System.Logger.Level.WARNING, "cannot see what runs on " + iface + ": " + e.getMessage());
                }
            }
            entries.clear();
            closeOutlivingTheProgram();
        }

        /** Detaches the root if {@code iface} still runs it (never another program). */
        private void detach(XdpAttachment a) {
            try {
                a.close();
                LOG.log(System.Logger.Level.INFO, "XDP root detached from " + iface);
            } catch (BpfException e) {
                LOG.log(System.Logger.Level.WARNING, "detaching the XDP root from " + iface + ": " + e.getMessage());
            }
        }

        /**
         * Unpins the root's tree and closes the object so that its {@code PROG_ARRAY} is freed the
         * moment its last user reference goes. The kernel (6.x {@code prog_array_map_clear})
         * takes a map reference and queues a clearing work item each time the user count of a
         * {@code PROG_ARRAY} drops to zero, and loses that reference when the work item is
         * already queued: a leak checker or {@code bpftool map show} opening the map by id in
         * that instant leaks the map for good. While the root program still holds the map (a
         * program releases its maps an RCU grace period and a work item after its id
         * disappears: 10–50 ms here), every such open is a chance; so the program goes first,
         * with the map held through {@link #hold} (opens by id are harmless while a user
         * reference exists), and the last user reference is dropped {@value #RELEASE_GRACE_MS}
         * ms after the program's id is gone: the map is then freed by the clearing work item at
         * once. Measured with a by-id opener racing the release: 21 of 30 maps leaked without
         * this, 0 of 30 with it.
         */
        private void closeOutlivingTheProgram() {
            int progId = -1;
            try {
                progId = program.info().id();
            } catch (RuntimeException e) {
                // then there is nothing to wait for
            }
            pins.remove(dir);
            object.close();
            long end = System.nanoTime() + 2_000_000_000L;
            final int id = progId;
            while (id >= 0 && System.nanoTime() < end && KernelObjects.programs().stream().anyMatch(p -> p.id() == id)) {
                try {
                    Thread.sleep(2);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
            try {
                Thread.sleep(RELEASE_GRACE_MS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            hold.close();
        }
    }

    private static final class Entry {
        final Target target;
        final String owner;
        final int slot;
        final byte[] key;
        final DispatchPins.Claim record;
        int handles = 1;
        boolean installed;
        /** Recorded by a previous syrupd and not claimed again yet: no handle, no holder. */
        boolean leftover;

        Entry(Target target, String owner, int slot, byte[] key, DispatchPins.Claim record) {
            this.record = record;
            this.target = target;
            this.owner = owner;
            this.slot = slot;
            this.key = key;
        }
    }

    private static final class Handle implements Claim {
        private final PortDispatcher dispatcher;
        private final Root root;
        private final Entry entry;
        private boolean closed;

        Handle(PortDispatcher dispatcher, Root root, Entry entry) {
            this.dispatcher = dispatcher;
            this.root = root;
            this.entry = entry;
        }

        @Override
        public Target target() {
            return entry.target;
        }

        @Override
        public String owner() {
            return entry.owner;
        }

        @Override
        public int slot() {
            return entry.slot;
        }

        private void checkOpen() {
            if (closed || root.unloaded) {
                throw new IllegalStateException("the claim on " + entry.target + " is released");
            }
        }

        @Override
        public void install(int programFd) throws SyrupException {
            synchronized (dispatcher) {
                checkOpen();
                try {
                    // One map update: the kernel swaps the slot's program pointer atomically.
                    root.slots.updateInt(entry.slot, programFd);
                } catch (BpfException e) {
                    if (e.errno() == Errno.EINVAL) {
                        throw new SyrupException(Kind.INVALID, "the program cannot be tail-called by Syrup's "
                                + root.layer + " root (it must be a " + (root.layer.equals(XDP_LAYER) ? "xdp" : "sk_reuseport")
                                + " program): " + e.getMessage(), e);
                    }
                    throw new SyrupException(Kind.KERNEL, "installing the policy of " + entry.target + " in slot "
                            + entry.slot + " failed: " + e.getMessage(), e);
                }
                entry.installed = true;
            }
        }

        @Override
        public void uninstall() {
            synchronized (dispatcher) {
                checkOpen();
                root.slots.delete(entry.slot);
                entry.installed = false;
            }
        }

        @Override
        public void attachGroup(int socketFd) throws SyrupException {
            synchronized (dispatcher) {
                checkOpen();
                requireSocketLayer();
                try {
                    Sockets.setIntOption(borrow(socketFd), Sockets.SOL_SOCKET, Sockets.SO_ATTACH_REUSEPORT_EBPF,
                            root.program.fd());
                } catch (BpfException e) {
                    throw new SyrupException(Kind.KERNEL, "attaching the dispatcher to the group of " + entry.target
                            + " failed: " + e.getMessage(), e);
                }
            }
        }

        @Override
        public void detachGroup(int socketFd) {
            synchronized (dispatcher) {
                checkOpen();
                requireSocketLayer();
                try {
                    ReuseportGroup.detach(borrow(socketFd));
                } catch (BpfException e) {
                    if (e.errno() != Errno.ENOENT) { // nothing attached (e.g. detached through another socket)
                        throw e;
                    }
                }
            }
        }

        private void requireSocketLayer() {
            if (!root.layer.equals(SOCKET_LAYER)) {
                throw new IllegalStateException("an " + root.layer + " claim has no socket group");
            }
        }

        @Override
        public void close() {
            synchronized (dispatcher) {
                if (closed) {
                    return;
                }
                closed = true;
                if (root.unloaded) {
                    return;
                }
                root.release(entry);
                dispatcher.releaseIfIdle(root);
            }
        }

        @Override
        public String toString() {
            return "Claim[" + root.layer + " " + entry.target + " by " + entry.owner + ", slot " + entry.slot + "]";
        }
    }

    /**
     * A view of a caller's fd for the library's socket calls. Never closed here: the fd stays
     * the caller's ({@link Fd} has no cleaner, so an unclosed one never closes its number).
     */
    private static Fd borrow(int fd) {
        return Fd.adopt(fd);
    }

    private static void closeQuietly(BpfObject o) {
        if (o != null) {
            o.close();
        }
    }
}
