// C baseline for MapBench (bpf-bundle/src/test/java/dev/syrup/bpf/bench): the same
// u32 -> u64 maps (ARRAY with BPF_F_MMAPABLE, HASH), 1024 entries, the same key sequence
// (i + 1) & 1023, through libbpf's bpf_map_lookup_elem / bpf_map_update_elem and through an mmap
// of the array. Each operation: REPS timed loops (CLOCK_MONOTONIC) of ITERS syscalls, or of
// MMAP_ITERS memory accesses.
// Output: one CSV line per loop, "op,rep,ns_per_op". Optional OP arguments select operations.
// The contended* operations run two threads (pthreads) on the SAME key (0) of the same array,
// started together; ns_per_op is the mean of the two threads' own ns/op (like JMH's avgt with
// @Threads(2)); their mmap loops do MMAP_ITERS / 10 accesses per thread.
//
// Build: gcc -O2 -o mapbench mapbench.c -lbpf -lpthread
// Run (root): [MAPBENCH_IDLE_THREAD=1] ./mapbench [ITERS=200000] [REPS=5] [MMAP_ITERS=50000000] [OP...]
//   OP: arrayLookup arrayUpdate hashLookup hashUpdate mmapGetLong mmapAddAndGet
//       hashLookupBatch arrayLookupBatch hashUpdateBatch arrayUpdateBatch (ns per element; the
//       whole map per pass, 256 elements per BPF_MAP_*_BATCH call, ITERS elements in all)
//       contendedArrayLookup contendedArrayUpdate contendedMmapGetLong contendedMmapAddAndGet
//   (default: all)
#include <bpf/bpf.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define ENTRIES 1024u

static volatile uint64_t sink;
static char **ops; // selected operations (NULL-terminated), or NULL for all

static int want(const char *op) {
	if (!ops || !*ops)
		return 1;
	for (char **o = ops; *o; o++)
		if (!strcmp(*o, op))
			return 1;
	return 0;
}

static double now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void die(const char *what, int err) {
	fprintf(stderr, "mapbench: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

static int create(enum bpf_map_type type, const char *name, __u32 flags) {
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = flags);
	int fd = bpf_map_create(type, name, 4, 8, ENTRIES, &opts);
	if (fd < 0)
		die(name, fd);
	return fd;
}

static double lookup_loop(int fd, long iters) {
	uint32_t k = 0;
	uint64_t v, acc = 0;
	double t0 = now_ns();
	for (long n = 0; n < iters; n++) {
		k = (k + 1) & (ENTRIES - 1);
		if (bpf_map_lookup_elem(fd, &k, &v))
			die("bpf_map_lookup_elem", errno);
		acc += v;
	}
	double t = now_ns() - t0;
	sink = acc;
	return t / iters;
}

static double update_loop(int fd, long iters) {
	uint32_t k = 0;
	uint64_t v = 0;
	double t0 = now_ns();
	for (long n = 0; n < iters; n++) {
		k = (k + 1) & (ENTRIES - 1);
		v++;
		if (bpf_map_update_elem(fd, &k, &v, BPF_ANY))
			die("bpf_map_update_elem", errno);
	}
	return (now_ns() - t0) / iters;
}

static double mmap_get_loop(uint64_t *a, long iters) {
	uint32_t k = 0;
	uint64_t acc = 0;
	double t0 = now_ns();
	for (long n = 0; n < iters; n++) {
		k = (k + 1) & (ENTRIES - 1);
		acc += __atomic_load_n(&a[k], __ATOMIC_ACQUIRE); // MappedArray.getLong is an acquire load
	}
	double t = now_ns() - t0;
	sink = acc;
	return t / iters;
}

static double mmap_add_loop(uint64_t *a, long iters) {
	uint32_t k = 0;
	uint64_t acc = 0;
	double t0 = now_ns();
	for (long n = 0; n < iters; n++) {
		k = (k + 1) & (ENTRIES - 1);
		acc += __atomic_fetch_add(&a[k], 1, __ATOMIC_SEQ_CST) + 1; // like addAndGet(k, 1)
	}
	double t = now_ns() - t0;
	sink = acc;
	return t / iters;
}

// --- batches: the whole map per pass, BATCH elements per bpf() call; ns per element ------------

#define BATCH 256u // BpfMap.BATCH

static double lookup_batch_loop(int fd, long iters) {
	static uint32_t keys[BATCH];
	static uint64_t vals[BATCH];
	uint32_t in, out;
	uint64_t acc = 0;
	long elems = 0;
	double t0 = now_ns();
	while (elems < iters) {
		void *pin = NULL;
		for (;;) {
			__u32 n = BATCH;
			int err = bpf_map_lookup_batch(fd, pin, &out, keys, vals, &n, NULL);
			if (err && err != -ENOENT)
				die("bpf_map_lookup_batch", err);
			for (__u32 i = 0; i < n; i++)
				acc += keys[i] + vals[i];
			elems += n;
			if (err)
				break;
			in = out;
			pin = &in;
		}
	}
	double t = now_ns() - t0;
	sink = acc;
	return t / elems;
}

static double update_batch_loop(int fd, long iters) {
	static uint32_t keys[ENTRIES];
	static uint64_t vals[ENTRIES];
	long elems = 0;
	for (uint32_t k = 0; k < ENTRIES; k++)
		keys[k] = k;
	double t0 = now_ns();
	while (elems < iters) {
		for (uint32_t k = 0; k < ENTRIES; k++)
			vals[k]++;
		for (uint32_t from = 0; from < ENTRIES; from += BATCH) {
			__u32 n = BATCH;
			int err = bpf_map_update_batch(fd, keys + from, vals + from, &n, NULL);
			if (err)
				die("bpf_map_update_batch", err);
		}
		elems += ENTRIES;
	}
	return (now_ns() - t0) / elems;
}

// --- two threads, same key ------------------------------------------------------------------

enum contended_op { C_LOOKUP, C_UPDATE, C_MMAP_GET, C_MMAP_ADD };

struct contended {
	enum contended_op op;
	int fd;
	uint64_t *a;
	long iters;
	pthread_barrier_t *start;
	double ns_per_op;
};

static void *contended_thread(void *arg) {
	struct contended *c = arg;
	const uint32_t k = 0;
	uint64_t v = 0, acc = 0;
	pthread_barrier_wait(c->start);
	double t0 = now_ns();
	for (long n = 0; n < c->iters; n++) {
		switch (c->op) {
		case C_LOOKUP:
			if (bpf_map_lookup_elem(c->fd, &k, &v))
				die("bpf_map_lookup_elem", errno);
			acc += v;
			break;
		case C_UPDATE:
			v++;
			if (bpf_map_update_elem(c->fd, &k, &v, BPF_ANY))
				die("bpf_map_update_elem", errno);
			break;
		case C_MMAP_GET:
			acc += __atomic_load_n(&c->a[k], __ATOMIC_ACQUIRE);
			break;
		case C_MMAP_ADD:
			acc += __atomic_fetch_add(&c->a[k], 1, __ATOMIC_SEQ_CST) + 1;
			break;
		}
	}
	c->ns_per_op = (now_ns() - t0) / c->iters;
	sink = acc;
	return NULL;
}

static double contended_loop(enum contended_op op, int fd, uint64_t *a, long iters) {
	pthread_barrier_t start;
	pthread_t t[2];
	struct contended c[2];
	pthread_barrier_init(&start, NULL, 2);
	for (int i = 0; i < 2; i++) {
		c[i] = (struct contended){.op = op, .fd = fd, .a = a, .iters = iters, .start = &start};
		int err = pthread_create(&t[i], NULL, contended_thread, &c[i]);
		if (err)
			die("pthread_create", err);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&start);
	return (c[0].ns_per_op + c[1].ns_per_op) / 2;
}

// MAPBENCH_IDLE_THREAD=1: one more thread, idle, as a JVM always has. In a process whose fd table
// is shared by threads, each bpf() call takes and drops a reference on the map's file (fdget);
// a single-threaded process skips that, so its calls are cheaper than any JVM's can be.
static void *idle_thread(void *arg) {
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

int main(int argc, char **argv) {
	if (getenv("MAPBENCH_IDLE_THREAD")) {
		pthread_t t;
		int err = pthread_create(&t, NULL, idle_thread, NULL);
		if (err)
			die("pthread_create", err);
	}
	long iters = argc > 1 ? atol(argv[1]) : 200000;
	int reps = argc > 2 ? atoi(argv[2]) : 5;
	long mmap_iters = argc > 3 ? atol(argv[3]) : 50000000;
	ops = argc > 4 ? argv + 4 : NULL;
	int array = create(BPF_MAP_TYPE_ARRAY, "cbench_array", BPF_F_MMAPABLE);
	int hash = create(BPF_MAP_TYPE_HASH, "cbench_hash", 0);
	for (uint32_t k = 0; k < ENTRIES; k++) {
		uint64_t v = k;
		int err = bpf_map_update_elem(hash, &k, &v, BPF_NOEXIST);
		if (err)
			die("fill hash", err);
	}
	uint64_t *a = mmap(NULL, ENTRIES * 8, PROT_READ | PROT_WRITE, MAP_SHARED, array, 0);
	if (a == MAP_FAILED)
		die("mmap", errno);

	lookup_loop(array, iters / 10); // warm up caches and the syscall path
	for (int r = 0; r < reps; r++) {
		if (want("arrayLookup"))
			printf("arrayLookup,%d,%.2f\n", r, lookup_loop(array, iters));
		if (want("arrayUpdate"))
			printf("arrayUpdate,%d,%.2f\n", r, update_loop(array, iters));
		if (want("hashLookup"))
			printf("hashLookup,%d,%.2f\n", r, lookup_loop(hash, iters));
		if (want("hashUpdate"))
			printf("hashUpdate,%d,%.2f\n", r, update_loop(hash, iters));
		if (want("hashLookupBatch"))
			printf("hashLookupBatch,%d,%.2f\n", r, lookup_batch_loop(hash, iters));
		if (want("arrayLookupBatch"))
			printf("arrayLookupBatch,%d,%.2f\n", r, lookup_batch_loop(array, iters));
		if (want("hashUpdateBatch"))
			printf("hashUpdateBatch,%d,%.2f\n", r, update_batch_loop(hash, iters));
		if (want("arrayUpdateBatch"))
			printf("arrayUpdateBatch,%d,%.2f\n", r, update_batch_loop(array, iters));
		if (want("mmapGetLong"))
			printf("mmapGetLong,%d,%.3f\n", r, mmap_get_loop(a, mmap_iters));
		if (want("mmapAddAndGet"))
			printf("mmapAddAndGet,%d,%.3f\n", r, mmap_add_loop(a, mmap_iters));
		if (want("contendedArrayLookup"))
			printf("contendedArrayLookup,%d,%.2f\n", r, contended_loop(C_LOOKUP, array, a, iters));
		if (want("contendedArrayUpdate"))
			printf("contendedArrayUpdate,%d,%.2f\n", r, contended_loop(C_UPDATE, array, a, iters));
		if (want("contendedMmapGetLong"))
			printf("contendedMmapGetLong,%d,%.3f\n", r, contended_loop(C_MMAP_GET, array, a, mmap_iters / 10));
		if (want("contendedMmapAddAndGet"))
			printf("contendedMmapAddAndGet,%d,%.3f\n", r, contended_loop(C_MMAP_ADD, array, a, mmap_iters / 10));
		fflush(stdout);
	}
	return 0;
}
