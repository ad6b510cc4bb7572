/* Tenant quotas: see quota.h. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "quota.h"
#include "tenant.h"

struct objfs_quota {
	pthread_mutex_t lock;
	uint64_t max_bytes, max_objects;  /* 0: unlimited */
	uint64_t landed_bytes;            /* lock */
	uint64_t objects;                 /* lock */
	uint64_t reserved;                /* lock: growth of files not landed yet */
};

int quota_init(struct objfs_tenant *t)
{
	const struct objfs_tenant_conf *c = t->conf;
	struct objfs_quota *q;
	struct objfs_listing l;
	struct objfs_err err;
	char *token = NULL;
	int rc = 0;

	t->quota = NULL;
	if (!c->quota_bytes && !c->quota_objects)
		return 0;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	pthread_mutex_init(&q->lock, NULL);
	q->max_bytes = c->quota_bytes;
	q->max_objects = c->quota_objects;
	do {
		memset(&l, 0, sizeof(l));
		rc = objfs_prov_list(t->prov, t->bucket, t->prefix, NULL, token, 0, &l, &err);
		free(token);
		token = NULL;
		if (rc)
			break;
		for (size_t i = 0; i < l.nobjects; i++) {
			size_t kl = strlen(l.objects[i].key);

			if (kl && l.objects[i].key[kl - 1] == '/')
				continue;       /* directory markers are not files */
			q->landed_bytes += l.objects[i].size;
			q->objects++;
		}
		token = l.next_token;
		l.next_token = NULL;
		objfs_listing_clear(&l);
	} while (token);
	free(token);
	if (rc)
		log_warn("quota of tenant %s: cannot count its objects (%s); counting from 0",
			 t->name, err.msg);
	else
		log_info("quota of tenant %s: %" PRIu64 " bytes in %" PRIu64 " objects", t->name,
			 q->landed_bytes, q->objects);
	t->quota = q;
	return rc;
}

void quota_free(struct objfs_tenant *t)
{
	if (!t->quota)
		return;
	pthread_mutex_destroy(&t->quota->lock);
	free(t->quota);
	t->quota = NULL;
}

int quota_reserve(struct objfs_tenant *t, uint64_t n)
{
	struct objfs_quota *q = t->quota;
	int rc = 0;

	if (!q || !n)
		return 0;
	pthread_mutex_lock(&q->lock);
	if (q->max_bytes && q->landed_bytes + q->reserved + n > q->max_bytes)
		rc = -EDQUOT;
	else
		q->reserved += n;
	pthread_mutex_unlock(&q->lock);
	return rc;
}

void quota_release(struct objfs_tenant *t, uint64_t n)
{
	struct objfs_quota *q = t->quota;

	if (!q || !n)
		return;
	pthread_mutex_lock(&q->lock);
	q->reserved = n > q->reserved ? 0 : q->reserved - n;
	pthread_mutex_unlock(&q->lock);
}

void quota_landed(struct objfs_tenant *t, uint64_t old_size, uint64_t new_size)
{
	struct objfs_quota *q = t->quota;

	if (!q)
		return;
	pthread_mutex_lock(&q->lock);
	q->landed_bytes += new_size;
	q->landed_bytes = old_size > q->landed_bytes ? 0 : q->landed_bytes - old_size;
	pthread_mutex_unlock(&q->lock);
}

int quota_add_object(struct objfs_tenant *t)
{
	struct objfs_quota *q = t->quota;
	int rc = 0;

	if (!q)
		return 0;
	pthread_mutex_lock(&q->lock);
	if (q->max_objects && q->objects + 1 > q->max_objects)
		rc = -EDQUOT;
	else
		q->objects++;
	pthread_mutex_unlock(&q->lock);
	return rc;
}

void quota_remove_object(struct objfs_tenant *t, uint64_t size)
{
	struct objfs_quota *q = t->quota;

	if (!q)
		return;
	pthread_mutex_lock(&q->lock);
	if (q->objects)
		q->objects--;
	q->landed_bytes = size > q->landed_bytes ? 0 : q->landed_bytes - size;
	pthread_mutex_unlock(&q->lock);
}

void quota_set_limits(struct objfs_tenant *t, uint64_t max_bytes, uint64_t max_objects)
{
	struct objfs_quota *q = t->quota;

	if (!q)
		return;
	pthread_mutex_lock(&q->lock);
	q->max_bytes = max_bytes;
	q->max_objects = max_objects;
	pthread_mutex_unlock(&q->lock);
}
