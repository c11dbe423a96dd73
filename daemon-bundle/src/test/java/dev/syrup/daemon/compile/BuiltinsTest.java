package dev.syrup.daemon.compile;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.syrup.api.SyrupException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Built-ins are the bundle's {@code policies/*.c}: adding one is adding its file. */
class BuiltinsTest {

    @TempDir
    Path dir;

    @Test
    void everyCFileIsABuiltin() throws Exception {
        Path src = Path.of("src/main/resources", Builtins.DIR);
        List<String> files;
        try (Stream<Path> s = Files.list(src)) {
            files = s.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".c"))
                    .map(n -> n.substring(0, n.length() - 2)).sorted().toList();
        }
        assertEquals(files, Builtins.NAMES);
        assertTrue(Builtins.NAMES.containsAll(List.of("hash", "mica", "round_robin", "scan_avoid", "sita", "token")));
    }

    @Test
    void foundInADirectoryAndInAJar() throws Exception {
        Path classes = dir.resolve("classes");
        Files.createDirectories(classes.resolve(Builtins.DIR));
        Files.writeString(classes.resolve(Builtins.DIR).resolve("zeta.c"), "");
        Files.writeString(classes.resolve(Builtins.DIR).resolve("alpha.c"), "");
        Files.writeString(classes.resolve(Builtins.DIR).resolve("notes.txt"), "");
        try (URLClassLoader l = new URLClassLoader(new URL[] {classes.toUri().toURL()}, null)) {
            assertEquals(List.of("alpha", "zeta"), Builtins.discover(l));
        }
        Path jar = dir.resolve("p.jar");
        try (JarOutputStream out = new JarOutputStream(Files.newOutputStream(jar))) {
            for (String n : List.of(Builtins.DIR + "/", Builtins.DIR + "/beta.c", Builtins.DIR + "/sub/", Builtins.DIR + "/sub/no.c")) {
                out.putNextEntry(new JarEntry(n));
                out.closeEntry();
            }
        }
        try (URLClassLoader l = new URLClassLoader(new URL[] {jar.toUri().toURL()}, null)) {
            assertEquals(List.of("beta"), Builtins.discover(l));
        }
    }

    @Test
    void onlyBuiltinsAreRead() {
        SyrupException e = assertThrows(SyrupException.class, () -> Builtins.text("../policies/hash"));
        assertEquals(SyrupException.Kind.NOT_FOUND, e.kind());
    }
}
