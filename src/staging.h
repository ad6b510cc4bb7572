/*
 * Staging area: chunk files of not-yet-uploaded data under
 * cache_dir/staging/<fid>/<chunk>.<version>, and the accounting that bounds
 * their total size.
 *
 * Space is reserved before a chunk file grows and released when it shrinks
 * or is removed.  When the bound is reached a writer waits (backpressure)
 * while uploads are pending that will free space; if nothing is pending
 * (a single open file larger than the bound), the reservation is granted
 * over the bound rather than deadlocking, and logged.
 */
#ifndef OBJFS_STAGING_H
#define OBJFS_STAGING_H

#include <stddef.h>
#include <stdint.h>

struct objfs_staging;

/* Returns 1 while uploads are queued or in flight (space will be freed). */
typedef int (*staging_pending_fn)(void *arg);

int staging_open(const char *cache_dir, uint64_t max_bytes, struct objfs_staging **out);
void staging_free(struct objfs_staging *s);
void staging_set_pending_fn(struct objfs_staging *s, staging_pending_fn fn, void *arg);

/* Path of a chunk file / of a fid's directory. */
void staging_chunk_path(const struct objfs_staging *s, uint64_t fid, size_t idx,
			uint32_t ver, char *buf, size_t len);
void staging_fid_path(const struct objfs_staging *s, uint64_t fid, char *buf, size_t len);
/* Creates the fid directory if needed; *created set to 1 when it was made. */
int staging_fid_mkdir(struct objfs_staging *s, uint64_t fid, int *created);
/* fsyncs the fid directory (and the staging root when fid_created). */
int staging_fid_sync(struct objfs_staging *s, uint64_t fid, int fid_created);
/* Removes a fid's directory and everything in it, releasing its space. */
void staging_remove_fid(struct objfs_staging *s, uint64_t fid);
/* Removes one chunk file, releasing its size. */
void staging_remove_chunk(struct objfs_staging *s, uint64_t fid, size_t idx, uint32_t ver);

/* Removes the chunk files of fid for which keep(idx, ver, arg) returns 0. */
void staging_gc_fid(struct objfs_staging *s, uint64_t fid,
		    int (*keep)(size_t idx, uint32_t ver, void *arg), void *arg);

/* Reserves bytes, waiting while the area is full and uploads are pending. */
void staging_reserve(struct objfs_staging *s, uint64_t bytes);
void staging_release(struct objfs_staging *s, uint64_t bytes);
/* Accounts bytes without ever waiting (start-up, before uploads can run). */
void staging_charge(struct objfs_staging *s, uint64_t bytes);
/* Wakes waiters (called when uploads finish). */
void staging_kick(struct objfs_staging *s);
uint64_t staging_used(struct objfs_staging *s);
uint64_t staging_max(const struct objfs_staging *s);
/* Lists fid directories present (for start-up garbage collection). */
int staging_list_fids(struct objfs_staging *s, uint64_t **fids, size_t *n);

#endif
