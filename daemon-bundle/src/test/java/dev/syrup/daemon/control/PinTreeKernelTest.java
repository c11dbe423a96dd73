package dev.syrup.daemon.control;

import static dev.syrup.daemon.control.ControlTestSupport.UID_A;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.syrup.bpf.BpfMap;
import dev.syrup.bpf.Fd;
import dev.syrup.bpf.MapType;
import dev.syrup.bpf.UnixSockets;
import dev.syrup.client.Message;
import dev.syrup.daemon.control.ControlTestSupport.App;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Comparator;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Attack class 2 of the tenancy work: pin directories. syrupd's bpffs tree is root's alone, and
 * syrupd acts in it through fds, so a deployment's pin directory replaced by a symbolic link (to
 * a canary directory holding a root-owned file of the Map's name) neither lets undeploy or an
 * application's exit unlink that file nor makes OPEN_MAP hand out another Map. The tenant runs as
 * a non-root uid against the in-process syrupd; what only root could still do (plant links inside
 * the tree) is simulated by the test itself.
 */
class PinTreeKernelTest {

    private ControlTestSupport syrupd;
    private Path canaryTop;
    private Path canary;
    private Path canaryFile;

    @BeforeAll
    static void kernel() {
        ControlTestSupport.requireKernel();
    }

    @BeforeEach
    void start() throws Exception {
        syrupd = new ControlTestSupport();
        canaryTop = Path.of("/tmp", "syrup-canary-" + UUID.randomUUID().toString().substring(0, 8));
        canary = canaryTop.resolve("canary");
        Files.createDirectories(canary);
        Files.setPosixFilePermissions(canaryTop, PosixFilePermissions.fromString("rwxr-xr-x"));
        Files.setPosixFilePermissions(canary, PosixFilePermissions.fromString("rwxr-xr-x"));
        canaryFile = canary.resolve("seen"); // the name of the policy's Map: what an unpin through the link would hit
        Files.writeString(canaryFile, "canary\n");
        Files.setPosixFilePermissions(canaryFile, PosixFilePermissions.fromString("rw-r--r--"));
    }

    @AfterEach
    void stop() throws Exception {
        syrupd.close();
        try (Stream<Path> s = Files.walk(canaryTop)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    private void assertCanaryIntact(String when) throws IOException {
        assertTrue(Files.exists(canaryFile), when + ": the canary file is still there");
        assertEquals("canary\n", Files.readString(canaryFile), when + ": unchanged");
        assertEquals(0, Files.getAttribute(canaryFile, "unix:uid"), when + ": still root's");
        assertEquals("rw-r--r--", PosixFilePermissions.toString(Files.getPosixFilePermissions(canaryFile)), when);
    }

    /** Runs {@code sh -c script} as {@code uid} (gid = uid, no groups); returns exit status and output. */
    private static String[] asUser(int uid, String script) throws IOException, InterruptedException {
        Process p = new ProcessBuilder("setpriv", "--reuid=" + uid, "--regid=" + uid, "--clear-groups", "sh", "-c", script)
                .directory(Path.of("/tmp").toFile()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        return new String[] {Integer.toString(p.exitValue()), out};
    }

    /** The attack of the old layout: move {@code <id>} away and put a link to the canary directory in its place. */
    private String[] replaceByLink(int uid, Path dir) throws IOException, InterruptedException {
        return asUser(uid, "mv " + dir + " " + dir + "-moved && ln -s " + canary + " " + dir);
    }

    private static void assertRefused(String[] r) {
        assertNotEquals("0", r[0], "the tenant replaced its pin directory: " + r[1]);
        assertTrue(r[1].contains("Permission denied"), r[1]);
    }

    private void awaitNoDeployment() throws InterruptedException {
        long end = System.currentTimeMillis() + 5000;
        while (!syrupd.deployer().list().isEmpty() && System.currentTimeMillis() < end) {
            Thread.sleep(50);
        }
        assertEquals(0, syrupd.deployer().list().size(), "the application's deployment went with it");
    }

    @Test
    void aTenantCannotTurnUndeployOrExitIntoAnUnlinkOutsideTheTree() throws Exception {
        Path rr = syrupd.file("rr_count.c", TenantIsolationKernelTest.RR_COUNT);
        App a = syrupd.app(UID_A);
        int port = Integer.parseInt(a.ok("open 2"));

        String id = a.ok("deploy " + rr + " " + port);
        Path dir = syrupd.bpffs.resolve("uid-" + UID_A).resolve(id);
        assertTrue(Files.exists(dir.resolve("seen")));
        String[] attack = replaceByLink(UID_A, dir);
        String[] look = asUser(UID_A, "ls " + syrupd.bpffs);
        a.ok("undeploy " + id);
        assertCanaryIntact("after undeploy");
        assertRefused(attack);
        assertRefused(look);
        assertTrue(Files.isDirectory(dir.getParent().getParent(), LinkOption.NOFOLLOW_LINKS));

        // The same through the application's exit, which removes what it deployed.
        String id2 = a.ok("deploy " + rr + " " + port);
        Path dir2 = syrupd.bpffs.resolve("uid-" + UID_A).resolve(id2);
        String[] attack2 = replaceByLink(UID_A, dir2);
        String[] plant = asUser(UID_A, "ln -s " + canary + " " + dir2.resolve("wipe"));
        a.exit();
        awaitNoDeployment();
        assertCanaryIntact("after the application exited");
        assertRefused(attack2);
        assertRefused(plant);
        assertTrue(!Files.exists(dir2, LinkOption.NOFOLLOW_LINKS), "its pins and directory are gone");
    }

    @Test
    void linksPlantedInTheTreeAreNotFollowed() throws Exception {
        Path rr = syrupd.file("rr_count.c", TenantIsolationKernelTest.RR_COUNT);
        App a = syrupd.app(UID_A);
        int port = Integer.parseInt(a.ok("open 2"));
        String id = a.ok("deploy " + rr + " " + port);
        Path dir = syrupd.bpffs.resolve("uid-" + UID_A).resolve(id);

        try (BpfMap victim = BpfMap.create(MapType.ARRAY, "victim", 4, 8, 4, BpfMap.BPF_F_MMAPABLE)) {
            int own = pinnedMapId(dir.resolve("seen"));
            // As root (a tenant no longer can): the pin replaced by another Map of the same shape.
            Files.delete(dir.resolve("seen"));
            victim.pin(dir.resolve("seen"));
            try (Fd fd = openMapFd(id, "seen"); BpfMap got = BpfMap.adopt(fd)) {
                assertEquals(own, got.info().id(), "OPEN_MAP hands out the deployment's own Map, not its pin's");
                assertNotEquals(victim.info().id(), got.info().id());
            }
            assertEquals("mapped", a.ok("openmap " + id + " seen"));
            a.ok("set 3 4242");
            assertEquals(4242L, syrupd.deployer().map(id, "seen").lookup(3).orElse(-1));
            assertEquals(0L, victim.lookup(3).orElse(-1), "the application wrote into its own Map");

            // As root: the deployment's directory moved away and a link to the canary in its place.
            Files.move(dir, dir.resolveSibling(id + "-moved"));
            Files.createSymbolicLink(dir, canary);
            a.ok("deploy " + rr + " " + port + " replace"); // pins the new version through the directory held
            assertTrue(Files.exists(dir.resolveSibling(id + "-moved").resolve("seen")));
            assertCanaryIntact("after a replace");
            try (Fd fd = openMapFd(id, "seen"); BpfMap got = BpfMap.adopt(fd)) {
                assertEquals(pinnedMapId(dir.resolveSibling(id + "-moved").resolve("seen")), got.info().id());
            }
            a.ok("undeploy " + id);
            assertCanaryIntact("after undeploy");
            assertTrue(Files.isSymbolicLink(dir), "the link was left as it was: not followed, not taken for the directory");
            try (Stream<Path> left = Files.list(dir.resolveSibling(id + "-moved"))) {
                assertEquals(0, left.count(), "the deployment's pins went from the directory it held");
            }
        }
    }

    /** The id of the kernel map pinned at {@code pin} (the test is root). */
    private static int pinnedMapId(Path pin) {
        try (BpfMap m = BpfMap.openPinned(pin)) {
            return m.info().id();
        }
    }

    /** OPEN_MAP over the control socket (as root, the administrator): the map fd of the reply. */
    private Fd openMapFd(String id, String name) throws Exception {
        try (Fd conn = UnixSockets.connect(syrupd.socket())) {
            UnixSockets.writeFully(conn, Message.request(Message.OPEN_MAP).add("id", id).add("map", name).encode());
            byte[] buf = new byte[Message.HEADER + Message.MAX_BODY];
            UnixSockets.Received first = UnixSockets.receive(conn, buf, 0, buf.length);
            int have = first.bytes();
            while (have < Message.HEADER) {
                have += UnixSockets.read(conn, buf, have, buf.length - have);
            }
            int len = Message.bodyLength(java.util.Arrays.copyOf(buf, Message.HEADER));
            while (have < Message.HEADER + len) {
                have += UnixSockets.read(conn, buf, have, buf.length - have);
            }
            Message reply = Message.decode(java.util.Arrays.copyOfRange(buf, Message.HEADER, Message.HEADER + len), len);
            assertEquals("ok", reply.get(Message.STATUS).orElse(""), reply.toString());
            assertNotNull(first.fd(), "the reply carries the map's fd");
            return first.fd();
        }
    }
}
