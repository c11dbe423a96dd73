package dev.syrup.dist;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.util.concurrent.atomic.AtomicInteger;
import org.junit.BeforeClass;
import org.junit.Test;
import org.junit.runner.JUnitCore;
import org.junit.runner.Request;
import org.junit.runner.Result;
import org.junit.runners.BlockJUnit4ClassRunner;

/** PaxExamBooting, with plain JUnit runners standing in for Pax Exam's. */
public class PaxExamBootingIT {

    static final AtomicInteger BOOTS = new AtomicInteger();
    static volatile String firstBoot;

    /** A class whose "container" fails to come up on its first boot as firstBoot says. */
    public static class Booted {
        @BeforeClass
        public static void boot() {
            if (BOOTS.incrementAndGet() == 1 && firstBoot != null) {
                throw new RuntimeException(firstBoot);
            }
        }

        @Test
        public void one() {
        }

        @Test
        public void two() {
        }
    }

    private static Result run(String firstFailure) throws Exception {
        BOOTS.set(0);
        firstBoot = firstFailure;
        return new JUnitCore().run(Request.runner(new PaxExamBooting(Booted.class, BlockJUnit4ClassRunner::new)));
    }

    @Test
    public void aContainerThatNeverCameUpIsBootedOnceMore() throws Exception {
        Result r = run("Cannot get the remote bundle context");
        assertEquals(2, BOOTS.get());
        assertTrue(r.getFailures().toString(), r.wasSuccessful());
        assertEquals(2, r.getRunCount());
    }

    @Test
    public void anyOtherFailureIsReportedAndNotRetried() throws Exception {
        Result r = run("the feature did not resolve");
        assertEquals(1, BOOTS.get());
        assertEquals(1, r.getFailureCount());
        assertTrue(r.getFailures().get(0).getMessage().contains("the feature did not resolve"));
    }

    @Test
    public void aSecondBootThatFailsTooIsReported() throws Exception {
        BOOTS.set(0);
        firstBoot = null;
        // both attempts fail: the second one's failure is what is reported
        Result r = new JUnitCore().run(Request.runner(new PaxExamBooting(Booted.class, c -> new BlockJUnit4ClassRunner(c) {
            @Override
            protected org.junit.runners.model.Statement classBlock(org.junit.runner.notification.RunNotifier n) {
                return new org.junit.runners.model.Statement() {
                    @Override
                    public void evaluate() {
                        BOOTS.incrementAndGet();
                        throw new RuntimeException("Container never came up");
                    }
                };
            }
        })));
        assertEquals(2, BOOTS.get());
        assertEquals(1, r.getFailureCount());
    }

    @Test
    public void aHealthyBootRunsOnce() throws Exception {
        Result r = run(null);
        assertEquals(1, BOOTS.get());
        assertTrue(r.wasSuccessful());
        assertEquals(2, r.getRunCount());
    }
}
