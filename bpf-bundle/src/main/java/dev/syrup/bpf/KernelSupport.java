package dev.syrup.bpf;

import dev.syrup.bpf.internal.Native;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/** Whether this process can use bpf() here, and if not, exactly why. */
public final class KernelSupport {

    /** Where Syrup expects bpffs. */
    public static final Path BPFFS = Path.of("/sys/fs/bpf");

    private static final int CAP_SYS_ADMIN = 21, CAP_BPF = 39;

    private KernelSupport() {}

    /** Empty when bpf() works here (map create, bpffs mounted, libbpf loadable); else the reason. */
    public static Optional<String> missing() {
        if (!System.getProperty("os.name", "").toLowerCase().contains("linux")) {
            return Optional.of("not Linux (" + System.getProperty("os.name") + ")");
        }
        try {
            long caps = effectiveCapabilities();
            if ((caps & (1L << CAP_BPF)) == 0 && (caps & (1L << CAP_SYS_ADMIN)) == 0) {
                return Optional.of("neither CAP_BPF nor CAP_SYS_ADMIN (run as root); CapEff=" + Long.toHexString(caps));
            }
        } catch (IOException | RuntimeException e) {
            return Optional.of("cannot read capabilities from /proc/self/status: " + e);
        }
        try {
            Native.get();
        } catch (RuntimeException | LinkageError e) {
            return Optional.of("libbpf is not loadable: " + e.getMessage());
        }
        if (!bpffsMounted()) {
            return Optional.of("bpffs is not mounted at " + BPFFS + " (mount -t bpf bpf " + BPFFS + ")");
        }
        try (BpfMap probe = BpfMap.create(MapType.ARRAY, "syrup_probe", 4, 8, 1, 0)) {
            probe.update(0, 1L);
        } catch (BpfException e) {
            return Optional.of("bpf() does not work: " + e.getMessage());
        }
        return Optional.empty();
    }

    /** True when a bpf filesystem is mounted at /sys/fs/bpf (per /proc/self/mounts). */
    public static boolean bpffsMounted() {
        try {
            List<String> mounts = Files.readAllLines(Path.of("/proc/self/mounts"));
            for (String line : mounts) {
                String[] f = line.split(" ");
                if (f.length > 2 && f[1].equals(BPFFS.toString()) && f[2].equals("bpf")) {
                    return true;
                }
            }
            return false;
        } catch (IOException e) {
            return false;
        }
    }

    private static long effectiveCapabilities() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("CapEff:")) {
                return Long.parseUnsignedLong(line.substring(7).trim(), 16);
            }
        }
        throw new IOException("no CapEff line");
    }

    /** libbpf_num_possible_cpus: the CPUs per-CPU maps and CPUMAPs are sized for (not only the online ones). */
    public static int possibleCpus() {
        return dev.syrup.bpf.internal.Native.checkBpf("libbpf_num_possible_cpus",
                dev.syrup.bpf.internal.Native.get().bpf().libbpf_num_possible_cpus());
    }
}
