package dev.syrup.daemon.events;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.syrup.api.SyrupException;
import dev.syrup.api.map.MapEvent;
import dev.syrup.api.map.MapEvent.Origin;
import dev.syrup.api.map.SyrupMap;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.SortedMap;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

/** Map events without a kernel: what the eventing Map publishes, and what the poller's diff reports. */
class EventingMapTest {

    /** A hash-like Map in memory. */
    static class FakeMap implements SyrupMap {
        final TreeMap<Integer, Long> data = new TreeMap<>();

        public String name() { return "m"; }
        public String type() { return "hash"; }
        public int keySize() { return 4; }
        public int valueSize() { return 8; }
        public int maxEntries() { return 16; }
        public Optional<String> pinnedPath() { return Optional.empty(); }
        public OptionalLong lookup(int key) {
            Long v = data.get(key);
            return v == null ? OptionalLong.empty() : OptionalLong.of(v);
        }
        public void update(int key, long value) { data.put(key, value); }
        public boolean delete(int key) { return data.remove(key) != null; }
        public SortedMap<Integer, Long> dump() { return new TreeMap<>(data); }
    }

    /** Records events and keeps copies like CamelEvents. */
    static final class Bus implements MapEventBus {
        final List<MapEvent> events = new ArrayList<>();
        final MapCopies copies = new MapCopies();

        public Object lock() { return this; }
        public void publish(MapEvent e) {
            copies.apply(e);
            events.add(e);
        }
    }

    @Test
    void updatesAndDeletesPublishOldAndNewValuesWithTheirOrigin() throws SyrupException {
        FakeMap raw = new FakeMap();
        Bus bus = new Bus();
        SyrupMap m = new EventingMap(raw, "d1", Origin.SHELL, () -> bus);
        m.update(7, 9);
        m.update(7, 10);
        assertTrue(m.delete(7));
        assertFalse(m.delete(7), "deleting an absent key publishes nothing");
        new EventingMap(raw, "d1", Origin.API, () -> bus).update(-1, -1); // u32 / u64 max
        List<String> text = bus.events.stream().map(e -> e.toText().substring(e.toText().indexOf(' ') + 1)).toList();
        assertEquals(List.of("d1 m[7] - -> 9 shell", "d1 m[7] 9 -> 10 shell", "d1 m[7] 10 -> - shell",
                "d1 m[4294967295] - -> 18446744073709551615 api"), text);
        assertTrue(bus.events.get(2).deleted());
    }

    @Test
    void updateAllGoesToTheMapsOwnBulkUpdateAndPublishesEachChange() throws SyrupException {
        List<Map<Integer, Long>> bulk = new ArrayList<>();
        FakeMap raw = new FakeMap() {
            @Override
            public void updateAll(Map<Integer, Long> entries) {
                bulk.add(entries);
                data.putAll(entries);
            }
        };
        raw.data.put(2, 5L);
        Bus bus = new Bus();
        Map<Integer, Long> in = new TreeMap<>(Map.of(1, 10L, 2, 5L, 3, 30L));
        new EventingMap(raw, "d1", Origin.API, () -> bus).updateAll(in);
        assertEquals(List.of(in), bulk, "one bulk update, not one per entry");
        List<String> text = bus.events.stream().map(e -> e.toText().substring(e.toText().indexOf(' ') + 1)).toList();
        assertEquals(List.of("d1 m[1] - -> 10 api", "d1 m[3] - -> 30 api"), text, "an unchanged entry publishes nothing");
    }

    @Test
    void withoutABusChangesStillHappen() throws SyrupException {
        FakeMap raw = new FakeMap();
        new EventingMap(raw, "d1", Origin.SHELL, () -> null).update(1, 2);
        assertEquals(2L, raw.data.get(1));
    }

    @Test
    void theDiffReportsKernelChangesButNotThoseMadeThroughSyrup() throws SyrupException {
        FakeMap raw = new FakeMap();
        Bus bus = new Bus();
        raw.update(1, 1);
        raw.update(2, 2);
        assertEquals(List.of(), bus.copies.diff("d1", "m", raw.dump(), Instant.now()), "the first look is the baseline");
        new EventingMap(raw, "d1", Origin.SHELL, () -> bus).update(1, 100); // through Syrup
        raw.update(2, 3);   // behind syrupd's back (the policy)
        raw.update(4, 4);
        raw.delete(1);
        List<MapEvent> diff = bus.copies.diff("d1", "m", raw.dump(), Instant.now());
        List<String> text = diff.stream().map(e -> e.toText().substring(e.toText().indexOf(' ') + 1)).toList();
        assertEquals(List.of("d1 m[1] 100 -> - kernel", "d1 m[2] 2 -> 3 kernel", "d1 m[4] - -> 4 kernel"), text);
        assertEquals(List.of(), bus.copies.diff("d1", "m", raw.dump(), Instant.now()), "nothing new");
    }

    @Test
    void tokenEpochsRefillTheLsUserAndGiftItsLeftoverToTheBeUser() throws SyrupException {
        FakeMap tokens = new FakeMap();
        TokenEpochs gen = new TokenEpochs(1, 2, 350_000, 100); // paper §5.2.2: 350k/s, 100 us epochs -> 35 each
        gen.epoch(tokens);
        assertEquals(35L, tokens.data.get(1));
        assertEquals(0L, tokens.data.get(2));
        tokens.update(1, 10);  // the LS user used 25
        gen.epoch(tokens);
        assertEquals(35L, tokens.data.get(1));
        assertEquals(10L, tokens.data.get(2), "the leftover goes to BE");
        tokens.update(1, -1);  // transiently below zero in the kernel: nothing to gift
        gen.epoch(tokens);
        assertEquals(0L, tokens.data.get(2));
        assertEquals(105, gen.granted());
        assertEquals(10, gen.gifted());
        TokenEpochs third = new TokenEpochs(1, 2, 1000, 333); // 0.333 per epoch: exact over time
        for (int i = 0; i < 3000; i++) {
            third.epoch(tokens);
        }
        assertEquals(999, third.granted());
    }

    @Test
    void aLateTimerStillGrantsTheRate() throws SyrupException {
        FakeMap tokens = new FakeMap();
        TokenEpochs gen = new TokenEpochs(1, 2, 10_000, 1000); // 10 per 1 ms epoch
        assertEquals(1, gen.advance(tokens, 5_000_000));
        assertEquals(10L, tokens.data.get(1));
        assertEquals(0, gen.advance(tokens, 5_000_400), "no epoch ended yet: nothing changes");
        tokens.update(1, 4);                         // LS used 6
        assertEquals(5, gen.advance(tokens, 5_005_000), "5 ms late: 5 epochs at once");
        assertEquals(50L, tokens.data.get(1));
        assertEquals(4L, tokens.data.get(2), "the leftover goes to BE once");
        assertEquals(0, gen.advance(tokens, 5_005_100), "a catch-up firing right after grants nothing");
        assertEquals(50L, tokens.data.get(1));
        gen.advance(tokens, 5_999_000);  // 1 s after the first epoch began
        assertEquals(10_000, gen.granted(), "one second: exactly the rate");
    }

    @Test
    void aJitteryTimerGrantsOneEpochPerFiring() throws SyrupException {
        FakeMap tokens = new FakeMap();
        TokenEpochs gen = new TokenEpochs(1, 2, 10_000, 1000);
        gen.advance(tokens, 7_000_000);
        // firings 0.4 ms early and late in turn around their 1 ms schedule
        for (int n = 1; n <= 100; n++) {
            long jitter = n % 2 == 0 ? -400 : 400;
            assertEquals(1, gen.advance(tokens, 7_000_000 + n * 1000L + jitter), "firing " + n);
            assertEquals(10L, tokens.data.get(1));
        }
    }
}
