/*
 * Metrics registry and its Prometheus text rendering (see metrics.h and
 * docs/metrics.md for the metric names).
 *
 * Layout.  One registry (struct m_reg) is allocated at objfs_metrics_init
 * and published through an atomic pointer; every recording call loads it
 * and returns when it is NULL.  Counters are plain uint64_t updated with
 * relaxed __atomic adds; nothing on the recording path takes a lock except
 * the first sighting of a provider name (struct m_prov slots are claimed
 * under prov_lock, then found again without it).
 *
 * Tenants.  Per-tenant counters live in blocks (struct m_tenant) allocated
 * on the tenant's first recorded event and installed with a compare-and-
 * swap, so a table sized for OBJFS_TENANTS_MAX costs one pointer per
 * possible tenant until tenants are used; a reload that appends tenants
 * needs no call here.  The block at index OBJFS_TENANTS_MAX holds what no
 * tenant owns: FUSE operations on the mount root (tenant="/") and provider
 * requests no tenant's bucket and prefix match (tenant="").  Inside a block
 * the per-op errno counters and the per-provider counters are allocated
 * the same lazy way, so an idle combination costs a NULL pointer.
 *
 * Histograms keep one non-cumulative counter per bucket (the last one is
 * +Inf) and a sum in nanoseconds; the renderer accumulates them and takes
 * _count from the same snapshot, so _bucket{le="+Inf"} always equals
 * _count even while operations are being recorded.
 *
 * Lifetime: every user of the registry (a recording call, a rendering)
 * brackets its use with reg_enter/reg_leave, which count users in m_users;
 * objfs_metrics_free unpublishes the pointer, then waits for m_users to
 * drop to 0 before freeing.  So free may run while upload workers or the
 * scrape thread still record (main.c frees metrics before joining them).
 * Both steps are sequentially consistent: a user that increments after
 * free's check of m_users then loads the pointer and sees NULL.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "metrics.h"
#include "quota.h"
#include "readcache.h"
#include "staging.h"
#include "writeback.h"

#include "version.h"

const char *const objfs_fsop_names[OBJFS_FSOP__N] = {
	"getattr", "access", "readlink", "opendir", "readdir", "releasedir", "mknod", "mkdir",
	"symlink", "unlink", "rmdir", "rename", "link", "chmod", "chown", "truncate",
	"utimens", "create", "open", "read", "write", "statfs", "flush", "release",
	"fsync", "fsyncdir", "setxattr", "getxattr", "listxattr", "removexattr",
};

const char *const objfs_provop_names[OBJFS_PROVOP__N] = {
	"head", "get", "put", "list", "del", "del_batch", "copy", "mpu_create",
	"mpu_upload_part", "mpu_upload_part_copy", "mpu_complete", "mpu_abort",
	"mpu_list_parts", "mpu_list_uploads", "set_defaults", "presign", "presign_check",
	"health", "bucket_exists", "bucket_create",
};

static const char *const wb_result_names[OBJFS_WB__N] = { "landed", "failed", "superseded" };

#define M_PROV_MAX      32          /* provider names counted; more are dropped */
#define M_PROV_NAME_MAX 64
#define M_ERRNO_N       256         /* errno values counted one by one; larger: index 0 */
#define M_HTTP_CODES    600         /* index = status 100..599; 0: no response / other */
#define M_HIST_MAX      16          /* finite buckets of a histogram at most */
#define M_NO_TENANT     OBJFS_TENANTS_MAX

/* Bucket bounds: upper bounds in ns and the same as the le label. */
struct m_bounds {
	size_t n;
	int64_t ns[M_HIST_MAX];
	const char *le[M_HIST_MAX];
};

/* FUSE and provider operations: 100 us to 10 s. */
static const struct m_bounds op_bounds = {
	16,
	{ 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000, 25000000, 50000000,
	  100000000, 250000000, 500000000, 1000000000, 2500000000, 5000000000, 10000000000 },
	{ "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
	  "0.1", "0.25", "0.5", "1", "2.5", "5", "10" },
};

/* Write-back uploads (whole files, possibly multipart): 10 ms to 10 min. */
static const struct m_bounds upload_bounds = {
	14,
	{ 10000000, 25000000, 50000000, 100000000, 250000000, 500000000, 1000000000,
	  2500000000, 5000000000, 10000000000, 30000000000, 60000000000, 180000000000,
	  600000000000 },
	{ "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "30", "60",
	  "180", "600" },
};

struct m_hist {
	uint64_t b[M_HIST_MAX + 1];      /* non-cumulative; b[bounds->n] is +Inf */
	uint64_t sum_ns;
};

/* One tenant's requests to one provider. */
struct m_tprov {
	uint64_t req[OBJFS_PROVOP__N];
	uint64_t err[OBJFS_PROVOP__N];
	uint64_t up, down;
};

struct m_tenant {
	uint64_t fs_ops[OBJFS_FSOP__N];
	uint64_t *fs_err[OBJFS_FSOP__N];         /* lazily: M_ERRNO_N counters */
	struct m_tprov *prov[M_PROV_MAX];        /* lazily, by provider slot */
	uint64_t wb[OBJFS_WB__N];
};

struct m_prov {
	char name[M_PROV_NAME_MAX];              /* written once, before nprovs covers it */
	struct m_hist dur[OBJFS_PROVOP__N];
	uint64_t http_codes[M_HTTP_CODES];
	uint64_t http_retries;
};

struct m_reg {
	struct objfs_ctx *ctx;                   /* may be NULL (tests) */
	struct m_tenant *tenants[OBJFS_TENANTS_MAX + 1];  /* lazily; last: no tenant */
	struct m_hist fs_dur[OBJFS_FSOP__N];
	struct m_hist wb_dur;
	pthread_mutex_t prov_lock;               /* serialises claiming provider slots */
	size_t nprovs;                           /* atomic (release after the name) */
	struct m_prov provs[M_PROV_MAX];
};

static struct m_reg *m_reg_ptr;                  /* atomic */
static unsigned long m_users;                    /* atomic: callers inside the registry */

/* The registry, with a use counted (release it with reg_leave), or NULL.
 * Before init this costs one relaxed load. */
static struct m_reg *reg_enter(void)
{
	struct m_reg *r;

	if (!__atomic_load_n(&m_reg_ptr, __ATOMIC_RELAXED))
		return NULL;
	__atomic_add_fetch(&m_users, 1, __ATOMIC_SEQ_CST);
	r = __atomic_load_n(&m_reg_ptr, __ATOMIC_SEQ_CST);
	if (!r)
		__atomic_sub_fetch(&m_users, 1, __ATOMIC_RELEASE);
	return r;
}

static void reg_leave(void)
{
	__atomic_sub_fetch(&m_users, 1, __ATOMIC_RELEASE);
}

static void ctr_add(uint64_t *c, uint64_t v)
{
	__atomic_fetch_add(c, v, __ATOMIC_RELAXED);
}

static uint64_t ctr_get(const uint64_t *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

static void hist_observe(struct m_hist *h, const struct m_bounds *bd, int64_t ns)
{
	size_t i = 0;

	if (ns < 0)
		ns = 0;
	while (i < bd->n && ns > bd->ns[i])
		i++;
	ctr_add(&h->b[i], 1);
	ctr_add(&h->sum_ns, (uint64_t)ns);
}

/* *slot, allocated (size bytes, zeroed) and installed if still NULL.  NULL
 * only when out of memory (the event is then not counted). */
static void *lazy_get(void **slot, size_t size)
{
	void *p = __atomic_load_n(slot, __ATOMIC_ACQUIRE), *expected = NULL;

	if (p)
		return p;
	p = calloc(1, size);
	if (!p)
		return NULL;
	if (!__atomic_compare_exchange_n(slot, &expected, p, 0, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		free(p);
		p = expected;
	}
	return p;
}

static struct m_tenant *tenant_block(struct m_reg *r, const struct objfs_tenant *t)
{
	size_t idx = t && t->idx < OBJFS_TENANTS_MAX ? t->idx : M_NO_TENANT;

	return lazy_get((void **)&r->tenants[idx], sizeof(struct m_tenant));
}

/* The slot of provider `name`, claimed on first sight; -1 when the table
 * is full or the name too long. */
static int prov_slot(struct m_reg *r, const char *name)
{
	size_t n = __atomic_load_n(&r->nprovs, __ATOMIC_ACQUIRE);
	int slot = -1;

	for (size_t i = 0; i < n; i++)
		if (strcmp(r->provs[i].name, name) == 0)
			return (int)i;
	if (strlen(name) >= M_PROV_NAME_MAX)
		return -1;
	pthread_mutex_lock(&r->prov_lock);
	n = __atomic_load_n(&r->nprovs, __ATOMIC_ACQUIRE);
	for (size_t i = 0; i < n && slot < 0; i++)
		if (strcmp(r->provs[i].name, name) == 0)
			slot = (int)i;
	if (slot < 0 && n < M_PROV_MAX) {
		strcpy(r->provs[n].name, name);
		__atomic_store_n(&r->nprovs, n + 1, __ATOMIC_RELEASE);
		slot = (int)n;
	}
	pthread_mutex_unlock(&r->prov_lock);
	return slot;
}

/* ---- set-up ---- */

int objfs_metrics_init(struct objfs_ctx *ctx)
{
	struct m_reg *r;

	if (__atomic_load_n(&m_reg_ptr, __ATOMIC_ACQUIRE))
		return -EALREADY;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	if (pthread_mutex_init(&r->prov_lock, NULL)) {
		free(r);
		return -ENOMEM;
	}
	r->ctx = ctx;
	/* the configured providers first, so they render in configuration order */
	for (size_t i = 0; ctx && i < ctx->nprovs; i++)
		if (ctx->provs[i] && ctx->provs[i]->name)
			prov_slot(r, ctx->provs[i]->name);
	__atomic_store_n(&m_reg_ptr, r, __ATOMIC_SEQ_CST);
	return 0;
}

void objfs_metrics_free(void)
{
	struct m_reg *r = __atomic_exchange_n(&m_reg_ptr, NULL, __ATOMIC_SEQ_CST);
	struct timespec ms = { 0, 1000000 };

	if (!r)
		return;
	/* recorders finish in microseconds; a scrape in progress in ms */
	while (__atomic_load_n(&m_users, __ATOMIC_SEQ_CST))
		nanosleep(&ms, NULL);
	for (size_t i = 0; i <= OBJFS_TENANTS_MAX; i++) {
		struct m_tenant *tb = r->tenants[i];

		if (!tb)
			continue;
		for (size_t op = 0; op < OBJFS_FSOP__N; op++)
			free(tb->fs_err[op]);
		for (size_t p = 0; p < M_PROV_MAX; p++)
			free(tb->prov[p]);
		free(tb);
	}
	pthread_mutex_destroy(&r->prov_lock);
	free(r);
}

/* ---- recording ---- */

void objfs_metrics_fs_op(enum objfs_fsop op, const struct objfs_tenant *t, int rc,
			 int64_t dur_ns)
{
	struct m_reg *r;
	struct m_tenant *tb;

	if ((unsigned)op >= OBJFS_FSOP__N || !(r = reg_enter()))
		return;
	hist_observe(&r->fs_dur[op], &op_bounds, dur_ns);
	tb = tenant_block(r, t);
	if (tb) {
		ctr_add(&tb->fs_ops[op], 1);
		if (rc < 0) {
			uint64_t *errs = lazy_get((void **)&tb->fs_err[op],
						  M_ERRNO_N * sizeof(uint64_t));

			if (errs)
				ctr_add(&errs[rc > -M_ERRNO_N ? -rc : 0], 1);
		}
	}
	reg_leave();
}

/* 1 if key starts with prefix. */
static int has_prefix(const char *key, const char *prefix)
{
	return strncmp(key, prefix, strlen(prefix)) == 0;
}

static const struct objfs_tenant *tenant_of(const struct m_reg *r, const struct objfs_prov *p,
					    const char *bucket, const char *key)
{
	const struct objfs_tenant *best = NULL;
	const struct objfs_tenants *ts;
	size_t n, best_len = 0;

	if (!r->ctx || !p || !bucket)
		return NULL;
	ts = &r->ctx->tenants;
	n = ts->v ? objfs_tenants_count(ts) : 0;
	if (!key)
		key = "";
	for (size_t i = 0; i < n; i++) {
		const struct objfs_tenant *t = &ts->v[i];
		size_t plen;

		if (t->prov != p || !t->bucket || strcmp(t->bucket, bucket) != 0)
			continue;
		plen = t->prefix ? strlen(t->prefix) : 0;
		if ((plen == 0 || has_prefix(key, t->prefix)) && (!best || plen > best_len)) {
			best = t;
			best_len = plen;
		}
	}
	return best;
}

const struct objfs_tenant *objfs_metrics_tenant_of(const struct objfs_prov *p,
						   const char *bucket, const char *key)
{
	struct m_reg *r = reg_enter();
	const struct objfs_tenant *t;

	if (!r)
		return NULL;
	t = tenant_of(r, p, bucket, key);
	reg_leave();
	return t;
}

void objfs_metrics_prov_op(const struct objfs_prov *p, enum objfs_provop op,
			   const char *bucket, const char *key, int rc, int64_t dur_ns,
			   uint64_t bytes_up, uint64_t bytes_down)
{
	struct m_reg *r;
	struct m_tenant *tb;
	struct m_tprov *tp = NULL;
	int slot;

	if (!p || !p->name || (unsigned)op >= OBJFS_PROVOP__N || !(r = reg_enter()))
		return;
	slot = prov_slot(r, p->name);
	if (slot < 0)
		goto out;
	hist_observe(&r->provs[slot].dur[op], &op_bounds, dur_ns);
	tb = tenant_block(r, tenant_of(r, p, bucket, key));
	if (tb)
		tp = lazy_get((void **)&tb->prov[slot], sizeof(struct m_tprov));
	if (!tp)
		goto out;
	ctr_add(&tp->req[op], 1);
	/* a missing object is an answer, not a failure of the store */
	if (rc < 0 && rc != -ENOENT)
		ctr_add(&tp->err[op], 1);
	if (bytes_up)
		ctr_add(&tp->up, bytes_up);
	if (bytes_down)
		ctr_add(&tp->down, bytes_down);
out:
	reg_leave();
}

void objfs_metrics_http_response(const char *provider, long status)
{
	struct m_reg *r;
	int slot;

	if (!provider || !(r = reg_enter()))
		return;
	slot = prov_slot(r, provider);
	if (slot >= 0)
		ctr_add(&r->provs[slot].http_codes[status >= 100 && status < M_HTTP_CODES ?
						   status : 0], 1);
	reg_leave();
}

void objfs_metrics_http_retry(const char *provider)
{
	struct m_reg *r;
	int slot;

	if (!provider || !(r = reg_enter()))
		return;
	slot = prov_slot(r, provider);
	if (slot >= 0)
		ctr_add(&r->provs[slot].http_retries, 1);
	reg_leave();
}

void objfs_metrics_wb_upload(const struct objfs_tenant *t, enum objfs_wb_result result,
			     int64_t dur_ns)
{
	struct m_reg *r;
	struct m_tenant *tb;

	if ((unsigned)result >= OBJFS_WB__N || !(r = reg_enter()))
		return;
	if (result != OBJFS_WB_SUPERSEDED)
		hist_observe(&r->wb_dur, &upload_bounds, dur_ns);
	tb = tenant_block(r, t);
	if (tb)
		ctr_add(&tb->wb[result], 1);
	reg_leave();
}

/* ---- rendering ---- */

/* A growing output buffer; oom latches the first allocation failure. */
struct m_out {
	char *p;
	size_t len, cap;
	int oom;
};

static void out_reserve(struct m_out *o, size_t more)
{
	size_t ncap;
	char *np;

	if (o->oom || o->len + more + 1 <= o->cap)
		return;
	ncap = o->cap ? o->cap : 16384;
	while (ncap < o->len + more + 1)
		ncap *= 2;
	np = realloc(o->p, ncap);
	if (!np) {
		o->oom = 1;
		return;
	}
	o->p = np;
	o->cap = ncap;
}

static void out_printf(struct m_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_printf(struct m_out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->oom)
		return;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		o->oom = 1;
		return;
	}
	out_reserve(o, (size_t)n);
	if (o->oom)
		return;
	va_start(ap, fmt);
	vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	o->len += (size_t)n;
}

static void out_putc(struct m_out *o, char c)
{
	out_reserve(o, 1);
	if (o->oom)
		return;
	o->p[o->len++] = c;
	o->p[o->len] = '\0';
}

/* A label value, escaped per the exposition format (\\, \", \n). */
static void out_label_value(struct m_out *o, const char *v)
{
	for (; v && *v; v++) {
		switch (*v) {
		case '\\': out_putc(o, '\\'); out_putc(o, '\\'); break;
		case '"': out_putc(o, '\\'); out_putc(o, '"'); break;
		case '\n': out_putc(o, '\\'); out_putc(o, 'n'); break;
		default: out_putc(o, *v);
		}
	}
}

/*
 * One sample: name, then labels as (name, value) pairs ending with NULL,
 * then the value (already formatted).  Label values are escaped here.
 */
static void out_sample(struct m_out *o, const char *name, const char *value, ...)
{
	const char *ln;
	va_list ap;
	int first = 1;

	out_printf(o, "%s", name);
	va_start(ap, value);
	while ((ln = va_arg(ap, const char *))) {
		const char *lv = va_arg(ap, const char *);

		out_printf(o, "%s%s=\"", first ? "{" : ",", ln);
		out_label_value(o, lv);
		out_putc(o, '"');
		first = 0;
	}
	va_end(ap);
	out_printf(o, "%s %s\n", first ? "" : "}", value);
}

static void out_family(struct m_out *o, const char *name, const char *type, const char *help)
{
	out_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static const char *fmt_u64(char *buf, size_t len, uint64_t v)
{
	snprintf(buf, len, "%" PRIu64, v);
	return buf;
}

/* Nanoseconds as seconds, exactly (no float rounding). */
static const char *fmt_ns(char *buf, size_t len, uint64_t ns)
{
	snprintf(buf, len, "%" PRIu64 ".%09" PRIu64, ns / 1000000000u, ns % 1000000000u);
	return buf;
}

static uint64_t hist_count(const struct m_hist *h, const struct m_bounds *bd)
{
	uint64_t n = 0;

	for (size_t i = 0; i <= bd->n; i++)
		n += ctr_get(&h->b[i]);
	return n;
}

/* The _bucket, _sum and _count samples of one histogram series; l1/v1 and
 * l2/v2 are its labels (NULL l1 or l2: fewer). */
static void out_hist(struct m_out *o, const char *name, const struct m_hist *h,
		     const struct m_bounds *bd, const char *l1, const char *v1,
		     const char *l2, const char *v2)
{
	char bname[128], val[32];
	uint64_t snap[M_HIST_MAX + 1], cum = 0;

	for (size_t i = 0; i <= bd->n; i++)
		snap[i] = ctr_get(&h->b[i]);
	snprintf(bname, sizeof(bname), "%s_bucket", name);
	for (size_t i = 0; i <= bd->n; i++) {
		const char *le = i < bd->n ? bd->le[i] : "+Inf";

		cum += snap[i];
		fmt_u64(val, sizeof(val), cum);
		if (l2)
			out_sample(o, bname, val, l1, v1, l2, v2, "le", le, NULL);
		else if (l1)
			out_sample(o, bname, val, l1, v1, "le", le, NULL);
		else
			out_sample(o, bname, val, "le", le, NULL);
	}
	snprintf(bname, sizeof(bname), "%s_sum", name);
	fmt_ns(val, sizeof(val), ctr_get(&h->sum_ns));
	out_sample(o, bname, val, l1, v1, l2, v2, NULL);
	snprintf(bname, sizeof(bname), "%s_count", name);
	fmt_u64(val, sizeof(val), cum);
	out_sample(o, bname, val, l1, v1, l2, v2, NULL);
}

/* errno value -> "ENOENT" (or "E<number>" for one without a name). */
static const char *errno_label(int e, char *buf, size_t len)
{
	const char *s = e > 0 ? strerrorname_np(e) : NULL;

	if (s)
		return s;
	if (e == 0)
		return "EOTHER";     /* the overflow slot: an errno >= M_ERRNO_N */
	snprintf(buf, len, "E%d", e);
	return buf;
}

/* Tenant label of block i: its name, root_label for the no-tenant block,
 * NULL for a block whose tenant is not in the table (never rendered). */
static const char *tenant_label(const struct m_reg *r, size_t i, size_t ntenants,
				const char *root_label)
{
	if (i == M_NO_TENANT)
		return root_label;
	if (!r->ctx || i >= ntenants || !r->ctx->tenants.v[i].name)
		return NULL;
	return r->ctx->tenants.v[i].name;
}

static void render_process(struct m_out *o, const struct m_reg *r)
{
	char val[64];
	size_t ntenants = 0, live = 0;

	out_family(o, "objfs_up", "gauge", "1 while the daemon serves this endpoint.");
	out_sample(o, "objfs_up", "1", NULL);
	out_family(o, "objfs_build_info", "gauge", "Always 1; the version is in the label.");
	out_sample(o, "objfs_build_info", "1", "version", OBJFS_VERSION, NULL);
	if (!r || !r->ctx)
		return;
	snprintf(val, sizeof(val), "%" PRId64 ".%03" PRId64, r->ctx->started_ms / 1000,
		 r->ctx->started_ms % 1000);
	out_family(o, "objfs_start_time_seconds", "gauge",
		   "When the daemon started, in seconds since the Unix epoch.");
	out_sample(o, "objfs_start_time_seconds", val, NULL);
	if (r->ctx->tenants.v)
		ntenants = objfs_tenants_count(&r->ctx->tenants);
	for (size_t i = 0; i < ntenants; i++)
		live += !r->ctx->tenants.v[i].removed;
	out_family(o, "objfs_tenants", "gauge", "Tenants configured (not removed by a reload).");
	out_sample(o, "objfs_tenants", fmt_u64(val, sizeof(val), live), NULL);
}

static void render_fs(struct m_out *o, const struct m_reg *r, size_t ntenants)
{
	char val[32], eb[16];

	out_family(o, "objfs_fs_operations_total", "counter",
		   "FUSE operations served, by operation and tenant (\"/\": the mount root).");
	for (size_t i = 0; i <= M_NO_TENANT; i++) {
		const struct m_tenant *tb = r->tenants[i];
		const char *tl = tb ? tenant_label(r, i, ntenants, "/") : NULL;

		for (size_t op = 0; tl && op < OBJFS_FSOP__N; op++) {
			uint64_t v = ctr_get(&tb->fs_ops[op]);

			if (v)
				out_sample(o, "objfs_fs_operations_total", fmt_u64(val, sizeof(val), v),
					   "op", objfs_fsop_names[op], "tenant", tl, NULL);
		}
	}
	out_family(o, "objfs_fs_errors_total", "counter",
		   "FUSE operations that failed, by operation, tenant and errno name.");
	for (size_t i = 0; i <= M_NO_TENANT; i++) {
		const struct m_tenant *tb = r->tenants[i];
		const char *tl = tb ? tenant_label(r, i, ntenants, "/") : NULL;

		for (size_t op = 0; tl && op < OBJFS_FSOP__N; op++) {
			const uint64_t *errs = __atomic_load_n(&tb->fs_err[op], __ATOMIC_ACQUIRE);

			for (int e = 0; errs && e < M_ERRNO_N; e++) {
				uint64_t v = ctr_get(&errs[e]);

				if (v)
					out_sample(o, "objfs_fs_errors_total",
						   fmt_u64(val, sizeof(val), v), "op",
						   objfs_fsop_names[op], "tenant", tl, "errno",
						   errno_label(e, eb, sizeof(eb)), NULL);
			}
		}
	}
	out_family(o, "objfs_fs_operation_duration_seconds", "histogram",
		   "Time to serve a FUSE operation, by operation.");
	for (size_t op = 0; op < OBJFS_FSOP__N; op++)
		if (hist_count(&r->fs_dur[op], &op_bounds))
			out_hist(o, "objfs_fs_operation_duration_seconds", &r->fs_dur[op], &op_bounds,
				 "op", objfs_fsop_names[op], NULL, NULL);
}

/* One per-(tenant, provider) counter family; which: 0 requests, 1 errors,
 * 2 bytes up, 3 bytes down. */
static void render_tprov(struct m_out *o, const struct m_reg *r, size_t ntenants,
			 size_t nprovs, const char *name, int which)
{
	char val[32];

	for (size_t i = 0; i <= M_NO_TENANT; i++) {
		const struct m_tenant *tb = r->tenants[i];
		const char *tl = tb ? tenant_label(r, i, ntenants, "") : NULL;

		for (size_t s = 0; tl && s < nprovs; s++) {
			const struct m_tprov *tp = __atomic_load_n(&tb->prov[s], __ATOMIC_ACQUIRE);
			const char *pn = r->provs[s].name;

			if (!tp)
				continue;
			if (which >= 2) {
				out_sample(o, name, fmt_u64(val, sizeof(val),
							    ctr_get(which == 2 ? &tp->up : &tp->down)),
					   "provider", pn, "tenant", tl, NULL);
				continue;
			}
			for (size_t op = 0; op < OBJFS_PROVOP__N; op++) {
				uint64_t v = ctr_get(which == 0 ? &tp->req[op] : &tp->err[op]);

				if (v)
					out_sample(o, name, fmt_u64(val, sizeof(val), v), "provider", pn,
						   "tenant", tl, "op", objfs_provop_names[op], NULL);
			}
		}
	}
}

static void render_providers(struct m_out *o, const struct m_reg *r, size_t ntenants)
{
	size_t nprovs = __atomic_load_n(&r->nprovs, __ATOMIC_ACQUIRE);
	char val[32], code[8];

	out_family(o, "objfs_provider_requests_total", "counter",
		   "Provider operations, by provider, tenant (\"\": none) and operation.");
	render_tprov(o, r, ntenants, nprovs, "objfs_provider_requests_total", 0);
	out_family(o, "objfs_provider_errors_total", "counter",
		   "Provider operations that failed (not counting missing objects).");
	render_tprov(o, r, ntenants, nprovs, "objfs_provider_errors_total", 1);
	out_family(o, "objfs_provider_request_duration_seconds", "histogram",
		   "Time of a provider operation (retries included), by provider and operation.");
	for (size_t s = 0; s < nprovs; s++)
		for (size_t op = 0; op < OBJFS_PROVOP__N; op++)
			if (hist_count(&r->provs[s].dur[op], &op_bounds))
				out_hist(o, "objfs_provider_request_duration_seconds",
					 &r->provs[s].dur[op], &op_bounds, "provider", r->provs[s].name,
					 "op", objfs_provop_names[op]);
	out_family(o, "objfs_provider_bytes_uploaded_total", "counter",
		   "Object bytes sent by successful puts and part uploads.");
	render_tprov(o, r, ntenants, nprovs, "objfs_provider_bytes_uploaded_total", 2);
	out_family(o, "objfs_provider_bytes_downloaded_total", "counter",
		   "Object bytes received by successful gets.");
	render_tprov(o, r, ntenants, nprovs, "objfs_provider_bytes_downloaded_total", 3);

	out_family(o, "objfs_http_requests_total", "counter",
		   "HTTP attempts by provider and status code (\"none\": no response).");
	for (size_t s = 0; s < nprovs; s++) {
		for (size_t c = 0; c < M_HTTP_CODES; c++) {
			uint64_t v = ctr_get(&r->provs[s].http_codes[c]);

			if (!v)
				continue;
			if (c)
				snprintf(code, sizeof(code), "%zu", c);
			else
				strcpy(code, "none");
			out_sample(o, "objfs_http_requests_total", fmt_u64(val, sizeof(val), v),
				   "provider", r->provs[s].name, "code", code, NULL);
		}
	}
	out_family(o, "objfs_http_retries_total", "counter",
		   "HTTP requests attempted again after a failure or a retryable status.");
	for (size_t s = 0; s < nprovs; s++)
		out_sample(o, "objfs_http_retries_total",
			   fmt_u64(val, sizeof(val), ctr_get(&r->provs[s].http_retries)),
			   "provider", r->provs[s].name, NULL);
}

static void render_gauge(struct m_out *o, const char *name, const char *help, uint64_t v)
{
	char val[32];

	out_family(o, name, "gauge", help);
	out_sample(o, name, fmt_u64(val, sizeof(val), v), NULL);
}

static void render_counter(struct m_out *o, const char *name, const char *help, uint64_t v)
{
	char val[32];

	out_family(o, name, "counter", help);
	out_sample(o, name, fmt_u64(val, sizeof(val), v), NULL);
}

static void render_state(struct m_out *o, const struct m_reg *r, size_t ntenants)
{
	struct objfs_ctx *ctx = r->ctx;
	struct objfs_readcache_stats rs;
	struct writeback_stats ws;
	char val[32];

	memset(&ws, 0, sizeof(ws));
	if (ctx && ctx->wb)
		writeback_get_stats(ctx->wb, &ws);
	render_gauge(o, "objfs_writeback_queue_length",
		     "Write-back entries queued or in flight.", ws.pending);
	render_gauge(o, "objfs_writeback_in_flight", "Write-back entries being uploaded now.",
		     ws.in_flight);
	render_gauge(o, "objfs_writeback_bytes_pending", "Bytes of the pending write-back entries.",
		     ws.bytes_pending);
	out_family(o, "objfs_writeback_oldest_pending_age_seconds", "gauge",
		   "Age of the oldest pending write-back entry (0: none).");
	{
		int64_t age = 0;
		struct timespec ts;

		if (ws.oldest_commit_ms) {
			clock_gettime(CLOCK_REALTIME, &ts);
			age = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 - ws.oldest_commit_ms;
			if (age < 0)
				age = 0;
		}
		snprintf(val, sizeof(val), "%" PRId64 ".%03" PRId64, age / 1000, age % 1000);
		out_sample(o, "objfs_writeback_oldest_pending_age_seconds", val, NULL);
	}
	out_family(o, "objfs_writeback_uploads_total", "counter",
		   "Write-back entries by how they ended: landed, failed (attempt), superseded.");
	for (size_t i = 0; i <= M_NO_TENANT; i++) {
		const struct m_tenant *tb = r->tenants[i];
		const char *tl = tb ? tenant_label(r, i, ntenants, "") : NULL;

		for (size_t k = 0; tl && k < OBJFS_WB__N; k++) {
			uint64_t v = ctr_get(&tb->wb[k]);

			if (v)
				out_sample(o, "objfs_writeback_uploads_total",
					   fmt_u64(val, sizeof(val), v), "tenant", tl, "result",
					   wb_result_names[k], NULL);
		}
	}
	out_family(o, "objfs_writeback_upload_duration_seconds", "histogram",
		   "Time from a worker taking an entry to its landing or failure.");
	out_hist(o, "objfs_writeback_upload_duration_seconds", &r->wb_dur, &upload_bounds,
		 NULL, NULL, NULL, NULL);

	render_gauge(o, "objfs_staging_bytes", "Bytes reserved in the staging area.",
		     ctx && ctx->staging ? staging_used(ctx->staging) : 0);
	render_gauge(o, "objfs_staging_max_bytes", "Bound of the staging area.",
		     ctx && ctx->staging ? staging_max(ctx->staging) : 0);

	objfs_readcache_stats(ctx ? ctx->rcache : NULL, &rs);
	render_counter(o, "objfs_readcache_hits_total", "Read-cache block lookups found cached.",
		       rs.hits);
	render_counter(o, "objfs_readcache_misses_total",
		       "Read-cache block lookups that fetched from the provider.", rs.misses);
	render_counter(o, "objfs_readcache_evictions_total",
		       "Read-cache blocks evicted to stay within the bound.", rs.evictions);
	render_counter(o, "objfs_readcache_readahead_blocks_total",
		       "Read-cache blocks fetched ahead of sequential readers.", rs.readahead_blocks);
	render_gauge(o, "objfs_readcache_bytes", "Bytes held in the read cache.", rs.bytes_cached);
	render_gauge(o, "objfs_readcache_max_bytes", "Bound of the read cache (0: no cache).",
		     rs.max_bytes);
}

/* Quota usage and limits of the tenants that have a quota (quota.h): one
 * family per figure, a sample per tenant; a limit 0 means unlimited. */
static void render_quota(struct m_out *o, const struct m_reg *r, size_t ntenants)
{
	static const struct {
		const char *name, *help;
	} fam[4] = {
		{ "objfs_tenant_quota_used_bytes", "Bytes counted against quota_bytes (landed and reserved)." },
		{ "objfs_tenant_quota_limit_bytes", "quota_bytes of the tenant (0: unlimited)." },
		{ "objfs_tenant_quota_used_objects", "Objects counted against quota_objects (landed and reserved)." },
		{ "objfs_tenant_quota_limit_objects", "quota_objects of the tenant (0: unlimited)." },
	};
	char val[32];

	for (int k = 0; k < 4; k++) {
		out_family(o, fam[k].name, "gauge", fam[k].help);
		for (size_t i = 0; r->ctx && i < ntenants; i++) {
			const struct objfs_tenant *t = &r->ctx->tenants.v[i];
			struct quota_usage u;
			uint64_t v;

			if (__atomic_load_n(&t->removed, __ATOMIC_ACQUIRE) || quota_usage(t, &u))
				continue;
			v = k == 0 ? u.bytes : k == 1 ? u.max_bytes : k == 2 ? u.objects : u.max_objects;
			out_sample(o, fam[k].name, fmt_u64(val, sizeof(val), v), "tenant", t->name, NULL);
		}
	}
}

/*
 * Backups (objfs-ctl backup, tools/ctl_backup.c): each run leaves
 * CACHE_DIR/backup-TENANT.status, lines "NAME VALUE" renamed into place, so
 * a scrape reads whole files.  One family per figure, a sample per tenant
 * that has such a file; nothing is cached between scrapes.
 */
static void render_backup(struct m_out *o, const struct m_reg *r, size_t ntenants)
{
	static const struct {
		const char *name, *field, *help;
	} fam[] = {
		{ "objfs_backup_last_success_timestamp_seconds", "last_success_timestamp_seconds",
		  "Unix time of the tenant's last backup that wrote a snapshot (0: none yet)." },
		{ "objfs_backup_last_run_timestamp_seconds", "last_run_timestamp_seconds",
		  "Unix time of the tenant's last backup run, successful or not." },
		{ "objfs_backup_objects", "objects", "Objects in the tenant's last snapshot." },
		{ "objfs_backup_bytes", "bytes", "Bytes of the objects in the tenant's last snapshot." },
		{ "objfs_backup_last_run_copied_bytes", "last_run_copied_bytes",
		  "Bytes the tenant's last backup run copied (changed objects only)." },
		{ "objfs_backup_last_run_failed_objects", "last_run_failed_objects",
		  "Objects that failed in the tenant's last backup run (0: it succeeded)." },
	};
	const char *dir = r->ctx && r->ctx->cfg ? r->ctx->cfg->cache_dir : NULL;
	char val[32], path[4096], line[128], field[64];
	unsigned long long v;

	for (size_t k = 0; dir && k < sizeof(fam) / sizeof(fam[0]); k++) {
		out_family(o, fam[k].name, "gauge", fam[k].help);
		for (size_t i = 0; i < ntenants; i++) {
			const struct objfs_tenant *t = &r->ctx->tenants.v[i];
			FILE *f;

			if (__atomic_load_n(&t->removed, __ATOMIC_ACQUIRE) || !t->name)
				continue;
			snprintf(path, sizeof(path), "%s/backup-%s.status", dir, t->name);
			if (!(f = fopen(path, "re")))
				continue;
			while (fgets(line, sizeof(line), f))
				if (sscanf(line, "%63s %llu", field, &v) == 2 &&
				    !strcmp(field, fam[k].field)) {
					out_sample(o, fam[k].name, fmt_u64(val, sizeof(val), v), "tenant",
						   t->name, NULL);
					break;
				}
			fclose(f);
		}
	}
}

char *objfs_metrics_render(size_t *len)
{
	struct m_reg *r = reg_enter();
	struct m_out o = { NULL, 0, 0, 0 };
	size_t ntenants = 0;

	out_reserve(&o, 0);
	render_process(&o, r);
	if (r) {
		if (r->ctx && r->ctx->tenants.v)
			ntenants = objfs_tenants_count(&r->ctx->tenants);
		render_fs(&o, r, ntenants);
		render_providers(&o, r, ntenants);
		render_state(&o, r, ntenants);
		render_quota(&o, r, ntenants);
		render_backup(&o, r, ntenants);
		reg_leave();
	}
	if (o.oom) {
		free(o.p);
		*len = 0;
		return NULL;
	}
	*len = o.len;
	return o.p;
}

/* ---- the scrape endpoint ---- */

#define M_HTTP_CONN_LIMIT 32
#define M_HTTP_TIMEOUT_S  10

static pthread_mutex_t listen_lock = PTHREAD_MUTEX_INITIALIZER;
static struct MHD_Daemon *listen_mhd;                    /* listen_lock */

static enum MHD_Result queue_text(struct MHD_Connection *c, unsigned status, const char *text)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* GET /metrics -> the rendering; anything else 404 (405 for other methods
 * on /metrics).  A request body is read and ignored before answering. */
static enum MHD_Result metrics_handler(void *cls, struct MHD_Connection *c, const char *url,
				       const char *method, const char *version,
				       const char *upload_data, size_t *upload_data_size,
				       void **req_cls)
{
	static int seen;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char *text;
	size_t len;

	(void)cls;
	(void)version;
	(void)upload_data;
	if (!*req_cls) {
		*req_cls = &seen;
		return MHD_YES;
	}
	if (*upload_data_size) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (strcmp(url, "/metrics") != 0)
		return queue_text(c, MHD_HTTP_NOT_FOUND, "not found\n");
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return queue_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
	text = objfs_metrics_render(&len);
	if (!text)
		return queue_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; version=0.0.4");
	ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* Splits "HOST:PORT" / "[V6]:PORT" into host and port.  0 or -EINVAL. */
static int split_addr(const char *addr, char *host, size_t hlen, char *port, size_t plen)
{
	const char *colon, *h = addr, *he;

	if (addr[0] == '[') {
		he = strchr(addr, ']');
		if (!he || he[1] != ':')
			return -EINVAL;
		h = addr + 1;
		colon = he + 1;
	} else {
		colon = strrchr(addr, ':');
		if (!colon)
			return -EINVAL;
		he = colon;
	}
	if (he == h || (size_t)(he - h) >= hlen || !colon[1] || strlen(colon + 1) >= plen)
		return -EINVAL;
	memcpy(host, h, (size_t)(he - h));
	host[he - h] = '\0';
	strcpy(port, colon + 1);
	return 0;
}

/* A listening TCP socket on addr; the fd, or a negative errno with err set. */
static int listen_socket(const char *addr, char *err, size_t errlen)
{
	struct addrinfo hints, *res = NULL;
	char host[256], port[16];
	int fd = -1, rc, one = 1;

	if (split_addr(addr, host, sizeof(host), port, sizeof(port))) {
		snprintf(err, errlen, "metrics_listen %s: not HOST:PORT or [V6]:PORT", addr);
		return -EINVAL;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc) {
		snprintf(err, errlen, "metrics_listen %s: %s", addr, gai_strerror(rc));
		return -EINVAL;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		goto fail;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (res->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) || listen(fd, 64)) {
		rc = -errno;
		goto fail;
	}
	freeaddrinfo(res);
	return fd;
fail:
	snprintf(err, errlen, "metrics_listen %s: %s", addr, strerror(-rc));
	if (fd >= 0)
		close(fd);
	freeaddrinfo(res);
	return rc;
}

int objfs_metrics_listen_start(const char *addr, char *err, size_t errlen)
{
	struct MHD_Daemon *d;
	int fd, rc = 0;

	if (errlen)
		err[0] = '\0';
	if (!addr || !*addr) {
		snprintf(err, errlen, "metrics_listen: empty address");
		return -EINVAL;
	}
	pthread_mutex_lock(&listen_lock);
	if (listen_mhd) {
		snprintf(err, errlen, "metrics_listen %s: already serving", addr);
		rc = -EALREADY;
		goto out;
	}
	fd = listen_socket(addr, err, errlen);
	if (fd < 0) {
		rc = fd;
		goto out;
	}
	/* MHD takes the socket over and closes it in MHD_stop_daemon */
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, 0, NULL, NULL,
			     metrics_handler, NULL,
			     MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
			     MHD_OPTION_CONNECTION_LIMIT, (unsigned)M_HTTP_CONN_LIMIT,
			     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)M_HTTP_TIMEOUT_S,
			     MHD_OPTION_END);
	if (!d) {
		close(fd);
		snprintf(err, errlen, "metrics_listen %s: cannot start the HTTP server", addr);
		rc = -EIO;
		goto out;
	}
	listen_mhd = d;
out:
	pthread_mutex_unlock(&listen_lock);
	return rc;
}

void objfs_metrics_listen_stop(void)
{
	pthread_mutex_lock(&listen_lock);
	if (listen_mhd)
		MHD_stop_daemon(listen_mhd);
	listen_mhd = NULL;
	pthread_mutex_unlock(&listen_lock);
}
