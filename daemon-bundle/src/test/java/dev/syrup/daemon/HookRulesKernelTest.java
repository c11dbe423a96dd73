package dev.syrup.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import dev.syrup.api.Headers;
import dev.syrup.backend.ebpf.CpuRedirectHook;
import dev.syrup.backend.ebpf.SocketSelectHook;
import dev.syrup.backend.ebpf.XdpDrvHook;
import dev.syrup.backend.ebpf.XdpHook;
import dev.syrup.backend.ebpf.XdpSkbHook;
import dev.syrup.backend.offload.XdpOffloadHook;
import dev.syrup.bpf.BpfObject;
import dev.syrup.bpf.KernelSupport;
import dev.syrup.bpf.ObjectSpec;
import dev.syrup.bpf.ProgramRules;
import dev.syrup.bpf.Xdp;
import dev.syrup.daemon.compile.Builtins;
import dev.syrup.dispatch.Dispatcher.XdpMode;
import dev.syrup.hook.spi.Hook;
import dev.syrup.isolation.PortDispatcher;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Well-behaved policies pass every hook's rules and verify with the hook's reduced
 * capabilities: each built-in in each hook's glue, opened under the hook's rules and loaded
 * (xdp_offload: its rules judged, as no NIC here takes the device-bound load); and syr_l4()
 * still finds the L4 header behind IP options in code the unprivileged verifier accepts.
 */
class HookRulesKernelTest {

    private static Path dir;
    private static PortDispatcher dispatcher;

    @BeforeAll
    static void setUp() throws IOException {
        if (KernelSupport.missing().isPresent()) {
            if ("1".equals(System.getenv("SYRUP_REQUIRE_KERNEL"))) {
                fail("SYRUP_REQUIRE_KERNEL=1 but the kernel is unusable: " + KernelSupport.missing().get());
            }
            Assumptions.abort("kernel test skipped: " + KernelSupport.missing().get());
        }
        dir = Files.createTempDirectory("syrup-rules-");
        Files.write(dir.resolve(Headers.SYRUP_H), Headers.syrupH());
        dispatcher = new PortDispatcher();
    }

    @AfterAll
    static void tearDown() throws IOException {
        if (dispatcher != null) {
            dispatcher.close();
        }
        if (dir != null) {
            try (var s = Files.walk(dir)) {
                for (Path p : s.sorted(java.util.Comparator.reverseOrder()).toList()) {
                    Files.deleteIfExists(p);
                }
            }
        }
    }

    @Test
    void everyBuiltinLoadsAtEveryHookUnderItsRules() throws Exception {
        Map<Hook, ProgramRules> hooks = new LinkedHashMap<>();
        hooks.put(new SocketSelectHook(dispatcher), SocketSelectHook.RULES);
        hooks.put(new CpuRedirectHook(dispatcher, List.of(0), XdpMode.SKB, 64), CpuRedirectHook.RULES);
        hooks.put(new XdpSkbHook(dispatcher), XdpHook.rules(XdpSkbHook.NAME));
        hooks.put(new XdpDrvHook(dispatcher), XdpHook.rules(XdpDrvHook.NAME));
        int loaded = 0;
        int threadOnly = 0;
        for (String name : Builtins.NAMES) {
            if (new String(Builtins.text(name), java.nio.charset.StandardCharsets.UTF_8).contains("syr_thread(")) {
                threadOnly++; // get_priority reads a thread, not a packet: thread_scheduler's tests load it
                continue;
            }
            Path policy = dir.resolve(name + ".c");
            Files.write(policy, Builtins.text(name));
            for (Map.Entry<Hook, ProgramRules> h : hooks.entrySet()) {
                Path o = compile(h.getKey().name() + "-" + name, h.getKey().wrapper(policy.toString()));
                try (BpfObject obj = BpfObject.open(o, h.getValue())) {
                    obj.load();
                    loaded++;
                }
            }
            Path offload = compile("xdp_offload-" + name, new XdpOffloadHook().wrapper(policy.toString()));
            assertEquals(List.of(), XdpOffloadHook.RULES.violations(ObjectSpec.read(Files.readAllBytes(offload))), name);
        }
        assertEquals((Builtins.NAMES.size() - threadOnly) * hooks.size(), loaded);
    }

    @Test
    void syrL4FindsTheL4HeaderBehindIpOptionsUnderTheReducedCapabilities() throws Exception {
        Path policy = dir.resolve("port7777.c");
        Files.writeString(policy, """
                uint32_t schedule(void *pkt_start, void *pkt_end)
                {
                	struct udphdr *udp = syr_l4(pkt_start, pkt_end);

                	if (!udp || !syr_has(udp, sizeof(*udp), pkt_end)) /* the old idiom still verifies */
                		return SYR_PASS;
                	return udp->dest == bpf_htons(7777) ? SYR_DROP : SYR_PASS;
                }
                """);
        Path o = compile("port7777", new XdpSkbHook(dispatcher).wrapper(policy.toString()));
        try (BpfObject obj = BpfObject.open(o, XdpHook.rules(XdpSkbHook.NAME))) {
            obj.load();
            var prog = obj.program("syr_xdp_sock");
            for (int words = 5; words <= 15; words++) {
                assertEquals(Xdp.XDP_DROP, Xdp.testRun(prog, packet(0x0800, words, 17, 7777, 8), 1).retval(), "ihl " + words);
                assertEquals(Xdp.XDP_PASS, Xdp.testRun(prog, packet(0x0800, words, 17, 7778, 8), 1).retval(), "ihl " + words);
            }
            assertEquals(Xdp.XDP_PASS, Xdp.testRun(prog, packet(0x86dd, 5, 17, 7777, 8), 1).retval(), "not IPv4");
            assertEquals(Xdp.XDP_PASS, Xdp.testRun(prog, packet(0x0800, 5, 1, 7777, 8), 1).retval(), "ICMP");
            assertEquals(Xdp.XDP_PASS, Xdp.testRun(prog, packet(0x0800, 15, 17, 7777, 2), 1).retval(), "UDP header cut short");
            byte[] cut = packet(0x0800, 15, 17, 7777, 8);
            assertEquals(Xdp.XDP_PASS, Xdp.testRun(prog, java.util.Arrays.copyOf(cut, 14 + 40), 1).retval(), "options cut short");
        }
    }

    /** Ethernet + IPv4 of {@code words} 32-bit words (options: NOPs) + {@code l4Bytes} of a UDP header to port {@code dport}. */
    private static byte[] packet(int ethertype, int words, int proto, int dport, int l4Bytes) {
        ByteBuffer b = ByteBuffer.allocate(14 + words * 4 + 8 + 32);
        b.put(new byte[12]).putShort((short) ethertype);
        b.put((byte) (0x40 | words)).put((byte) 0).putShort((short) (words * 4 + 8)).putInt(0);
        b.put((byte) 64).put((byte) proto).putShort((short) 0).putInt(0x0a000001).putInt(0x0a000002);
        for (int i = 5; i < words; i++) {
            b.putInt(0x01010101);
        }
        b.putShort((short) 40000).putShort((short) dport).putShort((short) 8).putShort((short) 0);
        return java.util.Arrays.copyOf(b.array(), 14 + words * 4 + l4Bytes);
    }

    private static Path compile(String name, String glue) throws IOException, InterruptedException {
        Path src = dir.resolve("glue-" + name + ".c");
        Path obj = dir.resolve("glue-" + name + ".o");
        Files.writeString(src, glue);
        String arch = System.getProperty("os.arch").equals("amd64") ? "x86_64" : System.getProperty("os.arch");
        List<String> cmd = new ArrayList<>(List.of("clang", "-O2", "-g", "-target", "bpf", "-mcpu=v3", "-DNUM_EXECUTORS=2",
                "-I" + dir, "-I/usr/include/" + arch + "-linux-gnu", "-c", src.toString(), "-o", obj.toString()));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        p.getOutputStream().close();
        String out;
        try (InputStream in = p.getInputStream()) {
            out = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new AssertionError("clang failed for " + name + ":\n" + out);
        }
        return obj;
    }
}
