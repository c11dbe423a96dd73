package dev.syrup.backend.ghost;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.syrup.hook.spi.Executor;
import dev.syrup.hook.spi.Input;
import java.lang.annotation.Annotation;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The hook without the kernel: configuration, glue, names. */
class ThreadSchedulerHookTest {

    private static ThreadSchedulerHook.Config config(String cores, String engine, int fifo, int watchdog) {
        return new ThreadSchedulerHook.Config() {
            public String cores() { return cores; }
            public String engine() { return engine; }
            public int fifoPriority() { return fifo; }
            public int watchdogMs() { return watchdog; }
            public int pollMicros() { return 200; }
            public int maxThreads() { return 256; }
            public Class<? extends Annotation> annotationType() { return ThreadSchedulerHook.Config.class; }
        };
    }

    @Test
    void badConfigurationMakesTheHookUnavailableWithTheReason() {
        for (ThreadSchedulerHook.Config c : List.of(config("1-0", "auto", 1, 50), config("", "sched_ext", 1, 50),
                config("", "auto", 100, 50), config("", "auto", 1, 150))) {
            ThreadSchedulerHook h = new ThreadSchedulerHook(c);
            assertFalse(h.availability().available());
            assertTrue(h.availability().reason().startsWith("bad configuration " + ThreadSchedulerHook.PID), h.availability().reason());
        }
    }

    @Test
    void namesCoresAndKinds() {
        ThreadSchedulerHook h = new ThreadSchedulerHook(config("1,0", "linux", 1, 50));
        assertEquals("thread_scheduler", h.name());
        assertEquals(Input.THREAD, h.input());
        assertEquals(Executor.CORE, h.executor());
        assertEquals(List.of(1, 0), h.cores());
        assertEquals(List.of(2, 3, 4, 7), ThreadSchedulerHook.parseCores("2-4, 7"));
        assertThrows(IllegalArgumentException.class, () -> ThreadSchedulerHook.parseCores("1,1"));
    }

    @Test
    void glueMakesTheTenantsCodeATestRunProgramOnly() {
        String g = new ThreadSchedulerHook(config("", "linux", 1, 50)).wrapper("/p/policy.c");
        assertTrue(g.contains("#include \"/p/policy.c\""));
        for (String s : List.of("SEC(\"xdp\")", ThreadGlue.RUN_PROGRAM, ThreadGlue.DECISIONS_MAP, "BPF_F_MMAPABLE",
                "#define MAX_THREADS 256")) {
            assertTrue(g.contains(s), s);
        }
        // the tracepoint programs are the hook's own object, never compiled with a tenant's code
        assertFalse(g.contains("tracepoint"), g);
        assertTrue(ThreadSchedulerHook.class.getResource(ThreadGlue.EVENTS_OBJECT) != null, "event object in the bundle");
    }

    @Test
    void savedStatesLiveBesideTheDaemonsPinTree() {
        assertEquals(java.nio.file.Path.of("/sys/fs/bpf/syrup/threads/uid-1000-d7"),
                SavedThreads.pinOf(java.nio.file.Path.of("/sys/fs/bpf/syrup/uid-1000/d7")));
    }
}
