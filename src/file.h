/*
 * Files: the in-memory object for every file that is open or has uploads
 * pending.  Its content is a sequence of chunks (chunk_size bytes each); a
 * chunk is either staged (a chunk file in the staging area holds its bytes)
 * or backed by the base object (the provider object the file was opened
 * from, bytes [0, base_len)), or a hole (zeros).
 *
 * Versions make later writes safe against uploads in flight: a commit
 * freezes every staged chunk at the file's current version and records the
 * chunk map in the journal; a later write to a frozen chunk copies it to a
 * new version first (copy-on-write), so the upload reads exactly what was
 * committed while the file moves on.
 *
 * Lock order: files table lock -> file->commit_lock -> file->lock ->
 * (staging lock, meta lock).  file->lock is never held across provider I/O;
 * file->commit_lock is held across the journal commit (local only), and by
 * write-back while it records a landing, so commits and landings of one file
 * never interleave.
 */
#ifndef OBJFS_FILE_H
#define OBJFS_FILE_H

#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "ctx.h"
#include "meta.h"
#include "objmeta.h"

struct file_chunk {
	uint32_t ver;                 /* 0: not staged */
	uint32_t len;                 /* bytes in the chunk file */
};

struct objfs_file {
	struct objfs_ctx *ctx;
	struct objfs_tenant *tenant;  /* fixed */
	uint64_t fid;                 /* fixed: names the staging directory */

	/* files table lock */
	char *path;                   /* relative to the tenant */
	unsigned refs;                /* handles + pending uploads + temporary users */
	int in_table;                 /* still reachable by path (not unlinked) */
	struct objfs_file *hnext;

	unsigned wb_hold;             /* write-back lock: uploads may not start */

	pthread_mutex_t commit_lock;  /* serialises commits */
	pthread_mutex_t lock;
	pthread_cond_t landed;        /* signalled when pending drops */
	/* lock */
	uint64_t size;
	char *base_etag;              /* NULL: no base object */
	uint64_t base_len;
	struct file_chunk *chunks;
	size_t nchunks;
	uint32_t commit_ver;          /* chunks with ver <= commit_ver are frozen */
	uint32_t cur_ver;             /* version new chunk files get */
	int dirty;                    /* content or attributes changed since the last commit;
				       * set before the chunk map changes, since writers drop
				       * the lock mid-way and a landing must not then take
				       * the file for clean and drop their chunks */
	int new_fid_dir;              /* staging dir created since the last commit */
	unsigned pending;             /* journal entries not yet landed */
	int64_t last_seq;             /* seq of the newest journal entry */
	int unlinked;
	struct objfs_fileattr attr;   /* mode (with S_IFREG/S_IFLNK), uid, gid, mtime, xattrs */
	int64_t ctime_ns;
	char *content_type;
	uint64_t q_base;              /* size of the landed object, as counted by the quota */
	uint64_t q_res;               /* quota reserved for growth beyond q_base */
	int q_obj;                    /* holds a quota object reservation (created, not landed) */
	int cfd;                      /* cached fd of chunk cfd_idx at version cfd_ver */
	size_t cfd_idx;
	uint32_t cfd_ver;
};

struct objfs_files;

int files_new(struct objfs_ctx *ctx, struct objfs_files **out);
void files_free(struct objfs_files *fs);

/* Returns the file at (tenant, path) with a reference, or NULL. */
struct objfs_file *files_lookup(struct objfs_files *fs, struct objfs_tenant *t, const char *path);
/*
 * Returns the file at (tenant, path) with a reference, creating it if absent.
 * A new file starts from the base object described by base (NULL or a NULL
 * etag: a new empty file) and the attributes in attr (copied).
 */
int files_get(struct objfs_files *fs, struct objfs_tenant *t, const char *path, uint64_t fid,
	      const struct meta_entry *base, const struct objfs_fileattr *attr,
	      struct objfs_file **out);
void file_ref(struct objfs_file *f);
void file_put(struct objfs_file *f);

/* Calls fn for every file in the table whose path is `path` or below it
 * (path "" : the whole tenant), with a reference held during the call. */
void files_for_each_under(struct objfs_files *fs, struct objfs_tenant *t, const char *path,
			  void (*fn)(struct objfs_file *f, void *arg), void *arg);
/* Moves files at path (and below, for directories) to new_path in the table. */
void files_rename(struct objfs_files *fs, struct objfs_tenant *t, const char *path,
		  const char *new_path);
/* Removes f from the table (unlink): it lives on for its open handles. */
void files_detach(struct objfs_files *fs, struct objfs_file *f);
/* 1 if some file in the table lives strictly below dir. */
int files_any_under(struct objfs_files *fs, struct objfs_tenant *t, const char *dir);
/* Calls fn for every tabled file directly in dir (listing merge). */
void files_for_each_child(struct objfs_files *fs, struct objfs_tenant *t, const char *dir,
			  void (*fn)(struct objfs_file *f, void *arg), void *arg);

/* Content operations; return bytes or 0, or a negative errno. */
ssize_t file_read(struct objfs_file *f, void *buf, size_t len, uint64_t off, uint64_t stream);
ssize_t file_write(struct objfs_file *f, const void *buf, size_t len, uint64_t off);
int file_truncate(struct objfs_file *f, uint64_t size);
/* Copies every base-backed chunk into staging and drops the base (before the
 * base object is deleted under an open handle). */
int file_materialize(struct objfs_file *f);
/* files_detach for a file with no local changes that still reads base: the
 * store no longer has its object.  0, or -EBUSY (it has changes now).  Takes
 * the files table lock, then f->lock. */
int files_detach_clean(struct objfs_files *fs, struct objfs_file *f, const char *base);
/* A copy of the base object's ETag when f has no local changes (nothing
 * staged, dirty or pending), else NULL.  Caller frees. */
char *file_clean_base(struct objfs_file *f);
/* Makes a file with no local changes that still reads stale_etag follow the
 * store's current version cur (ETag, size) with attributes attr, as a new
 * open would.  0, -EBUSY (it has changes now, or another base), -ENOMEM. */
int file_adopt(struct objfs_file *f, const char *stale_etag, const struct meta_entry *cur,
	       const struct objfs_fileattr *attr);

/* Files up to this size whose content does not depend on a base object are
 * committed with their content inside the journal entry: one fsync (the
 * journal's) instead of the chunk files', their directory's and the journal's. */
#define OBJFS_INLINE_MAX (64 * 1024)

/* Commits the staged state to the journal (durable on return) and queues the
 * upload.  No-op when nothing changed. */
int file_commit(struct objfs_file *f);
/* Fills st from the file's state. */
void file_stat(struct objfs_file *f, struct stat *st, uint64_t ino);

/* Encodes attributes (+ xattrs) as journal metadata text and back. */
char *file_meta_text(const struct objfs_fileattr *a);
int file_meta_parse(const char *text, struct objfs_kv **kv, size_t *n);

/* Called by write-back when journal entry seq of f, committed over base
 * object old_base (NULL: none), has landed as etag (or was dropped: etag
 * NULL).  Rebases the file onto the new object and frees staged chunks that
 * nothing needs any more. */
void file_landed(struct objfs_file *f, int64_t seq, const char *old_base, const char *etag,
		 uint64_t size);

/* Reads base-object bytes (helper shared with write-back). */
ssize_t file_read_base(struct objfs_ctx *ctx, struct objfs_tenant *t, const char *key,
		       const char *etag, uint64_t obj_size, void *buf, size_t len, uint64_t off,
		       uint64_t stream);

/* Object key of a tenant-relative path into buf (size OBJFS_KEY_MAX + 1). */
int tenant_key(const struct objfs_tenant *t, const char *path, char *buf, size_t len);

#endif
