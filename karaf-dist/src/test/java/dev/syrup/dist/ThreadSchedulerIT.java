package dev.syrup.dist;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;

import dev.syrup.api.Deployer;
import dev.syrup.client.Syrup;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.locks.LockSupport;
import org.junit.Test;
import org.osgi.framework.Bundle;
import org.osgi.framework.ServiceReference;

/**
 * The thread_scheduler hook in the real distribution: listed with its engine and why ghOSt is
 * not, deployed from the shell, a thread of this JVM registered through the Deployer service
 * runs SCHED_IDLE once the shell marks it serving a SCAN, and stopping the ghost backend's bundle ends the deployment and puts the
 * thread back; starting it shows the hook again.
 */
public class ThreadSchedulerIT extends SyrupTestSupport {

    @Test
    public void hookListedDeployedAndGoneWithItsBundle() throws Exception {
        String hooks = executeCommand("syrup:hooks --no-format");
        assertTrue(hooks, hooks.contains("thread_scheduler") && hooks.contains("thread") && hooks.contains("core"));
        assertTrue(hooks, hooks.contains("available (engine linux; ghOSt: no ghostfs at /sys/fs/ghost"));

        String out = executeCommand("syrup:deploy get_priority --hook thread_scheduler --port 47999");
        String[] words = out.trim().split("\\s+");
        String id = words[words.length - 1];
        assertTrue(out, id.startsWith("d"));

        CompletableFuture<Integer> tid = new CompletableFuture<>();
        Thread t = new Thread(() -> {
            tid.complete(Syrup.currentTid());
            while (!Thread.currentThread().isInterrupted()) {
                LockSupport.parkNanos(1_000_000);
            }
        }, "it-thread");
        t.setDaemon(true);
        t.start();
        try {
            ServiceReference<Deployer> ref = bundleContext.getServiceReference(Deployer.class);
            Deployer deployer = bundleContext.getService(ref);
            assertEquals(0, deployer.registerThread(id, ProcessHandle.current().pid(), 0, tid.get()));
            assertEquals("a GET server runs as registered", 0, policy(tid.get()));
            executeCommand("syrup:map-put " + id + " scan 0 1"); // thread 0 serves a SCAN now
            assertTrue("a SCAN server runs SCHED_IDLE", waitForPolicy(tid.get(), 5));

            Bundle ghost = bundle("syrup-backend-ghost");
            ghost.stop();
            assertFalse(executeCommand("syrup:hooks --no-format").contains("thread_scheduler"));
            assertFalse("the deployment is gone", executeCommand("syrup:list --no-format").contains(id));
            assertEquals("the thread is back in SCHED_OTHER", 0, policy(tid.get()));
            assertFalse(executeCommand("syrup:list --no-format").contains("thread_scheduler"));
            ghost.start();
            long until = System.currentTimeMillis() + 10_000;
            while (!executeCommand("syrup:hooks --no-format").contains("thread_scheduler") && System.currentTimeMillis() < until) {
                Thread.sleep(100);
            }
            assertTrue(executeCommand("syrup:hooks --no-format").contains("thread_scheduler"));
        } finally {
            t.interrupt();
        }
    }

    /** Thread {@code index} runs SCHED_FIFO on core 0 while {@code type[index]} is 1: a hash Map, which no agent polls. */
    private static final String BY_TYPE = """
            #include "syrup.h"
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

    /**
     * The thread layer consumes syrupd's Map events through Camel: {@code syrup:map-put} of the
     * policy's hash Map re-decides a registered thread that sleeps throughout (no scheduler event),
     * and its class changes within the bound measured here; the ghost bundle's route is in
     * syrupd's context.
     */
    @Test
    public void mapPutThroughSyrupdRedecidesASleepingThread() throws Exception {
        Path policy = Files.createTempFile("by_type", ".c");
        Files.writeString(policy, BY_TYPE);
        String id = lastWord(executeCommand("syrup:deploy " + policy + " --hook thread_scheduler --port 47998"));
        assertTrue(id, id.startsWith("d"));
        CompletableFuture<Integer> tid = new CompletableFuture<>();
        Thread t = new Thread(() -> {
            tid.complete(Syrup.currentTid());
            while (!Thread.currentThread().isInterrupted()) {
                LockSupport.parkNanos(60_000_000_000L); // asleep: no wake-up, no scheduler event
            }
        }, "it-sleeper");
        t.setDaemon(true);
        t.start();
        try {
            ServiceReference<org.apache.camel.CamelContext> camel = bundleContext.getServiceReferences(
                    org.apache.camel.CamelContext.class, dev.syrup.api.map.MapEvents.CONTEXT_FILTER).iterator().next();
            assertTrue("the ghost bundle's route is in syrupd's context",
                    bundleContext.getService(camel).getRoute("syrup-thread-scheduler-map-events") != null);
            ServiceReference<Deployer> ref = bundleContext.getServiceReference(Deployer.class);
            Deployer deployer = bundleContext.getService(ref);
            assertEquals(0, deployer.registerThread(id, ProcessHandle.current().pid(), 0, tid.get()));
            assertEquals(0, policy(tid.get()));
            long[] lat = new long[10];
            for (int i = 0; i < lat.length; i++) {
                int want = i % 2 == 0 ? 1 : 0; // SCHED_FIFO, then back to SCHED_OTHER
                long t0 = System.nanoTime();
                executeCommand("syrup:map-put " + id + " type 0 " + (i % 2 == 0 ? 1 : 0));
                assertTrue("round " + i + ": policy " + policy(tid.get()), waitForPolicy(tid.get(), want));
                lat[i] = System.nanoTime() - t0;
            }
            java.util.Arrays.sort(lat);
            System.out.printf("syrup:map-put -> Camel -> thread class changed, sleeping thread, %d rounds:"
                    + " p50 %d us, max %d us%n", lat.length, lat[lat.length / 2] / 1000, lat[lat.length - 1] / 1000);
            executeCommand("syrup:undeploy " + id);
            assertEquals("undeploy restores the thread", 0, policy(tid.get()));
        } finally {
            t.interrupt();
            Files.deleteIfExists(policy);
        }
    }

    private static String lastWord(String out) {
        String[] words = out.trim().split("\\s+");
        return words[words.length - 1];
    }

    private static boolean waitForPolicy(int tid, int policy) throws Exception {
        long end = System.currentTimeMillis() + 3000;
        while (System.currentTimeMillis() < end) {
            if (policy(tid) == policy) {
                return true;
            }
            LockSupport.parkNanos(100_000);
        }
        return false;
    }

    /** Field 41 of /proc/<tid>/stat: the scheduling policy. */
    private static int policy(int tid) throws Exception {
        String s = Files.readString(Path.of("/proc/" + tid + "/stat"));
        String[] f = s.substring(s.lastIndexOf(')') + 2).split(" ");
        return Integer.parseInt(f[41 - 3]);
    }
}
