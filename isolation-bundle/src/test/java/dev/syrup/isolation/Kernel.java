package dev.syrup.isolation;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.syrup.api.Headers;
import dev.syrup.bpf.KernelObjects;
import dev.syrup.bpf.KernelSupport;
import dev.syrup.bpf.MapInfo;
import dev.syrup.bpf.ProgramInfo;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;

/** Helpers of the kernel tests: the kernel check, clang, ip(8), leak checks by id. */
final class Kernel {

    private Kernel() {
    }

    /** Skips where bpf() is unusable; with SYRUP_REQUIRE_KERNEL=1 fails instead. */
    static void require() {
        Optional<String> missing = KernelSupport.missing();
        if (missing.isPresent()) {
            if ("1".equals(System.getenv("SYRUP_REQUIRE_KERNEL"))) {
                fail("SYRUP_REQUIRE_KERNEL=1 but the kernel cannot run this test: " + missing.get());
            }
            Assumptions.abort("kernel test skipped: " + missing.get());
        }
    }

    /** Compiles {@code source} (which may include syrup.h) to a BPF object in {@code dir}. */
    static Path compile(Path dir, String name, String source, String... defines) throws IOException, InterruptedException {
        Path inc = dir.resolve("include");
        Files.createDirectories(inc);
        Files.write(inc.resolve(Headers.SYRUP_H), Headers.syrupH());
        Path c = dir.resolve(name + ".c");
        Files.writeString(c, source);
        Path o = dir.resolve(name + ".o");
        List<String> cmd = new ArrayList<>(List.of("clang", "-O2", "-g", "-target", "bpf", "-mcpu=v3",
                "-I" + inc, "-I/usr/include/" + multiarch()));
        for (String d : defines) {
            cmd.add("-D" + d);
        }
        cmd.addAll(List.of("-c", c.toString(), "-o", o.toString()));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), "clang " + name + ":\n" + out);
        return o;
    }

    private static String multiarch() {
        String arch = System.getProperty("os.arch");
        return ("amd64".equals(arch) ? "x86_64" : "aarch64".equals(arch) ? "aarch64" : arch) + "-linux-gnu";
    }

    /** Runs a command; fails the test on a non-zero exit. */
    static void run(String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), String.join(" ", cmd));
        assertEquals(0, p.exitValue(), String.join(" ", cmd) + ":\n" + out);
    }

    /** Runs a command and ignores how it ends (clean-up). */
    static void quietly(String... cmd) {
        try {
            Process p = new ProcessBuilder(cmd).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectError(ProcessBuilder.Redirect.DISCARD).start();
            p.waitFor(30, TimeUnit.SECONDS);
        } catch (IOException | InterruptedException e) {
            // clean-up only
        }
    }

    static Set<Integer> programIds() {
        return KernelObjects.programs().stream().map(ProgramInfo::id).collect(Collectors.toCollection(HashSet::new));
    }

    static Set<Integer> mapIds() {
        return KernelObjects.maps().stream().map(MapInfo::id).collect(Collectors.toCollection(HashSet::new));
    }

    /** Programs and maps named like Syrup's ({@code syr_*}, {@code syrup_*}) or these tests' ({@code t_*}). */
    private static boolean ours(String name) {
        return name.startsWith("syr") || name.startsWith("t_");
    }

    /** Ids of Syrup's and the tests' programs now loaded that are not in {@code before}. */
    static Set<Integer> newPrograms(Set<Integer> before) {
        Set<Integer> out = KernelObjects.programs().stream().filter(p -> ours(p.name())).map(ProgramInfo::id)
                .collect(Collectors.toCollection(HashSet::new));
        out.removeAll(before);
        return out;
    }

    /** Ids of Syrup's and the tests' maps now in the kernel that are not in {@code before}. */
    static Set<Integer> newMaps(Set<Integer> before) {
        Set<Integer> out = KernelObjects.maps().stream().filter(m -> ours(m.name())).map(MapInfo::id)
                .collect(Collectors.toCollection(HashSet::new));
        out.removeAll(before);
        return out;
    }

    static Set<Integer> programsNamed(String name) {
        return KernelObjects.programs().stream().filter(p -> p.name().equals(name))
                .map(ProgramInfo::id).collect(Collectors.toCollection(HashSet::new));
    }

    /**
     * Polls (the kernel frees programs after an RCU grace period, maps from a work queue).
     * Maps are opened by id only once the programs are gone and after a pause: opening a
     * PROG_ARRAY by id while the kernel is still clearing it leaks it (see PortDispatcher).
     */
    static void assertGone(Set<Integer> progs, Set<Integer> maps) throws InterruptedException {
        long end = System.currentTimeMillis() + 5000;
        Set<Integer> p = new HashSet<>(progs);
        while (true) {
            p.retainAll(programIds());
            if (p.isEmpty() || System.currentTimeMillis() > end) {
                break;
            }
            Thread.sleep(20);
        }
        Set<Integer> m = new HashSet<>(maps);
        while (p.isEmpty()) {
            Thread.sleep(200);
            m.retainAll(mapIds());
            if (m.isEmpty() || System.currentTimeMillis() > end) {
                break;
            }
        }
        assertEquals(Set.of(), p, "programs still loaded");
        assertEquals(Set.of(), m, "maps still in the kernel");
    }

    /** This process's open fds (fd -> what it is), minus /proc entries. */
    static Map<String, String> openFds() throws IOException {
        Map<String, String> out = new TreeMap<>();
        try (Stream<Path> s = Files.list(Path.of("/proc/self/fd"))) {
            for (Path fd : s.toList()) {
                try {
                    out.put(fd.getFileName().toString(), Files.readSymbolicLink(fd).toString());
                } catch (IOException e) {
                    // the listing's own fd
                }
            }
        }
        out.values().removeIf(v -> v.startsWith("/proc/"));
        return out;
    }

    /** fds opened since {@code before} and still open (the JDK closes a channel's fd a moment late: poll). */
    static Map<String, String> newFds(Map<String, String> before) throws IOException, InterruptedException {
        Map<String, String> now = Map.of();
        for (int i = 0; i < 100; i++) {
            now = openFds();
            now.entrySet().removeIf(e -> e.getValue().equals(before.get(e.getKey())));
            if (now.isEmpty()) {
                break;
            }
            Thread.sleep(20);
        }
        return now;
    }
}
