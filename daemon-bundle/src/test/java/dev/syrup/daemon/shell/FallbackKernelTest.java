package dev.syrup.daemon.shell;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.syrup.api.DeployRequest;
import dev.syrup.api.Deployment;
import dev.syrup.api.Protocol;
import dev.syrup.api.Target;
import dev.syrup.backend.ebpf.CpuRedirectHook;
import dev.syrup.backend.ebpf.XdpDrvHook;
import dev.syrup.backend.offload.XdpOffloadHook;
import dev.syrup.bpf.KernelSupport;
import dev.syrup.bpf.Xdp;
import dev.syrup.daemon.DaemonConfig;
import dev.syrup.daemon.DeploymentManager;
import dev.syrup.dispatch.Dispatcher.XdpMode;
import dev.syrup.isolation.PortDispatcher;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.channels.DatagramChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * syrup:deploy --hook xdp_offload --fallback cpu_redirect on a machine without an offload-capable
 * NIC, through the real deployment manager and hooks: the offload hook says why it cannot, and
 * the same policy is deployed at the fallback (cpu_redirect, xdp_drv) on the same interface and port.
 */
class FallbackKernelTest {

    @TempDir
    Path dir;

    @Test
    void anUnavailableHookFallsBackToCpuRedirect() throws Exception {
        fallBack(CpuRedirectHook.NAME, Xdp.XDP_FLAGS_SKB_MODE);
    }

    @Test
    void anUnavailableHookFallsBackToXdpDrv() throws Exception {
        fallBack(XdpDrvHook.NAME, Xdp.XDP_FLAGS_DRV_MODE);
    }

    private void fallBack(String fallback, int modeFlag) throws Exception {
        Optional<String> missing = KernelSupport.missing();
        if (missing.isPresent()) {
            if ("1".equals(System.getenv("SYRUP_REQUIRE_KERNEL"))) {
                fail("SYRUP_REQUIRE_KERNEL=1 but the kernel cannot run this test: " + missing.get());
            }
            Assumptions.abort("kernel test skipped: " + missing.get());
        }
        XdpOffloadHook offload = new XdpOffloadHook();
        Assumptions.assumeFalse(offload.availability().available(), "this machine has an offload-capable NIC");

        String dev = "syrfx" + Integer.toHexString(ThreadLocalRandom.current().nextInt(0x10000, 0xfffff));
        Path bpffs = Path.of("/sys/fs/bpf/syrup-test-" + UUID.randomUUID().toString().substring(0, 8));
        run("ip", "link", "add", dev, "type", "veth", "peer", "name", dev + "p");
        DeploymentManager syrupd = new DeploymentManager(DaemonConfig.of(dir.resolve("work").toString(), bpffs.toString()));
        PortDispatcher dispatcher = new PortDispatcher();
        try (DatagramChannel rx = DatagramChannel.open()) {
            run("ip", "addr", "add", "10.213." + ThreadLocalRandom.current().nextInt(1, 254) + ".1/24", "dev", dev);
            run("ip", "link", "set", dev, "up");
            call(syrupd, "addHook", offload);
            call(syrupd, "addHook", new CpuRedirectHook(dispatcher, List.of(0), XdpMode.SKB, 64));
            call(syrupd, "addHook", new XdpDrvHook(dispatcher));
            rx.bind(new InetSocketAddress(0));
            int port = ((InetSocketAddress) rx.getLocalAddress()).getPort();
            Path policy = dir.resolve("first.c");
            Files.writeString(policy, """
                    uint32_t schedule(void *pkt_start, void *pkt_end)
                    {
                    	return syr_has(syr_l4(pkt_start, pkt_end), 8, pkt_end) ? 0 : PASS;
                    }
                    """);

            DeployCommand c = new DeployCommand();
            c.deployer = syrupd;
            c.policyAndOptions = List.of(policy.toString(), "--hook", "xdp_offload", "--fallback", fallback,
                    "--iface", dev, "--port", Integer.toString(port),
                    // xdp_drv's executors are AF_XDP sockets registered after deploying: it wants the count up front
                    "-D", "NUM_EXECUTORS=2");
            c.policy = c.readTrailingOptions();
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            Deployment d = c.deployWithFallback(new DeployRequest(c.policy, c.hook,
                    new Target(Protocol.UDP, port, Optional.of(dev)), DeployCommand.parse(c.defines), false, DeployRequest.ADMIN),
                    new PrintStream(out, true));

            assertEquals(fallback, d.hook());
            assertTrue(out.toString().contains("hook xdp_offload is unavailable: no offload-capable NIC"), out.toString());
            assertTrue(out.toString().contains("deploying at " + fallback + " instead"), out.toString());
            assertEquals(List.of(fallback), syrupd.list().stream().map(Deployment::hook).toList());
            assertTrue(Xdp.attachedProgramId(Xdp.ifindex(dev), modeFlag).isPresent(),
                    "the policy runs behind the interface's root dispatcher");
        } finally {
            call(syrupd, "deactivate");
            dispatcher.close();
            try {
                run("ip", "link", "del", dev);
            } catch (Exception e) {
                // best effort
            }
            Files.deleteIfExists(bpffs);
        }
    }

    /** The manager's DS lifecycle methods are package-private (the framework calls them); so is this test's reach. */
    private static void call(DeploymentManager m, String method, Object... args) throws Exception {
        for (java.lang.reflect.Method x : DeploymentManager.class.getDeclaredMethods()) {
            if (x.getName().equals(method) && x.getParameterCount() == args.length) {
                x.setAccessible(true);
                x.invoke(m, args);
                return;
            }
        }
        throw new NoSuchMethodException(method);
    }

    private static void run(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IllegalStateException(String.join(" ", cmd) + " failed: " + out);
        }
    }
}
