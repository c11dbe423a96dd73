package dev.syrup.isolation;

import dev.syrup.api.Protocol;
import dev.syrup.api.Target;
import dev.syrup.bpf.BpfException;
import dev.syrup.bpf.BpfMap;
import dev.syrup.bpf.BpfProgram;
import dev.syrup.bpf.Errno;
import dev.syrup.bpf.PinDir;
import dev.syrup.bpf.MapInfo;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;

/**
 * Every bpffs operation of the dispatcher, in one place, through {@link PinDir} (by directory
 * fds, following no link; directories {@code 0700}): its tree
 *
 * <pre>
 * &lt;tree&gt;/v1/&lt;root&gt;/root                           the root program
 *                   /ports                          syrup_ports
 *                   /slots                          syrup_slots (a pinned PROG_ARRAY keeps its entries)
 *                   /claims/&lt;proto&gt;-&lt;port&gt;-&lt;slot&gt;-&lt;owner&gt;-&lt;deployment&gt;   one empty directory per claim
 * </pre>
 *
 * where {@code <root>} is {@code socket_select} or {@code xdp-<ifindex>}, and the owner and the
 * deployment's pin dir (empty when the claimer gave none) are in hex. Names carry no dot
 * (bpffs refuses them). {@code v1} is the layout of the maps and of the records: a syrupd that
 * finds another version's tree removes it rather than guess what it means.
 */
final class DispatchPins {

    private static final System.Logger LOG = System.getLogger(DispatchPins.class.getName());

    static final String VERSION = "v1";
    static final String ROOT_PIN = "root", PORTS_PIN = "ports", SLOTS_PIN = "slots", CLAIMS = "claims";

    /** One claim as recorded in the tree; {@code deployment} (the claimer's pin dir) may be null. */
    record Claim(Protocol protocol, int port, int slot, String owner, Path deployment) {
        String fileName() {
            return protocol.label() + "-" + port + "-" + slot + "-" + hex(owner) + "-"
                    + (deployment == null ? "" : hex(deployment.toString()));
        }

        static Optional<Claim> parse(String name) {
            String[] f = name.split("-", 5);
            try {
                Protocol p = Protocol.parse(f[0]);
                return Optional.of(new Claim(p, Integer.parseInt(f[1]), Integer.parseInt(f[2]), unhex(f[3]),
                        f[4].isEmpty() ? null : Path.of(unhex(f[4]))));
            } catch (Exception e) {
                return Optional.empty();
            }
        }

        private static String hex(String s) {
            return HexFormat.of().formatHex(s.getBytes(StandardCharsets.UTF_8));
        }

        private static String unhex(String s) {
            return new String(HexFormat.of().parseHex(s), StandardCharsets.UTF_8);
        }
    }

    /** Directories of the tree: root's alone, as the rest of syrupd's bpffs tree. */
    static final int MODE = 0700;

    final Path tree;
    private boolean swept;

    DispatchPins(Path tree) {
        this.tree = tree.toAbsolutePath().normalize();
    }

    Path dir(String root) {
        return tree.resolve(VERSION).resolve(root);
    }

    /** {@code dir} opened without following a link; empty when it does not exist. */
    private static Optional<PinDir> open(Path dir) {
        try {
            return Optional.of(PinDir.open(dir));
        } catch (BpfException e) {
            if (e.errno() == Errno.ENOENT) {
                return Optional.empty();
            }
            throw e;
        }
    }

    /** Whether the directory {@code dir} is there (reached without following a link). */
    static boolean exists(Path dir) {
        try (PinDir d = open(dir).orElse(null)) {
            return d != null;
        } catch (BpfException e) {
            return e.errno() != Errno.ENOTDIR && e.errno() != Errno.ELOOP;
        }
    }

    /** Removes, once, the trees of other layouts a previous syrupd left (their slots then empty). */
    synchronized void sweepOtherVersions() {
        if (swept) {
            return;
        }
        swept = true;
        try (PinDir t = open(tree).orElse(null)) {
            if (t == null) {
                return;
            }
            for (String v : t.list()) {
                if (!v.equals(VERSION)) {
                    LOG.log(System.Logger.Level.WARNING, "removing " + tree.resolve(v) + ": a dispatcher tree of another layout"
                            + " than " + VERSION + "; the ports it served get the default until their deployments are"
                            + " installed again");
                    removeTree(t, v);
                }
            }
        } catch (BpfException e) {
            LOG.log(System.Logger.Level.WARNING, "cannot look at " + tree + ": " + e.getMessage());
        }
    }

    /** The roots pinned in this layout's directory. */
    List<String> roots() {
        try (PinDir v = open(tree.resolve(VERSION)).orElse(null)) {
            return v == null ? List.of() : v.list();
        }
    }

    /** The maps pinned in {@code dir} (ports, slots), when both are there. */
    Optional<BpfMap[]> openMaps(Path dir) {
        try (PinDir d = open(dir).orElse(null)) {
            if (d == null || d.stat(PORTS_PIN).isEmpty() || d.stat(SLOTS_PIN).isEmpty()) {
                return Optional.empty();
            }
            BpfMap ports = BpfMap.adopt(d.get(PORTS_PIN));
            try {
                return Optional.of(new BpfMap[] {ports, BpfMap.adopt(d.get(SLOTS_PIN))});
            } catch (RuntimeException e) {
                ports.close();
                throw e;
            }
        } catch (BpfException e) {
            LOG.log(System.Logger.Level.WARNING, "cannot open the maps pinned in " + dir + ": " + e.getMessage());
            return Optional.empty();
        }
    }

    /** The id of the program pinned as the root in {@code dir}; empty when none. */
    Optional<Integer> rootProgramId(Path dir) {
        try (PinDir d = open(dir).orElse(null)) {
            if (d == null || d.stat(ROOT_PIN).isEmpty()) {
                return Optional.empty();
            }
            try (BpfProgram p = BpfProgram.openPinned(d, ROOT_PIN)) {
                return Optional.of(p.info().id());
            }
        } catch (BpfException e) {
            return Optional.empty();
        }
    }

    /** Null when {@code pinned} has the shape {@code declared} says, else what differs. */
    static String difference(MapInfo declared, BpfMap pinned) {
        List<String> d = new ArrayList<>();
        if (declared.typeId() != pinned.typeId()) {
            d.add("type " + pinned.type() + " instead of " + declared.type());
        }
        if (declared.keySize() != pinned.keySize() || declared.valueSize() != pinned.valueSize()) {
            d.add("key/value " + pinned.keySize() + "/" + pinned.valueSize() + " instead of " + declared.keySize() + "/"
                    + declared.valueSize());
        }
        if (declared.maxEntries() != pinned.maxEntries()) {
            d.add(pinned.maxEntries() + " entries instead of " + declared.maxEntries());
        }
        if (declared.flags() != pinned.flags()) {
            d.add("flags " + pinned.flags() + " instead of " + declared.flags());
        }
        return d.isEmpty() ? null : String.join(", ", d);
    }

    /** Pins a new root's maps in {@code dir} (made, {@code 0700}, as needed). */
    void pinMaps(Path dir, BpfMap ports, BpfMap slots) {
        try (PinDir d = PinDir.create(dir, MODE); PinDir claims = d.mkdir(CLAIMS, MODE)) {
            d.pin(ports.fd(), PORTS_PIN);
            d.pin(slots.fd(), SLOTS_PIN);
        }
    }

    /** Pins {@code program} as the root of {@code dir}, in place of the one there (a previous syrupd's). */
    void pinRoot(Path dir, BpfProgram program) {
        try (PinDir d = PinDir.create(dir, MODE); PinDir claims = d.mkdir(CLAIMS, MODE)) {
            d.unpin(ROOT_PIN);
            d.pin(program.fd(), ROOT_PIN);
        }
    }

    /** An independent user reference to the pinned slots (what keeps their entries while it is open). */
    BpfMap holdSlots(Path dir) {
        try (PinDir d = PinDir.open(dir)) {
            return BpfMap.adopt(d.get(SLOTS_PIN));
        }
    }

    void record(Path dir, Claim c) {
        try (PinDir d = PinDir.create(dir, MODE); PinDir claims = d.mkdir(CLAIMS, MODE)) {
            claims.mkdir(c.fileName(), MODE).close();
        }
    }

    void unrecord(Path dir, Claim c) {
        try (PinDir claims = open(dir.resolve(CLAIMS)).orElse(null)) {
            if (claims != null) {
                claims.rmdir(c.fileName());
            }
        } catch (BpfException e) {
            LOG.log(System.Logger.Level.WARNING, "cannot remove the record of " + c + " in " + dir + ": " + e.getMessage());
        }
    }

    /** The claims recorded in {@code dir}; a record that does not parse is removed. */
    List<Claim> records(Path dir) {
        List<Claim> out = new ArrayList<>();
        try (PinDir claims = open(dir.resolve(CLAIMS)).orElse(null)) {
            if (claims == null) {
                return out;
            }
            for (String name : claims.list()) {
                Optional<Claim> c = Claim.parse(name);
                if (c.isPresent() && claims.stat(name).map(PinDir.Stat::isDirectory).orElse(false)) {
                    out.add(c.get());
                } else {
                    LOG.log(System.Logger.Level.WARNING, "removing " + claims.path().resolve(name) + ": not a claim record");
                    removeTree(claims, name);
                }
            }
        } catch (BpfException e) {
            LOG.log(System.Logger.Level.WARNING, "cannot read the claims in " + dir + ": " + e.getMessage());
        }
        return out;
    }

    /** Removes {@code dir} with its pins and records, then the tree's directories that are left empty. */
    void remove(Path dir) {
        removeTree(dir);
        removeIfEmpty(dir.getParent());
        removeIfEmpty(tree);
    }

    private static void removeIfEmpty(Path dir) {
        try (PinDir parent = open(dir.getParent()).orElse(null)) {
            if (parent != null) {
                parent.rmdir(dir.getFileName().toString());
            }
        } catch (BpfException e) {
            if (e.errno() != Errno.ENOTEMPTY) {
                LOG.log(System.Logger.Level.WARNING, "cannot remove " + dir + ": " + e.getMessage());
            }
        }
    }

    /** Unpins everything under {@code p} and removes it, walking by fds (a link is removed, never followed). */
    static void removeTree(Path p) {
        try (PinDir parent = open(p.getParent()).orElse(null)) {
            if (parent != null) {
                removeTree(parent, p.getFileName().toString());
            }
        } catch (BpfException e) {
            LOG.log(System.Logger.Level.WARNING, "cannot remove " + p + ": " + e.getMessage());
        }
    }

    private static void removeTree(PinDir parent, String name) {
        for (Path link : parent.removeTree(name)) {
            LOG.log(System.Logger.Level.WARNING, "removed " + link + ": a symbolic link in the dispatcher's tree (not followed)");
        }
    }

    static Target target(Claim c, String iface) {
        return iface == null ? Target.port(c.protocol(), c.port()) : new Target(c.protocol(), c.port(), Optional.of(iface));
    }
}
