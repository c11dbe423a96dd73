// Test object the verifier must refuse: reads the packet without checking data_end.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int t_bad(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	__u32 first = *(__u32 *)data;
	return first == 0x01020304 ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
