package dev.syrup.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.syrup.api.Protocol;
import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The wire format of docs/protocol.md. */
class MessageTest {

    private static Message roundTrip(Message m) throws SyrupException {
        byte[] frame = m.encode();
        int len = Message.bodyLength(frame);
        assertEquals(frame.length - Message.HEADER, len);
        return Message.decode(Arrays.copyOfRange(frame, Message.HEADER, frame.length), len);
    }

    @Test
    void bytesAreAsDocumented() {
        byte[] frame = Message.request("LIST").encode();
        // u32 LE body length 12 | u16 LE 2 "op" | u32 LE 4 "LIST"
        assertArrayEquals(new byte[] {12, 0, 0, 0, 2, 0, 'o', 'p', 4, 0, 0, 0, 'L', 'I', 'S', 'T'}, frame);
    }

    @Test
    void fieldsRoundTripInOrderWithRepeatsAndUtf8() throws Exception {
        Message m = Message.request(Message.DEPLOY).add("define", "A=1").add("source", "/* ünïcode ✓ */\nuint32_t x;")
                .add("define", "B=").add("port", 9000);
        Message r = roundTrip(m);
        assertEquals(List.of("op", "define", "source", "define", "port"), r.names());
        assertEquals(List.of("A=1", "B="), r.all("define"));
        assertEquals("/* ünïcode ✓ */\nuint32_t x;", r.require("source"));
        assertEquals(9000, r.requireLong("port", 1, 65535));
        assertEquals(Message.DEPLOY, r.op());
    }

    @Test
    void errorsCarryTheirKind() throws Exception {
        Message r = roundTrip(Message.error(Kind.DENIED, "not yours"));
        assertFalse(r.isOk());
        SyrupException e = assertThrows(SyrupException.class, r::orThrow);
        assertEquals(Kind.DENIED, e.kind());
        assertEquals("not yours", e.getMessage());
        assertTrue(roundTrip(Message.ok()).isOk());
    }

    @Test
    void limitsAreEnforcedOnBothSides() {
        assertThrows(IllegalArgumentException.class,
                () -> Message.request("X").add("source", "x".repeat(Message.MAX_BODY)).encode());
        byte[] big = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(Message.MAX_BODY + 1).array();
        assertEquals(Kind.INVALID, assertThrows(SyrupException.class, () -> Message.bodyLength(big)).kind());
        byte[] huge = {-1, -1, -1, -1};
        assertEquals(Kind.INVALID, assertThrows(SyrupException.class, () -> Message.bodyLength(huge)).kind());
        assertEquals(Kind.INVALID, assertThrows(SyrupException.class, () -> Message.bodyLength(new byte[4])).kind());
    }

    @Test
    void malformedBodiesAreInvalid() {
        byte[][] bad = {
            {1},                                   // half a name length
            {0, 0, 0, 0, 0, 0},                    // empty name
            {2, 0, 'o', 'p', 9, 0, 0, 0, 'x'},     // value longer than what is left
            {2, 0, 'o', ' ', 0, 0, 0, 0},          // name not printable
            {1, 0, 'v', 2, 0, 0, 0, (byte) 0xC3, (byte) 0x28}, // not UTF-8
        };
        for (byte[] b : bad) {
            SyrupException e = assertThrows(SyrupException.class, () -> Message.decode(b, b.length), Arrays.toString(b));
            assertEquals(Kind.INVALID, e.kind());
        }
    }

    @Test
    void numbersAreChecked() throws Exception {
        Message m = Message.request("X").add("port", "70000").add("key", "x").add("value", "18446744073709551615");
        assertEquals(Kind.INVALID, assertThrows(SyrupException.class, () -> m.requireLong("port", 1, 65535)).kind());
        assertEquals(Kind.INVALID, assertThrows(SyrupException.class, () -> m.requireLong("key", 0, 1)).kind());
        assertEquals(Kind.INVALID, assertThrows(SyrupException.class, () -> m.require("missing")).kind());
        assertEquals(-1L, m.requireU64("value"));
    }

    @Test
    void deploymentRecords() throws Exception {
        DeploymentInfo d = new DeploymentInfo("d3", "socket_select", Protocol.TCP, 8080, "uid-1000", 4, 1, "/x/p.c");
        assertEquals(d, DeploymentInfo.parse(d.format()));
        assertEquals(Kind.INVALID, assertThrows(SyrupException.class, () -> DeploymentInfo.parse("d3\tx")).kind());
    }

    /** An error quoting a field as long as a frame allows still fits one frame (cut), up to any character. */
    @Test
    void anErrorAlwaysFitsOneFrame() throws Exception {
        for (String unit : List.of("x", "\u00e9", "\u20ac", "\ud83d\ude00")) {
            String quoted = unit.repeat(Message.MAX_BODY / unit.length());
            Message r = roundTrip(Message.error(Kind.INVALID, "unknown op '" + quoted + "'"));
            String text = r.get(Message.MESSAGE).orElseThrow();
            assertTrue(text.startsWith("unknown op '" + unit + unit), text.substring(0, 20));
            assertTrue(text.endsWith("characters cut)"), text.substring(text.length() - 40));
        }
        assertEquals("short", roundTrip(Message.error(Kind.INVALID, "short")).get(Message.MESSAGE).orElseThrow());
    }
}
