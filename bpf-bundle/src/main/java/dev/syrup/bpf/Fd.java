package dev.syrup.bpf;

import dev.syrup.bpf.internal.Native;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * An owned file descriptor. {@link #close()} is idempotent; {@link #get()} after close throws
 * {@link IllegalStateException}.
 */
public final class Fd implements AutoCloseable {

    private final int fd;
    private final AtomicBoolean closed = new AtomicBoolean();

    private Fd(int fd) {
        if (fd < 0) {
            throw new IllegalArgumentException("negative fd " + fd);
        }
        this.fd = fd;
    }

    /** Takes ownership of {@code fd}: it will be closed by {@link #close()}. */
    public static Fd adopt(int fd) {
        return new Fd(fd);
    }

    /** The descriptor number. */
    public int get() {
        if (closed.get()) {
            throw new IllegalStateException("fd " + fd + " is closed");
        }
        return fd;
    }

    public boolean isClosed() {
        return closed.get();
    }

    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            Native.get().close(fd);
        }
    }

    @Override
    public String toString() {
        return "Fd[" + fd + (closed.get() ? ", closed]" : "]");
    }
}
