package dev.syrup.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What the client reports when syrupd answers with an error and closes before the request went
 * out (as it refuses a connection over a limit): that error, not the write's EPIPE. A plain JDK
 * Unix socket plays syrupd.
 */
class RefusalTest {

    @TempDir
    Path dir;

    @Test
    void anErrorSentBeforeTheRequestWentOutIsWhatTheCallerGets() throws Exception {
        Path path = dir.resolve("syrupd.sock");
        try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            server.bind(UnixDomainSocketAddress.of(path));
            CompletableFuture<Void> daemon = CompletableFuture.runAsync(() -> {
                try (SocketChannel c = server.accept()) {
                    read(c); // HELLO
                    c.write(ByteBuffer.wrap(Message.ok().add("app", "uid-1").encode()));
                    read(c); // the first LIST: answered
                    c.write(ByteBuffer.wrap(Message.ok().encode()));
                    // then, unasked, an error, and the connection ends
                    c.write(ByteBuffer.wrap(Message.error(Kind.LIMIT, "over the limit").encode()));
                } catch (IOException | SyrupException e) {
                    throw new IllegalStateException(e);
                }
            });
            try (Syrup syrup = Syrup.connect(path)) {
                assertEquals("uid-1", syrup.application());
                assertEquals(0, syrup.list().size());
                daemon.get(10, TimeUnit.SECONDS); // closed: the next write is EPIPE
                SyrupException e = assertThrows(SyrupException.class, syrup::list);
                assertEquals(Kind.LIMIT, e.kind(), e.getMessage());
                assertTrue(e.getMessage().contains("over the limit"), e.getMessage());
                SyrupException gone = assertThrows(SyrupException.class, syrup::list);
                assertEquals(Kind.UNAVAILABLE, gone.kind(), "nothing more to read: the write's error");
                assertTrue(gone.getMessage().contains("errno 32"), gone.getMessage());
            }
        }
    }

    private static void read(SocketChannel c) throws IOException, SyrupException {
        ByteBuffer header = ByteBuffer.allocate(Message.HEADER);
        while (header.hasRemaining()) {
            if (c.read(header) < 0) {
                throw new IOException("client closed");
            }
        }
        ByteBuffer body = ByteBuffer.allocate(Message.bodyLength(header.array()));
        while (body.hasRemaining()) {
            if (c.read(body) < 0) {
                throw new IOException("client closed");
            }
        }
    }
}
