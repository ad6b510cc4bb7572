/*
 * Unit tests of the read cache (src/readcache.c).
 *
 * Objects live in the in-memory provider; the cache talks to it through a
 * wrapping ops table that counts get calls, tracks how many run at once,
 * can delay them and can inject an error.  Block files are checked by
 * scanning the cache directory.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "objfs/provider.h"
#include "readcache.h"
#include "log.h"

#define BS       4096u
#define BUCKET   "bkt-test"

/* ---- the provider under the cache: mem, wrapped to count gets ---------- */

static struct objfs_prov *t_backend;                 /* the mem provider */
static struct objfs_provider_ops t_ops;              /* mem's table, get wrapped */
static struct objfs_prov t_prov;                     /* what the cache is given */

static pthread_mutex_t t_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned t_gets, t_inflight;                  /* (t_lock) */
static unsigned t_delay_ms;                          /* (t_lock) */
static int t_fail_rc;                                /* (t_lock) injected get error */
/* Rendezvous: the first get waits (up to 5 s) until a second one is in
 * flight, which proves that fetches overlap without relying on timing. */
static pthread_cond_t t_cv = PTHREAD_COND_INITIALIZER;
static int t_rendezvous, t_met, t_gave_up;           /* (t_lock) */

static int t_get(struct objfs_provider *p, const char *bucket, const char *key,
		 uint64_t off, uint64_t len, const char *if_match, void *buf,
		 uint64_t *got, struct objfs_err *err)
{
	unsigned delay;
	int fail, rc;

	pthread_mutex_lock(&t_lock);
	t_gets++;
	t_inflight++;
	delay = t_delay_ms;
	fail = t_fail_rc;
	if (t_rendezvous && !t_met && !t_gave_up) {
		struct timespec dl;

		clock_gettime(CLOCK_REALTIME, &dl);
		dl.tv_sec += 5;
		if (t_inflight >= 2)
			t_met = 1;
		pthread_cond_broadcast(&t_cv);
		while (!t_met && !t_gave_up)
			if (pthread_cond_timedwait(&t_cv, &t_lock, &dl) == ETIMEDOUT)
				t_gave_up = 1;
	}
	pthread_mutex_unlock(&t_lock);
	if (delay) {
		struct timespec ts = { delay / 1000, (long)(delay % 1000) * 1000000L };
		nanosleep(&ts, NULL);
	}
	if (fail)
		rc = objfs_err_set(err, fail, "injected");
	else
		rc = t_backend->ops->get(p, bucket, key, off, len, if_match, buf, got, err);
	pthread_mutex_lock(&t_lock);
	t_inflight--;
	pthread_mutex_unlock(&t_lock);
	return rc;
}

static void t_reset_counters(unsigned delay_ms, int fail_rc)
{
	pthread_mutex_lock(&t_lock);
	t_gets = 0;
	t_delay_ms = delay_ms;
	t_fail_rc = fail_rc;
	t_rendezvous = t_met = t_gave_up = 0;
	pthread_mutex_unlock(&t_lock);
}

static unsigned t_get_count(void)
{
	unsigned n;

	pthread_mutex_lock(&t_lock);
	n = t_gets;
	pthread_mutex_unlock(&t_lock);
	return n;
}

/* Puts size random bytes (seeded) at key; returns the data (caller frees) and the ETag. */
static unsigned char *t_put_random(const char *key, size_t size, unsigned seed,
				   char etag[OBJFS_ETAG_MAX])
{
	unsigned char *data = malloc(size ? size : 1);
	struct objfs_seg seg;
	struct objfs_source src;
	struct objfs_putopts opts;
	struct objfs_err err;
	int rc;

	assert_non_null(data);
	for (size_t i = 0; i < size; i++) {
		seed = seed * 1103515245u + 12345u;
		data[i] = (unsigned char)(seed >> 16);
	}
	memset(&seg, 0, sizeof(seg));
	seg.fd = -1;
	seg.buf = data;
	seg.len = size;
	src.segs = &seg;
	src.nsegs = 1;
	src.size = size;
	memset(&opts, 0, sizeof(opts));
	rc = objfs_prov_put(t_backend, BUCKET, key, &src, &opts, etag, &err);
	if (rc != 0)
		fail_msg("put %s: %d %s", key, rc, err.msg);
	return data;
}

/* ---- cache directory helpers ------------------------------------------ */

struct t_fix {
	char dir[96];                    /* the cache dir, inside base */
	char base[64];
	struct objfs_readcache *rc;
};

/* Sum of the sizes of the regular files in dir; *nfiles and *ntmp counted. */
static uint64_t t_dir_bytes(const char *dir, unsigned *nfiles, unsigned *ntmp)
{
	char path[512];
	struct dirent *de;
	struct stat st;
	uint64_t sum = 0;
	DIR *d = opendir(dir);

	*nfiles = 0;
	if (ntmp)
		*ntmp = 0;
	if (!d)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			sum += (uint64_t)st.st_size;
			(*nfiles)++;
			if (ntmp && strstr(de->d_name, ".tmp"))
				(*ntmp)++;
		}
	}
	closedir(d);
	return sum;
}

static void t_fix_open(struct t_fix *f, uint64_t max_bytes, uint64_t max_ra, unsigned threads)
{
	strcpy(f->base, "/tmp/objfs-rc-XXXXXX");
	assert_non_null(mkdtemp(f->base));
	snprintf(f->dir, sizeof(f->dir), "%s/cache", f->base);
	assert_int_equal(objfs_readcache_new(f->dir, max_bytes, BS, max_ra, threads, &f->rc), 0);
}

static void t_fix_close(struct t_fix *f)
{
	unsigned n;

	objfs_readcache_free(f->rc);
	f->rc = NULL;
	t_dir_bytes(f->dir, &n, NULL);
	assert_int_equal(n, 0);          /* free removes the block files */
	rmdir(f->dir);
	rmdir(f->base);
}

static int t_setup(void **state)
{
	struct objfs_provider_conf conf;
	struct objfs_err err;

	memset(&conf, 0, sizeof(conf));
	conf.name = "mem";
	conf.type = "mem";
	if (objfs_prov_open(&conf, &t_backend, &err) != 0) {
		fprintf(stderr, "mem provider: %s\n", err.msg);
		return -1;
	}
	if (objfs_prov_bucket_create(t_backend, BUCKET, &err) != 0) {
		fprintf(stderr, "mem bucket: %s\n", err.msg);
		objfs_prov_free(t_backend);
		return -1;
	}
	t_ops = *t_backend->ops;
	t_ops.get = t_get;
	t_prov.ops = &t_ops;
	t_prov.impl = t_backend->impl;
	t_prov.name = t_backend->name;
	t_reset_counters(0, 0);
	return 0;
}

static int t_teardown(void **state)
{
	objfs_prov_free(t_backend);
	t_backend = NULL;
	return 0;
}

static ssize_t t_read(struct t_fix *f, const char *key, const char *etag, uint64_t size,
		      uint64_t off, size_t len, void *buf, uint64_t stream)
{
	return objfs_readcache_read(f->rc, &t_prov, BUCKET, key, etag, size, off, len,
				    buf, stream);
}

/* ---- tests ------------------------------------------------------------- */

#define OBJ_SIZE (5 * BS + 123)

struct read_case {
	uint64_t off;
	size_t len;
	ssize_t want;                    /* expected return */
};

static const struct read_case read_cases[] = {
	{ 0, 0, 0 },                         /* zero length */
	{ 0, 1, 1 },
	{ 0, BS, BS },                       /* exactly one block */
	{ BS - 1, 2, 2 },                    /* straddles a boundary */
	{ BS, BS, BS },                      /* second block, aligned */
	{ BS - 10, 3 * BS, 3 * BS },         /* four blocks, unaligned */
	{ 2 * BS + 7, 1, 1 },
	{ 5 * BS, 123, 123 },                /* the tail block exactly */
	{ 5 * BS + 100, 1000, 23 },          /* short at the end */
	{ OBJ_SIZE - 1, 10, 1 },             /* last byte */
	{ OBJ_SIZE, 10, 0 },                 /* at EOF */
	{ OBJ_SIZE + 4096, 1, 0 },           /* past EOF */
	{ 0, OBJ_SIZE + 5000, OBJ_SIZE },    /* everything, asked for more */
	{ 3 * BS, 2 * BS + 123, 2 * BS + 123 },
};

/* Every case, cold (fresh cache) and then warm, with and without a stream. */
static void test_read_table(void **state)
{
	char etag[OBJFS_ETAG_MAX];
	unsigned char *data = t_put_random("obj/table", OBJ_SIZE, 1, etag);
	unsigned char *buf = malloc(OBJ_SIZE + 10000);

	assert_non_null(buf);
	for (int stream = 0; stream < 2; stream++) {
		for (size_t i = 0; i < sizeof(read_cases) / sizeof(read_cases[0]); i++) {
			const struct read_case *c = &read_cases[i];
			struct t_fix f;

			t_fix_open(&f, 64 * BS, stream ? 4 * BS : 0, 2);
			for (int pass = 0; pass < 2; pass++) {
				ssize_t got;

				memset(buf, 0xEE, OBJ_SIZE + 10000);
				got = t_read(&f, "obj/table", etag, OBJ_SIZE, c->off, c->len, buf,
					     (uint64_t)stream);
				if (got != c->want)
					fail_msg("case %zu pass %d: got %zd want %zd", i, pass, got,
						 c->want);
				if (got > 0 && memcmp(buf, data + c->off, (size_t)got) != 0)
					fail_msg("case %zu pass %d: wrong bytes", i, pass);
				/* nothing written past what was returned */
				if (buf[got > 0 ? got : 0] != 0xEE)
					fail_msg("case %zu pass %d: wrote past the result", i, pass);
			}
			t_fix_close(&f);
		}
	}
	free(buf);
	free(data);
}

/* A second pass over the same range is served from the cache. */
static void test_hits_do_not_fetch(void **state)
{
	char etag[OBJFS_ETAG_MAX];
	unsigned char *data = t_put_random("obj/hits", 3 * BS, 2, etag);
	unsigned char buf[3 * BS];
	struct objfs_readcache_stats st;
	struct t_fix f;
	unsigned n;

	t_fix_open(&f, 64 * BS, 0, 2);
	t_reset_counters(0, 0);
	assert_int_equal(t_read(&f, "obj/hits", etag, 3 * BS, 0, 3 * BS, buf, 0), 3 * BS);
	assert_int_equal(t_get_count(), 3);
	assert_int_equal(t_read(&f, "obj/hits", etag, 3 * BS, 0, 3 * BS, buf, 0), 3 * BS);
	assert_int_equal(t_get_count(), 3);
	assert_memory_equal(buf, data, 3 * BS);
	objfs_readcache_stats(f.rc, &st);
	assert_int_equal(st.misses, 3);
	assert_int_equal(st.hits, 3);
	assert_int_equal(st.bytes_cached, 3 * BS);
	assert_int_equal(t_dir_bytes(f.dir, &n, NULL), 3 * BS);
	assert_int_equal(n, 3);
	t_fix_close(&f);
	free(data);
}

/* A new ETag is a new cache key: new bytes, and the old blocks are never
 * returned for it; an ETag that is no longer current fails with -ESTALE. */
static void test_etag_change(void **state)
{
	char e1[OBJFS_ETAG_MAX], e2[OBJFS_ETAG_MAX];
	unsigned char *d1 = t_put_random("obj/etag", 2 * BS + 50, 3, e1);
	unsigned char *d2 = NULL;
	unsigned char buf[2 * BS + 50];
	struct t_fix f;
	unsigned n;

	t_fix_open(&f, 64 * BS, 2 * BS, 2);
	assert_int_equal(t_read(&f, "obj/etag", e1, 2 * BS + 50, 0, sizeof(buf), buf, 1),
			 sizeof(buf));
	assert_memory_equal(buf, d1, sizeof(buf));

	d2 = t_put_random("obj/etag", 2 * BS + 50, 4, e2);
	assert_string_not_equal(e1, e2);
	t_reset_counters(0, 0);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(t_read(&f, "obj/etag", e2, 2 * BS + 50, 0, sizeof(buf), buf, 1),
			 sizeof(buf));
	assert_memory_equal(buf, d2, sizeof(buf));
	assert_int_equal(t_get_count(), 3);      /* nothing of e1 was reused */

	/* The old version's blocks go with invalidate; e1 is then stale. */
	objfs_readcache_invalidate(f.rc, BUCKET, "obj/etag");
	assert_int_equal(t_dir_bytes(f.dir, &n, NULL), 0);
	assert_int_equal(t_read(&f, "obj/etag", e1, 2 * BS + 50, 0, 10, buf, 0), -ESTALE);
	assert_int_equal(t_read(&f, "obj/etag", e1, 2 * BS + 50, BS, BS, buf, 0), -ESTALE);
	assert_int_equal(t_read(&f, "obj/etag", e2, 2 * BS + 50, BS, 60, buf, 0), 60);
	assert_memory_equal(buf, d2 + BS, 60);
	t_fix_close(&f);
	free(d1);
	free(d2);
}

/* -ESTALE propagates and nothing is cached; also an injected -EIO. */
static void test_errors_not_cached(void **state)
{
	char e1[OBJFS_ETAG_MAX], e2[OBJFS_ETAG_MAX];
	unsigned char *d1 = t_put_random("obj/stale", 3 * BS, 5, e1);
	unsigned char *d2 = t_put_random("obj/stale", 3 * BS, 6, e2);
	unsigned char buf[3 * BS];
	struct objfs_readcache_stats st;
	struct t_fix f;
	unsigned n;

	t_fix_open(&f, 64 * BS, 4 * BS, 3);
	assert_int_equal(t_read(&f, "obj/stale", e1, 3 * BS, 0, 3 * BS, buf, 7), -ESTALE);
	assert_int_equal(t_read(&f, "obj/stale", e1, 3 * BS, 100, 10, buf, 7), -ESTALE);
	assert_int_equal(t_dir_bytes(f.dir, &n, NULL), 0);
	objfs_readcache_stats(f.rc, &st);
	assert_int_equal(st.bytes_cached, 0);

	t_reset_counters(0, -EIO);
	assert_int_equal(t_read(&f, "obj/stale", e2, 3 * BS, 0, 3 * BS, buf, 0), -EIO);
	assert_int_equal(t_dir_bytes(f.dir, &n, NULL), 0);
	t_reset_counters(0, 0);
	assert_int_equal(t_read(&f, "obj/stale", e2, 3 * BS, 0, 3 * BS, buf, 0), 3 * BS);
	assert_memory_equal(buf, d2, 3 * BS);
	t_fix_close(&f);
	free(d1);
	free(d2);
}

/* The directory never holds more than max_bytes; LRU blocks are evicted. */
static void test_eviction_bound(void **state)
{
	const uint64_t max = 5 * BS + BS / 2;
	char etags[4][OBJFS_ETAG_MAX];
	unsigned char *data[4];
	unsigned char buf[4 * BS];
	struct objfs_readcache_stats st;
	struct t_fix f;
	char key[32];

	for (int i = 0; i < 4; i++) {
		snprintf(key, sizeof(key), "obj/evict%d", i);
		data[i] = t_put_random(key, 4 * BS - 7 * i, 10 + (unsigned)i, etags[i]);
	}
	t_fix_open(&f, max, 2 * BS, 2);
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 4; i++) {
			uint64_t size = 4 * BS - 7 * (uint64_t)i, bytes;
			unsigned n, ntmp;

			snprintf(key, sizeof(key), "obj/evict%d", i);
			for (uint64_t off = 0; off < size; off += 1000) {
				size_t len = size - off < 1000 ? size - off : 1000;

				assert_int_equal(t_read(&f, key, etags[i], size, off, 1000, buf,
							(uint64_t)i + 1), (ssize_t)len);
				assert_memory_equal(buf, data[i] + off, len);
				bytes = t_dir_bytes(f.dir, &n, &ntmp);
				if (bytes > max)
					fail_msg("cache dir holds %llu > %llu bytes",
						 (unsigned long long)bytes, (unsigned long long)max);
			}
		}
	}
	objfs_readcache_stats(f.rc, &st);
	assert_true(st.evictions > 0);
	assert_true(st.bytes_cached <= max);
	t_fix_close(&f);
	for (int i = 0; i < 4; i++)
		free(data[i]);
}

/* Concurrent readers of overlapping ranges all get the right bytes. */
#define CONC_THREADS 8
#define CONC_ITERS   150
#define CONC_SIZE    (16 * BS + 333)

struct conc_arg {
	struct t_fix *f;
	const char *etag;
	const unsigned char *data;
	unsigned seed;
	int bad;
};

static void *conc_reader(void *p)
{
	struct conc_arg *a = p;
	unsigned char *buf = malloc(4 * BS);
	unsigned s = a->seed;

	if (!buf) {
		a->bad = -1;
		return NULL;
	}
	for (int it = 0; it < CONC_ITERS; it++) {
		uint64_t off;
		size_t len;
		ssize_t want, got;

		s = s * 1103515245u + 12345u;
		off = (s >> 8) % (CONC_SIZE + 100);
		s = s * 1103515245u + 12345u;
		len = (s >> 8) % (3 * BS);
		if (it % 10 < 5)                 /* half the time: runs of sequential reads */
			off = ((uint64_t)it % 10) * 1500 + (a->seed % 4) * BS;
		want = off >= CONC_SIZE ? 0 : (ssize_t)(CONC_SIZE - off < len ? CONC_SIZE - off : len);
		got = t_read(a->f, "obj/conc", a->etag, CONC_SIZE, off, len, buf, a->seed);
		if (got != want || (got > 0 && memcmp(buf, a->data + off, (size_t)got) != 0)) {
			a->bad = it + 1;
			break;
		}
	}
	free(buf);
	return NULL;
}

static void run_concurrent(uint64_t max_bytes, unsigned delay_ms)
{
	char etag[OBJFS_ETAG_MAX];
	unsigned char *data = t_put_random("obj/conc", CONC_SIZE, 20, etag);
	pthread_t th[CONC_THREADS];
	struct conc_arg args[CONC_THREADS];
	struct t_fix f;
	unsigned n;

	t_fix_open(&f, max_bytes, 4 * BS, 3);
	t_reset_counters(delay_ms, 0);
	for (int i = 0; i < CONC_THREADS; i++) {
		args[i] = (struct conc_arg){ &f, etag, data, 100u + (unsigned)i, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, conc_reader, &args[i]), 0);
	}
	for (int i = 0; i < CONC_THREADS; i++) {
		pthread_join(th[i], NULL);
		if (args[i].bad)
			fail_msg("reader %d failed at iteration %d", i, args[i].bad);
	}
	assert_true(t_dir_bytes(f.dir, &n, NULL) <= max_bytes);
	t_reset_counters(0, 0);
	t_fix_close(&f);
	free(data);
}

static void test_concurrent_readers(void **state)
{
	run_concurrent(64 * BS, 0);          /* everything fits */
	run_concurrent(6 * BS, 0);           /* constant eviction */
	run_concurrent(6 * BS, 1);           /* slow provider: readers overlap fetches */
}

/* Readers of one missing block wait for one fetch. */
struct same_arg {
	struct t_fix *f;
	const char *etag;
	const unsigned char *data;
	pthread_barrier_t *bar;
	int bad;
};

static void *same_reader(void *p)
{
	struct same_arg *a = p;
	unsigned char buf[100];

	pthread_barrier_wait(a->bar);
	if (t_read(a->f, "obj/same", a->etag, 2 * BS, BS + 10, sizeof(buf), buf, 0) != 100 ||
	    memcmp(buf, a->data + BS + 10, sizeof(buf)) != 0)
		a->bad = 1;
	return NULL;
}

static void test_single_fetch(void **state)
{
	char etag[OBJFS_ETAG_MAX];
	unsigned char *data = t_put_random("obj/same", 2 * BS, 30, etag);
	pthread_t th[CONC_THREADS];
	struct same_arg args[CONC_THREADS];
	pthread_barrier_t bar;
	struct t_fix f;

	t_fix_open(&f, 64 * BS, 0, 2);
	t_reset_counters(100, 0);
	pthread_barrier_init(&bar, NULL, CONC_THREADS);
	for (int i = 0; i < CONC_THREADS; i++) {
		args[i] = (struct same_arg){ &f, etag, data, &bar, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, same_reader, &args[i]), 0);
	}
	for (int i = 0; i < CONC_THREADS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(args[i].bad, 0);
	}
	pthread_barrier_destroy(&bar);
	assert_int_equal(t_get_count(), 1);
	t_reset_counters(0, 0);
	t_fix_close(&f);
	free(data);
}

/* A cold read of many blocks fetches them in parallel. */
static void test_parallel_large_read(void **state)
{
	char etag[OBJFS_ETAG_MAX];
	unsigned char *data = t_put_random("obj/large", 16 * BS, 40, etag);
	unsigned char *buf = malloc(16 * BS);
	struct t_fix f;

	assert_non_null(buf);
	t_fix_open(&f, 64 * BS, 0, 4);
	t_reset_counters(0, 0);
	pthread_mutex_lock(&t_lock);
	t_rendezvous = 1;
	pthread_mutex_unlock(&t_lock);
	assert_int_equal(t_read(&f, "obj/large", etag, 16 * BS, 0, 16 * BS, buf, 0), 16 * BS);
	assert_memory_equal(buf, data, 16 * BS);
	assert_int_equal(t_get_count(), 16);
	pthread_mutex_lock(&t_lock);
	assert_true(t_met && !t_gave_up);    /* two fetches were in flight at once */
	pthread_mutex_unlock(&t_lock);
	t_reset_counters(0, 0);
	t_fix_close(&f);
	free(buf);
	free(data);
}

/* Sequential reads are served by readahead: one miss, then hits only, each
 * block fetched once, nothing past the end; random reads do not read ahead. */
static void test_readahead(void **state)
{
	const unsigned nblk = 32;
	const uint64_t size = nblk * BS - 1000;
	char etag[OBJFS_ETAG_MAX];
	unsigned char *data = t_put_random("obj/ra", size, 50, etag);
	unsigned char buf[BS];
	struct objfs_readcache_stats st;
	struct t_fix f;

	t_fix_open(&f, 64 * BS, 8 * BS, 2);
	t_reset_counters(1, 0);
	for (uint64_t off = 0; off < size; off += BS) {
		size_t want = size - off < BS ? size - off : BS;

		assert_int_equal(t_read(&f, "obj/ra", etag, size, off, BS, buf, 42), (ssize_t)want);
		assert_memory_equal(buf, data + off, want);
	}
	objfs_readcache_stats(f.rc, &st);
	assert_int_equal(st.misses, 1);
	assert_int_equal(st.hits, nblk - 1);
	assert_int_equal(st.readahead_blocks, nblk - 1);
	assert_int_equal(t_get_count(), nblk);

	/* Random access on another object: no readahead. */
	objfs_readcache_invalidate(f.rc, BUCKET, "obj/ra");
	t_reset_counters(0, 0);
	for (unsigned i = 0; i < 8; i++) {
		uint64_t off = ((i * 7 + 3) % nblk) * BS + 17;

		assert_true(t_read(&f, "obj/ra", etag, size, off, 100, buf, 43) > 0);
		assert_memory_equal(buf, data + off, 100);
	}
	objfs_readcache_stats(f.rc, &st);
	assert_int_equal(st.readahead_blocks, nblk - 1);
	assert_int_equal(t_get_count(), 8);
	t_fix_close(&f);
	free(data);
}

/* Block files that cannot be written: reads are served from memory. */
static void test_read_through(void **state)
{
	char etag[OBJFS_ETAG_MAX];
	unsigned char *data = t_put_random("obj/rt", 3 * BS, 60, etag);
	unsigned char buf[3 * BS];
	struct objfs_readcache_stats st;
	struct t_fix f;

	/* No room at all. */
	t_fix_open(&f, 0, 2 * BS, 2);
	for (int pass = 0; pass < 2; pass++) {
		assert_int_equal(t_read(&f, "obj/rt", etag, 3 * BS, 5, 3 * BS, buf, 1), 3 * BS - 5);
		assert_memory_equal(buf, data + 5, 3 * BS - 5);
	}
	t_fix_close(&f);

	/* The directory is gone: every write fails. */
	t_fix_open(&f, 64 * BS, 2 * BS, 2);
	assert_int_equal(rmdir(f.dir), 0);
	for (int pass = 0; pass < 2; pass++) {
		assert_int_equal(t_read(&f, "obj/rt", etag, 3 * BS, 0, 3 * BS, buf, 1), 3 * BS);
		assert_memory_equal(buf, data, 3 * BS);
	}
	objfs_readcache_stats(f.rc, &st);
	assert_int_equal(st.bytes_cached, 0);
	t_fix_close(&f);
	free(data);
}

/* new: creates the directory 0700 and removes old block files only. */
static void test_new_empties_dir(void **state)
{
	static const char *const names[] = {
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef-0-1",
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef-3-9.tmp",
	};
	struct objfs_readcache *rc = NULL;
	char base[64], dir[80], path[256];
	struct stat st;
	unsigned n;
	int fd;

	strcpy(base, "/tmp/objfs-rc-XXXXXX");
	assert_non_null(mkdtemp(base));
	snprintf(dir, sizeof(dir), "%s/c", base);
	assert_int_equal(mkdir(dir, 0755), 0);
	for (size_t i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		fd = open(path, O_WRONLY | O_CREAT, 0600);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, "x", 1), 1);
		close(fd);
	}
	snprintf(path, sizeof(path), "%s/not-ours", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);

	assert_int_equal(objfs_readcache_new(dir, 1 << 20, BS, 0, 1, &rc), 0);
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	t_dir_bytes(dir, &n, NULL);
	assert_int_equal(n, 1);              /* only "not-ours" is left */
	objfs_readcache_free(rc);
	unlink(path);
	rmdir(dir);

	/* A missing directory is created. */
	assert_int_equal(objfs_readcache_new(dir, 1 << 20, BS, 0, 1, &rc), 0);
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	objfs_readcache_free(rc);
	rmdir(dir);
	rmdir(base);
}

struct bad_new {
	uint32_t bs;
	unsigned threads;
};

static void test_new_invalid(void **state)
{
	static const struct bad_new cases[] = { { 0, 1 }, { 3000, 1 }, { BS, 0 } };
	struct objfs_readcache *rc = (struct objfs_readcache *)&rc;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(objfs_readcache_new("/tmp/objfs-rc-never", 1 << 20, cases[i].bs,
						     0, cases[i].threads, &rc), -EINVAL);
		assert_null(rc);
	}
	objfs_readcache_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_invalid),
		cmocka_unit_test(test_new_empties_dir),
		cmocka_unit_test(test_read_table),
		cmocka_unit_test(test_hits_do_not_fetch),
		cmocka_unit_test(test_etag_change),
		cmocka_unit_test(test_errors_not_cached),
		cmocka_unit_test(test_eviction_bound),
		cmocka_unit_test(test_concurrent_readers),
		cmocka_unit_test(test_single_fetch),
		cmocka_unit_test(test_parallel_large_read),
		cmocka_unit_test(test_readahead),
		cmocka_unit_test(test_read_through),
	};

	objfs_log_set_level(OBJFS_LOG_ERROR);
	return cmocka_run_group_tests(tests, t_setup, t_teardown);
}
