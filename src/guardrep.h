/*
 * Guardrail reports: problems the daemon keeps showing in /v1/status (each
 * tenant's "guardrails" array, so `objfs-ctl status` prints them) until they
 * are resolved, e.g. a commit held in staging because its content type is
 * refused, or a presigned upload that landed past a tenant's limits.
 *
 * A report is keyed by (tenant, path, kind): a newer one replaces the older.
 * The set is bounded (GUARDREP_MAX); past it the oldest report is dropped (and
 * a warning logged).  Thread-safe; the lock is a leaf.
 */
#ifndef OBJFS_GUARDREP_H
#define OBJFS_GUARDREP_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define GUARDREP_MAX 1000

enum guardrep_kind {
	GUARDREP_HELD_COMMIT = 0,      /* a commit kept in staging, not uploaded */
	GUARDREP_PRESIGNED_UPLOAD,     /* an object put through a presigned URL broke a limit */
	GUARDREP_KIND_COUNT
};

/* Adds or replaces the report; reason is one human-readable line. */
void guardrep_add(const char *tenant, const char *path, enum guardrep_kind kind,
		  const char *reason);
/* Removes the report (no-op when there is none). */
void guardrep_clear(const char *tenant, const char *path, enum guardrep_kind kind);
/* The tenant's reports, oldest first, as a new JSON array of
 * {"kind":"held_commit"|"presigned_upload","path":...,"reason":...,"time":epoch_s};
 * NULL on allocation failure. */
json_t *guardrep_json(const char *tenant);

#endif
