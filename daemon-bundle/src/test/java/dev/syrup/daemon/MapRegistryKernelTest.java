package dev.syrup.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import dev.syrup.api.DeployRequest;
import dev.syrup.api.Deployment;
import dev.syrup.api.Protocol;
import dev.syrup.api.Target;
import dev.syrup.backend.ebpf.SocketSelectHook;
import dev.syrup.hook.kit.SharedMaps;
import dev.syrup.isolation.PortDispatcher;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Map registry is a service, not a static: a hook given a registry (as DS injects
 * backend-ebpf's) shares one owner's Maps through that instance alone, records each user, and
 * lets a Map go with its last user.
 */
class MapRegistryKernelTest {

    @TempDir
    Path dir;

    @Test
    void aHookSharesThroughTheRegistryItIsGiven() throws Exception {
        Kernel.require();
        Path policy = dir.resolve("busy.c");
        Files.writeString(policy, """
                #include "syrup.h"
                SYR_MAP(busy, 4);
                uint32_t schedule(void *pkt_start, void *pkt_end)
                {
                	return SYR_PASS;
                }
                """);
        Path bpffs = Path.of("/sys/fs/bpf/syrup-test-" + UUID.randomUUID().toString().substring(0, 8));
        Path owner = bpffs.resolve(DeployRequest.ADMIN);
        SharedMaps registry = new SharedMaps();
        DeploymentManager syrupd = new DeploymentManager(DaemonConfig.of(dir.resolve("work").toString(), bpffs.toString()));
        PortDispatcher dispatcher = new PortDispatcher();
        syrupd.addHook(new SocketSelectHook(dispatcher, registry));
        try (UdpGroup a = new UdpGroup(2); UdpGroup b = new UdpGroup(2)) {
            Deployment da = syrupd.deploy(new DeployRequest(policy.toString(), SocketSelectHook.NAME,
                    Target.port(Protocol.UDP, a.port), Map.of(), false, DeployRequest.ADMIN));
            Deployment db = syrupd.deploy(new DeployRequest(policy.toString(), SocketSelectHook.NAME,
                    Target.port(Protocol.UDP, b.port), Map.of(), false, DeployRequest.ADMIN));
            assertEquals(List.of(owner.resolve(da.id()), owner.resolve(db.id())), registry.users(owner, "busy"));
            assertEquals(List.of(), SharedMaps.standalone().users(owner, "busy"), "the given registry, not the standalone one");
            syrupd.map(da.id(), "busy").update(1, 42);
            assertEquals(OptionalLong.of(42), syrupd.map(db.id(), "busy").lookup(1), "one kernel map behind both");

            syrupd.undeploy(da.id());
            assertEquals(List.of(owner.resolve(db.id())), registry.users(owner, "busy"));
            assertEquals(OptionalLong.of(42), syrupd.map(db.id(), "busy").lookup(1), "the Map outlives its first user");
            syrupd.undeploy(db.id());
            assertEquals(List.of(), registry.users(owner, "busy"), "let go with its last user");
        } finally {
            syrupd.deactivate();
            dispatcher.close();
        }
        assertFalse(Files.exists(owner), "pins left under " + bpffs);
        Files.deleteIfExists(bpffs);
    }
}
