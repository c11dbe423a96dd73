package dev.syrup.bpf;

import dev.syrup.bpf.internal.Native;
import dev.syrup.linux.Structs.BpfMapInfo;
import dev.syrup.linux.Structs.BpfProgInfo;
import java.nio.charset.StandardCharsets;
import jnr.ffi.Pointer;

/** bpf_obj_get_info_by_fd for maps and programs (layouts: {@link BpfMapInfo}, {@link BpfProgInfo}). */
final class Infos {

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
        Pointer info = n.allocate(BpfMapInfo.SIZE);
        int[] len = {BpfMapInfo.SIZE};
        Native.checkBpf("bpf_obj_get_info_by_fd(map fd " + fd + ")", n.bpf().bpf_obj_get_info_by_fd(fd, info, len));
        int typeId = info.getInt(BpfMapInfo.TYPE);
        return new MapInfo(info.getInt(BpfMapInfo.ID), cString(info, BpfMapInfo.NAME, BpfMapInfo.NAME_SIZE),
                MapType.of(typeId), typeId, info.getInt(BpfMapInfo.KEY_SIZE), info.getInt(BpfMapInfo.VALUE_SIZE),
                info.getInt(BpfMapInfo.MAX_ENTRIES), info.getInt(BpfMapInfo.MAP_FLAGS));
    }

    /** {@code bpf_map_info.ifindex}: the device a map in NIC memory lives on, 0 for a host map. */
    static int mapIfindex(int fd) {
        Native n = Native.get();
        Pointer info = n.allocate(BpfMapInfo.SIZE);
        int[] len = {BpfMapInfo.SIZE};
        Native.checkBpf("bpf_obj_get_info_by_fd(map fd " + fd + ")", n.bpf().bpf_obj_get_info_by_fd(fd, info, len));
        return info.getInt(BpfMapInfo.IFINDEX);
    }

    static ProgramInfo program(int fd) {
        Native n = Native.get();
        Pointer info = n.allocate(BpfProgInfo.SIZE);
        int[] len = {BpfProgInfo.SIZE};
        Native.checkBpf("bpf_obj_get_info_by_fd(prog fd " + fd + ")", n.bpf().bpf_obj_get_info_by_fd(fd, info, len));
        int typeId = info.getInt(BpfProgInfo.TYPE);
        StringBuilder tag = new StringBuilder();
        for (int i = 0; i < BpfProgInfo.TAG_SIZE; i++) {
            tag.append(String.format("%02x", info.getByte(BpfProgInfo.TAG + i) & 0xff));
        }
        return new ProgramInfo(info.getInt(BpfProgInfo.ID), cString(info, BpfProgInfo.NAME, BpfProgInfo.NAME_SIZE),
                ProgramType.of(typeId), typeId, tag.toString());
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
