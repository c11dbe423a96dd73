/* thread_scheduler's event programs (hook-owned, compiled at build time, no tenant code): at
 * the scheduler tracepoints, a registered thread's event is recorded for the agent, which runs
 * the tenant's policy (an XDP program, by BPF_PROG_TEST_RUN) for it. Keeping the policy out of
 * tracing programs keeps tracing helpers out of the tenant's reach. */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* Registered threads: tid -> index (the deployment's map, reused by fd). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} syr_threads SEC(".maps");

/* Per index: [2i] = sequence << 32 | event << 24 | cpu (24 bits), [2i+1] = when (the deployment's map). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u64);
} syr_events SEC(".maps");

#define EV_WOKE 1
#define EV_BLOCKED 2
#define EV_PREEMPTED 3
#define EV_EXITED 4

static __always_inline void record(__u32 tid, __u32 event, __s32 cpu)
{
	__u32 *index = bpf_map_lookup_elem(&syr_threads, &tid);
	__u32 k, kt;
	__u64 *slot, *time;

	if (!index)
		return; /* not a registered thread */
	k = 2 * *index;
	kt = k + 1;
	slot = bpf_map_lookup_elem(&syr_events, &k);
	time = bpf_map_lookup_elem(&syr_events, &kt);
	if (!slot || !time)
		return;
	*time = bpf_ktime_get_ns();
	*slot = (((*slot >> 32) + 1) << 32) | ((__u64)event << 24) | ((__u32)cpu & 0xffffff);
	if (event == EV_EXITED)
		bpf_map_delete_elem(&syr_threads, &tid);
}

/* Tracepoint records (include/trace/events/sched.h; the format files give these offsets). */
struct wakeup { __u64 common; char comm[16]; __s32 pid; __s32 prio; __s32 target_cpu; };
struct sswitch { __u64 common; char prev_comm[16]; __s32 prev_pid; __s32 prev_prio; long prev_state;
	char next_comm[16]; __s32 next_pid; __s32 next_prio; };
struct pexit { __u64 common; char comm[16]; __s32 pid; __s32 prio; };

SEC("tracepoint/sched/sched_wakeup")
int syr_thread_wakeup(struct wakeup *ctx)
{
	record(ctx->pid, EV_WOKE, ctx->target_cpu);
	return 0;
}

SEC("tracepoint/sched/sched_switch")
int syr_thread_switch(struct sswitch *ctx)
{
	record(ctx->prev_pid, ctx->prev_state ? EV_BLOCKED : EV_PREEMPTED, bpf_get_smp_processor_id());
	return 0;
}

SEC("tracepoint/sched/sched_process_exit")
int syr_thread_exit(struct pexit *ctx)
{
	record(ctx->pid, EV_EXITED, bpf_get_smp_processor_id());
	return 0;
}

char _license[] SEC("license") = "GPL";
