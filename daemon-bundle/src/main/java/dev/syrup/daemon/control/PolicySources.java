package dev.syrup.daemon.control;

import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Policy C text received over the control socket, written where the compiler reads it:
 * {@code <dir>/<app>/<sha256 prefix>/<name>}, so clang's messages name the user's file.
 *
 * <p>Policies compile in a sandbox that holds no file but the policy's, the glue's,
 * {@code syrup.h} and the system's /usr ({@code CompileSandbox}); this check is a second line:
 * an application's text may not name other files. {@code #include}/{@code #include_next}/
 * {@code #import} must name a literal relative header ({@code "x.h"} or {@code <x.h>}, no
 * {@code ..}, not absolute; macro includes are refused); {@code __has_include}, {@code #embed},
 * {@code __has_embed}, the assembler's {@code .incbin} and {@code .include} (in any string) and
 * {@code #pragma GCC dependency} are refused. Line splices, comments and the {@code %:} digraph
 * are taken into account.
 */
public final class PolicySources {

    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}\\.c");
    private static final Pattern DIRECTIVE = Pattern.compile("^\\s*(?:#|%:)\\s*([A-Za-z_]+)(.*)$");

    /** {@code .include} as an assembler directive (any case, spaces after the dot). */
    private static final Pattern ASM_INCLUDE = Pattern.compile("\\.\\s*include\\b");
    private static final Pattern PRAGMA = Pattern.compile("(?m)^\\s*(?:#|%:)\\s*pragma\\b");

    private final Path dir;

    public PolicySources(Path dir) {
        this.dir = dir;
    }

    /** Writes {@code text} for {@code app}; returns the file to compile. */
    public Path write(String app, String name, String text) throws SyrupException {
        String file = name != null && NAME.matcher(name).matches() ? name : "policy.c";
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        Path target = dir.resolve(app).resolve(sha(bytes)).resolve(file);
        try {
            Files.createDirectories(target.getParent());
            if (!Files.exists(target)) {
                Path tmp = target.resolveSibling(file + ".tmp" + Thread.currentThread().getId());
                Files.write(tmp, bytes);
                Files.move(tmp, target, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                        java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            }
            return target;
        } catch (IOException e) {
            throw new SyrupException(Kind.KERNEL, "cannot store the policy text under " + dir + ": " + e.getMessage(), e);
        }
    }

    /** {@code DENIED} for includes that could read outside the compiler's header paths. */
    public static void checkIncludes(String text) throws SyrupException {
        String code = stripComments(text.replace("\\\r\n", "").replace("\\\n", ""));
        for (String word : List.of("__has_include", "__has_embed")) {
            if (code.contains(word)) {
                throw new SyrupException(Kind.DENIED, word + " is not allowed in policies sent to syrupd");
            }
        }
        String lower = code.toLowerCase(Locale.ROOT);
        if (lower.contains("incbin") || ASM_INCLUDE.matcher(lower).find()) {
            throw new SyrupException(Kind.DENIED, "the assembler's .incbin and .include are not allowed in policies sent to syrupd");
        }
        if ((code.contains("_Pragma") || PRAGMA.matcher(code).find()) && code.contains("dependency")) {
            throw new SyrupException(Kind.DENIED, "#pragma ... dependency is not allowed in policies sent to syrupd");
        }
        int lineNo = 0;
        for (String line : code.split("\n", -1)) {
            lineNo++;
            Matcher m = DIRECTIVE.matcher(line);
            if (!m.matches()) {
                continue;
            }
            String directive = m.group(1);
            if (directive.equals("embed")) {
                throw new SyrupException(Kind.DENIED, "line " + lineNo + ": #embed is not allowed in policies sent to syrupd");
            }
            if (!directive.equals("include") && !directive.equals("include_next") && !directive.equals("import")) {
                continue;
            }
            String operand = m.group(2).strip();
            String header;
            if (operand.length() >= 2 && operand.charAt(0) == '"' && operand.indexOf('"', 1) == operand.length() - 1) {
                header = operand.substring(1, operand.length() - 1);
            } else if (operand.length() >= 2 && operand.charAt(0) == '<' && operand.indexOf('>') == operand.length() - 1) {
                header = operand.substring(1, operand.length() - 1);
            } else {
                throw new SyrupException(Kind.DENIED, "line " + lineNo + ": #" + directive
                        + " must name a header literally (\"x.h\" or <x.h>)");
            }
            if (header.isEmpty() || header.startsWith("/") || header.contains("..") || header.contains("\\")) {
                throw new SyrupException(Kind.DENIED, "line " + lineNo + ": #" + directive + " " + operand
                        + ": only relative headers on the compiler's include path are allowed");
            }
        }
    }

    /** Replaces comments by a space, keeping newlines and string/char literals. */
    static String stripComments(String s) {
        StringBuilder out = new StringBuilder(s.length());
        int i = 0;
        int n = s.length();
        while (i < n) {
            char c = s.charAt(i);
            if (c == '/' && i + 1 < n && s.charAt(i + 1) == '/') {
                while (i < n && s.charAt(i) != '\n') {
                    i++;
                }
                out.append(' ');
            } else if (c == '/' && i + 1 < n && s.charAt(i + 1) == '*') {
                i += 2;
                while (i < n && !(s.charAt(i) == '*' && i + 1 < n && s.charAt(i + 1) == '/')) {
                    if (s.charAt(i) == '\n') {
                        out.append('\n');
                    }
                    i++;
                }
                i = Math.min(n, i + 2);
                out.append(' ');
            } else if (c == '"' || c == '\'') {
                out.append(c);
                i++;
                while (i < n && s.charAt(i) != c && s.charAt(i) != '\n') {
                    if (s.charAt(i) == '\\' && i + 1 < n) {
                        out.append(s.charAt(i++));
                    }
                    out.append(s.charAt(i++));
                }
                if (i < n && s.charAt(i) == c) {
                    out.append(c);
                    i++;
                }
            } else {
                out.append(c);
                i++;
            }
        }
        return out.toString();
    }

    private static String sha(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes), 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
