/*
 * syrup_client_test.c — a tiny program over the C client (syrup_client.h), used by the build and
 * by the daemon's kernel tests. Also an example of the API.
 *
 *   syrup_client_test offline
 *       errors without a daemon: unreachable socket, unknown Map fd, missing policy file.
 *   syrup_client_test e2e SOCKET POLICY.c
 *       with a running syrupd; POLICY.c declares SYR_MAP(steer, 2) (steer[0]: executor,
 *       steer[1]: inputs seen) and SYR_HASH_MAP(notes, 8). Opens two SO_REUSEPORT UDP sockets,
 *       deploys, registers them, steers datagrams through the mmap'ed Map, uses the hash Map
 *       through syrupd, checks a foreign port is refused, undeploys. Prints "OK" and timings.
 * Exit status 0 on success; otherwise a line saying what failed.
 */
#define _GNU_SOURCE
#include "syrup_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHECK(cond, ...)                                                                       \
	do {                                                                                   \
		if (!(cond)) {                                                                 \
			fprintf(stderr, "FAIL line %d: ", __LINE__);                           \
			fprintf(stderr, __VA_ARGS__);                                          \
			fprintf(stderr, " [last error: %s: %s]\n", syr_last_error_kind(),      \
				syr_last_error());                                             \
			exit(1);                                                               \
		}                                                                              \
	} while (0)

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* One field of a reply: name length (2 bytes LE), name, value length (4 bytes LE), value. */
static size_t put_field(unsigned char *p, const char *name, const char *value)
{
	size_t n = strlen(name), v = strlen(value);
	p[0] = n & 0xff;
	p[1] = (n >> 8) & 0xff;
	memcpy(p + 2, name, n);
	for (int i = 0; i < 4; i++)
		p[2 + n + i] = (v >> (8 * i)) & 0xff;
	memcpy(p + 6 + n, value, v);
	return 6 + n + v;
}

/*
 * syrupd refusing a connection over a limit: it answers LIMIT and closes without reading the
 * request. A forked child plays syrupd on a socket of its own; the call gets LIMIT (not the
 * write's EPIPE), and the next one UNAVAILABLE.
 */
static int refused(void)
{
	char path[] = "/tmp/syrup-client-test-XXXXXX";
	if (!mkdtemp(path))
		return -1;
	char sock[sizeof(path) + 16];
	snprintf(sock, sizeof(sock), "%s/s.sock", path);
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	strcpy(addr.sun_path, sock);
	int srv = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (srv < 0 || bind(srv, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(srv, 1) < 0)
		return -1;
	pid_t child = fork();
	if (child == 0) {
		int c = accept(srv, NULL, NULL);
		unsigned char msg[256];
		size_t n = 4;
		n += put_field(msg + n, "status", "error");
		n += put_field(msg + n, "kind", "LIMIT");
		n += put_field(msg + n, "message", "over the limit");
		uint32_t body = (uint32_t)(n - 4);
		for (int i = 0; i < 4; i++)
			msg[i] = (body >> (8 * i)) & 0xff;
		_exit(c >= 0 && write(c, msg, n) == (ssize_t)n ? 0 : 1);
	}
	close(srv);
	int status = -1, ok = 0;
	if (child > 0 && syr_connect(sock) == 0 && waitpid(child, &status, 0) == child && status == 0) {
		/* the child has exited: its end is closed, the answer is waiting */
		int rc = syr_undeploy(1);
		ok = rc == -EDQUOT && strcmp(syr_last_error_kind(), "LIMIT") == 0 &&
		     strstr(syr_last_error(), "over the limit") != NULL;
		if (!ok)
			fprintf(stderr, "refused: rc %d, %s: %s\n", rc, syr_last_error_kind(), syr_last_error());
		rc = syr_undeploy(1);
		ok = ok && rc < 0 && strcmp(syr_last_error_kind(), "UNAVAILABLE") == 0;
		if (!ok)
			fprintf(stderr, "then: rc %d, %s: %s\n", rc, syr_last_error_kind(), syr_last_error());
	}
	syr_disconnect();
	unlink(sock);
	rmdir(path);
	return ok ? 0 : -1;
}

static int offline(void)
{
	uint64_t v;
	CHECK(syr_connect("/nonexistent-dir/syrupd.sock") == -ENOENT, "connect to a missing socket");
	CHECK(strcmp(syr_last_error_kind(), "UNAVAILABLE") == 0, "kind UNAVAILABLE");
	CHECK(syr_map_lookup_elem(12345, 0, &v) == -EBADF, "unknown map fd");
	CHECK(syr_deploy_policy("/nonexistent-dir/p.c", "socket_select", SYR_UDP, 9, NULL, 0) == -ENOENT,
	      "missing policy file");
	CHECK(strcmp(syr_last_error_kind(), "NOT_FOUND") == 0, "kind NOT_FOUND");
	CHECK(refused() == 0, "an answer sent before the request went out");
	printf("OK offline\n");
	return 0;
}

static int udp_socket(int port)
{
	int one = 1;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	CHECK(fd >= 0, "socket");
	CHECK(setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == 0, "SO_REUSEPORT");
	CHECK(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0, "bind %d: %s", port, strerror(errno));
	return fd;
}

/* Sends n datagrams to port, then counts what each of the two sockets receives. */
static void send_and_count(int port, int n, const int *socks, int *counts)
{
	int tx = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	char msg[16] = "x", buf[64];
	counts[0] = counts[1] = 0;
	for (int i = 0; i < n; i++) {
		CHECK(sendto(tx, msg, sizeof(msg), 0, (struct sockaddr *)&to, sizeof(to)) == sizeof(msg), "sendto");
		if (i % 50 == 49)
			usleep(1000);
	}
	close(tx);
	double end = now_ns() + 2e9;
	while (counts[0] + counts[1] < n && now_ns() < end) {
		struct pollfd p[2] = { { .fd = socks[0], .events = POLLIN }, { .fd = socks[1], .events = POLLIN } };
		if (poll(p, 2, 100) <= 0)
			continue;
		for (int s = 0; s < 2; s++)
			while (p[s].revents && recv(socks[s], buf, sizeof(buf), MSG_DONTWAIT) > 0)
				counts[s]++;
	}
	usleep(50000); /* anything beyond n would show now */
	for (int s = 0; s < 2; s++)
		while (recv(socks[s], buf, sizeof(buf), MSG_DONTWAIT) > 0)
			counts[s]++;
}

static int e2e(const char *socket_path, const char *policy)
{
	int socks[2], counts[2];
	uint64_t v;
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);

	CHECK(syr_connect(socket_path) == 0, "connect");
	socks[0] = udp_socket(0);
	CHECK(getsockname(socks[0], (struct sockaddr *)&a, &alen) == 0, "getsockname");
	int port = ntohs(a.sin_port);
	socks[1] = udp_socket(port);
	/* socket_select adopts a group's sockets in ascending inode order: index them that way */
	struct stat st0, st1;
	CHECK(fstat(socks[0], &st0) == 0 && fstat(socks[1], &st1) == 0, "fstat");
	if (st1.st_ino < st0.st_ino) {
		int t = socks[0];
		socks[0] = socks[1];
		socks[1] = t;
	}

	int id = syr_deploy_policy(policy, "socket_select", SYR_UDP, port, NULL, 0);
	CHECK(id > 0, "deploy on own port %d: %d", port, id);
	for (int i = 0; i < 2; i++)
		CHECK(syr_register_socket(id, i, socks[i]) == 0, "register socket %d", i);

	int steer = syr_map_open(id, "steer");
	CHECK(steer >= 0, "open steer: %d", steer);
	CHECK(syr_map_is_mapped(steer) == 1, "the array Map is mmap'ed");

	CHECK(syr_map_update_elem(steer, 0, 1) == 0, "steer to 1");
	send_and_count(port, 100, socks, counts);
	CHECK(counts[0] == 0 && counts[1] == 100, "all on socket 1: %d %d", counts[0], counts[1]);
	CHECK(syr_map_lookup_elem(steer, 1, &v) == 0 && v == 100, "policy counted 100: %llu", (unsigned long long)v);

	CHECK(syr_map_add_elem(steer, 0, 1, &v) == 0 && v == 2, "atomic add: %llu", (unsigned long long)v);
	send_and_count(port, 100, socks, counts);
	CHECK(counts[0] == 100 && counts[1] == 0, "all on socket 0: %d %d", counts[0], counts[1]);
	CHECK(syr_map_lookup_elem(steer, 1, &v) == 0 && v == 200, "policy counted 200: %llu", (unsigned long long)v);

	int notes = syr_map_open(id, "notes");
	CHECK(notes >= 0, "open notes: %d", notes);
	CHECK(syr_map_is_mapped(notes) == 0, "a hash Map goes through syrupd");
	CHECK(syr_map_lookup_elem(notes, 7, &v) == -ENOENT, "absent key");
	CHECK(syr_map_update_elem(notes, 7, 42) == 0, "update through syrupd");
	CHECK(syr_map_lookup_elem(notes, 7, &v) == 0 && v == 42, "lookup through syrupd: %llu", (unsigned long long)v);
	CHECK(syr_map_add_elem(notes, 7, 1, &v) == -EOPNOTSUPP, "no atomic add through syrupd");

	if (getuid() != 0) {
		int other = syr_deploy_policy(policy, "socket_select", SYR_UDP, port == 65535 ? 65534 : port + 1, NULL, 0);
		CHECK(other == -EPERM && strcmp(syr_last_error_kind(), "DENIED") == 0, "foreign port refused: %d", other);
	}

	/* timings: mmap'ed read and atomic add, and one lookup through syrupd */
	int n = 2000000;
	uint64_t sink = 0;
	double t0 = now_ns();
	for (int i = 0; i < n; i++) {
		syr_map_lookup_elem(steer, 1, &v);
		sink += v;
	}
	double t1 = now_ns();
	for (int i = 0; i < n; i++)
		syr_map_add_elem(steer, 1, 1, &v);
	double t2 = now_ns();
	double add_ns = (t2 - t1) / n;
	for (int i = 0; i < 2000; i++) /* warm syrupd up */
		syr_map_lookup_elem(notes, 7, &v);
	double t2b = now_ns();
	for (int i = 0; i < 2000; i++)
		syr_map_lookup_elem(notes, 7, &v);
	double t3 = now_ns();
	t2 = t2b;
	printf("BENCH mmap_read_ns=%.2f mmap_add_ns=%.2f daemon_lookup_us=%.1f (%llu)\n", (t1 - t0) / n,
	       add_ns, (t3 - t2) / 2000 / 1000, (unsigned long long)(sink & 1));

	CHECK(syr_map_close(steer) == 0 && syr_map_close(notes) == 0, "close maps");
	CHECK(syr_map_close(steer) == -EBADF, "closing twice");
	CHECK(syr_undeploy(id) == 0, "undeploy");
	CHECK(syr_undeploy(id) == -ENOENT, "undeploy twice");
	syr_disconnect();
	close(socks[0]);
	close(socks[1]);
	printf("OK e2e deployment d%d port %d\n", id, port);
	return 0;
}

/* syr_test_policy: the policy routes by its `steer` Map; nothing is deployed. */
static int test_mode(const char *socket_path, const char *policy)
{
	struct syr_test_result r;
	int decisions[8];
	const char *requests[] = {"GET", "SCAN,user=2", NULL};
	const char *maps[] = {"steer=0:1", NULL};

	CHECK(syr_connect(socket_path) == 0, "connect");
	CHECK(syr_test_policy(policy, "socket_select", 2, NULL, requests, 8, NULL, &r, decisions) == 0,
	      "test unseeded: %s", syr_last_error());
	CHECK(r.inputs == 8 && r.executor[0] == 8 && r.executor[1] == 0, "unseeded: all on 0 (%d inputs, %llu, %llu)",
	      r.inputs, (unsigned long long)r.executor[0], (unsigned long long)r.executor[1]);
	CHECK(syr_test_policy(policy, "socket_select", 2, NULL, requests, 8, maps, &r, decisions) == 0,
	      "test seeded: %s", syr_last_error());
	CHECK(r.executor[1] == 8 && decisions[7] == 1, "seeded: all on 1 (%llu)", (unsigned long long)r.executor[1]);
	CHECK(r.ns_per_decision > 0, "timed: %.1f ns", r.ns_per_decision);
	CHECK(syr_test_policy(policy, "no_such_hook", 2, NULL, requests, 1, NULL, &r, NULL) < 0 &&
		      strcmp(syr_last_error_kind(), "UNKNOWN_HOOK") == 0,
	      "unknown hook: %s", syr_last_error_kind());
	syr_disconnect();
	printf("OK test %.1f ns per decision\n", r.ns_per_decision);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 4 && strcmp(argv[1], "test") == 0)
		return test_mode(argv[2], argv[3]);
	if (argc >= 2 && strcmp(argv[1], "offline") == 0)
		return offline();
	if (argc >= 4 && strcmp(argv[1], "e2e") == 0)
		return e2e(argv[2], argv[3]);
	fprintf(stderr, "usage: %s offline | e2e SOCKET POLICY.c | test SOCKET POLICY.c\n", argv[0]);
	return 2;
}
