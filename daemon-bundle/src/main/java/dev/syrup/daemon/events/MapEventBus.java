package dev.syrup.daemon.events;

import dev.syrup.api.map.MapEvent;

/**
 * syrupd's internal sink for Map changes. The deployment manager hands out Maps that report
 * every change made through them here; {@link CamelEvents} implements it and publishes on
 * {@link dev.syrup.api.map.MapEvents#ENDPOINT}.
 */
public interface MapEventBus {

    /**
     * Held while a change is made and published, and while the kernel poller compares a map
     * with its copy: a change made through Syrup is then never also reported as a kernel change.
     */
    Object lock();

    /** Publishes a change made through Syrup (call with {@link #lock()} held). */
    void publish(MapEvent event);
}
