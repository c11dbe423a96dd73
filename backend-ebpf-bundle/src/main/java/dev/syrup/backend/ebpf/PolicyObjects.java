package dev.syrup.backend.ebpf;

import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
import dev.syrup.api.Target;
import dev.syrup.api.map.SyrupMap;
import dev.syrup.bpf.BpfException;
import dev.syrup.bpf.BpfMap;
import dev.syrup.bpf.BpfObject;
import dev.syrup.bpf.Errno;
import dev.syrup.bpf.VerifierException;
import java.io.IOException;
import java.nio.file.Files;
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

    /** A load/install failure as users see it: the verifier's reason, or the kernel's error. */
    static SyrupException installFailed(RuntimeException e, Target target) {
        if (e instanceof VerifierException v) {
            return new SyrupException(Kind.VERIFIER, "the verifier rejected the policy (program " + v.programName() + ", "
                    + Errno.name(v.errno()) + "):\n" + String.join("\n", v.reason()), v);
        }
        return new SyrupException(Kind.KERNEL, "installing the policy on " + target + " failed: " + e.getMessage(), e);
    }

    /**
     * Pins the policy's own Maps under {@code pinDir}: not the hook's {@code internal} ones and not
     * libbpf's .bss/.data/.rodata.
     */
    static List<SyrupMap> pinPolicyMaps(BpfObject obj, Path pinDir, Set<String> internal) throws SyrupException {
        List<SyrupMap> out = new ArrayList<>();
        try {
            Files.createDirectories(pinDir);
            for (BpfMap m : obj.maps()) {
                if (internal.contains(m.name()) || m.name().contains(".")) {
                    continue;
                }
                m.pin(pinDir.resolve(m.name()));
                out.add(new KernelMap(m.name(), m));
            }
        } catch (IOException | BpfException e) {
            throw new SyrupException(Kind.KERNEL, "the policy runs, but pinning its maps under " + pinDir
                    + " failed: " + e.getMessage(), e);
        }
        return out;
    }

    /** A policy version that no longer runs: its pins go ({@link #pinPolicyMaps}), then its kernel objects. */
    static void retire(BpfObject obj, Set<String> internal) {
        unpinPolicyMaps(obj, internal);
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

    /** The deployment's (by now empty) pin directory. */
    static void removePinDir(Path pinDir) {
        try {
            Files.deleteIfExists(pinDir);
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "cannot remove " + pinDir + ": " + e.getMessage());
        }
    }
}
