package dev.syrup.daemon.compile;

import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;

/**
 * Runs clang on untrusted C: as an unprivileged uid ({@code setpriv}), inside bubblewrap's new
 * user, mount, pid, network, IPC and UTS namespaces that show only {@code /usr} (read-only) and a
 * fresh directory holding the files of this one compile, under CPU, address-space, file-size and
 * open-file limits ({@code prlimit}) and a wall-clock deadline at which the whole sandbox is
 * killed. The object comes back on clang's stdout, so the sandbox writes nothing on the host;
 * stdout is capped at the object limit and stderr at the output limit, both read while clang runs.
 *
 * <p>The sandbox never falls back to an unsandboxed clang: when bubblewrap is missing or cannot
 * create its namespaces, compiling fails with {@code UNAVAILABLE} naming the cause.
 */
public final class CompileSandbox {

    /** Where the compile's directory appears inside the sandbox (clang's working directory). */
    static final String DIR = "/w";

    // The settings (DeploymentManager.Config) a limit message names.
    static final String SECONDS = "compileSeconds";
    static final String CPU_SECONDS = "compileCpuSeconds";
    static final String MEMORY_MIB = "compileMemoryMiB";
    static final String OBJECT_MIB = "compileObjectMiB";
    static final String OUTPUT_KIB = "compileOutputKiB";

    private static final int SIGXCPU = 24, SIGXFSZ = 25, SIGKILL = 9;
    /** A crash leftover older than this in the base directory is removed at start. */
    private static final Duration STALE = Duration.ofHours(1);

    /**
     * @param seconds    wall clock, from start to the kill
     * @param cpuSeconds CPU time (SIGXCPU, then SIGKILL a second later)
     * @param memoryMiB  address space of each process (clang maps about 230 MiB of libraries)
     * @param objectMiB  the object on stdout, and any file written inside the sandbox
     * @param outputKiB  clang's messages kept; the rest is read and dropped
     */
    public record Limits(int seconds, int cpuSeconds, int memoryMiB, int objectMiB, int outputKiB) {
        public static final Limits DEFAULT = new Limits(20, 10, 512, 8, 64);

        public Limits {
            if (seconds < 1 || cpuSeconds < 1 || memoryMiB < 64 || objectMiB < 1 || outputKiB < 1) {
                throw new IllegalArgumentException("compile limits out of range: " + this);
            }
        }
    }

    /**
     * What a sandboxed run left.
     *
     * @param exit      the exit status (128 + signal for a signal)
     * @param object    clang's stdout, at most the object limit
     * @param output    clang's stderr, at most the output limit
     * @param truncated whether stderr went past the output limit
     * @param limit     the limit the run was stopped at, e.g. "killed at the 20 s limit (setting
     *                  compileSeconds)"; empty when none was reached
     */
    public record Result(int exit, byte[] object, String output, boolean truncated, Optional<String> limit) {
    }

    private final String bwrap;
    private final Path base;
    private final int uid;
    private final Limits limits;
    /** Only root can (and must) switch to the sandbox uid; anyone else already is unprivileged. */
    private final boolean switchUser;
    /** Why the sandbox cannot run here, found at construction; null when it can. */
    private final String broken;

    /**
     * @param bwrap  the bubblewrap executable
     * @param base   directory under which each compile gets its own (created 0711, root's);
     *               every directory above it must be searchable by {@code uid}
     * @param uid    uid and gid clang runs as
     * @param limits the limits each run is held to
     */
    public CompileSandbox(String bwrap, Path base, int uid, Limits limits) {
        this(bwrap, base, uid, limits, currentUid() == 0);
    }

    CompileSandbox(String bwrap, Path base, int uid, Limits limits, boolean switchUser) {
        this.bwrap = bwrap;
        this.base = base.toAbsolutePath().normalize();
        this.uid = uid;
        this.limits = limits;
        this.switchUser = switchUser;
        this.broken = prepare();
    }

    public Limits limits() {
        return limits;
    }

    /** The command that runs {@code clang} (arguments relative to {@link #DIR}) on {@code dir}. */
    List<String> command(Path dir, List<String> clang) {
        long mib = 1L << 20;
        List<String> cmd = new ArrayList<>(List.of("/usr/bin/prlimit",
                "--cpu=" + limits.cpuSeconds() + ":" + (limits.cpuSeconds() + 1),
                "--as=" + limits.memoryMiB() * mib,
                "--fsize=" + limits.objectMiB() * mib,
                "--nofile=64",
                "--core=0",
                "--"));
        if (switchUser) {
            cmd.addAll(List.of("/usr/bin/setpriv", "--reuid=" + uid, "--regid=" + uid, "--clear-groups", "--"));
        }
        cmd.addAll(List.of(bwrap,
                "--unshare-all", "--unshare-user", "--disable-userns",
                "--die-with-parent", "--new-session",
                "--clearenv", "--setenv", "PATH", "/usr/bin", "--setenv", "LC_ALL", "C",
                "--ro-bind", "/usr", "/usr",
                "--symlink", "usr/bin", "/bin",
                "--symlink", "usr/lib", "/lib",
                "--symlink", "usr/lib64", "/lib64",
                "--dev", "/dev",
                "--size", Long.toString(limits.objectMiB() * mib), "--tmpfs", "/tmp",
                "--ro-bind", dir.toString(), DIR,
                "--remount-ro", "/",
                "--chdir", DIR,
                "--"));
        cmd.addAll(clang);
        return cmd;
    }

    /**
     * Writes {@code files} (name to content) into a fresh directory, runs {@code clang} there in
     * the sandbox and removes the directory.
     *
     * @throws SyrupException {@code UNAVAILABLE} when the sandbox cannot run (bubblewrap missing,
     *                        no user namespaces, the base directory unreachable)
     */
    public Result run(Map<String, byte[]> files, List<String> clang) throws SyrupException {
        if (broken != null) {
            throw unavailable(broken);
        }
        for (Path d = base.getParent(); switchUser && d != null; d = d.getParent()) {
            try {
                if (!Files.getPosixFilePermissions(d).contains(PosixFilePermission.OTHERS_EXECUTE)) {
                    throw unavailable("uid " + uid + " cannot reach " + base + ": " + d + " is not searchable by others"
                            + " (setting compileDir)");
                }
            } catch (IOException e) {
                throw unavailable("cannot reach " + base + ": " + e.getMessage());
            }
        }
        Path dir = null;
        try {
            dir = Files.createTempDirectory(base, "c");
            for (Map.Entry<String, byte[]> f : files.entrySet()) {
                Path p = dir.resolve(f.getKey());
                if (!p.getParent().equals(dir)) {
                    throw new IllegalArgumentException("not a plain file name: " + f.getKey());
                }
                Files.write(p, f.getValue());
                handOver(p, "rw-r-----");
            }
            handOver(dir, "rwxr-x---");
            return execute(command(dir, clang));
        } catch (IOException e) {
            throw unavailable("cannot prepare a compile directory under " + base + ": " + e.getMessage());
        } finally {
            if (dir != null) {
                delete(dir);
            }
        }
    }

    private Result execute(List<String> cmd) throws SyrupException {
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        pb.environment().clear();
        pb.environment().put("PATH", "/usr/bin");
        Process p;
        try {
            p = pb.start();
        } catch (IOException e) {
            throw unavailable("cannot start " + cmd.get(0) + ": " + e.getMessage());
        }
        AtomicReference<String> limit = new AtomicReference<>();
        int objectCap = limits.objectMiB() << 20;
        BoundedOutput out = new BoundedOutput(p.getInputStream(), objectCap, () -> {
            if (limit.compareAndSet(null, "killed: its object passed the " + limits.objectMiB() + " MiB limit (setting "
                    + OBJECT_MIB + ")")) {
                kill(p);
            }
        });
        BoundedOutput err = new BoundedOutput(p.getErrorStream(), limits.outputKiB() << 10, null);
        Thread outReader = reader(out, "stdout");
        Thread errReader = reader(err, "stderr");
        try {
            if (!p.waitFor(limits.seconds(), TimeUnit.SECONDS)) {
                if (limit.compareAndSet(null, "killed at the " + limits.seconds() + " s limit (setting " + SECONDS + ")")) {
                    kill(p);
                }
            }
            // After a kill the sandbox's processes end at once: the pid namespace goes with its init.
            if (!p.waitFor(10, TimeUnit.SECONDS)) {
                kill(p);
                p.waitFor(10, TimeUnit.SECONDS);
            }
            outReader.join(5000);
            errReader.join(5000);
        } catch (InterruptedException e) {
            kill(p);
            Thread.currentThread().interrupt();
            throw new SyrupException(Kind.COMPILE, "interrupted while compiling", e);
        }
        int exit = p.isAlive() ? -1 : p.exitValue();
        String output = err.text();
        if (limit.get() == null) {
            String cause = exitLimit(exit, output);
            if (cause != null) {
                limit.set(cause);
            } else if (exit != 0 && startedBySandbox(output)) {
                throw unavailable(output.lines().findFirst().orElse("").strip());
            }
        }
        return new Result(exit, out.bytes(), output, err.truncated(), Optional.ofNullable(limit.get()));
    }

    /** The limit a run that ended by itself was stopped at, from its exit status and messages; null: none. */
    private String exitLimit(int exit, String output) {
        if (exit == 128 + SIGXCPU || exit == 128 + SIGKILL) {
            return "killed at the " + limits.cpuSeconds() + " s CPU limit (setting " + CPU_SECONDS + ")";
        }
        if (exit == 128 + SIGXFSZ) {
            return "killed: a file it wrote passed the " + limits.objectMiB() + " MiB limit (setting " + OBJECT_MIB + ")";
        }
        if (exit != 0 && (output.contains("LLVM ERROR: out of memory") || output.contains("Allocation failed")
                || output.contains("std::bad_alloc") || output.contains("Cannot allocate memory")
                || output.contains("failed to map segment"))) {
            return "stopped at the " + limits.memoryMiB() + " MiB memory limit (setting " + MEMORY_MIB + ")";
        }
        return null;
    }

    /** Whether the message is the sandbox's own (it failed before clang ran), not clang's. */
    private static boolean startedBySandbox(String output) {
        return output.startsWith("bwrap: ") || output.startsWith("setpriv: ") || output.startsWith("prlimit: ");
    }

    private static Thread reader(BoundedOutput o, String what) {
        Thread t = new Thread(o, "syrupd-compile-" + what);
        t.setDaemon(true);
        t.start();
        return t;
    }

    /** Kills the sandbox: its processes first (root may signal them), then bwrap, whose death ends the rest. */
    static void kill(Process p) {
        p.descendants().forEach(ProcessHandle::destroyForcibly);
        p.destroyForcibly();
    }

    private SyrupException unavailable(String why) {
        return new SyrupException(Kind.UNAVAILABLE, "policies cannot be compiled: the compile sandbox is unavailable: " + why
                + " (syrupd runs clang only in its sandbox: bubblewrap, which needs unprivileged user namespaces)");
    }

    /** Checks what can be checked once; returns why the sandbox cannot run, or null. */
    private String prepare() {
        if (!Files.isExecutable(Path.of(bwrap))) {
            return bwrap + " is missing (install bubblewrap)";
        }
        for (String tool : switchUser ? List.of("/usr/bin/prlimit", "/usr/bin/setpriv") : List.of("/usr/bin/prlimit")) {
            if (!Files.isExecutable(Path.of(tool))) {
                return tool + " is missing (util-linux)";
            }
        }
        Optional<String> userns = userNamespaces();
        if (userns.isPresent()) {
            return userns.get();
        }
        try {
            // Directories made here are searchable whatever the umask (syrupd may run with 077).
            List<Path> missing = new ArrayList<>();
            for (Path d = base; d != null && !Files.exists(d, LinkOption.NOFOLLOW_LINKS); d = d.getParent()) {
                missing.add(0, d);
            }
            for (Path d : missing) {
                Files.createDirectory(d);
                Files.setPosixFilePermissions(d, PosixFilePermissions.fromString("rwxr-xr-x"));
            }
            PosixFileAttributes a = Files.readAttributes(base, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
            if (!a.isDirectory() || (switchUser && !"root".equals(a.owner().getName()))) {
                return base + " is not a directory of root's";
            }
            // Searchable, not listable: a compile's directory is found only by its random name.
            Files.setPosixFilePermissions(base, PosixFilePermissions.fromString(switchUser ? "rwx--x--x" : "rwx------"));
            removeStale();
        } catch (IOException | UnsupportedOperationException e) {
            return "cannot create " + base + ": " + e.getMessage();
        }
        return null;
    }

    /** Why unprivileged user namespaces are off here, if they are. */
    private static Optional<String> userNamespaces() {
        for (String knob : List.of("/proc/sys/kernel/unprivileged_userns_clone", "/proc/sys/user/max_user_namespaces")) {
            try {
                if (Files.readString(Path.of(knob)).strip().equals("0")) {
                    return Optional.of("user namespaces are off (" + knob + " is 0)");
                }
            } catch (IOException e) {
                // the knob does not exist on this kernel
            }
        }
        return Optional.empty();
    }

    private void removeStale() throws IOException {
        Instant before = Instant.now().minus(STALE);
        try (Stream<Path> dirs = Files.list(base)) {
            for (Path d : dirs.toList()) {
                FileTime t = Files.getLastModifiedTime(d, LinkOption.NOFOLLOW_LINKS);
                if (t.toInstant().isBefore(before)) {
                    delete(d);
                }
            }
        }
    }

    /** Gives {@code p} to the sandbox's group with {@code perms}; the owner stays root. */
    private void handOver(Path p, String perms) throws IOException {
        if (switchUser) {
            Files.setAttribute(p, "unix:gid", uid, LinkOption.NOFOLLOW_LINKS);
        }
        Files.setPosixFilePermissions(p, PosixFilePermissions.fromString(switchUser ? perms : perms.substring(0, 3) + "------"));
    }

    private static void delete(Path dir) {
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            // a leftover is removed at the next start (removeStale)
        }
    }

    private static int currentUid() {
        try {
            return (Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid");
        } catch (IOException | UnsupportedOperationException | IllegalArgumentException e) {
            return -1;
        }
    }
}
