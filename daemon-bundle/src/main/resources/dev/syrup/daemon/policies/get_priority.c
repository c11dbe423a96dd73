/* get_priority — paper §5.3 (Shinjuku-like), for hook thread_scheduler: strict priority to the
 * threads serving GETs over the threads serving SCANs. The application marks in the Map `scan`
 * the threads (by registration index) busy with a SCAN: 1 when one starts, 0 when it is done
 * (the mmap'ed array, syrup:map-put, or the clients). A thread not serving a SCAN runs
 * SCHED_FIFO on any of the deployment's cores, so when it wakes it preempts SCAN threads at
 * once; a thread serving a SCAN runs as it was registered (CFS). With thread i serving socket i
 * and -D NUM_THREADS equal to the socket count, `scan` has the shape of scan_avoid's and the two
 * layers share it (deploy socket_select first). */
#include "syrup.h"

SYR_MAP(scan, NUM_THREADS);

uint32_t schedule(void *pkt_start, void *pkt_end)
{
	struct syr_thread *t = syr_thread(pkt_start, pkt_end);
	uint32_t i;
	uint64_t *busy;

	if (!t)
		return SYR_PASS;
	i = t->index;
	busy = syr_map_lookup_elem(&scan, &i);
	if (busy && *busy)
		return SYR_PASS;
	return SYR_ANY_CORE;
}
