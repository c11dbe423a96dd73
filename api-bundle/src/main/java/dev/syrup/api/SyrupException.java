package dev.syrup.api;

/**
 * A request Syrup refused or could not carry out. The message is meant for the person who
 * asked; {@link #kind()} lets programs (and the wire protocol) tell the cases apart.
 */
public class SyrupException extends Exception {

    private static final long serialVersionUID = 1L;

    /** Why a request failed. */
    public enum Kind {
        /** Malformed request: bad port, bad define, unknown option. */
        INVALID,
        /** No such policy file, built-in, deployment, map or key. */
        NOT_FOUND,
        /** No hook of that name is installed. */
        UNKNOWN_HOOK,
        /** The hook is installed but cannot run on this machine. */
        UNAVAILABLE,
        /** The policy did not compile. */
        COMPILE,
        /** The kernel's verifier rejected the policy. */
        VERIFIER,
        /** The inputs are already claimed by another deployment. */
        CONFLICT,
        /** Nothing to schedule onto (for example nobody listens on the port). */
        NO_EXECUTORS,
        /** The caller may not do this. */
        DENIED,
        /** A configured limit (quota) refuses it; the message names the limit and its setting. */
        LIMIT,
        /** A kernel call failed. */
        KERNEL
    }

    private final Kind kind;

    public SyrupException(Kind kind, String message) {
        super(message);
        this.kind = kind;
    }

    public SyrupException(Kind kind, String message, Throwable cause) {
        super(message, cause);
        this.kind = kind;
    }

    public Kind kind() {
        return kind;
    }
}
