package dev.syrup.dist.subscriber;

import dev.syrup.api.map.MapEvent;
import dev.syrup.api.map.MapEvents;
import java.util.Collection;
import java.util.Hashtable;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import org.apache.camel.CamelContext;
import org.apache.camel.builder.RouteBuilder;
import org.osgi.framework.BundleActivator;
import org.osgi.framework.BundleContext;
import org.osgi.framework.ServiceReference;
import org.osgi.framework.ServiceRegistration;

/**
 * The activator of a bundle MapEventsIT builds and installs at run time: what a third-party
 * bundle does to receive Syrup's Map events. It adds a route to syrupd's shared Camel context
 * (found by {@link MapEvents#CONTEXT_FILTER}) consuming {@link MapEvents#ENDPOINT}, and shows
 * what it receives as a {@code BlockingQueue<String>} service ({@code syrup.test=subscriber}) of
 * {@link MapEvent#toText()} lines. Stopping the bundle removes the route.
 */
public class Subscriber implements BundleActivator {

    static final String ROUTE = "syrup-test-subscriber";

    private CamelContext camel;
    private ServiceReference<CamelContext> ref;
    private ServiceRegistration<?> registration;

    @Override
    public void start(BundleContext bc) throws Exception {
        Collection<ServiceReference<CamelContext>> refs = bc.getServiceReferences(CamelContext.class, MapEvents.CONTEXT_FILTER);
        if (refs.isEmpty()) {
            throw new IllegalStateException("no CamelContext service " + MapEvents.CONTEXT_FILTER);
        }
        ref = refs.iterator().next();
        camel = bc.getService(ref);
        BlockingQueue<String> received = new LinkedBlockingQueue<>();
        camel.addRoutes(new Routes(received));
        Hashtable<String, Object> props = new Hashtable<>();
        props.put("syrup.test", "subscriber");
        registration = bc.registerService(BlockingQueue.class.getName(), received, props);
    }

    @Override
    public void stop(BundleContext bc) throws Exception {
        registration.unregister();
        camel.getRouteController().stopRoute(ROUTE);
        camel.removeRoute(ROUTE);
        bc.ungetService(ref);
    }

    static final class Routes extends RouteBuilder {
        private final BlockingQueue<String> received;

        Routes(BlockingQueue<String> received) {
            this.received = received;
        }

        @Override
        public void configure() {
            from(MapEvents.ENDPOINT).routeId(ROUTE)
                    .process(e -> received.add(e.getMessage().getBody(MapEvent.class).toText()));
        }
    }
}
