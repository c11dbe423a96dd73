package dev.syrup.bpf;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * What a BPF ELF object declares, read from its bytes alone (no libbpf, no system call): the
 * code of every executable section, split into its functions, with every instruction; the
 * maps of {@code .maps} with the attributes libbpf reads from their BTF; the extern symbols
 * (kfuncs, {@code __ksym} variables, {@code __kconfig} values). {@link ProgramRules} judges it
 * before anything reaches the kernel.
 *
 * <p>Only 64-bit little-endian objects (what {@code clang -target bpf} emits on x86_64 and
 * aarch64). A malformed file throws {@link IllegalArgumentException}.
 */
public final class ObjectSpec {

    /** One instruction (8 bytes; the second half of a 16-byte {@code ld_imm64} is its own entry). */
    public record Insn(int index, int code, int dst, int src, short off, int imm) {
        /** {@code BPF_JMP | BPF_CALL}: a helper (src 0), a function of the object (src 1) or a kfunc (src 2). */
        public boolean isCall() {
            return code == 0x85;
        }

        /** {@code BPF_LD | BPF_IMM | BPF_DW}, the first half of a 16-byte load. */
        public boolean isLoadImm64() {
            return code == 0x18;
        }
    }

    /**
     * A function of an executable section: a program (any section but {@code .text}) or a
     * subprogram ({@code .text}, called or passed as a callback). Code of a section not
     * covered by a function symbol is a function named after the section.
     */
    public record Function(String name, String section, List<Insn> insns) {
        public boolean isSubprogram() {
            return section.equals(".text");
        }
    }

    /** A map of {@code .maps}: the integer attributes of its definition, -1 where not given. */
    public record MapSpec(String name, int type, int maxEntries, int flags, int pinning) {
        public MapType mapType() {
            return MapType.of(type);
        }
    }

    private final List<Function> functions;
    private final List<MapSpec> maps;
    private final List<String> externs;
    private final List<String> sections;
    private final List<String> dataSections;

    private ObjectSpec(List<Function> functions, List<MapSpec> maps, List<String> externs, List<String> sections,
            List<String> dataSections) {
        this.functions = List.copyOf(functions);
        this.maps = List.copyOf(maps);
        this.externs = List.copyOf(externs);
        this.sections = List.copyOf(sections);
        this.dataSections = List.copyOf(dataSections);
    }

    /** Every function of every executable section, programs and subprograms, in file order. */
    public List<Function> functions() {
        return functions;
    }

    /** The programs: functions outside {@code .text}. */
    public List<Function> programs() {
        return functions.stream().filter(f -> !f.isSubprogram()).toList();
    }

    public List<MapSpec> maps() {
        return maps;
    }

    /** Names of the undefined global symbols: what libbpf resolves against the kernel (kfuncs, ksyms, kconfig). */
    public List<String> externs() {
        return externs;
    }

    /** Names of all sections. */
    public List<String> sections() {
        return sections;
    }

    /** Names of the BTF data sections ({@code DATASEC}), e.g. {@code .maps}, {@code .bss}, {@code .ksyms}. */
    public List<String> btfDataSections() {
        return dataSections;
    }

    /** Reads an object file's bytes. */
    public static ObjectSpec read(byte[] elf) {
        try {
            return new Reader(elf).spec();
        } catch (IllegalArgumentException e) {
            throw e;
        } catch (RuntimeException e) { // out-of-range offsets and counts of a malformed file
            throw new IllegalArgumentException("malformed BPF object: " + e, e);
        }
    }

    private static final class Reader {
        private record Section(String name, int type, long flags, long offset, long size, int link) {
        }

        private record Symbol(String name, int info, int shndx, long value, long size) {
            int type() {
                return info & 0xf;
            }

            int bind() {
                return info >>> 4;
            }
        }

        private final ByteBuffer buf;
        private final List<Section> sections = new ArrayList<>();
        private final List<Symbol> symbols = new ArrayList<>();

        Reader(byte[] bytes) {
            buf = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
            if (bytes.length < 64 || buf.getInt(0) != 0x464c457f) {
                throw new IllegalArgumentException("not an ELF file");
            }
            if (bytes[4] != 2 || bytes[5] != 1) {
                throw new IllegalArgumentException("not a 64-bit little-endian ELF file");
            }
            if ((buf.getShort(0x12) & 0xffff) != 247 /* EM_BPF */) {
                throw new IllegalArgumentException("not a BPF object (e_machine " + (buf.getShort(0x12) & 0xffff) + ")");
            }
            long shoff = buf.getLong(0x28);
            int shentsize = buf.getShort(0x3a) & 0xffff;
            int shnum = buf.getShort(0x3c) & 0xffff;
            int shstrndx = buf.getShort(0x3e) & 0xffff;
            if (shentsize < 64 || shstrndx >= shnum) {
                throw new IllegalArgumentException("bad section header table");
            }
            long strOff = buf.getLong(index(shoff + (long) shstrndx * shentsize + 24));
            for (int i = 0; i < shnum; i++) {
                int h = index(shoff + (long) i * shentsize);
                sections.add(new Section(cstring(strOff + (buf.getInt(h) & 0xffffffffL)), buf.getInt(h + 4), buf.getLong(h + 8),
                        buf.getLong(h + 24), buf.getLong(h + 32), buf.getInt(h + 40)));
            }
            for (Section s : sections) {
                if (s.offset < 0 || s.size < 0 || s.offset + (s.type == 8 /* NOBITS */ ? 0 : s.size) > bytes.length) {
                    throw new IllegalArgumentException("section " + s.name + " lies outside the file");
                }
                if (s.type != 2 /* SHT_SYMTAB */) {
                    continue;
                }
                Section strtab = sections.get(s.link);
                for (long at = s.offset; at + 24 <= s.offset + s.size; at += 24) {
                    int p = index(at);
                    symbols.add(new Symbol(cstring(strtab.offset + (buf.getInt(p) & 0xffffffffL)), buf.get(p + 4) & 0xff,
                            buf.getShort(p + 6) & 0xffff, buf.getLong(p + 8), buf.getLong(p + 16)));
                }
            }
        }

        private static int index(long at) {
            if (at < 0 || at > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("offset " + at + " out of range");
            }
            return (int) at;
        }

        ObjectSpec spec() {
            List<Function> functions = new ArrayList<>();
            for (int idx = 0; idx < sections.size(); idx++) {
                Section s = sections.get(idx);
                if (s.type != 1 /* PROGBITS */ || (s.flags & 0x4 /* SHF_EXECINSTR */) == 0 || s.size == 0) {
                    continue;
                }
                functions.addAll(functions(idx, s));
            }
            List<String> externs = new ArrayList<>();
            for (Symbol sym : symbols) {
                if (sym.shndx == 0 && !sym.name.isEmpty() && (sym.bind() == 1 || sym.bind() == 2) /* GLOBAL, WEAK */) {
                    externs.add(sym.name);
                }
            }
            Btf btf = sections.stream().filter(s -> s.name.equals(".BTF")).findFirst().map(s -> new Btf(slice(s))).orElse(null);
            return new ObjectSpec(functions, btf == null ? List.of() : btf.maps(), externs,
                    sections.stream().map(Section::name).toList(), btf == null ? List.of() : btf.dataSections());
        }

        /** The section's code split at its function symbols; code no symbol covers is attributed to the section. */
        private List<Function> functions(int idx, Section s) {
            ByteBuffer code = slice(s);
            int n = (int) (s.size / 8);
            List<Insn> all = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                int regs = code.get(i * 8 + 1) & 0xff;
                all.add(new Insn(i, code.get(i * 8) & 0xff, regs & 0xf, regs >>> 4, code.getShort(i * 8 + 2), code.getInt(i * 8 + 4)));
            }
            List<Symbol> funcs = symbols.stream().filter(y -> y.type() == 2 /* STT_FUNC */ && y.shndx == idx)
                    .sorted(Comparator.comparingLong(Symbol::value)).toList();
            List<Function> out = new ArrayList<>();
            boolean[] covered = new boolean[n];
            for (Symbol f : funcs) {
                int from = (int) Math.min(n, Math.max(0, f.value / 8));
                int to = (int) Math.min(n, Math.max(from, (f.value + Math.max(f.size, 8)) / 8));
                out.add(new Function(f.name, s.name, List.copyOf(all.subList(from, to))));
                for (int i = from; i < to; i++) {
                    covered[i] = true;
                }
            }
            List<Insn> rest = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                if (!covered[i]) {
                    rest.add(all.get(i));
                }
            }
            if (!rest.isEmpty()) {
                out.add(new Function(s.name, s.name, List.copyOf(rest)));
            }
            return out;
        }

        private ByteBuffer slice(Section s) {
            return buf.slice(index(s.offset), index(s.size)).order(ByteOrder.LITTLE_ENDIAN);
        }

        private String cstring(long at) {
            int start = index(at);
            int end = start;
            while (end < buf.limit() && buf.get(end) != 0) {
                end++;
            }
            byte[] b = new byte[end - start];
            buf.get(start, b);
            return new String(b, StandardCharsets.UTF_8);
        }
    }

    /** Just enough BTF: the types, the DATASECs, and the map definitions of {@code .maps}. */
    private static final class Btf {
        private final ByteBuffer b;
        private final int strOff;
        private final int strEnd;
        /** [kind, nameOff, vlen, sizeOrType, dataPos] per type id (0 = void). */
        private final List<int[]> types = new ArrayList<>();

        Btf(ByteBuffer b) {
            this.b = b;
            if ((b.getShort(0) & 0xffff) != 0xeb9f) {
                throw new IllegalArgumentException("bad BTF magic");
            }
            int hdrLen = b.getInt(4);
            int typeOff = hdrLen + b.getInt(8);
            int typeLen = b.getInt(12);
            strOff = hdrLen + b.getInt(16);
            strEnd = strOff + b.getInt(20);
            types.add(new int[5]);
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
                    case 1, 14, 17 -> 4;            // INT, VAR, DECL_TAG
                    case 3 -> 12;                   // ARRAY
                    case 4, 5, 15, 19 -> vlen * 12; // STRUCT, UNION, DATASEC, ENUM64
                    case 6, 13 -> vlen * 8;         // ENUM, FUNC_PROTO
                    default -> 0;                   // PTR, FWD, TYPEDEF, modifiers, FUNC, FLOAT, TYPE_TAG
                };
            }
        }

        List<String> dataSections() {
            return types.stream().filter(t -> t[0] == 15).map(t -> string(t[1])).toList();
        }

        List<MapSpec> maps() {
            List<MapSpec> out = new ArrayList<>();
            for (int[] t : types) {
                if (t[0] != 15 || !string(t[1]).equals(".maps")) {
                    continue;
                }
                for (int v = 0; v < t[2]; v++) {
                    int[] var = type(b.getInt(t[4] + v * 12));
                    String name = string(var[1]);
                    int[] st = resolve(var[3]);
                    int mapType = -1;
                    int max = -1;
                    int flags = -1;
                    int pinning = -1;
                    if (st[0] == 4) {
                        for (int m = 0; m < st[2]; m++) {
                            int at = st[4] + m * 12;
                            String member = string(b.getInt(at));
                            int value = uintMacro(b.getInt(at + 4));
                            switch (member) {
                                case "type" -> mapType = value;
                                case "max_entries" -> max = value;
                                case "map_flags" -> flags = value;
                                case "pinning" -> pinning = value;
                                default -> {
                                }
                            }
                        }
                    }
                    out.add(new MapSpec(name, mapType, max, flags, pinning));
                }
            }
            return out;
        }

        private int[] type(int id) {
            if (id < 0 || id >= types.size()) {
                throw new IllegalArgumentException("BTF type id " + id + " out of range");
            }
            return types.get(id);
        }

        /** Skips typedefs and modifiers (bounded: a cycle is malformed BTF). */
        private int[] resolve(int id) {
            int[] t = type(id);
            for (int hops = 0; t[0] == 8 || t[0] == 9 || t[0] == 10 || t[0] == 11 || t[0] == 18; hops++) {
                if (hops > 64) {
                    throw new IllegalArgumentException("BTF type chain too long");
                }
                t = type(t[3]);
            }
            return t;
        }

        /** libbpf's {@code __uint(name, val)} is {@code int (*name)[val]}: PTR → ARRAY whose nelems is the value. */
        private int uintMacro(int id) {
            int[] ptr = resolve(id);
            if (ptr[0] != 2) {
                return -1;
            }
            int[] arr = resolve(ptr[3]);
            return arr[0] == 3 ? b.getInt(arr[4] + 8) : -1;
        }

        private String string(int off) {
            int at = strOff + off;
            if (off < 0 || at >= strEnd) {
                throw new IllegalArgumentException("BTF string offset " + off + " out of range");
            }
            int end = at;
            while (end < strEnd && b.get(end) != 0) {
                end++;
            }
            byte[] s = new byte[end - at];
            b.get(at, s);
            return new String(s, StandardCharsets.UTF_8);
        }
    }
}
