package dev.syrup.dist;

import java.util.ArrayList;
import java.util.List;
import org.junit.runner.Description;
import org.junit.runner.Runner;
import org.junit.runner.manipulation.Filter;
import org.junit.runner.manipulation.Filterable;
import org.junit.runner.manipulation.NoTestsRemainException;
import org.junit.runner.manipulation.Sortable;
import org.junit.runner.manipulation.Sorter;
import org.junit.runner.notification.Failure;
import org.junit.runner.notification.RunListener;
import org.junit.runner.notification.RunNotifier;
import org.junit.runners.model.InitializationError;
import org.ops4j.pax.exam.junit.PaxExam;

/**
 * {@link PaxExam}, with a second Karaf when the first never comes up.
 *
 * <p>Seen here about once in four full runs: the Karaf a test class boots stops logging while
 * its features service refreshes the startup bundles (pax-logging-api among them) during boot and
 * never gets further, so Pax Exam gives up after its system timeout ("Cannot get the remote
 * bundle context", "Container never came up") before any test ran. That is the container's boot,
 * not a test: the class then gets one more container. A failure after a test started, or a
 * second container that does not come up either, is reported as usual.
 */
public final class PaxExamBooting extends Runner implements Filterable, Sortable {

    /** Makes the runner of one attempt (a new PaxExam: a new container). */
    interface Attempt {
        Runner start(Class<?> testClass) throws InitializationError;
    }

    private final Class<?> testClass;
    private final Attempt attempt;
    private final List<Filter> filters = new ArrayList<>();
    private final List<Sorter> sorters = new ArrayList<>();
    private Runner delegate;

    public PaxExamBooting(Class<?> testClass) throws InitializationError {
        this(testClass, PaxExam::new);
    }

    PaxExamBooting(Class<?> testClass, Attempt attempt) throws InitializationError {
        this.testClass = testClass;
        this.attempt = attempt;
        this.delegate = attempt.start(testClass);
    }

    @Override
    public Description getDescription() {
        return delegate.getDescription();
    }

    @Override
    public void filter(Filter filter) throws NoTestsRemainException {
        filters.add(filter);
        filter.apply(delegate);
    }

    @Override
    public void sort(Sorter sorter) {
        sorters.add(sorter);
        sorter.apply(delegate);
    }

    @Override
    public void run(RunNotifier notifier) {
        FirstBoot first = new FirstBoot(notifier);
        RunNotifier watched = new RunNotifier();
        watched.addListener(first);
        delegate.run(watched);
        if (first.swallowed.isEmpty()) {
            return;
        }
        System.err.println(testClass.getSimpleName() + ": its Karaf never came up (" + first.swallowed.get(0).getMessage()
                + "); booting another");
        try {
            delegate = attempt.start(testClass);
            for (Filter f : filters) {
                f.apply(delegate);
            }
            for (Sorter s : sorters) {
                s.apply(delegate);
            }
        } catch (InitializationError | NoTestsRemainException e) {
            first.swallowed.forEach(notifier::fireTestFailure);
            return;
        }
        delegate.run(notifier);
    }

    /** Forwards everything but the class-level failures of a container that never came up before any test started. */
    private static final class FirstBoot extends RunListener {
        private final RunNotifier target;
        private boolean testStarted;
        final List<Failure> swallowed = new ArrayList<>();

        FirstBoot(RunNotifier target) {
            this.target = target;
        }

        static boolean neverCameUp(Failure f) {
            for (Throwable t = f.getException(); t != null; t = t.getCause()) {
                String m = String.valueOf(t.getMessage());
                if (m.contains("Cannot get the remote bundle context") || m.contains("Container never came up")) {
                    return true;
                }
            }
            return false;
        }

        @Override
        public void testStarted(Description d) {
            testStarted = true;
            target.fireTestStarted(d);
        }

        @Override
        public void testFinished(Description d) {
            target.fireTestFinished(d);
        }

        @Override
        public void testFailure(Failure f) {
            if (!testStarted && f.getDescription().getMethodName() == null && neverCameUp(f)) {
                swallowed.add(f);
                return;
            }
            target.fireTestFailure(f);
        }

        @Override
        public void testAssumptionFailure(Failure f) {
            target.fireTestAssumptionFailed(f);
        }

        @Override
        public void testIgnored(Description d) {
            target.fireTestIgnored(d);
        }
    }
}
