/*
 * Audit log: one JSON object per line for every mutating operation (FUSE
 * mutations, presigned PUTs, control-socket flush/reload), with who did it
 * and how it ended:
 *   {"time":"2026-11-23T10:00:00.123Z","uid":1000,"pid":4242,"tenant":"acme",
 *    "op":"rename","path":"a/b","to":"a/c","result":"ok"}
 * result is "ok" or the errno name ("EACCES"); "detail" is added when given.
 * Lines are written with one write(2) on an O_APPEND descriptor, so
 * concurrent writers never interleave.  Rotation: when the file passes
 * max_bytes it is renamed to PATH.1 (PATH.1 to PATH.2, ... up to keep) and
 * a new one is opened; objfs_audit_reopen() (SIGHUP) reopens PATH for
 * external rotation (logrotate's create/move).  See docs/operations.md.
 */
#ifndef OBJFS_AUDIT_H
#define OBJFS_AUDIT_H

#include <stdint.h>
#include <sys/types.h>

/* Opens (creates, mode 0640) the log at path; path NULL or "" turns auditing
 * off.  0, or a negative errno with a one-line message in err. */
int objfs_audit_open(const char *path, uint64_t max_bytes, unsigned keep, char *err,
		     size_t errlen);
void objfs_audit_close(void);
/* Reopens the file (after external rotation); 0 or a negative errno. */
int objfs_audit_reopen(void);
/* 1 when auditing is on (callers may skip building arguments otherwise). */
int objfs_audit_enabled(void);

/* Records one operation.  tenant, path, to and detail may be NULL; rc is 0
 * or a negative errno.  Never fails the caller: a write error is logged
 * (once per burst) and the record dropped. */
void objfs_audit(uid_t uid, pid_t pid, const char *tenant, const char *op, const char *path,
		 const char *to, int rc, const char *detail);

#endif
