/*
 * Write-back: uploads committed journal entries in the background.
 *
 * A bounded pool of workers takes entries in commit order.  For each file at
 * most one entry is in flight; an entry with a newer commit of the same file
 * behind it is superseded (dropped, its multipart upload aborted) instead of
 * uploaded, so the newest committed content always wins.  Files up to the
 * multipart threshold go up in one put; larger ones as a multipart upload
 * with parallel parts, where a part whose bytes all come unchanged from the
 * existing object is copied server-side.  Failures are retried with
 * exponential backoff and jitter; the entry stays in the journal (and its
 * chunks in staging) until it lands.
 */
#ifndef OBJFS_WRITEBACK_H
#define OBJFS_WRITEBACK_H

#include "ctx.h"
#include "meta.h"

struct objfs_file;
struct objfs_writeback;

int writeback_new(struct objfs_ctx *ctx, struct objfs_writeback **out);
/* Starts the workers. */
int writeback_start(struct objfs_writeback *wb);
/* Stops the workers (entries stay in the journal) and frees; accepts NULL. */
void writeback_free(struct objfs_writeback *wb);

/* Queues a committed entry of f; takes over u's contents (u is zeroed) and
 * the reference on f that file_commit took for it. */
void writeback_enqueue(struct objfs_writeback *wb, struct objfs_file *f, struct meta_upload *u);
/* Start-up: loads the journal, rebuilds the files that have pending entries,
 * queues them, and removes staging data no entry references. */
int writeback_recover(struct objfs_writeback *wb);

/* Waits until f has no pending entries; 0, -ETIMEDOUT, or -EACCES when
 * what is left is held for its content type (see writeback.c). */
int writeback_wait_file(struct objfs_writeback *wb, struct objfs_file *f, unsigned timeout_s);
/* Drops f's queued entries and waits for one in flight to finish. */
void writeback_cancel_file(struct objfs_writeback *wb, struct objfs_file *f);
/* Keeps uploads of f from starting and waits for one in flight to end
 * (a rename in progress); undone by writeback_unhold_file. */
void writeback_hold_file(struct objfs_writeback *wb, struct objfs_file *f);
void writeback_unhold_file(struct objfs_writeback *wb, struct objfs_file *f);
/* f was renamed to path: its journal entries now upload there. */
int writeback_retarget_file(struct objfs_writeback *wb, struct objfs_file *f, const char *path);
/* f's base object was copied: entries over old_etag now read new_etag. */
int writeback_rebase_file(struct objfs_writeback *wb, struct objfs_file *f, const char *old_etag,
			  const char *new_etag);
/* Entries held for a refused content type (sniff_types) are checked again,
 * e.g. after a reload changed the tenants' allowed_types/denied_types. */
void writeback_release_held(struct objfs_writeback *wb);
/* Uploads f's entries now, whatever the write-back delay. */
void writeback_expedite_file(struct objfs_writeback *wb, struct objfs_file *f);
/* Waits until the queue is empty; returns the number of entries left. */
size_t writeback_drain(struct objfs_writeback *wb, unsigned timeout_s);
/* Entries queued or in flight. */
size_t writeback_pending(struct objfs_writeback *wb);

/* A snapshot of the queue for status and metrics. */
struct writeback_stats {
	size_t pending;              /* entries queued or in flight */
	size_t in_flight;            /* entries a worker is uploading now */
	size_t retrying;             /* entries that failed at least once */
	uint64_t bytes_pending;      /* sum of the pending entries' sizes */
	int64_t oldest_commit_ms;    /* commit time of the oldest pending entry; 0: none */
};
void writeback_get_stats(struct objfs_writeback *wb, struct writeback_stats *out);
/* Pending entries of tenant t (NULL: every tenant) whose path is `path` or
 * below it ("" or NULL: the whole tenant). */
size_t writeback_pending_under(struct objfs_writeback *wb, const struct objfs_tenant *t,
			       const char *path);
/* Waits until writeback_pending_under(t, path) is 0, uploading those entries
 * now whatever the write-back delay; returns how many are left (0 unless the
 * timeout passed).  Safe from any thread but an upload worker. */
size_t writeback_flush_under(struct objfs_writeback *wb, const struct objfs_tenant *t,
			     const char *path, unsigned timeout_ms);

#endif
