package dev.syrup.backend.ghost;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.junit.jupiter.api.Test;

/** The ghOSt engine's encoding against ghost.h's documented layout (offsets written out by hand here). */
class GhostAbiTest {

    @Test
    void messageTypesAndIoctl() {
        assertEquals(64, Ghost.MSG_TASK_DEAD);
        assertEquals(66, Ghost.MSG_TASK_WAKEUP);
        assertEquals(67, Ghost.MSG_TASK_NEW);
        assertEquals(68, Ghost.MSG_TASK_PREEMPT);
        assertEquals(128, Ghost.MSG_CPU_TICK);
        // _IOW('g', 8, struct ghost_ioc_commit_txn): dir 1 << 30 | size 16 << 16 | 'g' << 8 | 8
        assertEquals(0x40106708L, Ghost.IOC_COMMIT_TXN);
    }

    @Test
    void gtidKeepsThePid() {
        long g = Ghost.gtid(123456, 7);
        assertEquals((123456L << 41) | 7, g);
        assertEquals(123456, Ghost.tidOf(g));
        assertTrue(g > 0, "normal tasks have positive gtids");
    }

    @Test
    void wakeupMessageLayout() {
        ByteBuffer ring = ByteBuffer.allocate(256).order(ByteOrder.LITTLE_ENDIAN);
        long gtid = Ghost.gtid(4242, 1);
        int len = Ghost.encode(ring, 16, Ghost.MSG_TASK_WAKEUP, 9, gtid, 3);
        assertEquals(8 + 32, len);
        assertEquals(Ghost.MSG_TASK_WAKEUP, ring.getShort(16));
        assertEquals(40, ring.getShort(18));
        assertEquals(9, ring.getInt(20));
        assertEquals(gtid, ring.getLong(24));
        assertEquals(3, ring.getInt(24 + 24), "wake_up_cpu at payload offset 24");
        assertEquals(new Ghost.Event(4242, ThreadGlue.EV_WOKE, 3), Ghost.decode(ring, 16).orElseThrow());
    }

    @Test
    void blockedPreemptDeadNewDecode() {
        ByteBuffer ring = ByteBuffer.allocate(512).order(ByteOrder.LITTLE_ENDIAN);
        int off = 0;
        off += Ghost.encode(ring, off, Ghost.MSG_TASK_BLOCKED, 1, Ghost.gtid(10, 1), 1);
        int pre = off;
        off += Ghost.encode(ring, off, Ghost.MSG_TASK_PREEMPT, 2, Ghost.gtid(11, 1), 0);
        int dead = off;
        off += Ghost.encode(ring, off, Ghost.MSG_TASK_DEAD, 3, Ghost.gtid(12, 1), 0);
        int nw = off;
        off += Ghost.encode(ring, off, Ghost.MSG_TASK_NEW, 4, Ghost.gtid(13, 1), 0);
        assertEquals(40 + 48 + 16 + 40, off);
        assertEquals(new Ghost.Event(10, ThreadGlue.EV_BLOCKED, 1), Ghost.decode(ring, 0).orElseThrow());
        assertEquals(0, ring.getInt(pre + 8 + 32), "preempt cpu at payload offset 32");
        assertEquals(new Ghost.Event(11, ThreadGlue.EV_PREEMPTED, 0), Ghost.decode(ring, pre).orElseThrow());
        assertEquals(new Ghost.Event(12, ThreadGlue.EV_EXITED, -1), Ghost.decode(ring, dead).orElseThrow());
        assertEquals(1, ring.getShort(nw + 8 + 16), "TASK_NEW runnable at payload offset 16");
        assertEquals(new Ghost.Event(13, ThreadGlue.EV_NEW, -1), Ghost.decode(ring, nw).orElseThrow());
    }

    @Test
    void cpuMessagesAreNoThreadEventsAndShortMessagesAreRefused() {
        ByteBuffer ring = ByteBuffer.allocate(64).order(ByteOrder.LITTLE_ENDIAN);
        ring.putShort(0, (short) Ghost.MSG_CPU_TICK).putShort(2, (short) 12);
        assertTrue(Ghost.decode(ring, 0).isEmpty());
        ring.putShort(0, (short) Ghost.MSG_TASK_WAKEUP).putShort(2, (short) 16);
        assertThrows(IllegalArgumentException.class, () -> Ghost.decode(ring, 0));
    }

    @Test
    void transactionLayout() {
        ByteBuffer txn = ByteBuffer.allocate(Ghost.TXN_SIZE).order(ByteOrder.LITTLE_ENDIAN);
        long gtid = Ghost.gtid(777, 5);
        Ghost.encodeTxn(txn, 1, gtid, 17, 23, Ghost.RTLA_ON_PREEMPT | Ghost.RTLA_ON_BLOCKED, Ghost.COMMIT_AT_TXN_COMMIT);
        assertEquals(0, txn.getInt(0), "version");
        assertEquals(1, txn.getInt(4), "cpu");
        assertEquals(Integer.MAX_VALUE, txn.getInt(8), "state READY");
        assertEquals(17, txn.getInt(12), "agent_barrier");
        assertEquals(23, txn.getInt(16), "task_barrier");
        assertEquals(3, txn.getShort(20), "run_flags");
        assertEquals(2, txn.get(22), "commit_flags");
        assertEquals(gtid, txn.getLong(24), "gtid");
        assertEquals("READY", Ghost.txnStateName(Ghost.txnState(txn)));
        assertEquals("COMPLETE", Ghost.txnStateName(Integer.MIN_VALUE));
        assertEquals("TARGET_STALE", Ghost.txnStateName(Integer.MIN_VALUE + 3));
        assertEquals("CLAIMED by cpu 1", Ghost.txnStateName(1));
    }

    @Test
    void ringIndexes() {
        ByteBuffer r = ByteBuffer.allocate(Ghost.RING_HEADER).order(ByteOrder.LITTLE_ENDIAN);
        r.putInt(0, 10).putInt(4, 7).putInt(8, 1);
        assertEquals(new Ghost.RingIndexes(10, 7, 1), Ghost.ring(r));
    }
}
