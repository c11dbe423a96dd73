package dev.syrup.bpf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import jnr.ffi.Pointer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Unix sockets, peer credentials, SCM_RIGHTS and poll on real sockets (no privileges needed),
 * and the msghdr layout over the fake native layer.
 */
class UnixSocketsTest {

    @TempDir
    Path dir;

    @Test
    void peerCredentialsAndPassingADescriptor() throws Exception {
        Path path = dir.resolve("s.sock");
        try (Fd listener = UnixSockets.listen(path, 4);
             Fd client = UnixSockets.connect(path);
             Fd server = UnixSockets.accept(listener)) {
            UnixSockets.PeerCred cred = UnixSockets.peerCred(server);
            assertEquals(ProcessHandle.current().pid(), cred.pid());
            assertEquals((int) (long) (Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid"), cred.uid());

            byte[] hello = "hello".getBytes();
            UnixSockets.writeFully(client, hello);
            byte[] buf = new byte[5];
            assertEquals(5, UnixSockets.read(server, buf, 0, 5));
            assertArrayEquals(hello, buf);

            try (Fd pidfd = Pidfd.open(ProcessHandle.current().pid())) {
                UnixSockets.sendWithFd(server, "map".getBytes(), pidfd.get());
                byte[] got = new byte[16];
                UnixSockets.Received r = UnixSockets.receive(client, got, 0, got.length);
                assertEquals(3, r.bytes());
                assertNotNull(r.fd(), "a descriptor came with the bytes");
                try (Fd passed = r.fd()) {
                    assertNotEquals(pidfd.get(), passed.get(), "the receiver gets its own duplicate");
                    assertEquals(Files.readSymbolicLink(Path.of("/proc/self/fd/" + pidfd.get())),
                            Files.readSymbolicLink(Path.of("/proc/self/fd/" + passed.get())));
                }
                // our own process is alive: its pidfd is not readable
                assertFalse(Pidfd.poll(new int[] {pidfd.get()}, 0)[0]);
            }
            UnixSockets.writeFully(client, "x".getBytes());
            UnixSockets.Received plain = UnixSockets.receive(server, new byte[4], 0, 4);
            assertEquals(1, plain.bytes());
            assertNull(plain.fd());

            client.close();
            assertEquals(0, UnixSockets.read(server, new byte[1], 0, 1), "end of stream");
        }
    }

    @Test
    void exitedProcessMakesItsPidfdReadable() throws Exception {
        Process p = new ProcessBuilder("true").start();
        try (Fd pidfd = Pidfd.open(p.pid())) {
            p.waitFor();
            assertTrue(Pidfd.poll(new int[] {pidfd.get()}, 1000)[0]);
        } catch (BpfException e) {
            assertEquals(Errno.ESRCH, e.errno()); // it was gone before pidfd_open
        }
    }

    @Test
    void shutdownWakesAThreadBlockedInAccept() throws Exception {
        Path path = dir.resolve("w.sock");
        Fd listener = UnixSockets.listen(path, 4);
        Throwable[] seen = new Throwable[1];
        Thread t = new Thread(() -> {
            try {
                UnixSockets.accept(listener).close();
            } catch (Throwable e) {
                seen[0] = e;
            }
        });
        t.start();
        Thread.sleep(100);
        UnixSockets.shutdown(listener);
        t.join(2000);
        assertFalse(t.isAlive());
        assertTrue(seen[0] instanceof BpfException, String.valueOf(seen[0]));
        listener.close();
    }

    @Test
    void tooLongPathIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> UnixSockets.listen(dir.resolve("x".repeat(120)), 1));
    }

    @Test
    void sendmsgCarriesOneScmRightsMessage() throws Exception {
        FakeNative fake = new FakeNative();
        int[] seen = new int[6];
        fake.on("sendmsg", a -> {
            Pointer msg = (Pointer) a[1];
            Pointer iov = fake_pointer(msg.getLong(16));
            seen[0] = (int) msg.getLong(24);            // msg_iovlen
            seen[1] = (int) iov.getLong(8);             // iov_len
            Pointer control = fake_pointer(msg.getLong(32));
            seen[2] = (int) msg.getLong(40);            // msg_controllen
            seen[3] = (int) control.getLong(0);         // cmsg_len
            seen[4] = control.getInt(8) * 100 + control.getInt(12); // level, type
            seen[5] = control.getInt(16);               // the fd
            return (long) seen[1];
        });
        try (AutoCloseable restore = fake.install()) {
            UnixSockets.sendWithFd(Fd.adopt(5), new byte[] {1, 2, 3}, 42);
        }
        assertArrayEquals(new int[] {1, 3, 24, 20, 101, 42}, seen);
    }

    private static Pointer fake_pointer(long address) {
        return Pointer.wrap(jnr.ffi.Runtime.getSystemRuntime(), address);
    }
}
