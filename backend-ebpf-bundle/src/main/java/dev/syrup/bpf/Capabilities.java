package dev.syrup.bpf;

import dev.syrup.bpf.internal.Native;
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

    private static final int VERSION_3 = 0x20080522;

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
        Pointer data = n.allocate(24);
        n.checkLibc("capget", n.libc().capget(hdr, data));
        return new Sets(mask(data, 0), mask(data, 4));
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
        Pointer data = n.allocate(24);
        n.checkLibc("capget", n.libc().capget(hdr, data));
        long before = mask(data, 0);
        long permitted = mask(data, 4);
        long inheritable = mask(data, 8);
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
        Pointer data = n.allocate(24);
        put(data, 0, effective);
        put(data, 4, permitted);
        put(data, 8, inheritable);
        n.checkLibc("capset", n.libc().capset(hdr, data));
    }

    private static long bit(Capability c) {
        return 1L << c.number();
    }

    /** struct __user_cap_header_struct {version, pid = 0: this thread}. */
    private static Pointer header(Native n) {
        Pointer hdr = n.allocate(8);
        hdr.putInt(0, VERSION_3);
        hdr.putInt(4, 0);
        return hdr;
    }

    /** struct __user_cap_data_struct[2] = {effective, permitted, inheritable} × (low 32 bits, high 32 bits). */
    private static long mask(Pointer data, int field) {
        return (data.getInt(field) & 0xffffffffL) | ((data.getInt(12 + field) & 0xffffffffL) << 32);
    }

    private static void put(Pointer data, int field, long mask) {
        data.putInt(field, (int) mask);
        data.putInt(12 + field, (int) (mask >>> 32));
    }
}
