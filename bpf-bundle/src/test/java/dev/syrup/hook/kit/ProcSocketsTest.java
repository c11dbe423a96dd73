package dev.syrup.hook.kit;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.syrup.api.Protocol;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Socket discovery over a made-up /proc: no privileges, no kernel. */
class ProcSocketsTest {

    private static final String HEADER =
            "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n";

    @TempDir
    Path proc;

    private void table(String name, String... rows) throws IOException {
        Files.createDirectories(proc.resolve("net"));
        Files.writeString(proc.resolve("net").resolve(name), HEADER + String.join("\n", rows) + "\n");
    }

    private void fd(long pid, int fd, String target) throws IOException {
        Path dir = Files.createDirectories(proc.resolve(Long.toString(pid)).resolve("fd"));
        Files.createSymbolicLink(dir.resolve(Integer.toString(fd)), Path.of(target));
    }

    private static String row(String local, String remote, String state, long inode) {
        return " 1: " + local + " " + remote + " " + state + " 00000000:00000000 00:00000000 00000000 0 0 " + inode + " 2 0 0";
    }

    @Test
    void udpSocketsOnThePortInInodeOrderWithTheirHolders() throws IOException {
        table("udp",
                row("0100007F:2328", "00000000:0000", "07", 300), // 127.0.0.1:9000
                row("0100007F:2328", "00000000:0000", "07", 100),
                row("0100007F:2329", "00000000:0000", "07", 200), // port 9001: not ours
                row("0100007F:2328", "0100007F:C000", "01", 400)); // connected: not an executor
        table("udp6", row("00000000000000000000000000000000:2328", "00000000000000000000000000000000:0000", "07", 150));
        fd(77, 5, "socket:[300]");
        fd(77, 4, "socket:[100]");
        fd(12, 9, "socket:[150]");
        fd(12, 3, "/dev/null");
        fd(77, 6, "socket:[400]");

        List<ProcSockets.Bound> bound = new ProcSockets(proc).bound(Protocol.UDP, 9000);

        assertEquals(List.of(new ProcSockets.Bound(100, 77, 4), new ProcSockets.Bound(150, 12, 9),
                new ProcSockets.Bound(300, 77, 5)), bound);
    }

    @Test
    void tcpTakesOnlyListeners() throws IOException {
        table("tcp",
                row("0100007F:1F90", "00000000:0000", "0A", 10), // LISTEN on 8080
                row("0100007F:1F90", "0100007F:D000", "01", 11)); // an accepted connection
        fd(5, 3, "socket:[10]");
        fd(5, 4, "socket:[11]");

        assertEquals(List.of(new ProcSockets.Bound(10, 5, 3)), new ProcSockets(proc).bound(Protocol.TCP, 8080));
    }

    @Test
    void nobodyOnThePortIsEmpty() throws IOException {
        table("udp", row("0100007F:2328", "00000000:0000", "07", 1));
        assertEquals(List.of(), new ProcSockets(proc).bound(Protocol.UDP, 9999));
    }
}
