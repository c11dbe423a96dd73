package dev.syrup.bpf;

import dev.syrup.bpf.internal.Native;
import dev.syrup.linux.LibC;
import dev.syrup.linux.Structs.CapData;
import dev.syrup.linux.Structs.CapHeader;
import java.util.EnumSet;
import java.util.Set;
import java.util.function.Supplier;
import jnr.ffi.Pointer;

/**
 * The calling thread's capability sets (capget/capset). Linux keeps capabilities per thread, so
 * one thread of syrupd can do one thing with fewer of them while every other thread keeps its
 * own: {@link #withEffective} runs an action with only the given capabilities effective and then
 * restores the thread's effective set; the permitted set is left as it is, which is what makes
 * the restore possible. A thread the action starts inherits the reduced set (a new thread copies
 * its creator's credentials): actions here start none.
 */
public final class Capabilities {

    private Capabilities() {
    }

    /** The effective and permitted sets of the calling thread, as 64-bit masks. */
    public record Sets(long effective, long permitted) {
        public boolean hasEffective(Capability c) {
            return (effective & bit(c)) != 0;
        }
    }

    /** The calling thread's sets. */
    public static Sets current() {
        Native n = Native.get();
        Pointer hdr = header(n);
        Pointer data = n.allocate(CapData.SIZE);
        n.checkLibc("capget", n.libc().capget(hdr, data));
        return new Sets(CapData.get(data, CapData.EFFECTIVE), CapData.get(data, CapData.PERMITTED));
    }

    /**
     * Runs {@code action} on this thread with an effective set of {@code effective} (those of
     * them the thread may have: the permitted ones), then restores the previous effective set,
     * also when the action throws.
     *
     * @throws BpfException when the sets cannot be read or changed (nothing ran then)
     */
    public static <T> T withEffective(Set<Capability> effective, Supplier<T> action) {
        Native n = Native.get();
        Pointer hdr = header(n);
        Pointer data = n.allocate(CapData.SIZE);
        n.checkLibc("capget", n.libc().capget(hdr, data));
        long before = CapData.get(data, CapData.EFFECTIVE);
        long permitted = CapData.get(data, CapData.PERMITTED);
        long inheritable = CapData.get(data, CapData.INHERITABLE);
        long wanted = 0;
        for (Capability c : effective) {
            wanted |= bit(c);
        }
        set(n, wanted & permitted, permitted, inheritable);
        try {
            return action.get();
        } finally {
            set(n, before, permitted, inheritable);
        }
    }

    /** The capabilities this library names that are in {@code mask}. */
    public static Set<Capability> of(long mask) {
        Set<Capability> out = EnumSet.noneOf(Capability.class);
        for (Capability c : Capability.values()) {
            if ((mask & bit(c)) != 0) {
                out.add(c);
            }
        }
        return out;
    }

    private static void set(Native n, long effective, long permitted, long inheritable) {
        Pointer hdr = header(n);
        Pointer data = n.allocate(CapData.SIZE);
        CapData.put(data, CapData.EFFECTIVE, effective);
        CapData.put(data, CapData.PERMITTED, permitted);
        CapData.put(data, CapData.INHERITABLE, inheritable);
        n.checkLibc("capset", n.libc().capset(hdr, data));
    }

    private static long bit(Capability c) {
        return 1L << c.number();
    }

    /** The header for this thread (pid 0). */
    private static Pointer header(Native n) {
        Pointer hdr = n.allocate(CapHeader.SIZE);
        hdr.putInt(CapHeader.VERSION, LibC.CAPABILITY_VERSION_3);
        hdr.putInt(CapHeader.PID, 0);
        return hdr;
    }
}
