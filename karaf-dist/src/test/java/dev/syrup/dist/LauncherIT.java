package dev.syrup.dist;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotEquals;
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
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.AfterClass;
import org.junit.BeforeClass;
import org.junit.FixMethodOrder;
import org.junit.Test;
import org.junit.runners.MethodSorters;

/**
 * The management plane of the real distribution, started by {@code ./syrup start} (the built
 * archive unpacked in a fresh directory, on a free SSH port), attacked by a local tenant, uid
 * 23403: the default login karaf/karaf is refused over SSH, the operator credential and Karaf's
 * files are out of its reach, and syrupd listens on nothing but the SSH port (no shutdown port,
 * no JMX RMI registry or connector, no metrics endpoint). Root's {@code ./syrup shell} works,
 * {@code ./syrup stop} stops Karaf gracefully, and the shipped systemd unit passes
 * {@code systemd-analyze verify}. Not Pax Exam: bin/setenv and bin/karaf are part of what is
 * tested.
 */
@FixMethodOrder(MethodSorters.NAME_ASCENDING)
public class LauncherIT {

    static final int TENANT = 23403;

    static Path launcher;
    static Path dist;
    static int sshPort;
    static long pid;
    static Path bpffs;
    static Path runDir;

    @BeforeClass
    public static void start() throws Exception {
        boolean root = "root".equals(System.getProperty("user.name"));
        assumeTrue("needs root (tests act as uid " + TENANT + " with setpriv)",
                root || "1".equals(System.getenv("SYRUP_REQUIRE_KERNEL")));
        assertTrue("must run as root", root);
        launcher = Path.of(System.getProperty("syrup.launcher", "../syrup")).toAbsolutePath().normalize();
        Path archive = Path.of(System.getProperty("syrup.dist.archive"));
        // A directory every user may traverse, so that refusals below come from Karaf's own modes.
        Path top = Files.createTempDirectory(Path.of("/tmp"), "syrup-launcher-");
        Files.setPosixFilePermissions(top, PosixFilePermissions.fromString("rwxr-xr-x"));
        run(List.of("tar", "xzf", archive.toString(), "-C", top.toString(), "--strip-components=1"), 60);
        dist = top;
        try (ServerSocket s = new ServerSocket(0)) {
            sshPort = s.getLocalPort();
        }
        Path shellCfg = dist.resolve("etc/org.apache.karaf.shell.cfg");
        Files.writeString(shellCfg, Files.readString(shellCfg).replaceAll("(?m)^sshPort\\s*=.*$", "sshPort = " + sshPort));
        // Its own pin root and control socket: other syrupds on this host keep theirs.
        String tag = top.getFileName().toString();
        bpffs = Path.of("/sys/fs/bpf", tag);
        runDir = Path.of("/run", tag);
        Files.writeString(dist.resolve("etc/dev.syrup.daemon.cfg"), "bpffsRoot = " + bpffs + "\n", StandardOpenOption.APPEND);
        Files.writeString(dist.resolve("etc/dev.syrup.daemon.control.cfg"), "socketPath = " + runDir.resolve("syrupd.sock") + "\n",
                StandardOpenOption.APPEND);
        Result r = syrup(200, "start");
        assertEquals(r.out, 0, r.status);
        pid = Long.parseLong(Files.readString(dist.resolve("karaf.pid")).trim());
    }

    @AfterClass
    public static void cleanUp() throws Exception {
        if (dist == null) {
            return;
        }
        Path pidFile = dist.resolve("karaf.pid");
        if (pid == 0 && Files.exists(pidFile)) {
            pid = Long.parseLong(Files.readString(pidFile).trim()); // a start that did not finish
        }
        if (ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)) {
            syrup(60, "stop");
        }
        for (Path dir : new Path[] {bpffs, runDir}) {
            if (dir != null && Files.isDirectory(dir)) {
                try (Stream<Path> walk = Files.walk(dir)) {
                    walk.sorted(Comparator.reverseOrder()).map(Path::toFile).forEach(File::delete);
                }
            }
        }
        if (!Boolean.getBoolean("syrup.exam.keep")) {
            try (Stream<Path> walk = Files.walk(dist)) {
                walk.sorted(Comparator.reverseOrder()).map(Path::toFile).forEach(File::delete);
            }
        }
    }

    /** Attack: log in over SSH with Karaf's default karaf/karaf, as a tenant with the distribution's own client. */
    @Test
    public void a_defaultPasswordRefusedOverSsh() throws Exception {
        Result attack = clientAsTenant("karaf", "karaf", "syrup:hooks");
        assertNotEquals(attack.out, 0, attack.status);
        assertTrue(attack.out, attack.out.contains("No more authentication methods available"));
        assertFalse(attack.out, attack.out.contains("socket_select"));

        // The same route with the operator's password works: the refusal above is the password's.
        Matcher m = Pattern.compile("(?m)^karaf\\s*=\\s*([^,\\s]+),").matcher(Files.readString(dist.resolve("etc/users.properties")));
        assertTrue("operator in users.properties", m.find());
        assertNotEquals("karaf", m.group(1));
        assertTrue("a random password", m.group(1).length() >= 24);
        Result operator = clientAsTenant("karaf", m.group(1), "syrup:hooks");
        assertEquals(operator.out, 0, operator.status);
        assertTrue(operator.out, operator.out.contains("socket_select"));
    }

    /**
     * Root's workflow under the umask: compile, deploy, route, undeploy (and what it wrote is
     * then checked private by the next test).
     */
    @Test
    public void b_rootDeploysAPolicy() throws Exception {
        try (SyrupCommandsIT.Group group = new SyrupCommandsIT.Group(2)) {
            Result deploy = syrup(120, "shell", "syrup:deploy round_robin --hook socket_select --port " + group.port);
            assertEquals(deploy.out, 0, deploy.status);
            String id = deploy.out.strip().substring(deploy.out.strip().lastIndexOf(' ') + 1);
            assertTrue(deploy.out, id.matches("d\\d+"));
            assertTrue("pins under this test's own root " + bpffs, Files.isDirectory(bpffs));
            group.send(1000);
            assertEquals(1000, group.await(1000));
            assertArrayEquals(new long[] {500, 500}, group.counts());
            Result undeploy = syrup(60, "shell", "syrup:undeploy " + id);
            assertEquals(undeploy.out, 0, undeploy.status);
        }
    }

    /** Attack: read the credential, the host key, the log, policy sources and records. */
    @Test
    public void c_credentialAndKarafFilesPrivate() throws Exception {
        Result control = asTenant(10, "/bin/ls", dist.resolve("bin").toString());
        assertEquals("the tenant reaches the distribution itself: " + control.out, 0, control.status);
        for (String file : List.of("etc/users.properties", "etc/keys.properties", "etc/operator.key", "etc/host.key",
                "etc/config.properties", "data/log/karaf.log", "karaf.pid")) {
            Result read = asTenant(10, "/bin/cat", dist.resolve(file).toString());
            assertNotEquals(file + " read by the tenant: " + read.out, 0, read.status);
            assertTrue(file + ": " + read.out, read.out.contains("Permission denied"));
        }
        for (String dir : List.of("etc", "data", "data/syrup")) {
            Result list = asTenant(10, "/bin/ls", dist.resolve(dir).toString());
            assertNotEquals(dir + " listed by the tenant: " + list.out, 0, list.status);
        }
        // Everything Karaf wrote is its owner's alone.
        try (Stream<Path> walk = Stream.concat(Files.walk(dist.resolve("etc")), Files.walk(dist.resolve("data")))) {
            List<String> open = walk.filter(p -> !Files.isSymbolicLink(p)).filter(p -> {
                try {
                    String mode = PosixFilePermissions.toString(Files.getPosixFilePermissions(p));
                    return !mode.endsWith("------");
                } catch (IOException e) {
                    return false; // gone meanwhile
                }
            }).map(Path::toString).toList();
            assertEquals("files open to group or others", List.of(), open);
        }
        Result shell = asTenant(60, "/usr/bin/env", "SYRUP_DIST=" + dist, launcher.toString(), "shell", "syrup:hooks");
        assertNotEquals(shell.out, 0, shell.status);
        assertFalse(shell.out, shell.out.contains("socket_select"));
    }

    /** Attack: stop syrupd through the shutdown port, or manage it through JMX or read the metrics. */
    @Test
    public void d_listensOnTheSshPortOnly() throws Exception {
        assertFalse("no shutdown port file", Files.exists(dist.resolve("data/port")));
        Result ss = run(List.of("ss", "-ltnpH"), 10);
        assertEquals(ss.out, 0, ss.status);
        List<String> ports = new ArrayList<>();
        Matcher m = Pattern.compile("(?m)^\\S+\\s+\\d+\\s+\\d+\\s+\\S*:(\\d+)\\s+.*pid=" + pid + ",").matcher(ss.out);
        while (m.find()) {
            ports.add(m.group(1));
        }
        assertEquals(ss.out, List.of(Integer.toString(sshPort)), ports);
    }

    @Test
    public void e_rootShellWorks() throws Exception {
        Result r = syrup(60, "shell", "syrup:hooks");
        assertEquals(r.out, 0, r.status);
        assertTrue(r.out, r.out.contains("socket_select"));
        assertTrue("the shell logs in with the operator key", Files.readString(dist.resolve("etc/keys.properties"))
                .lines().anyMatch(l -> l.startsWith("karaf = AAAA")));
        Result status = syrup(10, "status");
        assertTrue(status.out, status.status == 0 && status.out.contains("running (pid " + pid + ")"));
    }

    @Test
    public void f_systemdUnitVerifies() throws Exception {
        Path unit = dist.resolve("bin/contrib/syrupd.service");
        assertTrue(Files.isRegularFile(unit));
        boolean have = Files.isExecutable(Path.of("/usr/bin/systemd-analyze"));
        assumeTrue("systemd-analyze not installed", have || "1".equals(System.getenv("SYRUP_REQUIRE_KERNEL")));
        Path dir = Files.createTempDirectory("syrup-unit-");
        try {
            Path installed = dir.resolve("syrupd.service");
            Files.writeString(installed, Files.readString(unit).replace("/opt/syrup", dist.toString()));
            Result r = run(List.of("systemd-analyze", "verify", installed.toString()), 60);
            assertEquals(r.out, 0, r.status);
            assertEquals("no warnings", "", r.out.strip());
        } finally {
            try (Stream<Path> walk = Files.walk(dir)) {
                walk.sorted(Comparator.reverseOrder()).map(Path::toFile).forEach(File::delete);
            }
        }
    }

    /**
     * Last: without a shutdown port, ./syrup stop ends Karaf by SIGTERM, which stops the
     * framework: a live deployment is closed as at a shutdown (its record stays for the next
     * start), not undeployed.
     */
    @Test
    public void z_stopIsGraceful() throws Exception {
        try (SyrupCommandsIT.Group group = new SyrupCommandsIT.Group(2)) {
            Result deploy = syrup(120, "shell", "syrup:deploy round_robin --hook socket_select --port " + group.port);
            assertEquals(deploy.out, 0, deploy.status);
            String id = deploy.out.strip().substring(deploy.out.strip().lastIndexOf(' ') + 1);
            Path record = dist.resolve("data/syrup/deployments/" + id + ".properties");
            assertTrue(record + " while deployed", Files.exists(record));

            Result r = syrup(60, "stop");
            assertEquals(r.out, 0, r.status);
            assertFalse(r.out, r.out.contains("killing"));
            assertFalse(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false));
            String log = Files.readString(dist.resolve("data/log/karaf.log"));
            assertTrue("syrup-daemon stopped by the framework", log.contains("Unregistering commands for bundle syrup-daemon"));
            assertTrue("kept for re-adoption: " + record, Files.exists(record));
        }
    }

    record Result(int status, String out) {
    }

    static Result syrup(int seconds, String... args) throws Exception {
        // A loaded machine (the suite runs other Karafs) may need more than the launcher's 90 s.
        List<String> cmd = new ArrayList<>(List.of("/usr/bin/env", "SYRUP_DIST=" + dist, "SYRUP_START_TIMEOUT=180",
                launcher.toString()));
        cmd.addAll(Arrays.asList(args));
        return run(cmd, seconds);
    }

    /**
     * The distribution's bin/client run by the tenant, in batch mode (the command on stdin), with
     * its own data directory (Karaf's is closed to it).
     */
    static Result clientAsTenant(String user, String password, String command) throws Exception {
        Path data = Files.createTempDirectory("syrup-tenant-");
        Files.setPosixFilePermissions(data, PosixFilePermissions.fromString("rwxrwxrwx"));
        Files.setPosixFilePermissions(Files.createDirectory(data.resolve("tmp")), PosixFilePermissions.fromString("rwxrwxrwx"));
        try {
            return asTenant(60, "KARAF_DATA=" + data, "/bin/sh", "-c", "echo \"$0\" | \"$1\" -b -h 127.0.0.1 -a \"$2\" -u \"$3\" -p \"$4\"",
                    command, dist.resolve("bin/client").toString(), Integer.toString(sshPort), user, password);
        } finally {
            try (Stream<Path> walk = Files.walk(data)) {
                walk.sorted(Comparator.reverseOrder()).map(Path::toFile).forEach(File::delete);
            }
        }
    }

    static Result asTenant(int seconds, String... cmd) throws Exception {
        List<String> full = new ArrayList<>(List.of("setpriv", "--reuid=" + TENANT, "--regid=" + TENANT, "--clear-groups",
                "/usr/bin/env", "-i", "PATH=/usr/bin:/bin", "HOME=/", "JAVA_HOME=" + System.getProperty("java.home")));
        full.addAll(Arrays.asList(cmd));
        return run(full, seconds);
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
