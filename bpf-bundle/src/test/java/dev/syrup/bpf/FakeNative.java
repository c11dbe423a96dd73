package dev.syrup.bpf;

import dev.syrup.bpf.internal.LibBpf;
import dev.syrup.linux.LibC;
import dev.syrup.bpf.internal.Native;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;

/**
 * A fake native layer for unit tests: {@link LibBpf} and {@link LibC} proxies whose functions
 * are given per test with {@link #on(String, Function)}; calls are counted; anything else fails.
 * Install with {@link #install()}, which returns an AutoCloseable restoring the previous layer.
 */
final class FakeNative {

    final Map<String, Function<Object[], Object>> handlers = new HashMap<>();
    final Map<String, AtomicInteger> calls = new ConcurrentHashMap<>();
    int errno;

    FakeNative on(String function, Function<Object[], Object> handler) {
        handlers.put(function, handler);
        return this;
    }

    int calls(String function) {
        AtomicInteger n = calls.get(function);
        return n == null ? 0 : n.get();
    }

    private Object dispatch(Method m, Object[] args) {
        calls.computeIfAbsent(m.getName(), k -> new AtomicInteger()).incrementAndGet();
        Function<Object[], Object> h = handlers.get(m.getName());
        if (h == null) {
            throw new UnsupportedOperationException("fake native: unexpected call " + m.getName());
        }
        return h.apply(args == null ? new Object[0] : args);
    }

    AutoCloseable install() {
        LibBpf bpf = (LibBpf) Proxy.newProxyInstance(getClass().getClassLoader(), new Class<?>[] {LibBpf.class},
                (p, m, a) -> m.getDeclaringClass() == Object.class ? objectMethod(p, m, a) : dispatch(m, a));
        LibC libc = (LibC) Proxy.newProxyInstance(getClass().getClassLoader(), new Class<?>[] {LibC.class},
                (p, m, a) -> m.getDeclaringClass() == Object.class ? objectMethod(p, m, a) : dispatch(m, a));
        Native previous = Native.install(new Native(bpf, libc, jnr.ffi.Runtime.getSystemRuntime(), () -> errno));
        return () -> Native.install(previous);
    }

    private static Object objectMethod(Object proxy, Method m, Object[] a) {
        switch (m.getName()) {
            case "hashCode": return System.identityHashCode(proxy);
            case "equals": return proxy == a[0];
            default: return "FakeNative proxy";
        }
    }
}
