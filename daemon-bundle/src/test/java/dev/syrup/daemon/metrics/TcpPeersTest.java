package dev.syrup.daemon.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.OptionalInt;
import org.junit.jupiter.api.Test;

/** The peer uid lookup on real loopback connections of this (root) test process. */
class TcpPeersTest {

    @Test
    void parsesTheKernelsAddressWords() throws Exception {
        assertEquals(InetAddress.getByName("127.0.0.1"), TcpPeers.parse("0100007F"));
        assertEquals(InetAddress.getByName("127.0.0.1"), TcpPeers.parse("0000000000000000FFFF00000100007F"));
        assertEquals(InetAddress.getByName("::1"), TcpPeers.parse("00000000000000000000000001000000"));
        assertTrue(TcpPeers.same("0100007F:1F90", new InetSocketAddress("127.0.0.1", 8080)));
        assertFalse(TcpPeers.same("0100007F:1F91", new InetSocketAddress("127.0.0.1", 8080)));
    }

    @Test
    void findsTheUidOfALoopbackPeer() throws Exception {
        int uid = ((Number) java.nio.file.Files.getAttribute(java.nio.file.Path.of("/proc/self"), "unix:uid")).intValue();
        for (String host : new String[] {"127.0.0.1", "::1"}) {
            try (ServerSocket server = new ServerSocket(0, 1, InetAddress.getByName(host));
                    Socket client = new Socket(host, server.getLocalPort());
                    Socket accepted = server.accept()) {
                InetSocketAddress local = (InetSocketAddress) accepted.getLocalSocketAddress();
                InetSocketAddress remote = (InetSocketAddress) accepted.getRemoteSocketAddress();
                assertEquals(OptionalInt.of(uid), TcpPeers.uid(local, remote), host);
                // No such peer: a port nobody connected from.
                assertEquals(OptionalInt.empty(), TcpPeers.uid(local, new InetSocketAddress(remote.getAddress(), 1)), host);
            }
        }
    }
}
