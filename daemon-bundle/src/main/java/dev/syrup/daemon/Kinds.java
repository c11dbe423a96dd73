package dev.syrup.daemon;

import dev.syrup.hook.spi.Executor;
import dev.syrup.hook.spi.Input;
import java.util.ArrayList;
import java.util.Dictionary;
import java.util.Hashtable;
import java.util.List;
import org.osgi.framework.BundleContext;
import org.osgi.framework.ServiceRegistration;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;

/**
 * Registers the input and executor kinds Syrup knows ({@link Input#PACKET}, ...,
 * {@link Executor#RX_QUEUE}) as services, beside those plugins register for kinds of their own,
 * so that {@code syrup:hooks --kinds} lists them all from one place: the service registry.
 */
@Component(immediate = true, service = {})
public final class Kinds {

    static final List<Input> INPUTS = List.of(Input.PACKET, Input.DATAGRAM, Input.CONNECTION, Input.THREAD);
    static final List<Executor> EXECUTORS = List.of(Executor.SOCKET, Executor.CORE, Executor.XDP_SOCKET, Executor.RX_QUEUE);

    private final List<ServiceRegistration<?>> registrations = new ArrayList<>();

    @Activate
    void activate(BundleContext context) {
        for (Input i : INPUTS) {
            registrations.add(context.registerService(Input.class, i, properties(Input.NAME_PROPERTY, i.name())));
        }
        for (Executor e : EXECUTORS) {
            registrations.add(context.registerService(Executor.class, e, properties(Executor.NAME_PROPERTY, e.name())));
        }
    }

    @Deactivate
    void deactivate() {
        registrations.forEach(ServiceRegistration::unregister);
        registrations.clear();
    }

    private static Dictionary<String, Object> properties(String key, String name) {
        Hashtable<String, Object> p = new Hashtable<>();
        p.put(key, name);
        return p;
    }
}
