/*
 * Metrics: process-wide counters and histograms, rendered as Prometheus text
 * (exposition format 0.0.4) for the control socket's /v1/metrics and the
 * optional metrics_listen scrape address.  See docs/metrics.md.
 *
 * Recording is lock-free (atomic adds into arrays sized at init), so the
 * hooks on the FUSE, provider, HTTP and cache paths cost a few atomic
 * operations each.  Every objfs_metrics_* recording call is a no-op before
 * objfs_metrics_init() and after objfs_metrics_free(), so unit tests and
 * objfs-ctl need not initialise anything.
 */
#ifndef OBJFS_METRICS_H
#define OBJFS_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "ctx.h"

/* FUSE operations, the "op" label of objfs_fs_operations_total & co. */
enum objfs_fsop {
	OBJFS_FSOP_GETATTR, OBJFS_FSOP_ACCESS, OBJFS_FSOP_READLINK, OBJFS_FSOP_OPENDIR,
	OBJFS_FSOP_READDIR, OBJFS_FSOP_RELEASEDIR, OBJFS_FSOP_MKNOD, OBJFS_FSOP_MKDIR,
	OBJFS_FSOP_SYMLINK, OBJFS_FSOP_UNLINK, OBJFS_FSOP_RMDIR, OBJFS_FSOP_RENAME,
	OBJFS_FSOP_LINK, OBJFS_FSOP_CHMOD, OBJFS_FSOP_CHOWN, OBJFS_FSOP_TRUNCATE,
	OBJFS_FSOP_UTIMENS, OBJFS_FSOP_CREATE, OBJFS_FSOP_OPEN, OBJFS_FSOP_READ,
	OBJFS_FSOP_WRITE, OBJFS_FSOP_STATFS, OBJFS_FSOP_FLUSH, OBJFS_FSOP_RELEASE,
	OBJFS_FSOP_FSYNC, OBJFS_FSOP_FSYNCDIR, OBJFS_FSOP_SETXATTR, OBJFS_FSOP_GETXATTR,
	OBJFS_FSOP_LISTXATTR, OBJFS_FSOP_REMOVEXATTR,
	OBJFS_FSOP__N
};
/* Lower-case names ("getattr", ...), indexed by enum objfs_fsop. */
extern const char *const objfs_fsop_names[OBJFS_FSOP__N];

/* Provider operations, the "op" label of objfs_provider_requests_total & co.
 * (one per objfs_prov_* wrapper). */
enum objfs_provop {
	OBJFS_PROVOP_HEAD, OBJFS_PROVOP_GET, OBJFS_PROVOP_PUT, OBJFS_PROVOP_LIST,
	OBJFS_PROVOP_DEL, OBJFS_PROVOP_DEL_BATCH, OBJFS_PROVOP_COPY, OBJFS_PROVOP_MPU_CREATE,
	OBJFS_PROVOP_MPU_UPLOAD_PART, OBJFS_PROVOP_MPU_UPLOAD_PART_COPY,
	OBJFS_PROVOP_MPU_COMPLETE, OBJFS_PROVOP_MPU_ABORT, OBJFS_PROVOP_MPU_LIST_PARTS,
	OBJFS_PROVOP_MPU_LIST_UPLOADS, OBJFS_PROVOP_SET_DEFAULTS, OBJFS_PROVOP_PRESIGN,
	OBJFS_PROVOP_PRESIGN_CHECK, OBJFS_PROVOP_HEALTH, OBJFS_PROVOP_BUCKET_EXISTS,
	OBJFS_PROVOP_BUCKET_CREATE,
	OBJFS_PROVOP__N
};
/* The ops' names as in the provider table ("head", "mpu_upload_part", ...). */
extern const char *const objfs_provop_names[OBJFS_PROVOP__N];

/* How a write-back entry ended, the "result" label of
 * objfs_writeback_uploads_total. */
enum objfs_wb_result {
	OBJFS_WB_LANDED,             /* uploaded and recorded in the journal */
	OBJFS_WB_FAILED,             /* one attempt failed (the entry is retried) */
	OBJFS_WB_SUPERSEDED,         /* dropped unuploaded: newer commit, unlink, cancel */
	OBJFS_WB__N
};

/*
 * Sets up the registry for ctx's tenants and providers (ctx->tenants may
 * grow later, on reload, up to OBJFS_TENANTS_MAX; tenants are named by
 * ctx->tenants.v[idx].name).  ctx is kept for gauges read at render time
 * (write-back queue, staging, read cache).  0 or -ENOMEM.
 */
int objfs_metrics_init(struct objfs_ctx *ctx);
void objfs_metrics_free(void);

/* One FUSE operation of tenant t (NULL: the mount's root), its result (0 or
 * a negative errno; errors are counted by errno name) and duration. */
void objfs_metrics_fs_op(enum objfs_fsop op, const struct objfs_tenant *t, int rc,
			 int64_t dur_ns);

/* One call through an objfs_prov_* wrapper: p's operation op on (bucket,
 * key) with result rc and duration; bytes_up / bytes_down are the object
 * bytes it moved (put and part bodies, get results; 0 for the rest).  The
 * tenant is found with objfs_metrics_tenant_of(p, bucket, key). */
void objfs_metrics_prov_op(const struct objfs_prov *p, enum objfs_provop op,
			   const char *bucket, const char *key, int rc, int64_t dur_ns,
			   uint64_t bytes_up, uint64_t bytes_down);

/* The tenant whose provider is p, whose bucket is bucket and whose prefix
 * starts key (NULL key: ""); the longest prefix wins.  NULL when none (or
 * before init).  Costs one pointer compare per tenant, plus string compares
 * for the tenants of p. */
const struct objfs_tenant *objfs_metrics_tenant_of(const struct objfs_prov *p,
						   const char *bucket, const char *key);

/* HTTP client hooks (src/http.c), by provider name (NULL: not counted):
 * one attempt that ended with HTTP status `status` (0: no response, a
 * transport failure), and one retry decided (a backoff before another
 * attempt). */
void objfs_metrics_http_response(const char *provider, long status);
void objfs_metrics_http_retry(const char *provider);

/* One write-back entry of tenant t (NULL: unknown) ended as result after
 * dur_ns of uploading (landed and failed feed the upload duration
 * histogram; superseded ones are only counted). */
void objfs_metrics_wb_upload(const struct objfs_tenant *t, enum objfs_wb_result result,
			     int64_t dur_ns);

/* Renders every metric as Prometheus text into a malloc'd NUL-terminated
 * buffer (*len its length); NULL on allocation failure. */
char *objfs_metrics_render(size_t *len);

/* Serves GET /metrics on addr ("HOST:PORT", "[::1]:PORT") until stopped.
 * 0, or a negative errno with a message in err. */
int objfs_metrics_listen_start(const char *addr, char *err, size_t errlen);
void objfs_metrics_listen_stop(void);

#endif
