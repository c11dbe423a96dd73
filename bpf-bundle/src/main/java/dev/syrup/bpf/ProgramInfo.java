package dev.syrup.bpf;

/**
 * What the kernel says about a program ({@code struct bpf_prog_info}).
 *
 * @param id kernel-wide program id
 * @param name up to 15 characters (the kernel truncates longer names)
 * @param type program type; {@link ProgramType#UNKNOWN} if newer than this library
 * @param typeId the raw {@code BPF_PROG_TYPE_*} number
 * @param tag the program's 8-byte tag as 16 hex digits
 */
public record ProgramInfo(int id, String name, ProgramType type, int typeId, String tag) {}
