package dev.syrup.bpf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.OptionalLong;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.Test;

class BpfMapKernelTest extends KernelTestSupport {

    @Test
    void hashMapCrudAndIteration() {
        try (BpfMap m = BpfMap.create(MapType.HASH, "t_hash", 4, 8, 32, 0)) {
            assertEquals("t_hash", m.name());
            assertEquals(MapType.HASH, m.info().type());
            assertEquals(OptionalLong.empty(), m.lookup(7));
            m.update(7, 700L);
            m.update(8, -1L);
            m.update(9, 1L << 40);
            assertEquals(OptionalLong.of(700), m.lookup(7));
            assertEquals(OptionalLong.of(-1L), m.lookup(8));
            assertEquals(OptionalLong.of(1L << 40), m.lookup(9));
            assertEquals(Set.of(7, 8, 9), new HashSet<>(m.intKeys()));

            BpfException dup = assertThrows(BpfException.class,
                    () -> m.update(BpfMap.le32(7), BpfMap.le64(1), BpfMap.BPF_NOEXIST));
            assertEquals(Errno.EEXIST, dup.errno());
            assertTrue(dup.getMessage().contains("bpf_map_update_elem"), dup.getMessage());
            assertTrue(dup.getMessage().contains("EEXIST"), dup.getMessage());
            assertThrows(BpfException.class, () -> m.update(BpfMap.le32(1), BpfMap.le64(1), BpfMap.BPF_EXIST));

            assertTrue(m.delete(8));
            assertFalse(m.delete(8));
            assertEquals(Set.of(7, 9), new HashSet<>(m.intKeys()));
            assertArrayEquals(BpfMap.le64(700), m.lookup(BpfMap.le32(7)).orElseThrow());
            assertThrows(IllegalArgumentException.class, () -> m.lookup(new byte[3]));
            m.close();
            m.close();
            assertThrows(IllegalStateException.class, () -> m.lookup(7));
        }
    }

    @Test
    void mmapedArraySharesValuesWithSyscallsAndAddsAtomically() throws Exception {
        try (BpfMap m = BpfMap.create(MapType.ARRAY, "t_mmap", 4, 8, 600, BpfMap.BPF_F_MMAPABLE);
                MappedArray a = MappedArray.map(m)) {
            assertEquals(600, a.size());
            m.update(3, 33L);
            assertEquals(33, a.getLong(3), "syscall write, mapped read");
            a.setLong(599, -5L);
            assertEquals(OptionalLong.of(-5L), m.lookup(599), "mapped write, syscall read");
            assertTrue(a.compareAndSet(3, 33, 34));
            assertFalse(a.compareAndSet(3, 33, 35));
            assertEquals(34, a.getVolatile(3));
            assertThrows(IndexOutOfBoundsException.class, () -> a.getLong(600));

            int perThread = 1_000_000;
            CountDownLatch start = new CountDownLatch(1);
            Runnable adder = () -> {
                try {
                    start.await();
                } catch (InterruptedException e) {
                    throw new RuntimeException(e);
                }
                for (int i = 0; i < perThread; i++) {
                    a.addAndGet(1, 1);
                }
            };
            Thread t1 = new Thread(adder);
            Thread t2 = new Thread(adder);
            t1.start();
            t2.start();
            start.countDown();
            t1.join();
            t2.join();
            assertEquals(2L * perThread, a.getLong(1));
            assertEquals(OptionalLong.of(2L * perThread), m.lookup(1));
            a.close();
            a.close();
            assertThrows(IllegalStateException.class, () -> a.getLong(1));
        }
    }

    @Test
    void mappedArrayRefusesNonMmapableMaps() {
        try (BpfMap m = BpfMap.create(MapType.ARRAY, "t_plain", 4, 8, 4, 0)) {
            assertThrows(IllegalArgumentException.class, () -> MappedArray.map(m));
        }
    }

    @Test
    void pinOpenPinnedAndUnpin() throws IOException {
        Path dir = KernelSupport.BPFFS.resolve("syrup-test-" + UUID.randomUUID());
        Files.createDirectory(dir);
        try {
            Path pin = dir.resolve("t_pinned");
            int id;
            try (BpfMap m = BpfMap.create(MapType.HASH, "t_pinned", 4, 8, 8, 0)) {
                m.update(42, 4242L);
                m.pin(pin);
                id = m.info().id();
            }
            assertTrue(Files.exists(pin));
            try (BpfMap again = BpfMap.openPinned(pin)) {
                assertEquals(id, again.info().id(), "the same kernel map survived the close");
                assertEquals("t_pinned", again.name());
                assertEquals(MapType.HASH, again.type());
                assertEquals(4, again.keySize());
                assertEquals(8, again.valueSize());
                assertEquals(8, again.maxEntries());
                assertEquals(OptionalLong.of(4242L), again.lookup(42));
                assertEquals(List.of(42), again.intKeys());
                again.unpin();
                assertFalse(Files.exists(pin));
            }
            BpfException gone = assertThrows(BpfException.class, () -> BpfMap.openPinned(pin));
            assertEquals(Errno.ENOENT, gone.errno());

        } finally {
            try (var s = Files.list(dir)) {
                for (Path p : s.toList()) {
                    Files.deleteIfExists(p);
                }
            }
            Files.delete(dir);
        }
    }
}
