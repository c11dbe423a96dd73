package dev.syrup.daemon.control;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Policy text from applications must not make the (root) compiler read their way out. */
class PolicySourcesTest {

    @TempDir
    Path dir;

    private static void denied(String text) {
        SyrupException e = assertThrows(SyrupException.class, () -> PolicySources.checkIncludes(text), text);
        assertEquals(Kind.DENIED, e.kind());
    }

    @Test
    void ordinaryPoliciesPass() {
        assertDoesNotThrow(() -> PolicySources.checkIncludes("""
                #include "syrup.h"
                #include <linux/udp.h>
                # include <bpf/bpf_helpers.h>   // spaced
                /* #include "/etc/shadow" in a comment is harmless */
                static const char *s = "#include \\"/etc/shadow\\"";
                uint32_t schedule(void *a, void *b) { return SYR_PASS; }
                """));
    }

    @Test
    void escapesAreRefused() {
        denied("#include \"/etc/shadow\"\n");
        denied("#include </etc/shadow>\n");
        denied("#include \"../../../../etc/shadow\"\n");
        denied("#include_next <../shadow>\n");
        denied("#import \"/etc/shadow\"\n");
        denied("#define F \"/etc/shadow\"\n#include F\n");
        denied("%:include \"/etc/shadow\"\n");
        denied("#/* c */include \"/etc/shadow\"\n");
        denied("#inc\\\nlude \"/etc/shadow\"\n");
        denied("#include \"/etc/sha\\\ndow\"\n");
        denied("#if __has_include(\"/root/x\")\n#endif\n");
    }

    @Test
    void otherWaysToNameAFileAreRefused() {
        denied("asm(\".incbin \\\"/etc/shadow\\\"\");\n");
        denied("asm(\".INCBIN \\\"/etc/shadow\\\"\");\n");
        denied("asm(\".include \\\"/etc/shadow\\\"\");\n");
        denied("asm(\". Include \\\"x\\\"\");\n");
        denied("asm(\"\\t.inc\\\nbin \\\"/etc/shadow\\\"\");\n");
        denied("#pragma GCC dependency \"/etc/shadow\"\n");
        denied("%:pragma clang dependency \"/etc/shadow\"\n");
        denied("_Pragma(\"GCC dependency \\\"/etc/shadow\\\"\")\n");
        denied("static const char x[] = {\n#embed \"/etc/shadow\"\n};\n");
        denied("#if __has_embed(\"/etc/shadow\")\n#endif\n");
        assertDoesNotThrow(() -> PolicySources.checkIncludes("""
                #pragma unroll
                /* .incbin in a comment */
                uint32_t schedule(void *a, void *b) { return SYR_PASS; }
                """));
    }

    @Test
    void textIsStoredPerApplicationUnderItsFileName() throws Exception {
        PolicySources s = new PolicySources(dir);
        Path p = s.write("uid-7", "steer.c", "uint32_t x;");
        assertTrue(p.startsWith(dir.resolve("uid-7")));
        assertEquals("steer.c", p.getFileName().toString());
        assertEquals("uint32_t x;", Files.readString(p));
        assertEquals(p, s.write("uid-7", "steer.c", "uint32_t x;"), "same text, same file");
        assertEquals("policy.c", s.write("uid-7", "../../evil.c", "x").getFileName().toString());
        assertTrue(s.write("uid-7", "../../evil.c", "x").startsWith(dir.resolve("uid-7")));
    }
}
