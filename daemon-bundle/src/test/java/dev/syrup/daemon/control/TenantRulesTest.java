package dev.syrup.daemon.control;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.syrup.api.Deployment;
import dev.syrup.api.Protocol;
import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
import dev.syrup.api.Target;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Port ownership over a fake /proc: no privileges, no kernel objects. */
class TenantRulesTest {

    @TempDir
    Path proc;

    private TenantRules rules;

    private static final String HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";

    @BeforeEach
    void fakeProc() throws Exception {
        // pid 100 holds fd 3 -> socket 5001 (udp 127.0.0.1:9000) and fd 4 -> socket 5003 (tcp6 :8080);
        // pid 200 holds fd 3 -> socket 5002 (udp 127.0.0.1:9001).
        for (String pid : new String[] {"100", "200"}) {
            Files.createDirectories(proc.resolve(pid).resolve("fd"));
            Files.createDirectories(proc.resolve(pid).resolve("net"));
            Files.writeString(proc.resolve(pid).resolve("net/udp"), HEADER
                    + "  1: 0100007F:2328 00000000:0000 07 00000000:00000000 00:00000000 00000000  1000        0 5001 2 0\n"
                    + "  2: 0100007F:2329 00000000:0000 07 00000000:00000000 00:00000000 00000000  1001        0 5002 2 0\n");
            Files.writeString(proc.resolve(pid).resolve("net/udp6"), HEADER);
            Files.writeString(proc.resolve(pid).resolve("net/tcp"), HEADER);
            Files.writeString(proc.resolve(pid).resolve("net/tcp6"), HEADER
                    + "  0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 5003 1 0\n");
        }
        Files.createSymbolicLink(proc.resolve("100/fd/3"), Path.of("socket:[5001]"));
        Files.createSymbolicLink(proc.resolve("100/fd/4"), Path.of("socket:[5003]"));
        Files.createSymbolicLink(proc.resolve("100/fd/5"), Path.of("/dev/null"));
        Files.createSymbolicLink(proc.resolve("200/fd/3"), Path.of("socket:[5002]"));
        rules = new TenantRules(proc);
    }

    @Test
    void applicationNames() {
        assertEquals("admin", TenantRules.application(0));
        assertEquals("uid-1000", TenantRules.application(1000));
        assertEquals("uid-4294967294", TenantRules.application(-2));
    }

    @Test
    void aProcessMayClaimOnlyPortsItsOwnSocketsAreBoundTo() {
        assertDoesNotThrow(() -> rules.checkPort(100, 1000, Protocol.UDP, 9000));
        assertDoesNotThrow(() -> rules.checkPort(100, 1000, Protocol.TCP, 8080));
        assertDoesNotThrow(() -> rules.checkPort(200, 1001, Protocol.UDP, 9001));
        SyrupException e = assertThrows(SyrupException.class, () -> rules.checkPort(100, 1000, Protocol.UDP, 9001));
        assertEquals(Kind.DENIED, e.kind());
        assertTrue(e.getMessage().contains("holds no udp socket bound to port 9001"), e.getMessage());
        assertThrows(SyrupException.class, () -> rules.checkPort(200, 1001, Protocol.UDP, 9000));
        assertThrows(SyrupException.class, () -> rules.checkPort(100, 1000, Protocol.TCP, 9000), "protocol matters");
        assertThrows(SyrupException.class, () -> rules.checkPort(300, 1000, Protocol.UDP, 9000), "no such process");
        assertDoesNotThrow(() -> rules.checkPort(300, 0, Protocol.UDP, 9000), "the administrator may claim any port");
    }

    @Test
    void aPortAnotherUidAlsoHoldsIsNobodysToClaim() throws Exception {
        // uid 1001 bound 127.0.0.2:9000 next to uid 1000's 127.0.0.1:9000
        Files.writeString(proc.resolve("100/net/udp6"), HEADER
                + "  3: 0200007F:2328 00000000:0000 07 00000000:00000000 00:00000000 00000000  1001        0 5009 2 0\n");
        SyrupException e = assertThrows(SyrupException.class, () -> rules.checkPort(100, 1000, Protocol.UDP, 9000));
        assertEquals(Kind.DENIED, e.kind());
        assertTrue(e.getMessage().contains("also bound by uid-1001"), e.getMessage());
    }

    @Test
    void tcpNeedsAListeningSocket() throws Exception {
        // pid 100 also holds a connected TCP socket whose local port is 8081 (state 01)
        Files.writeString(proc.resolve("100/net/tcp"), HEADER
                + "  0: 0100007F:1F91 0100007F:D431 01 00000000:00000000 00:00000000 00000000  1000        0 5004 1 0\n");
        Files.createSymbolicLink(proc.resolve("100/fd/6"), Path.of("socket:[5004]"));
        SyrupException e = assertThrows(SyrupException.class, () -> rules.checkPort(100, 1000, Protocol.TCP, 8081));
        assertTrue(e.getMessage().contains("holds no tcp listening socket bound to port 8081"), e.getMessage());
    }

    @Test
    void deploymentsBelongToTheirOwnerAndTheAdministrator() {
        Deployment d = new Deployment("d1", "round_robin", "socket_select", Target.port(Protocol.UDP, 9000), "uid-1000",
                4, Instant.now(), 0);
        assertDoesNotThrow(() -> TenantRules.checkOwner("uid-1000", d));
        assertDoesNotThrow(() -> TenantRules.checkOwner("admin", d));
        assertEquals(Kind.DENIED, assertThrows(SyrupException.class, () -> TenantRules.checkOwner("uid-1001", d)).kind());
    }

    @Test
    void theCallerMustBeInSyrupdsNetworkNamespace() throws Exception {
        // Namespace files stand for nsfs inodes: the same file is the same namespace.
        Path host = Files.writeString(proc.resolve("host-net"), "");
        Files.createDirectories(proc.resolve("self/ns"));
        Files.createSymbolicLink(proc.resolve("self/ns/net"), host);
        Files.createDirectories(proc.resolve("100/ns"));
        Files.createSymbolicLink(proc.resolve("100/ns/net"), host);
        Files.createDirectories(proc.resolve("200/ns"));
        Files.writeString(proc.resolve("200/ns/net"), "");
        assertDoesNotThrow(() -> rules.checkNetns(100));
        SyrupException e = assertThrows(SyrupException.class, () -> rules.checkNetns(200));
        assertEquals(Kind.DENIED, e.kind());
        assertTrue(e.getMessage().contains("network namespace is not syrupd's"), e.getMessage());
        assertEquals(Kind.DENIED, assertThrows(SyrupException.class, () -> rules.checkNetns(300)).kind(), "gone");
    }
}
