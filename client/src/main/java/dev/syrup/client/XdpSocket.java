package dev.syrup.client;

import dev.syrup.client.internal.Xsk;
import dev.syrup.linux.LibC;
import dev.syrup.linux.Structs;
import dev.syrup.linux.Structs.XdpDesc;
import dev.syrup.linux.Structs.XdpMmapOffsets;
import dev.syrup.linux.Structs.XdpRingOffset;
import dev.syrup.linux.Structs.XdpStatistics;
import dev.syrup.linux.Structs.XdpUmemReg;
import java.io.IOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Objects;

/**
 * An AF_XDP socket bound to one receive queue of a network interface, with its UMEM (the packet
 * memory shared with the kernel) and its four rings: fill and completion (UMEM frames handed to
 * and back from the kernel), RX and TX (packet descriptors). The executor of the {@code xdp_skb}
 * and {@code xdp_drv} hooks: register it with {@link PolicyHandle#registerSocket(XdpSocket, int)};
 * the policy's index then redirects packets into it ({@code bpf_redirect_map} on an XSKMAP).
 *
 * <p><b>Binding.</b> {@link Mode#AUTO} tries zero-copy first and falls back to copy mode when the
 * driver cannot (e.g. veth; the kernel answers EOPNOTSUPP); {@link #zeroCopy()} says which one
 * the kernel gave ({@code XDP_OPTIONS}). A socket receives only what arrives on the queue it is
 * bound to. The kernel lets one UMEM owner bind a given (interface, queue); more sockets on the
 * same queue share that socket's UMEM and fill/completion rings ({@link #shareUmem()},
 * {@code XDP_SHARED_UMEM}), which is how several executors of one policy serve one queue.
 *
 * <p><b>Memory ordering.</b> Each ring is mmap'ed from the socket and viewed as a direct
 * {@link ByteBuffer}; its producer and consumer indexes are accessed through a {@link VarHandle}
 * ({@link MethodHandles#byteBufferViewVarHandle byteBufferViewVarHandle(int[].class, nativeOrder)}),
 * exactly as libxdp does with {@code smp_load_acquire}/{@code smp_store_release}: the other
 * side's index is read with {@code getAcquire} (so the descriptors and packet bytes it published
 * are visible before we read them), ours is published with {@code setRelease} (after the
 * descriptors and packet bytes we wrote). Descriptors and packet bytes are plain accesses
 * ordered by those two. Both sides keep a cached copy of the other side's index and refresh it
 * only when the cache says the ring is empty (consumer) or full (producer). The
 * {@code XDP_RING_NEED_WAKEUP} flag is read with {@code getVolatile} after our index is
 * published.
 *
 * <p><b>Threads.</b> One thread at a time may receive and send on a socket; sockets sharing a
 * UMEM may be used from different threads (the UMEM's frame pool and fill/completion rings are
 * guarded by a lock).
 */
public final class XdpSocket implements AutoCloseable {

    /** How to bind. */
    public enum Mode {
        /** Zero-copy when the driver supports it, copy mode otherwise. */
        AUTO,
        /** Copy mode ({@code XDP_COPY}): works with every driver and with generic XDP. */
        COPY,
        /** Zero-copy only ({@code XDP_ZEROCOPY}); binding fails where the driver cannot. */
        ZEROCOPY
    }

    /**
     * Sizes and binding options.
     *
     * @param frames     UMEM frames (half go to the fill ring, half are kept for sending)
     * @param frameSize  bytes per frame: a power of two, 2048 or 4096
     * @param ringSize   entries of each ring: a power of two
     * @param mode       zero-copy or copy
     * @param needWakeup {@code XDP_USE_NEED_WAKEUP}: the kernel says when it needs a system call to go on
     */
    public record Config(int frames, int frameSize, int ringSize, Mode mode, boolean needWakeup) {
        public Config {
            Objects.requireNonNull(mode, "mode");
            if (frameSize != 2048 && frameSize != 4096) {
                throw new IllegalArgumentException("frameSize must be 2048 or 4096: " + frameSize);
            }
            if (ringSize < 2 || Integer.bitCount(ringSize) != 1) {
                throw new IllegalArgumentException("ringSize must be a power of two: " + ringSize);
            }
            if (frames < 2 || (long) frames * frameSize > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("frames out of range: " + frames);
            }
        }

        /** 4096 frames of 2048 bytes (8 MiB), rings of 2048, AUTO, need_wakeup. */
        public static Config defaults() {
            return new Config(4096, 2048, 2048, Mode.AUTO, true);
        }

        public Config withMode(Mode m) {
            return new Config(frames, frameSize, ringSize, m, needWakeup);
        }
    }

    /** What the kernel counted ({@code XDP_STATISTICS}). */
    public record Statistics(long rxDropped, long rxInvalidDescs, long txInvalidDescs, long rxRingFull,
                             long rxFillRingEmpty, long txRingEmpty) {
    }

    /** Sees each received frame in place. */
    @FunctionalInterface
    public interface FrameHandler {
        /**
         * @param umem   the whole UMEM, big-endian (network order); use absolute gets and puts only, within
         *               {@code [offset, offset + room)}
         * @param offset where the packet (its Ethernet header) starts
         * @param length the packet's length
         * @param room   bytes the frame has from {@code offset} on (the most a reply may take)
         * @return {@code -1} to give the frame back, or a length {@code 1..room} to send the frame's
         *         bytes from {@code offset} (rewritten in place, e.g. an echo) out of this socket
         */
        int frame(ByteBuffer umem, int offset, int length, int room);
    }

    private static final VarHandle INTS = MethodHandles.byteBufferViewVarHandle(int[].class, ByteOrder.nativeOrder());
    private static final int DESC = XdpDesc.SIZE, ADDR = Structs.XDP_UMEM_ENTRY;

    private final Xsk xsk;
    private final int fd;
    private final String iface;
    private final int ifindex;
    private final int queue;
    private final Umem umem;
    private final Ring rx;
    private final Ring tx;
    private final boolean zeroCopy;
    private final boolean needWakeup;
    private final long[] batch;
    private boolean closed;

    private XdpSocket(Xsk xsk, int fd, String iface, int ifindex, int queue, Umem umem, Ring rx, Ring tx,
                      boolean zeroCopy, boolean needWakeup) {
        this.xsk = xsk;
        this.fd = fd;
        this.iface = iface;
        this.ifindex = ifindex;
        this.queue = queue;
        this.umem = umem;
        this.rx = rx;
        this.tx = tx;
        this.zeroCopy = zeroCopy;
        this.needWakeup = needWakeup;
        this.batch = new long[rx.size];
    }

    /** Opens a socket on queue {@code queue} of {@code iface} with {@link Config#defaults()}. */
    public static XdpSocket open(String iface, int queue) throws IOException {
        return open(iface, queue, Config.defaults());
    }

    /** Opens a socket with its own UMEM on queue {@code queue} of {@code iface}. */
    public static XdpSocket open(String iface, int queue, Config config) throws IOException {
        Xsk xsk = Xsk.get();
        int ifindex = xsk.ifindex(iface);
        if (config.mode() == Mode.AUTO) {
            try {
                return create(xsk, iface, ifindex, queue, config, LibC.XDP_ZEROCOPY);
            } catch (Xsk.ErrnoException e) {
                if (e.errno() == Xsk.EBUSY) {
                    throw e; // the queue is taken: copy mode would not help
                }
                // no zero-copy here (EOPNOTSUPP, EINVAL...): copy mode
            }
        }
        return create(xsk, iface, ifindex, queue, config, config.mode() == Mode.ZEROCOPY ? LibC.XDP_ZEROCOPY : LibC.XDP_COPY);
    }

    private static XdpSocket create(Xsk xsk, String iface, int ifindex, int queue, Config c, int copyFlag)
            throws IOException {
        int fd = xsk.socket();
        Xsk.Region mem = null;
        Ring fill = null, comp = null, rx = null, tx = null;
        try {
            long length = (long) c.frames() * c.frameSize();
            mem = xsk.anonymous(length);
            xsk.setsockopt(fd, LibC.XDP_UMEM_REG, XdpUmemReg.of(mem.address(), length, c.frameSize(), 0), "XDP_UMEM_REG");
            xsk.setIntOption(fd, LibC.XDP_UMEM_FILL_RING, c.ringSize(), "XDP_UMEM_FILL_RING");
            xsk.setIntOption(fd, LibC.XDP_UMEM_COMPLETION_RING, c.ringSize(), "XDP_UMEM_COMPLETION_RING");
            xsk.setIntOption(fd, LibC.XDP_RX_RING, c.ringSize(), "XDP_RX_RING");
            xsk.setIntOption(fd, LibC.XDP_TX_RING, c.ringSize(), "XDP_TX_RING");
            ByteBuffer off = offsets(xsk, fd);
            rx = Ring.map(xsk, fd, off, XdpMmapOffsets.RX, c.ringSize(), DESC, LibC.XDP_PGOFF_RX_RING, "RX");
            tx = Ring.map(xsk, fd, off, XdpMmapOffsets.TX, c.ringSize(), DESC, LibC.XDP_PGOFF_TX_RING, "TX");
            fill = Ring.map(xsk, fd, off, XdpMmapOffsets.FR, c.ringSize(), ADDR, LibC.XDP_UMEM_PGOFF_FILL_RING, "fill");
            comp = Ring.map(xsk, fd, off, XdpMmapOffsets.CR, c.ringSize(), ADDR, LibC.XDP_UMEM_PGOFF_COMPLETION_RING, "completion");
            mem.buffer.order(ByteOrder.BIG_ENDIAN); // packet bytes are in network order
            Umem umem = new Umem(xsk, mem, c.frames(), c.frameSize(), fill, comp);
            umem.refill();
            int flags = copyFlag | (c.needWakeup() ? LibC.XDP_USE_NEED_WAKEUP : 0);
            xsk.bind(fd, flags, ifindex, queue, 0);
            boolean zc = zeroCopyOf(xsk, fd);
            return new XdpSocket(xsk, fd, iface, ifindex, queue, umem, rx, tx, zc, c.needWakeup());
        } catch (IOException | RuntimeException e) {
            xsk.close(fd);
            for (Ring r : new Ring[] {rx, tx, fill, comp}) {
                if (r != null) {
                    xsk.unmap(r.region);
                }
            }
            if (mem != null) {
                xsk.unmap(mem);
            }
            throw e;
        }
    }

    /**
     * Another socket on the same interface queue sharing this socket's UMEM and fill/completion
     * rings ({@code XDP_SHARED_UMEM}): the kernel allows a second socket on a bound queue only so.
     * Packets the policy sends to it are received from the same frame pool; it has its own RX and
     * TX rings. Close it and this one independently (the UMEM goes with the last of them).
     */
    public XdpSocket shareUmem() throws IOException {
        checkOpen();
        int sfd = xsk.socket();
        Ring srx = null, stx = null;
        try {
            xsk.setIntOption(sfd, LibC.XDP_RX_RING, rx.size, "XDP_RX_RING");
            xsk.setIntOption(sfd, LibC.XDP_TX_RING, tx.size, "XDP_TX_RING");
            ByteBuffer off = offsets(xsk, sfd);
            srx = Ring.map(xsk, sfd, off, XdpMmapOffsets.RX, rx.size, DESC, LibC.XDP_PGOFF_RX_RING, "RX");
            stx = Ring.map(xsk, sfd, off, XdpMmapOffsets.TX, tx.size, DESC, LibC.XDP_PGOFF_TX_RING, "TX");
            // The shared socket inherits copy/zero-copy and need_wakeup from the UMEM's owner.
            xsk.bind(sfd, LibC.XDP_SHARED_UMEM, ifindex, queue, fd);
            umem.retain();
            return new XdpSocket(xsk, sfd, iface, ifindex, queue, umem, srx, stx, zeroCopyOf(xsk, sfd), needWakeup);
        } catch (IOException | RuntimeException e) {
            xsk.close(sfd);
            for (Ring r : new Ring[] {srx, stx}) {
                if (r != null) {
                    xsk.unmap(r.region);
                }
            }
            throw e;
        }
    }

    private static ByteBuffer offsets(Xsk xsk, int fd) throws IOException {
        ByteBuffer off = xsk.getsockopt(fd, LibC.SOL_XDP, LibC.XDP_MMAP_OFFSETS, XdpMmapOffsets.SIZE, "XDP_MMAP_OFFSETS");
        if (off.limit() < XdpMmapOffsets.SIZE) {
            throw new IOException("XDP_MMAP_OFFSETS: kernel without ring flags (" + off.limit() + " bytes)");
        }
        return off;
    }

    private static boolean zeroCopyOf(Xsk xsk, int fd) {
        try {
            ByteBuffer o = xsk.getsockopt(fd, LibC.SOL_XDP, LibC.XDP_OPTIONS, Structs.XdpOptions.SIZE, "XDP_OPTIONS");
            return (o.getInt(Structs.XdpOptions.FLAGS) & LibC.XDP_OPTIONS_ZEROCOPY) != 0;
        } catch (IOException e) {
            return false;
        }
    }

    /** The socket's descriptor number in this process (what {@code REGISTER_SOCKET} passes). */
    public int fd() {
        return fd;
    }

    public String iface() {
        return iface;
    }

    public int ifindex() {
        return ifindex;
    }

    public int queue() {
        return queue;
    }

    /** Whether the kernel bound it zero-copy (else copy mode). */
    public boolean zeroCopy() {
        return zeroCopy;
    }

    public int frameSize() {
        return umem.frameSize;
    }

    /**
     * Receives one packet into {@code dst} (from its position; a longer packet is cut at
     * {@code dst.remaining()}) and gives the frame back to the kernel.
     *
     * @return the packet's full length, or {@code -1} when none is waiting
     */
    public int receive(ByteBuffer dst) {
        int[] got = {-1};
        receive(1, (umem, offset, length, room) -> {
            int n = Math.min(length, dst.remaining());
            dst.put(dst.position(), umem, offset, n);
            dst.position(dst.position() + n);
            got[0] = length;
            return -1;
        });
        return got[0];
    }

    /**
     * Hands up to {@code max} waiting packets to {@code handler}, in order, then gives their
     * frames back (or sends the ones the handler answered, out of this socket, and kicks TX).
     *
     * @return how many packets there were
     */
    public int receive(int max, FrameHandler handler) {
        checkOpen();
        int n = rx.peekConsumer(Math.min(max, batch.length));
        if (n == 0) {
            if (needWakeup && umem.fill.needsWakeup()) {
                xsk.kickRx(fd);
            }
            return 0;
        }
        int recycle = 0;
        int sent = 0;
        ByteBuffer r = rx.region.buffer;
        ByteBuffer mem = umem.region.buffer;
        int mask = umem.frameSize - 1;
        for (int i = 0; i < n; i++) {
            int d = rx.descOff + ((rx.cachedCons + i) & rx.mask) * DESC;
            long addr = r.getLong(d + XdpDesc.ADDR);
            int len = r.getInt(d + XdpDesc.LEN);
            int room = umem.frameSize - (int) (addr & mask);
            int answer = handler.frame(mem, (int) addr, len, room);
            if (answer > 0 && answer <= room && tx.reserveProducer(1) == 1) {
                int t = tx.descOff + (tx.cachedProd & tx.mask) * DESC;
                ByteBuffer tb = tx.region.buffer;
                tb.putLong(t + XdpDesc.ADDR, addr);
                tb.putInt(t + XdpDesc.LEN, answer);
                tb.putInt(t + XdpDesc.OPTIONS, 0);
                tx.cachedProd++;
                sent++;
            } else {
                batch[recycle++] = addr & ~(long) mask;
            }
        }
        rx.releaseConsumer(n);
        umem.received(n);
        if (sent > 0) {
            tx.submitProducer();
            umem.sending(sent);
            kickTx();
        }
        umem.giveBack(batch, recycle);
        return n;
    }

    /**
     * Sends one packet (a whole Ethernet frame, from {@code src}'s position to its limit): copies
     * it into a free UMEM frame and queues it on the TX ring, then has the kernel send it.
     *
     * @return false when no frame or TX slot is free now (try again after {@link #flush()})
     */
    public boolean send(ByteBuffer src) {
        checkOpen();
        int len = src.remaining();
        if (len > umem.frameSize) {
            throw new IllegalArgumentException("packet of " + len + " bytes does not fit a " + umem.frameSize + "-byte frame");
        }
        if (tx.reserveProducer(1) != 1) {
            kickTx();
            return false;
        }
        long addr = umem.alloc();
        if (addr < 0) {
            return false;
        }
        umem.region.buffer.put((int) addr, src, src.position(), len);
        src.position(src.limit());
        int t = tx.descOff + (tx.cachedProd & tx.mask) * DESC;
        ByteBuffer tb = tx.region.buffer;
        tb.putLong(t + XdpDesc.ADDR, addr);
        tb.putInt(t + XdpDesc.LEN, len);
        tb.putInt(t + XdpDesc.OPTIONS, 0);
        tx.cachedProd++;
        tx.submitProducer();
        umem.sending(1);
        kickTx();
        return true;
    }

    /** Has the kernel send what is queued and takes back the frames it finished with. */
    public void flush() {
        checkOpen();
        kickTx();
        umem.reclaim();
    }

    private void kickTx() {
        // Copy mode transmits inside sendto(); zero-copy only when the driver asks (need_wakeup).
        if (!zeroCopy || !needWakeup || tx.needsWakeup()) {
            int e = xsk.kickTx(fd);
            if (e != 0 && e != Xsk.EAGAIN && e != Xsk.EBUSY && e != Xsk.ENOBUFS && e != Xsk.ENETDOWN) {
                throw new IllegalStateException("sendto(AF_XDP fd " + fd + "): errno " + e);
            }
        }
        umem.reclaim();
    }

    /**
     * Waits until a packet is waiting or {@code timeoutMillis} passed ({@code 0}: do not wait,
     * {@code -1}: forever).
     *
     * @return whether a packet is waiting
     */
    public boolean poll(int timeoutMillis) throws IOException {
        checkOpen();
        if (rx.peekConsumer(1) > 0) {
            return true;
        }
        umem.refill();
        return xsk.poll(fd, LibC.POLLIN, timeoutMillis) || rx.peekConsumer(1) > 0;
    }

    /** The kernel's counters for this socket ({@code XDP_STATISTICS}). */
    public Statistics statistics() throws IOException {
        checkOpen();
        ByteBuffer s = xsk.getsockopt(fd, LibC.SOL_XDP, LibC.XDP_STATISTICS, XdpStatistics.SIZE, "XDP_STATISTICS");
        long[] v = new long[XdpStatistics.SIZE / 8]; // six u64 counters, in the record's order
        for (int i = 0; i < v.length && (i + 1) * 8 <= s.limit(); i++) {
            v[i] = s.getLong(i * 8);
        }
        return new Statistics(v[0], v[1], v[2], v[3], v[4], v[5]);
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("XDP socket on " + iface + " queue " + queue + " is closed");
        }
    }

    /** Closes the socket and unmaps its rings; the UMEM goes with the last socket sharing it. Idempotent. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        xsk.close(fd);
        xsk.unmap(rx.region);
        xsk.unmap(tx.region);
        umem.release();
    }

    @Override
    public String toString() {
        return "XdpSocket[fd " + fd + ", " + iface + " queue " + queue + (zeroCopy ? ", zero-copy" : ", copy") + "]";
    }

    /** One ring mapped from the socket: producer, consumer, flags and descriptors. */
    private static final class Ring {
        final Xsk.Region region;
        final int producerOff, consumerOff, flagsOff, descOff;
        final int size, mask;
        /** Producer side: our producer index, and the consumer index + size as last seen. */
        int cachedProd, cachedCons;

        private Ring(Xsk.Region region, int producerOff, int consumerOff, int flagsOff, int descOff, int size) {
            this.region = region;
            this.producerOff = producerOff;
            this.consumerOff = consumerOff;
            this.flagsOff = flagsOff;
            this.descOff = descOff;
            this.size = size;
            this.mask = size - 1;
        }

        static Ring map(Xsk xsk, int fd, ByteBuffer off, int at, int size, int entry, long pgoff, String what)
                throws IOException {
            long producer = off.getLong(at + XdpRingOffset.PRODUCER), consumer = off.getLong(at + XdpRingOffset.CONSUMER),
                    desc = off.getLong(at + XdpRingOffset.DESC), flags = off.getLong(at + XdpRingOffset.FLAGS);
            Xsk.Region r = xsk.mapRing(fd, desc + (long) size * entry, pgoff, what);
            Ring ring = new Ring(r, (int) producer, (int) consumer, (int) flags, (int) desc, size);
            ring.cachedProd = (int) INTS.getAcquire(r.buffer, ring.producerOff);
            ring.cachedCons = (int) INTS.getAcquire(r.buffer, ring.consumerOff);
            return ring;
        }

        // --- consumer side (RX, completion): the kernel produces ---

        /** How many entries (at most {@code n}) can be read from {@code cachedCons} on. */
        int peekConsumer(int n) {
            int avail = cachedProd - cachedCons;
            if (avail == 0) {
                cachedProd = (int) INTS.getAcquire(region.buffer, producerOff);
                avail = cachedProd - cachedCons;
            }
            return Math.min(avail, n);
        }

        void releaseConsumer(int n) {
            cachedCons += n;
            INTS.setRelease(region.buffer, consumerOff, cachedCons);
        }

        // --- producer side (fill, TX): we produce ---

        /** How many entries (at most {@code n}) can be written from {@code cachedProd} on. */
        int reserveProducer(int n) {
            int free = cachedCons + size - cachedProd;
            if (free < n) {
                cachedCons = (int) INTS.getAcquire(region.buffer, consumerOff);
                free = cachedCons + size - cachedProd;
            }
            return Math.min(free, n);
        }

        /** Publishes every entry written up to {@code cachedProd}. */
        void submitProducer() {
            INTS.setRelease(region.buffer, producerOff, cachedProd);
        }

        boolean needsWakeup() {
            return ((int) INTS.getVolatile(region.buffer, flagsOff) & LibC.XDP_RING_NEED_WAKEUP) != 0;
        }
    }

    /** The packet memory, its frame pool and the fill/completion rings; shared by the sockets of one queue. */
    private static final class Umem {
        final Xsk xsk;
        final Xsk.Region region;
        final int frameSize;
        final Ring fill, comp;
        /** Free frame addresses (a stack). */
        final long[] free;
        int top;
        /** Frames in the fill ring or the kernel's hands for receiving, and the most we put there. */
        int inFill;
        final int fillTarget;
        int refs = 1;

        Umem(Xsk xsk, Xsk.Region region, int frames, int frameSize, Ring fill, Ring comp) {
            this.xsk = xsk;
            this.region = region;
            this.frameSize = frameSize;
            this.fill = fill;
            this.comp = comp;
            this.free = new long[frames];
            for (int i = frames - 1; i >= 0; i--) {
                free[top++] = (long) i * frameSize;
            }
            this.fillTarget = Math.min(fill.size, frames / 2);
        }

        synchronized void retain() {
            refs++;
        }

        synchronized void release() {
            if (--refs == 0) {
                xsk.unmap(fill.region);
                xsk.unmap(comp.region);
                xsk.unmap(region);
            }
        }

        /** A free frame for sending, or -1. */
        synchronized long alloc() {
            if (top == 0) {
                reclaimLocked();
            }
            return top == 0 ? -1 : free[--top];
        }

        /** {@code n} frames left the fill ring as received packets. */
        synchronized void received(int n) {
            inFill -= n;
        }

        /** {@code n} frames are now in a TX ring (until they come back on the completion ring). */
        synchronized void sending(int n) {
            // counted by the completion ring: nothing to keep
        }

        /** Frames back to the pool; the fill ring is topped up. */
        synchronized void giveBack(long[] addrs, int n) {
            for (int i = 0; i < n; i++) {
                free[top++] = addrs[i];
            }
            refillLocked();
        }

        synchronized void refill() {
            refillLocked();
        }

        synchronized void reclaim() {
            reclaimLocked();
            refillLocked();
        }

        private void refillLocked() {
            int want = Math.min(fillTarget - inFill, top);
            if (want <= 0) {
                return;
            }
            int n = fill.reserveProducer(want);
            if (n == 0) {
                return;
            }
            ByteBuffer b = fill.region.buffer;
            for (int i = 0; i < n; i++) {
                b.putLong(fill.descOff + ((fill.cachedProd + i) & fill.mask) * ADDR, free[--top]);
            }
            fill.cachedProd += n;
            fill.submitProducer();
            inFill += n;
        }

        private void reclaimLocked() {
            int n = comp.peekConsumer(comp.size);
            if (n == 0) {
                return;
            }
            ByteBuffer b = comp.region.buffer;
            long mask = ~(long) (frameSize - 1);
            for (int i = 0; i < n; i++) {
                free[top++] = b.getLong(comp.descOff + ((comp.cachedCons + i) & comp.mask) * ADDR) & mask;
            }
            comp.releaseConsumer(n);
        }
    }
}
