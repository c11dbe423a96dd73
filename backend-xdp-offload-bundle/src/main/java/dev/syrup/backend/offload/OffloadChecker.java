package dev.syrup.backend.offload;

import dev.syrup.bpf.BpfHelpers;
import dev.syrup.bpf.MapType;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
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
 * <p>Read from the object itself, not from the source:
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

    /** Everything in {@code elf} that offload does not support; empty when nothing was found. */
    public static List<Finding> check(Path elf) throws IOException {
        return check(Files.readAllBytes(elf));
    }

    public static List<Finding> check(byte[] elf) {
        Elf e = new Elf(elf);
        List<Finding> out = new ArrayList<>();
        for (int idx = 0; idx < e.sections.size(); idx++) {
            Elf.Section s = e.sections.get(idx);
            if ((s.flags & 0x4 /* SHF_EXECINSTR */) == 0 || s.size == 0) {
                continue;
            }
            final int section = idx;
            ByteBuffer b = e.slice(s);
            int n = (int) (s.size / 8);
            Map<String, Integer> seen = new LinkedHashMap<>();
            for (int i = 0; i < n; i++) {
                int code = b.get(i * 8) & 0xff;
                int regs = b.get(i * 8 + 1) & 0xff;
                int src = regs >>> 4;
                int imm = b.getInt(i * 8 + 4);
                if (code == 0x85) { // BPF_JMP | BPF_CALL
                    if (src == 0) {
                        if (imm == BPF_FUNC_TAIL_CALL) {
                            seen.putIfAbsent("tail call (bpf_tail_call): offloaded programs cannot tail-call", i);
                        } else if (!ALLOWED_HELPERS.contains(imm)) {
                            seen.putIfAbsent("helper " + helperName(imm) + " (id " + imm + ") is not supported by NIC offload", i);
                        }
                    } else if (src == 1) {
                        seen.putIfAbsent("bpf-to-bpf call (a non-inlined function): Syrup offloads flat programs only;"
                                + " make the function static __always_inline", i);
                    } else if (src == 2) {
                        seen.putIfAbsent("kfunc call (btf id " + imm + ") is not supported by NIC offload", i);
                    }
                } else if (code == 0xdb || code == 0xc3) { // BPF_STX | BPF_ATOMIC, DW or W
                    if (imm != 0x00) { // BPF_ADD without BPF_FETCH = the old XADD
                        seen.putIfAbsent("atomic operation 0x" + Integer.toHexString(imm)
                                + " (only a plain atomic add is supported by NIC offload)", i);
                    }
                }
            }
            seen.forEach((what, at) -> out.add(new Finding(e.function(section, at * 8L).map(f -> "program " + f + " (section " + s.name + ")")
                    .orElse("section " + s.name) + ", instruction " + at, what)));
        }
        for (MapDef m : e.maps()) {
            MapType t = m.type < 0 ? null : MapType.of(m.type);
            if (t == null || !ALLOWED_MAPS.contains(t)) {
                out.add(new Finding("map " + m.name, "map type " + (t == null || t == MapType.UNKNOWN ? "#" + m.type : t.name())
                        + " is not supported by NIC offload (only HASH and ARRAY)"));
            }
            if ((m.flags & BPF_F_MMAPABLE) != 0) {
                out.add(new Finding("map " + m.name, "BPF_F_MMAPABLE: a map in NIC memory cannot be memory-mapped"
                        + " (declare it with SYR_HASH_MAP or a plain ARRAY without map_flags)"));
            }
        }
        return out;
    }

    record MapDef(String name, int type, int flags) {
    }

    /** Just enough of ELF64 little-endian and BTF to read BPF objects. */
    static final class Elf {
        record Section(String name, int type, long flags, long offset, long size, int link) {
        }

        final ByteBuffer buf;
        final List<Section> sections = new ArrayList<>();

        Elf(byte[] bytes) {
            buf = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
            if (bytes.length < 64 || buf.getInt(0) != 0x464c457f) {
                throw new IllegalArgumentException("not an ELF file");
            }
            if (bytes[4] != 2 || bytes[5] != 1) {
                throw new IllegalArgumentException("not a 64-bit little-endian ELF file");
            }
            long shoff = buf.getLong(0x28);
            int shentsize = buf.getShort(0x3a) & 0xffff;
            int shnum = buf.getShort(0x3c) & 0xffff;
            int shstrndx = buf.getShort(0x3e) & 0xffff;
            long strOff = buf.getLong((int) (shoff + (long) shstrndx * shentsize + 24));
            for (int i = 0; i < shnum; i++) {
                int h = (int) (shoff + (long) i * shentsize);
                String name = cstring((int) (strOff + (buf.getInt(h) & 0xffffffffL)));
                sections.add(new Section(name, buf.getInt(h + 4), buf.getLong(h + 8), buf.getLong(h + 24), buf.getLong(h + 32),
                        buf.getInt(h + 40)));
            }
        }

        /** The function symbol (STT_FUNC) of section {@code index} that covers byte {@code offset}. */
        java.util.Optional<String> function(int index, long offset) {
            for (Section st : sections) {
                if (st.type != 2 /* SHT_SYMTAB */) {
                    continue;
                }
                Section strtab = sections.get(st.link);
                for (long at = st.offset; at + 24 <= st.offset + st.size; at += 24) {
                    int p = (int) at;
                    int info = buf.get(p + 4) & 0xff;
                    int shndx = buf.getShort(p + 6) & 0xffff;
                    long value = buf.getLong(p + 8);
                    long size = buf.getLong(p + 16);
                    if ((info & 0xf) == 2 /* STT_FUNC */ && shndx == index && offset >= value && offset < value + Math.max(size, 8)) {
                        return java.util.Optional.of(cstring((int) (strtab.offset + (buf.getInt(p) & 0xffffffffL))));
                    }
                }
            }
            return java.util.Optional.empty();
        }

        ByteBuffer slice(Section s) {
            return buf.slice((int) s.offset, (int) s.size).order(ByteOrder.LITTLE_ENDIAN);
        }

        String cstring(int at) {
            int end = at;
            while (end < buf.limit() && buf.get(end) != 0) {
                end++;
            }
            byte[] b = new byte[end - at];
            buf.get(at, b);
            return new String(b, StandardCharsets.UTF_8);
        }

        /** The maps of the .maps section, from BTF: DATASEC ".maps" → VAR → STRUCT {type, map_flags, ...}. */
        List<MapDef> maps() {
            Section btf = sections.stream().filter(s -> s.name.equals(".BTF")).findFirst().orElse(null);
            if (btf == null) {
                return List.of();
            }
            ByteBuffer b = slice(btf);
            if ((b.getShort(0) & 0xffff) != 0xeb9f) {
                throw new IllegalArgumentException("bad BTF magic");
            }
            int hdrLen = b.getInt(4);
            int typeOff = hdrLen + b.getInt(8);
            int typeLen = b.getInt(12);
            int strOff = hdrLen + b.getInt(16);
            List<int[]> types = new ArrayList<>(); // [kind, nameOff, vlen, sizeOrType, dataPos]
            types.add(new int[5]); // id 0 = void
            int p = typeOff;
            while (p < typeOff + typeLen) {
                int nameOff = b.getInt(p);
                int info = b.getInt(p + 4);
                int sizeOrType = b.getInt(p + 8);
                int kind = (info >>> 24) & 0x1f;
                int vlen = info & 0xffff;
                int data = p + 12;
                types.add(new int[] {kind, nameOff, vlen, sizeOrType, data});
                p = data + switch (kind) {
                    case 1, 14, 17 -> 4;          // INT, VAR, DECL_TAG
                    case 3 -> 12;                 // ARRAY
                    case 4, 5, 15, 19 -> vlen * 12; // STRUCT, UNION, DATASEC, ENUM64
                    case 6, 13 -> vlen * 8;       // ENUM, FUNC_PROTO
                    default -> 0;                 // PTR, FWD, TYPEDEF, modifiers, FUNC, FLOAT, TYPE_TAG
                };
            }
            List<MapDef> out = new ArrayList<>();
            for (int[] t : types) {
                if (t[0] != 15 || !btfString(b, strOff, t[1]).equals(".maps")) {
                    continue;
                }
                for (int v = 0; v < t[2]; v++) {
                    int[] var = types.get(b.getInt(t[4] + v * 12));
                    String name = btfString(b, strOff, var[1]);
                    int[] st = resolve(types, var[3]);
                    int type = -1;
                    int flags = 0;
                    if (st[0] == 4) {
                        for (int m = 0; m < st[2]; m++) {
                            int at = st[4] + m * 12;
                            String member = btfString(b, strOff, b.getInt(at));
                            int value = uintMacro(b, types, b.getInt(at + 4));
                            if (member.equals("type")) {
                                type = value;
                            } else if (member.equals("map_flags")) {
                                flags = Math.max(0, value);
                            }
                        }
                    }
                    out.add(new MapDef(name, type, flags));
                }
            }
            return out;
        }

        /** Skips typedefs and modifiers. */
        private static int[] resolve(List<int[]> types, int id) {
            int[] t = types.get(id);
            while (t[0] == 8 || t[0] == 9 || t[0] == 10 || t[0] == 11 || t[0] == 18) {
                t = types.get(t[3]);
            }
            return t;
        }

        /** libbpf's __uint(name, val) is {@code int (*name)[val]}: PTR → ARRAY whose nelems is the value. */
        private static int uintMacro(ByteBuffer b, List<int[]> types, int id) {
            int[] ptr = resolve(types, id);
            if (ptr[0] != 2) {
                return -1;
            }
            int[] arr = resolve(types, ptr[3]);
            return arr[0] == 3 ? b.getInt(arr[4] + 8) : -1;
        }

        private static String btfString(ByteBuffer b, int strOff, int off) {
            int at = strOff + off;
            int end = at;
            while (end < b.limit() && b.get(end) != 0) {
                end++;
            }
            byte[] s = new byte[end - at];
            b.get(at, s);
            return new String(s, StandardCharsets.UTF_8);
        }
    }
}
