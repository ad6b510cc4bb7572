/*
 * Unit tests of write-back (src/writeback.c) together with the in-memory
 * files (src/file.c), the staging area and the journal, without FUSE: each
 * test builds a struct objfs_ctx by hand over one tenant on the `mem`
 * provider and drives files through file_write / file_truncate /
 * file_commit, then checks what landed in the provider byte for byte.
 *
 * The provider is mem with a wrapping ops table that counts the write
 * operations (put, multipart create / part / part copy / complete / abort),
 * can hold uploads at a gate (so "an upload is in flight" is a fact, not a
 * timing guess), can record put bodies, and can fail puts.
 *
 * Crash tests fork: the child commits and then kills itself with SIGKILL,
 * which is exactly kill -9 (nothing is freed, no destructor runs); objects
 * the parent stored before the fork exist on both sides.  The parent then
 * recovers on the same cache directory.
 *
 * Every wait is bounded (writeback_wait_file / writeback_drain timeouts,
 * timed condition waits in the wrapper, alarm() in children).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ctx.h"
#include "file.h"
#include "log.h"
#include "meta.h"
#include "objfs/provider.h"
#include "staging.h"
#include "writeback.h"
#include "testutil.h"

#define MiB        (1024u * 1024u)
#define CHUNK      MiB
#define TENANT     "acme"
#define BUCKET     "acme-bkt"
#define PREFIX     "home/"
#define WAIT_S     20u          /* bound of every wait for an upload */
#define NEVER_MS   600000u      /* a write-back delay no test outlives */

/* ---- the provider: mem, wrapped ---------------------------------------- */

static struct objfs_prov *g_prov;                 /* ops point at w_ops */
static struct objfs_provider_ops w_ops;

static pthread_mutex_t w_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t w_cv = PTHREAD_COND_INITIALIZER;
static struct {
	unsigned puts, creates, parts, copies, completes, aborts;
	unsigned parts_inflight, parts_max_inflight;
	int gate;                /* 1: puts and parts wait until it opens */
	unsigned blocked;        /* uploads waiting at the gate */
	int fail_puts;           /* the next n puts fail with -EIO */
	int record;              /* record put bodies */
	int rendezvous;          /* a part waits (<= 2 s) until another is in flight */
	unsigned char *bodies[8];
	uint64_t body_len[8];
	unsigned nbodies;
	int lose_completes;      /* the next n completes are done, their answer lost (-EIO) */
	int replace_after_loss;  /* ... and another upload of the same size and
				  * metadata, other bytes, replaces the object */
	int get_gate;            /* 1: gets wait until it opens */
	unsigned get_blocked;    /* gets waiting at it */
} w;                             /* w_lock */

static void w_reset(void)
{
	pthread_mutex_lock(&w_lock);
	for (unsigned i = 0; i < w.nbodies; i++)
		free(w.bodies[i]);
	memset(&w, 0, sizeof(w));
	pthread_mutex_unlock(&w_lock);
}

static void w_counts_reset(void)
{
	pthread_mutex_lock(&w_lock);
	w.puts = w.creates = w.parts = w.copies = w.completes = w.aborts = 0;
	w.parts_max_inflight = 0;
	pthread_mutex_unlock(&w_lock);
}

static void deadline_in(struct timespec *ts, unsigned ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Waits (w_lock held) while the gate is closed, at most 10 s. */
static void w_gate_wait_locked(void)
{
	struct timespec dl;

	deadline_in(&dl, 10000);
	w.blocked++;
	pthread_cond_broadcast(&w_cv);
	while (w.gate)
		if (pthread_cond_timedwait(&w_cv, &w_lock, &dl) == ETIMEDOUT)
			break;
	w.blocked--;
}

static void w_gate_set(int closed)
{
	pthread_mutex_lock(&w_lock);
	w.gate = closed;
	pthread_cond_broadcast(&w_cv);
	pthread_mutex_unlock(&w_lock);
}

/* Waits until n uploads sit at the gate; 0, or -1 after 10 s. */
static int w_wait_blocked(unsigned n)
{
	struct timespec dl;
	int rc = 0;

	deadline_in(&dl, 10000);
	pthread_mutex_lock(&w_lock);
	while (w.blocked < n && rc == 0)
		if (pthread_cond_timedwait(&w_cv, &w_lock, &dl) == ETIMEDOUT)
			rc = -1;
	pthread_mutex_unlock(&w_lock);
	return rc;
}

/* Reads a source the way a provider does. */
static unsigned char *source_bytes(const struct objfs_source *src)
{
	unsigned char *buf = calloc(1, src->size ? (size_t)src->size : 1);
	uint64_t pos = 0;

	for (size_t i = 0; buf && i < src->nsegs; i++) {
		const struct objfs_seg *s = &src->segs[i];

		if (s->fd >= 0 && pread(s->fd, buf + pos, (size_t)s->len, (off_t)s->off) !=
				      (ssize_t)s->len) {
			free(buf);
			return NULL;
		}
		if (s->fd < 0 && s->buf)
			memcpy(buf + pos, s->buf, (size_t)s->len);
		pos += s->len;
	}
	return buf;
}

static int w_put(struct objfs_provider *p, const char *bucket, const char *key,
		 const struct objfs_source *src, const struct objfs_putopts *opts,
		 char *etag_out, struct objfs_err *err)
{
	int fail;

	pthread_mutex_lock(&w_lock);
	w.puts++;
	w_gate_wait_locked();
	fail = w.fail_puts > 0;
	if (fail)
		w.fail_puts--;
	if (w.record && w.nbodies < 8) {
		w.bodies[w.nbodies] = source_bytes(src);
		w.body_len[w.nbodies++] = src->size;
	}
	pthread_mutex_unlock(&w_lock);
	if (fail)
		return objfs_err_set(err, -EIO, "injected put failure");
	return objfs_provider_mem.put(p, bucket, key, src, opts, etag_out, err);
}

/* A get waits (<= 10 s) while get_gate is closed: a reader or writer
 * fetching base bytes is held there with the file lock dropped. */
static int w_get(struct objfs_provider *p, const char *bucket, const char *key, uint64_t off,
		 uint64_t len, const char *if_match, void *buf, uint64_t *got,
		 struct objfs_err *err)
{
	struct timespec dl;

	pthread_mutex_lock(&w_lock);
	deadline_in(&dl, 10000);
	w.get_blocked++;
	pthread_cond_broadcast(&w_cv);
	while (w.get_gate)
		if (pthread_cond_timedwait(&w_cv, &w_lock, &dl) == ETIMEDOUT)
			break;
	w.get_blocked--;
	pthread_mutex_unlock(&w_lock);
	return objfs_provider_mem.get(p, bucket, key, off, len, if_match, buf, got, err);
}

static int w_create(struct objfs_provider *p, const char *bucket, const char *key,
		    const struct objfs_putopts *opts, char **upload_id, struct objfs_err *err)
{
	pthread_mutex_lock(&w_lock);
	w.creates++;
	pthread_mutex_unlock(&w_lock);
	return objfs_provider_mem.mpu_create(p, bucket, key, opts, upload_id, err);
}

static int w_part(struct objfs_provider *p, const char *bucket, const char *key,
		  const char *upload_id, int part_number, uint64_t off, const struct objfs_source *src,
		  char *etag_out, struct objfs_err *err)
{
	struct timespec dl;
	int rc;

	pthread_mutex_lock(&w_lock);
	w.parts++;
	w.parts_inflight++;
	if (w.parts_inflight > w.parts_max_inflight)
		w.parts_max_inflight = w.parts_inflight;
	pthread_cond_broadcast(&w_cv);
	/* wait (bounded) for a second part, which proves that parts overlap */
	deadline_in(&dl, 2000);
	while (w.rendezvous && w.parts_max_inflight < 2)
		if (pthread_cond_timedwait(&w_cv, &w_lock, &dl) == ETIMEDOUT)
			break;
	w_gate_wait_locked();
	pthread_mutex_unlock(&w_lock);
	rc = objfs_provider_mem.mpu_upload_part(p, bucket, key, upload_id, part_number, off,
						 src, etag_out, err);
	pthread_mutex_lock(&w_lock);
	w.parts_inflight--;
	pthread_mutex_unlock(&w_lock);
	return rc;
}

static int w_copy_part(struct objfs_provider *p, const char *bucket, const char *key,
		       const char *upload_id, int part_number, const char *src_key,
		       const char *src_if_match, uint64_t off, uint64_t len, char *etag_out,
		       struct objfs_err *err)
{
	pthread_mutex_lock(&w_lock);
	w.copies++;
	pthread_mutex_unlock(&w_lock);
	return objfs_provider_mem.mpu_upload_part_copy(p, bucket, key, upload_id, part_number,
						       src_key, src_if_match, off, len, etag_out,
						       err);
}

/* Another client's multipart upload over key: the same part sizes and the
 * object's metadata (so its size and metadata match), other bytes. */
static void replace_upload(struct objfs_provider *p, const char *bucket, const char *key,
			   const struct objfs_part *parts, size_t nparts)
{
	struct objfs_objinfo oi;
	struct objfs_putopts opts;
	struct objfs_part *np = calloc(nparts, sizeof(*np));
	struct objfs_err err;
	char *id = NULL;

	memset(&oi, 0, sizeof(oi));
	assert_non_null(np);
	assert_int_equal(objfs_provider_mem.head(p, bucket, key, &oi, &err), 0);
	memset(&opts, 0, sizeof(opts));
	opts.content_type = oi.content_type;
	opts.meta = oi.meta;
	opts.nmeta = oi.nmeta;
	assert_int_equal(objfs_provider_mem.mpu_create(p, bucket, key, &opts, &id, &err), 0);
	for (size_t i = 0; i < nparts; i++) {
		unsigned char *b = malloc(parts[i].size ? parts[i].size : 1);
		struct objfs_seg seg = { .fd = -1, .buf = b, .off = 0, .len = parts[i].size };
		struct objfs_source src = { &seg, 1, parts[i].size };

		assert_non_null(b);
		memset(b, 0x5a, parts[i].size);
		np[i].number = parts[i].number;
		np[i].size = parts[i].size;
		assert_int_equal(objfs_provider_mem.mpu_upload_part(p, bucket, key, id,
								    parts[i].number, 0, &src,
								    np[i].etag, &err), 0);
		free(b);
	}
	assert_int_equal(objfs_provider_mem.mpu_complete(p, bucket, key, id, np, nparts, NULL,
							 &err), 0);
	free(id);
	free(np);
	objfs_objinfo_clear(&oi);
}

static int w_complete(struct objfs_provider *p, const char *bucket, const char *key,
		      const char *upload_id, const struct objfs_part *parts, size_t nparts,
		      char *etag_out, struct objfs_err *err)
{
	int lose, replace, rc;

	pthread_mutex_lock(&w_lock);
	w.completes++;
	lose = w.lose_completes > 0;
	if (lose)
		w.lose_completes--;
	replace = lose && w.replace_after_loss;
	pthread_mutex_unlock(&w_lock);
	rc = objfs_provider_mem.mpu_complete(p, bucket, key, upload_id, parts, nparts, etag_out,
					     err);
	if (rc || !lose)
		return rc;
	if (replace)
		replace_upload(p, bucket, key, parts, nparts);
	return objfs_err_set(err, -EIO, "injected: the complete's answer was lost");
}

static int w_abort(struct objfs_provider *p, const char *bucket, const char *key,
		   const char *upload_id, struct objfs_err *err)
{
	pthread_mutex_lock(&w_lock);
	w.aborts++;
	pthread_mutex_unlock(&w_lock);
	return objfs_provider_mem.mpu_abort(p, bucket, key, upload_id, err);
}

/* ---- a hand-built daemon context ------------------------------------------ */

struct env {
	char *dir;
	struct objfs_config cfg;
	struct objfs_tenant_conf tc;
	struct objfs_prov *provs[1];
	struct objfs_ctx ctx;
	struct objfs_tenant *t;
	int up;
};

struct opts {
	unsigned delay_ms;
	uint64_t threshold;      /* 0: the provider's (mem: 8 MiB) */
	int recover;             /* run writeback_recover before starting */
	int start;               /* start the workers */
};

static void env_up(struct env *e, const struct opts *o)
{
	struct objfs_ctx *c = &e->ctx;

	memset(&e->cfg, 0, sizeof(e->cfg));
	memset(&e->tc, 0, sizeof(e->tc));
	memset(c, 0, sizeof(*c));
	e->cfg.cache_dir = e->dir;
	e->cfg.chunk_size = CHUNK;
	e->cfg.staging_max_bytes = 256 * (uint64_t)MiB;
	e->cfg.multipart_threshold = o->threshold;
	e->cfg.upload_workers = 2;
	e->cfg.upload_parallel_parts = 4;
	e->cfg.writeback_delay_ms = o->delay_ms;
	e->cfg.drain_timeout_s = WAIT_S;
	e->tc.name = (char *)TENANT;
	e->tc.bucket = (char *)BUCKET;
	e->tc.prefix = (char *)PREFIX;
	e->provs[0] = g_prov;
	c->cfg = &e->cfg;
	c->tenants.v = calloc(1, sizeof(*c->tenants.v));
	assert_non_null(c->tenants.v);
	c->tenants.n = 1;
	e->t = &c->tenants.v[0];
	e->t->idx = 0;
	e->t->conf = &e->tc;
	e->t->prov = g_prov;
	e->t->name = TENANT;
	e->t->bucket = BUCKET;
	e->t->prefix = PREFIX;
	c->provs = e->provs;
	c->nprovs = 1;
	c->uid = getuid();
	c->gid = getgid();
	c->chunk_size = CHUNK;
	c->rcache = NULL;
	assert_int_equal(meta_open(e->dir, &c->meta), 0);
	assert_int_equal(staging_open(e->dir, e->cfg.staging_max_bytes, &c->staging), 0);
	assert_int_equal(files_new(c, &c->files), 0);
	assert_int_equal(writeback_new(c, &c->wb), 0);
	if (o->recover)
		assert_int_equal(writeback_recover(c->wb), 0);
	if (o->start)
		assert_int_equal(writeback_start(c->wb), 0);
	e->up = 1;
}

/* Stops and frees the context (no drain: entries stay in the journal). */
static void env_down(struct env *e)
{
	struct objfs_ctx *c = &e->ctx;

	if (!e->up)
		return;
	writeback_free(c->wb);
	files_free(c->files);
	staging_free(c->staging);
	meta_close(c->meta);
	free(c->tenants.v);
	memset(c, 0, sizeof(*c));
	e->up = 0;
}

static int setup(void **state)
{
	struct objfs_provider_conf pc = { .name = "mem", .type = "mem" };
	struct objfs_err err;
	struct env *e = calloc(1, sizeof(*e));

	if (!e || !(e->dir = tu_mkdtemp("wb")))
		return -1;
	if (objfs_prov_open(&pc, &g_prov, &err) || objfs_prov_bucket_create(g_prov, BUCKET, &err))
		return -1;
	w_ops = objfs_provider_mem;
	w_ops.put = w_put;
	w_ops.get = w_get;
	w_ops.mpu_create = w_create;
	w_ops.mpu_upload_part = w_part;
	w_ops.mpu_upload_part_copy = w_copy_part;
	w_ops.mpu_complete = w_complete;
	w_ops.mpu_abort = w_abort;
	g_prov->ops = &w_ops;
	w_reset();
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	w_gate_set(0);
	env_down(e);
	objfs_prov_free(g_prov);
	g_prov = NULL;
	w_reset();
	tu_rm_rf(e->dir);
	free(e->dir);
	free(e);
	return 0;
}

/* ---- content models ------------------------------------------------------- */

/* Deterministic bytes: position and seed both matter, so a byte from the
 * wrong offset or the wrong version shows. */
static unsigned char pat(uint64_t pos, unsigned seed)
{
	uint64_t x = (pos + 1) * 0x9E3779B97F4A7C15ULL ^ ((uint64_t)seed * 0xBF58476D1CE4E5B9ULL);

	x ^= x >> 29;
	return (unsigned char)(x ^ (x >> 17));
}

struct model {
	unsigned char *b;
	uint64_t size, cap;
};

static void model_resize(struct model *m, uint64_t size)
{
	if (size > m->cap) {
		m->b = realloc(m->b, (size_t)size);
		assert_non_null(m->b);
		m->cap = size;
	}
	if (size > m->size)
		memset(m->b + m->size, 0, (size_t)(size - m->size));
	m->size = size;
}

static void model_free(struct model *m)
{
	free(m->b);
	memset(m, 0, sizeof(*m));
}

/* Writes [off, off+len) of pattern seed into f and the model, in pieces of
 * `piece` bytes (crossing chunk boundaries at odd places). */
static void wr(struct objfs_file *f, struct model *m, uint64_t off, uint64_t len, unsigned seed)
{
	const size_t piece = 200003;
	unsigned char *buf = malloc(piece);

	assert_non_null(buf);
	if (off + len > m->size)
		model_resize(m, off + len);
	for (uint64_t done = 0; done < len;) {
		size_t n = len - done < piece ? (size_t)(len - done) : piece;

		for (size_t i = 0; i < n; i++)
			buf[i] = pat(off + done + i, seed);
		assert_int_equal(file_write(f, buf, n, off + done), (ssize_t)n);
		memcpy(m->b + off + done, buf, n);
		done += n;
	}
	free(buf);
}

static void trunc_to(struct objfs_file *f, struct model *m, uint64_t size)
{
	assert_int_equal(file_truncate(f, size), 0);
	model_resize(m, size);
}

/* The object at path is exactly the model. */
static void assert_object(const char *path, const struct model *m)
{
	struct objfs_objinfo oi;
	struct objfs_err err;
	char key[OBJFS_KEY_MAX + 1];
	unsigned char *buf;
	uint64_t got = 0;

	snprintf(key, sizeof(key), "%s%s", PREFIX, path);
	if (objfs_prov_head(g_prov, BUCKET, key, &oi, &err))
		fail_msg("%s: no object (%s)", key, err.msg);
	if (oi.size != m->size)
		fail_msg("%s: object has %llu bytes, want %llu", key, (unsigned long long)oi.size,
			 (unsigned long long)m->size);
	objfs_objinfo_clear(&oi);
	buf = malloc(m->size ? (size_t)m->size : 1);
	assert_non_null(buf);
	assert_int_equal(objfs_prov_get(g_prov, BUCKET, key, 0, m->size, NULL, buf, &got, &err), 0);
	assert_int_equal(got, m->size);
	for (uint64_t i = 0; i < m->size; i++)
		if (buf[i] != m->b[i]) {
			free(buf);
			fail_msg("%s: byte %llu differs", key, (unsigned long long)i);
		}
	free(buf);
}

/* file_read of the whole file equals the model. */
static void assert_reads(struct objfs_file *f, const struct model *m)
{
	unsigned char *buf = malloc((size_t)m->size + 1);
	uint64_t done = 0;

	assert_non_null(buf);
	while (done < m->size + 1) {
		ssize_t r = file_read(f, buf + done, (size_t)(m->size + 1 - done), done, 0);

		assert_true(r >= 0);
		if (r == 0)
			break;
		done += (uint64_t)r;
	}
	if (done != m->size || (m->size && memcmp(buf, m->b, (size_t)m->size)))
		fail_msg("%s: file_read differs from the model (%llu bytes read)", f->path,
			 (unsigned long long)done);
	free(buf);
}

static struct objfs_file *open_new(struct env *e, const char *path, uint64_t fid)
{
	struct objfs_file *f = NULL;

	assert_int_equal(files_get(e->ctx.files, e->t, path, fid, NULL, NULL, &f), 0);
	assert_non_null(f);
	return f;
}

/* Opens path over its current object (as the FUSE open of a cached file does). */
static struct objfs_file *open_existing(struct env *e, const char *path, uint64_t fid)
{
	struct objfs_objinfo oi;
	struct objfs_err err;
	struct meta_entry base;
	struct objfs_file *f = NULL;
	char key[OBJFS_KEY_MAX + 1];

	snprintf(key, sizeof(key), "%s%s", PREFIX, path);
	assert_int_equal(objfs_prov_head(g_prov, BUCKET, key, &oi, &err), 0);
	memset(&base, 0, sizeof(base));
	base.type = META_FILE;
	base.size = oi.size;
	base.etag = oi.etag;
	assert_int_equal(files_get(e->ctx.files, e->t, path, fid, &base, NULL, &f), 0);
	objfs_objinfo_clear(&oi);
	return f;
}

/* Stores the model as the object at path directly (a pre-existing object). */
static void put_object(const char *path, const struct model *m)
{
	struct objfs_seg seg = { .fd = -1, .buf = m->b, .off = 0, .len = m->size };
	struct objfs_source src = { &seg, 1, m->size };
	struct objfs_err err;
	char key[OBJFS_KEY_MAX + 1];

	snprintf(key, sizeof(key), "%s%s", PREFIX, path);
	assert_int_equal(objfs_provider_mem.put(g_prov->impl, BUCKET, key, &src, NULL, NULL, &err),
			 0);
}

static void commit_and_wait(struct env *e, struct objfs_file *f)
{
	assert_int_equal(file_commit(f), 0);
	assert_int_equal(writeback_wait_file(e->ctx.wb, f, WAIT_S), 0);
}

static size_t journal_len(struct objfs_meta *m)
{
	struct meta_upload *v;
	size_t n;

	assert_int_equal(meta_journal_load(m, &v, &n), 0);
	for (size_t i = 0; i < n; i++)
		meta_upload_clear(&v[i]);
	free(v);
	return n;
}

static void staging_dir(const struct env *e, char *buf, size_t len)
{
	snprintf(buf, len, "%s/staging", e->dir);
}

/* ---- tests ------------------------------------------------------------------ */

static unsigned puts_seen(void)
{
	unsigned n;

	pthread_mutex_lock(&w_lock);
	n = w.puts;
	pthread_mutex_unlock(&w_lock);
	return n;
}


static void test_new_files_land(void **state)
{
	struct env *e = *state;
	static const struct {
		const char *path;
		uint64_t size;
	} cases[] = {
		{ "empty", 0 },
		{ "one-byte", 1 },
		{ "page.txt", 4095 },
		{ "chunk-minus-one", CHUNK - 1 },
		{ "one-chunk", CHUNK },
		{ "chunk-plus-one", CHUNK + 1 },
		{ "dir/sub/three-chunks-odd", 3 * (uint64_t)CHUNK + 17 },
	};
	struct opts o = { .delay_ms = 0, .start = 1 };

	env_up(e, &o);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct model m = { 0 };
		struct objfs_file *f = open_new(e, cases[i].path, 100 + i);
		struct meta_entry ce;
		struct objfs_objinfo oi;
		struct objfs_err err;
		char key[OBJFS_KEY_MAX + 1];

		w_counts_reset();
		if (cases[i].size)
			wr(f, &m, 0, cases[i].size, (unsigned)i + 1);
		else
			trunc_to(f, &m, 0);   /* creating an empty file makes it dirty */
		commit_and_wait(e, f);
		assert_object(cases[i].path, &m);
		assert_reads(f, &m);
		if (w.puts != 1 || w.creates != 0)
			fail_msg("%s: %u puts, %u multipart creates", cases[i].path, w.puts, w.creates);
		/* landed: nothing staged any more, journal empty, the cache knows the object */
		assert_int_equal(staging_used(e->ctx.staging), 0);
		assert_int_equal(journal_len(e->ctx.meta), 0);
		snprintf(key, sizeof(key), "%s%s", PREFIX, cases[i].path);
		assert_int_equal(objfs_prov_head(g_prov, BUCKET, key, &oi, &err), 0);
		assert_int_equal(meta_get(e->ctx.meta, TENANT, cases[i].path, &ce), 0);
		assert_int_equal(ce.type, META_FILE);
		assert_int_equal(ce.size, cases[i].size);
		assert_string_equal(ce.etag, oi.etag);
		if (strstr(cases[i].path, ".txt"))
			assert_string_equal(oi.content_type, "text/plain");
		objfs_objinfo_clear(&oi);
		meta_entry_clear(&ce);
		/* a second commit without changes is a no-op */
		assert_int_equal(file_commit(f), 0);
		assert_int_equal(journal_len(e->ctx.meta), 0);
		assert_int_equal(puts_seen(), 1);
		file_put(f);
		model_free(&m);
	}
}

/*
 * An upload is held in flight (at the provider gate) while the file is
 * written again and committed again: the held upload must send exactly the
 * first commit's bytes, and the newest commit must end up as the object.
 */
static void test_cow_while_in_flight(void **state)
{
	struct env *e = *state;
	static const struct {
		const char *what;
		uint64_t off, len;       /* the second write */
		uint64_t trunc;          /* then truncate to this (0: no truncate) */
	} cases[] = {
		{ "overwrite inside a chunk", CHUNK + 10, 100, 0 },
		{ "overwrite across chunks", CHUNK - 5, CHUNK + 10, 0 },
		{ "append", 3 * (uint64_t)CHUNK, 1000, 0 },
		{ "shrink", 0, 1, CHUNK + 3 },
		{ "shrink then grow past the end", 0, 1, 5 * (uint64_t)CHUNK },
	};
	struct opts o = { .delay_ms = 0, .start = 1 };

	env_up(e, &o);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct model v1 = { 0 }, v2 = { 0 };
		char path[32];
		struct objfs_file *f;

		snprintf(path, sizeof(path), "cow-%zu", i);
		f = open_new(e, path, 200 + i);
		w_reset();
		w.record = 1;
		w_gate_set(1);
		wr(f, &v1, 0, 3 * (uint64_t)CHUNK - 7, 10 + (unsigned)i);
		assert_int_equal(file_commit(f), 0);
		if (w_wait_blocked(1))
			fail_msg("%s: the first upload never started", cases[i].what);
		/* the upload of v1 is in flight: change the file and commit again */
		model_resize(&v2, v1.size);
		memcpy(v2.b, v1.b, (size_t)v1.size);
		wr(f, &v2, cases[i].off, cases[i].len, 99);
		if (cases[i].trunc) {
			trunc_to(f, &v2, cases[i].trunc / 2);
			trunc_to(f, &v2, cases[i].trunc);
		}
		assert_reads(f, &v2);
		assert_int_equal(file_commit(f), 0);
		w_gate_set(0);
		assert_int_equal(writeback_wait_file(e->ctx.wb, f, WAIT_S), 0);
		pthread_mutex_lock(&w_lock);
		unsigned nb = w.nbodies;
		int first_ok = nb >= 1 && w.bodies[0] && w.body_len[0] == v1.size &&
			       !memcmp(w.bodies[0], v1.b, (size_t)v1.size);
		int second_ok = nb >= 2 && w.bodies[1] && w.body_len[1] == v2.size &&
				!memcmp(w.bodies[1], v2.b, (size_t)v2.size);
		pthread_mutex_unlock(&w_lock);
		if (nb != 2)
			fail_msg("%s: %u puts, want 2", cases[i].what, nb);
		if (!first_ok)
			fail_msg("%s: the in-flight upload did not send the first commit", cases[i].what);
		if (!second_ok)
			fail_msg("%s: the second upload did not send the second commit", cases[i].what);
		assert_object(path, &v2);
		assert_reads(f, &v2);
		assert_int_equal(staging_used(e->ctx.staging), 0);
		file_put(f);
		model_free(&v1);
		model_free(&v2);
	}
}

/* Commits queued behind the write-back delay: only the newest is uploaded. */
static void test_superseded_not_uploaded(void **state)
{
	struct env *e = *state;
	static const struct {
		const char *path;
		unsigned commits;
		uint64_t size;           /* per commit; above 8 MiB: multipart */
	} cases[] = {
		{ "two", 2, 1000 },
		{ "five", 5, 2 * (uint64_t)CHUNK + 1 },
		{ "big", 3, 9 * (uint64_t)CHUNK },
	};
	struct opts o = { .delay_ms = NEVER_MS, .start = 1 };
	struct objfs_file *f[3];
	struct model m[3] = { { 0 } };
	size_t nentries = 0;

	env_up(e, &o);
	for (size_t i = 0; i < 3; i++) {
		f[i] = open_new(e, cases[i].path, 300 + i);
		for (unsigned c = 0; c < cases[i].commits; c++) {
			wr(f[i], &m[i], 0, cases[i].size, 1000 + 10 * (unsigned)i + c);
			assert_int_equal(file_commit(f[i]), 0);
			nentries++;
		}
	}
	/* nothing goes before the delay */
	assert_int_equal(writeback_pending(e->ctx.wb), nentries);
	assert_int_equal(journal_len(e->ctx.meta), nentries);
	assert_int_equal(w.puts + w.creates, 0);
	/* drain waives the delay */
	assert_int_equal(writeback_drain(e->ctx.wb, WAIT_S), 0);
	assert_int_equal(w.puts, 2);       /* "two" and "five" */
	assert_int_equal(w.creates, 1);    /* "big" */
	assert_int_equal(w.completes, 1);
	assert_int_equal(w.aborts, 0);     /* superseded entries never started one */
	for (size_t i = 0; i < 3; i++) {
		assert_object(cases[i].path, &m[i]);
		file_put(f[i]);
		model_free(&m[i]);
	}
	assert_int_equal(journal_len(e->ctx.meta), 0);
	assert_int_equal(staging_used(e->ctx.staging), 0);
}

static void test_multipart_parallel(void **state)
{
	struct env *e = *state;
	struct opts o = { .delay_ms = 0, .start = 1 };
	struct model m = { 0 };
	struct objfs_file *f;
	struct objfs_objinfo oi;
	struct objfs_err err;

	env_up(e, &o);
	w.rendezvous = 1;
	f = open_new(e, "big.bin", 400);
	wr(f, &m, 0, 10 * (uint64_t)CHUNK + 123, 7);   /* 11 parts of 1 MiB */
	commit_and_wait(e, f);
	assert_object("big.bin", &m);
	assert_int_equal(w.puts, 0);
	assert_int_equal(w.creates, 1);
	assert_int_equal(w.parts, 11);
	assert_int_equal(w.copies, 0);
	assert_int_equal(w.completes, 1);
	if (w.parts_max_inflight < 2)
		fail_msg("parts never overlapped (max in flight %u)", w.parts_max_inflight);
	assert_true(w.parts_max_inflight <= 4);     /* upload_parallel_parts */
	assert_int_equal(objfs_prov_head(g_prov, BUCKET, PREFIX "big.bin", &oi, &err), 0);
	assert_non_null(strstr(oi.etag, "-11"));     /* mem's multipart ETag */
	objfs_objinfo_clear(&oi);
	assert_int_equal(journal_len(e->ctx.meta), 0);
	assert_int_equal(staging_used(e->ctx.staging), 0);
	file_put(f);
	model_free(&m);
}

/* Small changes to a landed multipart object: changed parts are uploaded,
 * the others copied server-side from the previous object. */
static void test_multipart_part_copy(void **state)
{
	struct env *e = *state;
	static const struct {
		const char *what;
		uint64_t off, len;
		unsigned parts, copies;
	} cases[] = {
		{ "one byte in part 6", 5 * (uint64_t)CHUNK + 7, 1, 1, 10 },
		{ "first byte", 0, 1, 1, 10 },
		{ "last byte (short last part)", 10 * (uint64_t)CHUNK + 122, 1, 1, 10 },
		{ "two bytes across a part boundary", 3 * (uint64_t)CHUNK - 1, 2, 2, 9 },
		{ "append: the last part grows", 10 * (uint64_t)CHUNK + 123, 10, 1, 10 },
		/* part 11 now reaches past the old end (base bytes + zeros): uploaded */
		{ "append a whole new part", 11 * (uint64_t)CHUNK, CHUNK, 2, 10 },
	};
	struct opts o = { .delay_ms = 0, .start = 1 };
	struct model m = { 0 };
	struct objfs_file *f;

	env_up(e, &o);
	f = open_new(e, "big.bin", 500);
	wr(f, &m, 0, 10 * (uint64_t)CHUNK + 123, 7);
	commit_and_wait(e, f);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		w_counts_reset();
		wr(f, &m, cases[i].off, cases[i].len, 50 + (unsigned)i);
		commit_and_wait(e, f);
		assert_object("big.bin", &m);
		if (w.parts != cases[i].parts || w.copies != cases[i].copies || w.creates != 1 ||
		    w.completes != 1 || w.puts != 0)
			fail_msg("%s: %u parts uploaded, %u copied (want %u, %u)", cases[i].what,
				 w.parts, w.copies, cases[i].parts, cases[i].copies);
		assert_int_equal(staging_used(e->ctx.staging), 0);
	}
	file_put(f);
	/* a fresh open over the landed object reads it back */
	f = open_existing(e, "big.bin", 501);
	assert_reads(f, &m);
	w_counts_reset();
	wr(f, &m, 2 * (uint64_t)CHUNK + 5, 3, 77);
	commit_and_wait(e, f);
	assert_object("big.bin", &m);
	assert_int_equal(w.parts, 1);
	file_put(f);
	model_free(&m);
}

/* Truncation over a landed base object, through put and through multipart. */
static void test_truncate_over_base(void **state)
{
	struct env *e = *state;
	enum { END = 0, TRUNC, WRITE };
	static const struct {
		const char *what;
		struct { int op; uint64_t a, b; } ops[4];
	} cases[] = {
		{ "shrink inside a chunk", { { TRUNC, CHUNK + CHUNK / 2, 0 } } },
		{ "shrink to a chunk boundary", { { TRUNC, 2 * (uint64_t)CHUNK, 0 } } },
		{ "shrink to zero", { { TRUNC, 0, 0 } } },
		{ "shrink to one byte then grow", { { TRUNC, 1, 0 }, { TRUNC, 2 * (uint64_t)CHUNK, 0 } } },
		{ "shrink then grow: zeros, not old bytes",
		  { { TRUNC, CHUNK + CHUNK / 2, 0 }, { TRUNC, 4 * (uint64_t)CHUNK, 0 } } },
		{ "grow only", { { TRUNC, 5 * (uint64_t)CHUNK + 3, 0 } } },
		{ "write, shrink inside the write, grow",
		  { { WRITE, 2 * (uint64_t)CHUNK + 10, 100 }, { TRUNC, 2 * (uint64_t)CHUNK + 50, 0 },
		    { TRUNC, 3 * (uint64_t)CHUNK, 0 } } },
		{ "shrink, then write past the end",
		  { { TRUNC, CHUNK / 2, 0 }, { WRITE, 2 * (uint64_t)CHUNK + CHUNK / 2, 10 } } },
		{ "shrink twice, grow once",
		  { { TRUNC, 3 * (uint64_t)CHUNK, 0 }, { TRUNC, CHUNK + 1, 0 }, { TRUNC, 4 * (uint64_t)CHUNK + 1, 0 } } },
	};
	/* threshold 0: put (all sizes here < 8 MiB); 1 MiB + 1: multipart with copies */
	static const uint64_t thresholds[] = { 0, CHUNK + 1 };

	for (size_t ti = 0; ti < 2; ti++) {
		struct opts o = { .delay_ms = 0, .start = 1, .threshold = thresholds[ti] };

		env_up(e, &o);
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			struct model m = { 0 };
			struct objfs_file *f;
			char path[32];

			snprintf(path, sizeof(path), "t%zu-%zu", ti, i);
			/* the base: an object of 3 chunks + 5 bytes that landed */
			f = open_new(e, path, 600 + 100 * ti + i);
			wr(f, &m, 0, 3 * (uint64_t)CHUNK + 5, 3);
			commit_and_wait(e, f);
			file_put(f);
			f = open_existing(e, path, 800 + 100 * ti + i);
			for (size_t k = 0; k < 4 && cases[i].ops[k].op != END; k++) {
				if (cases[i].ops[k].op == TRUNC)
					trunc_to(f, &m, cases[i].ops[k].a);
				else
					wr(f, &m, cases[i].ops[k].a, cases[i].ops[k].b, 31 + (unsigned)k);
				assert_reads(f, &m);
			}
			commit_and_wait(e, f);
			assert_object(path, &m);
			assert_reads(f, &m);
			assert_int_equal(staging_used(e->ctx.staging), 0);
			file_put(f);
			model_free(&m);
		}
		env_down(e);
	}
}

static void test_retry_after_failure(void **state)
{
	struct env *e = *state;
	struct opts o = { .delay_ms = 0, .start = 1 };
	struct model m = { 0 };
	struct objfs_file *f;
	char p[4096];

	env_up(e, &o);
	f = open_new(e, "flaky", 900);
	w.fail_puts = 1;
	wr(f, &m, 0, CHUNK + 99, 5);
	assert_int_equal(file_commit(f), 0);
	/* after the failure the entry and its staged data stay (the retry
	 * comes at least 500 ms later) */
	for (int i = 0; i < 500 && puts_seen() < 1; i++)
		usleep(10000);
	assert_int_equal(puts_seen(), 1);
	assert_int_equal(journal_len(e->ctx.meta), 1);
	staging_chunk_path(e->ctx.staging, 900, 0, 1, p, sizeof(p));
	assert_true(tu_exists(p));
	/* the retry (after a backoff of 0.5 .. 1 s) lands it */
	assert_int_equal(writeback_wait_file(e->ctx.wb, f, WAIT_S), 0);
	assert_int_equal(w.puts, 2);
	assert_object("flaky", &m);
	assert_int_equal(journal_len(e->ctx.meta), 0);
	file_put(f);
	model_free(&m);
}

/* ---- crash and recovery ------------------------------------------------------ */

/* What the crashed process did, rebuilt identically by parent and child. */
#define NCRASH 6
static const struct {
	const char *path;
	uint64_t size;
	unsigned commits;        /* commits of successive versions */
	int over_base;           /* modifies a pre-existing object (one chunk) */
	int uncommitted_tail;    /* writes more after the last commit (lost) */
} crash_files[NCRASH] = {
	{ "c/small", 5000, 1, 0, 0 },
	{ "c/two-chunks", 2 * (uint64_t)CHUNK + 3, 1, 0, 0 },
	{ "c/rewritten", CHUNK + 1, 3, 0, 0 },
	{ "c/multipart", 9 * (uint64_t)CHUNK + 1, 1, 0, 0 },
	{ "c/over-base", 4 * (uint64_t)CHUNK, 1, 1, 0 },
	{ "c/with-uncommitted-tail", 3000, 1, 0, 1 },
};

/* The model of crash file i after its last commit. */
static void crash_model(size_t i, struct model *m)
{
	memset(m, 0, sizeof(*m));
	model_resize(m, crash_files[i].size);
	for (uint64_t p = 0; p < m->size; p++)
		m->b[p] = pat(p, 2000 + (unsigned)i * 10 + crash_files[i].commits - 1);
	if (crash_files[i].over_base)
		for (uint64_t p = 0; p < m->size; p++)
			m->b[p] = p >= CHUNK && p < 2 * (uint64_t)CHUNK ? pat(p, 4242) : pat(p, 4000);
}

/* The base object of over-base files (stored before the fork). */
static void crash_base(size_t i, struct model *m)
{
	memset(m, 0, sizeof(*m));
	model_resize(m, crash_files[i].size);
	for (uint64_t p = 0; p < m->size; p++)
		m->b[p] = pat(p, 4000);
}

/* Child side: write and commit every crash file; 0 when all committed. */
static int crash_child_work(struct env *e)
{
	struct opts o = { .delay_ms = NEVER_MS, .start = 1 };

	env_up(e, &o);
	for (size_t i = 0; i < NCRASH; i++) {
		struct model m = { 0 };
		struct objfs_file *f;

		if (crash_files[i].over_base) {
			f = open_existing(e, crash_files[i].path, 1000 + i);
			crash_base(i, &m);
			wr(f, &m, CHUNK, CHUNK, 4242);
			if (file_commit(f))
				return 1;
		} else {
			f = open_new(e, crash_files[i].path, 1000 + i);
			for (unsigned c = 0; c < crash_files[i].commits; c++) {
				wr(f, &m, 0, crash_files[i].size, 2000 + (unsigned)i * 10 + c);
				if (file_commit(f))
					return 1;
			}
		}
		if (crash_files[i].uncommitted_tail)
			wr(f, &m, 0, 100000, 9);     /* never committed: must not land */
		model_free(&m);
		/* the handle stays open: kill -9 closes nothing */
	}
	return writeback_pending(e->ctx.wb) == 1 + 1 + 3 + 1 + 1 + 1 ? 0 : 1;
}

/* Forks; the child runs work(e) and dies by SIGKILL.  Asserts it did. */
static void crash_in_child(struct env *e, int (*work)(struct env *))
{
	pid_t pid;
	int status = 0;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		alarm(60);   /* a stuck child dies of SIGALRM, which the parent reports */
		if (work(e))
			_exit(3);
		kill(getpid(), SIGKILL);
		_exit(4);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
		fail_msg("the crashing child did not end by SIGKILL (status 0x%x)", status);
}

/* Leaves staging files no journal entry names, as a crash mid-write would. */
static void plant_strays(struct env *e, char paths[][4096], size_t *n)
{
	char d[1024];

	staging_dir(e, d, sizeof(d));
	*n = 0;
	snprintf(paths[*n], 4096, "%s/777777", d);                    /* a whole fid dir */
	assert_int_equal(mkdir(paths[(*n)++], 0700), 0);
	snprintf(paths[*n], 4096, "%s/777777/0.1", d);
	assert_int_equal(tu_write_file(paths[(*n)++], "stray", 5), 0);
	snprintf(paths[*n], 4096, "%s/1000/0.99", d);                 /* an unnamed version */
	assert_int_equal(tu_write_file(paths[(*n)++], "stray", 5), 0);
	snprintf(paths[*n], 4096, "%s/1000/fill.12.0", d);            /* a crashed fill file */
	assert_int_equal(tu_write_file(paths[(*n)++], "stray", 5), 0);
	snprintf(paths[*n], 4096, "%s/1005/0.2", d);   /* the uncommitted tail's chunk copy */
	assert_int_equal(tu_exists(paths[(*n)++]), 1);
}

static void test_recover_after_kill9(void **state)
{
	struct env *e = *state;
	struct opts o = { .delay_ms = 0, .recover = 1, .start = 1 };
	struct objfs_meta *m;
	char strays[8][4096], d[4096];
	size_t nstrays;

	for (size_t i = 0; i < NCRASH; i++) {
		if (crash_files[i].over_base) {
			struct model b;

			crash_base(i, &b);
			put_object(crash_files[i].path, &b);
			model_free(&b);
		}
	}
	crash_in_child(e, crash_child_work);

	/* what the crash left: every commit in the journal, nothing uploaded */
	assert_int_equal(meta_open(e->dir, &m), 0);
	assert_int_equal(journal_len(m), 8);
	meta_close(m);
	plant_strays(e, strays, &nstrays);

	env_up(e, &o);
	/* recovery removed what no entry names, before anything uploads */
	for (size_t i = 0; i < nstrays; i++)
		if (tu_exists(strays[i]))
			fail_msg("stray staging file %s survived recovery", strays[i]);
	assert_int_equal(writeback_drain(e->ctx.wb, WAIT_S), 0);
	for (size_t i = 0; i < NCRASH; i++) {
		struct model want;

		crash_model(i, &want);
		assert_object(crash_files[i].path, &want);
		model_free(&want);
	}
	/* superseded versions were dropped, not uploaded: one upload per file */
	assert_int_equal(w.puts, NCRASH - 1);
	assert_int_equal(w.creates, 1);
	assert_int_equal(journal_len(e->ctx.meta), 0);
	assert_int_equal(staging_used(e->ctx.staging), 0);
	staging_dir(e, d, sizeof(d));
	if (tu_count_dir(d) != 0)
		fail_msg("staging not empty after recovery landed everything (%d entries)",
			 tu_count_dir(d));
	env_down(e);
	/* and a second start finds nothing to do */
	env_up(e, &o);
	assert_int_equal(writeback_pending(e->ctx.wb), 0);
}

/*
 * A multipart upload was under way at the crash: the journal holds its
 * upload id and the parts that finished.  Recovery must finish it.
 */
static int mpu_child_work(struct env *e)
{
	struct opts o = { .delay_ms = NEVER_MS, .start = 1 };
	struct model m = { 0 };
	struct objfs_file *f;

	env_up(e, &o);
	f = open_new(e, "resume.bin", 1100);
	wr(f, &m, 0, 10 * (uint64_t)CHUNK + 123, 61);
	model_free(&m);
	return file_commit(f) ? 1 : 0;
}

struct mpu_case {
	const char *what;
	int recorded;            /* parts 1..recorded uploaded and recorded before the crash */
	int vanished;            /* the upload was aborted meanwhile (e.g. a lifecycle rule) */
	unsigned parts, creates; /* uploads expected at recovery (-1u: don't check) */
};

/* Runs one case; 0 when the file landed as expected, else 1 (reported). */
static int run_mpu_case(struct env *e, const struct mpu_case *c)
{
	struct opts o = { .delay_ms = 0, .recover = 1, .start = 1 };
	struct model want = { 0 };
	struct meta_upload *v;
	struct objfs_meta *m;
	struct objfs_err err;
	char *id = NULL;
	size_t n;
	size_t left;

	model_resize(&want, 10 * (uint64_t)CHUNK + 123);
	for (uint64_t p = 0; p < want.size; p++)
		want.b[p] = pat(p, 61);
	crash_in_child(e, mpu_child_work);
	/* the crash happened after `recorded` parts went up */
	assert_int_equal(meta_open(e->dir, &m), 0);
	assert_int_equal(meta_journal_load(m, &v, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(objfs_provider_mem.mpu_create(g_prov->impl, BUCKET, PREFIX "resume.bin",
						       NULL, &id, &err), 0);
	assert_int_equal(meta_journal_set_upload_id(m, v[0].seq, id), 0);
	for (int p = 1; p <= c->recorded; p++) {
		uint64_t start = (uint64_t)(p - 1) * CHUNK;
		uint64_t len = want.size - start < CHUNK ? want.size - start : CHUNK;
		struct objfs_seg seg = { .fd = -1, .buf = want.b + start, .len = len };
		struct objfs_source src = { &seg, 1, len };
		struct meta_part mp = { .number = p, .size = len };

		assert_int_equal(objfs_provider_mem.mpu_upload_part(g_prov->impl, BUCKET,
								    PREFIX "resume.bin", id, p, start, &src,
								    mp.etag, &err), 0);
		assert_int_equal(meta_journal_add_part(m, v[0].seq, &mp), 0);
	}
	if (c->vanished)
		assert_int_equal(objfs_provider_mem.mpu_abort(g_prov->impl, BUCKET,
							      PREFIX "resume.bin", id, &err), 0);
	free(id);
	meta_upload_clear(&v[0]);
	free(v);
	meta_close(m);

	w_counts_reset();
	env_up(e, &o);
	left = writeback_drain(e->ctx.wb, c->vanished ? 8 : WAIT_S);
	if (left) {
		print_error("%s: the upload never landed (%zu entries left; %u parts, %u creates,"
			    " %u completes, %u aborts so far)\n", c->what, left, w.parts, w.creates,
			    w.completes, w.aborts);
		model_free(&want);
		return 1;
	}
	assert_object("resume.bin", &want);
	if (c->parts != -1u && w.parts != c->parts)
		fail_msg("%s: %u parts uploaded, want %u", c->what, w.parts, c->parts);
	if (c->creates != -1u && w.creates != c->creates)
		fail_msg("%s: %u multipart creates, want %u", c->what, w.creates, c->creates);
	assert_int_equal(journal_len(e->ctx.meta), 0);
	model_free(&want);
	return 0;
}

static void test_recover_resumes_multipart(void **state)
{
	static const struct mpu_case cases[] = {
		{ "4 of 11 parts done", 4, 0, 7, 0 },
		{ "all parts done, crash before complete", 11, 0, 0, 0 },
		{ "upload id recorded, no part done", 0, 0, 11, 0 },
	};

	int failed = 0;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		teardown(state);
		assert_int_equal(setup(state), 0);
		failed += run_mpu_case(*state, &cases[i]);
	}
	if (failed)
		fail_msg("%d case(s) failed", failed);
}

/*
 * The multipart upload named in the journal no longer exists at restart
 * (aborted by a bucket lifecycle rule, or by another client): write-back
 * starts a new upload and lands the file (within 8 s: the first retry).
 *
 * Regression: at 651b4cd this retried forever in two ways:
 *  - with parts left to upload, mpu_upload_part failed with -ENOENT
 *    (NoSuchUpload) and upload_multipart() cleared the upload id only when
 *    *complete* failed, so every retry failed the same way;
 *  - once the id was cleared, the recorded parts of the dead upload stayed
 *    in the journal, so the next attempt "resumed" them into the new upload
 *    and complete failed with InvalidPart, forever.
 * Fixed in ca1ad7e.
 */
static void test_recover_vanished_multipart(void **state)
{
	static const struct mpu_case cases[] = {
		/* parts: the failed attempt's and the new upload's; creates: the new one */
		{ "vanished upload, 4 parts recorded", 4, 1, -1u, 1 },
		{ "vanished upload, all parts recorded", 11, 1, 11, 1 },
	};

	int failed = 0;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		teardown(state);
		assert_int_equal(setup(state), 0);
		failed += run_mpu_case(*state, &cases[i]);
	}
	if (failed)
		fail_msg("%d case(s) failed", failed);
}

/* Lands an 11-part file whose first complete the store does but whose
 * answer is lost; replace: another upload of the same size and metadata
 * replaces the object before the retry.  Checks the uploads it took. */
static void lost_complete_case(struct env *e, int replace, unsigned creates, unsigned completes)
{
	struct opts o = { .delay_ms = 0, .start = 1 };
	struct model m = { 0 };
	struct objfs_file *f;

	env_up(e, &o);
	w.lose_completes = 1;
	w.replace_after_loss = replace;
	f = open_new(e, "lost.bin", 410);
	wr(f, &m, 0, 10 * (uint64_t)CHUNK + 5, 9);
	commit_and_wait(e, f);
	assert_object("lost.bin", &m);
	assert_int_equal(w.creates, creates);
	assert_int_equal(w.completes, completes);
	assert_int_equal(journal_len(e->ctx.meta), 0);
	file_put(f);
	model_free(&m);
}

/*
 * The store did a complete but its answer was lost: the retried complete
 * finds the upload gone (NoSuchUpload), sees the object is this upload (its
 * size, metadata and multipart ETag) and does not upload it again: one
 * create, 11 parts, two completes.  Before 2026-11-23 it started over: a
 * second upload of the whole file (and on s3rver, which writes in place, a
 * moment with a partial object).
 */
static void test_lost_complete_answer(void **state)
{
	lost_complete_case(*state, 0, 1, 2);
	assert_int_equal(w.parts, 11);
}

/* The same, but before the retry another upload of the same size and
 * metadata replaced the object: its multipart ETag is not this upload's,
 * so the file is uploaded again and its own bytes land. */
static void test_lost_complete_answer_replaced(void **state)
{
	lost_complete_case(*state, 1, 2, 3);
}

/*
 * Shutting down without a complete drain (objfs_destroy's drain timed out,
 * then main() calls writeback_free()) keeps the staged chunks the journal
 * names, and the next start uploads them.
 *
 * Regression: at 651b4cd writeback_free() dropped the queued entries' file
 * references with file_put(), whose last call ran staging_remove_fid(): the
 * chunk files were deleted, and at the next start the entries retried
 * forever ("staged chunk ... missing"); the data was lost.  Fixed in 18bb4a4.
 */
static void test_shutdown_without_drain_keeps_staging(void **state)
{
	struct env *e = *state;
	struct opts slow = { .delay_ms = NEVER_MS, .start = 1 };
	struct opts o = { .delay_ms = 0, .recover = 1, .start = 1 };
	struct model m[2] = { { 0 } };
	const char *paths[2] = { "s/one", "s/two" };
	struct meta_upload *v;
	size_t n, missing = 0;

	env_up(e, &slow);
	for (size_t i = 0; i < 2; i++) {
		struct objfs_file *f = open_new(e, paths[i], 1200 + i);

		wr(f, &m[i], 0, CHUNK + 10 * i, 70 + (unsigned)i);
		assert_int_equal(file_commit(f), 0);
		file_put(f);   /* the handle is closed; the pending upload holds the file */
	}
	env_down(e);       /* writeback_free without a drain: the drain-timeout path */

	/* every chunk file a journal entry names must still be there */
	assert_int_equal(meta_open(e->dir, &e->ctx.meta), 0);
	assert_int_equal(staging_open(e->dir, 1 << 30, &e->ctx.staging), 0);
	assert_int_equal(meta_journal_load(e->ctx.meta, &v, &n), 0);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++) {
		for (size_t c = 0; c < v[i].nchunks; c++) {
			char p[4096];

			if (!v[i].chunks[c])
				continue;
			staging_chunk_path(e->ctx.staging, v[i].fid, c, v[i].chunks[c], p, sizeof(p));
			missing += !tu_exists(p);
		}
		meta_upload_clear(&v[i]);
	}
	free(v);
	staging_free(e->ctx.staging);
	meta_close(e->ctx.meta);
	memset(&e->ctx, 0, sizeof(e->ctx));
	if (missing) {
		model_free(&m[0]);
		model_free(&m[1]);
		fail_msg("writeback_free deleted %zu staged chunk file(s) that journal entries"
			 " still name; those uploads can never resume", missing);
	}

	env_up(e, &o);
	assert_int_equal(writeback_drain(e->ctx.wb, 8), 0);
	for (size_t i = 0; i < 2; i++) {
		assert_object(paths[i], &m[i]);
		model_free(&m[i]);
	}
}

/* ---- an upload landing in the middle of a write --------------------------- */

static void w_get_gate_set(int closed)
{
	pthread_mutex_lock(&w_lock);
	w.get_gate = closed;
	pthread_cond_broadcast(&w_cv);
	pthread_mutex_unlock(&w_lock);
}

/* Waits until a get sits at the get gate; 0, or -1 after 10 s. */
static int w_wait_get_blocked(void)
{
	struct timespec dl;
	int rc = 0;

	deadline_in(&dl, 10000);
	pthread_mutex_lock(&w_lock);
	while (w.get_blocked < 1 && rc == 0)
		if (pthread_cond_timedwait(&w_cv, &w_lock, &dl) == ETIMEDOUT)
			rc = -1;
	pthread_mutex_unlock(&w_lock);
	return rc;
}

struct write_job {
	struct objfs_file *f;
	const unsigned char *buf;
	size_t len;
	uint64_t off;
	ssize_t rc;
};

static void *write_thread(void *arg)
{
	struct write_job *j = arg;

	j->rc = file_write(j->f, j->buf, j->len, j->off);
	return NULL;
}

/*
 * One write() covers two chunks: the first is staged (copy-on-write of a
 * frozen chunk), the second must be fetched from the base with the file lock
 * dropped.  The upload of the previous commit lands during that fetch.  The
 * landing must not take the file for clean and drop the half-written chunk:
 * the bytes already written to the first chunk have to survive.
 */
static void test_landing_during_write(void **state)
{
	struct env *e = *state;
	struct opts o = { .delay_ms = 0, .start = 1 };
	struct model m = { 0 };
	unsigned char buf[64];
	struct write_job job;
	struct objfs_file *f;
	pthread_t th;

	env_up(e, &o);
	model_resize(&m, 2 * (uint64_t)CHUNK);
	for (uint64_t i = 0; i < m.size; i++)
		m.b[i] = pat(i, 1);
	put_object("mid-write", &m);
	f = open_existing(e, "mid-write", 300);
	wr(f, &m, 0, 10, 2);                 /* stages chunk 0 */
	w_gate_set(1);
	assert_int_equal(file_commit(f), 0);
	if (w_wait_blocked(1))
		fail_msg("the upload never started");

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = pat(CHUNK - 32 + i, 3);
	job = (struct write_job){ f, buf, sizeof(buf), CHUNK - 32, 0 };
	w_get_gate_set(1);
	assert_int_equal(pthread_create(&th, NULL, write_thread, &job), 0);
	if (w_wait_get_blocked())
		fail_msg("the write never fetched chunk 1");
	w_gate_set(0);                       /* the first commit lands now */
	assert_int_equal(writeback_wait_file(e->ctx.wb, f, WAIT_S), 0);
	w_get_gate_set(0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(job.rc, (ssize_t)sizeof(buf));
	memcpy(m.b + CHUNK - 32, buf, sizeof(buf));

	assert_reads(f, &m);
	commit_and_wait(e, f);
	assert_object("mid-write", &m);
	assert_reads(f, &m);
	file_put(f);
	model_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_new_files_land, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cow_while_in_flight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_landing_during_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_superseded_not_uploaded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_multipart_parallel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_multipart_part_copy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncate_over_base, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retry_after_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recover_after_kill9, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recover_resumes_multipart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recover_vanished_multipart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lost_complete_answer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lost_complete_answer_replaced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shutdown_without_drain_keeps_staging, setup,
						teardown),
	};

	objfs_log_set_level(OBJFS_LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
