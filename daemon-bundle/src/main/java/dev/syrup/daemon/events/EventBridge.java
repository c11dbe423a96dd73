package dev.syrup.daemon.events;

import dev.syrup.api.map.MapEvent;
import dev.syrup.api.map.MapEvents;
import org.apache.camel.CamelContext;
import org.apache.camel.builder.RouteBuilder;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.ConfigurationPolicy;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.Designate;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;

/**
 * An operator's bridge, by configuration alone: every Map event (optionally only some
 * deployments, Maps or origins) goes to a Camel endpoint URI, as one line of text
 * ({@link MapEvent#toText()}) or as the event object.
 *
 * <p>One bridge per configuration of PID {@value #PID}, singleton
 * ({@code etc/dev.syrup.events.bridge.cfg}) or factory ({@code etc/dev.syrup.events.bridge-NAME.cfg});
 * for example {@code to = log:dev.syrup.events?level=INFO}. Endpoints of the components the
 * distribution ships (log, seda, direct) work as they are.
 */
@Component(configurationPid = EventBridge.PID, configurationPolicy = ConfigurationPolicy.REQUIRE, immediate = true)
@Designate(ocd = EventBridge.Config.class, factory = true)
public final class EventBridge {

    public static final String PID = "dev.syrup.events.bridge";

    private static final System.Logger LOG = System.getLogger(EventBridge.class.getName());

    @ObjectClassDefinition(name = "Syrup Map event bridge", description = "Sends Map events to a Camel endpoint")
    public @interface Config {
        @AttributeDefinition(description = "Camel endpoint URI the events go to, e.g. log:dev.syrup.events")
        String to();

        @AttributeDefinition(description = "Only this deployment id (empty: all)")
        String deployment() default "";

        @AttributeDefinition(description = "Only this Map name (empty: all)")
        String map() default "";

        @AttributeDefinition(description = "Only these origins, comma-separated: shell, client, api, kernel (empty: all)")
        String origin() default "";

        @AttributeDefinition(description = "Body sent: text (one line per event) or event (the MapEvent object)")
        String body() default "text";
    }

    private final CamelContext camel;
    private final String routeId;

    @Activate
    public EventBridge(Config config, java.util.Map<String, Object> props,
                       @Reference(target = MapEvents.CONTEXT_FILTER) CamelContext camel) throws Exception {
        this.camel = camel;
        this.routeId = "syrup-bridge-" + props.getOrDefault("service.pid", props.get("component.id"));
        String to = config.to() == null ? "" : config.to().trim();
        if (to.isEmpty()) {
            throw new IllegalArgumentException(PID + ": 'to' (an endpoint URI) is required");
        }
        String deployment = config.deployment().trim();
        String map = config.map().trim();
        java.util.Set<String> origins = new java.util.HashSet<>();
        for (String o : config.origin().split(",")) {
            if (!o.isBlank()) {
                origins.add(o.trim().toLowerCase(java.util.Locale.ROOT));
            }
        }
        boolean text = !"event".equalsIgnoreCase(config.body().trim());
        camel.addRoutes(new RouteBuilder() {
            @Override
            public void configure() {
                from(MapEvents.ENDPOINT).routeId(routeId)
                        .filter(e -> {
                            MapEvent ev = e.getMessage().getBody(MapEvent.class);
                            return ev != null
                                    && (deployment.isEmpty() || deployment.equals(ev.deployment()))
                                    && (map.isEmpty() || map.equals(ev.map()))
                                    && (origins.isEmpty() || origins.contains(ev.origin().label()));
                        })
                        .process(e -> {
                            if (text) {
                                e.getMessage().setBody(e.getMessage().getBody(MapEvent.class).toText());
                            }
                        })
                        .to(to);
            }
        });
        LOG.log(System.Logger.Level.INFO, "Map events bridged to " + to + " (route " + routeId + ")");
    }

    @Deactivate
    void deactivate() {
        try {
            camel.getRouteController().stopRoute(routeId);
            camel.removeRoute(routeId);
        } catch (Exception e) {
            // the context is going away
        }
    }
}
