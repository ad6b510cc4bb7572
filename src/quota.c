/* Tenant quotas: see quota.h and docs/quotas.md. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctx.h"
#include "log.h"
#include "meta.h"
#include "quota.h"
#include "tenant.h"
#include "writeback.h"

/* The quota thread writes changed usage this often (the crash window). */
#define QUOTA_FLUSH_MS 1000
/* A reconcile that found the tenant busy tries again after this long (or
 * after the interval, when that is shorter). */
#define QUOTA_RETRY_MS 10000

struct objfs_quota {
	pthread_mutex_t lock;
	uint64_t max_bytes, max_objects;  /* lock; 0: unlimited */
	uint64_t bytes, objects;          /* lock: landed usage (mirrors the store) */
	uint64_t res_bytes;               /* lock: growth of files not landed yet */
	uint64_t res_objects;             /* lock: files created, not landed yet */
	uint64_t gen;                     /* lock: bumped by every change of bytes/objects */
	unsigned ops;                     /* lock: provider changes in progress (quota_op_begin) */
	int dirty;                        /* lock: changed since the last flush */
	int64_t seeded_ms, reconciled_ms; /* lock */
	int64_t next_reconcile_ms;        /* the quota thread's own; 0: never */
	char *location;                   /* "bucket/prefix": what the stored row counts */
};

static inline struct objfs_quota *qget(const struct objfs_tenant *t)
{
	return __atomic_load_n(&t->quota, __ATOMIC_ACQUIRE);
}

static uint64_t sub0(uint64_t a, uint64_t b)
{
	return b > a ? 0 : a - b;
}

static int stopping(void);

/* Counts the tenant's landed objects with one recursive listing: not
 * directory markers, not objfs's internal area.  cancellable: -ECANCELED
 * between pages when quota_stop was called. */
static int count_objects(const struct objfs_tenant *t, uint64_t *bytes, uint64_t *objects,
			 struct objfs_err *err, int cancellable)
{
	size_t plen = strlen(t->prefix);
	struct objfs_listing l;
	char *token = NULL;
	int rc;

	*bytes = *objects = 0;
	do {
		memset(&l, 0, sizeof(l));
		rc = objfs_prov_list(t->prov, t->bucket, t->prefix, NULL, token, 0, &l, err);
		free(token);
		token = NULL;
		if (rc)
			break;
		for (size_t i = 0; i < l.nobjects; i++) {
			const char *key = l.objects[i].key;
			size_t kl = strlen(key);

			if (kl <= plen || key[kl - 1] == '/' || objfs_rel_internal(key + plen))
				continue;
			*bytes += l.objects[i].size;
			(*objects)++;
		}
		token = l.next_token;
		l.next_token = NULL;
		objfs_listing_clear(&l);
		if (token && cancellable && stopping())
			rc = -ECANCELED;
	} while (token && !rc);
	free(token);
	return rc;
}

/* Writes q's landed usage as t's row.  Caller does not hold q->lock. */
static int store(struct objfs_tenant *t, struct objfs_quota *q, struct objfs_meta *meta, int clean)
{
	struct meta_usage u;

	memset(&u, 0, sizeof(u));
	pthread_mutex_lock(&q->lock);
	u.location = q->location;
	u.bytes = q->bytes;
	u.objects = q->objects;
	u.seeded_ms = q->seeded_ms;
	u.reconciled_ms = q->reconciled_ms;
	u.clean = clean;
	q->dirty = 0;
	pthread_mutex_unlock(&q->lock);
	if (meta_usage_put(meta, t->name, &u)) {
		pthread_mutex_lock(&q->lock);
		q->dirty = 1;           /* try again at the next flush */
		pthread_mutex_unlock(&q->lock);
		return -EIO;
	}
	return 0;
}

static uint64_t interval_ms(const struct objfs_ctx *ctx)
{
	return (uint64_t)ctx->cfg->quota_reconcile_s * 1000;
}

static struct objfs_quota *quota_new(const struct objfs_tenant *t, uint64_t max_bytes,
				     uint64_t max_objects)
{
	struct objfs_quota *q = calloc(1, sizeof(*q));

	if (!q)
		return NULL;
	if (asprintf(&q->location, "%s/%s", t->bucket, t->prefix) < 0) {
		free(q);
		return NULL;
	}
	pthread_mutex_init(&q->lock, NULL);
	q->max_bytes = max_bytes;
	q->max_objects = max_objects;
	return q;
}

static void quota_destroy(struct objfs_quota *q)
{
	pthread_mutex_destroy(&q->lock);
	free(q->location);
	free(q);
}

/* Fills q's landed usage from t's stored row or a listing; sets when the
 * first reconcile is due. */
static int quota_load(struct objfs_tenant *t, struct objfs_quota *q, const struct objfs_ctx *ctx)
{
	struct objfs_meta *meta = ctx->meta;
	uint64_t iv = interval_ms(ctx), journal = 0;
	int64_t now = meta_now_ms();
	struct meta_usage u;
	struct objfs_err err;
	int rc;

	rc = meta_usage_get(meta, t->name, &u);
	if (rc == 0 && strcmp(u.location, q->location)) {
		log_info("quota of tenant %s: its stored usage counted %s; counting again",
			 t->name, u.location);
		rc = -ENOENT;
	}
	if (rc == 0) {
		q->bytes = u.bytes;
		q->objects = u.objects;
		q->seeded_ms = u.seeded_ms;
		q->reconciled_ms = u.reconciled_ms;
		meta_journal_count(meta, t->name, &journal);
		/* Not clean: the last run crashed after changes it had not stored.
		 * Journal entries: uploads replayed now are counted as new objects
		 * of their whole size (their old size is not known).  Both are
		 * corrected by a reconcile as soon as the queue allows. */
		if (iv)
			q->next_reconcile_ms = !u.clean || journal ? now
					     : (u.reconciled_ms + (int64_t)iv > now
						? u.reconciled_ms + (int64_t)iv : now);
		log_info("quota of tenant %s: %" PRIu64 " bytes in %" PRIu64 " objects (stored%s)",
			 t->name, q->bytes, q->objects,
			 !u.clean ? "; last run did not stop cleanly, reconciling" :
			 journal ? "; uploads pending, reconciling" : "");
		meta_usage_clear(&u);
		store(t, q, meta, 0);   /* not clean while mounted */
		return 0;
	}
	meta_usage_clear(&u);
	q->seeded_ms = now;
	rc = count_objects(t, &q->bytes, &q->objects, &err, 0);
	if (rc) {
		log_warn("quota of tenant %s: cannot count its objects (%s); counting from 0 until"
			 " a reconcile succeeds", t->name, err.msg);
		q->bytes = q->objects = 0;
		q->next_reconcile_ms = now;   /* even with reconciles off: this is the seed */
		return rc;
	}
	q->reconciled_ms = now;
	q->next_reconcile_ms = iv ? now + (int64_t)iv : 0;
	log_info("quota of tenant %s: %" PRIu64 " bytes in %" PRIu64 " objects (counted)", t->name,
		 q->bytes, q->objects);
	store(t, q, meta, 0);
	return 0;
}

int quota_init(struct objfs_tenant *t, const struct objfs_ctx *ctx)
{
	const struct objfs_tenant_conf *c = t->conf;
	struct objfs_quota *q;
	int rc;

	t->quota = NULL;
	if (!c->quota_bytes && !c->quota_objects) {
		struct meta_usage u;

		/* a quota added later counts afresh (a read first: starts with many
		 * tenants should not write for each) */
		if (meta_usage_get(ctx->meta, t->name, &u) == 0)
			meta_usage_del(ctx->meta, t->name);
		meta_usage_clear(&u);
		return 0;
	}
	q = quota_new(t, c->quota_bytes, c->quota_objects);
	if (!q)
		return -ENOMEM;
	rc = quota_load(t, q, ctx);
	__atomic_store_n(&t->quota, q, __ATOMIC_RELEASE);
	return rc;
}

void quota_free(struct objfs_tenant *t, struct objfs_meta *meta)
{
	struct objfs_quota *q = qget(t);

	if (!q)
		return;
	if (meta)
		store(t, q, meta, 1);
	__atomic_store_n(&t->quota, NULL, __ATOMIC_RELEASE);
	quota_destroy(q);
}

void quota_set_limits(struct objfs_tenant *t, const struct objfs_ctx *ctx, uint64_t max_bytes,
		      uint64_t max_objects)
{
	struct objfs_quota *q = qget(t);

	if (!q) {
		if (!max_bytes && !max_objects)
			return;
		/* Gained a quota: count it now.  Changes made while it is counted
		 * are not seen, and files open now reserved nothing: the first
		 * reconcile (due at once) corrects the landed part. */
		q = quota_new(t, max_bytes, max_objects);
		if (!q) {
			log_err("quota of tenant %s: out of memory; it has no quota", t->name);
			return;
		}
		meta_usage_del(ctx->meta, t->name);
		quota_load(t, q, ctx);
		if (interval_ms(ctx))
			q->next_reconcile_ms = meta_now_ms();
		__atomic_store_n(&t->quota, q, __ATOMIC_RELEASE);
		return;
	}
	pthread_mutex_lock(&q->lock);
	q->max_bytes = max_bytes;
	q->max_objects = max_objects;
	pthread_mutex_unlock(&q->lock);
}

int quota_reserve(struct objfs_tenant *t, uint64_t n)
{
	struct objfs_quota *q = qget(t);
	int rc = 0;

	if (!q || !n)
		return 0;
	pthread_mutex_lock(&q->lock);
	if (q->max_bytes && q->bytes + q->res_bytes + n > q->max_bytes)
		rc = -EDQUOT;
	else
		q->res_bytes += n;
	pthread_mutex_unlock(&q->lock);
	return rc;
}

void quota_release(struct objfs_tenant *t, uint64_t n)
{
	struct objfs_quota *q = qget(t);

	if (!q || !n)
		return;
	pthread_mutex_lock(&q->lock);
	q->res_bytes = sub0(q->res_bytes, n);
	pthread_mutex_unlock(&q->lock);
}

void quota_landed(struct objfs_tenant *t, uint64_t old_size, uint64_t new_size, int new_object)
{
	struct objfs_quota *q = qget(t);

	if (!q)
		return;
	pthread_mutex_lock(&q->lock);
	q->bytes = sub0(q->bytes + new_size, old_size);
	if (new_object) {
		q->res_objects = sub0(q->res_objects, 1);
		q->objects++;
	}
	q->gen++;
	q->dirty = 1;
	pthread_mutex_unlock(&q->lock);
}

int quota_add_object(struct objfs_tenant *t)
{
	struct objfs_quota *q = qget(t);
	int rc = 0;

	if (!q)
		return 0;
	pthread_mutex_lock(&q->lock);
	if (q->max_objects && q->objects + q->res_objects + 1 > q->max_objects)
		rc = -EDQUOT;
	else
		q->res_objects++;
	pthread_mutex_unlock(&q->lock);
	return rc;
}

void quota_unreserve_object(struct objfs_tenant *t)
{
	struct objfs_quota *q = qget(t);

	if (!q)
		return;
	pthread_mutex_lock(&q->lock);
	q->res_objects = sub0(q->res_objects, 1);
	pthread_mutex_unlock(&q->lock);
}

void quota_object_created(struct objfs_tenant *t, uint64_t size)
{
	quota_landed(t, 0, size, 1);
}

void quota_remove_object(struct objfs_tenant *t, uint64_t size)
{
	struct objfs_quota *q = qget(t);

	if (!q)
		return;
	pthread_mutex_lock(&q->lock);
	q->objects = sub0(q->objects, 1);
	q->bytes = sub0(q->bytes, size);
	q->gen++;
	q->dirty = 1;
	pthread_mutex_unlock(&q->lock);
}

void quota_op_begin(struct objfs_tenant *t)
{
	struct objfs_quota *q = qget(t);

	if (!q)
		return;
	pthread_mutex_lock(&q->lock);
	q->ops++;
	pthread_mutex_unlock(&q->lock);
}

void quota_op_end(struct objfs_tenant *t)
{
	struct objfs_quota *q = qget(t);

	if (!q)
		return;
	pthread_mutex_lock(&q->lock);
	if (q->ops)
		q->ops--;
	q->gen++;
	pthread_mutex_unlock(&q->lock);
}

int quota_active(const struct objfs_tenant *t)
{
	return qget(t) != NULL;
}

int quota_usage(const struct objfs_tenant *t, struct quota_usage *u)
{
	struct objfs_quota *q = qget(t);
	int rc = -ENOENT;

	memset(u, 0, sizeof(*u));
	if (!q)
		return rc;
	pthread_mutex_lock(&q->lock);
	if (q->max_bytes || q->max_objects) {
		u->bytes = q->bytes + q->res_bytes;
		u->objects = q->objects + q->res_objects;
		u->max_bytes = q->max_bytes;
		u->max_objects = q->max_objects;
		u->reconciled_ms = q->reconciled_ms;
		rc = 0;
	}
	pthread_mutex_unlock(&q->lock);
	return rc;
}

/* ---- the quota thread ---- */

static pthread_t qthread;
static pthread_mutex_t qt_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t qt_cond = PTHREAD_COND_INITIALIZER;
static int qt_running, qt_stop;           /* qt_lock */


static int stopping(void)
{
	int s;

	pthread_mutex_lock(&qt_lock);
	s = qt_stop;
	pthread_mutex_unlock(&qt_lock);
	return s;
}

/*
 * One reconcile of t: list it and replace the landed usage with the count.
 * The listing is not a snapshot, so it is thrown away (return 0: retry
 * later) when anything may have changed the tenant's objects while it ran:
 * an upload of the write-back queue pending or in flight at its start or
 * end, a change bracketed by quota_op_begin/end in progress at its start or
 * end, or any usage change (gen) in between.  1: done (or the listing
 * failed, logged: the tracked usage stays).
 */
static int reconcile(struct objfs_ctx *ctx, struct objfs_tenant *t, struct objfs_quota *q)
{
	uint64_t g0, bytes, objects, ob = 0, oo = 0;
	struct objfs_err err;
	int busy, changed = 0, rc;

	pthread_mutex_lock(&q->lock);
	busy = q->ops != 0;
	g0 = q->gen;
	pthread_mutex_unlock(&q->lock);
	if (busy || writeback_pending_under(ctx->wb, t, ""))
		return 0;
	rc = count_objects(t, &bytes, &objects, &err, 1);
	if (rc == -ECANCELED)
		return 0;
	if (rc) {
		log_warn("quota of tenant %s: reconcile: cannot list it (%s)", t->name, err.msg);
		return 1;
	}
	if (writeback_pending_under(ctx->wb, t, ""))
		return 0;
	pthread_mutex_lock(&q->lock);
	busy = q->ops != 0 || q->gen != g0;
	if (!busy) {
		changed = bytes != q->bytes || objects != q->objects;
		ob = q->bytes;
		oo = q->objects;
		q->bytes = bytes;
		q->objects = objects;
		q->reconciled_ms = meta_now_ms();
		q->dirty = 1;
	}
	pthread_mutex_unlock(&q->lock);
	if (busy)
		log_debug("quota of tenant %s: reconcile: changes during the listing, retrying",
			  t->name);
	else if (changed)
		log_info("quota of tenant %s: reconciled %" PRIu64 " bytes in %" PRIu64 " objects"
			 " to %" PRIu64 " bytes in %" PRIu64 " objects", t->name, ob, oo, bytes,
			 objects);
	return !busy;
}

static int is_dirty(struct objfs_quota *q)
{
	int d;

	pthread_mutex_lock(&q->lock);
	d = q->dirty;
	pthread_mutex_unlock(&q->lock);
	return d;
}

static void *quota_main(void *arg)
{
	struct objfs_ctx *ctx = arg;

	while (!stopping()) {
		struct timespec until;
		int64_t wake = meta_now_ms() + QUOTA_FLUSH_MS;

		for (size_t i = 0; i < objfs_tenants_count(&ctx->tenants) && !stopping(); i++) {
			struct objfs_tenant *t = &ctx->tenants.v[i];
			struct objfs_quota *q = qget(t);
			int64_t now = meta_now_ms();

			if (!q)
				continue;
			if (q->next_reconcile_ms && now >= q->next_reconcile_ms &&
			    !__atomic_load_n(&t->removed, __ATOMIC_ACQUIRE)) {
				uint64_t iv = interval_ms(ctx);
				int done = reconcile(ctx, t, q);

				now = meta_now_ms();
				if (done)
					q->next_reconcile_ms = iv ? now + (int64_t)iv : 0;
				else
					q->next_reconcile_ms = now + (int64_t)(iv && iv < QUOTA_RETRY_MS
									       ? iv : QUOTA_RETRY_MS);
			}
			if (q->next_reconcile_ms && q->next_reconcile_ms < wake)
				wake = q->next_reconcile_ms;
			if (is_dirty(q))
				store(t, q, ctx->meta, 0);
		}
		if (wake < meta_now_ms() + 50)
			wake = meta_now_ms() + 50;
		until.tv_sec = wake / 1000;
		until.tv_nsec = (wake % 1000) * 1000000L;
		pthread_mutex_lock(&qt_lock);
		if (!qt_stop)
			pthread_cond_timedwait(&qt_cond, &qt_lock, &until);
		pthread_mutex_unlock(&qt_lock);
	}
	return NULL;
}

int quota_start(struct objfs_ctx *ctx)
{
	int rc;

	pthread_mutex_lock(&qt_lock);
	rc = qt_running ? 0 : pthread_create(&qthread, NULL, quota_main, ctx);
	if (rc == 0)
		qt_running = 1;
	qt_stop = 0;
	pthread_mutex_unlock(&qt_lock);
	return -rc;
}

void quota_stop(void)
{
	pthread_mutex_lock(&qt_lock);
	if (!qt_running) {
		pthread_mutex_unlock(&qt_lock);
		return;
	}
	qt_stop = 1;
	pthread_cond_signal(&qt_cond);
	pthread_mutex_unlock(&qt_lock);
	pthread_join(qthread, NULL);
	pthread_mutex_lock(&qt_lock);
	qt_running = 0;
	pthread_mutex_unlock(&qt_lock);
}
