package dev.syrup.backend.ebpf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.syrup.api.Protocol;
import dev.syrup.api.SyrupException;
import dev.syrup.api.Target;
import dev.syrup.dispatch.Dispatcher;
import dev.syrup.dispatch.Dispatcher.XdpMode;
import dev.syrup.hook.spi.Executor;
import dev.syrup.hook.spi.HookContext;
import dev.syrup.hook.spi.Input;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** cpu_redirect's configuration and glue, without a kernel. */
class CpuRedirectHookTest {

    private static final Dispatcher NO_DISPATCHER = (Dispatcher) java.lang.reflect.Proxy.newProxyInstance(
            Dispatcher.class.getClassLoader(), new Class<?>[] {Dispatcher.class}, (p, m, a) -> {
                throw new AssertionError("not used: " + m.getName());
            });

    @Test
    void coresParseInOrderWithRanges() {
        assertEquals(List.of(0, 1), CpuRedirectHook.parseCores("0,1"));
        assertEquals(List.of(2, 3, 4, 5, 7), CpuRedirectHook.parseCores(" 2-5, 7 "));
        assertEquals(List.of(3, 1), CpuRedirectHook.parseCores("3,1"));
        assertEquals(List.of(), CpuRedirectHook.parseCores(""));
        assertThrows(IllegalArgumentException.class, () -> CpuRedirectHook.parseCores("1,1"));
        assertThrows(IllegalArgumentException.class, () -> CpuRedirectHook.parseCores("5-2"));
        assertThrows(NumberFormatException.class, () -> CpuRedirectHook.parseCores("x"));
    }

    @Test
    void defaultCoresAreTheOnlineCpus() {
        CpuRedirectHook hook = new CpuRedirectHook(NO_DISPATCHER, List.of(), XdpMode.SKB, 64);
        assertFalse(hook.cores().isEmpty());
        assertEquals(0, hook.cores().get(0));
        assertEquals(Input.PACKET, hook.input());
        assertEquals(Executor.CORE, hook.executor());
    }

    @Test
    void aBadConfigurationMakesTheHookUnavailableWithTheReason() {
        CpuRedirectHook.Config bad = new CpuRedirectHook.Config() {
            @Override
            public Class<? extends java.lang.annotation.Annotation> annotationType() {
                return CpuRedirectHook.Config.class;
            }

            @Override
            public String cores() {
                return "1,1";
            }

            @Override
            public String mode() {
                return "skb";
            }

            @Override
            public int qsize() {
                return 64;
            }
        };
        dev.syrup.api.Availability a = new CpuRedirectHook(NO_DISPATCHER, bad).availability();
        assertFalse(a.available());
        assertTrue(a.reason().contains("core 1 listed twice"), a.reason());
    }

    @Test
    void modes() {
        assertEquals(XdpMode.SKB, CpuRedirectHook.parseMode("skb"));
        assertEquals(XdpMode.SKB, CpuRedirectHook.parseMode(""));
        assertEquals(XdpMode.DRV, CpuRedirectHook.parseMode("DRV"));
        assertThrows(IllegalArgumentException.class, () -> CpuRedirectHook.parseMode("hw"));
    }

    @Test
    void glueStartsThePacketAtL2AndRedirectsThroughTheCpumap() {
        String glue = new CpuRedirectHook(NO_DISPATCHER, List.of(0), XdpMode.SKB, 64).wrapper("/tmp/p.c");
        assertTrue(glue.indexOf("#define SYR_PKT_L2") < glue.indexOf("#include \"syrup.h\""), glue);
        assertTrue(glue.contains("#include \"/tmp/p.c\""));
        assertTrue(glue.contains("bpf_redirect_map(&" + CpuRedirectHook.CPUMAP), glue);
        assertTrue(glue.contains("SEC(\"xdp/cpumap\")"), glue);
    }

    @Test
    void needsAnInterface() {
        CpuRedirectHook hook = new CpuRedirectHook(NO_DISPATCHER, List.of(0), XdpMode.SKB, 64);
        SyrupException e = assertThrows(SyrupException.class,
                () -> hook.open(Target.port(Protocol.UDP, 9000), HookContext.ofPinDir(Path.of("/sys/fs/bpf/x/admin/d1"))));
        assertEquals(SyrupException.Kind.INVALID, e.kind());
    }
}
