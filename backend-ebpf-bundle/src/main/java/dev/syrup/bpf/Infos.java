package dev.syrup.bpf;

import dev.syrup.bpf.internal.Native;
import java.nio.charset.StandardCharsets;
import jnr.ffi.Pointer;

/** bpf_obj_get_info_by_fd for maps and programs (offsets from linux/bpf.h, checked against 6.x headers). */
final class Infos {

    // struct bpf_map_info: type 0, id 4, key_size 8, value_size 12, max_entries 16, map_flags 20, name[16] 24; sizeof 88
    private static final int MAP_INFO_SIZE = 88;
    // struct bpf_prog_info: type 0, id 4, tag[8] 8, name[16] 64; sizeof 232 (pointer fields left 0)
    private static final int PROG_INFO_SIZE = 232;

    private Infos() {}

    /**
     * bpf_obj_get_info_by_fd accepts any BPF fd, so check what kind the fd is first, from its
     * /proc/self/fd link: "anon_inode:bpf-map", "anon_inode:bpf-prog", "anon_inode:bpf_link".
     */
    static void requireKind(int fd, String anonInode) {
        String target;
        try {
            target = java.nio.file.Files.readSymbolicLink(java.nio.file.Path.of("/proc/self/fd/" + fd)).toString();
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException("readlink /proc/self/fd/" + fd, e);
        }
        if (!target.equals("anon_inode:" + anonInode)) {
            throw new IllegalArgumentException("fd " + fd + " is not a " + anonInode + " but " + target);
        }
    }

    static MapInfo map(int fd) {
        Native n = Native.get();
        Pointer info = n.allocate(MAP_INFO_SIZE);
        int[] len = {MAP_INFO_SIZE};
        Native.checkBpf("bpf_obj_get_info_by_fd(map fd " + fd + ")", n.bpf().bpf_obj_get_info_by_fd(fd, info, len));
        int typeId = info.getInt(0);
        return new MapInfo(info.getInt(4), cString(info, 24, 16), MapType.of(typeId), typeId, info.getInt(8),
                info.getInt(12), info.getInt(16), info.getInt(20));
    }

    /** {@code bpf_map_info.ifindex}: the device a map in NIC memory lives on, 0 for a host map. */
    static int mapIfindex(int fd) {
        Native n = Native.get();
        Pointer info = n.allocate(MAP_INFO_SIZE);
        int[] len = {MAP_INFO_SIZE};
        Native.checkBpf("bpf_obj_get_info_by_fd(map fd " + fd + ")", n.bpf().bpf_obj_get_info_by_fd(fd, info, len));
        return info.getInt(40);
    }

    static ProgramInfo program(int fd) {
        Native n = Native.get();
        Pointer info = n.allocate(PROG_INFO_SIZE);
        int[] len = {PROG_INFO_SIZE};
        Native.checkBpf("bpf_obj_get_info_by_fd(prog fd " + fd + ")", n.bpf().bpf_obj_get_info_by_fd(fd, info, len));
        int typeId = info.getInt(0);
        StringBuilder tag = new StringBuilder();
        for (int i = 0; i < 8; i++) {
            tag.append(String.format("%02x", info.getByte(8 + i) & 0xff));
        }
        return new ProgramInfo(info.getInt(4), cString(info, 64, 16), ProgramType.of(typeId), typeId, tag.toString());
    }

    private static String cString(Pointer p, long offset, int max) {
        byte[] b = new byte[max];
        p.get(offset, b, 0, max);
        int len = 0;
        while (len < max && b[len] != 0) {
            len++;
        }
        return new String(b, 0, len, StandardCharsets.UTF_8);
    }
}
