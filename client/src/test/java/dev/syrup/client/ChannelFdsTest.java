package dev.syrup.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.syrup.api.SyrupException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.channels.DatagramChannel;
import java.nio.channels.NetworkChannel;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Finding a channel's descriptor number without reflection (no privileges needed). */
class ChannelFdsTest {

    private static String inodeOfFd(int fd) throws Exception {
        return Files.readSymbolicLink(Path.of("/proc/self/fd/" + fd)).toString();
    }

    @Test
    void tellsApartEverySocketOfOneReuseportGroupAndRestoresTheOption() throws Exception {
        List<DatagramChannel> group = new ArrayList<>();
        try {
            int port = 0;
            for (int i = 0; i < 4; i++) {
                DatagramChannel ch = DatagramChannel.open();
                ch.setOption(StandardSocketOptions.SO_REUSEPORT, true);
                ch.bind(new InetSocketAddress("127.0.0.1", port));
                port = ((InetSocketAddress) ch.getLocalAddress()).getPort();
                group.add(ch);
            }
            Set<Integer> fds = new HashSet<>();
            Set<String> inodes = new HashSet<>();
            for (DatagramChannel ch : group) {
                int before = ch.getOption(StandardSocketOptions.SO_SNDBUF);
                int fd = ChannelFds.fdOf(ch);
                assertEquals(before, ch.getOption(StandardSocketOptions.SO_SNDBUF), "SO_SNDBUF restored");
                fds.add(fd);
                inodes.add(inodeOfFd(fd));
            }
            assertEquals(4, fds.size(), "four distinct descriptors: " + fds);
            assertEquals(4, inodes.size(), "of four distinct sockets: " + inodes);
        } finally {
            for (DatagramChannel ch : group) {
                ch.close();
            }
        }
    }

    @Test
    void findsTcpListenerAndAcceptedConnection() throws Exception {
        try (ServerSocketChannel server = ServerSocketChannel.open().bind(new InetSocketAddress("127.0.0.1", 0));
             SocketChannel client = SocketChannel.open(server.getLocalAddress());
             SocketChannel accepted = server.accept()) {
            int l = ChannelFds.fdOf(server);
            int a = ChannelFds.fdOf(accepted);
            int c = ChannelFds.fdOf(client);
            assertEquals(3, Set.of(l, a, c).size());
            assertTrue(inodeOfFd(l).startsWith("socket:["));
        }
    }

    @Test
    void unboundChannelIsInvalid() throws Exception {
        try (NetworkChannel ch = DatagramChannel.open()) {
            SyrupException e = assertThrows(SyrupException.class, () -> ChannelFds.fdOf(ch));
            assertEquals(SyrupException.Kind.INVALID, e.kind());
        }
    }
}
