package dev.syrup.bpf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.OptionalLong;
import java.util.UUID;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@link PinDir} against the real bpffs: pins made, opened and removed through a directory fd,
 * and a directory or pin replaced by a symbolic link (to a canary directory outside bpffs)
 * changes nothing outside the tree: links are refused or removed themselves, never followed.
 */
class PinDirKernelTest extends KernelTestSupport {

    private Path root;
    private Path canary;
    private Path canaryFile;

    @BeforeEach
    void tree() throws IOException {
        String tag = UUID.randomUUID().toString().substring(0, 8);
        root = KernelSupport.BPFFS.resolve("syrup-pindir-test-" + tag);
        canary = Files.createTempDirectory("syrup-canary-" + tag);
        canaryFile = canary.resolve("t_pin");
        Files.writeString(canaryFile, "canary");
    }

    @AfterEach
    void cleanUp() throws IOException {
        for (Path top : List.of(root, canary)) {
            if (!Files.exists(top, LinkOption.NOFOLLOW_LINKS)) {
                continue;
            }
            try (Stream<Path> s = Files.walk(top)) { // walk does not follow links
                for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                    Files.deleteIfExists(p);
                }
            }
        }
    }

    private void assertCanaryIntact() throws IOException {
        assertTrue(Files.exists(canaryFile), "the canary file is still there");
        assertEquals("canary", Files.readString(canaryFile, StandardCharsets.UTF_8));
        assertEquals(0, Files.getAttribute(canaryFile, "unix:uid"));
    }

    @Test
    void createsPinsOpensAndUnpinsThroughTheDirectoryFd() {
        try (PinDir d = PinDir.create(root.resolve("app").resolve("d1"), 0700);
                BpfMap m = BpfMap.create(MapType.ARRAY, "t_pin", 4, 8, 4, 0)) {
            assertTrue(d.onBpffs());
            PinDir.Stat st = d.stat();
            assertTrue(st.isDirectory());
            assertEquals(0700, st.permissions());
            assertEquals(0, st.uid());
            m.update(1, 77L);
            m.pin(d, "t_pin");
            assertEquals(List.of("t_pin"), d.list());
            assertTrue(d.stat("t_pin").orElseThrow().isRegular());
            assertEquals(0600, d.stat("t_pin").orElseThrow().permissions());
            try (BpfMap again = BpfMap.openPinned(d, "t_pin")) {
                assertEquals(m.info().id(), again.info().id());
                assertEquals(OptionalLong.of(77L), again.lookup(1));
            }
            assertTrue(m.claimPin(d, "t_pin"));
            assertEquals(Errno.EEXIST, assertThrows(BpfException.class, () -> m.pin(d, "t_pin")).errno());
            m.unpin();
            assertTrue(d.list().isEmpty());
            assertTrue(d.delete(), "the empty directory is removed through its parent's fd");
            assertFalse(Files.exists(root.resolve("app").resolve("d1")));
        }
    }

    @Test
    void aDirectoryReplacedByALinkIsNotFollowed() throws IOException {
        Path d1 = root.resolve("app").resolve("d1");
        try (PinDir d = PinDir.create(d1, 0700); BpfMap m = BpfMap.create(MapType.ARRAY, "t_pin", 4, 8, 4, 0)) {
            m.pin(d, "t_pin");
            // What a tenant owning app/ could do under the old layout: move d1 away, put a link in its place.
            Files.move(d1, root.resolve("app").resolve("d1-moved"));
            Files.createSymbolicLink(d1, canary);
            m.unpin(); // the pin in the directory held, not <link>/t_pin
            assertCanaryIntact();
            try (Stream<Path> left = Files.list(root.resolve("app").resolve("d1-moved"))) {
                assertTrue(left.findAny().isEmpty(), "the real pin went");
            }
            assertFalse(d.delete(), "the link is not the directory held: nothing removed");
            assertTrue(Files.isSymbolicLink(d1));
            assertCanaryIntact();
        }
        assertEquals(Errno.ELOOP, assertThrows(BpfException.class, () -> PinDir.open(d1)).errno());
        assertEquals(Errno.ELOOP, assertThrows(BpfException.class, () -> PinDir.create(d1.resolve("x"), 0700)).errno());
        assertCanaryIntact();
    }

    @Test
    void aPinReplacedByALinkIsRefused() throws IOException {
        try (PinDir d = PinDir.create(root.resolve("app").resolve("d1"), 0700);
                BpfMap mine = BpfMap.create(MapType.ARRAY, "t_pin", 4, 8, 4, 0);
                BpfMap other = BpfMap.create(MapType.ARRAY, "t_other", 4, 8, 4, 0)) {
            other.pin(d, "t_other");
            Files.createSymbolicLink(root.resolve("app").resolve("d1").resolve("t_pin"), root.resolve("app").resolve("d1").resolve("t_other"));
            assertEquals(Errno.ELOOP, assertThrows(BpfException.class, () -> BpfMap.openPinned(d, "t_pin")).errno(),
                    "a link to another pinned map is not opened");
            assertFalse(mine.claimPin(d, "t_pin"));
            assertEquals(Errno.ELOOP, assertThrows(BpfException.class, () -> d.unpin("t_pin")).errno());
            assertEquals(Errno.ELOOP, assertThrows(BpfException.class, () -> d.mkdir("t_pin", 0700)).errno());
            assertTrue(d.stat("t_pin").orElseThrow().isLink());
            Files.delete(root.resolve("app").resolve("d1").resolve("t_pin"));
            Files.createSymbolicLink(root.resolve("app").resolve("d1").resolve("t_pin"), canaryFile);
            assertTrue(d.unlink("t_pin"), "unlink removes the link itself");
            assertCanaryIntact();
            other.unpin();
        }
    }

    @Test
    void removeTreeRemovesLinksWithoutFollowingThem() throws IOException {
        try (PinDir r = PinDir.create(root, 0700); BpfMap m = BpfMap.create(MapType.ARRAY, "t_pin", 4, 8, 4, 0)) {
            try (PinDir a = r.mkdir("app", 0700); PinDir d = a.mkdir("d1", 0700)) {
                m.pin(d, "t_pin");
            }
            Files.createSymbolicLink(root.resolve("app").resolve("d2"), canary);
            Files.createSymbolicLink(root.resolve("app").resolve("d1").resolve("wipe"), canary);
            List<Path> links = r.removeTree("app");
            assertEquals(2, links.size(), links.toString());
            assertFalse(Files.exists(root.resolve("app"), LinkOption.NOFOLLOW_LINKS));
            assertCanaryIntact();
        }
    }
}
