package dev.syrup.dist;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assume.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import dev.syrup.dist.Distribution.Result;
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

    static Distribution dist;

    @BeforeClass
    public static void start() throws Exception {
        dist = Distribution.startAsRoot("syrup-launcher-", "tests act as uid " + TENANT + " with setpriv");
    }

    @AfterClass
    public static void cleanUp() throws Exception {
        if (dist != null) {
            dist.close();
        }
    }

    /** Attack: log in over SSH with Karaf's default karaf/karaf, as a tenant with the distribution's own client. */
    @Test
    public void a_defaultPasswordRefusedOverSsh() throws Exception {
        Result attack = clientAsTenant("karaf", "karaf", "syrup:hooks");
        assertNotEquals(attack.out(), 0, attack.status());
        assertTrue(attack.out(), attack.out().contains("No more authentication methods available"));
        assertFalse(attack.out(), attack.out().contains("socket_select"));

        // The same route with the operator's password works: the refusal above is the password's.
        Matcher m = Pattern.compile("(?m)^karaf\\s*=\\s*([^,\\s]+),").matcher(Files.readString(dist.dir.resolve("etc/users.properties")));
        assertTrue("operator in users.properties", m.find());
        assertNotEquals("karaf", m.group(1));
        assertTrue("a random password", m.group(1).length() >= 24);
        Result operator = clientAsTenant("karaf", m.group(1), "syrup:hooks");
        assertEquals(operator.out(), 0, operator.status());
        assertTrue(operator.out(), operator.out().contains("socket_select"));
    }

    /**
     * Root's workflow under the umask: compile, deploy, route, undeploy (and what it wrote is
     * then checked private by the next test).
     */
    @Test
    public void b_rootDeploysAPolicy() throws Exception {
        try (SyrupCommandsIT.Group group = new SyrupCommandsIT.Group(2)) {
            Result deploy = dist.syrup(120, "shell", "syrup:deploy round_robin --hook socket_select --port " + group.port);
            assertEquals(deploy.out(), 0, deploy.status());
            String id = deploy.out().strip().substring(deploy.out().strip().lastIndexOf(' ') + 1);
            assertTrue(deploy.out(), id.matches("d\\d+"));
            assertTrue("pins under this test's own root " + dist.bpffs, Files.isDirectory(dist.bpffs));
            group.send(1000);
            assertEquals(1000, group.await(1000));
            assertArrayEquals(new long[] {500, 500}, group.counts());
            Result undeploy = dist.syrup(60, "shell", "syrup:undeploy " + id);
            assertEquals(undeploy.out(), 0, undeploy.status());
        }
    }

    /** Attack: read the credential, the host key, the log, policy sources and records. */
    @Test
    public void c_credentialAndKarafFilesPrivate() throws Exception {
        Result control = asTenant(10, "/bin/ls", dist.dir.resolve("bin").toString());
        assertEquals("the tenant reaches the distribution itself: " + control.out(), 0, control.status());
        for (String file : List.of("etc/users.properties", "etc/keys.properties", "etc/operator.key", "etc/host.key",
                "etc/config.properties", "data/log/karaf.log", "karaf.pid")) {
            Result read = asTenant(10, "/bin/cat", dist.dir.resolve(file).toString());
            assertNotEquals(file + " read by the tenant: " + read.out(), 0, read.status());
            assertTrue(file + ": " + read.out(), read.out().contains("Permission denied"));
        }
        for (String dir : List.of("etc", "data", "data/syrup")) {
            Result list = asTenant(10, "/bin/ls", dist.dir.resolve(dir).toString());
            assertNotEquals(dir + " listed by the tenant: " + list.out(), 0, list.status());
        }
        // Everything Karaf wrote is its owner's alone.
        try (Stream<Path> walk = Stream.concat(Files.walk(dist.dir.resolve("etc")), Files.walk(dist.dir.resolve("data")))) {
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
        Result shell = asTenant(60, "/usr/bin/env", "SYRUP_DIST=" + dist.dir, dist.launcher.toString(), "shell", "syrup:hooks");
        assertNotEquals(shell.out(), 0, shell.status());
        assertFalse(shell.out(), shell.out().contains("socket_select"));
    }

    /** Attack: stop syrupd through the shutdown port, or manage it through JMX or read the metrics. */
    @Test
    public void d_listensOnTheSshPortOnly() throws Exception {
        assertFalse("no shutdown port file", Files.exists(dist.dir.resolve("data/port")));
        Result ss = Distribution.run(List.of("ss", "-ltnpH"), 10);
        assertEquals(ss.out(), 0, ss.status());
        List<String> ports = new ArrayList<>();
        Matcher m = Pattern.compile("(?m)^\\S+\\s+\\d+\\s+\\d+\\s+\\S*:(\\d+)\\s+.*pid=" + dist.pid + ",").matcher(ss.out());
        while (m.find()) {
            ports.add(m.group(1));
        }
        assertEquals(ss.out(), List.of(Integer.toString(dist.sshPort)), ports);
    }

    @Test
    public void e_rootShellWorks() throws Exception {
        Result r = dist.syrup(60, "shell", "syrup:hooks");
        assertEquals(r.out(), 0, r.status());
        assertTrue(r.out(), r.out().contains("socket_select"));
        assertTrue("the shell logs in with the operator key", Files.readString(dist.dir.resolve("etc/keys.properties"))
                .lines().anyMatch(l -> l.startsWith("karaf = AAAA")));
        Result status = dist.syrup(10, "status");
        assertTrue(status.out(), status.status() == 0 && status.out().contains("running (pid " + dist.pid + ")"));
    }

    @Test
    public void f_systemdUnitVerifies() throws Exception {
        Path unit = dist.dir.resolve("bin/contrib/syrupd.service");
        assertTrue(Files.isRegularFile(unit));
        boolean have = Files.isExecutable(Path.of("/usr/bin/systemd-analyze"));
        assumeTrue("systemd-analyze not installed", have || "1".equals(System.getenv("SYRUP_REQUIRE_KERNEL")));
        Path dir = Files.createTempDirectory("syrup-unit-");
        try {
            Path installed = dir.resolve("syrupd.service");
            Files.writeString(installed, Files.readString(unit).replace("/opt/syrup", dist.dir.toString()));
            Result r = Distribution.run(List.of("systemd-analyze", "verify", installed.toString()), 60);
            assertEquals(r.out(), 0, r.status());
            assertEquals("no warnings", "", r.out().strip());
        } finally {
            Distribution.delete(dir);
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
            Result deploy = dist.syrup(120, "shell", "syrup:deploy round_robin --hook socket_select --port " + group.port);
            assertEquals(deploy.out(), 0, deploy.status());
            String id = deploy.out().strip().substring(deploy.out().strip().lastIndexOf(' ') + 1);
            Path record = dist.dir.resolve("data/syrup/deployments/" + id + ".properties");
            assertTrue(record + " while deployed", Files.exists(record));

            Result r = dist.syrup(60, "stop");
            assertEquals(r.out(), 0, r.status());
            assertFalse(r.out(), r.out().contains("killing"));
            assertFalse(ProcessHandle.of(dist.pid).map(ProcessHandle::isAlive).orElse(false));
            String log = Files.readString(dist.dir.resolve("data/log/karaf.log"));
            assertTrue("syrup-daemon stopped by the framework", log.contains("Unregistering commands for bundle syrup-daemon"));
            assertTrue("kept for re-adoption: " + record, Files.exists(record));
        }
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
                    command, dist.dir.resolve("bin/client").toString(), Integer.toString(dist.sshPort), user, password);
        } finally {
            Distribution.delete(data);
        }
    }

    static Result asTenant(int seconds, String... cmd) throws Exception {
        List<String> full = new ArrayList<>(List.of("setpriv", "--reuid=" + TENANT, "--regid=" + TENANT, "--clear-groups",
                "/usr/bin/env", "-i", "PATH=/usr/bin:/bin", "HOME=/", "JAVA_HOME=" + System.getProperty("java.home")));
        full.addAll(Arrays.asList(cmd));
        return Distribution.run(full, seconds);
    }
}
