package dev.syrup.daemon.control;

import dev.syrup.api.Deployer;
import dev.syrup.api.SyrupException;
import dev.syrup.bpf.Fd;
import dev.syrup.bpf.Pidfd;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The processes that deployed through the control socket and what each deployed. A deployment
 * lives as long as the process that made it: one thread polls the processes' pidfds (a pidfd
 * becomes readable when its process exits) and undeploys what an exited process left, which
 * also removes its Maps and pins. Closing the connection alone removes nothing.
 */
final class Applications implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger(Applications.class.getName());
    private static final int POLL_MILLIS = 100;

    private final Deployer deployer;
    /** Told the id of each deployment this removes. */
    private final java.util.function.Consumer<String> ended;
    /** Guarded by {@code this}: pid → its record. */
    private final Map<Long, Proc> procs = new HashMap<>();
    private final Thread reaper;
    private volatile boolean running = true;

    private static final class Proc {
        final long pid;
        final String app;
        final Fd pidfd;
        final Set<String> deployments = new LinkedHashSet<>();

        Proc(long pid, String app, Fd pidfd) {
            this.pid = pid;
            this.app = app;
            this.pidfd = pidfd;
        }
    }

    Applications(Deployer deployer) {
        this(deployer, id -> { });
    }

    Applications(Deployer deployer, java.util.function.Consumer<String> ended) {
        this.deployer = deployer;
        this.ended = ended;
        this.reaper = new Thread(this::reap, "syrupd-app-reaper");
        reaper.setDaemon(true);
        reaper.start();
    }

    /** Records that process {@code pid} of {@code app} made deployment {@code id}. */
    synchronized void add(long pid, String app, String id) {
        Proc p = procs.get(pid);
        if (p == null) {
            p = new Proc(pid, app, Pidfd.open(pid));
            procs.put(pid, p);
        }
        p.deployments.add(id);
    }

    /** The watched processes, by pid, with the deployments each made (for {@code syrup:apps}). */
    synchronized List<ApplicationProcess> snapshot() {
        List<ApplicationProcess> out = new ArrayList<>();
        for (Proc p : procs.values()) {
            out.add(new ApplicationProcess(p.app, p.pid, List.copyOf(p.deployments)));
        }
        out.sort(java.util.Comparator.comparingLong(ApplicationProcess::pid));
        return out;
    }

    /** Forgets {@code id} (undeployed explicitly). */
    synchronized void remove(String id) {
        for (Proc p : procs.values()) {
            p.deployments.remove(id);
        }
    }

    private void reap() {
        while (running) {
            List<Proc> snapshot;
            synchronized (this) {
                snapshot = new ArrayList<>(procs.values());
            }
            int[] fds = new int[snapshot.size()];
            for (int i = 0; i < fds.length; i++) {
                fds[i] = snapshot.get(i).pidfd.get();
            }
            boolean[] exited;
            try {
                exited = Pidfd.poll(fds, POLL_MILLIS);
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.ERROR, "polling application pidfds failed", e);
                sleep();
                continue;
            }
            for (int i = 0; i < exited.length; i++) {
                if (exited[i]) {
                    tearDown(snapshot.get(i), "process " + snapshot.get(i).pid + " exited");
                }
            }
        }
    }

    private void tearDown(Proc p, String why) {
        List<String> ids;
        synchronized (this) {
            if (procs.get(p.pid) != p) {
                return;
            }
            procs.remove(p.pid);
            ids = new ArrayList<>(p.deployments);
        }
        for (String id : ids) {
            try {
                deployer.undeploy(id);
                LOG.log(System.Logger.Level.INFO, "{0}: removed deployment {1} of {2}", why, id, p.app);
            } catch (SyrupException e) {
                // already undeployed (by the administrator, or its hook went away)
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.ERROR, "removing deployment " + id + " of " + p.app + " failed", e);
            }
            ended.accept(id);
        }
        p.pidfd.close();
    }

    private static void sleep() {
        try {
            Thread.sleep(POLL_MILLIS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Stops watching; with {@code undeploy}, removes every deployment still recorded. */
    void close(boolean undeploy) {
        running = false;
        try {
            reaper.join(2000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        List<Proc> all;
        synchronized (this) {
            all = new ArrayList<>(procs.values());
        }
        for (Proc p : all) {
            if (undeploy) {
                tearDown(p, "control socket stopping");
            } else {
                synchronized (this) {
                    procs.remove(p.pid);
                }
                p.pidfd.close();
            }
        }
    }

    @Override
    public void close() {
        close(true);
    }
}
