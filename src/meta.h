/*
 * Metadata store: the only module that touches SQLite.
 *
 * One database (cache_dir/meta.db), WAL mode, one connection guarded by one
 * mutex, so there is a single writer path and "database is locked" cannot
 * happen.  Statements are prepared once.  Three kinds of data live here:
 *
 *  entries   the attribute / listing cache: one row per path seen (positive or
 *            negative), keyed by (tenant, path).  Its rowid is the inode
 *            number, stable across restarts for as long as the row exists
 *            (rename keeps it).  A `dirs` row records that a directory's
 *            complete listing was stored at a time, so lookups of missing
 *            names inside it need no provider request while it is fresh.
 *            Cache writes use synchronous=NORMAL: losing the last ones in a
 *            power cut costs only refetches.
 *
 *  uploads   the write-back journal (see journal states in
 *  parts     docs/architecture.md).  A journal commit runs with
 *            synchronous=FULL, so when it returns the entry survives kill -9
 *            and power loss.
 *
 *  usage     quota usage per tenant (quota.c, docs/quotas.md): one row per
 *            tenant with a quota, written about once a second while it
 *            changes and at shutdown (synchronous=NORMAL).
 *
 * Paths are relative to the tenant ("" is the tenant root, "a/b" a child);
 * tenants are named by their configured name.  All functions return 0 or a
 * negative errno (-EIO for an SQLite failure, logged with its message).
 */
#ifndef OBJFS_META_H
#define OBJFS_META_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum meta_type { META_NEG = 0, META_FILE = 1, META_DIR = 2, META_LINK = 3 };

/* One cached entry.  Strings are owned by the struct (meta_entry_clear). */
struct meta_entry {
	uint64_t ino;
	enum meta_type type;
	mode_t mode;              /* with file-type bits */
	uid_t uid;
	gid_t gid;
	uint64_t size;
	int64_t mtime_ns;
	char *etag;               /* NULL for directories without a marker */
	char *xattr;              /* encoded xattr metadata value (objmeta), or NULL */
	char *target;             /* symlink target if known, or NULL */
	int64_t fetched_ms;       /* when the provider said so (wall clock, ms) */
	/* filled by meta_readdir only */
	char *name;
	uint64_t cookie;          /* resume readdir after this entry */
};
void meta_entry_clear(struct meta_entry *e);

/* A journal entry (one committed version of one file). */
struct meta_upload {
	int64_t seq;              /* assigned by meta_journal_commit */
	uint64_t fid;             /* names the staging directory */
	char *tenant;
	char *path;
	uint64_t size;
	char *base_etag;          /* object whose bytes [0, base_len) back unstaged chunks, or NULL */
	uint64_t base_len;
	uint32_t *chunks;         /* per chunk index: staged version, 0 = not staged */
	size_t nchunks;
	char *meta;               /* encoded object metadata ("k=v\n" lines, percent-encoded) */
	char *content_type;
	char *upload_id;          /* multipart upload in progress, or NULL */
	int64_t created_ms;
	void *inline_data;        /* the whole content, for small files (no chunk files), or NULL */
	size_t inline_len;
};
void meta_upload_clear(struct meta_upload *u);

struct meta_part {
	int number;
	uint64_t size;
	char etag[128];
};

struct objfs_meta;

/* Opens (creating) cache_dir/meta.db.  *out freed with meta_close. */
int meta_open(const char *cache_dir, struct objfs_meta **out);
void meta_close(struct objfs_meta *m);

/* Wall clock in ms. */
int64_t meta_now_ms(void);

/* --- attribute / listing cache --- */

/* Looks up (tenant, path).  0 and *out filled, or -ENOENT if not cached. */
int meta_get(struct objfs_meta *m, const char *tenant, const char *path,
	     struct meta_entry *out);
/* Inserts or updates (tenant, path) with e's fields (e->ino ignored); the row
 * keeps its inode number if it existed.  *ino_out (may be NULL) gets it. */
int meta_put(struct objfs_meta *m, const char *tenant, const char *path,
	     const struct meta_entry *e, uint64_t *ino_out);
/* A new object at (tenant, path): replaces any row there with e under a new
 * inode number (never the one an unlinked, still open file has), in one
 * transaction.  *ino_out gets it. */
int meta_create(struct objfs_meta *m, const char *tenant, const char *path,
		const struct meta_entry *e, uint64_t *ino_out);
/* Inode number for (tenant, path), creating a placeholder row if needed. */
int meta_ino(struct objfs_meta *m, const char *tenant, const char *path, uint64_t *ino);
/* Removes the row of path (keeps descendants). */
int meta_del(struct objfs_meta *m, const char *tenant, const char *path);
/* Removes path and every row beneath it, and listing marks of them. */
int meta_del_tree(struct objfs_meta *m, const char *tenant, const char *path);
/* Moves path (and for directories every row beneath it) to new_path, keeping
 * inode numbers; any rows previously at new_path (and beneath) are dropped. */
int meta_rename(struct objfs_meta *m, const char *tenant, const char *path,
		const char *new_path);

/* Marks path and every row beneath it as stale (refetched on next use). */
int meta_expire_tree(struct objfs_meta *m, const char *tenant, const char *path);

/* Listing store: begin a new listing of dir (returns a generation), store
 * pages of children with meta_listing_add, then meta_listing_end removes
 * children not seen in this generation and marks the listing complete at
 * `now`.  Each call is its own transaction, so memory stays bounded. */
int meta_listing_begin(struct objfs_meta *m, const char *tenant, const char *dir,
		       int64_t *gen);
int meta_listing_add(struct objfs_meta *m, const char *tenant, const char *dir,
		     int64_t gen, const char *const *names,
		     const struct meta_entry *entries, size_t n);
int meta_listing_end(struct objfs_meta *m, const char *tenant, const char *dir,
		     int64_t gen, int64_t now_ms);
/* When dir's complete listing was stored (ms), or -ENOENT. */
int meta_listing_time(struct objfs_meta *m, const char *tenant, const char *dir,
		      int64_t *listed_ms);
/* Forgets that dir's listing is complete (rows stay as attribute cache). */
int meta_listing_invalidate(struct objfs_meta *m, const char *tenant, const char *dir);
/* Up to max positive children of dir with cookie > after, in cookie order.
 * *n set to the count; entries must be cleared by the caller. */
int meta_readdir(struct objfs_meta *m, const char *tenant, const char *dir,
		 uint64_t after, struct meta_entry *out, size_t max, size_t *n);
/* 1 if dir has at least one positive child row, else 0. */
int meta_has_children(struct objfs_meta *m, const char *tenant, const char *dir);

/* --- write-back journal --- */

/* Durably records u (synchronous=FULL); sets u->seq. */
int meta_journal_commit(struct objfs_meta *m, struct meta_upload *u);
/* Records the multipart upload id of seq (durable); forgets the parts
 * recorded for a previous upload id. */
int meta_journal_set_upload_id(struct objfs_meta *m, int64_t seq, const char *upload_id);
/* Records a finished part of seq. */
int meta_journal_add_part(struct objfs_meta *m, int64_t seq, const struct meta_part *p);
/* Parts recorded for seq; *parts malloc'ed, caller frees. */
int meta_journal_parts(struct objfs_meta *m, int64_t seq, struct meta_part **parts, size_t *n);
/* Removes seq and its parts.  When landed is non-NULL (u landed as
 * landed->etag), in the same transaction: stores it as the cache entry of
 * u's path, and rebases the later entries of u's file that named the same
 * base object onto the new object (whose bytes in those ranges are the same). */
int meta_journal_done(struct objfs_meta *m, int64_t seq, const struct meta_upload *u,
		      const struct meta_entry *landed);
/* Changes the target path of every pending entry of fid. */
int meta_journal_retarget(struct objfs_meta *m, uint64_t fid, const char *tenant,
			  const char *path);
/* Pending entries of tenant (any path). */
int meta_journal_count(struct objfs_meta *m, const char *tenant, uint64_t *n);
/* Pending entries of fid over base old_etag now name new_etag. */
int meta_journal_rebase(struct objfs_meta *m, uint64_t fid, const char *old_etag,
			const char *new_etag);
/* All pending entries in seq order; *out malloc'ed array, caller clears each
 * and frees the array. */
int meta_journal_load(struct objfs_meta *m, struct meta_upload **out, size_t *n);

/* --- quota usage (quota.c): one row per tenant with a quota --- */

struct meta_usage {
	char *location;           /* "bucket/prefix" counted (a change means: count again) */
	uint64_t bytes;           /* landed bytes */
	uint64_t objects;         /* landed objects (files and symlinks) */
	int64_t seeded_ms;        /* when the first listing counted it (wall clock, ms) */
	int64_t reconciled_ms;    /* last background listing that corrected it; 0: none */
	int clean;                /* 1: written at a clean shutdown (0 while mounted) */
};
void meta_usage_clear(struct meta_usage *u);
/* 0 and *out filled, or -ENOENT when the tenant has no row. */
int meta_usage_get(struct objfs_meta *m, const char *tenant, struct meta_usage *out);
/* Inserts or replaces the tenant's row (synchronous=NORMAL: the last puts
 * may be lost in a power cut, never half-written). */
int meta_usage_put(struct objfs_meta *m, const char *tenant, const struct meta_usage *u);
int meta_usage_del(struct objfs_meta *m, const char *tenant);

#endif
