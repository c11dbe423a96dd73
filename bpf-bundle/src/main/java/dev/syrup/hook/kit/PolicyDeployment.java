package dev.syrup.hook.kit;

import dev.syrup.api.DeploymentStats;
import dev.syrup.api.KernelProgram;
import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
import dev.syrup.api.Target;
import dev.syrup.api.map.SyrupMap;
import dev.syrup.bpf.BpfException;
import dev.syrup.bpf.BpfMap;
import dev.syrup.bpf.BpfObject;
import dev.syrup.bpf.BpfProgram;
import dev.syrup.bpf.Fd;
import dev.syrup.bpf.ProgramRules;
import dev.syrup.hook.spi.HookDeployment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Optional;
import java.util.Set;
import org.osgi.annotation.versioning.ConsumerType;

/**
 * A BPF hook's deployment, all but the hook's own step: a subclass says how a loaded policy is
 * made the one that runs ({@link #swap}) and how it is taken out again ({@link #detach}); the
 * rest is here, the same at every hook.
 *
 * <p>{@link #install} is make-before-break: open the object under the hook's
 * {@link ProgramRules}; hand it the hook's own maps (the executor map, the decision counters:
 * every map {@code rules.ownMaps()} names), the Maps its pin dir holds from a previous syrupd
 * (first install only) and those the owner's other deployments have ({@link MapRegistry});
 * load; {@link #swap}; then retire the previous version, pin the new one's Maps and commit them
 * to the registry. A failure before the swap closes the new object and changes nothing.
 *
 * <p>The hook's own maps are given to the constructor; one the hook does not create itself
 * (declared by the glue, e.g. a map that must live where the program runs, such as NIC memory)
 * is the first version's, kept by a duplicate fd and given to every later version. They are
 * never shared or pinned as the policy's. The decision counters are the own map
 * {@link DecisionStats#MAP}; {@link #stats()} reads it when the hook counts
 * ({@code maxExecutors > 0}).
 *
 * <p>{@link #close()} and {@link #closeKeepingMaps()}: {@link #detach}, then the own maps are
 * unpinned and closed, the running version retired and the pin dir removed (or, keeping Maps,
 * left with the policy's Maps for the next syrupd).
 *
 * <p>Every method of a subclass called from here runs under the deployment's lock ({@code this}).
 */
@ConsumerType
public abstract class PolicyDeployment implements HookDeployment {

    private static final System.Logger LOG = System.getLogger(PolicyDeployment.class.getName());

    private final Target target;
    private final MapRegistry registry;
    private final DeploymentDir pinDir;
    private final ProgramRules rules;
    private final String program;
    private final int maxExecutors;
    private final Set<String> internal;
    /** The hook's own maps by ELF name. Guarded by {@code this}. */
    private final Map<String, BpfMap> own = new LinkedHashMap<>();
    private BpfObject running;
    private List<SyrupMap> maps = List.of();
    private boolean closed;

    /**
     * @param rules        what a policy's object may be here; its own maps are the hook's
     * @param program      the glue's program that {@link #swap} makes run
     * @param maxExecutors the executor slots of the glue's decision counters
     *                     ({@link DecisionStats#declare}); 0 when the glue does not count
     * @param own          the hook's own maps it made for this deployment, by the name the glue
     *                     declares them under; owned from now on (closed with the deployment)
     */
    protected PolicyDeployment(Target target, MapRegistry registry, DeploymentDir pinDir, ProgramRules rules,
                               String program, int maxExecutors, Map<String, BpfMap> own) {
        this.target = target;
        this.registry = registry;
        this.pinDir = pinDir;
        this.rules = rules;
        this.program = program;
        this.maxExecutors = maxExecutors;
        this.internal = Set.copyOf(rules.ownMaps().keySet());
        for (Map.Entry<String, BpfMap> e : own.entrySet()) {
            if (!internal.contains(e.getKey())) {
                throw new IllegalArgumentException("map '" + e.getKey() + "' is not one of the hook's own maps in "
                        + rules.scope() + "'s rules " + internal);
            }
            this.own.put(e.getKey(), e.getValue());
        }
    }

    /**
     * Makes {@code next} (loaded, its own maps and Maps in place) the policy that runs:
     * attach it, or swap it in for {@code previous} in one step. Fills the executors it needs
     * first. Throwing leaves {@code previous} running; {@code next} is then closed.
     *
     * @param previous the version running now, null at the first install
     */
    protected abstract void swap(BpfObject next, BpfProgram program, BpfObject previous) throws SyrupException;

    /**
     * The end, before any kernel object goes: take the running policy out of the datapath (the
     * layer's default decides again) and let go of what the hook holds besides its maps
     * (claims, links). Must not throw.
     */
    protected abstract void detach();

    /** Before anything of {@code next} is reused or loaded: the hook's own check of the object file. */
    protected void check(Path object) throws SyrupException {
    }

    /** After {@code next} is opened, before its maps are given: e.g. bind it to a device. */
    protected void prepare(BpfObject next) throws SyrupException {
    }

    /** A load or swap failure as users see it; by default the verifier's reason or the kernel's error. */
    protected SyrupException failed(RuntimeException e) {
        return PolicyObjects.installFailed(e, target);
    }

    /** More of the deployment's maps to show besides the policy's own (e.g. a hook's counter). */
    protected List<SyrupMap> hookMaps() {
        return List.of();
    }

    /** How many executor entries {@link #stats()} reports (decisions past them still show). */
    protected int countedExecutors() {
        return executors();
    }

    /** How messages name this deployment. */
    protected String describe() {
        return "deployment on " + target;
    }

    @Override
    public Target target() {
        return target;
    }

    /** The deployment's pin dir. */
    protected final DeploymentDir pinDir() {
        return pinDir;
    }

    /** One of the hook's own maps: given, or kept from the first version; empty before that. */
    protected final synchronized Optional<BpfMap> own(String name) {
        return Optional.ofNullable(own.get(name));
    }

    /** The version that runs, null before the first install and after close. */
    protected final synchronized BpfObject running() {
        return running;
    }

    protected final synchronized boolean isClosed() {
        return closed;
    }

    /** Throws when closed: for the subclass's own operations. */
    protected final synchronized void requireOpen() {
        if (closed) {
            throw new IllegalStateException(describe() + " is closed");
        }
    }

    @Override
    public final synchronized void install(Path object) throws SyrupException {
        requireOpen();
        check(object);
        BpfObject next = null;
        try {
            next = PolicyObjects.open(object, rules);
            prepare(next);
            for (Map.Entry<String, BpfMap> e : own.entrySet()) {
                next.reuseMap(e.getKey(), e.getValue());
            }
            PolicyObjects.reuseMaps(registry, next, pinDir, internal, running == null);
            next.load();
            swap(next, next.program(program), running);
        } catch (SyrupException e) {
            PolicyObjects.closeQuietly(next);
            throw e;
        } catch (BpfException | IllegalStateException | NoSuchElementException e) {
            PolicyObjects.closeQuietly(next);
            throw failed(e);
        }
        keepOwn(next);
        if (running != null) {
            PolicyObjects.retire(running, internal);
        }
        running = next;
        List<SyrupMap> shown = new ArrayList<>(PolicyObjects.pinPolicyMaps(next, pinDir, internal));
        shown.addAll(hookMaps());
        maps = List.copyOf(shown);
        registry.commit(next, pinDir.path(), internal);
    }

    /** The own maps the hook did not give are the first version's: kept (a duplicate fd) for every later one. */
    private void keepOwn(BpfObject obj) {
        for (String name : internal) {
            if (own.containsKey(name)) {
                continue;
            }
            try {
                own.put(name, BpfMap.adopt(Fd.adopt(obj.map(name).duplicateFd())));
            } catch (NoSuchElementException e) {
                // the glue does not declare it
            } catch (BpfException e) {
                LOG.log(System.Logger.Level.WARNING, "cannot keep map '" + name + "' of " + describe()
                        + " for the next version (it starts from an empty one): " + e.getMessage());
            }
        }
    }

    @Override
    public synchronized Optional<KernelProgram> program() {
        return running == null ? Optional.empty() : Optional.of(PolicyObjects.kernelProgram(running.program(program)));
    }

    @Override
    public synchronized List<SyrupMap> maps() {
        return maps;
    }

    @Override
    public DeploymentStats stats() throws SyrupException {
        BpfMap counters;
        int n;
        synchronized (this) {
            if (closed) {
                throw new SyrupException(Kind.NOT_FOUND, describe() + " is closed");
            }
            counters = maxExecutors > 0 ? own.get(DecisionStats.MAP) : null;
            if (counters == null) {
                throw new SyrupException(Kind.UNAVAILABLE, maxExecutors > 0 ? describe() + " has no decision counters"
                        + " until its first install" : "this hook keeps no decision counters");
            }
            n = countedExecutors();
        }
        // Not under the lock: a read is ~130 lookups and must not hold up an install. The map
        // stays open until close(), and a read racing close() fails with KERNEL, not worse.
        return DecisionStats.read(counters, maxExecutors, n);
    }

    @Override
    public final void close() {
        end(false);
    }

    @Override
    public final void closeKeepingMaps() {
        end(true);
    }

    private synchronized void end(boolean keepMaps) {
        if (closed) {
            return;
        }
        closed = true;
        try {
            detach();
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "detaching " + describe() + ": " + e.getMessage());
        }
        BpfObject last = running;
        running = null;
        // The hook's own pins go before the pin dir does (nothing of the hook's is kept for the
        // next syrupd after a close); closing them waits until the policy's object is gone.
        for (BpfMap m : own.values()) {
            try {
                m.unpin();
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.WARNING, "unpin " + m.name() + ": " + e.getMessage());
            }
        }
        PolicyObjects.end(registry, last, pinDir, internal, keepMaps);
        own.values().forEach(BpfMap::close);
        own.clear();
        maps = List.of();
    }
}
