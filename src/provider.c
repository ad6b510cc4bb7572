/*
 * Provider registry, the objfs_prov_* wrappers and helpers shared by the
 * providers (object info, listings, the ListObjectsV2 page builder).
 *
 * Every wrapper clears err, returns -ENOSYS when the provider lacks the
 * operation, and logs exactly one debug line
 *     prov NAME OP bucket=B key=K rc=RC
 * (integration tests count provider requests from these lines).  A missing
 * bucket or key is logged as "-"; control bytes in keys are written as %XX so
 * the line stays one line.  Each call is also timed and counted in the
 * metrics (objfs_metrics_prov_op: a few atomic adds, nothing when metrics
 * are off), with the object bytes that puts, parts and gets moved.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "objfs/provider.h"
#include "log.h"
#include "metrics.h"
#include "strutil.h"

static const struct objfs_provider_ops *const prov_table[] = {
	&objfs_provider_local,
	&objfs_provider_mem,
	&objfs_provider_s3,
	&objfs_provider_gcs,
	&objfs_provider_azure,
};

const struct objfs_provider_ops *objfs_provider_lookup(const char *type)
{
	if (!type)
		return NULL;
	for (size_t i = 0; i < sizeof(prov_table) / sizeof(prov_table[0]); i++)
		if (strcmp(prov_table[i]->type, type) == 0)
			return prov_table[i];
	return NULL;
}

int objfs_err_set(struct objfs_err *err, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return rc;
}

static void prov_err_clear(struct objfs_err *err)
{
	if (err)
		err->msg[0] = '\0';
}

int objfs_prov_open(const struct objfs_provider_conf *conf, struct objfs_prov **out,
		    struct objfs_err *err)
{
	const struct objfs_provider_ops *ops;
	struct objfs_prov *p = NULL;
	int rc;

	prov_err_clear(err);
	*out = NULL;
	ops = objfs_provider_lookup(conf->type);
	if (!ops) {
		rc = objfs_err_set(err, -EINVAL, "unknown provider type '%s'",
				   conf->type ? conf->type : "(none)");
		goto out;
	}
	p = calloc(1, sizeof(*p));
	if (!p || !(p->name = strdup(conf->name ? conf->name : ops->type))) {
		rc = objfs_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	p->ops = ops;
	rc = ops->open(conf, &p->impl, err);
	if (rc < 0)
		goto out;
	*out = p;
	p = NULL;
out:
	objfs_prov_free(p);
	return rc;
}

unsigned objfs_prov_caps(const struct objfs_prov *p)
{
	return p->ops->instance_caps ? p->ops->instance_caps(p->impl) : p->ops->caps;
}

void objfs_prov_free(struct objfs_prov *p)
{
	if (!p)
		return;
	if (p->impl && p->ops->close)
		p->ops->close(p->impl);
	free(p->name);
	free(p);
}

const char *objfs_health_state_name(enum objfs_health_state s)
{
	switch (s) {
	case OBJFS_HEALTH_OK: return "ok";
	case OBJFS_HEALTH_UNREACHABLE: return "unreachable";
	case OBJFS_HEALTH_AUTH: return "auth-failed";
	case OBJFS_HEALTH_NO_BUCKET: return "no-bucket";
	case OBJFS_HEALTH_CLOCK_SKEW: return "clock-skew";
	case OBJFS_HEALTH_DEGRADED: return "degraded";
	}
	return "unknown";
}

static void prov_log(const struct objfs_prov *p, const char *op, const char *bucket,
		     const char *key, int rc)
{
	char b[128], k[1536];

	log_debug("prov %s %s bucket=%s key=%s rc=%d", p->name, op,
		  objfs_log_safe(bucket, b, sizeof(b)), objfs_log_safe(key, k, sizeof(k)), rc);
}

static int64_t prov_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int key_too_long(const char *key)
{
	return key && strnlen(key, OBJFS_KEY_MAX + 1) > OBJFS_KEY_MAX;
}

/*
 * The body of every wrapper: clear err, -ENOSYS for a missing op,
 * -ENAMETOOLONG for a key (or prefix) past OBJFS_KEY_MAX whatever the store
 * would say, one log line, one metrics record.  mkey is the key that names the tenant for the
 * metrics; UP and DOWN (evaluated only on success) the object bytes moved.
 */
#define PROV_CALL_X(opname, OPID, bucket, key, mkey, UP, DOWN, ...)             \
	do {                                                                    \
		int64_t t0_ = prov_now_ns();                                    \
		int rc_;                                                        \
		prov_err_clear(err);                                            \
		if (!p->ops->opname)                                            \
			rc_ = objfs_err_set(err, -ENOSYS, "%s: %s not supported", \
					    p->ops->type, #opname);             \
		else if (key_too_long(key))                                     \
			rc_ = objfs_err_set(err, -ENAMETOOLONG,                 \
					    "key longer than %d bytes", OBJFS_KEY_MAX); \
		else                                                            \
			rc_ = p->ops->opname(p->impl, __VA_ARGS__);             \
		prov_log(p, #opname, bucket, key, rc_);                         \
		objfs_metrics_prov_op(p, OPID, bucket, mkey, rc_,               \
				      prov_now_ns() - t0_,                      \
				      rc_ == 0 ? (uint64_t)(UP) : 0,            \
				      rc_ == 0 ? (uint64_t)(DOWN) : 0);         \
		return rc_;                                                     \
	} while (0)
#define PROV_CALL(opname, OPID, bucket, key, ...) \
	PROV_CALL_X(opname, OPID, bucket, key, key, 0, 0, __VA_ARGS__)

int objfs_prov_head(struct objfs_prov *p, const char *bucket, const char *key,
		    struct objfs_objinfo *out, struct objfs_err *err)
{
	PROV_CALL(head, OBJFS_PROVOP_HEAD, bucket, key, bucket, key, out, err);
}

int objfs_prov_get(struct objfs_prov *p, const char *bucket, const char *key,
		   uint64_t off, uint64_t len, const char *if_match, void *buf,
		   uint64_t *got, struct objfs_err *err)
{
	PROV_CALL_X(get, OBJFS_PROVOP_GET, bucket, key, key, 0, got ? *got : 0,
		    bucket, key, off, len, if_match, buf, got, err);
}

int objfs_prov_put(struct objfs_prov *p, const char *bucket, const char *key,
		   const struct objfs_source *src, const struct objfs_putopts *opts,
		   char *etag_out, struct objfs_err *err)
{
	PROV_CALL_X(put, OBJFS_PROVOP_PUT, bucket, key, key, src ? src->size : 0, 0,
		    bucket, key, src, opts, etag_out, err);
}

int objfs_prov_list(struct objfs_prov *p, const char *bucket, const char *prefix,
		    const char *delimiter, const char *token, unsigned max_keys,
		    struct objfs_listing *out, struct objfs_err *err)
{
	PROV_CALL(list, OBJFS_PROVOP_LIST, bucket, prefix, bucket, prefix, delimiter, token,
		  max_keys, out, err);
}

int objfs_prov_del(struct objfs_prov *p, const char *bucket, const char *key,
		   struct objfs_err *err)
{
	PROV_CALL(del, OBJFS_PROVOP_DEL, bucket, key, bucket, key, err);
}

int objfs_prov_del_batch(struct objfs_prov *p, const char *bucket,
			 const char *const *keys, size_t nkeys, int *results,
			 struct objfs_err *err)
{
	/* the batch is one tenant's: its first key names it */
	PROV_CALL_X(del_batch, OBJFS_PROVOP_DEL_BATCH, bucket, NULL, keys && nkeys ? keys[0] : NULL,
		    0, 0, bucket, keys, nkeys, results, err);
}

int objfs_prov_copy(struct objfs_prov *p, const char *bucket, const char *src_key,
		    const char *dst_key, const struct objfs_putopts *opts,
		    char *etag_out, struct objfs_err *err)
{
	PROV_CALL(copy, OBJFS_PROVOP_COPY, bucket, dst_key, bucket, src_key, dst_key, opts,
		  etag_out, err);
}

int objfs_prov_mpu_create(struct objfs_prov *p, const char *bucket, const char *key,
			  const struct objfs_putopts *opts, char **upload_id,
			  struct objfs_err *err)
{
	PROV_CALL(mpu_create, OBJFS_PROVOP_MPU_CREATE, bucket, key, bucket, key, opts, upload_id,
		  err);
}

int objfs_prov_mpu_upload_part(struct objfs_prov *p, const char *bucket,
			       const char *key, const char *upload_id, int part_number,
			       uint64_t off, const struct objfs_source *src, char *etag_out,
			       struct objfs_err *err)
{
	PROV_CALL_X(mpu_upload_part, OBJFS_PROVOP_MPU_UPLOAD_PART, bucket, key, key,
		    src ? src->size : 0, 0, bucket, key, upload_id, part_number, off, src, etag_out,
		    err);
}

int objfs_prov_mpu_upload_part_copy(struct objfs_prov *p, const char *bucket,
				    const char *key, const char *upload_id,
				    int part_number, const char *src_key,
				    const char *src_if_match, uint64_t off, uint64_t len,
				    char *etag_out, struct objfs_err *err)
{
	PROV_CALL(mpu_upload_part_copy, OBJFS_PROVOP_MPU_UPLOAD_PART_COPY, bucket, key, bucket, key,
		  upload_id, part_number, src_key, src_if_match, off, len, etag_out, err);
}

int objfs_prov_mpu_complete(struct objfs_prov *p, const char *bucket, const char *key,
			    const char *upload_id, const struct objfs_part *parts,
			    size_t nparts, char *etag_out, struct objfs_err *err)
{
	PROV_CALL(mpu_complete, OBJFS_PROVOP_MPU_COMPLETE, bucket, key, bucket, key, upload_id,
		  parts, nparts, etag_out, err);
}

int objfs_prov_mpu_abort(struct objfs_prov *p, const char *bucket, const char *key,
			 const char *upload_id, struct objfs_err *err)
{
	PROV_CALL(mpu_abort, OBJFS_PROVOP_MPU_ABORT, bucket, key, bucket, key, upload_id, err);
}

int objfs_prov_mpu_list_parts(struct objfs_prov *p, const char *bucket,
			      const char *key, const char *upload_id,
			      struct objfs_part **parts, size_t *nparts,
			      struct objfs_err *err)
{
	PROV_CALL(mpu_list_parts, OBJFS_PROVOP_MPU_LIST_PARTS, bucket, key, bucket, key, upload_id,
		  parts, nparts, err);
}

int objfs_prov_mpu_list_uploads(struct objfs_prov *p, const char *bucket,
				const char *prefix, struct objfs_mpu_info **out, size_t *n,
				struct objfs_err *err)
{
	*out = NULL;
	*n = 0;
	PROV_CALL(mpu_list_uploads, OBJFS_PROVOP_MPU_LIST_UPLOADS, bucket, prefix, bucket, prefix,
		  out, n, err);
}

int objfs_prov_set_defaults(struct objfs_prov *p, const char *bucket, const char *prefix,
			    const struct objfs_store_defaults *d, struct objfs_err *err)
{
	PROV_CALL(set_defaults, OBJFS_PROVOP_SET_DEFAULTS, bucket, prefix, bucket, prefix, d, err);
}

void objfs_mpu_info_free(struct objfs_mpu_info *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].key);
		free(v[i].upload_id);
	}
	free(v);
}

int objfs_prov_presign(struct objfs_prov *p, const char *bucket, const char *key,
		       const char *method, unsigned ttl_s, char **url,
		       struct objfs_err *err)
{
	PROV_CALL(presign, OBJFS_PROVOP_PRESIGN, bucket, key, bucket, key, method, ttl_s, url,
		  err);
}

void objfs_presign_out_clear(struct objfs_presign_out *o)
{
	for (size_t i = 0; i < o->nheaders; i++) {
		free(o->headers[i].key);
		free(o->headers[i].value);
	}
	memset(o, 0, sizeof(*o));
}

int objfs_presign_out_header(struct objfs_presign_out *o, const char *k, const char *v)
{
	struct objfs_kv *kv;

	if (o->nheaders >= OBJFS_PRESIGN_MAX_HEADERS)
		return -E2BIG;
	kv = &o->headers[o->nheaders];
	kv->key = strdup(k);
	kv->value = strdup(v);
	if (!kv->key || !kv->value) {
		free(kv->key);
		free(kv->value);
		kv->key = kv->value = NULL;
		return -ENOMEM;
	}
	o->nheaders++;
	return 0;
}

int objfs_prov_presign_put(struct objfs_prov *p, const char *bucket, const char *key,
			   unsigned ttl_s, const struct objfs_presign_cond *cond,
			   struct objfs_presign_out *out, char **url, struct objfs_err *err)
{
	memset(out, 0, sizeof(*out));
	if (!p->ops->presign_put)
		return objfs_prov_presign(p, bucket, key, "PUT", ttl_s, url, err);
	PROV_CALL(presign_put, OBJFS_PROVOP_PRESIGN, bucket, key, bucket, key, ttl_s, cond, out,
		  url, err);
}

int objfs_prov_presign_check(struct objfs_prov *p, const char *method, const char *bucket,
			     const char *key, const char *expires, const char *signature,
			     struct objfs_err *err)
{
	PROV_CALL(presign_check, OBJFS_PROVOP_PRESIGN_CHECK, bucket, key, method, bucket, key,
		  expires, signature, err);
}

int objfs_prov_health(struct objfs_prov *p, const char *bucket,
		      struct objfs_health *out, struct objfs_err *err)
{
	PROV_CALL(health, OBJFS_PROVOP_HEALTH, bucket, NULL, bucket, out, err);
}

int objfs_prov_bucket_exists(struct objfs_prov *p, const char *bucket,
			     struct objfs_err *err)
{
	PROV_CALL(bucket_exists, OBJFS_PROVOP_BUCKET_EXISTS, bucket, NULL, bucket, err);
}

int objfs_prov_bucket_create(struct objfs_prov *p, const char *bucket,
			     struct objfs_err *err)
{
	PROV_CALL(bucket_create, OBJFS_PROVOP_BUCKET_CREATE, bucket, NULL, bucket, err);
}

/* ---- object info and listings ---- */

void objfs_objinfo_clear(struct objfs_objinfo *oi)
{
	if (!oi)
		return;
	free(oi->key);
	free(oi->content_type);
	for (size_t i = 0; i < oi->nmeta; i++) {
		free(oi->meta[i].key);
		free(oi->meta[i].value);
	}
	free(oi->meta);
	memset(oi, 0, sizeof(*oi));
}

int objfs_objinfo_copy(struct objfs_objinfo *dst, const struct objfs_objinfo *src)
{
	int rc = -ENOMEM;

	memset(dst, 0, sizeof(*dst));
	dst->size = src->size;
	dst->mtime_ns = src->mtime_ns;
	dst->has_meta = src->has_meta;
	memcpy(dst->etag, src->etag, sizeof(dst->etag));
	if (src->key && !(dst->key = strdup(src->key)))
		goto out;
	if (src->content_type && !(dst->content_type = strdup(src->content_type)))
		goto out;
	if (src->nmeta) {
		dst->meta = calloc(src->nmeta, sizeof(*dst->meta));
		if (!dst->meta)
			goto out;
		for (; dst->nmeta < src->nmeta; dst->nmeta++) {
			struct objfs_kv *kv = &dst->meta[dst->nmeta];
			kv->key = strdup(src->meta[dst->nmeta].key);
			kv->value = strdup(src->meta[dst->nmeta].value);
			if (!kv->key || !kv->value) {
				dst->nmeta++;   /* so clear frees the half-filled pair */
				goto out;
			}
		}
	}
	rc = 0;
out:
	if (rc < 0)
		objfs_objinfo_clear(dst);
	return rc;
}

int objfs_objinfo_set_meta(struct objfs_objinfo *oi, const char *content_type,
			   const struct objfs_kv *meta, size_t nmeta)
{
	struct objfs_kv *nm = NULL;
	char *ct = NULL;
	size_t n = 0;
	int rc = -ENOMEM;

	ct = strdup(content_type ? content_type : "application/octet-stream");
	if (!ct)
		goto out;
	if (nmeta && !(nm = calloc(nmeta, sizeof(*nm))))
		goto out;
	for (; n < nmeta; n++) {
		if (!meta[n].key || !meta[n].value) {
			rc = -EINVAL;
			goto out;
		}
		nm[n].key = strdup(meta[n].key);
		nm[n].value = strdup(meta[n].value);
		if (!nm[n].key || !nm[n].value) {
			n++;
			goto out;
		}
	}
	for (size_t i = 0; i < oi->nmeta; i++) {
		free(oi->meta[i].key);
		free(oi->meta[i].value);
	}
	free(oi->meta);
	free(oi->content_type);
	oi->meta = nm;
	oi->nmeta = nmeta;
	oi->content_type = ct;
	oi->has_meta = 1;
	nm = NULL;
	ct = NULL;
	n = 0;
	rc = 0;
out:
	for (size_t i = 0; i < n; i++) {
		free(nm[i].key);
		free(nm[i].value);
	}
	free(nm);
	free(ct);
	return rc;
}

const char *objfs_objinfo_meta(const struct objfs_objinfo *oi, const char *k)
{
	for (size_t i = 0; i < oi->nmeta; i++)
		if (strcmp(oi->meta[i].key, k) == 0)
			return oi->meta[i].value;
	return NULL;
}

void objfs_listing_clear(struct objfs_listing *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->nobjects; i++)
		objfs_objinfo_clear(&l->objects[i]);
	free(l->objects);
	for (size_t i = 0; i < l->nprefixes; i++)
		free(l->prefixes[i]);
	free(l->prefixes);
	free(l->next_token);
	memset(l, 0, sizeof(*l));
}

/* ---- key and bucket checks ---- */

int objfs_key_check(const char *key, struct objfs_err *err)
{
	size_t n;

	if (!key || !*key)
		return objfs_err_set(err, -EINVAL, "empty key");
	n = strnlen(key, OBJFS_KEY_MAX + 1);
	if (n > OBJFS_KEY_MAX)
		return objfs_err_set(err, -ENAMETOOLONG, "key longer than %d bytes",
				     OBJFS_KEY_MAX);
	return 0;
}

int objfs_bucket_check(const char *bucket, struct objfs_err *err)
{
	size_t n = bucket ? strnlen(bucket, 64) : 0;
	int rc = -EINVAL;

	if (n < 3 || n > 63)
		goto out;
	for (size_t i = 0; i < n; i++) {
		char c = bucket[i];
		int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (!alnum && c != '.' && c != '-')
			goto out;
		if ((i == 0 || i == n - 1) && !alnum)
			goto out;
		if (c == '.' && bucket[i + 1] == '.')
			goto out;
	}
	rc = 0;
out:
	if (rc < 0)
		objfs_err_set(err, rc, "invalid bucket name");
	return rc;
}

int objfs_bucket_check_type(const char *type, const char *bucket, struct objfs_err *err)
{
	int rc = objfs_bucket_check(bucket, err);

	if (rc || !type)
		return rc;
	if (strcmp(type, "azure") == 0) {
		/* containers: lowercase letters, digits and single hyphens */
		if (strchr(bucket, '.'))
			return objfs_err_set(err, -EINVAL, "an Azure container name has no dots");
		if (strstr(bucket, "--"))
			return objfs_err_set(err, -EINVAL,
					     "an Azure container name has no consecutive hyphens");
	} else if (strcmp(type, "gcs") == 0) {
		if (strncmp(bucket, "goog", 4) == 0 || strstr(bucket, "google") ||
		    strstr(bucket, "g00gle"))
			return objfs_err_set(err, -EINVAL,
					     "a GCS bucket name may not start with \"goog\" or contain"
					     " \"google\"");
	}
	return 0;
}

/* ---- ListObjectsV2 page builder ---- */

static int listb_starts(const char *s, const char *pfx, size_t plen)
{
	return strncmp(s, pfx, plen) == 0;
}

/* The length of the common prefix that s (which starts with b->prefix) rolls
 * into: up to and including the first delimiter after the prefix; 0 if none. */
static size_t listb_cp_len_raw(const struct objfs_listb *b, const char *s)
{
	const char *d;

	if (!b->delim)
		return 0;
	d = strstr(s + b->plen, b->delim);
	return d ? (size_t)(d - s) + b->dlen : 0;
}

void objfs_listb_init(struct objfs_listb *b, const char *prefix, const char *delim,
		      const char *token, unsigned max_keys, struct objfs_listing *out)
{
	memset(b, 0, sizeof(*b));
	memset(out, 0, sizeof(*out));
	b->prefix = prefix ? prefix : "";
	b->plen = strlen(b->prefix);
	if (delim && *delim) {
		b->delim = delim;
		b->dlen = strlen(delim);
	}
	b->token = token && *token ? token : NULL;
	b->max_keys = max_keys == 0 || max_keys > OBJFS_LIST_MAX_KEYS ?
		      OBJFS_LIST_MAX_KEYS : max_keys;
	b->out = out;
	if (b->token && listb_starts(b->token, b->prefix, b->plen))
		b->token_is_prefix = listb_cp_len_raw(b, b->token) == strlen(b->token);
}

size_t objfs_listb_cp_len(const struct objfs_listb *b, const char *key)
{
	if (!listb_starts(key, b->prefix, b->plen))
		return 0;
	return listb_cp_len_raw(b, key);
}

int objfs_listb_classify(const struct objfs_listb *b, const char *key)
{
	size_t cp;

	if (!listb_starts(key, b->prefix, b->plen))
		return OBJFS_LISTB_SKIP;
	cp = listb_cp_len_raw(b, key);
	if (cp == 0) {
		if (b->token && strcmp(key, b->token) <= 0)
			return OBJFS_LISTB_SKIP;
		return OBJFS_LISTB_KEY;
	}
	/* The item is key[0, cp): compare it with the token and the last prefix. */
	if (b->token) {
		size_t tl = strlen(b->token);
		int c = memcmp(key, b->token, cp < tl ? cp : tl);
		if (c < 0 || (c == 0 && cp <= tl))
			return OBJFS_LISTB_SKIP;
	}
	if (b->out->nprefixes) {
		const char *last = b->out->prefixes[b->out->nprefixes - 1];
		if (strlen(last) == cp && memcmp(last, key, cp) == 0)
			return OBJFS_LISTB_SKIP;
	}
	return OBJFS_LISTB_PREFIX;
}

int objfs_listb_prunable(const struct objfs_listb *b, const char *sub, size_t sublen)
{
	size_t tl;
	int c;

	if (!b->token)
		return 0;
	tl = strlen(b->token);
	c = memcmp(sub, b->token, sublen < tl ? sublen : tl);
	/* sub < token and not a prefix of it: every extension of sub is < token. */
	if (c < 0)
		return 1;
	/* Under a common-prefix token: everything rolls into that prefix. */
	if (c == 0 && sublen >= tl && b->token_is_prefix)
		return 1;
	return 0;
}

int objfs_listb_full(const struct objfs_listb *b)
{
	return b->out->nobjects + b->out->nprefixes >= b->max_keys;
}

int objfs_listb_truncate(struct objfs_listb *b)
{
	if (!b->last)
		return 0;
	free(b->out->next_token);
	b->out->next_token = strdup(b->last);
	return b->out->next_token ? 0 : -ENOMEM;
}

/* Returns arr grown to hold n + 1 elem-sized items (capacity *cap), or NULL
 * (arr is then unchanged). */
static void *listb_grow(void *arr, size_t *cap, size_t n, size_t elem)
{
	void *na;
	size_t ncap;

	if (n < *cap)
		return arr;
	ncap = *cap ? *cap * 2 : 16;
	na = realloc(arr, ncap * elem);
	if (na)
		*cap = ncap;
	return na;
}

int objfs_listb_add_object(struct objfs_listb *b, struct objfs_objinfo *oi)
{
	struct objfs_listing *l = b->out;
	struct objfs_objinfo *na;

	na = listb_grow(l->objects, &b->cap_objects, l->nobjects, sizeof(*na));
	if (!na)
		return -ENOMEM;
	l->objects = na;
	l->objects[l->nobjects] = *oi;
	b->last = l->objects[l->nobjects].key;
	l->nobjects++;
	memset(oi, 0, sizeof(*oi));
	return 0;
}

int objfs_listb_add_prefix(struct objfs_listb *b, const char *key)
{
	struct objfs_listing *l = b->out;
	size_t cp = objfs_listb_cp_len(b, key);
	char **np;
	char *s;

	if (cp == 0)
		return -EINVAL;
	np = listb_grow(l->prefixes, &b->cap_prefixes, l->nprefixes, sizeof(*np));
	if (!np)
		return -ENOMEM;
	l->prefixes = np;
	s = strndup(key, cp);
	if (!s)
		return -ENOMEM;
	l->prefixes[l->nprefixes++] = s;
	b->last = s;
	return 0;
}

int objfs_mpu_etag(const struct objfs_part *parts, size_t n, char out[OBJFS_ETAG_MAX])
{
	static const char hexd[] = "0123456789abcdef";
	unsigned char sum[EVP_MAX_MD_SIZE];
	unsigned sumlen = 0;
	EVP_MD_CTX *md;
	int rc = 0;

	if (!n || !(md = EVP_MD_CTX_new()))
		return -EINVAL;
	if (EVP_DigestInit_ex(md, EVP_md5(), NULL) != 1)
		rc = -EINVAL;
	for (size_t i = 0; i < n && !rc; i++) {
		const char *pe = parts[i].etag;
		unsigned char bin[16];

		for (int k = 0; k < 16 && !rc; k++) {
			int hi = objfs_hexval(pe[2 * k]), lo = hi < 0 ? -1 : objfs_hexval(pe[2 * k + 1]);

			if (lo < 0)
				rc = -EINVAL;
			else
				bin[k] = (unsigned char)(hi << 4 | lo);
		}
		if (!rc && pe[32])
			rc = -EINVAL;          /* more than 32 digits */
		if (!rc && EVP_DigestUpdate(md, bin, sizeof(bin)) != 1)
			rc = -EINVAL;
	}
	if (!rc && EVP_DigestFinal_ex(md, sum, &sumlen) != 1)
		rc = -EINVAL;
	EVP_MD_CTX_free(md);
	if (rc)
		return rc;
	for (unsigned k = 0; k < sumlen; k++) {
		out[2 * k] = hexd[sum[k] >> 4];
		out[2 * k + 1] = hexd[sum[k] & 15];
	}
	snprintf(out + 2 * sumlen, OBJFS_ETAG_MAX - 2 * sumlen, "-%zu", n);
	return 0;
}
