package dev.syrup.daemon.control;

import dev.syrup.api.map.SyrupMap;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;

/**
 * Gives an application's pins to its uid: each pinned Map {@code 0600}, the deployment's
 * directory and the application's directory ({@code <bpffs root>/<app>/<id>/}) {@code 0700},
 * all owned by the application's uid and gid (bpffs supports chown and chmod of pins).
 */
final class Pins {

    private static final System.Logger LOG = System.getLogger(Pins.class.getName());

    private Pins() {
    }

    static void giveTo(List<SyrupMap> maps, int uid, int gid) {
        for (SyrupMap m : maps) {
            if (m.pinnedPath().isEmpty()) {
                continue;
            }
            Path pin = Path.of(m.pinnedPath().get());
            try {
                own(pin, uid, gid, "rw-------");
                Path deployment = pin.getParent();
                own(deployment, uid, gid, "rwx------");
                own(deployment.getParent(), uid, gid, "rwx------");
            } catch (IOException | UnsupportedOperationException e) {
                LOG.log(System.Logger.Level.WARNING, "cannot give " + pin + " to uid " + uid + ": " + e);
            }
        }
    }

    private static void own(Path p, int uid, int gid, String mode) throws IOException {
        Files.setAttribute(p, "unix:uid", uid);
        Files.setAttribute(p, "unix:gid", gid);
        Files.setPosixFilePermissions(p, PosixFilePermissions.fromString(mode));
    }
}
