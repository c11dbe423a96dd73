package dev.syrup.bpf;

/** Program types with the kernel's numbers ({@code enum bpf_prog_type} of linux/bpf.h). */
public enum ProgramType {
    UNSPEC(0),
    SOCKET_FILTER(1),
    KPROBE(2),
    SCHED_CLS(3),
    SCHED_ACT(4),
    TRACEPOINT(5),
    XDP(6),
    PERF_EVENT(7),
    CGROUP_SKB(8),
    CGROUP_SOCK(9),
    LWT_IN(10),
    LWT_OUT(11),
    LWT_XMIT(12),
    SOCK_OPS(13),
    SK_SKB(14),
    CGROUP_DEVICE(15),
    SK_MSG(16),
    RAW_TRACEPOINT(17),
    CGROUP_SOCK_ADDR(18),
    LWT_SEG6LOCAL(19),
    LIRC_MODE2(20),
    SK_REUSEPORT(21),
    FLOW_DISSECTOR(22),
    CGROUP_SYSCTL(23),
    RAW_TRACEPOINT_WRITABLE(24),
    CGROUP_SOCKOPT(25),
    TRACING(26),
    STRUCT_OPS(27),
    EXT(28),
    LSM(29),
    SK_LOOKUP(30),
    SYSCALL(31),
    NETFILTER(32),
    /** A number this library does not know (newer kernel); see the raw number where offered. */
    UNKNOWN(-1);

    private static final ProgramType[] BY_ID = new ProgramType[33];

    static {
        for (ProgramType t : values()) {
            if (t.id >= 0) {
                BY_ID[t.id] = t;
            }
        }
    }

    private final int id;

    ProgramType(int id) {
        this.id = id;
    }

    /** The kernel's number (BPF_PROG_TYPE_*), -1 for {@link #UNKNOWN}. */
    public int id() {
        return id;
    }

    /** The constant for a kernel number; {@link #UNKNOWN} when out of range. */
    public static ProgramType of(int id) {
        return id >= 0 && id < BY_ID.length ? BY_ID[id] : UNKNOWN;
    }
}
