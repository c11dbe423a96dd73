// Test object: an sk_reuseport program sending every datagram to the socket in slot 0.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_REUSEPORT_SOCKARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} t_socks SEC(".maps");

SEC("sk_reuseport")
int t_select(struct sk_reuseport_md *md)
{
	__u32 slot = 0;
	if (bpf_sk_select_reuseport(md, &t_socks, &slot, 0) == 0)
		return SK_PASS;
	return SK_DROP; /* slot empty: drop, so that the test sees the failure */
}

char LICENSE[] SEC("license") = "GPL";
