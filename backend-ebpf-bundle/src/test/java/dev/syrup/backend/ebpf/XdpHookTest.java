package dev.syrup.backend.ebpf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.syrup.api.Protocol;
import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
import dev.syrup.api.Target;
import dev.syrup.dispatch.Dispatcher;
import dev.syrup.hook.spi.Executor;
import dev.syrup.hook.spi.HookContext;
import dev.syrup.hook.spi.Input;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** xdp_skb / xdp_drv against a fake dispatcher: glue, claims, messages. No kernel. */
class XdpHookTest {

    /** Refuses every XDP claim as the real dispatcher does when the interface runs the other mode. */
    private static final class OtherMode implements Dispatcher {
        final List<String> asked = new ArrayList<>();

        @Override
        public Claim claimSocket(String owner, Target target) {
            throw new AssertionError("XDP hooks never claim at socket_select");
        }

        @Override
        public Claim claimXdp(String owner, Target target, XdpMode mode) throws SyrupException {
            asked.add(owner + " " + target + " " + mode);
            throw new SyrupException(Kind.CONFLICT, "interface veth0 runs Syrup's XDP root in skb mode for [app1]; "
                    + "generic (skb) and native (drv) XDP cannot share an interface, so a drv-mode claim is refused");
        }

        @Override
        public List<ClaimInfo> claims() {
            return List.of();
        }
    }

    @Test
    void glueRedirectsIntoTheXskmapAndSeesTheEthernetHeader() {
        XdpSkbHook hook = new XdpSkbHook(new OtherMode());
        String glue = hook.wrapper("p.c");
        assertTrue(glue.contains("SEC(\"xdp\")"), glue);
        assertTrue(glue.contains("BPF_MAP_TYPE_XSKMAP") && glue.contains("bpf_redirect_map(&syr_xsks, idx, XDP_PASS)"), glue);
        assertTrue(glue.contains("#define SYR_PKT_L2 1"), glue);
        assertTrue(glue.contains("return XDP_DROP") && glue.contains("#include \"p.c\""), glue);
        assertEquals("xdp_skb", hook.name());
        assertEquals("xdp_drv", new XdpDrvHook(new OtherMode()).name());
        assertEquals(Input.PACKET, hook.input());
        assertEquals(Executor.XDP_SOCKET, hook.executor());
    }

    @Test
    void anInterfaceIsRequired() {
        OtherMode d = new OtherMode();
        assertEquals(Kind.INVALID, assertThrows(SyrupException.class,
                () -> new XdpSkbHook(d).open(Target.port(Protocol.UDP, 9000), HookContext.ofPinDir(Path.of("/x/admin/d1")))).kind());
        assertEquals(List.of(), d.asked);
    }

    @Test
    void theOtherModeOnTheInterfaceIsAConflictThatSaysWhatToDo() {
        OtherMode d = new OtherMode();
        SyrupException e = assertThrows(SyrupException.class, () -> new XdpDrvHook(d)
                .open(new Target(Protocol.UDP, 9000, Optional.of("veth0")), HookContext.ofPinDir(Path.of("/x/uid-1000/d4"))));
        assertEquals(Kind.CONFLICT, e.kind());
        assertTrue(e.getMessage().contains("native (driver)") && e.getMessage().contains("cannot share")
                && e.getMessage().contains("deploy at xdp_skb"), e.getMessage());
        assertEquals(List.of("uid-1000 udp/9000@veth0 DRV"), d.asked);
    }
}
