package dev.syrup.daemon.compile;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;

/**
 * Reads a stream to its end, keeping at most {@code cap} bytes: what a process writes past the
 * cap is read and dropped, so the process never blocks on a full pipe and the heap holds no more
 * than the cap. The first byte past the cap runs {@code overflow} (once), e.g. to kill the writer.
 */
final class BoundedOutput implements Runnable {

    private final InputStream in;
    private final int cap;
    private Runnable overflow;
    private final ByteArrayOutputStream kept = new ByteArrayOutputStream();
    private long total;

    BoundedOutput(InputStream in, int cap, Runnable overflow) {
        this.in = in;
        this.cap = cap;
        this.overflow = overflow;
    }

    @Override
    public void run() {
        byte[] buf = new byte[8192];
        try (in) {
            int n;
            while ((n = in.read(buf)) >= 0) {
                Runnable hook = null;
                synchronized (this) {
                    int keep = (int) Math.min(n, cap - kept.size());
                    kept.write(buf, 0, keep);
                    total += n;
                    if (total > cap && overflow != null) {
                        hook = overflow;
                        overflow = null;
                    }
                }
                if (hook != null) {
                    hook.run();
                }
            }
        } catch (IOException e) {
            // the process is gone: what was read is what there is
        }
    }

    /** The bytes kept. */
    synchronized byte[] bytes() {
        return kept.toByteArray();
    }

    /** The bytes kept, as UTF-8 text. */
    synchronized String text() {
        return kept.toString(StandardCharsets.UTF_8);
    }

    /** Whether more than {@code cap} bytes came. */
    synchronized boolean truncated() {
        return total > cap;
    }

    /** How many bytes came in all. */
    synchronized long total() {
        return total;
    }
}
