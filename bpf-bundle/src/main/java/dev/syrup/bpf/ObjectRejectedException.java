package dev.syrup.bpf;

import java.util.List;

/**
 * An object broke its {@link ProgramRules}: refused before anything was loaded. Each violation
 * names where (program or map, section, instruction) and what.
 */
public class ObjectRejectedException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    private final String scope;
    private final List<String> violations;

    public ObjectRejectedException(String scope, List<String> violations) {
        super("not allowed at " + scope + ":\n  " + String.join("\n  ", violations));
        this.scope = scope;
        this.violations = List.copyOf(violations);
    }

    /** What the rules are for, e.g. a hook's name. */
    public String scope() {
        return scope;
    }

    public List<String> violations() {
        return violations;
    }
}
