package dev.syrup.daemon.shell;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.syrup.api.Deployment;
import dev.syrup.api.DeploymentStats;
import dev.syrup.api.KernelProgram;
import dev.syrup.api.TestResult;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.math.BigInteger;
import java.util.Map;
import java.util.Optional;

/**
 * {@code --json} of the shell commands: one JSON document per command (one per refresh for
 * {@code --watch}), on one line, like {@code bpftool -j}. Unsigned 64-bit values stay exact.
 */
public final class Json {

    static final ObjectMapper MAPPER = new ObjectMapper();

    private Json() {
    }

    public static ObjectNode object() {
        return MAPPER.createObjectNode();
    }

    public static ArrayNode array() {
        return MAPPER.createArrayNode();
    }

    public static void print(PrintStream out, JsonNode node) {
        try {
            out.println(MAPPER.writeValueAsString(node));
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** An unsigned 64-bit value as a JSON number (above 2^63 too). */
    static void putU64(ObjectNode o, String name, long v) {
        if (v >= 0) {
            o.put(name, v);
        } else {
            o.put(name, new BigInteger(Long.toUnsignedString(v)));
        }
    }

    static ObjectNode program(KernelProgram p) {
        return object().put("id", p.id()).put("name", p.name()).put("type", p.type()).put("tag", p.tag());
    }

    static ObjectNode deployment(Deployment d, Optional<KernelProgram> program) {
        ObjectNode o = object().put("id", d.id()).put("policy", d.policy()).put("hook", d.hook());
        ObjectNode t = o.putObject("target").put("protocol", d.target().protocol().label()).put("port", d.target().port());
        d.target().iface().ifPresent(i -> t.put("iface", i));
        o.put("owner", d.owner()).put("executors", d.executors()).put("replaced", d.replaced())
                .put("created", d.created().toString());
        if (program.isPresent()) {
            o.set("program", program(program.get()));
        } else {
            o.putNull("program");
        }
        return o;
    }

    static ObjectNode stats(DeploymentStats s) {
        ObjectNode o = object();
        ArrayNode per = o.putArray("executors");
        s.executors().forEach(per::add);
        return o.put("pass", s.pass()).put("drop", s.drop()).put("other", s.other()).put("decisions", s.decisions());
    }

    static ObjectNode test(TestResult r) {
        ObjectNode o = object().put("program", r.program()).put("inputs", r.decisions().size())
                .put("ns_per_decision", Math.round(r.nsPerDecision() * 10) / 10.0).put("timed_runs", r.timedRuns());
        ObjectNode h = o.putObject("histogram");
        for (Map.Entry<Integer, Long> e : r.histogram().entrySet()) {
            h.put(TestResult.label(e.getKey()), e.getValue());
        }
        ArrayNode d = o.putArray("decisions");
        r.decisions().forEach(x -> d.add(TestResult.label(x)));
        return o;
    }
}
