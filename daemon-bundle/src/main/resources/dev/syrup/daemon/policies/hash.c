/* hash — paper §3.3: the same flow always lands on the same executor.
 * The key is the UDP/TCP port pair (source, destination), found through syr_l4() at every hook;
 * the addresses are not in [pkt_start, pkt_end) at socket_select. */
#include "syrup.h"

uint32_t schedule(void *pkt_start, void *pkt_end)
{
	struct udphdr *udp = syr_l4(pkt_start, pkt_end);

	if (!udp || !syr_has(udp, sizeof(*udp), pkt_end))
		return SYR_PASS;

	/* Multiplicative hashing (Knuth) of the two ports, reduced by the hash's top bits, which
	 * depend on every bit of the key (its low bits would ignore most of the source port). */
	uint32_t key = ((uint32_t)udp->source << 16) | udp->dest;
	uint32_t hash = key * 2654435761u;
	return ((uint64_t)hash * NUM_EXECUTORS) >> 32;
}
