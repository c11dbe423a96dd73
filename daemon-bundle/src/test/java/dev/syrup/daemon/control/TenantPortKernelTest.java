package dev.syrup.daemon.control;

import static dev.syrup.daemon.control.ControlTestSupport.UID_A;
import static dev.syrup.daemon.control.ControlTestSupport.UID_B;
import static dev.syrup.daemon.control.ControlTestSupport.send;
import static dev.syrup.daemon.control.ControlTestSupport.sum;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.syrup.backend.ebpf.XdpSkbHook;
import dev.syrup.daemon.control.ControlTestSupport.App;
import dev.syrup.hook.spi.Hook;
import dev.syrup.isolation.PortDispatcher;
import java.io.File;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Attack class "deploy on a host port it does not hold", run as non-root tenants against the
 * in-process syrupd (real socket_select hook, real control socket): each attack is refused and
 * its effect (the victim's traffic dropped by the attacker's policy) is absent.
 */
class TenantPortKernelTest {

    private ControlTestSupport syrupd;
    private final String tag = Integer.toHexString(ThreadLocalRandom.current().nextInt(0x10000, 0xfffff));

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
        if (syrupd != null) {
            syrupd.close();
        }
    }

    /** A DROP-everything policy; {@code slow}: one that takes clang a second or more to parse. */
    private Path dropPolicy(String name, boolean slow) throws Exception {
        StringBuilder c = new StringBuilder("/* " + tag + " " + System.nanoTime() + " */\n");
        if (slow) {
            c.append("#define S0 x = x * 3 + (x >> 7);\n");
            for (int i = 1; i <= 17; i++) {
                c.append("#define S").append(i).append(" S").append(i - 1).append(" S").append(i - 1).append('\n');
            }
            c.append("static __attribute__((unused, noinline)) unsigned slow(unsigned x) { S17 return x; }\n");
        }
        c.append("uint32_t schedule(void *pkt_start, void *pkt_end) { return SYR_DROP; }\n");
        return syrupd.file(name, c.toString());
    }

    /**
     * The tenant binds the port in a network namespace of its own and deploys: the port check
     * must not look at that namespace, since the hooks act on syrupd's, where the port belongs
     * to someone else.
     */
    @Test
    void deployFromAnotherNetworkNamespaceIsDenied() throws Exception {
        String ns = "syrt" + tag;
        run("ip", "netns", "add", ns);
        try {
            run("ip", "-n", ns, "link", "set", "lo", "up");
            Path drop = dropPolicy("drop_ns.c", false);
            App victim = syrupd.app(UID_B);
            int port = Integer.parseInt(victim.ok("open 1"));
            ControlTestSupport.forceReceiveBuffers(victim.pid, port);

            App attacker = syrupd.app(UID_A, List.of("nsenter", "--net=/run/netns/" + ns));
            assertEquals(Integer.toString(port), attacker.ok("openat 127.0.0.1 " + port + " 1"), "the same port, in its own namespace");
            String r = attacker.call("deploy " + drop + " " + port);
            assertTrue(r.startsWith("ERR DENIED") && r.contains("network namespace is not syrupd's"), r);
            assertEquals(List.of(), syrupd.deployer().list(), "nothing deployed");

            send(port, 200);
            assertEquals(200, sum(victim.await(200)), "the victim still gets all its datagrams");
        } finally {
            quietly("ip", "netns", "del", ns);
        }
    }

    /**
     * Another uid binds the same port (another address) while the tenant's deploy compiles,
     * i.e. after any check made before the deployment manager's lock: its socket must not join
     * the tenant's deployment (the hook re-checks where it adopts), and the deploy is refused.
     */
    @Test
    void anotherUidsSocketBoundDuringTheDeployNeverJoins() throws Exception {
        Path slow = dropPolicy("drop_slow.c", true);
        App attacker = syrupd.app(UID_A);
        App victim = syrupd.app(UID_B);
        int port = Integer.parseInt(attacker.ok("open 1"));

        CompletableFuture<String> deploy = CompletableFuture.supplyAsync(() -> {
            try {
                return attacker.call("deploy " + slow + " " + port);
            } catch (Exception e) {
                return "EXCEPTION " + e;
            }
        });
        ProcessHandle clang = awaitClang(deploy);
        victim.ok("openat 127.0.0.2 " + port + " 1");
        assertTrue(clang.isAlive(), "the victim's socket was bound while the attacker's policy compiled");
        ControlTestSupport.forceReceiveBuffers(victim.pid, port);

        String r = deploy.get(60, TimeUnit.SECONDS);
        assertTrue(r.startsWith("ERR DENIED") && r.contains("uid " + UID_B), r);
        assertEquals(List.of(), syrupd.deployer().list(), "nothing deployed");

        send("127.0.0.2", port, 200);
        assertEquals(200, sum(victim.await(200)), "the victim's socket was never scheduled by the attacker's DROP policy");
    }

    /**
     * Another uid binds the port (another address) after the tenant's deployment: a replace (a
     * re-scan of the port) is refused and the running policy stays; the other uid's socket is
     * never scheduled; undeploying still detaches from the tenant's own group.
     */
    @Test
    void aReplaceWhileAnotherUidIsOnThePortIsDeniedAndTheRunningPolicyStays() throws Exception {
        Path drop = dropPolicy("drop.c", false);
        App tenant = syrupd.app(UID_A);
        App other = syrupd.app(UID_B);
        int port = Integer.parseInt(tenant.ok("open 1"));
        ControlTestSupport.forceReceiveBuffers(tenant.pid, port);
        String id = tenant.ok("deploy " + drop + " " + port);
        other.ok("openat 127.0.0.2 " + port + " 1");
        ControlTestSupport.forceReceiveBuffers(other.pid, port);

        String r = tenant.call("deploy round_robin " + port + " replace");
        assertTrue(r.startsWith("ERR DENIED") && r.contains(Integer.toString(UID_B)), r);
        String running = syrupd.deployer().list().get(0).policy();
        assertTrue(running.endsWith("drop.c"), "the running policy stays: " + running);
        send(port, 100);
        send("127.0.0.2", port, 100);
        assertEquals(100, sum(other.await(100)), "the other uid's socket is not scheduled");
        assertEquals(0, sum(tenant.counts()), "the tenant's DROP policy still runs");

        tenant.ok("undeploy " + id);
        send(port, 100);
        assertEquals(100, sum(tenant.await(100)), "undeployed: the tenant's port is back to the kernel's default");
    }

    /** The clang process compiling for this test's syrupd (a descendant of this JVM), once it runs. */
    private static ProcessHandle awaitClang(CompletableFuture<String> deploy) throws Exception {
        long end = System.nanoTime() + 30_000_000_000L;
        while (System.nanoTime() < end) {
            Optional<ProcessHandle> c = ProcessHandle.current().descendants()
                    .filter(p -> p.info().commandLine().orElse(p.info().command().orElse("")).contains("clang"))
                    .findFirst();
            if (c.isPresent()) {
                return c.get();
            }
            if (deploy.isDone()) {
                throw new AssertionError("the deploy ended before its compile was seen: " + deploy.get());
            }
            Thread.sleep(2);
        }
        throw new AssertionError("no compile seen within 30 s");
    }

    /** A tenant may not attach a packet hook to an interface the administrator has not listed. */
    @Test
    void packetHookOnAnInterfaceNotListedIsDenied() throws Exception {
        String dev = "syrv" + tag;
        String peer = "syrw" + tag;
        PortDispatcher dispatcher = new PortDispatcher();
        try {
            Method add = syrupd.manager.getClass().getDeclaredMethod("addHook", Hook.class);
            add.setAccessible(true);
            add.invoke(syrupd.manager, new XdpSkbHook(dispatcher));
            run("ip", "link", "add", dev, "type", "veth", "peer", "name", peer);
            run("ip", "link", "set", dev, "up");
            Path policy = syrupd.file("to0.c", "uint32_t schedule(void *s, void *e) { return 0; }\n");
            App tenant = syrupd.app(UID_A);
            int port = Integer.parseInt(tenant.ok("open 1"));
            String r = tenant.call("deployat xdp_skb " + policy + " " + port + " " + dev + " NUM_EXECUTORS=1");
            assertTrue(r.startsWith("ERR DENIED") && r.contains("tenantInterfaces"), r);
            assertEquals(List.of(), syrupd.deployer().list(), "nothing deployed");
            assertTrue(!capture("ip", "link", "show", "dev", dev).contains("xdp"), "no XDP program on " + dev);
        } finally {
            // The deployments (if any) go before the hook's dispatcher.
            syrupd.close();
            syrupd = null;
            dispatcher.close();
            quietly("ip", "link", "del", dev);
        }
    }

    static void run(String... cmd) throws Exception {
        capture(cmd);
    }

    static String capture(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), String.join(" ", cmd));
        assertEquals(0, p.exitValue(), String.join(" ", cmd) + ":\n" + out);
        return out;
    }

    static void quietly(String... cmd) {
        try {
            new ProcessBuilder(cmd).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                    .redirectError(ProcessBuilder.Redirect.DISCARD).start().waitFor(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            // clean-up only
        }
    }
}
