package dev.syrup.backend.ebpf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.syrup.api.Protocol;
import dev.syrup.hook.kit.ProcSockets;
import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
import dev.syrup.api.Target;
import dev.syrup.dispatch.Dispatcher;
import dev.syrup.hook.spi.HookContext;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The hook's use of the dispatcher, over a made-up /proc and a fake dispatcher: no kernel. */
class SocketSelectHookTest {

    @TempDir
    Path proc;

    /** Records claims; refuses every one with CONFLICT, as when another owner holds the port. */
    private static final class Refusing implements Dispatcher {
        final List<String> asked = new ArrayList<>();

        @Override
        public Claim claimSocket(String owner, Target target) throws SyrupException {
            asked.add(owner + " " + target);
            throw new SyrupException(Kind.CONFLICT, "socket_select " + target + " is claimed by uid-1001");
        }

        @Override
        public Claim claimXdp(String owner, Target target, XdpMode mode) {
            throw new AssertionError("socket_select never claims at XDP");
        }

        @Override
        public List<ClaimInfo> claims() {
            return List.of();
        }
    }

    private void udpSocketOn9000() throws IOException {
        Files.createDirectories(proc.resolve("net"));
        Files.writeString(proc.resolve("net").resolve("udp"),
                "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
                        + " 1: 0100007F:2328 00000000:0000 07 00000000:00000000 00:00000000 00000000 0 0 100 2 0 0\n");
        Path fds = Files.createDirectories(proc.resolve("77").resolve("fd"));
        Files.createSymbolicLink(fds.resolve("4"), Path.of("socket:[100]"));
    }

    @Test
    void claimsThePortForTheOwnerOfThePinDirectoryAndPassesARefusalOn() throws IOException {
        udpSocketOn9000();
        Refusing dispatcher = new Refusing();
        SocketSelectHook hook = new SocketSelectHook(new ProcSockets(proc), dispatcher);
        SyrupException e = assertThrows(SyrupException.class,
                () -> hook.open(Target.port(Protocol.UDP, 9000), HookContext.ofPinDir(Path.of("/sys/fs/bpf/syrup/admin/d3"))));
        assertEquals(Kind.CONFLICT, e.kind());
        assertTrue(e.getMessage().contains("uid-1001"), e.getMessage());
        assertEquals(List.of("admin udp/9000"), dispatcher.asked);
    }

    @Test
    void aTenantIsDeniedWhileAnotherUidsSocketIsOnThePortAndNothingIsClaimed() throws IOException {
        udpSocketOn9000(); // owned by uid 0 (the tables' uid column)
        Refusing dispatcher = new Refusing();
        SocketSelectHook hook = new SocketSelectHook(new ProcSockets(proc), dispatcher);
        SyrupException e = assertThrows(SyrupException.class, () -> hook.open(Target.port(Protocol.UDP, 9000),
                HookContext.ofPinDir(Path.of("/x/uid-1001/d1"), java.util.OptionalInt.of(1001))));
        assertEquals(Kind.DENIED, e.kind());
        assertTrue(e.getMessage().contains("uid 0"), e.getMessage());
        assertEquals(List.of(), dispatcher.asked);
        // The administrator (no uid) takes any socket on the port: on to the dispatcher.
        assertEquals(Kind.CONFLICT, assertThrows(SyrupException.class, () -> hook.open(Target.port(Protocol.UDP, 9000),
                HookContext.ofPinDir(Path.of("/x/admin/d2")))).kind());
    }

    @Test
    void nothingIsClaimedWithoutExecutorsOrForAnInterface() {
        Refusing dispatcher = new Refusing();
        SocketSelectHook hook = new SocketSelectHook(new ProcSockets(proc), dispatcher);
        assertEquals(Kind.NO_EXECUTORS, assertThrows(SyrupException.class,
                () -> hook.open(Target.port(Protocol.UDP, 9000), HookContext.ofPinDir(Path.of("/x/admin/d1")))).kind());
        assertEquals(Kind.INVALID, assertThrows(SyrupException.class,
                () -> hook.open(new Target(Protocol.UDP, 9000, Optional.of("eth0")), HookContext.ofPinDir(Path.of("/x/admin/d1")))).kind());
        assertEquals(List.of(), dispatcher.asked);
    }

    @Test
    void theGlueStaysAnSkReuseportProgramTheDispatcherCanTailCall() {
        String glue = new SocketSelectHook(new ProcSockets(proc), new Refusing()).wrapper("p.c");
        assertTrue(glue.contains("SEC(\"sk_reuseport\")"), glue);
    }
}
