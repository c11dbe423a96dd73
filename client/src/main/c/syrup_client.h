/*
 * syrup_client.h — the C client of syrupd (paper Table 1), over the control socket protocol of
 * docs/protocol.md. Link with syrup_client.c (no other dependency than libc).
 *
 * Connection: one per process, made on first use to $SYRUP_SOCKET or /run/syrup/syrupd.sock,
 * or explicitly with syr_connect(). syrupd knows the caller by SO_PEERCRED: application
 * "uid-<uid>" ("admin" for root). Deployments live until syr_undeploy() or the process exits.
 *
 * Errors: functions return a negative errno-style value; syr_last_error() and
 * syr_last_error_kind() describe the last failure (kind is a SyrupException.Kind name such as
 * "DENIED", or "CLIENT" for local errors). Not thread-safe: serialize calls.
 */
#ifndef SYRUP_CLIENT_H
#define SYRUP_CLIENT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SYR_DEFAULT_SOCKET "/run/syrup/syrupd.sock"

enum syr_protocol { SYR_UDP = 0, SYR_TCP = 1 };

/* Connects to syrupd at socket_path (NULL: $SYRUP_SOCKET, else SYR_DEFAULT_SOCKET). 0 or -errno. */
int syr_connect(const char *socket_path);

/* Closes the connection (deployments stay) and unmaps every open Map. */
void syr_disconnect(void);

/*
 * Deploys the policy in the C file policy_file (its text is sent; syrupd compiles it) to hook
 * (e.g. "socket_select") for protocol/port. defines: NULL or a NULL-terminated array of
 * "NAME=VALUE" strings. replace: swap the policy of this application's deployment on the port.
 * Returns the deployment number N (syrupd's id "dN"), > 0, or -errno.
 */
int syr_deploy_policy(const char *policy_file, const char *hook, enum syr_protocol protocol, int port,
                      const char *const *defines, int replace);

/* Removes deployment N. 0 or -errno. */
int syr_undeploy(int deployment);

/* Puts this process's socket sockfd at index of deployment N's executors. 0 or -errno. */
int syr_register_socket(int deployment, int index, int sockfd);

/*
 * Registers thread tid (gettid()) of this process as an input of thread_scheduler deployment N:
 * returns its index (the key of per-thread Maps), or with tid 0 registers every thread the
 * process has now and returns how many; -errno on failure (EPERM: DENIED, not a thread of this process and uid).
 */
int syr_register_thread(int deployment, int tid);

/*
 * Opens Map `name` of deployment N: returns the map fd syrupd passes (SCM_RIGHTS), or -errno.
 * ARRAY Maps with 8-byte values created BPF_F_MMAPABLE are mmap'ed: lookups and updates are
 * then memory accesses (no system call); other Maps go through syrupd.
 */
int syr_map_open(int deployment, const char *name);

/* Unmaps and closes a Map opened with syr_map_open. 0 or -errno. */
int syr_map_close(int map_fd);

/* *value = map[key]. 0, -ENOENT when absent, or -errno. */
int syr_map_lookup_elem(int map_fd, uint32_t key, uint64_t *value);

/* map[key] = value. 0 or -errno. */
int syr_map_update_elem(int map_fd, uint32_t key, uint64_t value);

/* Atomic map[key] += delta, *result = the new value (mmap'ed Maps only: else -EOPNOTSUPP). */
int syr_map_add_elem(int map_fd, uint32_t key, uint64_t delta, uint64_t *result);

/* Whether map_fd is mmap'ed (1), goes through syrupd (0), or is unknown (-EBADF). */
int syr_map_is_mapped(int map_fd);

/* Decisions of syr_test_policy besides an executor index. */
#define SYR_TEST_PASS (-1)
#define SYR_TEST_DROP (-2)
#define SYR_TEST_OTHER (-3) /* an index beyond the hook's executor slots */
#define SYR_TEST_NONE (-4)  /* the hook never hands this input to the policy */
#define SYR_TEST_MAX_EXECUTORS 128

struct syr_test_result {
	int inputs;                                 /* inputs run */
	uint64_t executor[SYR_TEST_MAX_EXECUTORS];  /* inputs per executor index */
	uint64_t pass, drop, other, none;           /* (indexes >= SYR_TEST_MAX_EXECUTORS count as other) */
	double ns_per_decision;                     /* the kernel's average per run */
};

/*
 * Runs the policy in the C file policy_file on inputs in the kernel without deploying it
 * (BPF_PROG_TEST_RUN: nothing is attached), compiled for hook as a deploy would compile it.
 * executors: NUM_EXECUTORS. defines, requests, maps: NULL or NULL-terminated arrays of
 * "NAME=VALUE", requests ("GET", "SCAN,user=3", "GET,key=42": UDP to port 9000, each from its own
 * source port), and Map seeds ("NAME=key:value,key:value"). count: inputs in all, going round the
 * requests (0: each once; at most 4096). out: the histogram and time; decisions: NULL or room for
 * count (or the number of requests) ints, each an executor index or SYR_TEST_*. 0 or -errno.
 */
int syr_test_policy(const char *policy_file, const char *hook, int executors, const char *const *defines,
                    const char *const *requests, int count, const char *const *maps, struct syr_test_result *out,
                    int *decisions);

/* The last error's message and kind (never NULL). */
const char *syr_last_error(void);
const char *syr_last_error_kind(void);

#ifdef __cplusplus
}
#endif

#endif /* SYRUP_CLIENT_H */
