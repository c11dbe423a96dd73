package dev.syrup.backend.offload;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.syrup.api.Protocol;
import dev.syrup.api.SyrupException;
import dev.syrup.api.Target;
import dev.syrup.hook.spi.HookContext;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Which interfaces can take an offloaded policy, read from a sysfs-shaped directory. */
class XdpOffloadHookTest {

    @TempDir
    Path sys;

    private void iface(String name, String driver, int rxQueues) throws Exception {
        Path dev = Files.createDirectories(sys.resolve(name));
        if (driver != null) {
            Path drv = Files.createDirectories(sys.resolve("../drivers/" + driver).normalize());
            Files.createDirectories(dev.resolve("device"));
            Files.createSymbolicLink(dev.resolve("device/driver"), drv);
        }
        for (int i = 0; i < rxQueues; i++) {
            Files.createDirectories(dev.resolve("queues/rx-" + i));
            Files.createDirectories(dev.resolve("queues/tx-" + i));
        }
    }

    @Test
    void virtualAndNonOffloadDriversAreNamedAndAnNfpDeviceIsFound() throws Exception {
        iface("lo", null, 1);
        iface("eth0", "virtio_net", 2);
        XdpOffloadHook hook = new XdpOffloadHook(sys);
        assertEquals(Optional.of("eth0 is driven by virtio_net, which has no BPF offload (only nfp and netdevsim do)"),
                hook.unsupported("eth0"));
        assertTrue(hook.unsupported("lo").orElseThrow().contains("virtual device"));
        assertTrue(hook.unsupported("nope").orElseThrow().contains("no interface nope"));
        SyrupException e = assertThrows(SyrupException.class,
                () -> hook.open(new Target(Protocol.UDP, 9000, Optional.of("eth0")), HookContext.ofPinDir(sys.resolve("pins/admin/d1"))));
        assertEquals(SyrupException.Kind.UNAVAILABLE, e.kind());
        assertTrue(e.getMessage().contains("virtio_net"), e.getMessage());

        iface("enp1s0np0", "nfp", 8);
        assertEquals(Optional.empty(), hook.unsupported("enp1s0np0"));
        assertEquals(8, hook.rxQueues("enp1s0np0"));
        assertEquals(8, hook.open(new Target(Protocol.UDP, 9000, Optional.of("enp1s0np0")), HookContext.ofPinDir(sys.resolve("p/admin/d1"))).executors());
    }

    @Test
    void theGlueWritesTheRxQueueAndMatchesItsPort() {
        String glue = new XdpOffloadHook(sys).wrapper("/p.c");
        assertTrue(glue.contains("ctx->rx_queue_index = idx;"), glue);
        assertTrue(glue.indexOf("#define SYR_PKT_L2") < glue.indexOf("#include \"syrup.h\""), glue);
        assertFalse(glue.contains("bpf_tail_call"), glue);
    }
}
