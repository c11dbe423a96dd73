package dev.syrup.isolation;

import dev.syrup.api.Protocol;
import dev.syrup.api.Target;
import dev.syrup.bpf.BpfException;
import dev.syrup.bpf.BpfMap;
import dev.syrup.bpf.BpfProgram;
import dev.syrup.bpf.MapInfo;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;

/**
 * Every bpffs operation of the dispatcher, in one place: its tree
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

    final Path tree;
    private boolean swept;

    DispatchPins(Path tree) {
        this.tree = tree;
    }

    Path dir(String root) {
        return tree.resolve(VERSION).resolve(root);
    }

    /** Removes, once, the trees of other layouts a previous syrupd left (their slots then empty). */
    synchronized void sweepOtherVersions() {
        if (swept) {
            return;
        }
        swept = true;
        try (var versions = Files.list(tree)) {
            for (Path v : versions.toList()) {
                if (!v.getFileName().toString().equals(VERSION)) {
                    LOG.log(System.Logger.Level.WARNING, "removing " + v + ": a dispatcher tree of another layout than "
                            + VERSION + "; the ports it served get the default until their deployments are installed again");
                    removeTree(v);
                }
            }
        } catch (NoSuchFileException e) {
            // nothing pinned yet
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "cannot look at " + tree + ": " + e.getMessage());
        }
    }

    /** The maps pinned in {@code dir}, when both are there. */
    Optional<BpfMap[]> openMaps(Path dir) {
        if (!Files.exists(dir.resolve(PORTS_PIN)) || !Files.exists(dir.resolve(SLOTS_PIN))) {
            return Optional.empty();
        }
        BpfMap ports = null;
        try {
            ports = BpfMap.openPinned(dir.resolve(PORTS_PIN));
            return Optional.of(new BpfMap[] {ports, BpfMap.openPinned(dir.resolve(SLOTS_PIN))});
        } catch (BpfException e) {
            if (ports != null) {
                ports.close();
            }
            LOG.log(System.Logger.Level.WARNING, "cannot open the maps pinned in " + dir + ": " + e.getMessage());
            return Optional.empty();
        }
    }

    /** The id of the program pinned as the root in {@code dir}; empty when none. */
    Optional<Integer> rootProgramId(Path dir) {
        Path pin = dir.resolve(ROOT_PIN);
        if (!Files.exists(pin)) {
            return Optional.empty();
        }
        try (BpfProgram p = BpfProgram.openPinned(pin)) {
            return Optional.of(p.info().id());
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

    /** Pins a new root's maps in {@code dir} (created as needed). */
    void pinMaps(Path dir, BpfMap ports, BpfMap slots) throws IOException {
        Files.createDirectories(dir.resolve(CLAIMS));
        ports.pin(dir.resolve(PORTS_PIN));
        slots.pin(dir.resolve(SLOTS_PIN));
    }

    /** Pins {@code program} as the root of {@code dir}, in place of the one there (a previous syrupd's). */
    void pinRoot(Path dir, BpfProgram program) throws IOException {
        Files.createDirectories(dir.resolve(CLAIMS));
        Files.deleteIfExists(dir.resolve(ROOT_PIN));
        program.pin(dir.resolve(ROOT_PIN));
    }

    /** An independent user reference to the pinned slots (what keeps their entries while it is open). */
    BpfMap holdSlots(Path dir) {
        return BpfMap.openPinned(dir.resolve(SLOTS_PIN));
    }

    void record(Path dir, Claim c) throws IOException {
        Files.createDirectories(dir.resolve(CLAIMS).resolve(c.fileName()));
    }

    void unrecord(Path dir, Claim c) {
        try {
            Files.deleteIfExists(dir.resolve(CLAIMS).resolve(c.fileName()));
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "cannot remove the record of " + c + " in " + dir + ": " + e.getMessage());
        }
    }

    /** The claims recorded in {@code dir}; a record that does not parse is removed. */
    List<Claim> records(Path dir) {
        List<Claim> out = new ArrayList<>();
        try (var names = Files.list(dir.resolve(CLAIMS))) {
            for (Path p : names.toList()) {
                Optional<Claim> c = Claim.parse(p.getFileName().toString());
                if (c.isPresent()) {
                    out.add(c.get());
                } else {
                    LOG.log(System.Logger.Level.WARNING, "removing " + p + ": not a claim record");
                    removeTree(p);
                }
            }
        } catch (NoSuchFileException e) {
            // no claims
        } catch (IOException e) {
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
        try {
            Files.deleteIfExists(dir);
        } catch (DirectoryNotEmptyException e) {
            // other roots are pinned there
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "cannot remove " + dir + ": " + e.getMessage());
        }
    }

    /** Unpins everything under {@code p} (files are pins, directories records), depth first. */
    static void removeTree(Path p) {
        try {
            if (Files.isDirectory(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                try (var children = Files.list(p)) {
                    for (Path c : children.toList()) {
                        removeTree(c);
                    }
                }
            }
            Files.deleteIfExists(p);
        } catch (NoSuchFileException e) {
            // gone already
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "cannot remove " + p + ": " + e.getMessage());
        }
    }

    static Target target(Claim c, String iface) {
        return iface == null ? Target.port(c.protocol(), c.port()) : new Target(c.protocol(), c.port(), Optional.of(iface));
    }
}
