/*
 * The control socket's transport: a Unix socket served by libmicrohttpd,
 * one thread per connection, each request's caller identified by
 * SO_PEERCRED and handed with the request to objfs_ctl_handle
 * (src/ctlsock_api.c, where the endpoints and their authorisation live).
 *
 * Limits that keep a hostile or broken client from hurting the daemon (see
 * "Limits" in docs/control-socket.md):
 *   - at most CTL_CONN_MAX connections (more are closed at accept), and at
 *     most CTL_CONN_PER_UID of them from one user other than root and the
 *     daemon's own, so one local user cannot lock the admins out;
 *   - headers bounded by the per-connection memory pool (32 KiB; MHD answers
 *     431/413 past it);
 *   - a body announced over 64 KiB is answered 413 at once, before any of it
 *     is read; a chunked body that grows past 64 KiB closes the connection;
 *   - a connection idle for 10 s is closed, and a request still receiving
 *     its body after CTL_REQ_MAX_S is dropped (a slow drip of bytes);
 *   - the threads have a small stack and never take FUSE or upload locks
 *     beyond the short ones the handlers use.
 * Every handler that waits (flush) checks objfs_ctl_api_shutdown, so
 * stopping the daemon does not wait for a long flush.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ctlsock.h"
#include "ctlsock_api.h"
#include "log.h"

#define CTL_CONN_MAX     128
#define CTL_IDLE_S       10
#define CTL_MEM_LIMIT    (32 * 1024)
#define CTL_STACK        (512 * 1024)
#define CTL_REQ_MAX_S    60          /* longest a request may take to arrive */
#define CTL_BACKLOG      64
#define CTL_CONN_PER_UID 32          /* connections one user (not root) may hold */

struct objfs_ctlsock {
	struct objfs_ctx *ctx;
	struct objfs_ctl_api *api;
	struct MHD_Daemon *mhd;
	char *path;
	dev_t dev;                   /* the socket file we made, so stop removes */
	ino_t ino;                   /* only ours (not a newer daemon's) */
	pthread_mutex_t lock;
	struct { uid_t uid; unsigned n; } uids[2 * CTL_CONN_MAX];  /* lock: open connections */
	size_t nuids;                /* lock */
};

/* One request being received. */
struct ctl_req {
	char *body;                  /* malloc'd, grows to OBJFS_CTL_BODY_MAX */
	size_t len, cap;
	int64_t started_ms;
	int answered;                /* a response is queued */
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* MHD's own messages (client errors, mostly) at debug level: a hostile
 * client must not be able to flood the log. */
static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
	char line[256];
	size_t n;

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	log_debug("control socket: %s", line);
}

/* A copy of s fit for one log line: control bytes become '?', at most max bytes. */
static void log_safe(char *dst, size_t dlen, const char *s, size_t max)
{
	size_t i;

	for (i = 0; s[i] && i < max && i + 1 < dlen; i++)
		dst[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
	dst[i] = '\0';
}

static enum MHD_Result queue(struct MHD_Connection *c, struct objfs_ctl_resp *r)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(r->len, r->body, MHD_RESPMEM_MUST_FREE);
	if (!resp)
		return MHD_NO;
	r->body = NULL;              /* MHD frees it */
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				r->content_type ? r->content_type : "application/json");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (r->allow)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
	ret = MHD_queue_response(c, (unsigned)r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* Answers with a fixed error (no caller involved: 413 before the body). */
static enum MHD_Result queue_error(struct MHD_Connection *c, int status, const char *msg)
{
	struct objfs_ctl_resp r = { .status = status, .content_type = "application/json" };

	if (asprintf(&r.body, "{\"error\": \"%s\"}\n", msg) < 0)
		return MHD_NO;
	r.len = strlen(r.body);
	return queue(c, &r);
}

/* The caller's credentials from the connection's socket. */
static int peer_cred(struct MHD_Connection *c, struct ucred *uc)
{
	const union MHD_ConnectionInfo *ci;
	socklen_t sl = sizeof(*uc);

	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (!ci)
		return -EBADF;
	if (getsockopt(ci->connect_fd, SOL_SOCKET, SO_PEERCRED, uc, &sl) || sl != sizeof(*uc))
		return errno ? -errno : -EIO;
	return 0;
}

static enum MHD_Result answer(struct objfs_ctlsock *cs, struct MHD_Connection *c,
			      const char *method, const char *url, struct ctl_req *rq)
{
	struct objfs_ctl_peer peer;
	struct objfs_ctl_resp r;
	struct ucred uc;
	enum MHD_Result ret;
	char safe_url[128], safe_method[24];
	int rc;

	rc = peer_cred(c, &uc);
	if (rc) {
		log_warn("control socket: no peer credentials: %s", strerror(-rc));
		return MHD_NO;       /* nobody to answer: close */
	}
	if (objfs_ctl_peer_init(cs->api, uc.uid, uc.gid, uc.pid, &peer))
		return MHD_NO;
	rc = objfs_ctl_handle(cs->api, &peer, method, url, rq->body, rq->len, &r);
	log_safe(safe_url, sizeof(safe_url), url, 120);
	log_safe(safe_method, sizeof(safe_method), method, 16);
	log_debug("control socket: uid %u pid %d %s %s -> %d", (unsigned)uc.uid, (int)uc.pid,
		  safe_method, safe_url, rc ? 500 : r.status);
	objfs_ctl_peer_clear(&peer);
	if (rc)
		return MHD_NO;
	ret = queue(c, &r);
	objfs_ctl_resp_clear(&r);
	rq->answered = 1;
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	struct objfs_ctlsock *cs = cls;
	struct ctl_req *rq = *con_cls;

	(void)version;
	if (!rq) {
		/* headers are in, nothing of the body read yet: refuse a body
		 * announced too large now (MHD then reads none of it) */
		const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_CONTENT_LENGTH);

		rq = calloc(1, sizeof(*rq));
		if (!rq)
			return MHD_NO;
		rq->started_ms = mono_ms();
		*con_cls = rq;
		if (cl) {
			char *end;
			unsigned long long v;

			errno = 0;
			v = strtoull(cl, &end, 10);
			if (errno == ERANGE || (end != cl && !*end && v > OBJFS_CTL_BODY_MAX)) {
				rq->answered = 1;
				return queue_error(c, 413, "request body over 65536 bytes");
			}
			if (errno || end == cl || *end) {
				rq->answered = 1;
				return queue_error(c, 400, "bad Content-Length");
			}
		}
		return MHD_YES;
	}
	if (rq->answered) {
		*upload_data_size = 0;       /* (not reached: MHD reads no more) */
		return MHD_YES;
	}
	if (*upload_data_size) {
		size_t n = *upload_data_size;

		if (mono_ms() - rq->started_ms > CTL_REQ_MAX_S * 1000) {
			log_debug("control socket: dropping a request slower than %d s",
				  CTL_REQ_MAX_S);
			return MHD_NO;
		}
		if (n > OBJFS_CTL_BODY_MAX - rq->len) {
			/* a chunked body past the limit: no answer can be queued
			 * in the middle of a body, so the connection is closed */
			log_debug("control socket: dropping a body over %d bytes", OBJFS_CTL_BODY_MAX);
			return MHD_NO;
		}
		if (rq->len + n > rq->cap) {
			size_t cap = rq->cap ? rq->cap : 4096;
			char *nb;

			while (cap < rq->len + n)
				cap *= 2;
			if (cap > OBJFS_CTL_BODY_MAX)
				cap = OBJFS_CTL_BODY_MAX;
			nb = realloc(rq->body, cap);
			if (!nb)
				return MHD_NO;
			rq->body = nb;
			rq->cap = cap;
		}
		memcpy(rq->body + rq->len, upload_data, n);
		rq->len += n;
		*upload_data_size = 0;
		return MHD_YES;
	}
	return answer(cs, c, method, url, rq);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct ctl_req *rq = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (rq) {
		free(rq->body);
		free(rq);
		*con_cls = NULL;
	}
}

/* Counts connections per user: past CTL_CONN_PER_UID the new one is shut
 * down at once (its thread then sees EOF and ends).  socket_context holds
 * uid + 1 for a counted connection. */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct objfs_ctlsock *cs = cls;
	const union MHD_ConnectionInfo *ci;
	struct ucred uc;
	size_t i;
	int over = 0;

	if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		uid_t uid;

		if (!*socket_context)
			return;
		uid = (uid_t)((uintptr_t)*socket_context - 1);
		pthread_mutex_lock(&cs->lock);
		for (i = 0; i < cs->nuids; i++)
			if (cs->uids[i].uid == uid)
				break;
		if (i < cs->nuids && --cs->uids[i].n == 0)
			cs->uids[i] = cs->uids[--cs->nuids];
		pthread_mutex_unlock(&cs->lock);
		*socket_context = NULL;
		return;
	}
	if (peer_cred(c, &uc) || uc.uid == 0 || uc.uid == geteuid())
		return;
	pthread_mutex_lock(&cs->lock);
	for (i = 0; i < cs->nuids; i++)
		if (cs->uids[i].uid == uc.uid)
			break;
	if (i == cs->nuids) {
		if (i == sizeof(cs->uids) / sizeof(cs->uids[0])) {
			over = 1;
		} else {
			cs->uids[i].uid = uc.uid;
			cs->uids[i].n = 0;
			cs->nuids++;
		}
	}
	if (!over && cs->uids[i].n >= CTL_CONN_PER_UID)
		over = 1;
	if (!over) {
		cs->uids[i].n++;
		*socket_context = (void *)(uintptr_t)((uint64_t)uc.uid + 1);
	}
	pthread_mutex_unlock(&cs->lock);
	if (over) {
		log_debug("control socket: uid %u holds %d connections already; closing a new one",
			  (unsigned)uc.uid, CTL_CONN_PER_UID);
		ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (ci)
			shutdown(ci->connect_fd, SHUT_RDWR);
	}
}

/* ---- the socket file ---------------------------------------------------------- */

/* mkdir -p of path's directory, new levels mode 0755. */
static int make_parent(const char *path, char *err, size_t errlen)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	size_t n = strlen(path);

	if (n >= sizeof(dir))
		return -ENAMETOOLONG;
	memcpy(dir, path, n + 1);
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0755) && errno != EEXIST) {
			int e = errno;

			snprintf(err, errlen, "control socket %s: cannot create %s: %s", path, dir,
				 strerror(e));
			return -e;
		}
		*p = '/';
	}
	return 0;
}

/* A socket file at path: a live listener is an error, a stale one is removed. */
static int clear_stale(const char *path, const struct sockaddr_un *sa, char *err, size_t errlen)
{
	struct stat st;
	int fd, rc;

	if (lstat(path, &st)) {
		if (errno == ENOENT)
			return 0;
		rc = -errno;
		snprintf(err, errlen, "control socket %s: %s", path, strerror(-rc));
		return rc;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "control socket %s exists and is not a socket", path);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "control socket: socket: %s", strerror(-rc));
		return rc;
	}
	rc = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0 ? 0 : -errno;
	close(fd);
	if (rc == 0 || rc == -EAGAIN) {       /* EAGAIN: a live listener with a full backlog */
		snprintf(err, errlen, "control socket %s is in use by another process", path);
		return -EADDRINUSE;
	}
	if (unlink(path) && errno != ENOENT) {
		rc = -errno;
		snprintf(err, errlen, "control socket %s: cannot remove the stale socket: %s", path,
			 strerror(-rc));
		return rc;
	}
	log_info("control socket %s: removed a stale socket", path);
	return 0;
}

/* Resolves control_socket_group (a name or a number). */
static int socket_gid(const char *name, gid_t *gid, char *err, size_t errlen)
{
	struct group gr, *res = NULL;
	char buf[16384], *end;
	unsigned long v;

	if (getgrnam_r(name, &gr, buf, sizeof(buf), &res) == 0 && res) {
		*gid = res->gr_gid;
		return 0;
	}
	errno = 0;
	v = strtoul(name, &end, 10);
	if (name[0] >= '0' && name[0] <= '9' && !*end && !errno && v < (gid_t)-1) {
		*gid = (gid_t)v;
		return 0;
	}
	snprintf(err, errlen, "control_socket_group %s: no such group", name);
	return -ENOENT;
}

/* Creates, binds and listens on the socket; mode and group applied. */
static int open_socket(struct objfs_ctlsock *cs, char *err, size_t errlen)
{
	const struct objfs_config *cfg = cs->ctx->cfg;
	struct sockaddr_un sa;
	struct stat st;
	gid_t gid = (gid_t)-1;
	int fd = -1, rc;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(cs->path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "control socket %s: path longer than %zu bytes", cs->path,
			 sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, cs->path, strlen(cs->path) + 1);
	if (cfg->control_socket_group && cfg->control_socket_group[0]) {
		rc = socket_gid(cfg->control_socket_group, &gid, err, errlen);
		if (rc)
			return rc;
	}
	rc = make_parent(cs->path, err, errlen);
	if (rc)
		return rc;
	rc = clear_stale(cs->path, &sa, err, errlen);
	if (rc)
		return rc;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "control socket: socket: %s", strerror(-rc));
		return rc;
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		rc = -errno;
		snprintf(err, errlen, "control socket %s: bind: %s", cs->path, strerror(-rc));
		goto fail;
	}
	/* chmod and chown the path before anyone is let in by listen() */
	if (chmod(cs->path, cfg->control_socket_mode)) {
		rc = -errno;
		snprintf(err, errlen, "control socket %s: chmod %04o: %s", cs->path,
			 (unsigned)cfg->control_socket_mode, strerror(-rc));
		goto fail_unlink;
	}
	if (gid != (gid_t)-1 && chown(cs->path, (uid_t)-1, gid)) {
		rc = -errno;
		snprintf(err, errlen, "control socket %s: chown to group %s: %s", cs->path,
			 cfg->control_socket_group, strerror(-rc));
		goto fail_unlink;
	}
	if (stat(cs->path, &st) == 0) {
		cs->dev = st.st_dev;
		cs->ino = st.st_ino;
	}
	if (listen(fd, CTL_BACKLOG)) {
		rc = -errno;
		snprintf(err, errlen, "control socket %s: listen: %s", cs->path, strerror(-rc));
		goto fail_unlink;
	}
	return fd;
fail_unlink:
	unlink(cs->path);
fail:
	close(fd);
	return rc;
}

/* Removes the socket file if it is still the one we made. */
static void remove_socket(struct objfs_ctlsock *cs)
{
	struct stat st;

	if (cs->path && lstat(cs->path, &st) == 0 && st.st_dev == cs->dev && st.st_ino == cs->ino)
		unlink(cs->path);
}

int objfs_ctlsock_start(struct objfs_ctx *ctx, struct objfs_ctlsock **out, char *err,
			size_t errlen)
{
	struct objfs_ctlsock *cs = NULL;
	int fd = -1, rc;

	*out = NULL;
	if (!ctx || !ctx->cfg || !ctx->cfg->control_socket || !ctx->cfg->control_socket[0]) {
		snprintf(err, errlen, "control socket: no control_socket configured");
		return -EINVAL;
	}
	cs = calloc(1, sizeof(*cs));
	if (!cs || !(cs->path = strdup(ctx->cfg->control_socket))) {
		snprintf(err, errlen, "control socket: out of memory");
		rc = -ENOMEM;
		goto fail;
	}
	cs->ctx = ctx;
	pthread_mutex_init(&cs->lock, NULL);
	rc = objfs_ctl_api_new(ctx, &cs->api, err, errlen);
	if (rc)
		goto fail;
	fd = open_socket(cs, err, errlen);
	if (fd < 0) {
		rc = fd;
		fd = -1;
		goto fail;
	}
	cs->mhd = MHD_start_daemon(
		MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
			MHD_USE_ERROR_LOG,
		0, NULL, NULL, on_request, cs,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL,
		MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)CTL_CONN_MAX,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CTL_IDLE_S,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CTL_MEM_LIMIT,
		MHD_OPTION_THREAD_STACK_SIZE, (size_t)CTL_STACK,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, cs,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, cs,
		MHD_OPTION_END);
	if (!cs->mhd) {
		snprintf(err, errlen, "control socket %s: cannot start the HTTP server", cs->path);
		rc = -EIO;
		goto fail;
	}
	log_info("control socket listening on %s (mode %04o%s%s)", cs->path,
		 (unsigned)ctx->cfg->control_socket_mode,
		 ctx->cfg->control_socket_group ? ", group " : "",
		 ctx->cfg->control_socket_group ? ctx->cfg->control_socket_group : "");
	*out = cs;
	return 0;
fail:
	if (fd >= 0) {
		close(fd);
		remove_socket(cs);
	}
	if (cs) {
		objfs_ctl_api_free(cs->api);
		if (cs->path)
			pthread_mutex_destroy(&cs->lock);
		free(cs->path);
		free(cs);
	}
	return rc;
}

void objfs_ctlsock_stop(struct objfs_ctlsock *cs)
{
	if (!cs)
		return;
	objfs_ctl_api_shutdown(cs->api);     /* waiting flushes return */
	MHD_stop_daemon(cs->mhd);            /* joins the connection threads; closes the fd */
	remove_socket(cs);
	objfs_ctl_api_free(cs->api);
	pthread_mutex_destroy(&cs->lock);
	free(cs->path);
	free(cs);
}
