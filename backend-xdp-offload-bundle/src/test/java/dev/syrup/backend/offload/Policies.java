package dev.syrup.backend.offload;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;

/** Compiles test policies with clang through the xdp_offload glue, as syrupd would. */
final class Policies {

    private Policies() {
    }

    static Path compile(Path dir, String name, String policy) throws Exception {
        Path inc = dir.resolve("include");
        Files.createDirectories(inc);
        try (InputStream h = Policies.class.getClassLoader().getResourceAsStream("dev/syrup/api/syrup.h")) {
            if (h == null) {
                throw new IllegalStateException("syrup.h is not on the class path");
            }
            Files.write(inc.resolve("syrup.h"), h.readAllBytes());
        }
        Path src = dir.resolve(name + ".c");
        Files.writeString(src, policy);
        Path glue = dir.resolve(name + ".glue.c");
        Files.writeString(glue, new XdpOffloadHook().wrapper(src.toString()));
        Path obj = dir.resolve(name + ".o");
        String multiarch = multiarch();
        List<String> cmd = List.of("clang", "-O2", "-g", "-target", "bpf", "-mcpu=v3", "-DNUM_EXECUTORS=4",
                "-I" + inc, "-I/usr/include/" + multiarch, "-c", glue.toString(), "-o", obj.toString());
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
        return System.getProperty("os.arch").equals("aarch64") ? "aarch64-linux-gnu" : "x86_64-linux-gnu";
    }
}
