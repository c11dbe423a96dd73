/* sita — paper Figure 5d (Size Interval Task Assignment): long SCANs go to executor 0,
 * short GETs round-robin over the others, so GETs never wait behind a SCAN.
 * Request format: the UDP payload begins with struct syr_request (type, user id). */
#include "syrup.h"

static uint32_t next;

uint32_t schedule(void *pkt_start, void *pkt_end)
{
	void *l4 = syr_l4(pkt_start, pkt_end);
	struct syr_request *req;

	if (!l4)
		return SYR_PASS;
	req = l4 + sizeof(struct udphdr);
	if ((void *)(req + 1) > pkt_end)
		return SYR_PASS;
	if (req->type == SYR_REQ_SCAN)
		return 0;
#if NUM_EXECUTORS > 1
	return 1 + __sync_fetch_and_add(&next, 1) % (NUM_EXECUTORS - 1);
#else
	return 0;
#endif
}
