/* Checks of landed presigned uploads; see presign_watch.h. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "config.h"
#include "ctx.h"
#include "guardrep.h"
#include "log.h"
#include "mimetype.h"
#include "objfs/provider.h"
#include "presign_watch.h"
#include "quota.h"
#include "tenant.h"

#define PW_FIRST_MS   1000
#define PW_MAX_MS     30000
#define PW_TICK_MS    250
#define PW_SKEW_S     2          /* the store's clock and Last-Modified's 1 s steps */

struct pw_entry {
	struct objfs_tenant *t;      /* table entries never move (tenant.h) */
	char *rel, *key;
	time_t issued, until;        /* wall clock: first URL, last expiry + margin */
	int64_t next_ms;             /* monotonic: next HEAD */
	unsigned interval_ms;
	char seen[OBJFS_ETAG_MAX];   /* ETag last looked at ("" none) */
	uid_t uid;
	pid_t pid;
};

static pthread_mutex_t pw_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pw_cond;
static struct pw_entry *pw_v;    /* pw_lock */
static size_t pw_n;              /* pw_lock */
static int pw_running, pw_stopping;
static pthread_t pw_thread;

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void entry_free(struct pw_entry *e)
{
	free(e->rel);
	free(e->key);
}

/* Removes entry i (pw_lock held): the last one takes its place. */
static void entry_remove(size_t i)
{
	entry_free(&pw_v[i]);
	pw_v[i] = pw_v[--pw_n];
}

int presign_watch_add(struct objfs_tenant *t, const char *rel, const char *key, time_t expires,
		      uid_t uid, pid_t pid)
{
	struct pw_entry e;
	int rc = 0;

	pthread_mutex_lock(&pw_lock);
	if (!pw_running)
		goto out;
	for (size_t i = 0; i < pw_n; i++) {
		if (pw_v[i].t == t && !strcmp(pw_v[i].key, key)) {
			if (pw_v[i].until < expires + PRESIGN_WATCH_MARGIN_S)
				pw_v[i].until = expires + PRESIGN_WATCH_MARGIN_S;
			pw_v[i].interval_ms = PW_FIRST_MS;
			pw_v[i].next_ms = mono_ms() + PW_FIRST_MS;
			pw_v[i].uid = uid;
			pw_v[i].pid = pid;
			goto out;
		}
	}
	memset(&e, 0, sizeof(e));
	e.t = t;
	e.rel = strdup(rel);
	e.key = strdup(key);
	if (!e.rel || !e.key) {
		entry_free(&e);
		rc = -ENOMEM;
		goto out;
	}
	e.issued = time(NULL);
	e.until = expires + PRESIGN_WATCH_MARGIN_S;
	e.interval_ms = PW_FIRST_MS;
	e.next_ms = mono_ms() + PW_FIRST_MS;
	e.uid = uid;
	e.pid = pid;
	if (pw_n == PRESIGN_WATCH_MAX) {
		size_t j = 0;

		for (size_t i = 1; i < pw_n; i++)
			if (pw_v[i].until < pw_v[j].until)
				j = i;
		log_warn("presign watch: %d URLs watched, no longer watching %s/%s",
			 PRESIGN_WATCH_MAX, pw_v[j].t->name, pw_v[j].rel);
		entry_remove(j);
	}
	pw_v[pw_n++] = e;
	pthread_cond_signal(&pw_cond);
out:
	pthread_mutex_unlock(&pw_lock);
	return rc;
}

/* The first limit of the tenant's current configuration that a landed object
 * breaks: 0, or -EFBIG/-EACCES/-EDQUOT with the reason in why. */
static int landed_breaks(const struct objfs_tenant *t, const struct objfs_objinfo *oi,
			 char *why, size_t whylen)
{
	const struct objfs_tenant_conf *c = __atomic_load_n(&t->conf, __ATOMIC_ACQUIRE);
	struct quota_usage u;

	if (c->max_object_size && oi->size > c->max_object_size) {
		snprintf(why, whylen, "%" PRIu64 " bytes is larger than max_object_size (%" PRIu64
			 " bytes)", oi->size, c->max_object_size);
		return -EFBIG;
	}
	if (c->allowed_types || c->denied_types) {
		char type[256], tw[200];
		const char *ct = oi->content_type && oi->content_type[0] ? oi->content_type
									  : MIMETYPE_UNDECIDED;

		/* the stored type without parameters ("text/plain; charset=x") */
		snprintf(type, sizeof(type), "%.*s", (int)strcspn(ct, "; \t"), ct);
		if (!mimetype_policy(c->allowed_types, c->denied_types, type, tw, sizeof(tw))) {
			snprintf(why, whylen, "%s", tw);
			return -EACCES;
		}
	}
	/* usage counts the object once a reconcile listed it (its Last-Modified
	 * before the reconcile); until then it is on top of it */
	if (quota_usage(t, &u) == 0 && u.max_bytes) {
		int counted = u.reconciled_ms >= oi->mtime_ns / 1000000;
		uint64_t total = counted ? u.bytes : u.bytes + oi->size;

		if (total > u.max_bytes) {
			snprintf(why, whylen, "the tenant holds %" PRIu64 " bytes with it, over "
				 "quota_bytes (%" PRIu64 ")", total, u.max_bytes);
			return -EDQUOT;
		}
	}
	return 0;
}

/* One HEAD of entry e (a copy; no lock held).  Returns the ETag to remember
 * in seen_out ("" when there is no object). */
static void check_one(const struct pw_entry *e, char *seen_out)
{
	struct objfs_objinfo oi;
	struct objfs_err err;
	char why[320], detail[400];
	int rc;

	memset(&oi, 0, sizeof(oi));
	snprintf(seen_out, OBJFS_ETAG_MAX, "%s", e->seen);
	rc = objfs_prov_head(e->t->prov, e->t->bucket, e->key, &oi, &err);
	if (rc == -ENOENT) {
		seen_out[0] = '\0';
		return;
	}
	if (rc) {
		log_debug("presign watch: HEAD %s/%s: %s", e->t->bucket, e->key,
			  err.msg[0] ? err.msg : strerror(-rc));
		return;
	}
	snprintf(seen_out, OBJFS_ETAG_MAX, "%s", oi.etag);
	if (!strcmp(oi.etag, e->seen) || oi.mtime_ns / 1000000000 < e->issued - PW_SKEW_S)
		goto out;    /* nothing new, or an object older than the URL */
	rc = landed_breaks(e->t, &oi, why, sizeof(why));
	if (rc == 0) {
		guardrep_clear(e->t->name, e->rel, GUARDREP_PRESIGNED_UPLOAD);
		goto out;
	}
	snprintf(detail, sizeof(detail), "presigned upload landed past a limit: %s", why);
	guardrep_add(e->t->name, e->rel, GUARDREP_PRESIGNED_UPLOAD, detail);
	log_warn("tenant %s: %s: %s (the object is kept)", e->t->name, e->rel, detail);
	objfs_audit(e->uid, e->pid, e->t->name, "presign-landed", e->rel, NULL, rc, why);
out:
	objfs_objinfo_clear(&oi);
}

static void *pw_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&pw_lock);
	while (!pw_stopping) {
		int64_t now = mono_ms();
		time_t wall = time(NULL);
		unsigned heads = 0;
		struct timespec ts;

		for (size_t i = 0; i < pw_n && heads < PRESIGN_WATCH_HEADS && !pw_stopping;) {
			struct pw_entry copy;
			char seen[OBJFS_ETAG_MAX];

			if (pw_v[i].until < wall) {
				entry_remove(i);
				continue;
			}
			if (pw_v[i].next_ms > now) {
				i++;
				continue;
			}
			/* HEAD without the lock, on copies of the strings */
			copy = pw_v[i];
			copy.rel = strdup(pw_v[i].rel);
			copy.key = strdup(pw_v[i].key);
			if (!copy.rel || !copy.key) {
				entry_free(&copy);
				pw_v[i].next_ms = now + pw_v[i].interval_ms;
				break;
			}
			pw_v[i].next_ms = INT64_MAX;    /* busy: not picked twice */
			pthread_mutex_unlock(&pw_lock);
			check_one(&copy, seen);
			heads++;
			pthread_mutex_lock(&pw_lock);
			/* the list may have changed meanwhile: find the entry again */
			for (size_t j = 0; j < pw_n; j++) {
				struct pw_entry *e = &pw_v[j];

				if (e->t != copy.t || strcmp(e->key, copy.key))
					continue;
				if (strcmp(e->seen, seen)) {
					snprintf(e->seen, sizeof(e->seen), "%s", seen);
					e->interval_ms = PW_FIRST_MS;
				} else if (e->interval_ms < PW_MAX_MS) {
					e->interval_ms = e->interval_ms * 2 > PW_MAX_MS
								 ? PW_MAX_MS : e->interval_ms * 2;
				}
				if (e->next_ms == INT64_MAX)   /* else a new URL reset it */
					e->next_ms = mono_ms() + e->interval_ms;
				break;
			}
			entry_free(&copy);
			i = 0;       /* rescan: due entries are few, the list is short */
			now = mono_ms();
		}
		/* wait a tick (a second once this one's HEAD budget is spent) */
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += (long)(heads >= PRESIGN_WATCH_HEADS ? 1000 : PW_TICK_MS) * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		if (!pw_stopping)
			pthread_cond_timedwait(&pw_cond, &pw_lock, &ts);
	}
	pthread_mutex_unlock(&pw_lock);
	return NULL;
}

int presign_watch_start(struct objfs_ctx *ctx)
{
	pthread_condattr_t ca;
	int rc;

	(void)ctx;
	pthread_mutex_lock(&pw_lock);
	if (pw_running) {
		pthread_mutex_unlock(&pw_lock);
		return 0;
	}
	pw_v = calloc(PRESIGN_WATCH_MAX, sizeof(*pw_v));
	if (!pw_v) {
		pthread_mutex_unlock(&pw_lock);
		return -ENOMEM;
	}
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&pw_cond, &ca);
	pthread_condattr_destroy(&ca);
	pw_n = 0;
	pw_stopping = 0;
	rc = -pthread_create(&pw_thread, NULL, pw_main, NULL);
	if (rc) {
		pthread_cond_destroy(&pw_cond);
		free(pw_v);
		pw_v = NULL;
	} else {
		pw_running = 1;
	}
	pthread_mutex_unlock(&pw_lock);
	return rc;
}

void presign_watch_stop(void)
{
	pthread_mutex_lock(&pw_lock);
	if (!pw_running) {
		pthread_mutex_unlock(&pw_lock);
		return;
	}
	pw_stopping = 1;
	pw_running = 0;               /* no more adds */
	pthread_cond_signal(&pw_cond);
	pthread_mutex_unlock(&pw_lock);
	pthread_join(pw_thread, NULL);
	pthread_mutex_lock(&pw_lock);
	while (pw_n)
		entry_remove(pw_n - 1);
	free(pw_v);
	pw_v = NULL;
	pthread_cond_destroy(&pw_cond);
	pthread_mutex_unlock(&pw_lock);
}
