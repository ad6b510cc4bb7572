/*
 * The trash (docs/trash.md): with trash_days = N > 0 a tenant keeps the
 * previous object of every unlink, rename over an existing file and
 * overwrite for N days, restorable with objfs-ctl trash.
 *
 * Layout: one object per kept version, a server-side copy (metadata
 * included) of the object it was, at
 *
 *     PREFIX ".objfs-trash/" VID "/" REL
 *
 * where REL is the path relative to the tenant, byte for byte (any name the
 * mount accepts), and VID, the version id, is "DDDDDDDDDDDDDD-XXXXXXXX":
 * the deletion time in milliseconds since the epoch (objfs_clock, 14
 * digits) and 8 hex digits that make it unique.  Keys therefore sort by
 * deletion time: purging what expired is one listing read from the start
 * that stops at the first version still kept; listing and restoring read
 * the tenant's whole trash (bounded by retention) and pick the paths.
 * The version keeps the object's mode, uid, gid and xattrs as they were,
 * and its mtime (added from Last-Modified when the object had none).
 *
 * The trash lives inside the tenant's prefix, so no other tenant can name
 * it; the mount hides it (tenant.h, objfs_rel_internal); quotas and backups
 * skip it.
 *
 * A keep that fails fails the operation that would have lost the object:
 * unlink and rename return the error (EIO), an upload is retried.
 */
#ifndef OBJFS_TRASH_H
#define OBJFS_TRASH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ctx.h"
#include "meta.h"
#include "tenant.h"

#define OBJFS_TRASH_VID_LEN 23              /* "%014lld-%08x" */
#define OBJFS_TRASH_LIST_MAX 1000           /* versions one list answer carries */
#define OBJFS_TRASH_RESTORE_MAX 10000       /* files one directory restore takes */
#define OBJFS_TRASH_PURGE_INTERVAL_S 300    /* the background purge's period */

/* One kept version. */
struct objfs_trash_entry {
	char *rel;                       /* original path (tenant-relative); owned */
	char vid[OBJFS_TRASH_VID_LEN + 1];
	int64_t deleted_ms;              /* from the vid (objfs_clock) */
	uint64_t size;
	int has_attr;                    /* the fields below are known */
	mode_t mode;
	uid_t uid;
	gid_t gid;
	int64_t mtime_ns;
};
void objfs_trash_entries_free(struct objfs_trash_entry *v, size_t n);

/* When a version deleted at deleted_ms expires under t's trash_days now
 * (ms; 0: never, the tenant has no retention any more). */
int64_t objfs_trash_expires_ms(const struct objfs_tenant *t, int64_t deleted_ms);

/* What an upload is about to put, for objfs_trash_keep_slow. */
struct objfs_trash_upload {
	const char *same_etag;          /* an object with this ETag is not kept (the
	                                 * new content is its bytes: an attribute
	                                 * change); NULL: none */
	uint64_t size;                  /* the object it puts: size and metadata */
	const struct objfs_kv *meta;
	size_t nmeta;
	int maybe_landed;               /* a retry, or resumed after a restart: an
	                                 * earlier attempt's put may have landed */
};

/* up: NULL for an unlink or rename (always keeps); for an upload, which may
 * be a retry (or follow a rename over the same object), an object this
 * process has just kept, same ETag, is not kept again, and when
 * up->maybe_landed an object with exactly the upload's size and metadata
 * (its own earlier attempt, reported failed after it landed) is not kept. */
int objfs_trash_keep_slow(struct objfs_tenant *t, const char *rel,
			  const struct objfs_trash_upload *up);

/*
 * Before the object at rel is removed or replaced: copies it into the trash
 * when t keeps a trash (a missing object is nothing to keep; a version
 * already kept, same ETag, is not kept twice).  0, or a negative errno
 * (-EIO, -ENAMETOOLONG when the trash key would pass OBJFS_KEY_MAX): then
 * the caller must not remove or replace the object.  Tenants without a
 * trash pay one load and one compare.  Does provider I/O: no locks held.
 */
static inline int objfs_trash_keep(struct objfs_tenant *t, const char *rel)
{
	const struct objfs_tenant_conf *c = __atomic_load_n(&t->conf, __ATOMIC_ACQUIRE);

	return c && c->trash_days ? objfs_trash_keep_slow(t, rel, NULL) : 0;
}

/* objfs_trash_keep() before journal entry u lands over its path, with
 * meta/nmeta its parsed metadata: an entry whose bytes are all its base
 * object's (an attribute change: chmod, touch of a file with uploads
 * pending) does not keep that same object again; maybe_landed as in
 * struct objfs_trash_upload. */
static inline int objfs_trash_keep_upload(struct objfs_tenant *t, const struct meta_upload *u,
					  const struct objfs_kv *meta, size_t nmeta,
					  int maybe_landed)
{
	const struct objfs_tenant_conf *c = __atomic_load_n(&t->conf, __ATOMIC_ACQUIRE);
	struct objfs_trash_upload up = { NULL, u->size, meta, nmeta, maybe_landed };
	int same = u->base_etag && !u->inline_data && u->size == u->base_len;

	if (!c || !c->trash_days)
		return 0;
	for (size_t i = 0; same && i < u->nchunks; i++)
		same = u->chunks[i] == 0;
	up.same_etag = same ? u->base_etag : NULL;
	return objfs_trash_keep_slow(t, u->path, &up);
}

/*
 * The versions kept for rel ("" every path; a file, or a directory: every
 * path below it), sorted by path, newest first per path, at most max
 * (*truncated set when there were more), each with its attributes (a head
 * when the listing had no metadata).  *out freed with
 * objfs_trash_entries_free.  0 or a negative errno with msg set.
 */
int objfs_trash_list(struct objfs_tenant *t, const char *rel, size_t max,
		     struct objfs_trash_entry **out, size_t *n, int *truncated,
		     char *msg, size_t msglen);

/*
 * Restores rel: version vid (NULL: the newest) of the file rel, or, when
 * the trash has no version of rel itself and vid is NULL, the newest version
 * of every file below the directory rel.  to (NULL: rel) is where it goes
 * (for a directory, the directory the files go under).  A live object at a
 * target is never replaced unless force (then it is kept in the trash
 * first); a directory, or a file open or with uploads pending at a target,
 * is a conflict even with force.  Every target is checked before anything
 * is copied.  A restored version leaves the trash.  Cached attributes and
 * listings are invalidated, so the mount shows the file at once.
 * *done (may be NULL) gets the restored entries, rel set to the target
 * path.  0, or: -ENOENT (no such version), -EEXIST / -EISDIR / -EBUSY
 * (conflict), -EROFS, -EDQUOT, -E2BIG (more files than
 * OBJFS_TRASH_RESTORE_MAX), -EIO; msg says which path and why.
 */
int objfs_trash_restore(struct objfs_ctx *ctx, struct objfs_tenant *t, const char *rel,
			const char *vid, const char *to, int force,
			struct objfs_trash_entry **done, size_t *ndone, char *msg, size_t msglen);

/*
 * Deletes versions from t's trash: those of rel (NULL or "": every path;
 * a file or a directory as in list), only version vid when given, only the
 * expired ones with expired_only.  *count and *bytes (may be NULL) get what
 * went.  0 or a negative errno with msg set.
 */
int objfs_trash_purge(struct objfs_tenant *t, const char *rel, const char *vid,
		      int expired_only, size_t *count, uint64_t *bytes, char *msg,
		      size_t msglen);

/* The background purge: expired versions of every tenant with a trash, at
 * start and every OBJFS_TRASH_PURGE_INTERVAL_S.  0 or a negative errno. */
int objfs_trash_start(struct objfs_ctx *ctx);
/* Stops and joins it; accepts a purge that never started. */
void objfs_trash_stop(void);

#endif
