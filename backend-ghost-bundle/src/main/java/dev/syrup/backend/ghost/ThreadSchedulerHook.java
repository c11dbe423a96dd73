package dev.syrup.backend.ghost;

import dev.syrup.api.Availability;
import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
import dev.syrup.api.Target;
import dev.syrup.api.map.MapEvent;
import dev.syrup.bpf.KernelSupport;
import dev.syrup.hook.kit.MapRegistry;
import dev.syrup.hook.kit.SharedMaps;
import dev.syrup.hook.spi.Executor;
import dev.syrup.hook.spi.Hook;
import dev.syrup.hook.spi.HookContext;
import dev.syrup.hook.spi.HookDeployment;
import dev.syrup.hook.spi.Input;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CopyOnWriteArraySet;
import java.util.concurrent.TimeUnit;
import org.osgi.framework.BundleContext;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.Designate;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;

/**
 * Hook {@code thread_scheduler} (paper §4.1, Figure 4 "Thread Scheduler: Thread → Core"): the
 * threads an application registers are the inputs, the configured cores the executors. The
 * policy runs verified ({@link ThreadGlue}); an engine enforces its decisions:
 * <ul>
 * <li>{@code linux} (stock kernels): the scheduler tracepoints' events feed the policy, the agent applies each
 *     decision with sched_setaffinity / sched_setscheduler ({@link ThreadDeployment});
 * <li>{@code ghost}: the ghOSt ABI ({@link Ghost}): an agent schedules the enclave of the
 *     cores, deciding with the policy ({@link GhostDeployment}); unavailable on a kernel without ghOSt.
 * </ul>
 * {@code engine=auto} takes ghOSt when the kernel has it, else Linux. The target's port only
 * names the deployment (one thread deployment per owner and port; the threads are registered).
 */
@Component(service = Hook.class, property = Hook.NAME_PROPERTY + "=" + ThreadSchedulerHook.NAME,
        configurationPid = ThreadSchedulerHook.PID)
@Designate(ocd = ThreadSchedulerHook.Config.class)
public final class ThreadSchedulerHook implements Hook {

    public static final String NAME = "thread_scheduler";
    public static final String PID = "dev.syrup.hook.thread_scheduler";
    static final Path TRACEFS = Path.of("/sys/kernel/tracing");
    static final Path DEFAULT_ROOT = Path.of("/sys/fs/bpf/syrup");

    @ObjectClassDefinition(name = "Syrup thread_scheduler hook")
    public @interface Config {
        @AttributeDefinition(description = "Executor cores, in index order: \"0,1\", \"2-5,7\"; empty = every online CPU")
        String cores() default "";

        @AttributeDefinition(description = "auto (ghOSt when the kernel has it, else linux), linux or ghost")
        String engine() default "auto";

        @AttributeDefinition(description = "SCHED_FIFO priority of the threads the policy runs now (1-99)")
        int fifoPriority() default 1;

        @AttributeDefinition(description = "Restore every thread when the agent has not run for this long (ms, at most 90)")
        int watchdogMs() default 50;

        @AttributeDefinition(description = "How often the agent looks at decisions and per-thread Maps (µs)")
        int pollMicros() default 200;

        @AttributeDefinition(description = "Threads one deployment can register")
        int maxThreads() default 256;
    }

    /** What the hook runs with. */
    public record Settings(List<Integer> cores, String engine, int fifoPriority, int watchdogMs, int pollMicros, int maxThreads) {
        public Settings {
            cores = List.copyOf(cores);
            if (fifoPriority < 1 || fifoPriority > 99) {
                throw new IllegalArgumentException("fifoPriority must be 1..99: " + fifoPriority);
            }
            if (watchdogMs < 5 || watchdogMs > 90) {
                throw new IllegalArgumentException("watchdogMs must be 5..90 (threads come back within 100 ms): " + watchdogMs);
            }
            if (pollMicros < 10 || pollMicros > 10_000) {
                throw new IllegalArgumentException("pollMicros must be 10..10000: " + pollMicros);
            }
            if (maxThreads < 1 || maxThreads > 4096) {
                throw new IllegalArgumentException("maxThreads must be 1..4096: " + maxThreads);
            }
            if (!Set.of("auto", "linux", "ghost").contains(engine)) {
                throw new IllegalArgumentException("engine '" + engine + "': expected auto, linux or ghost");
            }
        }

        public static Settings defaults() {
            return new Settings(List.of(), "auto", 1, 50, 200, 256);
        }

        public Settings withCores(List<Integer> c) {
            return new Settings(c, engine, fifoPriority, watchdogMs, pollMicros, maxThreads);
        }

        public Settings withEngine(String e) {
            return new Settings(cores, e, fifoPriority, watchdogMs, pollMicros, maxThreads);
        }

        public Settings withWatchdogMs(int ms) {
            return new Settings(cores, engine, fifoPriority, ms, pollMicros, maxThreads);
        }
    }

    /** Where the ghOSt engine's kernel side comes from: ghostfs in production ({@link #GHOSTFS}). */
    interface GhostEngine {
        /** Why there is no ghOSt to run on, empty when there is. */
        Optional<String> missing();

        /** A new enclave's kernel side; {@code UnsupportedOperationException} with the reason when there is none. */
        GhostKernel open();
    }

    /** The kernel's ghostfs ({@link Ghostfs}). */
    static final GhostEngine GHOSTFS = new GhostEngine() {
        @Override
        public Optional<String> missing() {
            return Ghost.missing();
        }

        @Override
        public GhostKernel open() {
            return Ghostfs.open();
        }
    };

    private final Settings settings;
    private final MapRegistry registry;
    private final GhostEngine ghost;
    private final List<Integer> cores;
    private final String configError;
    private final Set<ThreadSchedulerDeployment> open = new CopyOnWriteArraySet<>();

    /**
     * Under OSGi: a configuration it cannot use makes the hook unavailable with the reason; threads
     * a crashed syrupd left scheduled under the default bpffs root go back at once.
     */
    /**
     * @param registry the owners' shared Maps (backend-ebpf's service): a thread policy's Map is
     *                 shared with the owner's deployments at other hooks, in either order
     */
    @Activate
    public ThreadSchedulerHook(Config c, BundleContext context, @Reference MapRegistry registry) {
        this(c, registry);
        SavedThreads.recover(SavedThreads.dirOf(DEFAULT_ROOT.resolve("o").resolve("d")), Set.of());
    }

    /** Outside OSGi: Maps are shared through {@link SharedMaps#standalone()}. */
    ThreadSchedulerHook(Config c) {
        this(c, SharedMaps.standalone());
    }

    private ThreadSchedulerHook(Config c, MapRegistry registry) {
        this.registry = java.util.Objects.requireNonNull(registry, "registry");
        this.ghost = GHOSTFS;
        Settings s;
        String err = null;
        try {
            s = new Settings(parseCores(c.cores()), c.engine().trim().toLowerCase(Locale.ROOT), c.fifoPriority(),
                    c.watchdogMs(), c.pollMicros(), c.maxThreads());
        } catch (IllegalArgumentException e) {
            s = Settings.defaults();
            err = "bad configuration " + PID + ": " + e.getMessage();
        }
        this.settings = s;
        this.cores = s.cores().isEmpty() ? onlineCpus() : s.cores();
        this.configError = err;
    }

    /** Outside OSGi: Maps are shared through {@link SharedMaps#standalone()}. */
    public ThreadSchedulerHook(Settings s) {
        this(s, SharedMaps.standalone());
    }

    public ThreadSchedulerHook(Settings s, MapRegistry registry) {
        this(s, registry, GHOSTFS);
    }

    /** With the ghOSt engine's kernel side from {@code ghost} (tests: an in-memory stand-in). */
    ThreadSchedulerHook(Settings s, MapRegistry registry, GhostEngine ghost) {
        this.registry = java.util.Objects.requireNonNull(registry, "registry");
        this.ghost = java.util.Objects.requireNonNull(ghost, "ghost");
        this.settings = s;
        this.cores = s.cores().isEmpty() ? onlineCpus() : s.cores();
        this.configError = null;
    }

    /** Bundle stop: every deployment's threads go back as they were (DS deactivates after the daemon let go). */
    @Deactivate
    void deactivate() {
        for (ThreadSchedulerDeployment d : open) {
            d.close();
        }
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public Input input() {
        return Input.THREAD;
    }

    @Override
    public Executor executor() {
        return Executor.CORE;
    }

    public List<Integer> cores() {
        return cores;
    }

    public Settings settings() {
        return settings;
    }

    /**
     * Available when one engine can run; the reason names the engine chosen and why the other
     * is not (shown by {@code syrup:hooks}).
     */
    @Override
    public Availability availability() {
        if (configError != null) {
            return Availability.no(configError);
        }
        Optional<String> ghost = ghostMissing();
        if (settings.engine().equals("ghost") || (settings.engine().equals("auto") && ghost.isEmpty())) {
            return ghost.map(Availability::no).orElse(new Availability(true, "engine ghost"));
        }
        Optional<String> linux = linuxMissing();
        if (linux.isPresent()) {
            return Availability.no("linux engine: " + linux.get() + (ghost.isPresent() ? "; " + ghost.get() : ""));
        }
        return new Availability(true, "engine linux" + ghost.map(g -> "; " + g).orElse(""));
    }

    /** Why the ghOSt engine cannot run here (no ghOSt, or no bpf() for its verified policy), empty when it can. */
    private Optional<String> ghostMissing() {
        Optional<String> g = ghost.missing();
        if (g.isPresent()) {
            return g;
        }
        return KernelSupport.missing().map(m -> "ghOSt engine: its policy needs bpf(): " + m);
    }

    /** Which engine a deployment opened now gets: ghost when configured, or auto with ghOSt present. */
    private boolean ghostEngine() {
        return settings.engine().equals("ghost") || (settings.engine().equals("auto") && ghostMissing().isEmpty());
    }

    /** Why the stock Linux engine cannot run here, empty when it can. */
    static Optional<String> linuxMissing() {
        Optional<String> bpf = KernelSupport.missing();
        if (bpf.isPresent()) {
            return bpf;
        }
        try {
            String rt = Files.readString(Path.of("/proc/sys/kernel/sched_rt_runtime_us")).trim();
            if (rt.equals("-1")) {
                return Optional.of("RT throttling is disabled (kernel.sched_rt_runtime_us = -1): SCHED_FIFO threads could"
                        + " starve the machine, so the engine refuses to run");
            }
        } catch (IOException e) {
            return Optional.of("cannot read /proc/sys/kernel/sched_rt_runtime_us: " + e.getMessage());
        }
        try {
            tracepointId("sched_switch");
        } catch (SyrupException e) {
            return Optional.of(e.getMessage());
        }
        return Optional.empty();
    }

    @Override
    public String wrapper(String policyInclude) {
        return ThreadGlue.wrapper(policyInclude, settings.maxThreads());
    }

    @Override
    public HookDeployment open(Target target, HookContext context) throws SyrupException {
        Path pinDir = context.pinDir();
        Availability a = availability();
        if (!a.available()) {
            throw new SyrupException(Kind.UNAVAILABLE, "thread_scheduler: " + a.reason());
        }
        GhostKernel kernel = null;
        if (ghostEngine()) {
            try {
                kernel = ghost.open();
            } catch (UnsupportedOperationException e) {
                throw new SyrupException(Kind.UNAVAILABLE, "thread_scheduler: " + e.getMessage());
            } catch (IllegalStateException e) {
                throw new SyrupException(Kind.KERNEL, "thread_scheduler: " + e.getMessage(), e);
            }
        }
        // This deployment re-adopted after a restart: the threads it had, to register again.
        List<SavedThreads.Entry> again = SavedThreads.take(pinDir);
        // Deployments a previous syrupd left behind (a crash, or waiting for re-adoption): their threads first.
        SavedThreads.recover(SavedThreads.dirOf(pinDir), open.stream().map(ThreadSchedulerDeployment::savedPin)
                .collect(java.util.stream.Collectors.toSet()));
        ThreadSchedulerDeployment d = kernel != null
                ? new GhostDeployment(target, pinDir, cores, settings, registry, kernel, open::remove)
                : new ThreadDeployment(target, pinDir, cores, settings, registry, open::remove);
        open.add(d);
        d.readopt(again);
        return d;
    }

    /** A deployment that will not be re-adopted: the threads it had registered go back as registered, its saved states go. */
    @Override
    public void discard(Target target, Path pinDir) {
        SavedThreads.discard(pinDir);
    }

    /**
     * A Map event of syrupd (routed by Camel, {@link ThreadMapEvents}): every open deployment that
     * reads that Map re-decides the thread registered at the event's key. A deployment reads it
     * when the event is of its own Map, or of a Map of another deployment of the same owner that
     * it shares (one kernel map behind both: the {@link MapRegistry} lists both as its users).
     *
     * @return how many deployments re-decided a thread
     */
    public int mapChanged(MapEvent event) {
        int n = 0;
        for (ThreadSchedulerDeployment d : open) {
            boolean reads = d.id().equals(event.deployment()) || registry.users(d.ownerDir(), event.map()).stream()
                    .anyMatch(p -> p.getFileName() != null && p.getFileName().toString().equals(event.deployment()));
            if (reads && d.mapChanged(event.map(), event.key())) {
                n++;
            }
        }
        return n;
    }

    /**
     * The id of tracepoint sched/{@code name} in tracefs, mounting tracefs at
     * {@code /sys/kernel/tracing} when nothing is mounted there (as bpffs is mounted for Syrup).
     */
    static int tracepointId(String name) throws SyrupException {
        Path id = TRACEFS.resolve("events/sched/" + name + "/id");
        if (!Files.exists(id) && !Files.exists(TRACEFS.resolve("events"))) {
            try {
                Process p = new ProcessBuilder("mount", "-t", "tracefs", "nodev", TRACEFS.toString())
                        .redirectErrorStream(true).start();
                p.waitFor(10, TimeUnit.SECONDS);
            } catch (IOException e) {
                // reported below
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        try {
            return Integer.parseInt(Files.readString(id).trim());
        } catch (IOException | NumberFormatException e) {
            throw new SyrupException(Kind.UNAVAILABLE, "no tracepoint sched/" + name + " (tracefs not mounted at " + TRACEFS
                    + " and mounting it failed): " + e.getMessage());
        }
    }

    /** "0,1", "2-5,7" → [0, 1], [2, 3, 4, 5, 7]; order kept, duplicates refused. */
    public static List<Integer> parseCores(String spec) {
        List<Integer> out = new ArrayList<>();
        if (spec == null || spec.isBlank()) {
            return out;
        }
        for (String part : spec.split(",")) {
            String p = part.trim();
            if (p.isEmpty()) {
                continue;
            }
            int dash = p.indexOf('-');
            int from = Integer.parseInt(dash < 0 ? p : p.substring(0, dash).trim());
            int to = dash < 0 ? from : Integer.parseInt(p.substring(dash + 1).trim());
            if (from < 0 || to < from || to > 1023) {
                throw new IllegalArgumentException("bad core range '" + p + "' in \"" + spec + "\"");
            }
            for (int c = from; c <= to; c++) {
                if (out.contains(c)) {
                    throw new IllegalArgumentException("core " + c + " listed twice in \"" + spec + "\"");
                }
                out.add(c);
            }
        }
        return out;
    }

    static List<Integer> onlineCpus() {
        try {
            return List.copyOf(new TreeSet<>(parseCores(Files.readString(Path.of("/sys/devices/system/cpu/online")).trim())));
        } catch (IOException | IllegalArgumentException e) {
            return List.of(0);
        }
    }
}
