package dev.syrup.daemon.control;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.syrup.api.Protocol;
import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
import dev.syrup.bpf.Fd;
import dev.syrup.bpf.UnixSockets;
import dev.syrup.client.ClientMap;
import dev.syrup.client.Message;
import dev.syrup.client.PolicyHandle;
import dev.syrup.client.Syrup;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.DatagramChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;
import java.util.OptionalLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The control socket itself: framing errors, the socket file, the syscall Map path, in-process (root). */
class ControlSocketKernelTest {

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

    /** Reads one reply frame (or null at end of stream). */
    private static Message readReply(Fd conn) throws SyrupException {
        byte[] header = new byte[4];
        if (readFully(conn, header) < 4) {
            return null;
        }
        int len = Message.bodyLength(header);
        byte[] body = new byte[len];
        assertEquals(len, readFully(conn, body));
        return Message.decode(body, len);
    }

    private static int readFully(Fd conn, byte[] buf) {
        int off = 0;
        while (off < buf.length) {
            int n = UnixSockets.read(conn, buf, off, buf.length - off);
            if (n == 0) {
                break;
            }
            off += n;
        }
        return off;
    }

    private void assertMalformedIsAnsweredThenClosed(byte[] frame, String reason) throws Exception {
        try (Fd conn = UnixSockets.connect(syrupd.socket())) {
            UnixSockets.writeFully(conn, frame);
            Message reply = readReply(conn);
            assertFalse(reply.isOk(), reply.toString());
            assertEquals("INVALID", reply.get(Message.KIND).orElseThrow());
            assertTrue(reply.get(Message.MESSAGE).orElseThrow().contains(reason), reply.toString());
            assertEquals(0, UnixSockets.read(conn, new byte[1], 0, 1), "then the daemon hangs up");
        }
        // ... and keeps serving the next client.
        try (Syrup next = Syrup.connect(syrupd.socket())) {
            assertEquals("admin", next.application());
            assertEquals(0, next.list().size());
        }
    }

    private static byte[] le(int v) {
        return ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(v).array();
    }

    @Test
    void aClientStuckInsideAFrameIsCutOffAnIdleOneIsNot() throws Exception {
        Path sock = syrupd.root.resolve("run-slow").resolve("syrupd.sock");
        try (ControlServer slow = new ControlServer(syrupd.deployer(), sock, syrupd.root.resolve("apps-slow"), 4, 300)) {
            // Idle between frames for three times the frame timeout: still served.
            try (Syrup idle = Syrup.connect(sock)) {
                Thread.sleep(900);
                assertEquals(0, idle.list().size());
            }
            // Part of a header, then part of a body: each gets an error, then the daemon hangs up.
            byte[] header = le(40);
            for (byte[] partial : new byte[][] {{header[0], header[1], header[2]}, java.util.Arrays.copyOf(header, 4 + 10)}) {
                try (Fd conn = UnixSockets.connect(sock)) {
                    long t0 = System.nanoTime();
                    UnixSockets.writeFully(conn, partial);
                    Message reply = readReply(conn);
                    long ms = (System.nanoTime() - t0) / 1_000_000;
                    assertFalse(reply.isOk(), reply.toString());
                    assertTrue(reply.get(Message.MESSAGE).orElseThrow().contains("frame not completed within 300 ms"), reply.toString());
                    assertTrue(ms >= 300 && ms < 5000, "cut off after " + ms + " ms");
                    assertEquals(0, UnixSockets.read(conn, new byte[1], 0, 1), "then the daemon hangs up");
                }
            }
            // Their slots are free again: four clients at once (the most this server takes).
            long end = System.currentTimeMillis() + 3000;
            while (true) {
                try (Syrup a = Syrup.connect(sock); Syrup b = Syrup.connect(sock); Syrup c = Syrup.connect(sock);
                     Syrup d = Syrup.connect(sock)) {
                    for (Syrup x : new Syrup[] {a, b, c, d}) {
                        assertEquals(0, x.list().size());
                    }
                    break;
                } catch (SyrupException e) {
                    if (System.currentTimeMillis() > end) {
                        throw e; // a cut-off connection still holds its slot
                    }
                    Thread.sleep(50);
                }
            }
        }
    }

    @Test
    void oversizedFrameGetsAnErrorAndTheConnectionCloses() throws Exception {
        assertMalformedIsAnsweredThenClosed(le(Message.MAX_BODY + 1), "frame length 65537 outside 1..65536");
    }

    @Test
    void zeroLengthFrameGetsAnError() throws Exception {
        assertMalformedIsAnsweredThenClosed(le(0), "frame length 0");
    }

    @Test
    void truncatedFieldGetsAnError() throws Exception {
        // body of 10 bytes: name length 2 "op", value length 100 but only 2 bytes follow
        ByteBuffer b = ByteBuffer.allocate(14).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(10).putShort((short) 2).put((byte) 'o').put((byte) 'p').putInt(100).put((byte) 'x').put((byte) 'y');
        assertMalformedIsAnsweredThenClosed(b.array(), "announces 100 bytes");
    }

    @Test
    void requestWithoutOpGetsAnError() throws Exception {
        byte[] frame = Message.ok().encode(); // a reply, not a request
        assertMalformedIsAnsweredThenClosed(frame, "must start with field 'op'");
    }

    @Test
    void unknownOpIsAnErrorButTheConnectionStays() throws Exception {
        try (Fd conn = UnixSockets.connect(syrupd.socket())) {
            UnixSockets.writeFully(conn, Message.request("FROBNICATE").encode());
            Message reply = readReply(conn);
            assertEquals("INVALID", reply.get(Message.KIND).orElseThrow());
            UnixSockets.writeFully(conn, Message.request(Message.HELLO).encode());
            assertTrue(readReply(conn).isOk());
        }
    }

    @Test
    void socketFileIsWorldWritableAndRemovedOnClose() throws Exception {
        Path sock = syrupd.socket();
        assertEquals("rw-rw-rw-", PosixFilePermissions.toString(Files.getPosixFilePermissions(sock)));
        assertEquals("rwxr-xr-x", PosixFilePermissions.toString(Files.getPosixFilePermissions(sock.getParent())));
        syrupd.server.close();
        assertFalse(Files.exists(sock), "the socket file goes with the server");
    }

    /** Many connections at once, each on its own daemon thread, while deployments come and go. */
    @Test
    void concurrentClientsAreServedIndependently() throws Exception {
        int clients = 8;
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(clients + 1);
        try (DatagramChannel ch = DatagramChannel.open()) {
            ch.setOption(StandardSocketOptions.SO_REUSEPORT, true);
            ch.bind(new InetSocketAddress("127.0.0.1", 0));
            int port = ((InetSocketAddress) ch.getLocalAddress()).getPort();
            java.util.List<java.util.concurrent.Future<Integer>> done = new java.util.ArrayList<>();
            for (int c = 0; c < clients; c++) {
                done.add(pool.submit(() -> {
                    try (Syrup s = Syrup.connect(syrupd.socket())) {
                        int n = 0;
                        for (int i = 0; i < 300; i++) {
                            n += s.list().size() >= 0 ? 1 : 0;
                        }
                        return n;
                    }
                }));
            }
            done.add(pool.submit(() -> {
                // One cycle: redeploying on the same socket right after an undeploy can meet EBUSY
                // while the kernel frees the old sockarray (deferred), which is the hook's to handle.
                try (Syrup s = Syrup.connect(syrupd.socket())) {
                    PolicyHandle h = s.deployBuiltin("round_robin", "socket_select", Protocol.UDP, port, Map.of(), false);
                    assertEquals(1, s.list().size());
                    h.undeploy();
                    return 300;
                }
            }));
            for (var f : done) {
                assertEquals(300, f.get(60, java.util.concurrent.TimeUnit.SECONDS));
            }
        } finally {
            pool.shutdownNow();
        }
        assertEquals(0, syrupd.deployer().list().size());
    }

    /** A second server on the same path leaves the live one alone and takes over once it is gone. */
    @Test
    void aSecondDaemonWaitsForTheSocketInsteadOfTakingIt() throws Exception {
        ControlServer second = new ControlServer(syrupd.deployer(), syrupd.socket(), syrupd.root.resolve("apps2"));
        try {
            assertFalse(second.listening());
            try (Syrup s = Syrup.connect(syrupd.socket())) {
                assertEquals("admin", s.application(), "the first one still answers");
            }
            second.close();
            assertTrue(Files.exists(syrupd.socket()), "closing the second one leaves the first one's socket");
        } finally {
            second.close();
        }
        syrupd.server.close();
        UnixSockets.listen(syrupd.socket(), 1).close(); // a socket file nobody listens on: stale
        assertTrue(Files.exists(syrupd.socket()));
        ControlServer third = new ControlServer(syrupd.deployer(), syrupd.socket(), syrupd.root.resolve("apps3"));
        try {
            assertTrue(third.listening(), "a free path (a stale socket is removed) is bound at once");
        } finally {
            third.close();
        }
    }

    @Test
    void pathPoliciesAndMissingPortsAreRefusedWithTheirKind() throws Exception {
        try (Syrup s = Syrup.connect(syrupd.socket())) {
            SyrupException e = assertThrows(SyrupException.class,
                    () -> s.deployBuiltin("round_robin", "socket_select", Protocol.UDP, 1, Map.of(), false));
            assertEquals(Kind.NO_EXECUTORS, e.kind(), e.getMessage());
            e = assertThrows(SyrupException.class, () -> s.undeploy("d999"));
            assertEquals(Kind.NOT_FOUND, e.kind());
            e = assertThrows(SyrupException.class,
                    () -> s.deployBuiltin("round_robin", "no_such_hook", Protocol.UDP, 9, Map.of(), false));
            assertEquals(Kind.UNKNOWN_HOOK, e.kind());
        }
    }

    /** A HASH Map goes through the daemon (syscall path); an ARRAY is mmap'ed even for root. */
    @Test
    void hashMapThroughTheDaemonAndArrayThroughMmap() throws Exception {
        Path policy = syrupd.file("maps.c", """
                #include "syrup.h"
                SYR_HASH_MAP(tokens, 64);
                SYR_MAP(busy, 8);
                uint32_t schedule(void *pkt_start, void *pkt_end)
                {
                    uint32_t k = 1;
                    uint64_t *t = syr_map_lookup_elem(&tokens, &k);
                    uint64_t *b = syr_map_lookup_elem(&busy, &k);
                    if (t && b)
                        __sync_fetch_and_add(b, *t);
                    return SYR_PASS;
                }
                """);
        java.util.List<dev.syrup.api.map.MapEvent> published = new java.util.concurrent.CopyOnWriteArrayList<>();
        Object lock = new Object();
        syrupd.manager.setEvents(new dev.syrup.daemon.events.MapEventBus() {
            @Override
            public Object lock() {
                return lock;
            }

            @Override
            public void publish(dev.syrup.api.map.MapEvent event) {
                published.add(event);
            }
        });
        try (DatagramChannel ch = DatagramChannel.open();
             Syrup s = Syrup.connect(syrupd.socket())) {
            ch.setOption(StandardSocketOptions.SO_REUSEPORT, true);
            ch.bind(new InetSocketAddress("127.0.0.1", 0));
            int port = ((InetSocketAddress) ch.getLocalAddress()).getPort();
            PolicyHandle h = s.deployPolicy(policy, "socket_select", Protocol.UDP, port, Map.of());
            try (ClientMap tokens = h.openMap("tokens"); ClientMap busy = h.openMap("busy")) {
                assertFalse(tokens.mapped());
                assertTrue(busy.mapped());
                assertEquals("hash", tokens.type());
                assertEquals(OptionalLong.empty(), tokens.lookup(1));
                tokens.update(1, 5);
                assertEquals(OptionalLong.of(5), tokens.lookup(1));
                assertEquals(Map.of(1, 5L), tokens.dump());
                assertEquals(1, published.size(), "the write through syrupd is a Map event: " + published);
                assertEquals(dev.syrup.api.map.MapEvent.Origin.CLIENT, published.get(0).origin(), "an application's");
                assertEquals(OptionalLong.of(5), published.get(0).newValue());
                assertThrows(SyrupException.class, () -> tokens.addAndGet(1, 1));
                ControlTestSupport.send(port, 10);
                long end = System.currentTimeMillis() + 3000;
                while (busy.lookup(1).getAsLong() < 50 && System.currentTimeMillis() < end) {
                    Thread.sleep(10);
                }
                assertEquals(50, busy.lookup(1).getAsLong(), "the policy added 5 per datagram");
                assertTrue(tokens.delete(1));
                assertFalse(tokens.delete(1));
                SyrupException e = assertThrows(SyrupException.class, () -> busy.delete(1));
                assertEquals(Kind.INVALID, e.kind());
                e = assertThrows(SyrupException.class, () -> h.openMap("nope"));
                assertEquals(Kind.NOT_FOUND, e.kind());
            }
            h.undeploy();
            assertEquals(0, s.list().size());
        }
    }
}
