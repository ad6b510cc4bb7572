/*
 * The control socket's endpoints (docs/control-socket.md), as one function
 * from a request to an answer; the transport is src/ctlsock.c.
 *
 * Authorisation happens here, from the caller the transport identified:
 * admins may do everything; any other caller may see health, and
 * presign/flush/status/tenants only within the tenants that admit it
 * (allow_uids / allow_gids); a caller no tenant admits gets 403 for all
 * but health.  Tenants are read from the live table: a reload may append
 * entries, mark some removed and swap their conf, so each use reads the
 * count once (objfs_tenants_count), skips removed entries and loads
 * t->conf once.
 *
 * Bounded work per request: bodies are at most 64 KiB (the transport
 * enforces it; so does objfs_ctl_handle), JSON nesting is limited before
 * jansson parses it (its recursion would otherwise run deep on a small
 * thread stack), paths are bounded by the key limits, and every wait
 * (flush, the mount probe, a provider probe another request runs) has a
 * deadline.  Strings that reach a JSON answer from outside (log lines,
 * provider messages, request fields) are made valid UTF-8 first, since
 * jansson refuses anything else.
 *
 * Provider health probes are cached per (provider, bucket) for 2 s, and
 * one probe of a pair runs at a time, so a monitor polling health cannot
 * flood a store.  Probes run in their own threads, started before the
 * mount check; a request waits for them at most 5 s, so a store that
 * hangs makes health answer "unreachable" in 5 s, not after the
 * provider's own timeouts.  The mount check stats the mount point in a short-lived
 * thread with a 2 s bound; at most one such thread exists, so a hung mount
 * costs one stuck thread, not one per request.
 *
 * Locks: api->lock (probe cache and its threads, mount probe pointer) and
 * mprobe->lock,
 * taken in that order; neither is held across a provider call or a stat.
 */
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "ctlsock_api.h"
#include "guardrep.h"
#include "log.h"
#include "metrics.h"
#include "mimetype.h"
#include "objmeta.h"
#include "presign_watch.h"
#include "quota.h"
#include "readcache.h"
#include "reload.h"
#include "staging.h"
#include "tenant.h"
#include "trash.h"
#include "writeback.h"

#include "version.h"

#define CTL_JSON_DEPTH    16        /* deepest JSON nesting a request may use */
#define CTL_MSG_MAX       512       /* one error line */
#define CTL_PATH_MAX      (OBJFS_NAME_MAX + 1 + OBJFS_KEY_MAX)  /* TENANT/REL */
#define CTL_FLUSH_SLICE_MS 250      /* flush checks for shutdown this often */
#define CTL_PROBE_WAIT_MS 5000      /* a provider probe must answer this fast */
#define CTL_PROBE_STACK   (1024 * 1024)
#define CTL_GROUPS_MAX    65536     /* NGROUPS_MAX on Linux */

static const char JSON_TYPE[] = "application/json";
static const char PROM_TYPE[] = "text/plain; version=0.0.4";

/* ---- clocks ---------------------------------------------------------------- */

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void mono_deadline(struct timespec *ts, int64_t at_ms)
{
	ts->tv_sec = (time_t)(at_ms / 1000);
	ts->tv_nsec = (long)(at_ms % 1000) * 1000000L;
}

/* ---- state ------------------------------------------------------------------ */

/* One (provider, bucket) pair's last probe. */
struct probe {
	struct objfs_prov *prov;
	char *bucket;                 /* owned */
	int probing;                  /* a probe thread runs for it */
	int have;                     /* res is set */
	int64_t at_ms;                /* monotonic time of res */
	struct objfs_health res;
};

/* One stat of the mount point, in its own thread.  Shared by the thread, the
 * api (while it is the current probe) and each waiting request: refs. */
struct mprobe {
	pthread_mutex_t lock;
	pthread_cond_t cv;            /* CLOCK_MONOTONIC */
	int refs;                     /* lock */
	int done;                     /* lock */
	int err;                      /* lock: 0, or the errno of the stat */
	int isdir;                    /* lock */
	int64_t started_ms;           /* monotonic; set before the thread starts */
	char path[];
};

struct objfs_ctl_api {
	struct objfs_ctx *ctx;
	objfs_ctl_reload_fn reload;
	int stopping;                 /* atomic */
	int has_admin_gid;
	gid_t admin_gid;
	pthread_mutex_t lock;         /* order: lock, then an mprobe's lock */
	pthread_cond_t cv;            /* CLOCK_MONOTONIC; a probe finished */
	struct probe *probes;         /* lock; entries never go away (index = identity) */
	size_t nprobes, capprobes;    /* lock */
	unsigned nprobing;            /* lock: probe threads running */
	struct mprobe *mp;            /* lock: the current mount probe (one ref) */
};

/* ---- answers ---------------------------------------------------------------- */

void objfs_ctl_resp_clear(struct objfs_ctl_resp *r)
{
	if (!r)
		return;
	free(r->body);
	memset(r, 0, sizeof(*r));
}

/* Copy of s[0..len) with every byte that is not part of a valid UTF-8
 * sequence replaced by '?'; malloc'd, NULL on allocation failure. */
static char *utf8_sanitize(const char *s, size_t len)
{
	char *o = malloc(len + 1);
	size_t i = 0, j = 0;

	if (!o)
		return NULL;
	while (i < len) {
		unsigned char c = (unsigned char)s[i];
		size_t n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 :
			   (c & 0xF8) == 0xF0 ? 4 : 0;

		if (n && n <= len - i && objfs_utf8_valid(s + i, n)) {
			memcpy(o + j, s + i, n);
			j += n;
			i += n;
		} else {
			o[j++] = '?';
			i++;
		}
	}
	o[j] = '\0';
	return o;
}

/* A JSON string of s (NULL: ""), made valid UTF-8; NULL only without memory. */
static json_t *jstr(const char *s)
{
	size_t len = s ? strlen(s) : 0;
	json_t *v;
	char *fixed;

	if (!s)
		return json_string("");
	if (objfs_utf8_valid(s, len))
		return json_stringn(s, len);
	fixed = utf8_sanitize(s, len);
	if (!fixed)
		return NULL;
	v = json_string(fixed);
	free(fixed);
	return v;
}

/* The last resort when memory ran out building an answer. */
static int resp_oom(struct objfs_ctl_resp *out)
{
	static const char msg[] = "{\"error\": \"out of memory\"}\n";

	free(out->body);
	out->status = 500;
	out->content_type = JSON_TYPE;
	out->body = strdup(msg);
	out->len = out->body ? sizeof(msg) - 1 : 0;
	return out->body ? 0 : -ENOMEM;
}

/* Sets the answer to status with obj (a reference stolen; NULL: out of memory). */
static int resp_json(struct objfs_ctl_resp *out, int status, json_t *obj)
{
	size_t n;
	char *buf;

	if (!obj)
		return resp_oom(out);
	n = json_dumpb(obj, NULL, 0, JSON_COMPACT | JSON_REAL_PRECISION(9));
	buf = n ? malloc(n + 2) : NULL;
	if (!buf || json_dumpb(obj, buf, n, JSON_COMPACT | JSON_REAL_PRECISION(9)) != n) {
		free(buf);
		json_decref(obj);
		return resp_oom(out);
	}
	json_decref(obj);
	buf[n] = '\n';
	buf[n + 1] = '\0';
	free(out->body);
	out->status = status;
	out->content_type = JSON_TYPE;
	out->body = buf;
	out->len = n + 1;
	return 0;
}

static int resp_errv(struct objfs_ctl_resp *out, int status, json_t *extra, const char *fmt,
		     va_list ap)
{
	char msg[CTL_MSG_MAX];
	json_t *o = extra ? extra : json_object();

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (o && json_object_set_new(o, "error", jstr(msg))) {
		json_decref(o);
		o = NULL;
	}
	return resp_json(out, status, o);
}

/* {"error": "..."} with status. */
static int resp_err(struct objfs_ctl_resp *out, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int resp_err(struct objfs_ctl_resp *out, int status, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = resp_errv(out, status, NULL, fmt, ap);
	va_end(ap);
	return rc;
}

/* {"error": "...", plus the members of extra (stolen)} with status. */
static int resp_err_with(struct objfs_ctl_resp *out, int status, json_t *extra,
			 const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int resp_err_with(struct objfs_ctl_resp *out, int status, json_t *extra,
			 const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = extra ? resp_errv(out, status, extra, fmt, ap) : resp_oom(out);
	va_end(ap);
	return rc;
}

/* ---- the api object ---------------------------------------------------------- */

static int cond_init_mono(pthread_cond_t *cv)
{
	pthread_condattr_t ca;
	int rc;

	if (pthread_condattr_init(&ca))
		return -ENOMEM;
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	rc = pthread_cond_init(cv, &ca) ? -ENOMEM : 0;
	pthread_condattr_destroy(&ca);
	return rc;
}

/* Resolves a group name (or a number) to a gid: 0, -ENOENT or -ENOMEM. */
static int group_gid(const char *name, gid_t *out)
{
	size_t buflen = 16384;
	struct group gr, *res = NULL;
	char *buf = NULL, *end;
	unsigned long v;
	int rc;

	for (;;) {
		char *nb = realloc(buf, buflen);

		if (!nb) {
			free(buf);
			return -ENOMEM;
		}
		buf = nb;
		rc = getgrnam_r(name, &gr, buf, buflen, &res);
		if (rc != ERANGE || buflen >= (1u << 20))
			break;
		buflen *= 2;
	}
	if (res) {
		*out = res->gr_gid;
		free(buf);
		return 0;
	}
	free(buf);
	errno = 0;
	v = strtoul(name, &end, 10);
	if (name[0] >= '0' && name[0] <= '9' && !*end && !errno && v < (gid_t)-1) {
		*out = (gid_t)v;
		return 0;
	}
	return -ENOENT;
}

int objfs_ctl_api_new(struct objfs_ctx *ctx, struct objfs_ctl_api **out, char *err,
		      size_t errlen)
{
	struct objfs_ctl_api *api = NULL;
	const char *ag = ctx && ctx->cfg ? ctx->cfg->control_admin_group : NULL;
	int rc = 0;

	*out = NULL;
	if (!ctx || !ctx->cfg) {
		snprintf(err, errlen, "control socket: no configuration");
		return -EINVAL;
	}
	api = calloc(1, sizeof(*api));
	if (!api) {
		snprintf(err, errlen, "control socket: out of memory");
		return -ENOMEM;
	}
	api->ctx = ctx;
	api->reload = objfs_reload;
	if (ag && ag[0]) {
		rc = group_gid(ag, &api->admin_gid);
		if (rc) {
			snprintf(err, errlen, "control_admin_group %s: %s", ag,
				 rc == -ENOENT ? "no such group" : strerror(-rc));
			free(api);
			return rc;
		}
		api->has_admin_gid = 1;
	}
	pthread_mutex_init(&api->lock, NULL);
	if (cond_init_mono(&api->cv)) {
		pthread_mutex_destroy(&api->lock);
		free(api);
		snprintf(err, errlen, "control socket: out of memory");
		return -ENOMEM;
	}
	*out = api;
	return 0;
}

void objfs_ctl_api_shutdown(struct objfs_ctl_api *api)
{
	if (api)
		__atomic_store_n(&api->stopping, 1, __ATOMIC_RELEASE);
}

void objfs_ctl_api_set_reload(struct objfs_ctl_api *api, objfs_ctl_reload_fn fn)
{
	api->reload = fn ? fn : objfs_reload;
}

static void mprobe_put(struct mprobe *m)
{
	int left;

	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	left = --m->refs;
	pthread_mutex_unlock(&m->lock);
	if (left)
		return;
	pthread_cond_destroy(&m->cv);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

void objfs_ctl_api_free(struct objfs_ctl_api *api)
{
	if (!api)
		return;
	/* probe threads write into api: wait for them (a provider call ends
	 * within its own timeouts) */
	pthread_mutex_lock(&api->lock);
	while (api->nprobing)
		pthread_cond_wait(&api->cv, &api->lock);
	pthread_mutex_unlock(&api->lock);
	for (size_t i = 0; i < api->nprobes; i++)
		free(api->probes[i].bucket);
	free(api->probes);
	mprobe_put(api->mp);       /* a probe thread still in stat keeps its own ref */
	pthread_cond_destroy(&api->cv);
	pthread_mutex_destroy(&api->lock);
	free(api);
}

/* ---- callers ---------------------------------------------------------------- */

void objfs_ctl_peer_clear(struct objfs_ctl_peer *peer)
{
	if (!peer)
		return;
	free(peer->gids);
	memset(peer, 0, sizeof(*peer));
}

/* The user's groups from the database (primary first); *n 0 when the uid has
 * no entry.  0 or -ENOMEM. */
static int user_groups(uid_t uid, gid_t **out, size_t *n)
{
	size_t buflen = 16384;
	struct passwd pw, *res = NULL;
	char *buf = NULL;
	gid_t *g = NULL;
	int ng = 64, rc = 0;

	*out = NULL;
	*n = 0;
	for (;;) {
		char *nb = realloc(buf, buflen);

		if (!nb) {
			rc = -ENOMEM;
			goto out;
		}
		buf = nb;
		if (getpwuid_r(uid, &pw, buf, buflen, &res) != ERANGE || buflen >= (1u << 20))
			break;
		buflen *= 2;
	}
	if (!res)
		goto out;                 /* no entry: no database groups */
	for (int attempt = 0; attempt < 3; attempt++) {
		int want = ng;
		gid_t *ngp = realloc(g, (size_t)want * sizeof(*g));

		if (!ngp) {
			rc = -ENOMEM;
			goto out;
		}
		g = ngp;
		if (getgrouplist(res->pw_name, res->pw_gid, g, &ng) >= 0)
			break;
		if (ng <= want)
			ng = want * 2;    /* glibc says how many; be safe if it did not */
		if (ng > CTL_GROUPS_MAX)
			ng = CTL_GROUPS_MAX;
		if (attempt == 2 || want == CTL_GROUPS_MAX) {
			ng = want;        /* keep the first ones rather than fail */
			break;
		}
	}
	*out = g;
	*n = ng > 0 ? (size_t)ng : 0;
	g = NULL;
out:
	free(g);
	free(buf);
	return rc;
}

int objfs_ctl_peer_init(struct objfs_ctl_api *api, uid_t uid, gid_t gid, pid_t pid,
			struct objfs_ctl_peer *peer)
{
	gid_t *g = NULL;
	size_t n = 0;
	int rc;

	memset(peer, 0, sizeof(*peer));
	peer->uid = uid;
	peer->gid = gid;
	peer->pid = pid;
	rc = user_groups(uid, &g, &n);
	if (rc)
		return rc;
	peer->gids = malloc((n + 1) * sizeof(*peer->gids));
	if (!peer->gids) {
		free(g);
		return -ENOMEM;
	}
	peer->gids[0] = gid;
	if (n)
		memcpy(peer->gids + 1, g, n * sizeof(*g));
	peer->ngids = n + 1;
	free(g);
	peer->admin = uid == 0 || uid == geteuid();
	for (size_t i = 0; !peer->admin && api && api->has_admin_gid && i < peer->ngids; i++)
		peer->admin = peer->gids[i] == api->admin_gid;
	return 0;
}

static const struct objfs_tenant_conf *tenant_conf(const struct objfs_tenant *t)
{
	return __atomic_load_n(&t->conf, __ATOMIC_ACQUIRE);
}

static int tenant_removed(const struct objfs_tenant *t)
{
	return __atomic_load_n(&t->removed, __ATOMIC_ACQUIRE);
}

int objfs_ctl_may_access(const struct objfs_ctl_peer *peer, const struct objfs_tenant *t)
{
	const struct objfs_tenant_conf *c;

	if (!t || tenant_removed(t))
		return 0;
	if (peer->admin)
		return 1;
	c = tenant_conf(t);
	if (!c || (!c->nallow_uids && !c->nallow_gids))
		return 1;
	for (size_t i = 0; i < c->nallow_uids; i++)
		if (c->allow_uids[i] == peer->uid)
			return 1;
	for (size_t i = 0; i < c->nallow_gids; i++)
		for (size_t j = 0; j < peer->ngids; j++)
			if (c->allow_gids[i] == peer->gids[j])
				return 1;
	return 0;
}

/* 1 if some live tenant admits peer. */
static int may_access_any(struct objfs_ctx *ctx, const struct objfs_ctl_peer *peer)
{
	size_t n = objfs_tenants_count(&ctx->tenants);

	for (size_t i = 0; i < n; i++)
		if (objfs_ctl_may_access(peer, &ctx->tenants.v[i]))
			return 1;
	return 0;
}

/* ---- requests --------------------------------------------------------------- */

struct req {
	struct objfs_ctl_api *api;
	struct objfs_ctx *ctx;
	const struct objfs_ctl_peer *peer;
	const char *body;
	size_t len;
	struct objfs_ctl_resp *out;
};

/* Deepest nesting of [ and { in a JSON text (strings skipped); stops
 * counting past limit. */
static unsigned json_depth(const char *s, size_t len, unsigned limit)
{
	unsigned d = 0, max = 0;
	int in_str = 0;

	for (size_t i = 0; i < len && max <= limit; i++) {
		char c = s[i];

		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = 0;
		} else if (c == '"') {
			in_str = 1;
		} else if (c == '[' || c == '{') {
			if (++d > max)
				max = d;
		} else if ((c == ']' || c == '}') && d) {
			d--;
		}
	}
	return max;
}

/* Parses the body as one JSON object into *obj (new reference).  An empty
 * body (or only blanks) is an empty object.  0, or a 400 answer set. */
static int body_object(struct req *r, json_t **obj)
{
	json_error_t je;
	size_t i = 0;

	*obj = NULL;
	while (i < r->len && (r->body[i] == ' ' || r->body[i] == '\t' || r->body[i] == '\r' ||
			      r->body[i] == '\n'))
		i++;
	if (i == r->len) {
		*obj = json_object();
		return *obj ? 0 : (resp_oom(r->out), -1);
	}
	if (json_depth(r->body, r->len, CTL_JSON_DEPTH) > CTL_JSON_DEPTH) {
		resp_err(r->out, 400, "bad JSON: nested deeper than %d levels", CTL_JSON_DEPTH);
		return -1;
	}
	*obj = json_loadb(r->body, r->len, JSON_REJECT_DUPLICATES, &je);
	if (!*obj) {
		resp_err(r->out, 400, "bad JSON at line %d column %d: %s", je.line, je.column,
			 je.text);
		return -1;
	}
	if (!json_is_object(*obj)) {
		json_decref(*obj);
		*obj = NULL;
		resp_err(r->out, 400, "bad request: the body must be a JSON object");
		return -1;
	}
	return 0;
}

/* Request fields: name, the JSON type wanted, and where the value goes. */
enum { F_STRING, F_INTEGER };
struct field {
	const char *name;
	int type;
	const char **s;           /* F_STRING: points into the parsed object */
	json_int_t *i;            /* F_INTEGER */
	int *seen;
};

/* Checks obj against the fields: unknown names and wrong types are a 400.
 * 0 or -1 (answer set). */
static int body_fields(struct req *r, json_t *obj, const struct field *f, size_t nf)
{
	const char *k;
	json_t *v;

	json_object_foreach(obj, k, v) {
		size_t i;

		for (i = 0; i < nf; i++)
			if (!strcmp(k, f[i].name))
				break;
		if (i == nf) {
			resp_err(r->out, 400, "bad request: unknown field \"%.64s\"", k);
			return -1;
		}
		if (f[i].type == F_STRING) {
			if (!json_is_string(v)) {
				resp_err(r->out, 400, "bad request: \"%s\" must be a string", k);
				return -1;
			}
			*f[i].s = json_string_value(v);
		} else {
			if (!json_is_integer(v)) {
				resp_err(r->out, 400, "bad request: \"%s\" must be an integer", k);
				return -1;
			}
			*f[i].i = json_integer_value(v);
		}
		if (f[i].seen)
			*f[i].seen = 1;
	}
	return 0;
}

/*
 * Resolves a request path: "TENANT/REL", or an absolute path under the
 * mount point.  With dir_ok a trailing '/' is allowed and the whole mount
 * ("" or the mount point itself) gives p->tenant NULL.  Every part goes
 * through objfs_path_parse, so "..", "." and empty segments, control bytes,
 * invalid UTF-8 and over-long names are refused as they are on the mount.
 * 0, or -1 with a 400/404 answer set.
 */
static int resolve_path(struct req *r, const char *path, int dir_ok, struct objfs_path *p)
{
	const char *mnt = r->ctx->mountpoint, *rest = path;
	char buf[CTL_PATH_MAX + 3];
	size_t rlen;
	int rc;

	memset(p, 0, sizeof(*p));
	if (path[0] == '/') {
		size_t mlen = mnt ? strlen(mnt) : 0;

		while (mlen && mnt[mlen - 1] == '/')
			mlen--;
		if (!mnt || strncmp(path, mnt, mlen) || (path[mlen] != '/' && path[mlen] != '\0')) {
			resp_err(r->out, 400, "bad path \"%.200s\": not under the mount point %s",
				 path, mnt ? mnt : "(none)");
			return -1;
		}
		rest = path + mlen;
		if (*rest == '/')
			rest++;
	}
	rlen = strlen(rest);
	if (dir_ok && rlen && rest[rlen - 1] == '/')
		rlen--;
	if (rlen == 0) {
		if (dir_ok)
			return 0;
		resp_err(r->out, 400, "bad path \"%.200s\": name an object (TENANT/KEY)", path);
		return -1;
	}
	if (rlen > CTL_PATH_MAX) {
		resp_err(r->out, 400, "bad path: longer than %d bytes", CTL_PATH_MAX);
		return -1;
	}
	buf[0] = '/';
	memcpy(buf + 1, rest, rlen);
	buf[rlen + 1] = '\0';
	rc = objfs_path_parse(&r->ctx->tenants, buf, p);
	if (rc == -ENOENT) {
		const char *sl = memchr(rest, '/', rlen);
		size_t tl = sl ? (size_t)(sl - rest) : rlen;

		resp_err(r->out, 404, "no such tenant \"%.*s\"", (int)(tl > 255 ? 255 : tl), rest);
		return -1;
	}
	if (rc) {
		resp_err(r->out, 400, "bad path \"%.200s\": %s", path,
			 rc == -ENAMETOOLONG ? "a name or the key is too long" :
			 rc == -EILSEQ ? "not valid UTF-8" :
			 "empty, \".\" or \"..\" segment, or a control character");
		return -1;
	}
	if (!p->tenant && !dir_ok) {
		resp_err(r->out, 400, "bad path \"%.200s\": name an object (TENANT/KEY)", path);
		return -1;
	}
	return 0;
}

static int forbid_tenant(struct req *r, const struct objfs_tenant *t)
{
	return resp_err(r->out, 403, "uid %u may not access tenant %s", (unsigned)r->peer->uid,
			t->name);
}

/* ---- GET /v1/health ------------------------------------------------------------ */

static void *mprobe_run(void *arg)
{
	struct mprobe *m = arg;
	struct stat st;
	int err = stat(m->path, &st) ? errno : 0;

	pthread_mutex_lock(&m->lock);
	m->err = err;
	m->isdir = !err && S_ISDIR(st.st_mode);
	m->done = 1;
	pthread_cond_broadcast(&m->cv);
	pthread_mutex_unlock(&m->lock);
	mprobe_put(m);
	return NULL;
}

/* A new probe of path, its thread started; refs: the thread's and the
 * caller's.  NULL if no thread could be started. */
static struct mprobe *mprobe_start(const char *path)
{
	size_t n = strlen(path);
	struct mprobe *m = calloc(1, sizeof(*m) + n + 1);
	pthread_attr_t at;
	pthread_t th;
	int rc;

	if (!m)
		return NULL;
	memcpy(m->path, path, n + 1);
	pthread_mutex_init(&m->lock, NULL);
	if (cond_init_mono(&m->cv)) {
		pthread_mutex_destroy(&m->lock);
		free(m);
		return NULL;
	}
	m->refs = 2;
	m->started_ms = mono_ms();
	if (pthread_attr_init(&at)) {
		m->refs = 1;
		mprobe_put(m);
		return NULL;
	}
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&at, 256 * 1024);
	rc = pthread_create(&th, &at, mprobe_run, m);
	pthread_attr_destroy(&at);
	if (rc) {
		m->refs = 1;
		mprobe_put(m);
		return NULL;
	}
	return m;
}

/* Is the mount answering?  *ok, and a reason in detail when not. */
static void check_mount(struct objfs_ctl_api *api, int *ok, char *detail, size_t dlen)
{
	const char *mnt = api->ctx->mountpoint;
	struct mprobe *m;
	int64_t deadline;
	int done, err = 0, isdir = 0;

	*ok = 0;
	detail[0] = '\0';
	if (!mnt || !mnt[0]) {
		snprintf(detail, dlen, "no mount point");
		return;
	}
	pthread_mutex_lock(&api->lock);
	m = api->mp;
	if (m) {
		pthread_mutex_lock(&m->lock);
		done = m->done;
		pthread_mutex_unlock(&m->lock);
		if (done) {                     /* finished: the next one starts afresh */
			api->mp = NULL;
			mprobe_put(m);
			m = NULL;
		}
	}
	if (!m) {
		m = mprobe_start(mnt);
		if (!m) {
			pthread_mutex_unlock(&api->lock);
			snprintf(detail, dlen, "cannot start the mount check");
			return;
		}
		api->mp = m;                    /* the caller's ref becomes the api's */
	}
	pthread_mutex_lock(&m->lock);
	m->refs++;                              /* ours, while waiting */
	pthread_mutex_unlock(&m->lock);
	pthread_mutex_unlock(&api->lock);

	deadline = m->started_ms + OBJFS_CTL_MOUNT_WAIT_MS;
	pthread_mutex_lock(&m->lock);
	while (!m->done && mono_ms() < deadline) {
		struct timespec ts;

		mono_deadline(&ts, deadline);
		pthread_cond_timedwait(&m->cv, &m->lock, &ts);
	}
	done = m->done;
	err = m->err;
	isdir = m->isdir;
	pthread_mutex_unlock(&m->lock);
	if (!done)
		snprintf(detail, dlen, "the mount point did not answer a stat for %.1f s",
			 (double)(mono_ms() - m->started_ms) / 1000.0);
	else if (err)
		snprintf(detail, dlen, "stat %s: %s", mnt, strerror(err));
	else if (!isdir)
		snprintf(detail, dlen, "%s is not a directory", mnt);
	else
		*ok = 1;
	mprobe_put(m);
}

/* The probe entry of (prov, bucket), added if new: its index, or -1
 * without memory.  api->lock held. */
static ssize_t probe_slot(struct objfs_ctl_api *api, struct objfs_prov *prov,
			  const char *bucket)
{
	struct probe *p;

	for (size_t i = 0; i < api->nprobes; i++)
		if (api->probes[i].prov == prov && !strcmp(api->probes[i].bucket, bucket))
			return (ssize_t)i;
	if (api->nprobes == api->capprobes) {
		size_t cap = api->capprobes ? api->capprobes * 2 : 8;
		struct probe *np = realloc(api->probes, cap * sizeof(*np));

		if (!np)
			return -1;
		api->probes = np;
		api->capprobes = cap;
	}
	p = &api->probes[api->nprobes];
	memset(p, 0, sizeof(*p));
	p->prov = prov;
	p->bucket = strdup(bucket);
	if (!p->bucket)
		return -1;
	return (ssize_t)api->nprobes++;
}

struct probe_job {
	struct objfs_ctl_api *api;
	size_t idx;
	struct objfs_prov *prov;
	char bucket[];
};

/* Probes one pair and stores the answer; the api waits for it at free. */
static void *probe_run(void *arg)
{
	struct probe_job *j = arg;
	struct objfs_ctl_api *api = j->api;
	struct objfs_health h;
	struct objfs_err err;
	int rc;

	memset(&h, 0, sizeof(h));
	rc = objfs_prov_health(j->prov, j->bucket, &h, &err);
	if (rc < 0) {
		h.state = OBJFS_HEALTH_UNREACHABLE;
		snprintf(h.detail, sizeof(h.detail), "%s", err.msg[0] ? err.msg : strerror(-rc));
	}
	pthread_mutex_lock(&api->lock);
	api->probes[j->idx].res = h;
	api->probes[j->idx].have = 1;
	api->probes[j->idx].at_ms = mono_ms();
	api->probes[j->idx].probing = 0;
	api->nprobing--;
	pthread_cond_broadcast(&api->cv);
	pthread_mutex_unlock(&api->lock);
	free(j);
	return NULL;
}

/* Makes sure (prov, bucket) has an answer younger than 2 s or a probe on
 * the way (one at a time per pair, in its own thread so that a store that
 * hangs costs a request at most CTL_PROBE_WAIT_MS).  Its index, or -1. */
static ssize_t probe_kick(struct objfs_ctl_api *api, struct objfs_prov *prov,
			  const char *bucket)
{
	struct probe_job *j = NULL;
	pthread_attr_t at;
	pthread_t th;
	ssize_t idx;
	int started = 0;

	pthread_mutex_lock(&api->lock);
	idx = probe_slot(api, prov, bucket);
	if (idx < 0 || api->probes[idx].probing ||
	    (api->probes[idx].have &&
	     mono_ms() - api->probes[idx].at_ms < OBJFS_CTL_HEALTH_TTL_MS))
		goto out;
	j = malloc(sizeof(*j) + strlen(bucket) + 1);
	if (!j || pthread_attr_init(&at))
		goto out;
	j->api = api;
	j->idx = (size_t)idx;
	j->prov = prov;
	memcpy(j->bucket, bucket, strlen(bucket) + 1);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&at, CTL_PROBE_STACK);
	api->probes[idx].probing = 1;
	api->nprobing++;
	if (pthread_create(&th, &at, probe_run, j) == 0) {
		started = 1;
	} else {
		api->probes[idx].probing = 0;
		api->nprobing--;
	}
	pthread_attr_destroy(&at);
out:
	pthread_mutex_unlock(&api->lock);
	if (!started)
		free(j);
	return idx;
}

/* The answer of pair idx, waiting for a running probe until `until`
 * (monotonic ms). */
static void probe_result(struct objfs_ctl_api *api, ssize_t idx, int64_t until,
			 struct objfs_health *h)
{
	memset(h, 0, sizeof(*h));
	if (idx < 0) {
		h->state = OBJFS_HEALTH_DEGRADED;
		snprintf(h->detail, sizeof(h->detail), "out of memory");
		return;
	}
	pthread_mutex_lock(&api->lock);
	while (api->probes[idx].probing && mono_ms() < until) {
		struct timespec ts;

		mono_deadline(&ts, until);
		pthread_cond_timedwait(&api->cv, &api->lock, &ts);
	}
	if (api->probes[idx].probing) {
		h->state = OBJFS_HEALTH_UNREACHABLE;
		snprintf(h->detail, sizeof(h->detail), "no answer within %d s",
			 CTL_PROBE_WAIT_MS / 1000);
	} else if (api->probes[idx].have) {
		*h = api->probes[idx].res;
	} else {
		h->state = OBJFS_HEALTH_DEGRADED;
		snprintf(h->detail, sizeof(h->detail), "cannot start a probe");
	}
	pthread_mutex_unlock(&api->lock);
}

/* The groups of live tenants by (provider, bucket), each with its probe
 * kicked off; *out an array of n entries (tenants: a JSON array each). */
struct pgroup {
	struct objfs_prov *prov;
	const char *bucket;
	json_t *tenants;
	ssize_t idx;
};

static void pgroups_free(struct pgroup *g, size_t n)
{
	for (size_t j = 0; g && j < n; j++)
		json_decref(g[j].tenants);
	free(g);
}

static int pgroups_kick(struct objfs_ctl_api *api, struct pgroup **out, size_t *nout)
{
	struct objfs_ctx *ctx = api->ctx;
	size_t n = objfs_tenants_count(&ctx->tenants), ng = 0;
	struct pgroup *g = calloc(n ? n : 1, sizeof(*g));

	*out = NULL;
	*nout = 0;
	if (!g)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct objfs_tenant *t = &ctx->tenants.v[i];
		size_t j;

		if (tenant_removed(t) || !t->prov || !t->bucket)
			continue;
		for (j = 0; j < ng; j++)
			if (g[j].prov == t->prov && !strcmp(g[j].bucket, t->bucket))
				break;
		if (j == ng) {
			g[ng].prov = t->prov;
			g[ng].bucket = t->bucket;
			g[ng].tenants = json_array();
			if (!g[ng++].tenants)
				goto fail;
		}
		if (json_array_append_new(g[j].tenants, jstr(t->name)))
			goto fail;
	}
	for (size_t j = 0; j < ng; j++)
		g[j].idx = probe_kick(api, g[j].prov, g[j].bucket);
	*out = g;
	*nout = ng;
	return 0;
fail:
	pgroups_free(g, ng);
	return -ENOMEM;
}

/* The "providers" array from the kicked groups, waiting for their probes
 * until `until`; *all_ok 0 if any is not ok. */
static json_t *pgroups_json(struct objfs_ctl_api *api, struct pgroup *g, size_t ng,
			    int64_t until, int *all_ok)
{
	json_t *arr = json_array();

	*all_ok = 1;
	for (size_t j = 0; arr && j < ng; j++) {
		struct objfs_health h;
		json_t *o;

		probe_result(api, g[j].idx, until, &h);
		if (h.state != OBJFS_HEALTH_OK)
			*all_ok = 0;
		o = json_pack("{s:o, s:o, s:o, s:O, s:s, s:f, s:o}",
			      "name", jstr(g[j].prov->name),
			      "type", jstr(g[j].prov->ops ? g[j].prov->ops->type : ""),
			      "bucket", jstr(g[j].bucket),
			      "tenants", g[j].tenants,
			      "state", objfs_health_state_name(h.state),
			      "latency_ms", h.latency_s * 1000.0,
			      "detail", jstr(h.state == OBJFS_HEALTH_OK ? "" : h.detail));
		if (json_array_append_new(arr, o)) {
			json_decref(arr);
			arr = NULL;
		}
	}
	return arr;
}

static int ep_health(struct req *r)
{
	struct objfs_ctx *ctx = r->ctx;
	struct writeback_stats ws = { 0 };
	struct pgroup *g = NULL;
	size_t ng = 0;
	char detail[256];
	int mount_ok, provs_ok;
	int64_t now = wall_ms(), until = mono_ms() + CTL_PROBE_WAIT_MS;
	json_t *provs;

	/* the provider probes run while the mount is checked: a health
	 * answer takes at most CTL_PROBE_WAIT_MS, whatever hangs */
	if (pgroups_kick(r->api, &g, &ng))
		return resp_oom(r->out);
	check_mount(r->api, &mount_ok, detail, sizeof(detail));
	provs = pgroups_json(r->api, g, ng, until, &provs_ok);
	pgroups_free(g, ng);
	if (!provs)
		return resp_oom(r->out);
	if (ctx->wb)
		writeback_get_stats(ctx->wb, &ws);
	return resp_json(r->out, 200, json_pack(
		"{s:b, s:{s:I, s:s, s:I}, s:{s:o, s:b, s:o}, s:o, s:{s:I, s:f}}",
		"healthy", mount_ok && provs_ok,
		"daemon", "pid", (json_int_t)getpid(), "version", OBJFS_VERSION,
		"uptime_s", (json_int_t)(ctx->started_ms ? (now - ctx->started_ms) / 1000 : 0),
		"mount", "path", jstr(ctx->mountpoint), "ok", mount_ok, "detail", jstr(detail),
		"providers", provs,
		"journal", "pending", (json_int_t)ws.pending,
		"oldest_age_s", ws.oldest_commit_ms && now > ws.oldest_commit_ms ?
			(double)(now - ws.oldest_commit_ms) / 1000.0 : 0.0));
}

/* ---- GET /v1/status, GET /v1/tenants ---------------------------------------------- */

static size_t pending_of(struct objfs_ctx *ctx, const struct objfs_tenant *t)
{
	return ctx->wb ? writeback_pending_under(ctx->wb, t, NULL) : 0;
}

/* The tenants the caller may access; full: every field of /v1/tenants,
 * else name and pending uploads. */
static json_t *tenant_list(struct req *r, int full)
{
	size_t n = objfs_tenants_count(&r->ctx->tenants);
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < n; i++) {
		struct objfs_tenant *t = &r->ctx->tenants.v[i];
		const struct objfs_tenant_conf *c;
		struct quota_usage qu;
		json_t *o;

		if (!objfs_ctl_may_access(r->peer, t))
			continue;
		c = tenant_conf(t);
		if (full)
			o = json_pack("{s:o, s:o, s:o, s:o, s:o, s:b, s:I}",
				      "name", jstr(t->name),
				      "provider", jstr(t->prov ? t->prov->name : ""),
				      "type", jstr(t->prov && t->prov->ops ? t->prov->ops->type : ""),
				      "bucket", jstr(t->bucket), "prefix", jstr(t->prefix),
				      "read_only", c && c->read_only,
				      "pending_uploads", (json_int_t)pending_of(r->ctx, t));
		else
			o = json_pack("{s:o, s:I}", "name", jstr(t->name),
				      "pending_uploads", (json_int_t)pending_of(r->ctx, t));
		/* guardrail problems awaiting an operator (guardrep.h) */
		if (o && json_object_set_new(o, "guardrails", guardrep_json(t->name))) {
			json_decref(o);
			o = NULL;
		}
		/* quota usage (quota.h): landed + reserved, limits 0 = unlimited */
		if (o && quota_usage(t, &qu) == 0 &&
		    json_object_set_new(o, "quota", json_pack("{s:I, s:I, s:I, s:I, s:I}",
				"bytes_used", (json_int_t)qu.bytes,
				"bytes_limit", (json_int_t)qu.max_bytes,
				"objects_used", (json_int_t)qu.objects,
				"objects_limit", (json_int_t)qu.max_objects,
				"reconciled", (json_int_t)(qu.reconciled_ms / 1000)))) {
			json_decref(o);
			o = NULL;
		}
		if (json_array_append_new(arr, o)) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

static int ep_tenants(struct req *r)
{
	json_t *arr = tenant_list(r, 1);

	return resp_json(r->out, 200, arr ? json_pack("{s:o}", "tenants", arr) : NULL);
}

static json_t *recent_errors(void)
{
	struct objfs_log_entry *v = calloc(OBJFS_LOG_RECENT, sizeof(*v));
	json_t *arr = json_array();
	size_t n;

	if (!v || !arr) {
		free(v);
		json_decref(arr);
		return NULL;
	}
	n = objfs_log_recent(v, OBJFS_LOG_RECENT);
	for (size_t i = 0; i < n; i++) {
		json_t *o = json_pack("{s:I, s:s, s:o}", "time", (json_int_t)v[i].time,
				      "level", v[i].level == OBJFS_LOG_ERROR ? "error" : "warn",
				      "message", jstr(v[i].msg));

		if (json_array_append_new(arr, o)) {
			json_decref(arr);
			arr = NULL;
			break;
		}
	}
	free(v);
	return arr;
}

static int ep_status(struct req *r)
{
	struct objfs_ctx *ctx = r->ctx;
	struct writeback_stats ws = { 0 };
	struct objfs_readcache_stats rs = { 0 };
	int64_t now = wall_ms();
	json_t *tenants = tenant_list(r, 0), *errs;

	if (!tenants)
		return resp_oom(r->out);
	if (!r->peer->admin)
		return resp_json(r->out, 200, json_pack("{s:o}", "tenants", tenants));
	errs = recent_errors();
	if (!errs) {
		json_decref(tenants);
		return resp_oom(r->out);
	}
	if (ctx->wb)
		writeback_get_stats(ctx->wb, &ws);
	if (ctx->rcache)
		objfs_readcache_stats(ctx->rcache, &rs);
	return resp_json(r->out, 200, json_pack(
		"{s:I, s:I, s:I, s:I, s:f, s:{s:I, s:I}, s:{s:I, s:I, s:I, s:I}, s:o, s:o}",
		"pending_uploads", (json_int_t)ws.pending,
		"in_flight", (json_int_t)ws.in_flight,
		"retrying", (json_int_t)ws.retrying,
		"bytes_pending", (json_int_t)ws.bytes_pending,
		"oldest_pending_age_s", ws.oldest_commit_ms && now > ws.oldest_commit_ms ?
			(double)(now - ws.oldest_commit_ms) / 1000.0 : 0.0,
		"staging",
		"used_bytes", (json_int_t)(ctx->staging ? staging_used(ctx->staging) : 0),
		"max_bytes", (json_int_t)(ctx->staging ? staging_max(ctx->staging) : 0),
		"read_cache",
		"used_bytes", (json_int_t)rs.bytes_cached,
		"max_bytes", (json_int_t)(ctx->rcache ? ctx->cfg->read_cache_max_bytes : 0),
		"hits", (json_int_t)rs.hits, "misses", (json_int_t)rs.misses,
		"tenants", tenants,
		"recent_errors", errs));
}

/* ---- POST /v1/presign ---------------------------------------------------------------- */

/* 1 if ct is a content type a presigned PUT may declare: "type/subtype" of
 * MIME token characters, then optional "; parameters" of printable ASCII;
 * the base type (without parameters) goes to base. */
static int presign_type_ok(const char *ct, char *base, size_t baselen)
{
	static const char tok[] = "!#$&^_.+-";
	size_t n = 0, slash = 0;

	if (strlen(ct) > 200)
		return 0;
	for (; ct[n] && ct[n] != ';' && ct[n] != ' '; n++) {
		if (ct[n] == '/' && !slash && n)
			slash = n;
		else if (!((ct[n] >= 'a' && ct[n] <= 'z') || (ct[n] >= 'A' && ct[n] <= 'Z') ||
			   (ct[n] >= '0' && ct[n] <= '9') || strchr(tok, ct[n])))
			return 0;
	}
	if (!slash || slash + 1 == n)
		return 0;
	for (const char *c = ct + n; *c; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
			return 0;
	snprintf(base, baselen, "%.*s", (int)n, ct);
	return 1;
}

/*
 * The guardrails a presigned PUT is held to before anything is signed: a
 * declared type (or, for a tenant with type rules, the type of the name)
 * must pass allowed_types/denied_types, and a declared size must fit
 * max_object_size and the quota.  0, or a negative errno with the reason in
 * why (the caller answers 400 for -EINVAL, 403 otherwise).  *bind_type is
 * the type the URL must bind (declared, or the name's under type rules).
 */
static int presign_put_guard(const struct objfs_tenant *t, const struct objfs_tenant_conf *c,
			     const char *rel, const char *ctype, int has_size, json_int_t size,
			     const char **bind_type, char *why, size_t whylen)
{
	char base[256], tw[200];
	struct quota_usage u;
	const char *name_type = objfs_content_type_for(rel);

	*bind_type = NULL;
	if (has_size && size < 0) {
		snprintf(why, whylen, "bad request: \"size\" must be 0 or more bytes");
		return -EINVAL;
	}
	if (ctype && !presign_type_ok(ctype, base, sizeof(base))) {
		snprintf(why, whylen, "bad request: \"content_type\" must be a type/subtype");
		return -EINVAL;
	}
	if (c->allowed_types || c->denied_types) {
		if (ctype && !mimetype_policy(c->allowed_types, c->denied_types, base, tw,
					      sizeof(tw))) {
			snprintf(why, whylen, "tenant %s: %s", t->name, tw);
			return -EACCES;
		}
		if (!mimetype_policy(c->allowed_types, c->denied_types, name_type, tw,
				     sizeof(tw))) {
			snprintf(why, whylen, "tenant %s: %s (the type of the name %.100s)", t->name,
				 tw, rel);
			return -EACCES;
		}
		*bind_type = ctype ? ctype : name_type;
	} else {
		*bind_type = ctype;
	}
	if (has_size && c->max_object_size && (uint64_t)size > c->max_object_size) {
		snprintf(why, whylen, "tenant %s: %lld bytes is larger than max_object_size "
			 "(%" PRIu64 " bytes)", t->name, (long long)size, c->max_object_size);
		return -EFBIG;
	}
	if (has_size && quota_usage(t, &u) == 0 && u.max_bytes &&
	    u.bytes + (uint64_t)size > u.max_bytes) {
		snprintf(why, whylen, "tenant %s: %lld bytes would pass quota_bytes (%" PRIu64
			 " bytes, %" PRIu64 " used)", t->name, (long long)size, u.max_bytes,
			 u.bytes);
		return -EDQUOT;
	}
	return 0;
}

static int ep_presign(struct req *r)
{
	const struct objfs_config *cfg = r->ctx->cfg;
	const char *path = NULL, *method = "GET", *ctype = NULL, *bind_type = NULL;
	json_int_t ttl = cfg->presign_ttl_default_s, size = 0;
	int has_path = 0, has_ctype = 0, has_size = 0;
	struct field f[] = {
		{ "path", F_STRING, &path, NULL, &has_path },
		{ "method", F_STRING, &method, NULL, NULL },
		{ "ttl", F_INTEGER, NULL, &ttl, NULL },
		{ "content_type", F_STRING, &ctype, NULL, &has_ctype },
		{ "size", F_INTEGER, NULL, &size, &has_size },
	};
	struct objfs_presign_out pout;
	struct objfs_presign_cond cond;
	struct objfs_path *p = NULL;
	const struct objfs_tenant_conf *c;
	struct objfs_tenant *t;
	struct objfs_err err;
	char detail[96], why[600];
	char *url = NULL;
	json_t *obj = NULL, *resp, *hdrs = NULL;
	time_t expires;
	int put, watched = 0, rc = 0;

	memset(&pout, 0, sizeof(pout));
	if (body_object(r, &obj))
		goto out;
	if (body_fields(r, obj, f, sizeof(f) / sizeof(f[0])))
		goto out;
	if (!has_path) {
		resp_err(r->out, 400, "bad request: \"path\" is required");
		goto out;
	}
	if (strcmp(method, "GET") && strcmp(method, "PUT")) {
		resp_err(r->out, 400, "bad request: \"method\" must be GET or PUT");
		goto out;
	}
	put = method[0] == 'P';
	if (!put && (has_ctype || has_size)) {
		resp_err(r->out, 400, "bad request: \"content_type\" and \"size\" are for PUT only");
		goto out;
	}
	if (ttl < 1 || ttl > (json_int_t)cfg->presign_ttl_max_s) {
		resp_err(r->out, 400, "bad request: \"ttl\" must be 1..%u seconds",
			 cfg->presign_ttl_max_s);
		goto out;
	}
	p = malloc(sizeof(*p));
	if (!p) {
		resp_oom(r->out);
		goto out;
	}
	if (resolve_path(r, path, 0, p))
		goto out;
	t = p->tenant;
	snprintf(detail, sizeof(detail), "%s ttl=%lld", method, (long long)ttl);
	if (!objfs_ctl_may_access(r->peer, t)) {
		if (put)
			objfs_audit(r->peer->uid, r->peer->pid, t->name, "presign", p->rel, NULL,
				    -EACCES, detail);
		forbid_tenant(r, t);
		goto out;
	}
	c = tenant_conf(t);
	if (put && c && c->read_only) {
		objfs_audit(r->peer->uid, r->peer->pid, t->name, "presign", p->rel, NULL, -EROFS,
			    detail);
		resp_err(r->out, 403, "tenant %s is read-only: no PUT", t->name);
		goto out;
	}
	if (put && c) {
		rc = presign_put_guard(t, c, p->rel, ctype, has_size, size, &bind_type, why,
				       sizeof(why));
		if (rc) {
			objfs_audit(r->peer->uid, r->peer->pid, t->name, "presign", p->rel, NULL, rc,
				    why);
			if (rc != -EINVAL)
				log_info("control socket: presign PUT %s/%s for uid %u refused: %s",
					 t->name, p->rel, (unsigned)r->peer->uid, why);
			resp_err(r->out, rc == -EINVAL ? 400 : 403, "%s", why);
			goto out;
		}
	}
	expires = time(NULL) + ttl;
	if (put) {
		memset(&cond, 0, sizeof(cond));
		cond.content_type = bind_type;
		cond.has_size = has_size;
		cond.size = has_size ? (uint64_t)size : 0;
		cond.max_size = c ? c->max_object_size : 0;
		rc = objfs_prov_presign_put(t->prov, t->bucket, p->key, (unsigned)ttl, &cond, &pout,
					    &url, &err);
	} else {
		rc = objfs_prov_presign(t->prov, t->bucket, p->key, method, (unsigned)ttl, &url,
					&err);
	}
	if (put)
		objfs_audit(r->peer->uid, r->peer->pid, t->name, "presign", p->rel, NULL, rc,
			    detail);
	if (rc) {
		if (rc == -EINVAL || rc == -ENAMETOOLONG)
			resp_err(r->out, 400, "presign: %s", err.msg[0] ? err.msg : strerror(-rc));
		else
			resp_err(r->out, 500, "presign: %s", err.msg[0] ? err.msg : strerror(-rc));
		log_warn("control socket: presign %s %s/%s for uid %u: %s", method, t->name, p->rel,
			 (unsigned)r->peer->uid, err.msg[0] ? err.msg : strerror(-rc));
		goto out;
	}
	/* what the store cannot refuse by itself is checked when it lands
	 * (presign_watch.h): any tenant limit, since no signature binds quota */
	if (put && c && !(pout.binds & OBJFS_PRESIGN_CHECKED_AT_UPLOAD) &&
	    (c->max_object_size || c->quota_bytes || c->allowed_types || c->denied_types)) {
		if (presign_watch_add(t, p->rel, p->key, expires, r->peer->uid, r->peer->pid))
			log_warn("control socket: cannot watch the presigned PUT %s/%s: out of memory",
				 t->name, p->rel);
		else
			watched = 1;
	}
	log_info("control socket: uid %u pid %d presigned %s %s/%s for %lld s",
		 (unsigned)r->peer->uid, (int)r->peer->pid, method, t->name, p->rel,
		 (long long)ttl);
	resp = json_pack("{s:o, s:s, s:I}", "url", jstr(url), "method", method, "expires",
			 (json_int_t)expires);
	if (resp && put) {
		hdrs = json_object();
		for (size_t i = 0; hdrs && i < pout.nheaders; i++)
			json_object_set_new(hdrs, pout.headers[i].key, jstr(pout.headers[i].value));
		json_object_set_new(resp, "headers", hdrs ? hdrs : json_null());
		json_object_set_new(resp, "checked_on_landing", json_boolean(watched));
	}
	resp_json(r->out, 200, resp);
out:
	objfs_presign_out_clear(&pout);
	free(url);
	free(p);
	json_decref(obj);
	return 0;
}

/* ---- POST /v1/flush ---------------------------------------------------------------------- */

struct flush_target {
	const struct objfs_tenant *t;   /* NULL: every tenant */
	const char *rel;                /* NULL: the whole tenant */
};

/* Entries left under the targets, each expedited (uploads start now). */
static size_t flush_left(struct objfs_writeback *wb, const struct flush_target *v, size_t n,
			 size_t *first)
{
	size_t left = 0;

	for (size_t i = 0; i < n; i++) {
		size_t l = writeback_flush_under(wb, v[i].t, v[i].rel, 0);

		if (l && !left)
			*first = i;
		left += l;
	}
	return left;
}

static int ep_flush(struct req *r)
{
	struct objfs_ctx *ctx = r->ctx;
	const char *path = NULL;
	json_int_t timeout = OBJFS_CTL_FLUSH_DEF;
	struct field f[] = {
		{ "path", F_STRING, &path, NULL, NULL },
		{ "timeout", F_INTEGER, NULL, &timeout, NULL },
	};
	struct flush_target *v = NULL;
	struct objfs_path *p = NULL;
	size_t nv = 0, left = 0, first = 0;
	char detail[96];
	const char *tname = NULL;
	json_t *obj = NULL;
	int64_t end;
	int stopped = 0, rc;

	if (body_object(r, &obj) || body_fields(r, obj, f, sizeof(f) / sizeof(f[0])))
		goto out;
	if (timeout < 1 || timeout > OBJFS_CTL_FLUSH_MAX) {
		resp_err(r->out, 400, "bad request: \"timeout\" must be 1..%u seconds",
			 OBJFS_CTL_FLUSH_MAX);
		goto out;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		resp_oom(r->out);
		goto out;
	}
	if (path && path[0] && resolve_path(r, path, 1, p))
		goto out;
	if (p->tenant) {
		if (!objfs_ctl_may_access(r->peer, p->tenant)) {
			objfs_audit(r->peer->uid, r->peer->pid, p->tenant->name, "flush", p->rel,
				    NULL, -EACCES, NULL);
			forbid_tenant(r, p->tenant);
			goto out;
		}
		v = calloc(1, sizeof(*v));
		if (!v) {
			resp_oom(r->out);
			goto out;
		}
		v[0].t = p->tenant;
		v[0].rel = p->rel[0] ? p->rel : NULL;
		nv = 1;
		tname = p->tenant->name;
	} else if (r->peer->admin) {
		v = calloc(1, sizeof(*v));  /* {NULL, NULL}: everything */
		if (!v) {
			resp_oom(r->out);
			goto out;
		}
		nv = 1;
	} else {
		size_t n = objfs_tenants_count(&ctx->tenants);

		v = calloc(n ? n : 1, sizeof(*v));
		if (!v) {
			resp_oom(r->out);
			goto out;
		}
		for (size_t i = 0; i < n; i++)
			if (objfs_ctl_may_access(r->peer, &ctx->tenants.v[i]))
				v[nv++].t = &ctx->tenants.v[i];
	}

	/* every target's uploads start at once; then wait in slices, so a
	 * daemon stopping does not wait for a long flush */
	end = mono_ms() + (int64_t)timeout * 1000;
	while (ctx->wb && nv && (left = flush_left(ctx->wb, v, nv, &first))) {
		int64_t now = mono_ms();

		if (now >= end)
			break;
		if (__atomic_load_n(&r->api->stopping, __ATOMIC_ACQUIRE)) {
			stopped = 1;
			break;
		}
		writeback_flush_under(ctx->wb, v[first].t, v[first].rel,
				      (unsigned)(end - now < CTL_FLUSH_SLICE_MS ? end - now :
						 CTL_FLUSH_SLICE_MS));
	}
	rc = left ? -ETIMEDOUT : 0;
	snprintf(detail, sizeof(detail), "timeout=%llds pending=%zu", (long long)timeout, left);
	objfs_audit(r->peer->uid, r->peer->pid, tname, "flush", p->tenant ? p->rel : NULL, NULL,
		    rc, detail);
	if (stopped)
		resp_err_with(r->out, 503, json_pack("{s:I}", "pending", (json_int_t)left),
			      "the daemon is stopping; %zu uploads still pending", left);
	else if (left)
		resp_err_with(r->out, 504, json_pack("{s:I}", "pending", (json_int_t)left),
			      "flush timed out after %lld s; %zu uploads still pending",
			      (long long)timeout, left);
	else
		resp_json(r->out, 200, json_pack("{s:b, s:I}", "flushed", 1, "pending",
						 (json_int_t)0));
out:
	free(v);
	free(p);
	json_decref(obj);
	return 0;
}

/* ---- GET /v1/metrics, POST /v1/reload --------------------------------------------------- */

static int ep_metrics(struct req *r)
{
	size_t len = 0;
	char *text = objfs_metrics_render(&len);

	if (!text)
		return resp_err(r->out, 500, "cannot render the metrics: out of memory");
	free(r->out->body);
	r->out->status = 200;
	r->out->content_type = PROM_TYPE;
	r->out->body = text;
	r->out->len = len;
	return 0;
}

static int ep_reload(struct req *r)
{
	char msg[CTL_MSG_MAX] = "";
	json_t *obj = NULL;
	int rc;

	if (body_object(r, &obj) || body_fields(r, obj, NULL, 0))
		goto out;
	rc = r->api->reload(r->ctx, msg, sizeof(msg));
	objfs_audit(r->peer->uid, r->peer->pid, NULL, "reload", NULL, NULL, rc, msg);
	if (rc == 0) {
		log_info("control socket: uid %u pid %d reloaded the configuration: %s",
			 (unsigned)r->peer->uid, (int)r->peer->pid, msg);
		resp_json(r->out, 200, json_pack("{s:b, s:o}", "reloaded", 1, "message", jstr(msg)));
	} else {
		log_warn("control socket: reload by uid %u refused: %s", (unsigned)r->peer->uid,
			 msg[0] ? msg : strerror(-rc));
		resp_err(r->out, rc == -EINVAL ? 400 : rc == -EBUSY ? 409 : 500, "%s",
			 msg[0] ? msg : strerror(-rc));
	}
out:
	json_decref(obj);
	return 0;
}

/* ---- POST /v1/trash/list, /v1/trash/restore, /v1/trash/purge (trash.h) ---------------- */

/* A JSON boolean field taken out of obj before body_fields sees it (which
 * knows strings and integers): 0, or -1 with a 400 answer set. */
static int body_bool(struct req *r, json_t *obj, const char *name, int *out)
{
	json_t *v = json_object_get(obj, name);

	*out = 0;
	if (!v)
		return 0;
	if (!json_is_boolean(v)) {
		resp_err(r->out, 400, "bad request: \"%s\" must be true or false", name);
		return -1;
	}
	*out = json_is_true(v);
	json_object_del(obj, name);
	return 0;
}

/* A trash request's path: the whole mount (p->tenant NULL, when absent and
 * whole_ok), a tenant or a path in one; objfs's own area is not a path.
 * 0, or -1 with the answer set (400, 403, 404). */
static int trash_path(struct req *r, const char *path, int whole_ok, struct objfs_path *p)
{
	memset(p, 0, sizeof(*p));
	if (!path) {
		if (whole_ok)
			return 0;
		return resp_err(r->out, 400, "bad request: \"path\" is required"), -1;
	}
	if (resolve_path(r, path, 1, p))
		return -1;
	if (!p->tenant && !whole_ok)
		return resp_err(r->out, 400, "bad path \"%.200s\": name a tenant and a path", path),
		       -1;
	if (p->tenant && objfs_rel_internal(p->rel))
		return resp_err(r->out, 400, "bad path \"%.200s\": objfs's own area", path), -1;
	if (p->tenant && !objfs_ctl_may_access(r->peer, p->tenant))
		return forbid_tenant(r, p->tenant), -1;
	return 0;
}

/* Appends one object per entry of v (tenant t) to arr: path, version, size,
 * deleted and expires (Unix seconds; expires null: kept until purged), and
 * when known mode ("0644"), type_mode (st_mode), uid, gid, mtime (seconds)
 * and mtime_ns. */
static int trash_entries_json(json_t *arr, const struct objfs_tenant *t,
			      const struct objfs_trash_entry *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct objfs_trash_entry *e = &v[i];
		int64_t exp = objfs_trash_expires_ms(t, e->deleted_ms);
		json_t *o = json_pack("{s:s, s:o, s:s, s:I, s:I, s:o}", "tenant", t->name, "path",
				      jstr(e->rel), "version", e->vid, "size", (json_int_t)e->size,
				      "deleted", (json_int_t)(e->deleted_ms / 1000), "expires",
				      exp ? json_integer(exp / 1000) : json_null());

		if (o && e->has_attr) {
			char mode[16];

			snprintf(mode, sizeof(mode), "%04o", (unsigned)(e->mode & 07777));
			json_object_set_new(o, "mode", json_string(mode));
			json_object_set_new(o, "type_mode", json_integer((json_int_t)e->mode));
			json_object_set_new(o, "uid", json_integer((json_int_t)e->uid));
			json_object_set_new(o, "gid", json_integer((json_int_t)e->gid));
			/* whole seconds and ns: a JSON real would round (9 digits) */
			json_object_set_new(o, "mtime", json_integer((json_int_t)(
				e->mtime_ns >= 0 ? e->mtime_ns / 1000000000LL
						 : -((-e->mtime_ns + 999999999LL) / 1000000000LL))));
			json_object_set_new(o, "mtime_ns", json_integer((json_int_t)e->mtime_ns));
		}
		if (!o || json_array_append_new(arr, o))
			return -ENOMEM;
	}
	return 0;
}

static int trash_errno_status(int rc)
{
	switch (rc) {
	case -ENOENT: return 404;
	case -EEXIST: case -EISDIR: case -EBUSY: return 409;
	case -EROFS: return 403;
	case -EDQUOT: return 507;
	case -E2BIG: case -EPERM: case -ENAMETOOLONG: case -EINVAL: return 400;
	default: return 500;
	}
}

static int ep_trash_list(struct req *r)
{
	struct objfs_ctx *ctx = r->ctx;
	const char *path = NULL;
	struct field f[] = { { "path", F_STRING, &path, NULL, NULL } };
	struct objfs_trash_entry *v = NULL;
	struct objfs_path *p = malloc(sizeof(*p));
	char msg[CTL_MSG_MAX];
	json_t *obj = NULL, *arr = json_array();
	size_t n = 0, left = OBJFS_TRASH_LIST_MAX;
	int truncated = 0, rc = 0;

	if (!p || !arr) {
		resp_oom(r->out);
		goto out;
	}
	if (body_object(r, &obj) || body_fields(r, obj, f, 1) || trash_path(r, path, 1, p))
		goto out;
	for (size_t i = 0, nt = objfs_tenants_count(&ctx->tenants); i < nt && left; i++) {
		struct objfs_tenant *t = &ctx->tenants.v[i];
		int tr = 0;

		if (p->tenant ? t != p->tenant
			      : tenant_removed(t) || !objfs_ctl_may_access(r->peer, t))
			continue;
		rc = objfs_trash_list(t, p->tenant ? p->rel : "", left, &v, &n, &tr, msg,
				      sizeof(msg));
		if (rc) {
			resp_err(r->out, 500, "%s", msg);
			goto out;
		}
		if (trash_entries_json(arr, t, v, n)) {
			resp_oom(r->out);
			goto out;
		}
		left -= n;
		truncated |= tr || !left;
		objfs_trash_entries_free(v, n);
		v = NULL;
		n = 0;
	}
	resp_json(r->out, 200, json_pack("{s:O, s:b}", "entries", arr, "truncated", truncated));
out:
	objfs_trash_entries_free(v, n);
	json_decref(arr);
	json_decref(obj);
	free(p);
	return 0;
}

static int ep_trash_restore(struct req *r)
{
	const char *path = NULL, *version = NULL, *to = NULL;
	struct field f[] = {
		{ "path", F_STRING, &path, NULL, NULL },
		{ "version", F_STRING, &version, NULL, NULL },
		{ "to", F_STRING, &to, NULL, NULL },
	};
	struct objfs_path *p = malloc(sizeof(*p)), *pt = malloc(sizeof(*pt));
	struct objfs_trash_entry *done = NULL;
	char msg[CTL_MSG_MAX], detail[CTL_MSG_MAX];
	json_t *obj = NULL, *arr = NULL;
	size_t ndone = 0;
	int force = 0, rc;

	if (!p || !pt) {
		resp_oom(r->out);
		goto out;
	}
	if (body_object(r, &obj) || body_bool(r, obj, "force", &force) ||
	    body_fields(r, obj, f, sizeof(f) / sizeof(f[0])) || trash_path(r, path, 0, p))
		goto out;
	if (!p->rel[0]) {
		resp_err(r->out, 400, "bad path \"%.200s\": name a file or directory in the tenant",
			 path);
		goto out;
	}
	if (to) {
		if (trash_path(r, to, 0, pt))
			goto out;
		if (pt->tenant != p->tenant || !pt->rel[0]) {
			resp_err(r->out, 400, "bad \"to\" \"%.200s\": a path in tenant %s", to,
				 p->tenant->name);
			goto out;
		}
	}
	rc = objfs_trash_restore(r->ctx, p->tenant, p->rel, version, to ? pt->rel : NULL, force,
				 &done, &ndone, msg, sizeof(msg));
	snprintf(detail, sizeof(detail), "version=%s%s files=%zu", version ? version : "newest",
		 force ? " force" : "", ndone);
	objfs_audit(r->peer->uid, r->peer->pid, p->tenant->name, "trash-restore", p->rel,
		    to ? pt->rel : NULL, rc, rc ? msg : detail);
	if (rc) {
		log_warn("control socket: trash restore %s/%s by uid %u: %s", p->tenant->name,
			 p->rel, (unsigned)r->peer->uid, msg);
		resp_err(r->out, trash_errno_status(rc), "%s", msg);
		goto out;
	}
	log_info("control socket: uid %u pid %d restored %zu files from the trash at %s/%s",
		 (unsigned)r->peer->uid, (int)r->peer->pid, ndone, p->tenant->name, p->rel);
	arr = json_array();
	if (!arr || trash_entries_json(arr, p->tenant, done, ndone)) {
		resp_oom(r->out);
		goto out;
	}
	resp_json(r->out, 200, json_pack("{s:I, s:O}", "restored", (json_int_t)ndone, "entries",
					 arr));
out:
	objfs_trash_entries_free(done, ndone);
	json_decref(arr);
	json_decref(obj);
	free(p);
	free(pt);
	return 0;
}

static int ep_trash_purge(struct req *r)
{
	struct objfs_ctx *ctx = r->ctx;
	const char *path = NULL, *version = NULL;
	struct field f[] = {
		{ "path", F_STRING, &path, NULL, NULL },
		{ "version", F_STRING, &version, NULL, NULL },
	};
	struct objfs_path *p = malloc(sizeof(*p));
	char msg[CTL_MSG_MAX], detail[128];
	json_t *obj = NULL;
	size_t total = 0;
	uint64_t total_bytes = 0;
	int expired = 0, rc = 0;

	if (!p) {
		resp_oom(r->out);
		goto out;
	}
	if (body_object(r, &obj) || body_bool(r, obj, "expired", &expired) ||
	    body_fields(r, obj, f, sizeof(f) / sizeof(f[0])) || trash_path(r, path, 1, p))
		goto out;
	if (version && (!p->tenant || !p->rel[0])) {
		resp_err(r->out, 400, "bad request: \"version\" needs the file's \"path\"");
		goto out;
	}
	for (size_t i = 0, nt = objfs_tenants_count(&ctx->tenants); i < nt; i++) {
		struct objfs_tenant *t = &ctx->tenants.v[i];
		size_t count = 0;
		uint64_t bytes = 0;

		if (p->tenant ? t != p->tenant
			      : tenant_removed(t) || !objfs_ctl_may_access(r->peer, t))
			continue;
		rc = objfs_trash_purge(t, p->tenant ? p->rel : NULL, version, expired, &count,
				       &bytes, msg, sizeof(msg));
		total += count;
		total_bytes += bytes;
		snprintf(detail, sizeof(detail), "versions=%zu bytes=%" PRIu64 "%s%s%s", count,
			 bytes, expired ? " expired" : "", version ? " version=" : "",
			 version ? version : "");
		objfs_audit(r->peer->uid, r->peer->pid, t->name, "trash-purge",
			    p->tenant ? p->rel : "", NULL, rc, rc ? msg : detail);
		if (rc) {
			resp_err_with(r->out, 500, json_pack("{s:I}", "purged", (json_int_t)total),
				      "%s", msg);
			goto out;
		}
	}
	log_info("control socket: uid %u pid %d purged %zu versions (%" PRIu64 " bytes) from "
		 "the trash", (unsigned)r->peer->uid, (int)r->peer->pid, total, total_bytes);
	resp_json(r->out, 200, json_pack("{s:I, s:I}", "purged", (json_int_t)total, "bytes",
					 (json_int_t)total_bytes));
out:
	json_decref(obj);
	free(p);
	return 0;
}

/* ---- routing ---------------------------------------------------------------------------- */

enum { R_ANY = 0, R_TENANT, R_ADMIN };   /* who may call */

static const struct route {
	const char *path;
	const char *method;          /* GET (HEAD too) or POST */
	int who;
	int (*fn)(struct req *r);
} routes[] = {
	{ "/v1/health", "GET", R_ANY, ep_health },
	{ "/v1/status", "GET", R_TENANT, ep_status },
	{ "/v1/tenants", "GET", R_TENANT, ep_tenants },
	{ "/v1/presign", "POST", R_TENANT, ep_presign },
	{ "/v1/flush", "POST", R_TENANT, ep_flush },
	{ "/v1/metrics", "GET", R_ADMIN, ep_metrics },
	{ "/v1/reload", "POST", R_ADMIN, ep_reload },
	{ "/v1/trash/list", "POST", R_TENANT, ep_trash_list },
	{ "/v1/trash/restore", "POST", R_TENANT, ep_trash_restore },
	{ "/v1/trash/purge", "POST", R_TENANT, ep_trash_purge },
};

int objfs_ctl_handle(struct objfs_ctl_api *api, const struct objfs_ctl_peer *peer,
		     const char *method, const char *url, const char *body, size_t len,
		     struct objfs_ctl_resp *out)
{
	struct req r = { api, api->ctx, peer, body ? body : "", body ? len : 0, out };
	const struct route *rt = NULL;
	size_t ulen;

	memset(out, 0, sizeof(*out));
	if (!method || !url)
		return resp_err(out, 400, "bad request");
	ulen = strcspn(url, "?#");
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (strlen(routes[i].path) == ulen && !memcmp(routes[i].path, url, ulen))
			rt = &routes[i];
	if (!rt)
		return resp_err(out, 404, "no such endpoint: %.*s", (int)(ulen > 200 ? 200 : ulen),
				url);
	if (strcmp(method, rt->method) && !(!strcmp(method, "HEAD") && rt->method[0] == 'G')) {
		out->allow = rt->method[0] == 'G' ? "GET, HEAD" : "POST";
		return resp_err(out, 405, "%.*s takes %s", (int)ulen, url, rt->method);
	}
	if (len > OBJFS_CTL_BODY_MAX)
		return resp_err(out, 413, "request body over %d bytes", OBJFS_CTL_BODY_MAX);
	if (!peer->admin && rt->who == R_ADMIN)
		return resp_err(out, 403, "uid %u may not use %s: admin only", (unsigned)peer->uid,
				rt->path);
	if (!peer->admin && rt->who == R_TENANT && !may_access_any(r.ctx, peer))
		return resp_err(out, 403, "uid %u may access no tenant", (unsigned)peer->uid);
	return rt->fn(&r);
}
