package dev.syrup.daemon.control;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.syrup.api.Protocol;
import dev.syrup.client.DeploymentInfo;
import dev.syrup.client.Message;
import dev.syrup.client.PolicyHandle;
import dev.syrup.client.Syrup;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.DatagramChannel;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The control socket under garbage (docs/protocol.md, "Framing"): several concurrent clients
 * send more than 10,000 malformed, truncated, oversized and random frames. Every one is answered
 * with an error reply or ends its connection (a framing error: an {@code INVALID} reply, then the
 * daemon hangs up); the daemon keeps no thread or descriptor per dead connection and still serves a
 * well-formed client afterwards. The frames come from a seeded {@link Random}
 * ({@code -Dsyrup.fuzz.seed=...} to replay one), and every failure names the seed, client, frame
 * and its bytes.
 */
@Timeout(value = 240, unit = TimeUnit.SECONDS)
class ControlSocketFuzzKernelTest {

    private static final long SEED = Long.getLong("syrup.fuzz.seed", 0x5badf00dL);
    private static final int CLIENTS = 4;
    private static final int FRAMES_PER_CLIENT = 2600; // 10,400 in all
    /** How long one read or write may wait for the daemon before the test calls it a hang. */
    private static final long IO_TIMEOUT_MILLIS = 5000;

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

    /** What a bad frame is, and so what the daemon must do with it. */
    enum Kind {
        /** Random bytes (random length prefix included), then the write side is shut. */
        RANDOM(true),
        /** A header cut short, or a body shorter than its length, then the write side is shut. */
        TRUNCATED(true),
        /** Length 0 (followed by a valid HELLO that must not be answered). */
        ZERO_LENGTH(true),
        /** Length above 64 KiB, followed by some bytes. */
        OVERSIZED(true),
        /** Valid length, a field that does not parse: empty, long or non-printable name, bad UTF-8, stray bytes. */
        MALFORMED_FIELD(true),
        /** A field announcing a name or value far longer than the body. */
        ABSURD_FIELD_LENGTH(true),
        /** Well-formed, but no {@code op}. */
        NO_OP(true),
        /** Well-formed, an op nobody knows: an error, the connection stays. */
        UNKNOWN_OP(false),
        /** A known op without (or with garbled) required fields: an error, the connection stays. */
        MISSING_FIELDS(false);

        final boolean fatal;

        Kind(boolean fatal) {
            this.fatal = fatal;
        }
    }

    /** One bad frame: its bytes, whether the write side is shut after it, and its kind. */
    record Frame(Kind kind, byte[] bytes, boolean shutOutput, String what) {
        @Override
        public String toString() {
            String hex = HexFormat.of().formatHex(bytes, 0, Math.min(bytes.length, 48));
            return kind + " (" + what + ", " + bytes.length + " bytes: " + hex + (bytes.length > 48 ? "..." : "") + ")";
        }
    }

    /** What one client saw. */
    static final class Tally {
        final Map<Kind, Integer> sent = new EnumMap<>(Kind.class);
        int errorReplies;
        int closes;
        int resets;
        int reconnects;
        int frames;
    }

    @Test
    void garbageFromConcurrentClientsIsAnsweredOrHungUpAndTheDaemonStaysWell() throws Exception {
        garbage(false);
    }

    /** The same fuzz from a process of a non-root uid: the tenant paths (its rules, its limits) get the garbage. */
    @Test
    void garbageFromATenantUidIsAnsweredOrHungUpAndTheDaemonStaysWell() throws Exception {
        garbage(true);
    }

    /**
     * The fuzz's clients in a JVM of the tenant uid {@code args[1]} runs as: {@code args[0]} the
     * socket; prints one line {@code TALLY frames errorReplies closes resets reconnects}, exits 1
     * on the first failure.
     */
    public static void main(String[] args) throws Exception {
        Path socket = Path.of(args[0]);
        ExecutorService pool = Executors.newFixedThreadPool(CLIENTS);
        try {
            List<Future<Tally>> clients = new ArrayList<>();
            for (int c = 0; c < CLIENTS; c++) {
                int client = c;
                clients.add(pool.submit(() -> fuzz(socket, new Random(SEED + client), FRAMES_PER_CLIENT, client)));
            }
            Tally total = new Tally();
            for (Future<Tally> f : clients) {
                add(total, f.get(90, TimeUnit.SECONDS));
            }
            System.out.println("TALLY " + total.frames + " " + total.errorReplies + " " + total.closes + " " + total.resets
                    + " " + total.reconnects);
            System.out.flush();
            Runtime.getRuntime().halt(0);
        } catch (Throwable e) {
            e.printStackTrace();
            Runtime.getRuntime().halt(1);
        }
    }

    private static void add(Tally total, Tally t) {
        t.sent.forEach((k, n) -> total.sent.merge(k, n, Integer::sum));
        total.errorReplies += t.errorReplies;
        total.closes += t.closes;
        total.resets += t.resets;
        total.reconnects += t.reconnects;
        total.frames += t.frames;
    }

    /** Runs the clients as {@code tenant} (uid {@link ControlTestSupport#UID_A}, another process) or root (here). */
    private void garbage(boolean tenant) throws Exception {
        long t0 = System.nanoTime();
        Path socket = syrupd.socket();
        ThreadPoolExecutor pool = (ThreadPoolExecutor) Executors.newFixedThreadPool(CLIENTS);
        pool.prestartAllCoreThreads(); // counted in the baseline
        try {
            // Warm up (classes, the client library) so the baseline counts are the steady state.
            fuzz(socket, new Random(SEED - 1), 50, -1);
            hello(socket);
            awaitNoConnections();
            int fdsBefore = count(Path.of("/proc/self/fd"));
            int tasksBefore = count(Path.of("/proc/self/task"));

            Tally total = new Tally();
            if (tenant) {
                Process p = syrupd.java(ControlTestSupport.UID_A, List.of(), ControlSocketFuzzKernelTest.class.getName(),
                        socket.toString()).start();
                String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                assertTrue(p.waitFor(120, TimeUnit.SECONDS), "the tenant's fuzz did not end");
                assertEquals(0, p.exitValue(), "the tenant's fuzz failed (its stderr above): " + out);
                String[] f = out.lines().filter(l -> l.startsWith("TALLY ")).findFirst().orElseThrow().split(" ");
                total.frames = Integer.parseInt(f[1]);
                total.errorReplies = Integer.parseInt(f[2]);
                total.closes = Integer.parseInt(f[3]);
                total.resets = Integer.parseInt(f[4]);
                total.reconnects = Integer.parseInt(f[5]);
            } else {
                List<Future<Tally>> clients = new ArrayList<>();
                for (int c = 0; c < CLIENTS; c++) {
                    int client = c;
                    clients.add(pool.submit(() -> fuzz(socket, new Random(SEED + client), FRAMES_PER_CLIENT, client)));
                }
                for (Future<Tally> f : clients) {
                    add(total, f.get(90, TimeUnit.SECONDS));
                }
            }
            assertTrue(total.frames >= 10_000, "frames sent: " + total.frames);

            // Every client has closed its connections: the daemon's sessions, threads and fds are gone.
            awaitNoConnections();
            int fdsAfter = count(Path.of("/proc/self/fd"));
            int tasksAfter = count(Path.of("/proc/self/task"));
            long sessionThreads = Thread.getAllStackTraces().keySet().stream()
                    .filter(t -> t.getName().startsWith("syrupd-control-conn")
                            || t.getName().startsWith("syrupd-control ") && !t.getName().startsWith("syrupd-control /"))
                    .count();
            assertEquals(0, sessionThreads, "session threads left after every client closed");
            assertTrue(fdsAfter <= fdsBefore + 4, "descriptors " + fdsBefore + " before the fuzz, " + fdsAfter + " after");
            assertTrue(tasksAfter <= tasksBefore + 4, "threads " + tasksBefore + " before the fuzz, " + tasksAfter + " after");
            assertEquals(0, syrupd.deployer().list().size(), "garbage deployed nothing");

            // A well-formed client is served correctly.
            wellFormedClient();

            System.out.printf("control socket fuzz" + (tenant ? " as uid " + ControlTestSupport.UID_A : "")
                            + " (seed %#x): %d bad frames from %d clients %s; %d error replies, "
                            + "%d connections closed by the daemon (%d of them reset), %d reconnects; fds %d -> %d, "
                            + "threads %d -> %d; %.1f s%n", SEED, total.frames, CLIENTS, total.sent, total.errorReplies,
                    total.closes, total.resets, total.reconnects, fdsBefore, fdsAfter, tasksBefore, tasksAfter,
                    (System.nanoTime() - t0) / 1e9);
        } finally {
            pool.shutdownNow();
        }
    }

    private void wellFormedClient() throws Exception {
        ExecutorService one = Executors.newSingleThreadExecutor();
        try (DatagramChannel ch = DatagramChannel.open()) {
            ch.setOption(StandardSocketOptions.SO_REUSEPORT, true);
            ch.bind(new InetSocketAddress("127.0.0.1", 0));
            int port = ((InetSocketAddress) ch.getLocalAddress()).getPort();
            one.submit(() -> {
                try (Syrup s = Syrup.connect(syrupd.socket())) {
                    assertEquals("admin", s.application());
                    assertEquals(0, s.list().size());
                    PolicyHandle h = s.deployBuiltin("round_robin", "socket_select", Protocol.UDP, port, Map.of(), false);
                    List<DeploymentInfo> list = s.list();
                    assertEquals(1, list.size(), list.toString());
                    assertEquals(port, list.get(0).port());
                    assertEquals("admin", list.get(0).owner());
                    h.undeploy();
                    assertEquals(0, s.list().size());
                }
                return null;
            }).get(30, TimeUnit.SECONDS);
        } finally {
            one.shutdownNow();
        }
        assertEquals(0, syrupd.deployer().list().size());
    }

    private void hello(Path socket) throws Exception {
        try (Syrup s = Syrup.connect(socket)) {
            assertEquals("admin", s.application());
        }
    }

    private void awaitNoConnections() throws InterruptedException {
        long end = System.currentTimeMillis() + 10_000;
        while (syrupd.server.connections() > 0 && System.currentTimeMillis() < end) {
            Thread.sleep(10);
        }
        assertEquals(0, syrupd.server.connections(), "sessions still open after every client closed");
        Thread.sleep(50); // the session threads end right after they leave the set
    }

    private static int count(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return (int) s.count();
        }
    }

    // ---------------------------------------------------------------- one client

    /** Sends {@code frames} bad frames and checks the daemon's answer to each. */
    private static Tally fuzz(Path socket, Random rnd, int frames, int client) throws Exception {
        Tally tally = new Tally();
        Conn conn = new Conn(socket);
        try {
            for (int i = 0; i < frames; i++) {
                Frame f = frame(rnd);
                tally.frames++;
                tally.sent.merge(f.kind(), 1, Integer::sum);
                String where = "seed " + Long.toHexString(SEED) + ", client " + client + ", frame " + i + ": " + f;
                boolean closed = exchange(conn, f, tally, where);
                if (closed) {
                    conn.close();
                    conn = new Conn(socket);
                    tally.reconnects++;
                }
            }
        } finally {
            conn.close();
        }
        return tally;
    }

    /** Sends one frame and checks what comes back; true when the daemon closed the connection. */
    private static boolean exchange(Conn conn, Frame f, Tally tally, String where) throws IOException {
        boolean writeFailed = !conn.write(f.bytes(), where);
        if (f.shutOutput() && !writeFailed) {
            conn.shutdownOutput();
        }
        if (f.kind() == Kind.RANDOM) {
            // Random bytes may happen to hold whole frames: every reply must be an error, then the end.
            while (true) {
                Reply r = conn.readReply(where);
                if (r.end != End.NONE) {
                    tally.closes++;
                    tally.resets += r.end == End.RESET ? 1 : 0;
                    return true;
                }
                assertError(r.message, false, where);
                tally.errorReplies++;
            }
        }
        Reply r = conn.readReply(where);
        if (r.end != End.NONE) {
            fail("the daemon closed the connection without an error reply (" + r.end + ", " + conn.lastError + "), "
                    + where);
        }
        assertError(r.message, f.kind().fatal, where);
        tally.errorReplies++;
        if (!f.kind().fatal) {
            return false;
        }
        // A framing error: the stream cannot be resynchronized, so the daemon hangs up.
        Reply after = conn.readReply(where);
        if (after.end == End.NONE) {
            fail("after " + after.message + " the daemon kept the connection open, " + where);
        }
        tally.closes++;
        tally.resets += after.end == End.RESET ? 1 : 0;
        return true;
    }

    private static void assertError(Message m, boolean framing, String where) {
        assertEquals("error", m.get(Message.STATUS).orElse(""), "reply " + m + " to " + where);
        String kind = m.get(Message.KIND).orElse("");
        assertTrue(!kind.isEmpty(), "error reply without a kind: " + m + ", " + where);
        if (framing) {
            assertEquals("INVALID", kind, "reply " + m + " to " + where);
        }
    }

    // ---------------------------------------------------------------- frames

    private static final String[] OPS_WITH_FIELDS = {
        Message.DEPLOY, Message.UNDEPLOY, Message.REGISTER_SOCKET, Message.OPEN_MAP,
        Message.MAP_LOOKUP, Message.MAP_UPDATE, Message.MAP_DELETE, Message.MAP_DUMP,
    };

    static Frame frame(Random rnd) {
        int p = rnd.nextInt(100);
        if (p < 14) {
            return random(rnd);
        } else if (p < 28) {
            return truncated(rnd);
        } else if (p < 33) {
            Body hello = new Body().field("op", Message.HELLO);
            return new Frame(Kind.ZERO_LENGTH, concat(le32(0), rnd.nextBoolean() ? hello.frame() : new byte[0]), false,
                    "length 0");
        } else if (p < 42) {
            return oversized(rnd);
        } else if (p < 56) {
            return malformed(rnd);
        } else if (p < 65) {
            return absurd(rnd);
        } else if (p < 70) {
            Body b = new Body();
            int n = 1 + rnd.nextInt(4);
            for (int i = 0; i < n; i++) {
                String name = rnd.nextBoolean() ? randomName(rnd) : pick(rnd, "status", "OP", "Op", "op_", "ops", "id");
                b.field(name.equals(Message.OP) ? "oq" : name, rnd.nextBoolean() ? Message.HELLO : randomText(rnd, 20));
            }
            return new Frame(Kind.NO_OP, b.wellFormedFrame(), false, "no op");
        } else if (p < 85) {
            return unknownOp(rnd);
        } else {
            return missingFields(rnd);
        }
    }

    private static Frame random(Random rnd) {
        int n = rnd.nextInt(10) == 0 ? 1 + rnd.nextInt(70_000) : 1 + rnd.nextInt(200);
        byte[] b = new byte[n];
        rnd.nextBytes(b);
        if (n >= 4 && rnd.nextBoolean()) {
            // a plausible length, so the body is parsed rather than the header refused
            ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putInt(0, 1 + rnd.nextInt(n));
        }
        return new Frame(Kind.RANDOM, b, true, "random bytes");
    }

    private static Frame truncated(Random rnd) {
        if (rnd.nextInt(5) == 0) {
            byte[] b = new byte[1 + rnd.nextInt(3)];
            rnd.nextBytes(b);
            return new Frame(Kind.TRUNCATED, b, true, "header of " + b.length + " bytes");
        }
        int announced = rnd.nextInt(4) == 0 ? 1 + rnd.nextInt(Message.MAX_BODY) : 1 + rnd.nextInt(300);
        Body body = new Body().field("op", pick(rnd, OPS_WITH_FIELDS)).field("id", "d" + rnd.nextInt(100));
        byte[] full = body.bytes();
        int have = rnd.nextInt(announced);
        byte[] sent = new byte[have];
        System.arraycopy(full, 0, sent, 0, Math.min(have, full.length));
        return new Frame(Kind.TRUNCATED, concat(le32(announced), sent), true, announced + " announced, " + have + " sent");
    }

    private static Frame oversized(Random rnd) {
        long len = switch (rnd.nextInt(4)) {
            case 0 -> Message.MAX_BODY + 1L;
            case 1 -> 0xffffffffL;
            case 2 -> 0x80000000L;
            default -> Message.MAX_BODY + 1L + (rnd.nextLong() >>> 1) % (0xffffffffL - Message.MAX_BODY);
        };
        byte[] tail = new byte[rnd.nextInt(1024)];
        rnd.nextBytes(tail);
        return new Frame(Kind.OVERSIZED, concat(le32((int) len), tail), false, "length " + len);
    }

    private static Frame malformed(Random rnd) {
        Body b = new Body();
        if (rnd.nextBoolean()) {
            b.field("op", Message.HELLO); // a good field first: the bad one is in the middle
        }
        String what;
        switch (rnd.nextInt(7)) {
            case 0 -> {
                what = "empty name";
                b.u16(0).u32(1).raw(new byte[] {'x'});
            }
            case 1 -> {
                int n = 256 + rnd.nextInt(300);
                what = "name of " + n + " bytes";
                byte[] name = new byte[n];
                java.util.Arrays.fill(name, (byte) 'a');
                b.u16(n).raw(name).u32(0);
            }
            case 2 -> {
                byte bad = pick(rnd, (byte) ' ', (byte) 0, (byte) 0x7f, (byte) 0x80, (byte) 0xff, (byte) '\n');
                what = "name byte " + (bad & 0xff);
                b.field(new byte[] {'o', bad, 'p'}, "HELLO".getBytes(StandardCharsets.US_ASCII));
            }
            case 3 -> {
                byte[][] bad = {{(byte) 0xc3, 0x28}, {(byte) 0xff}, {(byte) 0xed, (byte) 0xa0, (byte) 0x80},
                    {(byte) 0xe2, (byte) 0x82}, {(byte) 0xc0, (byte) 0xaf}, {(byte) 0xf8, (byte) 0x88, (byte) 0x80, (byte) 0x80}};
                what = "value not UTF-8";
                b.field("op".getBytes(StandardCharsets.US_ASCII), concat("HE".getBytes(StandardCharsets.US_ASCII),
                        bad[rnd.nextInt(bad.length)]));
            }
            case 4 -> {
                what = "one stray byte";
                b.raw(new byte[] {(byte) rnd.nextInt(256)});
            }
            case 5 -> {
                what = "name length without the value length";
                b.u16(2).raw(new byte[] {'o', 'p'}).raw(new byte[rnd.nextInt(4)]);
            }
            default -> {
                what = "garbage after a field";
                byte[] g = new byte[1 + rnd.nextInt(64)];
                rnd.nextBytes(g);
                g[0] = 0; // name length 0 or <= 255 with a short rest: never a valid field
                g[g.length > 1 ? 1 : 0] = 0;
                b.raw(g);
            }
        }
        return new Frame(Kind.MALFORMED_FIELD, b.frame(), false, what);
    }

    private static Frame absurd(Random rnd) {
        Body b = new Body();
        if (rnd.nextBoolean()) {
            b.field("op", Message.LIST);
        }
        String what;
        if (rnd.nextInt(3) == 0) {
            int n = pick(rnd, 0xffff, 0x8000, 1000);
            what = "name length " + n;
            b.u16(n).raw("op".getBytes(StandardCharsets.US_ASCII)).u32(0);
        } else {
            long v = switch (rnd.nextInt(4)) {
                case 0 -> 0xffffffffL;
                case 1 -> 0x80000000L;
                case 2 -> 0x7fffffffL;
                default -> Message.MAX_BODY + rnd.nextInt(1 << 20);
            };
            what = "value length " + v;
            byte[] some = new byte[rnd.nextInt(32)];
            java.util.Arrays.fill(some, (byte) 'v');
            b.u16(2).raw(new byte[] {'i', 'd'}).u32((int) v).raw(some);
        }
        return new Frame(Kind.ABSURD_FIELD_LENGTH, b.frame(), false, what);
    }

    private static Frame unknownOp(Random rnd) {
        String op = switch (rnd.nextInt(7)) {
            case 0 -> "";
            case 1 -> pick(rnd, "hello", "list", "HELLO ", " LIST", "DEPLOY\u0000", "FROBNICATE", "SHUTDOWN", "HELL");
            case 2 -> randomText(rnd, 300);
            case 3 -> randomName(rnd);
            case 4 -> "X".repeat(rnd.nextInt(20_000));
            // as long as a frame allows: an error message that quotes it must still fit one reply
            case 5 -> "\u00e9".repeat(Message.MAX_BODY / 2 - 8 - rnd.nextInt(64));
            default -> new String(Character.toChars(0x1F000 + rnd.nextInt(0x1000))) + rnd.nextInt();
        };
        Body b = new Body().field("op", op);
        for (int i = op.length() > 10_000 ? 0 : rnd.nextInt(3); i > 0; i--) {
            b.field(randomName(rnd), randomText(rnd, 40));
        }
        return new Frame(Kind.UNKNOWN_OP, b.wellFormedFrame(), false, "op '" + abbreviate(op) + "'");
    }

    private static Frame missingFields(Random rnd) {
        String op = pick(rnd, OPS_WITH_FIELDS);
        Body b = new Body().field("op", op);
        List<String> fields = new ArrayList<>();
        if (op.equals(Message.DEPLOY)) {
            // never a policy or source: this can only fail
            if (rnd.nextBoolean()) {
                b.field("hook", pick(rnd, "socket_select", "", "nope"));
                fields.add("hook");
            }
            if (rnd.nextBoolean()) {
                b.field("protocol", pick(rnd, "udp", "tcp", "sctp", ""));
                fields.add("protocol");
            }
            if (rnd.nextBoolean()) {
                b.field("port", pick(rnd, "0", "65536", "-1", "x", "9000", "99999999999999999999",
                        "9".repeat(Message.MAX_BODY - 200)));
                fields.add("port");
            }
        } else {
            if (rnd.nextBoolean()) {
                b.field("id", pick(rnd, "", "d0", "d999999", "../d1", randomText(rnd, 10),
                        "d".repeat(Message.MAX_BODY - 400 - rnd.nextInt(1000))));
                fields.add("id");
            }
            for (String f : new String[] {"map", "key", "value", "index", "fd"}) {
                if (rnd.nextInt(3) == 0) {
                    b.field(f, pick(rnd, "", "0", "-1", "18446744073709551616", "steer", randomText(rnd, 8)));
                    fields.add(f);
                }
            }
        }
        return new Frame(Kind.MISSING_FIELDS, b.wellFormedFrame(), false, op + " with " + fields);
    }

    private static String randomName(Random rnd) {
        int n = 1 + rnd.nextInt(rnd.nextInt(10) == 0 ? 255 : 12);
        StringBuilder sb = new StringBuilder(n);
        for (int i = 0; i < n; i++) {
            sb.append((char) (0x21 + rnd.nextInt(0x7e - 0x21 + 1)));
        }
        return sb.toString();
    }

    /** Random valid text: any code point but surrogates. */
    private static String randomText(Random rnd, int max) {
        int n = rnd.nextInt(max + 1);
        StringBuilder sb = new StringBuilder(n);
        for (int i = 0; i < n; i++) {
            int cp = rnd.nextInt(4) == 0 ? rnd.nextInt(0x110000) : rnd.nextInt(0x80);
            if (cp >= 0xd800 && cp <= 0xdfff) {
                cp = 'x';
            }
            sb.appendCodePoint(cp);
        }
        return sb.toString();
    }

    private static String abbreviate(String s) {
        return s.length() > 30 ? s.substring(0, 30) + "...(" + s.length() + ")" : s;
    }

    @SafeVarargs
    private static <T> T pick(Random rnd, T... choices) {
        return choices[rnd.nextInt(choices.length)];
    }

    private static byte[] le32(int v) {
        return ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(v).array();
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] out = new byte[a.length + b.length];
        System.arraycopy(a, 0, out, 0, a.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    /** A frame body written field by field, or byte by byte where a field must be wrong. */
    static final class Body {
        private final ByteArrayOutputStream out = new ByteArrayOutputStream();

        Body field(String name, String value) {
            return field(name.getBytes(StandardCharsets.US_ASCII), value.getBytes(StandardCharsets.UTF_8));
        }

        Body field(byte[] name, byte[] value) {
            return u16(name.length).raw(name).u32(value.length).raw(value);
        }

        Body u16(int v) {
            out.write(v & 0xff);
            out.write((v >>> 8) & 0xff);
            return this;
        }

        Body u32(int v) {
            out.writeBytes(le32(v));
            return this;
        }

        Body raw(byte[] b) {
            out.writeBytes(b);
            return this;
        }

        byte[] bytes() {
            return out.toByteArray();
        }

        /** {@link #frame()} of a body the daemon must accept as a frame (at most 64 KiB). */
        byte[] wellFormedFrame() {
            if (out.size() > Message.MAX_BODY) {
                throw new IllegalStateException("the generator made a " + out.size() + "-byte body");
            }
            return frame();
        }

        /** Length prefix (the body's true length) and body. */
        byte[] frame() {
            byte[] b = bytes();
            return concat(le32(b.length), b);
        }
    }

    // ---------------------------------------------------------------- a connection with deadlines

    enum End { NONE, EOF, RESET }

    record Reply(Message message, End end) {
    }

    /** A non-blocking Unix stream connection whose every wait is bounded, so a hung daemon fails the test. */
    static final class Conn implements AutoCloseable {
        private final SocketChannel ch;
        private final Selector selector;
        private final SelectionKey key;
        String lastError;

        Conn(Path socket) throws IOException {
            ch = SocketChannel.open(UnixDomainSocketAddress.of(socket));
            ch.configureBlocking(false);
            selector = Selector.open();
            key = ch.register(selector, 0);
        }

        private void await(int op, long deadline, String where) throws IOException {
            key.interestOps(op);
            while (true) {
                long left = deadline - System.currentTimeMillis();
                if (left <= 0) {
                    fail("the daemon did not " + (op == SelectionKey.OP_READ ? "answer" : "read") + " within "
                            + IO_TIMEOUT_MILLIS + " ms: " + where);
                }
                if (selector.select(left) > 0) {
                    selector.selectedKeys().clear();
                    return;
                }
            }
        }

        /** Writes all of {@code b}; false when the daemon has closed the connection meanwhile. */
        boolean write(byte[] b, String where) throws IOException {
            ByteBuffer buf = ByteBuffer.wrap(b);
            long deadline = System.currentTimeMillis() + IO_TIMEOUT_MILLIS;
            try {
                while (buf.hasRemaining()) {
                    if (ch.write(buf) == 0) {
                        await(SelectionKey.OP_WRITE, deadline, where);
                    }
                }
                return true;
            } catch (IOException e) {
                lastError = "write: " + e;
                return false; // EPIPE/ECONNRESET: it hung up (having answered, as the reads check)
            }
        }

        void shutdownOutput() {
            try {
                ch.shutdownOutput();
            } catch (IOException e) {
                // already closed by the daemon
            }
        }

        /** Fills {@code buf}; the end seen when the stream ended first. */
        private End fill(ByteBuffer buf, String where) throws IOException {
            long deadline = System.currentTimeMillis() + IO_TIMEOUT_MILLIS;
            while (buf.hasRemaining()) {
                int n;
                try {
                    n = ch.read(buf);
                } catch (IOException e) {
                    lastError = (lastError == null ? "" : lastError + "; ") + "read: " + e;
                    return End.RESET;
                }
                if (n < 0) {
                    return End.EOF;
                }
                if (n == 0) {
                    await(SelectionKey.OP_READ, deadline, where);
                }
            }
            return End.NONE;
        }

        /** The next reply, or how the stream ended (at a frame boundary). */
        Reply readReply(String where) throws IOException {
            ByteBuffer header = ByteBuffer.allocate(Message.HEADER);
            End end = fill(header, where);
            if (end != End.NONE) {
                assertEquals(0, header.position(), "the daemon hung up inside a reply header: " + where);
                return new Reply(null, end);
            }
            try {
                int len = Message.bodyLength(header.array());
                ByteBuffer body = ByteBuffer.allocate(len);
                assertEquals(End.NONE, fill(body, where), "the daemon hung up inside a reply: " + where);
                return new Reply(Message.decode(body.array(), len), End.NONE);
            } catch (dev.syrup.api.SyrupException e) {
                throw new AssertionError("the daemon sent a malformed reply (" + e.getMessage() + "): " + where, e);
            }
        }

        @Override
        public void close() throws IOException {
            selector.close();
            ch.close();
        }
    }
}
