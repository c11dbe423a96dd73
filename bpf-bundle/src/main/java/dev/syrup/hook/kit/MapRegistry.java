package dev.syrup.hook.kit;

import dev.syrup.api.SyrupException;
import dev.syrup.bpf.BpfMap;
import dev.syrup.bpf.BpfObject;
import dev.syrup.bpf.MapInfo;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import org.osgi.annotation.versioning.ProviderType;

/**
 * Maps across layers (paper §5.3), as a service: the policy Maps of one owner's deployments, by
 * name, so that two deployments of one application — at any hooks, of any bundles — that
 * declare a Map of the same name and shape use one kernel map. backend-ebpf registers one
 * ({@link SharedMaps}); every hook that loads policies takes it as a reference and goes through
 * it, so a hook of another bundle shares with the in-tree ones, in whichever order the
 * deployments come.
 *
 * <p>A deployment is known by its pin dir {@code <bpffs root>/<owner>/<id>}
 * ({@link dev.syrup.hook.spi.HookContext#pinDir}); its owner is the parent directory, so different
 * owners (and different bpffs roots) never share. Per install: {@link #reuse} before load
 * (hands the object the Maps the owner's other live deployments already have, or refuses a
 * shape mismatch; changes nothing), then {@link #commit} once the policy runs and its Maps are
 * pinned. {@link #release} when the deployment ends; the Map goes when its last user does.
 *
 * <p>Maps named in {@code internal} (the hook's own: executor map, decision counters) and
 * libbpf's {@code .bss}/{@code .data}/{@code .rodata} are never shared.
 *
 * <p>Syrup implements this type; hooks consume it.
 */
@ProviderType
public interface MapRegistry {

    /**
     * Before load: every Map {@code obj} declares that another live deployment of the same owner
     * already has becomes that kernel map ({@link BpfObject#reuseMap}). A Map whose only user is
     * this deployment itself (a replacement) is not reused: the new version gets its own.
     *
     * @param pinDir the deployment's pin dir, which names it
     * @throws SyrupException INVALID when the shapes differ, naming both deployments and the attribute
     */
    void reuse(BpfObject obj, Path pinDir, Set<String> internal) throws SyrupException;

    /**
     * After the loaded {@code obj} runs in the deployment and its Maps are pinned: records the
     * deployment as a user of each of its Maps (a new Map becomes shareable), and drops it from
     * the Maps its previous policy version had and this one has not.
     */
    void commit(BpfObject obj, Path pinDir, Set<String> internal);

    /** The deployment is gone: it no longer uses any Map; a Map without users is let go. */
    void release(Path pinDir);

    /** The deployments (pin dirs) using the owner's ({@code ownerDir}) Map {@code name}; empty when none. */
    List<Path> users(Path ownerDir, String name);

    /**
     * How a declared Map differs from a kernel map in shape (type, key and value size, max
     * entries, flags), or null when it does not: the check every reuse makes.
     */
    static String difference(MapInfo d, BpfMap m) {
        if (d.typeId() != m.typeId()) {
            return "type " + typeName(d.typeId()) + " vs " + typeName(m.typeId());
        }
        if (d.keySize() != m.keySize()) {
            return "key size " + d.keySize() + " vs " + m.keySize();
        }
        if (d.valueSize() != m.valueSize()) {
            return "value size " + d.valueSize() + " vs " + m.valueSize();
        }
        if (d.maxEntries() != m.maxEntries()) {
            return "max entries " + d.maxEntries() + " vs " + m.maxEntries();
        }
        if (d.flags() != m.flags()) {
            return "flags 0x" + Integer.toHexString(d.flags()) + " vs 0x" + Integer.toHexString(m.flags());
        }
        return null;
    }

    private static String typeName(int id) {
        dev.syrup.bpf.MapType t = dev.syrup.bpf.MapType.of(id);
        return t == dev.syrup.bpf.MapType.UNKNOWN ? "type " + id : t.name().toLowerCase(Locale.ROOT);
    }
}
