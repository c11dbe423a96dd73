package dev.syrup.daemon.control;

import static dev.syrup.daemon.control.ControlTestSupport.UID_B;
import static dev.syrup.daemon.control.ControlTestSupport.send;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.syrup.daemon.control.ControlTestSupport.App;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * An unprivileged application (no bpf() at all here) steers its traffic by writing an mmap'ed
 * array Map that its policy reads, and reads what the policy counts, with no system call.
 */
class MmapFastPathKernelTest {

    /** steer[0]: the executor every input goes to; steer[1]: inputs seen (the policy adds atomically). */
    static final String STEER = """
            #include "syrup.h"
            SYR_MAP(steer, 2);
            uint32_t schedule(void *pkt_start, void *pkt_end)
            {
                uint32_t k0 = 0, k1 = 1;
                uint64_t *to = syr_map_lookup_elem(&steer, &k0);
                uint64_t *seen = syr_map_lookup_elem(&steer, &k1);
                if (!to || !seen)
                    return SYR_PASS;
                __sync_fetch_and_add(seen, 1);
                return *to % NUM_EXECUTORS;
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
    void unprivilegedAppSteersThroughItsMmapedMap() throws Exception {
        Path steer = syrupd.file("steer.c", STEER);
        App app = syrupd.app(UID_B);
        int port = Integer.parseInt(app.ok("open 4"));
        ControlTestSupport.forceReceiveBuffers(app.pid, port);
        String id = app.ok("deploy " + steer + " " + port);
        assertEquals("mapped", app.ok("openmap " + id + " steer"), "the array Map is mmap'ed by a non-root process");

        app.ok("set 0 2");
        send(port, 300);
        assertArrayEquals(new long[] {0, 0, 300, 0}, app.await(300), "every datagram to executor 2");
        assertEquals("300", app.ok("get 1"), "the app reads the policy's count");

        assertEquals("3", app.ok("add 0 1"), "atomic add through the mapping");
        app.ok("reset");
        send(port, 300);
        assertArrayEquals(new long[] {0, 0, 0, 300}, app.await(300), "now every datagram to executor 3");

        // The app adds to the counter the policy adds to: both atomic, nothing lost.
        Thread sender = new Thread(() -> {
            try {
                send(port, 2000);
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        });
        sender.start();
        for (int i = 0; i < 20; i++) {
            app.ok("add 1 1000");
        }
        sender.join();
        app.await(2300);
        assertEquals(Long.toString(600 + 2000 + 20 * 1000), app.ok("get 1"));

        // Cost, measured in the unprivileged process: mmap'ed read and atomic add, and one
        // round trip through syrupd (LIST).
        String[] bench = app.ok("bench 0 2000000").split(" ");
        double readNs = Double.parseDouble(bench[0]);
        double addNs = Double.parseDouble(bench[1]);
        double roundTripUs = Double.parseDouble(bench[2]);
        System.out.printf("mmap fast path (uid %d): read %.2f ns, atomic add %.2f ns; control socket round trip %.1f us%n",
                UID_B, readNs, addNs, roundTripUs);
        assertTrue(readNs < 200 && addNs < 500, "memory accesses, not system calls: read " + readNs + " ns, add " + addNs + " ns");
        assertEquals("3", app.ok("get 0"), "bench left the value as it was");
    }
}
