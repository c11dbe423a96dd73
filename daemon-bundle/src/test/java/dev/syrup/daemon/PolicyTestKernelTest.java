package dev.syrup.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.syrup.api.DeployRequest;
import dev.syrup.api.PolicyTest;
import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
import dev.syrup.api.TestPackets;
import dev.syrup.api.TestResult;
import dev.syrup.backend.ebpf.CpuRedirectHook;
import dev.syrup.backend.ebpf.SocketSelectHook;
import dev.syrup.backend.ebpf.XdpSkbHook;
import dev.syrup.bpf.KernelObjects;
import dev.syrup.dispatch.Dispatcher.XdpMode;
import dev.syrup.isolation.PortDispatcher;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * syrup:test on the real kernel: policies compiled with each hook's glue run on inputs with
 * BPF_PROG_TEST_RUN (socket_select through its XDP shim), decisions read from the counters.
 */
class PolicyTestKernelTest {

    static final List<String> HOOKS = List.of("socket_select", "xdp_skb", "cpu_redirect");

    @TempDir
    static Path dir;

    private DeploymentManager syrupd;
    private PortDispatcher dispatcher;
    private Path bpffs;

    @BeforeAll
    static void kernel() {
        Kernel.require();
    }

    @BeforeEach
    void start() throws IOException {
        bpffs = Path.of("/sys/fs/bpf/syrup-test-" + UUID.randomUUID().toString().substring(0, 8));
        syrupd = new DeploymentManager(DaemonConfig.of(dir.resolve("work").toString(), bpffs.toString()));
        dispatcher = new PortDispatcher();
        syrupd.addHook(new SocketSelectHook(dispatcher));
        syrupd.addHook(new XdpSkbHook(dispatcher));
        syrupd.addHook(new CpuRedirectHook(dispatcher, List.of(0), XdpMode.SKB, 64));
    }

    @AfterEach
    void stop() throws IOException {
        syrupd.deactivate();
        dispatcher.close();
        Files.deleteIfExists(bpffs);
    }

    private TestResult test(String policy, String hook, int executors, List<byte[]> inputs, Map<String, Map<Long, Long>> maps)
            throws SyrupException {
        return syrupd.test(new PolicyTest(policy, hook, Map.of(), executors, inputs, maps, DeployRequest.ADMIN));
    }

    private static List<byte[]> requests(int count, String... specs) throws SyrupException {
        return TestPackets.inputs(List.of(specs), List.of(), List.of(), count, 9000);
    }

    @Test
    void roundRobinGivesEachExecutorExactlyItsShare() throws Exception {
        for (String hook : HOOKS) {
            for (int n : new int[] {1, 3, 4}) {
                TestResult r = test("round_robin", hook, n, requests(12 * n, "GET"), Map.of());
                for (int i = 0; i < r.decisions().size(); i++) {
                    assertEquals(i % n, r.decisions().get(i), hook + " n=" + n + " input " + i);
                }
                for (int e = 0; e < n; e++) {
                    assertEquals(12L, r.histogram().get(e), hook + " n=" + n + " executor " + e);
                }
                assertEquals(n, r.histogram().size(), hook + ": nothing but executors: " + r.histogram());
                assertTrue(r.nsPerDecision() > 0 && r.timedRuns() > 0, hook + ": timed " + r);
            }
        }
    }

    @Test
    void sitaPutsEveryScanOnZeroAndGetsElsewhere() throws Exception {
        for (String hook : HOOKS) {
            TestResult r = test("sita", hook, 4, requests(300, "GET", "SCAN,user=3", "GET,user=1"), Map.of());
            for (int i = 0; i < r.decisions().size(); i++) {
                int d = r.decisions().get(i);
                if (i % 3 == 1) {
                    assertEquals(0, d, hook + ": SCAN " + i);
                } else {
                    assertTrue(d >= 1 && d <= 3, hook + ": GET " + i + " went to " + d);
                }
            }
            assertEquals(100L, r.histogram().get(0), hook);
            assertEquals(200L, r.histogram().get(1) + r.histogram().get(2) + r.histogram().get(3), hook);
        }
    }

    @Test
    void aPolicyFollowsItsSeededMap() throws Exception {
        Path policy = dir.resolve("route.c");
        Files.writeString(policy, """
                #include "syrup.h"
                SYR_HASH_MAP(route, 64);
                uint32_t schedule(void *pkt_start, void *pkt_end)
                {
                	struct udphdr *udp = syr_l4(pkt_start, pkt_end);
                	struct syr_request *req;
                	if (!udp)
                		return SYR_PASS;
                	req = (void *)(udp + 1);
                	if ((void *)(req + 1) > pkt_end)
                		return SYR_PASS;
                	uint32_t user = req->user_id;
                	uint64_t *to = syr_map_lookup_elem(&route, &user);
                	if (!to)
                		return SYR_DROP;
                	return *to;
                }
                """);
        for (String hook : HOOKS) {
            TestResult r = test(policy.toString(), hook, 4, requests(0, "GET,user=1", "GET,user=2", "SCAN,user=7", "GET,user=9"),
                    Map.of("route", Map.of(1L, 3L, 2L, 0L, 7L, 2L)));
            assertEquals(List.of(3, 0, 2, TestResult.DROP), r.decisions(), hook);
            // Unseeded, every user is dropped: the seed is what made the difference.
            assertEquals(List.of(TestResult.DROP), test(policy.toString(), hook, 4, requests(0, "GET,user=1"), Map.of()).decisions());
        }
        SyrupException e = assertThrows(SyrupException.class, () -> test(policy.toString(), "socket_select", 4,
                requests(0, "GET"), Map.of("nosuch", Map.of(1L, 1L))));
        assertEquals(Kind.INVALID, e.kind());
        assertTrue(e.getMessage().contains("route"), e.getMessage());
        e = assertThrows(SyrupException.class, () -> test(policy.toString(), "socket_select", 4,
                requests(0, "GET"), Map.of("syr_stats", Map.of(1L, 1L))));
        assertEquals(Kind.INVALID, e.kind(), "the glue's own Maps are not the policy's");
    }

    @Test
    void pcapInput() throws Exception {
        List<byte[]> frames = new ArrayList<>();
        frames.add(TestPackets.udp(TestPackets.request("GET"), 5000, 9000));
        frames.add(TestPackets.udp(TestPackets.request("SCAN"), 5001, 9000));
        frames.add(TestPackets.udp(TestPackets.request("GET"), 5002, 9000));
        byte[] arp = new byte[42];
        arp[12] = 0x08;
        arp[13] = 0x06;
        frames.add(arp);
        frames.add(TestPackets.udp(new byte[3], 5003, 9000)); // too short for a request
        Path pcap = dir.resolve("in.pcap");
        Files.write(pcap, TestPackets.toPcap(frames));
        List<byte[]> inputs = TestPackets.pcap(pcap);
        assertEquals(5, inputs.size());
        // socket_select never sees an ARP frame: NONE; the packet hooks give it to the policy, which passes it.
        assertEquals(List.of(1, 0, 2, TestResult.NONE, TestResult.PASS), test("sita", "socket_select", 3, inputs, Map.of()).decisions());
        assertEquals(List.of(1, 0, 2, TestResult.PASS, TestResult.PASS), test("sita", "xdp_skb", 3, inputs, Map.of()).decisions());
    }

    @Test
    void micaFollowsTheKeyNotTheFlow() throws Exception {
        for (String hook : HOOKS) {
            // Each input has its own source port; the same key must still meet the same executor.
            TestResult r = test("mica", hook, 4, requests(400, "GET,key=1", "GET,key=2", "SCAN,key=3", "GET,key=4",
                    "GET,key=5", "GET,key=6", "GET,key=7", "GET,key=8"), Map.of());
            for (int i = 8; i < r.decisions().size(); i++) {
                assertEquals(r.decisions().get(i % 8), r.decisions().get(i), hook + " input " + i);
            }
            assertTrue(r.histogram().size() > 1, hook + ": 8 keys over 4 executors all on one: " + r.histogram());
            assertTrue(r.decisions().stream().allMatch(d -> d >= 0 && d < 4), hook);
        }
        // hash keys on the port pair: the same 400 inputs spread regardless of key.
        TestResult h = test("hash", "socket_select", 4, requests(400, "GET,key=1"), Map.of());
        assertEquals(4, h.histogram().size(), "hash over 400 flows: " + h.histogram());
    }

    @Test
    void indexesBeyondTheExecutorsAndBeyondTheSlots() throws Exception {
        Path policy = dir.resolve("far.c");
        Files.writeString(policy, """
                #include "syrup.h"
                static uint32_t n;
                uint32_t schedule(void *pkt_start, void *pkt_end)
                {
                	uint32_t i = __sync_fetch_and_add(&n, 1) % 4;
                	return i == 0 ? 1 : i == 1 ? 9 : i == 2 ? 100000 : SYR_DROP;
                }
                """);
        for (String hook : HOOKS) {
            TestResult r = test(policy.toString(), hook, 2, requests(8, "GET"), Map.of());
            assertEquals(List.of(1, 9, TestResult.OTHER, TestResult.DROP, 1, 9, TestResult.OTHER, TestResult.DROP), r.decisions(), hook);
        }
    }

    @Test
    void errorsReadAsForDeploy() throws Exception {
        Path broken = dir.resolve("broken.c");
        Files.writeString(broken, "#include \"syrup.h\"\nuint32_t schedule(void *pkt_start, void *pkt_end) { return nope; }\n");
        SyrupException e = assertThrows(SyrupException.class, () -> test(broken.toString(), "socket_select", 2, requests(0, "GET"), Map.of()));
        assertEquals(Kind.COMPILE, e.kind());
        assertTrue(e.getMessage().contains("broken.c:2"), e.getMessage());

        Path unchecked = dir.resolve("unchecked.c");
        Files.writeString(unchecked, "#include \"syrup.h\"\nuint32_t schedule(void *pkt_start, void *pkt_end)\n"
                + "{ return *(uint32_t *)(pkt_start + 40) % NUM_EXECUTORS; }\n");
        for (String hook : HOOKS) {
            e = assertThrows(SyrupException.class, () -> test(unchecked.toString(), hook, 2, requests(0, "GET"), Map.of()));
            assertEquals(Kind.VERIFIER, e.kind(), hook + ": " + e.getMessage());
        }
        e = assertThrows(SyrupException.class, () -> test("round_robin", "nosuch", 2, requests(0, "GET"), Map.of()));
        assertEquals(Kind.UNKNOWN_HOOK, e.kind());
        e = assertThrows(SyrupException.class, () -> test("round_robin", "socket_select", 0, requests(0, "GET"), Map.of()));
        assertEquals(Kind.INVALID, e.kind());
    }

    @Test
    void nothingIsLeftBehind() throws Exception {
        test("round_robin", "socket_select", 4, requests(10, "GET"), Map.of());
        test("sita", "xdp_skb", 4, requests(10, "GET"), Map.of());
        assertTrue(syrupd.list().isEmpty(), "a test makes no deployment");
        assertTrue(KernelObjects.programs().stream().noneMatch(p -> p.name().equals("syr_test_sksel")),
                "the test shim is unloaded");
        assertTrue(!Files.exists(bpffs) || Files.list(bpffs).findAny().isEmpty(), "nothing pinned");
    }
}
