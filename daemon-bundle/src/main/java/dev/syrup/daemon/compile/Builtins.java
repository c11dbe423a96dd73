package dev.syrup.daemon.compile;

import dev.syrup.api.SyrupException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The policies syrupd ships, as C files inside this bundle. They are written out to the
 * compiler's work directory so clang (and its error messages) see a real file.
 */
public final class Builtins {

    /** Built-in names, sorted. Each is {@code policies/<name>.c} in this bundle. */
    public static final List<String> NAMES = List.of("get_priority", "hash", "round_robin", "scan_avoid", "sita", "token");

    private final Path dir;

    public Builtins(Path dir) {
        this.dir = dir;
    }

    public static boolean isBuiltin(String name) {
        return NAMES.contains(name);
    }

    /** The built-in's C text. */
    public static byte[] text(String name) throws SyrupException {
        try (InputStream in = Builtins.class.getResourceAsStream("/dev/syrup/daemon/policies/" + name + ".c")) {
            if (in == null) {
                throw new SyrupException(SyrupException.Kind.NOT_FOUND, "no built-in policy '" + name + "'");
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new SyrupException(SyrupException.Kind.NOT_FOUND, "cannot read built-in '" + name + "': " + e.getMessage(), e);
        }
    }

    /**
     * Resolves what the user typed: a built-in name, or a path to a C file.
     */
    public PolicySource resolve(String policy) throws SyrupException {
        if (isBuiltin(policy)) {
            Path file = dir.resolve(policy + ".c");
            try {
                Files.createDirectories(dir);
                byte[] text = text(policy);
                if (!Files.exists(file) || !java.util.Arrays.equals(Files.readAllBytes(file), text)) {
                    Files.write(file, text);
                }
            } catch (IOException e) {
                throw new SyrupException(SyrupException.Kind.KERNEL, "cannot write built-in " + policy + " to " + dir + ": " + e.getMessage(), e);
            }
            return new PolicySource(policy, file, true);
        }
        Path file = Path.of(policy).toAbsolutePath().normalize();
        if (!Files.isRegularFile(file)) {
            throw new SyrupException(SyrupException.Kind.NOT_FOUND,
                    "no such policy: '" + policy + "' is neither a built-in (" + String.join(", ", NAMES)
                            + ") nor a readable file");
        }
        return new PolicySource(policy, file, false);
    }
}
