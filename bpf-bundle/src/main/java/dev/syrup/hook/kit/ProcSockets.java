package dev.syrup.hook.kit;

import dev.syrup.api.Protocol;
import dev.syrup.bpf.BpfException;
import dev.syrup.bpf.Errno;
import dev.syrup.bpf.Fd;
import dev.syrup.bpf.Pidfd;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * The sockets of syrupd's network namespace and who holds them, read from /proc — how a hook
 * adopts the sockets of an unmodified application as its executors: which sockets are bound to
 * a port ({@code /proc/net/{udp,udp6,tcp,tcp6}}: inode, owner uid, state), which process holds
 * each at which fd ({@code /proc/PID/fd}), and a duplicate of one ({@link #duplicate}: pidfd_getfd,
 * then checked by inode and owner, the check that cannot race).
 *
 * <p>Executor order is ascending socket inode, which is creation order within one CPU's inode
 * batch.
 */
public final class ProcSockets {

    /**
     * A socket bound to a port.
     *
     * @param receiving whether it receives the port's new inputs: an unconnected UDP socket,
     *                  a listening TCP one (what SO_REUSEPORT and sk_lookup can pick)
     */
    public record Socket(int port, long inode, long uid, boolean receiving) {
    }

    /** A socket, and one (pid, fd) through which it can be duplicated. */
    public record Bound(long inode, long pid, int fd) {
        @Override
        public String toString() {
            return "socket inode " + inode + " (pid " + pid + " fd " + fd + ")";
        }
    }

    private static final String TCP_LISTEN = "0A";

    private final Path proc;

    public ProcSockets(Path proc) {
        this.proc = proc;
    }

    public ProcSockets() {
        this(Path.of("/proc"));
    }

    /** The receiving sockets bound to {@code port}, with their holders, in executor order. Empty when nobody listens there. */
    public List<Bound> bound(Protocol protocol, int port) {
        return bound(inodes(protocol, port));
    }

    /**
     * The holders of these socket inodes, in the order given (a sorted set: inode order);
     * inodes nobody holds are left out. With several holders (forked workers), the lowest pid.
     */
    public List<Bound> bound(Collection<Long> inodes) {
        if (inodes.isEmpty()) {
            return List.of();
        }
        java.util.Set<Long> wanted = new LinkedHashSet<>(inodes);
        Map<Long, Bound> found = new HashMap<>();
        try (DirectoryStream<Path> pids = Files.newDirectoryStream(proc, p -> isNumber(p.getFileName().toString()))) {
            List<Path> sorted = new ArrayList<>();
            pids.forEach(sorted::add);
            // Lowest pid first: with forked workers the parent is the natural owner.
            sorted.sort(Comparator.comparingLong(p -> Long.parseLong(p.getFileName().toString())));
            for (Path pidDir : sorted) {
                scanFds(pidDir, wanted, found);
                if (found.size() == wanted.size()) {
                    break;
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return wanted.stream().filter(found::containsKey).map(found::get).toList();
    }

    /** Inodes of the receiving sockets bound to the port. */
    public TreeSet<Long> inodes(Protocol protocol, int port) {
        return new TreeSet<>(owners(protocol, port).keySet());
    }

    /** The receiving sockets bound to the port: inode to the uid that owns it. */
    public TreeMap<Long, Long> owners(Protocol protocol, int port) {
        TreeMap<Long, Long> out = new TreeMap<>();
        for (Socket s : on(protocol, port, port)) {
            if (s.receiving()) {
                out.put(s.inode(), s.uid());
            }
        }
        return out;
    }

    /**
     * Every socket of {@code protocol} bound to a port in {@code [from, to]}, IPv4 and IPv6,
     * receiving or not (a connected UDP socket, a TCP connection), ordered by port, then inode.
     */
    public List<Socket> on(Protocol protocol, int from, int to) {
        Map<Long, Socket> out = new HashMap<>();
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
                int localPort = port(f[1]);
                if (localPort < from || localPort > to) {
                    continue;
                }
                long inode = Long.parseLong(f[9]);
                if (inode == 0) {
                    continue; // TIME_WAIT: no socket
                }
                boolean receiving = protocol == Protocol.TCP
                        ? TCP_LISTEN.equals(f[3])
                        // a connected UDP socket only sees its peer's datagrams: not an executor
                        : port(f[2]) == 0;
                out.put(inode, new Socket(localPort, inode, Long.parseLong(f[7]), receiving));
            }
        }
        List<Socket> sorted = new ArrayList<>(out.values());
        sorted.sort(Comparator.comparingInt(Socket::port).thenComparingLong(Socket::inode));
        return sorted;
    }

    /**
     * The socket {@code b} names, duplicated into this process (pidfd_getfd), when it still is
     * that socket (same inode: the holder may have closed the fd and reused its number since
     * /proc was read) and, with {@code uid}, one that uid owns. Empty when the holder exited or
     * closed it meanwhile, or the check fails. The caller closes the duplicate: a hook keeps no
     * application's socket alive.
     */
    public static Optional<Fd> duplicate(Bound b, OptionalInt uid) {
        try (Fd pidfd = Pidfd.open(b.pid())) {
            Fd socket = Pidfd.getfd(pidfd, b.fd());
            if (!is(socket, b.inode(), uid)) {
                socket.close();
                return Optional.empty();
            }
            return Optional.of(socket);
        } catch (BpfException e) {
            if (e.errno() == Errno.ESRCH || e.errno() == Errno.EBADF) {
                return Optional.empty();
            }
            throw e;
        }
    }

    /** Whether {@code socket} (an fd of this process) is socket {@code inode} and, with {@code uid}, that uid's. */
    public static boolean is(Fd socket, long inode, OptionalInt uid) {
        try {
            Path self = Path.of("/proc/self/fd/" + socket.get());
            long ino = ((Number) Files.getAttribute(self, "unix:ino")).longValue();
            int owner = (Integer) Files.getAttribute(self, "unix:uid");
            return ino == inode && (uid.isEmpty() || owner == uid.getAsInt());
        } catch (IOException | UnsupportedOperationException e) {
            return false;
        }
    }

    private static int port(String addr) {
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
