package dev.syrup.backend.ebpf;

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
import dev.syrup.bpf.ProgramRules;
import dev.syrup.bpf.VerifierException;
import dev.syrup.bpf.PinDir;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * What every hook's deployment does with a policy's object the same way: report a failed load,
 * pin the Maps the policy declares, unpin them when a newer version or the end comes.
 */
final class PolicyObjects {

    private static final System.Logger LOG = System.getLogger(PolicyObjects.class.getName());

    private PolicyObjects() {
    }

    /**
     * Opens a policy's object under its hook's rules ({@link BpfObject#open(Path, ProgramRules)});
     * a refusal is VERIFIER naming each violation, and nothing was created.
     */
    static BpfObject open(Path object, ProgramRules rules) throws SyrupException {
        try {
            return BpfObject.open(object, rules);
        } catch (ObjectRejectedException e) {
            throw new SyrupException(Kind.VERIFIER, "the policy is not allowed at " + e.scope() + ":\n"
                    + String.join("\n", e.violations()), e);
        }
    }

    /** A load/install failure as users see it: the verifier's reason, or the kernel's error. */
    static SyrupException installFailed(RuntimeException e, Target target) {
        if (e instanceof VerifierException v) {
            return new SyrupException(Kind.VERIFIER, "the verifier rejected the policy (program " + v.programName() + ", "
                    + Errno.name(v.errno()) + "):\n" + String.join("\n", v.reason()), v);
        }
        return new SyrupException(Kind.KERNEL, "installing the policy on " + target + " failed: " + e.getMessage(), e);
    }

    /**
     * {@link dev.syrup.api.Hook#mapBytes}: what the Maps {@code object} declares would take,
     * (key + value) x max entries each (a per-CPU value once per possible CPU; a ring buffer its
     * max entries), the hook's own ({@code internal}) left out. Opens the ELF file only: nothing
     * is created in the kernel.
     */
    static long mapBytes(Path object, Set<String> internal) throws SyrupException {
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
     * live deployments of the owner have ({@link SharedMaps#reuse}).
     */
    static void reuseMaps(BpfObject obj, DeploymentDir pinDir, Set<String> internal, boolean firstInstall) throws SyrupException {
        if (firstInstall) {
            adoptPinned(obj, pinDir, internal);
        }
        SharedMaps.INSTANCE.reuse(obj, pinDir, internal);
    }

    /**
     * The end of a deployment, after its claim is released: the running policy (null: none) is
     * retired, its shared Maps let go, and unless {@code keepMaps} (for the next syrupd) its pins
     * and pin dir removed.
     */
    static void end(BpfObject running, DeploymentDir pinDir, Set<String> internal, boolean keepMaps) {
        if (running != null) {
            retire(running, internal, keepMaps);
        }
        SharedMaps.INSTANCE.release(pinDir);
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
            Path pin = pinDir.path.resolve(d.name());
            if (internal.contains(d.name()) || d.name().contains(".") || dir.stat(d.name()).isEmpty()) {
                continue;
            }
            // A link is not followed (ELOOP): only a Map pinned in this very directory is adopted.
            try (BpfMap pinned = BpfMap.openPinned(dir, d.name())) {
                String diff = SharedMaps.difference(d, pinned);
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
                dir.unlink(d.name()); // a link itself, never what it points to
            } catch (BpfException e) {
                LOG.log(System.Logger.Level.WARNING, "cannot remove " + pin + ": " + e.getMessage());
            }
        }
    }

    /**
     * Pins the policy's own Maps under {@code pinDir}: not the hook's {@code internal} ones and not
     * libbpf's .bss/.data/.rodata. A Map already pinned there ({@link #adoptPinned}) stays as it is.
     */
    static List<SyrupMap> pinPolicyMaps(BpfObject obj, DeploymentDir pinDir, Set<String> internal) throws SyrupException {
        List<SyrupMap> out = new ArrayList<>();
        try {
            PinDir dir = pinDir.get();
            for (BpfMap m : obj.maps()) {
                if (internal.contains(m.name()) || m.name().contains(".")) {
                    continue;
                }
                if (!m.claimPin(dir, m.name())) {
                    m.pin(dir, m.name());
                }
                out.add(new KernelMap(m.name(), m));
            }
        } catch (BpfException e) {
            throw new SyrupException(Kind.KERNEL, "the policy runs, but pinning its maps under " + pinDir
                    + " failed: " + e.getMessage(), e);
        }
        return out;
    }

    /** A policy version that no longer runs: its pins go ({@link #pinPolicyMaps}), then its kernel objects. */
    static void retire(BpfObject obj, Set<String> internal) {
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

    static void closeQuietly(BpfObject o) {
        if (o != null) {
            o.close();
        }
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
