/* hash — paper §3.3: the same flow always lands on the same executor.
 * At socket_select the policy sees the packet from the UDP header on, so the key is the
 * port pair (source, destination); the addresses are not in [pkt_start, pkt_end). */
#include "syrup.h"

uint32_t schedule(void *pkt_start, void *pkt_end)
{
	struct udphdr *udp = pkt_start;

	if (!syr_has(udp, sizeof(*udp), pkt_end))
		return SYR_PASS;

	/* Multiplicative mix (Knuth) of the two ports: cheap and spreads consecutive ports. */
	uint32_t key = ((uint32_t)udp->source << 16) | udp->dest;
	uint32_t hash = key * 2654435761u;
	return (hash >> 16) % NUM_EXECUTORS;
}
