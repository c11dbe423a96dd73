package dev.syrup.daemon.control;

import static dev.syrup.daemon.control.ControlTestSupport.UID_A;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.syrup.daemon.control.ControlTestSupport.App;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * TEST over the control socket, from an unprivileged application through the Java client: it may
 * test any policy on any hook, under the same compile rules as DEPLOY, and nothing is deployed.
 */
class TestOpKernelTest {

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
    void aTenantTestsWithoutDeploying() throws Exception {
        App a = syrupd.app(UID_A);
        assertEquals("0,1,2,0,1,2,0,1,2", a.ok("test round_robin 3 9 GET"));
        assertEquals("1,0,2,0,1,0", a.ok("test sita 3 6 GET;SCAN"));
        Path route = syrupd.file("route.c", """
                #include "syrup.h"
                SYR_MAP(route, 8);
                uint32_t schedule(void *pkt_start, void *pkt_end)
                {
                	struct udphdr *udp = syr_l4(pkt_start, pkt_end);
                	struct syr_request *req;
                	if (!udp)
                		return SYR_PASS;
                	req = (void *)(udp + 1);
                	if ((void *)(req + 1) > pkt_end)
                		return SYR_PASS;
                	uint32_t user = req->user_id & 7;
                	uint64_t *to = syr_map_lookup_elem(&route, &user);
                	return to ? *to : SYR_DROP;
                }
                """);
        assertEquals("0,0,0", a.ok("test " + route + " 4 0 GET,user=1;GET,user=2;SCAN,user=3"));
        assertEquals("3,0,2", a.ok("test " + route + " 4 0 GET,user=1;GET,user=2;SCAN,user=3 route=1:3,3:2"));
        assertEquals(List.of(), syrupd.deployer().list(), "no deployment was made");
        Path apps = syrupd.root.resolve("apps");
        if (Files.exists(apps)) {
            try (var files = Files.walk(apps)) {
                assertEquals(List.of(), files.filter(Files::isRegularFile).toList(), "the tested text is not kept");
            }
        }
    }

    @Test
    void theCompileRulesOfDeployApply() throws Exception {
        App a = syrupd.app(UID_A);
        Path secret = Files.createTempFile("syrup-secret-", ".h");
        try {
            Files.writeString(secret, "#define SECRET 1\n"); // root's 0600 file
            Path reads = syrupd.file("reads.c", "#include \"" + secret + "\"\n#include \"syrup.h\"\n"
                    + "uint32_t schedule(void *s, void *e) { return SECRET; }\n");
            String r = a.call("test " + reads + " 2 1 GET");
            assertTrue(r.startsWith("ERR DENIED"), r);
        } finally {
            Files.deleteIfExists(secret);
        }
        Path broken = syrupd.file("broken.c", "#include \"syrup.h\"\nuint32_t schedule(void *s, void *e) { return nope; }\n");
        String r = a.call("test " + broken + " 2 1 GET");
        assertTrue(r.startsWith("ERR COMPILE") && r.contains("broken.c:2"), r);
        Path unchecked = syrupd.file("unchecked.c", "#include \"syrup.h\"\n"
                + "uint32_t schedule(void *s, void *e) { return *(uint32_t *)(s + 40); }\n");
        r = a.call("test " + unchecked + " 2 1 GET");
        assertTrue(r.startsWith("ERR VERIFIER"), r);
        r = a.call("test round_robin 2 5000 GET");
        assertTrue(r.startsWith("ERR INVALID"), "at most 4096 inputs over the socket: " + r);
        assertEquals(List.of(), syrupd.deployer().list());
    }
}
