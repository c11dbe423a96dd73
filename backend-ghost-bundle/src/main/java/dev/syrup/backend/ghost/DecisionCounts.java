package dev.syrup.backend.ghost;

import dev.syrup.api.DeploymentStats;
import java.util.ArrayList;
import java.util.List;

/** A thread deployment's decisions: per core index, PASS, DROP, other (SYR_ANY_CORE, out of range). */
final class DecisionCounts {

    private final long[] perCore;
    private long pass, drop, other;

    DecisionCounts(int cores) {
        perCore = new long[cores];
    }

    synchronized void count(int decision) {
        if (decision >= 0 && decision < perCore.length) {
            perCore[decision]++;
        } else if (decision == ThreadGlue.PASS) {
            pass++;
        } else if (decision == ThreadGlue.DROP) {
            drop++;
        } else {
            other++;
        }
    }

    synchronized DeploymentStats stats() {
        List<Long> c = new ArrayList<>();
        for (long v : perCore) {
            c.add(v);
        }
        return new DeploymentStats(c, pass, drop, other);
    }
}
