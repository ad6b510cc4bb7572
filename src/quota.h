/*
 * Tenant quotas (quota_bytes, quota_objects): EDQUOT when a write, truncate
 * or create would take a tenant past its quota.
 *
 * Usage is what has landed (counted by one listing of the tenant at start-up,
 * then kept up to date as uploads land and objects are removed) plus what
 * files not yet landed have grown beyond their landed size (reserved as they
 * grow).  A tenant without a quota has no struct objfs_quota and costs
 * nothing.  The lock is a leaf: taken under a file's lock, never around
 * anything else.
 */
#ifndef OBJFS_QUOTA_H
#define OBJFS_QUOTA_H

#include <stdint.h>

struct objfs_tenant;

/* Sets t->quota when the tenant has a quota and counts its objects (one
 * recursive listing).  0, or a negative errno when the listing failed. */
int quota_init(struct objfs_tenant *t);
void quota_free(struct objfs_tenant *t);

/* New limits from a reload (t->quota must exist; 0: unlimited). */
void quota_set_limits(struct objfs_tenant *t, uint64_t max_bytes, uint64_t max_objects);

/* Reserves n more bytes of growth; -EDQUOT past quota_bytes. */
int quota_reserve(struct objfs_tenant *t, uint64_t n);
/* Returns n reserved bytes. */
void quota_release(struct objfs_tenant *t, uint64_t n);
/* An object of old_size (0: none) now has new_size: landed usage changes. */
void quota_landed(struct objfs_tenant *t, uint64_t old_size, uint64_t new_size);
/* A new object is about to exist / one went away (quota_objects). */
int quota_add_object(struct objfs_tenant *t);
void quota_remove_object(struct objfs_tenant *t, uint64_t size);

#endif
