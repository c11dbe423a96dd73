package example.sklookup;

import dev.syrup.api.Protocol;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The sockets of syrupd's network namespace on a range of ports, read from /proc: which socket
 * (inode) is bound to which port, by which uid, and which process holds it at which fd.
 */
final class PortSockets {

    /** TCP_CLOSE: an unconnected UDP socket, the only kind sk_lookup may assign a datagram to. */
    private static final int UDP_UNCONNECTED = 0x07;
    /** TCP_LISTEN: the only TCP state sk_lookup may assign a connection to. */
    private static final int TCP_LISTEN = 0x0A;

    /**
     * One socket on a port.
     *
     * @param assignable whether sk_lookup may pick it (unconnected UDP, listening TCP)
     */
    record Socket(int port, long inode, int uid, boolean assignable) {
    }

    /** A socket and where to duplicate it from. */
    record Held(Socket socket, long pid, int fd) {
        @Override
        public String toString() {
            return "port " + socket.port() + " socket inode " + socket.inode() + " pid " + pid + " fd " + fd;
        }
    }

    private final Path proc;

    PortSockets(Path proc) {
        this.proc = proc;
    }

    PortSockets() {
        this(Path.of("/proc"));
    }

    /** Every socket of {@code protocol} bound to a port in {@code [from, to]}, IPv4 and IPv6, by (port, inode). */
    List<Socket> on(Protocol protocol, int from, int to) {
        String table = protocol == Protocol.TCP ? "tcp" : "udp";
        Map<Long, Socket> out = new HashMap<>();
        for (String file : List.of(table, table + "6")) {
            List<String> lines;
            try {
                lines = Files.readAllLines(proc.resolve("net").resolve(file));
            } catch (IOException e) {
                continue; // no IPv6
            }
            for (String line : lines.subList(Math.min(1, lines.size()), lines.size())) {
                String[] f = line.trim().split("\\s+");
                if (f.length < 10) {
                    continue;
                }
                String local = f[1];
                int port = Integer.parseInt(local.substring(local.indexOf(':') + 1), 16);
                if (port < from || port > to) {
                    continue;
                }
                int state = Integer.parseInt(f[3], 16);
                long inode = Long.parseLong(f[9]);
                if (inode == 0) {
                    continue; // a TIME_WAIT entry: no socket
                }
                boolean assignable = protocol == Protocol.TCP ? state == TCP_LISTEN : state == UDP_UNCONNECTED;
                out.put(inode, new Socket(port, inode, Integer.parseInt(f[7]), assignable));
            }
        }
        List<Socket> sorted = new ArrayList<>(out.values());
        sorted.sort(java.util.Comparator.comparingInt(Socket::port).thenComparingLong(Socket::inode));
        return sorted;
    }

    /** For each of {@code sockets}, its first holder found (pid, fd), in the same order; sockets nobody holds are left out. */
    List<Held> holders(List<Socket> sockets) {
        Map<Long, Socket> wanted = new HashMap<>();
        sockets.forEach(s -> wanted.put(s.inode(), s));
        Map<Long, Held> found = new HashMap<>();
        try (DirectoryStream<Path> pids = Files.newDirectoryStream(proc, "[0-9]*")) {
            for (Path pid : pids) {
                try (DirectoryStream<Path> fds = Files.newDirectoryStream(pid.resolve("fd"))) {
                    for (Path fd : fds) {
                        String link;
                        try {
                            link = Files.readSymbolicLink(fd).toString();
                        } catch (IOException e) {
                            continue;
                        }
                        if (!link.startsWith("socket:[")) {
                            continue;
                        }
                        long inode = Long.parseLong(link.substring(8, link.length() - 1));
                        Socket s = wanted.get(inode);
                        if (s != null && !found.containsKey(inode)) {
                            found.put(inode, new Held(s, Long.parseLong(pid.getFileName().toString()),
                                    Integer.parseInt(fd.getFileName().toString())));
                        }
                    }
                } catch (IOException | RuntimeException e) {
                    // the process exited, or is not ours to look into
                }
            }
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        List<Held> out = new ArrayList<>();
        for (Socket s : sockets) {
            Held h = found.get(s.inode());
            if (h != null) {
                out.add(h);
            }
        }
        return out;
    }
}
