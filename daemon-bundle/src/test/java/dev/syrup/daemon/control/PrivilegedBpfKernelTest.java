package dev.syrup.daemon.control;

import static dev.syrup.daemon.control.ControlTestSupport.UID_A;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.syrup.daemon.control.ControlTestSupport.App;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.UUID;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Attack class "run privileged eBPF": an unprivileged tenant (uid 23401) deploys, through the
 * control socket of a real syrupd, policies that would use what only root's capabilities give
 * the verifier, or make root pin a map where the tenant chooses. Each is refused with its
 * reason, nothing is installed (the kernel's default keeps serving, no deployment is listed),
 * and a well-behaved policy still deploys afterwards.
 */
class PrivilegedBpfKernelTest {

    private ControlTestSupport syrupd;
    private App app;
    private int port;

    @BeforeAll
    static void kernel() {
        ControlTestSupport.requireKernel();
    }

    @BeforeEach
    void start() throws Exception {
        syrupd = new ControlTestSupport();
        app = syrupd.app(UID_A);
        port = Integer.parseInt(app.ok("open 2"));
    }

    @AfterEach
    void stop() throws Exception {
        syrupd.close();
    }

    static final String PROBE = """
            uint32_t schedule(void *pkt_start, void *pkt_end)
            {
            	__u64 x = 0;

            	bpf_probe_read_kernel(&x, sizeof(x), (void *)0xffffffff81000000ULL);
            	return x & 1;
            }
            """;

    @Test
    void probeReadKernelIsRefused() throws Exception {
        String r = refused("probe.c", PROBE);
        assertTrue(r.contains("bpf_probe_read_kernel (helper 113) is not allowed at socket_select"), r);
        assertTrue(r.contains("program syr_socket_select (section sk_reuseport), instruction "), r);
    }

    @Test
    void getCurrentTaskIsRefused() throws Exception {
        String r = refused("task.c", """
                uint32_t schedule(void *pkt_start, void *pkt_end)
                {
                	return bpf_get_current_task() & 1;
                }
                """);
        assertTrue(r.contains("bpf_get_current_task (helper 35) is not allowed at socket_select"), r);
    }

    @Test
    void tracePrintkIsRefused() throws Exception {
        String r = refused("printk.c", """
                uint32_t schedule(void *pkt_start, void *pkt_end)
                {
                	bpf_printk("scheduling %p", pkt_start);
                	return SYR_PASS;
                }
                """);
        assertTrue(r.contains("bpf_trace_printk (helper 6) is not allowed at socket_select"), r);
    }

    @Test
    void pointerLeakIntoAMapIsRefusedByTheVerifier() throws Exception {
        String r = refused("leak.c", """
                SYR_MAP(leak, 1);

                uint32_t schedule(void *pkt_start, void *pkt_end)
                {
                	uint32_t k = 0;
                	uint64_t *v = syr_map_lookup_elem(&leak, &k);

                	if (v)
                		*v = (uint64_t)v; /* a kernel address, for the application to mmap */
                	return SYR_PASS;
                }
                """);
        assertTrue(r.startsWith("ERR VERIFIER the verifier rejected the policy (program syr_socket_select, EACCES)"), r);
        assertTrue(r.contains("leaks addr"), r);
    }

    @Test
    void bpfLoopIsRefused() throws Exception {
        String r = refused("loop.c", """
                static long spin(__u32 i, void *ctx)
                {
                	return 0;
                }

                uint32_t schedule(void *pkt_start, void *pkt_end)
                {
                	bpf_loop(1 << 23, spin, 0, 0); /* 8M callbacks per datagram, in softirq */
                	return SYR_PASS;
                }
                """);
        assertTrue(r.contains("bpf_loop (helper 181) is not allowed at socket_select"), r);
    }

    @Test
    void pinningByNameIsRefusedAndNothingIsPinned() throws Exception {
        String name = "syr_pin_" + UUID.randomUUID().toString().substring(0, 6);
        Path outside = Path.of("/sys/fs/bpf", name);
        try {
            String r = refused("pin.c", """
                    struct {
                    	__uint(type, BPF_MAP_TYPE_ARRAY);
                    	__uint(max_entries, 1);
                    	__type(key, __u32);
                    	__type(value, __u64);
                    	__uint(pinning, LIBBPF_PIN_BY_NAME);
                    } %s SEC(".maps");

                    uint32_t schedule(void *pkt_start, void *pkt_end)
                    {
                    	uint32_t k = 0;

                    	return syr_map_lookup_elem(&%s, &k) ? SYR_PASS : SYR_DROP;
                    }
                    """.formatted(name, name));
            assertTrue(r.contains("map '" + name + "': pinning 1 (LIBBPF_PIN_BY_NAME) is not allowed"), r);
            assertFalse(Files.exists(outside), outside + " exists");
            assertEquals(List.of(), pinsNamed(name), "pins named " + name + " anywhere in bpffs");
        } finally {
            Files.deleteIfExists(outside); // what the old code left behind
        }
    }

    @Test
    void aRefusedReplacementLeavesTheRunningPolicy() throws Exception {
        ControlTestSupport.forceReceiveBuffers(app.pid, port);
        String id = app.ok("deploy round_robin " + port).trim();
        String r = app.call("deploy " + syrupd.file("probe.c", PROBE) + " " + port + " replace");
        assertTrue(r.startsWith("ERR VERIFIER the policy is not allowed at socket_select"), r);
        assertEquals(List.of(id + ":round_robin"), syrupd.deployer().list().stream().map(d -> d.id() + ":" + d.policy()).toList());
        ControlTestSupport.send(port, 400);
        assertArrayEquals(new long[] {200, 200}, app.await(400), "round robin still splits the datagrams");
    }

    @Test
    void wellBehavedPoliciesStillDeploy() throws Exception {
        for (String builtin : List.of("round_robin", "hash", "sita", "scan_avoid", "token")) {
            String id = app.ok("deploy " + builtin + " " + port + " replace").trim();
            assertFalse(id.isEmpty(), builtin);
        }
        Path own = syrupd.file("own.c", """
                SYR_MAP(seen, 4);
                SYR_HASH_MAP(last, 16);

                uint32_t schedule(void *pkt_start, void *pkt_end)
                {
                	struct udphdr *udp = syr_l4(pkt_start, pkt_end);
                	uint32_t k = 0;
                	uint64_t now = bpf_ktime_get_ns(), *v;

                	if (!syr_has(udp, sizeof(*udp), pkt_end))
                		return SYR_PASS;
                	v = syr_map_lookup_elem(&seen, &k);
                	if (v)
                		__sync_fetch_and_add(v, 1);
                	syr_map_update_elem(&last, &k, &now);
                	return syr_random() % NUM_EXECUTORS;
                }
                """);
        String id = app.ok("deploy " + own + " " + port + " replace").trim();
        app.ok("undeploy " + id);
    }

    /** Deploys {@code source} as the tenant; asserts the refusal and that nothing is deployed. */
    private String refused(String file, String source) throws Exception {
        Path p = syrupd.file(file, source);
        String r = app.call("deploy " + p + " " + port);
        System.out.println(file + ": " + r);
        assertTrue(r.startsWith("ERR VERIFIER "), r);
        assertEquals(List.of(), syrupd.deployer().list(), "deployments after the refusal");
        return r;
    }

    /** Paths in bpffs (two levels: others' trees may be deep) whose name is {@code name}. */
    private static List<Path> pinsNamed(String name) throws IOException {
        try (Stream<Path> s = Files.walk(Path.of("/sys/fs/bpf"), 2)) {
            return s.filter(p -> p.getFileName() != null && p.getFileName().toString().equals(name)).toList();
        } catch (java.io.UncheckedIOException e) {
            return List.of(); // another test's directory went away meanwhile
        }
    }
}
