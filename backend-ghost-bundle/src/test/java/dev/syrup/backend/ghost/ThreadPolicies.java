package dev.syrup.backend.ghost;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;

/** Compiles test policies with clang through the thread_scheduler glue, as syrupd would. */
final class ThreadPolicies {

    private ThreadPolicies() {
    }

    static Path compile(Path dir, String name, String policy, int executors, String... defines) throws Exception {
        Path inc = dir.resolve("include");
        Files.createDirectories(inc);
        try (InputStream h = ThreadPolicies.class.getClassLoader().getResourceAsStream("dev/syrup/api/syrup.h")) {
            if (h == null) {
                throw new IllegalStateException("syrup.h is not on the class path");
            }
            Files.write(inc.resolve("syrup.h"), h.readAllBytes());
        }
        Path src = dir.resolve(name + ".c");
        Files.writeString(src, policy);
        Path glue = dir.resolve(name + ".glue.c");
        Files.writeString(glue, ThreadGlue.wrapper(src.toString(), 64));
        Path obj = dir.resolve(name + ".o");
        List<String> cmd = new ArrayList<>(List.of("clang", "-O2", "-g", "-target", "bpf", "-mcpu=v3",
                "-DNUM_EXECUTORS=" + executors, "-I" + inc, "-I/usr/include/" + multiarch()));
        for (String d : defines) {
            cmd.add("-D" + d);
        }
        cmd.addAll(List.of("-c", glue.toString(), "-o", obj.toString()));
        Process p;
        try {
            p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        } catch (IOException e) {
            Assumptions.abort("clang is not installed: " + e.getMessage());
            throw e;
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(120, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IllegalStateException("clang failed for " + name + ":\n" + out);
        }
        return obj;
    }

    /** The built-in GET-priority policy as the daemon ships it. */
    static String builtin(String name) throws IOException {
        Path p = Path.of("../daemon-bundle/src/main/resources/dev/syrup/daemon/policies/" + name + ".c");
        return Files.readString(p);
    }

    private static String multiarch() {
        try {
            Process p = new ProcessBuilder("gcc", "-print-multiarch").start();
            String s = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            if (p.waitFor() == 0 && !s.isEmpty()) {
                return s;
            }
        } catch (IOException | InterruptedException e) {
            // fall through
        }
        return "x86_64-linux-gnu";
    }
}
