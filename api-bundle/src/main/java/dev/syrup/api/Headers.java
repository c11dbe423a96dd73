package dev.syrup.api;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;

/** The C headers Syrup ships to policy authors. */
public final class Headers {

    /** File name policies include. */
    public static final String SYRUP_H = "syrup.h";

    private Headers() {
    }

    /** The text of {@code syrup.h}. */
    public static byte[] syrupH() {
        try (InputStream in = Headers.class.getResourceAsStream(SYRUP_H)) {
            if (in == null) {
                throw new IllegalStateException(SYRUP_H + " missing from the api bundle");
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
