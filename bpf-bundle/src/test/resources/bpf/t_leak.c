// Test object: a pointer stored into a map value, which the verifier allows only with
// CAP_PERFMON (allow_ptr_leaks).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} t_leaked SEC(".maps");

SEC("sk_reuseport")
int t_leak(struct sk_reuseport_md *md)
{
	__u32 k = 0;
	__u64 *v = bpf_map_lookup_elem(&t_leaked, &k);

	if (v)
		*v = (__u64)(long)v;
	return SK_PASS;
}

char LICENSE[] SEC("license") = "GPL";
