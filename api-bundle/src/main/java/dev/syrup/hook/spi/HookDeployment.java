package dev.syrup.hook.spi;

import dev.syrup.api.DeploymentStats;
import dev.syrup.api.KernelProgram;
import dev.syrup.api.SyrupException;
import dev.syrup.api.Target;
import dev.syrup.api.map.SyrupMap;
import java.nio.file.Path;
import java.util.List;
import org.osgi.annotation.versioning.ConsumerType;

/**
 * One policy slot at a hook: the executors adopted for a target and the policy running there.
 * It owns every kernel object it creates; {@link #close()} releases all of them and restores
 * the layer's default scheduling.
 */
@ConsumerType
public interface HookDeployment extends AutoCloseable {

    Target target();

    /** Number of executors; the policy's valid indexes are {@code 0 .. executors()-1}. */
    int executors();

    /** One line per executor, in index order, for people (e.g. {@code socket inode 81234 pid 77}). */
    List<String> describeExecutors();

    /**
     * Loads the compiled policy and makes it the one that runs. When a policy already runs,
     * this is make-before-break: the new program is loaded and verified first and swapped in
     * atomically; on any failure the old one keeps running and nothing changes.
     *
     * @param object the ELF object the daemon compiled from the policy and {@link Hook#wrapper}
     * @throws SyrupException {@code VERIFIER} with the verifier's reason, or {@code KERNEL}
     */
    void install(Path object) throws SyrupException;

    /**
     * Puts an application's own executor at {@code index} (paper §3.2: "add network sockets
     * after bind()"), replacing what was there. The executor is named by its holder: file
     * descriptor {@code fd} in process {@code pid}, which the hook duplicates (pidfd_getfd).
     *
     * @throws SyrupException {@code INVALID} for an index out of range or an fd that is not an
     *                        executor of this hook's kind on this deployment's target
     */
    void registerExecutor(int index, long pid, int fd) throws SyrupException;

    /**
     * Registers thread {@code tid} as an input of this deployment (hooks whose inputs are
     * threads): the caller is process {@code pid} running as {@code uid}, and may register only
     * its own threads. Returns the thread's index (the key of per-thread Maps).
     *
     * @throws SyrupException {@code UNAVAILABLE} when the hook schedules no threads (the
     *                        default), {@code DENIED} for another process's or uid's thread,
     *                        {@code NOT_FOUND} for no such thread, {@code LIMIT} when full
     */
    default int registerThread(long pid, int uid, int tid) throws SyrupException {
        throw new SyrupException(SyrupException.Kind.UNAVAILABLE, "this hook schedules no threads");
    }

    /** The Maps the running policy declares (not the executor map), empty before install. */
    List<SyrupMap> maps();

    /**
     * Decision counters of this deployment (per executor, PASS, DROP), summed over CPUs.
     *
     * @throws SyrupException {@code UNAVAILABLE} when the hook does not count (the default),
     *                        {@code KERNEL} when reading the counters failed
     */
    default DeploymentStats stats() throws SyrupException {
        throw new SyrupException(SyrupException.Kind.UNAVAILABLE, "this hook keeps no decision counters");
    }

    /** The kernel program the running policy is (empty before install, or for a hook whose policy is no BPF program). */
    default java.util.Optional<KernelProgram> program() {
        return java.util.Optional.empty();
    }

    /** Detaches, restores the default, releases every fd, program, map and pin. Idempotent. */
    @Override
    void close();

    /**
     * As {@link #close()}, except that the policy's Maps stay pinned in the deployment's pin dir,
     * with their contents, for the next syrupd: when it opens a deployment on that pin dir again
     * (re-adopting it after a restart), the policy's first install gets those Maps back when their
     * shape matches. syrupd calls this when its framework shuts down. The default closes all.
     */
    default void closeKeepingMaps() {
        close();
    }
}
