package dev.syrup.api.map;

/**
 * Where syrupd publishes {@link MapEvent}s, for routes of other bundles.
 *
 * <p>syrupd runs one Camel context for Map events and registers it as an OSGi service
 * ({@code org.apache.camel.CamelContext}) with the property {@link #CONTEXT_PROPERTY} =
 * {@link #CONTEXT_VALUE}; {@link #CONTEXT_FILTER} selects it. A subscriber adds its routes to
 * that context, consuming {@link #ENDPOINT} with exactly this URI (the SEDA queue's options
 * must match on every side), and removes them when it stops:
 *
 * <pre>{@code
 * from(MapEvents.ENDPOINT).process(e -> handle(e.getMessage().getBody(MapEvent.class)));
 * }</pre>
 *
 * Every subscriber receives every event (body: a {@link MapEvent}; headers
 * {@link #HEADER_DEPLOYMENT}, {@link #HEADER_MAP}, {@link #HEADER_ORIGIN} for filters). Events
 * are dropped, never queued without bound, when nobody listens or a subscriber's queue is full.
 * See docs/maps.md.
 */
public final class MapEvents {

    /** The SEDA endpoint syrupd publishes to; consume it with this exact URI. */
    public static final String ENDPOINT =
            "seda:syrup-map-events?multipleConsumers=true&discardIfNoConsumers=true&discardWhenFull=true&size=10000";

    /** Service property that marks syrupd's shared Camel context. */
    public static final String CONTEXT_PROPERTY = "syrup.camel";

    /** Value of {@link #CONTEXT_PROPERTY} on the Map-events context. */
    public static final String CONTEXT_VALUE = "events";

    /** OSGi filter that selects the shared context among {@code CamelContext} services. */
    public static final String CONTEXT_FILTER = "(" + CONTEXT_PROPERTY + "=" + CONTEXT_VALUE + ")";

    /** The Camel context's name. */
    public static final String CONTEXT_NAME = "syrup-events";

    /** Header: the deployment id (String). */
    public static final String HEADER_DEPLOYMENT = "SyrupDeployment";

    /** Header: the Map's name (String). */
    public static final String HEADER_MAP = "SyrupMap";

    /** Header: the origin's label, {@code shell}, {@code client}, {@code api} or {@code kernel} (String). */
    public static final String HEADER_ORIGIN = "SyrupOrigin";

    private MapEvents() {
    }
}
