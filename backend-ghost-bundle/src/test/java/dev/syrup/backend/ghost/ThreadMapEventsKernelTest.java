package dev.syrup.backend.ghost;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.syrup.api.Protocol;
import dev.syrup.api.Target;
import dev.syrup.api.map.MapEvent;
import dev.syrup.api.map.MapEvents;
import dev.syrup.api.map.SyrupMap;
import dev.syrup.hook.spi.HookContext;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.List;
import java.util.OptionalLong;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import org.apache.camel.CamelContext;
import org.apache.camel.ProducerTemplate;
import org.apache.camel.impl.DefaultCamelContext;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The thread layer as a consumer of Map events: {@link ThreadMapEvents}' route in a Camel context
 * (a plain one here, with the seda component; syrupd's in the distribution, ThreadSchedulerIT)
 * re-decides a registered thread when syrupd publishes a change of a Map its policy reads, with no
 * scheduler event: the thread sleeps throughout. The policy reads a hash Map, which the agent does
 * not poll (only mmap'able arrays), so the event is the only way the change is seen. Events are
 * published as syrupd's {@code CamelEvents} does: the Map written, then the event sent to
 * {@link MapEvents#ENDPOINT}.
 */
class ThreadMapEventsKernelTest {

    /** Thread {@code index} runs SCHED_FIFO on executor 0 while {@code type[index]} is 1. */
    static final String BY_TYPE = """
            SYR_HASH_MAP(type, 64);
            uint32_t schedule(void *pkt_start, void *pkt_end)
            {
            	struct syr_thread *t = syr_thread(pkt_start, pkt_end);
            	__u32 k;
            	__u64 *v;

            	if (!t)
            		return SYR_PASS;
            	k = t->index;
            	v = syr_map_lookup_elem(&type, &k);
            	return v && *v == 1 ? 0 : SYR_PASS;
            }
            """;

    @TempDir
    Path dir;
    private final Sched sched = Sched.get();
    private Path bpffsRoot;
    private final List<AutoCloseable> toClose = new ArrayList<>();
    private Worker sleeper;

    @BeforeEach
    void setUp() {
        ThreadSchedulerKernelTest.requireKernel();
        bpffsRoot = Path.of("/sys/fs/bpf/syrup-threv-" + Long.toHexString(ThreadLocalRandom.current().nextLong()));
    }

    @AfterEach
    void tearDown() throws Exception {
        for (int i = toClose.size() - 1; i >= 0; i--) {
            toClose.get(i).close();
        }
        if (sleeper != null) {
            sleeper.finish();
        }
        assertFalse(Files.exists(bpffsRoot.resolve("threads")), "saved thread states left");
        if (Files.exists(bpffsRoot)) {
            try (var s = Files.walk(bpffsRoot)) {
                List<Path> left = s.filter(p -> !Files.isDirectory(p)).toList();
                assertTrue(left.isEmpty(), "pins left: " + left);
            }
            try (var s = Files.walk(bpffsRoot)) {
                s.sorted((a, b) -> b.getNameCount() - a.getNameCount()).forEach(p -> p.toFile().delete());
            }
        }
    }

    private ThreadDeployment open(ThreadSchedulerHook hook, String owner, String id, int port) throws Exception {
        ThreadDeployment d = (ThreadDeployment) hook.open(Target.port(Protocol.UDP, port),
                HookContext.ofPinDir(bpffsRoot.resolve(owner).resolve(id)));
        toClose.add(d);
        d.install(ThreadPolicies.compile(dir, "by_type_" + id, BY_TYPE, hook.cores().size()));
        return d;
    }

    private static SyrupMap type(ThreadDeployment d) {
        return d.maps().stream().filter(m -> m.name().equals("type")).findFirst().orElseThrow();
    }

    @Test
    void aMapEventRedecidesASleepingThreadAtOnce() throws Exception {
        ThreadSchedulerHook hook = new ThreadSchedulerHook(ThreadSchedulerHook.Settings.defaults()
                .withCores(ThreadSchedulerHook.onlineCpus()).withEngine("linux"));
        CamelContext camel = new DefaultCamelContext();
        camel.start();
        toClose.add(camel::stop);
        ThreadMapEvents route = new ThreadMapEvents(camel, hook);
        toClose.add(route);
        ProducerTemplate producer = camel.createProducerTemplate();
        toClose.add(producer);

        ThreadDeployment d1 = open(hook, "app", "d1", 9000);
        ThreadDeployment d2 = open(hook, "app", "d2", 9001);     // the same owner: shares 'type'
        ThreadDeployment foreign = open(hook, "other", "d3", 9002); // another owner's 'type'
        sleeper = Worker.start("t-sleeps", Worker.Mode.SLEEP);
        int tid = sleeper.tid();
        Sched.State orig = sched.state(tid);
        assertEquals(0, d1.registerThread(ProcessHandle.current().pid(), 0, tid));
        BitSet core0 = new BitSet();
        core0.set(hook.cores().get(0));
        SyrupMap type = type(d1);
        assertEquals(OptionalLong.empty(), type(d2).lookup(0));
        type(d2).update(5, 7);
        assertEquals(OptionalLong.of(7), type.lookup(5), "one kernel map behind d1 and d2");

        // Without an event the hash Map's change is not seen: nothing polls it, the thread sleeps.
        type.update(0, 1);
        LockSupport.parkNanos(300_000_000L);
        assertEquals(orig, sched.state(tid), "no event, no scheduler event: nothing re-decides the thread");

        // Another owner's Map of the same name is not d1's.
        long before = d1.mapEvents();
        producer.sendBody(MapEvents.ENDPOINT, event("d3", 0, 1));
        LockSupport.parkNanos(200_000_000L);
        assertEquals(before, d1.mapEvents(), "an event of another owner's deployment is ignored");
        assertEquals(orig, sched.state(tid));

        // syrupd publishes the change it made: the thread is re-decided at once, by the route.
        long[] lat = new long[40];
        for (int i = 0; i < lat.length; i++) {
            boolean scan = i % 2 == 0;
            String from = i % 4 < 2 ? "d1" : "d2"; // a write through either deployment of the shared Map
            long t0 = System.nanoTime();
            type.update(0, scan ? 1 : 0);
            producer.sendBody(MapEvents.ENDPOINT, event(from, 0, scan ? 1 : 0));
            BooleanSupplier done = scan
                    ? () -> sched.policy(tid) == Sched.SCHED_FIFO && sched.affinity(tid).equals(core0)
                    : () -> sched.state(tid).equals(orig);
            assertTrue(spinUntil(done, 2000), "round " + i + " (" + from + "): thread " + tid + " is " + sched.state(tid));
            lat[i] = System.nanoTime() - t0;
        }
        assertEquals(before + lat.length, d1.mapEvents(), "each event re-decided the thread once");
        Arrays.sort(lat);
        System.out.printf("map-put -> event -> enforcement of a sleeping thread (%d rounds): p50 %d us, p99 %d us, max %d us%n",
                lat.length, lat[lat.length / 2] / 1000, lat[(int) Math.ceil(lat.length * 0.99) - 1] / 1000,
                lat[lat.length - 1] / 1000);
        assertTrue(lat[lat.length / 2] < 50_000_000L, "p50 " + lat[lat.length / 2] / 1000 + " us");

        // The route goes with the component: events change nothing any more.
        route.close();
        assertTrue(camel.getRoute(ThreadMapEvents.ROUTE) == null, "route removed");
        type.update(0, 1);
        LockSupport.parkNanos(200_000_000L);
        assertEquals(orig, sched.state(tid));
        assertTrue(foreign.mapEvents() == 0 && d2.mapEvents() == 0, "no thread registered there");
    }

    private static MapEvent event(String deployment, int key, long value) {
        return new MapEvent(deployment, "type", key, OptionalLong.empty(), OptionalLong.of(value), Instant.now(),
                MapEvent.Origin.SHELL);
    }

    private static boolean spinUntil(BooleanSupplier c, long ms) {
        long end = System.nanoTime() + ms * 1_000_000L;
        while (System.nanoTime() < end) {
            if (c.getAsBoolean()) {
                return true;
            }
            LockSupport.parkNanos(20_000);
        }
        return c.getAsBoolean();
    }
}
