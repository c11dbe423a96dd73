package dev.syrup.daemon.shell;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.syrup.api.SyrupException;
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
}
