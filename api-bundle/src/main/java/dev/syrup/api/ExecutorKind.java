package dev.syrup.api;

/** What a policy schedules onto; the policy returns an index into the deployment's executors. */
public enum ExecutorKind {
    SOCKET,
    CORE,
    XDP_SOCKET,
    RX_QUEUE;

    public String label() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }
}
