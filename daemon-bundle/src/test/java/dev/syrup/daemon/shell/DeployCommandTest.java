package dev.syrup.daemon.shell;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.syrup.api.DeployRequest;
import dev.syrup.api.Deployer;
import dev.syrup.api.Deployment;
import dev.syrup.api.Protocol;
import dev.syrup.api.SyrupException;
import dev.syrup.api.Target;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.lang.reflect.Proxy;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Optional;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The documented command line puts the policy before its options; Karaf alone would refuse that. */
class DeployCommandTest {

    private static DeployCommand parse(String... words) throws SyrupException {
        DeployCommand c = new DeployCommand();
        c.policyAndOptions = List.of(words);
        c.policy = c.readTrailingOptions();
        return c;
    }

    @Test
    void optionsAfterThePolicy() throws Exception {
        DeployCommand c = parse("round_robin", "--hook", "socket_select", "--port", "9000", "--proto", "tcp",
                "--replace", "-D", "A=1", "-DB=2", "--iface", "veth0");
        assertEquals("round_robin", c.policy);
        assertEquals("socket_select", c.hook);
        assertEquals(9000, c.port);
        assertEquals("tcp", c.proto);
        assertTrue(c.replace);
        assertEquals("veth0", c.iface);
        assertEquals(Map.of("A", "1", "B", "2"), DeployCommand.parse(c.defines));
    }

    @Test
    void mistakesAreNamed() {
        assertTrue(assertThrows(SyrupException.class, () -> parse("x.c", "--port")).getMessage().contains("--port needs a value"));
        assertTrue(assertThrows(SyrupException.class, () -> parse("x.c", "--prot", "udp")).getMessage().contains("unknown option --prot"));
        assertTrue(assertThrows(SyrupException.class, () -> parse("a.c", "b.c")).getMessage().contains("one policy at a time"));
        assertTrue(assertThrows(SyrupException.class, () -> parse("x.c", "--port", "http")).getMessage().contains("not a number"));
    }

    /** A Deployer whose hook {@code unavailable} says so and whose other hooks deploy; records the hooks tried. */
    private static Deployer fake(String unavailable, List<String> tried) {
        return (Deployer) Proxy.newProxyInstance(Deployer.class.getClassLoader(), new Class<?>[] {Deployer.class}, (p, m, a) -> {
            if (!m.getName().equals("deploy")) {
                throw new UnsupportedOperationException(m.getName());
            }
            DeployRequest r = (DeployRequest) a[0];
            tried.add(r.hook());
            if (r.hook().equals(unavailable)) {
                throw new SyrupException(SyrupException.Kind.UNAVAILABLE, "hook " + r.hook() + " is unavailable: no offload-capable NIC");
            }
            return new Deployment("d1", r.policy(), r.hook(), r.target(), r.owner(), 2, Instant.EPOCH, 0);
        });
    }

    @Test
    void fallbackDeploysTheSamePolicyAtTheOtherHookWhenTheFirstIsUnavailable() throws Exception {
        DeployCommand c = parse("p.c", "--hook", "xdp_offload", "--fallback", "cpu_redirect", "--iface", "veth0",
                "--port", "9000", "-DX=1");
        List<String> tried = new ArrayList<>();
        c.deployer = fake("xdp_offload", tried);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Target t = new Target(Protocol.UDP, 9000, Optional.of("veth0"));
        Deployment d = c.deployWithFallback(new DeployRequest(c.policy, c.hook, t, DeployCommand.parse(c.defines), false,
                DeployRequest.ADMIN), new PrintStream(out, true));
        assertEquals(List.of("xdp_offload", "cpu_redirect"), tried);
        assertEquals("cpu_redirect", d.hook());
        assertEquals(t, d.target());
        assertTrue(out.toString().contains("no offload-capable NIC; deploying at cpu_redirect instead"), out.toString());
    }

    @Test
    void fallbackAlsoWhenTheHookIsNotInstalled() throws Exception {
        DeployCommand c = parse("p.c", "--hook", "xdp_offload", "--fallback", "xdp_drv", "--iface", "veth0", "--port", "9000");
        List<String> tried = new ArrayList<>();
        c.deployer = (Deployer) Proxy.newProxyInstance(Deployer.class.getClassLoader(), new Class<?>[] {Deployer.class}, (p, m, a) -> {
            DeployRequest r = (DeployRequest) a[0];
            tried.add(r.hook());
            if (r.hook().equals("xdp_offload")) {
                throw new SyrupException(SyrupException.Kind.UNKNOWN_HOOK, "no hook 'xdp_offload'; installed hooks: xdp_drv");
            }
            return new Deployment("d1", r.policy(), r.hook(), r.target(), r.owner(), 2, Instant.EPOCH, 0);
        });
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Target t = new Target(Protocol.UDP, 9000, Optional.of("veth0"));
        Deployment d = c.deployWithFallback(new DeployRequest(c.policy, c.hook, t, Map.of(), false, DeployRequest.ADMIN),
                new PrintStream(out, true));
        assertEquals(List.of("xdp_offload", "xdp_drv"), tried);
        assertEquals("xdp_drv", d.hook());
        assertTrue(out.toString().contains("no hook 'xdp_offload'; installed hooks: xdp_drv; deploying at xdp_drv instead"), out.toString());
    }

    @Test
    void withoutFallbackOrForOtherErrorsTheFailureStands() throws Exception {
        DeployCommand c = parse("p.c", "--hook", "xdp_offload", "--port", "9000");
        List<String> tried = new ArrayList<>();
        c.deployer = fake("xdp_offload", tried);
        DeployRequest req = new DeployRequest("p.c", "xdp_offload", Target.port(Protocol.UDP, 9000), Map.of(), false, DeployRequest.ADMIN);
        assertEquals(SyrupException.Kind.UNAVAILABLE, assertThrows(SyrupException.class,
                () -> c.deployWithFallback(req, System.out)).kind());
        assertEquals(List.of("xdp_offload"), tried);

        DeployCommand f = parse("p.c", "--hook", "socket_select", "--fallback", "xdp_offload", "--port", "9000");
        f.deployer = fake("none", tried);
        assertEquals("socket_select", f.deployWithFallback(new DeployRequest("p.c", "socket_select",
                Target.port(Protocol.UDP, 9000), Map.of(), false, DeployRequest.ADMIN), System.out).hook(),
                "an available hook needs no fallback");
    }
}
