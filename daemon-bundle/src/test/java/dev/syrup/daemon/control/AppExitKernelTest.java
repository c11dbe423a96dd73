package dev.syrup.daemon.control;

import static dev.syrup.daemon.control.ControlTestSupport.UID_A;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.syrup.bpf.KernelObjects;
import dev.syrup.bpf.MapInfo;
import dev.syrup.bpf.ProgramInfo;
import dev.syrup.daemon.control.ControlTestSupport.App;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** When an application's process exits, what it deployed goes with it: programs, Maps, pins. */
class AppExitKernelTest {

    private ControlTestSupport syrupd;

    @BeforeAll
    static void kernel() {
        ControlTestSupport.requireKernel();
    }

    @BeforeEach
    void start() throws Exception {
        syrupd = new ControlTestSupport();
    }

    @AfterEach
    void stop() throws Exception {
        syrupd.close();
    }

    private static Set<Integer> programIds() {
        return KernelObjects.programs().stream().map(ProgramInfo::id).collect(Collectors.toSet());
    }

    private static Set<Integer> mapIds() {
        return KernelObjects.maps().stream().map(MapInfo::id).collect(Collectors.toSet());
    }

    private String appsCommand() throws Exception {
        AppsCommand cmd = new AppsCommand();
        cmd.server = syrupd.server;
        cmd.noFormat = true;
        java.io.PrintStream out = System.out;
        java.io.ByteArrayOutputStream buf = new java.io.ByteArrayOutputStream();
        System.setOut(new java.io.PrintStream(buf, true, java.nio.charset.StandardCharsets.UTF_8));
        try {
            cmd.execute();
        } finally {
            System.setOut(out);
        }
        return buf.toString(java.nio.charset.StandardCharsets.UTF_8);
    }

    @Test
    void exitRemovesDeploymentsMapsAndPinsButClosingTheConnectionAloneDoesNot() throws Exception {
        Path rr = syrupd.file("rr_count.c", TenantIsolationKernelTest.RR_COUNT);
        App app = syrupd.app(UID_A);
        int port = Integer.parseInt(app.ok("open 2"));

        Set<Integer> progsBefore = programIds();
        Set<Integer> mapsBefore = mapIds();
        String id = app.ok("deploy " + rr + " " + port);
        Set<Integer> newProgs = new HashSet<>(programIds());
        newProgs.removeAll(progsBefore);
        Set<Integer> newMaps = new HashSet<>(mapIds());
        newMaps.removeAll(mapsBefore);
        assertFalse(newProgs.isEmpty(), "the deployment loaded a program");
        assertFalse(newMaps.isEmpty(), "the deployment created maps");

        Path appDir = syrupd.bpffs.resolve("uid-" + UID_A);
        Path pin = appDir.resolve(id).resolve("seen");
        assertTrue(Files.exists(pin), "pinned " + pin);
        assertEquals(0, Files.getAttribute(pin, "unix:uid"), "root's: the application has its Maps as fds");
        assertEquals(1, syrupd.deployer().list().size());
        assertEquals(List.of(new ApplicationProcess("uid-" + UID_A, app.pid, List.of(id))), syrupd.server.processes(),
                "syrupd watches the process that deployed");

        assertTrue(appsCommand().matches("(?s).*uid-" + UID_A + "\\s+\\|?\\s*" + app.pid + "\\s+\\|?\\s*" + id + ".*"),
                "syrup:apps shows the process and its deployment:\n" + appsCommand());

        // The application closes its connection: that removes nothing, deployments live as long as their process.
        app.ok("disconnect");
        Thread.sleep(300);
        assertEquals(1, syrupd.deployer().list().size(), "still deployed after the connection closed");
        assertTrue(Files.exists(pin));

        app.exit();
        assertFalse(app.process.isAlive());

        long end = System.currentTimeMillis() + 5000;
        Set<Integer> progsLeft;
        Set<Integer> mapsLeft;
        do {
            Thread.sleep(50);
            progsLeft = new HashSet<>(programIds());
            progsLeft.retainAll(newProgs);
            mapsLeft = new HashSet<>(mapIds());
            mapsLeft.retainAll(newMaps);
        } while ((!progsLeft.isEmpty() || !mapsLeft.isEmpty() || !syrupd.deployer().list().isEmpty())
                && System.currentTimeMillis() < end);
        assertEquals(List.of(), syrupd.deployer().list(), "the deployment is gone");
        assertEquals(Set.of(), progsLeft, "its programs are gone from the kernel");
        assertEquals(Set.of(), mapsLeft, "its maps are gone from the kernel (after RCU)");
        assertFalse(Files.exists(pin), "its pin is gone");
        assertFalse(Files.exists(appDir), "its bpffs directory is gone");
        assertEquals(List.of(), syrupd.server.processes(), "and the process is no longer watched");
    }
}
