package dev.syrup.bpf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** Extraction of the relevant lines from verifier logs (shapes as printed by Linux 6.x). */
class VerifierLogTest {

    @Test
    void lastInstructionAndMessagesWithoutStatistics() {
        String log = String.join("\n",
                "func#0 @0",
                "0: R1=ctx() R10=fp0",
                "; int t_bad(struct xdp_md *ctx) @ t_bad.c:6",
                "0: (61) r1 = *(u32 *)(r1 +0)          ; R1_w=pkt(r=0)",
                "1: (61) r1 = *(u32 *)(r1 +0)",
                "invalid access to packet, off=0 size=4, R1(id=0,off=0,r=0)",
                "R1 offset is outside of the packet",
                "processed 2 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0",
                "");
        assertEquals(List.of("1: (61) r1 = *(u32 *)(r1 +0)",
                "invalid access to packet, off=0 size=4, R1(id=0,off=0,r=0)",
                "R1 offset is outside of the packet"), VerifierException.relevantLines(log));
    }

    @Test
    void sourceLineBeforeTheInstructionIsIncluded() {
        String log = String.join("\n",
                "0: R1=ctx() R10=fp0",
                "; __u32 first = *(__u32 *)data; @ t_bad.c:9",
                "1: (61) r1 = *(u32 *)(r1 +0)",
                "invalid access to packet, off=0 size=4, R1(id=0,off=0,r=0)",
                "R1 offset is outside of the packet",
                "processed 2 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0");
        assertEquals(List.of("; __u32 first = *(__u32 *)data; @ t_bad.c:9", "1: (61) r1 = *(u32 *)(r1 +0)",
                "invalid access to packet, off=0 size=4, R1(id=0,off=0,r=0)", "R1 offset is outside of the packet"),
                VerifierException.relevantLines(log));
    }

    @Test
    void nullDereferenceOfMapValue() {
        String log = String.join("\n",
                "5: (85) call bpf_map_lookup_elem#1     ; R0_w=map_value_or_null(id=1,off=0,ks=4,vs=8,imm=0)",
                "6: (79) r1 = *(u64 *)(r0 +0)",
                "R0 invalid mem access 'map_value_or_null'",
                "verification time 31 usec",
                "stack depth 4",
                "processed 7 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0");
        assertEquals(List.of("6: (79) r1 = *(u64 *)(r0 +0)", "R0 invalid mem access 'map_value_or_null'"),
                VerifierException.relevantLines(log));
    }

    @Test
    void messageWithoutInstructionIsKeptAndBounded() {
        assertEquals(List.of("unknown opcode 8d"), VerifierException.relevantLines("unknown opcode 8d\n"));
        StringBuilder many = new StringBuilder();
        for (int i = 0; i < 50; i++) {
            many.append("line ").append(i).append('\n');
        }
        List<String> lines = VerifierException.relevantLines(many.toString());
        assertEquals(8, lines.size());
        assertEquals("line 49", lines.get(7));
        assertTrue(VerifierException.relevantLines("").isEmpty());
        assertTrue(VerifierException.relevantLines(null).isEmpty());
    }

    @Test
    void exceptionMessageNamesProgramErrnoAndReason() {
        VerifierException e = new VerifierException("t_p", 13,
                "0: (61) r2 = *(u32 *)(r1 +0)\ninvalid access to packet\nprocessed 1 insns\n");
        assertTrue(e.getMessage().startsWith("load program 't_p': EACCES (13) Permission denied"), e.getMessage());
        assertTrue(e.getMessage().contains("invalid access to packet"), e.getMessage());
        assertEquals("t_p", e.programName());
    }
}
