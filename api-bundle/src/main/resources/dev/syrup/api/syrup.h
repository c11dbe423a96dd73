/*
 * syrup.h — the one header every Syrup policy includes (the hook's generated glue includes it
 * before the policy, so a policy file may also omit the #include).
 *
 * A policy is one function:
 *
 *     uint32_t schedule(void *pkt_start, void *pkt_end);
 *
 * returning an executor index (0 .. NUM_EXECUTORS-1), SYR_PASS (let the layer's default
 * decide) or SYR_DROP. At socket_select, pkt_start points at the L4 (UDP/TCP) header; at the
 * packet hooks (cpu_redirect, xdp_*) at the Ethernet header: syr_l4() below finds the L4 header
 * at every hook.
 * Every read through pkt_start must be bounds-checked against pkt_end, or the verifier
 * rejects the policy.
 */
#ifndef SYRUP_H
#define SYRUP_H

#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* The paper's policies use the C99 names; <stdint.h> is not usable with -target bpf. */
typedef __u8 uint8_t;
typedef __u16 uint16_t;
typedef __u32 uint32_t;
typedef __u64 uint64_t;
typedef __s8 int8_t;
typedef __s16 int16_t;
typedef __s32 int32_t;
typedef __s64 int64_t;

/* Special return values of schedule(). */
#define SYR_PASS 0xFFFFFFFFu
#define SYR_DROP 0xFFFFFFFEu
#ifndef PASS
#define PASS SYR_PASS
#endif
#ifndef DROP
#define DROP SYR_DROP
#endif

/* Number of executors the deployment adopted; syrupd passes it with -D at compile time. */
#ifndef NUM_EXECUTORS
#define NUM_EXECUTORS 1
#endif
#ifndef NUM_THREADS
#define NUM_THREADS NUM_EXECUTORS
#endif

/* Request format used by the demo, the tests and the built-in policies: the UDP payload
 * starts with the request type (little-endian u32) and the user id (little-endian u32). */
#define SYR_REQ_GET 0
#define SYR_REQ_SCAN 1
struct syr_request {
	uint32_t type;
	uint32_t user_id;
};

/*
 * Maps. u32 keys and u64 values by default (paper §3.4); syrupd creates and pins them per
 * deployment. Array maps are memory-mappable so applications read them without syscalls.
 *
 *     SYR_MAP(busy, 16);                        array, u32 -> u64, 16 entries
 *     SYR_HASH_MAP(tokens, 1024);               hash, u32 -> u64
 *     SYR_MAP_OF(stats, struct my_stats, 16);   array of a fixed-size struct
 */
#define SYR_MAP_OF(_name, _value_type, _max)                                   \
	struct {                                                                   \
		__uint(type, BPF_MAP_TYPE_ARRAY);                                      \
		__uint(max_entries, _max);                                             \
		__uint(map_flags, BPF_F_MMAPABLE);                                     \
		__type(key, __u32);                                                    \
		__type(value, _value_type);                                            \
	} _name SEC(".maps")

#define SYR_MAP(_name, _max) SYR_MAP_OF(_name, __u64, _max)

#define SYR_HASH_MAP(_name, _max)                                              \
	struct {                                                                   \
		__uint(type, BPF_MAP_TYPE_HASH);                                       \
		__uint(max_entries, _max);                                             \
		__type(key, __u32);                                                    \
		__type(value, __u64);                                                  \
	} _name SEC(".maps")

/* Paper Table 1, policy side. Lookup returns a pointer to the value or NULL. */
#define syr_map_lookup_elem(map, key) bpf_map_lookup_elem((map), (key))
#define syr_map_update_elem(map, key, value) bpf_map_update_elem((map), (key), (value), BPF_ANY)
#define syr_map_delete_elem(map, key) bpf_map_delete_elem((map), (key))

/* A pseudo-random u32, for policies that probe executors at random. */
#define syr_random() bpf_get_prandom_u32()

/* Bounds check: true when [p, p + n) lies inside the packet. */
#define syr_has(p, n, end) ((void *)(p) + (n) <= (void *)(end))

/*
 * The input's L4 (UDP/TCP) header, wherever the hook starts the packet: at socket_select
 * pkt_start already is the L4 header; at the packet hooks (cpu_redirect, xdp_*) the glue
 * defines SYR_PKT_L2 and pkt_start is the Ethernet header, so this parses Ethernet -> IPv4
 * (options included, by ihl). When there is no L4 header to find (not IPv4, not UDP/TCP, a
 * non-first fragment, a truncated header) a pointer SYR_NO_L4 (60 KiB) into the packet, past
 * the end of any XDP frame, so that the bounds check also covers "none". Never NULL. Reads
 * through the result need that bounds check against pkt_end (of at most 4 KiB):
 *
 *     struct udphdr *udp = syr_l4(pkt_start, pkt_end);
 *     if (!syr_has(udp, sizeof(*udp), pkt_end))
 *             return PASS;
 *
 * Policies are verified without CAP_PERFMON, by the verifier's rules for unprivileged
 * pointers: a packet pointer may be compared only with another packet pointer (pkt_end), not
 * with NULL, moved only by constant offsets, and pkt_end not moved at all. Hence no NULL, and
 * the options skipped in constant steps.
 */
#define SYR_NO_L4 0xf000
/* Defined at every hook: syrup:test's shim for socket_select parses a frame with it too. */
/* One 4-byte step past the options when the header has more than n words; the asm keeps the
 * compiler from folding the steps back into a variable offset. */
#define SYR__SKIP_WORD(l4, words, n)                                           \
	if ((words) > (n))                                                         \
		asm volatile("%[p] += 4" : [p] "+r"(l4))

/* pkt_start + SYR_NO_L4, a constant offset the compiler cannot merge with others. */
static __always_inline void *syr__no_l4(void *pkt_start)
{
	asm volatile("%[p] += %[k]" : [p] "+r"(pkt_start) : [k] "i"(SYR_NO_L4));
	return pkt_start;
}

static __always_inline void *syr__l4(void *pkt_start, void *pkt_end)
{
	struct ethhdr *eth = pkt_start;
	struct iphdr *ip;
	void *l4;
	__u32 words;

	if ((void *)(eth + 1) > pkt_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return syr__no_l4(pkt_start);
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > pkt_end)
		return syr__no_l4(pkt_start);
	words = ip->ihl;
	if (words < 5 || (ip->protocol != IPPROTO_UDP && ip->protocol != IPPROTO_TCP))
		return syr__no_l4(pkt_start);
	if (ip->frag_off & bpf_htons(0x1fff)) /* only the first fragment has the L4 header */
		return syr__no_l4(pkt_start);
	l4 = (void *)(ip + 1);
	SYR__SKIP_WORD(l4, words, 5);
	SYR__SKIP_WORD(l4, words, 6);
	SYR__SKIP_WORD(l4, words, 7);
	SYR__SKIP_WORD(l4, words, 8);
	SYR__SKIP_WORD(l4, words, 9);
	SYR__SKIP_WORD(l4, words, 10);
	SYR__SKIP_WORD(l4, words, 11);
	SYR__SKIP_WORD(l4, words, 12);
	SYR__SKIP_WORD(l4, words, 13);
	SYR__SKIP_WORD(l4, words, 14);
	if (l4 > pkt_end)
		return syr__no_l4(pkt_start);
	return l4;
}

static __always_inline void *syr_l4(void *pkt_start, void *pkt_end)
{
#ifdef SYR_PKT_L2
	void *l4 = syr__l4(pkt_start, pkt_end);
#else
	void *l4 = pkt_start;
	(void)pkt_end;
#endif
	/* Lets the compiler drop a caller's "if (!l4)", which the verifier would refuse. */
	__builtin_assume(l4 != NULL);
	return l4;
}

/*
 * Threads (hook thread_scheduler). The input between pkt_start and pkt_end is one
 * struct syr_thread: a registered thread and what just happened to it. The policy returns the
 * index of the core to run it on now (SCHED_FIFO there), SYR_ANY_CORE (SCHED_FIFO on any of
 * the deployment's cores), SYR_PASS (as it was registered: the kernel's default) or SYR_DROP
 * (SCHED_IDLE: only when its cores have nothing else to run).
 */
struct syr_thread {
	__u32 tid;      /* the kernel's thread id */
	__u32 index;    /* its registration index: the key of per-thread Maps */
	__u32 event;    /* SYR_THREAD_* */
	__s32 cpu;      /* where it happened (woke: the CPU it is queued on); -1 when unknown */
	__u64 time_ns;  /* when, CLOCK_MONOTONIC */
};
#define SYR_THREAD_NEW       0  /* just registered, or a new policy version */
#define SYR_THREAD_WOKE      1
#define SYR_THREAD_BLOCKED   2
#define SYR_THREAD_PREEMPTED 3  /* switched out while runnable */
#define SYR_THREAD_EXITED    4  /* the decision is ignored */
#define SYR_THREAD_CHANGED   5  /* its entry of a per-thread Map changed */
#define SYR_ANY_CORE 0xFFFFFFFDu

/* The thread input at pkt_start, or NULL when the input is shorter. */
static __always_inline struct syr_thread *syr_thread(void *pkt_start, void *pkt_end)
{
	struct syr_thread *t = pkt_start;

	if (!syr_has(t, sizeof(*t), pkt_end))
		return NULL;
	return t;
}

#endif /* SYRUP_H */
