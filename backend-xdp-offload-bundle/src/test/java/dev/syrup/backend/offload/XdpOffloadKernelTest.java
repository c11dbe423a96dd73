package dev.syrup.backend.offload;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.syrup.api.Availability;
import dev.syrup.api.Protocol;
import dev.syrup.api.SyrupException;
import dev.syrup.api.Target;
import dev.syrup.bpf.KernelSupport;
import dev.syrup.bpf.Xdp;
import dev.syrup.hook.spi.HookContext;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * xdp_offload on this machine's real interfaces and on a veth this test makes: with no nfp or
 * netdevsim device the hook says why it is unavailable, and a real device-bound load
 * (prog_ifindex + map_ifindex through libbpf) on the veth fails with EINVAL, reported as
 * UNAVAILABLE.
 */
class XdpOffloadKernelTest {

    @TempDir
    Path dir;

    private String dev;

    @BeforeAll
    static void kernel() {
        Optional<String> missing = KernelSupport.missing();
        if (missing.isPresent()) {
            if ("1".equals(System.getenv("SYRUP_REQUIRE_KERNEL"))) {
                fail("SYRUP_REQUIRE_KERNEL=1 but the kernel cannot run this test: " + missing.get());
            }
            Assumptions.abort("kernel test skipped: " + missing.get());
        }
    }

    @BeforeEach
    void veth() throws Exception {
        int r = ThreadLocalRandom.current().nextInt(0x10000, 0xfffff);
        dev = "syrox" + Integer.toHexString(r);
        run("ip", "link", "add", dev, "type", "veth", "peer", "name", "syroy" + Integer.toHexString(r));
        run("ip", "link", "set", dev, "up");
    }

    @AfterEach
    void remove() {
        try {
            run("ip", "link", "del", dev);
        } catch (Exception e) {
            // best effort
        }
    }

    @Test
    void unavailableHereWithTheReason() throws Exception {
        XdpOffloadHook hook = new XdpOffloadHook();
        boolean offloadNic = hook.interfaces().stream()
                .anyMatch(i -> hook.driver(i).map(XdpOffloadHook.OFFLOAD_DRIVERS::contains).orElse(false));
        Assumptions.assumeFalse(offloadNic, "this machine has an offload-capable NIC");
        Availability a = hook.availability();
        assertFalse(a.available());
        assertTrue(a.reason().startsWith("no offload-capable NIC: no interface is driven by netdevsim or nfp"), a.reason());
        assertTrue(a.reason().contains(dev + " (virtual)"), a.reason());

        SyrupException e = assertThrows(SyrupException.class,
                () -> hook.open(new Target(Protocol.UDP, 9000, Optional.of(dev)), HookContext.ofPinDir(dir.resolve("admin/d1"))));
        assertEquals(SyrupException.Kind.UNAVAILABLE, e.kind());
        assertTrue(e.getMessage().contains(dev + " is a virtual device"), e.getMessage());
    }

    @Test
    void aDeviceBoundLoadOnVethFailsWithEinval() throws Exception {
        Path obj = Policies.compile(dir, "probe", """
                SYR_HASH_MAP(seen, 4);
                uint32_t schedule(void *pkt_start, void *pkt_end)
                {
                	return PASS;
                }
                """);
        assertEquals(java.util.List.of(), OffloadChecker.check(obj), "the probe itself is offloadable");
        SyrupException e = assertThrows(SyrupException.class,
                () -> XdpOffloadDeployment.loadDeviceBound(obj, Xdp.ifindex(dev)));
        assertEquals(SyrupException.Kind.UNAVAILABLE, e.kind());
        assertTrue(e.getMessage().contains("EINVAL"), e.getMessage());
    }

    private static void run(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IllegalStateException(String.join(" ", cmd) + " failed: " + out);
        }
    }
}
