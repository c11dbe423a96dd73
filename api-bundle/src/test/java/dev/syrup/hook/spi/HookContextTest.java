package dev.syrup.hook.spi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.file.Path;
import java.util.OptionalInt;
import org.junit.jupiter.api.Test;

class HookContextTest {

    @Test
    void ofPinDirReadsOwnerAndIdFromTheLayout() {
        HookContext c = HookContext.ofPinDir(Path.of("/sys/fs/bpf/syrup/uid-1001/d7"), OptionalInt.of(1001));
        assertEquals("uid-1001", c.owner());
        assertEquals("d7", c.deploymentId());
        assertEquals(Path.of("/sys/fs/bpf/syrup/uid-1001/d7"), c.pinDir());
        assertEquals(OptionalInt.of(1001), c.executorUid());
        assertEquals("unknown", HookContext.ofPinDir(Path.of("d7"), OptionalInt.empty()).owner());
    }

    @Test
    void ofRefusesMissingParts() {
        assertThrows(NullPointerException.class, () -> HookContext.of(null, "d1", Path.of("/x/a/d1"), OptionalInt.empty()));
        assertThrows(NullPointerException.class, () -> HookContext.of("a", "d1", Path.of("/x/a/d1"), null));
    }

    @Test
    void kindsAreEqualByName() {
        Input mine = Input.of("datagram", "my view", "my request");
        assertEquals(Input.DATAGRAM, mine, "a plugin naming a known kind brings that kind");
        assertEquals(Input.DATAGRAM.hashCode(), mine.hashCode());
        assertNotEquals(Input.PACKET, Input.DATAGRAM);
        assertEquals(Executor.SOCKET, Executor.of("socket", "a", "b"));
        assertNotEquals(Executor.CORE, Executor.of("lcore", "a", "b"));
        assertEquals("thread", Input.THREAD.toString());
        assertThrows(NullPointerException.class, () -> Input.of("x", null, ""));
    }
}
