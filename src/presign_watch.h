/*
 * Checks of presigned uploads that land where the daemon cannot stop them.
 *
 * A presigned PUT URL of S3, GCS or Azure goes straight to the store: the
 * signature binds what the provider can carry (a content type, a size; see
 * struct objfs_presign_cond), and nothing binds the tenant's quota.  So the
 * control socket registers every PUT URL it issues for a tenant with
 * guardrails (max_object_size, quota_bytes, allowed_types/denied_types)
 * here, and a background thread HEADs the object until the URL has expired
 * plus a margin (PRESIGN_WATCH_MARGIN_S: an upload begun just before the
 * expiry may still be running).  An object that landed after the URL was
 * issued and breaks a limit of the tenant's current configuration (size,
 * stored content type, quota) is reported: guardrep_add(GUARDREP_PRESIGNED_
 * UPLOAD) so `objfs-ctl status` shows it, a log line, and an audit record
 * ("presign-landed", with the uid/pid that asked for the URL).  The object is
 * never deleted: it is the uploader's data, and the operator decides.  A
 * later upload of the same key within the limits clears the report.
 *
 * Bounded: at most PRESIGN_WATCH_MAX URLs (past it the one closest to its
 * end is dropped and logged), at most PRESIGN_WATCH_HEADS HEAD
 * requests per second, and each URL is polled after 1 s, then at doubling
 * intervals up to 30 s (back to 1 s after a change).  URLs of the local
 * provider are not registered: its presign server checks everything before
 * it stores (OBJFS_PRESIGN_CHECKED_AT_UPLOAD).  Process-wide, like the other
 * service threads; thread-safe.
 */
#ifndef OBJFS_PRESIGN_WATCH_H
#define OBJFS_PRESIGN_WATCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

struct objfs_ctx;
struct objfs_tenant;

#define PRESIGN_WATCH_MAX      1024
#define PRESIGN_WATCH_HEADS    16       /* HEAD requests per second, at most */
#define PRESIGN_WATCH_MARGIN_S 600

/* Starts the thread (0 or a negative errno); stop joins it and forgets
 * every URL.  Without a started thread, add is a no-op. */
int presign_watch_start(struct objfs_ctx *ctx);
void presign_watch_stop(void);

/* Registers a PUT URL for (t, rel) (key: the object key) valid until
 * expires (wall clock); a URL for a key already watched extends that entry.
 * uid/pid: who asked, for the audit record.  0 or -ENOMEM. */
int presign_watch_add(struct objfs_tenant *t, const char *rel, const char *key, time_t expires,
		      uid_t uid, pid_t pid);

#endif
