package dev.syrup.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.syrup.api.DeployRequest;
import dev.syrup.api.Deployment;
import dev.syrup.api.Protocol;
import dev.syrup.api.Target;
import dev.syrup.backend.ebpf.SocketSelectHook;
import dev.syrup.bpf.BpfMap;
import dev.syrup.bpf.MapType;
import dev.syrup.isolation.PortDispatcher;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * syrupd's bpffs root: refused when another user made it or could change it, and walked by fds
 * at start, where a link planted in the tree (by root: no one else can write there) is removed
 * or refused, never followed — not by the removal of pins no record explains, not by the
 * adoption of a re-adopted deployment's pinned Maps.
 */
class PinRootKernelTest {

    private static final String COUNT = """
            #include "syrup.h"
            SYR_MAP(hits, 4);
            uint32_t schedule(void *pkt_start, void *pkt_end)
            {
            	uint32_t zero = 0;
            	uint64_t *h = syr_map_lookup_elem(&hits, &zero);
            	if (h)
            		__sync_fetch_and_add(h, 1);
            	return 0;
            }
            """;

    @TempDir
    Path dir;

    private String tag;
    private Path bpffs;
    private Path work;
    private Path canary;
    private Path canaryFile;
    private final List<Path> made = new ArrayList<>();
    private DeploymentManager syrupd;
    private PortDispatcher dispatcher;

    @BeforeAll
    static void kernel() {
        Kernel.require();
    }

    @BeforeEach
    void setUp() throws IOException {
        tag = UUID.randomUUID().toString().substring(0, 8);
        bpffs = Path.of("/sys/fs/bpf/syrup-test-" + tag);
        made.add(bpffs);
        work = dir.resolve("work");
        canary = dir.resolve("canary");
        Files.createDirectories(canary);
        canaryFile = canary.resolve("hits");
        Files.writeString(canaryFile, "canary\n");
    }

    @AfterEach
    void tearDown() throws IOException {
        if (syrupd != null) {
            syrupd.deactivate();
        }
        if (dispatcher != null) {
            dispatcher.close();
        }
        for (Path top : made) {
            if (!Files.exists(top, LinkOption.NOFOLLOW_LINKS)) {
                continue;
            }
            try (Stream<Path> s = Files.walk(top)) { // does not follow links
                for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                    Files.deleteIfExists(p);
                }
            }
        }
    }

    private void boot() throws IOException {
        syrupd = new DeploymentManager(DaemonConfig.of(work.toString(), bpffs.toString()));
        dispatcher = new PortDispatcher();
        syrupd.addHook(new SocketSelectHook(dispatcher));
    }

    /** The framework shuts down: deployments close keeping their Maps and records for the next syrupd. */
    private void shutdown() {
        syrupd.stop(true);
        syrupd.deactivate();
        dispatcher.close();
        syrupd = null;
        dispatcher = null;
    }

    private void assertCanaryIntact() throws IOException {
        assertTrue(Files.exists(canaryFile), "the canary file is still there");
        assertEquals("canary\n", Files.readString(canaryFile));
        assertEquals(0, Files.getAttribute(canaryFile, "unix:uid"));
    }

    private String refusal(Path root) {
        IOException e = assertThrows(IOException.class,
                () -> new DeploymentManager(DaemonConfig.of(work.toString(), root.toString())).deactivate());
        assertTrue(e.getMessage().contains(root.toString()), e.getMessage());
        return e.getMessage();
    }

    @Test
    void aRootAnotherUserCouldChangeIsRefused() throws Exception {
        // bpffs mounted with default options is 1777: any user may make syrupd's root first.
        Files.createDirectory(bpffs);
        Files.setAttribute(bpffs, "unix:uid", 23401);
        String why = refusal(bpffs);
        assertTrue(why.contains("owned by uid 23401, not root"), why);
        assertEquals(23401, Files.getAttribute(bpffs, "unix:uid"), "refused, not taken over");
        try (Stream<Path> s = Files.list(bpffs)) {
            assertEquals(0, s.count(), "nothing made in it");
        }

        Path elsewhere = Path.of("/sys/fs/bpf/syrup-test-" + tag + "-real");
        Path link = Path.of("/sys/fs/bpf/syrup-test-" + tag + "-link");
        made.add(elsewhere);
        made.add(link);
        Files.createDirectory(elsewhere);
        Files.createSymbolicLink(link, elsewhere);
        assertTrue(refusal(link).contains("symbolic link"));
        assertTrue(refusal(link.resolve("below")).contains(link + " is a symbolic link"));

        Path notBpffs = dir.resolve("root");
        assertTrue(refusal(notBpffs).contains("not a bpffs"));

        // A root-owned root open to others is tightened, not refused.
        Files.setAttribute(bpffs, "unix:uid", 0);
        Files.setPosixFilePermissions(bpffs, PosixFilePermissions.fromString("rwxrwxrwx"));
        boot();
        assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(bpffs)));
    }

    @Test
    void recoveryRemovesLinksAndForeignDirectoriesWithoutFollowingThem() throws Exception {
        boot();
        syrupd.deactivate();
        syrupd = null;
        dispatcher.close();
        dispatcher = null;
        // What no syrupd makes, planted as root: links where owner and deployment directories go,
        // a link inside a deployment directory, and a directory an earlier syrupd gave an application.
        Files.createDirectories(bpffs.resolve("uid-9"));
        Files.createSymbolicLink(bpffs.resolve("uid-9").resolve("d99"), canary);
        Files.createSymbolicLink(bpffs.resolve("evil"), canary);
        Files.createDirectories(bpffs.resolve("admin").resolve("d98"));
        Files.createSymbolicLink(bpffs.resolve("admin").resolve("d98").resolve("hits"), canaryFile);
        Path foreign = bpffs.resolve("uid-23401").resolve("d97");
        Files.createDirectories(foreign);
        Files.setAttribute(foreign, "unix:uid", 23401);
        Files.setAttribute(foreign.getParent(), "unix:uid", 23401);

        boot();
        assertCanaryIntact();
        try (Stream<Path> s = Files.list(canary)) {
            assertEquals(List.of(canaryFile), s.toList(), "nothing in the canary directory went");
        }
        try (Stream<Path> s = Files.list(bpffs)) {
            assertEquals(List.of(), s.toList(), "everything no record explains is gone from the root");
        }
        // New ids start after every id seen in the tree.
        try (UdpGroup group = new UdpGroup(1)) {
            Deployment d = syrupd.deploy(new DeployRequest("round_robin", SocketSelectHook.NAME,
                    Target.port(Protocol.UDP, group.port), Map.of(), false, DeployRequest.ADMIN));
            assertEquals("d99", d.id(), "after d98 (d99 was a link, not a deployment)");
            syrupd.undeploy(d.id());
        }
    }

    @Test
    void adoptionAfterARestartFollowsNoLink() throws Exception {
        Path policy = Files.writeString(dir.resolve("count.c"), COUNT);
        Path victimDir = Path.of("/sys/fs/bpf/syrup-test-" + tag + "-victim");
        made.add(victimDir);
        Files.createDirectory(victimDir);
        boot();
        try (UdpGroup group = new UdpGroup(2);
                BpfMap victim = BpfMap.create(MapType.ARRAY, "victim", 4, 8, 4, BpfMap.BPF_F_MMAPABLE)) {
            victim.update(0, 999L);
            victim.pin(victimDir.resolve("hits"));
            Deployment d = syrupd.deploy(new DeployRequest(policy.toString(), SocketSelectHook.NAME,
                    Target.port(Protocol.UDP, group.port), Map.of(), false, DeployRequest.ADMIN));
            syrupd.map(d.id(), "hits").update(1, 7);
            Path pin = bpffs.resolve(DeployRequest.ADMIN).resolve(d.id()).resolve("hits");
            shutdown();
            assertTrue(Files.exists(pin), "kept for the next syrupd");
            // As root: the kept pin replaced by a link to another pinned Map of the same shape.
            Files.delete(pin);
            Files.createSymbolicLink(pin, victimDir.resolve("hits"));

            boot();
            assertEquals(1, syrupd.list().size(), "re-adopted");
            int adopted;
            try (BpfMap m = BpfMap.openPinned(pin)) { // what the deployment pinned
                adopted = m.info().id();
            }
            assertNotEquals(victim.info().id(), adopted, "the link was not followed to the other Map");
            assertEquals(0L, syrupd.map(d.id(), "hits").lookup(1).orElse(-1), "the policy started from an empty Map");
            assertFalse(Files.isSymbolicLink(pin), "the link itself was removed; the deployment pinned its own Map");
            syrupd.map(d.id(), "hits").update(0, 5);
            assertEquals(999L, victim.lookup(0).orElse(-1), "the other Map is untouched");
            assertTrue(Files.exists(victimDir.resolve("hits")), "and still pinned");
            syrupd.undeploy(d.id());
            victim.unpin();
        }
    }
}
