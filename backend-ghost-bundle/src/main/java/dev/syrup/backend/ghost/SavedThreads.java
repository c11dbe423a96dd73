package dev.syrup.backend.ghost;

import dev.syrup.backend.ghost.Sched.SchedException;
import dev.syrup.backend.ghost.Sched.State;
import dev.syrup.bpf.BpfException;
import dev.syrup.bpf.BpfMap;
import dev.syrup.bpf.MapType;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * Each registered thread's registration, in a map pinned outside the deployments' pin dirs
 * ({@code <bpffs root>/threads/<owner>-<id>}, root's like the rest of the tree), for the next
 * syrupd:
 * <ul>
 * <li>after a crash (kill -9: nothing was closed) the threads are put back as they were
 *     registered, only where the start time still matches, so a tid reused since by another
 *     thread is never touched;
 * <li>after a crash or a graceful shutdown ({@link ThreadDeployment#closeKeepingMaps}), the
 *     deployment the next syrupd re-adopts registers again those of its threads that still run
 *     (same start time, same process and uid), at their index; the others are forgotten.
 * </ul>
 * A saved map is kept while its deployment's pin dir ({@code <root>/<owner>/<id>}, where the
 * policy's Maps wait to be re-adopted) exists, and removed with it.
 * Value: start time u64 @0, policy u32 @8, priority u32 @12, CPU mask 128 bytes @16, index u32
 * @144, pid u32 @148, uid u32 @152 (an earlier version's 144-byte value lacks the last three: its
 * threads are restored, not registered again).
 */
final class SavedThreads implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger(SavedThreads.class.getName());
    static final int VALUE = 160;
    /** The value an earlier version saved: no index, pid or uid. */
    static final int OLD_VALUE = 16 + 128;
    /** The directory under the bpffs root; the deployment manager's recovery leaves it alone. */
    static final String PIN_DIR = "threads";

    private final BpfMap map;
    private final Path pin;

    SavedThreads(Path pinDir, int maxThreads) {
        this.pin = pinOf(pinDir);
        this.map = BpfMap.create(MapType.HASH, "syr_saved", 4, VALUE, maxThreads, 0);
        for (int attempt = 1; ; attempt++) {
            try {
                Files.createDirectories(pin.getParent());
                map.pin(pin);
                break;
            } catch (IOException | BpfException e) {
                if (attempt < 3) {
                    continue; // the last other deployment removed the directory just now
                }
                map.close();
                throw new BpfException("pin " + pin + ": " + e.getMessage(), 1);
            }
        }
    }

    /** {@code <root>/<owner>/<id>} → {@code <root>/threads/<owner>-<id>} (bpffs names take no dot). */
    static Path pinOf(Path pinDir) {
        return dirOf(pinDir).resolve(pinDir.getParent().getFileName() + "-" + pinDir.getFileName());
    }

    static Path dirOf(Path pinDir) {
        // Inside syrupd's root-only tree: a directory beside it could be planted by anyone where
        // bpffs is mounted 1777, and recovery removes what it finds there.
        return pinDir.getParent().getParent().resolve(PIN_DIR);
    }

    /** One saved registration: thread {@code tid} of process {@code pid} (uid {@code uid}) at {@code index}. */
    record Entry(int tid, long start, State original, int index, int pid, int uid) {
    }

    void put(int tid, State s, int index, int pid, int uid) {
        long start = startTime(tid).orElse(0L);
        ByteBuffer v = ByteBuffer.allocate(VALUE).order(ByteOrder.LITTLE_ENDIAN);
        v.putLong(0, start).putInt(8, s.policy()).putInt(12, s.priority());
        byte[] mask = s.cpus().toByteArray();
        v.put(16, mask, 0, Math.min(mask.length, 128));
        v.putInt(144, index).putInt(148, pid).putInt(152, uid);
        map.update(key(tid), v.array());
    }

    private static Optional<Entry> entry(byte[] k, byte[] value) {
        if (value.length < OLD_VALUE) {
            return Optional.empty();
        }
        int tid = ByteBuffer.wrap(k).order(ByteOrder.LITTLE_ENDIAN).getInt(0);
        ByteBuffer v = ByteBuffer.wrap(value).order(ByteOrder.LITTLE_ENDIAN);
        byte[] mask = new byte[128];
        v.get(16, mask);
        State original = new State(BitSet.valueOf(mask), v.getInt(8), v.getInt(12));
        boolean full = value.length >= VALUE;
        return Optional.of(new Entry(tid, v.getLong(0), original, full ? v.getInt(144) : -1, full ? v.getInt(148) : 0,
                full ? v.getInt(152) : -1));
    }

    void remove(int tid) {
        try {
            map.delete(key(tid));
        } catch (BpfException | IllegalStateException e) {
            // not there
        }
    }

    /** The deployment ended properly: nothing to recover. */
    @Override
    public void close() {
        try {
            map.unpin();
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "unpin " + pin + ": " + e.getMessage());
        }
        map.close();
        removeIfEmpty(pin.getParent());
    }

    /** The directory goes with its last deployment (another may be creating one: then it stays). */
    private static void removeIfEmpty(Path dir) {
        try {
            Files.deleteIfExists(dir);
        } catch (IOException e) {
            // not empty: other deployments' states
        }
    }

    /** A crash: the pin stays for {@link #recover}. */
    void abandon() {
        map.close();
    }

    private static byte[] key(int tid) {
        return ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(0, tid).array();
    }

    /**
     * What a previous syrupd saved for deployment {@code pinDir} (being opened again: a
     * re-adoption), emptied: its threads that still run as saved are put back as they were
     * registered and returned, for the deployment to register again; the pin goes. Empty when
     * nothing was saved.
     */
    static List<Entry> take(Path pinDir) {
        Path pin = pinOf(pinDir);
        List<Entry> out = new ArrayList<>();
        if (!Files.exists(pin, LinkOption.NOFOLLOW_LINKS)) {
            return out;
        }
        for (Entry e : read(pin)) {
            if (restore(e)) {
                out.add(e);
            }
        }
        delete(pin);
        return out;
    }

    /** A deployment that will not be re-adopted ({@code Hook.discard}): its threads back as registered, its pin gone. */
    static int discard(Path pinDir) {
        Path pin = pinOf(pinDir);
        if (!Files.exists(pin, LinkOption.NOFOLLOW_LINKS)) {
            return 0;
        }
        int n = 0;
        for (Entry e : read(pin)) {
            if (restore(e)) {
                n++;
            }
        }
        delete(pin);
        removeIfEmpty(pin.getParent());
        return n;
    }

    /**
     * Puts back the threads of every deployment saved under {@code dir} but not in {@code live}
     * (the pins of deployments running now): nothing schedules them until their deployment is
     * re-adopted, if ever. A pin whose deployment's pin dir is gone (nothing to re-adopt) is
     * removed; the others stay for {@link #take}. Returns how many threads were restored.
     */
    static int recover(Path dir, Set<Path> live) {
        int restored = 0;
        if (!Files.isDirectory(dir)) {
            return 0;
        }
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
            for (Path p : ds) {
                if (live.contains(p)) {
                    continue;
                }
                List<Entry> entries = read(p);
                for (Entry e : entries) {
                    if (restore(e)) {
                        restored++;
                    }
                }
                Optional<Path> deployment = deploymentOf(p);
                if (deployment.isPresent() && Files.isDirectory(deployment.get(), LinkOption.NOFOLLOW_LINKS)) {
                    if (!entries.isEmpty()) {
                        LOG.log(System.Logger.Level.INFO, "thread_scheduler: the threads of " + p.getFileName()
                                + " are back as they were registered until their deployment is re-adopted");
                    }
                    continue;
                }
                delete(p);
                LOG.log(System.Logger.Level.WARNING, "thread_scheduler: a deployment ended without closing (" + p.getFileName()
                        + "): its threads are back as they were registered");
            }
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "cannot list " + dir + ": " + e.getMessage());
        }
        removeIfEmpty(dir);
        return restored;
    }

    /** {@code <root>/threads/<owner>-<id>} → {@code <root>/<owner>/<id>} (an id has no '-', an owner may). */
    static Optional<Path> deploymentOf(Path pin) {
        String name = pin.getFileName().toString();
        int dash = name.lastIndexOf('-');
        if (dash <= 0 || dash == name.length() - 1) {
            return Optional.empty();
        }
        return Optional.of(pin.getParent().getParent().resolve(name.substring(0, dash)).resolve(name.substring(dash + 1)));
    }

    private static List<Entry> read(Path pin) {
        List<Entry> out = new ArrayList<>();
        try (BpfMap m = BpfMap.openPinned(pin)) {
            if (m.keySize() == 4 && (m.valueSize() == VALUE || m.valueSize() == OLD_VALUE)) {
                for (byte[] k : m.keys()) {
                    m.lookup(k).flatMap(v -> entry(k, v)).ifPresent(out::add);
                }
            }
        } catch (BpfException e) {
            LOG.log(System.Logger.Level.WARNING, "cannot read " + pin + ": " + e.getMessage());
        }
        return out;
    }

    private static void delete(Path pin) {
        try {
            Files.deleteIfExists(pin);
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "cannot remove " + pin + ": " + e.getMessage());
        }
    }

    /** The thread, if it is still the one saved (same start time), back as it was registered. */
    private static boolean restore(Entry e) {
        Optional<Long> now = startTime(e.tid());
        if (now.isEmpty() || now.get() != e.start()) {
            return false; // gone, or the tid is another thread's now
        }
        try {
            Sched.State current = Sched.get().state(e.tid());
            if (!current.equals(e.original())) {
                Sched.get().restore(e.tid(), e.original());
            }
            return true;
        } catch (SchedException x) {
            return false;
        }
    }

    /** Field 22 of /proc/<tid>/stat: when the thread started, in clock ticks since boot. */
    static Optional<Long> startTime(int tid) {
        try {
            String s = Files.readString(Path.of("/proc/" + tid + "/stat"));
            String[] f = s.substring(s.lastIndexOf(')') + 2).split(" ");
            return Optional.of(Long.parseLong(f[19])); // fields from 3 on: 22 - 3
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
    }
}
