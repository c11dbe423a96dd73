package dev.syrup.daemon.events;

import dev.syrup.api.Deployer;
import dev.syrup.api.Deployment;
import dev.syrup.api.SyrupException;
import dev.syrup.api.map.MapEvent;
import dev.syrup.api.map.MapEvents;
import dev.syrup.api.map.SyrupMap;
import java.time.Instant;
import java.util.HashSet;
import java.util.Hashtable;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SortedMap;
import org.apache.camel.CamelContext;
import org.apache.camel.ProducerTemplate;
import org.apache.camel.builder.RouteBuilder;
import org.apache.camel.karaf.core.OsgiDefaultCamelContext;
import org.apache.camel.spi.ComponentResolver;
import org.osgi.framework.BundleContext;
import org.osgi.framework.ServiceRegistration;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Modified;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.Designate;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;

/**
 * syrupd's Camel context for Map events, shared with other bundles: registered as a
 * {@link CamelContext} service with {@code syrup.camel=events} ({@link MapEvents#CONTEXT_FILTER}).
 * Changes made through Syrup are published on {@link MapEvents#ENDPOINT} as they happen; a
 * timer route compares each deployment's Maps with their last copy every
 * {@code kernelPollMs} and publishes what changed behind syrupd's back (origin {@code kernel}).
 *
 * <p>Configuration: PID {@value #PID} ({@code etc/dev.syrup.events.cfg}); a change restarts only
 * the poll route, so subscribers' routes stay. The context resolves components through the
 * resolver services of Camel's bundles; this component waits for those it uses (seda, timer,
 * log) or its routes would race the Camel bundles at startup.
 */
@Component(service = MapEventBus.class, immediate = true, configurationPid = CamelEvents.PID)
@Designate(ocd = CamelEvents.Config.class)
public final class CamelEvents implements MapEventBus {

    public static final String PID = "dev.syrup.events";

    static final String POLL_ROUTE = "syrup-map-poll";
    static final String EVENTS_ROUTE = "syrup-map-events";

    private static final System.Logger LOG = System.getLogger(CamelEvents.class.getName());

    @ObjectClassDefinition(name = "Syrup Map events", description = "Map events and the kernel-change poller")
    public @interface Config {
        @AttributeDefinition(description = "Period (ms) at which each deployment's Maps are compared with their last copy"
                + " to publish changes made by policies; 0 turns the poller off")
        long kernelPollMs() default 1000;

        @AttributeDefinition(description = "Maps with more entries than this are not polled")
        int kernelPollMaxEntries() default 65536;
    }

    private final Deployer deployer;
    private final CamelContext camel;
    private final ProducerTemplate producer;
    private final ServiceRegistration<CamelContext> registration;
    private final Object lock = new Object();
    /** Guarded by {@link #lock}. */
    private final MapCopies copies = new MapCopies();
    private volatile int maxEntries;
    private final java.util.concurrent.atomic.AtomicLong published = new java.util.concurrent.atomic.AtomicLong();

    @Activate
    public CamelEvents(BundleContext bundleContext, Config config, @Reference Deployer deployer,
                       @Reference(target = "(component=seda)") ComponentResolver seda,
                       @Reference(target = "(component=timer)") ComponentResolver timer,
                       @Reference(target = "(component=log)") ComponentResolver log) throws Exception {
        this.deployer = deployer;
        OsgiDefaultCamelContext ctx = new OsgiDefaultCamelContext(bundleContext);
        ctx.getCamelContextExtension().setName(MapEvents.CONTEXT_NAME);
        this.camel = ctx;
        camel.start();
        // syrupd's own consumer of the endpoint: it keeps the endpoint (and its queue) alive while
        // subscribers' routes come and go (Camel removes an endpoint with the last route using it,
        // and the producer would then feed a queue nobody reads), and counts what was published.
        camel.addRoutes(new RouteBuilder() {
            @Override
            public void configure() {
                from(MapEvents.ENDPOINT).routeId(EVENTS_ROUTE).process(e -> published.incrementAndGet());
            }
        });
        this.producer = camel.createProducerTemplate();
        configure(config);
        Hashtable<String, Object> props = new Hashtable<>();
        props.put(MapEvents.CONTEXT_PROPERTY, MapEvents.CONTEXT_VALUE);
        props.put("camel.context.name", MapEvents.CONTEXT_NAME);
        this.registration = bundleContext.registerService(CamelContext.class, camel, props);
    }

    @Modified
    void modified(Config config) throws Exception {
        configure(config);
    }

    private synchronized void configure(Config config) throws Exception {
        maxEntries = config.kernelPollMaxEntries();
        if (camel.getRoute(POLL_ROUTE) != null) {
            camel.getRouteController().stopRoute(POLL_ROUTE);
            camel.removeRoute(POLL_ROUTE);
        }
        long period = config.kernelPollMs();
        if (period <= 0) {
            LOG.log(System.Logger.Level.INFO, "kernel-change poller off");
            return;
        }
        camel.addRoutes(new RouteBuilder() {
            @Override
            public void configure() {
                from("timer:" + POLL_ROUTE + "?period=" + period + "&delay=" + period)
                        .routeId(POLL_ROUTE)
                        .process(e -> poll());
            }
        });
    }

    @Deactivate
    void deactivate() {
        try {
            registration.unregister();
        } catch (IllegalStateException e) {
            // already gone with the bundle
        }
        try {
            producer.close();
        } catch (Exception e) {
            // closing anyway
        }
        camel.stop();
    }

    /** The shared context (also an OSGi service). */
    public CamelContext camel() {
        return camel;
    }

    /** Events delivered on the endpoint since start. */
    public long published() {
        return published.get();
    }

    @Override
    public Object lock() {
        return lock;
    }

    @Override
    public void publish(MapEvent event) {
        synchronized (lock) {
            copies.apply(event);
        }
        send(event);
    }

    private void send(MapEvent event) {
        try {
            producer.sendBodyAndHeaders(MapEvents.ENDPOINT, event, Map.of(
                    MapEvents.HEADER_DEPLOYMENT, event.deployment(),
                    MapEvents.HEADER_MAP, event.map(),
                    MapEvents.HEADER_ORIGIN, event.origin().label()));
        } catch (RuntimeException e) {
            // Events never make a change fail.
            LOG.log(System.Logger.Level.WARNING, "cannot publish " + event.toText() + ": " + e);
        }
    }

    /** One round of the kernel-change poller: every deployment's u32 -> u64 Maps. */
    void poll() {
        Set<String> live = new HashSet<>();
        for (Deployment d : deployer.list()) {
            List<SyrupMap> maps;
            try {
                maps = deployer.maps(d.id());
            } catch (SyrupException e) {
                continue; // undeployed meanwhile
            }
            for (SyrupMap m : maps) {
                if (m.keySize() != 4 || m.valueSize() != 8 || m.maxEntries() > maxEntries) {
                    continue;
                }
                live.add(MapCopies.key(d.id(), m.name()));
                List<MapEvent> changes;
                synchronized (lock) {
                    SortedMap<Integer, Long> now;
                    try {
                        now = m.dump();
                    } catch (SyrupException | RuntimeException e) {
                        continue; // undeployed meanwhile
                    }
                    changes = copies.diff(d.id(), m.name(), now, Instant.now());
                }
                changes.forEach(this::send);
            }
        }
        synchronized (lock) {
            copies.retain(live);
        }
    }
}
