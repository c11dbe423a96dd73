package dev.syrup.daemon;

import dev.syrup.api.DeployRequest;
import dev.syrup.api.Protocol;
import dev.syrup.api.Target;
import java.io.IOException;
import java.io.Reader;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.TreeMap;

/**
 * What each deployment was made from, one {@code <id>.properties} file per deployment in syrupd's
 * work directory, from its deploy to its undeploy: the next syrupd reads them to re-adopt the
 * deployments after a restart or a crash (the kernel keeps only programs and Maps, not how they
 * were made). A file is replaced atomically, so a crash leaves the old record or the new one.
 */
final class DeploymentRecords {

    private static final System.Logger LOG = System.getLogger(DeploymentRecords.class.getName());
    private static final String SUFFIX = ".properties";
    private static final String DEFINE = "define.";

    /** A deployment as recorded: its id, what to deploy again, and its history. */
    record Record(String id, DeployRequest request, Instant created, int replaced) {
    }

    private final Path dir;

    DeploymentRecords(Path dir) {
        this.dir = dir;
    }

    Path dir() {
        return dir;
    }

    /** Writes (or replaces) the record of deployment {@code r.id()}. */
    void save(Record r) throws IOException {
        DeployRequest q = r.request();
        Properties p = new Properties();
        p.setProperty("id", r.id());
        p.setProperty("policy", q.policy());
        p.setProperty("hook", q.hook());
        p.setProperty("protocol", q.target().protocol().name());
        p.setProperty("port", Integer.toString(q.target().port()));
        q.target().iface().ifPresent(i -> p.setProperty("iface", i));
        p.setProperty("owner", q.owner());
        p.setProperty("created", r.created().toString());
        p.setProperty("replaced", Integer.toString(r.replaced()));
        q.defines().forEach((k, v) -> p.setProperty(DEFINE + k, v));
        Files.createDirectories(dir);
        Path tmp = Files.createTempFile(dir, r.id(), ".tmp");
        try {
            try (Writer w = Files.newBufferedWriter(tmp, StandardCharsets.UTF_8)) {
                p.store(w, "syrupd deployment " + r.id() + ": re-adopted when syrupd starts again");
            }
            Files.move(tmp, file(r.id()), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    void delete(String id) {
        try {
            Files.deleteIfExists(file(id));
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "cannot remove the record of " + id + ": " + e.getMessage());
        }
    }

    /**
     * Every record, in id order. One that cannot be read is removed, with a warning: nothing can
     * be re-adopted from it.
     */
    List<Record> load() {
        List<Record> out = new ArrayList<>();
        if (!Files.isDirectory(dir)) {
            return out;
        }
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, "*" + SUFFIX)) {
            for (Path f : files) {
                try {
                    out.add(read(f));
                } catch (IOException | RuntimeException e) {
                    LOG.log(System.Logger.Level.WARNING, "dropping the unreadable deployment record " + f + ": " + e);
                    Files.deleteIfExists(f);
                }
            }
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "cannot read deployment records in " + dir + ": " + e.getMessage());
        }
        out.sort(Comparator.comparingLong(r -> number(r.id())));
        return out;
    }

    /** The number of a deployment id {@code d<N>}, or -1 for any other name. */
    static long number(String id) {
        if (id.length() < 2 || id.charAt(0) != 'd') {
            return -1;
        }
        try {
            return Long.parseLong(id.substring(1));
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    private static Record read(Path f) throws IOException {
        Properties p = new Properties();
        try (Reader r = Files.newBufferedReader(f, StandardCharsets.UTF_8)) {
            p.load(r);
        }
        Map<String, String> defines = new TreeMap<>();
        for (String k : p.stringPropertyNames()) {
            if (k.startsWith(DEFINE)) {
                defines.put(k.substring(DEFINE.length()), p.getProperty(k));
            }
        }
        String id = required(p, "id");
        if (number(id) < 0 || !f.getFileName().toString().equals(id + SUFFIX)) {
            throw new IllegalArgumentException("id '" + id + "' does not match the file name");
        }
        Target target = new Target(Protocol.valueOf(required(p, "protocol")), Integer.parseInt(required(p, "port")),
                Optional.ofNullable(p.getProperty("iface")));
        DeployRequest req = new DeployRequest(required(p, "policy"), required(p, "hook"), target, defines, false,
                required(p, "owner"));
        return new Record(id, req, Instant.parse(required(p, "created")), Integer.parseInt(p.getProperty("replaced", "0")));
    }

    private static String required(Properties p, String key) {
        String v = p.getProperty(key);
        if (v == null || v.isBlank()) {
            throw new IllegalArgumentException("no '" + key + "'");
        }
        return v;
    }

    private Path file(String id) {
        return dir.resolve(id + SUFFIX);
    }
}
