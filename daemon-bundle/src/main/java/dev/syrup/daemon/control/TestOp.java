package dev.syrup.daemon.control;

import dev.syrup.api.Deployer;
import dev.syrup.api.PolicyTest;
import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
import dev.syrup.api.TestPackets;
import dev.syrup.api.TestResult;
import dev.syrup.client.Message;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Collectors;

/** The control socket's {@code TEST}: a policy run on inputs in the kernel, nothing deployed (docs/protocol.md). */
final class TestOp {

    /** Most inputs one TEST runs (their decisions must fit one reply frame). */
    static final int MAX_INPUTS = 4096;

    private TestOp() {
    }

    /**
     * @param policy the policy as DEPLOY resolves it (a built-in, the caller's text written out, or an administrator's path)
     */
    static Message run(Message r, String policy, Deployer deployer, String app) throws SyrupException {
        int executors = (int) (r.get("executors").isPresent() ? r.requireLong("executors", 1, 1024) : 4);
        int count = (int) (r.get("count").isPresent() ? r.requireLong("count", 0, MAX_INPUTS) : 0);
        int port = (int) (r.get("port").isPresent() ? r.requireLong("port", 1, 65535) : 9000);
        List<byte[]> frames = new ArrayList<>();
        for (String f : r.all("frame")) {
            frames.add(TestPackets.hex(f));
        }
        List<byte[]> inputs = TestPackets.inputs(r.all("request"), r.all("payload"), frames, count, port);
        if (inputs.size() > MAX_INPUTS) {
            throw new SyrupException(Kind.INVALID, "a TEST runs at most " + MAX_INPUTS + " inputs, not " + inputs.size());
        }
        Map<String, String> defines = new LinkedHashMap<>();
        for (String d : r.all("define")) {
            int eq = d.indexOf('=');
            defines.put(eq < 0 ? d : d.substring(0, eq), eq < 0 ? "" : d.substring(eq + 1));
        }
        TestResult t = deployer.test(new PolicyTest(policy, r.require("hook"), defines, executors, inputs,
                TestPackets.seeds(r.all("map")), app));
        return Message.ok().add("program", t.program())
                .add("ns_per_decision", String.format(Locale.ROOT, "%.1f", t.nsPerDecision()))
                .add("timed_runs", t.timedRuns())
                .add("decisions", t.decisions().stream().map(TestResult::label).collect(Collectors.joining(",")));
    }
}
