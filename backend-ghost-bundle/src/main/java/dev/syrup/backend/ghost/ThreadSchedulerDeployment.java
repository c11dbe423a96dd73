package dev.syrup.backend.ghost;

import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
import dev.syrup.hook.spi.HookDeployment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A thread_scheduler deployment, whatever its engine ({@link ThreadDeployment} on stock Linux,
 * {@link GhostDeployment} on ghOSt): what the hook asks of it besides {@link HookDeployment}.
 * Executors are the configured cores; inputs are the threads an application registers.
 */
interface ThreadSchedulerDeployment extends HookDeployment {

    /** The executor cores, in index order. */
    List<Integer> cores();

    /** The deployment's id (its pin dir's name), as Map events name it. */
    String id();

    /** The directory of the owner's pin dirs: where the {@link dev.syrup.hook.kit.MapRegistry} finds who shares a Map. */
    Path ownerDir();

    /** Where its registrations are saved ({@link SavedThreads#pinOf}). */
    Path savedPin();

    /** Registers again the threads a previous syrupd had registered here; returns how many. */
    int readopt(List<SavedThreads.Entry> again);

    /** Entry {@code key} of the policy's Map {@code map} changed: re-decide the thread at that index. */
    boolean mapChanged(String map, int key);

    /** Puts the thread back as it was registered and forgets it; false when it was not registered. */
    boolean unregisterThread(int tid);

    @Override
    default int executors() {
        return cores().size();
    }

    @Override
    default List<String> describeExecutors() {
        List<String> out = new ArrayList<>();
        for (int c : cores()) {
            out.add("core " + c);
        }
        return out;
    }

    /** Executors are the configured cores; an application registers threads (inputs) instead. */
    @Override
    default void registerExecutor(int index, long pid, int fd) throws SyrupException {
        throw new SyrupException(Kind.INVALID, "thread_scheduler's executors are the configured cores " + cores()
                + "; register threads with registerThread");
    }
}
