package dev.syrup.linux;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import jnr.ffi.Pointer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every offset and size in {@link Structs} and every constant in {@link LibC}, against the
 * system's headers: a C program prints what the compiler says (gcc, a build prerequisite), and
 * each value must be the Java one.
 */
class StructsTest {

    private record Check(String name, long java, String c) {
    }

    private static final List<Check> CHECKS = new ArrayList<>();

    private static void off(String name, long java, String struct, String field) {
        CHECKS.add(new Check(name, java, "offsetof(" + struct + ", " + field + ")"));
    }

    private static void size(String name, long java, String struct) {
        CHECKS.add(new Check(name, java, "sizeof(" + struct + ")"));
    }

    private static void constant(String name, long java) {
        CHECKS.add(new Check(name, java, name));
    }

    static {
        off("SockaddrUn.FAMILY", Structs.SockaddrUn.FAMILY, "struct sockaddr_un", "sun_family");
        off("SockaddrUn.PATH", Structs.SockaddrUn.PATH, "struct sockaddr_un", "sun_path");
        size("SockaddrUn.SIZE", Structs.SockaddrUn.SIZE, "struct sockaddr_un");
        CHECKS.add(new Check("SockaddrUn.MAX_PATH", Structs.SockaddrUn.MAX_PATH,
                "sizeof(((struct sockaddr_un *) 0)->sun_path) - 1"));

        off("SockaddrXdp.FAMILY", Structs.SockaddrXdp.FAMILY, "struct sockaddr_xdp", "sxdp_family");
        off("SockaddrXdp.FLAGS", Structs.SockaddrXdp.FLAGS, "struct sockaddr_xdp", "sxdp_flags");
        off("SockaddrXdp.IFINDEX", Structs.SockaddrXdp.IFINDEX, "struct sockaddr_xdp", "sxdp_ifindex");
        off("SockaddrXdp.QUEUE_ID", Structs.SockaddrXdp.QUEUE_ID, "struct sockaddr_xdp", "sxdp_queue_id");
        off("SockaddrXdp.SHARED_UMEM_FD", Structs.SockaddrXdp.SHARED_UMEM_FD, "struct sockaddr_xdp", "sxdp_shared_umem_fd");
        size("SockaddrXdp.SIZE", Structs.SockaddrXdp.SIZE, "struct sockaddr_xdp");

        off("Iovec.BASE", Structs.Iovec.BASE, "struct iovec", "iov_base");
        off("Iovec.LEN", Structs.Iovec.LEN, "struct iovec", "iov_len");
        size("Iovec.SIZE", Structs.Iovec.SIZE, "struct iovec");

        off("Msghdr.NAME", Structs.Msghdr.NAME, "struct msghdr", "msg_name");
        off("Msghdr.NAMELEN", Structs.Msghdr.NAMELEN, "struct msghdr", "msg_namelen");
        off("Msghdr.IOV", Structs.Msghdr.IOV, "struct msghdr", "msg_iov");
        off("Msghdr.IOVLEN", Structs.Msghdr.IOVLEN, "struct msghdr", "msg_iovlen");
        off("Msghdr.CONTROL", Structs.Msghdr.CONTROL, "struct msghdr", "msg_control");
        off("Msghdr.CONTROLLEN", Structs.Msghdr.CONTROLLEN, "struct msghdr", "msg_controllen");
        off("Msghdr.FLAGS", Structs.Msghdr.FLAGS, "struct msghdr", "msg_flags");
        size("Msghdr.SIZE", Structs.Msghdr.SIZE, "struct msghdr");

        off("Cmsghdr.LEN", Structs.Cmsghdr.LEN, "struct cmsghdr", "cmsg_len");
        off("Cmsghdr.LEVEL", Structs.Cmsghdr.LEVEL, "struct cmsghdr", "cmsg_level");
        off("Cmsghdr.TYPE", Structs.Cmsghdr.TYPE, "struct cmsghdr", "cmsg_type");
        CHECKS.add(new Check("Cmsghdr.DATA", Structs.Cmsghdr.DATA, "CMSG_LEN(0)"));
        CHECKS.add(new Check("Cmsghdr.len(4)", Structs.Cmsghdr.len(4), "CMSG_LEN(4)"));
        CHECKS.add(new Check("Cmsghdr.space(4)", Structs.Cmsghdr.space(4), "CMSG_SPACE(4)"));
        CHECKS.add(new Check("Cmsghdr.space(12)", Structs.Cmsghdr.space(12), "CMSG_SPACE(12)"));

        off("Ucred.PID", Structs.Ucred.PID, "struct ucred", "pid");
        off("Ucred.UID", Structs.Ucred.UID, "struct ucred", "uid");
        off("Ucred.GID", Structs.Ucred.GID, "struct ucred", "gid");
        size("Ucred.SIZE", Structs.Ucred.SIZE, "struct ucred");

        off("Timeval.SEC", Structs.Timeval.SEC, "struct timeval", "tv_sec");
        off("Timeval.USEC", Structs.Timeval.USEC, "struct timeval", "tv_usec");
        size("Timeval.SIZE", Structs.Timeval.SIZE, "struct timeval");

        off("Pollfd.FD", Structs.Pollfd.FD, "struct pollfd", "fd");
        off("Pollfd.EVENTS", Structs.Pollfd.EVENTS, "struct pollfd", "events");
        off("Pollfd.REVENTS", Structs.Pollfd.REVENTS, "struct pollfd", "revents");
        size("Pollfd.SIZE", Structs.Pollfd.SIZE, "struct pollfd");

        off("OpenHow.FLAGS", Structs.OpenHow.FLAGS, "struct open_how", "flags");
        off("OpenHow.MODE", Structs.OpenHow.MODE, "struct open_how", "mode");
        off("OpenHow.RESOLVE", Structs.OpenHow.RESOLVE, "struct open_how", "resolve");
        size("OpenHow.SIZE", Structs.OpenHow.SIZE, "struct open_how");

        off("Statx.UID", Structs.Statx.UID, "struct statx", "stx_uid");
        off("Statx.GID", Structs.Statx.GID, "struct statx", "stx_gid");
        off("Statx.MODE", Structs.Statx.MODE, "struct statx", "stx_mode");
        off("Statx.INO", Structs.Statx.INO, "struct statx", "stx_ino");
        off("Statx.DEV_MAJOR", Structs.Statx.DEV_MAJOR, "struct statx", "stx_dev_major");
        off("Statx.DEV_MINOR", Structs.Statx.DEV_MINOR, "struct statx", "stx_dev_minor");
        size("Statx.SIZE", Structs.Statx.SIZE, "struct statx");

        off("Statfs.TYPE", Structs.Statfs.TYPE, "struct statfs", "f_type");
        size("Statfs.SIZE", Structs.Statfs.SIZE, "struct statfs");

        off("Dirent.NAME", Structs.Dirent.NAME, "struct dirent", "d_name");
        CHECKS.add(new Check("Dirent.NAME_SIZE", Structs.Dirent.NAME_SIZE, "sizeof(((struct dirent *) 0)->d_name)"));

        off("CapHeader.VERSION", Structs.CapHeader.VERSION, "struct __user_cap_header_struct", "version");
        off("CapHeader.PID", Structs.CapHeader.PID, "struct __user_cap_header_struct", "pid");
        size("CapHeader.SIZE", Structs.CapHeader.SIZE, "struct __user_cap_header_struct");
        off("CapData.EFFECTIVE", Structs.CapData.EFFECTIVE, "struct __user_cap_data_struct", "effective");
        off("CapData.PERMITTED", Structs.CapData.PERMITTED, "struct __user_cap_data_struct", "permitted");
        off("CapData.INHERITABLE", Structs.CapData.INHERITABLE, "struct __user_cap_data_struct", "inheritable");
        size("CapData.ONE", Structs.CapData.ONE, "struct __user_cap_data_struct");
        CHECKS.add(new Check("CapData.SIZE", Structs.CapData.SIZE,
                "_LINUX_CAPABILITY_U32S_3 * sizeof(struct __user_cap_data_struct)"));

        off("SchedParam.PRIORITY", Structs.SchedParam.PRIORITY, "struct sched_param", "sched_priority");
        size("SchedParam.SIZE", Structs.SchedParam.SIZE, "struct sched_param");
        size("CpuSet.SIZE", Structs.CpuSet.SIZE, "cpu_set_t");

        off("PerfEventAttr.TYPE", Structs.PerfEventAttr.TYPE, "struct perf_event_attr", "type");
        off("PerfEventAttr.SIZE_FIELD", Structs.PerfEventAttr.SIZE_FIELD, "struct perf_event_attr", "size");
        off("PerfEventAttr.CONFIG", Structs.PerfEventAttr.CONFIG, "struct perf_event_attr", "config");
        off("PerfEventAttr.SAMPLE_PERIOD", Structs.PerfEventAttr.SAMPLE_PERIOD, "struct perf_event_attr", "sample_period");
        CHECKS.add(new Check("PerfEventAttr.SIZE", Structs.PerfEventAttr.SIZE, "PERF_ATTR_SIZE_VER7"));

        off("XdpRingOffset.PRODUCER", Structs.XdpRingOffset.PRODUCER, "struct xdp_ring_offset", "producer");
        off("XdpRingOffset.CONSUMER", Structs.XdpRingOffset.CONSUMER, "struct xdp_ring_offset", "consumer");
        off("XdpRingOffset.DESC", Structs.XdpRingOffset.DESC, "struct xdp_ring_offset", "desc");
        off("XdpRingOffset.FLAGS", Structs.XdpRingOffset.FLAGS, "struct xdp_ring_offset", "flags");
        size("XdpRingOffset.SIZE", Structs.XdpRingOffset.SIZE, "struct xdp_ring_offset");
        off("XdpMmapOffsets.RX", Structs.XdpMmapOffsets.RX, "struct xdp_mmap_offsets", "rx");
        off("XdpMmapOffsets.TX", Structs.XdpMmapOffsets.TX, "struct xdp_mmap_offsets", "tx");
        off("XdpMmapOffsets.FR", Structs.XdpMmapOffsets.FR, "struct xdp_mmap_offsets", "fr");
        off("XdpMmapOffsets.CR", Structs.XdpMmapOffsets.CR, "struct xdp_mmap_offsets", "cr");
        size("XdpMmapOffsets.SIZE", Structs.XdpMmapOffsets.SIZE, "struct xdp_mmap_offsets");
        off("XdpUmemReg.ADDR", Structs.XdpUmemReg.ADDR, "struct xdp_umem_reg", "addr");
        off("XdpUmemReg.LEN", Structs.XdpUmemReg.LEN, "struct xdp_umem_reg", "len");
        off("XdpUmemReg.CHUNK_SIZE", Structs.XdpUmemReg.CHUNK_SIZE, "struct xdp_umem_reg", "chunk_size");
        off("XdpUmemReg.HEADROOM", Structs.XdpUmemReg.HEADROOM, "struct xdp_umem_reg", "headroom");
        // SIZE is the original layout: where the later fields begin
        off("XdpUmemReg.SIZE", Structs.XdpUmemReg.SIZE, "struct xdp_umem_reg", "flags");
        off("XdpDesc.ADDR", Structs.XdpDesc.ADDR, "struct xdp_desc", "addr");
        off("XdpDesc.LEN", Structs.XdpDesc.LEN, "struct xdp_desc", "len");
        off("XdpDesc.OPTIONS", Structs.XdpDesc.OPTIONS, "struct xdp_desc", "options");
        size("XdpDesc.SIZE", Structs.XdpDesc.SIZE, "struct xdp_desc");
        CHECKS.add(new Check("XDP_UMEM_ENTRY", Structs.XDP_UMEM_ENTRY, "sizeof(__u64)"));
        off("XdpStatistics.RX_DROPPED", Structs.XdpStatistics.RX_DROPPED, "struct xdp_statistics", "rx_dropped");
        off("XdpStatistics.RX_INVALID_DESCS", Structs.XdpStatistics.RX_INVALID_DESCS, "struct xdp_statistics", "rx_invalid_descs");
        off("XdpStatistics.TX_INVALID_DESCS", Structs.XdpStatistics.TX_INVALID_DESCS, "struct xdp_statistics", "tx_invalid_descs");
        off("XdpStatistics.RX_RING_FULL", Structs.XdpStatistics.RX_RING_FULL, "struct xdp_statistics", "rx_ring_full");
        off("XdpStatistics.RX_FILL_RING_EMPTY_DESCS", Structs.XdpStatistics.RX_FILL_RING_EMPTY_DESCS,
                "struct xdp_statistics", "rx_fill_ring_empty_descs");
        off("XdpStatistics.TX_RING_EMPTY_DESCS", Structs.XdpStatistics.TX_RING_EMPTY_DESCS,
                "struct xdp_statistics", "tx_ring_empty_descs");
        size("XdpStatistics.SIZE", Structs.XdpStatistics.SIZE, "struct xdp_statistics");
        off("XdpOptions.FLAGS", Structs.XdpOptions.FLAGS, "struct xdp_options", "flags");
        size("XdpOptions.SIZE", Structs.XdpOptions.SIZE, "struct xdp_options");

        off("BpfObjAttr.PATHNAME", Structs.BpfObjAttr.PATHNAME, "union bpf_attr", "pathname");
        off("BpfObjAttr.BPF_FD", Structs.BpfObjAttr.BPF_FD, "union bpf_attr", "bpf_fd");
        off("BpfObjAttr.FILE_FLAGS", Structs.BpfObjAttr.FILE_FLAGS, "union bpf_attr", "file_flags");
        // path_fd (6.5) follows file_flags; the headers here may predate it
        CHECKS.add(new Check("BpfObjAttr.PATH_FD", Structs.BpfObjAttr.PATH_FD,
                "offsetof(union bpf_attr, file_flags) + sizeof(__u32)"));
        // that struct of the union, padded to its 8-byte alignment (pathname is an __aligned_u64)
        CHECKS.add(new Check("BpfObjAttr.SIZE", Structs.BpfObjAttr.SIZE,
                "(offsetof(union bpf_attr, file_flags) + 2 * sizeof(__u32) + 7) / 8 * 8"));
        off("BpfMapInfo.TYPE", Structs.BpfMapInfo.TYPE, "struct bpf_map_info", "type");
        off("BpfMapInfo.ID", Structs.BpfMapInfo.ID, "struct bpf_map_info", "id");
        off("BpfMapInfo.KEY_SIZE", Structs.BpfMapInfo.KEY_SIZE, "struct bpf_map_info", "key_size");
        off("BpfMapInfo.VALUE_SIZE", Structs.BpfMapInfo.VALUE_SIZE, "struct bpf_map_info", "value_size");
        off("BpfMapInfo.MAX_ENTRIES", Structs.BpfMapInfo.MAX_ENTRIES, "struct bpf_map_info", "max_entries");
        off("BpfMapInfo.MAP_FLAGS", Structs.BpfMapInfo.MAP_FLAGS, "struct bpf_map_info", "map_flags");
        off("BpfMapInfo.NAME", Structs.BpfMapInfo.NAME, "struct bpf_map_info", "name");
        off("BpfMapInfo.IFINDEX", Structs.BpfMapInfo.IFINDEX, "struct bpf_map_info", "ifindex");
        CHECKS.add(new Check("BpfMapInfo.NAME_SIZE", Structs.BpfMapInfo.NAME_SIZE, "BPF_OBJ_NAME_LEN"));
        size("BpfMapInfo.SIZE", Structs.BpfMapInfo.SIZE, "struct bpf_map_info");
        off("BpfProgInfo.TYPE", Structs.BpfProgInfo.TYPE, "struct bpf_prog_info", "type");
        off("BpfProgInfo.ID", Structs.BpfProgInfo.ID, "struct bpf_prog_info", "id");
        off("BpfProgInfo.TAG", Structs.BpfProgInfo.TAG, "struct bpf_prog_info", "tag");
        CHECKS.add(new Check("BpfProgInfo.TAG_SIZE", Structs.BpfProgInfo.TAG_SIZE, "BPF_TAG_SIZE"));
        off("BpfProgInfo.NAME", Structs.BpfProgInfo.NAME, "struct bpf_prog_info", "name");
        CHECKS.add(new Check("BpfProgInfo.NAME_SIZE", Structs.BpfProgInfo.NAME_SIZE, "BPF_OBJ_NAME_LEN"));
        size("BpfProgInfo.SIZE", Structs.BpfProgInfo.SIZE, "struct bpf_prog_info");
        off("BpfLinkInfo.TYPE", Structs.BpfLinkInfo.TYPE, "struct bpf_link_info", "type");
        off("BpfLinkInfo.ID", Structs.BpfLinkInfo.ID, "struct bpf_link_info", "id");
        off("BpfLinkInfo.PROG_ID", Structs.BpfLinkInfo.PROG_ID, "struct bpf_link_info", "prog_id");

        // LibC's constants (x86_64 and aarch64 values are chosen at run time: this checks this machine's)
        for (String[] c : new String[][] {
                {"SYS_BPF", "SYS_bpf"}, {"SYS_PERF_EVENT_OPEN", "SYS_perf_event_open"}, {"SYS_GETTID", "SYS_gettid"},
                {"SYS_SETNS", "SYS_setns"}, {"SYS_PIDFD_OPEN", "SYS_pidfd_open"}, {"SYS_OPENAT2", "SYS_openat2"},
                {"SYS_PIDFD_GETFD", "SYS_pidfd_getfd"}}) {
            CHECKS.add(new Check(c[0], constantOf(c[0]), c[1]));
        }
        for (String name : new String[] {"O_RDONLY", "O_DIRECTORY", "O_PATH", "O_CLOEXEC", "RESOLVE_NO_XDEV",
                "RESOLVE_NO_MAGICLINKS", "RESOLVE_NO_SYMLINKS", "RESOLVE_BENEATH", "AT_FDCWD", "AT_SYMLINK_NOFOLLOW",
                "AT_REMOVEDIR", "AT_EMPTY_PATH", "STATX_BASIC_STATS", "F_DUPFD_CLOEXEC", "PROT_READ", "PROT_WRITE",
                "MAP_SHARED", "MAP_PRIVATE", "MAP_ANONYMOUS", "MAP_POPULATE", "POLLIN", "POLLOUT", "POLLERR",
                "POLLHUP", "POLLNVAL", "AF_UNIX", "AF_XDP", "SOCK_STREAM", "SOCK_RAW", "SOCK_CLOEXEC", "SHUT_RDWR",
                "SOL_SOCKET", "SOL_XDP", "SO_RCVBUF", "SO_REUSEPORT", "SO_PEERCRED", "SO_RCVTIMEO",
                "SO_RCVBUFFORCE", "SO_ATTACH_REUSEPORT_EBPF", "SO_COOKIE", "SO_DETACH_REUSEPORT_BPF", "SCM_RIGHTS",
                "MSG_DONTWAIT", "MSG_NOSIGNAL", "MSG_CMSG_CLOEXEC", "XDP_MMAP_OFFSETS", "XDP_RX_RING", "XDP_TX_RING",
                "XDP_UMEM_REG", "XDP_UMEM_FILL_RING", "XDP_UMEM_COMPLETION_RING", "XDP_STATISTICS", "XDP_OPTIONS",
                "XDP_SHARED_UMEM", "XDP_COPY", "XDP_ZEROCOPY", "XDP_USE_NEED_WAKEUP", "XDP_RING_NEED_WAKEUP",
                "XDP_OPTIONS_ZEROCOPY", "XDP_PGOFF_RX_RING", "XDP_PGOFF_TX_RING", "XDP_UMEM_PGOFF_FILL_RING",
                "XDP_UMEM_PGOFF_COMPLETION_RING", "PERF_TYPE_TRACEPOINT", "PERF_FLAG_FD_CLOEXEC",
                "PERF_EVENT_IOC_ENABLE", "PERF_EVENT_IOC_SET_BPF", "CLONE_NEWNET"}) {
            constant(name, constantOf(name));
        }
        CHECKS.add(new Check("CAPABILITY_VERSION_3", LibC.CAPABILITY_VERSION_3, "_LINUX_CAPABILITY_VERSION_3"));
    }

    private static long constantOf(String name) {
        try {
            return ((Number) LibC.class.getField(name).get(null)).longValue();
        } catch (ReflectiveOperationException e) {
            throw new AssertionError("LibC." + name, e);
        }
    }

    private static final String HEADERS = String.join("\n",
            "#define _GNU_SOURCE",
            "#include <stddef.h>",
            "#include <stdio.h>",
            "#include <fcntl.h>",
            "#include <dirent.h>",
            "#include <poll.h>",
            "#include <sched.h>",
            "#include <sys/socket.h>",
            "#include <sys/un.h>",
            "#include <sys/uio.h>",
            "#include <sys/time.h>",
            "#include <sys/stat.h>",
            "#include <sys/statfs.h>",
            "#include <sys/mman.h>",
            "#include <sys/syscall.h>",
            "#include <linux/openat2.h>",
            "#include <linux/if_xdp.h>",
            "#include <linux/bpf.h>",
            "#include <linux/capability.h>",
            "#include <linux/perf_event.h>",
            "");

    @Test
    void layoutsAndConstantsAreTheSystemHeaders(@TempDir Path dir) throws Exception {
        StringBuilder c = new StringBuilder(HEADERS).append("int main(void) {\n");
        for (Check k : CHECKS) {
            c.append("    printf(\"%lld\\n\", (long long) (").append(k.c()).append("));\n");
        }
        c.append("    return 0;\n}\n");
        Path src = dir.resolve("structs.c");
        Files.writeString(src, c);
        Path exe = dir.resolve("structs");
        run(dir, "gcc", "-Wall", "-Werror", "-o", exe.toString(), src.toString());
        List<String> values = run(dir, exe.toString()).lines().toList();
        assertEquals(CHECKS.size(), values.size(), "one value per check");
        List<String> wrong = new ArrayList<>();
        for (int i = 0; i < CHECKS.size(); i++) {
            Check k = CHECKS.get(i);
            if (Long.parseLong(values.get(i)) != k.java()) {
                wrong.add(k.name() + " is " + k.java() + ", the headers say " + values.get(i) + " (" + k.c() + ")");
            }
        }
        assertEquals(List.of(), wrong);
    }

    private static String run(Path dir, String... command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new AssertionError(String.join(" ", command) + " failed:\n" + out);
        }
        return out;
    }

    @Test
    void sockaddrUnCarriesThePathAndItsNul() {
        byte[] a = Structs.SockaddrUn.of("/run/x");
        assertEquals(2 + 6 + 1, a.length);
        assertEquals(LibC.AF_UNIX, a[0]);
        assertEquals("/run/x", new String(a, 2, 6, StandardCharsets.UTF_8));
        assertEquals(0, a[8]);
        assertEquals(Structs.SockaddrUn.PATH + Structs.SockaddrUn.MAX_PATH + 1, Structs.SockaddrUn.of("/" + "a".repeat(106)).length);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Structs.SockaddrUn.of("/" + "a".repeat(107)));
        assertEquals("socket path must be 1..107 bytes: /" + "a".repeat(107), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Structs.SockaddrUn.of(""));
    }

    @Test
    void rightsReadsEveryScmRightsDescriptorAndSkipsOtherMessages() {
        Pointer control = Linux.allocate(128);
        // 1: SCM_CREDENTIALS (type 2), 12 bytes of data: skipped
        control.putLong(0, Structs.Cmsghdr.len(12));
        control.putInt(8, LibC.SOL_SOCKET);
        control.putInt(12, 2);
        long second = Structs.Cmsghdr.space(12);
        // 2: SCM_RIGHTS with two descriptors
        control.putLong(second, Structs.Cmsghdr.len(8));
        control.putInt(second + 8, LibC.SOL_SOCKET);
        control.putInt(second + 12, LibC.SCM_RIGHTS);
        control.putInt(second + 16, 7);
        control.putInt(second + 20, 9);
        long third = second + Structs.Cmsghdr.space(8);
        Structs.Cmsghdr.putRights(control.slice(third), 11);
        long end = third + Structs.Cmsghdr.space(4);
        assertArrayEquals(new int[] {7, 9, 11}, Structs.Cmsghdr.rights(control, end));
        assertArrayEquals(new int[] {7, 9}, Structs.Cmsghdr.rights(control, third), "only within controlLen");
        control.putLong(0, 3); // a length shorter than a header ends the walk
        assertArrayEquals(new int[0], Structs.Cmsghdr.rights(control, end));
    }

    @Test
    void encodersUseTheLayouts() {
        java.nio.ByteBuffer x = java.nio.ByteBuffer.wrap(Structs.SockaddrXdp.of(8, 3, 1, 42))
                .order(java.nio.ByteOrder.nativeOrder());
        assertEquals(LibC.AF_XDP, x.getShort(Structs.SockaddrXdp.FAMILY));
        assertEquals(8, x.getShort(Structs.SockaddrXdp.FLAGS));
        assertEquals(3, x.getInt(Structs.SockaddrXdp.IFINDEX));
        assertEquals(1, x.getInt(Structs.SockaddrXdp.QUEUE_ID));
        assertEquals(42, x.getInt(Structs.SockaddrXdp.SHARED_UMEM_FD));
        java.nio.ByteBuffer t = java.nio.ByteBuffer.wrap(Structs.Timeval.ofMillis(2500))
                .order(java.nio.ByteOrder.nativeOrder());
        assertEquals(2, t.getLong(Structs.Timeval.SEC));
        assertEquals(500_000, t.getLong(Structs.Timeval.USEC));
        java.nio.ByteBuffer u = java.nio.ByteBuffer.wrap(Structs.XdpUmemReg.of(0x1000, 1 << 20, 2048, 0))
                .order(java.nio.ByteOrder.nativeOrder());
        assertEquals(0x1000, u.getLong(Structs.XdpUmemReg.ADDR));
        assertEquals(1 << 20, u.getLong(Structs.XdpUmemReg.LEN));
        assertEquals(2048, u.getInt(Structs.XdpUmemReg.CHUNK_SIZE));
        Pointer caps = Linux.allocate(Structs.CapData.SIZE);
        Structs.CapData.put(caps, Structs.CapData.PERMITTED, 0x8000_0001_0000_0002L);
        assertEquals(0x8000_0001_0000_0002L, Structs.CapData.get(caps, Structs.CapData.PERMITTED));
        assertEquals(0x0000_0002, caps.getInt(Structs.CapData.PERMITTED), "low word in the first struct");
        assertEquals(0x8000_0001, caps.getInt(Structs.CapData.ONE + Structs.CapData.PERMITTED));
    }
}
