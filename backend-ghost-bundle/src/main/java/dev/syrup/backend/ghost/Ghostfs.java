package dev.syrup.backend.ghost;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import jnr.ffi.LastError;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;

/**
 * {@link GhostKernel} on a ghOSt kernel: ghostfs at {@code /sys/fs/ghost} and the enclave ctl
 * fd's ioctls, through libc (jnr-ffi). {@link #open} refuses, with the reason
 * {@link Ghost#missing} gives, where the kernel has no ghOSt (this one, and every stock kernel).
 */
final class Ghostfs implements GhostKernel {

    /** libc, as this class binds it. */
    public interface LibC {
        int open(String path, int flags);

        long write(int fd, byte[] buf, long count);

        int ioctl(int fd, long request, Pointer arg);

        Pointer mmap(Pointer addr, long length, int prot, int flags, int fd, long offset);

        int munmap(Pointer addr, long length);

        int close(int fd);

        long syscall(long number, long gtid, int agentBarrier, int taskBarrier, int cpu, int flags);
    }

    private static final int O_WRONLY = 1, O_RDWR = 2, O_CLOEXEC = 0x80000;
    private static final int PROT_READ = 1, PROT_WRITE = 2, MAP_SHARED = 1;
    private static final int EEXIST = 17;
    /** _IOWR('g', 3, struct ghost_ioc_create_queue): elems, node, flags (int), mapsize (ulong @16): 24 bytes. */
    static final long IOC_CREATE_QUEUE = Ghost.ioc(3, 'g', 3, 24);
    /** _IOWR('g', 4, struct ghost_ioc_assoc_queue): fd @0, src {type @8, arg @16}, barrier @24, flags @28, status @32: 40 bytes. */
    static final long IOC_ASSOC_QUEUE = Ghost.ioc(3, 'g', 4, 40);
    /** _IOW('g', 5, struct ghost_ioc_set_default_queue): fd. */
    static final long IOC_SET_DEFAULT_QUEUE = Ghost.ioc(1, 'g', 5, 4);
    /** _IOW('g', 2, struct ghost_sw_info): id, index. */
    static final long IOC_SW_FREE = Ghost.ioc(1, 'g', 2, 8);
    private static final int GHOST_TASK = 1;
    private static final long NR_GHOST_RUN = 450;

    private final LibC c;
    private final Runtime runtime;
    private final Path enclave;
    private final int ctl;
    private final List<Runnable> unmaps = new ArrayList<>();
    private final Map<Integer, ByteBuffer> queues = new HashMap<>();
    private int online = -1;

    private Ghostfs(LibC c, Path enclave, int ctl) {
        this.c = c;
        this.runtime = Runtime.getRuntime(c);
        this.enclave = enclave;
        this.ctl = ctl;
    }

    /** A new enclave; {@code UnsupportedOperationException} with the reason where the kernel has no ghOSt. */
    static Ghostfs open() {
        if (!Files.exists(Ghost.GHOSTFS.resolve("ctl"))) {
            throw new UnsupportedOperationException(Ghost.missing().orElse("ghOSt: no ghostfs at " + Ghost.GHOSTFS));
        }
        LibC c = LibraryLoader.create(LibC.class).failImmediately().load("c");
        Runtime r = Runtime.getRuntime(c);
        int top = c.open(Ghost.GHOSTFS.resolve("ctl").toString(), O_WRONLY | O_CLOEXEC);
        if (top < 0) {
            throw new IllegalStateException("open " + Ghost.GHOSTFS.resolve("ctl") + ": errno " + LastError.getLastError(r));
        }
        try {
            for (int id = 1; id < 4096; id++) {
                byte[] cmd = ("create " + id + " " + Ghost.VERSION).getBytes(StandardCharsets.US_ASCII);
                if (c.write(top, cmd, cmd.length) == cmd.length) {
                    Path dir = Ghost.GHOSTFS.resolve("enclave_" + id);
                    int ctl = c.open(dir.resolve("ctl").toString(), O_RDWR | O_CLOEXEC);
                    if (ctl < 0) {
                        throw new IllegalStateException("open " + dir.resolve("ctl") + ": errno " + LastError.getLastError(r));
                    }
                    return new Ghostfs(c, dir, ctl);
                }
                if (LastError.getLastError(r) != EEXIST) {
                    throw new IllegalStateException("ghostfs: create enclave " + id + ": errno " + LastError.getLastError(r));
                }
            }
            throw new IllegalStateException("ghostfs: no free enclave id");
        } finally {
            c.close(top);
        }
    }

    @Override
    public ByteBuffer createEnclave(BitSet cpus) {
        // cpumask: hex, most significant word first, as the kernel's cpumask parser reads it
        StringBuilder hex = new StringBuilder();
        long[] words = cpus.toLongArray();
        for (int i = words.length - 1; i >= 0; i--) {
            hex.append(i == words.length - 1 ? Long.toHexString(words[i]) : String.format("%016x", words[i]));
        }
        writeFile("cpumask", hex.length() == 0 ? "0" : hex.toString());
        return map(enclave.resolve("cpu_data"), PROT_READ | PROT_WRITE);
    }

    @Override
    public int createQueue(int elems) {
        Pointer arg = Memory.allocateDirect(runtime, 24, true);
        arg.putInt(0, elems);
        arg.putInt(4, 0);
        arg.putInt(8, 0);
        int fd = c.ioctl(ctl, IOC_CREATE_QUEUE, arg);
        check(fd, "GHOST_IOC_CREATE_QUEUE");
        long size = arg.getLong(16);
        Pointer p = c.mmap(null, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        checkMap(p, "the queue");
        unmaps.add(() -> c.munmap(p, size));
        queues.put(fd, com.kenai.jffi.MemoryIO.getInstance().newDirectByteBuffer(p.address(), (int) size).order(ByteOrder.LITTLE_ENDIAN));
        return fd;
    }

    @Override
    public ByteBuffer queue(int fd) {
        return queues.get(fd);
    }

    @Override
    public void setDefaultQueue(int fd) {
        Pointer arg = Memory.allocateDirect(runtime, 4, true);
        arg.putInt(0, fd);
        check(c.ioctl(ctl, IOC_SET_DEFAULT_QUEUE, arg), "GHOST_IOC_SET_DEFAULT_QUEUE");
    }

    @Override
    public int associateQueue(int fd, long gtid, int barrier) {
        Pointer arg = Memory.allocateDirect(runtime, 40, true);
        arg.putInt(0, fd);
        arg.putInt(8, GHOST_TASK);
        arg.putLong(16, gtid);
        arg.putInt(24, barrier);
        check(c.ioctl(ctl, IOC_ASSOC_QUEUE, arg), "GHOST_IOC_ASSOC_QUEUE");
        return arg.getInt(32);
    }

    @Override
    public void becomeAgent(int cpu, int queueFd) {
        byte[] cmd = ("become agent " + cpu + " " + queueFd).getBytes(StandardCharsets.US_ASCII);
        if (c.write(ctl, cmd, cmd.length) != cmd.length) {
            throw new IllegalStateException("ghostfs: become agent on CPU " + cpu + ": errno " + LastError.getLastError(runtime));
        }
    }

    @Override
    public void yieldAgent(int cpu) {
        c.syscall(NR_GHOST_RUN, 0, 0, 0, cpu, 0); // ESTALE (a message came) or ENODEV (enclave gone): the loop looks again
    }

    @Override
    public void online() {
        online = c.open(enclave.resolve("agent_online").toString(), O_RDWR | O_CLOEXEC);
        check(online, "open agent_online");
    }

    @Override
    public void enterGhost(int tid) {
        writeFile("tasks", Integer.toString(tid));
    }

    @Override
    public void commit(BitSet cpus) {
        Pointer mask = Memory.allocateDirect(runtime, 128, true);
        byte[] bits = cpus.toByteArray();
        mask.put(0, bits, 0, Math.min(bits.length, 128));
        Pointer arg = Memory.allocateDirect(runtime, 16, true);
        arg.putAddress(0, mask.address());
        arg.putInt(8, 128);
        arg.putInt(12, 0);
        c.ioctl(ctl, Ghost.IOC_COMMIT_TXN, arg); // each transaction's state says how it went
    }

    @Override
    public void freeStatusWord(int region, int index) {
        Pointer arg = Memory.allocateDirect(runtime, 8, true);
        arg.putInt(0, region);
        arg.putInt(4, index);
        c.ioctl(ctl, IOC_SW_FREE, arg);
    }

    @Override
    public void close() {
        if (online >= 0) {
            c.close(online);
        }
        byte[] cmd = "destroy".getBytes(StandardCharsets.US_ASCII);
        c.write(ctl, cmd, cmd.length); // its tasks go back to CFS
        unmaps.forEach(Runnable::run);
        queues.keySet().forEach(c::close);
        c.close(ctl);
    }

    private ByteBuffer map(Path file, int prot) {
        int fd = c.open(file.toString(), O_RDWR | O_CLOEXEC);
        check(fd, "open " + file);
        try {
            long size = Files.size(file);
            Pointer p = c.mmap(null, size, prot, MAP_SHARED, fd, 0);
            checkMap(p, file.toString());
            unmaps.add(() -> c.munmap(p, size));
            return com.kenai.jffi.MemoryIO.getInstance().newDirectByteBuffer(p.address(), (int) size).order(ByteOrder.LITTLE_ENDIAN);
        } catch (IOException e) {
            throw new IllegalStateException(file + ": " + e.getMessage(), e);
        } finally {
            c.close(fd);
        }
    }

    private void writeFile(String name, String text) {
        int fd = c.open(enclave.resolve(name).toString(), O_WRONLY | O_CLOEXEC);
        check(fd, "open " + enclave.resolve(name));
        try {
            byte[] b = text.getBytes(StandardCharsets.US_ASCII);
            if (c.write(fd, b, b.length) != b.length) {
                throw new IllegalStateException("write " + text + " to " + enclave.resolve(name) + ": errno "
                        + LastError.getLastError(runtime));
            }
        } finally {
            c.close(fd);
        }
    }

    private void check(int rc, String what) {
        if (rc < 0) {
            throw new IllegalStateException("ghostfs: " + what + ": errno " + LastError.getLastError(runtime));
        }
    }

    private void checkMap(Pointer p, String what) {
        if (p == null || p.address() == -1L) {
            throw new IllegalStateException("ghostfs: mmap " + what + ": errno " + LastError.getLastError(runtime));
        }
    }
}
