package dev.syrup.daemon.compile;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.syrup.api.SyrupException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
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
}
