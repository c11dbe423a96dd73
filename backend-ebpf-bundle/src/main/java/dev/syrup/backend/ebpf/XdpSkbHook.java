package dev.syrup.backend.ebpf;

import dev.syrup.dispatch.Dispatcher;
import dev.syrup.dispatch.Dispatcher.XdpMode;
import dev.syrup.hook.kit.MapRegistry;
import dev.syrup.hook.kit.SharedMaps;
import dev.syrup.hook.spi.Hook;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;

/** Hook {@code xdp_skb}: XDP in generic mode (any driver, after the skb is built) into AF_XDP sockets. */
@Component(service = Hook.class, property = Hook.NAME_PROPERTY + "=" + XdpSkbHook.NAME)
public final class XdpSkbHook extends XdpHook {

    public static final String NAME = "xdp_skb";

    @Activate
    public XdpSkbHook(@Reference Dispatcher dispatcher, @Reference MapRegistry registry) {
        super(dispatcher, registry, XdpMode.SKB);
    }

    /** Outside OSGi: Maps are shared through {@link SharedMaps#standalone()}. */
    public XdpSkbHook(Dispatcher dispatcher) {
        super(dispatcher, SharedMaps.standalone(), XdpMode.SKB);
    }

    @Override
    public String name() {
        return NAME;
    }
}
