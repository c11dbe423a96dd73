/* A Map-driven rotation: hits[0] counts the inputs, each goes to executor hits[0] % n. The Map
 * is the owner's: shared by name with its other deployments, kept across restarts. */
#include "syrup.h"

SYR_MAP(hits, 4);

uint32_t schedule(void *pkt_start, void *pkt_end)
{
	uint32_t zero = 0;
	uint64_t *n = syr_map_lookup_elem(&hits, &zero);

	if (!n)
		return SYR_PASS;
	return __sync_fetch_and_add(n, 1) % NUM_EXECUTORS;
}
