package dev.syrup.hook.spi;

import java.util.Objects;
import org.osgi.annotation.versioning.ConsumerType;

/**
 * What a policy schedules onto at a hook: the policy returns an index into the deployment's
 * executors of this kind ({@code 0 .. NUM_EXECUTORS-1}), or {@code SYR_PASS}/{@code SYR_DROP}.
 *
 * <p>As {@link Input}: Syrup registers the kinds below as services; a plugin that schedules onto
 * something else implements this type (or uses {@link #of}) and registers it with
 * {@link #NAME_PROPERTY}; {@code syrup:hooks} lists every registered kind. Equal by name.
 */
@ConsumerType
public interface Executor {

    /** Service property carrying {@link #name()}. */
    String NAME_PROPERTY = "syrup.executor";

    /** A socket that receives the input. */
    Executor SOCKET = of("socket",
            "the sockets bound to the target's port at deploy (a tenant's: its own only), in ascending inode order",
            "the position in that order; an application puts its own socket at an index with REGISTER");

    /** A CPU core. */
    Executor CORE = of("core",
            "the target's configured set of CPUs",
            "the position in that set");

    /** An AF_XDP socket bound to one of the interface's queues. */
    Executor XDP_SOCKET = of("xdp_socket",
            "none at deploy: the application registers each AF_XDP socket it binds",
            "the XSKMAP slot the application registered the socket at");

    /** A receive queue of a NIC that runs the policy itself. */
    Executor RX_QUEUE = of("rx_queue",
            "the device's RX queues",
            "the queue number");

    /** Short, stable name, e.g. {@code socket}. */
    String name();

    /** How a deployment gets its executors (adopted at deploy, registered by the application). */
    String adoption();

    /** What the policy's return value {@code i} means. */
    String index();

    /** An executor kind as a value. */
    static Executor of(String name, String adoption, String index) {
        return new Kind(name, adoption, index);
    }

    /** {@link Executor#of}'s value: equal by name. */
    record Kind(String name, String adoption, String index) implements Executor {
        public Kind {
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(adoption, "adoption");
            Objects.requireNonNull(index, "index");
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Executor e && name.equals(e.name());
        }

        @Override
        public int hashCode() {
            return name.hashCode();
        }

        @Override
        public String toString() {
            return name;
        }
    }
}
