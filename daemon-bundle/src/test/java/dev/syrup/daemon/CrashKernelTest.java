package dev.syrup.daemon;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.syrup.api.DeployRequest;
import dev.syrup.bpf.BpfMap;
import dev.syrup.bpf.BpfProgram;
import dev.syrup.dispatch.Dispatcher;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The datapath outlives syrupd: a syrupd in a process of its own ({@link ChildSyrupd}) is
 * killed with SIGKILL under traffic, and its deployment goes on deciding (the dispatcher's slots
 * are pinned); the next syrupd re-adopts it without a datagram going to the kernel's default,
 * and its undeploy leaves nothing in the kernel (by program and map id) nor in bpffs. Real
 * sockets, one flow: the kernel's default would send every datagram to one socket.
 */
class CrashKernelTest {

    private static final String DROP_ALL = """
            #include "syrup.h"
            uint32_t schedule(void *pkt_start, void *pkt_end)
            {
            	return SYR_DROP;
            }
            """;

    @TempDir
    Path dir;

    private Path bpffs;
    private Path work;
    private Path log;

    @BeforeAll
    static void kernel() {
        Kernel.require();
    }

    @BeforeEach
    void paths() {
        bpffs = Path.of("/sys/fs/bpf/syrup-test-" + UUID.randomUUID().toString().substring(0, 8));
        work = dir.resolve("work");
        log = dir.resolve("syrupd.log");
    }

    @AfterEach
    void clean() throws IOException {
        try {
            Files.deleteIfExists(bpffs); // empty after a passing test
        } catch (java.nio.file.DirectoryNotEmptyException notEmpty) {
            try (var s = Files.walk(bpffs)) {
                String left = s.map(Path::toString).toList().toString();
                // A failed test: a syrupd that starts and stops cleanly takes along what it finds.
                try (ChildSyrupd.Handle h = ChildSyrupd.Handle.start(work, bpffs, log)) {
                    h.command("list");
                } catch (Exception e) {
                    // reported below
                }
                Files.deleteIfExists(bpffs);
                assertFalse(Files.exists(bpffs), "left in bpffs: " + left);
            }
        }
    }

    @Test
    void roundRobinKeepsItsExactSplitWhileSyrupdIsDeadAndThroughReadoption() throws Exception {
        try (UdpGroup group = new UdpGroup(4); UdpGroup.Sender tx = new UdpGroup.Sender(group.port)) {
            Set<Integer> progs = new HashSet<>();
            Set<Integer> maps = new HashSet<>();
            String id;
            Objects before;
            try (ChildSyrupd.Handle a = ChildSyrupd.Handle.start(work, bpffs, log)) {
                id = a.command("deploy round_robin " + group.port);
                before = objects();
                before.addTo(progs, maps);
                exactSplit(group, tx, 400, "syrupd up");

                // SIGKILL under traffic.
                AtomicLong sent = new AtomicLong();
                Thread flow = sender(tx, 4000, sent, new AtomicBoolean());
                while (sent.get() < 1000) {
                    Thread.sleep(1);
                }
                a.kill();
                flow.join();
                assertEquals(137, a.process.exitValue(), "killed by SIGKILL");
                assertExact(group, 4000, "killed at datagram " + 1000 + "+ of 4000");
            }
            assertEquals(before, objects(), "nothing of the deployment went with syrupd");
            exactSplit(group, tx, 4000, "syrupd dead");

            // The next syrupd comes up under traffic, re-adopts, and takes over in one slot update.
            AtomicLong sent = new AtomicLong();
            AtomicBoolean stop = new AtomicBoolean();
            group.reset();
            Thread flow = sender(tx, Long.MAX_VALUE, sent, stop);
            try (ChildSyrupd.Handle b = ChildSyrupd.Handle.start(work, bpffs, log)) {
                assertEquals(id, b.ready, "re-adopted");
                Thread.sleep(300);
                stop.set(true);
                flow.join();
                assertExact(group, sent.get(), "through the restart");
                Objects after = objects();
                after.addTo(progs, maps);
                assertEquals(before.ports, after.ports, "syrup_ports adopted");
                assertEquals(before.slots, after.slots, "syrup_slots adopted");
                assertEquals(before.slot, after.slot, "the same slot");
                assertEquals(before.deploymentMaps, after.deploymentMaps, "the executor map and the globals adopted");
                assertTrue(after.policy != before.policy, "the new policy is in the slot");
                exactSplit(group, tx, 400, "re-adopted");

                b.command("undeploy " + id);
                SocketSelectKernelTest.assertGoneById(progs, maps);
                assertFalse(Files.exists(bpffs.resolve(Dispatcher.PIN_DIR)), "the dispatcher's tree is unpinned");
                assertFalse(Files.exists(bpffs.resolve(DeployRequest.ADMIN)), "the deployment's pins are gone");
                group.reset();
                tx.send(400, 0);
                group.await(400, 3000);
                assertEquals(1, java.util.Arrays.stream(group.perSocket()).filter(n -> n > 0).count(),
                        "back to the kernel's default, one flow on one socket: " + java.util.Arrays.toString(group.perSocket()));
            }
        }
    }

    @Test
    void aDropPolicyKeepsDroppingWhileSyrupdIsDead() throws Exception {
        Path policy = Files.writeString(dir.resolve("drop_all.c"), DROP_ALL);
        try (UdpGroup group = new UdpGroup(2); UdpGroup.Sender tx = new UdpGroup.Sender(group.port)) {
            tx.send(20, 0);
            assertEquals(20, group.await(20, 3000), "without a policy the datagrams arrive");
            Set<Integer> progs = new HashSet<>();
            Set<Integer> maps = new HashSet<>();
            String id;
            try (ChildSyrupd.Handle a = ChildSyrupd.Handle.start(work, bpffs, log)) {
                id = a.command("deploy " + policy + " " + group.port);
                objects().addTo(progs, maps);
                dropped(group, tx, "syrupd up");
                a.kill();
            }
            dropped(group, tx, "syrupd dead");
            try (ChildSyrupd.Handle b = ChildSyrupd.Handle.start(work, bpffs, log)) {
                assertEquals(id, b.ready, "re-adopted");
                objects().addTo(progs, maps);
                dropped(group, tx, "re-adopted");
                b.command("undeploy " + id);
                SocketSelectKernelTest.assertGoneById(progs, maps);
                assertFalse(Files.exists(bpffs.resolve(Dispatcher.PIN_DIR)), "the dispatcher's tree is unpinned");
                group.reset();
                tx.send(20, 0);
                assertEquals(20, group.await(20, 3000), "undeployed: the datagrams arrive again");
            }
        }
    }

    /**
     * What the next syrupd does not re-adopt stops deciding: an application's deployment (its
     * connection ended with the killed syrupd) is discarded when the hook appears (and the root
     * comes off its group), and a claim whose deployment's pins are gone is released as the tree
     * is adopted.
     */
    @Test
    void whatIsNotReadoptedStopsDeciding() throws Exception {
        Path policy = Files.writeString(dir.resolve("drop_all.c"), DROP_ALL);
        try (UdpGroup admin = new UdpGroup(4); UdpGroup app = new UdpGroup(2); UdpGroup lost = new UdpGroup(2);
             UdpGroup.Sender toAdmin = new UdpGroup.Sender(admin.port); UdpGroup.Sender toApp = new UdpGroup.Sender(app.port);
             UdpGroup.Sender toLost = new UdpGroup.Sender(lost.port)) {
            Set<Integer> progs = new HashSet<>();
            Set<Integer> maps = new HashSet<>();
            String kept;
            String gone;
            try (ChildSyrupd.Handle a = ChildSyrupd.Handle.start(work, bpffs, log)) {
                kept = a.command("deploy round_robin " + admin.port);
                a.command("deploy " + policy + " " + app.port + " app1");
                gone = a.command("deploy " + policy + " " + lost.port);
                for (Objects o : allObjects()) {
                    o.addTo(progs, maps);
                }
                a.kill();
            }
            dropped(app, toApp, "syrupd dead, the application's");
            dropped(lost, toLost, "syrupd dead, the lost record's");
            // The work directory loses one record: nothing explains that deployment's pins any more.
            Files.delete(work.resolve("deployments").resolve(gone + ".properties"));
            try (ChildSyrupd.Handle b = ChildSyrupd.Handle.start(work, bpffs, log)) {
                assertEquals(kept, b.ready, "only the administrator's recorded deployment is re-adopted");
                app.reset();
                toApp.send(20, 0);
                assertEquals(20, app.await(20, 3000), "the application's policy no longer drops");
                lost.reset();
                toLost.send(20, 0);
                assertEquals(20, lost.await(20, 3000), "the lost deployment's policy no longer drops");
                exactSplit(admin, toAdmin, 400, "the re-adopted one decides");
                assertEquals(1, allObjects().size(), "one claim left in the dispatcher");
                allObjects().get(0).addTo(progs, maps);
                b.command("undeploy " + kept);
                // Nobody knew the lost deployment's sockets: the killed syrupd's root program
                // stays attached to that group (passing everything) until the group ends.
                lost.close();
                SocketSelectKernelTest.assertGoneById(progs, maps);
                assertFalse(Files.exists(bpffs.resolve(Dispatcher.PIN_DIR)), "the dispatcher's tree is unpinned");
            }
        }
    }

    private static void dropped(UdpGroup group, UdpGroup.Sender tx, String when) throws Exception {
        group.reset();
        tx.send(200, 0);
        Thread.sleep(300);
        assertEquals(0, group.total(), when + ": every datagram dropped");
    }

    private static void exactSplit(UdpGroup group, UdpGroup.Sender tx, int n, String when) throws Exception {
        group.reset();
        tx.send(n, 0);
        assertExact(group, n, when);
    }

    private static void assertExact(UdpGroup group, long n, String when) throws InterruptedException {
        assertEquals(0, n % 4, "whole rounds");
        assertEquals(n, group.await(n, 5000), when + ": all datagrams arrive");
        assertArrayEquals(new long[] {n / 4, n / 4, n / 4, n / 4}, group.perSocket(), when + ": the round-robin split");
        group.reset();
    }

    /** Sends rounds of 4 datagrams of one flow, paced, up to {@code max} or until {@code stop}. */
    private static Thread sender(UdpGroup.Sender tx, long max, AtomicLong sent, AtomicBoolean stop) {
        Thread t = new Thread(() -> {
            try {
                while (sent.get() < max && !stop.get()) {
                    for (int i = 0; i < 4; i++) {
                        tx.one(UdpGroup.GET, sent.get());
                        sent.incrementAndGet();
                    }
                    Thread.sleep(1);
                }
            } catch (IOException | InterruptedException e) {
                throw new IllegalStateException(e);
            }
        }, "one-flow");
        t.start();
        return t;
    }

    /** The deployment's kernel objects, by id, found through the pins. */
    private record Objects(int root, int ports, int slots, int slot, int policy, Set<Integer> deploymentMaps) {
        void addTo(Set<Integer> progs, Set<Integer> maps) {
            progs.add(root);
            progs.add(policy);
            maps.add(ports);
            maps.add(slots);
            maps.addAll(deploymentMaps);
        }
    }

    private static java.util.stream.Stream<Path> children(Path dir) {
        try (var s = Files.list(dir)) {
            return s.toList().stream();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** One {@link Objects} per filled slot (their deployment maps: all deployments' together). */
    private java.util.List<Objects> allObjects() throws IOException {
        Path tree = bpffs.resolve(Dispatcher.PIN_DIR).resolve("v1").resolve("socket_select");
        java.util.List<Objects> out = new java.util.ArrayList<>();
        Objects any = objects(false);
        try (BpfMap m = BpfMap.openPinned(tree.resolve("slots"))) {
            for (int s = 0; s < 256; s++) {
                var p = m.lookup(s);
                if (p.isPresent()) {
                    out.add(new Objects(any.root(), any.ports(), any.slots(), s, (int) p.getAsLong(), any.deploymentMaps()));
                }
            }
        }
        return out;
    }

    private Objects objects() throws IOException {
        return objects(true);
    }

    private Objects objects(boolean one) throws IOException {
        Path tree = bpffs.resolve(Dispatcher.PIN_DIR).resolve("v1").resolve("socket_select");
        int root;
        try (BpfProgram p = BpfProgram.openPinned(tree.resolve("root"))) {
            root = p.info().id();
        }
        int ports;
        try (BpfMap m = BpfMap.openPinned(tree.resolve("ports"))) {
            ports = m.info().id();
        }
        int slots, slot = -1, policy = -1;
        try (BpfMap m = BpfMap.openPinned(tree.resolve("slots"))) {
            slots = m.info().id();
            for (int s = 0; s < 256; s++) {
                var p = m.lookup(s); // a PROG_ARRAY read from user space gives the program's id
                if (p.isPresent() && (one || slot < 0)) {
                    assertEquals(-1, slot, "one slot filled");
                    slot = s;
                    policy = (int) p.getAsLong();
                }
            }
        }
        assertTrue(slot >= 0, "the policy is in a slot");
        Set<Integer> deployment = new HashSet<>();
        try (var owners = Files.list(bpffs)) {
            for (Path d : owners.filter(o -> !o.getFileName().toString().equals(Dispatcher.PIN_DIR))
                    .flatMap(CrashKernelTest::children).toList()) {
                try (var pins = Files.list(d)) {
                    for (Path pin : pins.toList()) {
                        try (BpfMap m = BpfMap.openPinned(pin)) {
                            deployment.add(m.info().id());
                        }
                    }
                }
            }
        }
        assertTrue(deployment.size() >= 1, "the executor map pinned: " + deployment);
        return new Objects(root, ports, slots, slot, policy, deployment);
    }
}
