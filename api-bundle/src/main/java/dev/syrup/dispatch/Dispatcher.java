package dev.syrup.dispatch;

import dev.syrup.api.SyrupException;
import dev.syrup.api.Target;
import java.util.List;

/**
 * The port-matching dispatcher (paper §4.3): the one root program at a layer that hands each
 * input to the policy of the application that owns it, so that a policy never sees another
 * application's inputs.
 *
 * <p>At every layer it serves, the dispatcher keeps one root program, a map from
 * (protocol, destination port) to a slot, and a {@code PROG_ARRAY} of slots holding the
 * applications' policies. The root program looks the input's (protocol, port) up and
 * tail-calls the slot's policy; an input whose port nobody claimed, or whose slot is still
 * empty, gets the layer's default (as if no program were attached).
 *
 * <ul>
 *   <li><b>socket_select</b>: one {@code sk_reuseport} root program for the whole host, attached
 *       to each SO_REUSEPORT group that has a claim ({@link Claim#attachGroup(int)}).</li>
 *   <li><b>XDP</b>: one root XDP program per interface, attached (in the claimer's mode) on the
 *       first claim on that interface and detached when its last claim is released.</li>
 * </ul>
 *
 * <p>Ownership: a (layer, interface, protocol, port) is held by one owner at a time. Another
 * owner's claim is refused with {@link SyrupException.Kind#CONFLICT} naming the holder; the
 * same owner may claim again (each {@link Claim} it gets shares the one slot, which lives until
 * the last of them is closed) and replace the policy. Implementations are thread-safe.
 */
public interface Dispatcher {

    /**
     * The directory, under syrupd's bpffs root, where the dispatcher pins its root programs,
     * their maps and its claims, so that the policies in the slots go on deciding while syrupd
     * is down; no owner has this name.
     */
    String PIN_DIR = "dispatch";

    /** XDP attach mode of an interface's root program (generic and native cannot share one interface). */
    enum XdpMode {
        /** Generic XDP ({@code XDP_FLAGS_SKB_MODE}): works on any device, after the skb is built. */
        SKB(1 << 1),
        /** Native (driver) XDP ({@code XDP_FLAGS_DRV_MODE}): in the driver, before the skb. */
        DRV(1 << 2);

        private final int flags;

        XdpMode(int flags) {
            this.flags = flags;
        }

        /** The {@code XDP_FLAGS_*} bit of linux/if_link.h. */
        public int flags() {
            return flags;
        }
    }

    /**
     * What one claim holds, for people and listings.
     *
     * @param layer     {@code socket_select} or {@code xdp}
     * @param target    protocol, port and, for XDP, the interface
     * @param owner     the application holding it
     * @param slot      its index in the layer's {@code PROG_ARRAY}
     * @param installed whether a policy is in the slot
     */
    record ClaimInfo(String layer, Target target, String owner, int slot, boolean installed) {
    }

    /**
     * One owner's hold on a (protocol, port) at a layer, and its policy slot. Closing it
     * empties the slot (the inputs go back to the layer's default), releases the claim when it
     * is the owner's last handle, and unloads or detaches the root program when nothing else
     * uses it. Close is idempotent; any other call after close throws
     * {@link IllegalStateException}.
     */
    interface Claim extends AutoCloseable {

        Target target();

        String owner();

        /** Index of this claim's slot in the layer's {@code PROG_ARRAY}. */
        int slot();

        /**
         * Makes the program behind {@code programFd} the policy of this claim: one
         * {@code PROG_ARRAY} update, atomic — every input is handled by the old or the new
         * policy, never by none. The caller loads and verifies the program first and keeps
         * its fd (the slot holds its own reference); on failure the slot is unchanged.
         *
         * @param programFd a loaded program of the layer's type ({@code sk_reuseport} for
         *                  socket_select, {@code xdp} for XDP), compatible with tail calls
         * @throws SyrupException {@code INVALID} when the program cannot go in this slot
         *                        (wrong type), {@code KERNEL} for other kernel failures
         */
        void install(int programFd) throws SyrupException;

        /** Empties the slot: the inputs get the layer's default until the next install. */
        void uninstall();

        /**
         * socket_select only: attaches the root program to the SO_REUSEPORT group of the
         * socket behind {@code socketFd} (which must be bound to this claim's port).
         * Idempotent; attaching replaces whatever program the group had. The caller keeps
         * the fd.
         *
         * @throws SyrupException {@code KERNEL} when the socket refuses it
         */
        void attachGroup(int socketFd) throws SyrupException;

        /**
         * socket_select only: detaches the root program from the group of {@code socketFd};
         * a group with nothing attached is not an error. Call it when this claim goes and
         * before {@link #close()} (the group serves this claim's port only).
         */
        void detachGroup(int socketFd);

        /** Releases the slot and the claim as described above. */
        @Override
        void close();
    }

    /**
     * Claims {@code target} (protocol and port; no interface) at socket_select for
     * {@code owner}. Loads the root program on the first claim.
     *
     * @throws SyrupException {@code CONFLICT} naming the holder when another owner holds it,
     *                        {@code INVALID} for a target with an interface, {@code KERNEL}
     */
    Claim claimSocket(String owner, Target target) throws SyrupException;

    /**
     * As {@link #claimSocket(String, Target)}, for the deployment whose pins are in
     * {@code deployment} ({@code <bpffs root>/<owner>/<id>}): should syrupd die, the next
     * dispatcher keeps the claim deciding only while that directory is there (the deployment
     * may be re-adopted), and releases it by itself once it is gone.
     */
    default Claim claimSocket(String owner, Target target, java.nio.file.Path deployment) throws SyrupException {
        return claimSocket(owner, target);
    }

    /**
     * Claims {@code target} (protocol, port and interface) at XDP for {@code owner}. On the
     * interface's first claim the root program is loaded and attached in {@code mode}.
     *
     * @throws SyrupException {@code CONFLICT} naming the holder when another owner holds it,
     *                        or when the interface's root runs in the other mode;
     *                        {@code INVALID} without an interface or for an unknown one;
     *                        {@code KERNEL} when loading or attaching fails
     */
    Claim claimXdp(String owner, Target target, XdpMode mode) throws SyrupException;

    /** As {@link #claimXdp(String, Target, XdpMode)}, for the deployment pinned in {@code deployment} (see {@link #claimSocket(String, Target, java.nio.file.Path)}). */
    default Claim claimXdp(String owner, Target target, XdpMode mode, java.nio.file.Path deployment) throws SyrupException {
        return claimXdp(owner, target, mode);
    }

    /**
     * After a restart: the claim a previous syrupd left on {@code target} at {@code layer}
     * ({@code socket_select} or {@code xdp}) will not be taken back, because its deployment is
     * not re-adopted. Its port is unmapped and its slot emptied (the policy left there stops
     * deciding). A claim held now, or none, is left alone.
     *
     * @return whether no claim holds {@code target} now (the leftover was discarded, or had been
     *         released already): the caller may then take the root off what it was attached to
     *         for that target, e.g. the port's socket group
     */
    default boolean discard(String layer, Target target) {
        return false;
    }

    /** Every claim held now, socket_select first, then by interface, protocol and port. */
    List<ClaimInfo> claims();
}
