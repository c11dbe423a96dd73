package dev.syrup.daemon.shell;

import dev.syrup.api.DeployRequest;
import dev.syrup.api.Deployer;
import dev.syrup.api.PolicyTest;
import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
import dev.syrup.api.TestPackets;
import dev.syrup.api.TestResult;
import dev.syrup.daemon.shell.completers.HookCompleter;
import dev.syrup.daemon.shell.completers.PolicyCompleter;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Argument;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Completion;
import org.apache.karaf.shell.api.action.Option;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;
import org.apache.karaf.shell.support.table.ShellTable;

@Command(scope = "syrup", name = "test", description = "Runs a policy on inputs in the kernel (BPF_PROG_TEST_RUN) without "
        + "deploying it: the decision per input, a histogram, and ns per decision")
@Service
public class TestCommand implements Action {

    @Reference
    Deployer deployer;

    /* As syrup:deploy: the policy comes first and the options after it are read by hand. */
    @Argument(index = 0, name = "policy", required = true, multiValued = true,
            description = "A built-in policy name or the path of a .c file (options may follow it)")
    @Completion(PolicyCompleter.class)
    List<String> policyAndOptions;

    @Option(name = "--hook", description = "Hook whose glue the policy is compiled with (see syrup:hooks); required")
    @Completion(HookCompleter.class)
    String hook;

    @Option(name = "-D", multiValued = true, description = "Preprocessor definition NAME=VALUE (repeatable)")
    List<String> defines;

    @Option(name = "--request", multiValued = true, description = "An input: a request GET or SCAN, optionally ,user=N ,key=K (repeatable)")
    List<String> requests;

    @Option(name = "--hex", multiValued = true, description = "An input: a UDP payload in hex (repeatable)")
    List<String> hexes;

    @Option(name = "--pcap", description = "Inputs: the packets of a pcap file (Ethernet or raw IPv4)")
    String pcap;

    @Option(name = "--count", description = "Number of inputs, going round the ones given (default: each once)")
    int count;

    @Option(name = "--executors", description = "Executors the policy schedules onto (NUM_EXECUTORS); default 4")
    int executors = 4;

    @Option(name = "--port", description = "Destination port of the --request/--hex inputs; default 9000")
    int port = 9000;

    @Option(name = "--map", multiValued = true, description = "Seed a Map: NAME=key:value,key:value,... (repeatable)")
    List<String> maps;

    @Option(name = "--summary", description = "Only the histogram and the time, not each input's decision")
    boolean summary;

    @Option(name = "--no-format", description = "Plain output, no table borders")
    boolean noFormat;

    @Option(name = "--json", description = "One JSON document: the decisions, the histogram, the time")
    boolean json;

    String policy;

    @Override
    public Object execute() throws SyrupException {
        policy = readTrailingOptions();
        if (hook == null) {
            throw new SyrupException(Kind.INVALID, "--hook is required (see syrup:hooks)");
        }
        TestResult r = deployer.test(request(DeployRequest.ADMIN));
        if (json) {
            Json.print(System.out, Json.test(r));
        } else {
            print(System.out, r, summary, !noFormat);
        }
        return null;
    }

    PolicyTest request(String owner) throws SyrupException {
        List<byte[]> frames = pcap == null ? List.of() : TestPackets.pcap(Path.of(pcap));
        List<byte[]> inputs = TestPackets.inputs(nonNull(requests), nonNull(hexes), frames, count, port);
        return new PolicyTest(policy, hook, DeployCommand.parse(defines), executors, inputs, TestPackets.seeds(nonNull(maps)), owner);
    }

    private static <T> List<T> nonNull(List<T> l) {
        return l == null ? List.of() : l;
    }

    static void print(PrintStream out, TestResult r, boolean summary, boolean format) {
        if (!summary) {
            ShellTable inputs = new ShellTable();
            inputs.column("Input").alignRight();
            inputs.column("Decision");
            for (int i = 0; i < r.decisions().size(); i++) {
                inputs.addRow().addContent(Integer.toString(i), decision(r.decisions().get(i)));
            }
            inputs.print(out, format);
            out.println();
        }
        ShellTable hist = new ShellTable();
        hist.column("Decision");
        hist.column("Inputs").alignRight();
        hist.column("Share").alignRight();
        int n = r.decisions().size();
        for (Map.Entry<Integer, Long> e : r.histogram().entrySet()) {
            hist.addRow().addContent(decision(e.getKey()), Long.toString(e.getValue()),
                    String.format(Locale.ROOT, "%.1f%%", 100.0 * e.getValue() / n));
        }
        hist.print(out, format);
        out.printf(Locale.ROOT, "%d input(s); %.1f ns per decision (kernel's average over %d runs); ran %s%n", n,
                r.nsPerDecision(), r.timedRuns(), r.program());
    }

    /** {@code executor 2}, {@code PASS}, ... */
    static String decision(int d) {
        return d >= 0 ? "executor " + d : TestResult.label(d);
    }

    /** Takes the policy (the first word) and applies the options that follow it. */
    String readTrailingOptions() throws SyrupException {
        String p = null;
        List<String> words = policyAndOptions;
        for (int i = 0; i < words.size(); i++) {
            String word = words.get(i);
            switch (word) {
                case "--summary" -> summary = true;
                case "--no-format" -> noFormat = true;
                case "--json" -> json = true;
                case "--hook", "-D", "--request", "--hex", "--pcap", "--count", "--executors", "--port", "--map" -> {
                    if (i + 1 >= words.size()) {
                        throw new SyrupException(Kind.INVALID, word + " needs a value");
                    }
                    String value = words.get(++i);
                    switch (word) {
                        case "--hook" -> hook = value;
                        case "--pcap" -> pcap = value;
                        case "--count" -> count = number(word, value);
                        case "--executors" -> executors = number(word, value);
                        case "--port" -> port = number(word, value);
                        case "-D" -> defines = add(defines, value);
                        case "--request" -> requests = add(requests, value);
                        case "--hex" -> hexes = add(hexes, value);
                        default -> maps = add(maps, value);
                    }
                }
                default -> {
                    if (word.startsWith("-D") && word.length() > 2) {
                        defines = add(defines, word.substring(2));
                    } else if (word.startsWith("-")) {
                        throw new SyrupException(Kind.INVALID, "unknown option " + word + " (expected --hook, -D, --request,"
                                + " --hex, --pcap, --count, --executors, --port, --map, --summary, --no-format, --json)");
                    } else if (p != null) {
                        throw new SyrupException(Kind.INVALID, "one policy at a time: got '" + p + "' and '" + word + "'");
                    } else {
                        p = word;
                    }
                }
            }
        }
        if (p == null) {
            throw new SyrupException(Kind.INVALID, "which policy? give a built-in name or a .c file");
        }
        return p;
    }

    private static List<String> add(List<String> l, String v) {
        List<String> out = l == null ? new ArrayList<>() : new ArrayList<>(l);
        out.add(v);
        return out;
    }

    private static int number(String option, String s) throws SyrupException {
        try {
            return Integer.parseInt(s);
        } catch (NumberFormatException e) {
            throw new SyrupException(Kind.INVALID, option + " '" + s + "' is not a number");
        }
    }
}
