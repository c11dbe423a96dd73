package dev.syrup.daemon;

import dev.syrup.api.Availability;
import dev.syrup.api.DeployRequest;
import dev.syrup.api.Deployer;
import dev.syrup.api.Deployment;
import dev.syrup.api.DeploymentStats;
import dev.syrup.api.Hook;
import dev.syrup.api.HookDeployment;
import dev.syrup.api.SyrupException;
import dev.syrup.api.SyrupException.Kind;
import dev.syrup.api.Target;
import dev.syrup.api.map.MapEvent;
import dev.syrup.api.map.SyrupMap;
import dev.syrup.daemon.compile.Builtins;
import dev.syrup.daemon.compile.PolicyCompiler;
import dev.syrup.daemon.compile.PolicySource;
import dev.syrup.daemon.metrics.DeploymentMBeans;
import dev.syrup.daemon.events.EventingMap;
import dev.syrup.daemon.events.MapEventBus;
import java.io.IOException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicLong;
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
    }

    private final PolicyCompiler compiler;
    private final Builtins builtins;
    private final Path bpffsRoot;
    private final AtomicLong ids = new AtomicLong();

    /** Guarded by {@code this}. */
    private final Map<String, Hook> hooks = new TreeMap<>();
    /** Guarded by {@code this}; insertion order is creation order. */
    private final Map<String, Live> live = new LinkedHashMap<>();
    /** One JMX MBean per deployment (decision counters), from deploy to undeploy. */
    private final DeploymentMBeans mbeans = new DeploymentMBeans();

    /** Where changes made through the Maps this hands out are published; null: nowhere. */
    private volatile MapEventBus events;

    @Activate
    public DeploymentManager(Config config) throws IOException {
        Path work = config.workDir().isBlank()
                ? Path.of(System.getProperty("karaf.data", System.getProperty("java.io.tmpdir")), "syrup")
                : Path.of(config.workDir());
        this.compiler = new PolicyCompiler(config.clang(), work);
        this.builtins = new Builtins(work.resolve("builtins"));
        this.bpffsRoot = Path.of(config.bpffsRoot());
    }

    @Reference(service = Hook.class, cardinality = ReferenceCardinality.MULTIPLE,
            policy = ReferencePolicy.DYNAMIC, policyOption = ReferencePolicyOption.GREEDY)
    synchronized void addHook(Hook hook) {
        Hook old = hooks.putIfAbsent(hook.name(), hook);
        if (old != null && old != hook) {
            LOG.log(System.Logger.Level.WARNING, "two hooks named {0}; keeping the first", hook.name());
        } else {
            LOG.log(System.Logger.Level.INFO, "hook {0} appeared ({1})", hook.name(), hook.availability());
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
        for (Live d : new ArrayList<>(live.values())) {
            if (d.hook == hook) {
                LOG.log(System.Logger.Level.INFO, "hook {0} is going away: removing deployment {1}", hook.name(), d.id);
                remove(d);
            }
        }
        hooks.remove(hook.name());
    }

    @Deactivate
    synchronized void deactivate() {
        for (Live d : new ArrayList<>(live.values())) {
            remove(d);
        }
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

    @Override
    public synchronized Deployment deploy(DeployRequest req) throws SyrupException {
        Hook hook = hooks.get(req.hook());
        if (hook == null) {
            throw new SyrupException(Kind.UNKNOWN_HOOK, "no hook '" + req.hook() + "'; installed hooks: "
                    + (hooks.isEmpty() ? "none" : String.join(", ", hooks.keySet())));
        }
        Availability a = hook.availability();
        if (!a.available()) {
            throw new SyrupException(Kind.UNAVAILABLE, "hook " + hook.name() + " is unavailable: " + a.reason());
        }
        PolicySource source = builtins.resolve(req.policy());
        Live existing = find(hook, req.target());
        if (existing != null) {
            if (!req.replace()) {
                throw new SyrupException(Kind.CONFLICT, req.target() + " at " + hook.name() + " already runs deployment "
                        + existing.id + " (" + existing.policy.name() + "); use --replace to swap its policy");
            }
            if (!existing.owner().equals(req.owner()) && !DeployRequest.ADMIN.equals(req.owner())) {
                throw new SyrupException(Kind.DENIED, existing.id + " belongs to " + existing.owner());
            }
            // Make-before-break: compile and install first; on failure the old policy runs on.
            Path object = compiler.compile(source, hook.wrapper(source.file().toString()),
                    defines(req, existing.deployment.executors()));
            existing.deployment.install(object);
            existing.policy = source;
            existing.request = req;
            existing.replaced++;
            return existing.snapshot();
        }
        String id = "d" + ids.incrementAndGet();
        Path pinDir = bpffsRoot.resolve(req.owner()).resolve(id);
        HookDeployment hd = hook.open(req.target(), pinDir);
        try {
            Path object = compiler.compile(source, hook.wrapper(source.file().toString()), defines(req, hd.executors()));
            hd.install(object);
        } catch (SyrupException | RuntimeException e) {
            hd.close();
            removeEmptyOwnerDir(req.owner());
            throw e;
        }
        Live d = new Live(id, hook, hd, source, req, Instant.now());
        live.put(id, d);
        Deployment snapshot = d.snapshot();
        mbeans.register(snapshot, this);
        return snapshot;
    }

    @Override
    public synchronized void undeploy(String id) throws SyrupException {
        remove(get(id));
    }

    @Override
    public synchronized void registerExecutor(String id, int index, long pid, int fd) throws SyrupException {
        get(id).deployment.registerExecutor(index, pid, fd);
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
        live.remove(d.id);
        mbeans.unregister(d.id);
        try {
            d.deployment.close();
        } catch (RuntimeException | LinkageError e) {
            // A backend going away may fail half-way; the deployment is dropped either way.
            LOG.log(System.Logger.Level.ERROR, "closing deployment " + d.id + " failed", e);
        }
        removeEmptyOwnerDir(d.owner());
    }

    private void removeEmptyOwnerDir(String owner) {
        try {
            Files.deleteIfExists(bpffsRoot.resolve(owner));
        } catch (DirectoryNotEmptyException e) {
            // other deployments of this owner still pin objects there
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "cannot remove " + bpffsRoot.resolve(owner) + ": " + e.getMessage());
        }
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
