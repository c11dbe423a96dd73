package dev.syrup.backend.offload;

import dev.syrup.bpf.BpfHelpers;
import dev.syrup.bpf.MapType;
import dev.syrup.bpf.ObjectSpec;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Checks a compiled policy object (BPF ELF) against what NIC offload (the nfp JIT, the one
 * upstream offload target) can run, before anything is loaded, and names what it cannot.
 *
 * <p>Read from the object itself, not from the source, by {@link ObjectSpec} (the reader
 * {@link dev.syrup.bpf.ProgramRules} judges every policy with; no system call):
 * <ul>
 *   <li>every instruction of every executable section: helper calls ({@code BPF_JMP|BPF_CALL},
 *       src_reg 0, imm = helper id) against the allow-list {@link #ALLOWED_HELPERS}; calls to
 *       other functions of the object (src_reg 1, bpf-to-bpf) and kfunc calls (src_reg 2);
 *       {@code bpf_tail_call} (helper 12); atomic instructions ({@code BPF_STX|BPF_ATOMIC})
 *       other than a plain add (BPF_XADD, which nfp supports at 32 and 64 bits);</li>
 *   <li>the maps, from the {@code .maps} section's BTF (the {@code type} and {@code map_flags}
 *       members of each map definition): types other than HASH and ARRAY, and
 *       {@code BPF_F_MMAPABLE} (a map in NIC memory cannot be memory-mapped by applications).</li>
 * </ul>
 *
 * <p>The helper allow-list is the nfp driver's (drivers/net/ethernet/netronome/nfp/bpf):
 * map lookup/update/delete, get_prandom_u32, perf_event_output, xdp_adjust_head and
 * xdp_adjust_tail. Whether the verifier on the device accepts the program (stack size,
 * instruction count, packet access patterns) is only known at load; this check catches what
 * can never work, with names, before trying.
 */
public final class OffloadChecker {

    /** Helper ids nfp offload supports. */
    public static final Set<Integer> ALLOWED_HELPERS = Set.of(1, 2, 3, 7, 25, 44, 65);
    /** Map types nfp offload supports. */
    public static final Set<MapType> ALLOWED_MAPS = Set.of(MapType.HASH, MapType.ARRAY);

    static final int BPF_FUNC_TAIL_CALL = 12;
    static final int BPF_F_MMAPABLE = 1 << 10;

    /** One thing the NIC cannot run. */
    public record Finding(String where, String what) {
        @Override
        public String toString() {
            return where + ": " + what;
        }
    }

    private OffloadChecker() {
    }

    public static String helperName(int id) {
        return BpfHelpers.name(id);
    }

    /**
     * Everything in {@code elf} that offload does not support; empty when nothing was found.
     *
     * @throws IllegalArgumentException when it is no 64-bit little-endian BPF object
     */
    public static List<Finding> check(Path elf) throws IOException {
        return check(Files.readAllBytes(elf));
    }

    public static List<Finding> check(byte[] elf) {
        ObjectSpec spec = ObjectSpec.read(elf);
        List<Finding> out = new ArrayList<>();
        for (ObjectSpec.Function f : spec.functions()) {
            Map<String, Integer> seen = new LinkedHashMap<>();
            for (ObjectSpec.Insn insn : f.insns()) {
                int i = insn.index();
                if (insn.isCall()) {
                    if (insn.src() == 0) {
                        if (insn.imm() == BPF_FUNC_TAIL_CALL) {
                            seen.putIfAbsent("tail call (bpf_tail_call): offloaded programs cannot tail-call", i);
                        } else if (!ALLOWED_HELPERS.contains(insn.imm())) {
                            seen.putIfAbsent("helper " + helperName(insn.imm()) + " (id " + insn.imm()
                                    + ") is not supported by NIC offload", i);
                        }
                    } else if (insn.src() == 1) {
                        seen.putIfAbsent("bpf-to-bpf call (a non-inlined function): Syrup offloads flat programs only;"
                                + " make the function static __always_inline", i);
                    } else if (insn.src() == 2) {
                        seen.putIfAbsent("kfunc call (btf id " + insn.imm() + ") is not supported by NIC offload", i);
                    }
                } else if (insn.code() == 0xdb || insn.code() == 0xc3) { // BPF_STX | BPF_ATOMIC, DW or W
                    if (insn.imm() != 0x00) { // BPF_ADD without BPF_FETCH = the old XADD
                        seen.putIfAbsent("atomic operation 0x" + Integer.toHexString(insn.imm())
                                + " (only a plain atomic add is supported by NIC offload)", i);
                    }
                }
            }
            // Code no function symbol covers is named after its section.
            String where = f.name().equals(f.section()) ? "section " + f.section()
                    : "program " + f.name() + " (section " + f.section() + ")";
            seen.forEach((what, at) -> out.add(new Finding(where + ", instruction " + at, what)));
        }
        for (ObjectSpec.MapSpec m : spec.maps()) {
            MapType t = m.type() < 0 ? null : m.mapType();
            if (t == null || !ALLOWED_MAPS.contains(t)) {
                out.add(new Finding("map " + m.name(), "map type " + (t == null || t == MapType.UNKNOWN ? "#" + m.type() : t.name())
                        + " is not supported by NIC offload (only HASH and ARRAY)"));
            }
            if (m.flags() > 0 && (m.flags() & BPF_F_MMAPABLE) != 0) {
                out.add(new Finding("map " + m.name(), "BPF_F_MMAPABLE: a map in NIC memory cannot be memory-mapped"
                        + " (declare it with SYR_HASH_MAP or a plain ARRAY without map_flags)"));
            }
        }
        return out;
    }
}
