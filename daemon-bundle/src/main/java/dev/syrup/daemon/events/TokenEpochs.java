package dev.syrup.daemon.events;

import dev.syrup.api.SyrupException;
import dev.syrup.api.map.SyrupMap;

/**
 * The token policy's userspace half (paper §3.4, §5.2.2): at each epoch the latency-sensitive
 * user's tokens are set to the epoch's share of its rate, and whatever it left unused in the
 * last epoch is given to the best-effort user (replacing the best-effort user's own leftover:
 * gifts last one epoch). The policy ({@code token}) decrements a user's count per request and
 * drops requests of users at zero.
 *
 * <p>The share is exact over time: epoch n grants floor(rate * n * epoch) - floor(rate * (n-1) * epoch).
 * Not thread-safe: one caller (the timer route).
 */
public final class TokenEpochs {

    private final int lsUser;
    private final int beUser;
    private final long ratePerSecond;
    private final long epochMicros;
    // written by the one caller, read by anyone (diagnostics, tests)
    private volatile long epochs;
    private volatile long granted;
    private volatile long gifted;

    public TokenEpochs(int lsUser, int beUser, long ratePerSecond, long epochMicros) {
        if (ratePerSecond < 0 || epochMicros <= 0) {
            throw new IllegalArgumentException("rate must be >= 0 and the epoch > 0");
        }
        this.lsUser = lsUser;
        this.beUser = beUser;
        this.ratePerSecond = ratePerSecond;
        this.epochMicros = epochMicros;
    }

    /** Tokens the latency-sensitive user gets at epoch {@code n} (1-based). */
    long share(long n) {
        return Math.multiplyExact(ratePerSecond, n * epochMicros) / 1_000_000
                - Math.multiplyExact(ratePerSecond, (n - 1) * epochMicros) / 1_000_000;
    }

    /** One epoch: refill the latency-sensitive user, gift its leftover to the best-effort user. */
    public void epoch(SyrupMap tokens) throws SyrupException {
        long left = Math.max(0, tokens.lookup(lsUser).orElse(0)); // the policy may leave it transiently < 0
        long share = share(epochs + 1);
        tokens.update(lsUser, share);
        tokens.update(beUser, left);
        epochs++;
        granted += share;
        gifted += left;
    }

    public long epochs() {
        return epochs;
    }

    /** Tokens given to the latency-sensitive user so far. */
    public long granted() {
        return granted;
    }

    /** Tokens gifted to the best-effort user so far. */
    public long gifted() {
        return gifted;
    }
}
