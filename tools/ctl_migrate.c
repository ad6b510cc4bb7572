/*
 * objfs-ctl migrate: copies every object of one tenant to another provider.
 *
 *   objfs-ctl --config FILE migrate --tenant T --to PROVIDER [--bucket B]
 *       [--prefix P] [--dry-run] [--parallel N] [--state FILE]
 *
 * Source: the tenant's provider, bucket and prefix from the configuration.
 * Target: [provider PROVIDER] of the same file, bucket B (default the
 * tenant's bucket), prefix P (default the tenant's prefix); an object
 * SRCPREFIX/rel becomes DSTPREFIX/rel with the same content type and the
 * same metadata (objinfo meta copied verbatim: mode, uid, gid, mtime, xattr
 * as the store keeps them).
 *
 * Pipeline: the main thread lists the source (pages of 1000) into a window
 * of at most MG_WINDOW objects in key order; N workers take objects from it
 * and, per object: head the target and skip it when it already holds the
 * same size, content type and metadata (and the same ETag when both ETags
 * are plain MD5s of s3 stores); otherwise stream it with ranged gets of
 * CTL_COPY_CHUNK bytes (if-match on the source's ETag) into a put (up to
 * CTL_COPY_MPU_THRESHOLD; bodies above one chunk spooled to an unlinked file
 * in cache_dir) or a multipart upload (above it, parts of CTL_COPY_CHUNK or more),
 * hashing what was read (SHA-256 and MD5); then verify: a head on the target
 * must show the size, and either an s3 plain ETag equal to the MD5 of the
 * bytes sent, or the target's bytes read back must have the same SHA-256.
 * A copy that fails verification is deleted from the target.  Memory: one
 * chunk buffer per worker plus the window.
 *
 * Resume: the state file (cache_dir/migrate-T-PROVIDER.state or --state)
 * is a log of lines, appended as the run goes (one write(2) per line, so a
 * SIGKILL loses at most the objects in flight, whose copies are then found
 * by the head check):
 *   objfs-migrate-state 1
 *   source PROV BUCKET PREFIX        target PROV BUCKET PREFIX
 *   pos KEY        every key <= KEY is done (except "fail" keys)
 *   done KEY       KEY is done (copied or skipped)
 *   fail KEY       KEY failed: retried by the next run
 *   mpu KEY ID / mpuend KEY          a multipart upload in progress (aborted
 *                                    by the next run if the process died)
 * Keys and prefixes are written with %XX for bytes <= 0x20, '%' and 0x7f
 * ("%" alone is the empty string).  The listing is restarted from the first
 * key on resume (continuation tokens are opaque and may expire); keys the
 * state covers are passed over without any request.  The file is rewritten
 * (compacted) at start and every MG_COMPACT_LINES lines, and removed after a
 * run with no failures.  A lock file (STATE.lock, flock) keeps two runs off
 * one state.
 *
 * Output: progress on stderr (a live line on a terminal, else a line every
 * 2 s or 1000 objects), one line per failed object on stderr,
 * and the summary on stdout:
 *   migrated N objects (B bytes), skipped S, failed F in T s
 * Exit status: 0, 1 when an object failed (or the run was stopped), 2 bad usage.
 * Logging: warnings only, unless OBJFS_LOG_LEVEL says otherwise.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "objfs/provider.h"
#include "config.h"
#include "ctl.h"
#include "ctl_copy.h"
#include "log.h"
#include "strutil.h"

#define MG_DEFAULT_CONFIG  "/etc/objfs/objfs.conf"
#define MG_PARALLEL_DEF    4
#define MG_PARALLEL_MAX    64
#define MG_WINDOW          1024            /* listed objects held at once */
#define MG_ATTEMPTS        3               /* per object, on transient errors */
#define MG_GIVE_UP         50              /* failures in a row that stop the run */
#define MG_COMPACT_LINES   20000
#define MG_MAX_FAILS       100000          /* failed keys remembered for the state */

enum { IT_QUEUED = 0, IT_RUNNING, IT_DONE };
enum { R_COPIED = 1, R_SKIPPED, R_WOULD_COPY, R_FAILED };

struct mg_mpu {
	char *key, *id;
};

/* One copying thread; mpu_key/mpu_id (its multipart upload) under mg.lock. */
struct mg_worker {
	struct mg *m;
	pthread_t th;
	struct ctl_copier cp;          /* its buffer and spool file */
	const char *mpu_key, *mpu_id;
};

struct mg_item {
	struct objfs_objinfo oi;       /* the source object; owned */
	int state;                     /* IT_*, under mg.lock */
	int result;                    /* R_*, set with IT_DONE */
	uint64_t bytes;                /* copied (or would be) */
};

/* A sorted set of keys (the resume state's "done" and "fail" keys). */
struct keyset {
	char **v;
	size_t n, cap;
};

struct mg {
	/* set up before the workers start, read-only after */
	struct objfs_config *cfg;
	const struct objfs_tenant_conf *t;
	const struct objfs_provider_conf *src_pc, *dst_pc;
	struct objfs_prov *src, *dst;
	const char *src_bucket, *src_prefix;
	char *dst_bucket, *dst_prefix;
	int dry_run, dst_missing;      /* dst_missing: dry run onto a bucket not there yet */
	unsigned parallel;
	char *state_path;
	int md5_etags;                 /* both stores give MD5 ETags for plain puts (s3) */

	pthread_mutex_t lock;          /* everything below */
	pthread_cond_t cv_work;        /* an item was queued, or the run ends */
	pthread_cond_t cv_done;        /* an item finished */
	struct mg_item ring[MG_WINDOW];
	uint64_t head, disp, tail;     /* sequence numbers: retired < head <= disp <= tail */
	int listing_done, stop;
	unsigned fails_in_row;
	uint64_t n_copied, b_copied, n_skipped, n_skipped_state, n_failed, n_would, b_would;

	/* state (lock held, or main thread before/after the workers) */
	int state_fd, lock_fd;
	unsigned long state_lines;
	char *pos;                     /* watermark */
	struct keyset done, fail;      /* loaded: done keys > pos; failed keys not done since */
	struct keyset run_fail;        /* keys failed in this run */
	struct mg_mpu *mpus;           /* uploads the state names as unfinished */
	size_t nmpus;
	struct mg_worker *workers;     /* their current uploads go into compactions */
	unsigned nworkers;
	unsigned running;              /* items being copied */
};

#define mg_err(...) ctl_err("migrate", __VA_ARGS__)

/* ---- key sets ----------------------------------------------------------- */

static int ks_find(const struct keyset *s, const char *k, size_t *at)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(s->v[mid], k);

		if (c == 0) {
			if (at)
				*at = mid;
			return 1;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (at)
		*at = lo;
	return 0;
}

static int ks_add(struct keyset *s, const char *k)
{
	size_t at;
	char *c;

	if (ks_find(s, k, &at))
		return 0;
	if (s->n == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 16;
		char **nv = realloc(s->v, ncap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		s->v = nv;
		s->cap = ncap;
	}
	if (!(c = strdup(k)))
		return -ENOMEM;
	memmove(s->v + at + 1, s->v + at, (s->n - at) * sizeof(*s->v));
	s->v[at] = c;
	s->n++;
	return 0;
}

static void ks_del(struct keyset *s, const char *k)
{
	size_t at;

	if (!ks_find(s, k, &at))
		return;
	free(s->v[at]);
	memmove(s->v + at, s->v + at + 1, (s->n - at - 1) * sizeof(*s->v));
	s->n--;
}

static void ks_clear(struct keyset *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* ---- the state file ----------------------------------------------------- */

/* Writes the header lines for this migration to f. */
static void state_header(const struct mg *m, FILE *f)
{
	fprintf(f, "objfs-migrate-state 1\nsource ");
	ctl_esc_put(f, m->src_pc->name);
	fputc(' ', f);
	ctl_esc_put(f, m->src_bucket);
	fputc(' ', f);
	ctl_esc_put(f, m->src_prefix);
	fprintf(f, "\ntarget ");
	ctl_esc_put(f, m->dst_pc->name);
	fputc(' ', f);
	ctl_esc_put(f, m->dst_bucket);
	fputc(' ', f);
	ctl_esc_put(f, m->dst_prefix);
	fputc('\n', f);
}

/* Appends one "WORD KEY [ARG]" line with a single write(2).  Lock held (or
 * no workers).  Failures are reported once; the run goes on (the state is
 * an optimisation: without it a rerun heads every object again). */
static void state_append(struct mg *m, const char *word, const char *key, const char *arg)
{
	static int warned;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	if (m->state_fd < 0)
		return;
	if (!(f = open_memstream(&buf, &len)))
		return;
	fprintf(f, "%s ", word);
	ctl_esc_put(f, key);
	if (arg) {
		fputc(' ', f);
		ctl_esc_put(f, arg);
	}
	fputc('\n', f);
	if (fclose(f) == 0) {
		ssize_t w = write(m->state_fd, buf, len);

		if (w != (ssize_t)len && !warned) {
			warned = 1;
			mg_err("state file %s: write failed (%s); a rerun will check every object"
			       " again", m->state_path, w < 0 ? strerror(errno) : "short write");
		}
		m->state_lines++;
	}
	free(buf);
}

/*
 * Rewrites the state file from what is known now: the header, pos, the
 * failed keys, the unfinished uploads, and the done keys above pos (loaded
 * ones and finished items still in the window).  Through a temporary file
 * renamed into place; the append descriptor is reopened.  Lock held (or no
 * workers).  0 or negative errno.
 */
static int state_compact(struct mg *m)
{
	char tmp[PATH_MAX];
	FILE *f = NULL;
	int fd = -1, rc = 0;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", m->state_path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		rc = -errno;
		if (fd >= 0)
			close(fd);
		goto out;
	}
	state_header(m, f);
	if (m->pos) {
		fputs("pos ", f);
		ctl_esc_put(f, m->pos);
		fputc('\n', f);
	}
	for (size_t i = 0; i < m->fail.n; i++) {
		/* loaded failures not done yet (a success removes them), and this run's */
		fputs("fail ", f);
		ctl_esc_put(f, m->fail.v[i]);
		fputc('\n', f);
	}
	for (size_t i = 0; i < m->run_fail.n; i++) {
		if (ks_find(&m->fail, m->run_fail.v[i], NULL))
			continue;
		fputs("fail ", f);
		ctl_esc_put(f, m->run_fail.v[i]);
		fputc('\n', f);
	}
	for (size_t i = 0; i < m->nmpus; i++) {
		fputs("mpu ", f);
		ctl_esc_put(f, m->mpus[i].key);
		fputc(' ', f);
		ctl_esc_put(f, m->mpus[i].id);
		fputc('\n', f);
	}
	for (unsigned i = 0; i < m->nworkers; i++) {
		if (!m->workers[i].mpu_key)
			continue;
		fputs("mpu ", f);
		ctl_esc_put(f, m->workers[i].mpu_key);
		fputc(' ', f);
		ctl_esc_put(f, m->workers[i].mpu_id);
		fputc('\n', f);
	}
	for (size_t i = 0; i < m->done.n; i++) {
		if (m->pos && strcmp(m->done.v[i], m->pos) <= 0)
			continue;
		fputs("done ", f);
		ctl_esc_put(f, m->done.v[i]);
		fputc('\n', f);
	}
	for (uint64_t s = m->head; s < m->tail; s++) {
		const struct mg_item *it = &m->ring[s % MG_WINDOW];

		if (it->state == IT_DONE && it->result != R_FAILED) {
			fputs("done ", f);
			ctl_esc_put(f, it->oi.key);
			fputc('\n', f);
		}
	}
	if (fflush(f) || fsync(fileno(f))) {
		rc = -errno;
		goto out;
	}
	if (fclose(f)) {
		f = NULL;
		rc = -errno;
		goto out;
	}
	f = NULL;
	if (rename(tmp, m->state_path)) {
		rc = -errno;
		goto out;
	}
	if (m->state_fd >= 0)
		close(m->state_fd);
	m->state_fd = open(m->state_path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (m->state_fd < 0)
		rc = -errno;
	m->state_lines = 0;
out:
	if (f)
		fclose(f);
	if (rc) {
		unlink(tmp);
		mg_err("state file %s: cannot rewrite: %s", m->state_path, strerror(-rc));
	}
	return rc;
}

/* Splits "word a b c" into the word and at most 3 decoded arguments.
 * Returns the count of arguments, or -1. */
static int state_split(char *line, char **word, char **args)
{
	char *w[5];
	int n = ctl_split_words(line, w, 5);

	if (n < 1)
		return -1;
	*word = w[0];
	for (int i = 1; i < n; i++)
		args[i - 1] = w[i];
	return n - 1;
}

/*
 * Loads the state file, if any: checks that it belongs to this migration
 * (same source and target), then keeps pos, done keys above it, failed keys
 * and unfinished uploads.  0, or -EINVAL with the message printed.
 */
static int state_load(struct mg *m)
{
	FILE *f = fopen(m->state_path, "r");
	char *line = NULL, *word, *args[4];
	size_t cap = 0;
	ssize_t len;
	int lineno = 0, rc = 0, n;

	if (!f) {
		if (errno == ENOENT)
			return 0;
		mg_err("state file %s: %s", m->state_path, strerror(errno));
		return -errno;
	}
	while ((len = getline(&line, &cap, f)) >= 0) {
		lineno++;
		if (len && line[len - 1] == '\n')
			line[--len] = '\0';
		else if (len)
			break;          /* a torn last line (killed while appending): ignore it */
		if (!len)
			continue;
		n = state_split(line, &word, args);
		if (n < 0) {
			rc = -EINVAL;
		} else if (lineno == 1) {
			if (strcmp(word, "objfs-migrate-state") || n != 1 || strcmp(args[0], "1"))
				rc = -EINVAL;
		} else if (!strcmp(word, "source") || !strcmp(word, "target")) {
			int src = word[0] == 's';
			const char *pn = src ? m->src_pc->name : m->dst_pc->name;
			const char *b = src ? m->src_bucket : m->dst_bucket;
			const char *p = src ? m->src_prefix : m->dst_prefix;

			if (n != 3) {
				rc = -EINVAL;
			} else if (strcmp(args[0], pn) || strcmp(args[1], b) || strcmp(args[2], p)) {
				mg_err("state file %s belongs to another migration (%s %s bucket %s"
				       " prefix \"%s\"); remove it to start over, or use --state FILE",
				       m->state_path, word, args[0], args[1], args[2]);
				rc = -EEXIST;
				goto out;
			}
		} else if (!strcmp(word, "pos") && n == 1) {
			free(m->pos);
			if (!(m->pos = strdup(args[0])))
				rc = -ENOMEM;
		} else if (!strcmp(word, "done") && n == 1) {
			ks_del(&m->fail, args[0]);
			rc = ks_add(&m->done, args[0]);
		} else if (!strcmp(word, "fail") && n == 1) {
			ks_del(&m->done, args[0]);
			rc = ks_add(&m->fail, args[0]);
		} else if (!strcmp(word, "mpu") && n == 2) {
			struct mg_mpu *nv = realloc(m->mpus, (m->nmpus + 1) * sizeof(*nv));

			if (!nv) {
				rc = -ENOMEM;
			} else {
				m->mpus = nv;
				nv[m->nmpus].key = strdup(args[0]);
				nv[m->nmpus].id = strdup(args[1]);
				if (!nv[m->nmpus].key || !nv[m->nmpus].id) {
					free(nv[m->nmpus].key);
					free(nv[m->nmpus].id);
					rc = -ENOMEM;
				} else {
					m->nmpus++;
				}
			}
		} else if (!strcmp(word, "mpuend") && n == 1) {
			for (size_t i = 0; i < m->nmpus; i++)
				if (!strcmp(m->mpus[i].key, args[0])) {
					free(m->mpus[i].key);
					free(m->mpus[i].id);
					m->mpus[i] = m->mpus[--m->nmpus];
					break;
				}
		} else {
			rc = -EINVAL;
		}
		if (rc) {
			if (rc == -EINVAL)
				mg_err("state file %s:%d: not a migrate state line; remove the file to"
				       " start over", m->state_path, lineno);
			goto out;
		}
	}
	/* done keys at or below pos are covered by it */
	if (m->pos) {
		struct keyset keep = { NULL, 0, 0 };

		for (size_t i = 0; i < m->done.n && !rc; i++)
			if (strcmp(m->done.v[i], m->pos) > 0)
				rc = ks_add(&keep, m->done.v[i]);
		ks_clear(&m->done);
		m->done = keep;
	}
	if (lineno)
		fprintf(stderr, "objfs-ctl: migrate: resuming from %s: %s%s%s%zu done beyond it, %zu"
			" failed to retry\n", m->state_path, m->pos ? "done up to \"" : "nothing",
			m->pos ? m->pos : " in order", m->pos ? "\", " : ", ", m->done.n, m->fail.n);
out:
	free(line);
	fclose(f);
	return rc;
}

/* Aborts the multipart uploads a killed run left behind (abort: 1), and
 * forgets them. */
static void leftover_uploads(struct mg *m, int abort)
{
	for (size_t i = 0; i < m->nmpus; i++) {
		struct objfs_err err;
		int rc = abort ? objfs_prov_mpu_abort(m->dst, m->dst_bucket, m->mpus[i].key,
						      m->mpus[i].id, &err) : 0;

		if (rc && rc != -ENOENT)
			mg_err("%s: cannot abort the unfinished upload of an earlier run: %s",
			       m->mpus[i].key, ctl_emsg(&err, rc));
		free(m->mpus[i].key);
		free(m->mpus[i].id);
	}
	free(m->mpus);
	m->mpus = NULL;
	m->nmpus = 0;
}

/* ---- copying one object ------------------------------------------------- */

/* 1 if the target object dst is already a copy of src. */
static int same_object(const struct mg *m, const struct objfs_objinfo *src,
		       const struct objfs_objinfo *dst)
{
	if (src->size != dst->size)
		return 0;
	if (strcasecmp(ctl_ctype_or_default(src->content_type),
		       ctl_ctype_or_default(dst->content_type)))
		return 0;
	if (!ctl_same_meta(src, dst))
		return 0;
	if (m->md5_etags && ctl_etag_plain(src->etag) && ctl_etag_plain(dst->etag))
		return !strcasecmp(src->etag, dst->etag);
	return 1;
}

/* The copier's multipart hooks: the state names the upload while it runs. */
static void mpu_begin(void *arg, const char *dkey, const char *id)
{
	struct mg_worker *w = arg;

	pthread_mutex_lock(&w->m->lock);
	state_append(w->m, "mpu", dkey, id);
	w->mpu_key = dkey;
	w->mpu_id = id;
	pthread_mutex_unlock(&w->m->lock);
}

static void mpu_end(void *arg, const char *dkey)
{
	struct mg_worker *w = arg;

	pthread_mutex_lock(&w->m->lock);
	state_append(w->m, "mpuend", dkey, NULL);
	w->mpu_key = w->mpu_id = NULL;
	pthread_mutex_unlock(&w->m->lock);
}

/*
 * Copies (or, dry run, checks) one object.  *result R_COPIED / R_SKIPPED /
 * R_WOULD_COPY; on failure a negative errno with the reason in why.
 */
static int copy_one(struct mg_worker *w, struct mg_item *it, int *result, char *why, size_t n)
{
	struct mg *m = w->m;
	struct objfs_objinfo *oi = &it->oi, d;
	struct objfs_putopts po;
	struct objfs_err err;
	char dkey[OBJFS_KEY_MAX + 1];
	size_t plen = strlen(m->src_prefix);
	int rc;

	memset(&d, 0, sizeof(d));
	if ((size_t)snprintf(dkey, sizeof(dkey), "%s%s", m->dst_prefix, oi->key + plen) >=
	    sizeof(dkey)) {
		snprintf(why, n, "the target key would be longer than %d bytes", OBJFS_KEY_MAX);
		return -ENAMETOOLONG;
	}
	if (!oi->has_meta) {
		/* the listing had no metadata (s3): the head has it */
		struct objfs_objinfo full;

		memset(&full, 0, sizeof(full));
		rc = objfs_prov_head(m->src, m->src_bucket, oi->key, &full, &err);
		if (rc == -ENOENT) {
			*result = R_SKIPPED;
			fprintf(stderr, "objfs-ctl: migrate: %s: deleted from the source meanwhile;"
				" skipped\n", oi->key);
			return 0;
		}
		if (rc) {
			snprintf(why, n, "head: %s", ctl_emsg(&err, rc));
			return rc;
		}
		objfs_objinfo_clear(oi);
		*oi = full;
	}
	if (!m->dst_missing) {
		rc = objfs_prov_head(m->dst, m->dst_bucket, dkey, &d, &err);
		if (rc == 0 && same_object(m, oi, &d)) {
			objfs_objinfo_clear(&d);
			*result = R_SKIPPED;
			return 0;
		}
		objfs_objinfo_clear(&d);
		if (rc && rc != -ENOENT) {
			snprintf(why, n, "head of the target: %s", ctl_emsg(&err, rc));
			return rc;
		}
	}
	it->bytes = oi->size;
	if (m->dry_run) {
		*result = R_WOULD_COPY;
		return 0;
	}
	memset(&po, 0, sizeof(po));
	po.content_type = oi->content_type;
	po.meta = oi->meta;
	po.nmeta = oi->nmeta;
	rc = ctl_copy_stream(&w->cp, oi, dkey, &po, NULL, why, n);
	if (rc == -ENOENT &&
	    objfs_prov_head(m->src, m->src_bucket, oi->key, &d, &err) == -ENOENT) {
		fprintf(stderr, "objfs-ctl: migrate: %s: deleted from the source meanwhile;"
			" skipped\n", oi->key);
		*result = R_SKIPPED;
		rc = 0;
		goto out;
	}
	if (rc)
		goto out;
	*result = R_COPIED;
out:
	objfs_objinfo_clear(&d);
	return rc;
}

/* One attempt of a worker at an item (ctl_retry). */
struct mg_try {
	struct mg_worker *w;
	struct mg_item *it;
	int result;
};

static int try_one(void *arg, char *why, size_t n)
{
	struct mg_try *t = arg;

	return copy_one(t->w, t->it, &t->result, why, n);
}

static void try_changed(void *arg)
{
	((struct mg_try *)arg)->it->oi.has_meta = 0;
}

static void *worker_main(void *arg)
{
	struct mg_worker *w = arg;
	struct mg *m = w->m;

	pthread_mutex_lock(&m->lock);
	for (;;) {
		struct mg_try t = { w, NULL, R_FAILED };
		struct mg_item *it;
		char why[600];
		int result, rc;

		while (m->disp == m->tail && !m->listing_done && !m->stop)
			pthread_cond_wait(&m->cv_work, &m->lock);
		if (m->stop || m->disp == m->tail)
			break;
		it = t.it = &m->ring[m->disp++ % MG_WINDOW];
		it->state = IT_RUNNING;
		m->running++;
		pthread_mutex_unlock(&m->lock);

		rc = ctl_retry(MG_ATTEMPTS, try_one, try_changed, &t, why, sizeof(why));
		result = t.result;
		pthread_mutex_lock(&m->lock);
		if (rc) {
			result = R_FAILED;
			ctl_report_failure("migrate", it->oi.key, why, rc);
		}
		it->result = result;
		it->state = IT_DONE;
		m->running--;
		switch (result) {
		case R_COPIED:
			m->n_copied++;
			m->b_copied += it->bytes;
			break;
		case R_SKIPPED:
			m->n_skipped++;
			break;
		case R_WOULD_COPY:
			m->n_would++;
			m->b_would += it->bytes;
			break;
		default:
			m->n_failed++;
			break;
		}
		if (!m->dry_run) {
			if (result == R_FAILED) {
				state_append(m, "fail", it->oi.key, NULL);
				if (m->run_fail.n < MG_MAX_FAILS)
					ks_add(&m->run_fail, it->oi.key);
			} else {
				state_append(m, "done", it->oi.key, NULL);
				ks_del(&m->fail, it->oi.key);
			}
		}
		if (result == R_FAILED) {
			if (++m->fails_in_row >= MG_GIVE_UP && !m->stop) {
				m->stop = 1;
				mg_err("%u failures in a row: giving up (is the target reachable?)",
				       m->fails_in_row);
				pthread_cond_broadcast(&m->cv_work);
			}
		} else {
			m->fails_in_row = 0;
		}
		pthread_cond_broadcast(&m->cv_done);
	}
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

/* ---- the main loop ------------------------------------------------------ */

/* Lock held. */
static void progress(struct mg *m, struct ctl_progress *p, int force)
{
	double t = ctl_now();
	uint64_t count = m->n_copied + m->n_skipped + m->n_failed + m->n_would + m->n_skipped_state;
	char b[32];

	if (!ctl_progress_due(p, count, force))
		return;
	if (m->dry_run) {
		ctl_human(m->b_would, b, sizeof(b));
		fprintf(stderr, "%smigrate (dry run): %llu checked, %llu to copy (%s), %llu skipped%s",
			ctl_progress_cr(p), (unsigned long long)count,
			(unsigned long long)m->n_would, b,
			(unsigned long long)(m->n_skipped + m->n_skipped_state), p->tty ? "" : "\n");
	} else {
		ctl_human(m->b_copied, b, sizeof(b));
		fprintf(stderr, "%smigrate: %llu copied (%s), %llu skipped, %llu failed, %llu in"
			" flight, %.0f s%s", ctl_progress_cr(p), (unsigned long long)m->n_copied,
			b, (unsigned long long)(m->n_skipped + m->n_skipped_state),
			(unsigned long long)m->n_failed, (unsigned long long)m->running, t - p->t0, p->tty ? "" : "\n");
	}
	fflush(stderr);
}

/* Retires finished items at the head of the window, in key order: prints
 * the dry run's lines, moves pos.  Lock held. */
static void retire(struct mg *m, double *last_pos)
{
	const char *newpos = NULL;

	while (m->head < m->tail && m->ring[m->head % MG_WINDOW].state == IT_DONE) {
		struct mg_item *it = &m->ring[m->head % MG_WINDOW];

		if (m->dry_run && it->result == R_WOULD_COPY)
			printf("would copy %s (%llu bytes)\n", it->oi.key,
			       (unsigned long long)it->bytes);
		if (!m->pos || strcmp(it->oi.key, m->pos) > 0) {
			char *k = it->oi.key;

			it->oi.key = NULL;      /* moved into pos */
			free(m->pos);
			m->pos = k;
			newpos = m->pos;
		}
		objfs_objinfo_clear(&it->oi);
		m->head++;
	}
	if (newpos && !m->dry_run && ctl_now() - *last_pos >= 0.5) {
		*last_pos = ctl_now();
		state_append(m, "pos", m->pos, NULL);
	}
	if (!m->dry_run && m->state_fd >= 0 && m->state_lines >= MG_COMPACT_LINES)
		state_compact(m);
}

/* Waits (lock held) up to 250 ms for a finished item. */
static void wait_done(struct mg *m)
{
	ctl_cond_wait_ms(&m->cv_done, &m->lock, 250);
}

/* 1 if the state says key is done (no request needed). */
static int state_covers(struct mg *m, const char *key)
{
	if (ks_find(&m->fail, key, NULL))
		return 0;
	if (m->pos && strcmp(key, m->pos) <= 0)
		return 1;
	return ks_find(&m->done, key, NULL);
}

/* Lists the source into the window; returns 0 or a negative errno (listing
 * failed, reported). */
static int produce(struct mg *m, struct ctl_progress *p, double *last_pos)
{
	struct objfs_listing l;
	struct objfs_err err;
	char *token = NULL;
	int rc = 0;

	for (;;) {
		memset(&l, 0, sizeof(l));
		for (int a = 0; a < MG_ATTEMPTS; a++) {
			rc = objfs_prov_list(m->src, m->src_bucket, m->src_prefix, NULL, token, 0, &l,
					     &err);
			if (!rc || !ctl_copy_transient(rc))
				break;
			objfs_listing_clear(&l);
			sleep((unsigned)a + 1);
		}
		if (rc) {
			mg_err("listing %s/%s: %s", m->src_bucket, m->src_prefix,
			       ctl_emsg(&err, rc));
			break;
		}
		for (size_t i = 0; i < l.nobjects; i++) {
			struct objfs_objinfo *oi = &l.objects[i];

			if (ctl_signalled)
				break;
			pthread_mutex_lock(&m->lock);
			if (strncmp(oi->key, m->src_prefix, strlen(m->src_prefix)) ||
			    (!oi->key[strlen(m->src_prefix)] && !*m->dst_prefix)) {
				/* the tenant's own root marker onto an empty prefix: nothing to copy */
				m->n_skipped++;
			} else if (state_covers(m, oi->key)) {
				m->n_skipped_state++;
			} else {
				while (m->tail - m->head == MG_WINDOW && !m->stop && !ctl_signalled) {
					retire(m, last_pos);
					progress(m, p, 0);
					if (m->tail - m->head == MG_WINDOW)
						wait_done(m);
				}
				if (m->stop || ctl_signalled) {
					pthread_mutex_unlock(&m->lock);
					break;
				}
				struct mg_item *it = &m->ring[m->tail % MG_WINDOW];

				memset(it, 0, sizeof(*it));
				it->oi = *oi;
				memset(oi, 0, sizeof(*oi));
				m->tail++;
				pthread_cond_signal(&m->cv_work);
			}
			retire(m, last_pos);
			progress(m, p, 0);
			pthread_mutex_unlock(&m->lock);
		}
		free(token);
		token = l.next_token;
		l.next_token = NULL;
		objfs_listing_clear(&l);
		pthread_mutex_lock(&m->lock);
		int stop = m->stop;
		pthread_mutex_unlock(&m->lock);
		if (!token || stop || ctl_signalled)
			break;
	}
	free(token);
	return rc;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: objfs-ctl --config FILE migrate --tenant T --to PROVIDER [--bucket B]"
		" [--prefix P]\n"
		"                  [--dry-run] [--parallel N] [--state FILE]\n"
		"  copies every object of tenant T to [provider PROVIDER] of the same configuration,\n"
		"  bucket B (default: the tenant's) and prefix P (default: the tenant's), with its\n"
		"  content type and metadata; resumable (the state file, default\n"
		"  CACHE_DIR/migrate-T-PROVIDER.state); --parallel 1..%d (default %d)\n",
		MG_PARALLEL_MAX, MG_PARALLEL_DEF);
}

int ctl_migrate_main(const char *config_path, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tenant", required_argument, NULL, 't' },
		{ "to", required_argument, NULL, 'o' },
		{ "bucket", required_argument, NULL, 'b' },
		{ "prefix", required_argument, NULL, 'p' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "parallel", required_argument, NULL, 'j' },
		{ "state", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *tenant = NULL, *to = NULL, *bucket = NULL, *prefix = NULL, *state = NULL;
	const struct objfs_provider_section *ps;
	struct mg_worker *workers = NULL;
	struct ctl_progress prog;
	struct sigaction old_int, old_term;
	struct objfs_err err;
	struct mg *m = NULL;
	char *end, b[32];
	unsigned long par = MG_PARALLEL_DEF;
	size_t nstarted = 0;
	int opt, ended = -1, rc, status = 1, dry = 0, sig_set = 0, listing_rc = 0;
	double t0 = ctl_now(), last_pos = 0;

	optind = 0;
	while ((opt = ctl_getopt(argc, argv, opts, usage, &ended)) != -1) {
		switch (opt) {
		case 't': tenant = optarg; break;
		case 'o': to = optarg; break;
		case 'b': bucket = optarg; break;
		case 'p': prefix = optarg; break;
		case 'n': dry = 1; break;
		case 's': state = optarg; break;
		case 'j':
			errno = 0;
			par = strtoul(optarg, &end, 10);
			if (errno || *end || optarg[0] == '-' || par < 1 || par > MG_PARALLEL_MAX) {
				mg_err("--parallel %s: expected 1..%d", optarg, MG_PARALLEL_MAX);
				return 2;
			}
			break;
		}
	}
	if (ended >= 0)
		return ended;
	if (optind < argc) {
		mg_err("unexpected argument %s", argv[optind]);
		return 2;
	}
	if (!tenant || !to) {
		mg_err("--tenant and --to are required");
		usage(stderr);
		return 2;
	}
	if (bucket && !objfs_bucket_name_valid(bucket)) {
		mg_err("--bucket %s: not a valid bucket name (3-63 of a-z 0-9 . -)", bucket);
		return 2;
	}
	if (prefix && ctl_check_prefix("migrate", "--prefix", prefix))
		return 2;
	if (!(m = calloc(1, sizeof(*m)))) {
		mg_err("out of memory");
		return 1;
	}
	m->state_fd = m->lock_fd = -1;
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->cv_work, NULL);
	pthread_cond_init(&m->cv_done, NULL);
	if (!config_path)
		config_path = MG_DEFAULT_CONFIG;
	if (ctl_load_config("migrate", config_path, &m->cfg))
		goto out;
	if (!(m->t = ctl_find_tenant(m->cfg, tenant))) {
		mg_err("no tenant %s in %s", tenant, config_path);
		status = 2;
		goto out;
	}
	if (!(ps = ctl_find_provider(m->cfg, to))) {
		mg_err("no [provider %s] in %s", to, config_path);
		status = 2;
		goto out;
	}
	m->dst_pc = &ps->conf;
	if (!(ps = ctl_find_provider(m->cfg, m->t->provider))) {
		mg_err("tenant %s: provider %s not configured", tenant, m->t->provider);
		goto out;
	}
	m->src_pc = &ps->conf;
	m->src_bucket = m->t->bucket;
	m->src_prefix = m->t->prefix;
	m->dry_run = dry;
	m->parallel = (unsigned)par;
	if (!(m->dst_bucket = strdup(bucket ? bucket : m->t->bucket)) ||
	    !(m->dst_prefix = prefix ? ctl_norm_prefix(prefix) : strdup(m->t->prefix))) {
		mg_err("out of memory");
		goto out;
	}
	if (ctl_same_store(m->src_pc, m->dst_pc) && !strcmp(m->src_bucket, m->dst_bucket)) {
		size_t a = strlen(m->src_prefix), c = strlen(m->dst_prefix);

		if (!strncmp(m->src_prefix, m->dst_prefix, a < c ? a : c)) {
			mg_err("the target (provider %s bucket %s prefix \"%s\") %s the source (provider"
			       " %s bucket %s prefix \"%s\"): nothing to migrate", to, m->dst_bucket,
			       m->dst_prefix, a == c ? "is" : "overlaps", m->src_pc->name,
			       m->src_bucket, m->src_prefix);
			status = 2;
			goto out;
		}
	}
	m->md5_etags = !strcmp(m->src_pc->type, "s3") && !strcmp(m->dst_pc->type, "s3");
	if (objfs_prov_open(m->src_pc, &m->src, &err)) {
		mg_err("source provider %s: %s", m->src_pc->name, err.msg);
		goto out;
	}
	if (objfs_prov_open(m->dst_pc, &m->dst, &err)) {
		mg_err("target provider %s: %s", m->dst_pc->name, err.msg);
		goto out;
	}
	if (ctl_apply_defaults("migrate", m->t, m->src, m->src_bucket, m->src_prefix, "source") ||
	    ctl_apply_defaults("migrate", m->t, m->dst, m->dst_bucket, m->dst_prefix, "target"))
		goto out;
	rc = objfs_prov_bucket_exists(m->src, m->src_bucket, &err);
	if (rc) {
		mg_err("source bucket %s: %s", m->src_bucket, rc == -ENOENT ? "does not exist" :
		       ctl_emsg(&err, rc));
		goto out;
	}
	rc = objfs_prov_bucket_exists(m->dst, m->dst_bucket, &err);
	if (rc == -ENOENT && dry) {
		fprintf(stderr, "objfs-ctl: migrate: target bucket %s does not exist: it would be"
			" created\n", m->dst_bucket);
		m->dst_missing = 1;
	} else if (rc == -ENOENT) {
		rc = objfs_prov_bucket_create(m->dst, m->dst_bucket, &err);
		if (rc == 0)
			fprintf(stderr, "objfs-ctl: migrate: created target bucket %s\n", m->dst_bucket);
	}
	if (rc && !m->dst_missing) {
		mg_err("target bucket %s: %s", m->dst_bucket, ctl_emsg(&err, rc));
		goto out;
	}

	/* the state file */
	if (state)
		m->state_path = strdup(state);
	else if (asprintf(&m->state_path, "%s/migrate-%s-%s.state", m->cfg->cache_dir, tenant,
			  to) < 0)
		m->state_path = NULL;
	if (!m->state_path) {
		mg_err("out of memory");
		goto out;
	}
	if (!dry) {
		char lockp[PATH_MAX];

		snprintf(lockp, sizeof(lockp), "%s.lock", m->state_path);
		m->lock_fd = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (m->lock_fd < 0) {
			mg_err("lock file %s: %s", lockp, strerror(errno));
			goto out;
		}
		if (flock(m->lock_fd, LOCK_EX | LOCK_NB)) {
			mg_err("another migrate is running with %s", m->state_path);
			goto out;
		}
	}
	if (state_load(m))
		goto out;
	if (!dry) {
		leftover_uploads(m, 1);
		if (state_compact(m))
			goto out;
	}

	fprintf(stderr, "objfs-ctl: migrate: tenant %s: %s %s/%s -> %s %s/%s%s\n", tenant,
		m->src_pc->name, m->src_bucket, m->src_prefix, to, m->dst_bucket, m->dst_prefix,
		dry ? " (dry run: nothing is copied)" : "");
	ctl_signals_catch(&old_int, &old_term);
	sig_set = 1;

	if (!(workers = calloc(m->parallel, sizeof(*workers)))) {
		mg_err("out of memory");
		goto out;
	}
	for (unsigned i = 0; i < m->parallel; i++)
		workers[i].cp.spool_fd = -1;      /* ctl_copier_free of an unstarted worker */
	pthread_mutex_lock(&m->lock);
	m->workers = workers;
	m->nworkers = m->parallel;
	pthread_mutex_unlock(&m->lock);
	for (unsigned i = 0; i < m->parallel; i++) {
		struct ctl_copier *cp = &workers[i].cp;

		workers[i].m = m;
		cp->src = m->src;
		cp->src_bucket = m->src_bucket;
		cp->dst = m->dst;
		cp->dst_bucket = m->dst_bucket;
		cp->dst_s3 = !strcmp(m->dst_pc->type, "s3");
		cp->spool_dir = m->cfg->cache_dir;
		cp->stop = &ctl_signalled;
		cp->mpu_begin = mpu_begin;
		cp->mpu_end = mpu_end;
		cp->hook_arg = &workers[i];
		if (ctl_copier_init(cp)) {
			mg_err("out of memory");
			goto join;
		}
		if (pthread_create(&workers[i].th, NULL, worker_main, &workers[i])) {
			mg_err("cannot start a worker thread");
			ctl_copier_free(cp);
			goto join;
		}
		nstarted++;
	}
	ctl_progress_init(&prog, t0);
	listing_rc = produce(m, &prog, &last_pos);
join:
	pthread_mutex_lock(&m->lock);
	m->listing_done = 1;
	if (ctl_signalled || !nstarted)
		m->stop = 1;
	pthread_cond_broadcast(&m->cv_work);
	/* wait for the dispatched items; undispatched ones stay undone after a stop */
	while (m->head < m->disp || (!m->stop && m->head < m->tail)) {
		retire(m, &last_pos);
		progress(m, &prog, 0);
		if (m->head < m->disp || (!m->stop && m->head < m->tail))
			wait_done(m);
		if (ctl_signalled && !m->stop) {
			m->stop = 1;
			pthread_cond_broadcast(&m->cv_work);
		}
	}
	retire(m, &last_pos);
	pthread_mutex_unlock(&m->lock);
	for (size_t i = 0; i < nstarted; i++)
		pthread_join(workers[i].th, NULL);
	if (nstarted)
		progress(m, &prog, 1);
	if (prog.tty && nstarted)
		fputc('\n', stderr);

	if (dry) {
		ctl_human(m->b_would, b, sizeof(b));
		printf("dry run: would migrate %llu objects (%llu bytes, %s), skip %llu; nothing"
		       " copied\n", (unsigned long long)m->n_would, (unsigned long long)m->b_would, b,
		       (unsigned long long)(m->n_skipped + m->n_skipped_state));
	} else {
		printf("migrated %llu objects (%llu bytes), skipped %llu, failed %llu in %.1f s\n",
		       (unsigned long long)m->n_copied, (unsigned long long)m->b_copied,
		       (unsigned long long)(m->n_skipped + m->n_skipped_state),
		       (unsigned long long)m->n_failed, ctl_now() - t0);
		if (m->n_skipped_state)
			fprintf(stderr, "objfs-ctl: migrate: %llu of the skipped objects were done"
				" according to the state file\n", (unsigned long long)m->n_skipped_state);
	}
	fflush(stdout);
	status = m->n_failed || m->stop || ctl_signalled || listing_rc || !nstarted ? 1 : 0;
	if (!dry) {
		if (status == 0) {
			char lockp[PATH_MAX];

			if (m->state_fd >= 0)
				close(m->state_fd);
			m->state_fd = -1;
			unlink(m->state_path);
			snprintf(lockp, sizeof(lockp), "%s.lock", m->state_path);
			unlink(lockp);
		} else {
			state_compact(m);
			fprintf(stderr, "objfs-ctl: migrate: %s; the state is kept in %s: run the same"
				" command again to continue\n", ctl_signalled ? "stopped" :
				m->n_failed ? "some objects failed" : "the run did not finish",
				m->state_path);
		}
	}
out:
	if (sig_set) {
		ctl_signals_restore(&old_int, &old_term);
	}
	if (workers) {
		for (unsigned i = 0; i < m->parallel; i++)
			ctl_copier_free(&workers[i].cp);
		free(workers);
	}
	for (uint64_t s = m->head; s < m->tail; s++)
		objfs_objinfo_clear(&m->ring[s % MG_WINDOW].oi);
	if (m->state_fd >= 0)
		close(m->state_fd);
	if (m->lock_fd >= 0)
		close(m->lock_fd);
	objfs_prov_free(m->src);
	objfs_prov_free(m->dst);
	objfs_config_free(m->cfg);
	free(m->dst_bucket);
	free(m->dst_prefix);
	free(m->state_path);
	free(m->pos);
	ks_clear(&m->done);
	ks_clear(&m->fail);
	ks_clear(&m->run_fail);
	leftover_uploads(m, 0);
	pthread_mutex_destroy(&m->lock);
	pthread_cond_destroy(&m->cv_work);
	pthread_cond_destroy(&m->cv_done);
	free(m);
	return status;
}
