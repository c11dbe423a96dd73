package dev.syrup.bpf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The object check on objects clang compiles now: what each rule refuses, named by helper,
 * program, section and instruction, and what it lets through. No kernel needed.
 */
class ProgramRulesTest {

    /** Like socket_select's rules, on test names. */
    static final ProgramRules RULES = ProgramRules.of("t_hook")
            .withSection("sk_reuseport", ProgramType.SK_REUSEPORT)
            .withHelpers("bpf_sk_select_reuseport")
            .withOwnMap("t_socks", MapType.REUSEPORT_SOCKARRAY)
            .withCapabilities(Capability.BPF);

    static final String HEAD = """
            #include <linux/bpf.h>
            #include <bpf/bpf_helpers.h>
            struct {
            	__uint(type, BPF_MAP_TYPE_REUSEPORT_SOCKARRAY);
            	__uint(max_entries, 4);
            	__type(key, __u32);
            	__type(value, __u64);
            } t_socks SEC(".maps");
            struct {
            	__uint(type, BPF_MAP_TYPE_HASH);
            	__uint(max_entries, 16);
            	__type(key, __u32);
            	__type(value, __u64);
            } t_state SEC(".maps");
            char LICENSE[] SEC("license") = "GPL";
            """;

    static final String GOOD = HEAD + """
            static __noinline __u32 pick(__u32 n)
            {
            	return (bpf_get_prandom_u32() + (__u32)bpf_ktime_get_ns()) % n;
            }
            SEC("sk_reuseport")
            int t_good(struct sk_reuseport_md *md)
            {
            	__u32 k = 0, slot = pick(4);
            	__u64 *v = bpf_map_lookup_elem(&t_state, &k);
            	if (v)
            		__sync_fetch_and_add(v, 1);
            	bpf_sk_select_reuseport(md, &t_socks, &slot, 0);
            	return SK_PASS;
            }
            """;

    @Test
    void helperIdsAreTheKernelHeaders() throws IOException {
        // __BPF_FUNC_MAPPER lists FN(name) in id order (or FN(name, id) in newer headers)
        String h = Files.readString(Path.of("/usr/include/linux/bpf.h"));
        Matcher m = Pattern.compile("\\bFN\\((\\w+)(?:,\\s*(\\d+))?").matcher(h.substring(h.indexOf("__BPF_FUNC_MAPPER")));
        int id = 0;
        int checked = 0;
        while (m.find()) {
            int n = m.group(2) == null ? id : Integer.parseInt(m.group(2));
            if (!m.group(1).equals("unspec") && n <= 209) {
                assertEquals("bpf_" + m.group(1), BpfHelpers.name(n));
                checked++;
            }
            id = n + 1;
        }
        assertTrue(checked >= 200, "checked " + checked);
        assertEquals(113, BpfHelpers.id("bpf_probe_read_kernel"));
        assertEquals("helper #4711", BpfHelpers.name(4711));
    }

    @Test
    void readsFunctionsMapsAndExterns() throws Exception {
        ObjectSpec spec = ObjectSpec.read(compile("good", GOOD));
        assertEquals(List.of("t_good"), spec.programs().stream().map(ObjectSpec.Function::name).toList());
        assertTrue(spec.functions().stream().anyMatch(f -> f.name().equals("pick") && f.isSubprogram()), spec.functions().toString());
        assertEquals(List.of("t_socks", "t_state"), spec.maps().stream().map(ObjectSpec.MapSpec::name).sorted().toList());
        ObjectSpec.MapSpec state = spec.maps().stream().filter(m -> m.name().equals("t_state")).findFirst().orElseThrow();
        assertEquals(MapType.HASH, state.mapType());
        assertEquals(16, state.maxEntries());
        assertEquals(-1, state.pinning());
        assertEquals(List.of(), spec.externs());
        assertEquals(List.of(), RULES.violations(spec));
    }

    @Test
    void refusesAForbiddenHelperByNameWithProgramAndInstruction() throws Exception {
        List<String> v = violations("probe", HEAD + """
                SEC("sk_reuseport")
                int t_probe(struct sk_reuseport_md *md)
                {
                	__u64 x = 0;
                	bpf_probe_read_kernel(&x, sizeof(x), (void *)md->data);
                	return x ? SK_PASS : SK_DROP;
                }
                """);
        assertTrue(v.get(0).matches("program t_probe \\(section sk_reuseport\\), instruction \\d+: bpf_probe_read_kernel \\(helper 113\\)"
                + " is not allowed at t_hook"), v.toString());
        assertTrue(v.get(1).startsWith("helpers allowed at t_hook: bpf_map_lookup_elem, "), v.toString());
        assertTrue(v.get(1).contains("bpf_sk_select_reuseport"), v.toString());
        assertEquals(2, v.size(), v.toString());
    }

    @Test
    void findsHelpersInSubprogramsToo() throws Exception {
        List<String> v = violations("hidden", HEAD + """
                static __noinline __u64 hidden(__u64 a)
                {
                	return a + bpf_get_current_task();
                }
                SEC("sk_reuseport")
                int t_hidden(struct sk_reuseport_md *md)
                {
                	return hidden(md->len) ? SK_PASS : SK_DROP;
                }
                """);
        assertTrue(v.get(0).matches("function hidden \\(section \\.text\\), instruction \\d+: bpf_get_current_task \\(helper 35\\).*"),
                v.toString());
    }

    @Test
    void refusesTracePrintkLoopAndTailCall() throws Exception {
        List<String> v = violations("misc", HEAD + """
                struct {
                	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
                	__uint(max_entries, 1);
                	__type(key, __u32);
                	__type(value, __u32);
                } t_progs SEC(".maps");
                static long spin(__u32 i, void *ctx) { return 0; }
                SEC("sk_reuseport")
                int t_misc(struct sk_reuseport_md *md)
                {
                	bpf_printk("hi %d", md->len);
                	bpf_loop(1 << 23, spin, 0, 0);
                	bpf_tail_call(md, &t_progs, 0);
                	return SK_PASS;
                }
                """);
        String all = String.join("\n", v);
        assertTrue(all.contains("bpf_trace_printk (helper 6) is not allowed"), all);
        assertTrue(all.contains("bpf_loop (helper 181) is not allowed"), all);
        assertTrue(all.contains("bpf_tail_call (helper 12) is not allowed"), all);
        assertTrue(all.contains("map 't_progs': type PROG_ARRAY is not allowed at t_hook (allowed: ARRAY, HASH, LRU_HASH,"), all);
    }

    @Test
    void refusesPinningByName() throws Exception {
        List<String> v = violations("pin", HEAD + """
                struct {
                	__uint(type, BPF_MAP_TYPE_ARRAY);
                	__uint(max_entries, 1);
                	__type(key, __u32);
                	__type(value, __u64);
                	__uint(pinning, LIBBPF_PIN_BY_NAME);
                } t_pinned SEC(".maps");
                SEC("sk_reuseport")
                int t_pin(struct sk_reuseport_md *md)
                {
                	__u32 k = 0;
                	return bpf_map_lookup_elem(&t_pinned, &k) ? SK_PASS : SK_DROP;
                }
                """);
        assertEquals(List.of("map 't_pinned': pinning 1 (LIBBPF_PIN_BY_NAME) is not allowed: syrupd pins a policy's Maps itself,"
                + " under the deployment's directory"), v);
    }

    @Test
    void refusesKfuncsKsymsAndKconfig() throws Exception {
        List<String> v = violations("extern", HEAD + """
                extern void bpf_rcu_read_lock(void) __ksym;
                extern int LINUX_KERNEL_VERSION __kconfig;
                SEC("sk_reuseport")
                int t_extern(struct sk_reuseport_md *md)
                {
                	bpf_rcu_read_lock();
                	return LINUX_KERNEL_VERSION ? SK_PASS : SK_DROP;
                }
                """);
        String all = String.join("\n", v);
        assertTrue(all.contains("extern 'bpf_rcu_read_lock': kfuncs, __ksym and __kconfig externs are not allowed"), all);
        assertTrue(all.contains("extern 'LINUX_KERNEL_VERSION'"), all);
    }

    @Test
    void refusesRawPseudoLoadsAndKfuncCallInstructions() throws Exception {
        // r1 = map_fd(5): a map by the loader's fd number; call kfunc by BTF id 7
        List<String> v = violations("raw", HEAD + """
                SEC("sk_reuseport")
                int t_raw(struct sk_reuseport_md *md)
                {
                	asm volatile(".quad 0x0000000500001118\\n.quad 0\\n.quad 0x0000000700002085" ::: "r1");
                	return SK_PASS;
                }
                """);
        String all = String.join("\n", v);
        assertTrue(all.matches("(?s).*program t_raw \\(section sk_reuseport\\), instruction \\d+: a raw pseudo load of a map fd"
                + " \\(ld_imm64 src_reg 1\\): objects are referenced by name only.*"), all);
        assertTrue(all.contains("a kfunc call (BTF id 7): kernel functions are not allowed"), all);
    }

    @Test
    void refusesOtherSectionsAndWrongOwnMaps() throws Exception {
        List<String> v = violations("sections", """
                #include <linux/bpf.h>
                #include <bpf/bpf_helpers.h>
                struct {
                	__uint(type, BPF_MAP_TYPE_HASH);
                	__uint(max_entries, 4);
                	__type(key, __u32);
                	__type(value, __u64);
                } t_socks SEC(".maps");
                SEC("kprobe/do_sys_open") int t_kp(void *ctx) { return 0; }
                SEC("xdp") int t_xdp(struct xdp_md *ctx) { return XDP_PASS; }
                char LICENSE[] SEC("license") = "GPL";
                """);
        assertEquals(List.of(
                "program t_kp (section kprobe/do_sys_open): section kprobe/do_sys_open is not one t_hook defines (sk_reuseport)",
                "program t_xdp (section xdp): section xdp is not one t_hook defines (sk_reuseport)",
                "map 't_socks' is t_hook's own map, of type REUSEPORT_SOCKARRAY, not HASH"), v);
    }

    @Test
    void judgesLibbpfsViewToo() {
        // what BpfObject.open asks of libbpf's view after bpf_object__open_mem
        assertEquals(null, RULES.sectionViolation("sk_reuseport", ProgramType.SK_REUSEPORT));
        assertEquals("section sk_reuseport loads as XDP, not SK_REUSEPORT", RULES.sectionViolation("sk_reuseport", ProgramType.XDP));
        assertEquals("map 'm': pinning at /sys/fs/bpf/m (LIBBPF_PIN_BY_NAME) is not allowed: syrupd pins a policy's Maps itself,"
                + " under the deployment's directory", RULES.mapViolation("m", MapType.HASH.id(), "pinning at /sys/fs/bpf/m"));
        assertEquals(null, RULES.mapViolation("0123abcd.rodata", MapType.ARRAY.id(), null), "libbpf's own map");
        assertTrue(RULES.mapViolation("0123abcd.kconfig", MapType.ARRAY.id(), null).contains("not allowed"));
        assertTrue(RULES.mapViolation("x.bss", MapType.PROG_ARRAY.id(), null).contains("type PROG_ARRAY"), "a dotted name of another type");
        assertEquals("map 'm': type #99 is not allowed at t_hook (allowed: ARRAY, HASH, LRU_HASH, LRU_PERCPU_HASH, PERCPU_ARRAY,"
                + " PERCPU_HASH)", RULES.mapViolation("m", 99, null));
    }

    @Test
    void refusesWhatIsNotABpfObject() {
        assertThrows(IllegalArgumentException.class, () -> ObjectSpec.read("not an object".getBytes(StandardCharsets.UTF_8)));
        byte[] truncated = new byte[64];
        truncated[0] = 0x7f;
        truncated[1] = 'E';
        truncated[2] = 'L';
        truncated[3] = 'F';
        assertThrows(IllegalArgumentException.class, () -> ObjectSpec.read(truncated));
    }

    @Test
    void corruptObjectsAreRefusedCleanly() throws Exception {
        byte[] good = compile("good", GOOD);
        java.util.Random r = new java.util.Random(42);
        for (int i = 0; i < 2000; i++) {
            byte[] bad = i % 2 == 0 ? java.util.Arrays.copyOf(good, r.nextInt(good.length)) : good.clone();
            if (i % 2 == 1) {
                for (int k = 0; k < 4; k++) {
                    bad[r.nextInt(bad.length)] = (byte) r.nextInt(256);
                }
            }
            try {
                RULES.violations(ObjectSpec.read(bad));
            } catch (IllegalArgumentException expected) {
                // malformed: refused with a reason
            }
        }
    }

    @Test
    void checkThrowsWithEveryViolation() throws Exception {
        ObjectSpec spec = ObjectSpec.read(compile("probe2", HEAD + """
                SEC("sk_reuseport")
                int t_probe(struct sk_reuseport_md *md)
                {
                	bpf_printk("x");
                	return SK_PASS;
                }
                """));
        ObjectRejectedException e = assertThrows(ObjectRejectedException.class, () -> RULES.check(spec));
        assertEquals("t_hook", e.scope());
        assertTrue(e.getMessage().startsWith("not allowed at t_hook:\n  program t_probe"), e.getMessage());
        assertFalse(e.violations().isEmpty());
    }

    private static List<String> violations(String name, String source) throws Exception {
        return RULES.violations(ObjectSpec.read(compile(name, source)));
    }

    /** clang -O2 -g -target bpf on {@code source}; the object's bytes. */
    static byte[] compile(String name, String source) throws IOException, InterruptedException {
        Path dir = Path.of("target", "bpf-rules");
        Files.createDirectories(dir);
        Path src = dir.resolve("t_" + name + ".c");
        Path obj = dir.resolve("t_" + name + ".o");
        Files.writeString(src, source);
        String arch = System.getProperty("os.arch").equals("amd64") ? "x86_64" : System.getProperty("os.arch");
        List<String> cmd = new ArrayList<>(List.of("clang", "-O2", "-g", "-target", "bpf", "-mcpu=v3",
                "-I/usr/include/" + arch + "-linux-gnu", "-c", src.toString(), "-o", obj.toString()));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        p.getOutputStream().close();
        String out;
        try (InputStream in = p.getInputStream()) {
            out = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new AssertionError("clang failed for " + name + ":\n" + out);
        }
        return Files.readAllBytes(obj);
    }
}
