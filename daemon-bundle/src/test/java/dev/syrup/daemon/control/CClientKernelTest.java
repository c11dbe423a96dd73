package dev.syrup.daemon.control;

import static dev.syrup.daemon.control.ControlTestSupport.UID_A;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The C client end to end: its test program (shipped with the client in syrup-client, compiled
 * here with gcc) runs as a non-root uid, deploys a policy, registers its sockets, steers its
 * traffic through the mmap'ed Map the policy reads, uses a hash Map through syrupd.
 */
class CClientKernelTest {

    static final String POLICY = """
            #include "syrup.h"
            SYR_MAP(steer, 2);
            SYR_HASH_MAP(notes, 8);
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

    /** Copies the C client's files out of the syrup-client jar (or classes) and compiles the test program. */
    private Path compile() throws Exception {
        Path src = syrupd.root.resolve("c");
        Files.createDirectories(src);
        for (String f : List.of("syrup_client.h", "syrup_client.c", "syrup_client_test.c")) {
            try (InputStream in = dev.syrup.client.Syrup.class.getResourceAsStream("/dev/syrup/client/c/" + f)) {
                if (in == null) {
                    throw new IOException("dev/syrup/client/c/" + f + " is not on the class path (syrup-client)");
                }
                Files.write(src.resolve(f), in.readAllBytes());
            }
        }
        Path exe = src.resolve("syrup_client_test");
        Process gcc = new ProcessBuilder("gcc", "-O2", "-Wall", "-Werror", "syrup_client.c", "syrup_client_test.c", "-o",
                exe.toString()).directory(src.toFile()).redirectErrorStream(true).start();
        String out = new String(gcc.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, gcc.waitFor(), "gcc: " + out);
        Files.setPosixFilePermissions(src, PosixFilePermissions.fromString("rwxr-xr-x"));
        Files.setPosixFilePermissions(exe, PosixFilePermissions.fromString("rwxr-xr-x"));
        return exe;
    }

    @Test
    void cClientDeploysRegistersAndSteersThroughItsMap() throws Exception {
        Path exe = compile();
        Path policy = syrupd.file("c_steer.c", POLICY);
        Process p = new ProcessBuilder("setpriv", "--reuid=" + UID_A, "--regid=" + UID_A, "--clear-groups",
                exe.toString(), "e2e", syrupd.socket().toString(), policy.toString())
                .directory(Path.of("/tmp").toFile()).redirectErrorStream(true).start();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the C test program finished");
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        System.out.print("C client (uid " + UID_A + "): " + out);
        assertEquals(0, p.exitValue(), out);
        assertTrue(out.contains("OK e2e"), out);
        assertEquals(List.of(), syrupd.deployer().list(), "the program undeployed what it deployed");
    }

    @Test
    void cClientTestsAPolicyWithoutDeploying() throws Exception {
        Path exe = compile();
        Path policy = syrupd.file("c_steer.c", POLICY);
        Process p = new ProcessBuilder("setpriv", "--reuid=" + UID_A, "--regid=" + UID_A, "--clear-groups",
                exe.toString(), "test", syrupd.socket().toString(), policy.toString())
                .directory(Path.of("/tmp").toFile()).redirectErrorStream(true).start();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the C test program finished");
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        System.out.print("C client (uid " + UID_A + "): " + out);
        assertEquals(0, p.exitValue(), out);
        assertTrue(out.contains("OK test"), out);
        assertEquals(List.of(), syrupd.deployer().list(), "a test deploys nothing");
    }
}
