package dev.syrup.daemon.events;

import dev.syrup.api.Deployer;
import dev.syrup.api.SyrupException;
import dev.syrup.api.map.MapEvents;
import dev.syrup.api.map.SyrupMap;
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
 * The token generator of the {@code token} policy, as a Camel timer route in syrupd's shared
 * context: every {@code epochMs} it runs one {@link TokenEpochs#epoch} on the deployment's
 * {@code tokens} Map. One generator per configuration of PID {@value #PID}
 * ({@code etc/dev.syrup.tokens.cfg}, or {@code etc/dev.syrup.tokens-NAME.cfg} for several).
 *
 * <p>Its writes are not published one by one as Map events (thousands a second); the kernel
 * poller reports the net change per period like any other change it did not make.
 */
@Component(configurationPid = TokenGenerator.PID, configurationPolicy = ConfigurationPolicy.REQUIRE, immediate = true)
@Designate(ocd = TokenGenerator.Config.class, factory = true)
public final class TokenGenerator {

    public static final String PID = "dev.syrup.tokens";

    private static final System.Logger LOG = System.getLogger(TokenGenerator.class.getName());

    @ObjectClassDefinition(name = "Syrup token generator", description = "Refills the token policy's Map each epoch")
    public @interface Config {
        @AttributeDefinition(description = "Deployment id running the token policy, e.g. d1")
        String deployment();

        @AttributeDefinition(description = "Map holding user id -> tokens")
        String map() default "tokens";

        @AttributeDefinition(description = "Latency-sensitive user id: gets rate tokens per second")
        int lsUser() default 1;

        @AttributeDefinition(description = "Best-effort user id: gets the latency-sensitive user's leftover each epoch")
        int beUser() default 2;

        @AttributeDefinition(description = "Tokens per second for the latency-sensitive user")
        long rate() default 350000;

        @AttributeDefinition(description = "Epoch length in milliseconds (Camel's timer: 1 at least)")
        long epochMs() default 1;
    }

    private final CamelContext camel;
    private final String routeId;
    private final TokenEpochs epochs;

    @Activate
    public TokenGenerator(Config config, java.util.Map<String, Object> props, @Reference Deployer deployer,
                          @Reference(target = MapEvents.CONTEXT_FILTER) CamelContext camel) throws Exception {
        this.camel = camel;
        this.routeId = "syrup-tokens-" + props.getOrDefault("service.pid", props.get("component.id"));
        long epochMs = Math.max(1, config.epochMs());
        this.epochs = new TokenEpochs(config.lsUser(), config.beUser(), config.rate(), epochMs * 1000);
        String deployment = config.deployment();
        String mapName = config.map();
        boolean[] warned = {false};
        camel.addRoutes(new RouteBuilder() {
            @Override
            public void configure() {
                from("timer:" + routeId + "?fixedRate=true&delay=0&period=" + epochMs).routeId(routeId)
                        .process(e -> {
                            try {
                                SyrupMap m = deployer.map(deployment, mapName);
                                epochs.advance(m instanceof EventingMap em ? em.unwrap() : m, System.nanoTime() / 1000);
                                warned[0] = false;
                            } catch (SyrupException ex) {
                                if (!warned[0]) {
                                    LOG.log(System.Logger.Level.WARNING, "token generator " + routeId + ": " + ex.getMessage());
                                    warned[0] = true;
                                }
                            }
                        });
            }
        });
        LOG.log(System.Logger.Level.INFO, "token generator for " + deployment + "/" + mapName + ": user " + config.lsUser()
                + " gets " + config.rate() + "/s in epochs of " + epochMs + " ms, leftovers to user " + config.beUser());
    }

    /** The epochs run so far (for tests and diagnostics). */
    public TokenEpochs epochs() {
        return epochs;
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
