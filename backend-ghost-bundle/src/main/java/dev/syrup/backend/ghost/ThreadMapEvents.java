package dev.syrup.backend.ghost;

import dev.syrup.api.map.MapEvent;
import dev.syrup.api.map.MapEvents;
import dev.syrup.hook.spi.Hook;
import org.apache.camel.CamelContext;
import org.apache.camel.builder.RouteBuilder;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Reference;

/**
 * The thread layer's consumer of syrupd's Map events: a route in syrupd's shared Camel context
 * ({@link MapEvents#CONTEXT_FILTER}) from {@link MapEvents#ENDPOINT} to
 * {@link ThreadSchedulerHook#mapChanged}. A change made through syrupd (the shell's
 * {@code map-put}, an application's write over the control socket, another bundle's
 * {@code SyrupMap.update}), and one the kernel-change poller saw, to a Map a thread deployment
 * reads (its own, or one it shares with the owner's deployment at another hook, such as
 * socket_select's {@code scan}) re-decides the thread registered at that key at once: a
 * "request type changed" event, with no scheduler event needed.
 *
 * <p>Active while syrupd's context and the hook are there; its route goes with it.
 */
@Component(immediate = true)
public final class ThreadMapEvents implements AutoCloseable {

    /** The route's id in syrupd's context. */
    public static final String ROUTE = "syrup-thread-scheduler-map-events";

    private static final System.Logger LOG = System.getLogger(ThreadMapEvents.class.getName());

    private final CamelContext camel;

    @Activate
    public ThreadMapEvents(@Reference(target = MapEvents.CONTEXT_FILTER) CamelContext camel,
                           @Reference(target = "(" + Hook.NAME_PROPERTY + "=" + ThreadSchedulerHook.NAME + ")") Hook hook)
            throws Exception {
        this(camel, threads(hook));
    }

    /** Adds the route to {@code camel}, which must be able to resolve {@code seda}. */
    public ThreadMapEvents(CamelContext camel, ThreadSchedulerHook hook) throws Exception {
        this.camel = camel;
        camel.addRoutes(new RouteBuilder() {
            @Override
            public void configure() {
                from(MapEvents.ENDPOINT).routeId(ROUTE).process(e -> {
                    MapEvent event = e.getMessage().getBody(MapEvent.class);
                    if (event != null) {
                        hook.mapChanged(event);
                    }
                });
            }
        });
    }

    private static ThreadSchedulerHook threads(Hook hook) {
        if (hook instanceof ThreadSchedulerHook t) {
            return t;
        }
        throw new IllegalStateException("hook " + hook.name() + " is not this bundle's thread_scheduler");
    }

    @Deactivate
    @Override
    public void close() {
        try {
            camel.getRouteController().stopRoute(ROUTE);
            camel.removeRoute(ROUTE);
        } catch (Exception e) {
            // the context is stopping with syrupd
            LOG.log(System.Logger.Level.DEBUG, "route " + ROUTE + ": " + e);
        }
    }
}
