package dev.syrup.isolation;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.syrup.api.Protocol;
import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
import dev.syrup.api.Target;
import dev.syrup.bpf.BpfObject;
import dev.syrup.bpf.Xdp;
import dev.syrup.dispatch.Dispatcher;
import dev.syrup.dispatch.Dispatcher.XdpMode;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The XDP root dispatcher on a veth pair this test makes: its end {@code dev} stays here with
 * 10.211.N.1, the peer goes into network namespace {@code ns} with 10.211.N.2 and sends UDP
 * from there (bash's /dev/udp, through nsenter so that bpffs stays visible).
 */
class XdpDispatcherKernelTest {

    private static final int N = 200;

    @TempDir
    Path dir;

    private String ns;
    private String dev;
    private String local;
    private String peerAddr;

    @BeforeAll
    static void kernel() {
        Kernel.require();
    }

    @BeforeEach
    void veth() throws Exception {
        int r = ThreadLocalRandom.current().nextInt(0x10000, 0xfffff);
        int net = ThreadLocalRandom.current().nextInt(1, 254);
        ns = "syrn" + Integer.toHexString(r);
        dev = "syrx" + Integer.toHexString(r);
        String peer = "syry" + Integer.toHexString(r);
        local = "10.211." + net + ".1";
        peerAddr = "10.211." + net + ".2";
        Kernel.run("ip", "netns", "add", ns);
        Kernel.run("ip", "link", "add", dev, "type", "veth", "peer", "name", peer);
        Kernel.run("ip", "link", "set", peer, "netns", ns);
        Kernel.run("ip", "addr", "add", local + "/24", "dev", dev);
        Kernel.run("ip", "link", "set", dev, "up");
        inNs("ip addr add " + peerAddr + "/24 dev " + peer + " && ip link set " + peer + " up && ip link set lo up");
    }

    @AfterEach
    void removeVeth() {
        Kernel.quietly("ip", "link", "del", dev);
        Kernel.quietly("ip", "netns", "del", ns);
    }

    private void inNs(String script) throws Exception {
        Kernel.run("nsenter", "--net=/run/netns/" + ns, "bash", "-c", script);
    }

    /** N datagrams from the namespace to {@code port}, each from a fresh socket. */
    private void sendFromPeer(int port) throws Exception {
        inNs("for i in $(seq 1 " + N + "); do printf 'syrup%04d' $i > /dev/udp/" + local + "/" + port + "; done");
    }

    private static long drain(DatagramChannel ch) throws Exception {
        ByteBuffer buf = ByteBuffer.allocate(64);
        long n = 0;
        while (ch.receive(buf) != null) {
            buf.clear();
            n++;
        }
        return n;
    }

    @Test
    void twoPoliciesOnTwoPortsAndAThirdPortUntouched() throws Exception {
        Map<String, String> fds = Kernel.openFds();
        Set<Integer> progsBefore = Kernel.programIds();
        Set<Integer> mapsBefore = Kernel.mapIds();
        Path dropObj = Kernel.compile(dir, "t_xdp_drop", """
                #include "syrup.h"
                SEC("xdp") int t_drop(struct xdp_md *ctx) { return XDP_DROP; }
                char _license[] SEC("license") = "GPL";
                """);
        Path countObj = Kernel.compile(dir, "t_xdp_count", """
                #include "syrup.h"
                SYR_MAP(t_seen, 1);
                SEC("xdp") int t_count(struct xdp_md *ctx)
                {
                	uint32_t zero = 0;
                	uint64_t *n = syr_map_lookup_elem(&t_seen, &zero);
                	if (n)
                		__sync_fetch_and_add(n, 1);
                	return XDP_PASS;
                }
                char _license[] SEC("license") = "GPL";
                """);
        List<DatagramChannel> rx = new ArrayList<>();
        Set<Integer> progs;
        Set<Integer> maps;
        try (PortDispatcher d = new PortDispatcher(); BpfObject drop = BpfObject.open(dropObj);
             BpfObject count = BpfObject.open(countObj)) {
            drop.load();
            count.load();
            for (int i = 0; i < 3; i++) {
                DatagramChannel ch = DatagramChannel.open();
                ch.bind(new InetSocketAddress(local, 0));
                ch.configureBlocking(false);
                rx.add(ch);
            }
            int portA = ((InetSocketAddress) rx.get(0).getLocalAddress()).getPort();
            int portB = ((InetSocketAddress) rx.get(1).getLocalAddress()).getPort();
            int portC = ((InetSocketAddress) rx.get(2).getLocalAddress()).getPort();
            int ifindex = Xdp.ifindex(dev);

            Dispatcher.Claim a = d.claimXdp("app1", new Target(Protocol.UDP, portA, Optional.of(dev)), XdpMode.SKB);
            int rootId = Xdp.attachedProgramId(ifindex, Xdp.XDP_FLAGS_SKB_MODE).orElseThrow();
            assertTrue(Kernel.programsNamed(PortDispatcher.XDP_PROGRAM).contains(rootId) && !progsBefore.contains(rootId),
                    "the root program is attached in generic mode with the first claim");
            Dispatcher.Claim b = d.claimXdp("app2", new Target(Protocol.UDP, portB, Optional.of(dev)), XdpMode.SKB);

            SyrupException mode = assertThrows(SyrupException.class,
                    () -> d.claimXdp("app3", new Target(Protocol.UDP, portC, Optional.of(dev)), XdpMode.DRV));
            assertEquals(Kind.CONFLICT, mode.kind());
            assertTrue(mode.getMessage().contains("skb") && mode.getMessage().contains("cannot share"), mode.getMessage());
            SyrupException taken = assertThrows(SyrupException.class,
                    () -> d.claimXdp("app3", new Target(Protocol.UDP, portA, Optional.of(dev)), XdpMode.SKB));
            assertEquals(Kind.CONFLICT, taken.kind());
            assertTrue(taken.getMessage().contains("app1"), taken.getMessage());
            assertEquals(Kind.INVALID, assertThrows(SyrupException.class,
                    () -> d.claimXdp("app3", new Target(Protocol.UDP, portC, Optional.of(dev + "-none")), XdpMode.SKB)).kind());

            a.install(drop.program("t_drop").fd());
            b.install(count.program("t_count").fd());
            progs = Kernel.newPrograms(progsBefore);
            maps = Kernel.newMaps(mapsBefore);
            assertTrue(progs.containsAll(Set.of(rootId, drop.program("t_drop").info().id(), count.program("t_count").info().id())),
                    "the root and two policies: " + progs);

            sendFromPeer(portA);
            sendFromPeer(portB);
            sendFromPeer(portC);
            Thread.sleep(200);
            assertEquals(0, drain(rx.get(0)), "port A: its policy drops everything");
            assertEquals(N, drain(rx.get(1)), "port B: its policy passes everything");
            assertEquals(N, count.map("t_seen").lookup(0).orElseThrow(), "port B: its policy saw each datagram once");
            assertEquals(N, drain(rx.get(2)), "port C: no claim, XDP_PASS");

            b.close();
            assertTrue(Xdp.attachedProgramId(ifindex, Xdp.XDP_FLAGS_SKB_MODE).isPresent(), "port A still claimed");
            sendFromPeer(portB);
            Thread.sleep(100);
            assertEquals(N, drain(rx.get(1)));
            assertEquals(N, count.map("t_seen").lookup(0).orElseThrow(), "a released port no longer reaches the policy");
            a.close();
            assertEquals(OptionalInt.empty(), Xdp.attachedProgramId(ifindex, Xdp.XDP_FLAGS_SKB_MODE),
                    "the root program is detached with the interface's last claim");
            assertEquals(List.of(), d.claims());
            sendFromPeer(portA);
            Thread.sleep(100);
            assertEquals(N, drain(rx.get(0)), "port A is back to the default");

            Dispatcher.Claim native_ = d.claimXdp("app3", new Target(Protocol.UDP, portC, Optional.of(dev)), XdpMode.DRV);
            assertTrue(Xdp.attachedProgramId(ifindex, Xdp.XDP_FLAGS_DRV_MODE).isPresent(), "native mode once the interface is free");
            native_.close();
            assertEquals(OptionalInt.empty(), Xdp.attachedProgramId(ifindex, 0));
        } finally {
            for (DatagramChannel ch : rx) {
                ch.close();
            }
        }
        Kernel.assertGone(progs, maps);
        assertEquals(Map.of(), Kernel.newFds(fds), "fds left open");
    }

    @Test
    void aRootAnEarlierSyrupdLeftAttachedIsReplacedAnythingElseIsNot() throws Exception {
        Set<Integer> progsBefore = Kernel.programIds();
        // What a killed syrupd leaves: a program with the root's name attached to the interface,
        // held by the attachment alone. Here it drops UDP, to be seen (not ARP: the peer must
        // still find this end).
        Path leftover = Kernel.compile(dir, "t_leftover", """
                #include "syrup.h"
                SEC("xdp") int syrup_xdp_disp(struct xdp_md *ctx)
                {
                	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
                	struct ethhdr *eth = data;
                	struct iphdr *ip = (void *)(eth + 1);
                	if ((void *)(ip + 1) > end || eth->h_proto != __builtin_bswap16(ETH_P_IP))
                		return XDP_PASS;
                	return ip->protocol == IPPROTO_UDP ? XDP_DROP : XDP_PASS;
                }
                char _license[] SEC("license") = "GPL";
                """);
        Path foreign = Kernel.compile(dir, "t_foreign", """
                #include "syrup.h"
                SEC("xdp") int t_foreign(struct xdp_md *ctx) { return XDP_PASS; }
                char _license[] SEC("license") = "GPL";
                """);
        int ifindex = Xdp.ifindex(dev);
        int oldId;
        try (BpfObject o = BpfObject.open(foreign)) {
            o.load();
            Xdp.attach(ifindex, o.program("t_foreign"), Xdp.XDP_FLAGS_SKB_MODE);
        }
        try (PortDispatcher d = new PortDispatcher(); DatagramChannel rx = DatagramChannel.open()) {
            rx.bind(new InetSocketAddress(local, 0));
            rx.configureBlocking(false);
            int port = ((InetSocketAddress) rx.getLocalAddress()).getPort();
            Target target = new Target(Protocol.UDP, port + 1 > 65535 ? port - 1 : port + 1, Optional.of(dev));
            SyrupException refused = assertThrows(SyrupException.class, () -> d.claimXdp("app1", target, XdpMode.SKB));
            assertEquals(Kind.CONFLICT, refused.kind(), "someone else's program stays: " + refused.getMessage());
            Xdp.detach(ifindex, Xdp.XDP_FLAGS_SKB_MODE);

            try (BpfObject o = BpfObject.open(leftover)) {
                o.load();
                Xdp.attach(ifindex, o.program(PortDispatcher.XDP_PROGRAM), Xdp.XDP_FLAGS_SKB_MODE);
                oldId = o.program(PortDispatcher.XDP_PROGRAM).info().id();
            }
            sendFromPeer(port);
            Thread.sleep(100);
            assertEquals(0, drain(rx), "the leftover runs (and drops)");

            Dispatcher.Claim c = d.claimXdp("app1", target, XdpMode.SKB);
            int rootId = Xdp.attachedProgramId(ifindex, Xdp.XDP_FLAGS_SKB_MODE).orElseThrow();
            assertTrue(rootId != oldId && !progsBefore.contains(rootId), "this dispatcher's root replaced it");
            sendFromPeer(port);
            Thread.sleep(100);
            assertEquals(N, drain(rx), "an unclaimed port passes again");
            c.close();
            assertEquals(OptionalInt.empty(), Xdp.attachedProgramId(ifindex, 0), "detached with the last claim");
        }
        Kernel.assertGone(Set.of(oldId), Set.of());
    }
}
