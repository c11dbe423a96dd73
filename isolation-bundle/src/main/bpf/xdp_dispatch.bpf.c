/*
 * XDP root program, one per interface: parses Ethernet -> IPv4 -> UDP|TCP, finds the
 * application that claimed (protocol, destination port) and tail-calls its XDP policy. Anything
 * else (not IPv4, not UDP/TCP, a non-first fragment, a truncated header, an unclaimed port, an
 * empty slot) goes on with XDP_PASS, as if no program were attached.
 */
#include "dispatch.h"
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>

#define IP_MF 0x2000
#define IP_OFFSET 0x1fff

SEC("xdp")
int syrup_xdp_disp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;
	__u32 key;
	__u32 ihl;
	__u8 *l4;
	__u32 *slot;

	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end)
		return XDP_PASS;
	ihl = ip->ihl * 4;
	if (ihl < sizeof(*ip))
		return XDP_PASS;
	if (ip->protocol != IPPROTO_UDP && ip->protocol != IPPROTO_TCP)
		return XDP_PASS;
	/* Only the first fragment carries the L4 header. */
	if (ip->frag_off & bpf_htons(IP_OFFSET))
		return XDP_PASS;
	l4 = (__u8 *)ip + ihl;
	if ((void *)(l4 + 4) > data_end)
		return XDP_PASS;
	key = syrup_port_index(ip->protocol, bpf_ntohs(*(__be16 *)(l4 + 2)));
	slot = bpf_map_lookup_elem(&syrup_ports, &key);
	if (!slot || !*slot)
		return XDP_PASS;
	bpf_tail_call(ctx, &syrup_slots, *slot - 1);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
