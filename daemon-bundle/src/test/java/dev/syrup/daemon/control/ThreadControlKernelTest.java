package dev.syrup.daemon.control;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.syrup.backend.ghost.Sched;
import dev.syrup.backend.ghost.ThreadSchedulerHook;
import dev.syrup.hook.spi.Hook;
import java.lang.reflect.Method;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * REGISTER_THREAD over the control socket, with two unprivileged tenant JVMs and the real
 * thread_scheduler hook: a tenant's own threads move, another tenant's are DENIED and stay as
 * they are, undeploy puts them back, and the tenant's exit ends its deployment.
 */
class ThreadControlKernelTest {

    @Test
    void tenantsRegisterOnlyTheirOwnThreads() throws Exception {
        ControlTestSupport.requireKernel();
        ThreadSchedulerHook thread = new ThreadSchedulerHook(ThreadSchedulerHook.Settings.defaults().withEngine("linux"));
        Assumptions.assumeTrue(thread.availability().available(), thread.availability().toString());
        Sched sched = Sched.get();
        try (ControlTestSupport s = new ControlTestSupport()) {
            Method add = s.manager.getClass().getDeclaredMethod("addHook", Hook.class);
            add.setAccessible(true);
            add.invoke(s.manager, thread);
            ControlTestSupport.App a = s.app(ControlTestSupport.UID_A);
            ControlTestSupport.App b = s.app(ControlTestSupport.UID_B);
            // every registered thread runs SCHED_FIFO: what moves is plain to see
            java.nio.file.Path any = s.root.resolve("any.c");
            java.nio.file.Files.writeString(any, "uint32_t schedule(void *pkt_start, void *pkt_end)\n{\n\treturn SYR_ANY_CORE;\n}\n");
            any.toFile().setReadable(true, false);
            String id = a.ok("deploythread " + any + " " + a.ok("open 1").trim()).trim();
            String idB = b.ok("deploythread " + any + " " + b.ok("open 1").trim()).trim();
            int ta = Integer.parseInt(a.ok("spawn").trim());
            int tb = Integer.parseInt(b.ok("spawn").trim());
            Sched.State origA = sched.state(ta), origB = sched.state(tb);

            assertEquals("0", a.ok("regthread " + id + " " + ta).trim());
            assertTrue(eventually(() -> sched.policy(ta) == Sched.SCHED_FIFO, 2000), "tenant A's registered thread");
            // B names A's thread in its own deployment, and in A's deployment: both DENIED
            assertTrue(b.call("regthread " + idB + " " + ta).startsWith("ERR DENIED"), "another tenant's thread");
            assertTrue(b.call("regthread " + id + " " + tb).startsWith("ERR DENIED"), "another tenant's deployment");
            // A names B's thread: DENIED too
            assertTrue(a.call("regthread " + id + " " + tb).startsWith("ERR DENIED"));
            assertEquals(origB, sched.state(tb), "B's thread untouched");

            int all = Integer.parseInt(a.ok("regthread " + id + " 0").trim());
            assertTrue(all > 1, "every thread of A: " + all);
            a.ok("undeploy " + id);
            assertEquals(origA, sched.state(ta), "undeploy restores A's thread exactly");

            b.ok("regthread " + idB + " " + tb);
            assertTrue(eventually(() -> sched.policy(tb) == Sched.SCHED_FIFO, 2000), "tenant B's registered thread");
            b.exit(); // the application exits: its deployment ends with it
            assertTrue(eventually(() -> s.manager.list().isEmpty(), 5000), "deployments left: " + s.manager.list());
        }
    }

    private static boolean eventually(BooleanSupplier c, long ms) {
        long end = System.nanoTime() + ms * 1_000_000L;
        while (System.nanoTime() < end) {
            try {
                if (c.getAsBoolean()) {
                    return true;
                }
            } catch (RuntimeException e) {
                // the thread may be gone
            }
            LockSupport.parkNanos(1_000_000);
        }
        return c.getAsBoolean();
    }
}
