package dev.syrup.dist;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertTrue;

import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.camel.CamelContext;
import org.apache.camel.builder.RouteBuilder;
import org.apache.camel.karaf.core.OsgiDefaultCamelContext;
import org.junit.Test;
import org.osgi.framework.Bundle;

/**
 * Camel core (feature syrup-camel) works in the distribution: its bundles are active, and a
 * route through the components Syrup uses (timer, seda, direct, log, the simple language) runs.
 */
public class CamelIT extends SyrupTestSupport {

    private static final List<String> CAMEL_BUNDLES = List.of(
        "org.apache.camel.camel-api", "org.apache.camel.camel-util", "org.apache.camel.camel-support",
        "org.apache.camel.camel-base", "org.apache.camel.camel-base-engine",
        "org.apache.camel.camel-core-engine", "org.apache.camel.camel-core-model",
        "org.apache.camel.camel-core-processor", "org.apache.camel.camel-core-reifier",
        "org.apache.camel.camel-core-languages", "org.apache.camel.camel-management-api",
        "org.apache.camel.camel-timer", "org.apache.camel.camel-seda",
        "org.apache.camel.camel-direct", "org.apache.camel.camel-log", "camel-core-osgi");

    @Test
    public void camelBundlesAreActive() {
        for (String bsn : CAMEL_BUNDLES) {
            Bundle b = bundle(bsn);
            assertNotNull("bundle " + bsn + " installed", b);
            assertEquals("state of " + bsn, Bundle.ACTIVE, b.getState());
        }
    }

    @Test
    public void timerSedaDirectLogRouteRuns() throws Exception {
        CountDownLatch delivered = new CountDownLatch(1);
        AtomicReference<String> body = new AtomicReference<>();
        CamelContext camel = new OsgiDefaultCamelContext(bundleContext);
        try {
            camel.addRoutes(new RouteBuilder() {
                @Override
                public void configure() {
                    from("timer:syrup-it?repeatCount=1&delay=0")
                        .setBody(constant("syrup"))
                        .setBody(simple("tick ${body}"))
                        .to("seda:syrup-it");
                    from("seda:syrup-it").to("direct:syrup-it");
                    from("direct:syrup-it")
                        .to("log:dev.syrup.dist.CamelIT")
                        .process(e -> {
                            body.set(e.getMessage().getBody(String.class));
                            delivered.countDown();
                        });
                }
            });
            camel.start();
            assertTrue("message through timer -> seda -> direct -> log",
                delivered.await(30, TimeUnit.SECONDS));
            assertEquals("tick syrup", body.get());
        } finally {
            camel.stop();
        }
    }
}
