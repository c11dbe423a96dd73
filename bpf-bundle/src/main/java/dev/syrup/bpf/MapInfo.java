package dev.syrup.bpf;

/**
 * What the kernel says about a map ({@code struct bpf_map_info}).
 *
 * @param id kernel-wide map id
 * @param name up to 15 characters
 * @param type map type; {@link MapType#UNKNOWN} if newer than this library, see {@code typeId}
 * @param typeId the raw {@code BPF_MAP_TYPE_*} number
 */
public record MapInfo(int id, String name, MapType type, int typeId, int keySize, int valueSize, int maxEntries,
        int flags) {}
