/*
 * The per-object copy engine of objfs-ctl's migrate and backup commands
 * (tools/ctl_copy.c), and the small helpers both share.
 *
 * A copier copies one object at a time from (src, src_bucket) to (dst,
 * dst_bucket): ranged gets of CTL_COPY_CHUNK bytes pinned to the source's
 * ETag (if-match), into one put (bodies up to CTL_COPY_MPU_THRESHOLD; above
 * one chunk spooled to an unlinked file in spool_dir) or a multipart upload
 * (parts of CTL_COPY_CHUNK or more), hashing what was read; then verified:
 * the target's head must show the size and either an s3 plain ETag equal to
 * the MD5 of the bytes sent, or the target's bytes read back must have the
 * same SHA-256.  A copy that fails verification is deleted from the target.
 * One copier per thread (it owns a chunk buffer and the spool file); the
 * providers are shared.
 */
#ifndef OBJFS_CTL_COPY_H
#define OBJFS_CTL_COPY_H

#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "objfs/provider.h"
#include "config.h"

#define CTL_COPY_CHUNK         (8ull << 20)    /* ranged gets, and the smallest part */
#define CTL_COPY_MPU_THRESHOLD (64ull << 20)   /* multipart above this */
#define CTL_SHA256_HEX         65              /* 64 hex digits and the NUL */

struct ctl_copier {
	/* set by the caller before ctl_copier_init; read-only after */
	struct objfs_prov *src, *dst;
	const char *src_bucket, *dst_bucket;
	int dst_s3;                    /* the target is s3: a plain ETag is the body's MD5 */
	const char *spool_dir;         /* the configuration's cache_dir */
	const volatile sig_atomic_t *stop;   /* may be NULL; set: stop between parts */
	/* Optional multipart hooks: begin after the upload is created (its id),
	 * end after it was completed or aborted.  Called from the copying thread. */
	void (*mpu_begin)(void *arg, const char *dkey, const char *id);
	void (*mpu_end)(void *arg, const char *dkey);
	void *hook_arg;
	/* owned: ctl_copier_init allocates, ctl_copier_free frees */
	unsigned char *buf;            /* CTL_COPY_CHUNK bytes */
	int spool_fd;                  /* unlinked file in spool_dir, or -1 */
};

/* 0 or -ENOMEM.  ctl_copier_free accepts a copier whose init failed or was
 * never called (after a memset to 0 and spool_fd = -1). */
int ctl_copier_init(struct ctl_copier *c);
void ctl_copier_free(struct ctl_copier *c);

/*
 * Streams the source object oi (size and etag from a listing or a head) to
 * dkey on the target with po (content type, metadata), then verifies it
 * (see above).  sha (CTL_SHA256_HEX bytes, may be NULL) receives the
 * SHA-256 of the bytes copied.  Returns 0, or a negative errno with the
 * reason in why: -ENOENT when the source object is gone (the caller decides
 * whether that is a failure), -ESTALE when it changed during the copy.
 */
int ctl_copy_stream(struct ctl_copier *c, const struct objfs_objinfo *oi, const char *dkey,
		    const struct objfs_putopts *po, char *sha, char *why, size_t n);

/*
 * Server-side copy of oi->key to dkey, both in c->src_bucket of c->src
 * (one store, one bucket), the metadata replaced by po; verified by size
 * and, where both ETags are plain MD5s of an s3 store, by ETag; sha gets the
 * SHA-256 of the copy read back (the copy is read, nothing is uploaded).
 * A copy that fails verification is deleted.  0 or a negative errno (why).
 */
int ctl_copy_server_side(struct ctl_copier *c, const struct objfs_objinfo *oi, const char *dkey,
			 const struct objfs_putopts *po, char *sha, char *why, size_t n);

/* SHA-256 (hex, CTL_SHA256_HEX bytes) of size bytes of key read with ranged
 * gets (if-match etag when not NULL/empty) through c's buffer.  0 or a
 * negative errno with the reason in why (prefixed by what). */
int ctl_copy_hash_object(struct ctl_copier *c, struct objfs_prov *p, const char *bucket,
			 const char *key, const char *etag, uint64_t size, char *sha,
			 const char *what, char *why, size_t n);

/* Like ctl_copy_hash_object, and writes the bytes to fd (at its position)
 * when fd >= 0. */
int ctl_copy_to_fd(struct ctl_copier *c, struct objfs_prov *p, const char *bucket,
		   const char *key, const char *etag, uint64_t size, int fd, char *sha,
		   const char *what, char *why, size_t n);
/* SHA-256 (hex) and size of a file's contents, read from offset 0 through
 * c's buffer.  0 or a negative errno. */
int ctl_hash_fd(struct ctl_copier *c, int fd, char *sha, uint64_t *size);

/* 1 for errors worth another attempt (EIO, ESTALE, timeouts, resets). */
int ctl_copy_transient(int rc);
/* 1 if etag is 32 hex digits (a plain, single-part S3 ETag). */
int ctl_etag_plain(const char *etag);
/* ct, or application/octet-stream when NULL or empty. */
const char *ctl_ctype_or_default(const char *ct);
/* 1 if both carry the same user metadata (names without case: S3 lower-cases them). */
int ctl_same_meta(const struct objfs_objinfo *a, const struct objfs_objinfo *b);

/* ---- command helpers ---- */
/* Set by SIGINT or SIGTERM while ctl_signals_catch's handler is installed:
 * a run stops between objects. */
extern volatile sig_atomic_t ctl_signalled;
void ctl_signals_catch(struct sigaction *old_int, struct sigaction *old_term);
void ctl_signals_restore(const struct sigaction *old_int, const struct sigaction *old_term);
/* "objfs-ctl: CMD: " and the message, and a newline, on stderr. */
void ctl_err(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* err's message, or strerror(-rc) when it has none. */
const char *ctl_emsg(const struct objfs_err *err, int rc);
/* The next option of a command's arguments (getopt_long with "+": stops at
 * the first non-option; reset optind first).  --help ('h') prints usage to
 * stdout and sets *status to 0, an unknown option or a missing argument
 * prints it to stderr and sets *status to 2; both end the parse like the
 * end of the options (-1), which leaves *status alone. */
int ctl_getopt(int argc, char **argv, const struct option *opts, void (*usage)(FILE *f),
	       int *status);
/* Calls one(arg, why, n) up to attempts times (why emptied before each)
 * while it fails with a transient error (ctl_copy_transient) and no signal
 * came (ctl_signalled), sleeping 1, 2, ... s after each failure; after
 * -ESTALE (the object changed meanwhile) changed(arg) first.  Returns the
 * last call's result. */
int ctl_retry(int attempts, int (*one)(void *arg, char *why, size_t n),
	      void (*changed)(void *arg), void *arg, char *why, size_t n);
/* "objfs-ctl: CMD: NAME: WHY" on stderr (strerror(-rc) when why is empty),
 * over the live progress line on a terminal. */
void ctl_report_failure(const char *cmd, const char *name, const char *why, int rc);
/* Waits on cv (m held) for at most ms milliseconds. */
void ctl_cond_wait_ms(pthread_cond_t *cv, pthread_mutex_t *m, long ms);

/* ---- configuration helpers ---- */
/* Loads path into *cfg (free with objfs_config_free); the log level is set
 * to warnings unless $OBJFS_LOG_LEVEL says otherwise.  0, or -EINVAL with
 * the message printed as "objfs-ctl: CMD: ...". */
int ctl_load_config(const char *cmd, const char *path, struct objfs_config **cfg);
const struct objfs_tenant_conf *ctl_find_tenant(const struct objfs_config *cfg, const char *name);
const struct objfs_provider_section *ctl_find_provider(const struct objfs_config *cfg,
						       const char *name);
/* 1 if two provider sections reach the same store (same name, or the same
 * type at the same root or endpoint). */
int ctl_same_store(const struct objfs_provider_conf *a, const struct objfs_provider_conf *b);
/* Normalised prefix (malloc'ed, NULL on ENOMEM): no leading '/', a trailing
 * '/' unless empty. */
char *ctl_norm_prefix(const char *p);
/* Checks a prefix given on the command line: 0, or -EINVAL with the reason
 * printed as "objfs-ctl: CMD: ...". */
int ctl_check_prefix(const char *cmd, const char *opt, const char *prefix);
/* Applies tenant t's storage settings (SSE-C key, SSE, class, ACL) to p for
 * (bucket, prefix), so that reads and writes there behave like objfs's.
 * which names p in messages ("source", "target").  0 or a negative errno
 * (printed). */
int ctl_apply_defaults(const char *cmd, const struct objfs_tenant_conf *t, struct objfs_prov *p,
		       const char *bucket, const char *prefix, const char *which);

/* ---- output ---- */
/* Monotonic seconds. */
double ctl_now(void);
/* "12.3 MiB". */
void ctl_human(uint64_t b, char *out, size_t n);

/* Progress throttle: a live line on a terminal (every 0.5 s), else a line
 * every 2 s or every 1000 objects.  Returns 1 when a line is due now (and
 * records it); force: always.  count: objects handled so far. */
struct ctl_progress {
	int tty;
	double t0, last;
	uint64_t last_count;
};
void ctl_progress_init(struct ctl_progress *p, double t0);
int ctl_progress_due(struct ctl_progress *p, uint64_t count, int force);
/* "\r\033[K" on a terminal (to overwrite the live line), else "". */
const char *ctl_progress_cr(const struct ctl_progress *p);

/* ---- line files (state, manifests) ---- */
/* Appends the escaped form of s to f: %XX for bytes <= 0x20, '%' and 0x7f;
 * "%" alone for the empty string. */
void ctl_esc_put(FILE *f, const char *s);
/* Decodes in place; -EINVAL for a malformed escape or a NUL byte. */
int ctl_esc_get(char *s);
/* Splits line (modified) into space-separated words, each decoded with
 * ctl_esc_get: at most max words into w.  Returns the count, or -1 for a
 * malformed word or more than max words. */
int ctl_split_words(char *line, char **w, int max);

#endif
