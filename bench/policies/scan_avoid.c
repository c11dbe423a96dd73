/* scan_avoid (bench copy, deployed by path when syrupd has no built-in scan_avoid) — paper Figure 5b/5c: keep GETs from waiting behind a SCAN. The application marks
 * in the Map `scan` the executors busy with a SCAN (1 when it starts one, 0 when it is done:
 * syrup:map-put, the Java or C client, or the mmap'ed array); each input probes executors at
 * random, at most MAX_PROBES times, and goes to the first one not serving a SCAN. When every
 * probe finds a busy one, the input goes to the last executor probed. */
#include "syrup.h"

#ifndef MAX_PROBES
#define MAX_PROBES 16
#endif

SYR_MAP(scan, NUM_EXECUTORS);

uint32_t schedule(void *pkt_start, void *pkt_end)
{
	uint32_t idx = 0;

	for (int i = 0; i < MAX_PROBES; i++) {
		idx = syr_random() % NUM_EXECUTORS;
		uint64_t *busy = syr_map_lookup_elem(&scan, &idx);
		if (busy && *busy == 0)
			return idx;
	}
	return idx;
}
