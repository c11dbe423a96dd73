package dev.syrup.isolation;

import dev.syrup.bpf.internal.Native;
import java.io.FileInputStream;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;

/** Moves the calling thread (only it) into a named network namespace: setns(2). */
final class Netns {

    private static final int CLONE_NEWNET = 0x40000000;

    private Netns() {
    }

    static void enter(String name) throws IOException {
        Path ns = Path.of("/run/netns", name);
        long ino = ((Number) Files.getAttribute(ns, "unix:ino")).longValue();
        try (FileInputStream in = new FileInputStream(ns.toFile())) {
            int fd = -1;
            try (DirectoryStream<Path> fds = Files.newDirectoryStream(Path.of("/proc/thread-self/fd"))) {
                for (Path p : fds) {
                    try {
                        String link = Files.readSymbolicLink(p).toString();
                        if (link.equals("net:[" + ino + "]") || link.equals(ns.toString())) {
                            fd = Integer.parseInt(p.getFileName().toString());
                        }
                    } catch (IOException e) {
                        // closed meanwhile
                    }
                }
            }
            if (fd < 0) {
                throw new IOException("cannot find the descriptor of " + ns);
            }
            long nr = "aarch64".equals(System.getProperty("os.arch")) ? 268 : 308;
            long rc = Native.get().libc().syscall(nr, fd, CLONE_NEWNET, 0);
            if (rc != 0) {
                throw new IOException("setns(" + ns + ") failed: " + rc);
            }
        }
    }
}
