package dev.syrup.daemon.control;

import dev.syrup.api.DeployRequest;
import dev.syrup.api.Deployment;
import dev.syrup.api.Protocol;
import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Who may do what over the control socket. The caller is who the kernel says connected
 * ({@code SO_PEERCRED}); uid 0 is the administrator, anyone else is the application
 * {@code uid-<uid>}. An application may deploy only from syrupd's network namespace, only on a
 * port one of its own process's sockets is bound to (listening, for TCP) and no other uid's socket
 * is bound to, and touch only deployments it owns. These checks come before the deployment
 * manager and give the early, clear error; the hook checks the port's sockets again where it
 * adopts them ({@code DeployRequest.executorUid}).
 */
public final class TenantRules {

    private final Path proc;

    public TenantRules() {
        this(Path.of("/proc"));
    }

    /** @param proc the proc file system (tests pass a fake tree) */
    public TenantRules(Path proc) {
        this.proc = proc;
    }

    /** The application name of a uid: {@code admin} for 0, else {@code uid-<uid>}. */
    public static String application(int uid) {
        return uid == 0 ? DeployRequest.ADMIN : "uid-" + Integer.toUnsignedString(uid);
    }

    public static boolean isAdmin(int uid) {
        return uid == 0;
    }

    /** {@code DENIED} unless {@code app} owns {@code d} or is the administrator. */
    public static void checkOwner(String app, Deployment d) throws SyrupException {
        if (!DeployRequest.ADMIN.equals(app) && !d.owner().equals(app)) {
            // Do not tell one application what another runs.
            throw new SyrupException(Kind.DENIED, "deployment " + d.id() + " does not belong to " + app);
        }
    }

    /**
     * {@code DENIED} unless process {@code pid} is in syrupd's own network namespace, the one the
     * hooks act in (its /proc/&lt;pid&gt;/ns/net and /proc/self/ns/net are the same nsfs inode):
     * a port held in another namespace says nothing about the host's. The caller checks
     * afterwards, through its pidfd, that {@code pid} is still the process it means.
     */
    public void checkNetns(long pid) throws SyrupException {
        String mine;
        String theirs;
        try {
            mine = nsKey(proc.resolve("self").resolve("ns").resolve("net"));
            theirs = nsKey(proc.resolve(Long.toString(pid)).resolve("ns").resolve("net"));
        } catch (IOException | UnsupportedOperationException e) {
            throw new SyrupException(Kind.DENIED, "cannot tell the network namespace of process " + pid + ": " + e.getMessage(), e);
        }
        if (!mine.equals(theirs)) {
            throw new SyrupException(Kind.DENIED, "the caller's network namespace is not syrupd's (process " + pid
                    + " is in net:" + theirs + "): an application may deploy only from the network namespace"
                    + " whose ports the hooks act on");
        }
    }

    /** Device and inode of a namespace file, which identify the namespace. */
    private static String nsKey(Path ns) throws IOException {
        Object dev = Files.getAttribute(ns, "unix:dev");
        Object ino = Files.getAttribute(ns, "unix:ino");
        return dev + ":" + ino;
    }

    /**
     * {@code DENIED} unless process {@code pid} holds a socket of {@code protocol} bound to
     * {@code port} (listening, for TCP) and every socket bound to that port belongs to {@code uid}
     * (its /proc/&lt;pid&gt;/fd against the /proc/&lt;pid&gt;/net tables, whose uid column names each
     * socket's owner; after {@link #checkNetns} these are syrupd's namespace's tables).
     */
    public void checkPort(long pid, int uid, Protocol protocol, int port) throws SyrupException {
        if (isAdmin(uid)) {
            return;
        }
        Map<String, Long> bound;
        Set<String> held;
        try {
            bound = inodesOnPort(pid, protocol, port);
            held = socketInodes(pid);
        } catch (IOException e) {
            throw new SyrupException(Kind.DENIED, "cannot verify that process " + pid + " holds a socket on "
                    + protocol.label() + "/" + port + ": " + e.getMessage(), e);
        }
        if (held.stream().noneMatch(bound::containsKey)) {
            throw new SyrupException(Kind.DENIED, application(uid) + " (pid " + pid + ") holds no " + protocol.label()
                    + (protocol == Protocol.TCP ? " listening" : "") + " socket bound to port " + port
                    + ": an application may deploy only on its own ports");
        }
        // Nobody else may be on the port (another address, another uid): the hook acts on the port.
        for (Map.Entry<String, Long> e : bound.entrySet()) {
            if (e.getValue() != Integer.toUnsignedLong(uid)) {
                throw new SyrupException(Kind.DENIED, protocol.label() + " port " + port + " is also bound by "
                        + application((int) (long) e.getValue()) + ": an application may deploy only on a port it alone holds");
            }
        }
    }

    /**
     * Sockets bound to {@code port} in the tables of {@code pid}'s network namespace (TCP: listening
     * ones), inode to owning uid.
     */
    Map<String, Long> inodesOnPort(long pid, Protocol protocol, int port) throws IOException {
        String suffix = String.format(Locale.ROOT, ":%04X", port);
        Map<String, Long> out = new HashMap<>();
        List<String> tables = protocol == Protocol.UDP ? List.of("udp", "udp6") : List.of("tcp", "tcp6");
        for (String t : tables) {
            Path p = proc.resolve(Long.toString(pid)).resolve("net").resolve(t);
            if (!Files.exists(p)) {
                continue;
            }
            for (String line : Files.readAllLines(p)) {
                String[] f = line.trim().split("\\s+");
                if (f.length > 9 && f[1].endsWith(suffix) && !"0".equals(f[9])
                        && (protocol == Protocol.UDP || "0A".equals(f[3]))) {
                    try {
                        out.put(f[9], Long.parseLong(f[7]));
                    } catch (NumberFormatException e) {
                        // the header line
                    }
                }
            }
        }
        return out;
    }

    /** Inodes of the sockets process {@code pid} holds. */
    Set<String> socketInodes(long pid) throws IOException {
        Set<String> out = new HashSet<>();
        try (DirectoryStream<Path> fds = Files.newDirectoryStream(proc.resolve(Long.toString(pid)).resolve("fd"))) {
            for (Path fd : fds) {
                try {
                    String link = Files.readSymbolicLink(fd).toString();
                    if (link.startsWith("socket:[") && link.endsWith("]")) {
                        out.add(link.substring(8, link.length() - 1));
                    }
                } catch (IOException e) {
                    // closed meanwhile
                }
            }
        }
        return out;
    }
}
