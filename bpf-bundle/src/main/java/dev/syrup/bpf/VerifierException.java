package dev.syrup.bpf;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.regex.Pattern;

/**
 * The kernel refused to load a program. Carries the program's name, the errno of the load
 * and the verifier's full log; {@link #reason()} extracts the lines that explain the refusal.
 */
public class VerifierException extends BpfException {

    private static final long serialVersionUID = 1L;

    /** A verifier line for an instruction: {@code "12: (61) r2 = *(u32 *)(r1 +0)"}. */
    private static final Pattern INSN = Pattern.compile("^\\d+: \\([0-9a-f]{2}\\) .*");
    private static final int MAX_REASON_LINES = 8;

    private final String programName;
    private final String log;

    public VerifierException(String programName, int errno, String log) {
        super("load program '" + programName + "'", errno, summarize(log));
        this.programName = programName;
        this.log = log == null ? "" : log;
    }

    public String programName() {
        return programName;
    }

    /** The whole verifier log (may be empty when the kernel refused before verifying). */
    public String log() {
        return log;
    }

    /** The lines that explain the failure; see {@link #relevantLines(String)}. */
    public List<String> reason() {
        return relevantLines(log);
    }

    private static String summarize(String log) {
        List<String> lines = relevantLines(log);
        return lines.isEmpty() ? "(no verifier log)" : "verifier: " + String.join("\n  ", lines);
    }

    /**
     * The lines that explain a failed verification: after dropping the trailing statistics
     * ({@code processed N insns ...}, {@code verification time ...}, {@code stack depth ...}),
     * the last instruction the verifier looked at (preceded by its C source line when the
     * object has debug info) and the messages that follow it, e.g.
     * <pre>
     * ; __u32 first = *(__u32 *)data; @ t_bad.c:9
     * 3: (61) r2 = *(u32 *)(r1 +0)
     * invalid access to packet, off=0 size=4, R1(id=0,off=0,r=0)
     * R1 offset is outside of the packet
     * </pre>
     * At most 9 lines; empty for an empty log.
     */
    public static List<String> relevantLines(String log) {
        if (log == null || log.isBlank()) {
            return List.of();
        }
        String[] all = log.split("\n");
        int end = all.length;
        while (end > 0 && isTrailer(all[end - 1].strip())) {
            end--;
        }
        List<String> out = new ArrayList<>();
        for (int i = end - 1; i >= 0 && out.size() < MAX_REASON_LINES; i--) {
            String line = all[i].stripTrailing();
            if (line.isBlank()) {
                continue;
            }
            out.add(line);
            if (INSN.matcher(line).matches()) {
                // with -g the verifier prints the C source line ("; ... @ file.c:12") before it
                if (i > 0 && all[i - 1].startsWith("; ")) {
                    out.add(all[i - 1].stripTrailing());
                }
                break;
            }
        }
        Collections.reverse(out);
        return List.copyOf(out);
    }

    private static boolean isTrailer(String line) {
        return line.isEmpty()
                || line.startsWith("processed ")
                || line.startsWith("verification time")
                || line.startsWith("stack depth")
                || line.startsWith("-- END");
    }
}
