/* XDP shim for bench/table2.sh: sk_reuseport programs cannot be test-run (BPF_PROG_TEST_RUN
 * returns ENOTSUPP), so the policy's schedule() is compiled into an XDP program that finds the
 * UDP header of the test packet and calls it, as the socket_select glue does with the UDP header
 * as pkt_start. The decision is stored (not enforced) so the compiler cannot drop it.
 * Built with -DPOLICY_FILE="path/to/policy.c" -DNUM_EXECUTORS=N; -DFLOOR builds the bare
 * `return XDP_PASS` the policies are compared with. */
#include "syrup.h"

#ifndef FLOOR
#include POLICY_FILE

volatile uint32_t syr_last_choice;

SEC("xdp")
int syr_shim(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);

	if ((void *)(ip + 1) > end || ip->protocol != IPPROTO_UDP)
		return XDP_PASS;
	uint32_t r = schedule((void *)(ip + 1), end);
	syr_last_choice = r;
	return r == SYR_DROP ? XDP_DROP : XDP_PASS;
}
#else
SEC("xdp")
int syr_shim(struct xdp_md *ctx)
{
	return XDP_PASS;
}
#endif

char LICENSE[] SEC("license") = "GPL";
