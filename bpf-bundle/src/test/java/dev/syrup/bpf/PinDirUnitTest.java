package dev.syrup.bpf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.syrup.bpf.internal.Native;
import dev.syrup.linux.LibC;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import jnr.ffi.Pointer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** {@link PinDir} over the fake native layer: which calls it makes, with which flags. */
class PinDirUnitTest {

    private static final long SYS_OPENAT2 = 437;
    private static final long NO_LINKS = LibC.RESOLVE_NO_SYMLINKS | LibC.RESOLVE_NO_MAGICLINKS;

    private final FakeNative fake = new FakeNative();
    private AutoCloseable restore;
    /** One line per raw call: {@code openat2 DIRFD PATH FLAGS RESOLVE} or {@code bpf CMD PATH FILE_FLAGS PATH_FD}. */
    private final List<String> calls = new ArrayList<>();
    private int nextFd = 20;
    private int failOpenWith;

    @BeforeEach
    void install() {
        restore = fake.install();
        fake.on("close", a -> 0);
        fake.on("syscall", a -> {
            long nr = (Long) a[0];
            if (nr == SYS_OPENAT2) {
                Pointer how = (Pointer) a[3];
                calls.add("openat2 " + a[1] + " " + ((Pointer) a[2]).getString(0) + " 0x" + Long.toHexString(how.getLong(0))
                        + " 0x" + Long.toHexString(how.getLong(16)));
                if (failOpenWith != 0) {
                    fake.errno = failOpenWith;
                    return -1L;
                }
                return (long) nextFd++;
            }
            Pointer attr = (Pointer) a[2];
            String path = Pointer.wrap(Native.get().runtime(), attr.getLong(0)).getString(0, 256, StandardCharsets.UTF_8);
            calls.add("bpf " + a[1] + " " + path + " 0x" + Integer.toHexString(attr.getInt(12)) + " " + attr.getInt(16));
            return 30L;
        });
    }

    @AfterEach
    void uninstall() throws Exception {
        restore.close();
    }

    @Test
    void opensComponentByComponentPinsAndGetsRelativeToTheDirectoryFd() {
        int dirFlags = LibC.O_DIRECTORY | LibC.O_CLOEXEC;
        try (PinDir d = PinDir.open(Path.of("/sys/fs/bpf/x"))) {
            assertEquals(List.of(
                    "openat2 -100 / 0x" + Integer.toHexString(dirFlags) + " 0x4",
                    "openat2 20 sys 0x" + Integer.toHexString(dirFlags) + " 0x" + Long.toHexString(NO_LINKS | LibC.RESOLVE_BENEATH),
                    "openat2 21 fs 0x" + Integer.toHexString(dirFlags) + " 0x" + Long.toHexString(NO_LINKS | LibC.RESOLVE_BENEATH),
                    "openat2 22 bpf 0x" + Integer.toHexString(dirFlags) + " 0x" + Long.toHexString(NO_LINKS | LibC.RESOLVE_BENEATH),
                    "openat2 23 x 0x" + Integer.toHexString(dirFlags) + " 0x" + Long.toHexString(NO_LINKS | LibC.RESOLVE_BENEATH)),
                    calls);
            assertEquals(24, d.fd());
            calls.clear();

            d.pin(7, "busy");
            assertEquals(List.of("bpf 6 busy 0x4000 24"), calls, "BPF_OBJ_PIN with BPF_F_PATH_FD and the directory's fd");
            calls.clear();

            try (Fd got = d.get("busy")) {
                assertEquals(30, got.get());
            }
            long below = NO_LINKS | LibC.RESOLVE_BENEATH | LibC.RESOLVE_NO_XDEV;
            assertEquals(List.of(
                    "openat2 24 busy 0x" + Integer.toHexString(LibC.O_PATH | LibC.O_CLOEXEC) + " 0x" + Long.toHexString(below),
                    "bpf 7 /proc/self/fd/25 0x0 0"), calls, "BPF_OBJ_GET of the very entry opened without following a link");
        }
    }

    @Test
    void aLinkOnTheWayIsRefused() {
        failOpenWith = Errno.ELOOP;
        BpfException e = assertThrows(BpfException.class, () -> PinDir.open(Path.of("/sys/fs/bpf/x")));
        assertEquals(Errno.ELOOP, e.errno());
    }

    @Test
    void namesAreSingleComponents() {
        try (PinDir d = PinDir.open(Path.of("/x"))) {
            for (String bad : new String[] {"..", ".", "a/b", "", "/etc"}) {
                assertThrows(IllegalArgumentException.class, () -> d.pin(7, bad), bad);
                assertThrows(IllegalArgumentException.class, () -> d.get(bad), bad);
                assertThrows(IllegalArgumentException.class, () -> d.unlink(bad), bad);
            }
        }
    }
}
