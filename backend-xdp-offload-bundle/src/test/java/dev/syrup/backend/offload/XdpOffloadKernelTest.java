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
import dev.syrup.bpf.BpfObject;
import dev.syrup.bpf.KernelSupport;
import dev.syrup.bpf.PinDir;
import dev.syrup.bpf.Xdp;
import dev.syrup.hook.kit.PolicyObjects;
import dev.syrup.hook.kit.SharedMaps;
import dev.syrup.hook.spi.HookContext;
import dev.syrup.hook.spi.HookDeployment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.UUID;
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
 * UNAVAILABLE. A deployment on the kit (opened on a veth made to look like an nfp device)
 * goes through the whole install up to that load and changes nothing; and a device-bound
 * object is refused a host Map of the owner's other deployment (the kernel would refuse it at
 * load): what can be checked of the Maps without an offload NIC.
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

    @Test
    void aDeploymentOnTheKitFailsAtTheDeviceBoundLoadAndChangesNothing() throws Exception {
        Path sys = Files.createDirectories(dir.resolve("sys"));
        Path devDir = Files.createDirectories(sys.resolve(dev));
        Path drv = Files.createDirectories(dir.resolve("drivers/nfp"));
        Files.createDirectories(devDir.resolve("device"));
        Files.createSymbolicLink(devDir.resolve("device/driver"), drv);
        Files.createDirectories(devDir.resolve("queues/rx-0"));
        Files.createDirectories(devDir.resolve("queues/rx-1"));
        Path bpffs = Files.createDirectory(Path.of("/sys/fs/bpf/syrup-test-" + UUID.randomUUID().toString().substring(0, 8)));
        try {
            Path pinDir = bpffs.resolve("admin/d1");
            XdpOffloadHook hook = new XdpOffloadHook(sys, new SharedMaps());
            HookDeployment d = hook.open(new Target(Protocol.UDP, 9000, Optional.of(dev)), HookContext.ofPinDir(pinDir));
            assertEquals(2, d.executors());
            assertEquals(SyrupException.Kind.UNAVAILABLE, assertThrows(SyrupException.class, d::stats).kind(),
                    "no counters before the first install");
            Path obj = Policies.compile(dir, "counting", """
                    SYR_HASH_MAP(seen, 4);
                    uint32_t schedule(void *pkt_start, void *pkt_end)
                    {
                    	return syr_random() % NUM_EXECUTORS;
                    }
                    """);
            // Not offloadable: refused by the check, before anything is opened.
            Path bad = Policies.compile(dir, "ktime", "uint32_t schedule(void *s, void *e) { return bpf_ktime_get_ns() % NUM_EXECUTORS; }\n");
            assertEquals(SyrupException.Kind.INVALID, assertThrows(SyrupException.class, () -> d.install(bad)).kind());
            SyrupException e = assertThrows(SyrupException.class, () -> d.install(obj));
            assertEquals(SyrupException.Kind.UNAVAILABLE, e.kind());
            assertTrue(e.getMessage().contains("EINVAL"), e.getMessage());
            assertEquals(Optional.empty(), d.program());
            assertEquals(java.util.List.of(), d.maps());
            assertTrue(Xdp.attachedProgramId(Xdp.ifindex(dev), 0).isEmpty(), "nothing attached");
            // What a tenant is held to: the policy's Maps, not the port map (1 x (4 + 4)) nor the
            // counters (a plain ARRAY in NIC memory: 67 x (4 + 8), not per CPU).
            assertEquals(8 + 67 * 12, PolicyObjects.mapBytes(obj, Set.of()) - hook.mapBytes(obj));
            d.close();
            assertFalse(Files.exists(pinDir), "pin dir left");
        } finally {
            try (var w = Files.walk(bpffs)) {
                w.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    @Test
    void aDeviceBoundObjectIsRefusedTheOwnersHostMap() throws Exception {
        Path bpffs = Files.createDirectory(Path.of("/sys/fs/bpf/syrup-test-" + UUID.randomUUID().toString().substring(0, 8)));
        SharedMaps registry = new SharedMaps();
        Path hostPins = bpffs.resolve("admin/d1");
        Path nicPins = bpffs.resolve("admin/d2");
        Path obj = Policies.compile(dir, "shared", """
                SYR_HASH_MAP(seen, 4);
                uint32_t schedule(void *pkt_start, void *pkt_end)
                {
                	return PASS;
                }
                """);
        // The owner's first deployment, on the host: its 'seen' is in host memory, pinned and committed.
        Path host = Files.writeString(dir.resolve("host.c"), """
                #include <linux/bpf.h>
                #include <bpf/bpf_helpers.h>
                struct {
                	__uint(type, BPF_MAP_TYPE_HASH);
                	__uint(max_entries, 4);
                	__type(key, __u32);
                	__type(value, __u64);
                } seen SEC(".maps");
                SEC("xdp") int host(struct xdp_md *ctx) { __u32 k = 0; return bpf_map_lookup_elem(&seen, &k) ? XDP_PASS : XDP_PASS; }
                char _license[] SEC("license") = "GPL";
                """);
        Path hostObj = dir.resolve("host.o");
        run("clang", "-O2", "-g", "-target", "bpf", "-I/usr/include/" + (System.getProperty("os.arch").equals("aarch64")
                ? "aarch64-linux-gnu" : "x86_64-linux-gnu"), "-c", host.toString(), "-o", hostObj.toString());
        PinDir hostDir = PinDir.create(hostPins, 0700);
        try (BpfObject first = BpfObject.open(hostObj)) {
            first.load();
            first.map("seen").pin(hostDir, "seen");
            registry.commit(first, hostPins, Set.of());
            assertEquals(java.util.List.of(hostPins), registry.users(hostPins.getParent(), "seen"));
            // The second, offloaded to a NIC: the same name and shape, but a host map cannot be
            // used by a device-bound program. Refused with the reason; nothing changes.
            try (BpfObject second = PolicyObjects.open(obj, XdpOffloadHook.RULES)) {
                second.bindToDevice(Xdp.ifindex(dev));
                SyrupException e = assertThrows(SyrupException.class,
                        () -> registry.reuse(second, nicPins, XdpOffloadDeployment.INTERNAL_MAPS));
                assertEquals(SyrupException.Kind.INVALID, e.kind());
                assertTrue(e.getMessage().contains("the map is in host memory, the policy runs in the memory of NIC ifindex "
                        + Xdp.ifindex(dev)), e.getMessage());
            }
            // A host object of the same owner gets it.
            try (BpfObject third = BpfObject.open(hostObj)) {
                registry.reuse(third, bpffs.resolve("admin/d3"), Set.of());
                third.load();
                assertEquals(first.map("seen").info().id(), third.map("seen").info().id());
            }
            registry.release(hostPins);
            first.map("seen").unpin();
        } finally {
            hostDir.close();
            try (var w = Files.walk(bpffs)) {
                w.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    private static void run(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IllegalStateException(String.join(" ", cmd) + " failed: " + out);
        }
    }
}
