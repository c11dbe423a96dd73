package dev.syrup.daemon;

import static org.junit.jupiter.api.Assertions.fail;

import dev.syrup.bpf.KernelSupport;
import java.util.Optional;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Assumptions;

/** Kernel tests run where bpf() works; with SYRUP_REQUIRE_KERNEL=1 they fail instead of skipping. */
public final class Kernel {

    private Kernel() {
    }

    public static void require() {
        Optional<String> missing = KernelSupport.missing();
        if (missing.isPresent()) {
            if ("1".equals(System.getenv("SYRUP_REQUIRE_KERNEL"))) {
                fail("SYRUP_REQUIRE_KERNEL=1 but the kernel cannot run this test: " + missing.get());
            }
            Assumptions.abort("kernel test skipped: " + missing.get());
        }
    }

    /** Whether {@code c} holds within {@code ms} milliseconds (polled every millisecond). */
    public static boolean eventually(BooleanSupplier c, long ms) {
        long end = System.nanoTime() + ms * 1_000_000L;
        while (System.nanoTime() < end) {
            if (c.getAsBoolean()) {
                return true;
            }
            LockSupport.parkNanos(1_000_000);
        }
        return c.getAsBoolean();
    }
}
