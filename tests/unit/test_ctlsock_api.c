/*
 * Unit tests of the control socket's endpoints (src/ctlsock_api.c) without
 * a socket: a hand-built daemon context over the `mem` provider (meta,
 * staging, files and write-back as in test_writeback.c), three tenants
 * with different admission rules, and callers built from numeric
 * uid/gid pairs that have no passwd entry (so the user database adds no
 * groups and the tests do not depend on the machine's users).
 *
 *   acme     bucket acme-bkt,   prefix "",                allow_uids 71001
 *   globex   bucket shared-bkt, prefix "tenants/globex/", allow_gids 72000, read-only
 *   initech  bucket shared-bkt, prefix "tenants/initech/", allow_uids 73001
 *
 * control_admin_group is "74000" (a number: no such group name), so a
 * caller whose gid is 74000 is an admin.  Reload is injected.  The mem
 * provider is wrapped to count health probes and to fail puts on demand.
 */
#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "ctlsock_api.h"
#include "ctx.h"
#include "file.h"
#include "log.h"
#include "meta.h"
#include "objfs/provider.h"
#include "presign_local.h"
#include "staging.h"
#include "writeback.h"
#include "testutil.h"

#define NEVER_MS 600000u         /* a write-back delay no test outlives */
#define TTL_MAX  3600u

/* ---- the provider: mem, wrapped ------------------------------------------------ */

static struct objfs_provider_ops w_ops;
static pthread_mutex_t w_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t w_cv = PTHREAD_COND_INITIALIZER;
static unsigned w_health;        /* probes seen */
static int w_fail_puts;          /* 1: every put fails */
static int w_hang;               /* 1: health probes wait (at most 20 s) until it is 0 */

static int w_put(struct objfs_provider *p, const char *bucket, const char *key,
		 const struct objfs_source *src, const struct objfs_putopts *opts,
		 char *etag_out, struct objfs_err *err)
{
	int fail;

	pthread_mutex_lock(&w_lock);
	fail = w_fail_puts;
	pthread_mutex_unlock(&w_lock);
	if (fail)
		return objfs_err_set(err, -EIO, "injected put failure");
	return objfs_provider_mem.put(p, bucket, key, src, opts, etag_out, err);
}

static int w_health_fn(struct objfs_provider *p, const char *bucket, struct objfs_health *out,
		       struct objfs_err *err)
{
	struct timespec dl;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 20;
	pthread_mutex_lock(&w_lock);
	w_health++;
	while (w_hang)
		if (pthread_cond_timedwait(&w_cv, &w_lock, &dl) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&w_lock);
	return objfs_provider_mem.health(p, bucket, out, err);
}

static unsigned health_seen(void)
{
	unsigned n;

	pthread_mutex_lock(&w_lock);
	n = w_health;
	pthread_mutex_unlock(&w_lock);
	return n;
}

/* ---- reload, injected ------------------------------------------------------------ */

static int reload_rc;
static unsigned reload_calls;

static int fake_reload(struct objfs_ctx *ctx, char *msg, size_t msglen)
{
	(void)ctx;
	reload_calls++;
	snprintf(msg, msglen, reload_rc == 0 ? "3 tenants: 0 added, 0 removed, 3 updated" :
		 reload_rc == -EBUSY ? "tenant acme: a new bucket needs a restart" :
		 "objfs.conf:3: bad line");
	return reload_rc;
}

/* ---- the context ------------------------------------------------------------------ */

static uid_t acme_uids[] = { 71001 };
static gid_t globex_gids[] = { 72000 };
static uid_t initech_uids[] = { 73001 };

struct env {
	char *dir;
	char *mnt;
	struct objfs_config cfg;
	struct objfs_tenant_conf tc[3];
	struct objfs_prov *prov;
	struct objfs_prov *provs[1];
	struct objfs_ctx ctx;
	struct objfs_ctl_api *api;
	/* callers */
	struct objfs_ctl_peer root, admin, a, g, i, nobody;
};

static void peer(struct env *e, struct objfs_ctl_peer *p, uid_t uid, gid_t gid)
{
	assert_int_equal(objfs_ctl_peer_init(e->api, uid, gid, 4242, p), 0);
}

static int setup(void **state)
{
	struct objfs_provider_conf pc = { .name = "mem", .type = "mem" };
	static const char *names[3] = { "acme", "globex", "initech" };
	static const char *buckets[3] = { "acme-bkt", "shared-bkt", "shared-bkt" };
	static const char *prefixes[3] = { "", "tenants/globex/", "tenants/initech/" };
	struct env *e = calloc(1, sizeof(*e));
	struct objfs_ctx *c;
	struct objfs_err err;
	char msg[256];

	if (!e || !(e->dir = tu_mkdtemp("ctl")) || asprintf(&e->mnt, "%s/mnt", e->dir) < 0)
		return -1;
	if (mkdir(e->mnt, 0755))
		return -1;
	if (objfs_prov_open(&pc, &e->prov, &err) ||
	    objfs_prov_bucket_create(e->prov, "acme-bkt", &err) ||
	    objfs_prov_bucket_create(e->prov, "shared-bkt", &err))
		return -1;
	w_ops = objfs_provider_mem;
	w_ops.put = w_put;
	w_ops.health = w_health_fn;
	e->prov->ops = &w_ops;
	w_health = 0;
	w_fail_puts = 0;
	w_hang = 0;
	reload_rc = 0;
	reload_calls = 0;

	e->cfg.cache_dir = e->dir;
	e->cfg.chunk_size = 1 << 20;
	e->cfg.staging_max_bytes = 64u << 20;
	e->cfg.read_cache_max_bytes = 1u << 30;
	e->cfg.upload_workers = 2;
	e->cfg.upload_parallel_parts = 2;
	e->cfg.writeback_delay_ms = NEVER_MS;
	e->cfg.drain_timeout_s = 10;
	e->cfg.presign_ttl_default_s = 900;
	e->cfg.presign_ttl_max_s = TTL_MAX;
	e->cfg.control_admin_group = (char *)"74000";
	for (int k = 0; k < 3; k++) {
		e->tc[k].name = (char *)names[k];
		e->tc[k].bucket = (char *)buckets[k];
		e->tc[k].prefix = (char *)prefixes[k];
		e->tc[k].provider = (char *)"mem";
	}
	e->tc[0].allow_uids = acme_uids;
	e->tc[0].nallow_uids = 1;
	e->tc[1].allow_gids = globex_gids;
	e->tc[1].nallow_gids = 1;
	e->tc[1].read_only = 1;
	e->tc[2].allow_uids = initech_uids;
	e->tc[2].nallow_uids = 1;

	c = &e->ctx;
	c->cfg = &e->cfg;
	c->tenants.v = calloc(OBJFS_TENANTS_MAX, sizeof(*c->tenants.v));
	if (!c->tenants.v)
		return -1;
	for (size_t k = 0; k < 3; k++) {
		struct objfs_tenant *t = &c->tenants.v[k];

		t->idx = k;
		t->conf = &e->tc[k];
		t->prov = e->prov;
		t->name = names[k];
		t->bucket = buckets[k];
		t->prefix = prefixes[k];
	}
	c->tenants.n = 3;
	e->provs[0] = e->prov;
	c->provs = e->provs;
	c->nprovs = 1;
	c->mountpoint = e->mnt;
	c->started_ms = (int64_t)time(NULL) * 1000 - 5000;
	c->uid = getuid();
	c->gid = getgid();
	c->chunk_size = 1 << 20;
	if (meta_open(e->dir, &c->meta) ||
	    staging_open(e->dir, e->cfg.staging_max_bytes, &c->staging) ||
	    files_new(c, &c->files) || writeback_new(c, &c->wb) || writeback_start(c->wb))
		return -1;
	if (objfs_ctl_api_new(c, &e->api, msg, sizeof(msg)))
		return -1;
	objfs_ctl_api_set_reload(e->api, fake_reload);
	peer(e, &e->root, 0, 0);
	peer(e, &e->admin, 79997, 74000);
	peer(e, &e->a, 71001, 71001);
	peer(e, &e->g, 79999, 72000);
	peer(e, &e->i, 73001, 73001);
	peer(e, &e->nobody, 79998, 79998);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	struct objfs_ctx *c = &e->ctx;

	objfs_ctl_peer_clear(&e->root);
	objfs_ctl_peer_clear(&e->admin);
	objfs_ctl_peer_clear(&e->a);
	objfs_ctl_peer_clear(&e->g);
	objfs_ctl_peer_clear(&e->i);
	objfs_ctl_peer_clear(&e->nobody);
	objfs_ctl_api_free(e->api);
	writeback_free(c->wb);
	files_free(c->files);
	staging_free(c->staging);
	meta_close(c->meta);
	free(c->tenants.v);
	objfs_prov_free(e->prov);
	tu_rm_rf(e->dir);
	free(e->dir);
	free(e->mnt);
	free(e);
	return 0;
}

/* ---- helpers ------------------------------------------------------------------------ */

/* Calls the handler; returns the status, and the parsed JSON body in *js
 * (NULL when not JSON) if js is given. */
static int call_ex(struct env *e, const struct objfs_ctl_peer *p, const char *method,
		   const char *url, const char *body, size_t len, json_t **js,
		   struct objfs_ctl_resp *keep)
{
	struct objfs_ctl_resp r;
	int status;

	assert_int_equal(objfs_ctl_handle(e->api, p, method, url, body, len, &r), 0);
	assert_non_null(r.body);
	assert_non_null(r.content_type);
	status = r.status;
	if (!strcmp(r.content_type, "application/json")) {
		json_error_t je;
		json_t *v = json_loadb(r.body, r.len, 0, &je);

		if (!v)
			fail_msg("%s %s: answer is not JSON (%s): %.*s", method, url, je.text,
				 (int)r.len, r.body);
		if (status >= 400 && !json_is_string(json_object_get(v, "error")))
			fail_msg("%s %s: error %d without an \"error\" string: %.*s", method, url,
				 status, (int)r.len, r.body);
		if (js)
			*js = v;
		else
			json_decref(v);
	} else if (js) {
		*js = NULL;
	}
	if (keep)
		*keep = r;
	else
		objfs_ctl_resp_clear(&r);
	return status;
}

static int call(struct env *e, const struct objfs_ctl_peer *p, const char *method,
		const char *url, const char *body, json_t **js)
{
	return call_ex(e, p, method, url, body, body ? strlen(body) : 0, js, NULL);
}

/* Asserts the status, printing the answer when it differs. */
static void expect(struct env *e, const struct objfs_ctl_peer *p, const char *method,
		   const char *url, const char *body, int want, const char *why)
{
	json_t *js = NULL;
	int got = call(e, p, method, url, body, &js);

	if (got != want) {
		char *s = js ? json_dumps(js, JSON_COMPACT) : NULL;

		fail_msg("%s: %s %s %s -> %d, want %d: %s", why, method, url, body ? body : "", got,
			 want, s ? s : "");
	}
	json_decref(js);
}

/* Commits a small file in tenant t (its upload waits for the write-back delay). */
static void commit_file(struct env *e, size_t t, const char *path, uint64_t fid)
{
	struct objfs_file *f = NULL;

	assert_int_equal(files_get(e->ctx.files, &e->ctx.tenants.v[t], path, fid, NULL, NULL, &f),
			 0);
	assert_int_equal(file_write(f, "hello", 5, 0), 5);
	assert_int_equal(file_commit(f), 0);
	file_put(f);
}

static int stored(struct env *e, const char *bucket, const char *key)
{
	struct objfs_objinfo oi;
	struct objfs_err err;
	int rc = objfs_prov_head(e->prov, bucket, key, &oi, &err);

	if (rc == 0)
		objfs_objinfo_clear(&oi);
	return rc == 0;
}

/* ---- callers ------------------------------------------------------------------------- */

static void test_peer_init(void **state)
{
	struct env *e = *state;
	struct objfs_ctl_peer p;

	assert_true(e->root.admin);
	assert_true(e->admin.admin);           /* gid 74000 = control_admin_group */
	assert_false(e->a.admin);
	assert_false(e->nobody.admin);
	/* no passwd entry: the kernel's gid is the only group */
	assert_int_equal(e->a.ngids, 1);
	assert_int_equal(e->a.gids[0], 71001);
	assert_int_equal(e->a.uid, 71001);
	assert_int_equal(e->a.pid, 4242);
	/* the daemon's own uid is an admin */
	peer(e, &p, geteuid(), 79990);
	assert_true(p.admin);
	objfs_ctl_peer_clear(&p);
}

/* A user in the admin group through the group database (a supplementary
 * group) is an admin; found on this machine, else skipped. */
static void test_peer_supplementary_admin(void **state)
{
	struct env *e = *state;
	struct objfs_ctl_api *api = NULL;
	struct objfs_ctl_peer p;
	struct group *gr;
	struct passwd *pw = NULL;
	char gname[64] = "", msg[256];
	gid_t ggid = 0;

	(void)e;
	setgrent();
	while ((gr = getgrent())) {
		for (char **m = gr->gr_mem; m && *m; m++) {
			pw = getpwnam(*m);
			if (pw && pw->pw_uid != 0 && pw->pw_uid != geteuid() &&
			    pw->pw_gid != gr->gr_gid && strlen(gr->gr_name) < sizeof(gname)) {
				snprintf(gname, sizeof(gname), "%s", gr->gr_name);
				ggid = gr->gr_gid;
				break;
			}
			pw = NULL;
		}
		if (pw)
			break;
	}
	endgrent();
	if (!pw) {
		skip();
		return;
	}
	e->cfg.control_admin_group = gname;
	assert_int_equal(objfs_ctl_api_new(&e->ctx, &api, msg, sizeof(msg)), 0);
	assert_int_equal(objfs_ctl_peer_init(api, pw->pw_uid, pw->pw_gid, 1, &p), 0);
	assert_true(p.admin);
	{
		int found = 0;

		for (size_t k = 0; k < p.ngids; k++)
			found |= p.gids[k] == ggid;
		assert_true(found);
	}
	objfs_ctl_peer_clear(&p);
	/* the same uid in another admin group is not */
	objfs_ctl_api_free(api);
	e->cfg.control_admin_group = (char *)"74000";
}

static void test_admin_group_unknown(void **state)
{
	struct env *e = *state;
	struct objfs_ctl_api *api = NULL;
	char msg[256] = "";

	e->cfg.control_admin_group = (char *)"no-such-group-objfs";
	assert_int_equal(objfs_ctl_api_new(&e->ctx, &api, msg, sizeof(msg)), -ENOENT);
	assert_null(api);
	assert_non_null(strstr(msg, "no-such-group-objfs"));
	e->cfg.control_admin_group = (char *)"74000";
}

/* ---- the authorisation matrix ----------------------------------------------------------- */

static void test_auth_matrix(void **state)
{
	struct env *e = *state;
	const struct {
		const struct objfs_ctl_peer *who;
		const char *name;
		int health, status, tenants, metrics, reload;
		int presign_acme, presign_globex, put_globex, presign_initech;
		int flush_acme, flush_all;
	} m[] = {
		/*           hl   st   tn   mt   rl   pa   pg   PUTg pi   fa   fall */
		{ &e->root, "root", 200, 200, 200, 200, 200, 200, 200, 403, 200, 200, 200 },
		{ &e->admin, "admin", 200, 200, 200, 200, 200, 200, 200, 403, 200, 200, 200 },
		{ &e->a, "acme", 200, 200, 200, 403, 403, 200, 403, 403, 403, 200, 200 },
		{ &e->g, "globex", 200, 200, 200, 403, 403, 403, 200, 403, 403, 403, 200 },
		{ &e->i, "initech", 200, 200, 200, 403, 403, 403, 403, 403, 200, 403, 200 },
		{ &e->nobody, "nobody", 200, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403 },
	};

	for (size_t k = 0; k < sizeof(m) / sizeof(m[0]); k++) {
		const struct objfs_ctl_peer *p = m[k].who;

		expect(e, p, "GET", "/v1/health", NULL, m[k].health, m[k].name);
		expect(e, p, "GET", "/v1/status", NULL, m[k].status, m[k].name);
		expect(e, p, "GET", "/v1/tenants", NULL, m[k].tenants, m[k].name);
		expect(e, p, "GET", "/v1/metrics", NULL, m[k].metrics, m[k].name);
		expect(e, p, "POST", "/v1/reload", NULL, m[k].reload, m[k].name);
		expect(e, p, "POST", "/v1/presign", "{\"path\": \"acme/a.txt\"}",
		       m[k].presign_acme, m[k].name);
		expect(e, p, "POST", "/v1/presign", "{\"path\": \"globex/a.txt\"}",
		       m[k].presign_globex, m[k].name);
		expect(e, p, "POST", "/v1/presign",
		       "{\"path\": \"globex/a.txt\", \"method\": \"PUT\"}", m[k].put_globex,
		       m[k].name);
		expect(e, p, "POST", "/v1/presign", "{\"path\": \"initech/a.txt\"}",
		       m[k].presign_initech, m[k].name);
		expect(e, p, "POST", "/v1/flush", "{\"path\": \"acme\", \"timeout\": 5}",
		       m[k].flush_acme, m[k].name);
		expect(e, p, "POST", "/v1/flush", "{\"timeout\": 5}", m[k].flush_all, m[k].name);
	}
	/* reload was called by the two admins only */
	assert_int_equal(reload_calls, 2);
}

/* A tenant with neither allow_uids nor allow_gids admits everybody. */
static void test_open_tenant(void **state)
{
	struct env *e = *state;
	json_t *js = NULL;

	expect(e, &e->nobody, "POST", "/v1/presign", "{\"path\": \"initech/x\"}", 403, "closed");
	e->tc[2].nallow_uids = 0;
	expect(e, &e->nobody, "POST", "/v1/presign", "{\"path\": \"initech/x\"}", 200, "open");
	expect(e, &e->nobody, "POST", "/v1/presign", "{\"path\": \"acme/x\"}", 403, "acme");
	assert_int_equal(call(e, &e->nobody, "GET", "/v1/tenants", NULL, &js), 200);
	assert_int_equal(json_array_size(json_object_get(js, "tenants")), 1);
	assert_string_equal(json_string_value(json_object_get(
		json_array_get(json_object_get(js, "tenants"), 0), "name")), "initech");
	json_decref(js);
	e->tc[2].nallow_uids = 1;
}

/* A tenant a reload removed is gone for everybody. */
static void test_removed_tenant(void **state)
{
	struct env *e = *state;
	json_t *js = NULL;

	e->ctx.tenants.v[2].removed = 1;
	expect(e, &e->root, "POST", "/v1/presign", "{\"path\": \"initech/x\"}", 404, "removed");
	expect(e, &e->i, "GET", "/v1/status", NULL, 403, "removed: no tenant left for uid");
	assert_int_equal(call(e, &e->root, "GET", "/v1/tenants", NULL, &js), 200);
	assert_int_equal(json_array_size(json_object_get(js, "tenants")), 2);
	json_decref(js);
	assert_int_equal(call(e, &e->root, "GET", "/v1/health", NULL, &js), 200);
	{
		json_t *pv = json_object_get(js, "providers");

		for (size_t k = 0; k < json_array_size(pv); k++) {
			json_t *tn = json_object_get(json_array_get(pv, k), "tenants");

			for (size_t j = 0; j < json_array_size(tn); j++)
				assert_string_not_equal(json_string_value(json_array_get(tn, j)),
							"initech");
		}
	}
	json_decref(js);
	e->ctx.tenants.v[2].removed = 0;
}

/* ---- routing ---------------------------------------------------------------------------- */

static void test_routing(void **state)
{
	struct env *e = *state;
	struct objfs_ctl_resp r;
	const struct {
		const char *method, *url;
		int status;
	} cases[] = {
		{ "GET", "/v1/health", 200 },
		{ "HEAD", "/v1/health", 200 },
		{ "GET", "/v1/health?verbose=1", 200 },
		{ "GET", "/v1/health/", 404 },
		{ "GET", "/v1/Health", 404 },
		{ "GET", "/v1", 404 },
		{ "GET", "/", 404 },
		{ "GET", "", 404 },
		{ "GET", "/v2/health", 404 },
		{ "GET", "/v1/healthz", 404 },
		{ "GET", "/v1/presign", 405 },
		{ "PUT", "/v1/presign", 405 },
		{ "HEAD", "/v1/flush", 405 },
		{ "POST", "/v1/health", 405 },
		{ "DELETE", "/v1/tenants", 405 },
		{ "get", "/v1/health", 405 },
		{ "POST", "/v1/metrics", 405 },
		{ "GET", "/v1/reload", 405 },
	};

	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++)
		expect(e, &e->root, cases[k].method, cases[k].url, NULL, cases[k].status, "routing");
	/* 405 says what the endpoint takes */
	assert_int_equal(call_ex(e, &e->root, "GET", "/v1/presign", NULL, 0, NULL, &r), 405);
	assert_non_null(r.allow);
	assert_string_equal(r.allow, "POST");
	objfs_ctl_resp_clear(&r);
	assert_int_equal(call_ex(e, &e->root, "POST", "/v1/status", NULL, 0, NULL, &r), 405);
	assert_string_equal(r.allow, "GET, HEAD");
	objfs_ctl_resp_clear(&r);
	/* an unknown endpoint is 404 even for a caller with no tenant */
	expect(e, &e->nobody, "GET", "/v1/nothing", NULL, 404, "nobody, unknown endpoint");
}

/* ---- presign -------------------------------------------------------------------------------- */

/* The X-Objfs-Expires value of a mem:// URL. */
static long long url_expires(const char *url)
{
	const char *x = strstr(url, "X-Objfs-Expires=");

	return x ? strtoll(x + strlen("X-Objfs-Expires="), NULL, 10) : -1;
}

static void test_presign_ok(void **state)
{
	struct env *e = *state;
	char body[512], want[256];
	const struct {
		const char *path, *method;
		int ttl;                   /* 0: none given */
		const char *url_prefix;
	} cases[] = {
		{ "acme/reports/q1.pdf", NULL, 0, "mem://acme-bkt/reports/q1.pdf?X-Objfs-Method=GET" },
		{ "acme/q1.pdf", "GET", 60, "mem://acme-bkt/q1.pdf?X-Objfs-Method=GET" },
		{ "acme/up.bin", "PUT", 1, "mem://acme-bkt/up.bin?X-Objfs-Method=PUT" },
		{ "acme/max", "GET", TTL_MAX, "mem://acme-bkt/max?X-Objfs-Method=GET" },
		{ "globex/a/b", NULL, 0, "mem://shared-bkt/tenants/globex/a/b?X-Objfs-Method=GET" },
		{ "initech/\xc3\xa9t\xc3\xa9", "PUT", 0,
		  "mem://shared-bkt/tenants/initech/\xc3\xa9t\xc3\xa9?X-Objfs-Method=PUT" },
		{ "@MNT/acme/abs/x", NULL, 0, "mem://acme-bkt/abs/x?X-Objfs-Method=GET" },
	};

	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		json_t *js = NULL;
		char path[512];
		const char *url, *method = cases[k].method ? cases[k].method : "GET";
		long long ttl = cases[k].ttl ? cases[k].ttl : 900, now = time(NULL);
		int n;

		if (!strncmp(cases[k].path, "@MNT", 4))
			snprintf(path, sizeof(path), "%s%s", e->mnt, cases[k].path + 4);
		else
			snprintf(path, sizeof(path), "%s", cases[k].path);
		n = snprintf(body, sizeof(body), "{\"path\": \"%s\"", path);
		if (cases[k].method)
			n += snprintf(body + n, sizeof(body) - (size_t)n, ", \"method\": \"%s\"",
				      cases[k].method);
		if (cases[k].ttl)
			n += snprintf(body + n, sizeof(body) - (size_t)n, ", \"ttl\": %d",
				      cases[k].ttl);
		snprintf(body + n, sizeof(body) - (size_t)n, "}");
		if (call(e, &e->root, "POST", "/v1/presign", body, &js) != 200)
			fail_msg("%s: not 200", body);
		url = json_string_value(json_object_get(js, "url"));
		assert_non_null(url);
		snprintf(want, sizeof(want), "%s", cases[k].url_prefix);
		if (strncmp(url, want, strlen(want)))
			fail_msg("%s: url %s, want %s...", body, url, want);
		assert_string_equal(json_string_value(json_object_get(js, "method")), method);
		/* expiry: now + ttl, in the answer and in the URL */
		assert_true(json_integer_value(json_object_get(js, "expires")) >= now + ttl);
		assert_true(json_integer_value(json_object_get(js, "expires")) <= now + ttl + 2);
		assert_true(url_expires(url) >= now + ttl && url_expires(url) <= now + ttl + 2);
		json_decref(js);
	}
}

/* The signature in the URL checks out against the mem provider's secret. */
static void test_presign_signature(void **state)
{
	struct env *e = *state;
	json_t *js = NULL;
	const char *url, *sig, *exp;
	char expires[32], sighex[OBJFS_PRESIGN_HEX_LEN];

	assert_int_equal(call(e, &e->a, "POST", "/v1/presign",
			      "{\"path\": \"acme/dir/file.txt\", \"method\": \"PUT\", \"ttl\": 120}",
			      &js), 200);
	url = json_string_value(json_object_get(js, "url"));
	sig = strstr(url, "X-Objfs-Signature=");
	exp = strstr(url, "X-Objfs-Expires=");
	assert_non_null(sig);
	assert_non_null(exp);
	snprintf(sighex, sizeof(sighex), "%.64s", sig + strlen("X-Objfs-Signature="));
	snprintf(expires, sizeof(expires), "%.*s",
		 (int)strcspn(exp + strlen("X-Objfs-Expires="), "&"),
		 exp + strlen("X-Objfs-Expires="));
	assert_int_equal(objfs_local_presign_check((const unsigned char *)OBJFS_MEM_PRESIGN_SECRET,
						   OBJFS_PRESIGN_SECRET_LEN, "PUT", "acme-bkt",
						   "dir/file.txt", expires, sighex, time(NULL)), 0);
	/* not valid for GET, nor for another key */
	assert_int_not_equal(objfs_local_presign_check(
		(const unsigned char *)OBJFS_MEM_PRESIGN_SECRET, OBJFS_PRESIGN_SECRET_LEN, "GET",
		"acme-bkt", "dir/file.txt", expires, sighex, time(NULL)), 0);
	assert_int_not_equal(objfs_local_presign_check(
		(const unsigned char *)OBJFS_MEM_PRESIGN_SECRET, OBJFS_PRESIGN_SECRET_LEN, "PUT",
		"acme-bkt", "dir/other.txt", expires, sighex, time(NULL)), 0);
	json_decref(js);
}

static void test_presign_errors(void **state)
{
	struct env *e = *state;
	char big[OBJFS_CTL_BODY_MAX + 64], deep[256], longp[1400], abs_out[600], abs_dots[600];
	const struct {
		const char *body;
		int status;
		const char *why;
	} cases[] = {
		{ "", 400, "empty body: no path" },
		{ "   \n", 400, "blank body: no path" },
		{ "{", 400, "truncated JSON" },
		{ "{\"path\": \"acme/x\"", 400, "unterminated object" },
		{ "{\"path\": \"acme/x\"} trailing", 400, "trailing garbage" },
		{ "[\"acme/x\"]", 400, "an array" },
		{ "\"acme/x\"", 400, "a string" },
		{ "null", 400, "null" },
		{ "42", 400, "a number" },
		{ "{}", 400, "no path" },
		{ "{\"path\": \"acme/x\", \"path\": \"acme/y\"}", 400, "duplicate key" },
		{ "{\"path\": \"acme/x\", \"mode\": \"GET\"}", 400, "unknown field" },
		{ "{\"path\": \"acme/x\", \"ttl\": 60, \"extra\": null}", 400, "unknown null field" },
		{ "{\"path\": 5}", 400, "path a number" },
		{ "{\"path\": null}", 400, "path null" },
		{ "{\"path\": [\"acme/x\"]}", 400, "path an array" },
		{ "{\"path\": \"acme/x\", \"method\": 1}", 400, "method a number" },
		{ "{\"path\": \"acme/x\", \"method\": \"DELETE\"}", 400, "method DELETE" },
		{ "{\"path\": \"acme/x\", \"method\": \"get\"}", 400, "method lower case" },
		{ "{\"path\": \"acme/x\", \"method\": \"\"}", 400, "method empty" },
		{ "{\"path\": \"acme/x\", \"ttl\": 0}", 400, "ttl 0" },
		{ "{\"path\": \"acme/x\", \"ttl\": -1}", 400, "ttl negative" },
		{ "{\"path\": \"acme/x\", \"ttl\": 3601}", 400, "ttl over the max" },
		{ "{\"path\": \"acme/x\", \"ttl\": 99999999999999999999}", 400, "ttl huge" },
		{ "{\"path\": \"acme/x\", \"ttl\": 1.5}", 400, "ttl not an integer" },
		{ "{\"path\": \"acme/x\", \"ttl\": 60.0}", 400, "ttl a real" },
		{ "{\"path\": \"acme/x\", \"ttl\": \"60\"}", 400, "ttl a string" },
		{ "{\"path\": \"acme/x\", \"ttl\": true}", 400, "ttl a boolean" },
		{ "{\"path\": \"\"}", 400, "path empty" },
		{ "{\"path\": \"acme\"}", 400, "tenant only" },
		{ "{\"path\": \"acme/\"}", 400, "tenant and slash" },
		{ "{\"path\": \"acme/dir/\"}", 400, "trailing slash" },
		{ "{\"path\": \"acme/../globex/x\"}", 400, "traversal" },
		{ "{\"path\": \"acme/a/../../globex/x\"}", 400, "deeper traversal" },
		{ "{\"path\": \"acme/./x\"}", 400, "dot segment" },
		{ "{\"path\": \"acme//x\"}", 400, "empty segment" },
		{ "{\"path\": \"../acme/x\"}", 400, "dot-dot tenant" },
		{ "{\"path\": \"acme/a\\u0001b\"}", 400, "control character" },
		{ "{\"path\": \"acme/a\\nb\"}", 400, "newline" },
		{ "{\"path\": \"acme/a\\u0000b\"}", 400, "NUL escape" },
		{ "{\"path\": \"acme/\xff\xfe\"}", 400, "invalid UTF-8 in the body" },
		{ "{\"path\": \"nosuch/x\"}", 404, "no such tenant" },
		{ "{\"path\": \"ACME/x\"}", 404, "tenant names are exact" },
		{ "{\"path\": \"/elsewhere/acme/x\"}", 400, "absolute, not under the mount" },
		{ abs_out, 400, "absolute, a sibling of the mount" },
		{ abs_dots, 400, "absolute with .." },
		{ "{\"path\": \"/\"}", 400, "the root" },
		{ longp, 400, "path over the key limit" },
		{ deep, 400, "nested too deep" },
	};
	size_t n;

	snprintf(abs_out, sizeof(abs_out), "{\"path\": \"%sx/acme/f\"}", e->mnt);
	snprintf(abs_dots, sizeof(abs_dots), "{\"path\": \"%s/../mnt/acme/f\"}", e->mnt);
	n = (size_t)snprintf(longp, sizeof(longp), "{\"path\": \"acme/");
	memset(longp + n, 'a', 1300);
	snprintf(longp + n + 1300, sizeof(longp) - n - 1300, "\"}");
	n = (size_t)snprintf(deep, sizeof(deep), "{\"path\": \"acme/x\", \"ttl\": ");
	for (int k = 0; k < 40; k++)
		deep[n++] = '[';
	for (int k = 0; k < 40; k++)
		deep[n++] = ']';
	snprintf(deep + n, sizeof(deep) - n, "}");

	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++)
		expect(e, &e->root, "POST", "/v1/presign", cases[k].body, cases[k].status,
		       cases[k].why);

	/* a body over 64 KiB is 413, whatever it holds */
	memset(big, ' ', sizeof(big));
	memcpy(big, "{\"path\": \"acme/x\"}", 18);
	assert_int_equal(call_ex(e, &e->root, "POST", "/v1/presign", big, sizeof(big), NULL,
				 NULL), 413);
	/* a body with a NUL byte is bad JSON */
	assert_int_equal(call_ex(e, &e->root, "POST", "/v1/presign",
				 "{\"path\": \"acme/x\"}\0", 19, NULL, NULL), 400);
	/* the error names the problem */
	{
		json_t *js = NULL;

		assert_int_equal(call(e, &e->root, "POST", "/v1/presign",
				      "{\"path\": \"acme/x\", \"ttl\": 0}", &js), 400);
		assert_non_null(strstr(json_string_value(json_object_get(js, "error")), "ttl"));
		json_decref(js);
		assert_int_equal(call(e, &e->root, "POST", "/v1/presign",
				      "{\"path\": \"acme/x\", \"bogus\": 1}", &js), 400);
		assert_non_null(strstr(json_string_value(json_object_get(js, "error")), "bogus"));
		json_decref(js);
	}
}

/* Isolation for a tenant user: its own tenant only, and no way around it. */
static void test_presign_isolation(void **state)
{
	struct env *e = *state;
	char body[600];

	expect(e, &e->a, "POST", "/v1/presign", "{\"path\": \"acme/mine\"}", 200, "own");
	expect(e, &e->a, "POST", "/v1/presign", "{\"path\": \"globex/theirs\"}", 403, "other");
	expect(e, &e->a, "POST", "/v1/presign", "{\"path\": \"acme/../globex/theirs\"}", 400,
	       "traversal");
	snprintf(body, sizeof(body), "{\"path\": \"%s/globex/theirs\"}", e->mnt);
	expect(e, &e->a, "POST", "/v1/presign", body, 403, "other, absolute");
	snprintf(body, sizeof(body), "{\"path\": \"%s/acme/../globex/theirs\"}", e->mnt);
	expect(e, &e->a, "POST", "/v1/presign", body, 400, "absolute traversal");
	/* read-only tenant: GET yes, PUT no, even for root */
	expect(e, &e->g, "POST", "/v1/presign", "{\"path\": \"globex/r\"}", 200, "ro GET");
	expect(e, &e->g, "POST", "/v1/presign", "{\"path\": \"globex/r\", \"method\": \"PUT\"}",
	       403, "ro PUT");
	expect(e, &e->root, "POST", "/v1/presign",
	       "{\"path\": \"globex/r\", \"method\": \"PUT\"}", 403, "ro PUT root");
}

/* ---- flush and status -------------------------------------------------------------------------- */

static void test_flush(void **state)
{
	struct env *e = *state;
	struct objfs_writeback *wb = e->ctx.wb;
	json_t *js = NULL;

	commit_file(e, 0, "dir/f1", 101);
	commit_file(e, 0, "dir/sub/f2", 102);
	commit_file(e, 0, "other/f3", 103);
	commit_file(e, 2, "i1", 104);
	assert_int_equal(writeback_pending(wb), 4);

	/* only the path flushed lands; the rest stays pending */
	assert_int_equal(call(e, &e->a, "POST", "/v1/flush",
			      "{\"path\": \"acme/dir\", \"timeout\": 20}", &js), 200);
	assert_true(json_is_true(json_object_get(js, "flushed")));
	assert_int_equal(json_integer_value(json_object_get(js, "pending")), 0);
	json_decref(js);
	assert_true(stored(e, "acme-bkt", "dir/f1"));
	assert_true(stored(e, "acme-bkt", "dir/sub/f2"));
	assert_false(stored(e, "acme-bkt", "other/f3"));
	assert_int_equal(writeback_pending(wb), 2);

	/* acme's user without a path: its tenants only (initech's entry stays) */
	expect(e, &e->a, "POST", "/v1/flush", "{\"timeout\": 20}", 200, "acme's tenants");
	assert_true(stored(e, "acme-bkt", "other/f3"));
	assert_false(stored(e, "shared-bkt", "tenants/initech/i1"));
	assert_int_equal(writeback_pending(wb), 1);

	/* and not another tenant's path */
	expect(e, &e->a, "POST", "/v1/flush", "{\"path\": \"initech\"}", 403, "other tenant");
	assert_int_equal(writeback_pending(wb), 1);

	/* an admin without a path: everything; an empty body is all defaults */
	expect(e, &e->root, "POST", "/v1/flush", "", 200, "admin, everything");
	assert_true(stored(e, "shared-bkt", "tenants/initech/i1"));
	assert_int_equal(writeback_pending(wb), 0);

	/* absolute path under the mount, and a trailing slash */
	commit_file(e, 0, "abs/f4", 105);
	{
		char body[600];

		snprintf(body, sizeof(body), "{\"path\": \"%s/acme/abs/\"}", e->mnt);
		expect(e, &e->a, "POST", "/v1/flush", body, 200, "absolute");
	}
	assert_true(stored(e, "acme-bkt", "abs/f4"));
}

static void test_flush_timeout(void **state)
{
	struct env *e = *state;
	json_t *js = NULL;
	time_t t0;

	pthread_mutex_lock(&w_lock);
	w_fail_puts = 1;
	pthread_mutex_unlock(&w_lock);
	commit_file(e, 0, "stuck", 201);
	t0 = time(NULL);
	assert_int_equal(call(e, &e->a, "POST", "/v1/flush", "{\"path\": \"acme/stuck\", "
			      "\"timeout\": 1}", &js), 504);
	assert_true(time(NULL) - t0 <= 3);
	assert_int_equal(json_integer_value(json_object_get(js, "pending")), 1);
	json_decref(js);

	/* a stopping daemon ends a waiting flush at once */
	objfs_ctl_api_shutdown(e->api);
	t0 = time(NULL);
	assert_int_equal(call(e, &e->a, "POST", "/v1/flush", "{\"timeout\": 600}", &js), 503);
	assert_true(time(NULL) - t0 <= 2);
	assert_int_equal(json_integer_value(json_object_get(js, "pending")), 1);
	json_decref(js);

	pthread_mutex_lock(&w_lock);
	w_fail_puts = 0;
	pthread_mutex_unlock(&w_lock);
}

static void test_flush_errors(void **state)
{
	struct env *e = *state;
	const struct {
		const char *body;
		int status;
	} cases[] = {
		{ "{\"timeout\": 0}", 400 },
		{ "{\"timeout\": 86401}", 400 },
		{ "{\"timeout\": -5}", 400 },
		{ "{\"timeout\": \"5\"}", 400 },
		{ "{\"timeout\": 2.5}", 400 },
		{ "{\"path\": 1}", 400 },
		{ "{\"path\": \"acme\", \"wait\": true}", 400 },
		{ "{\"path\": \"acme/../initech\"}", 400 },
		{ "{\"path\": \"nosuch\"}", 404 },
		{ "{\"path\": \"/not/the/mount\"}", 400 },
		{ "[]", 400 },
		{ "{", 400 },
		{ "{\"timeout\": 1}", 200 },
		{ "{\"timeout\": 86400, \"path\": \"acme/nothing/here\"}", 200 },
	};

	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++)
		expect(e, &e->root, "POST", "/v1/flush", cases[k].body, cases[k].status,
		       cases[k].body);
}

static json_t *tenant_entry(json_t *js, const char *name)
{
	json_t *arr = json_object_get(js, "tenants");

	for (size_t k = 0; k < json_array_size(arr); k++) {
		json_t *o = json_array_get(arr, k);

		if (!strcmp(json_string_value(json_object_get(o, "name")), name))
			return o;
	}
	return NULL;
}

static void test_status(void **state)
{
	struct env *e = *state;
	json_t *js = NULL, *st;

	commit_file(e, 0, "s1", 301);
	commit_file(e, 0, "s2", 302);
	commit_file(e, 1, "g1", 303);
	/* a warning with invalid UTF-8 reaches recent_errors as valid JSON */
	log_warn("control socket test: bad bytes \xff\xfe here");

	assert_int_equal(call(e, &e->root, "GET", "/v1/status", NULL, &js), 200);
	assert_int_equal(json_integer_value(json_object_get(js, "pending_uploads")), 3);
	assert_int_equal(json_integer_value(json_object_get(js, "bytes_pending")), 15);
	assert_true(json_is_number(json_object_get(js, "oldest_pending_age_s")));
	assert_true(json_is_integer(json_object_get(js, "in_flight")));
	assert_true(json_is_integer(json_object_get(js, "retrying")));
	st = json_object_get(js, "staging");
	assert_int_equal(json_integer_value(json_object_get(st, "max_bytes")), 64 << 20);
	assert_true(json_is_integer(json_object_get(json_object_get(js, "read_cache"), "hits")));
	assert_int_equal(json_integer_value(json_object_get(tenant_entry(js, "acme"),
							    "pending_uploads")), 2);
	assert_int_equal(json_integer_value(json_object_get(tenant_entry(js, "globex"),
							    "pending_uploads")), 1);
	assert_int_equal(json_integer_value(json_object_get(tenant_entry(js, "initech"),
							    "pending_uploads")), 0);
	{
		json_t *errs = json_object_get(js, "recent_errors");
		int found = 0;

		assert_true(json_is_array(errs));
		for (size_t k = 0; k < json_array_size(errs); k++) {
			const char *m = json_string_value(json_object_get(json_array_get(errs, k),
									  "message"));
			if (m && strstr(m, "control socket test: bad bytes ?? here"))
				found = 1;
		}
		assert_true(found);
	}
	json_decref(js);

	/* a tenant user: its tenants only, no global figures */
	assert_int_equal(call(e, &e->a, "GET", "/v1/status", NULL, &js), 200);
	assert_int_equal(json_array_size(json_object_get(js, "tenants")), 1);
	assert_int_equal(json_integer_value(json_object_get(tenant_entry(js, "acme"),
							    "pending_uploads")), 2);
	assert_null(json_object_get(js, "pending_uploads"));
	assert_null(json_object_get(js, "recent_errors"));
	assert_null(json_object_get(js, "staging"));
	json_decref(js);
}

static void test_tenants(void **state)
{
	struct env *e = *state;
	json_t *js = NULL, *o;

	assert_int_equal(call(e, &e->root, "GET", "/v1/tenants", NULL, &js), 200);
	assert_int_equal(json_array_size(json_object_get(js, "tenants")), 3);
	o = tenant_entry(js, "globex");
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "provider")), "mem");
	assert_string_equal(json_string_value(json_object_get(o, "type")), "mem");
	assert_string_equal(json_string_value(json_object_get(o, "bucket")), "shared-bkt");
	assert_string_equal(json_string_value(json_object_get(o, "prefix")), "tenants/globex/");
	assert_true(json_is_true(json_object_get(o, "read_only")));
	assert_true(json_is_false(json_object_get(tenant_entry(js, "acme"), "read_only")));
	assert_int_equal(json_integer_value(json_object_get(o, "pending_uploads")), 0);
	json_decref(js);

	assert_int_equal(call(e, &e->g, "GET", "/v1/tenants", NULL, &js), 200);
	assert_int_equal(json_array_size(json_object_get(js, "tenants")), 1);
	assert_non_null(tenant_entry(js, "globex"));
	json_decref(js);
}

/* ---- health ---------------------------------------------------------------------------------- */

static json_t *provider_entry(json_t *js, const char *bucket)
{
	json_t *arr = json_object_get(js, "providers");

	for (size_t k = 0; k < json_array_size(arr); k++) {
		json_t *o = json_array_get(arr, k);

		if (!strcmp(json_string_value(json_object_get(o, "bucket")), bucket))
			return o;
	}
	return NULL;
}

static void test_health(void **state)
{
	struct env *e = *state;
	json_t *js = NULL, *p;
	unsigned probes;

	assert_int_equal(call(e, &e->nobody, "GET", "/v1/health", NULL, &js), 200);
	assert_true(json_is_true(json_object_get(js, "healthy")));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(js, "daemon"),
							    "pid")), getpid());
	assert_true(json_integer_value(json_object_get(json_object_get(js, "daemon"),
						       "uptime_s")) >= 4);
	assert_true(json_is_string(json_object_get(json_object_get(js, "daemon"), "version")));
	assert_true(json_is_true(json_object_get(json_object_get(js, "mount"), "ok")));
	assert_string_equal(json_string_value(json_object_get(json_object_get(js, "mount"),
							      "path")), e->mnt);
	/* one entry per (provider, bucket), naming its tenants */
	assert_int_equal(json_array_size(json_object_get(js, "providers")), 2);
	p = provider_entry(js, "shared-bkt");
	assert_non_null(p);
	assert_string_equal(json_string_value(json_object_get(p, "state")), "ok");
	assert_string_equal(json_string_value(json_object_get(p, "name")), "mem");
	assert_int_equal(json_array_size(json_object_get(p, "tenants")), 2);
	assert_true(json_is_number(json_object_get(p, "latency_ms")));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(js, "journal"),
							    "pending")), 0);
	json_decref(js);

	/* probes are cached for 2 s */
	probes = health_seen();
	for (int k = 0; k < 5; k++)
		expect(e, &e->root, "GET", "/v1/health", NULL, 200, "cached");
	assert_int_equal(health_seen(), probes);
	usleep(2100 * 1000);
	expect(e, &e->root, "GET", "/v1/health", NULL, 200, "expired");
	assert_int_equal(health_seen(), probes + 2);

	/* a missing bucket makes the daemon unhealthy */
	e->ctx.tenants.v[2].bucket = "missing-bkt";
	assert_int_equal(call(e, &e->root, "GET", "/v1/health", NULL, &js), 200);
	assert_true(json_is_false(json_object_get(js, "healthy")));
	p = provider_entry(js, "missing-bkt");
	assert_non_null(p);
	assert_string_equal(json_string_value(json_object_get(p, "state")), "no-bucket");
	assert_true(strlen(json_string_value(json_object_get(p, "detail"))) > 0);
	json_decref(js);
	e->ctx.tenants.v[2].bucket = "shared-bkt";

	/* so does a mount point that does not answer */
	e->ctx.mountpoint = "/nonexistent/objfs-ctl-test";
	assert_int_equal(call(e, &e->root, "GET", "/v1/health", NULL, &js), 200);
	assert_true(json_is_false(json_object_get(js, "healthy")));
	assert_true(json_is_false(json_object_get(json_object_get(js, "mount"), "ok")));
	assert_non_null(strstr(json_string_value(json_object_get(json_object_get(js, "mount"),
								   "detail")), "No such file"));
	json_decref(js);
	e->ctx.mountpoint = e->mnt;
}

static void hang_probes(int on)
{
	pthread_mutex_lock(&w_lock);
	w_hang = on;
	pthread_cond_broadcast(&w_cv);
	pthread_mutex_unlock(&w_lock);
}

/* A store that does not answer: health says so within 5 s, one probe per
 * pair stays in flight (no pile-up), and the answer comes back with it. */
static void test_health_hung_provider(void **state)
{
	struct env *e = *state;
	struct timespec t0, t1;
	json_t *js = NULL;
	unsigned probes;
	double el;

	expect(e, &e->root, "GET", "/v1/health", NULL, 200, "warm");
	usleep(2100 * 1000);                     /* the cached answers expire */
	hang_probes(1);
	probes = health_seen();
	for (int k = 0; k < 2; k++) {
		clock_gettime(CLOCK_MONOTONIC, &t0);
		assert_int_equal(call(e, &e->root, "GET", "/v1/health", NULL, &js), 200);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		el = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
		assert_true(el >= 4.5 && el < 8.0);
		assert_true(json_is_false(json_object_get(js, "healthy")));
		assert_true(json_is_true(json_object_get(json_object_get(js, "mount"), "ok")));
		assert_string_equal(json_string_value(json_object_get(
			provider_entry(js, "acme-bkt"), "state")), "unreachable");
		assert_non_null(strstr(json_string_value(json_object_get(
			provider_entry(js, "acme-bkt"), "detail")), "no answer"));
		json_decref(js);
	}
	assert_int_equal(health_seen(), probes + 2);   /* the second request started none */
	hang_probes(0);
	usleep(200 * 1000);
	assert_int_equal(call(e, &e->root, "GET", "/v1/health", NULL, &js), 200);
	assert_true(json_is_true(json_object_get(js, "healthy")));
	json_decref(js);
}

/* Health from many threads at once: one probe per pair, every answer healthy. */
struct hthread {
	struct env *e;
	int bad;
};

static void *health_thread(void *arg)
{
	struct hthread *h = arg;

	for (int k = 0; k < 20; k++) {
		struct objfs_ctl_resp r;

		if (objfs_ctl_handle(h->e->api, &h->e->a, "GET", "/v1/health", NULL, 0, &r) ||
		    r.status != 200 || !strstr(r.body, "\"healthy\":true"))
			h->bad++;
		objfs_ctl_resp_clear(&r);
	}
	return NULL;
}

static void test_health_concurrent(void **state)
{
	struct env *e = *state;
	struct hthread h[8];
	pthread_t th[8];
	unsigned probes = health_seen();

	for (int k = 0; k < 8; k++) {
		h[k].e = e;
		h[k].bad = 0;
		assert_int_equal(pthread_create(&th[k], NULL, health_thread, &h[k]), 0);
	}
	for (int k = 0; k < 8; k++) {
		pthread_join(th[k], NULL);
		assert_int_equal(h[k].bad, 0);
	}
	/* 160 requests within a few seconds: a handful of probes per pair */
	assert_true(health_seen() - probes <= 2 * 4);
}

/* ---- metrics, reload ----------------------------------------------------------------------------- */

static void test_metrics(void **state)
{
	struct env *e = *state;
	struct objfs_ctl_resp r;

	assert_int_equal(call_ex(e, &e->admin, "GET", "/v1/metrics", NULL, 0, NULL, &r), 200);
	assert_string_equal(r.content_type, "text/plain; version=0.0.4");
	objfs_ctl_resp_clear(&r);
	expect(e, &e->a, "GET", "/v1/metrics", NULL, 403, "tenant user");
}

static void test_reload(void **state)
{
	struct env *e = *state;
	json_t *js = NULL;

	reload_rc = 0;
	assert_int_equal(call(e, &e->root, "POST", "/v1/reload", NULL, &js), 200);
	assert_true(json_is_true(json_object_get(js, "reloaded")));
	assert_non_null(strstr(json_string_value(json_object_get(js, "message")), "3 tenants"));
	json_decref(js);
	expect(e, &e->root, "POST", "/v1/reload", "{}", 200, "empty object");
	reload_rc = -EBUSY;
	assert_int_equal(call(e, &e->root, "POST", "/v1/reload", NULL, &js), 409);
	assert_non_null(strstr(json_string_value(json_object_get(js, "error")), "restart"));
	json_decref(js);
	reload_rc = -EINVAL;
	expect(e, &e->root, "POST", "/v1/reload", NULL, 400, "bad configuration");
	reload_rc = -EIO;
	expect(e, &e->root, "POST", "/v1/reload", NULL, 500, "other failure");
	assert_int_equal(reload_calls, 5);
	/* a body with fields, or not an object, is refused before reloading */
	expect(e, &e->root, "POST", "/v1/reload", "{\"force\": true}", 400, "unknown field");
	expect(e, &e->root, "POST", "/v1/reload", "[]", 400, "an array");
	expect(e, &e->a, "POST", "/v1/reload", NULL, 403, "tenant user");
	assert_int_equal(reload_calls, 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_peer_init, setup, teardown),
		cmocka_unit_test_setup_teardown(test_peer_supplementary_admin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_admin_group_unknown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auth_matrix, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_tenant, setup, teardown),
		cmocka_unit_test_setup_teardown(test_removed_tenant, setup, teardown),
		cmocka_unit_test_setup_teardown(test_routing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_presign_ok, setup, teardown),
		cmocka_unit_test_setup_teardown(test_presign_signature, setup, teardown),
		cmocka_unit_test_setup_teardown(test_presign_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_presign_isolation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tenants, setup, teardown),
		cmocka_unit_test_setup_teardown(test_health, setup, teardown),
		cmocka_unit_test_setup_teardown(test_health_concurrent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_health_hung_provider, setup, teardown),
		cmocka_unit_test_setup_teardown(test_metrics, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload, setup, teardown),
	};

	objfs_log_set_level(OBJFS_LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
