package dev.syrup.backend.ghost;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/** A real thread of this JVM for the tests: it reports its tid and, while spinning, the CPUs it ran on. */
final class Worker extends Thread {

    /** PARK wakes every ms; SLEEP parks for a minute at a time: no scheduler event while it sleeps. */
    enum Mode { PARK, SPIN, SLEEP }

    private final CountDownLatch started = new CountDownLatch(1);
    private volatile Mode mode;
    private volatile boolean stop;
    private volatile int tid;
    /** Bit i: sampled on CPU i since the last reset. */
    private volatile long cpus;

    Worker(String name, Mode mode) {
        super(name);
        this.mode = mode;
        setDaemon(true);
    }

    static Worker start(String name, Mode mode) throws InterruptedException {
        Worker w = new Worker(name, mode);
        w.start();
        if (!w.started.await(10, TimeUnit.SECONDS)) {
            throw new IllegalStateException("worker did not start");
        }
        return w;
    }

    @Override
    public void run() {
        tid = Sched.get().gettid();
        started.countDown();
        long n = 0;
        while (!stop) {
            if (mode == Mode.SPIN) {
                if ((++n & 0xfff) == 0) {
                    cpus |= 1L << Sched.get().cpu();
                }
                Thread.onSpinWait();
            } else if (mode == Mode.SLEEP) {
                LockSupport.parkNanos(60_000_000_000L);
            } else {
                LockSupport.parkNanos(1_000_000);
            }
        }
    }

    int tid() {
        return tid;
    }

    void mode(Mode m) {
        mode = m;
    }

    long cpusSeen() {
        return cpus;
    }

    void resetCpus() {
        cpus = 0;
    }

    void finish() throws InterruptedException {
        stop = true;
        LockSupport.unpark(this);
        join(5000);
    }
}
