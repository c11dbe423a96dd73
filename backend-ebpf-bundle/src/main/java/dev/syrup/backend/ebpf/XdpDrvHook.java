package dev.syrup.backend.ebpf;

import dev.syrup.dispatch.Dispatcher;
import dev.syrup.dispatch.Dispatcher.XdpMode;
import dev.syrup.hook.kit.MapRegistry;
import dev.syrup.hook.kit.SharedMaps;
import dev.syrup.hook.spi.Hook;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;

/**
 * Hook {@code xdp_drv}: XDP in native (driver) mode, before the skb, into AF_XDP sockets
 * (zero-copy where the driver supports it, else copy mode). Refused on an interface whose
 * Syrup XDP programs run in generic mode ({@code xdp_skb}).
 */
@Component(service = Hook.class, property = Hook.NAME_PROPERTY + "=" + XdpDrvHook.NAME)
public final class XdpDrvHook extends XdpHook {

    public static final String NAME = "xdp_drv";

    @Activate
    public XdpDrvHook(@Reference Dispatcher dispatcher, @Reference MapRegistry registry) {
        super(dispatcher, registry, XdpMode.DRV);
    }

    /** Outside OSGi: Maps are shared through {@link SharedMaps#standalone()}. */
    public XdpDrvHook(Dispatcher dispatcher) {
        super(dispatcher, SharedMaps.standalone(), XdpMode.DRV);
    }

    @Override
    public String name() {
        return NAME;
    }
}
