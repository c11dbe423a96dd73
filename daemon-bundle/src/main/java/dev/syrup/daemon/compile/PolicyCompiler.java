package dev.syrup.daemon.compile;

import dev.syrup.api.Headers;
import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * Compiles a policy together with its hook's glue into a BPF object:
 * {@code clang -O2 -g -target bpf}, with {@code syrup.h} and the libbpf headers on the include
 * path. Objects are cached by a hash of everything that goes into them, so deploying the same
 * policy again (or replacing with it) costs no compile.
 */
public final class PolicyCompiler {

    private static final Pattern DEFINE_NAME = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*");
    private static final long TIMEOUT_SECONDS = 60;

    private final String clang;
    private final Path includeDir;
    private final Path cacheDir;
    private final List<String> systemIncludes;

    /**
     * @param clang   the clang executable (a name on PATH or a path)
     * @param workDir a directory syrupd owns; {@code include/} and {@code cache/} go under it
     */
    public PolicyCompiler(String clang, Path workDir) throws IOException {
        this.clang = clang;
        this.includeDir = workDir.resolve("include");
        this.cacheDir = workDir.resolve("cache");
        Files.createDirectories(includeDir);
        Files.createDirectories(cacheDir);
        Files.write(includeDir.resolve(Headers.SYRUP_H), Headers.syrupH());
        this.systemIncludes = multiarchInclude();
    }

    /** Where {@code syrup.h} is, for people writing policies. */
    public Path includeDir() {
        return includeDir;
    }

    /**
     * @param policy  the policy's C file
     * @param wrapper the hook's glue, which {@code #include}s the policy by its absolute path
     * @param defines {@code -D} definitions, name to value (an empty value defines the name as 1)
     * @return the compiled object
     * @throws SyrupException {@code COMPILE} with clang's {@code file:line: error:} lines,
     *                        {@code INVALID} for a malformed define
     */
    public Path compile(PolicySource policy, String wrapper, Map<String, String> defines) throws SyrupException {
        Map<String, String> sorted = new TreeMap<>(defines);
        for (Map.Entry<String, String> d : sorted.entrySet()) {
            if (!DEFINE_NAME.matcher(d.getKey()).matches()) {
                throw new SyrupException(Kind.INVALID, "bad define name '" + d.getKey() + "' (expected a C identifier)");
            }
            if (d.getValue().indexOf('\n') >= 0) {
                throw new SyrupException(Kind.INVALID, "define " + d.getKey() + " has a newline in its value");
            }
        }
        byte[] source;
        try {
            source = Files.readAllBytes(policy.file());
        } catch (IOException e) {
            throw new SyrupException(Kind.NOT_FOUND, "cannot read policy " + policy.file() + ": " + e.getMessage(), e);
        }
        String key = hash(source, wrapper, sorted);
        Path object = cacheDir.resolve(key + ".o");
        if (Files.isRegularFile(object)) {
            return object;
        }
        Path glue = cacheDir.resolve(key + ".c");
        Path tmp = cacheDir.resolve(key + ".o.tmp" + ProcessHandle.current().pid() + "-" + Thread.currentThread().getId());
        try {
            Files.writeString(glue, wrapper);
            List<String> cmd = command(glue, tmp, sorted);
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true)
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
            String out;
            try (var stdout = p.getInputStream()) {
                out = new String(stdout.readAllBytes(), StandardCharsets.UTF_8);
            }
            if (!p.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new SyrupException(Kind.COMPILE, policy.name() + ": clang did not finish in " + TIMEOUT_SECONDS + " s");
            }
            if (p.exitValue() != 0) {
                throw new SyrupException(Kind.COMPILE, "policy " + policy.name() + " does not compile:\n" + diagnostics(out));
            }
            move(tmp, object);
            return object;
        } catch (IOException e) {
            throw new SyrupException(Kind.COMPILE, "cannot run " + clang + " (is clang installed?): " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new SyrupException(Kind.COMPILE, "interrupted while compiling " + policy.name(), e);
        } finally {
            try {
                Files.deleteIfExists(tmp);
                Files.deleteIfExists(glue);
            } catch (IOException ignored) {
                // best effort: a stale temporary file in our cache is harmless
            }
        }
    }

    List<String> command(Path glue, Path out, Map<String, String> defines) {
        List<String> cmd = new ArrayList<>(List.of(clang, "-O2", "-g", "-target", "bpf",
                // v3: 32-bit atomics whose result is used (__sync_fetch_and_add on a u32)
                "-mcpu=v3",
                "-Wall", "-Wno-unused-function", "-Wno-unused-variable",
                "-I" + includeDir));
        for (String inc : systemIncludes) {
            cmd.add("-I" + inc);
        }
        defines.forEach((k, v) -> cmd.add(v.isEmpty() ? "-D" + k : "-D" + k + "=" + v));
        cmd.addAll(List.of("-c", glue.toString(), "-o", out.toString()));
        return cmd;
    }

    /**
     * Clang's diagnostics minus the "In file included from <glue>" lines, which only name our
     * generated file; what remains starts at the user's {@code file:line:col: error:}.
     */
    static String diagnostics(String clangOutput) {
        return clangOutput.lines()
                .filter(l -> !l.startsWith("In file included from "))
                .collect(Collectors.joining("\n"))
                .strip();
    }

    private static void move(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    private static String hash(byte[] source, String wrapper, Map<String, String> defines) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            md.update(source);
            md.update((byte) 0);
            md.update(wrapper.getBytes(StandardCharsets.UTF_8));
            md.update((byte) 0);
            md.update(defines.toString().getBytes(StandardCharsets.UTF_8));
            md.update((byte) 0);
            md.update(Headers.syrupH());
            return HexFormat.of().formatHex(md.digest(), 0, 16);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Debian keeps {@code asm/} under the multiarch directory; clang -target bpf does not look there. */
    private static List<String> multiarchInclude() {
        String arch = System.getProperty("os.arch");
        String triplet = switch (arch) {
            case "amd64", "x86_64" -> "x86_64-linux-gnu";
            case "aarch64", "arm64" -> "aarch64-linux-gnu";
            default -> arch + "-linux-gnu";
        };
        Path p = Path.of("/usr/include", triplet);
        return Files.isDirectory(p) ? List.of(p.toString()) : List.of();
    }
}
