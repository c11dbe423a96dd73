package dev.syrup.daemon.compile;

import dev.syrup.api.Headers;
import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Compiles a policy together with its hook's glue into a BPF object:
 * {@code clang -O2 -g -target bpf}, with {@code syrup.h} and the system's libbpf headers on the
 * include path, always in the {@link CompileSandbox}: the policy's text, the glue and
 * {@code syrup.h} are the only files of the compile, and clang runs as an unprivileged uid with
 * limits. Objects are cached by a hash of everything that goes into them (in a directory only
 * root can read), so deploying the same policy again (or replacing with it) costs no compile.
 */
public final class PolicyCompiler {

    /** The glue's file name in the sandbox; a policy file is never called this. */
    public static final String GLUE = "syrup_glue.c";

    private static final Pattern DEFINE_NAME = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*");
    private static final Pattern FILE_NAME = Pattern.compile("[A-Za-z0-9_][A-Za-z0-9_.+-]{0,63}\\.c");
    /** {@code file:line:col: severity:}, how clang begins a diagnostic. */
    private static final Pattern LOCATION = Pattern.compile("^(.+?):(\\d+):(\\d+): (fatal error|error|warning|note|remark): .*$");

    private final String clang;
    private final Path includeDir;
    private final Path cacheDir;
    private final List<String> systemIncludes;
    private final CompileSandbox sandbox;

    /**
     * With the default sandbox (uid 65534, {@code /run/syrup/compile}, default limits).
     *
     * @param clang   the clang executable (a name on PATH or a path under /usr)
     * @param workDir a directory syrupd owns; {@code include/} and {@code cache/} go under it
     */
    public PolicyCompiler(String clang, Path workDir) throws IOException {
        this(clang, workDir, new CompileSandbox("/usr/bin/bwrap", Path.of("/run/syrup/compile"), 65534,
                CompileSandbox.Limits.DEFAULT));
    }

    public PolicyCompiler(String clang, Path workDir, CompileSandbox sandbox) throws IOException {
        this.clang = resolve(clang);
        this.includeDir = workDir.resolve("include");
        this.cacheDir = workDir.resolve("cache");
        this.sandbox = sandbox;
        Files.createDirectories(includeDir);
        Files.createDirectories(cacheDir);
        // Objects of other applications' policies: root's alone.
        Files.setPosixFilePermissions(cacheDir, PosixFilePermissions.fromString("rwx------"));
        Files.write(includeDir.resolve(Headers.SYRUP_H), Headers.syrupH());
        this.systemIncludes = multiarchInclude();
    }

    /** Where {@code syrup.h} is, for people writing policies. */
    public Path includeDir() {
        return includeDir;
    }

    /**
     * The name the policy's file has in the compile (what the glue includes and clang's messages
     * name): its own file name, or {@code policy.c} when that is not a plain C file name.
     */
    public static String fileName(PolicySource policy) {
        Path f = policy.file().getFileName();
        String name = f == null ? "" : f.toString();
        return FILE_NAME.matcher(name).matches() && !name.equals(GLUE) ? name : "policy.c";
    }

    /** The object compiled before from the same inputs, if the cache has it. */
    public Optional<Path> cached(PolicySource policy, String wrapper, Map<String, String> defines) throws SyrupException {
        Path object = cacheDir.resolve(hash(read(policy), wrapper, checked(defines)) + ".o");
        return Files.isRegularFile(object, LinkOption.NOFOLLOW_LINKS) ? Optional.of(object) : Optional.empty();
    }

    /**
     * @param policy  the policy's C file
     * @param wrapper the hook's glue, which {@code #include}s the policy by {@link #fileName}
     * @param defines {@code -D} definitions, name to value (an empty value defines the name as 1)
     * @return the compiled object
     * @throws SyrupException {@code COMPILE} with clang's {@code file:line: error:} lines or the
     *                        limit the compile was stopped at, {@code INVALID} for a malformed
     *                        define, {@code UNAVAILABLE} when the sandbox cannot run
     */
    public Path compile(PolicySource policy, String wrapper, Map<String, String> defines) throws SyrupException {
        Map<String, String> sorted = checked(defines);
        byte[] source = read(policy);
        String key = hash(source, wrapper, sorted);
        Path object = cacheDir.resolve(key + ".o");
        if (Files.isRegularFile(object, LinkOption.NOFOLLOW_LINKS)) {
            return object;
        }
        String name = fileName(policy);
        Map<String, byte[]> files = new LinkedHashMap<>();
        files.put(Headers.SYRUP_H, Headers.syrupH());
        files.put(GLUE, wrapper.getBytes(StandardCharsets.UTF_8));
        files.put(name, source);
        CompileSandbox.Result r = sandbox.run(files, command(sorted));
        Set<String> own = Set.of(name, GLUE, Headers.SYRUP_H);
        // Named as in the compile: where syrupd keeps a tenant's text is none of the tenant's business.
        String shown = policy.builtin() ? policy.name() : name;
        if (r.limit().isPresent()) {
            String said = diagnostics(r.output(), own);
            throw new SyrupException(Kind.COMPILE, "policy " + shown + " does not compile: " + r.limit().get()
                    + (said.isEmpty() ? "" : "\n" + said));
        }
        if (r.exit() != 0) {
            throw new SyrupException(Kind.COMPILE, "policy " + shown + " does not compile:\n" + diagnostics(r.output(), own)
                    + (r.truncated() ? "\n(clang's messages were cut at " + sandbox.limits().outputKiB() + " KiB)" : ""));
        }
        Path tmp = cacheDir.resolve(key + ".o.tmp" + ProcessHandle.current().pid() + "-" + Thread.currentThread().getId());
        try {
            Files.write(tmp, r.object());
            move(tmp, object);
            return object;
        } catch (IOException e) {
            throw new SyrupException(Kind.COMPILE, "cannot store the object of " + shown + " in " + cacheDir + ": "
                    + e.getMessage(), e);
        } finally {
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException ignored) {
                // best effort: a stale temporary file in our cache is harmless
            }
        }
    }

    /** clang's arguments, relative to the sandbox's directory; the object goes to stdout. */
    List<String> command(Map<String, String> defines) {
        List<String> cmd = new ArrayList<>(List.of(clang, "-O2", "-g", "-target", "bpf",
                // v3: 32-bit atomics whose result is used (__sync_fetch_and_add on a u32)
                "-mcpu=v3",
                "-Wall", "-Wno-unused-function", "-Wno-unused-variable",
                // a crash would write the preprocessed source to /tmp and say where
                "-fno-crash-diagnostics",
                "-I."));
        for (String inc : systemIncludes) {
            cmd.add("-I" + inc);
        }
        defines.forEach((k, v) -> cmd.add(v.isEmpty() ? "-D" + k : "-D" + k + "=" + v));
        cmd.addAll(List.of("-c", GLUE, "-o", "-"));
        return cmd;
    }

    private static Map<String, String> checked(Map<String, String> defines) throws SyrupException {
        Map<String, String> sorted = new TreeMap<>(defines);
        for (Map.Entry<String, String> d : sorted.entrySet()) {
            if (!DEFINE_NAME.matcher(d.getKey()).matches()) {
                throw new SyrupException(Kind.INVALID, "bad define name '" + d.getKey() + "' (expected a C identifier)");
            }
            if (d.getValue().indexOf('\n') >= 0) {
                throw new SyrupException(Kind.INVALID, "define " + d.getKey() + " has a newline in its value");
            }
        }
        return sorted;
    }

    private static byte[] read(PolicySource policy) throws SyrupException {
        try {
            return Files.readAllBytes(policy.file());
        } catch (IOException e) {
            throw new SyrupException(Kind.NOT_FOUND, "cannot read policy " + policy.file() + ": " + e.getMessage(), e);
        }
    }

    /**
     * Clang's diagnostics as a tenant may see them: no "In file included from" lines (they name
     * only the glue), nothing after a crash report's start, and of a diagnostic about a file that
     * is neither one of {@code own} nor a public header under /usr, only where and how severe it
     * is: its message and the quoted source line could show that file's text.
     */
    static String diagnostics(String clangOutput, Set<String> own) {
        List<String> out = new ArrayList<>();
        boolean hide = false;
        for (String line : clangOutput.split("\n", -1)) {
            if (line.startsWith("PLEASE submit a bug report") || line.startsWith("Stack dump:")) {
                break;
            }
            if (line.startsWith("In file included from ")) {
                continue;
            }
            Matcher m = LOCATION.matcher(line);
            if (m.matches()) {
                String file = m.group(1).startsWith("./") ? m.group(1).substring(2) : m.group(1);
                if (file.startsWith(CompileSandbox.DIR + "/")) {
                    file = file.substring(CompileSandbox.DIR.length() + 1);
                }
                hide = !(own.contains(file) || file.startsWith("<") || file.startsWith("/usr/include/")
                        || file.startsWith("/usr/lib/llvm-"));
                line = hide ? file + ":" + m.group(2) + ":" + m.group(3) + ": " + m.group(4)
                        + ": (not shown: it is about a file other than the policy)"
                        : file + line.substring(m.end(1));
                out.add(line);
            } else if (!hide) {
                out.add(line);
            }
        }
        return String.join("\n", out).strip();
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

    /**
     * The clang executable as the sandbox sees it: a name is looked up on PATH (then /usr/bin);
     * it must be under /usr, the only host tree the sandbox shows.
     */
    static String resolve(String clang) {
        if (clang.indexOf('/') >= 0) {
            return clang;
        }
        String path = System.getenv("PATH");
        for (String d : ((path == null ? "" : path) + ":/usr/bin").split(":")) {
            Path p = Path.of(d.isEmpty() ? "." : d, clang).toAbsolutePath().normalize();
            if (Files.isExecutable(p) && p.startsWith("/usr")) {
                return p.toString();
            }
        }
        return "/usr/bin/" + clang;
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
