package dev.syrup.daemon.compile;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.syrup.api.SyrupException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Compiles real policies with clang, in the compile sandbox. */
class PolicyCompilerTest {

    /** The shape of a hook's glue: syrup.h, the policy, one program calling schedule(). */
    static String glue(String policy) {
        return """
                #include "syrup.h"
                static __always_inline uint32_t schedule(void *pkt_start, void *pkt_end);
                #include "%s"
                SEC("xdp")
                int prog(struct xdp_md *ctx)
                {
                	return schedule((void *)(long)ctx->data, (void *)(long)ctx->data_end) == SYR_DROP ? XDP_DROP : XDP_PASS;
                }
                char _license[] SEC("license") = "GPL";
                """.formatted(policy);
    }

    @TempDir
    Path dir;

    @Test
    void builtinsCompileAndAreCached() throws Exception {
        PolicyCompiler c = new PolicyCompiler("clang", dir.resolve("work"));
        Builtins builtins = new Builtins(dir.resolve("builtins"));
        for (String name : Builtins.NAMES) {
            PolicySource src = builtins.resolve(name);
            Path first = c.compile(src, glue(PolicyCompiler.fileName(src)), Map.of("NUM_EXECUTORS", "4"));
            byte[] elf = Files.readAllBytes(first);
            assertArrayEquals(new byte[] {0x7f, 'E', 'L', 'F'}, Arrays.copyOf(elf, 4), name + " is not an ELF object");
            long mtime = Files.getLastModifiedTime(first).toMillis();
            Path again = c.compile(src, glue(PolicyCompiler.fileName(src)), Map.of("NUM_EXECUTORS", "4"));
            assertEquals(first, again, "same input, same cached object");
            assertEquals(mtime, Files.getLastModifiedTime(again).toMillis(), "a cache hit does not recompile");
            Path other = c.compile(src, glue(PolicyCompiler.fileName(src)), Map.of("NUM_EXECUTORS", "3"));
            assertNotEquals(first, other, "a different define is a different object");
        }
    }

    @Test
    void syntaxErrorNamesTheUsersFileAndLine() throws Exception {
        PolicyCompiler c = new PolicyCompiler("clang", dir.resolve("work"));
        Path bad = dir.resolve("bad_policy.c");
        Files.writeString(bad, """
                #include "syrup.h"
                uint32_t schedule(void *pkt_start, void *pkt_end)
                {
                	return 0
                }
                """);
        PolicySource src = new PolicySource("bad_policy.c", bad, false);
        SyrupException e = assertThrows(SyrupException.class, () -> c.compile(src, glue("bad_policy.c"), Map.of()));
        assertEquals(SyrupException.Kind.COMPILE, e.kind());
        assertTrue(e.getMessage().contains("\nbad_policy.c:4:"), "named by its file name alone: " + e.getMessage());
        assertTrue(!e.getMessage().contains(dir.toString()), "no host path: " + e.getMessage());
        assertTrue(e.getMessage().contains("error: expected ';'"), e.getMessage());
        assertTrue(!e.getMessage().contains("In file included from"), "glue noise is removed: " + e.getMessage());
    }

    @Test
    void definesArePassedAndChecked() throws Exception {
        PolicyCompiler c = new PolicyCompiler("clang", dir.resolve("work"));
        Path p = dir.resolve("needs_define.c");
        Files.writeString(p, """
                #ifndef LIMIT
                #error LIMIT must be defined
                #endif
                uint32_t schedule(void *pkt_start, void *pkt_end) { return LIMIT; }
                """);
        PolicySource src = new PolicySource("needs_define.c", p, false);
        SyrupException missing = assertThrows(SyrupException.class, () -> c.compile(src, glue("needs_define.c"), Map.of()));
        assertTrue(missing.getMessage().contains("LIMIT must be defined"), missing.getMessage());
        assertTrue(Files.isRegularFile(c.compile(src, glue("needs_define.c"), Map.of("LIMIT", "7"))));
        SyrupException bad = assertThrows(SyrupException.class, () -> c.compile(src, glue("needs_define.c"), Map.of("7x; rm", "1")));
        assertEquals(SyrupException.Kind.INVALID, bad.kind());
    }

    @Test
    void unknownPolicyIsNotFound() {
        Builtins builtins = new Builtins(dir.resolve("builtins"));
        SyrupException e = assertThrows(SyrupException.class, () -> builtins.resolve(dir.resolve("nope.c").toString()));
        assertEquals(SyrupException.Kind.NOT_FOUND, e.kind());
        assertTrue(e.getMessage().contains("round_robin"), "lists the built-ins: " + e.getMessage());
    }

    /** A compiler whose sandbox has these limits and its own base directory (removed afterwards). */
    private PolicyCompiler limited(CompileSandbox.Limits limits) throws Exception {
        base = Files.createTempDirectory(Path.of("/tmp"), "syrup-cc-");
        return new PolicyCompiler("clang", dir.resolve("work"), new CompileSandbox("/usr/bin/bwrap", base, 65534, limits));
    }

    private Path base;

    @org.junit.jupiter.api.AfterEach
    void removeBase() throws Exception {
        if (base != null) {
            try (var left = Files.list(base)) {
                assertEquals(List.of(), left.toList(), "each compile removes its directory");
            }
            Files.delete(base);
        }
    }

    private SyrupException fails(PolicyCompiler c, String name, String text) throws Exception {
        Path p = dir.resolve(name);
        Files.writeString(p, text);
        PolicySource src = new PolicySource(name, p, false);
        SyrupException e = assertThrows(SyrupException.class, () -> c.compile(src, glue(name), Map.of()));
        assertEquals(SyrupException.Kind.COMPILE, e.kind(), e.getMessage());
        return e;
    }

    @Test
    void aRootOnlyFileIsNotThere() throws Exception {
        Path secrets = Files.createTempDirectory("syrup-secret-");
        Path secret = secrets.resolve("secret");
        try {
            Files.writeString(secret, "sekrit_4f1d9a\n");
            Files.setPosixFilePermissions(secret, PosixFilePermissions.fromString("rw-------"));
            PolicyCompiler c = limited(CompileSandbox.Limits.DEFAULT);
            for (String attack : List.of(".include", ".incbin")) {
                SyrupException e = fails(c, "leak.c", "asm(\"" + attack + " \\\"" + secret + "\\\"\");\n"
                        + "uint32_t schedule(void *pkt_start, void *pkt_end) { return SYR_PASS; }\n");
                assertTrue(!e.getMessage().contains("sekrit"), e.getMessage());
                assertTrue(e.getMessage().contains("<inline asm>:1:") && e.getMessage().contains("Could not find"),
                        "the sandbox has no such file: " + e.getMessage());
            }
        } finally {
            Files.deleteIfExists(secret);
            Files.deleteIfExists(secrets);
        }
    }

    @Test
    void messagesAboutOtherFilesDoNotQuoteThem() throws Exception {
        Path gpl = Path.of("/usr/share/common-licenses/GPL-3");
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isRegularFile(gpl), "needs " + gpl);
        SyrupException e = fails(limited(CompileSandbox.Limits.DEFAULT), "gpl.c", "asm(\".include \\\"" + gpl + "\\\"\");\n");
        assertTrue(e.getMessage().contains(gpl + ":1:"), e.getMessage());
        assertTrue(!e.getMessage().contains("GENERAL PUBLIC LICENSE"), e.getMessage());

        String shown = PolicyCompiler.diagnostics(String.join("\n",
                "In file included from syrup_glue.c:3:",
                "./p.c:3:1: error: first",
                "x = 1",
                "^",
                "/usr/share/dict/words:1:1: error: invalid instruction mnemonic 'secret'",
                "secret words",
                "^~~~~~",
                "/usr/include/bpf/bpf_helpers.h:9:2: note: expanded from macro 'SEC'",
                "public header line",
                "<inline asm>:1:2: error: unknown directive",
                ".foo",
                "2 errors generated.",
                "PLEASE submit a bug report to https://github.com/llvm/llvm-project/issues/",
                "Stack dump:",
                "1. secret token"), java.util.Set.of("p.c", "syrup_glue.c", "syrup.h"));
        assertEquals(String.join("\n",
                "p.c:3:1: error: first",
                "x = 1",
                "^",
                "/usr/share/dict/words:1:1: error: (not shown: it is about a file other than the policy)",
                "/usr/include/bpf/bpf_helpers.h:9:2: note: expanded from macro 'SEC'",
                "public header line",
                "<inline asm>:1:2: error: unknown directive",
                ".foo",
                "2 errors generated."), shown);
    }

    /** Includes itself twice per level: exponential work, slowly growing memory. */
    private static final String BOMB = """
            #ifndef ONCE
            #define ONCE
            uint32_t schedule(void *pkt_start, void *pkt_end) { return SYR_PASS; }
            #endif
            #if __INCLUDE_LEVEL__ < 40
            #include "bomb.c"
            #include "bomb.c"
            #endif
            """;

    @Test
    void aCompileIsKilledAtTheDeadline() throws Exception {
        PolicyCompiler c = limited(new CompileSandbox.Limits(2, 30, 512, 8, 64));
        long t0 = System.nanoTime();
        SyrupException e = fails(c, "bomb.c", BOMB);
        double took = (System.nanoTime() - t0) / 1e9;
        assertTrue(e.getMessage().contains("killed at the 2 s limit (setting compileSeconds)"), e.getMessage());
        assertTrue(took < 2 + 3, "took " + took + " s");
    }

    @Test
    void aCompileIsKilledAtTheCpuLimit() throws Exception {
        SyrupException e = fails(limited(new CompileSandbox.Limits(30, 1, 512, 8, 64)), "bomb.c", BOMB);
        assertTrue(e.getMessage().contains("killed at the 1 s CPU limit (setting compileCpuSeconds)"), e.getMessage());
    }

    @Test
    void aCompileStopsAtTheMemoryLimit() throws Exception {
        StringBuilder macros = new StringBuilder("#define A0 1+\n");
        for (int i = 1; i < 40; i++) {
            macros.append("#define A").append(i).append(" A").append(i - 1).append(" A").append(i - 1).append('\n');
        }
        SyrupException e = fails(limited(new CompileSandbox.Limits(30, 30, 300, 8, 64)), "macros.c", macros
                + "uint32_t schedule(void *pkt_start, void *pkt_end) { return A32 0; }\n");
        assertTrue(e.getMessage().contains("stopped at the 300 MiB memory limit (setting compileMemoryMiB)"), e.getMessage());
        assertTrue(!e.getMessage().contains("Stack dump"), "no crash report: " + e.getMessage());
    }

    @Test
    void aHugeObjectIsKilledAtTheObjectLimit() throws Exception {
        SyrupException e = fails(limited(new CompileSandbox.Limits(30, 30, 512, 1, 64)), "huge.c", """
                static const char big[4 << 20] = {1};
                uint32_t schedule(void *pkt_start, void *pkt_end) { return big[(long)pkt_start & 0xff]; }
                """);
        assertTrue(e.getMessage().contains("passed the 1 MiB limit (setting compileObjectMiB)"), e.getMessage());
    }

    @Test
    void floodedMessagesAreCut() throws Exception {
        StringBuilder warnings = new StringBuilder();
        for (int i = 0; i < 2000; i++) {
            warnings.append("#warning this line repeats to flood the output with many many bytes ").append(i).append('\n');
        }
        SyrupException e = fails(limited(new CompileSandbox.Limits(30, 30, 512, 8, 16)), "noisy.c", warnings + "#error stop\n");
        assertTrue(e.getMessage().length() < (16 << 10) + 500, "length " + e.getMessage().length());
        assertTrue(e.getMessage().contains("clang's messages were cut at 16 KiB"), e.getMessage().substring(e.getMessage().length() - 200));
    }
}
