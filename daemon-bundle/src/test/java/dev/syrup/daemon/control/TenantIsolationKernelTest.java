package dev.syrup.daemon.control;

import static dev.syrup.daemon.control.ControlTestSupport.UID_A;
import static dev.syrup.daemon.control.ControlTestSupport.UID_B;
import static dev.syrup.daemon.control.ControlTestSupport.send;
import static dev.syrup.daemon.control.ControlTestSupport.sum;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.syrup.api.Deployment;
import dev.syrup.daemon.control.ControlTestSupport.App;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Two applications in two processes running as two different non-root uids, each with its
 * own SO_REUSEPORT UDP group, reach syrupd only through the control socket (Java client).
 */
class TenantIsolationKernelTest {

    static final String DROP_ALL = "uint32_t schedule(void *pkt_start, void *pkt_end) { return SYR_DROP; }\n";

    /** Round robin that also counts, per executor, what it sent there, in an mmap-able array Map. */
    static final String RR_COUNT = """
            #include "syrup.h"
            SYR_MAP(seen, 4);
            static uint32_t next;
            uint32_t schedule(void *pkt_start, void *pkt_end)
            {
                uint32_t i = __sync_fetch_and_add(&next, 1) % NUM_EXECUTORS;
                uint64_t *v = syr_map_lookup_elem(&seen, &i);
                if (v)
                    __sync_fetch_and_add(v, 1);
                return i;
            }
            """;

    private ControlTestSupport syrupd;

    @BeforeAll
    static void kernel() {
        ControlTestSupport.requireKernel();
    }

    @BeforeEach
    void start() throws Exception {
        syrupd = new ControlTestSupport();
    }

    @AfterEach
    void stop() throws Exception {
        syrupd.close();
    }

    @Test
    void twoApplicationsAsTwoUidsAreIsolated() throws Exception {
        Path drop = syrupd.file("drop_all.c", DROP_ALL);
        Path rr = syrupd.file("rr_count.c", RR_COUNT);
        App a = syrupd.app(UID_A);
        App b = syrupd.app(UID_B);
        assertEquals("uid-" + UID_A, a.name);
        assertEquals("uid-" + UID_B, b.name);

        int portA = Integer.parseInt(a.ok("open 2"));
        int portB = Integer.parseInt(b.ok("open 4"));
        ControlTestSupport.forceReceiveBuffers(a.pid, portA);
        ControlTestSupport.forceReceiveBuffers(b.pid, portB);

        // No policy: the kernel's default (one source port hashes to one socket), nothing lost.
        send(portB, 400);
        long[] byDefault = b.await(400);
        assertEquals(400, sum(byDefault));
        assertEquals(400, Arrays.stream(byDefault).max().orElseThrow(), "default: one flow, one socket " + Arrays.toString(byDefault));
        b.ok("reset");

        // A drops everything on its own port.
        String dA = a.ok("deploy " + drop + " " + portA);
        send(portA, 300);
        assertEquals(0, sum(a.await(1)), "A's DROP policy lets nothing through");

        // B: round robin over its 4 sockets, each (re)registered by B itself at its index. (The
        // hook adopted them already; a socket sits in one sockarray slot at a time, so moving one
        // to another index while it is still in its first slot is EBUSY.)
        String dB = b.ok("deploy " + rr + " " + portB);
        for (int i = 0; i < 4; i++) {
            b.ok("register " + dB + " " + i + " " + i);
        }
        send(portB, 4000);
        long[] split = b.await(4000);
        assertArrayEquals(new long[] {1000, 1000, 1000, 1000}, split, "exact round robin for B, untouched by A");
        assertEquals(0, sum(a.counts()), "A still drops");

        Deployment ownedByB = syrupd.deployer().list().stream().filter(d -> d.id().equals(dB)).findFirst().orElseThrow();
        assertEquals("uid-" + UID_B, ownedByB.owner());
        assertEquals(portB, ownedByB.target().port());

        // A tries to reach into B: every attempt fails clearly and changes nothing.
        List<Deployment> before = syrupd.deployer().list();
        assertRefused(a.call("deploy round_robin " + portB), "DENIED", "holds no udp socket bound to port " + portB);
        assertRefused(a.call("deploy " + drop + " " + portB + " replace"), "DENIED", "port " + portB);
        assertRefused(a.call("register " + dB + " 0 0"), "DENIED", "does not belong to uid-" + UID_A);
        assertRefused(a.call("openmap " + dB + " seen"), "DENIED", "does not belong to uid-" + UID_A);
        assertRefused(a.call("undeploy " + dB), "DENIED", "does not belong to uid-" + UID_A);
        // B's descriptor numbers mean nothing in A's process: registering "B's fd" on A's own
        // deployment looks the number up in A, where it is not a socket on A's port.
        List<Integer> aFds = ControlTestSupport.socketFds(a.pid, portA);
        int bFd = ControlTestSupport.socketFds(b.pid, portB).stream().filter(fd -> !aFds.contains(fd)).findFirst().orElseThrow();
        String r = a.call("registerfd " + dA + " 0 " + bFd);
        assertTrue(r.startsWith("ERR INVALID") || r.startsWith("ERR KERNEL"), r);
        assertEquals(("OK " + dA).trim(), a.call("list").replaceAll(",.*", ""), "A lists only its own deployment");
        assertEquals(before, syrupd.deployer().list(), "nothing changed");

        // B's traffic still splits exactly; B reads its Map through the mmap fast path.
        b.ok("reset");
        send(portB, 4000);
        assertArrayEquals(new long[] {1000, 1000, 1000, 1000}, b.await(4000));
        assertEquals("mapped", b.ok("openmap " + dB + " seen"));
        for (int k = 0; k < 4; k++) {
            assertEquals("2000", b.ok("get " + k), "the policy counted 2000 datagrams on executor " + k);
        }

        // A undeploys: its port is back to the kernel's default (one flow, one socket, nothing lost).
        a.ok("undeploy " + dA);
        send(portA, 300);
        long[] restored = a.await(300);
        assertEquals(300, sum(restored), "after undeploy nothing is dropped");
        assertEquals(300, Arrays.stream(restored).max().orElseThrow(), "default: one flow, one socket " + Arrays.toString(restored));

        // B's pins are root's alone (B has its Map as an fd): under <bpffs>/uid-B/<id>/, pins 0600,
        // every directory up to the root 0700, nothing owned by B's uid.
        Path pin = syrupd.bpffs.resolve("uid-" + UID_B).resolve(dB).resolve("seen");
        assertTrue(Files.exists(pin), pin + " pinned");
        assertEquals(0, Files.getAttribute(pin, "unix:uid"));
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(pin)));
        for (Path d = pin.getParent(); !d.equals(syrupd.bpffs.getParent()); d = d.getParent()) {
            assertEquals(0, Files.getAttribute(d, "unix:uid"), d + " is root's");
            assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(d)), d.toString());
        }
    }

    /**
     * The administrator (the shell) deployed on the application's port: the application holds the
     * port's socket, yet it can neither deploy there (CONFLICT) nor replace the administrator's
     * policy (DENIED), and the administrator's deployment stays as it was.
     */
    @Test
    void anotherOwnersDeploymentCannotBeReplaced() throws Exception {
        Path drop = syrupd.file("drop_all.c", DROP_ALL);
        App a = syrupd.app(UID_A);
        int port = Integer.parseInt(a.ok("open 2"));
        Deployment admin = syrupd.deployer().deploy(new dev.syrup.api.DeployRequest("round_robin", "socket_select",
                dev.syrup.api.Target.port(dev.syrup.api.Protocol.UDP, port), java.util.Map.of(), false,
                dev.syrup.api.DeployRequest.ADMIN));
        assertRefused(a.call("deploy " + drop + " " + port), "CONFLICT", "already runs deployment " + admin.id());
        assertRefused(a.call("deploy " + drop + " " + port + " replace"), "DENIED", "belongs to admin");
        assertRefused(a.call("undeploy " + admin.id()), "DENIED", "does not belong to uid-" + UID_A);
        assertEquals(List.of(admin), syrupd.deployer().list(), "the administrator's deployment is unchanged");
        assertEquals("OK", a.call("list").trim(), "and invisible to the application");
    }

    private static void assertRefused(String reply, String kind, String text) {
        assertTrue(reply.startsWith("ERR " + kind), "expected ERR " + kind + ", got: " + reply);
        assertTrue(reply.contains(text), "expected '" + text + "' in: " + reply);
    }
}
