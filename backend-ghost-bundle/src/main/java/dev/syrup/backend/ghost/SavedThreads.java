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
import java.nio.file.Path;
import java.util.BitSet;
import java.util.Optional;
import java.util.Set;

/**
 * Each registered thread's state as it was registered, in a map pinned outside the daemon's pin
 * tree ({@code <bpffs root>/threads/<owner>-<id>}, root's like the rest of the tree), so that when syrupd dies without closing a
 * deployment (kill -9, a crash) the next one puts the threads back: a thread is restored only
 * when its start time still matches, so a tid reused since by another thread is never touched.
 * Value: start time u64 @0, policy u32 @8, priority u32 @12, CPU mask 128 bytes @16.
 */
final class SavedThreads implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger(SavedThreads.class.getName());
    static final int VALUE = 16 + 128;
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

    void put(int tid, State s) {
        long start = startTime(tid).orElse(0L);
        ByteBuffer v = ByteBuffer.allocate(VALUE).order(ByteOrder.LITTLE_ENDIAN);
        v.putLong(0, start).putInt(8, s.policy()).putInt(12, s.priority());
        byte[] mask = s.cpus().toByteArray();
        v.put(16, mask, 0, Math.min(mask.length, 128));
        map.update(key(tid), v.array());
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
     * Puts back the threads of every deployment saved under {@code dir} but not in
     * {@code live} (the pins of deployments running now) and removes those pins. Returns how
     * many threads were restored.
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
                try (BpfMap m = BpfMap.openPinned(p)) {
                    if (m.valueSize() == VALUE && m.keySize() == 4) {
                        for (byte[] k : m.keys()) {
                            int tid = ByteBuffer.wrap(k).order(ByteOrder.LITTLE_ENDIAN).getInt(0);
                            Optional<byte[]> v = m.lookup(k);
                            if (v.isPresent() && restore(tid, v.get())) {
                                restored++;
                            }
                        }
                    }
                } catch (BpfException e) {
                    LOG.log(System.Logger.Level.WARNING, "cannot read " + p + ": " + e.getMessage());
                }
                Files.deleteIfExists(p);
                LOG.log(System.Logger.Level.WARNING, "thread_scheduler: a deployment ended without closing (" + p.getFileName()
                        + "): its threads are back as they were registered");
            }
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "cannot list " + dir + ": " + e.getMessage());
        }
        removeIfEmpty(dir);
        return restored;
    }

    private static boolean restore(int tid, byte[] value) {
        ByteBuffer v = ByteBuffer.wrap(value).order(ByteOrder.LITTLE_ENDIAN);
        long start = v.getLong(0);
        Optional<Long> now = startTime(tid);
        if (now.isEmpty() || now.get() != start) {
            return false; // gone, or the tid is another thread's now
        }
        byte[] mask = new byte[128];
        v.get(16, mask);
        try {
            Sched.get().restore(tid, new State(BitSet.valueOf(mask), v.getInt(8), v.getInt(12)));
            return true;
        } catch (SchedException e) {
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
