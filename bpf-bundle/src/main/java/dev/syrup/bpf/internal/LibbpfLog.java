package dev.syrup.bpf.internal;

import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import jnr.ffi.Pointer;

/**
 * Routes libbpf's messages to {@link System.Logger} {@code dev.syrup.bpf.libbpf}: LIBBPF_WARN
 * at WARNING, LIBBPF_INFO at INFO, LIBBPF_DEBUG at DEBUG. The message is formatted with libc
 * {@code vsnprintf}: on x86_64 (and aarch64 glibc) a {@code va_list} argument is passed as a
 * pointer, so the callback's third argument can be handed on as is (once: a va_list is
 * consumed by use, so an over-long message is truncated rather than formatted twice).
 */
final class LibbpfLog implements LibBpf.PrintFn {

    static final Logger LOG = System.getLogger("dev.syrup.bpf.libbpf");
    private static final int BUF = 16 * 1024;

    /** Strong reference: the native closure must outlive every libbpf call. */
    private static volatile LibbpfLog installed;

    private final Native nat;

    private LibbpfLog(Native nat) {
        this.nat = nat;
    }

    static synchronized void install(Native nat) {
        if (installed == null) {
            LibbpfLog fn = new LibbpfLog(nat);
            nat.bpf().libbpf_set_print(fn);
            installed = fn;
        }
    }

    @Override
    public int print(int level, Pointer format, Pointer vaList) {
        try {
            Level l = level == 0 ? Level.WARNING : level == 1 ? Level.INFO : Level.DEBUG;
            if (!LOG.isLoggable(l)) {
                return 0;
            }
            Pointer buf = nat.allocate(BUF);
            int n = nat.libc().vsnprintf(buf, BUF, format, vaList);
            if (n < 0) {
                return 0;
            }
            String msg = buf.getString(0, Math.min(n, BUF - 1), java.nio.charset.StandardCharsets.UTF_8);
            if (n >= BUF) {
                msg += "…(truncated)";
            }
            msg = msg.stripTrailing();
            if (!msg.isEmpty()) {
                LOG.log(l, msg.startsWith("libbpf: ") ? msg : "libbpf: " + msg);
            }
            return n;
        } catch (Throwable t) {
            return 0; // never let an exception unwind into native code
        }
    }
}
