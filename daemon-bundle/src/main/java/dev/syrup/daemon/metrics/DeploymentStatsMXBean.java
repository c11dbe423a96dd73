package dev.syrup.daemon.metrics;

/**
 * One deployment's decision counters over JMX, e.g.
 * {@code dev.syrup:type=Deployment,id=d1,hook=socket_select,port=9000}. Every read asks the
 * kernel (summed over CPUs); a deployment that is gone reads as -1 / empty.
 */
public interface DeploymentStatsMXBean {

    String getId();

    String getHook();

    String getTarget();

    String getPolicy();

    String getOwner();

    /** Decisions per executor index. */
    long[] getExecutorDecisions();

    long getPass();

    long getDrop();

    /** Indexes beyond the hook's executor slots (handled like PASS). */
    long getOther();

    long getDecisions();
}
