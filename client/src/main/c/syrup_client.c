/*
 * syrup_client.c — see syrup_client.h and docs/protocol.md.
 *
 * Frames: u32le length (1..65536), then fields: u16le name length, name, u32le value length,
 * value. Requests start with "op", replies with "status" ("ok" or "error" + "kind" + "message").
 */
#define _GNU_SOURCE
#include "syrup_client.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_BODY (64 * 1024)
#define MAX_MAPS 64

static int conn = -1;
static char last_error[512] = "";
static char last_kind[32] = "";

struct map_entry {
	int fd;            /* -1: free slot */
	int deployment;
	char name[128];
	uint64_t *values;  /* mmap'ed values, or NULL */
	size_t length;
	uint32_t max_entries;
};

static struct map_entry maps[MAX_MAPS];
static int maps_ready;

static int fail(const char *kind, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	snprintf(last_kind, sizeof(last_kind), "%s", kind);
	return err > 0 ? -err : err;
}

const char *syr_last_error(void) { return last_error; }
const char *syr_last_error_kind(void) { return last_kind; }

/* ---- frames ------------------------------------------------------------------------------ */

struct buf {
	unsigned char *data;
	size_t len, cap;
	int overflow;
};

static void put(struct buf *b, const void *p, size_t n)
{
	if (b->overflow || b->len + n > b->cap) {
		b->overflow = 1;
		return;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

static void put_le(struct buf *b, uint32_t v, int bytes)
{
	unsigned char le[4] = { v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >> 24) & 0xff };
	put(b, le, bytes);
}

static void field_n(struct buf *b, const char *name, const char *value, size_t vlen)
{
	size_t nlen = strlen(name);
	put_le(b, (uint32_t)nlen, 2);
	put(b, name, nlen);
	put_le(b, (uint32_t)vlen, 4);
	put(b, value, vlen);
}

static void field(struct buf *b, const char *name, const char *value)
{
	field_n(b, name, value, strlen(value));
}

static void field_u(struct buf *b, const char *name, unsigned long long v)
{
	char s[32];
	snprintf(s, sizeof(s), "%llu", v);
	field(b, name, s);
}

static void field_id(struct buf *b, int deployment)
{
	char s[32];
	snprintf(s, sizeof(s), "d%d", deployment);
	field(b, "id", s);
}

static int new_request(struct buf *b, const char *op)
{
	b->cap = 4 + MAX_BODY;
	b->len = 4;
	b->overflow = 0;
	b->data = malloc(b->cap);
	if (!b->data)
		return fail("CLIENT", ENOMEM, "out of memory");
	field(b, "op", op);
	return 0;
}

/* A parsed reply: the body and its fields (values NUL-terminated in a copy). */
struct reply {
	unsigned char *body;
	size_t len;
};

/* Finds the n-th (0-based) field `name`; copies its value (NUL-terminated) to out. 0 or -1. */
static int reply_get_nth(const struct reply *r, const char *name, int n, char *out, size_t outlen)
{
	size_t pos = 0, want = strlen(name);
	while (pos + 2 <= r->len) {
		uint32_t nlen = r->body[pos] | (r->body[pos + 1] << 8);
		pos += 2;
		if (pos + nlen + 4 > r->len)
			return -1;
		const unsigned char *nm = r->body + pos;
		pos += nlen;
		uint32_t vlen = r->body[pos] | (r->body[pos + 1] << 8) | (r->body[pos + 2] << 16) |
				((uint32_t)r->body[pos + 3] << 24);
		pos += 4;
		if (vlen > r->len - pos)
			return -1;
		if (nlen == want && memcmp(nm, name, want) == 0 && n-- == 0) {
			size_t c = vlen < outlen - 1 ? vlen : outlen - 1;
			memcpy(out, r->body + pos, c);
			out[c] = 0;
			return 0;
		}
		pos += vlen;
	}
	return -1;
}

static int reply_get(const struct reply *r, const char *name, char *out, size_t outlen)
{
	return reply_get_nth(r, name, 0, out, outlen);
}

static int write_all(int fd, const unsigned char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads exactly n bytes; a descriptor arriving with them goes to *passed (if not yet set). */
static int read_all(int fd, unsigned char *p, size_t n, int *passed)
{
	while (n > 0) {
		char control[CMSG_SPACE(sizeof(int) * 4)];
		struct iovec iov = { .iov_base = p, .iov_len = n };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
				      .msg_controllen = sizeof(control) };
		ssize_t got = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (got == 0)
			return -ECONNRESET;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
				int count = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
				int *fds = (int *)CMSG_DATA(c);
				for (int i = 0; i < count; i++) {
					if (*passed < 0)
						*passed = fds[i];
					else
						close(fds[i]);
				}
			}
		}
		p += got;
		n -= (size_t)got;
	}
	return 0;
}

static int ensure_connected(void)
{
	return conn >= 0 ? 0 : syr_connect(NULL);
}

/*
 * Sends the request in b (freed) and reads the reply into r (caller frees r->body). A passed
 * descriptor is stored in *passed when passed is not NULL, else closed. An error reply
 * becomes -EPERM/-ENOENT/... with its message in syr_last_error().
 */
static int call(struct buf *b, struct reply *r, int *passed)
{
	int fd_in = -1, rc;
	unsigned char hdr[4];
	r->body = NULL;
	if (passed)
		*passed = -1;
	if (b->overflow) {
		free(b->data);
		return fail("INVALID", E2BIG, "request larger than %d bytes", MAX_BODY);
	}
	rc = ensure_connected();
	if (rc < 0) {
		free(b->data);
		return rc;
	}
	uint32_t body = (uint32_t)(b->len - 4);
	b->data[0] = body & 0xff;
	b->data[1] = (body >> 8) & 0xff;
	b->data[2] = (body >> 16) & 0xff;
	b->data[3] = (body >> 24) & 0xff;
	rc = write_all(conn, b->data, b->len);
	free(b->data);
	/*
	 * syrupd may have answered and closed before the request went out (it refuses a connection
	 * over a limit that way): its answer, still to be read, is the error to report, not EPIPE.
	 */
	int sent = rc;
	if (sent < 0 && sent != -EPIPE && sent != -ECONNRESET)
		return fail("UNAVAILABLE", sent, "sending to syrupd: %s", strerror(-sent));
	rc = read_all(conn, hdr, 4, &fd_in);
	if (rc < 0 && sent < 0) {
		close(conn);
		conn = -1;
		return fail("UNAVAILABLE", sent, "sending to syrupd: %s", strerror(-sent));
	}
	if (rc < 0)
		goto io_error;
	r->len = hdr[0] | (hdr[1] << 8) | (hdr[2] << 16) | ((uint32_t)hdr[3] << 24);
	if (r->len == 0 || r->len > MAX_BODY) {
		rc = -EPROTO;
		goto io_error;
	}
	r->body = malloc(r->len);
	if (!r->body) {
		rc = -ENOMEM;
		goto io_error;
	}
	rc = read_all(conn, r->body, r->len, &fd_in);
	if (rc < 0)
		goto io_error;

	char status[16];
	if (reply_get(r, "status", status, sizeof(status)) < 0 || strcmp(status, "ok") != 0) {
		char kind[32] = "KERNEL", message[480] = "syrupd sent a malformed reply";
		reply_get(r, "kind", kind, sizeof(kind));
		reply_get(r, "message", message, sizeof(message));
		if (fd_in >= 0)
			close(fd_in);
		free(r->body);
		r->body = NULL;
		int err = !strcmp(kind, "NOT_FOUND") ? ENOENT
			: !strcmp(kind, "DENIED") ? EPERM
			: !strcmp(kind, "CONFLICT") ? EEXIST
			: !strcmp(kind, "UNAVAILABLE") || !strcmp(kind, "UNKNOWN_HOOK") ? ENODEV
			: !strcmp(kind, "NO_EXECUTORS") ? ENXIO
			: !strcmp(kind, "LIMIT") ? EDQUOT
			: !strcmp(kind, "KERNEL") ? EIO
			: EINVAL;
		return fail(kind, err, "%s", message);
	}
	if (passed)
		*passed = fd_in;
	else if (fd_in >= 0)
		close(fd_in);
	return 0;

io_error:
	if (fd_in >= 0)
		close(fd_in);
	free(r->body);
	r->body = NULL;
	close(conn);
	conn = -1;
	return fail("UNAVAILABLE", rc, "reading syrupd's reply: %s", strerror(-rc));
}

/* ---- connection -------------------------------------------------------------------------- */

int syr_connect(const char *socket_path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	if (!socket_path)
		socket_path = getenv("SYRUP_SOCKET");
	if (!socket_path || !*socket_path)
		socket_path = SYR_DEFAULT_SOCKET;
	if (strlen(socket_path) >= sizeof(addr.sun_path))
		return fail("CLIENT", ENAMETOOLONG, "socket path too long: %s", socket_path);
	strcpy(addr.sun_path, socket_path);
	if (conn >= 0) {
		close(conn);
		conn = -1;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail("CLIENT", errno, "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int e = errno;
		close(fd);
		return fail("UNAVAILABLE", e, "cannot reach syrupd at %s: %s", socket_path, strerror(e));
	}
	conn = fd;
	return 0;
}

static void init_maps(void)
{
	if (!maps_ready) {
		for (int i = 0; i < MAX_MAPS; i++)
			maps[i].fd = -1;
		maps_ready = 1;
	}
}

static struct map_entry *find_map(int map_fd)
{
	init_maps();
	for (int i = 0; i < MAX_MAPS; i++)
		if (maps[i].fd == map_fd && map_fd >= 0)
			return &maps[i];
	return NULL;
}

void syr_disconnect(void)
{
	init_maps();
	for (int i = 0; i < MAX_MAPS; i++)
		if (maps[i].fd >= 0)
			syr_map_close(maps[i].fd);
	if (conn >= 0)
		close(conn);
	conn = -1;
}

/* ---- deployments ------------------------------------------------------------------------- */

static int parse_id(const char *id)
{
	char *end;
	if (id[0] != 'd')
		return -1;
	long n = strtol(id + 1, &end, 10);
	return *end == 0 && n > 0 && n < (1L << 30) ? (int)n : -1;
}

/* Reads policy_file into a new buffer (free it); its length in *len. 0 or -errno. */
static int read_policy(const char *policy_file, char **text, size_t *len)
{
	int fd = open(policy_file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail("NOT_FOUND", errno, "cannot open policy %s: %s", policy_file, strerror(errno));
	*text = malloc(MAX_BODY + 1);
	if (!*text) {
		close(fd);
		return fail("CLIENT", ENOMEM, "out of memory");
	}
	*len = 0;
	ssize_t n;
	while ((n = read(fd, *text + *len, MAX_BODY + 1 - *len)) > 0)
		*len += (size_t)n;
	close(fd);
	if (n < 0 || *len > MAX_BODY) {
		free(*text);
		return fail("INVALID", n < 0 ? errno : E2BIG, "cannot read policy %s (%s)", policy_file,
			    n < 0 ? strerror(errno) : "larger than 64 KiB");
	}
	return 0;
}

int syr_deploy_policy(const char *policy_file, const char *hook, enum syr_protocol protocol, int port,
		      const char *const *defines, int replace)
{
	struct buf b;
	struct reply r;
	char *text;
	size_t len;
	int rc = read_policy(policy_file, &text, &len);
	if (rc < 0)
		return rc;
	if (new_request(&b, "DEPLOY") < 0) {
		free(text);
		return -ENOMEM;
	}
	const char *base = strrchr(policy_file, '/');
	field_n(&b, "source", text, len);
	free(text);
	field(&b, "name", base ? base + 1 : policy_file);
	field(&b, "hook", hook);
	field(&b, "protocol", protocol == SYR_TCP ? "tcp" : "udp");
	field_u(&b, "port", (unsigned)port);
	field(&b, "replace", replace ? "1" : "0");
	for (const char *const *d = defines; d && *d; d++)
		field(&b, "define", *d);
	rc = call(&b, &r, NULL);
	if (rc < 0)
		return rc;
	char record[512], *tab;
	rc = reply_get(&r, "deployment", record, sizeof(record));
	free(r.body);
	if (rc < 0 || !(tab = strchr(record, '\t')))
		return fail("CLIENT", EPROTO, "reply without a deployment record");
	*tab = 0;
	int id = parse_id(record);
	return id > 0 ? id : fail("CLIENT", EPROTO, "unexpected deployment id '%s'", record);
}

int syr_test_policy(const char *policy_file, const char *hook, int executors, const char *const *defines,
		    const char *const *requests, int count, const char *const *maps, struct syr_test_result *out,
		    int *decisions)
{
	struct buf b;
	struct reply r;
	char *text;
	size_t len;
	int rc = read_policy(policy_file, &text, &len);
	if (rc < 0)
		return rc;
	if (new_request(&b, "TEST") < 0) {
		free(text);
		return -ENOMEM;
	}
	const char *base = strrchr(policy_file, '/');
	field_n(&b, "source", text, len);
	free(text);
	field(&b, "name", base ? base + 1 : policy_file);
	field(&b, "hook", hook);
	field_u(&b, "executors", (unsigned)executors);
	field_u(&b, "count", (unsigned)count);
	for (const char *const *d = defines; d && *d; d++)
		field(&b, "define", *d);
	for (const char *const *q = requests; q && *q; q++)
		field(&b, "request", *q);
	for (const char *const *m = maps; m && *m; m++)
		field(&b, "map", *m);
	rc = call(&b, &r, NULL);
	if (rc < 0)
		return rc;
	char num[64];
	char *list = malloc(MAX_BODY);
	if (!list) {
		free(r.body);
		return fail("CLIENT", ENOMEM, "out of memory");
	}
	memset(out, 0, sizeof(*out));
	if (reply_get(&r, "ns_per_decision", num, sizeof(num)) < 0 || reply_get(&r, "decisions", list, MAX_BODY) < 0) {
		free(list);
		free(r.body);
		return fail("CLIENT", EPROTO, "TEST reply without decisions");
	}
	free(r.body);
	out->ns_per_decision = strtod(num, NULL);
	for (char *save = NULL, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		int d;
		if (!strcmp(t, "PASS"))
			d = SYR_TEST_PASS, out->pass++;
		else if (!strcmp(t, "DROP"))
			d = SYR_TEST_DROP, out->drop++;
		else if (!strcmp(t, "NONE"))
			d = SYR_TEST_NONE, out->none++;
		else if (!strcmp(t, "OTHER") || (d = atoi(t)) < 0 || d >= SYR_TEST_MAX_EXECUTORS)
			d = SYR_TEST_OTHER, out->other++;
		else
			out->executor[d]++;
		if (decisions)
			decisions[out->inputs] = d;
		out->inputs++;
	}
	free(list);
	return 0;
}

int syr_undeploy(int deployment)
{
	struct buf b;
	struct reply r;
	if (new_request(&b, "UNDEPLOY") < 0)
		return -ENOMEM;
	field_id(&b, deployment);
	int rc = call(&b, &r, NULL);
	free(r.body);
	return rc;
}

int syr_register_socket(int deployment, int index, int sockfd)
{
	struct buf b;
	struct reply r;
	if (new_request(&b, "REGISTER_SOCKET") < 0)
		return -ENOMEM;
	field_id(&b, deployment);
	field_u(&b, "index", (unsigned)index);
	field_u(&b, "fd", (unsigned)sockfd);
	int rc = call(&b, &r, NULL);
	free(r.body);
	return rc;
}

int syr_register_thread(int deployment, int tid)
{
	struct buf b;
	struct reply r;
	char v[32];
	if (new_request(&b, "REGISTER_THREAD") < 0)
		return -ENOMEM;
	field_id(&b, deployment);
	field_u(&b, "tid", (unsigned)tid);
	int rc = call(&b, &r, NULL);
	if (rc == 0)
		rc = reply_get(&r, tid == 0 ? "threads" : "index", v, sizeof(v)) == 0 ? (int)strtoul(v, NULL, 10) : -EPROTO;
	free(r.body);
	return rc;
}

/* ---- maps -------------------------------------------------------------------------------- */

int syr_map_open(int deployment, const char *name)
{
	struct buf b;
	struct reply r;
	int fd = -1;
	init_maps();
	struct map_entry *slot = find_map(-1);
	for (int i = 0; i < MAX_MAPS && !slot; i++)
		if (maps[i].fd < 0)
			slot = &maps[i];
	if (!slot)
		return fail("CLIENT", EMFILE, "more than %d Maps open", MAX_MAPS);
	if (strlen(name) >= sizeof(slot->name))
		return fail("INVALID", ENAMETOOLONG, "map name too long");
	if (new_request(&b, "OPEN_MAP") < 0)
		return -ENOMEM;
	field_id(&b, deployment);
	field(&b, "map", name);
	int rc = call(&b, &r, &fd);
	if (rc < 0)
		return rc;
	char v[64];
	int mmapable = reply_get(&r, "mmapable", v, sizeof(v)) == 0 && !strcmp(v, "1");
	uint32_t value_size = reply_get(&r, "value_size", v, sizeof(v)) == 0 ? (uint32_t)strtoul(v, NULL, 10) : 0;
	uint32_t max = reply_get(&r, "max_entries", v, sizeof(v)) == 0 ? (uint32_t)strtoul(v, NULL, 10) : 0;
	free(r.body);
	if (fd < 0 && mmapable)
		return fail("KERNEL", EPROTO, "syrupd passed no descriptor for map '%s'", name);
	if (fd < 0) {
		/* No map fd (an unpinned Map): operations go through syrupd; a descriptor of
		 * /dev/null serves as the handle so that handles stay unique. */
		fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return fail("CLIENT", errno, "open /dev/null: %s", strerror(errno));
	}
	slot->fd = fd;
	slot->deployment = deployment;
	strcpy(slot->name, name);
	slot->values = NULL;
	slot->length = 0;
	slot->max_entries = max;
	if (mmapable && value_size == 8 && max > 0) {
		long page = sysconf(_SC_PAGESIZE);
		size_t len = ((size_t)max * 8 + (size_t)page - 1) / (size_t)page * (size_t)page;
		void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED) {
			int e = errno;
			close(fd);
			slot->fd = -1;
			return fail("KERNEL", e, "mmap of map '%s': %s", name, strerror(e));
		}
		slot->values = p;
		slot->length = len;
	}
	return fd;
}

int syr_map_close(int map_fd)
{
	struct map_entry *m = find_map(map_fd);
	if (!m)
		return fail("CLIENT", EBADF, "fd %d is not an open Syrup Map", map_fd);
	if (m->values)
		munmap(m->values, m->length);
	close(m->fd);
	m->fd = -1;
	m->values = NULL;
	return 0;
}

int syr_map_is_mapped(int map_fd)
{
	struct map_entry *m = find_map(map_fd);
	return m ? m->values != NULL : -EBADF;
}

static int map_request(struct map_entry *m, const char *op, uint32_t key, struct buf *b)
{
	if (new_request(b, op) < 0)
		return -ENOMEM;
	field_id(b, m->deployment);
	field(b, "map", m->name);
	field_u(b, "key", key);
	return 0;
}

int syr_map_lookup_elem(int map_fd, uint32_t key, uint64_t *value)
{
	struct map_entry *m = find_map(map_fd);
	struct buf b;
	struct reply r;
	if (!m)
		return fail("CLIENT", EBADF, "fd %d is not an open Syrup Map", map_fd);
	if (m->values) {
		if (key >= m->max_entries)
			return fail("NOT_FOUND", ENOENT, "key %u outside map '%s'", key, m->name);
		*value = __atomic_load_n(&m->values[key], __ATOMIC_ACQUIRE);
		return 0;
	}
	if (map_request(m, "MAP_LOOKUP", key, &b) < 0)
		return -ENOMEM;
	int rc = call(&b, &r, NULL);
	if (rc < 0)
		return rc;
	char v[32];
	if (reply_get(&r, "found", v, sizeof(v)) < 0 || strcmp(v, "1") != 0) {
		free(r.body);
		return fail("NOT_FOUND", ENOENT, "no key %u in map '%s'", key, m->name);
	}
	rc = reply_get(&r, "value", v, sizeof(v));
	free(r.body);
	if (rc < 0)
		return fail("CLIENT", EPROTO, "reply without a value");
	*value = strtoull(v, NULL, 10);
	return 0;
}

int syr_map_update_elem(int map_fd, uint32_t key, uint64_t value)
{
	struct map_entry *m = find_map(map_fd);
	struct buf b;
	struct reply r;
	if (!m)
		return fail("CLIENT", EBADF, "fd %d is not an open Syrup Map", map_fd);
	if (m->values) {
		if (key >= m->max_entries)
			return fail("INVALID", E2BIG, "key %u outside map '%s'", key, m->name);
		__atomic_store_n(&m->values[key], value, __ATOMIC_RELEASE);
		return 0;
	}
	if (map_request(m, "MAP_UPDATE", key, &b) < 0)
		return -ENOMEM;
	field_u(&b, "value", (unsigned long long)value);
	int rc = call(&b, &r, NULL);
	free(r.body);
	return rc;
}

int syr_map_add_elem(int map_fd, uint32_t key, uint64_t delta, uint64_t *result)
{
	struct map_entry *m = find_map(map_fd);
	if (!m)
		return fail("CLIENT", EBADF, "fd %d is not an open Syrup Map", map_fd);
	if (!m->values)
		return fail("INVALID", EOPNOTSUPP, "map '%s' is not mmap'ed: atomic add needs BPF_F_MMAPABLE", m->name);
	if (key >= m->max_entries)
		return fail("INVALID", E2BIG, "key %u outside map '%s'", key, m->name);
	uint64_t v = __atomic_add_fetch(&m->values[key], delta, __ATOMIC_SEQ_CST);
	if (result)
		*result = v;
	return 0;
}
