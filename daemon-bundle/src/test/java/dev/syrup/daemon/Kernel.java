package dev.syrup.daemon;

import static org.junit.jupiter.api.Assertions.fail;

import dev.syrup.bpf.KernelSupport;
import java.util.Optional;
import org.junit.jupiter.api.Assumptions;

/** Kernel tests run where bpf() works; with SYRUP_REQUIRE_KERNEL=1 they fail instead of skipping. */
final class Kernel {

    private Kernel() {
    }

    static void require() {
        Optional<String> missing = KernelSupport.missing();
        if (missing.isPresent()) {
            if ("1".equals(System.getenv("SYRUP_REQUIRE_KERNEL"))) {
                fail("SYRUP_REQUIRE_KERNEL=1 but the kernel cannot run this test: " + missing.get());
            }
            Assumptions.abort("kernel test skipped: " + missing.get());
        }
    }
}
