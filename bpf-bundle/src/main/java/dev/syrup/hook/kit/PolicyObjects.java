package dev.syrup.hook.kit;

import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
import dev.syrup.api.Target;
import dev.syrup.api.map.SyrupMap;
import dev.syrup.bpf.BpfException;
import dev.syrup.bpf.BpfMap;
import dev.syrup.bpf.BpfObject;
import dev.syrup.bpf.Errno;
import dev.syrup.bpf.MapInfo;
import dev.syrup.bpf.ObjectRejectedException;
import dev.syrup.bpf.PinDir;
import dev.syrup.bpf.ProgramRules;
import dev.syrup.bpf.VerifierException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * What every BPF hook's deployment does with a policy's object the same way: open it under the
 * hook's {@link ProgramRules}, report a failed load as users see it, give it the Maps it should
 * get rather than create (its pin dir's, left by a previous syrupd; the owner's other
 * deployments', through the {@link MapRegistry}), pin its Maps, and unpin them when a newer
 * version or the end comes.
 *
 * <p>An install is make-before-break: {@link #open} and {@link #reuseMaps}, load, swap the new
 * program in, then {@link #retire} the old version, {@link #pinPolicyMaps} of the new one and
 * {@link MapRegistry#commit}. A failure before the swap closes the new object
 * ({@link #closeQuietly}) and leaves the running one as it was. The end is {@link #end}.
 * {@code internal} is always the hook's own maps (its executor map, {@link DecisionStats#MAP}):
 * never pinned as the policy's, never shared.
 */
public final class PolicyObjects {

    private static final System.Logger LOG = System.getLogger(PolicyObjects.class.getName());

    private PolicyObjects() {
    }

    /**
     * Opens a policy's object under its hook's rules ({@link BpfObject#open(Path, ProgramRules)});
     * a refusal is VERIFIER naming each violation, and nothing was created.
     */
    public static BpfObject open(Path object, ProgramRules rules) throws SyrupException {
        try {
            return BpfObject.open(object, rules);
        } catch (ObjectRejectedException e) {
            throw new SyrupException(Kind.VERIFIER, "the policy is not allowed at " + e.scope() + ":\n"
                    + String.join("\n", e.violations()), e);
        }
    }

    /** A load/install failure as users see it: the verifier's reason, or the kernel's error. */
    public static SyrupException installFailed(RuntimeException e, Target target) {
        if (e instanceof VerifierException v) {
            return new SyrupException(Kind.VERIFIER, "the verifier rejected the policy (program " + v.programName() + ", "
                    + Errno.name(v.errno()) + "):\n" + String.join("\n", v.reason()), v);
        }
        return new SyrupException(Kind.KERNEL, "installing the policy on " + target + " failed: " + e.getMessage(), e);
    }

    /**
     * {@link dev.syrup.hook.spi.Hook#mapBytes}: what the Maps {@code object} declares would take,
     * (key + value) x max entries each (a per-CPU value once per possible CPU; a ring buffer its
     * max entries), the hook's own ({@code internal}) left out. Opens the ELF file only: nothing
     * is created in the kernel.
     */
    public static long mapBytes(Path object, Set<String> internal) throws SyrupException {
        try (BpfObject obj = BpfObject.open(object)) {
            long total = 0;
            int cpus = Runtime.getRuntime().availableProcessors();
            for (MapInfo m : obj.declaredMaps()) {
                if (internal.contains(m.name())) {
                    continue;
                }
                long value = Integer.toUnsignedLong(m.valueSize());
                if (m.type() != null && m.type().name().contains("PERCPU")) {
                    value *= cpus;
                }
                long entry = Integer.toUnsignedLong(m.keySize()) + value;
                long entries = Integer.toUnsignedLong(m.maxEntries());
                total = Math.addExact(total, entry == 0 ? entries : Math.multiplyExact(entry, entries));
            }
            return total;
        } catch (ArithmeticException e) {
            return Long.MAX_VALUE;
        } catch (BpfException e) {
            throw new SyrupException(Kind.INVALID, "cannot read the compiled policy " + object.getFileName() + ": " + e.getMessage(), e);
        }
    }

    /**
     * Before a load: the policy Maps the object gets rather than creates. On the deployment's
     * first install, the ones its pin dir still holds ({@link #adoptPinned}); then those other
     * live deployments of the owner have ({@link MapRegistry#reuse}).
     */
    public static void reuseMaps(MapRegistry registry, BpfObject obj, DeploymentDir pinDir, Set<String> internal,
                                 boolean firstInstall) throws SyrupException {
        if (firstInstall) {
            adoptPinned(obj, pinDir, internal);
        }
        registry.reuse(obj, pinDir.path(), internal);
    }

    /**
     * The end of a deployment, after its claim is released: the running policy (null: none) is
     * retired, its shared Maps let go, and unless {@code keepMaps} (for the next syrupd) its pins
     * and pin dir removed.
     */
    public static void end(MapRegistry registry, BpfObject running, DeploymentDir pinDir, Set<String> internal,
                           boolean keepMaps) {
        if (running != null) {
            retire(running, internal, keepMaps);
        }
        registry.release(pinDir.path());
        if (keepMaps) {
            pinDir.end(false);
        } else {
            removePinDir(pinDir);
        }
    }

    /**
     * Before a deployment's first load: the policy Maps its pin dir already holds are the ones a
     * previous syrupd left there for it (a restart: the deployment is being re-adopted), so the
     * policy gets them, with their contents, when their shape matches what it declares. A pin of
     * another shape (the policy changed meanwhile) is removed, with a warning: the policy starts
     * from an empty Map of its own. Only the policy's own Maps ({@link #pinPolicyMaps}).
     */
    private static void adoptPinned(BpfObject obj, DeploymentDir pinDir, Set<String> internal) {
        PinDir dir = pinDir.existing().orElse(null);
        if (dir == null) {
            return;
        }
        for (MapInfo d : obj.declaredMaps()) {
            String pinName = pinName(d.name(), internal);
            if (pinName == null || dir.stat(pinName).isEmpty()) {
                continue;
            }
            Path pin = pinDir.path().resolve(pinName);
            // A link is not followed (ELOOP): only a Map pinned in this very directory is adopted.
            try (BpfMap pinned = BpfMap.openPinned(dir, pinName)) {
                String diff = MapRegistry.difference(d, pinned);
                if (diff == null) {
                    diff = placeDifference(obj, pinned);
                }
                if (diff == null) {
                    obj.reuseMap(d.name(), pinned); // libbpf keeps a duplicate of the fd
                    LOG.log(System.Logger.Level.INFO, "map '" + d.name() + "' adopted from " + pin);
                    continue;
                }
                LOG.log(System.Logger.Level.WARNING, "map '" + d.name() + "' pinned at " + pin + " has another shape than the policy"
                        + " declares (" + diff + "): the policy starts from an empty one");
            } catch (BpfException | IllegalArgumentException e) {
                LOG.log(System.Logger.Level.WARNING, "cannot adopt " + pin + " (the policy starts from an empty Map): " + e.getMessage());
            }
            try {
                dir.unlink(pinName); // a link itself, never what it points to
            } catch (BpfException e) {
                LOG.log(System.Logger.Level.WARNING, "cannot remove " + pin + ": " + e.getMessage());
            }
        }
    }

    /**
     * Pins the policy's own Maps under {@code pinDir}: not the hook's {@code internal} ones and not
     * libbpf's .bss/.data/.rodata. A Map already pinned there ({@link #adoptPinned}) stays as it is.
     */
    public static List<SyrupMap> pinPolicyMaps(BpfObject obj, DeploymentDir pinDir, Set<String> internal) throws SyrupException {
        List<SyrupMap> out = new ArrayList<>();
        try {
            PinDir dir = pinDir.get();
            for (BpfMap m : obj.maps()) {
                String pinName = pinName(m.name(), internal);
                if (pinName == null) {
                    continue;
                }
                if (!m.claimPin(dir, pinName)) {
                    m.pin(dir, pinName);
                }
                if (pinName.equals(m.name())) {
                    out.add(new KernelMap(m.name(), m));
                }
            }
        } catch (BpfException e) {
            throw new SyrupException(Kind.KERNEL, "the policy runs, but pinning its maps under " + pinDir
                    + " failed: " + e.getMessage(), e);
        }
        return out;
    }

    /**
     * Where the map {@code name} of a policy is pinned in its pin dir: a Map under its own name;
     * the policy's global variables ({@code .bss}, {@code .data}) as {@code globals-bss} and
     * {@code globals-data} (bpffs takes no dot, and no C name has a '-'), so that they carry
     * over a restart like its Maps (a round-robin counter goes on where it was); null for the
     * hook's {@code internal} maps, {@code .rodata} (constants, set at each compile) and other
     * sections, which are not kept.
     */
    public static String pinName(String name, Set<String> internal) {
        if (internal.contains(name)) {
            return null;
        }
        if (name.endsWith(".bss")) {
            return "globals-bss";
        }
        if (name.endsWith(".data")) {
            return "globals-data";
        }
        return name.contains(".") ? null : name;
    }

    /** A policy version that no longer runs: its pins go ({@link #pinPolicyMaps}), then its kernel objects. */
    public static void retire(BpfObject obj, Set<String> internal) {
        retire(obj, internal, false);
    }

    /** As {@link #retire(BpfObject, Set)}; with {@code keepMaps} the pins stay for the next syrupd ({@link #adoptPinned}). */
    private static void retire(BpfObject obj, Set<String> internal, boolean keepMaps) {
        if (!keepMaps) {
            unpinPolicyMaps(obj, internal);
        }
        obj.close();
    }

    private static void unpinPolicyMaps(BpfObject obj, Set<String> internal) {
        for (BpfMap m : obj.maps()) {
            if (internal.contains(m.name())) {
                continue;
            }
            try {
                m.unpin();
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.WARNING, "unpin " + m.name() + ": " + e.getMessage());
            }
        }
    }

    /**
     * Where the kernel map {@code m} lives against where {@code obj}'s programs will run, or null
     * when it is the same place: a map in a NIC's memory (an offloaded program's) is usable by
     * programs bound to that NIC only, a host map by host programs only.
     */
    static String placeDifference(BpfObject obj, BpfMap m) {
        java.util.OptionalInt has = m.device();
        java.util.OptionalInt runs = obj.device();
        return has.equals(runs) ? null : "the map is in " + place(has) + ", the policy runs in " + place(runs);
    }

    private static String place(java.util.OptionalInt device) {
        return device.isEmpty() ? "host memory" : "the memory of NIC ifindex " + device.getAsInt();
    }

    /** What bpftool shows of a loaded program. */
    public static dev.syrup.api.KernelProgram kernelProgram(dev.syrup.bpf.BpfProgram p) {
        dev.syrup.bpf.ProgramInfo i = p.info();
        return new dev.syrup.api.KernelProgram(i.id(), i.name(), i.type() == null ? Integer.toString(i.typeId())
                : i.type().name().toLowerCase(java.util.Locale.ROOT), i.tag());
    }

    public static void closeQuietly(BpfObject o) {
        if (o != null) {
            o.close();
        }
    }

    /**
     * One of the hook's own maps of a deployment (its executor map, cpu_redirect's arrival
     * counter), pinned as {@code <pin dir>/<fresh's name>} so that it outlives a syrupd that dies
     * without closing anything: the policy left in the dispatcher's slot still uses it, and the
     * next syrupd's policy must use the same one (a socket sits in one REUSEPORT_SOCKARRAY only).
     * When a map of {@code fresh}'s shape is pinned there already (a restart), that one is
     * returned and {@code fresh} closed; a pin of another shape is replaced, with a warning. Its
     * owner unpins it ({@link BpfMap#unpin}) before the pin dir goes.
     */
    public static BpfMap pinnedOrNew(DeploymentDir pinDir, BpfMap fresh) throws SyrupException {
        String name = fresh.name();
        try {
            PinDir dir = pinDir.get();
            if (dir.stat(name).isPresent()) {
                try {
                    BpfMap there = BpfMap.openPinned(dir, name);
                    if (there.typeId() == fresh.typeId() && there.keySize() == fresh.keySize()
                            && there.valueSize() == fresh.valueSize() && there.maxEntries() == fresh.maxEntries()
                            && there.flags() == fresh.flags()) {
                        fresh.close();
                        LOG.log(System.Logger.Level.INFO, "map '" + name + "' adopted from " + pinDir.path().resolve(name));
                        return there;
                    }
                    there.close();
                    LOG.log(System.Logger.Level.WARNING, "map " + pinDir.path().resolve(name) + " has another shape than this"
                            + " syrupd's: replaced");
                } catch (BpfException e) {
                    LOG.log(System.Logger.Level.WARNING, "cannot adopt " + pinDir.path().resolve(name) + ": " + e.getMessage());
                }
                dir.unpin(name);
            }
            fresh.pin(dir, name);
            return fresh;
        } catch (BpfException e) {
            fresh.close();
            throw new SyrupException(Kind.KERNEL, "cannot pin " + name + " under " + pinDir + ": " + e.getMessage(), e);
        }
    }

    /**
     * A deployment that failed to open: its pin dir's fd goes, and the dir with it when it is
     * empty (one it made); a previous syrupd's with Maps in it stays for the manager to remove.
     */
    public static void abandon(DeploymentDir pinDir) {
        try {
            pinDir.end(true);
        } catch (BpfException e) {
            pinDir.end(false);
        }
    }

    /** Unpins (a no-op when not pinned) and closes one of the hook's own maps ({@link #pinnedOrNew}). */
    public static void unpinAndClose(BpfMap m) {
        try {
            m.unpin();
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "unpin " + m.name() + ": " + e.getMessage());
        }
        m.close();
    }

    /** The deployment's (by now empty) pin directory, through the fd held for it. */
    private static void removePinDir(DeploymentDir pinDir) {
        try {
            if (!pinDir.end(true)) {
                LOG.log(System.Logger.Level.WARNING, "left " + pinDir + ": it is no longer the deployment's pin directory"
                        + " (replaced meanwhile; not followed)");
            }
        } catch (BpfException e) {
            LOG.log(System.Logger.Level.WARNING, "cannot remove " + pinDir + ": " + e.getMessage());
        }
    }
}
