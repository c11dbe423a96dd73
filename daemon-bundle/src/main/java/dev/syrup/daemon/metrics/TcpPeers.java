package dev.syrup.daemon.metrics;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.OptionalInt;

/**
 * The uid of the local process at the other end of a TCP connection, from the kernel's socket
 * table ({@code /proc/net/tcp}, {@code /proc/net/tcp6}) of this network namespace: the peer's
 * socket is the row whose local end is our connection's remote end and whose remote end is our
 * local end. TCP has no SO_PEERCRED; a socket's uid is its creator's and cannot be changed
 * by it, so a connection from a local process names that process's user.
 */
final class TcpPeers {

    private static final List<Path> TABLES = List.of(Path.of("/proc/net/tcp"), Path.of("/proc/net/tcp6"));

    private TcpPeers() {
    }

    /** The uid owning the peer's socket, empty when the peer is not a socket of this host's namespace. */
    static OptionalInt uid(InetSocketAddress local, InetSocketAddress remote) throws IOException {
        for (Path table : TABLES) {
            List<String> rows;
            try {
                rows = Files.readAllLines(table);
            } catch (NoSuchFileException e) {
                continue; // no IPv6
            }
            for (String row : rows.subList(Math.min(1, rows.size()), rows.size())) {
                String[] f = row.trim().split("\\s+");
                if (f.length > 7 && same(f[1], remote) && same(f[2], local)) {
                    return OptionalInt.of(Integer.parseInt(f[7]));
                }
            }
        }
        return OptionalInt.empty();
    }

    /** Does {@code hex} ("0100007F:1F90", 32 hex digits for IPv6) name {@code address}? */
    static boolean same(String hex, InetSocketAddress address) {
        int colon = hex.indexOf(':');
        if (colon < 0 || Integer.parseInt(hex.substring(colon + 1), 16) != address.getPort()) {
            return false;
        }
        InetAddress parsed = parse(hex.substring(0, colon));
        return parsed != null && parsed.equals(address.getAddress());
    }

    /**
     * The kernel prints each 32-bit word of the address as a number in host byte order;
     * an IPv4-mapped IPv6 address comes back as an {@link java.net.Inet4Address}.
     */
    static InetAddress parse(String hex) {
        if (hex.length() != 8 && hex.length() != 32) {
            return null;
        }
        byte[] bytes = new byte[hex.length() / 2];
        boolean little = ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN;
        for (int word = 0; word < bytes.length / 4; word++) {
            for (int i = 0; i < 4; i++) {
                int at = word * 8 + i * 2;
                int b = Integer.parseInt(hex.substring(at, at + 2), 16);
                bytes[word * 4 + (little ? 3 - i : i)] = (byte) b;
            }
        }
        try {
            return InetAddress.getByAddress(bytes);
        } catch (UnknownHostException e) {
            return null;
        }
    }
}
