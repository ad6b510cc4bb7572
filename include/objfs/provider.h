/*
 * objfs provider interface: one table of operations per object store.
 *
 * A provider speaks to one object store (a local directory, S3, GCS, Azure).
 * It knows nothing about FUSE, inodes or the cache: it moves bytes and
 * metadata for (bucket, key) pairs.  Every operation:
 *   - returns 0 or a negative errno (-ENOENT for a missing object or bucket,
 *     -EACCES for denied, -ESTALE when an if-match precondition fails,
 *     -EIO for a failure that survived retries, -EINVAL for bad arguments);
 *   - on failure may write a human-readable message into err (never a secret);
 *   - is thread-safe: the write-back workers and FUSE threads call one
 *     provider instance concurrently.
 * Call providers through the objfs_prov_* wrappers below, which check for
 * unimplemented (NULL) operations and clear err.
 *
 * Metadata is a flat list of key/value strings as the store keeps them (for
 * S3, the x-amz-meta-* headers without that prefix); src/objmeta.c turns the
 * ones objfs uses (mode, uid, gid, mtime, xattrs) into file attributes.
 */
#ifndef OBJFS_PROVIDER_H
#define OBJFS_PROVIDER_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define OBJFS_ETAG_MAX      128    /* bytes of an ETag, including NUL */
#define OBJFS_ERR_MAX       256
#define OBJFS_KEY_MAX       1024   /* longest object key in bytes */
#define OBJFS_NAME_MAX      255    /* longest single path segment in bytes */
#define OBJFS_LIST_MAX_KEYS 1000

/* Capability bits in struct objfs_provider_ops.caps. */
#define OBJFS_CAP_LOCAL_READS 0x1  /* reads are as cheap as a local disk: skip the read cache */
#define OBJFS_CAP_PART_COPY   0x2  /* mpu_upload_part_copy is server side */
/* Parts must be sent one at a time in ascending order, each starting where the
 * previous one ended (a GCS resumable session); the write-back then uploads
 * them sequentially.  Without it, parts may be sent in parallel, in any order. */
#define OBJFS_CAP_SEQUENTIAL_PARTS 0x4

struct objfs_err {
	char msg[OBJFS_ERR_MAX];
};

struct objfs_kv {
	char *key;
	char *value;
};

/* A decoded object description: from head, or one entry of a listing. */
struct objfs_objinfo {
	char *key;                    /* full key; owned */
	uint64_t size;
	int64_t mtime_ns;             /* Last-Modified */
	char etag[OBJFS_ETAG_MAX];    /* opaque version token, without quotes */
	char *content_type;           /* owned, may be NULL */
	struct objfs_kv *meta;        /* owned array of owned strings */
	size_t nmeta;
	int has_meta;                 /* 0 when the listing did not return metadata */
};

/* Frees the members (not the struct itself) and zeroes it; accepts zeroed structs. */
void objfs_objinfo_clear(struct objfs_objinfo *oi);
/* Deep copy of src's members into dst (which must be zeroed). 0 or -ENOMEM. */
int objfs_objinfo_copy(struct objfs_objinfo *dst, const struct objfs_objinfo *src);
/* Value of metadata key k, or NULL. */
const char *objfs_objinfo_meta(const struct objfs_objinfo *oi, const char *k);

/* Replaces oi's content type (NULL: application/octet-stream) and metadata
 * with copies of the arguments; sets has_meta.  0, -EINVAL (a NULL key or
 * value) or -ENOMEM. */
int objfs_objinfo_set_meta(struct objfs_objinfo *oi, const char *content_type,
			   const struct objfs_kv *meta, size_t nmeta);

/* One page of a listing (ListObjectsV2 semantics). */
struct objfs_listing {
	struct objfs_objinfo *objects;   /* keys in byte order */
	size_t nobjects;
	char **prefixes;                 /* common prefixes (with the delimiter), byte order */
	size_t nprefixes;
	char *next_token;                /* NULL when this is the last page; owned */
};
void objfs_listing_clear(struct objfs_listing *l);

/*
 * The body of a put or an uploaded part: a sequence of segments read in order.
 * A segment is either bytes of an open file (fd >= 0, read with pread from
 * off), bytes in memory (buf != NULL), or zeros (fd < 0 and buf == NULL).
 * The provider never closes fds.
 */
struct objfs_seg {
	int fd;
	const void *buf;
	uint64_t off;
	uint64_t len;
};
struct objfs_source {
	const struct objfs_seg *segs;
	size_t nsegs;
	uint64_t size;                   /* sum of segs[].len */
};

/* Options for writes that create an object (put, copy with new metadata, mpu_create). */
struct objfs_putopts {
	const char *content_type;        /* NULL: application/octet-stream */
	const struct objfs_kv *meta;
	size_t nmeta;
	const char *if_match;            /* put only if the current ETag is this (else -ESTALE) */
	int if_none_match;               /* put only if no object exists (else -EEXIST) */
};

struct objfs_part {
	int number;                      /* 1..10000 */
	uint64_t size;
	char etag[OBJFS_ETAG_MAX];
};

/* S3's ETag of a completed multipart upload: the MD5 of the parts' binary
 * MD5s (their ETags) in order, then "-<n>".  0 with it in out, or -EINVAL
 * when a part's ETag is not 32 hex digits (an encrypted or non-S3 store). */
int objfs_mpu_etag(const struct objfs_part *parts, size_t n, char out[OBJFS_ETAG_MAX]);

enum objfs_health_state {
	OBJFS_HEALTH_OK = 0,
	OBJFS_HEALTH_UNREACHABLE,
	OBJFS_HEALTH_AUTH,               /* credentials refused */
	OBJFS_HEALTH_NO_BUCKET,
	OBJFS_HEALTH_CLOCK_SKEW,
	OBJFS_HEALTH_DEGRADED,           /* reachable, but e.g. low on space */
};
/* "ok", "unreachable", "auth-failed", "no-bucket", "clock-skew", "degraded"
 * ("unknown" for anything else): the names health answers use. */
const char *objfs_health_state_name(enum objfs_health_state s);

struct objfs_health {
	enum objfs_health_state state;
	double latency_s;
	char detail[OBJFS_ERR_MAX];
};

/* Per-tenant storage defaults a provider applies to the objects it writes
 * (and, for SSE-C, reads) under (bucket, prefix); see the set_defaults op.
 * Providers without the feature ignore the fields they cannot honour. */
struct objfs_store_defaults {
	const char *sse;                 /* NULL, "AES256", "aws:kms" or "customer" */
	const char *sse_kms_key_id;      /* with "aws:kms"; NULL: the store's default key */
	const unsigned char *sse_c_key;  /* with "customer": 32 raw key bytes */
	const char *storage_class;       /* e.g. "STANDARD_IA"; NULL: the store's default */
	const char *acl;                 /* canned ACL, e.g. "private"; NULL: none sent */
};

/* An unfinished multipart upload, from mpu_list_uploads. */
struct objfs_mpu_info {
	char *key;
	char *upload_id;
	int64_t initiated_ns;            /* 0 when unknown */
};
void objfs_mpu_info_free(struct objfs_mpu_info *v, size_t n);

/* Conditions for a presigned PUT (the presign_put op).  A provider binds
 * what its signature can carry and says so in objfs_presign_out.binds; the
 * rest is the caller's to check when the upload lands (presign_watch.h). */
struct objfs_presign_cond {
	const char *content_type;        /* NULL: any; else the upload must send exactly this */
	int has_size;                    /* size is set: the body must be exactly size bytes */
	uint64_t size;
	uint64_t max_size;               /* 0: none; else the body must be at most this */
};
/* Bits of objfs_presign_out.binds. */
#define OBJFS_PRESIGN_BINDS_TYPE  0x1   /* the store refuses another Content-Type */
#define OBJFS_PRESIGN_BINDS_SIZE  0x2   /* the store refuses a body outside size/max_size */
/* The URL leads to this daemon's own presign server (local provider), which
 * checks every tenant guardrail (read_only, size, quota, types) before it
 * stores anything: nothing is left to check after the upload. */
#define OBJFS_PRESIGN_CHECKED_AT_UPLOAD 0x4
#define OBJFS_PRESIGN_MAX_HEADERS 4
struct objfs_presign_out {
	unsigned binds;                  /* OBJFS_PRESIGN_* */
	/* Headers the uploader must send exactly as given (they are signed);
	 * names and values owned (objfs_presign_out_clear frees them). */
	struct objfs_kv headers[OBJFS_PRESIGN_MAX_HEADERS];
	size_t nheaders;
};
void objfs_presign_out_clear(struct objfs_presign_out *o);
/* Appends a copy of (k, v) to o->headers: 0, -ENOMEM or -E2BIG (full). */
int objfs_presign_out_header(struct objfs_presign_out *o, const char *k, const char *v);

/* Injectable clock (seconds since the epoch), so signing and expiry are testable. */
typedef time_t (*objfs_clock_fn)(void);

/* Provider settings from its [provider NAME] section; strings owned by the config. */
struct objfs_provider_conf {
	const char *name;
	const char *type;
	const char *root;                /* local: directory with one subdirectory per bucket */
	const char *listen;              /* local: host:port serving presigned URLs */
	const char *endpoint;
	const char *region;
	const char *credentials;         /* path of a credentials file (mode 0600) */
	const char *account;             /* azure: storage account name */
	int path_style;
	int parallel_composite;          /* gcs: parallel composite uploads */
	objfs_clock_fn clock;            /* NULL: time(NULL) */
};

struct objfs_provider;               /* a provider instance, private to its file */

struct objfs_provider_ops {
	const char *type;                /* "local", "s3", ... */
	unsigned caps;                   /* OBJFS_CAP_* */
	/* Optional: the capabilities of one instance, when its configuration
	 * changes them (gcs: parallel_composite drops SEQUENTIAL_PARTS); NULL:
	 * caps.  Call objfs_prov_caps(). */
	unsigned (*instance_caps)(const struct objfs_provider *p);
	/* Default size above which write-back uses multipart (0: never, unless the
	 * configuration's multipart_threshold says otherwise). */
	uint64_t mpu_threshold;
	uint64_t mpu_min_part;           /* smallest part but the last (S3: 5 MiB) */
	unsigned mpu_max_parts;          /* most parts in one upload; 0: 10,000 (S3) */

	/* Creates an instance; *out is freed with close. */
	int (*open)(const struct objfs_provider_conf *conf, struct objfs_provider **out,
		    struct objfs_err *err);
	void (*close)(struct objfs_provider *p);

	int (*head)(struct objfs_provider *p, const char *bucket, const char *key,
		    struct objfs_objinfo *out, struct objfs_err *err);
	/* Reads up to len bytes at off into buf; *got is the count (short only at
	 * end of object).  if_match: fail with -ESTALE if the ETag differs. */
	int (*get)(struct objfs_provider *p, const char *bucket, const char *key,
		   uint64_t off, uint64_t len, const char *if_match, void *buf,
		   uint64_t *got, struct objfs_err *err);
	/* Atomic: readers see the old object or the new one, never a mix.
	 * etag_out (OBJFS_ETAG_MAX bytes) receives the new ETag; may be NULL. */
	int (*put)(struct objfs_provider *p, const char *bucket, const char *key,
		   const struct objfs_source *src, const struct objfs_putopts *opts,
		   char *etag_out, struct objfs_err *err);
	/* One page of keys starting with prefix, after the continuation token
	 * (NULL for the first page); max_keys 0 means OBJFS_LIST_MAX_KEYS.
	 * With a delimiter, keys containing it after the prefix roll up into
	 * common prefixes, which count toward max_keys. */
	int (*list)(struct objfs_provider *p, const char *bucket, const char *prefix,
		    const char *delimiter, const char *token, unsigned max_keys,
		    struct objfs_listing *out, struct objfs_err *err);
	/* Deleting a missing key succeeds (S3 semantics). */
	int (*del)(struct objfs_provider *p, const char *bucket, const char *key,
		   struct objfs_err *err);
	/* Deletes up to 1000 keys; results[i] is 0 or a negative errno per key. */
	int (*del_batch)(struct objfs_provider *p, const char *bucket,
			 const char *const *keys, size_t nkeys, int *results,
			 struct objfs_err *err);
	/* Server-side copy within a bucket.  opts NULL: metadata copied from the
	 * source; else the metadata is replaced by opts (a metadata-replacing copy,
	 * src_key == dst_key allowed).  opts->if_match applies to the source. */
	int (*copy)(struct objfs_provider *p, const char *bucket, const char *src_key,
		    const char *dst_key, const struct objfs_putopts *opts,
		    char *etag_out, struct objfs_err *err);

	/* Multipart upload.  upload_id is malloc'ed, the caller frees it. */
	int (*mpu_create)(struct objfs_provider *p, const char *bucket, const char *key,
			  const struct objfs_putopts *opts, char **upload_id,
			  struct objfs_err *err);
	/* Part part_number holds bytes [off, off + src->size) of the object. */
	int (*mpu_upload_part)(struct objfs_provider *p, const char *bucket,
			       const char *key, const char *upload_id, int part_number,
			       uint64_t off, const struct objfs_source *src, char *etag_out,
			       struct objfs_err *err);
	/* Part from a byte range of an existing object (src_if_match: its ETag). */
	int (*mpu_upload_part_copy)(struct objfs_provider *p, const char *bucket,
				    const char *key, const char *upload_id,
				    int part_number, const char *src_key,
				    const char *src_if_match, uint64_t off, uint64_t len,
				    char *etag_out, struct objfs_err *err);
	/* Parts in ascending part-number order; atomic like put. */
	int (*mpu_complete)(struct objfs_provider *p, const char *bucket, const char *key,
			    const char *upload_id, const struct objfs_part *parts,
			    size_t nparts, char *etag_out, struct objfs_err *err);
	int (*mpu_abort)(struct objfs_provider *p, const char *bucket, const char *key,
			 const char *upload_id, struct objfs_err *err);
	/* *parts malloc'ed, caller frees. */
	int (*mpu_list_parts)(struct objfs_provider *p, const char *bucket,
			      const char *key, const char *upload_id,
			      struct objfs_part **parts, size_t *nparts,
			      struct objfs_err *err);

	/* Unfinished multipart uploads of keys starting with prefix (all pages);
	 * *out malloc'ed, freed with objfs_mpu_info_free.  -ENOSYS when the
	 * store cannot list them. */
	int (*mpu_list_uploads)(struct objfs_provider *p, const char *bucket,
				const char *prefix, struct objfs_mpu_info **out, size_t *n,
				struct objfs_err *err);
	/* Registers storage defaults for keys under (bucket, prefix); the
	 * longest registered prefix wins.  Called at start-up and on reload,
	 * never concurrently with other operations on the same keys. */
	int (*set_defaults)(struct objfs_provider *p, const char *bucket, const char *prefix,
			    const struct objfs_store_defaults *d, struct objfs_err *err);

	/* A URL that performs method ("GET" or "PUT") on the object until
	 * now + ttl_s; *url malloc'ed, caller frees. */
	int (*presign)(struct objfs_provider *p, const char *bucket, const char *key,
		       const char *method, unsigned ttl_s, char **url,
		       struct objfs_err *err);
	/* Optional: a presigned PUT with conditions (cond may be NULL: none),
	 * like presign "PUT" otherwise; out (zeroed by the caller) says what the
	 * signature binds and which headers the uploader must send.  NULL: the
	 * wrapper falls back to presign with nothing bound. */
	int (*presign_put)(struct objfs_provider *p, const char *bucket, const char *key,
			   unsigned ttl_s, const struct objfs_presign_cond *cond,
			   struct objfs_presign_out *out, char **url, struct objfs_err *err);
	/* Checks a presigned request (the X-Objfs-* parameters of a URL that
	 * presign made) against the provider's own secret and clock, so the
	 * secret never leaves the provider: 0 when method ("GET" or "PUT"),
	 * bucket, key (raw, decoded) and expires (decimal string) are what was
	 * signed and the URL has not expired; -EACCES for a wrong or malformed
	 * signature, expiry or method; -EKEYEXPIRED when the signature is right
	 * but the time is past expires.  err never holds the expected signature. */
	int (*presign_check)(struct objfs_provider *p, const char *method, const char *bucket,
			     const char *key, const char *expires, const char *signature,
			     struct objfs_err *err);
	/* Probe of the store (and of bucket when not NULL). */
	int (*health)(struct objfs_provider *p, const char *bucket,
		      struct objfs_health *out, struct objfs_err *err);
	/* 0 if the bucket exists, -ENOENT if not. */
	int (*bucket_exists)(struct objfs_provider *p, const char *bucket,
			     struct objfs_err *err);
	/* Creates the bucket; an existing bucket owned by us is success. */
	int (*bucket_create)(struct objfs_provider *p, const char *bucket,
			     struct objfs_err *err);
};

/* An open provider: its table and its instance. */
struct objfs_prov {
	const struct objfs_provider_ops *ops;
	struct objfs_provider *impl;
	char *name;                      /* the [provider NAME] */
};

/* Finds the ops table for a type name ("local", "mem", ...); NULL if unknown. */
const struct objfs_provider_ops *objfs_provider_lookup(const char *type);
/* Opens a provider from its configuration; *out freed with objfs_prov_free. */
int objfs_prov_open(const struct objfs_provider_conf *conf, struct objfs_prov **out,
		    struct objfs_err *err);
void objfs_prov_free(struct objfs_prov *p);

/* OBJFS_CAP_* of an open provider (its instance_caps, else its type's caps). */
unsigned objfs_prov_caps(const struct objfs_prov *p);

/* Wrappers: clear err, return -ENOSYS for an operation the provider lacks. */
int objfs_prov_head(struct objfs_prov *p, const char *bucket, const char *key,
		    struct objfs_objinfo *out, struct objfs_err *err);
int objfs_prov_get(struct objfs_prov *p, const char *bucket, const char *key,
		   uint64_t off, uint64_t len, const char *if_match, void *buf,
		   uint64_t *got, struct objfs_err *err);
int objfs_prov_put(struct objfs_prov *p, const char *bucket, const char *key,
		   const struct objfs_source *src, const struct objfs_putopts *opts,
		   char *etag_out, struct objfs_err *err);
int objfs_prov_list(struct objfs_prov *p, const char *bucket, const char *prefix,
		    const char *delimiter, const char *token, unsigned max_keys,
		    struct objfs_listing *out, struct objfs_err *err);
int objfs_prov_del(struct objfs_prov *p, const char *bucket, const char *key,
		   struct objfs_err *err);
int objfs_prov_del_batch(struct objfs_prov *p, const char *bucket,
			 const char *const *keys, size_t nkeys, int *results,
			 struct objfs_err *err);
int objfs_prov_copy(struct objfs_prov *p, const char *bucket, const char *src_key,
		    const char *dst_key, const struct objfs_putopts *opts,
		    char *etag_out, struct objfs_err *err);
int objfs_prov_mpu_create(struct objfs_prov *p, const char *bucket, const char *key,
			  const struct objfs_putopts *opts, char **upload_id,
			  struct objfs_err *err);
int objfs_prov_mpu_upload_part(struct objfs_prov *p, const char *bucket,
			       const char *key, const char *upload_id, int part_number,
			       uint64_t off, const struct objfs_source *src, char *etag_out,
			       struct objfs_err *err);
int objfs_prov_mpu_upload_part_copy(struct objfs_prov *p, const char *bucket,
				    const char *key, const char *upload_id,
				    int part_number, const char *src_key,
				    const char *src_if_match, uint64_t off, uint64_t len,
				    char *etag_out, struct objfs_err *err);
int objfs_prov_mpu_complete(struct objfs_prov *p, const char *bucket, const char *key,
			    const char *upload_id, const struct objfs_part *parts,
			    size_t nparts, char *etag_out, struct objfs_err *err);
int objfs_prov_mpu_abort(struct objfs_prov *p, const char *bucket, const char *key,
			 const char *upload_id, struct objfs_err *err);
int objfs_prov_mpu_list_parts(struct objfs_prov *p, const char *bucket,
			      const char *key, const char *upload_id,
			      struct objfs_part **parts, size_t *nparts,
			      struct objfs_err *err);
int objfs_prov_mpu_list_uploads(struct objfs_prov *p, const char *bucket,
				const char *prefix, struct objfs_mpu_info **out, size_t *n,
				struct objfs_err *err);
int objfs_prov_set_defaults(struct objfs_prov *p, const char *bucket, const char *prefix,
			    const struct objfs_store_defaults *d, struct objfs_err *err);
int objfs_prov_presign(struct objfs_prov *p, const char *bucket, const char *key,
		       const char *method, unsigned ttl_s, char **url,
		       struct objfs_err *err);
int objfs_prov_presign_check(struct objfs_prov *p, const char *method, const char *bucket,
			     const char *key, const char *expires, const char *signature,
			     struct objfs_err *err);
/* presign_put, or presign "PUT" with nothing bound when the provider has no
 * presign_put.  out is zeroed first; clear it with objfs_presign_out_clear. */
int objfs_prov_presign_put(struct objfs_prov *p, const char *bucket, const char *key,
			   unsigned ttl_s, const struct objfs_presign_cond *cond,
			   struct objfs_presign_out *out, char **url, struct objfs_err *err);
int objfs_prov_health(struct objfs_prov *p, const char *bucket,
		      struct objfs_health *out, struct objfs_err *err);
int objfs_prov_bucket_exists(struct objfs_prov *p, const char *bucket,
			     struct objfs_err *err);
int objfs_prov_bucket_create(struct objfs_prov *p, const char *bucket,
			     struct objfs_err *err);

/* Formats err->msg (printf-style) and returns rc, for `return objfs_err_set(...)`. */
int objfs_err_set(struct objfs_err *err, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Listing builder shared by the providers that list from a sorted key space
 * (local, mem): it applies prefix, delimiter, continuation token and max_keys
 * once, so the ListObjectsV2 rules live in one place (src/provider.c).
 *
 * Feed candidate keys in byte order: objfs_listb_classify() says what a key
 * would become (SKIP: filtered; KEY: an object entry; PREFIX: a new common
 * prefix).  Before adding, check objfs_listb_full(); if full, call
 * objfs_listb_truncate() (next_token = the last item returned) and stop.
 * The token is opaque: the last key or common prefix of the previous page;
 * every item <= token is skipped, and when the token is a common prefix so is
 * every key under it.
 */
enum { OBJFS_LISTB_SKIP = 0, OBJFS_LISTB_KEY, OBJFS_LISTB_PREFIX };
struct objfs_listb {
	const char *prefix;              /* never NULL ("" for none) */
	size_t plen;
	const char *delim;               /* NULL: no delimiter */
	size_t dlen;
	const char *token;               /* NULL: first page */
	int token_is_prefix;             /* the token is a common prefix */
	unsigned max_keys;
	struct objfs_listing *out;
	size_t cap_objects, cap_prefixes;
	const char *last;                /* last item added (points into out) */
};
void objfs_listb_init(struct objfs_listb *b, const char *prefix, const char *delim,
		      const char *token, unsigned max_keys, struct objfs_listing *out);
int objfs_listb_classify(const struct objfs_listb *b, const char *key);
/* Length of the common prefix key rolls into, 0 if none (or not under prefix). */
size_t objfs_listb_cp_len(const struct objfs_listb *b, const char *key);
/* 1 if every key starting with sub yields an item <= the token (prunable). */
int objfs_listb_prunable(const struct objfs_listb *b, const char *sub, size_t sublen);
int objfs_listb_full(const struct objfs_listb *b);
/* Ends the page: next_token = last item.  0 or -ENOMEM. */
int objfs_listb_truncate(struct objfs_listb *b);
/* Moves *oi into the listing (oi is zeroed; on failure it is left intact). */
int objfs_listb_add_object(struct objfs_listb *b, struct objfs_objinfo *oi);
/* Adds the common prefix that key rolls into.  0 or -ENOMEM. */
int objfs_listb_add_prefix(struct objfs_listb *b, const char *key);

/* Key checks shared by providers: non-empty, <= OBJFS_KEY_MAX bytes
 * (-ENAMETOOLONG), so -EINVAL or -ENAMETOOLONG with err set. */
int objfs_key_check(const char *key, struct objfs_err *err);
/* S3 bucket name rules: 3-63 of [a-z0-9.-], starts and ends with a letter or
 * digit, no "..".  0 or -EINVAL with err set. */
int objfs_bucket_check(const char *bucket, struct objfs_err *err);
/* The bucket (container) rules of provider type on top of the S3 ones:
 * azure: no dots, no "--"; gcs: not starting with "goog", no "google".
 * 0 or -EINVAL with err saying which rule. */
int objfs_bucket_check_type(const char *type, const char *bucket, struct objfs_err *err);

/* The built-in providers (src/provider_*.c). */
extern const struct objfs_provider_ops objfs_provider_local;
extern const struct objfs_provider_ops objfs_provider_mem;
extern const struct objfs_provider_ops objfs_provider_s3;
extern const struct objfs_provider_ops objfs_provider_gcs;
extern const struct objfs_provider_ops objfs_provider_azure;

#endif
