package dev.syrup.bpf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.OptionalInt;
import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** XDP attach/query/detach in generic (SKB) mode on a veth pair made by the test; pinned programs. */
class XdpKernelTest extends KernelTestSupport {

    private static void ip(String... args) throws Exception {
        String[] cmd = new String[args.length + 1];
        cmd[0] = "ip";
        System.arraycopy(args, 0, cmd, 1, args.length);
        Process p = new ProcessBuilder(cmd).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        assertTrue(p.waitFor(30, TimeUnit.SECONDS), "ip " + String.join(" ", args));
        assertEquals(0, p.exitValue(), "exit status of: ip " + String.join(" ", args));
    }

    @Test
    void attachQueryDetachGenericXdp() throws Exception {
        String dev = "syrt" + Integer.toHexString(ThreadLocalRandom.current().nextInt(0x100000, 0xffffff));
        ip("link", "add", dev, "type", "veth", "peer", "name", dev + "p");
        try (BpfObject obj = BpfObject.open(compile("t_maps"))) {
            obj.load();
            BpfProgram prog = obj.program("t_count");
            int ifindex = Xdp.ifindex(dev);
            assertTrue(ifindex > 0);
            assertEquals(OptionalInt.empty(), Xdp.attachedProgramId(ifindex, Xdp.XDP_FLAGS_SKB_MODE));

            Xdp.attach(ifindex, prog, Xdp.XDP_FLAGS_SKB_MODE);
            assertEquals(OptionalInt.of(prog.info().id()), Xdp.attachedProgramId(ifindex, Xdp.XDP_FLAGS_SKB_MODE));
            BpfException busy = assertThrows(BpfException.class, () -> Xdp.attach(ifindex, prog,
                    Xdp.XDP_FLAGS_SKB_MODE | Xdp.XDP_FLAGS_UPDATE_IF_NOEXIST));
            assertTrue(busy.errno() == Errno.EBUSY || busy.errno() == Errno.EEXIST, busy.getMessage());

            Xdp.detach(ifindex, Xdp.XDP_FLAGS_SKB_MODE);
            assertEquals(OptionalInt.empty(), Xdp.attachedProgramId(ifindex, Xdp.XDP_FLAGS_SKB_MODE));
        } finally {
            ip("link", "del", dev);
        }
        BpfException none = assertThrows(BpfException.class, () -> Xdp.ifindex(dev));
        assertEquals(Errno.ENODEV, none.errno());
    }

    /**
     * An XdpAttachment swaps and detaches only its own program: update and close carry the
     * program they expect (XDP_FLAGS_REPLACE), so a program attached meanwhile by someone else
     * is neither replaced nor removed; a program left on the interface is adopted by id.
     */
    @Test
    void attachmentUpdatesAndDetachesOnlyItsOwnProgram() throws Exception {
        String dev = "syrt" + Integer.toHexString(ThreadLocalRandom.current().nextInt(0x100000, 0xffffff));
        ip("link", "add", dev, "type", "veth", "peer", "name", dev + "p");
        try (BpfObject a = BpfObject.open(compile("t_maps")); BpfObject b = BpfObject.open(compile("t_maps"));
             BpfObject c = BpfObject.open(compile("t_maps"))) {
            a.load();
            b.load();
            c.load();
            BpfProgram pa = a.program("t_count"), pb = b.program("t_count"), pc = c.program("t_count");
            int ifindex = Xdp.ifindex(dev);
            int skb = Xdp.XDP_FLAGS_SKB_MODE;

            XdpAttachment att = XdpAttachment.attach(ifindex, pa, skb, OptionalInt.empty());
            assertEquals(OptionalInt.of(pa.info().id()), Xdp.attachedProgramId(ifindex, skb));
            assertTrue(att.isCurrent());
            BpfException taken = assertThrows(BpfException.class,
                    () -> XdpAttachment.attach(ifindex, pb, skb, OptionalInt.empty()), "the interface is not free");
            assertTrue(taken.errno() == Errno.EBUSY || taken.errno() == Errno.EEXIST, taken.getMessage());

            att.update(pb);
            assertEquals(pb.info().id(), att.programId());
            assertEquals(OptionalInt.of(pb.info().id()), Xdp.attachedProgramId(ifindex, skb));

            // Someone else's program replaces ours: our update and close leave it alone.
            Xdp.attach(ifindex, pc, skb);
            assertFalse(att.isCurrent());
            BpfException stale = assertThrows(BpfException.class, () -> att.update(pa));
            assertEquals(Errno.EEXIST, stale.errno());
            att.close();
            assertEquals(OptionalInt.of(pc.info().id()), Xdp.attachedProgramId(ifindex, skb), "another's program stays");

            // What a dead process left: adopted by id, in the mode it runs in, and detached.
            assertTrue(XdpAttachment.adopt(ifindex, pa.info().id()).isEmpty(), "pa does not run there");
            XdpAttachment left = XdpAttachment.adopt(ifindex, pc.info().id()).orElseThrow();
            assertEquals(skb, left.mode());
            left.close();
            assertEquals(OptionalInt.empty(), Xdp.attachedProgramId(ifindex, skb));
            left.close(); // idempotent
        } finally {
            ip("link", "del", dev);
        }
    }

    @Test
    void pinnedProgramOutlivesItsObjectAndCanBeReopened() throws Exception {
        Path dir = KernelSupport.BPFFS.resolve("syrup-test-" + UUID.randomUUID());
        Files.createDirectory(dir);
        Path pin = dir.resolve("t_count");
        try {
            int id;
            try (BpfObject obj = BpfObject.open(compile("t_maps"))) {
                obj.load();
                BpfProgram prog = obj.program("t_count");
                prog.pin(pin);
                id = prog.info().id();
            }
            try (BpfProgram again = BpfProgram.openPinned(pin)) {
                assertEquals("t_count", again.name());
                assertEquals(ProgramType.XDP, again.type());
                assertEquals(id, again.info().id());
                assertEquals(Xdp.XDP_PASS, Xdp.testRun(again, new byte[64], 1).retval());
                assertThrows(IllegalArgumentException.class, () -> BpfMap.openPinned(pin), "a program is not a map");
                again.unpin();
                assertTrue(Files.notExists(pin));
                again.close();
                assertThrows(IllegalStateException.class, again::fd);
            }
        } finally {
            Files.deleteIfExists(pin);
            Files.delete(dir);
        }
    }
}
