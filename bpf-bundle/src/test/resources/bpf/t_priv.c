// Test object: what only CAP_PERFMON (or CAP_SYS_ADMIN) lets the verifier accept: reading kernel
// memory with bpf_probe_read_kernel.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("sk_reuseport")
int t_priv(struct sk_reuseport_md *md)
{
	__u64 x = 0;

	bpf_probe_read_kernel(&x, sizeof(x), (void *)(long)md->hash);
	return x ? SK_PASS : SK_DROP;
}

char LICENSE[] SEC("license") = "GPL";
