/* round_robin — paper Figure 5a: each input goes to the next executor in turn.
 * The counter is shared by all CPUs; an atomic add keeps the split exact. */
#include "syrup.h"

static uint32_t next;

uint32_t schedule(void *pkt_start, void *pkt_end)
{
	return __sync_fetch_and_add(&next, 1) % NUM_EXECUTORS;
}
