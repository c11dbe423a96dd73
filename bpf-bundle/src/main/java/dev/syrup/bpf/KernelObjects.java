package dev.syrup.bpf;

import dev.syrup.bpf.internal.Native;
import dev.syrup.linux.Structs.BpfLinkInfo;
import java.util.ArrayList;
import java.util.List;

/**
 * All programs and maps loaded in the kernel (bpftool prog/map show), by walking the id space
 * with bpf_{prog,map}_get_next_id, opening each by id and reading its info. Objects that vanish
 * meanwhile are skipped. Needs CAP_SYS_ADMIN. Used for leak checks.
 */
public final class KernelObjects {

    private KernelObjects() {}

    public static List<ProgramInfo> programs() {
        Native n = Native.get();
        List<ProgramInfo> out = new ArrayList<>();
        int[] next = new int[1];
        int id = 0;
        while (true) {
            int rc = n.bpf().bpf_prog_get_next_id(id, next);
            if (rc == -Errno.ENOENT) {
                return out;
            }
            Native.checkBpf("bpf_prog_get_next_id(" + id + ")", rc);
            id = next[0];
            int fd = n.bpf().bpf_prog_get_fd_by_id(id);
            if (fd == -Errno.ENOENT) {
                continue;
            }
            Native.checkBpf("bpf_prog_get_fd_by_id(" + id + ")", fd);
            try {
                out.add(Infos.program(fd));
            } finally {
                n.close(fd);
            }
        }
    }

    public static List<MapInfo> maps() {
        Native n = Native.get();
        List<MapInfo> out = new ArrayList<>();
        int[] next = new int[1];
        int id = 0;
        while (true) {
            int rc = n.bpf().bpf_map_get_next_id(id, next);
            if (rc == -Errno.ENOENT) {
                return out;
            }
            Native.checkBpf("bpf_map_get_next_id(" + id + ")", rc);
            id = next[0];
            int fd = n.bpf().bpf_map_get_fd_by_id(id);
            if (fd == -Errno.ENOENT) {
                continue;
            }
            Native.checkBpf("bpf_map_get_fd_by_id(" + id + ")", fd);
            try {
                out.add(Infos.map(fd));
            } finally {
                n.close(fd);
            }
        }
    }

    /**
     * A BPF link as the kernel lists it (bpftool link show).
     *
     * @param id        the link's id
     * @param type      {@code enum bpf_link_type} (5: netns)
     * @param programId the program it attaches
     */
    public record LinkInfo(int id, int type, int programId) {
    }

    /** All BPF links in the kernel, for leak checks. */
    public static List<LinkInfo> links() {
        Native n = Native.get();
        List<LinkInfo> out = new ArrayList<>();
        int[] next = new int[1];
        int id = 0;
        while (true) {
            int rc = n.bpf().bpf_link_get_next_id(id, next);
            if (rc == -Errno.ENOENT) {
                return out;
            }
            Native.checkBpf("bpf_link_get_next_id(" + id + ")", rc);
            id = next[0];
            int fd = n.bpf().bpf_link_get_fd_by_id(id);
            if (fd == -Errno.ENOENT) {
                continue;
            }
            Native.checkBpf("bpf_link_get_fd_by_id(" + id + ")", fd);
            try {
                jnr.ffi.Pointer info = n.allocate(BpfLinkInfo.SIZE);
                int[] len = {BpfLinkInfo.SIZE};
                Native.checkBpf("bpf_obj_get_info_by_fd(link " + id + ")", n.bpf().bpf_obj_get_info_by_fd(fd, info, len));
                out.add(new LinkInfo(info.getInt(BpfLinkInfo.ID), info.getInt(BpfLinkInfo.TYPE), info.getInt(BpfLinkInfo.PROG_ID)));
            } finally {
                n.close(fd);
            }
        }
    }
}
