package dev.syrup.bpf;

import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;

/**
 * What an untrusted object may contain and do where it is loaded (a hook): its program
 * sections and their types, the helpers its code may call, the map types it may declare
 * besides the maps the loader itself provides ({@link #ownMaps}), and the capabilities its
 * load runs with ({@link BpfObject#open(java.nio.file.Path, ProgramRules)}).
 *
 * <p>{@link #violations(ObjectSpec)} judges an object from its bytes, before libbpf or the
 * kernel see it. Refused everywhere, whatever the lists say: kfunc calls and every other extern
 * (kfuncs, {@code __ksym}, {@code __kconfig}); raw pseudo loads ({@code ld_imm64} with a map fd,
 * map value, BTF id or map index in the instruction itself: those would name objects in the
 * loader's fd table); a {@code pinning} attribute on a map (libbpf would pin, or reuse, the map
 * at a path of the object's choosing); {@code struct_ops} sections. What the verifier decides
 * with fewer capabilities (pointer leaks, tracing helpers) it still decides at load.
 */
public record ProgramRules(String scope, Map<String, ProgramType> sections, Set<Integer> helpers, Set<MapType> mapTypes,
        Map<String, MapType> ownMaps, Set<Capability> capabilities) {

    /**
     * Helpers any scheduling policy may call, at every hook: its Maps, time, randomness, the
     * CPU it runs on, spin locks in Map values. Not: probe_read*, get_current_task*,
     * trace_printk (need CAP_PERFMON, leak kernel memory); loop, for_each_map_elem, timers
     * (unbounded work in softirq, callbacks); tail_call, ringbuf, perf_event_output (need map
     * types a policy may not declare).
     */
    public static final Set<Integer> BASE_HELPERS = helperIds("bpf_map_lookup_elem", "bpf_map_update_elem",
            "bpf_map_delete_elem", "bpf_map_lookup_percpu_elem", "bpf_ktime_get_ns", "bpf_ktime_get_boot_ns",
            "bpf_ktime_get_coarse_ns", "bpf_ktime_get_tai_ns", "bpf_jiffies64", "bpf_get_prandom_u32",
            "bpf_get_smp_processor_id", "bpf_get_numa_node_id", "bpf_spin_lock", "bpf_spin_unlock");

    /** Map types a policy may declare for its own state: the key/value kinds Syrup's Maps are. */
    public static final Set<MapType> POLICY_MAP_TYPES = Collections.unmodifiableSet(EnumSet.of(MapType.HASH, MapType.ARRAY,
            MapType.PERCPU_HASH, MapType.PERCPU_ARRAY, MapType.LRU_HASH, MapType.LRU_PERCPU_HASH));

    private static final int BPF_PSEUDO_CALL = 1;
    private static final int BPF_PSEUDO_KFUNC_CALL = 2;
    private static final int BPF_PSEUDO_FUNC = 4;
    private static final String[] PSEUDO_LOADS = {"", "a map fd", "a map value", "a BTF id (ksym)", "", "a map index",
            "a map value by index"};

    public ProgramRules {
        Objects.requireNonNull(scope, "scope");
        sections = Collections.unmodifiableMap(new LinkedHashMap<>(sections));
        helpers = Collections.unmodifiableSet(new TreeSet<>(helpers));
        mapTypes = mapTypes.isEmpty() ? Set.of() : Collections.unmodifiableSet(EnumSet.copyOf(mapTypes));
        ownMaps = Collections.unmodifiableMap(new LinkedHashMap<>(ownMaps));
        capabilities = capabilities.isEmpty() ? Set.of() : Collections.unmodifiableSet(EnumSet.copyOf(capabilities));
    }

    /** Rules for {@code scope} allowing nothing yet but {@link #BASE_HELPERS} and {@link #POLICY_MAP_TYPES}, loading with CAP_BPF. */
    public static ProgramRules of(String scope) {
        return new ProgramRules(scope, Map.of(), BASE_HELPERS, POLICY_MAP_TYPES, Map.of(), EnumSet.of(Capability.BPF));
    }

    /** Also a program in section {@code section} (exactly that name), which libbpf loads as {@code type}. */
    public ProgramRules withSection(String section, ProgramType type) {
        Map<String, ProgramType> s = new LinkedHashMap<>(sections);
        s.put(section, type);
        return new ProgramRules(scope, s, helpers, mapTypes, ownMaps, capabilities);
    }

    /** Also these helpers, by C name ({@code "bpf_sk_select_reuseport"}). */
    public ProgramRules withHelpers(String... names) {
        Set<Integer> h = new LinkedHashSet<>(helpers);
        h.addAll(helperIds(names));
        return new ProgramRules(scope, sections, h, mapTypes, ownMaps, capabilities);
    }

    /** Also a map the loader provides itself (reused, not created from the object): by name, of this type only. */
    public ProgramRules withOwnMap(String name, MapType type) {
        Map<String, MapType> m = new LinkedHashMap<>(ownMaps);
        m.put(name, type);
        return new ProgramRules(scope, sections, helpers, mapTypes, m, capabilities);
    }

    /** The effective capabilities of the load, instead of the present ones. */
    public ProgramRules withCapabilities(Capability... caps) {
        return new ProgramRules(scope, sections, helpers, mapTypes, ownMaps, Set.of(caps));
    }

    /** Everything in {@code spec} these rules refuse; empty when it may be loaded. */
    public List<String> violations(ObjectSpec spec) {
        List<String> out = new ArrayList<>();
        Set<Integer> refusedHelpers = new TreeSet<>();
        for (ObjectSpec.Function f : spec.functions()) {
            String where = f.isSubprogram() ? "function " + f.name() + " (section .text)"
                    : "program " + f.name() + " (section " + f.section() + ")";
            if (!f.isSubprogram()) {
                String bad = sectionViolation(f.section(), null);
                if (bad != null) {
                    out.add(where + ": " + bad);
                }
            }
            Set<String> seen = new LinkedHashSet<>();
            for (ObjectSpec.Insn i : f.insns()) {
                String what = null;
                if (i.isCall()) {
                    if (i.src() == 0 && !helpers.contains(i.imm())) {
                        what = BpfHelpers.name(i.imm()) + " (helper " + i.imm() + ") is not allowed at " + scope;
                        refusedHelpers.add(i.imm());
                    } else if (i.src() == BPF_PSEUDO_KFUNC_CALL) {
                        what = "a kfunc call (BTF id " + i.imm() + "): kernel functions are not allowed";
                    } else if (i.src() != 0 && i.src() != BPF_PSEUDO_CALL) {
                        what = "a call with src_reg " + i.src() + " is not a call form policies may use";
                    }
                } else if (i.isLoadImm64() && i.src() != 0 && i.src() != BPF_PSEUDO_FUNC) {
                    what = "a raw pseudo load of " + (i.src() < PSEUDO_LOADS.length && !PSEUDO_LOADS[i.src()].isEmpty()
                            ? PSEUDO_LOADS[i.src()] : "kind " + i.src()) + " (ld_imm64 src_reg " + i.src()
                            + "): objects are referenced by name only";
                }
                if (what != null && seen.add(what)) {
                    out.add(where + ", instruction " + i.index() + ": " + what);
                }
            }
        }
        if (!refusedHelpers.isEmpty()) {
            out.add("helpers allowed at " + scope + ": " + helpers.stream().map(BpfHelpers::name).collect(Collectors.joining(", ")));
        }
        for (ObjectSpec.MapSpec m : spec.maps()) {
            String bad = mapViolation(m.name(), m.type(), m.pinning() > 0 ? "pinning " + m.pinning() : null);
            if (bad != null) {
                out.add(bad);
            }
        }
        for (String e : spec.externs()) {
            out.add("extern '" + e + "': kfuncs, __ksym and __kconfig externs are not allowed");
        }
        if (spec.externs().isEmpty()) {
            for (String d : spec.btfDataSections()) {
                if (d.equals(".ksyms") || d.equals(".kconfig")) {
                    out.add("BTF section " + d + ": kfuncs, __ksym and __kconfig externs are not allowed");
                }
            }
        }
        for (String s : spec.sections()) {
            if (s.startsWith(".struct_ops")) {
                out.add("section " + s + ": struct_ops maps are not allowed");
            }
        }
        return out;
    }

    /** @throws ObjectRejectedException naming every violation */
    public void check(ObjectSpec spec) {
        List<String> v = violations(spec);
        if (!v.isEmpty()) {
            throw new ObjectRejectedException(scope, v);
        }
    }

    /**
     * What is wrong with a program in {@code section}, loaded as {@code type} (null: not known
     * yet, the section alone is judged); null when nothing.
     */
    public String sectionViolation(String section, ProgramType type) {
        ProgramType wanted = sections.get(section);
        if (wanted == null) {
            return "section " + section + " is not one " + scope + " defines (" + String.join(", ", sections.keySet()) + ")";
        }
        if (type != null && type != wanted) {
            return "section " + section + " loads as " + type + ", not " + wanted;
        }
        return null;
    }

    /**
     * What is wrong with map {@code name} of type number {@code type}, pinned as {@code pin}
     * (null: not pinned); null when nothing. libbpf's own maps (.bss, .data, .rodata, named with
     * a dot, which C names cannot have) are arrays of the object's globals.
     */
    public String mapViolation(String name, int type, String pin) {
        MapType t = MapType.of(type);
        String shown = t == MapType.UNKNOWN ? "#" + type : t.name();
        if (pin != null) {
            return "map '" + name + "': " + pin + " (LIBBPF_PIN_BY_NAME) is not allowed: syrupd pins a policy's Maps itself,"
                    + " under the deployment's directory";
        }
        MapType own = ownMaps.get(name);
        if (own != null) {
            return own == t ? null : "map '" + name + "' is " + scope + "'s own map, of type " + own + ", not " + shown;
        }
        if (name.endsWith(".kconfig")) {
            return "map '" + name + "': __kconfig externs are not allowed";
        }
        if (name.contains(".") && t == MapType.ARRAY) {
            return null;
        }
        if (!mapTypes.contains(t)) {
            return "map '" + name + "': type " + shown + " is not allowed at " + scope + " (allowed: "
                    + mapTypes.stream().map(MapType::name).sorted().collect(Collectors.joining(", ")) + ")";
        }
        return null;
    }

    private static Set<Integer> helperIds(String... names) {
        Set<Integer> out = new TreeSet<>();
        for (String n : names) {
            out.add(BpfHelpers.id(n));
        }
        return Collections.unmodifiableSet(out);
    }
}
