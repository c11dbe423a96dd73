package dev.syrup.linux;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.ref.Reference;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import jnr.ffi.Pointer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The real libc through the one binding: errno, memory, a Unix socket passing a descriptor, poll. */
class LinuxTest {

    @TempDir
    Path dir;

    private static final LibC C = Linux.libc();

    @Test
    void loadsOnceAndSavesErrno() throws Exception {
        assertSame(C, Linux.libc());
        assertEquals(-1, C.close(-1));
        assertEquals(9, Linux.errno(), "EBADF");
        assertEquals("close(-1): Bad file descriptor (errno 9)", Linux.describe("close(-1)", 9));
        long tid = Long.parseLong(Files.readSymbolicLink(Path.of("/proc/thread-self")).getFileName().toString());
        assertEquals(tid, C.syscall(LibC.SYS_GETTID));
    }

    @Test
    void anonymousMappingIsABufferUntilUnmapped() {
        Pointer p = C.mmap(null, 4096, LibC.PROT_READ | LibC.PROT_WRITE, LibC.MAP_PRIVATE | LibC.MAP_ANONYMOUS, -1, 0);
        assertFalse(Linux.mapFailed(p));
        ByteBuffer b = Linux.buffer(p.address(), 4096).order(ByteOrder.nativeOrder());
        b.putLong(8, 0x0102030405060708L);
        assertEquals(0x0102030405060708L, p.getLong(8), "the buffer is the mapping");
        assertEquals(0, C.munmap(p, 4096));
        assertTrue(Linux.mapFailed(C.mmap(null, 4096, LibC.PROT_READ, LibC.MAP_SHARED, -1, 0)), "no fd: MAP_FAILED");
    }

    @Test
    void unixSocketPassesADescriptorThroughMsghdrAndCmsg() throws Exception {
        byte[] addr = Structs.SockaddrUn.of(dir.resolve("s").toString());
        int listener = check(C.socket(LibC.AF_UNIX, LibC.SOCK_STREAM | LibC.SOCK_CLOEXEC, 0));
        int client = -1, server = -1, received = -1;
        try {
            check(C.bind(listener, addr, addr.length));
            check(C.listen(listener, 1));
            client = check(C.socket(LibC.AF_UNIX, LibC.SOCK_STREAM | LibC.SOCK_CLOEXEC, 0));
            check(C.connect(client, addr, addr.length));
            server = check(C.accept4(listener, null, null, LibC.SOCK_CLOEXEC));

            int[] ucred = new int[3];
            check(C.getsockopt(server, LibC.SOL_SOCKET, LibC.SO_PEERCRED, ucred, new int[] {Structs.Ucred.SIZE}));
            assertEquals(ProcessHandle.current().pid(), ucred[Structs.Ucred.PID / 4]);

            int[] pfd = Structs.Pollfd.of(new int[] {client}, LibC.POLLIN);
            assertEquals(0, C.poll(pfd, 1, 0), "nothing to read yet");

            // send "hi" with the listener's fd as SCM_RIGHTS
            Pointer data = Linux.allocate(2);
            data.put(0, new byte[] {'h', 'i'}, 0, 2);
            Pointer iov = Linux.allocate(Structs.Iovec.SIZE);
            Pointer control = Linux.allocate((int) Structs.Cmsghdr.space(4));
            Structs.Cmsghdr.putRights(control, listener);
            Pointer msg = Linux.allocate(Structs.Msghdr.SIZE);
            Structs.Msghdr.set(msg, iov, data.address(), 2, control, Structs.Cmsghdr.space(4));
            assertEquals(2, C.sendmsg(server, msg, LibC.MSG_NOSIGNAL));
            Reference.reachabilityFence(data); // msg holds only the addresses
            Reference.reachabilityFence(control);

            assertEquals(1, C.poll(pfd, 1, 1000));
            assertTrue((Structs.Pollfd.revents(pfd, 0) & LibC.POLLIN) != 0);

            Pointer in = Linux.allocate(16);
            Pointer rcontrol = Linux.allocate(64);
            Structs.Msghdr.set(msg, iov, in.address(), 16, rcontrol, 64);
            assertEquals(2, C.recvmsg(client, msg, LibC.MSG_CMSG_CLOEXEC));
            Reference.reachabilityFence(iov);
            byte[] got = new byte[2];
            in.get(0, got, 0, 2);
            assertArrayEquals(new byte[] {'h', 'i'}, got);
            int[] fds = Structs.Cmsghdr.rights(rcontrol, msg.getLong(Structs.Msghdr.CONTROLLEN));
            assertEquals(1, fds.length);
            received = fds[0];
            assertNotEquals(listener, received, "the receiver gets its own descriptor");
            assertEquals(Files.readSymbolicLink(Path.of("/proc/self/fd/" + listener)),
                    Files.readSymbolicLink(Path.of("/proc/self/fd/" + received)));
        } finally {
            for (int fd : new int[] {received, server, client, listener}) {
                if (fd >= 0) {
                    C.close(fd);
                }
            }
        }
    }

    private static int check(long rc) {
        if (rc < 0) {
            throw new AssertionError(Linux.describe("call", Linux.errno()));
        }
        return (int) rc;
    }
}
