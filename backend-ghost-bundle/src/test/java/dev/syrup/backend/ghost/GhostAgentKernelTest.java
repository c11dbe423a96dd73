package dev.syrup.backend.ghost;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The ghOSt agent's loop with the verified policy: the built-in get_priority, compiled with the
 * hook's glue and loaded through the kernel's verifier, decides for every message the in-memory
 * stand-in of a ghOSt kernel ({@link InMemoryGhostfs}) queues; its Map {@code scan} steers which
 * thread each core goes to.
 */
class GhostAgentKernelTest {

    @TempDir
    Path dir;

    @BeforeEach
    void kernel() {
        ThreadSchedulerKernelTest.requireKernel();
    }

    @Test
    void theVerifiedPolicyPicksWhoGetsEachCore() throws Exception {
        Path obj = ThreadPolicies.compile(dir, "get_priority", ThreadPolicies.builtin("get_priority"), 1, "NUM_THREADS=4");
        InMemoryGhostfs k = new InMemoryGhostfs(1);
        try (VerifiedPolicy policy = new VerifiedPolicy(obj, 64); GhostAgent agent = new GhostAgent(k, List.of(0), policy, 64)) {
            policy.map("scan").update(0, 1); // thread 0 serves a SCAN: SYR_DROP
            agent.register(201, 0);
            agent.register(202, 1);
            assertEquals(2, agent.step());
            assertEquals(List.of("0:202"), k.ran, "the core goes to the GET thread, not the one serving a SCAN");
            assertEquals(ThreadGlue.DROP, policy.decide(201, 0, ThreadGlue.EV_CHANGED, -1));
            assertEquals(ThreadGlue.PASS, policy.decide(202, 1, ThreadGlue.EV_CHANGED, -1));

            k.produce(Ghost.MSG_TASK_BLOCKED, 202, 0);
            agent.step();
            assertEquals("0:201", k.ran.get(k.ran.size() - 1), "nothing else wants the core: the SCAN thread runs");

            k.produce(Ghost.MSG_TASK_WAKEUP, 202, 0); // the GET thread wakes: it takes the core from the SCAN thread
            agent.step();
            assertEquals("0:202", k.ran.get(k.ran.size() - 1));
            assertEquals(202, agent.running(0));

            policy.map("scan").update(0, 0); // its SCAN is done: once preempted it is an ordinary thread again
            k.produce(Ghost.MSG_TASK_PREEMPT, 201, 0);
            k.produce(Ghost.MSG_TASK_BLOCKED, 202, 0);
            agent.step();
            assertEquals("0:201", k.ran.get(k.ran.size() - 1));
            assertEquals(ThreadGlue.PASS, policy.decide(201, 0, ThreadGlue.EV_CHANGED, -1));
            assertEquals(4, agent.counters()[1], "transactions completed");
        }
        assertTrue(k.destroyed);
    }
}
