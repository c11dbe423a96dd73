package dev.syrup.daemon;

import dev.syrup.api.Availability;
import dev.syrup.api.DeployRequest;
import dev.syrup.api.Deployer;
import dev.syrup.api.Deployment;
import dev.syrup.api.DeploymentStats;
import dev.syrup.api.PolicyTest;
import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
import dev.syrup.api.Target;
import dev.syrup.api.TestResult;
import dev.syrup.api.map.MapEvent;
import dev.syrup.api.map.SyrupMap;
import dev.syrup.daemon.compile.Builtins;
import dev.syrup.daemon.compile.CompileSandbox;
import dev.syrup.daemon.compile.PolicyCompiler;
import dev.syrup.daemon.compile.PolicySource;
import dev.syrup.daemon.compile.PolicyTests;
import dev.syrup.daemon.events.EventingMap;
import dev.syrup.daemon.events.MapEventBus;
import dev.syrup.daemon.metrics.DeploymentMBeans;
import dev.syrup.dispatch.Dispatcher;
import dev.syrup.hook.spi.Hook;
import dev.syrup.hook.spi.HookDeployment;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicLong;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.framework.FrameworkUtil;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.component.annotations.ReferenceCardinality;
import org.osgi.service.component.annotations.ReferencePolicy;
import org.osgi.service.component.annotations.ReferencePolicyOption;
import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.Designate;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;

/**
 * syrupd's deployment manager: compiles, installs, replaces and removes policies, and tracks
 * the {@link Hook} services backends register. When a hook's service goes away (its bundle
 * stops), every deployment made through it is closed first, so nothing stays attached.
 *
 * <p>Deployments outlive syrupd (DESIGN "State and recovery"): each is recorded
 * ({@link DeploymentRecords}) from deploy to undeploy, and when the framework shuts down they
 * are closed keeping their Maps pinned ({@link HookDeployment#closeKeepingMaps}). The next
 * syrupd re-adopts every recorded administrator deployment as its hook appears: the same id,
 * policy, definitions and target, and the Maps with their contents (after a crash too, when
 * nothing was closed). What it cannot re-adopt it removes, saying why: an application's
 * deployment (it lived as long as the application's connection to the previous syrupd), one
 * whose target has no executors any more, and pins no record explains, and tells the hook
 * ({@link Hook#discard}) so that what the previous syrupd left deciding in the kernel stops.
 * After a shutdown the inputs go to the kernel's default until re-adoption; after a crash the
 * policies left in the dispatcher's pinned slots go on deciding ({@code docs/architecture.md}).
 */
@Component(service = Deployer.class, immediate = true, configurationPid = DeploymentManager.PID)
@Designate(ocd = DeploymentManager.Config.class)
public final class DeploymentManager implements Deployer {

    public static final String PID = "dev.syrup.daemon";

    private static final System.Logger LOG = System.getLogger(DeploymentManager.class.getName());

    @ObjectClassDefinition(name = "Syrup daemon", description = "Policy compilation and deployment")
    public @interface Config {
        @AttributeDefinition(description = "clang executable used to compile policies")
        String clang() default "clang";

        @AttributeDefinition(description = "Work directory for compiled policies and headers; empty means <karaf.data>/syrup")
        String workDir() default "";

        @AttributeDefinition(description = "bpffs directory under which deployments pin their objects")
        String bpffsRoot() default "/sys/fs/bpf/syrup";

        @AttributeDefinition(description = "Deployments one tenant (an owner other than the administrator) may have at once")
        int maxTenantDeployments() default 16;

        @AttributeDefinition(description = "Bytes of Map memory one tenant's deployments may declare in total:"
                + " (key + value size) x max entries of every Map their policies declare, checked before a policy is loaded")
        long maxTenantMapBytes() default 64L << 20;

        @AttributeDefinition(description = "Compile sandbox: uid (and gid) clang runs as; best one no other process uses")
        int compileUid() default 65534;

        @AttributeDefinition(description = "Compile sandbox: seconds a compile may take (wall clock) before it is killed")
        int compileSeconds() default 20;

        @AttributeDefinition(description = "Compile sandbox: CPU seconds a compile may use")
        int compileCpuSeconds() default 10;

        @AttributeDefinition(description = "Compile sandbox: address space of clang, in MiB (its libraries take about 230)")
        int compileMemoryMiB() default 512;

        @AttributeDefinition(description = "Compile sandbox: largest object (and file clang may write), in MiB")
        int compileObjectMiB() default 8;

        @AttributeDefinition(description = "Compile sandbox: clang messages kept, in KiB; the rest is dropped")
        int compileOutputKiB() default 64;

        @AttributeDefinition(description = "Compile sandbox: directory under which each compile gets its own;"
                + " every directory above it must be searchable by compileUid")
        String compileDir() default "/run/syrup/compile";

        @AttributeDefinition(description = "Compile sandbox: the bubblewrap executable")
        String bwrap() default "/usr/bin/bwrap";
    }

    private final PolicyCompiler compiler;
    private final Builtins builtins;
    private final Path bpffsRoot;
    /** The bpffs root, checked and held open: pins are removed through it, never by path. */
    private final PinRoot pins;
    /**
     * Directories of the bpffs root that are not owners' (the dispatcher's tree, saved thread
     * states of thread_scheduler), which recovery must not take for leftovers.
     */
    private static final java.util.Set<String> NOT_OWNERS = java.util.Set.of(Dispatcher.PIN_DIR, "threads");
    private final DeploymentRecords records;
    private final AtomicLong ids = new AtomicLong();
    private final int maxTenantDeployments;
    private final long maxTenantMapBytes;

    /** Guarded by {@code this}. */
    private final Map<String, Hook> hooks = new TreeMap<>();
    /** Guarded by {@code this}; insertion order is creation order. */
    private final Map<String, Live> live = new LinkedHashMap<>();
    /**
     * Recorded deployments that will not be re-adopted, dropped before their hook appeared: the
     * hook is told when it does ({@link Hook#discard}). Guarded by {@code this}.
     */
    private final List<DeploymentRecords.Record> discards = new ArrayList<>();
    /** Recorded by a previous syrupd, re-adopted when their hook appears. Guarded by {@code this}. */
    private final Map<String, DeploymentRecords.Record> pending = new LinkedHashMap<>();
    /** Targets ("hook target") a deploy holds while its policy compiles. Guarded by {@code this}. */
    private final Map<String, Reservation> reserved = new HashMap<>();
    /** Owners with a compile running (one each). */
    private final java.util.Set<String> compiling = java.util.concurrent.ConcurrentHashMap.newKeySet();
    /** Set when the manager stops; a compile finishing after it installs nothing. Guarded by {@code this}. */
    private boolean stopped;
    /** One JMX MBean per deployment (decision counters), from deploy to undeploy. */
    private final DeploymentMBeans mbeans = new DeploymentMBeans();

    /** Where changes made through the Maps this hands out are published; null: nowhere. */
    private volatile MapEventBus events;

    @Activate
    public DeploymentManager(Config config) throws IOException {
        Path work = config.workDir().isBlank()
                ? Path.of(System.getProperty("karaf.data", System.getProperty("java.io.tmpdir")), "syrup")
                : Path.of(config.workDir());
        this.compiler = new PolicyCompiler(config.clang(), work, new CompileSandbox(config.bwrap(),
                Path.of(config.compileDir()), config.compileUid(), new CompileSandbox.Limits(config.compileSeconds(),
                config.compileCpuSeconds(), config.compileMemoryMiB(), config.compileObjectMiB(), config.compileOutputKiB())));
        this.builtins = new Builtins(work.resolve("builtins"));
        this.maxTenantDeployments = config.maxTenantDeployments();
        this.maxTenantMapBytes = config.maxTenantMapBytes();
        this.pins = PinRoot.open(Path.of(config.bpffsRoot()));
        this.bpffsRoot = pins.path();
        try {
            this.records = new DeploymentRecords(work.resolve("deployments"));
            recover();
        } catch (RuntimeException e) {
            pins.close();
            throw e;
        }
    }

    /**
     * What a previous syrupd left: its records of administrator deployments wait for their hooks;
     * other records and pins no record explains go. New ids start after every id seen, so a new
     * deployment never meets another's pins.
     */
    private void recover() {
        long last = 0;
        for (DeploymentRecords.Record r : records.load()) {
            last = Math.max(last, DeploymentRecords.number(r.id()));
            if (DeployRequest.ADMIN.equals(r.request().owner())) {
                pending.put(r.id(), r);
            } else {
                drop(r, "it belonged to application " + r.request().owner() + ", whose connection ended with the previous syrupd");
            }
        }
        // Walked by fds: what is not a root-owned directory is removed itself, never followed.
        try {
            for (String owner : pins.owners(NOT_OWNERS)) {
                for (String id : pins.deployments(owner)) {
                    last = Math.max(last, DeploymentRecords.number(id));
                    DeploymentRecords.Record r = pending.get(id);
                    if (r == null || !r.request().owner().equals(owner)) {
                        LOG.log(System.Logger.Level.WARNING, "removing " + bpffsRoot.resolve(owner).resolve(id)
                                + ": pins of a previous syrupd that no record explains");
                        pins.removeDeployment(owner, id);
                    }
                }
                removeEmptyOwnerDir(owner);
            }
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "cannot look for a previous syrupd's pins in " + bpffsRoot + ": " + e.getMessage());
        }
        ids.set(last);
        if (!pending.isEmpty()) {
            LOG.log(System.Logger.Level.INFO, "deployments to re-adopt as their hooks appear: " + String.join(", ",
                    pending.values().stream().map(r -> r.id() + " (" + r.request().policy() + " at " + r.request().hook() + ")").toList()));
        }
    }

    @Reference(service = Hook.class, cardinality = ReferenceCardinality.MULTIPLE,
            policy = ReferencePolicy.DYNAMIC, policyOption = ReferencePolicyOption.GREEDY)
    synchronized void addHook(Hook hook) {
        Hook old = hooks.putIfAbsent(hook.name(), hook);
        if (old != null && old != hook) {
            LOG.log(System.Logger.Level.WARNING, "two hooks named {0}; keeping the first", hook.name());
        } else {
            LOG.log(System.Logger.Level.INFO, "hook {0} appeared ({1})", hook.name(), hook.availability());
            for (DeploymentRecords.Record r : new ArrayList<>(discards)) {
                if (r.request().hook().equals(hook.name())) {
                    discards.remove(r);
                    discard(hook, r);
                }
            }
            readopt(hook);
        }
    }

    /** Re-adopts the recorded deployments at {@code hook}; one that fails is dropped, saying why. */
    private void readopt(Hook hook) {
        for (DeploymentRecords.Record r : new ArrayList<>(pending.values())) {
            if (!r.request().hook().equals(hook.name())) {
                continue;
            }
            pending.remove(r.id());
            try {
                requireAvailable(hook);
                create(r.id(), r.request(), hook, r.created(), r.replaced());
                LOG.log(System.Logger.Level.INFO, "re-adopted " + r.id() + ": " + r.request().policy() + " at " + hook.name()
                        + " " + r.request().target());
            } catch (SyrupException | RuntimeException e) {
                drop(r, "re-adopting it failed: " + e.getMessage());
            }
        }
    }

    /** A recorded deployment that will not run again: its record and its pins go. */
    private void drop(DeploymentRecords.Record r, String why) {
        LOG.log(System.Logger.Level.WARNING, "not re-adopting " + r.id() + " (" + r.request().policy() + " at " + r.request().hook()
                + " " + r.request().target() + "): " + why + "; its record and pinned Maps are removed");
        records.delete(r.id());
        Hook hook = hooks.get(r.request().hook());
        if (hook != null) {
            discard(hook, r);
        } else {
            discards.add(r);
        }
        pins.removeDeployment(r.request().owner(), r.id());
        removeEmptyOwnerDir(r.request().owner());
    }

    /** What a previous syrupd left in the kernel for {@code r} (a dispatcher's claim still deciding) goes. */
    private void discard(Hook hook, DeploymentRecords.Record r) {
        try {
            hook.discard(r.request().target(), bpffsRoot.resolve(r.request().owner()).resolve(r.id()));
        } catch (RuntimeException | LinkageError e) {
            LOG.log(System.Logger.Level.WARNING, "hook " + hook.name() + " could not discard what the previous syrupd left for "
                    + r.id() + ": " + e);
        }
    }

    @Reference(cardinality = ReferenceCardinality.OPTIONAL, policy = ReferencePolicy.DYNAMIC,
            policyOption = ReferencePolicyOption.GREEDY)
    public void setEvents(MapEventBus bus) {
        this.events = bus;
    }

    public void unsetEvents(MapEventBus bus) {
        if (this.events == bus) {
            this.events = null;
        }
    }

    synchronized void removeHook(Hook hook) {
        if (hooks.get(hook.name()) != hook) {
            return;
        }
        boolean restart = frameworkStopping();
        for (Live d : new ArrayList<>(live.values())) {
            if (d.hook == hook) {
                LOG.log(System.Logger.Level.INFO, "hook {0} is going away: {1} deployment {2}", hook.name(),
                        restart ? "closing, for the next syrupd to re-adopt," : "removing", d.id);
                close(d, restart);
            }
        }
        hooks.remove(hook.name());
    }

    @Deactivate
    void deactivate() {
        stop(frameworkStopping());
        pins.close();
    }

    /**
     * Closes every deployment. With {@code restart} (the framework shuts down) their records and
     * pinned Maps stay for the next syrupd to re-adopt; otherwise (this component alone stops)
     * they are removed.
     */
    synchronized void stop(boolean restart) {
        stopped = true;
        for (Live d : new ArrayList<>(live.values())) {
            close(d, restart);
        }
    }

    /** Whether the whole framework is shutting down (Karaf stops), not just this bundle. */
    private static boolean frameworkStopping() {
        Bundle bundle = FrameworkUtil.getBundle(DeploymentManager.class);
        BundleContext ctx = bundle == null ? null : bundle.getBundleContext();
        Bundle system = ctx == null ? null : ctx.getBundle(0);
        return system != null && system.getState() == Bundle.STOPPING;
    }

    @Override
    public synchronized List<Hook> hooks() {
        return List.copyOf(hooks.values());
    }

    @Override
    public List<String> builtins() {
        return Builtins.NAMES;
    }

    /** Where policies find {@code syrup.h}. */
    public Path includeDir() {
        return compiler.includeDir();
    }

    /**
     * Deploys in three steps so that no lock is held while clang runs: under the lock the target
     * is checked and reserved (a new one opened, a replaced one found); the policy compiles
     * without it (one compile per owner at a time); under the lock again, the reservation is
     * checked (not undeployed, the hook still there) and the object installed.
     */
    @Override
    public Deployment deploy(DeployRequest req) throws SyrupException {
        Reservation r;
        synchronized (this) {
            r = reserve(req);
        }
        try {
            Path object = compile(req.owner(), r.source, r.wrapper, r.defines);
            synchronized (this) {
                return r.complete(object).snapshot();
            }
        } finally {
            synchronized (this) {
                r.release();
            }
        }
    }

    /**
     * Compiles for {@code owner}, outside the manager's lock; an owner's second compile while one
     * runs is refused ({@code LIMIT}), so one tenant cannot occupy the machine with compiles.
     */
    private Path compile(String owner, PolicySource source, String wrapper, Map<String, String> defines) throws SyrupException {
        java.util.Optional<Path> hit = compiler.cached(source, wrapper, defines);
        if (hit.isPresent()) {
            return hit.get();
        }
        if (!compiling.add(owner)) {
            throw new SyrupException(Kind.LIMIT, owner + " already has a policy compiling; one compile at a time per"
                    + " application: deploy again when it is done");
        }
        try {
            return compiler.compile(source, wrapper, defines);
        } finally {
            compiling.remove(owner);
        }
    }

    /** Checks {@code req} and reserves its target: the replaced deployment, or a newly opened one. */
    private Reservation reserve(DeployRequest req) throws SyrupException {
        if (stopped) {
            throw new SyrupException(Kind.UNAVAILABLE, "syrupd is stopping");
        }
        if (req.owner().equals(Dispatcher.PIN_DIR)) {
            throw new SyrupException(Kind.INVALID, "'" + Dispatcher.PIN_DIR + "' cannot own deployments: the dispatcher pins there");
        }
        Hook hook = hooks.get(req.hook());
        if (hook == null) {
            throw new SyrupException(Kind.UNKNOWN_HOOK, "no hook '" + req.hook() + "'; installed hooks: "
                    + (hooks.isEmpty() ? "none" : String.join(", ", hooks.keySet())));
        }
        requireAvailable(hook);
        String key = hook.name() + " " + req.target();
        if (reserved.containsKey(key)) {
            throw new SyrupException(Kind.CONFLICT, req.target() + " at " + hook.name() + " is being deployed by another"
                    + " request (its policy is compiling); try again when it is done");
        }
        Live existing = find(hook, req.target());
        if (existing != null) {
            if (!req.replace()) {
                throw new SyrupException(Kind.CONFLICT, req.target() + " at " + hook.name() + " already runs deployment "
                        + existing.id + " (" + existing.policy.name() + "); use --replace to swap its policy");
            }
            if (!existing.owner().equals(req.owner()) && !DeployRequest.ADMIN.equals(req.owner())) {
                throw new SyrupException(Kind.DENIED, existing.id + " belongs to " + existing.owner());
            }
        } else {
            admitDeployment(req.owner());
        }
        Reservation r = existing != null ? new Reservation(existing, req)
                : new Reservation("d" + ids.incrementAndGet(), req, hook, Instant.now(), 0);
        reserved.put(key, r);
        r.key = key;
        return r;
    }

    /** {@code LIMIT} when tenant {@code owner} has as many deployments as it may. Under the lock that creates. */
    private void admitDeployment(String owner) throws SyrupException {
        if (DeployRequest.ADMIN.equals(owner)) {
            return;
        }
        // New deployments still compiling count too.
        long has = live.values().stream().filter(d -> d.owner().equals(owner)).count()
                + reserved.values().stream().filter(r -> r.existing == null && r.req.owner().equals(owner)).count();
        if (has >= maxTenantDeployments) {
            throw new SyrupException(Kind.LIMIT, owner + " has " + has + " deployments, the most a tenant may have"
                    + " (setting maxTenantDeployments of " + PID + "); undeploy one first");
        }
    }

    /**
     * The Map bytes the compiled {@code object} declares; {@code LIMIT} when, with what tenant
     * {@code owner}'s other deployments declare ({@code replacing}'s current policy not counted),
     * it is over the tenant limit. Read from the object, before anything is loaded.
     */
    private long admitMaps(Hook hook, Path object, String owner, Live replacing) throws SyrupException {
        if (DeployRequest.ADMIN.equals(owner)) {
            return 0;
        }
        long bytes = hook.mapBytes(object);
        long others = live.values().stream().filter(d -> d.owner().equals(owner) && d != replacing)
                .mapToLong(d -> d.mapBytes).sum();
        if (bytes > maxTenantMapBytes - Math.min(others, maxTenantMapBytes)) {
            throw new SyrupException(Kind.LIMIT, "the policy declares " + bytes + " bytes of Maps and " + owner
                    + "'s other deployments " + others + "; a tenant may have " + maxTenantMapBytes
                    + " in all (setting maxTenantMapBytes of " + PID + ")");
        }
        return bytes;
    }

    @Override
    public TestResult test(PolicyTest test) throws SyrupException {
        Hook hook;
        synchronized (this) {
            hook = hooks.get(test.hook());
            if (hook == null) {
                throw new SyrupException(Kind.UNKNOWN_HOOK, "no hook '" + test.hook() + "'; installed hooks: "
                        + (hooks.isEmpty() ? "none" : String.join(", ", hooks.keySet())));
            }
        }
        // Compiles and runs: not under the manager's lock, except to check the owner's Map limit as a deploy does.
        return PolicyTests.run(hook, builtins, compiler, test, object -> {
            synchronized (this) {
                admitMaps(hook, object, test.owner(), null);
            }
        });
    }

    private static void requireAvailable(Hook hook) throws SyrupException {
        Availability a = hook.availability();
        if (!a.available()) {
            throw new SyrupException(Kind.UNAVAILABLE, "hook " + hook.name() + " is unavailable: " + a.reason());
        }
    }

    /**
     * A re-adopted deployment {@code id}: open, compile, install, record. Under the lock: it runs
     * as the hook appears, for the administrator's own recorded policies.
     */
    private Live create(String id, DeployRequest req, Hook hook, Instant created, int replaced) throws SyrupException {
        Reservation r = new Reservation(id, req, hook, created, replaced);
        try {
            return r.complete(compiler.compile(r.source, r.wrapper, r.defines));
        } finally {
            r.release();
        }
    }

    /**
     * A deploy between its steps: what it compiles, and the target it holds meanwhile (a new
     * deployment opened but not installed, or the deployment it replaces). Guarded by the
     * manager's lock, except the final fields read while compiling.
     */
    private final class Reservation {
        final DeployRequest req;
        final Hook hook;
        final PolicySource source;
        final String wrapper;
        final Map<String, String> defines;
        /** The deployment replaced, or null for a new one. */
        final Live existing;
        final String id;
        final Instant created;
        final int replaced;
        /** A new deployment's target, opened and not yet installed; null once installed or closed. */
        HookDeployment opened;
        /** The key in {@link #reserved}, or null (re-adoption reserves nothing). */
        String key;

        /** Replaces {@code existing}'s policy. */
        Reservation(Live existing, DeployRequest req) throws SyrupException {
            this.req = req;
            this.hook = existing.hook;
            this.existing = existing;
            this.id = existing.id;
            this.created = existing.created;
            this.replaced = existing.replaced;
            this.source = builtins.resolve(req.policy());
            this.wrapper = hook.wrapper(PolicyCompiler.fileName(source));
            this.defines = defines(req, existing.deployment.executors());
        }

        /** Opens a new deployment {@code id} (claiming the target, adopting its executors). */
        Reservation(String id, DeployRequest req, Hook hook, Instant created, int replaced) throws SyrupException {
            this.req = req;
            this.hook = hook;
            this.existing = null;
            this.id = id;
            this.created = created;
            this.replaced = replaced;
            this.source = builtins.resolve(req.policy());
            this.wrapper = hook.wrapper(PolicyCompiler.fileName(source));
            try {
                this.opened = hook.open(req.target(), dev.syrup.hook.spi.HookContext.of(req.owner(), id,
                        bpffsRoot.resolve(req.owner()).resolve(id), req.executorUid()));
            } catch (SyrupException | RuntimeException e) {
                removeEmptyOwnerDir(req.owner());
                throw e;
            }
            this.defines = defines(req, opened.executors());
        }

        /** Installs {@code object} if the target is still this deploy's; make-before-break for a replace. */
        Live complete(Path object) throws SyrupException {
            if (stopped || hooks.get(hook.name()) != hook) {
                throw new SyrupException(Kind.UNAVAILABLE, "hook " + hook.name() + " went away while the policy compiled;"
                        + " nothing was deployed");
            }
            if (existing != null) {
                if (live.get(id) != existing) {
                    throw new SyrupException(Kind.CONFLICT, "deployment " + id + " was undeployed while its new policy"
                            + " compiled; nothing was deployed");
                }
                long bytes = admitMaps(hook, object, req.owner(), existing);
                existing.deployment.install(object); // on failure the old policy runs on
                existing.mapBytes = bytes;
                existing.policy = source;
                existing.request = req;
                existing.replaced++;
                record(existing);
                return existing;
            }
            long bytes = admitMaps(hook, object, req.owner(), null);
            opened.install(object);
            Live d = new Live(id, hook, opened, source, req, created);
            opened = null;
            d.replaced = replaced;
            d.mapBytes = bytes;
            live.put(id, d);
            mbeans.register(d.snapshot(), DeploymentManager.this);
            record(d);
            return d;
        }

        /** Frees the target: a new deployment that was not installed is closed. */
        void release() {
            if (key != null) {
                reserved.remove(key);
                key = null;
            }
            if (opened != null) {
                try {
                    opened.close();
                } catch (RuntimeException | LinkageError e) {
                    LOG.log(System.Logger.Level.ERROR, "closing the unfinished deployment " + id + " failed", e);
                }
                opened = null;
                removeEmptyOwnerDir(req.owner());
            }
        }
    }

    /** Saves how {@code d} was made, for the next syrupd; a failure costs only that. */
    private void record(Live d) {
        DeployRequest q = d.request;
        // A file is recorded by its absolute path: the next syrupd may run in another directory.
        String policy = d.policy.builtin() ? d.policy.name() : d.policy.file().toString();
        try {
            records.save(new DeploymentRecords.Record(d.id, new DeployRequest(policy, q.hook(), q.target(), q.defines(), false,
                    q.owner()), d.created, d.replaced));
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "deployment " + d.id + " runs, but will not be re-adopted after a restart:"
                    + " cannot record it in " + records.dir() + ": " + e.getMessage());
        }
    }

    @Override
    public synchronized void undeploy(String id) throws SyrupException {
        DeploymentRecords.Record waiting = live.containsKey(id) ? null : pending.remove(id);
        if (waiting != null) {
            drop(waiting, "undeployed before its hook " + waiting.request().hook() + " appeared");
            return;
        }
        remove(get(id));
    }

    @Override
    public synchronized void registerExecutor(String id, int index, long pid, int fd) throws SyrupException {
        get(id).deployment.registerExecutor(index, pid, fd);
    }

    @Override
    public int registerThread(String id, long pid, int uid, int tid) throws SyrupException {
        HookDeployment hd;
        synchronized (this) {
            hd = get(id).deployment;
        }
        return hd.registerThread(pid, uid, tid); // /proc reads and syscalls: not under the manager's lock
    }

    @Override
    public synchronized List<Deployment> list() {
        return live.values().stream().map(Live::snapshot).toList();
    }

    @Override
    public DeploymentStats stats(String id) throws SyrupException {
        HookDeployment hd;
        synchronized (this) {
            hd = get(id).deployment;
        }
        return hd.stats(); // a kernel read: not under the manager's lock
    }

    @Override
    public synchronized java.util.Optional<dev.syrup.api.KernelProgram> program(String id) throws SyrupException {
        return get(id).deployment.program();
    }

    @Override
    public synchronized List<SyrupMap> maps(String id) throws SyrupException {
        return get(id).deployment.maps().stream().map(m -> eventing(id, m, MapEvent.Origin.API)).toList();
    }

    @Override
    public SyrupMap map(String id, String name) throws SyrupException {
        return map(id, name, MapEvent.Origin.API);
    }

    @Override
    public synchronized SyrupMap map(String id, String name, MapEvent.Origin origin) throws SyrupException {
        List<SyrupMap> maps = get(id).deployment.maps();
        return maps.stream().filter(m -> m.name().equals(name)).findFirst().map(m -> eventing(id, m, origin))
                .orElseThrow(() -> new SyrupException(Kind.NOT_FOUND, "deployment " + id + " has no map '" + name
                        + "'; its maps: " + (maps.isEmpty() ? "none"
                        : String.join(", ", maps.stream().map(SyrupMap::name).toList()))));
    }

    /** The Map, publishing its changes with this origin when an event bus is there. */
    private SyrupMap eventing(String id, SyrupMap map, MapEvent.Origin origin) {
        return new EventingMap(map, id, origin, () -> events);
    }

    /** The hook's own deployment {@code id}, for tests of a hook through the manager. */
    synchronized HookDeployment hookDeployment(String id) throws SyrupException {
        return get(id).deployment;
    }

    private Live get(String id) throws SyrupException {
        Live d = live.get(id);
        if (d == null) {
            throw new SyrupException(Kind.NOT_FOUND, "no deployment '" + id + "'"
                    + (live.isEmpty() ? "; nothing is deployed" : "; deployed: " + String.join(", ", live.keySet())));
        }
        return d;
    }

    private Live find(Hook hook, Target target) {
        return live.values().stream()
                .filter(d -> d.hook == hook && d.deployment.target().equals(target))
                .findFirst().orElse(null);
    }

    private void remove(Live d) {
        close(d, false);
    }

    /** Closes {@code d}; with {@code keep} its record and pinned Maps stay for the next syrupd. */
    private void close(Live d, boolean keep) {
        live.remove(d.id);
        mbeans.unregister(d.id);
        try {
            if (keep) {
                d.deployment.closeKeepingMaps();
            } else {
                d.deployment.close();
            }
        } catch (RuntimeException | LinkageError e) {
            // A backend going away may fail half-way; the deployment is dropped either way.
            LOG.log(System.Logger.Level.ERROR, "closing deployment " + d.id + " failed", e);
        }
        if (!keep) {
            records.delete(d.id);
            removeEmptyOwnerDir(d.owner());
        }
    }

    private void removeEmptyOwnerDir(String owner) {
        pins.removeOwnerIfEmpty(owner); // other deployments of this owner may still pin objects there
    }

    /** The user's defines plus NUM_EXECUTORS, unless the user set it. */
    private static Map<String, String> defines(DeployRequest req, int executors) {
        Map<String, String> d = new HashMap<>(req.defines());
        d.putIfAbsent("NUM_EXECUTORS", Integer.toString(executors));
        return d;
    }

    /** A deployment and what it was made from. */
    private static final class Live {
        final String id;
        final Hook hook;
        final HookDeployment deployment;
        final Instant created;
        PolicySource policy;
        DeployRequest request;
        int replaced;
        /** What the running policy's Maps declare ({@link Hook#mapBytes}); 0 for the administrator's. */
        long mapBytes;

        Live(String id, Hook hook, HookDeployment deployment, PolicySource policy, DeployRequest request, Instant created) {
            this.id = id;
            this.hook = hook;
            this.deployment = deployment;
            this.policy = policy;
            this.request = request;
            this.created = created;
        }

        String owner() {
            return request.owner();
        }

        Deployment snapshot() {
            return new Deployment(id, policy.name(), hook.name(), deployment.target(), owner(),
                    deployment.executors(), created, replaced);
        }
    }
}
