package dev.syrup.bpf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;

/**
 * Base of the kernel tests: skips (or, with SYRUP_REQUIRE_KERNEL=1, fails) when bpf() is not
 * usable; compiles test BPF objects with clang; after each test checks that no fd was leaked
 * and that no program or map named {@code t_*} (all test objects are) appeared in the kernel.
 */
abstract class KernelTestSupport {

    private static final Map<String, Path> COMPILED = new ConcurrentHashMap<>();

    private Map<Integer, String> fdsBefore;
    private Set<Integer> progIdsBefore;
    private Set<Integer> mapIdsBefore;

    /** Skips the test when bpf() is unusable, unless SYRUP_REQUIRE_KERNEL=1 demands it. */
    static void requireKernel() {
        Optional<String> missing = KernelSupport.missing();
        if (missing.isPresent()) {
            if ("1".equals(System.getenv("SYRUP_REQUIRE_KERNEL"))) {
                fail("SYRUP_REQUIRE_KERNEL=1 but the kernel is unusable: " + missing.get());
            }
            Assumptions.abort("kernel tests skipped: " + missing.get());
        }
    }

    @BeforeEach
    void kernelBaseline() {
        requireKernel();
        fdsBefore = openFds();
        progIdsBefore = KernelObjects.programs().stream().map(ProgramInfo::id).collect(Collectors.toSet());
        mapIdsBefore = KernelObjects.maps().stream().map(MapInfo::id).collect(Collectors.toSet());
    }

    @AfterEach
    void noLeaks() {
        if (fdsBefore == null) {
            return;
        }
        assertEquals(fdsBefore, openFds(), "file descriptors before and after the test");
        // The kernel frees programs after an RCU grace period and the maps they use after that,
        // so objects closed a moment ago may still be listed: wait for them, within a bound.
        eventually(() -> newTestPrograms().isEmpty() && newTestMaps().isEmpty());
        assertEquals(List.of(), newTestPrograms(), "test programs left in the kernel");
        assertEquals(List.of(), newTestMaps(), "test maps left in the kernel");
    }

    private List<ProgramInfo> newTestPrograms() {
        return KernelObjects.programs().stream()
                .filter(p -> !progIdsBefore.contains(p.id()) && p.name().startsWith("t_")).toList();
    }

    private List<MapInfo> newTestMaps() {
        return KernelObjects.maps().stream()
                .filter(m -> !mapIdsBefore.contains(m.id()) && m.name().startsWith("t_")).toList();
    }

    /** Polls {@code condition} for up to 5 s; returns its last value. */
    static boolean eventually(BooleanSupplier condition) {
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                return false;
            }
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        }
        return true;
    }

    /**
     * fd number → link target of the kinds this library creates (bpf objects, pidfds and other
     * anonymous inodes, sockets, bpffs paths). Plain files are left out: the JVM opens some on its
     * own at any moment (jars, cgroup files for its container metrics).
     */
    static Map<Integer, String> openFds() {
        Map<Integer, String> fds = new TreeMap<>();
        String self = "/proc/" + ProcessHandle.current().pid() + "/fd";
        try (Stream<Path> s = Files.list(Path.of("/proc/self/fd"))) {
            for (Path p : s.toList()) {
                try {
                    String target = Files.readSymbolicLink(p).toString();
                    if (!target.equals(self) && (target.startsWith("anon_inode:") || target.startsWith("socket:")
                            || target.startsWith("/sys/fs/bpf"))) {
                        fds.put(Integer.parseInt(p.getFileName().toString()), target);
                    }
                } catch (IOException gone) {
                    // the listing's own fd, closed meanwhile
                }
            }
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        return fds;
    }

    /** Compiles src/test/resources/bpf/NAME.c with clang (once per run) and returns the .o. */
    static Path compile(String name) {
        return COMPILED.computeIfAbsent(name, n -> {
            try {
                Path dir = Path.of("target", "bpf-test");
                Files.createDirectories(dir);
                Path src = dir.resolve(n + ".c");
                try (InputStream in = KernelTestSupport.class.getResourceAsStream("/bpf/" + n + ".c")) {
                    if (in == null) {
                        throw new AssertionError("no test resource bpf/" + n + ".c");
                    }
                    Files.copy(in, src, StandardCopyOption.REPLACE_EXISTING);
                }
                Path obj = dir.resolve(n + ".o");
                String arch = System.getProperty("os.arch").equals("amd64") ? "x86_64" : System.getProperty("os.arch");
                Process p = new ProcessBuilder("clang", "-O2", "-g", "-target", "bpf",
                        "-I/usr/include/" + arch + "-linux-gnu", "-c", src.toString(), "-o", obj.toString())
                        .redirectErrorStream(true).start();
                p.getOutputStream().close();
                String out;
                try (InputStream pout = p.getInputStream(); InputStream perr = p.getErrorStream()) {
                    out = new String(pout.readAllBytes(), StandardCharsets.UTF_8);
                }
                if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
                    throw new AssertionError("clang failed for " + n + ".c:\n" + out);
                }
                return obj;
            } catch (IOException e) {
                throw new AssertionError("cannot compile " + n + ".c: " + e, e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError(e);
            }
        });
    }
}
