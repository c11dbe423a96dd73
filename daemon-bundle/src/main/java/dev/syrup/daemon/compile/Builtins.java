package dev.syrup.daemon.compile;

import dev.syrup.api.SyrupException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.net.JarURLConnection;
import java.net.URL;
import java.util.Enumeration;
import java.util.List;
import java.util.TreeSet;
import java.util.jar.JarFile;
import org.osgi.framework.Bundle;
import org.osgi.framework.FrameworkUtil;

/**
 * The policies syrupd ships, as C files inside this bundle. They are written out to the
 * compiler's work directory so clang (and its error messages) see a real file.
 */
public final class Builtins {

    /** Where the built-ins are in this bundle. */
    static final String DIR = "dev/syrup/daemon/policies";

    /**
     * Built-in names, sorted: every {@code <name>.c} in this bundle's {@value #DIR}, so adding a
     * built-in is adding its file.
     */
    public static final List<String> NAMES = discover(Builtins.class.getClassLoader());

    private final Path dir;

    public Builtins(Path dir) {
        this.dir = dir;
    }

    /** The {@code *.c} files under {@link #DIR}: the bundle's entries under OSGi, else the class path's directory or jar. */
    static List<String> discover(ClassLoader loader) {
        TreeSet<String> names = new TreeSet<>();
        try {
            Bundle bundle = FrameworkUtil.getBundle(Builtins.class);
            if (bundle != null) {
                Enumeration<URL> entries = bundle.findEntries(DIR, "*.c", false);
                while (entries != null && entries.hasMoreElements()) {
                    add(names, entries.nextElement().getPath());
                }
                return List.copyOf(names);
            }
            URL dir = loader.getResource(DIR);
            if (dir == null) {
                return List.of();
            }
            if (dir.getProtocol().equals("file")) {
                try (var files = Files.list(Path.of(dir.toURI()))) {
                    files.forEach(f -> add(names, f.getFileName().toString()));
                }
            } else if (dir.getProtocol().equals("jar")) {
                JarURLConnection c = (JarURLConnection) dir.openConnection();
                c.setUseCaches(false);
                try (JarFile jar = c.getJarFile()) {
                    jar.stream().map(e -> e.getName()).filter(n -> n.startsWith(DIR + "/") && n.indexOf('/', DIR.length() + 1) < 0)
                            .forEach(n -> add(names, n));
                }
            }
        } catch (IOException | java.net.URISyntaxException e) {
            throw new IllegalStateException("cannot list the built-in policies in " + DIR + ": " + e.getMessage(), e);
        }
        return List.copyOf(names);
    }

    private static void add(TreeSet<String> names, String path) {
        String file = path.substring(path.lastIndexOf('/') + 1);
        if (file.endsWith(".c") && file.length() > 2) {
            names.add(file.substring(0, file.length() - 2));
        }
    }

    public static boolean isBuiltin(String name) {
        return NAMES.contains(name);
    }

    /** The built-in's C text. */
    public static byte[] text(String name) throws SyrupException {
        if (!isBuiltin(name)) {
            throw new SyrupException(SyrupException.Kind.NOT_FOUND, "no built-in policy '" + name + "'; built-ins: "
                    + String.join(", ", NAMES));
        }
        try (InputStream in = Builtins.class.getResourceAsStream("/" + DIR + "/" + name + ".c")) {
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
