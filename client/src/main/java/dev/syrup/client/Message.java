package dev.syrup.client;

import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * One message of syrupd's control protocol (docs/protocol.md), shared by the daemon and the
 * Java client.
 *
 * <p>A frame is a little-endian u32 body length ({@code 1..}{@link #MAX_BODY}) followed by the
 * body. The body is a sequence of fields, each a little-endian u16 name length (1..255), the
 * name (ASCII), a little-endian u32 value length and the value (UTF-8 text). Names may repeat;
 * order is kept. A request starts with field {@code op}; a reply with {@code status}
 * ({@code ok} or {@code error}; an error carries {@code kind} and {@code message}).
 */
public final class Message {

    /** Largest body accepted, in bytes (64 KiB). */
    public static final int MAX_BODY = 64 * 1024;
    /** Bytes of the length prefix. */
    public static final int HEADER = 4;

    public static final String OP = "op", STATUS = "status", KIND = "kind", MESSAGE = "message";

    /** Operations. */
    public static final String HELLO = "HELLO", DEPLOY = "DEPLOY", UNDEPLOY = "UNDEPLOY", LIST = "LIST",
            REGISTER_SOCKET = "REGISTER_SOCKET", OPEN_MAP = "OPEN_MAP", MAP_LOOKUP = "MAP_LOOKUP",
            MAP_UPDATE = "MAP_UPDATE", MAP_DELETE = "MAP_DELETE", MAP_DUMP = "MAP_DUMP", TEST = "TEST",
            REGISTER_THREAD = "REGISTER_THREAD";

    private final List<String> names = new ArrayList<>();
    private final List<String> values = new ArrayList<>();

    private Message() {
    }

    /** A request for {@code op}. */
    public static Message request(String op) {
        return new Message().add(OP, op);
    }

    /** A successful reply. */
    public static Message ok() {
        return new Message().add(STATUS, "ok");
    }

    /**
     * An error reply. A message too long for one frame (it may quote a request's field, or carry a
     * compiler's output) is cut so that the reply always fits.
     */
    public static Message error(Kind kind, String message) {
        return new Message().add(STATUS, "error").add(KIND, kind.name()).add(MESSAGE, fit(message == null ? "" : message));
    }

    /** Bytes of an error's text at most: the frame less room for {@code status} and {@code kind}. */
    static final int MAX_ERROR_TEXT = MAX_BODY - 1024;

    private static String fit(String text) {
        int bytes = 0;
        int i = 0;
        while (i < text.length()) {
            int cp = text.codePointAt(i);
            int n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
            if (bytes + n > MAX_ERROR_TEXT - 64) {
                return text.substring(0, i) + "... (" + (text.length() - i) + " more characters cut)";
            }
            bytes += n;
            i += Character.charCount(cp);
        }
        return text;
    }

    /** Appends a field; the value is its {@code toString()}. */
    public Message add(String name, Object value) {
        if (name.isEmpty() || name.length() > 255 || !name.chars().allMatch(c -> c > 32 && c < 127)) {
            throw new IllegalArgumentException("bad field name '" + name + "'");
        }
        names.add(name);
        values.add(String.valueOf(value));
        return this;
    }

    /** The first value of {@code name}. */
    public Optional<String> get(String name) {
        int i = names.indexOf(name);
        return i < 0 ? Optional.empty() : Optional.of(values.get(i));
    }

    /** Every value of {@code name}, in order. */
    public List<String> all(String name) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < names.size(); i++) {
            if (names.get(i).equals(name)) {
                out.add(values.get(i));
            }
        }
        return out;
    }

    /** Field names in order (with repeats). */
    public List<String> names() {
        return List.copyOf(names);
    }

    /** The value of a required field, else {@code INVALID}. */
    public String require(String name) throws SyrupException {
        return get(name).orElseThrow(() -> new SyrupException(Kind.INVALID, "missing field '" + name + "'"));
    }

    /** A required decimal field within {@code min..max}, else {@code INVALID}. */
    public long requireLong(String name, long min, long max) throws SyrupException {
        String v = require(name);
        try {
            long n = Long.parseLong(v);
            if (n < min || n > max) {
                throw new SyrupException(Kind.INVALID, "field '" + name + "' out of range " + min + ".." + max + ": " + v);
            }
            return n;
        } catch (NumberFormatException e) {
            throw new SyrupException(Kind.INVALID, "field '" + name + "' is not a number: '" + v + "'");
        }
    }

    /** An unsigned 64-bit decimal field. */
    public long requireU64(String name) throws SyrupException {
        String v = require(name);
        try {
            return Long.parseUnsignedLong(v);
        } catch (NumberFormatException e) {
            throw new SyrupException(Kind.INVALID, "field '" + name + "' is not an unsigned 64-bit number: '" + v + "'");
        }
    }

    public String op() {
        return get(OP).orElse("");
    }

    public boolean isOk() {
        return "ok".equals(get(STATUS).orElse(""));
    }

    /** For a reply: throws the {@link SyrupException} an error reply carries. */
    public Message orThrow() throws SyrupException {
        if (!isOk()) {
            Kind kind;
            try {
                kind = Kind.valueOf(get(KIND).orElse("KERNEL"));
            } catch (IllegalArgumentException e) {
                kind = Kind.KERNEL;
            }
            throw new SyrupException(kind, get(MESSAGE).orElse("syrupd replied without a status"));
        }
        return this;
    }

    /** The frame: length prefix and body. */
    public byte[] encode() {
        int size = 0;
        List<byte[]> encoded = new ArrayList<>();
        for (int i = 0; i < names.size(); i++) {
            byte[] n = names.get(i).getBytes(StandardCharsets.US_ASCII);
            byte[] v = values.get(i).getBytes(StandardCharsets.UTF_8);
            encoded.add(n);
            encoded.add(v);
            size += 2 + n.length + 4 + v.length;
        }
        if (size > MAX_BODY) {
            throw new IllegalArgumentException("message of " + size + " bytes exceeds the " + MAX_BODY + "-byte limit");
        }
        ByteBuffer b = ByteBuffer.allocate(HEADER + size).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(size);
        for (int i = 0; i < encoded.size(); i += 2) {
            b.putShort((short) encoded.get(i).length).put(encoded.get(i));
            b.putInt(encoded.get(i + 1).length).put(encoded.get(i + 1));
        }
        return b.array();
    }

    /** The body length a frame header announces; {@code INVALID} when 0 or above {@link #MAX_BODY}. */
    public static int bodyLength(byte[] header) throws SyrupException {
        long len = ByteBuffer.wrap(header, 0, HEADER).order(ByteOrder.LITTLE_ENDIAN).getInt() & 0xffffffffL;
        if (len == 0 || len > MAX_BODY) {
            throw new SyrupException(Kind.INVALID, "frame length " + len + " outside 1.." + MAX_BODY);
        }
        return (int) len;
    }

    /** Parses a body; {@code INVALID} for anything malformed (truncated field, bad name, bad UTF-8). */
    public static Message decode(byte[] body, int length) throws SyrupException {
        ByteBuffer b = ByteBuffer.wrap(body, 0, length).order(ByteOrder.LITTLE_ENDIAN);
        Message m = new Message();
        var utf8 = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
        while (b.hasRemaining()) {
            if (b.remaining() < 2) {
                throw new SyrupException(Kind.INVALID, "truncated field name length at byte " + b.position());
            }
            int nlen = b.getShort() & 0xffff;
            if (nlen == 0 || nlen > 255 || b.remaining() < nlen + 4) {
                throw new SyrupException(Kind.INVALID, "bad or truncated field name (length " + nlen + ") at byte " + (b.position() - 2));
            }
            byte[] n = new byte[nlen];
            b.get(n);
            for (byte c : n) {
                if (c <= 32 || c >= 127) {
                    throw new SyrupException(Kind.INVALID, "field name is not printable ASCII");
                }
            }
            long vlen = b.getInt() & 0xffffffffL;
            if (vlen > b.remaining()) {
                throw new SyrupException(Kind.INVALID, "field '" + new String(n, StandardCharsets.US_ASCII)
                        + "' announces " + vlen + " bytes, " + b.remaining() + " left");
            }
            ByteBuffer v = b.slice(b.position(), (int) vlen);
            b.position(b.position() + (int) vlen);
            try {
                m.names.add(new String(n, StandardCharsets.US_ASCII));
                m.values.add(utf8.decode(v).toString());
            } catch (CharacterCodingException e) {
                throw new SyrupException(Kind.INVALID, "field '" + new String(n, StandardCharsets.US_ASCII) + "' is not UTF-8");
            }
        }
        return m;
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("{");
        for (int i = 0; i < names.size(); i++) {
            String v = values.get(i);
            sb.append(i == 0 ? "" : ", ").append(names.get(i)).append('=')
                    .append(v.length() > 60 ? v.substring(0, 60) + "...(" + v.length() + ")" : v);
        }
        return sb.append('}').toString();
    }
}
