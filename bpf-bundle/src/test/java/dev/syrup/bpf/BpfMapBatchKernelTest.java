package dev.syrup.bpf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

/**
 * BPF_MAP_LOOKUP/UPDATE/DELETE_BATCH through {@link BpfMap} against the single-element calls on
 * the same kernel maps: sizes that leave a partial last batch, the ENOENT end of a lookup, the
 * empty map, absent keys in a delete batch, and errors that say how far the batch got.
 */
class BpfMapBatchKernelTest extends KernelTestSupport {

    /** Entries read one by one (get_next_key + lookup): what a batch must agree with. */
    private static Map<Integer, Long> single(BpfMap m) {
        Map<Integer, Long> out = new HashMap<>();
        for (int k : m.intKeys()) {
            m.lookup(k).ifPresent(v -> out.put(k, v));
        }
        return out;
    }

    private static Map<Integer, Long> batched(BpfMap m, int batchSize) {
        Map<Integer, Long> out = new HashMap<>();
        int n = m.forEachLong(batchSize, (k, v) -> assertEquals(null, out.put(k, v), "key " + k + " given twice"));
        assertEquals(out.size(), n, "count returned");
        return out;
    }

    @Test
    void hashLookupBatchMatchesSingleLookupsWithAPartialLastBatch() {
        try (BpfMap m = BpfMap.create(MapType.HASH, "t_batch_hash", 4, 8, 1000, 0)) {
            assertEquals(Map.of(), batched(m, 7), "empty map: the first call ends with ENOENT");
            for (int k = 0; k < 613; k++) {
                m.update(k * 7919, ((long) k << 33) | k);
            }
            Map<Integer, Long> want = single(m);
            assertEquals(613, want.size());
            for (int size : new int[] {1, 7, 64, 256, 613, 614, 5000}) { // 613 = 87 x 7 + 4: partial last
                assertEquals(want, batched(m, size), "batch size " + size);
            }
        }
    }

    @Test
    void anActionMayReadAnotherMapInBatchesMeanwhile() {
        try (BpfMap a = BpfMap.create(MapType.HASH, "t_batch_outer", 4, 8, 64, 0);
                BpfMap b = BpfMap.create(MapType.HASH, "t_batch_inner", 4, 8, 4096, 0)) {
            for (int k = 0; k < 50; k++) {
                a.update(k, k);
            }
            for (int k = 0; k < 3000; k++) {
                b.update(k, k);
            }
            Map<Integer, Long> outer = new HashMap<>();
            a.forEachLong(8, (k, v) -> {
                outer.put(k, v);
                assertEquals(3000, b.forEachLong(2048, (x, y) -> { })); // grows this thread's buffer
            });
            assertEquals(single(a), outer);
        }
    }

    @Test
    void arrayLookupBatchListsEveryIndex() {
        try (BpfMap m = BpfMap.create(MapType.ARRAY, "t_batch_array", 4, 8, 100, 0)) {
            for (int k = 0; k < 100; k += 3) {
                m.update(k, -k);
            }
            Map<Integer, Long> want = single(m);
            assertEquals(100, want.size());
            assertEquals(want, batched(m, 30)); // 3 full batches and one of 10
            assertEquals(want, batched(m, BpfMap.BATCH));
        }
    }

    @Test
    void u32ValuesAndByteEntries() {
        try (BpfMap m = BpfMap.create(MapType.HASH, "t_batch_u32", 4, 4, 64, 0)) {
            for (int k = 0; k < 40; k++) {
                m.update(BpfMap.le32(k), BpfMap.le32(-1 - k));
            }
            Map<Integer, Long> got = batched(m, 16);
            assertEquals(40, got.size());
            assertEquals(OptionalLong.of(0xffffffffL), OptionalLong.of(got.get(0)), "zero-extended");
            Map<Integer, Integer> bytes = new HashMap<>();
            m.forEach(9, (k, v) -> bytes.put(le(k), le(v)));
            assertEquals(40, bytes.size());
            for (int k = 0; k < 40; k++) {
                assertEquals(-1 - k, bytes.get(k));
            }
        }
    }

    @Test
    void updateBatchWritesWhatSingleLookupsRead() {
        try (BpfMap m = BpfMap.create(MapType.HASH, "t_batch_upd", 4, 8, 1000, 0)) {
            int n = 2 * BpfMap.BATCH + 11; // two full batches and a partial one
            int[] keys = new int[n];
            long[] values = new long[n];
            for (int i = 0; i < n; i++) {
                keys[i] = i * 31 + 5;
                values[i] = ~(long) i;
            }
            m.updateBatch(keys, values);
            for (int i = 0; i < n; i++) {
                assertEquals(OptionalLong.of(values[i]), m.lookup(keys[i]), "key " + keys[i]);
            }
            assertEquals(n, m.intKeys().size());

            assertThrows(IllegalArgumentException.class, () -> m.updateBatch(new byte[12], new byte[16], 3));
            assertThrows(IllegalArgumentException.class, () -> m.updateBatch(new int[2], new long[1]));
        }
        // byte layout; a full map refuses the second element, and the error says how far it got
        try (BpfMap m = BpfMap.create(MapType.HASH, "t_batch_full", 4, 8, 4, 0)) {
            m.updateBatch(new int[] {1, 2, 3}, new long[] {1, 2, 3});
            byte[] kb = new byte[12];
            byte[] vb = new byte[24];
            ByteBuffer.wrap(kb).order(ByteOrder.LITTLE_ENDIAN).putInt(1).putInt(4).putInt(5);
            ByteBuffer.wrap(vb).order(ByteOrder.LITTLE_ENDIAN).putLong(10).putLong(40).putLong(50);
            BpfException e = assertThrows(BpfException.class, () -> m.updateBatch(kb, vb, 3));
            assertEquals(Errno.E2BIG, e.errno());
            assertTrue(e.getMessage().contains("2 of 3 updated"), e.getMessage());
            assertEquals(Map.of(1, 10L, 2, 2L, 3, 3L, 4, 40L), single(m));
        }
    }

    @Test
    void updateBatchOfAnArrayAndItsLimit() {
        try (BpfMap m = BpfMap.create(MapType.ARRAY, "t_batch_arr_up", 4, 8, 10, 0)) {
            m.updateBatch(new int[] {0, 9, 4}, new long[] {1, 2, 3});
            assertEquals(OptionalLong.of(2), m.lookup(9));
            assertEquals(OptionalLong.of(3), m.lookup(4));
            BpfException e = assertThrows(BpfException.class, () -> m.updateBatch(new int[] {1, 10}, new long[] {7, 8}));
            assertEquals(Errno.E2BIG, e.errno()); // index 10 of a 10-entry array
            assertEquals(OptionalLong.of(7), m.lookup(1), "the element before the failing one is written");
        }
    }

    @Test
    void deleteBatchSkipsAbsentKeys() {
        try (BpfMap m = BpfMap.create(MapType.HASH, "t_batch_del", 4, 8, 1000, 0)) {
            int n = BpfMap.BATCH + 50;
            int[] keys = new int[n];
            long[] values = new long[n];
            for (int i = 0; i < n; i++) {
                keys[i] = i;
                values[i] = i;
            }
            m.updateBatch(keys, values);
            List<Integer> gone = new ArrayList<>();
            for (int i = 0; i < n; i += 2) {
                gone.add(i);
            }
            gone.add(100_000); // absent: skipped
            gone.add(2, 100_001); // absent, within the first batch
            int[] del = gone.stream().mapToInt(Integer::intValue).toArray();
            assertEquals((n + 1) / 2, m.deleteBatch(del));
            Map<Integer, Long> want = new TreeMap<>();
            for (int i = 1; i < n; i += 2) {
                want.put(i, (long) i);
            }
            assertEquals(want, new TreeMap<>(single(m)));
            assertEquals(0, m.deleteBatch(new int[] {0, 2, 4}), "all absent");
        }
        try (BpfMap a = BpfMap.create(MapType.ARRAY, "t_batch_del_a", 4, 8, 4, 0)) {
            assertEquals(Errno.EINVAL, assertThrows(BpfException.class, () -> a.deleteBatch(new int[] {1})).errno());
        }
    }

    private static int le(byte[] b) {
        return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).getInt();
    }
}
