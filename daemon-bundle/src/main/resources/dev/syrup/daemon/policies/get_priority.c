/* get_priority — paper §5.3 (Shinjuku-like), for hook thread_scheduler: strict priority to the
 * threads serving GETs over the threads serving SCANs. The application marks in the Map `scan`
 * the threads (by registration index) busy with a SCAN: 1 when one starts, 0 when it is done
 * (the mmap'ed array, syrup:map-put, or the clients). A thread serving a SCAN runs SCHED_IDLE
 * (SYR_DROP), so a GET thread that wakes preempts it at once; the others run as registered.
 * -D GET_FIFO: the others run SCHED_FIFO on any core (SYR_ANY_CORE), ahead of every CFS thread of
 * the machine too; but a FIFO thread that starts a long request before the agent sees its Map
 * entry change holds a core at RT priority meanwhile, which can stall the agent's own JVM
 * (docs/threads.md). Demoting SCANs cannot hurt anything but the SCANs.
 * With thread i serving socket i and -D NUM_THREADS equal to the socket count, `scan` has the
 * shape of scan_avoid's and the two layers share it (deploy socket_select first). */
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
		return SYR_DROP;
#ifdef GET_FIFO
	return SYR_ANY_CORE;
#else
	return SYR_PASS;
#endif
}
