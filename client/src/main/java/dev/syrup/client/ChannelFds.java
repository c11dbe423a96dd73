package dev.syrup.client;

import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
import dev.syrup.client.internal.Unix;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.SocketOption;
import java.net.StandardSocketOptions;
import java.nio.channels.DatagramChannel;
import java.nio.channels.NetworkChannel;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * The file descriptor number of a JDK channel in this process, without reflection: the socket
 * inodes bound to the channel's local port ({@code /proc/self/net/{udp,tcp}{,6}}) are matched
 * against {@code /proc/self/fd}. When several sockets of this process share the port (an
 * SO_REUSEPORT group, or a listener and its accepted connections), the channel is told apart by
 * briefly giving it a distinctive {@code SO_SNDBUF} ({@code SO_RCVBUF} for a listener) through
 * the channel and reading that option on each candidate fd (getsockopt); the original value is
 * restored.
 */
final class ChannelFds {

    private static final int SO_SNDBUF = 7, SO_RCVBUF = 8;

    private ChannelFds() {
    }

    static int fdOf(NetworkChannel channel) throws SyrupException {
        boolean udp;
        if (channel instanceof DatagramChannel) {
            udp = true;
        } else if (channel instanceof ServerSocketChannel || channel instanceof SocketChannel) {
            udp = false;
        } else {
            throw new SyrupException(Kind.INVALID, "not a DatagramChannel, ServerSocketChannel or SocketChannel: " + channel);
        }
        try {
            SocketAddress local = channel.getLocalAddress();
            if (!(local instanceof InetSocketAddress isa) || isa.getPort() == 0) {
                throw new SyrupException(Kind.INVALID, "the channel is not bound to a port: " + channel);
            }
            Set<String> inodes = inodes(udp, isa.getPort());
            List<Integer> candidates = new ArrayList<>();
            try (DirectoryStream<Path> fds = Files.newDirectoryStream(Path.of("/proc/self/fd"))) {
                for (Path p : fds) {
                    String link;
                    try {
                        link = Files.readSymbolicLink(p).toString();
                    } catch (IOException e) {
                        continue; // closed meanwhile
                    }
                    if (link.startsWith("socket:[") && inodes.contains(link.substring(8, link.length() - 1))) {
                        candidates.add(Integer.parseInt(p.getFileName().toString()));
                    }
                }
            }
            if (candidates.isEmpty()) {
                throw new SyrupException(Kind.NOT_FOUND, "no socket of this process is bound to port " + isa.getPort());
            }
            if (candidates.size() == 1) {
                return candidates.get(0);
            }
            return probe(channel, candidates);
        } catch (IOException e) {
            throw new SyrupException(Kind.INVALID, "cannot find the channel's descriptor: " + e.getMessage(), e);
        }
    }

    private static int probe(NetworkChannel channel, List<Integer> candidates) throws IOException, SyrupException {
        Unix unix = Unix.get();
        // SO_SNDBUF where the channel offers it (a listening socket does not): receive buffers
        // may have been raised beyond rmem_max by a privileged process, which a restore could not redo.
        boolean listening = channel instanceof ServerSocketChannel;
        SocketOption<Integer> probe = listening ? StandardSocketOptions.SO_RCVBUF : StandardSocketOptions.SO_SNDBUF;
        int option = listening ? SO_RCVBUF : SO_SNDBUF;
        int original = channel.getOption(probe);
        try {
            for (int attempt = 0; attempt < 16; attempt++) {
                int[] before = new int[candidates.size()];
                for (int i = 0; i < before.length; i++) {
                    before[i] = unix.socketOption(candidates.get(i), option);
                }
                int v = 48_000 + 2 * (int) (Math.random() * 40_000);
                if (v == original) {
                    continue;
                }
                channel.setOption(probe, v);
                int found = -1;
                int changed = 0;
                for (int i = 0; i < before.length; i++) {
                    if (unix.socketOption(candidates.get(i), option) != before[i]) {
                        found = candidates.get(i);
                        changed++;
                    }
                }
                channel.setOption(probe, original);
                if (changed == 1) {
                    return found;
                }
            }
            List<Integer> seen = new ArrayList<>();
            for (int fd : candidates) {
                seen.add(unix.socketOption(fd, option));
            }
            throw new SyrupException(Kind.INVALID, "cannot tell the channel apart among descriptors " + candidates
                    + " (option " + option + " values " + seen + ")");
        } finally {
            channel.setOption(probe, original); // the JDK reports what it was given, so this restores it
        }
    }

    /** Inodes of this process's sockets bound to {@code port}, from /proc/self/net. */
    private static Set<String> inodes(boolean udp, int port) throws IOException {
        String suffix = String.format(Locale.ROOT, ":%04X", port);
        Set<String> out = new HashSet<>();
        for (String table : udp ? List.of("udp", "udp6") : List.of("tcp", "tcp6")) {
            Path p = Path.of("/proc/self/net", table);
            if (!Files.exists(p)) {
                continue;
            }
            for (String line : Files.readAllLines(p)) {
                String[] f = line.trim().split("\\s+");
                if (f.length > 9 && f[1].endsWith(suffix)) {
                    out.add(f[9]);
                }
            }
        }
        return out;
    }
}
