package dev.syrup.backend.ghost;

import dev.syrup.linux.LibC;
import dev.syrup.linux.Linux;
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
import jnr.ffi.Pointer;

/**
 * {@link GhostKernel} on a ghOSt kernel: ghostfs at {@code /sys/fs/ghost} and the enclave ctl
 * fd's ioctls, through syrup-native's libc binding. {@link #open} refuses, with the reason
 * {@link Ghost#missing} gives, where the kernel has no ghOSt (this one, and every stock kernel).
 */
final class Ghostfs implements GhostKernel {

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
    private final Path enclave;
    private final int ctl;
    private final List<Runnable> unmaps = new ArrayList<>();
    private final Map<Integer, ByteBuffer> queues = new HashMap<>();
    private int online = -1;

    private Ghostfs(LibC c, Path enclave, int ctl) {
        this.c = c;
        this.enclave = enclave;
        this.ctl = ctl;
    }

    /** A new enclave; {@code UnsupportedOperationException} with the reason where the kernel has no ghOSt. */
    static Ghostfs open() {
        if (!Files.exists(Ghost.GHOSTFS.resolve("ctl"))) {
            throw new UnsupportedOperationException(Ghost.missing().orElse("ghOSt: no ghostfs at " + Ghost.GHOSTFS));
        }
        LibC c = Linux.libc();
        int top = c.open(Ghost.GHOSTFS.resolve("ctl").toString(), LibC.O_WRONLY | LibC.O_CLOEXEC);
        if (top < 0) {
            throw new IllegalStateException("open " + Ghost.GHOSTFS.resolve("ctl") + ": errno " + Linux.errno());
        }
        try {
            for (int id = 1; id < 4096; id++) {
                byte[] cmd = ("create " + id + " " + Ghost.VERSION).getBytes(StandardCharsets.US_ASCII);
                if (c.write(top, cmd, cmd.length) == cmd.length) {
                    Path dir = Ghost.GHOSTFS.resolve("enclave_" + id);
                    int ctl = c.open(dir.resolve("ctl").toString(), LibC.O_RDWR | LibC.O_CLOEXEC);
                    if (ctl < 0) {
                        throw new IllegalStateException("open " + dir.resolve("ctl") + ": errno " + Linux.errno());
                    }
                    return new Ghostfs(c, dir, ctl);
                }
                if (Linux.errno() != EEXIST) {
                    throw new IllegalStateException("ghostfs: create enclave " + id + ": errno " + Linux.errno());
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
        return map(enclave.resolve("cpu_data"), LibC.PROT_READ | LibC.PROT_WRITE);
    }

    @Override
    public int createQueue(int elems) {
        Pointer arg = Linux.allocate(24);
        arg.putInt(0, elems);
        arg.putInt(4, 0);
        arg.putInt(8, 0);
        int fd = c.ioctl(ctl, IOC_CREATE_QUEUE, arg.address());
        check(fd, "GHOST_IOC_CREATE_QUEUE");
        long size = arg.getLong(16);
        Pointer p = c.mmap(null, size, LibC.PROT_READ | LibC.PROT_WRITE, LibC.MAP_SHARED, fd, 0);
        checkMap(p, "the queue");
        unmaps.add(() -> c.munmap(p, size));
        queues.put(fd, Linux.buffer(p.address(), (int) size).order(ByteOrder.LITTLE_ENDIAN));
        return fd;
    }

    @Override
    public ByteBuffer queue(int fd) {
        return queues.get(fd);
    }

    @Override
    public void setDefaultQueue(int fd) {
        Pointer arg = Linux.allocate(4);
        arg.putInt(0, fd);
        check(c.ioctl(ctl, IOC_SET_DEFAULT_QUEUE, arg.address()), "GHOST_IOC_SET_DEFAULT_QUEUE");
    }

    @Override
    public int associateQueue(int fd, long gtid, int barrier) {
        Pointer arg = Linux.allocate(40);
        arg.putInt(0, fd);
        arg.putInt(8, GHOST_TASK);
        arg.putLong(16, gtid);
        arg.putInt(24, barrier);
        check(c.ioctl(ctl, IOC_ASSOC_QUEUE, arg.address()), "GHOST_IOC_ASSOC_QUEUE");
        return arg.getInt(32);
    }

    @Override
    public void becomeAgent(int cpu, int queueFd) {
        byte[] cmd = ("become agent " + cpu + " " + queueFd).getBytes(StandardCharsets.US_ASCII);
        if (c.write(ctl, cmd, cmd.length) != cmd.length) {
            throw new IllegalStateException("ghostfs: become agent on CPU " + cpu + ": errno " + Linux.errno());
        }
    }

    @Override
    public void yieldAgent(int cpu) {
        c.syscall(NR_GHOST_RUN, 0, 0, 0, cpu, 0); // ESTALE (a message came) or ENODEV (enclave gone): the loop looks again
    }

    @Override
    public void online() {
        online = c.open(enclave.resolve("agent_online").toString(), LibC.O_RDWR | LibC.O_CLOEXEC);
        check(online, "open agent_online");
    }

    @Override
    public void enterGhost(int tid) {
        writeFile("tasks", Integer.toString(tid));
    }

    @Override
    public void commit(BitSet cpus) {
        Pointer mask = Linux.allocate(128);
        byte[] bits = cpus.toByteArray();
        mask.put(0, bits, 0, Math.min(bits.length, 128));
        Pointer arg = Linux.allocate(16);
        arg.putAddress(0, mask.address());
        arg.putInt(8, 128);
        arg.putInt(12, 0);
        c.ioctl(ctl, Ghost.IOC_COMMIT_TXN, arg.address()); // each transaction's state says how it went
    }

    @Override
    public void freeStatusWord(int region, int index) {
        Pointer arg = Linux.allocate(8);
        arg.putInt(0, region);
        arg.putInt(4, index);
        c.ioctl(ctl, IOC_SW_FREE, arg.address());
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
        int fd = c.open(file.toString(), LibC.O_RDWR | LibC.O_CLOEXEC);
        check(fd, "open " + file);
        try {
            long size = Files.size(file);
            Pointer p = c.mmap(null, size, prot, LibC.MAP_SHARED, fd, 0);
            checkMap(p, file.toString());
            unmaps.add(() -> c.munmap(p, size));
            return Linux.buffer(p.address(), (int) size).order(ByteOrder.LITTLE_ENDIAN);
        } catch (IOException e) {
            throw new IllegalStateException(file + ": " + e.getMessage(), e);
        } finally {
            c.close(fd);
        }
    }

    private void writeFile(String name, String text) {
        int fd = c.open(enclave.resolve(name).toString(), LibC.O_WRONLY | LibC.O_CLOEXEC);
        check(fd, "open " + enclave.resolve(name));
        try {
            byte[] b = text.getBytes(StandardCharsets.US_ASCII);
            if (c.write(fd, b, b.length) != b.length) {
                throw new IllegalStateException("write " + text + " to " + enclave.resolve(name) + ": errno "
                        + Linux.errno());
            }
        } finally {
            c.close(fd);
        }
    }

    private void check(int rc, String what) {
        if (rc < 0) {
            throw new IllegalStateException("ghostfs: " + what + ": errno " + Linux.errno());
        }
    }

    private void checkMap(Pointer p, String what) {
        if (p == null || p.address() == -1L) {
            throw new IllegalStateException("ghostfs: mmap " + what + ": errno " + Linux.errno());
        }
    }
}
