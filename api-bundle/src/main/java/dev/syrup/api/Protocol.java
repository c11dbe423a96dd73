package dev.syrup.api;

import java.util.Locale;

/** Transport protocol of the inputs a deployment claims. */
public enum Protocol {
    UDP,
    TCP;

    /** Parses {@code udp} or {@code tcp}, case-insensitively. */
    public static Protocol parse(String s) throws SyrupException {
        try {
            return valueOf(s.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new SyrupException(SyrupException.Kind.INVALID, "unknown protocol '" + s + "' (expected udp or tcp)");
        }
    }

    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }
}
