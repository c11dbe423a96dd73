package dev.syrup.backend.ebpf;

import dev.syrup.api.Protocol;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * Finds the sockets bound to a port, and the processes holding them, through /proc — how
 * syrupd adopts the sockets of an unmodified application.
 *
 * <p>Executor order is ascending socket inode, which is the order the sockets were created in
 * (inodes of sockfs are handed out increasingly).
 */
final class ProcSockets {

    /** A socket bound to the port, and one (pid, fd) through which it can be duplicated. */
    record Bound(long inode, long pid, int fd) {
        @Override
        public String toString() {
            return "socket inode " + inode + " (pid " + pid + " fd " + fd + ")";
        }
    }

    private static final String TCP_LISTEN = "0A";

    private final Path proc;

    ProcSockets(Path proc) {
        this.proc = proc;
    }

    ProcSockets() {
        this(Path.of("/proc"));
    }

    /** The sockets bound to {@code port}, in executor order. Empty when nobody listens there. */
    List<Bound> bound(Protocol protocol, int port) {
        return bound(inodes(protocol, port));
    }

    /** The holders of these socket inodes, in inode (executor) order; inodes nobody holds are left out. */
    List<Bound> bound(java.util.SortedSet<Long> inodes) {
        if (inodes.isEmpty()) {
            return List.of();
        }
        Map<Long, Bound> found = new HashMap<>();
        try (DirectoryStream<Path> pids = Files.newDirectoryStream(proc, p -> isNumber(p.getFileName().toString()))) {
            List<Path> sorted = new ArrayList<>();
            pids.forEach(sorted::add);
            // Lowest pid first: with forked workers the parent is the natural owner.
            sorted.sort(Comparator.comparingLong(p -> Long.parseLong(p.getFileName().toString())));
            for (Path pidDir : sorted) {
                scanFds(pidDir, inodes, found);
                if (found.size() == inodes.size()) {
                    break;
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return inodes.stream().filter(found::containsKey).map(found::get).toList();
    }

    /** Inodes of the sockets bound to the port, from /proc/net/{udp,udp6,tcp,tcp6}. */
    TreeSet<Long> inodes(Protocol protocol, int port) {
        return new TreeSet<>(owners(protocol, port).keySet());
    }

    /**
     * The sockets bound to the port (TCP: listening; UDP: not connected), inode to the uid that
     * owns each (the tables' uid column), from syrupd's network namespace's
     * /proc/net/{udp,udp6,tcp,tcp6}.
     */
    java.util.TreeMap<Long, Long> owners(Protocol protocol, int port) {
        java.util.TreeMap<Long, Long> out = new java.util.TreeMap<>();
        String base = protocol == Protocol.UDP ? "udp" : "tcp";
        for (String table : List.of(base, base + "6")) {
            Path file = proc.resolve("net").resolve(table);
            List<String> lines;
            try {
                lines = Files.readAllLines(file);
            } catch (NoSuchFileException e) {
                continue; // no IPv6 in this kernel
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            for (String line : lines.subList(Math.min(1, lines.size()), lines.size())) {
                String[] f = line.trim().split("\\s+");
                // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...
                if (f.length < 10) {
                    continue;
                }
                int localPort = Integer.parseInt(f[1].substring(f[1].indexOf(':') + 1), 16);
                if (localPort != port) {
                    continue;
                }
                boolean receiving = protocol == Protocol.TCP
                        ? TCP_LISTEN.equals(f[3])
                        // a connected UDP socket only sees its peer's datagrams: not an executor
                        : remotePort(f[2]) == 0;
                long inode = Long.parseLong(f[9]);
                if (receiving && inode != 0) {
                    out.put(inode, Long.parseLong(f[7]));
                }
            }
        }
        return out;
    }

    private static int remotePort(String addr) {
        return Integer.parseInt(addr.substring(addr.indexOf(':') + 1), 16);
    }

    private static void scanFds(Path pidDir, java.util.Set<Long> wanted, Map<Long, Bound> found) {
        long pid = Long.parseLong(pidDir.getFileName().toString());
        try (DirectoryStream<Path> fds = Files.newDirectoryStream(pidDir.resolve("fd"))) {
            for (Path fd : fds) {
                String link;
                try {
                    link = Files.readSymbolicLink(fd).toString();
                } catch (IOException e) {
                    continue; // closed while we looked
                }
                if (!link.startsWith("socket:[")) {
                    continue;
                }
                long inode = Long.parseLong(link.substring(8, link.length() - 1));
                if (wanted.contains(inode) && !found.containsKey(inode)) {
                    found.put(inode, new Bound(inode, pid, Integer.parseInt(fd.getFileName().toString())));
                }
            }
        } catch (IOException e) {
            // the process exited, or is a kernel thread we may not look into
        }
    }

    private static boolean isNumber(String s) {
        if (s.isEmpty()) {
            return false;
        }
        for (int i = 0; i < s.length(); i++) {
            if (!Character.isDigit(s.charAt(i))) {
                return false;
            }
        }
        return true;
    }
}
