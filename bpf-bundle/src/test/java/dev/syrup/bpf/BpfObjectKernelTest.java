package dev.syrup.bpf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.NoSuchElementException;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;

class BpfObjectKernelTest extends KernelTestSupport {

    @Test
    void loadsObjectAndFindsProgramsAndMaps() {
        int progId;
        int mapId;
        try (BpfObject obj = BpfObject.open(compile("t_maps"))) {
            assertEquals(List.of("t_count"), obj.programs().stream().map(BpfProgram::name).toList());
            assertEquals(ProgramType.XDP, obj.program("t_count").type());
            assertThrows(IllegalStateException.class, () -> obj.program("t_count").fd(), "fd before load");
            obj.load();

            BpfProgram prog = obj.program("t_count");
            assertTrue(prog.fd() > 0);
            ProgramInfo pi = prog.info();
            assertEquals("t_count", pi.name());
            assertEquals(ProgramType.XDP, pi.type());
            progId = pi.id();

            BpfMap counters = obj.map("t_counters");
            assertEquals(MapType.ARRAY, counters.type());
            assertEquals(4, counters.keySize());
            assertEquals(8, counters.valueSize());
            assertEquals(4, counters.maxEntries());
            assertEquals(BpfMap.BPF_F_MMAPABLE, counters.flags() & BpfMap.BPF_F_MMAPABLE);
            mapId = counters.info().id();
            assertEquals(MapType.HASH, obj.map("t_table").type());
            assertEquals(List.of("t_counters", "t_table"), obj.maps().stream().map(BpfMap::name).toList());
            assertThrows(NoSuchElementException.class, () -> obj.map("nope"));

            assertTrue(KernelObjects.programs().stream().anyMatch(p -> p.id() == progId));
            assertTrue(KernelObjects.maps().stream().anyMatch(m -> m.id() == mapId && m.name().equals("t_counters")));

            counters.close(); // owned by the object: no-op
            assertEquals(OptionalLong.of(0), counters.lookup(0));
        }
        assertTrue(eventually(() -> KernelObjects.programs().stream().noneMatch(p -> p.id() == progId)),
                "program freed after close");
        assertTrue(eventually(() -> KernelObjects.maps().stream().noneMatch(m -> m.id() == mapId)),
                "map freed after close (asynchronously, after the program)");
    }

    @Test
    void reuseMapSharesAnExistingMapWithANewObject() {
        try (BpfMap shared = BpfMap.create(MapType.HASH, "t_shared", 4, 8, 16, 0)) {
            shared.update(5, 55L);
            try (BpfObject obj = BpfObject.open(compile("t_maps"))) {
                obj.reuseMap("t_table", shared);
                assertThrows(NoSuchElementException.class, () -> obj.reuseMap("nope", shared));
                obj.load();
                assertEquals(shared.info().id(), obj.map("t_table").info().id(), "the object uses the existing map");
                assertEquals(OptionalLong.of(55L), obj.map("t_table").lookup(5));
                assertThrows(IllegalStateException.class, () -> obj.reuseMap("t_table", shared), "after load");
            }
            assertEquals(OptionalLong.of(55L), shared.lookup(5), "still usable after the object closed");
        }
    }

    @Test
    void useAfterCloseThrowsAndCloseIsIdempotent() {
        BpfObject obj = BpfObject.open(compile("t_maps"));
        obj.load();
        BpfProgram prog = obj.program("t_count");
        BpfMap map = obj.map("t_counters");
        obj.close();
        obj.close();
        assertThrows(IllegalStateException.class, prog::fd);
        assertThrows(IllegalStateException.class, () -> map.lookup(0));
        assertThrows(IllegalStateException.class, obj::programs);
        assertTrue(map.isClosed());
    }

    @Test
    void testRunCountsIntoMmapedArray() {
        try (BpfObject obj = BpfObject.open(compile("t_maps"))) {
            obj.load();
            BpfMap counters = obj.map("t_counters");
            try (MappedArray array = MappedArray.map(counters)) {
                Xdp.TestRun run = Xdp.testRun(obj.program("t_count"), new byte[64], 100);
                assertEquals(Xdp.XDP_PASS, run.retval());
                assertEquals(64, run.dataOut().length);
                assertEquals(100, array.getLong(0), "program's atomic adds seen through the mapping");
                assertEquals(OptionalLong.of(100), counters.lookup(0), "and through the syscall");
            }
        }
    }

    @Test
    void verifierRefusalCarriesTheLog() {
        try (BpfObject obj = BpfObject.open(compile("t_bad"))) {
            VerifierException e = assertThrows(VerifierException.class, obj::load);
            assertEquals("t_bad", e.programName());
            assertEquals(Errno.EACCES, e.errno());
            assertEquals("EACCES", e.errnoName());
            assertTrue(e.log().contains("invalid access to packet"), e.log());
            assertTrue(e.reason().stream().anyMatch(l -> l.contains("invalid access to packet")), e.reason().toString());
            assertTrue(e.getMessage().contains("invalid access to packet"), e.getMessage());
            assertFalse(e.reason().stream().anyMatch(l -> l.startsWith("processed ")), e.reason().toString());
            assertTrue(e.reason().stream().anyMatch(l -> l.startsWith("; ") && l.contains("t_bad.c:")),
                    "source line from debug info: " + e.reason());
        }
    }
}
