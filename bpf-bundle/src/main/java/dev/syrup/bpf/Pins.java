package dev.syrup.bpf;

import dev.syrup.bpf.internal.Native;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Pinning in bpffs, the same for maps and programs. */
final class Pins {

    private Pins() {
    }

    /** bpf_obj_pin: the object outlives its fd and this process at {@code path} until the pin is removed. */
    static void pin(int fd, String what, Path path) {
        Native.checkBpf("bpf_obj_pin(" + what + ", " + path + ")", Native.get().bpf().bpf_obj_pin(fd, path.toString()));
    }

    /** Removes a pin; nothing to do for {@code null} or a pin already gone. */
    static void remove(Path pin) {
        if (pin == null) {
            return;
        }
        try {
            Files.deleteIfExists(pin);
        } catch (IOException e) {
            throw new UncheckedIOException("unpin " + pin, e);
        }
    }
}
