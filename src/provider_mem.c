/*
 * The `mem` provider: an in-memory object store for unit tests.
 *
 * Buckets hold objects in an array sorted by key (byte order), so a listing
 * is a walk from the prefix through the shared page builder of provider.c.
 * One mutex guards everything; data is copied in and out under it.  Presign
 * signs with OBJFS_MEM_PRESIGN_SECRET and returns "mem://bucket/key?...".
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "objfs/provider.h"
#include "presign_local.h"

#define MEM_MAX_PARTS 10000
#define MEM_BATCH_MAX 1000

struct mem_obj {
	struct objfs_objinfo oi;         /* key, size, etag, metadata */
	unsigned char *data;
};

struct mem_bucket {
	char *name;
	struct mem_obj *objs;            /* sorted by oi.key */
	size_t n, cap;
};

struct mem_part {
	int number;
	uint64_t size;
	char etag[OBJFS_ETAG_MAX];
	unsigned char *data;
};

struct mem_upload {
	char id[33];
	char *bucket;
	struct objfs_objinfo oi;         /* key, content type, metadata */
	struct mem_part *parts;          /* unsorted */
	size_t nparts;
	struct mem_upload *next;
};

struct objfs_provider {
	pthread_mutex_t lock;            /* guards everything below */
	objfs_clock_fn clock;
	struct mem_bucket *buckets;
	size_t nbuckets;
	struct mem_upload *uploads;
	unsigned long seq;               /* makes ETags unique */
};

static void mem_etag(struct objfs_provider *p, char *etag, size_t nparts)
{
	unsigned char r[8] = { 0 };
	size_t got = 0;

	while (got < sizeof(r)) {
		ssize_t n = getrandom(r + got, sizeof(r) - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	snprintf(etag, OBJFS_ETAG_MAX, "%016lx%02x%02x%02x%02x%02x%02x%02x%02x", ++p->seq,
		 r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]);
	if (nparts)
		snprintf(etag + 32, OBJFS_ETAG_MAX - 32, "-%zu", nparts);
}

static int64_t mem_now_ns(const struct objfs_provider *p)
{
	struct timespec ts;

	if (p->clock)
		return (int64_t)p->clock() * 1000000000LL;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static struct mem_bucket *mem_bucket(struct objfs_provider *p, const char *name,
				     struct objfs_err *err)
{
	if (objfs_bucket_check(name, err) < 0)
		return NULL;
	for (size_t i = 0; i < p->nbuckets; i++)
		if (strcmp(p->buckets[i].name, name) == 0)
			return &p->buckets[i];
	objfs_err_set(err, -ENOENT, "no such bucket '%s'", name);
	return NULL;
}

/* The error mem_bucket() failed with. */
static int mem_bucket_err(const char *bucket)
{
	return objfs_bucket_check(bucket, NULL) < 0 ? -EINVAL : -ENOENT;
}

/* Index of the first object with key >= key. */
static size_t mem_lower(const struct mem_bucket *b, const char *key)
{
	size_t lo = 0, hi = b->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(b->objs[mid].oi.key, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct mem_obj *mem_find(struct mem_bucket *b, const char *key)
{
	size_t i = mem_lower(b, key);

	return i < b->n && strcmp(b->objs[i].oi.key, key) == 0 ? &b->objs[i] : NULL;
}

static void mem_obj_clear(struct mem_obj *o)
{
	objfs_objinfo_clear(&o->oi);
	free(o->data);
	o->data = NULL;
}

/* Stores o (moved in) under its key, replacing an existing object. */
static int mem_store(struct mem_bucket *b, struct mem_obj *o)
{
	size_t i = mem_lower(b, o->oi.key);

	if (i < b->n && strcmp(b->objs[i].oi.key, o->oi.key) == 0) {
		mem_obj_clear(&b->objs[i]);
	} else {
		if (b->n == b->cap) {
			size_t ncap = b->cap ? b->cap * 2 : 16;
			struct mem_obj *no = realloc(b->objs, ncap * sizeof(*no));
			if (!no)
				return -ENOMEM;
			b->objs = no;
			b->cap = ncap;
		}
		memmove(&b->objs[i + 1], &b->objs[i], (b->n - i) * sizeof(*b->objs));
		b->n++;
	}
	b->objs[i] = *o;
	memset(o, 0, sizeof(*o));
	return 0;
}

/* Reads a source into a malloc'ed buffer (NULL for an empty one). */
static int mem_read_source(const struct objfs_source *src, unsigned char **out,
			   struct objfs_err *err)
{
	unsigned char *buf = NULL;
	uint64_t pos = 0, sum = 0;
	int rc = 0;

	*out = NULL;
	for (size_t i = 0; src && i < src->nsegs; i++)
		sum += src->segs[i].len;
	if (!src || sum != src->size)
		return src ? objfs_err_set(err, -EINVAL, "source size mismatch") : 0;
	if (sum && !(buf = calloc(1, (size_t)sum)))
		return -ENOMEM;
	for (size_t i = 0; i < src->nsegs; i++) {
		const struct objfs_seg *s = &src->segs[i];
		for (uint64_t done = 0; s->fd >= 0 && done < s->len;) {
			ssize_t n = pread(s->fd, buf + pos + done, (size_t)(s->len - done),
					  (off_t)(s->off + done));
			if (n <= 0) {
				rc = objfs_err_set(err, n < 0 ? -errno : -EIO, "reading segment %zu", i);
				goto out;
			}
			done += (uint64_t)n;
		}
		if (s->fd < 0 && s->buf && s->len)
			memcpy(buf + pos, s->buf, (size_t)s->len);
		pos += s->len;
	}
out:
	if (rc < 0)
		free(buf);
	else
		*out = buf;
	return rc;
}

static int mem_open(const struct objfs_provider_conf *conf, struct objfs_provider **out,
		    struct objfs_err *err)
{
	struct objfs_provider *p = calloc(1, sizeof(*p));

	*out = NULL;
	if (!p)
		return -ENOMEM;
	pthread_mutex_init(&p->lock, NULL);
	p->clock = conf->clock;
	*out = p;
	return 0;
}

static void mem_upload_free(struct mem_upload *u)
{
	if (!u)
		return;
	for (size_t i = 0; i < u->nparts; i++)
		free(u->parts[i].data);
	free(u->parts);
	free(u->bucket);
	objfs_objinfo_clear(&u->oi);
	free(u);
}

static void mem_close(struct objfs_provider *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nbuckets; i++) {
		for (size_t j = 0; j < p->buckets[i].n; j++)
			mem_obj_clear(&p->buckets[i].objs[j]);
		free(p->buckets[i].objs);
		free(p->buckets[i].name);
	}
	free(p->buckets);
	while (p->uploads) {
		struct mem_upload *u = p->uploads;
		p->uploads = u->next;
		mem_upload_free(u);
	}
	pthread_mutex_destroy(&p->lock);
	free(p);
}

static int mem_head(struct objfs_provider *p, const char *bucket, const char *key,
		    struct objfs_objinfo *out, struct objfs_err *err)
{
	struct mem_bucket *b;
	struct mem_obj *o;
	int rc = objfs_key_check(key, err);

	memset(out, 0, sizeof(*out));
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&p->lock);
	if (!(b = mem_bucket(p, bucket, err)))
		rc = mem_bucket_err(bucket);
	else if (!(o = mem_find(b, key)))
		rc = objfs_err_set(err, -ENOENT, "no such key");
	else
		rc = objfs_objinfo_copy(out, &o->oi);
	pthread_mutex_unlock(&p->lock);
	return rc;
}

static int mem_get(struct objfs_provider *p, const char *bucket, const char *key,
		   uint64_t off, uint64_t len, const char *if_match, void *buf,
		   uint64_t *got, struct objfs_err *err)
{
	struct mem_bucket *b;
	struct mem_obj *o;
	int rc = objfs_key_check(key, err);

	*got = 0;
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&p->lock);
	if (!(b = mem_bucket(p, bucket, err))) {
		rc = mem_bucket_err(bucket);
	} else if (!(o = mem_find(b, key))) {
		rc = objfs_err_set(err, -ENOENT, "no such key");
	} else if (if_match && strcmp(if_match, o->oi.etag) != 0) {
		rc = objfs_err_set(err, -ESTALE, "etag differs (if-match)");
	} else if (off < o->oi.size) {
		*got = len < o->oi.size - off ? len : o->oi.size - off;
		memcpy(buf, o->data + off, (size_t)*got);
	}
	pthread_mutex_unlock(&p->lock);
	return rc;
}

/* Checks the write conditions of opts against the current object (or NULL). */
static int mem_cond(const struct mem_obj *cur, const struct objfs_putopts *opts,
		    struct objfs_err *err)
{
	if (opts && opts->if_none_match && cur)
		return objfs_err_set(err, -EEXIST, "object exists (if-none-match)");
	if (opts && opts->if_match && (!cur || strcmp(cur->oi.etag, opts->if_match) != 0))
		return objfs_err_set(err, -ESTALE, "etag differs (if-match)");
	return 0;
}

/* Fills a new object (key, size, data moved in, etag, mtime, metadata). */
static int mem_obj_new(struct objfs_provider *p, struct mem_obj *o, const char *key,
		       unsigned char **data, uint64_t size, size_t nparts,
		       const char *ct, const struct objfs_kv *meta, size_t nmeta)
{
	memset(o, 0, sizeof(*o));
	o->data = *data;
	*data = NULL;
	o->oi.size = size;
	o->oi.mtime_ns = mem_now_ns(p);
	mem_etag(p, o->oi.etag, nparts);
	if (!(o->oi.key = strdup(key)))
		return -ENOMEM;
	return objfs_objinfo_set_meta(&o->oi, ct, meta, nmeta);
}

static int mem_put(struct objfs_provider *p, const char *bucket, const char *key,
		   const struct objfs_source *src, const struct objfs_putopts *opts,
		   char *etag_out, struct objfs_err *err)
{
	struct mem_obj o = { 0 };
	unsigned char *data = NULL;
	struct mem_bucket *b;
	int rc;

	rc = objfs_key_check(key, err);
	if (rc == 0)
		rc = mem_read_source(src, &data, err);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&p->lock);
	if (!(b = mem_bucket(p, bucket, err))) {
		rc = mem_bucket_err(bucket);
		goto out;
	}
	rc = mem_cond(mem_find(b, key), opts, err);
	if (rc == 0)
		rc = mem_obj_new(p, &o, key, &data, src ? src->size : 0, 0,
				 opts ? opts->content_type : NULL, opts ? opts->meta : NULL,
				 opts ? opts->nmeta : 0);
	if (rc == 0 && etag_out)
		memcpy(etag_out, o.oi.etag, OBJFS_ETAG_MAX);
	if (rc == 0)
		rc = mem_store(b, &o);
out:
	pthread_mutex_unlock(&p->lock);
	mem_obj_clear(&o);
	free(data);
	return rc;
}

static int mem_list(struct objfs_provider *p, const char *bucket, const char *prefix,
		    const char *delimiter, const char *token, unsigned max_keys,
		    struct objfs_listing *out, struct objfs_err *err)
{
	struct objfs_objinfo oi = { 0 };
	struct objfs_listb lb;
	struct mem_bucket *b;
	int rc = 0;

	objfs_listb_init(&lb, prefix, delimiter, token, max_keys, out);
	pthread_mutex_lock(&p->lock);
	if (!(b = mem_bucket(p, bucket, err))) {
		rc = mem_bucket_err(bucket);
		goto out;
	}
	for (size_t i = mem_lower(b, lb.prefix); i < b->n && rc == 0; i++) {
		const char *k = b->objs[i].oi.key;
		int cls = objfs_listb_classify(&lb, k);
		if (strncmp(k, lb.prefix, lb.plen) != 0)
			break;
		if (cls == OBJFS_LISTB_SKIP)
			continue;
		if (objfs_listb_full(&lb)) {
			rc = objfs_listb_truncate(&lb);
			break;
		}
		if (cls == OBJFS_LISTB_PREFIX) {
			rc = objfs_listb_add_prefix(&lb, k);
			continue;
		}
		rc = objfs_objinfo_copy(&oi, &b->objs[i].oi);
		if (rc == 0)
			rc = objfs_listb_add_object(&lb, &oi);
	}
out:
	pthread_mutex_unlock(&p->lock);
	objfs_objinfo_clear(&oi);
	if (rc < 0)
		objfs_listing_clear(out);
	return rc;
}

static int mem_del_locked(struct mem_bucket *b, const char *key)
{
	struct mem_obj *o = mem_find(b, key);

	if (o) {
		size_t i = (size_t)(o - b->objs);
		mem_obj_clear(o);
		memmove(&b->objs[i], &b->objs[i + 1], (b->n - i - 1) * sizeof(*b->objs));
		b->n--;
	}
	return 0;
}

static int mem_del_batch(struct objfs_provider *p, const char *bucket,
			 const char *const *keys, size_t nkeys, int *results,
			 struct objfs_err *err)
{
	struct mem_bucket *b;
	int rc = 0;

	if (nkeys > MEM_BATCH_MAX)
		return objfs_err_set(err, -EINVAL, "more than %d keys", MEM_BATCH_MAX);
	pthread_mutex_lock(&p->lock);
	if (!(b = mem_bucket(p, bucket, err)))
		rc = mem_bucket_err(bucket);
	for (size_t i = 0; b && i < nkeys; i++) {
		results[i] = objfs_key_check(keys[i], NULL);
		if (results[i] == 0)
			results[i] = mem_del_locked(b, keys[i]);
	}
	pthread_mutex_unlock(&p->lock);
	return rc;
}

static int mem_del(struct objfs_provider *p, const char *bucket, const char *key,
		   struct objfs_err *err)
{
	int res = 0, rc = objfs_key_check(key, err);

	if (rc == 0)
		rc = mem_del_batch(p, bucket, &key, 1, &res, err);
	return rc < 0 ? rc : res;
}

static int mem_copy(struct objfs_provider *p, const char *bucket, const char *src_key,
		    const char *dst_key, const struct objfs_putopts *opts,
		    char *etag_out, struct objfs_err *err)
{
	struct mem_obj o = { 0 }, *s;
	unsigned char *data = NULL;
	struct mem_bucket *b;
	int rc;

	rc = objfs_key_check(src_key, err);
	if (rc == 0)
		rc = objfs_key_check(dst_key, err);
	if (rc == 0 && !opts && strcmp(src_key, dst_key) == 0)
		rc = objfs_err_set(err, -EINVAL, "copy onto itself without replacing metadata");
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&p->lock);
	if (!(b = mem_bucket(p, bucket, err))) {
		rc = mem_bucket_err(bucket);
		goto out;
	}
	if (!(s = mem_find(b, src_key))) {
		rc = objfs_err_set(err, -ENOENT, "no such key");
		goto out;
	}
	if (opts && opts->if_match && strcmp(opts->if_match, s->oi.etag) != 0) {
		rc = objfs_err_set(err, -ESTALE, "source etag differs (if-match)");
		goto out;
	}
	if (opts && opts->if_none_match && strcmp(src_key, dst_key) != 0 &&
	    mem_find(b, dst_key)) {
		rc = objfs_err_set(err, -EEXIST, "destination exists (if-none-match)");
		goto out;
	}
	if (s->oi.size && !(data = malloc((size_t)s->oi.size))) {
		rc = -ENOMEM;
		goto out;
	}
	if (data)
		memcpy(data, s->data, (size_t)s->oi.size);
	rc = mem_obj_new(p, &o, dst_key, &data, s->oi.size, 0,
			 opts ? opts->content_type : s->oi.content_type,
			 opts ? opts->meta : s->oi.meta, opts ? opts->nmeta : s->oi.nmeta);
	if (rc == 0 && etag_out)
		memcpy(etag_out, o.oi.etag, OBJFS_ETAG_MAX);
	if (rc == 0)
		rc = mem_store(b, &o);   /* may free s (same key): nothing reads it after */
out:
	pthread_mutex_unlock(&p->lock);
	mem_obj_clear(&o);
	free(data);
	return rc;
}

/* ---- multipart ---- */

static struct mem_upload *mem_upload(struct objfs_provider *p, const char *bucket,
				     const char *key, const char *id, struct objfs_err *err)
{
	for (struct mem_upload *u = p->uploads; u; u = u->next)
		if (id && strcmp(u->id, id) == 0 && strcmp(u->bucket, bucket) == 0 &&
		    strcmp(u->oi.key, key) == 0)
			return u;
	objfs_err_set(err, -ENOENT, "no such upload (NoSuchUpload)");
	return NULL;
}

static int mem_mpu_create(struct objfs_provider *p, const char *bucket, const char *key,
			  const struct objfs_putopts *opts, char **upload_id,
			  struct objfs_err *err)
{
	struct mem_upload *u = NULL;
	int rc = objfs_key_check(key, err);

	*upload_id = NULL;
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&p->lock);
	if (!mem_bucket(p, bucket, err)) {
		rc = mem_bucket_err(bucket);
		goto out;
	}
	rc = -ENOMEM;
	if (!(u = calloc(1, sizeof(*u))) || !(u->bucket = strdup(bucket)) ||
	    !(u->oi.key = strdup(key)))
		goto out;
	rc = objfs_objinfo_set_meta(&u->oi, opts ? opts->content_type : NULL,
				    opts ? opts->meta : NULL, opts ? opts->nmeta : 0);
	if (rc < 0)
		goto out;
	snprintf(u->id, sizeof(u->id), "mem%029lu", ++p->seq);
	if (!(*upload_id = strdup(u->id))) {
		rc = -ENOMEM;
		goto out;
	}
	u->next = p->uploads;
	p->uploads = u;
	u = NULL;
out:
	pthread_mutex_unlock(&p->lock);
	mem_upload_free(u);
	return rc;
}

/* Stores part n (data moved in) into u, replacing an earlier upload of n. */
static int mem_part_store(struct objfs_provider *p, struct mem_upload *u, int n,
			  unsigned char **data, uint64_t size, char *etag_out)
{
	struct mem_part *pt = NULL;

	for (size_t i = 0; i < u->nparts; i++)
		if (u->parts[i].number == n)
			pt = &u->parts[i];
	if (!pt) {
		struct mem_part *np = realloc(u->parts, (u->nparts + 1) * sizeof(*np));
		if (!np)
			return -ENOMEM;
		u->parts = np;
		pt = &u->parts[u->nparts++];
		memset(pt, 0, sizeof(*pt));
		pt->number = n;
	}
	free(pt->data);
	pt->data = *data;
	*data = NULL;
	pt->size = size;
	mem_etag(p, pt->etag, 0);
	if (etag_out)
		memcpy(etag_out, pt->etag, OBJFS_ETAG_MAX);
	return 0;
}

static int mem_mpu_upload_part(struct objfs_provider *p, const char *bucket,
			       const char *key, const char *upload_id, int part_number,
			       uint64_t off, const struct objfs_source *src, char *etag_out,
			       struct objfs_err *err)
{
	unsigned char *data = NULL;
	struct mem_upload *u;
	int rc = 0;

	if (part_number < 1 || part_number > MEM_MAX_PARTS)
		return objfs_err_set(err, -EINVAL, "part number out of range");
	rc = mem_read_source(src, &data, err);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&p->lock);
	if (!(u = mem_upload(p, bucket, key, upload_id, err)))
		rc = -ENOENT;
	else
		rc = mem_part_store(p, u, part_number, &data, src ? src->size : 0, etag_out);
	pthread_mutex_unlock(&p->lock);
	free(data);
	return rc;
}

static int mem_mpu_upload_part_copy(struct objfs_provider *p, const char *bucket,
				    const char *key, const char *upload_id,
				    int part_number, const char *src_key,
				    const char *src_if_match, uint64_t off, uint64_t len,
				    char *etag_out, struct objfs_err *err)
{
	unsigned char *data = NULL;
	struct mem_upload *u;
	struct mem_bucket *b;
	struct mem_obj *s;
	int rc = 0;

	if (part_number < 1 || part_number > MEM_MAX_PARTS)
		return objfs_err_set(err, -EINVAL, "part number out of range");
	pthread_mutex_lock(&p->lock);
	if (!(u = mem_upload(p, bucket, key, upload_id, err))) {
		rc = -ENOENT;
	} else if (!(b = mem_bucket(p, bucket, err)) || !(s = mem_find(b, src_key))) {
		rc = objfs_err_set(err, -ENOENT, "no such source key");
	} else if (src_if_match && strcmp(src_if_match, s->oi.etag) != 0) {
		rc = objfs_err_set(err, -ESTALE, "source etag differs (if-match)");
	} else if (off > s->oi.size || len > s->oi.size - off) {
		rc = objfs_err_set(err, -EINVAL, "range beyond source (InvalidRange)");
	} else if (len && !(data = malloc((size_t)len))) {
		rc = -ENOMEM;
	} else {
		if (len)
			memcpy(data, s->data + off, (size_t)len);
		rc = mem_part_store(p, u, part_number, &data, len, etag_out);
	}
	pthread_mutex_unlock(&p->lock);
	free(data);
	return rc;
}

static void mem_upload_unlink(struct objfs_provider *p, struct mem_upload *u)
{
	for (struct mem_upload **pp = &p->uploads; *pp; pp = &(*pp)->next)
		if (*pp == u) {
			*pp = u->next;
			break;
		}
	mem_upload_free(u);
}

static const struct mem_part *mem_part_find(const struct mem_upload *u, int n)
{
	for (size_t i = 0; i < u->nparts; i++)
		if (u->parts[i].number == n)
			return &u->parts[i];
	return NULL;
}

static int mem_mpu_complete(struct objfs_provider *p, const char *bucket, const char *key,
			    const char *upload_id, const struct objfs_part *parts,
			    size_t nparts, char *etag_out, struct objfs_err *err)
{
	struct mem_obj o = { 0 };
	unsigned char *data = NULL;
	struct mem_upload *u;
	struct mem_bucket *b;
	uint64_t total = 0, pos = 0;
	int rc = 0;

	pthread_mutex_lock(&p->lock);
	if (!(u = mem_upload(p, bucket, key, upload_id, err)) || !(b = mem_bucket(p, bucket, err))) {
		rc = -ENOENT;
		goto out;
	}
	if (nparts == 0 || nparts > MEM_MAX_PARTS || !parts) {
		rc = objfs_err_set(err, -EINVAL, "complete needs 1..%d parts", MEM_MAX_PARTS);
		goto out;
	}
	for (size_t i = 0; i < nparts; i++) {
		const struct mem_part *pt = mem_part_find(u, parts[i].number);
		if (i > 0 && parts[i].number <= parts[i - 1].number) {
			rc = objfs_err_set(err, -EINVAL, "parts not ascending (InvalidPartOrder)");
			goto out;
		}
		if (!pt || strcmp(pt->etag, parts[i].etag) != 0) {
			rc = objfs_err_set(err, -EINVAL, "part %d (InvalidPart)", parts[i].number);
			goto out;
		}
		if (i + 1 < nparts && pt->size < objfs_provider_mem.mpu_min_part) {
			rc = objfs_err_set(err, -EINVAL, "part %d too small (EntityTooSmall)",
					   parts[i].number);
			goto out;
		}
		total += pt->size;
	}
	if (total && !(data = malloc((size_t)total))) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < nparts; i++) {
		const struct mem_part *pt = mem_part_find(u, parts[i].number);
		if (pt->size)
			memcpy(data + pos, pt->data, (size_t)pt->size);
		pos += pt->size;
	}
	rc = mem_obj_new(p, &o, key, &data, total, nparts, u->oi.content_type, u->oi.meta,
			 u->oi.nmeta);
	/* S3's multipart ETag, from the parts' (random) ETags */
	if (rc == 0)
		objfs_mpu_etag(parts, nparts, o.oi.etag);
	if (rc == 0 && etag_out)
		memcpy(etag_out, o.oi.etag, OBJFS_ETAG_MAX);
	if (rc == 0)
		rc = mem_store(b, &o);
	if (rc == 0)
		mem_upload_unlink(p, u);
out:
	pthread_mutex_unlock(&p->lock);
	mem_obj_clear(&o);
	free(data);
	return rc;
}

static int mem_mpu_abort(struct objfs_provider *p, const char *bucket, const char *key,
			 const char *upload_id, struct objfs_err *err)
{
	struct mem_upload *u;
	int rc = 0;

	pthread_mutex_lock(&p->lock);
	if (!(u = mem_upload(p, bucket, key, upload_id, err)))
		rc = -ENOENT;
	else
		mem_upload_unlink(p, u);
	pthread_mutex_unlock(&p->lock);
	return rc;
}

static int mem_part_cmp(const void *a, const void *b)
{
	const struct objfs_part *x = a, *y = b;

	return (x->number > y->number) - (x->number < y->number);
}

static int mem_mpu_list_parts(struct objfs_provider *p, const char *bucket,
			      const char *key, const char *upload_id,
			      struct objfs_part **parts, size_t *nparts,
			      struct objfs_err *err)
{
	struct mem_upload *u;
	int rc = 0;

	*parts = NULL;
	*nparts = 0;
	pthread_mutex_lock(&p->lock);
	if (!(u = mem_upload(p, bucket, key, upload_id, err))) {
		rc = -ENOENT;
	} else if (u->nparts) {
		*parts = calloc(u->nparts, sizeof(**parts));
		if (!*parts) {
			rc = -ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < u->nparts; i++) {
			(*parts)[i].number = u->parts[i].number;
			(*parts)[i].size = u->parts[i].size;
			memcpy((*parts)[i].etag, u->parts[i].etag, OBJFS_ETAG_MAX);
		}
		*nparts = u->nparts;
		qsort(*parts, *nparts, sizeof(**parts), mem_part_cmp);
	}
out:
	pthread_mutex_unlock(&p->lock);
	return rc;
}

/* ---- presign, health, buckets ---- */

static int mem_presign(struct objfs_provider *p, const char *bucket, const char *key,
		       const char *method, unsigned ttl_s, char **url,
		       struct objfs_err *err)
{
	char sig[OBJFS_PRESIGN_HEX_LEN];
	time_t expires;
	int rc;

	*url = NULL;
	rc = objfs_bucket_check(bucket, err);
	if (rc == 0)
		rc = objfs_key_check(key, err);
	if (rc < 0)
		return rc;
	if (!method || (strcmp(method, "GET") != 0 && strcmp(method, "PUT") != 0))
		return objfs_err_set(err, -EINVAL, "presign method must be GET or PUT");
	if (ttl_s < 1 || ttl_s > OBJFS_PRESIGN_TTL_MAX)
		return objfs_err_set(err, -EINVAL, "presign ttl must be 1..%d seconds",
				     OBJFS_PRESIGN_TTL_MAX);
	expires = (p->clock ? p->clock() : time(NULL)) + (time_t)ttl_s;
	rc = objfs_local_presign_sign((const unsigned char *)OBJFS_MEM_PRESIGN_SECRET,
				      OBJFS_PRESIGN_SECRET_LEN, method, bucket, key, expires, sig);
	if (rc < 0)
		return rc;
	if (asprintf(url, "mem://%s/%s?X-Objfs-Method=%s&X-Objfs-Expires=%lld"
		     "&X-Objfs-Signature=%s", bucket, key, method, (long long)expires, sig) < 0) {
		*url = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* Checks a URL of mem_presign (the fixed test secret) at the provider's clock. */
static int mem_presign_check(struct objfs_provider *p, const char *method, const char *bucket,
			     const char *key, const char *expires, const char *signature,
			     struct objfs_err *err)
{
	return objfs_local_presign_verify((const unsigned char *)OBJFS_MEM_PRESIGN_SECRET,
					  OBJFS_PRESIGN_SECRET_LEN, method, bucket, key, expires,
					  signature, p->clock ? p->clock() : time(NULL), err);
}

static int mem_bucket_exists(struct objfs_provider *p, const char *bucket,
			     struct objfs_err *err)
{
	int rc = 0;

	pthread_mutex_lock(&p->lock);
	if (!mem_bucket(p, bucket, err))
		rc = mem_bucket_err(bucket);
	pthread_mutex_unlock(&p->lock);
	return rc;
}

static int mem_health(struct objfs_provider *p, const char *bucket,
		      struct objfs_health *out, struct objfs_err *err)
{
	memset(out, 0, sizeof(*out));
	if (bucket && mem_bucket_exists(p, bucket, NULL) < 0) {
		out->state = OBJFS_HEALTH_NO_BUCKET;
		snprintf(out->detail, sizeof(out->detail), "bucket '%s' missing", bucket);
	} else {
		snprintf(out->detail, sizeof(out->detail), "ok");
	}
	return 0;
}

static int mem_bucket_create(struct objfs_provider *p, const char *bucket,
			     struct objfs_err *err)
{
	struct mem_bucket *nb;
	int rc = objfs_bucket_check(bucket, err);

	if (rc < 0)
		return rc;
	pthread_mutex_lock(&p->lock);
	if (mem_bucket(p, bucket, NULL))
		goto out;
	nb = realloc(p->buckets, (p->nbuckets + 1) * sizeof(*nb));
	if (!nb) {
		rc = -ENOMEM;
		goto out;
	}
	p->buckets = nb;
	memset(&nb[p->nbuckets], 0, sizeof(*nb));
	if (!(nb[p->nbuckets].name = strdup(bucket)))
		rc = -ENOMEM;
	else
		p->nbuckets++;
out:
	pthread_mutex_unlock(&p->lock);
	return rc;
}

const struct objfs_provider_ops objfs_provider_mem = {
	.type = "mem",
	.caps = OBJFS_CAP_LOCAL_READS | OBJFS_CAP_PART_COPY,
	.mpu_threshold = 8 * 1024 * 1024,   /* so unit tests of write-back see multipart */
	.mpu_min_part = 1024 * 1024,
	.open = mem_open,
	.close = mem_close,
	.head = mem_head,
	.get = mem_get,
	.put = mem_put,
	.list = mem_list,
	.del = mem_del,
	.del_batch = mem_del_batch,
	.copy = mem_copy,
	.mpu_create = mem_mpu_create,
	.mpu_upload_part = mem_mpu_upload_part,
	.mpu_upload_part_copy = mem_mpu_upload_part_copy,
	.mpu_complete = mem_mpu_complete,
	.mpu_abort = mem_mpu_abort,
	.mpu_list_parts = mem_mpu_list_parts,
	.presign = mem_presign,
	.presign_check = mem_presign_check,
	.health = mem_health,
	.bucket_exists = mem_bucket_exists,
	.bucket_create = mem_bucket_create,
};
