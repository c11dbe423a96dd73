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
 * The timer drives it by the clock ({@link #advance}): when it fires late (a busy machine), the
 * epochs that ended meanwhile are granted in one go, so the latency-sensitive user still gets its
 * rate; before, a timer late by k epochs cost that user k-1 epochs of tokens (measured: 88% of
 * the rate on a loaded 2-core machine). Not thread-safe: one caller (the timer route).
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
    private long startMicros = Long.MIN_VALUE;

    public TokenEpochs(int lsUser, int beUser, long ratePerSecond, long epochMicros) {
        if (ratePerSecond < 0 || epochMicros <= 0) {
            throw new IllegalArgumentException("rate must be >= 0 and the epoch > 0");
        }
        this.lsUser = lsUser;
        this.beUser = beUser;
        this.ratePerSecond = ratePerSecond;
        this.epochMicros = epochMicros;
    }

    /** Tokens the latency-sensitive user gets over epochs {@code from+1 .. to}. */
    long share(long from, long to) {
        return Math.multiplyExact(ratePerSecond, to * epochMicros) / 1_000_000
                - Math.multiplyExact(ratePerSecond, from * epochMicros) / 1_000_000;
    }

    /** One epoch: refill the latency-sensitive user, gift its leftover to the best-effort user. */
    public void epoch(SyrupMap tokens) throws SyrupException {
        grant(tokens, epochs + 1);
    }

    /**
     * Catches up with the clock: every epoch that has ended by {@code nowMicros} (counted from the
     * first call) is granted at once, as one refill and one gift; nothing when none has ended.
     *
     * @return the epochs granted by this call
     */
    public long advance(SyrupMap tokens, long nowMicros) throws SyrupException {
        if (startMicros == Long.MIN_VALUE) {
            // The first call grants the first epoch, and the boundaries sit half an epoch away from
            // the timer's firings: a firing a little early or late still ends exactly one epoch
            // (boundaries on the firings turned jitter into alternating grants of 0 and 2 epochs).
            startMicros = nowMicros - epochMicros - epochMicros / 2;
        }
        long due = (nowMicros - startMicros) / epochMicros, before = epochs;
        if (due > before) {
            grant(tokens, due);
        }
        return epochs - before;
    }

    private void grant(SyrupMap tokens, long upTo) throws SyrupException {
        long left = Math.max(0, tokens.lookup(lsUser).orElse(0)); // the policy may leave it transiently < 0
        long share = share(epochs, upTo);
        tokens.update(lsUser, share);
        tokens.update(beUser, left);
        epochs = upTo;
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
