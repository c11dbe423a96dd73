/* mica — MICA's key-hash steering (paper §5.4): each request goes to the executor that owns its key,
 * so a key's requests always meet the same core (a partition of the store, no locks). The key is
 * KEY_LEN bytes (default 8: the u64 after struct syr_request) at KEY_OFFSET (default 8) in the UDP
 * payload, hashed with FNV-1a; requests too short to carry a key go to the layer's default. */
#include "syrup.h"

#ifndef KEY_OFFSET
#define KEY_OFFSET 8
#endif
#ifndef KEY_LEN
#define KEY_LEN 8
#endif

uint32_t schedule(void *pkt_start, void *pkt_end)
{
	uint8_t *l4 = syr_l4(pkt_start, pkt_end);
	uint8_t *key;
	uint32_t hash = 2166136261u;

	if (!l4)
		return SYR_PASS;
	key = l4 + sizeof(struct udphdr) + KEY_OFFSET;
	if (!syr_has(key, KEY_LEN, pkt_end))
		return SYR_PASS;
#pragma unroll
	for (int i = 0; i < KEY_LEN; i++) {
		hash ^= key[i];
		hash *= 16777619u;
	}
	return hash % NUM_EXECUTORS;
}
