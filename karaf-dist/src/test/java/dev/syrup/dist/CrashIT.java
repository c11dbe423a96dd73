package dev.syrup.dist;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotEquals;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertTrue;

import dev.syrup.api.DeployRequest;
import dev.syrup.bpf.BpfMap;
import dev.syrup.bpf.BpfProgram;
import dev.syrup.bpf.KernelObjects;
import dev.syrup.bpf.MapInfo;
import dev.syrup.bpf.ProgramInfo;
import dev.syrup.dispatch.Dispatcher;
import dev.syrup.dist.Distribution.Result;
import dev.syrup.dist.SyrupCommandsIT.Group;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.AfterClass;
import org.junit.BeforeClass;
import org.junit.Test;

/**
 * The datapath outlives syrupd, in the real distribution: Karaf's JVM, started by
 * {@code ./syrup start}, is killed with {@code kill -9} under traffic. A round_robin deployment
 * over 4 SO_REUSEPORT sockets (bound in this JVM) keeps its exact split of one flow while syrupd
 * is dead and through the next {@code ./syrup start} and its re-adoption; a DROP policy on another
 * port keeps dropping. The next syrupd takes the same slots and Maps (ids) with new programs, and
 * undeploying both leaves none of their programs and maps in the kernel (by id) and no pin.
 */
public class CrashIT {

    private static final String DROP_ALL = """
            #include "syrup.h"
            uint32_t schedule(void *pkt_start, void *pkt_end)
            {
            	return SYR_DROP;
            }
            """;
    private static final Pattern LISTED = Pattern.compile(
            "\"id\":\"(d\\d+)\"[^{}]*\\{[^{}]*\\}[^{}]*\"program\":(?:null|\\{\"id\":(\\d+))");

    static Distribution dist;

    @BeforeClass
    public static void start() throws Exception {
        dist = Distribution.startAsRoot("syrup-crash-", "bpf, SO_RCVBUFFORCE");
    }

    /** Also after a failure: Karaf stopped (if it runs), this test's pins and files removed. */
    @AfterClass
    public static void cleanUp() throws Exception {
        if (dist != null) {
            dist.close();
        }
    }

    @Test
    public void theDatapathOutlivesKill9() throws Exception {
        Path policy = Files.writeString(dist.dir.resolve("drop_all.c"), DROP_ALL);
        try (Group rr = new Group(4); Group drop = new Group(2)) {
            rr.send(400);
            assertEquals(400, rr.await(400));
            assertEquals("the kernel's default puts one flow on one socket", 400, rr.max());
            drop.send(20);
            assertEquals("without a policy the datagrams arrive", 20, drop.await(20));

            String rrId = lastWord(dist.shell("syrup:deploy round_robin --hook socket_select --port " + rr.port));
            String dropId = lastWord(dist.shell("syrup:deploy " + policy + " --hook socket_select --port " + drop.port));
            Map<String, Integer> programs = listed();
            Pins before = Pins.read(dist.bpffs);
            assertEquals("syrup:list names the programs in the slots", Set.copyOf(programs.values()),
                    Set.copyOf(before.slots.values()));
            assertEquals(Set.of(rrId, dropId), before.maps.keySet());
            Set<Integer> progs = new HashSet<>(before.programs());
            Set<Integer> maps = new HashSet<>(before.mapIds());
            exact(rr, 4000, "syrupd up");
            dropped(drop, "syrupd up");

            // kill -9 under traffic, to both ports.
            AtomicLong sent = new AtomicLong();
            AtomicLong toDrop = new AtomicLong();
            AtomicBoolean stop = new AtomicBoolean();
            drop.reset();
            Thread flow = flow(rr, 8000, 1, sent, stop);
            Thread dropFlow = flow(drop, Long.MAX_VALUE, 1, toDrop, stop);
            while (sent.get() < 1000) {
                Thread.sleep(1);
            }
            long killedAt = sent.get();
            kill9();
            long deadAt = sent.get();
            flow.join();
            stop.set(true);
            dropFlow.join();
            assertTrue("the JVM was gone before the flow ended: at datagram " + deadAt, deadAt < 8000);
            assertExact(rr, 8000, "kill -9 at datagram " + killedAt + ", gone at " + deadAt + " of 8000");
            assertDropped(drop, toDrop.get(), "through the kill");
            Result status = dist.syrup(10, "status");
            assertTrue(status.out(), status.status() != 0 && status.out().contains("not running"));
            assertEquals("nothing of the deployments went with the JVM", before, Pins.read(dist.bpffs));
            exact(rr, 4000, "syrupd dead");
            dropped(drop, "syrupd dead");

            // ./syrup start under traffic: the restart and the re-adoption take over without a gap.
            sent.set(0);
            toDrop.set(0);
            stop.set(false);
            flow = flow(rr, Long.MAX_VALUE, 2, sent, stop);
            dropFlow = flow(drop, Long.MAX_VALUE, 2, toDrop, stop);
            long t0 = System.nanoTime();
            dist.start();
            long started = System.nanoTime();
            Map<String, Integer> again = awaitReadopted(rrId, dropId);
            long listedAt = System.nanoTime();
            Thread.sleep(300);
            stop.set(true);
            flow.join();
            dropFlow.join();
            assertExact(rr, sent.get(), "through the restart and the re-adoption");
            assertDropped(drop, toDrop.get(), "through the restart and the re-adoption");
            System.out.printf("kill -9 at datagram %d (JVM gone at %d) of 8000: %d each; through the restart %d datagrams"
                    + " (%d each), all %d to the DROP port dropped; ./syrup start %d ms, syrup:list showed both re-adopted %d ms after%n",
                    killedAt, deadAt, 8000 / 4, sent.get(), sent.get() / 4, toDrop.get(),
                    TimeUnit.NANOSECONDS.toMillis(started - t0), TimeUnit.NANOSECONDS.toMillis(listedAt - started));

            Pins after = Pins.read(dist.bpffs);
            progs.addAll(after.programs());
            maps.addAll(after.mapIds());
            assertEquals("syrup_ports adopted", before.ports, after.ports);
            assertEquals("syrup_slots adopted", before.slotsMap, after.slotsMap);
            assertEquals("each deployment's Maps adopted (executor map, globals, counters)", before.maps, after.maps);
            for (String id : List.of(rrId, dropId)) {
                assertNotEquals(id + ": a new program", programs.get(id), again.get(id));
                assertEquals(id + ": the same slot, with the new program in it", before.slotOf(programs.get(id)),
                        after.slotOf(again.get(id)));
            }
            assertEquals("no other slot filled", 2, after.slots.size());
            exact(rr, 4000, "re-adopted");
            dropped(drop, "re-adopted");

            dist.shell("syrup:undeploy " + rrId);
            dist.shell("syrup:undeploy " + dropId);
            assertGone(progs, maps);
            assertFalse("the dispatcher's tree is unpinned", Files.exists(dist.bpffs.resolve(Dispatcher.PIN_DIR)));
            for (String id : List.of(rrId, dropId)) {
                assertFalse(id + "'s pins are gone", Files.exists(dist.bpffs.resolve(DeployRequest.ADMIN).resolve(id)));
            }
            try (var walk = Files.walk(dist.bpffs)) {
                assertEquals("no pin left under " + dist.bpffs, List.of(), walk.filter(f -> !Files.isDirectory(f)).toList());
            }
            rr.reset();
            rr.send(400);
            assertEquals(400, rr.await(400));
            assertEquals("back to the kernel's default: " + Arrays.toString(rr.counts()), 400, rr.max());
            drop.reset();
            drop.send(20);
            assertEquals("undeployed: the datagrams arrive again", 20, drop.await(20));
        }
        Result stop = dist.syrup(60, "stop");
        assertEquals(stop.out(), 0, stop.status());
        assertFalse(stop.out(), stop.out().contains("killing"));
    }

    /** {@code kill -9} of Karaf's JVM; returns once it is gone. */
    private static void kill9() throws Exception {
        ProcessHandle karaf = ProcessHandle.of(dist.pid).orElseThrow();
        Result r = Distribution.run(List.of("kill", "-9", Long.toString(dist.pid)), 10);
        assertEquals(r.out(), 0, r.status());
        karaf.onExit().get(10, TimeUnit.SECONDS);
    }

    /** Polls syrup:list until both deployments are live again; their program ids. */
    private static Map<String, Integer> awaitReadopted(String... ids) throws Exception {
        long end = System.currentTimeMillis() + 60_000;
        while (true) {
            Map<String, Integer> listed = listed();
            if (listed.keySet().containsAll(List.of(ids))) {
                return listed;
            }
            assertTrue("not re-adopted in 60 s: " + listed, System.currentTimeMillis() < end);
            Thread.sleep(500);
        }
    }

    /** syrup:list --json: each live deployment's kernel program id (those that have one). */
    private static Map<String, Integer> listed() throws Exception {
        String json = dist.shell("syrup:list --json");
        Map<String, Integer> out = new TreeMap<>();
        Matcher m = LISTED.matcher(json);
        while (m.find()) {
            if (m.group(2) != null) {
                out.put(m.group(1), Integer.parseInt(m.group(2)));
            }
        }
        return out;
    }

    private static void exact(Group g, int n, String when) throws Exception {
        g.reset();
        g.send(n);
        assertExact(g, n, when);
    }

    private static void assertExact(Group g, long n, String when) throws InterruptedException {
        assertEquals("whole rounds", 0, n % 4);
        assertEquals(when + ": all datagrams arrive", n, g.await(n));
        long q = n / 4;
        assertArrayEquals(when + ": the round-robin split " + Arrays.toString(g.counts()), new long[] {q, q, q, q}, g.counts());
        g.reset();
    }

    private static void dropped(Group g, String when) throws Exception {
        g.reset();
        g.send(200);
        assertDropped(g, 200, when);
    }

    private static void assertDropped(Group g, long sent, String when) throws InterruptedException {
        assertTrue(when + ": datagrams sent", sent > 0);
        Thread.sleep(300);
        assertEquals(when + ": every datagram of " + sent + " dropped", 0, Arrays.stream(g.counts()).sum());
    }

    /** One flow in rounds of 4 datagrams, a pause between rounds, up to {@code max} or until {@code stop}. */
    private static Thread flow(Group g, long max, int pauseMs, AtomicLong sent, AtomicBoolean stop) {
        Thread t = new Thread(() -> {
            try {
                while (sent.get() < max && !stop.get()) {
                    g.send(4);
                    sent.addAndGet(4);
                    Thread.sleep(pauseMs);
                }
            } catch (IOException | InterruptedException e) {
                throw new IllegalStateException(e);
            }
        }, "one-flow");
        t.start();
        return t;
    }

    /**
     * Polls (RCU, the kernel's deferred frees) until none of these program and map ids exists. Maps
     * are looked up only once the programs are gone: opening a PROG_ARRAY by id while the kernel
     * is still clearing it would keep it.
     */
    private static void assertGone(Set<Integer> progs, Set<Integer> maps) throws InterruptedException {
        long end = System.currentTimeMillis() + 5000;
        Set<Integer> p = new HashSet<>(progs);
        while (true) {
            p.retainAll(KernelObjects.programs().stream().map(ProgramInfo::id).collect(Collectors.toSet()));
            if (p.isEmpty() || System.currentTimeMillis() > end) {
                break;
            }
            Thread.sleep(20);
        }
        assertEquals("programs still loaded", Set.of(), p);
        Set<Integer> m = new HashSet<>(maps);
        while (true) {
            Thread.sleep(200);
            m.retainAll(KernelObjects.maps().stream().map(MapInfo::id).collect(Collectors.toSet()));
            if (m.isEmpty() || System.currentTimeMillis() > end) {
                break;
            }
        }
        assertEquals("maps still in the kernel", Set.of(), m);
    }

    /**
     * What the pins under the distribution's bpffs root hold, by id: the socket_select root
     * program, {@code syrup_ports}, {@code syrup_slots} and the program in each filled slot, and
     * each administrator deployment's pinned maps.
     */
    record Pins(int root, int ports, int slotsMap, Map<Integer, Integer> slots, Map<String, Set<Integer>> maps) {

        static Pins read(Path bpffs) throws IOException {
            Path tree = bpffs.resolve(Dispatcher.PIN_DIR).resolve("v1").resolve("socket_select");
            int root;
            try (BpfProgram p = BpfProgram.openPinned(tree.resolve("root"))) {
                root = p.info().id();
            }
            int ports;
            try (BpfMap m = BpfMap.openPinned(tree.resolve("ports"))) {
                ports = m.info().id();
            }
            int slotsMap;
            Map<Integer, Integer> slots = new TreeMap<>();
            try (BpfMap m = BpfMap.openPinned(tree.resolve("slots"))) {
                slotsMap = m.info().id();
                for (int s = 0; s < m.maxEntries(); s++) {
                    var p = m.lookup(s); // a PROG_ARRAY read from user space gives the program's id
                    if (p.isPresent()) {
                        slots.put(s, (int) p.getAsLong());
                    }
                }
            }
            Map<String, Set<Integer>> maps = new TreeMap<>();
            Path admin = bpffs.resolve(DeployRequest.ADMIN);
            try (var ids = Files.list(admin)) {
                for (Path d : ids.toList()) {
                    Set<Integer> in = new HashSet<>();
                    try (var pins = Files.list(d)) {
                        for (Path pin : pins.toList()) {
                            try (BpfMap m = BpfMap.openPinned(pin)) {
                                in.add(m.info().id());
                            }
                        }
                    }
                    assertFalse(d + " pins a map", in.isEmpty());
                    maps.put(d.getFileName().toString(), in);
                }
            }
            return new Pins(root, ports, slotsMap, slots, maps);
        }

        Integer slotOf(Integer program) {
            assertNotNull(program);
            Map<Integer, Integer> bySlot = new HashMap<>();
            slots.forEach((s, p) -> bySlot.put(p, s));
            Integer slot = bySlot.get(program);
            assertNotNull("program " + program + " in a slot of " + slots, slot);
            return slot;
        }

        Set<Integer> programs() {
            Set<Integer> out = new HashSet<>(slots.values());
            out.add(root);
            return out;
        }

        Set<Integer> mapIds() {
            Set<Integer> out = new HashSet<>(Set.of(ports, slotsMap));
            maps.values().forEach(out::addAll);
            return out;
        }
    }

    private static String lastWord(String out) {
        String[] words = out.trim().split("\\s+");
        return words[words.length - 1];
    }
}
