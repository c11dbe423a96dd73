package dev.syrup.api;

import java.util.Objects;

/**
 * Whether a hook can deploy on this machine, and if not, why, in words an operator can act on.
 */
public record Availability(boolean available, String reason) {

    private static final Availability AVAILABLE = new Availability(true, "");

    public Availability {
        Objects.requireNonNull(reason, "reason");
    }

    public static Availability yes() {
        return AVAILABLE;
    }

    public static Availability no(String reason) {
        if (reason == null || reason.isBlank()) {
            throw new IllegalArgumentException("an unavailable hook must say why");
        }
        return new Availability(false, reason);
    }

    @Override
    public String toString() {
        return available ? "available" : "unavailable: " + reason;
    }
}
