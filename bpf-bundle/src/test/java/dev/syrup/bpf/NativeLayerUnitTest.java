package dev.syrup.bpf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.OptionalLong;
import jnr.ffi.Pointer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Unit tests over the fake native layer: no kernel, no privileges. */
class NativeLayerUnitTest {

    private final FakeNative fake = new FakeNative();
    private AutoCloseable restore;

    @BeforeEach
    void install() {
        restore = fake.install();
        fake.on("close", a -> 0);
    }

    @AfterEach
    void uninstall() throws Exception {
        restore.close();
    }

    /** A fake map: bpf_map_create returns fd 7, info says HASH, 4-byte keys, 8-byte values. */
    private BpfMap fakeMap() {
        fake.on("bpf_map_create", a -> 7);
        fake.on("bpf_obj_get_info_by_fd", a -> {
            Pointer info = (Pointer) a[1];
            info.putInt(0, MapType.HASH.id());
            info.putInt(4, 99);
            info.putInt(8, 4);
            info.putInt(12, 8);
            info.putInt(16, 16);
            info.putInt(20, 0);
            info.put(24, "t_fake".getBytes(StandardCharsets.UTF_8), 0, 6);
            return 0;
        });
        return BpfMap.create(MapType.HASH, "t_fake", 4, 8, 16, 0);
    }

    @Test
    void negativeLibbpfResultBecomesBpfExceptionWithErrnoName() {
        fake.on("bpf_map_create", a -> -Errno.EPERM);
        BpfException e = assertThrows(BpfException.class, () -> BpfMap.create(MapType.ARRAY, "x", 4, 8, 1, 0));
        assertEquals(Errno.EPERM, e.errno());
        assertEquals("EPERM", e.errnoName());
        assertTrue(e.operation().startsWith("bpf_map_create(ARRAY, x)"), e.operation());
        assertTrue(e.getMessage().contains("EPERM (1) Operation not permitted"), e.getMessage());
    }

    @Test
    void mapOperationsMapErrnos() {
        try (BpfMap m = fakeMap()) {
            assertEquals("t_fake", m.name());
            assertEquals(MapType.HASH, m.type());
            fake.on("bpf_map_lookup_elem", a -> -Errno.ENOENT);
            assertEquals(OptionalLong.empty(), m.lookup(1));
            fake.on("bpf_map_lookup_elem", a -> {
                // lookup(int) passes native buffers by address: key first, then the value to fill
                jnr.ffi.Runtime rt = jnr.ffi.Runtime.getSystemRuntime();
                assertEquals(1, rt.getMemoryManager().newPointer((Long) a[1]).getInt(0));
                rt.getMemoryManager().newPointer((Long) a[2]).put(0, BpfMap.le64(0x1122334455667788L), 0, 8);
                return 0;
            });
            assertEquals(OptionalLong.of(0x1122334455667788L), m.lookup(1), "little-endian decoding");
            fake.on("bpf_map_update_elem", a -> -Errno.E2BIG);
            BpfException full = assertThrows(BpfException.class, () -> m.update(3, 4L));
            assertEquals("E2BIG", full.errnoName());
            fake.on("bpf_map_delete_elem", a -> -Errno.ENOENT);
            assertFalse(m.delete(3));
            fake.on("bpf_map_delete_elem", a -> -Errno.EINVAL);
            assertEquals(Errno.EINVAL, assertThrows(BpfException.class, () -> m.delete(3)).errno());
            byte[][] written = new byte[2][];
            fake.on("bpf_map_update_elem", a -> {
                written[0] = (byte[]) a[1];
                written[1] = (byte[]) a[2];
                return 0;
            });
            m.updateInt(1, -2); // u32 0xfffffffe widened into the 8-byte value, not sign-extended
            assertArrayEquals(BpfMap.le32(1), written[0]);
            assertArrayEquals(BpfMap.le64(0xfffffffeL), written[1]);
            assertThrows(IllegalArgumentException.class, () -> m.update(new byte[4], new byte[4]));
        }
    }

    @Test
    void keyIterationWalksGetNextKeyUntilEnoent() {
        try (BpfMap m = fakeMap()) {
            int[] keys = {5, 9, 2};
            fake.on("bpf_map_get_next_key", a -> {
                byte[] prev = (byte[]) a[1];
                int i = 0;
                if (prev != null) {
                    int p = java.nio.ByteBuffer.wrap(prev).order(java.nio.ByteOrder.LITTLE_ENDIAN).getInt();
                    while (keys[i] != p) {
                        i++;
                    }
                    i++;
                }
                if (i >= keys.length) {
                    return -Errno.ENOENT;
                }
                System.arraycopy(BpfMap.le32(keys[i]), 0, (byte[]) a[2], 0, 4);
                return 0;
            });
            assertEquals(List.of(5, 9, 2), m.intKeys());
        }
    }

    @Test
    void libcFailureUsesSavedErrno() {
        fake.on("syscall", a -> -1L);
        fake.errno = Errno.ESRCH;
        BpfException e = assertThrows(BpfException.class, () -> Pidfd.open(123456));
        assertEquals(Errno.ESRCH, e.errno());
        assertTrue(e.getMessage().contains("pidfd_open(123456)"), e.getMessage());
        assertTrue(e.getMessage().contains("ESRCH"), e.getMessage());
    }

    @Test
    void closeIsIdempotentAndUseAfterCloseThrows() {
        Fd fd = Fd.adopt(12);
        fd.close();
        fd.close();
        assertEquals(1, fake.calls("close"));
        assertThrows(IllegalStateException.class, fd::get);

        BpfMap m = fakeMap();
        m.close();
        m.close();
        assertEquals(2, fake.calls("close"));
        assertThrows(IllegalStateException.class, () -> m.lookup(1));
        assertThrows(IllegalStateException.class, m::fd);
    }

    @Test
    void objectCloseIsIdempotentAndFailedLoadThrowsVerifierException() {
        jnr.ffi.Runtime rt = jnr.ffi.Runtime.getSystemRuntime();
        Pointer obj = Pointer.wrap(rt, 0x1000);
        Pointer prog = Pointer.wrap(rt, 0x2000);
        Pointer[] logBuf = new Pointer[1];
        fake.on("bpf_object__open_file", a -> obj);
        fake.on("bpf_object__next_program", a -> a[1] == null ? prog : null);
        fake.on("bpf_program__name", a -> "t_prog");
        fake.on("bpf_program__type", a -> ProgramType.XDP.id());
        fake.on("bpf_program__fd", a -> -Errno.EINVAL);
        fake.on("bpf_program__set_log_buf", a -> {
            if (a[1] != null) {
                logBuf[0] = (Pointer) a[1];
            }
            return 0;
        });
        String log = "func#0 @0\n0: R1=ctx() R10=fp0\n0: (61) r2 = *(u32 *)(r1 +0)\n"
                + "1: (61) r1 = *(u32 *)(r2 +0)\ninvalid access to packet, off=0 size=4, R2(id=0,off=0,r=0)\n"
                + "R2 offset is outside of the packet\nprocessed 2 insns (limit 1000000) max_states_per_insn 0\n";
        fake.on("bpf_object__load", a -> {
            byte[] b = log.getBytes(StandardCharsets.UTF_8);
            logBuf[0].put(0, b, 0, b.length);
            return -Errno.EACCES;
        });
        fake.on("bpf_object__close", a -> null);

        BpfObject o = BpfObject.open(Path.of("/nonexistent/t.o"));
        assertEquals(List.of("t_prog"), o.programs().stream().map(BpfProgram::name).toList());
        assertEquals(ProgramType.XDP, o.program("t_prog").type());
        VerifierException e = assertThrows(VerifierException.class, o::load);
        assertEquals("t_prog", e.programName());
        assertEquals(Errno.EACCES, e.errno());
        assertEquals(log, e.log());
        assertEquals(List.of("1: (61) r1 = *(u32 *)(r2 +0)",
                "invalid access to packet, off=0 size=4, R2(id=0,off=0,r=0)", "R2 offset is outside of the packet"),
                e.reason());
        BpfProgram p = o.program("t_prog");
        o.close();
        o.close();
        assertEquals(1, fake.calls("bpf_object__close"));
        assertThrows(IllegalStateException.class, p::fd);
        assertThrows(IllegalStateException.class, o::load);
    }

    @Test
    void reuseportAndPidfdPassTheKernelsNumbers() {
        jnr.ffi.Runtime rt = jnr.ffi.Runtime.getSystemRuntime();
        Pointer prog = Pointer.wrap(rt, 0x2000);
        fake.on("bpf_object__open_file", a -> Pointer.wrap(rt, 0x1000));
        fake.on("bpf_object__next_program", a -> a[1] == null ? prog : null);
        fake.on("bpf_program__name", a -> "t_sel");
        fake.on("bpf_program__type", a -> ProgramType.SK_REUSEPORT.id());
        fake.on("bpf_program__set_log_buf", a -> 0);
        fake.on("bpf_object__load", a -> 0);
        fake.on("bpf_object__next_map", a -> null);
        fake.on("bpf_program__fd", a -> 33);
        fake.on("bpf_object__close", a -> null);
        List<String> calls = new java.util.ArrayList<>();
        fake.on("setsockopt", a -> {
            calls.add(a[0] + "," + a[1] + "," + a[2] + "," + ((int[]) a[3])[0] + "," + a[4]);
            return 0;
        });
        fake.on("syscall", a -> {
            calls.add("syscall " + a[0] + "," + a[1] + "," + a[2] + "," + a[3]);
            return 40L;
        });
        try (BpfObject o = BpfObject.open(Path.of("/fake.o")); Fd sock = Fd.adopt(21)) {
            o.load();
            ReuseportGroup.attach(sock, o.program("t_sel"));
            ReuseportGroup.detach(sock);
            try (Fd pidfd = Pidfd.open(777); Fd dup = Pidfd.getfd(pidfd, 5)) {
                assertEquals(40, dup.get());
            }
        }
        assertEquals(List.of("21,1,52,33,4", "21,1,68,0,4", "syscall 434,777,0,0", "syscall 438,40,5,0"), calls);
    }

    @Test
    void openFailureUsesErrno() {
        fake.on("bpf_object__open_file", a -> null);
        fake.errno = Errno.ENOENT;
        BpfException e = assertThrows(BpfException.class, () -> BpfObject.open(Path.of("/nope.o")));
        assertEquals(Errno.ENOENT, e.errno());
        assertTrue(e.operation().contains("/nope.o"));
    }

    @Test
    void errnoNamesAndUnknowns() {
        assertEquals("EACCES (13) Permission denied", Errno.describe(13));
        assertEquals("ENOTSUPP", Errno.name(524));
        assertEquals("LIBBPF_ERRNO__FORMAT", Errno.name(4001));
        assertEquals("errno 4711", Errno.name(4711));
    }
}
