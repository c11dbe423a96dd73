package dev.syrup.daemon.compile;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.syrup.api.SyrupException;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The sandbox's command line and output cap; no clang runs here. */
class CompileSandboxTest {

    @TempDir
    Path dir;

    private static final CompileSandbox.Limits LIMITS = new CompileSandbox.Limits(7, 5, 300, 2, 16);

    @Test
    void commandLimitsThenDropsPrivilegeThenShowsOnlyUsrAndTheCompile() {
        CompileSandbox s = new CompileSandbox("/usr/bin/bwrap", dir.resolve("base"), 4242, LIMITS, true);
        Path work = Path.of("/run/syrup/compile/c123");
        List<String> cmd = s.command(work, List.of("/usr/bin/clang", "-c", "g.c", "-o", "-"));
        String line = String.join(" ", cmd);
        assertEquals(List.of("/usr/bin/prlimit", "--cpu=5:6", "--as=" + (300L << 20), "--fsize=" + (2L << 20), "--nofile=64",
                "--core=0", "--", "/usr/bin/setpriv", "--reuid=4242", "--regid=4242", "--clear-groups", "--", "/usr/bin/bwrap"),
                cmd.subList(0, 13), line);
        assertEquals(List.of("--", "/usr/bin/clang", "-c", "g.c", "-o", "-"), cmd.subList(cmd.size() - 6, cmd.size()), line);
        for (String flag : List.of("--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session",
                "--clearenv", "--remount-ro")) {
            assertTrue(cmd.contains(flag), flag + " missing: " + line);
        }
        assertTrue(line.contains("--ro-bind /usr /usr"), line);
        assertTrue(line.contains("--ro-bind " + work + " /w"), line);
        assertTrue(line.contains("--chdir /w"), line);
        assertTrue(line.contains("--size " + (2L << 20) + " --tmpfs /tmp"), "a private, bounded /tmp: " + line);
        // Binds are exactly /usr and the compile's directory: no /etc, /home, /root, host /tmp, /proc, /sys.
        List<String> binds = new java.util.ArrayList<>();
        for (int i = 0; i < cmd.size(); i++) {
            if (cmd.get(i).endsWith("bind") || cmd.get(i).equals("--proc")) {
                binds.add(cmd.get(i) + " " + cmd.get(i + 1));
            }
        }
        assertEquals(List.of("--ro-bind /usr", "--ro-bind " + work), binds, line);
        assertFalse(cmd.contains("--share-net"), line);
    }

    @Test
    void anUnprivilegedCallerIsNotSwitched() {
        CompileSandbox s = new CompileSandbox("/usr/bin/bwrap", dir.resolve("base"), 4242, LIMITS, false);
        List<String> cmd = s.command(Path.of("/x"), List.of("clang"));
        assertFalse(cmd.contains("/usr/bin/setpriv"), String.join(" ", cmd));
        assertEquals("/usr/bin/bwrap", cmd.get(7));
    }

    @Test
    void noBubblewrapNoCompile() {
        CompileSandbox s = new CompileSandbox(dir.resolve("no-bwrap").toString(), dir.resolve("base"), 65534, LIMITS);
        SyrupException e = assertThrows(SyrupException.class, () -> s.run(Map.of("p.c", new byte[0]), List.of("/usr/bin/clang")));
        assertEquals(SyrupException.Kind.UNAVAILABLE, e.kind());
        assertTrue(e.getMessage().contains(dir.resolve("no-bwrap") + " is missing (install bubblewrap)"), e.getMessage());
    }

    @Test
    void outputIsCappedAndTheRestReadAndDropped() {
        byte[] data = new byte[200_000];
        Arrays.fill(data, (byte) 'x');
        AtomicInteger overflows = new AtomicInteger();
        BoundedOutput o = new BoundedOutput(new ByteArrayInputStream(data), 64 << 10, overflows::incrementAndGet);
        o.run();
        assertEquals(64 << 10, o.bytes().length);
        assertEquals(200_000, o.total(), "everything was read");
        assertTrue(o.truncated());
        assertEquals(1, overflows.get(), "the overflow action runs once");

        BoundedOutput small = new BoundedOutput(new ByteArrayInputStream("ok\n".getBytes(StandardCharsets.UTF_8)), 4, null);
        small.run();
        assertEquals("ok\n", small.text());
        assertFalse(small.truncated());
        BoundedOutput exact = new BoundedOutput(new ByteArrayInputStream(new byte[] {1, 2, 3, 4}), 4, overflows::incrementAndGet);
        exact.run();
        assertArrayEquals(new byte[] {1, 2, 3, 4}, exact.bytes());
        assertFalse(exact.truncated());
        assertEquals(1, overflows.get(), "exactly the cap is no overflow");
    }
}
