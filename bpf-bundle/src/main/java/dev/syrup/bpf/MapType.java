package dev.syrup.bpf;

/** Map types with the kernel's numbers ({@code enum bpf_map_type} of linux/bpf.h). */
public enum MapType {
    UNSPEC(0),
    HASH(1),
    ARRAY(2),
    PROG_ARRAY(3),
    PERF_EVENT_ARRAY(4),
    PERCPU_HASH(5),
    PERCPU_ARRAY(6),
    STACK_TRACE(7),
    CGROUP_ARRAY(8),
    LRU_HASH(9),
    LRU_PERCPU_HASH(10),
    LPM_TRIE(11),
    ARRAY_OF_MAPS(12),
    HASH_OF_MAPS(13),
    DEVMAP(14),
    SOCKMAP(15),
    CPUMAP(16),
    XSKMAP(17),
    SOCKHASH(18),
    CGROUP_STORAGE(19),
    REUSEPORT_SOCKARRAY(20),
    PERCPU_CGROUP_STORAGE(21),
    QUEUE(22),
    STACK(23),
    SK_STORAGE(24),
    DEVMAP_HASH(25),
    STRUCT_OPS(26),
    RINGBUF(27),
    INODE_STORAGE(28),
    TASK_STORAGE(29),
    BLOOM_FILTER(30),
    USER_RINGBUF(31),
    CGRP_STORAGE(32),
    ARENA(33),
    /** A number this library does not know (newer kernel); see the raw number where offered. */
    UNKNOWN(-1);

    private static final MapType[] BY_ID = new MapType[34];

    static {
        for (MapType t : values()) {
            if (t.id >= 0) {
                BY_ID[t.id] = t;
            }
        }
    }

    private final int id;

    MapType(int id) {
        this.id = id;
    }

    /** The kernel's number (BPF_MAP_TYPE_*), -1 for {@link #UNKNOWN}. */
    public int id() {
        return id;
    }

    /** The constant for a kernel number; {@link #UNKNOWN} when out of range. */
    public static MapType of(int id) {
        return id >= 0 && id < BY_ID.length ? BY_ID[id] : UNKNOWN;
    }
}
