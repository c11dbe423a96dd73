package dev.syrup.dist;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assume.assumeTrue;

import java.io.File;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * The built archive unpacked in a fresh directory under /tmp and run by {@code ./syrup}
 * ({@code SYRUP_DIST}) as an operator would: on a free SSH port, with a bpffs root and a control
 * socket of its own, so that other syrupds on this host keep theirs. For the tests that are not
 * Pax Exam because the launcher, bin/setenv and bin/karaf are part of what they test.
 */
final class Distribution implements AutoCloseable {

    final Path launcher;
    final Path dir;
    final int sshPort;
    final Path bpffs;
    final Path runDir;
    /** The Karaf JVM's pid after {@link #start()}; 0 before. */
    long pid;

    private Distribution(Path launcher, Path dir, int sshPort, Path bpffs, Path runDir) {
        this.launcher = launcher;
        this.dir = dir;
        this.sshPort = sshPort;
        this.bpffs = bpffs;
        this.runDir = runDir;
    }

    /**
     * {@link #unpack} and {@link #start}, as root: a test of the running distribution is skipped
     * without root only when kernel tests may be ({@code SYRUP_REQUIRE_KERNEL} unset).
     */
    static Distribution startAsRoot(String prefix, String why) throws Exception {
        boolean root = "root".equals(System.getProperty("user.name"));
        assumeTrue("needs root (" + why + ")", root || "1".equals(System.getenv("SYRUP_REQUIRE_KERNEL")));
        assertTrue("must run as root", root);
        Distribution d = unpack(prefix);
        d.start();
        return d;
    }

    /** Unpacks the archive ({@code syrup.dist.archive}) into /tmp/{@code prefix}XXX and configures it. */
    static Distribution unpack(String prefix) throws Exception {
        Path launcher = Path.of(System.getProperty("syrup.launcher", "../syrup")).toAbsolutePath().normalize();
        Path archive = Path.of(System.getProperty("syrup.dist.archive"));
        // A directory every user may traverse, so that refusals come from Karaf's own modes.
        Path top = Files.createTempDirectory(Path.of("/tmp"), prefix);
        Files.setPosixFilePermissions(top, PosixFilePermissions.fromString("rwxr-xr-x"));
        String tag = top.getFileName().toString();
        Distribution d = new Distribution(launcher, top, freePort(), Path.of("/sys/fs/bpf", tag), Path.of("/run", tag));
        try {
            Result tar = run(List.of("tar", "xzf", archive.toString(), "-C", top.toString(), "--strip-components=1"), 60);
            assertEquals(tar.out(), 0, tar.status());
            Path shellCfg = top.resolve("etc/org.apache.karaf.shell.cfg");
            Files.writeString(shellCfg, Files.readString(shellCfg).replaceAll("(?m)^sshPort\\s*=.*$", "sshPort = " + d.sshPort));
            Files.writeString(top.resolve("etc/dev.syrup.daemon.cfg"), "bpffsRoot = " + d.bpffs + "\n", StandardOpenOption.APPEND);
            Files.writeString(top.resolve("etc/dev.syrup.daemon.control.cfg"), "socketPath = " + d.runDir.resolve("syrupd.sock") + "\n",
                    StandardOpenOption.APPEND);
        } catch (Exception | AssertionError e) {
            d.close();
            throw e;
        }
        return d;
    }

    /** {@code ./syrup start}: returns once the syrup bundles are Active; {@link #pid} is then Karaf's. */
    void start() throws Exception {
        Result r = syrup(200, "start");
        assertEquals(r.out(), 0, r.status());
        pid = Long.parseLong(Files.readString(dir.resolve("karaf.pid")).trim());
        assertTrue("Karaf's pid " + pid + " alive", alive());
    }

    boolean alive() {
        return pid != 0 && ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false);
    }

    /** {@code ./syrup shell CMD}, which must succeed; returns what it printed. */
    String shell(String command) throws Exception {
        Result r = syrup(120, "shell", command);
        assertEquals(command + ": " + r.out(), 0, r.status());
        return r.out();
    }

    Result syrup(int seconds, String... args) throws Exception {
        // A loaded machine (the suite runs other Karafs) may need more than the launcher's 90 s.
        List<String> cmd = new ArrayList<>(List.of("/usr/bin/env", "SYRUP_DIST=" + dir, "SYRUP_START_TIMEOUT=180",
                launcher.toString()));
        cmd.addAll(Arrays.asList(args));
        return run(cmd, seconds);
    }

    /**
     * Stops Karaf if it runs (one that did not finish starting too), removes this distribution's
     * pins and control socket directory, and the distribution unless {@code syrup.exam.keep}.
     */
    @Override
    public void close() throws Exception {
        Path pidFile = dir.resolve("karaf.pid");
        if (pid == 0 && Files.exists(pidFile)) {
            pid = Long.parseLong(Files.readString(pidFile).trim());
        }
        if (alive()) {
            syrup(60, "stop");
        }
        delete(bpffs);
        delete(runDir);
        if (!Boolean.getBoolean("syrup.exam.keep")) {
            delete(dir);
        }
    }

    static void delete(Path dir) throws IOException {
        if (dir != null && Files.isDirectory(dir)) {
            try (Stream<Path> walk = Files.walk(dir)) {
                walk.sorted(Comparator.reverseOrder()).map(Path::toFile).forEach(File::delete);
            }
        }
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    record Result(int status, String out) {
    }

    /** Output to a file, not a pipe: Karaf, started in the background, may hold on to a pipe. */
    static Result run(List<String> cmd, int seconds) throws Exception {
        Path out = Files.createTempFile("syrup-launcher-", ".out");
        try {
            Process p = new ProcessBuilder(cmd).directory(new File("/")).redirectErrorStream(true)
                    .redirectOutput(out.toFile()).redirectInput(new File("/dev/null")).start();
            if (!p.waitFor(seconds, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new AssertionError(cmd + " did not finish in " + seconds + " s: " + Files.readString(out));
            }
            return new Result(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8));
        } finally {
            Files.deleteIfExists(out);
        }
    }
}
