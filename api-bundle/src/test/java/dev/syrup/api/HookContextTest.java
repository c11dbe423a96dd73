package dev.syrup.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;
import org.junit.jupiter.api.Test;

class HookContextTest {

    @Test
    void ofPinDirReadsOwnerAndIdFromTheLayout() {
        HookContext c = HookContext.ofPinDir(Path.of("/sys/fs/bpf/syrup/uid-1001/d7"), OptionalInt.of(1001));
        assertEquals("uid-1001", c.owner());
        assertEquals("d7", c.deploymentId());
        assertEquals(Path.of("/sys/fs/bpf/syrup/uid-1001/d7"), c.pinDir());
        assertEquals(OptionalInt.of(1001), c.executorUid());
        assertEquals("unknown", HookContext.ofPinDir(Path.of("d7"), OptionalInt.empty()).owner());
    }

    @Test
    void ofRefusesMissingParts() {
        assertThrows(NullPointerException.class, () -> HookContext.of(null, "d1", Path.of("/x/a/d1"), OptionalInt.empty()));
        assertThrows(NullPointerException.class, () -> HookContext.of("a", "d1", Path.of("/x/a/d1"), null));
    }

    /** A hook written before HookContext: syrupd's call reaches its overload with the context's pin dir and uid. */
    @Test
    void aHookWithOnlyTheOlderOverloadsIsOpenedThroughThem() throws Exception {
        List<String> calls = new ArrayList<>();
        Hook old = new OldHook(calls);
        HookContext c = HookContext.of("app", "d3", Path.of("/r/app/d3"), OptionalInt.of(4242));
        assertSame(OldHook.OPENED, old.open(Target.port(Protocol.UDP, 9000), c));
        assertEquals(List.of("open(target, /r/app/d3)"), calls, "the uid is ignored by the default, as before");
    }

    private static final class OldHook implements Hook {
        static final HookDeployment OPENED = new HookDeployment() {
            @Override
            public Target target() {
                return Target.port(Protocol.UDP, 9000);
            }

            @Override
            public int executors() {
                return 0;
            }

            @Override
            public List<String> describeExecutors() {
                return List.of();
            }

            @Override
            public void install(Path object) {
            }

            @Override
            public void registerExecutor(int index, long pid, int fd) {
            }

            @Override
            public List<dev.syrup.api.map.SyrupMap> maps() {
                return List.of();
            }

            @Override
            public void close() {
            }
        };
        private final List<String> calls;

        OldHook(List<String> calls) {
            this.calls = calls;
        }

        @Override
        public String name() {
            return "old";
        }

        @Override
        public InputKind input() {
            return InputKind.DATAGRAM;
        }

        @Override
        public ExecutorKind executor() {
            return ExecutorKind.SOCKET;
        }

        @Override
        public Availability availability() {
            return Availability.yes();
        }

        @Override
        public String wrapper(String policyInclude) {
            return "";
        }

        @Override
        public HookDeployment open(Target target, Path pinDir) {
            calls.add("open(target, " + pinDir + ")");
            return OPENED;
        }
    }
}
