package dev.syrup.backend.ghost;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.Test;

/**
 * The ghOSt agent's loop against an in-memory stand-in of the kernel's side
 * ({@link InMemoryGhostfs}: the queue, ring and transactions laid out as ghost.h documents them),
 * since no ghOSt kernel runs here: which messages become which events of the policy, which thread
 * each core is offered to (the paper's core-free semantics with the GET-priority decisions), what
 * the transactions hold, failed transactions, the ring's wrap and overflow, and the agent threads.
 */
class GhostAgentTest {

    /** get_priority's decisions: a thread whose scan[index] is 1 is DROP, the others ANY_CORE; every call recorded. */
    private static final class GetPriority implements GhostAgent.Decider {
        final Map<Integer, Long> scan = new HashMap<>();
        final List<String> calls = new ArrayList<>();

        @Override
        public synchronized int decide(int tid, int index, int event, int cpu) {
            calls.add(tid + ":" + event + ":" + cpu);
            return scan.getOrDefault(index, 0L) == 1 ? ThreadGlue.DROP : ThreadGlue.ANY_CORE;
        }
    }

    @Test
    void realGhostfsIsUnavailableHereWithTheReason() {
        UnsupportedOperationException e = assertThrows(UnsupportedOperationException.class, Ghostfs::open);
        assertTrue(e.getMessage().contains("no ghostfs at /sys/fs/ghost"), e.getMessage());
        assertTrue(e.getMessage().contains("SCHED_GHOST = 18"), e.getMessage());
    }

    @Test
    void messagesBecomeEventsAndFreeCoresGoToTheThreadsThePolicyPicks() {
        InMemoryGhostfs k = new InMemoryGhostfs(4);
        GetPriority policy = new GetPriority();
        policy.scan.put(2, 1L); // thread 2 serves a SCAN
        GhostAgent agent = new GhostAgent(k, List.of(1, 3), policy, 64);
        BitSet enclave = new BitSet();
        enclave.set(1);
        enclave.set(3);
        assertEquals(enclave, k.enclave);
        assertEquals(7, k.defaultQueue, "the agent's queue is the enclave's default");

        agent.register(101, 0);
        agent.register(102, 1);
        agent.register(103, 2);
        assertEquals(List.of(101, 102, 103), k.entered, "registered threads enter the enclave");
        assertEquals(3, agent.step());
        assertEquals(15, k.tail(), "three TASK_NEW of 40 bytes: 5 slots each");
        assertEquals(k.head(), k.tail());
        assertEquals(List.of(InMemoryGhostfs.gtid(101), InMemoryGhostfs.gtid(102), InMemoryGhostfs.gtid(103)), k.associated);
        assertEquals(List.of("101:0:-1", "102:0:-1", "103:0:-1"), policy.calls, "TASK_NEW is SYR_THREAD_NEW");
        assertEquals(List.of("1:101", "3:102"), k.ran, "the GET threads get the cores; the SCAN (DROP) waits");
        assertEquals(enclave, k.commits.get(0), "one commit for both cores");
        ByteBuffer txn = k.txn(1);
        assertEquals(1, txn.getInt(4), "cpu");
        assertEquals(Ghost.TXN_COMPLETE, txn.getInt(8), "state");
        assertEquals(1, txn.getInt(16), "task_barrier: the seqnum of its last message");
        assertEquals(Ghost.COMMIT_AT_TXN_COMMIT, txn.get(22), "commit_flags");
        assertEquals(InMemoryGhostfs.gtid(101), txn.getLong(24), "gtid");
        assertEquals(101, agent.running(0));
        assertEquals(102, agent.running(1));

        // The GET thread on CPU 1 blocks: CPU 1 is free, and only the SCAN thread wants it.
        k.produce(Ghost.MSG_TASK_BLOCKED, 101, 1);
        assertEquals(1, agent.step());
        assertEquals("101:2:1", last(policy.calls), "BLOCKED on CPU 1");
        assertEquals("1:103", last(k.ran));

        // It wakes up: it takes CPU 1 back from the SCAN thread at once (strict priority).
        k.produce(Ghost.MSG_TASK_WAKEUP, 101, 1);
        agent.step();
        assertEquals("101:1:1", last(policy.calls), "WAKEUP");
        assertEquals("1:101", last(k.ran));
        assertEquals(101, agent.running(0));
        // The kernel tells of the preemption; no core is free for the SCAN thread.
        int commits = k.commits.size();
        k.produce(Ghost.MSG_TASK_PREEMPT, 103, 1);
        agent.step();
        assertEquals("103:3:1", last(policy.calls), "PREEMPT");
        assertEquals(commits, k.commits.size(), "nothing to commit: both cores run GET threads");

        // The other GET thread blocks; the first transaction for the SCAN thread fails (a stale barrier).
        k.produce(Ghost.MSG_TASK_BLOCKED, 102, 3);
        k.failNext.add(Ghost.TXN_COMPLETE + 3); // TARGET_STALE
        agent.step();
        assertEquals("TARGET_STALE", Ghost.txnStateName(k.txn(3).getInt(8)));
        assertEquals(0, agent.running(1), "a failed transaction runs nothing");
        agent.step();
        assertEquals("3:103", last(k.ran), "offered again, and committed");
        assertArrayEquals(new long[] {7, 5, 1, 0}, agent.counters(), "messages, commits, failures, overflow");

        // The first GET thread dies: its status word is freed, its core is free, nothing else is runnable.
        k.produce(Ghost.MSG_TASK_DEAD, 101, -1);
        commits = k.commits.size();
        agent.step();
        assertEquals("101:4:-1", last(policy.calls), "DEAD is SYR_THREAD_EXITED");
        assertArrayEquals(new int[] {0, 1}, k.freed.get(0), "status word region 0, index from its TASK_NEW");
        assertEquals(0, agent.running(0));
        assertEquals(commits, k.commits.size());

        // A thread nobody registered is not scheduled.
        k.produce(Ghost.MSG_TASK_NEW, 999, -1);
        agent.step();
        assertEquals(0, agent.running(0));
        assertFalse(k.associated.contains(InMemoryGhostfs.gtid(999)));

        agent.close();
        assertTrue(k.destroyed, "closing the agent destroys the enclave: its threads are back in CFS");
    }

    @Test
    void theRingWrapsWithANopAndOverflowIsCounted() {
        InMemoryGhostfs k = new InMemoryGhostfs(1);
        GetPriority policy = new GetPriority();
        GhostAgent agent = new GhostAgent(k, List.of(0), policy, 8); // 8 slots: one 40-byte message fits at a time
        agent.register(11, 0);
        assertEquals(1, agent.step());
        assertEquals(5, k.tail());
        k.produce(Ghost.MSG_TASK_BLOCKED, 11, 0); // slot 5: does not fit before the end, a NOP takes 5..7
        assertEquals(2, agent.step(), "the NOP and the message");
        assertEquals(13, k.tail());
        assertEquals("11:2:0", last(policy.calls));
        k.produce(Ghost.MSG_TASK_WAKEUP, 11, 0);
        assertEquals(-1, k.produce(Ghost.MSG_TASK_BLOCKED, 11, 0), "the ring is full: the kernel counts an overflow");
        agent.step();
        assertEquals(1, agent.counters()[3], "the overflow is seen");
        assertEquals("11:1:0", last(policy.calls));
        agent.close();
    }

    @Test
    void anAgentPerCoreTheGlobalOneRunsTheLoop() throws Exception {
        InMemoryGhostfs k = new InMemoryGhostfs(2);
        GhostAgent agent = new GhostAgent(k, List.of(0, 1), new GetPriority(), 64);
        agent.start();
        assertEquals(java.util.Set.of(0, 1), k.agents, "every core of the enclave has its agent");
        long end = System.nanoTime() + 5_000_000_000L;
        while (!k.online && System.nanoTime() < end) {
            LockSupport.parkNanos(1_000_000);
        }
        assertTrue(k.online, "online once every agent is attached");
        agent.register(21, 0);
        while (agent.running(0) != 21 && System.nanoTime() < end) {
            LockSupport.parkNanos(1_000_000);
        }
        assertEquals(21, agent.running(0), "the global agent's loop scheduled it");
        agent.close();
        assertTrue(k.destroyed);
    }

    private static String last(List<String> l) {
        return l.get(l.size() - 1);
    }
}
