package dev.syrup.backend.ghost;

import java.nio.ByteBuffer;
import java.util.BitSet;

/**
 * What the ghOSt agent ({@link GhostAgent}) asks of a ghOSt kernel, one method per operation of
 * the ABI (google/ghost-kernel {@code include/uapi/linux/ghost.h}, GHOST_VERSION 57): enclave
 * files of ghostfs, the enclave ctl fd's ioctls, the shared memory it maps. {@link Ghostfs} is
 * the real one; the agent's tests use an in-memory stand-in that lays messages and transactions
 * out as the header documents (no ghOSt kernel runs here).
 */
interface GhostKernel extends AutoCloseable {

    /** Size of one {@code struct ghost_cpu_data} in the cpu_data region: one page per CPU. */
    int CPU_DATA_SIZE = 4096;

    /**
     * Creates an enclave of {@code cpus} (ghostfs {@code ctl}: {@code create <id> <version>}, then
     * its {@code cpumask}) and maps its {@code cpu_data}: a {@code struct ghost_cpu_data} per CPU,
     * {@link #CPU_DATA_SIZE} bytes each, its {@code struct ghost_txn} at offset 0.
     */
    ByteBuffer createEnclave(BitSet cpus);

    /**
     * GHOST_IOC_CREATE_QUEUE with room for {@code elems} messages, then the queue mapped:
     * {@code struct ghost_queue_header} (version, start, nelems) at 0, {@code struct ghost_ring}
     * (head, tail, overflow, then {@code nelems} 8-byte slots) at {@code start}. Returns the queue's fd.
     */
    int createQueue(int elems);

    /** The mapping of queue {@code fd} ({@link #createQueue}). */
    ByteBuffer queue(int fd);

    /** GHOST_IOC_SET_DEFAULT_QUEUE: messages of tasks entering the enclave go to queue {@code fd}. */
    void setDefaultQueue(int fd);

    /** GHOST_IOC_ASSOC_QUEUE of task {@code gtid}'s messages with queue {@code fd}; returns the status flags. */
    int associateQueue(int fd, long gtid, int barrier);

    /** The calling thread becomes the enclave's agent on {@code cpu} (ctl: {@code become agent <cpu> <queue fd>}). */
    void becomeAgent(int cpu, int queueFd);

    /** An agent with nothing to do gives its CPU back until the kernel wakes it (ghost_run(GHOST_NULL_GTID)). */
    void yieldAgent(int cpu);

    /** Advertises the enclave's agent as online (opens {@code agent_online} for writing). */
    void online();

    /** Moves thread {@code tid} into the enclave, SCHED_GHOST (writes it to the enclave's {@code tasks}). */
    void enterGhost(int tid);

    /** GHOST_IOC_COMMIT_TXN of the transactions opened for {@code cpus}. */
    void commit(BitSet cpus);

    /** GHOST_IOC_SW_FREE of a dead task's status word (from its TASK_NEW). */
    void freeStatusWord(int region, int index);

    /** Destroys the enclave (its tasks go back to CFS) and unmaps and closes everything. */
    @Override
    void close();
}
