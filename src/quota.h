/*
 * Tenant quotas (quota_bytes, quota_objects): EDQUOT when a write, truncate
 * or create would take a tenant past its quota.  docs/quotas.md has the
 * whole story; in short:
 *
 *  - Usage = what has landed in the store (bytes and objects: files and
 *    symlinks, not directory markers, not objfs's internal area) plus
 *    reservations: the growth of files beyond their landed size and the
 *    files created but not landed yet.  Limits are checked against that sum
 *    under one lock, so a single writer stops exactly at the boundary and
 *    concurrent writers cannot overshoot it either.
 *  - The landed part lives in the metadata store (meta_usage_*): seeded by
 *    one listing at the tenant's first mount, loaded at later starts, kept
 *    up to date by the hooks below and flushed by the quota thread about
 *    once a second and at shutdown.
 *  - The quota thread re-lists each quota tenant every
 *    quota_reconcile_interval and replaces the landed part with the count,
 *    unless something changed the tenant's objects while it listed (then it
 *    retries later): see quota_op_begin.
 *
 * A tenant without a quota has no struct objfs_quota (t->quota NULL): every
 * hook returns at once.  The lock is a leaf: taken under a file's lock,
 * never around anything else.
 */
#ifndef OBJFS_QUOTA_H
#define OBJFS_QUOTA_H

#include <stdint.h>

struct objfs_tenant;
struct objfs_meta;
struct objfs_ctx;

/*
 * Sets t->quota when the tenant has a quota: its landed usage comes from its
 * stored row, or, when there is none (first mount, or the row counted
 * another bucket/prefix), from one listing of the tenant, stored at once.
 * A tenant without a quota loses any stored row (a quota added later counts
 * afresh).  0, or a negative errno when the listing failed (logged; usage
 * then starts at 0 and the first reconcile is due at once).
 */
int quota_init(struct objfs_tenant *t, const struct objfs_ctx *ctx);
/* Stores the usage one last time, marked clean, and frees t->quota (meta
 * NULL: nothing stored). */
void quota_free(struct objfs_tenant *t, struct objfs_meta *meta);

/* The quota thread: flushes changed usage and reconciles (docs/quotas.md).
 * Started with the other service threads, after fuse has daemonised;
 * quota_stop joins it (before the write-back queue is freed). */
int quota_start(struct objfs_ctx *ctx);
void quota_stop(void);

/* New limits from a reload (0: unlimited).  A tenant without t->quota that
 * gains limits gets one (quota_init, published atomically); one that loses
 * them keeps counting with no limit until the next start. */
void quota_set_limits(struct objfs_tenant *t, const struct objfs_ctx *ctx, uint64_t max_bytes,
		      uint64_t max_objects);

/* Reserves n more bytes of growth; -EDQUOT past quota_bytes. */
int quota_reserve(struct objfs_tenant *t, uint64_t n);
/* Returns n reserved bytes. */
void quota_release(struct objfs_tenant *t, uint64_t n);
/* A file's upload landed: its landed size went from old_size to new_size;
 * new_object: the file held an object reservation (quota_add_object) that
 * is now a landed object. */
void quota_landed(struct objfs_tenant *t, uint64_t old_size, uint64_t new_size, int new_object);
/* Reserves one object for a file or symlink about to be created; -EDQUOT
 * past quota_objects. */
int quota_add_object(struct objfs_tenant *t);
/* Gives a reservation back (the create failed, or the file went away before
 * it landed). */
void quota_unreserve_object(struct objfs_tenant *t);
/* A reserved object was written straight to the store with size bytes
 * (symlinks, special files). */
void quota_object_created(struct objfs_tenant *t, uint64_t size);
/* A landed object of size bytes went away. */
void quota_remove_object(struct objfs_tenant *t, uint64_t size);

/*
 * Brackets a change that fs.c makes at the provider itself (delete, rename,
 * a direct PUT): a reconcile whose listing overlaps one (or an upload of
 * the write-back queue) throws its count away and retries, because the
 * listing may or may not have seen the change.  Every begin needs its end.
 */
void quota_op_begin(struct objfs_tenant *t);
void quota_op_end(struct objfs_tenant *t);

/* 1 when t has a struct objfs_quota (counts usage), else 0. */
int quota_active(const struct objfs_tenant *t);

struct quota_usage {
	uint64_t bytes;           /* landed + reserved */
	uint64_t objects;         /* landed + reserved */
	uint64_t max_bytes;       /* 0: unlimited */
	uint64_t max_objects;     /* 0: unlimited */
	int64_t reconciled_ms;    /* last reconcile (or the seeding listing), wall clock ms */
};
/* 0 and *u filled for a tenant with a quota (some limit non-zero), else
 * -ENOENT. */
int quota_usage(const struct objfs_tenant *t, struct quota_usage *u);

#endif
