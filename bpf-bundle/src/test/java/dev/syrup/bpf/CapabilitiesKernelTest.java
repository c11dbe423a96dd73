package dev.syrup.bpf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.EnumSet;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

/**
 * Loading with fewer capabilities: the verifier then refuses what only CAP_PERFMON/CAP_SYS_ADMIN
 * allow, the thread gets its capabilities back, other threads never lose theirs, and objects
 * opened under rules load with exactly the rules' set.
 */
class CapabilitiesKernelTest extends KernelTestSupport {

    static final Set<Capability> BPF_ONLY = EnumSet.of(Capability.BPF);

    @Test
    void probeReadKernelLoadsWithAllCapabilitiesAndIsRefusedWithCapBpfOnly() {
        requireRoot();
        try (BpfObject obj = BpfObject.open(compile("t_priv"))) {
            obj.load(); // root, every capability: the verifier grants it
        }
        Capabilities.Sets before = Capabilities.current();
        try (BpfObject obj = BpfObject.open(compile("t_priv"))) {
            VerifierException e = assertThrows(VerifierException.class,
                    () -> Capabilities.withEffective(BPF_ONLY, () -> {
                        assertEquals(Set.of(Capability.BPF), Capabilities.of(Capabilities.current().effective()));
                        obj.load();
                        return null;
                    }));
            // bpf_probe_read_kernel, or bpf_probe_read when libbpf's probe for it first ran without CAP_PERFMON
            assertTrue(e.getMessage().contains("bpf_probe_read"), e.getMessage());
        }
        assertEquals(before, Capabilities.current(), "the thread's capabilities after the load");
        assertTrue(before.hasEffective(Capability.SYS_ADMIN));
    }

    @Test
    void pointerLeakIntoAMapIsRefusedWithCapBpfOnly() {
        requireRoot();
        try (BpfObject obj = BpfObject.open(compile("t_leak"))) {
            obj.load();
        }
        try (BpfObject obj = BpfObject.open(compile("t_leak"))) {
            VerifierException e = assertThrows(VerifierException.class,
                    () -> Capabilities.withEffective(BPF_ONLY, () -> {
                        obj.load();
                        return null;
                    }));
            assertTrue(e.getMessage().contains("leaks addr"), e.getMessage());
        }
    }

    @Test
    void capabilitiesArePerThread() throws Exception {
        requireRoot();
        long full = Capabilities.current().effective();
        long[] inside = new long[2];
        // A thread that exists already (one created meanwhile would inherit the reduced set).
        CompletableFuture<Void> go = new CompletableFuture<>();
        CompletableFuture<Long> other = new CompletableFuture<>();
        Thread t = new Thread(() -> {
            go.join();
            other.complete(Capabilities.current().effective());
        });
        t.start();
        Capabilities.withEffective(BPF_ONLY, () -> {
            inside[0] = Capabilities.current().effective();
            go.complete(null);
            inside[1] = other.join();
            return null;
        });
        t.join();
        assertEquals(1L << Capability.BPF.number(), inside[0], "this thread, inside");
        assertEquals(full, inside[1], "another thread meanwhile");
        assertEquals(full, Capabilities.current().effective(), "this thread, after");
        assertThrows(IllegalStateException.class, () -> Capabilities.withEffective(BPF_ONLY, () -> {
            throw new IllegalStateException("boom");
        }));
        assertEquals(full, Capabilities.current().effective(), "after the action threw");
    }

    @Test
    void rulesLoadWithTheirCapabilities() {
        requireRoot();
        // sk_reuseport and REUSEPORT_SOCKARRAY: CAP_BPF is enough
        try (BpfObject obj = BpfObject.open(compile("t_select"), ProgramRulesTest.RULES)) {
            obj.load();
            assertTrue(obj.program("t_select").fd() > 0);
        }
        // XDP is a CAP_NET_ADMIN program type: CAP_BPF alone is refused, with it the load works
        ProgramRules xdp = ProgramRules.of("t_xdp").withSection("xdp", ProgramType.XDP);
        try (BpfObject obj = BpfObject.open(compile("t_maps"), xdp.withCapabilities(Capability.BPF))) {
            BpfException e = assertThrows(BpfException.class, obj::load);
            assertEquals(Errno.EPERM, e.errno(), e.getMessage());
        }
        try (BpfObject obj = BpfObject.open(compile("t_maps"), xdp.withCapabilities(Capability.BPF, Capability.NET_ADMIN))) {
            obj.load();
            assertEquals(MapType.ARRAY, obj.map("t_counters").type());
        }
        assertTrue(Capabilities.current().hasEffective(Capability.SYS_ADMIN));
    }

    @Test
    void openUnderRulesRefusesBeforeAnythingIsCreated() {
        requireRoot();
        ObjectRejectedException e = assertThrows(ObjectRejectedException.class,
                () -> BpfObject.open(compile("t_priv"), ProgramRulesTest.RULES));
        assertTrue(e.violations().get(0).contains("bpf_probe_read_kernel (helper 113)"), e.violations().toString());
        ProgramRules noMaps = ProgramRules.of("t_none").withSection("xdp", ProgramType.XDP);
        e = assertThrows(ObjectRejectedException.class, () -> BpfObject.open(compile("t_select"), noMaps));
        assertFalse(e.violations().isEmpty());
    }

    private static void requireRoot() {
        if (!Capabilities.current().hasEffective(Capability.SYS_ADMIN)) {
            if ("1".equals(System.getenv("SYRUP_REQUIRE_KERNEL"))) {
                org.junit.jupiter.api.Assertions.fail("SYRUP_REQUIRE_KERNEL=1 but this thread lacks CAP_SYS_ADMIN");
            }
            org.junit.jupiter.api.Assumptions.abort("needs a thread with CAP_SYS_ADMIN");
        }
    }
}
