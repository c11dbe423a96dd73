package dev.syrup.hook.spi;

import java.util.Objects;
import org.osgi.annotation.versioning.ConsumerType;

/**
 * What a policy schedules at a hook, as the policy's C code sees it: the contract between a
 * hook's glue and {@code schedule(pkt_start, pkt_end)}.
 *
 * <p>An input kind is named once and shared by every hook that hands policies the same view
 * (one policy file then deploys unchanged at each). Syrup registers the kinds below as services;
 * a plugin whose hook brings a kind Syrup does not know implements this type (or uses
 * {@link #of}) and registers it as a service too, with {@link #NAME_PROPERTY}; {@code syrup:hooks}
 * lists every registered kind. Two kinds are the same when their names are.
 */
@ConsumerType
public interface Input {

    /** Service property carrying {@link #name()}. */
    String NAME_PROPERTY = "syrup.input";

    /** A raw network frame at a packet hook. */
    Input PACKET = of("packet",
            "pkt_start is the Ethernet header, pkt_end the end of the frame; syr_l4() finds the UDP/TCP header",
            "the request follows the L4 header");

    /** A UDP datagram, as a socket layer hook sees it. */
    Input DATAGRAM = of("datagram",
            "pkt_start is the UDP header, pkt_end the end of the datagram; IP addresses are not visible",
            "the request follows the UDP header");

    /** A new TCP connection, as a socket layer hook sees its SYN. */
    Input CONNECTION = of("connection",
            "pkt_start is the TCP header of the SYN; IP addresses are not visible",
            "none: a SYN carries no request");

    /** A registered thread and the event that happened to it. */
    Input THREAD = of("thread",
            "pkt_start is a struct syr_thread (syr_thread(pkt_start, pkt_end)): the thread's index, tid and event",
            "the application's per-thread Map (thread index to request type)");

    /** Short, stable name, e.g. {@code datagram}. */
    String name();

    /** Where {@code pkt_start} points and what {@code pkt_end} bounds. */
    String view();

    /** Where the policy finds the application's request type (what it schedules by). */
    String request();

    /** An input kind as a value. */
    static Input of(String name, String view, String request) {
        return new Kind(name, view, request);
    }

    /** {@link Input#of}'s value: equal by name. */
    record Kind(String name, String view, String request) implements Input {
        public Kind {
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(view, "view");
            Objects.requireNonNull(request, "request");
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Input i && name.equals(i.name());
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
