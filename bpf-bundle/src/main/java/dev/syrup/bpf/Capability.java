package dev.syrup.bpf;

/** The Linux capabilities that decide what bpf() allows ({@code linux/capability.h} numbers). */
public enum Capability {
    /** Device-bound (offloaded) maps; implies CAP_BPF and CAP_PERFMON for bpf(). */
    SYS_ADMIN(21),
    /** Networking program types (XDP, tc, ...) and device/socket/XSK maps. */
    NET_ADMIN(12),
    /** Pointer leaks, uninitialized stack reads, Spectre-v1/v4 exemptions, tracing helpers (probe_read*, get_current_task*, trace_printk). */
    PERFMON(38),
    /** Loading programs and creating maps, bounded loops, the CAP_BPF helpers (spin locks, timers, bpf_loop ...). */
    BPF(39);

    private final int number;

    Capability(int number) {
        this.number = number;
    }

    /** The kernel's number (CAP_*). */
    public int number() {
        return number;
    }
}
