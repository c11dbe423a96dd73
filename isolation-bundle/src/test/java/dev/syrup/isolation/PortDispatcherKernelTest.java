package dev.syrup.isolation;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.syrup.api.Protocol;
import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
import dev.syrup.api.Target;
import dev.syrup.backend.ebpf.SocketSelectHook;
import dev.syrup.bpf.BpfObject;
import dev.syrup.dispatch.Dispatcher;
import dev.syrup.hook.spi.HookContext;
import dev.syrup.hook.spi.HookDeployment;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The socket_select side of the dispatcher on the real kernel: claims and ownership, the root
 * program's lifetime, slot installs, and the socket_select hook driven through it without the
 * daemon.
 */
class PortDispatcherKernelTest {

    @TempDir
    Path dir;

    @BeforeAll
    static void kernel() {
        Kernel.require();
    }

    @Test
    void claimsAreExclusivePerOwnerAndTheRootProgramLivesWithThem() throws Exception {
        Map<String, String> fds = Kernel.openFds();
        Set<Integer> progsBefore = Kernel.programIds();
        Set<Integer> mapsBefore = Kernel.mapIds();
        Path xdp = Kernel.compile(dir, "t_xdp", """
                #include "syrup.h"
                SEC("xdp") int t_pass(struct xdp_md *ctx) { return XDP_PASS; }
                char _license[] SEC("license") = "GPL";
                """);
        Set<Integer> progs;
        Set<Integer> maps;
        try (PortDispatcher d = new PortDispatcher(); BpfObject wrongType = BpfObject.open(xdp)) {
            wrongType.load();
            Target udp = Target.port(Protocol.UDP, 40001);
            Dispatcher.Claim first = d.claimSocket("app1", udp);
            int rootId = d.socketRootProgram().orElseThrow().info().id();
            assertTrue(Kernel.programsNamed(PortDispatcher.SK_PROGRAM).contains(rootId), "the root program is loaded with the first claim");

            SyrupException taken = assertThrows(SyrupException.class, () -> d.claimSocket("app2", udp));
            assertEquals(Kind.CONFLICT, taken.kind());
            assertTrue(taken.getMessage().contains("app1"), "names the holder: " + taken.getMessage());

            Dispatcher.Claim again = d.claimSocket("app1", udp);
            assertEquals(first.slot(), again.slot(), "the same owner shares its slot");
            Dispatcher.Claim tcp = d.claimSocket("app2", Target.port(Protocol.TCP, 40001));
            assertTrue(tcp.slot() != first.slot(), "tcp/40001 is another input");
            assertEquals(List.of(new Dispatcher.ClaimInfo("socket_select", udp, "app1", first.slot(), false),
                    new Dispatcher.ClaimInfo("socket_select", Target.port(Protocol.TCP, 40001), "app2", tcp.slot(), false)),
                    d.claims());
            progs = Kernel.newPrograms(progsBefore);
            maps = Kernel.newMaps(mapsBefore);
            assertTrue(progs.containsAll(Set.of(rootId, wrongType.program("t_pass").info().id())),
                    "root + the test's xdp program: " + progs);
            assertTrue(maps.size() >= 2, "syrup_ports, syrup_slots: " + maps);

            SyrupException wrong = assertThrows(SyrupException.class, () -> first.install(wrongType.program("t_pass").fd()));
            assertEquals(Kind.INVALID, wrong.kind(), wrong.getMessage());
            SyrupException iface = assertThrows(SyrupException.class,
                    () -> d.claimSocket("app1", new Target(Protocol.UDP, 40002, Optional.of("lo"))));
            assertEquals(Kind.INVALID, iface.kind());

            first.close();
            first.close(); // idempotent
            assertThrows(IllegalStateException.class, () -> first.install(0));
            assertEquals(Kind.CONFLICT, assertThrows(SyrupException.class, () -> d.claimSocket("app2", udp)).kind(),
                    "app1 still holds it through its other claim");
            again.close();
            d.claimSocket("app2", udp).close();
            tcp.close();
            assertEquals(List.of(), d.claims());
            assertTrue(d.socketRootProgram().isEmpty(), "the root program goes with the last claim");
        }
        Kernel.assertGone(progs, maps);
        assertEquals(Map.of(), Kernel.newFds(fds), "fds left open");
    }

    @Test
    void theHookGoesThroughTheDispatcherAndAnotherOwnerCannotTakeThePort() throws Exception {
        Path bpffs = Path.of("/sys/fs/bpf/syrup-test-" + UUID.randomUUID().toString().substring(0, 8));
        Map<String, String> fds = Kernel.openFds();
        Set<Integer> progsBefore = Kernel.programIds();
        List<DatagramChannel> sockets = new ArrayList<>();
        Set<Integer> progs;
        try (PortDispatcher d = new PortDispatcher(); DatagramChannel tx = DatagramChannel.open()) {
            SocketSelectHook hook = new SocketSelectHook(d);
            int port = 0;
            for (int i = 0; i < 2; i++) {
                DatagramChannel ch = DatagramChannel.open();
                ch.setOption(StandardSocketOptions.SO_REUSEPORT, true);
                ch.bind(new InetSocketAddress("127.0.0.1", port));
                ch.configureBlocking(false);
                port = ((InetSocketAddress) ch.getLocalAddress()).getPort();
                sockets.add(ch);
            }
            // Executor i is the i-th socket by inode, which is creation order only within one CPU's
            // inode batch: index the sockets that way.
            sockets.sort(java.util.Comparator.comparingLong(PortDispatcherKernelTest::inode));
            Target target = Target.port(Protocol.UDP, port);
            Files.writeString(dir.resolve("to_one_policy.c"), "uint32_t schedule(void *s, void *e) { return 1; }\n");
            Path object = Kernel.compile(dir, "to_one", hook.wrapper(dir.resolve("to_one_policy.c").toString()), "NUM_EXECUTORS=2");

            try (HookDeployment dep = hook.open(target, HookContext.ofPinDir(bpffs.resolve("app1").resolve("d1")))) {
                dep.install(object);
                progs = Kernel.newPrograms(progsBefore);
                int rootId = d.socketRootProgram().orElseThrow().info().id();
                assertTrue(progs.contains(rootId) && progs.size() >= 2, "the root program and the policy: " + progs);
                assertEquals(1, d.claims().size());
                assertTrue(d.claims().get(0).installed());
                SyrupException other = assertThrows(SyrupException.class,
                        () -> hook.open(target, HookContext.ofPinDir(bpffs.resolve("app2").resolve("d2"))));
                assertEquals(Kind.CONFLICT, other.kind());
                assertTrue(other.getMessage().contains("app1"), other.getMessage());

                tx.bind(new InetSocketAddress("127.0.0.1", 0));
                for (int i = 0; i < 100; i++) {
                    tx.send(ByteBuffer.wrap(new byte[] {1, 2, 3, 4}), new InetSocketAddress("127.0.0.1", port));
                }
                long[] got = new long[2];
                long end = System.currentTimeMillis() + 3000;
                ByteBuffer buf = ByteBuffer.allocate(64);
                while (got[0] + got[1] < 100 && System.currentTimeMillis() < end) {
                    for (int i = 0; i < 2; i++) {
                        buf.clear();
                        if (sockets.get(i).receive(buf) != null) {
                            got[i]++;
                        }
                    }
                }
                assertEquals(0, got[0], "the policy sends everything to executor 1");
                assertEquals(100, got[1]);
            }
            assertEquals(List.of(), d.claims(), "closing the deployment releases its claim");
            assertTrue(d.socketRootProgram().isEmpty());
        } finally {
            for (DatagramChannel ch : sockets) {
                ch.close();
            }
            Files.deleteIfExists(bpffs.resolve("app1"));
            Files.deleteIfExists(bpffs);
        }
        Kernel.assertGone(progs, Set.of());
        assertEquals(Map.of(), Kernel.newFds(fds), "fds left open");
    }

    /**
     * A dispatcher adopts the tree another one pinned (here still open, standing in for a killed
     * syrupd's): the recorded claims are leftovers with their slot and program; another owner
     * gets CONFLICT; the owner takes its claim back with the same slot; discard releases one; a
     * claim whose deployment's pin dir is gone is released by itself; with the last claim the
     * tree is unpinned.
     */
    @Test
    void aDispatcherAdoptsThePinnedTreeWithItsClaims() throws Exception {
        Path root = Path.of("/sys/fs/bpf/syrup-test-" + UUID.randomUUID().toString().substring(0, 8));
        Path tree = root.resolve(Dispatcher.PIN_DIR);
        Path d1 = Files.createDirectories(root.resolve("app1").resolve("d1"));
        Path d2 = Files.createDirectories(root.resolve("app2").resolve("d2"));
        Path d3 = Files.createDirectories(root.resolve("app1").resolve("d3"));
        Path policy = Kernel.compile(dir, "t_sk", """
                #include "syrup.h"
                SEC("sk_reuseport") int t_sk(struct sk_reuseport_md *md) { return SK_PASS; }
                char _license[] SEC("license") = "GPL";
                """);
        Target udp = Target.port(Protocol.UDP, 40011);
        Target tcp = Target.port(Protocol.TCP, 40012);
        Target other = Target.port(Protocol.UDP, 40013);
        try (PortDispatcher a = new PortDispatcher(tree); BpfObject prog = BpfObject.open(policy)) {
            prog.load();
            Dispatcher.Claim c1 = a.claimSocket("app1", udp, d1);
            c1.install(prog.program("t_sk").fd());
            Dispatcher.Claim c2 = a.claimSocket("app2", tcp, d2);
            Dispatcher.Claim c3 = a.claimSocket("app1", other, d3);
            int rootA = a.socketRootProgram().orElseThrow().info().id();
            assertTrue(Files.exists(tree.resolve("v1/socket_select/slots")), "the slots are pinned");
            Files.delete(d2); // app2's deployment will not be re-adopted: its pins are gone

            try (PortDispatcher b = new PortDispatcher(tree)) {
                SyrupException taken = assertThrows(SyrupException.class, () -> b.claimSocket("app9", udp));
                assertEquals(Kind.CONFLICT, taken.kind());
                assertTrue(taken.getMessage().contains("app1") && taken.getMessage().contains("previous syrupd"), taken.getMessage());
                assertTrue(b.socketRootProgram().orElseThrow().info().id() != rootA, "a root of its own, on the adopted maps");
                assertEquals(List.of(new Dispatcher.ClaimInfo("socket_select", udp, "app1", c1.slot(), true),
                        new Dispatcher.ClaimInfo("socket_select", other, "app1", c3.slot(), false)), b.claims(),
                        "app1's leftovers, its policy still in its slot; app2's released");
                assertTrue(b.discard("socket_select", other), "a leftover discarded");
                assertTrue(b.discard("socket_select", other), "none left there");
                Dispatcher.Claim back = b.claimSocket("app1", udp, d1);
                assertEquals(c1.slot(), back.slot(), "the same slot");
                assertEquals(List.of(new Dispatcher.ClaimInfo("socket_select", udp, "app1", c1.slot(), true)), b.claims());
                assertFalse(b.discard("socket_select", udp), "a claim held now is not discarded");
                assertEquals(1, b.claims().size());
                back.close();
                assertEquals(List.of(), b.claims());
                assertTrue(b.socketRootProgram().isEmpty(), "the root goes with the last claim");
                assertFalse(Files.exists(tree), "and its tree is unpinned");
            }
            c1.close();
            c2.close();
            c3.close();
        } finally {
            for (Path p : List.of(d1, d3, d1.getParent(), d2.getParent(), root)) {
                Files.deleteIfExists(p);
            }
        }
    }

    private static long inode(DatagramChannel ch) {
        try {
            String link = Files.readSymbolicLink(Path.of("/proc/self/fd/" + dev.syrup.client.Syrup.fdOf(ch))).toString();
            return Long.parseLong(link.substring(link.indexOf('[') + 1, link.length() - 1));
        } catch (java.io.IOException | dev.syrup.api.SyrupException e) {
            throw new IllegalStateException(e);
        }
    }
}
