package dev.syrup.daemon.shell;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.syrup.api.Deployment;
import dev.syrup.backend.ebpf.SocketSelectHook;
import dev.syrup.bpf.KernelObjects;
import dev.syrup.bpf.KernelSupport;
import dev.syrup.daemon.DaemonConfig;
import dev.syrup.daemon.DeploymentManager;
import dev.syrup.daemon.UdpGroup;
import dev.syrup.daemon.control.AppsCommand;
import dev.syrup.isolation.PortDispatcher;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The shell commands' {@code --json}: each prints one JSON document (jq-able), with what the
 * table shows; syrup:list's program id and tag are the kernel's (bpftool prog show id N).
 */
class JsonCommandsKernelTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path dir;

    private DeploymentManager syrupd;
    private PortDispatcher dispatcher;
    private Path bpffs;

    @BeforeAll
    static void kernel() {
        KernelSupport.missing().ifPresent(m -> {
            if ("1".equals(System.getenv("SYRUP_REQUIRE_KERNEL"))) {
                throw new AssertionError("SYRUP_REQUIRE_KERNEL=1 but the kernel cannot run this test: " + m);
            }
            Assumptions.abort("kernel test skipped: " + m);
        });
    }

    @BeforeEach
    void start() throws Exception {
        bpffs = Path.of("/sys/fs/bpf/syrup-test-" + UUID.randomUUID().toString().substring(0, 8));
        syrupd = new DeploymentManager(DaemonConfig.of(dir.resolve("work").toString(), bpffs.toString()));
        dispatcher = new PortDispatcher();
        Method add = DeploymentManager.class.getDeclaredMethod("addHook", dev.syrup.hook.spi.Hook.class);
        add.setAccessible(true);
        add.invoke(syrupd, new SocketSelectHook(dispatcher));
    }

    @AfterEach
    void stop() throws Exception {
        Method deactivate = DeploymentManager.class.getDeclaredMethod("deactivate");
        deactivate.setAccessible(true);
        deactivate.invoke(syrupd);
        dispatcher.close();
        Files.deleteIfExists(bpffs);
    }

    interface Run {
        void run() throws Exception;
    }

    /** What {@code r} prints to System.out. */
    private static String out(Run r) throws Exception {
        PrintStream old = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
        try {
            r.run();
        } finally {
            System.setOut(old);
        }
        return buf.toString(StandardCharsets.UTF_8);
    }

    /** Exactly one JSON document on one line. */
    private static JsonNode one(Run r) throws Exception {
        String text = out(r);
        assertEquals(1, text.lines().count(), "one line: " + text);
        return JSON.readTree(text);
    }

    @Test
    void everyReadingCommandPrintsOneJsonDocument() throws Exception {
        Path policy = dir.resolve("counted.c");
        Files.writeString(policy, """
                #include "syrup.h"
                SYR_MAP(seen, 4);
                static uint32_t next;
                uint32_t schedule(void *pkt_start, void *pkt_end)
                {
                	uint32_t k = 0;
                	uint64_t *n = syr_map_lookup_elem(&seen, &k);
                	if (n)
                		__sync_fetch_and_add(n, 1);
                	return __sync_fetch_and_add(&next, 1) % NUM_EXECUTORS;
                }
                """);
        try (UdpGroup group = new UdpGroup(2); UdpGroup.Sender tx = new UdpGroup.Sender(group.port)) {
            DeployCommand deploy = new DeployCommand();
            deploy.deployer = syrupd;
            deploy.policyAndOptions = List.of(policy.toString(), "--hook", "socket_select", "--port", Integer.toString(group.port), "--json");
            JsonNode d = one(deploy::execute);
            String id = d.get("id").asText();
            assertEquals("socket_select", d.get("hook").asText());
            assertEquals(group.port, d.at("/target/port").asInt());
            assertEquals(2, d.get("executors").asInt());
            int progId = d.at("/program/id").asInt();
            String tag = d.at("/program/tag").asText();
            assertTrue(KernelObjects.programs().stream().anyMatch(p -> p.id() == progId && p.tag().equals(tag)),
                    "program " + progId + " tag " + tag + " is in the kernel");
            Process bpftool = new ProcessBuilder("bpftool", "-j", "prog", "show", "id", Integer.toString(progId))
                    .redirectErrorStream(true).start();
            JsonNode shown = JSON.readTree(bpftool.getInputStream().readAllBytes());
            assertEquals(0, bpftool.waitFor());
            assertEquals(tag, shown.get("tag").asText(), "bpftool prog show id " + progId + ": " + shown);
            assertEquals("sk_reuseport", shown.get("type").asText(), shown.toString());
            assertEquals("sk_reuseport", d.at("/program/type").asText());

            tx.send(100, 0);
            assertEquals(100, group.await(100, 5000));

            ListCommand list = new ListCommand();
            list.deployer = syrupd;
            list.json = true;
            JsonNode l = one(list::execute);
            assertEquals(1, l.size());
            assertEquals(id, l.get(0).get("id").asText());
            assertEquals(progId, l.at("/0/program/id").asInt());
            list.json = false;
            String table = out(list::execute);
            assertTrue(table.contains("Prog id") && table.contains(Integer.toString(progId)) && table.contains(tag), table);

            StatsCommand stats = new StatsCommand();
            stats.deployer = syrupd;
            stats.id = id;
            stats.json = true;
            stats.intervalMs = 0;
            JsonNode s = one(stats::execute);
            assertEquals(100, s.get("decisions").asLong());
            assertEquals(50, s.at("/executors/0").asLong());
            assertEquals(50, s.at("/executors/1").asLong());

            stats.watch = true;
            stats.count = 3;
            stats.intervalMs = 50;
            String watched = out(stats::execute);
            List<JsonNode> docs = new ArrayList<>();
            for (String line : watched.lines().toList()) {
                docs.add(JSON.readTree(line));
            }
            assertEquals(3, docs.size(), "one document per refresh: " + watched);
            assertTrue(docs.get(2).at("/rates/seconds").asDouble() > 0, watched);
            stats.json = false;
            stats.count = 2;
            String tables = out(stats::execute);
            assertEquals(2, tables.lines().filter(x -> x.startsWith(id + " at ")).count(), tables);

            MapsCommand maps = new MapsCommand();
            maps.deployer = syrupd;
            maps.json = true;
            JsonNode m = one(maps::execute);
            assertEquals("seen", m.at("/0/name").asText());
            assertEquals(4, m.at("/0/max_entries").asInt());
            assertTrue(m.at("/0/pinned").asText().startsWith(bpffs.toString()), m.toString());

            MapDumpCommand dump = new MapDumpCommand();
            dump.deployer = syrupd;
            dump.id = id;
            dump.map = "seen";
            dump.json = true;
            JsonNode e = one(dump::execute);
            assertEquals(4, e.size());
            assertEquals(0, e.at("/0/key").asInt());
            assertEquals(100, e.at("/0/value").asLong());

            syrupd.map(id, "seen").update(3, -1L); // u64 max stays exact
            MapGetCommand get = new MapGetCommand();
            get.deployer = syrupd;
            get.id = id;
            get.map = "seen";
            get.key = "3";
            get.json = true;
            JsonNode g = one(get::execute);
            assertEquals("18446744073709551615", g.get("value").bigIntegerValue().toString());
        }
    }

    @Test
    void hooksPoliciesTestAndApps() throws Exception {
        HooksCommand hooks = new HooksCommand();
        hooks.deployer = syrupd;
        hooks.json = true;
        JsonNode h = one(hooks::execute);
        assertEquals("socket_select", h.at("/0/name").asText());
        assertTrue(h.at("/0/available").asBoolean());

        PoliciesCommand policies = new PoliciesCommand();
        policies.deployer = syrupd;
        policies.json = true;
        JsonNode p = one(policies::execute);
        List<String> names = new ArrayList<>();
        p.forEach(x -> names.add(x.get("name").asText()));
        assertEquals(syrupd.builtins(), names);
        policies.name = "mica";
        assertTrue(one(policies::execute).get("source").asText().contains("uint32_t schedule("));
        policies.json = false;
        String source = out(policies::execute);
        assertTrue(source.startsWith("/* mica"), source);

        TestCommand test = new TestCommand();
        test.deployer = syrupd;
        test.policyAndOptions = List.of("round_robin", "--hook", "socket_select", "--request", "GET", "--count", "8",
                "--executors", "4", "--json");
        JsonNode t = one(test::execute);
        assertEquals(8, t.get("inputs").asInt());
        for (int i = 0; i < 4; i++) {
            assertEquals(2, t.at("/histogram/" + i).asInt(), t.toString());
        }
        assertEquals("3", t.at("/decisions/7").asText());
        test = new TestCommand();
        test.deployer = syrupd;
        test.policyAndOptions = List.of("sita", "--hook", "socket_select", "--request", "SCAN", "--request", "GET", "--executors", "2");
        String table = out(test::execute);
        assertTrue(table.contains("executor 0") && table.contains("ns per decision"), table);
        assertEquals(List.of(), syrupd.list().stream().map(Deployment::id).toList(), "a test deploys nothing");

        AppsCommand apps = new AppsCommand();
        var json = AppsCommand.class.getDeclaredField("json");
        json.setAccessible(true);
        json.set(apps, true);
        assertTrue(one(apps::execute).get("socket").isNull(), "no control socket here");
    }
}
