/* token — paper §3.4 and §5.2.2: token-based admission. Each request's user id (the second
 * word of struct syr_request) looks up the user's tokens in the Map `tokens`; a user with none
 * left is dropped, otherwise one token is taken and the request passes to the layer's default.
 * syrupd's token generator (PID dev.syrup.tokens) refills the Map each epoch: the
 * latency-sensitive user gets its rate, the best-effort user what the other left unused.
 * Requests too short to carry a user id, and users beyond the Map, are dropped.
 * -D ROUND_ROBIN: admitted requests go to the executors in turn instead of to the layer's
 * default (the paper's Figure 7 setup: `./syrup bench fig7` compares it with round_robin). */
#include "syrup.h"

#ifndef MAX_USERS
#define MAX_USERS 1024
#endif

SYR_MAP(tokens, MAX_USERS);

#ifdef ROUND_ROBIN
static uint32_t next;
#endif

uint32_t schedule(void *pkt_start, void *pkt_end)
{
	void *l4 = syr_l4(pkt_start, pkt_end);
	struct syr_request *req;
	uint32_t user;
	uint64_t *t;

	if (!l4)
		return SYR_DROP;
	req = l4 + sizeof(struct udphdr);
	if ((void *)(req + 1) > pkt_end)
		return SYR_DROP;
	user = req->user_id;
	t = syr_map_lookup_elem(&tokens, &user);
	if (!t || (int64_t)*t <= 0)
		return SYR_DROP;
	/* Two CPUs may both see the last token: whoever takes it from nothing gives it back. */
	if ((int64_t)__sync_fetch_and_add(t, -1) <= 0) {
		__sync_fetch_and_add(t, 1);
		return SYR_DROP;
	}
#ifdef ROUND_ROBIN
	return __sync_fetch_and_add(&next, 1) % NUM_EXECUTORS;
#else
	return SYR_PASS;
#endif
}
