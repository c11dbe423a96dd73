package dev.syrup.backend.ghost;

import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
import dev.syrup.api.map.SyrupMap;
import dev.syrup.bpf.BpfException;
import dev.syrup.bpf.BpfMap;
import dev.syrup.bpf.BpfObject;
import dev.syrup.bpf.MapInfo;
import dev.syrup.bpf.VerifierException;
import dev.syrup.hook.kit.DeploymentDir;
import dev.syrup.hook.kit.KernelMap;
import dev.syrup.hook.kit.MapRegistry;
import dev.syrup.hook.kit.PolicyObjects;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * The policy versions of one thread_scheduler deployment, whatever the engine: a version is
 * loaded under the hook's rules through the verifier with the deployment's
 * {@code syr_decisions} and the Maps it shares (the running version's, a previous syrupd's pinned
 * ones, the owner's other deployments' through the {@link MapRegistry}); once it runs, its Maps
 * are pinned in the deployment's pin dir; a retired version's pins go.
 */
final class PolicyVersions {

    static final Set<String> INTERNAL = Set.of(ThreadGlue.DECISIONS_MAP);

    private final Path pinDir;
    private final MapRegistry registry;
    private final BpfMap decisions;

    PolicyVersions(Path pinDir, MapRegistry registry, BpfMap decisions) {
        this.pinDir = pinDir;
        this.registry = registry;
        this.decisions = decisions;
    }

    /**
     * Loads {@code object} beside {@code running} (null before the first install). A refusal
     * ({@code VERIFIER}, {@code KERNEL}, a Map shape mismatch) leaves nothing behind and changes
     * nothing.
     */
    BpfObject load(Path object, BpfObject running) throws SyrupException {
        BpfObject obj = null;
        try {
            obj = PolicyObjects.open(object, ThreadGlue.RULES);
            obj.reuseMap(ThreadGlue.DECISIONS_MAP, decisions);
            reuseMaps(obj, running);
            try {
                obj.load();
            } catch (VerifierException e) {
                throw new SyrupException(Kind.VERIFIER, "the verifier refused " + e.programName() + ": "
                        + String.join("\n", e.reason()), e);
            }
            obj.program(ThreadGlue.RUN_PROGRAM); // the glue's, or the object is not this hook's
            return obj;
        } catch (SyrupException e) {
            if (obj != null) {
                obj.close();
            }
            throw e;
        } catch (BpfException | IllegalStateException | java.util.NoSuchElementException e) {
            if (obj != null) {
                obj.close();
            }
            throw new SyrupException(Kind.KERNEL, "thread_scheduler: installing the policy failed: " + e.getMessage(), e);
        }
    }

    /**
     * Before load: a policy Map gets the running version's Map of that name and shape (a
     * replacement keeps its values); then the {@link MapRegistry} hands it the Maps other live
     * deployments of the same owner have, at any hook (the socket_select policy's {@code scan},
     * for example: paper §5.3), or refuses a shape mismatch.
     */
    private void reuseMaps(BpfObject obj, BpfObject running) throws SyrupException {
        for (MapInfo d : obj.declaredMaps()) {
            if (INTERNAL.contains(d.name()) || d.name().contains(".")) {
                continue;
            }
            if (running != null) {
                try {
                    BpfMap mine = running.map(d.name());
                    if (MapRegistry.difference(d, mine) == null) {
                        obj.reuseMap(d.name(), mine);
                    }
                } catch (java.util.NoSuchElementException e) {
                    // not in the running version
                }
            }
        }
        if (running == null) {
            // The first install: Maps a previous syrupd left pinned for this deployment (a re-adoption) come back.
            DeploymentDir dir = new DeploymentDir(pinDir);
            try {
                PolicyObjects.reuseMaps(registry, obj, dir, INTERNAL, true);
            } finally {
                dir.end(false);
            }
        } else {
            registry.reuse(obj, pinDir, INTERNAL);
        }
    }

    /**
     * The version that now runs: its Maps pinned in the pin dir and made the owner's, for other
     * deployments to share. By path, as {@link #retire} unpins them (the pin dir is in syrupd's
     * root-only bpffs tree).
     */
    List<SyrupMap> commit(BpfObject obj) throws SyrupException {
        List<SyrupMap> out = new ArrayList<>();
        try {
            Files.createDirectories(pinDir);
            for (BpfMap m : obj.maps()) {
                if (INTERNAL.contains(m.name()) || m.name().contains(".")) {
                    continue;
                }
                Path pin = pinDir.resolve(m.name());
                if (!m.claimPin(pin)) {
                    m.pin(pin);
                }
                out.add(new KernelMap(m.name(), m));
            }
        } catch (IOException | BpfException e) {
            throw new SyrupException(Kind.KERNEL, "the policy runs, but pinning its maps under " + pinDir + " failed: "
                    + e.getMessage(), e);
        }
        registry.commit(obj, pinDir, INTERNAL);
        return out;
    }

    /** A version that no longer runs: its Maps' pins go (a Map shared with a later version stays in the kernel), then its fds. */
    void retire(BpfObject obj) {
        PolicyObjects.retire(obj, INTERNAL);
    }
}
