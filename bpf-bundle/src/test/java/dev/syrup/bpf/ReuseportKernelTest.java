package dev.syrup.bpf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * A real SO_REUSEPORT UDP group of two sockets: the test adopts their fds through pidfd_getfd
 * (found via /proc/net/udp inode → /proc/self/fd), attaches an sk_reuseport program that selects
 * slot 0 of a REUSEPORT_SOCKARRAY holding socket B, and checks where datagrams land.
 */
class ReuseportKernelTest extends KernelTestSupport {

    private static final int SENDERS = 64;
    private static final int PER_SENDER = 4;

    @Test
    void programSteersEveryDatagramToSlotZeroUntilDetached() throws Exception {
        try (DatagramChannel a = DatagramChannel.open(StandardProtocolFamily.INET);
                DatagramChannel b = DatagramChannel.open(StandardProtocolFamily.INET)) {
            a.setOption(StandardSocketOptions.SO_REUSEPORT, true);
            b.setOption(StandardSocketOptions.SO_REUSEPORT, true);
            a.bind(new InetSocketAddress("127.0.0.1", 0));
            int port = ((InetSocketAddress) a.getLocalAddress()).getPort();
            Set<Long> inodesA = udpInodes(port);
            b.bind(new InetSocketAddress("127.0.0.1", port));
            Set<Long> inodesB = udpInodes(port);
            inodesB.removeAll(inodesA);
            assertEquals(1, inodesA.size(), "one socket on port " + port + " after binding A");
            assertEquals(1, inodesB.size(), "one more after binding B");
            a.configureBlocking(false);
            b.configureBlocking(false);

            try (Fd pidfd = Pidfd.open(ProcessHandle.current().pid());
                    Fd fdA = Pidfd.getfd(pidfd, fdOfSocket(inodesA.iterator().next()));
                    Fd fdB = Pidfd.getfd(pidfd, fdOfSocket(inodesB.iterator().next()))) {
                for (Fd fd : List.of(fdA, fdB)) {
                    Sockets.setIntOption(fd, Sockets.SOL_SOCKET, Sockets.SO_RCVBUFFORCE, 8 << 20);
                    assertTrue(Sockets.getIntOption(fd, Sockets.SOL_SOCKET, Sockets.SO_RCVBUF) >= 8 << 20);
                }
                int total = SENDERS * PER_SENDER;

                int[] before = sendAndCount(port, a, b);
                assertEquals(total, before[0] + before[1], "all datagrams received before attach");
                assertTrue(before[0] > 0 && before[1] > 0, "kernel hash spreads over both sockets: A="
                        + before[0] + " B=" + before[1]);

                try (BpfObject obj = BpfObject.open(compile("t_select"))) {
                    obj.load();
                    BpfMap socks = obj.map("t_socks");
                    assertEquals(MapType.REUSEPORT_SOCKARRAY, socks.type());
                    socks.updateFd(0, fdB);
                    assertTrue(socks.lookup(0).isPresent(), "slot 0 holds a socket (its cookie)");
                    ReuseportGroup.attach(fdA, obj.program("t_select"));

                    int[] steered = sendAndCount(port, a, b);
                    assertEquals(0, steered[0], "A receives nothing while the program runs");
                    assertEquals(total, steered[1], "B receives every datagram");

                    ReuseportGroup.detach(fdB); // any socket of the group
                    int[] after = sendAndCount(port, a, b);
                    assertEquals(total, after[0] + after[1], "all datagrams received after detach");
                    assertTrue(after[0] > 0 && after[1] > 0, "kernel hash applies again: A=" + after[0]
                            + " B=" + after[1]);
                    BpfException none = org.junit.jupiter.api.Assertions.assertThrows(BpfException.class,
                            () -> ReuseportGroup.detach(fdA));
                    assertEquals(Errno.ENOENT, none.errno());
                }
            }
        }
    }

    /** Sends PER_SENDER datagrams from each of SENDERS sockets (distinct source ports); returns {at A, at B}. */
    private static int[] sendAndCount(int port, DatagramChannel a, DatagramChannel b) throws Exception {
        InetSocketAddress dst = new InetSocketAddress("127.0.0.1", port);
        List<DatagramChannel> senders = new ArrayList<>();
        try {
            for (int i = 0; i < SENDERS; i++) {
                DatagramChannel s = DatagramChannel.open(StandardProtocolFamily.INET);
                senders.add(s);
                s.bind(new InetSocketAddress("127.0.0.1", 0));
            }
            for (int r = 0; r < PER_SENDER; r++) {
                for (DatagramChannel s : senders) {
                    s.send(ByteBuffer.wrap(new byte[] {1, 2, 3, 4}), dst);
                }
            }
        } finally {
            for (DatagramChannel s : senders) {
                s.close();
            }
        }
        int total = SENDERS * PER_SENDER;
        int[] counts = new int[2];
        ByteBuffer buf = ByteBuffer.allocate(64);
        long deadline = System.nanoTime() + 3_000_000_000L;
        while (counts[0] + counts[1] < total && System.nanoTime() < deadline) {
            boolean any = false;
            for (int i = 0; i < 2; i++) {
                buf.clear();
                if ((i == 0 ? a : b).receive(buf) != null) {
                    counts[i]++;
                    any = true;
                }
            }
            if (!any) {
                Thread.sleep(1);
            }
        }
        // anything arriving late would be a miscount: give stragglers a moment, then drain
        Thread.sleep(50);
        for (int i = 0; i < 2; i++) {
            buf.clear();
            while ((i == 0 ? a : b).receive(buf) != null) {
                counts[i]++;
                buf.clear();
            }
        }
        return counts;
    }

    /** Inodes of the UDP sockets bound to 127.0.0.1:port, from /proc/net/udp. */
    private static Set<Long> udpInodes(int port) throws IOException {
        String local = String.format(Locale.ROOT, "0100007F:%04X", port);
        Set<Long> inodes = new HashSet<>();
        List<String> lines = Files.readAllLines(Path.of("/proc/net/udp"));
        for (String line : lines.subList(1, lines.size())) {
            String[] f = line.trim().split("\\s+");
            if (f[1].equals(local)) {
                inodes.add(Long.parseLong(f[9]));
            }
        }
        return inodes;
    }

    /** The fd number in this process of the socket with this inode. */
    private static int fdOfSocket(long inode) throws IOException {
        String want = "socket:[" + inode + "]";
        try (Stream<Path> s = Files.list(Path.of("/proc/self/fd"))) {
            for (Path p : s.toList()) {
                try {
                    if (Files.readSymbolicLink(p).toString().equals(want)) {
                        return Integer.parseInt(p.getFileName().toString());
                    }
                } catch (IOException gone) {
                    // the listing's own fd
                }
            }
        }
        throw new AssertionError("no fd for " + want);
    }
}
