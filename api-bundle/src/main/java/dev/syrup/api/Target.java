package dev.syrup.api;

import java.util.Objects;
import java.util.Optional;

/**
 * The inputs a deployment claims: a transport port, and for packet hooks the interface.
 *
 * @param protocol transport protocol
 * @param port     destination port, 1..65535
 * @param iface    network interface for packet hooks, empty for socket hooks
 */
public record Target(Protocol protocol, int port, Optional<String> iface) {

    public Target {
        Objects.requireNonNull(protocol, "protocol");
        Objects.requireNonNull(iface, "iface");
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException("port out of range: " + port);
        }
    }

    public static Target port(Protocol protocol, int port) {
        return new Target(protocol, port, Optional.empty());
    }

    @Override
    public String toString() {
        return protocol.label() + "/" + port + iface.map(i -> "@" + i).orElse("");
    }
}
