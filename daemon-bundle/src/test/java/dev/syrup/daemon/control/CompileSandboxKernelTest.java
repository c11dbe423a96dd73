package dev.syrup.daemon.control;

import static dev.syrup.daemon.control.ControlTestSupport.UID_A;
import static dev.syrup.daemon.control.ControlTestSupport.UID_B;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.syrup.api.DeployRequest;
import dev.syrup.api.Protocol;
import dev.syrup.api.SyrupException;
import dev.syrup.api.Target;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Attacks on the compiler by unprivileged tenants (issue classes 1 and 6), each run as another
 * uid through the control socket against an in-process syrupd with the real socket_select hook:
 * reading a root-only file through clang, a compile bomb, stalling other tenants with a slow
 * compile, and more than one compile at a time.
 */
class CompileSandboxKernelTest {

    /** Includes itself twice per level: exponential work, memory growing slowly (about 13 MiB/s). */
    private static final String BOMB = """
            #ifndef ONCE
            #define ONCE
            uint32_t schedule(void *pkt_start, void *pkt_end) { return SYR_PASS; }
            #endif
            #if __INCLUDE_LEVEL__ < 40
            #include "bomb.c"
            #include "bomb.c"
            #endif
            """;

    @BeforeAll
    static void kernel() {
        ControlTestSupport.requireKernel();
    }

    @Test
    void rootOnlyFilesStayOutOfReplies() throws Exception {
        Path secrets = Files.createTempDirectory("syrup-secret-");
        byte[] random = new byte[16];
        new SecureRandom().nextBytes(random);
        String hex = HexFormat.of().formatHex(random);
        String secret = "syrup_secret_" + hex;
        Path file = secrets.resolve("secret");
        try (ControlTestSupport ctl = new ControlTestSupport()) {
            Files.writeString(file, secret + "\n" + secret + " " + secret + "\n");
            Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-------"));
            Files.setPosixFilePermissions(secrets, PosixFilePermissions.fromString("rwx------"));
            String f = file.toString();
            Map<String, String> direct = new LinkedHashMap<>();
            direct.put("incbin.c", "asm(\".incbin \\\"" + f + "\\\"\");\n");
            direct.put("asm_include.c", "asm(\".include \\\"" + f + "\\\"\");\n");
            direct.put("dependency.c", "#pragma GCC dependency \"" + f + "\"\n");
            direct.put("embed.c", "static const char leak[] = {\n#embed \"" + f + "\"\n};\n");
            // The same, spelled so that no text filter sees them: only the sandbox stops these.
            Map<String, String> hidden = new LinkedHashMap<>();
            hidden.put("incbin_hidden.c", "#define S(x) #x\nasm(S(.inc) \"bin \\\"" + f + "\\\"\");\n");
            hidden.put("asm_include_hidden.c", "#define S(x) #x\nasm(S(.incl) \"ude \\\"" + f + "\\\"\");\n");
            hidden.put("dependency_hidden.c", "#define CAT(a, b) a##b\n#define S(x) #x\n#define XS(x) S(x)\n"
                    + "_Pragma(XS(GCC CAT(depend, ency) \"" + f + "\"))\n");
            ControlTestSupport.App a = ctl.app(UID_A);
            int port = Integer.parseInt(a.ok("open 2"));
            List<String> problems = new ArrayList<>();
            for (Map<String, String> set : List.of(direct, hidden)) {
                for (Map.Entry<String, String> p : set.entrySet()) {
                    Path policy = ctl.file(p.getKey(), p.getValue()
                            + "uint32_t schedule(void *pkt_start, void *pkt_end) { return SYR_PASS; }\n");
                    String reply = a.call("deploy " + policy + " " + port);
                    System.out.println(p.getKey() + ": " + reply);
                    if (reply.contains(hex.substring(0, 12))) {
                        problems.add(p.getKey() + ": the secret is in the reply: " + reply);
                    } else if (!reply.startsWith("ERR DENIED") && !reply.startsWith("ERR COMPILE")) {
                        problems.add(p.getKey() + " must fail: " + reply);
                    } else if (set == hidden && !reply.startsWith("ERR COMPILE")) {
                        problems.add(p.getKey() + " passes the text filter; the sandbox must stop it: " + reply);
                    } else if (reply.contains(ctl.root.toString())) {
                        problems.add(p.getKey() + ": the reply shows where syrupd keeps the text: " + reply);
                    }
                    if (reply.startsWith("OK")) {
                        a.ok("undeploy " + reply.substring(3).strip());
                    }
                }
            }
            assertEquals(List.of(), problems);
            assertTrue(ctl.deployer().list().isEmpty(), "nothing deployed");
        } finally {
            Files.deleteIfExists(file);
            Files.deleteIfExists(secrets);
        }
    }

    @Test
    void aCompileBombEndsAtTheDeadline() throws Exception {
        try (ControlTestSupport ctl = new ControlTestSupport(Map.of("compileSeconds", 3, "compileCpuSeconds", 30))) {
            ControlTestSupport.App a = ctl.app(UID_A);
            int port = Integer.parseInt(a.ok("open 2"));
            Path bomb = ctl.file("bomb.c", BOMB);
            List<ProcessHandle> seen = new ArrayList<>();
            CompletableFuture<String> reply = CompletableFuture.supplyAsync(() -> call(a, "deploy " + bomb + " " + port));
            long t0 = System.nanoTime();
            try {
                seen.addAll(awaitClang());
                String r = reply.get(30, TimeUnit.SECONDS);
                double took = (System.nanoTime() - t0) / 1e9;
                assertTrue(r.startsWith("ERR COMPILE") && r.contains("killed at the 3 s limit (setting compileSeconds)"), r);
                System.out.println("the bomb's deploy failed after " + took + " s: " + r);
                assertTrue(took < 3 + 4, "ended " + took + " s after the deploy, the limit is 3 s");
                assertTrue(ctl.deployer().list().isEmpty());
                long end = System.currentTimeMillis() + 2000; // a killed process may take a moment to be reaped
                while (System.currentTimeMillis() < end && (seen.stream().anyMatch(ProcessHandle::isAlive) || !clangs().isEmpty())) {
                    Thread.sleep(20);
                }
                for (ProcessHandle h : seen) {
                    assertFalse(h.isAlive(), "clang " + h.pid() + " is still running after the limit");
                }
                assertTrue(clangs().isEmpty(), "no clang of this syrupd left: " + clangs());
            } finally {
                seen.forEach(ProcessHandle::destroyForcibly);
                clangs().forEach(ProcessHandle::destroyForcibly);
            }
        }
    }

    @Test
    void otherTenantsAreServedWhileOneCompiles() throws Exception {
        try (ControlTestSupport ctl = new ControlTestSupport(Map.of("compileSeconds", 8, "compileCpuSeconds", 30))) {
            ControlTestSupport.App a = ctl.app(UID_A);
            ControlTestSupport.App a2 = ctl.app(UID_A);
            ControlTestSupport.App b = ctl.app(UID_B);
            int portA = Integer.parseInt(a.ok("open 2"));
            int portA2 = Integer.parseInt(a2.ok("open 2"));
            int portB = Integer.parseInt(b.ok("open 2"));
            Path bomb = ctl.file("bomb.c", BOMB);
            // Unique text: not in the object cache, so it would compile.
            Path plain = ctl.file("plain.c", "uint32_t schedule(void *pkt_start, void *pkt_end) { return " + System.nanoTime()
                    % 1000 + " % NUM_EXECUTORS; }\n");
            b.ok("list"); // the tenant's own first-call costs (class loading) are not what is measured
            CompletableFuture<String> slow = CompletableFuture.supplyAsync(() -> call(a, "deploy " + bomb + " " + portA));
            try {
                awaitClang();
                // Another tenant: LIST answered at once, and a deploy of its own goes through.
                long worst = 0;
                for (int i = 0; i < 20; i++) {
                    long t0 = System.nanoTime();
                    b.ok("list");
                    worst = Math.max(worst, System.nanoTime() - t0);
                }
                System.out.println("slowest of 20 LISTs while another tenant compiled: " + worst / 1000 + " us");
                assertTrue(worst < 100_000_000L, "LIST took " + worst / 1_000_000 + " ms while another tenant compiled");
                assertTrue(b.call("deploy round_robin " + portB).startsWith("OK"));
                // The same tenant (same uid, another process): one compile at a time.
                String second = a2.call("deploy " + plain + " " + portA2);
                assertTrue(second.startsWith("ERR LIMIT") && second.contains("one compile at a time"), second);
                // The administrator on the target being compiled for: refused, not queued behind it.
                SyrupException busy = assertThrows(SyrupException.class, () -> ctl.deployer().deploy(new DeployRequest(
                        "hash", "socket_select", new Target(Protocol.UDP, portA, Optional.empty()), Map.of(), true,
                        DeployRequest.ADMIN)));
                assertEquals(SyrupException.Kind.CONFLICT, busy.kind(), busy.getMessage());
                assertTrue(busy.getMessage().contains("is being deployed"), busy.getMessage());
                String r = slow.get(30, TimeUnit.SECONDS);
                assertTrue(r.startsWith("ERR COMPILE") && r.contains("8 s limit"), r);
            } finally {
                clangs().forEach(ProcessHandle::destroyForcibly);
            }
            // Once the first compile is over, the same tenant compiles again; the target is free again.
            assertTrue(a2.call("deploy " + plain + " " + portA2).startsWith("OK"));
            assertTrue(a.call("deploy round_robin " + portA).startsWith("OK"));
            assertEquals(3, ctl.deployer().list().size());
        }
    }

    @Test
    void aDeploymentUndeployedWhileItsReplacementCompilesStaysUndeployed() throws Exception {
        try (ControlTestSupport ctl = new ControlTestSupport()) {
            ControlTestSupport.App a = ctl.app(UID_A);
            int port = Integer.parseInt(a.ok("open 2"));
            String id = a.ok("deploy round_robin " + port).strip();
            // 2^18 includes: compiles, in about 3 s here; unique text, so not cached.
            Path slow = ctl.file("slow.c", BOMB.replace("< 40", "< 18").replace("bomb.c", "slow.c")
                    .replace("SYR_PASS", "SYR_PASS + 0 * " + System.nanoTime() % 1000));
            CompletableFuture<String> replace = CompletableFuture.supplyAsync(() -> call(a, "deploy " + slow + " " + port
                    + " replace"));
            try {
                awaitClang();
                long t0 = System.nanoTime();
                ctl.deployer().undeploy(id);
                assertTrue(System.nanoTime() - t0 < 1_000_000_000L, "undeploy waited for the compile");
                String r = replace.get(60, TimeUnit.SECONDS);
                assertTrue(r.startsWith("ERR CONFLICT") && r.contains("was undeployed while its new policy compiled"), r);
                assertTrue(ctl.deployer().list().isEmpty(), "nothing came back: " + ctl.deployer().list());
            } finally {
                clangs().forEach(ProcessHandle::destroyForcibly);
            }
        }
    }

    private static String call(ControlTestSupport.App app, String command) {
        try {
            return app.call(command);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** clang processes under this JVM (a compile's, in its sandbox). */
    private static List<ProcessHandle> clangs() {
        return ProcessHandle.current().descendants().filter(h -> {
            try {
                return Files.readString(Path.of("/proc", Long.toString(h.pid()), "comm")).strip().startsWith("clang");
            } catch (java.io.IOException e) {
                return false;
            }
        }).toList();
    }

    /** Waits (10 s at most) until a clang runs; returns those running. */
    private static List<ProcessHandle> awaitClang() throws InterruptedException {
        long end = System.currentTimeMillis() + 10_000;
        while (System.currentTimeMillis() < end) {
            List<ProcessHandle> c = clangs();
            if (!c.isEmpty()) {
                return c;
            }
            Thread.sleep(20);
        }
        throw new AssertionError("no compile started");
    }
}
