package dev.syrup.backend.offload;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.syrup.api.SyrupException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The offload check on objects compiled by clang through the xdp_offload glue (no kernel needed). */
class OffloadCheckerTest {

    @TempDir
    Path dir;

    private List<OffloadChecker.Finding> check(String name, String policy) throws Exception {
        return OffloadChecker.check(Policies.compile(dir, name, policy));
    }

    private static String all(List<OffloadChecker.Finding> f) {
        return f.toString();
    }

    @Test
    void aPolicyWithHashMapsAndRandomPasses() throws Exception {
        List<OffloadChecker.Finding> f = check("ok", """
                SYR_HASH_MAP(load, 16);
                uint32_t schedule(void *pkt_start, void *pkt_end)
                {
                	struct udphdr *udp = syr_l4(pkt_start, pkt_end);
                	uint32_t k = syr_random() % NUM_EXECUTORS;
                	uint64_t one = 1, *n;
                	if (!udp || !syr_has(udp, sizeof(*udp), pkt_end))
                		return PASS;
                	n = syr_map_lookup_elem(&load, &k);
                	if (n)
                		__sync_fetch_and_add(n, 1);
                	else
                		syr_map_update_elem(&load, &k, &one);
                	return k;
                }
                """);
        assertEquals(List.of(), f, "offloadable: " + all(f));
        // The glue's own maps pass too: the port map and the counters, a plain ARRAY (no per-CPU maps on a NIC).
        dev.syrup.bpf.ObjectSpec spec = dev.syrup.bpf.ObjectSpec.read(java.nio.file.Files.readAllBytes(dir.resolve("ok.o")));
        dev.syrup.bpf.ObjectSpec.MapSpec stats = spec.maps().stream().filter(m -> m.name().equals("syr_stats")).findFirst().orElseThrow();
        assertEquals(dev.syrup.bpf.MapType.ARRAY, stats.mapType());
        assertEquals(XdpOffloadHook.MAX_EXECUTORS + 3, stats.maxEntries());
    }

    @Test
    void anUnsupportedHelperIsNamed() throws Exception {
        List<OffloadChecker.Finding> f = check("ktime", """
                uint32_t schedule(void *pkt_start, void *pkt_end)
                {
                	return bpf_ktime_get_ns() % NUM_EXECUTORS;
                }
                """);
        assertEquals(1, f.size(), all(f));
        assertTrue(f.get(0).what().contains("bpf_ktime_get_ns (id 5)"), all(f));
        assertTrue(f.get(0).where().startsWith("program syr_xdp_offload (section xdp), instruction "), all(f));
        SyrupException e = assertThrows(SyrupException.class,
                () -> XdpOffloadDeployment.requireOffloadable(dir.resolve("ktime.o")));
        assertEquals(SyrupException.Kind.INVALID, e.kind());
        assertTrue(e.getMessage().contains("bpf_ktime_get_ns"), e.getMessage());
    }

    @Test
    void tailCallsBpfToBpfCallsAndAtomicsOtherThanAddAreNamed() throws Exception {
        List<OffloadChecker.Finding> f = check("tail", """
                struct {
                	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
                	__uint(max_entries, 1);
                	__type(key, __u32);
                	__type(value, __u32);
                } progs SEC(".maps");
                SYR_HASH_MAP(bits, 4);

                static __attribute__((noinline)) uint32_t pick(uint32_t x)
                {
                	return x % NUM_EXECUTORS;
                }

                uint32_t schedule(void *pkt_start, void *pkt_end)
                {
                	uint32_t k = 0;
                	uint64_t *b = syr_map_lookup_elem(&bits, &k);
                	if (b)
                		__sync_fetch_and_or(b, 2);
                	return pick(syr_random());
                }

                SEC("xdp") int other(struct xdp_md *ctx)
                {
                	bpf_tail_call(ctx, &progs, 0);
                	return XDP_PASS;
                }
                """);
        String s = all(f);
        assertTrue(s.contains("program other (section xdp), instruction 3: tail call (bpf_tail_call)"), s);
        assertTrue(s.contains("bpf-to-bpf call"), s);
        assertTrue(s.contains("atomic operation"), s);
        assertTrue(s.contains("map progs: map type PROG_ARRAY is not supported"), s);
    }

    @Test
    void mapTypesAndMmapableArraysAreNamed() throws Exception {
        List<OffloadChecker.Finding> f = check("maps", """
                SYR_MAP(busy, 4);
                struct {
                	__uint(type, BPF_MAP_TYPE_LRU_HASH);
                	__uint(max_entries, 64);
                	__type(key, __u32);
                	__type(value, __u64);
                } recent SEC(".maps");
                uint32_t schedule(void *pkt_start, void *pkt_end)
                {
                	uint32_t k = 0;
                	uint64_t *a = syr_map_lookup_elem(&busy, &k);
                	uint64_t *b = syr_map_lookup_elem(&recent, &k);
                	return (a ? *a : 0) + (b ? *b : 0);
                }
                """);
        String s = all(f);
        assertTrue(s.contains("map busy: BPF_F_MMAPABLE"), s);
        assertTrue(s.contains("map recent: map type LRU_HASH is not supported by NIC offload (only HASH and ARRAY)"), s);
        assertEquals(2, f.size(), s);
    }

    @Test
    void helperNames() {
        assertEquals("bpf_map_lookup_elem", OffloadChecker.helperName(1));
        assertEquals("bpf_tail_call", OffloadChecker.helperName(12));
        assertEquals("bpf_xdp_adjust_head", OffloadChecker.helperName(44));
        assertEquals("helper #100000", OffloadChecker.helperName(100000));
    }
}
