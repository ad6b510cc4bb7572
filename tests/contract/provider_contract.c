/*
 * The provider contract suite: one set of cmocka cases, written against the
 * provider interface (include/objfs/provider.h, docs/providers.md) and
 * nothing else, that every provider must pass.  tests/contract/README.md says
 * how to run it; tests/integration/test_contract.py runs it against each
 * store on 127.0.0.1.
 *
 * Each case runs under its own fresh key prefix
 *     PREFIX RUNID/CASE/
 * (RUNID = time, pid and random bits), so cases never see each other and a
 * rerun never meets the keys of an earlier one; the case's teardown deletes
 * every key under it (bounded pages) and aborts the uploads it started.
 *
 * Verdicts: a case passes, fails (the message names the check, the errno
 * that came back and the provider's err text), or is not applicable, which
 * is decided by asking the provider -- an optional operation answering
 * -ENOSYS, a capability bit, a missing --bad-provider -- and is printed with
 * its reason, never skipped silently.  Checks only ever run on the main
 * thread (cmocka's failure jumps are per thread); worker threads return
 * errnos.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "objfs/provider.h"
#include "config.h"

#define MIB               (1024ull * 1024ull)
#define CLEANUP_PAGES     50      /* teardown lists at most this many pages */
#define MANY_KEYS         2500
#define MANY_THREADS      8
#define PRESIGN_TTL_S     300
#define HTTP_TIMEOUT_S    30L
#define MPU_NPARTS        3

/* ---- run context --------------------------------------------------------- */

struct contract {
	const char *config_path;
	const char *prov_name;
	const char *bad_name;
	const char *bucket;
	const char *base_prefix;
	struct objfs_config *cfg;
	struct objfs_provider_conf mem_conf;     /* --provider mem without --config */
	const struct objfs_provider_conf *conf;
	const struct objfs_provider_conf *bad_conf;
	struct objfs_prov *p;                    /* replaced by the resume case */
	char run_prefix[256];
};
static struct contract C;

enum { ST_NOT_RUN = 0, ST_RUNNING, ST_PASSED, ST_FAILED, ST_NA };

#define MAX_SCRATCH 20000                /* allocations one case may keep */
#define MAX_UPLOADS 8
#define MAX_OIS     256

struct case_state {
	const char *name;
	const char *what;                        /* one line for the listing */
	int status;
	char msg[768];                           /* failure or n/a reason */
	char note[256];                          /* printed with a pass */
	char pfx[512];                           /* this case's key prefix */
	double t0, secs;                         /* monotonic start, duration */
	void **scratch;                          /* freed at teardown */
	size_t nscratch, capscratch;
	struct { char *key; char *id; } uploads[MAX_UPLOADS];   /* aborted at teardown */
	size_t nuploads;
	struct objfs_objinfo *ois[MAX_OIS];      /* must_head results, cleared at teardown */
	size_t nois;
};
static struct case_state *CUR;

/* ---- verdict helpers ----------------------------------------------------- */

static const char *errname(int rc)
{
	static __thread char buf[32];

	switch (-rc) {
	case 0: return "0";
	case ENOENT: return "-ENOENT";
	case EACCES: return "-EACCES";
	case EPERM: return "-EPERM";
	case ESTALE: return "-ESTALE";
	case EEXIST: return "-EEXIST";
	case EINVAL: return "-EINVAL";
	case ENAMETOOLONG: return "-ENAMETOOLONG";
	case EIO: return "-EIO";
	case ENOSYS: return "-ENOSYS";
	case ENOMEM: return "-ENOMEM";
	case EKEYEXPIRED: return "-EKEYEXPIRED";
	case E2BIG: return "-E2BIG";
	case EPROTO: return "-EPROTO";
	case EAGAIN: return "-EAGAIN";
	case ENOTSUP: return "-ENOTSUP";
	case EBUSY: return "-EBUSY";
	case ETIMEDOUT: return "-ETIMEDOUT";
	}
	snprintf(buf, sizeof(buf), "%d", rc);
	return buf;
}

/* Records why the current case failed and ends it (cmocka's failure jump). */
static void case_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4), noreturn));
static void case_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(CUR->msg, sizeof(CUR->msg), fmt, ap);
	va_end(ap);
	CUR->status = ST_FAILED;
	printf("[  ERROR   ] %s: %s\n", CUR->name, CUR->msg);
	fflush(stdout);
	_fail(file, line);
	abort();    /* not reached: _fail jumps out of the case */
}
#define FAIL(...) case_fail(__FILE__, __LINE__, __VA_ARGS__)

/* Not applicable, with the reason printed in the summary. */
static void case_na(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void case_na(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(CUR->msg, sizeof(CUR->msg), fmt, ap);
	va_end(ap);
	CUR->status = ST_NA;
	skip();
	abort();
}

static void case_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void case_note(const char *fmt, ...)
{
	size_t n = strlen(CUR->note);
	va_list ap;

	if (n && n + 2 < sizeof(CUR->note)) {
		strcat(CUR->note, "; ");
		n += 2;
	}
	va_start(ap, fmt);
	vsnprintf(CUR->note + n, sizeof(CUR->note) - n, fmt, ap);
	va_end(ap);
}

/* rc must be want; what names the check, err carries the provider's text. */
#define EXPECT_RC(rc, want, err, ...)                                                \
	do {                                                                         \
		int rc_ = (rc), want_ = (want);                                      \
		if (rc_ != want_) {                                                  \
			char what_[256];                                             \
			snprintf(what_, sizeof(what_), __VA_ARGS__);                 \
			FAIL("%s: got %s, expected %s%s%s%s", what_, errname(rc_),   \
			     errname(want_), (err).msg[0] ? " (err: " : "",         \
			     (err).msg, (err).msg[0] ? ")" : "");                     \
		}                                                                    \
	} while (0)
#define EXPECT_OK(rc, err, ...) EXPECT_RC(rc, 0, err, __VA_ARGS__)
#define EXPECT(cond, ...)                          \
	do {                                       \
		if (!(cond))                       \
			FAIL(__VA_ARGS__);         \
	} while (0)

/* An optional operation: -ENOSYS makes the case not applicable. */
#define OPTIONAL(rc, err, opname)                                                   \
	do {                                                                        \
		if ((rc) == -ENOSYS)                                                \
			case_na("%s: the provider answers -ENOSYS (%s)", opname, (err).msg); \
	} while (0)

static void *keep(void *ptr)
{
	if (!ptr)
		FAIL("out of memory");
	if (CUR->nscratch == CUR->capscratch) {
		size_t cap = CUR->capscratch ? CUR->capscratch * 2 : 64;
		void **v = cap <= MAX_SCRATCH ? realloc(CUR->scratch, cap * sizeof(*v)) : NULL;
		if (!v) {
			free(ptr);
			FAIL("test bug: more than %d scratch allocations", MAX_SCRATCH);
		}
		CUR->scratch = v;
		CUR->capscratch = cap;
	}
	CUR->scratch[CUR->nscratch++] = ptr;
	return ptr;
}

static void *xmalloc(size_t n)
{
	return keep(malloc(n ? n : 1));
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return keep(n < 0 ? NULL : s);
}

/* A key under the current case's prefix. */
static char *K(const char *rel)
{
	return xasprintf("%s%s", CUR->pfx, rel);
}

static void track_upload(const char *key, const char *id)
{
	if (CUR->nuploads == MAX_UPLOADS)
		FAIL("test bug: more than %d uploads", MAX_UPLOADS);
	CUR->uploads[CUR->nuploads].key = strdup(key);
	CUR->uploads[CUR->nuploads].id = strdup(id);
	CUR->nuploads++;
}

static void untrack_upload(const char *id)
{
	for (size_t i = 0; i < CUR->nuploads; i++)
		if (CUR->uploads[i].id && strcmp(CUR->uploads[i].id, id) == 0) {
			free(CUR->uploads[i].key);
			free(CUR->uploads[i].id);
			CUR->uploads[i].key = CUR->uploads[i].id = NULL;
		}
}

/* ---- data and store helpers ---------------------------------------------- */

/* Deterministic bytes from a seed, so content is checked without copies. */
static void fill(unsigned char *buf, size_t len, uint64_t seed)
{
	uint64_t x = seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;

	for (size_t i = 0; i < len; i++) {
		if ((i & 7) == 0) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
		}
		buf[i] = (unsigned char)(x >> ((i & 7) * 8));
	}
}

static int put_buf(struct objfs_prov *p, const char *key, const void *data, size_t len,
		   const struct objfs_putopts *opts, char *etag, struct objfs_err *err)
{
	struct objfs_seg seg = { .fd = -1, .buf = data, .off = 0, .len = len };
	struct objfs_source src = { .segs = &seg, .nsegs = 1, .size = len };

	if (len == 0) {
		src.segs = NULL;
		src.nsegs = 0;
	}
	/* a zero-length buf segment would be read as zeros: use none */
	return objfs_prov_put(p, C.bucket, key, &src, opts, etag, err);
}

/* Puts key or fails the case; etag (OBJFS_ETAG_MAX) may be NULL. */
static void must_put(const char *key, const void *data, size_t len,
		     const struct objfs_putopts *opts, char *etag)
{
	struct objfs_err err;
	char e[OBJFS_ETAG_MAX] = "";

	EXPECT_OK(put_buf(C.p, key, data, len, opts, e, &err), err, "put '%s' (%zu bytes)",
		  key, len);
	EXPECT(e[0], "put '%s': no ETag returned", key);
	if (etag)
		memcpy(etag, e, sizeof(e));
}

/* Reads the whole object (size from head) and compares it with want. */
static void must_read_equal(const char *key, const unsigned char *want, size_t len)
{
	struct objfs_objinfo oi;
	struct objfs_err err;
	unsigned char *buf;
	uint64_t got = 0, at = 0;
	int rc;

	memset(&oi, 0, sizeof(oi));
	rc = objfs_prov_head(C.p, C.bucket, key, &oi, &err);
	EXPECT_OK(rc, err, "head '%s'", key);
	if (oi.size != len) {
		uint64_t sz = oi.size;
		objfs_objinfo_clear(&oi);
		FAIL("head '%s': size %llu, expected %zu", key, (unsigned long long)sz, len);
	}
	objfs_objinfo_clear(&oi);
	buf = xmalloc(len + 1);
	/* in 4 MiB reads, as the read cache does */
	while (at < len) {
		uint64_t n = len - at < 4 * MIB ? len - at : 4 * MIB;
		rc = objfs_prov_get(C.p, C.bucket, key, at, n, NULL, buf + at, &got, &err);
		EXPECT_OK(rc, err, "get '%s' at %llu", key, (unsigned long long)at);
		EXPECT(got == n, "get '%s' at %llu: %llu bytes, expected %llu", key,
		       (unsigned long long)at, (unsigned long long)got, (unsigned long long)n);
		at += n;
	}
	for (size_t i = 0; i < len; i++)
		if (buf[i] != want[i])
			FAIL("get '%s': byte %zu is 0x%02x, expected 0x%02x", key, i, buf[i],
			     want[i]);
}

/* Head of key or fail; the result is cleared and freed at teardown. */
static struct objfs_objinfo *must_head(const char *key)
{
	struct objfs_objinfo *oi = keep(calloc(1, sizeof(*oi)));
	struct objfs_err err;

	if (CUR->nois == MAX_OIS)
		FAIL("test bug: more than %d heads kept", MAX_OIS);
	CUR->ois[CUR->nois++] = oi;
	EXPECT_OK(objfs_prov_head(C.p, C.bucket, key, oi, &err), err, "head '%s'", key);
	return oi;
}

static void expect_missing(const char *key, const char *why)
{
	struct objfs_objinfo oi;
	struct objfs_err err;
	int rc;

	memset(&oi, 0, sizeof(oi));
	rc = objfs_prov_head(C.p, C.bucket, key, &oi, &err);
	objfs_objinfo_clear(&oi);
	EXPECT_RC(rc, -ENOENT, err, "head '%s' %s", key, why);
}

/* Checks that oi carries content type ct and exactly the pairs in meta. */
static void expect_meta(const char *key, const struct objfs_objinfo *oi, const char *ct,
			const struct objfs_kv *meta, size_t nmeta)
{
	EXPECT(oi->has_meta, "head '%s': has_meta is 0", key);
	EXPECT(oi->content_type && strcmp(oi->content_type, ct) == 0,
	       "head '%s': content type '%s', expected '%s'", key,
	       oi->content_type ? oi->content_type : "(none)", ct);
	for (size_t i = 0; i < nmeta; i++) {
		const char *v = objfs_objinfo_meta(oi, meta[i].key);
		EXPECT(v && strcmp(v, meta[i].value) == 0,
		       "head '%s': metadata %s = '%s', expected '%s'", key, meta[i].key,
		       v ? v : "(missing)", meta[i].value);
	}
	EXPECT(oi->nmeta == nmeta, "head '%s': %zu metadata pairs, expected %zu (first: %s)",
	       key, oi->nmeta, nmeta, oi->nmeta ? oi->meta[0].key : "-");
}

/* ---- listing helper ------------------------------------------------------ */

struct strv {
	char **v;
	size_t n, cap;
};

static void strv_free(struct strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static int strv_add(struct strv *s, const char *x)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		char **v = realloc(s->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	if (!(s->v[s->n] = strdup(x)))
		return -ENOMEM;
	s->n++;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);   /* byte order */
}

/*
 * Lists every page of (prefix, delim) with max_keys into objs and pfxs and
 * checks the page rules on the way: at most max_keys items a page, keys and
 * common prefixes each in strictly ascending byte order, every item of a page
 * after every item of the page before (no duplicates across pages), keys
 * under prefix, common prefixes ending with the delimiter.  Returns the
 * provider's errno, or -EPROTO with why set for a broken rule.  At most
 * max_pages pages (a token that never ends is -EPROTO).
 */
static int list_all(struct objfs_prov *p, const char *bucket, const char *prefix,
		    const char *delim, unsigned max_keys, size_t max_pages, struct strv *objs,
		    struct strv *pfxs, size_t *npages, char *why, size_t whylen,
		    struct objfs_err *err)
{
	struct objfs_listing l;
	char *token = NULL, *last = NULL;
	unsigned cap = max_keys == 0 || max_keys > OBJFS_LIST_MAX_KEYS ? OBJFS_LIST_MAX_KEYS
								       : max_keys;
	size_t plen = strlen(prefix);
	int rc = 0;

	memset(&l, 0, sizeof(l));
	*npages = 0;
	for (;;) {
		const char *pmin = NULL, *pmax = NULL;

		if (*npages == max_pages) {
			snprintf(why, whylen, "still a next_token after %zu pages", max_pages);
			rc = -EPROTO;
			goto out;
		}
		rc = objfs_prov_list(p, bucket, prefix, delim, token, max_keys, &l, err);
		if (rc < 0)
			goto out;
		(*npages)++;
		if (l.nobjects + l.nprefixes > cap) {
			snprintf(why, whylen, "page %zu has %zu items, max_keys %u", *npages,
				 l.nobjects + l.nprefixes, cap);
			rc = -EPROTO;
			goto out;
		}
		for (size_t i = 0; i < l.nobjects; i++) {
			const char *k = l.objects[i].key;
			if (!k || strncmp(k, prefix, plen) != 0) {
				snprintf(why, whylen, "page %zu: key '%s' not under '%s'", *npages,
					 k ? k : "(null)", prefix);
				rc = -EPROTO;
				goto out;
			}
			if (i && strcmp(l.objects[i - 1].key, k) >= 0) {
				snprintf(why, whylen, "page %zu: key '%s' after '%s' (byte order)",
					 *npages, k, l.objects[i - 1].key);
				rc = -EPROTO;
				goto out;
			}
			if (!pmin || strcmp(k, pmin) < 0)
				pmin = k;
			if (!pmax || strcmp(k, pmax) > 0)
				pmax = k;
			if ((rc = strv_add(objs, k)) < 0)
				goto out;
		}
		for (size_t i = 0; i < l.nprefixes; i++) {
			const char *k = l.prefixes[i];
			size_t kl = k ? strlen(k) : 0, dl = delim ? strlen(delim) : 0;
			if (!k || !delim || strncmp(k, prefix, plen) != 0 || kl < plen + dl ||
			    strcmp(k + kl - dl, delim) != 0) {
				snprintf(why, whylen, "page %zu: common prefix '%s' is not under '%s' "
					 "ending with the delimiter", *npages, k ? k : "(null)", prefix);
				rc = -EPROTO;
				goto out;
			}
			if (i && strcmp(l.prefixes[i - 1], k) >= 0) {
				snprintf(why, whylen, "page %zu: common prefix '%s' after '%s'",
					 *npages, k, l.prefixes[i - 1]);
				rc = -EPROTO;
				goto out;
			}
			if (!pmin || strcmp(k, pmin) < 0)
				pmin = k;
			if (!pmax || strcmp(k, pmax) > 0)
				pmax = k;
			if ((rc = strv_add(pfxs, k)) < 0)
				goto out;
		}
		if (last && pmin && strcmp(pmin, last) <= 0) {
			snprintf(why, whylen, "page %zu starts with '%s', not after the previous "
				 "page's last item '%s' (duplicate or out of order)", *npages, pmin,
				 last);
			rc = -EPROTO;
			goto out;
		}
		if (pmax) {
			free(last);
			if (!(last = strdup(pmax))) {
				rc = -ENOMEM;
				goto out;
			}
		}
		free(token);
		token = NULL;
		if (!l.next_token)
			break;
		token = l.next_token;
		l.next_token = NULL;
		objfs_listing_clear(&l);
	}
out:
	objfs_listing_clear(&l);
	free(token);
	free(last);
	return rc;
}

/* Lists (prefix, delim, max_keys) and checks it yields exactly want_objs and
 * want_pfxs (each sorted here).  Fails the case otherwise; returns the page
 * count. */
static size_t expect_listing(const char *prefix, const char *delim, unsigned max_keys,
			     char **want_objs, size_t nwant_objs, char **want_pfxs,
			     size_t nwant_pfxs, size_t max_pages)
{
	struct strv objs = { 0 }, pfxs = { 0 };
	struct objfs_err err;
	char why[512] = "", msg[700] = "";
	size_t npages = 0;
	int rc;

	if (nwant_objs)
		qsort(want_objs, nwant_objs, sizeof(char *), cmp_str);
	if (nwant_pfxs)
		qsort(want_pfxs, nwant_pfxs, sizeof(char *), cmp_str);
	rc = list_all(C.p, C.bucket, prefix, delim, max_keys, max_pages, &objs, &pfxs, &npages,
		      why, sizeof(why), &err);
	if (rc == -EPROTO)
		snprintf(msg, sizeof(msg), "list '%s' delimiter %s max_keys %u: %s", prefix,
			 delim ? delim : "none", max_keys, why);
	else if (rc < 0)
		snprintf(msg, sizeof(msg), "list '%s' delimiter %s max_keys %u: got %s (err: %s)",
			 prefix, delim ? delim : "none", max_keys, errname(rc), err.msg);
	for (size_t i = 0; !msg[0] && i < nwant_objs && i < objs.n; i++)
		if (strcmp(objs.v[i], want_objs[i]))
			snprintf(msg, sizeof(msg), "list '%s' delimiter %s max_keys %u: key #%zu is "
				 "'%s', expected '%s' (gap, duplicate or order)", prefix,
				 delim ? delim : "none", max_keys, i, objs.v[i], want_objs[i]);
	if (!msg[0] && objs.n != nwant_objs)
		snprintf(msg, sizeof(msg), "list '%s' delimiter %s max_keys %u: %zu keys, expected "
			 "%zu (first extra/missing: '%s')", prefix, delim ? delim : "none",
			 max_keys, objs.n, nwant_objs,
			 objs.n > nwant_objs ? objs.v[nwant_objs] : want_objs[objs.n]);
	for (size_t i = 0; !msg[0] && i < nwant_pfxs && i < pfxs.n; i++)
		if (strcmp(pfxs.v[i], want_pfxs[i]))
			snprintf(msg, sizeof(msg), "list '%s' delimiter %s: common prefix #%zu is "
				 "'%s', expected '%s'", prefix, delim ? delim : "none", i,
				 pfxs.v[i], want_pfxs[i]);
	if (!msg[0] && pfxs.n != nwant_pfxs)
		snprintf(msg, sizeof(msg), "list '%s' delimiter %s: %zu common prefixes, expected "
			 "%zu", prefix, delim ? delim : "none", pfxs.n, nwant_pfxs);
	strv_free(&objs);
	strv_free(&pfxs);
	if (msg[0])
		FAIL("%s", msg);
	return npages;
}

/* ---- setup and teardown of one case -------------------------------------- */

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int case_setup(void **state)
{
	CUR = *state;
	CUR->t0 = mono_now();
	CUR->status = ST_RUNNING;
	CUR->msg[0] = CUR->note[0] = '\0';
	CUR->nscratch = CUR->nuploads = CUR->nois = 0;
	if (!C.p) {
		/* an earlier case closed the instance and could not reopen it */
		CUR->status = ST_FAILED;
		snprintf(CUR->msg, sizeof(CUR->msg), "no provider instance (reopen failed earlier)");
		return -1;
	}
	snprintf(CUR->pfx, sizeof(CUR->pfx), "%s%s/", C.run_prefix, CUR->name);
	return 0;
}

/* Deletes every key under the case's prefix (bounded), aborts its uploads. */
static int case_teardown(void **state)
{
	struct case_state *cs = *state;
	struct objfs_listing l;
	struct objfs_err err;
	int results[OBJFS_LIST_MAX_KEYS];

	cs->secs = mono_now() - cs->t0;
	const char *keys[OBJFS_LIST_MAX_KEYS];

	for (size_t i = 0; i < cs->nuploads; i++) {
		if (cs->uploads[i].id && C.p)
			objfs_prov_mpu_abort(C.p, C.bucket, cs->uploads[i].key, cs->uploads[i].id,
					     &err);
		free(cs->uploads[i].key);
		free(cs->uploads[i].id);
	}
	cs->nuploads = 0;
	memset(&l, 0, sizeof(l));
	/* deleting while listing: restart from the first page each time, since
	 * the deleted keys are gone; bounded by CLEANUP_PAGES */
	for (int page = 0; C.p && page < CLEANUP_PAGES; page++) {
		int rc = objfs_prov_list(C.p, C.bucket, cs->pfx, NULL, NULL, 0, &l, &err);
		size_t n = l.nobjects < OBJFS_LIST_MAX_KEYS ? l.nobjects : OBJFS_LIST_MAX_KEYS;
		if (rc < 0 || n == 0)
			break;
		for (size_t i = 0; i < n; i++)
			keys[i] = l.objects[i].key;
		rc = objfs_prov_del_batch(C.p, C.bucket, keys, n, results, &err);
		for (size_t i = 0; i < n; i++)
			if (rc < 0 || results[i] < 0)
				objfs_prov_del(C.p, C.bucket, keys[i], &err);
		objfs_listing_clear(&l);
	}
	objfs_listing_clear(&l);
	for (size_t i = 0; i < cs->nois; i++)
		objfs_objinfo_clear(cs->ois[i]);       /* the structs are scratch */
	cs->nois = 0;
	for (size_t i = 0; i < cs->nscratch; i++)
		free(cs->scratch[i]);
	free(cs->scratch);
	cs->scratch = NULL;
	cs->nscratch = cs->capscratch = 0;
	if (cs->status == ST_RUNNING) {
		/* a cmocka assertion (not ours) ended it, or it never called case_pass */
		cs->status = ST_FAILED;
		if (!cs->msg[0])
			snprintf(cs->msg, sizeof(cs->msg), "failed (see the cmocka output above)");
	}
	CUR = NULL;
	return 0;
}

static void case_pass(void)
{
	CUR->status = ST_PASSED;
}

/* ---- case: keys ---------------------------------------------------------- */

/*
 * Keys with '/', spaces, '+', '%', unicode, "dir/" markers (zero bytes, ending
 * in '/'), and keys that are also prefixes of others: put/head/get/list/
 * delete round trip exactly.
 */
static void keys_roundtrip(int with_listing)
{
	static const char *const rel[] = {
		"a", "a/b", "a/b/c", "dir/", "dir/sub/", "dir/file", "with space",
		"sp ace/in dir/x y", "plus+sign", "a+b=c", "pct%20literal", "100%",
		"%2F", "caf\xc3\xa9", "\xe6\x97\xa5\xe6\x9c\xac/\xe8\xaa\x9e.txt",
		"tilde~dot.", "UPPER", "semi;colon,comma", "quote'paren(1)",
	};
	const size_t n = sizeof(rel) / sizeof(rel[0]);
	char **keys = xmalloc(n * sizeof(char *));
	char (*etags)[OBJFS_ETAG_MAX] = xmalloc(n * OBJFS_ETAG_MAX);
	struct objfs_putopts text = { .content_type = "text/plain" };
	struct objfs_err err;

	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(rel[i]);
		int marker = rel[i][len - 1] == '/';
		keys[i] = K(rel[i]);
		/* content is the key itself (markers are empty): a mixed-up key shows */
		must_put(keys[i], keys[i], marker ? 0 : strlen(keys[i]), i % 2 ? &text : NULL,
			 etags[i]);
	}
	for (size_t i = 0; i < n; i++) {
		struct objfs_objinfo *oi;
		int marker = rel[i][strlen(rel[i]) - 1] == '/';
		const char *ct = i % 2 ? "text/plain" : "application/octet-stream";
		uint64_t sz;

		oi = must_head(keys[i]);
		sz = oi->size;
		if (!oi->key || strcmp(oi->key, keys[i]) || strcmp(oi->etag, etags[i]) ||
		    !oi->content_type || strcmp(oi->content_type, ct)) {
			char msg[600];
			snprintf(msg, sizeof(msg), "head '%s': key '%s', etag '%s' (put said '%s'), "
				 "content type '%s' (expected '%s')", keys[i], oi->key ? oi->key : "(null)",
				 oi->etag, etags[i], oi->content_type ? oi->content_type : "(null)", ct);
				FAIL("%s", msg);
		}
		EXPECT(sz == (marker ? 0 : strlen(keys[i])), "head '%s': size %llu", keys[i],
		       (unsigned long long)sz);
		must_read_equal(keys[i], (const unsigned char *)keys[i],
				marker ? 0 : strlen(keys[i]));
	}
	if (with_listing) {
		char **want = xmalloc(n * sizeof(char *));
		memcpy(want, keys, n * sizeof(char *));
		expect_listing(CUR->pfx, NULL, 0, want, n, NULL, 0, 4);
		/* one page per key: the tokens must carry every kind of key */
		memcpy(want, keys, n * sizeof(char *));
		expect_listing(CUR->pfx, NULL, 1, want, n, NULL, 0, n + 2);
	}
	for (size_t i = 0; i < n; i++) {
		EXPECT_OK(objfs_prov_del(C.p, C.bucket, keys[i], &err), err, "delete '%s'", keys[i]);
		expect_missing(keys[i], "after delete");
		/* deleting "a" must not take "a/b" with it, nor the reverse */
		for (size_t j = i + 1; j < n && j < i + 3; j++)
			(void)must_head(keys[j]);
	}
	if (with_listing)
		expect_listing(CUR->pfx, NULL, 0, NULL, 0, NULL, 0, 4);
	case_pass();
}

static void case_keys(void **state)
{
	(void)state;
	keys_roundtrip(0);
}

/* The same keys listed: exact, in byte order, one page each too. */
static void case_keys_list(void **state)
{
	(void)state;
	keys_roundtrip(1);
}

/* ---- case: delimiter roll-up --------------------------------------------- */

static void case_list_delimiter(void **state)
{
	static const char *const rel[] = {
		"d1", "d1/x", "d1/y/z", "d2/z", "d2-not/q", "f1", "f2", "m/", "m/n",
		"\xc3\xa9t\xc3\xa9/k", "Z",
	};
	/* with delimiter "/": keys and common prefixes directly under the prefix */
	static const char *const top_objs[] = { "d1", "f1", "f2", "Z" };
	static const char *const top_pfxs[] = { "d1/", "d2/", "d2-not/", "m/", "\xc3\xa9t\xc3\xa9/" };
	const size_t n = sizeof(rel) / sizeof(rel[0]);
	const size_t no = sizeof(top_objs) / sizeof(top_objs[0]);
	const size_t np = sizeof(top_pfxs) / sizeof(top_pfxs[0]);
	char **wo = xmalloc((n + 1) * sizeof(char *)), **wp = xmalloc((n + 1) * sizeof(char *));
	unsigned mk[] = { 0, 2, 1 };

	(void)state;
	for (size_t i = 0; i < n; i++)
		must_put(K(rel[i]), rel[i], strlen(rel[i]), NULL, NULL);
	for (size_t m = 0; m < sizeof(mk) / sizeof(mk[0]); m++) {
		/* common prefixes count toward max_keys: pages of 1 and 2 mix both */
		for (size_t i = 0; i < no; i++)
			wo[i] = K(top_objs[i]);
		for (size_t i = 0; i < np; i++)
			wp[i] = K(top_pfxs[i]);
		expect_listing(CUR->pfx, "/", mk[m], wo, no, wp, np, no + np + 2);
	}
	/* one level down: "d1/" holds the key "d1/x" and the prefix "d1/y/" */
	wo[0] = K("d1/x");
	wp[0] = K("d1/y/");
	expect_listing(K("d1/"), "/", 0, wo, 1, wp, 1, 3);
	/* a marker is a key of its own directory: "m/" lists "m/" and "m/n" */
	wo[0] = K("m/");
	wo[1] = K("m/n");
	expect_listing(K("m/"), "/", 0, wo, 2, NULL, 0, 3);
	/* a prefix that is not a whole segment: "d" rolls d1/, d2/, d2-not/ */
	wo[0] = K("d1");
	wp[0] = K("d1/");
	wp[1] = K("d2/");
	wp[2] = K("d2-not/");
	expect_listing(K("d"), "/", 0, wo, 1, wp, 3, 3);
	/* no delimiter: every key */
	for (size_t i = 0; i < n; i++)
		wo[i] = K(rel[i]);
	expect_listing(CUR->pfx, NULL, 3, wo, n, NULL, 0, n);
	/* a prefix nothing starts with */
	expect_listing(K("nothing-here/"), "/", 0, NULL, 0, NULL, 0, 2);
	case_pass();
}

/* ---- case: 2,500 keys, pagination ----------------------------------------- */

struct many_job {
	char **keys;
	size_t from, to;
	int rc;
	char key[OBJFS_KEY_MAX + 1];
	struct objfs_err err;
};

static void *many_put(void *arg)
{
	struct many_job *j = arg;

	for (size_t i = j->from; i < j->to && j->rc == 0; i++) {
		j->rc = put_buf(C.p, j->keys[i], j->keys[i], strlen(j->keys[i]) % 7, NULL, NULL,
				&j->err);
		if (j->rc)
			snprintf(j->key, sizeof(j->key), "%s", j->keys[i]);
	}
	return NULL;
}

static void case_list_pagination(void **state)
{
	char **keys = xmalloc(MANY_KEYS * sizeof(char *)), **want;
	struct many_job jobs[MANY_THREADS];
	pthread_t th[MANY_THREADS];
	size_t started = 0, pages1000, pages7, pagesdelim;
	struct timespec t0, t1;

	(void)state;
	/* names in a scrambled order, some with unicode, spaces, '+' and a
	 * deeper level, so byte order is not insertion order */
	for (size_t i = 0; i < MANY_KEYS; i++) {
		unsigned v = (unsigned)((i * 7919u) % MANY_KEYS);
		keys[i] = xasprintf("%sn%04u%s%s%s", CUR->pfx, v, v % 10 == 0 ? "\xc3\xa9" : "",
				    v % 13 == 0 ? "/sub" : "", v % 17 == 0 ? " +sp" : "");
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	memset(jobs, 0, sizeof(jobs));
	for (size_t t = 0; t < MANY_THREADS; t++) {
		jobs[t].keys = keys;
		jobs[t].from = t * MANY_KEYS / MANY_THREADS;
		jobs[t].to = (t + 1) * MANY_KEYS / MANY_THREADS;
		if (pthread_create(&th[t], NULL, many_put, &jobs[t]) != 0)
			break;
		started++;
	}
	for (size_t t = 0; t < started; t++)
		pthread_join(th[t], NULL);
	EXPECT(started == MANY_THREADS, "could not start %d threads", MANY_THREADS);
	for (size_t t = 0; t < MANY_THREADS; t++)
		EXPECT_OK(jobs[t].rc, jobs[t].err, "put '%s' (one of %d keys, %d threads)",
			  jobs[t].key, MANY_KEYS, MANY_THREADS);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	case_note("%d puts in %.1f s", MANY_KEYS,
		  (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);

	want = xmalloc(MANY_KEYS * sizeof(char *));
	memcpy(want, keys, MANY_KEYS * sizeof(char *));
	pages1000 = expect_listing(CUR->pfx, NULL, 1000, want, MANY_KEYS, NULL, 0, 20);
	memcpy(want, keys, MANY_KEYS * sizeof(char *));
	pages7 = expect_listing(CUR->pfx, NULL, 7, want, MANY_KEYS, NULL, 0,
				2 * (MANY_KEYS / 7) + 20);
	/* max_keys 0 is the default page (1000), with a delimiter the "/sub"
	 * keys roll up into one common prefix each */
	{
		size_t no = 0, np = 0;
		char **wp = xmalloc(MANY_KEYS * sizeof(char *));
		for (size_t i = 0; i < MANY_KEYS; i++) {
			const char *slash = strchr(keys[i] + strlen(CUR->pfx), '/');
			if (slash)
				wp[np++] = xasprintf("%.*s", (int)(slash + 1 - keys[i]), keys[i]);
			else
				want[no++] = keys[i];
		}
		pagesdelim = expect_listing(CUR->pfx, "/", 0, want, no, wp, np, 20);
	}
	case_note("pages: %zu at max_keys 1000, %zu at 7, %zu with delimiter", pages1000,
		  pages7, pagesdelim);
	case_pass();
}

/* ---- case: ranged reads ---------------------------------------------------- */

static void case_ranged_reads(void **state)
{
	const size_t size = 1000;
	unsigned char *data = xmalloc(size), *buf = xmalloc(size + 64);
	char *key = K("ranged.bin"), *empty = K("empty");
	struct objfs_err err;
	uint64_t got;
	struct { uint64_t off, len, want; const char *what; } rows[] = {
		{ 0, 10, 10, "the first 10 bytes" },
		{ 0, size, size, "the whole object" },
		{ 0, 1 << 20, size, "more than the object from 0" },
		{ size - 1, 1, 1, "the last byte" },
		{ size - 1, 100, 1, "from the last byte across the end" },
		{ 990, 100, 10, "across the end (short read)" },
		{ 500, 1, 1, "one byte in the middle" },
		{ size, 10, 0, "at off == size (0 bytes, per the interface)" },
		{ size + 500, 10, 0, "past the end (0 bytes)" },
	};

	(void)state;
	fill(data, size, 7);
	must_put(key, data, size, NULL, NULL);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		uint64_t len = rows[i].len > size + 64 ? size + 64 : rows[i].len;
		got = 12345;
		/* len beyond buf only for the "more than the object" row, which the
		 * provider must still cut at the end: give it a buffer that fits */
		if (rows[i].len > size + 64) {
			unsigned char *big = xmalloc(rows[i].len);
			EXPECT_OK(objfs_prov_get(C.p, C.bucket, key, rows[i].off, rows[i].len, NULL,
						 big, &got, &err), err, "get %s", rows[i].what);
			memcpy(buf, big, got < size ? got : size);
		} else {
			EXPECT_OK(objfs_prov_get(C.p, C.bucket, key, rows[i].off, len, NULL, buf,
						 &got, &err), err, "get %s (off %llu len %llu)",
				  rows[i].what, (unsigned long long)rows[i].off,
				  (unsigned long long)len);
		}
		EXPECT(got == rows[i].want, "get %s (off %llu len %llu): %llu bytes, expected %llu",
		       rows[i].what, (unsigned long long)rows[i].off,
		       (unsigned long long)rows[i].len, (unsigned long long)got,
		       (unsigned long long)rows[i].want);
		EXPECT(got == 0 || memcmp(buf, data + rows[i].off, got) == 0,
		       "get %s: wrong bytes", rows[i].what);
	}
	/* a 0-length object */
	must_put(empty, "", 0, NULL, NULL);
	{
		struct objfs_objinfo *oi;
		uint64_t sz;
		oi = must_head(empty);
		sz = oi->size;
		EXPECT(sz == 0, "head of a 0-byte object: size %llu", (unsigned long long)sz);
	}
	got = 12345;
	EXPECT_OK(objfs_prov_get(C.p, C.bucket, empty, 0, 10, NULL, buf, &got, &err), err,
		  "get of a 0-byte object at 0");
	EXPECT(got == 0, "get of a 0-byte object: %llu bytes", (unsigned long long)got);
	got = 12345;
	EXPECT_OK(objfs_prov_get(C.p, C.bucket, empty, 5, 10, NULL, buf, &got, &err), err,
		  "get of a 0-byte object at 5");
	EXPECT(got == 0, "get of a 0-byte object at 5: %llu bytes", (unsigned long long)got);
	case_pass();
}

/* ---- case: conditional writes ---------------------------------------------- */

/* if_match / if_none_match on put. */
static void case_conditional_put(void **state)
{
	char *key = K("cond"), *fresh = K("fresh");
	char e1[OBJFS_ETAG_MAX], e2[OBJFS_ETAG_MAX], e3[OBJFS_ETAG_MAX] = "";
	struct objfs_putopts o = { 0 };
	struct objfs_err err;

	(void)state;
	must_put(key, "version-1", 9, NULL, e1);
	o.if_match = e1;
	must_put(key, "version-2", 9, &o, e2);
	EXPECT(strcmp(e1, e2) != 0, "put with if_match: the ETag did not change ('%s')", e2);
	/* e1 is stale now */
	EXPECT_RC(put_buf(C.p, key, "version-3", 9, &o, e3, &err), -ESTALE, err,
		  "put with a stale if_match");
	must_read_equal(key, (const unsigned char *)"version-2", 9);
	memset(&o, 0, sizeof(o));
	o.if_none_match = 1;
	EXPECT_RC(put_buf(C.p, key, "version-4", 9, &o, e3, &err), -EEXIST, err,
		  "put with if_none_match onto an existing key");
	must_read_equal(key, (const unsigned char *)"version-2", 9);
	must_put(fresh, "new", 3, &o, NULL);      /* if_none_match on a missing key */
	memset(&o, 0, sizeof(o));
	o.if_match = e1;
	EXPECT_RC(put_buf(C.p, K("missing"), "x", 1, &o, e3, &err), -ESTALE, err,
		  "put with if_match onto a missing key");
	expect_missing(K("missing"), "after a refused conditional put");
	case_pass();
}

/* if_match on reads and on a copy's source. */
static void case_conditional_read(void **state)
{
	char *key = K("cond"), *dst = K("copy-dst");
	char e1[OBJFS_ETAG_MAX], e2[OBJFS_ETAG_MAX], e3[OBJFS_ETAG_MAX] = "";
	struct objfs_putopts o = { 0 };
	struct objfs_err err;
	unsigned char buf[16];
	uint64_t got;

	(void)state;
	must_put(key, "version-1", 9, NULL, e1);
	must_put(key, "version-2", 9, NULL, e2);
	EXPECT(strcmp(e1, e2) != 0, "a second put kept the ETag '%s'", e2);
	EXPECT_RC(objfs_prov_get(C.p, C.bucket, key, 0, sizeof(buf), e1, buf, &got, &err),
		  -ESTALE, err, "get with a stale if_match");
	EXPECT_OK(objfs_prov_get(C.p, C.bucket, key, 0, sizeof(buf), e2, buf, &got, &err), err,
		  "get with the current if_match");
	EXPECT(got == 9 && memcmp(buf, "version-2", 9) == 0, "get with if_match: wrong content");

	o.if_match = e1;
	EXPECT_RC(objfs_prov_copy(C.p, C.bucket, key, dst, &o, e3, &err), -ESTALE, err,
		  "copy with a stale source if_match");
	expect_missing(dst, "after a refused conditional copy");
	o.if_match = e2;
	EXPECT_OK(objfs_prov_copy(C.p, C.bucket, key, dst, &o, e3, &err), err,
		  "copy with the current source if_match");
	must_read_equal(dst, (const unsigned char *)"version-2", 9);
	case_pass();
}

/* ---- case: copy with metadata ---------------------------------------------- */

static void case_copy(void **state)
{
	static const struct objfs_kv meta[] = {
		{ (char *)"mode", (char *)"33188" }, { (char *)"uid", (char *)"1000" },
		{ (char *)"gid", (char *)"100" }, { (char *)"contract_note", (char *)"hello world" },
	};
	static const struct objfs_kv meta2[] = { { (char *)"mode", (char *)"33261" } };
	static const struct objfs_kv meta3[] = {
		{ (char *)"mode", (char *)"33152" }, { (char *)"mtime", (char *)"1700000000.5" },
	};
	const size_t size = 70000;
	unsigned char *data = xmalloc(size);
	char *src = K("src"), *d1 = K("dst/kept"), *d2 = K("dst/replaced");
	char e0[OBJFS_ETAG_MAX], e1[OBJFS_ETAG_MAX] = "", e2[OBJFS_ETAG_MAX] = "";
	struct objfs_putopts o = { .content_type = "text/x-contract", .meta = meta, .nmeta = 4 };
	struct objfs_objinfo *oi;
	struct objfs_err err;
	int rc;

	(void)state;
	fill(data, size, 11);
	must_put(src, data, size, &o, e0);
	oi = must_head(src);
	expect_meta(src, oi, "text/x-contract", meta, 4);

	/* opts NULL: content type and metadata come along */
	EXPECT_OK(objfs_prov_copy(C.p, C.bucket, src, d1, NULL, e1, &err), err,
		  "copy with opts NULL");
	EXPECT(e1[0], "copy: no ETag returned");
	oi = must_head(d1);
	expect_meta(d1, oi, "text/x-contract", meta, 4);
	EXPECT(strcmp(oi->etag, e1) == 0, "head after copy: ETag '%s', copy said '%s'", oi->etag, e1);
	must_read_equal(d1, data, size);

	/* opts: replaced */
	memset(&o, 0, sizeof(o));
	o.content_type = "application/x-other";
	o.meta = meta2;
	o.nmeta = 1;
	EXPECT_OK(objfs_prov_copy(C.p, C.bucket, src, d2, &o, e1, &err), err,
		  "copy with new metadata");
	oi = must_head(d2);
	expect_meta(d2, oi, "application/x-other", meta2, 1);
	must_read_equal(d2, data, size);

	/* src == dst: a metadata replace, same bytes; the ETag head shows is the one copy said */
	o.content_type = NULL;           /* NULL: application/octet-stream */
	o.meta = meta3;
	o.nmeta = 2;
	EXPECT_OK(objfs_prov_copy(C.p, C.bucket, src, src, &o, e2, &err), err,
		  "copy onto itself with new metadata");
	oi = must_head(src);
	expect_meta(src, oi, "application/octet-stream", meta3, 2);
	EXPECT(strcmp(oi->etag, e2) == 0, "head after metadata replace: ETag '%s', copy said '%s'",
	       oi->etag, e2);
	must_read_equal(src, data, size);

	/* onto itself without new metadata: -EINVAL (as S3) */
	rc = objfs_prov_copy(C.p, C.bucket, src, src, NULL, e1, &err);
	EXPECT_RC(rc, -EINVAL, err, "copy onto itself with opts NULL");

	/* a missing source */
	EXPECT_RC(objfs_prov_copy(C.p, C.bucket, K("no-such-key"), K("dst/none"), NULL, e1, &err),
		  -ENOENT, err, "copy of a missing key");
	expect_missing(K("dst/none"), "after a copy of a missing key");
	/* a metadata-only copy onto the same key may keep the ETag (S3's is the
	 * content's MD5, GCS's generation stays): docs/providers.md.  A content
	 * change must make a new one, which put's cases check. */
	case_pass();
}

/* ---- multipart ------------------------------------------------------------- */

struct part_job {
	struct objfs_prov *p;
	const char *key, *id;
	int number;
	uint64_t off, len;
	const unsigned char *data;
	int rc;
	char etag[OBJFS_ETAG_MAX];
	struct objfs_err err;
};

static void *part_thread(void *arg)
{
	struct part_job *j = arg;
	struct objfs_seg seg = { .fd = -1, .buf = j->data + j->off, .off = 0, .len = j->len };
	struct objfs_source src = { .segs = &seg, .nsegs = 1, .size = j->len };

	j->rc = objfs_prov_mpu_upload_part(j->p, C.bucket, j->key, j->id, j->number, j->off,
					   &src, j->etag, &j->err);
	return NULL;
}

struct mpu_plan {
	uint64_t size;
	uint64_t part;                   /* size of every part but the last */
	int nparts;
	unsigned char *data;
	struct objfs_part parts[MPU_NPARTS];   /* the "journal": number, size, etag */
};

/* Part size: ops->mpu_min_part, at least 5 MiB, a multiple of 256 KiB. */
static void mpu_plan(struct mpu_plan *m, uint64_t seed)
{
	const uint64_t q = 256 * 1024;
	uint64_t ps = C.p->ops->mpu_min_part > 5 * MIB ? C.p->ops->mpu_min_part : 5 * MIB;

	ps = (ps + q - 1) / q * q;
	memset(m, 0, sizeof(*m));
	m->part = ps;
	m->nparts = MPU_NPARTS;
	m->size = ps * (MPU_NPARTS - 1) + MIB + 4097;   /* an odd-sized last part */
	m->data = xmalloc(m->size);
	fill(m->data, m->size, seed);
	for (int i = 0; i < MPU_NPARTS; i++) {
		m->parts[i].number = i + 1;
		m->parts[i].size = i < MPU_NPARTS - 1 ? ps : m->size - ps * (MPU_NPARTS - 1);
	}
}

static int seq_parts(void)
{
	return (objfs_prov_caps(C.p) & OBJFS_CAP_SEQUENTIAL_PARTS) != 0;
}

/*
 * Uploads the parts whose indexes are listed (want[i] != 0): with
 * OBJFS_CAP_SEQUENTIAL_PARTS one at a time in ascending order; otherwise all
 * at once in threads started from the highest number down.  Fails the case
 * on any error; records each ETag in m->parts.
 */
static void mpu_send(struct mpu_plan *m, const char *key, const char *id, const int *want)
{
	struct part_job jobs[MPU_NPARTS];
	pthread_t th[MPU_NPARTS];
	int started[MPU_NPARTS] = { 0 };
	uint64_t off[MPU_NPARTS];

	memset(jobs, 0, sizeof(jobs));
	for (int i = 0; i < m->nparts; i++)
		off[i] = (uint64_t)i * m->part;
	for (int k = 0; k < m->nparts; k++) {
		int i = seq_parts() ? k : m->nparts - 1 - k;
		if (!want[i])
			continue;
		jobs[i] = (struct part_job){ .p = C.p, .key = key, .id = id, .number = i + 1,
					     .off = off[i], .len = m->parts[i].size, .data = m->data };
		if (seq_parts()) {
			part_thread(&jobs[i]);
			EXPECT_OK(jobs[i].rc, jobs[i].err, "upload part %d (in order)", i + 1);
		} else if (pthread_create(&th[i], NULL, part_thread, &jobs[i]) == 0) {
			started[i] = 1;
		} else {
			part_thread(&jobs[i]);
		}
	}
	for (int i = 0; i < m->nparts; i++)
		if (started[i])
			pthread_join(th[i], NULL);
	for (int i = 0; i < m->nparts; i++) {
		if (!want[i])
			continue;
		EXPECT_OK(jobs[i].rc, jobs[i].err, "upload part %d (%s)", i + 1,
			  seq_parts() ? "in order" : "out of order, in parallel");
		EXPECT(jobs[i].etag[0], "upload part %d: no ETag returned", i + 1);
		memcpy(m->parts[i].etag, jobs[i].etag, OBJFS_ETAG_MAX);
	}
}

static const struct objfs_kv mpu_meta[] = {
	{ (char *)"mode", (char *)"33188" }, { (char *)"mtime", (char *)"1700000000" },
	{ (char *)"contract_note", (char *)"multipart" },
};

/* Completes, then checks ETag, content type, metadata and every byte. */
static void mpu_finish(struct mpu_plan *m, const char *key, const char *id)
{
	char etag[OBJFS_ETAG_MAX] = "";
	struct objfs_objinfo *oi;
	struct objfs_err err;

	EXPECT_OK(objfs_prov_mpu_complete(C.p, C.bucket, key, id, m->parts, (size_t)m->nparts,
					  etag, &err), err, "complete (%d parts of %llu bytes)",
		  m->nparts, (unsigned long long)m->part);
	untrack_upload(id);
	EXPECT(etag[0], "complete: no ETag returned");
	oi = must_head(key);
	EXPECT(strcmp(oi->etag, etag) == 0, "head after complete: ETag '%s', complete said '%s'",
	       oi->etag, etag);
	expect_meta(key, oi, "application/x-contract", mpu_meta, 3);
	must_read_equal(key, m->data, m->size);
}

static char *mpu_start(const char *key)
{
	struct objfs_putopts o = { .content_type = "application/x-contract", .meta = mpu_meta,
				   .nmeta = 3 };
	struct objfs_err err;
	char *id = NULL;
	int rc;

	rc = objfs_prov_mpu_create(C.p, C.bucket, key, &o, &id, &err);
	OPTIONAL(rc, err, "mpu_create");
	EXPECT_OK(rc, err, "mpu_create '%s'", key);
	EXPECT(id && id[0], "mpu_create: no upload id");
	keep(id);
	track_upload(key, id);
	return id;
}

static void case_multipart(void **state)
{
	struct mpu_plan m;
	char *key = K("big/multi part \xc3\xa9.bin");
	int all[MPU_NPARTS];
	char *id;

	(void)state;
	for (int i = 0; i < MPU_NPARTS; i++)
		all[i] = 1;
	mpu_plan(&m, 21);
	id = mpu_start(key);
	mpu_send(&m, key, id, all);
	mpu_finish(&m, key, id);
	case_note("%d parts of %llu bytes, %s", MPU_NPARTS, (unsigned long long)m.part,
		  seq_parts() ? "in order (OBJFS_CAP_SEQUENTIAL_PARTS)" : "out of order, in parallel");
	case_pass();
}

/*
 * A crash mid-upload: some parts sent, only (upload_id, number, size, etag)
 * kept -- what the write-back journal keeps -- then the provider instance is
 * closed and a new one opened from the same configuration, and only the
 * missing parts are sent.
 */
static void case_multipart_resume(void **state)
{
	struct mpu_plan m;
	char *key = K("big/resumed.bin");
	int before[MPU_NPARTS] = { 0 }, after[MPU_NPARTS] = { 0 };
	struct objfs_prov *q = NULL;
	struct objfs_err err;
	char *id;
	int rc;

	(void)state;
	mpu_plan(&m, 33);
	id = mpu_start(key);
	/* before the crash: part 1 (and, when order is free, the last part) */
	before[0] = 1;
	if (!seq_parts())
		before[MPU_NPARTS - 1] = 1;
	for (int i = 0; i < MPU_NPARTS; i++)
		after[i] = !before[i];
	mpu_send(&m, key, id, before);

	/* does a second instance see this one's store at all? */
	rc = objfs_prov_open(C.conf, &q, &err);
	EXPECT_OK(rc, err, "open a second instance of the provider");
	rc = objfs_prov_bucket_exists(q, C.bucket, &err);
	objfs_prov_free(q);
	q = NULL;
	if (rc == -ENOENT)
		case_na("a new instance does not see the bucket: the store lives and dies with "
			"its instance (%s), so nothing survives a crash to resume", C.p->ops->type);
	EXPECT_OK(rc, err, "bucket_exists from a second instance");

	/* the crash: the instance goes, a new one comes */
	objfs_prov_free(C.p);
	C.p = NULL;
	rc = objfs_prov_open(C.conf, &C.p, &err);
	EXPECT_OK(rc, err, "reopen the provider after the simulated crash");
	mpu_send(&m, key, id, after);
	mpu_finish(&m, key, id);
	case_note("resumed with %d of %d parts sent before the crash", MPU_NPARTS - 1 -
		  (seq_parts() ? 1 : 0), MPU_NPARTS);
	case_pass();
}

static void case_multipart_abort(void **state)
{
	struct mpu_plan m;
	char *key = K("big/aborted.bin");
	int first[MPU_NPARTS] = { 1 };
	char etag[OBJFS_ETAG_MAX];
	struct objfs_err err;
	char *id;

	(void)state;
	mpu_plan(&m, 45);
	id = mpu_start(key);
	mpu_send(&m, key, id, first);
	{
		int rc = objfs_prov_mpu_abort(C.p, C.bucket, key, id, &err);
		OPTIONAL(rc, err, "mpu_abort");
		EXPECT_OK(rc, err, "abort");
	}
	untrack_upload(id);
	expect_missing(key, "after abort");
	/* nothing left behind under the prefix either (temporary objects) */
	expect_listing(CUR->pfx, NULL, 0, NULL, 0, NULL, 0, 3);
	/* the upload is gone */
	EXPECT_RC(objfs_prov_mpu_complete(C.p, C.bucket, key, id, m.parts, 1, etag, &err),
		  -ENOENT, err, "complete after abort");
	expect_missing(key, "after a complete of an aborted upload");
	case_pass();
}

/* ---- presign ----------------------------------------------------------------- */

struct body {
	unsigned char *buf;
	size_t len, cap;
	const unsigned char *up;
	size_t uplen, upat;
};

static size_t body_write(char *ptr, size_t sz, size_t nm, void *ud)
{
	struct body *b = ud;
	size_t n = sz * nm;

	if (b->len + n > 64 * MIB)
		return 0;                    /* bounded */
	if (b->len + n > b->cap) {
		size_t cap = (b->len + n) * 2;
		unsigned char *v = realloc(b->buf, cap);
		if (!v)
			return 0;
		b->buf = v;
		b->cap = cap;
	}
	memcpy(b->buf + b->len, ptr, n);
	b->len += n;
	return n;
}

static size_t body_read(char *ptr, size_t sz, size_t nm, void *ud)
{
	struct body *b = ud;
	size_t n = sz * nm;

	if (n > b->uplen - b->upat)
		n = b->uplen - b->upat;
	memcpy(ptr, b->up + b->upat, n);
	b->upat += n;
	return n;
}

/*
 * Performs method on url with libcurl (PUT sends up/uplen); returns the HTTP
 * status (0 when there was no answer) and the body in *out (kept).  A PUT
 * carries "x-ms-blob-type: BlockBlob", which an Azure SAS upload (Put Blob)
 * requires from every client and which S3 and GCS ignore (it is not one of
 * their signed header families).
 */
static long http_do(const char *method, const char *url, const void *up, size_t uplen,
		    struct body *out, char *cerr)
{
	CURL *h = curl_easy_init();
	struct curl_slist *hdrs = NULL;
	long status = 0;
	CURLcode cc;

	memset(out, 0, sizeof(*out));
	cerr[0] = '\0';
	if (!h)
		return 0;
	out->up = up;
	out->uplen = uplen;
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, body_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, HTTP_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
	hdrs = curl_slist_append(hdrs, "Expect:");
	if (strcmp(method, "PUT") == 0) {
		hdrs = curl_slist_append(hdrs, "x-ms-blob-type: BlockBlob");
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, body_read);
		curl_easy_setopt(h, CURLOPT_READDATA, out);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)uplen);
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	cc = curl_easy_perform(h);
	if (cc == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	else if (!cerr[0])
		snprintf(cerr, CURL_ERROR_SIZE, "%s", curl_easy_strerror(cc));
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	if (out->buf)
		keep(out->buf);
	return status;
}

/* The signature parameters of the stores' presigned URLs. */
static const char *const sig_params[] = {
	"X-Amz-Signature=", "X-Goog-Signature=", "sig=", "X-Objfs-Signature=",
};

/* Value of query parameter name= ("name=" included) in url, or NULL. */
static const char *query_param(const char *url, const char *name)
{
	const char *q = strchr(url, '?');

	while (q) {
		q++;
		if (strncmp(q, name, strlen(name)) == 0)
			return q + strlen(name);
		q = strchr(q, '&');
	}
	return NULL;
}

/* A copy of url with one character of its signature changed (kept). */
static char *tamper(const char *url)
{
	char *t = xasprintf("%s", url);

	for (size_t i = 0; i < sizeof(sig_params) / sizeof(sig_params[0]); i++) {
		char *v = (char *)query_param(t, sig_params[i]);
		for (; v && *v && *v != '&'; v++) {
			if (*v >= '0' && *v <= '9') {
				*v = *v == '0' ? '1' : '0';
				return t;
			}
			if ((*v >= 'a' && *v <= 'z') || (*v >= 'A' && *v <= 'Z')) {
				*v = *v == 'a' ? 'b' : *v == 'A' ? 'B' : (*v >= 'a' ? 'a' : 'A');
				return t;
			}
		}
	}
	FAIL("no signature parameter (X-Amz-Signature, X-Goog-Signature, sig, "
	     "X-Objfs-Signature) in the presigned URL");
}

/* scheme://host[:port] of url, for messages (never the signed query). */
static char *url_origin(const char *url)
{
	const char *s = strstr(url, "://");
	const char *e = s ? strchr(s + 3, '/') : NULL;

	return xasprintf("%.*s", e ? (int)(e - url) : (int)strlen(url), url);
}

static char *must_presign(const char *key, const char *method)
{
	struct objfs_err err;
	char *url = NULL;
	int rc = objfs_prov_presign(C.p, C.bucket, key, method, PRESIGN_TTL_S, &url, &err);

	OPTIONAL(rc, err, "presign");
	EXPECT_OK(rc, err, "presign %s '%s'", method, key);
	EXPECT(url && url[0], "presign %s: no URL", method);
	return keep(url);
}

/* For providers whose URLs objfs' own listener serves (local, mem):
 * presign_check with the URL's parameters. */
static void presign_via_check(const char *key, const char *get_url, const char *put_url)
{
	const char *urls[2] = { get_url, put_url }, *methods[2] = { "GET", "PUT" };
	struct objfs_err err;

	for (int i = 0; i < 2; i++) {
		const char *m = query_param(urls[i], "X-Objfs-Method=");
		const char *e = query_param(urls[i], "X-Objfs-Expires=");
		const char *s = query_param(urls[i], "X-Objfs-Signature=");
		char *ms, *es, *ss, *bad;

		EXPECT(m && e && s, "presigned %s URL lacks X-Objfs-Method/Expires/Signature",
		       methods[i]);
		ms = xasprintf("%.*s", (int)strcspn(m, "&"), m);
		es = xasprintf("%.*s", (int)strcspn(e, "&"), e);
		ss = xasprintf("%.*s", (int)strcspn(s, "&"), s);
		EXPECT(strcmp(ms, methods[i]) == 0, "presigned %s URL says method %s", methods[i], ms);
		EXPECT_OK(objfs_prov_presign_check(C.p, methods[i], C.bucket, key, es, ss, &err), err,
			  "presign_check of the presigned %s URL", methods[i]);
		bad = xasprintf("%s", ss);
		bad[0] = bad[0] == '0' ? '1' : '0';
		EXPECT_RC(objfs_prov_presign_check(C.p, methods[i], C.bucket, key, es, bad, &err),
			  -EACCES, err, "presign_check with a tampered %s signature", methods[i]);
		EXPECT_RC(objfs_prov_presign_check(C.p, methods[1 - i], C.bucket, key, es, ss, &err),
			  -EACCES, err, "presign_check of a %s signature used for %s", methods[i],
			  methods[1 - i]);
		EXPECT_RC(objfs_prov_presign_check(C.p, methods[i], C.bucket, K("other"), es, ss,
						   &err), -EACCES, err,
			  "presign_check of a %s signature for another key", methods[i]);
	}
}

static void case_presign(void **state)
{
	const size_t size = 3000;
	unsigned char *data = xmalloc(size), *data2 = xmalloc(size);
	char *key = K("pre sign/caf\xc3\xa9+1 %.bin"), *key2 = K("pre sign/put \xe6\x97\xa5.bin");
	char *get_url, *put_url, cerr[CURL_ERROR_SIZE];
	struct body b;
	long st;

	(void)state;
	fill(data, size, 51);
	fill(data2, size, 52);
	must_put(key, data, size, NULL, NULL);
	get_url = must_presign(key, "GET");
	put_url = must_presign(key2, "PUT");
	if (C.p->ops->presign_check) {
		/* the URL points at the daemon's presign listener, which is not
		 * running here: check the signature with the provider instead */
		presign_via_check(key, get_url, must_presign(key, "PUT"));
		(void)put_url;
		case_note("checked with presign_check, not over HTTP: this provider's URLs "
			  "are served by the objfs presign listener");
		case_pass();
		return;
	}
	st = http_do("GET", get_url, NULL, 0, &b, cerr);
	EXPECT(st == 200, "GET of the presigned URL (%s): HTTP %ld %s", url_origin(get_url), st,
	       cerr);
	EXPECT(b.len == size && memcmp(b.buf, data, size) == 0,
	       "GET of the presigned URL: %zu bytes, not the object's %zu", b.len, size);
	st = http_do("GET", tamper(get_url), NULL, 0, &b, cerr);
	EXPECT(st == 403, "GET of a presigned URL with a tampered signature: HTTP %ld %s, "
	       "expected 403", st, cerr);

	st = http_do("PUT", put_url, data2, size, &b, cerr);
	EXPECT(st >= 200 && st < 300, "PUT to the presigned URL (%s): HTTP %ld %s",
	       url_origin(put_url), st, cerr);
	must_read_equal(key2, data2, size);
	st = http_do("GET", must_presign(key2, "GET"), NULL, 0, &b, cerr);
	EXPECT(st == 200 && b.len == size && memcmp(b.buf, data2, size) == 0,
	       "GET of what the presigned PUT stored: HTTP %ld, %zu bytes", st, b.len);
	st = http_do("PUT", tamper(put_url), data, size, &b, cerr);
	EXPECT(st == 403, "PUT to a presigned URL with a tampered signature: HTTP %ld %s, "
	       "expected 403", st, cerr);
	must_read_equal(key2, data2, size);
	case_note("GET and PUT performed with libcurl; tampered signatures got 403");
	case_pass();
}

/* ---- errors ---------------------------------------------------------------- */

/* A bucket name that no store has: valid for every provider's rules. */
static char *missing_bucket(void)
{
	unsigned r = 0;

	if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
		r = (unsigned)time(NULL);
	return xasprintf("objfs-contract-nobucket-%08x", r);
}

static void case_errors_missing(void **state)
{
	char *key = K("no-such-key"), *nb = missing_bucket(), *exists = K("exists");
	struct objfs_listing l;
	struct objfs_objinfo oi;
	struct objfs_err err;
	unsigned char buf[8];
	uint64_t got;
	int rc;

	(void)state;
	must_put(exists, "x", 1, NULL, NULL);
	memset(&oi, 0, sizeof(oi));
	expect_missing(key, "of a missing key");
	EXPECT_RC(objfs_prov_get(C.p, C.bucket, key, 0, sizeof(buf), NULL, buf, &got, &err),
		  -ENOENT, err, "get of a missing key");
	EXPECT_OK(objfs_prov_del(C.p, C.bucket, key, &err), err, "delete of a missing key");
	{
		const char *keys[2] = { key, exists };
		int res[2] = { 99, 99 };
		rc = objfs_prov_del_batch(C.p, C.bucket, keys, 2, res, &err);
		if (rc == -ENOSYS) {
			case_note("del_batch: -ENOSYS");
		} else {
			EXPECT_OK(rc, err, "del_batch of a missing and an existing key");
			EXPECT(res[0] == 0 && res[1] == 0, "del_batch results %s (missing key) and "
			       "%s (existing key), expected 0 and 0", errname(res[0]),
			       errname(res[1]));
			expect_missing(exists, "after del_batch");
		}
	}

	EXPECT_RC(objfs_prov_bucket_exists(C.p, nb, &err), -ENOENT, err,
		  "bucket_exists of a missing bucket");
	memset(&l, 0, sizeof(l));
	rc = objfs_prov_list(C.p, nb, "", "/", NULL, 0, &l, &err);
	objfs_listing_clear(&l);
	EXPECT_RC(rc, -ENOENT, err, "list in a missing bucket");
	rc = objfs_prov_head(C.p, nb, "key", &oi, &err);
	objfs_objinfo_clear(&oi);
	EXPECT_RC(rc, -ENOENT, err, "head in a missing bucket");
	EXPECT_RC(objfs_prov_get(C.p, nb, "key", 0, sizeof(buf), NULL, buf, &got, &err), -ENOENT,
		  err, "get in a missing bucket");
	{
		struct objfs_seg seg = { .fd = -1, .buf = "x", .len = 1 };
		struct objfs_source src = { .segs = &seg, .nsegs = 1, .size = 1 };
		EXPECT_RC(objfs_prov_put(C.p, nb, "key", &src, NULL, NULL, &err), -ENOENT, err,
			  "put in a missing bucket");
	}
	EXPECT_RC(objfs_prov_bucket_exists(C.p, nb, &err), -ENOENT, err,
		  "bucket_exists of a missing bucket after a put into it");
	case_pass();
}

/* A key of exactly len bytes under the case prefix, in 100-byte segments
 * (some stores limit one path segment, none the 1024-byte key). */
static char *key_of_len(size_t len)
{
	size_t plen = strlen(CUR->pfx);
	char *k;

	EXPECT(plen < len, "test bug: prefix longer than %zu", len);
	k = xmalloc(len + 1);
	memcpy(k, CUR->pfx, plen);
	for (size_t i = plen; i < len; i++)
		k[i] = (i - plen) % 100 == 99 ? '/' : (char)('a' + (i % 26));
	if (k[len - 1] == '/')
		k[len - 1] = 'z';
	k[len] = '\0';
	return k;
}

static void case_errors_long_key(void **state)
{
	char *k1024 = key_of_len(OBJFS_KEY_MAX), *k1025 = key_of_len(OBJFS_KEY_MAX + 1);
	struct objfs_objinfo oi;
	struct objfs_err err;
	unsigned char buf[8];
	uint64_t got;
	int rc;

	(void)state;
	/* the longest key round trips */
	must_put(k1024, "1024", 4, NULL, NULL);
	must_read_equal(k1024, (const unsigned char *)"1024", 4);
	{
		char **w = xmalloc(sizeof(char *));
		w[0] = k1024;
		expect_listing(CUR->pfx, NULL, 0, w, 1, NULL, 0, 3);
	}
	EXPECT_OK(objfs_prov_del(C.p, C.bucket, k1024, &err), err, "delete a 1024-byte key");
	expect_missing(k1024, "after delete");

	/* one byte more */
	rc = put_buf(C.p, k1025, "1025", 4, NULL, NULL, &err);
	EXPECT_RC(rc, -ENAMETOOLONG, err, "put of a 1025-byte key");
	memset(&oi, 0, sizeof(oi));
	rc = objfs_prov_head(C.p, C.bucket, k1025, &oi, &err);
	objfs_objinfo_clear(&oi);
	EXPECT_RC(rc, -ENAMETOOLONG, err, "head of a 1025-byte key");
	EXPECT_RC(objfs_prov_get(C.p, C.bucket, k1025, 0, sizeof(buf), NULL, buf, &got, &err),
		  -ENAMETOOLONG, err, "get of a 1025-byte key");
	case_pass();
}

static void case_errors_bad_credentials(void **state)
{
	struct objfs_prov *bad = NULL;
	struct objfs_listing l;
	struct objfs_objinfo oi;
	struct objfs_err err, e_put, e_get, e_list, e_head;
	char *exists = K("exists"), *key = K("denied");
	unsigned char buf[8];
	uint64_t got;
	int rc, r_put, r_get, r_list, r_head;

	(void)state;
	if (!C.bad_conf)
		case_na("no --bad-provider given (a provider without credentials, such as "
			"local, has none to get wrong)");
	must_put(exists, "secret", 6, NULL, NULL);
	rc = objfs_prov_open(C.bad_conf, &bad, &err);
	if (rc == -EACCES) {
		case_note("the wrong credentials were refused at open (-EACCES)");
		case_pass();
		return;
	}
	EXPECT_OK(rc, err, "open the provider with wrong credentials");
	r_put = put_buf(bad, key, "x", 1, NULL, NULL, &e_put);
	r_get = objfs_prov_get(bad, C.bucket, exists, 0, sizeof(buf), NULL, buf, &got, &e_get);
	memset(&l, 0, sizeof(l));
	r_list = objfs_prov_list(bad, C.bucket, CUR->pfx, "/", NULL, 0, &l, &e_list);
	objfs_listing_clear(&l);
	memset(&oi, 0, sizeof(oi));
	r_head = objfs_prov_head(bad, C.bucket, exists, &oi, &e_head);
	objfs_objinfo_clear(&oi);
	objfs_prov_free(bad);
	EXPECT_RC(r_put, -EACCES, e_put, "put with wrong credentials");
	EXPECT_RC(r_get, -EACCES, e_get, "get with wrong credentials");
	EXPECT_RC(r_list, -EACCES, e_list, "list with wrong credentials");
	EXPECT_RC(r_head, -EACCES, e_head, "head with wrong credentials");
	expect_missing(key, "after a put with wrong credentials");
	case_pass();
}

static void case_health(void **state)
{
	struct objfs_health h;
	struct objfs_err err;
	char *nb = missing_bucket();
	int rc;

	(void)state;
	memset(&h, 0, sizeof(h));
	rc = objfs_prov_health(C.p, C.bucket, &h, &err);
	OPTIONAL(rc, err, "health");
	EXPECT_OK(rc, err, "health of the bucket");
	EXPECT(h.state == OBJFS_HEALTH_OK, "health of a healthy bucket: %s (%s)",
	       objfs_health_state_name(h.state), h.detail);
	memset(&h, 0, sizeof(h));
	EXPECT_OK(objfs_prov_health(C.p, NULL, &h, &err), err, "health of the store");
	EXPECT(h.state == OBJFS_HEALTH_OK, "health of the store: %s (%s)",
	       objfs_health_state_name(h.state), h.detail);
	memset(&h, 0, sizeof(h));
	EXPECT_OK(objfs_prov_health(C.p, nb, &h, &err), err, "health of a missing bucket");
	EXPECT(h.state == OBJFS_HEALTH_NO_BUCKET, "health of a missing bucket: %s (%s), "
	       "expected no-bucket", objfs_health_state_name(h.state), h.detail);
	case_pass();
}

/* ---- the table, the command line, the summary ------------------------------ */

static struct case_state cases[] = {
	{ .name = "keys", .what = "keys with /, spaces, +, %, unicode, dir/ markers, prefixes" },
	{ .name = "keys_list", .what = "the same keys listed exactly, one page each too" },
	{ .name = "list_delimiter", .what = "delimiter roll-up, markers, byte order" },
	{ .name = "list_pagination", .what = "2,500 keys at max_keys 1000, 7 and with a delimiter" },
	{ .name = "ranged_reads", .what = "ranges at the edges, 0-byte object" },
	{ .name = "conditional_put", .what = "if_match / if_none_match on put" },
	{ .name = "conditional_read", .what = "if_match on get and on a copy's source" },
	{ .name = "copy", .what = "copy keeps or replaces metadata, src == dst, missing source" },
	{ .name = "multipart", .what = "parts with offsets, complete, bytes and metadata" },
	{ .name = "multipart_resume", .what = "resume after closing and reopening the provider" },
	{ .name = "multipart_abort", .what = "abort leaves nothing" },
	{ .name = "presign", .what = "presigned GET and PUT round trips, tampered refused" },
	{ .name = "errors_missing", .what = "missing key and bucket errnos" },
	{ .name = "errors_long_key", .what = "1024-byte key works, 1025 is -ENAMETOOLONG" },
	{ .name = "errors_bad_credentials", .what = "wrong credentials are -EACCES" },
	{ .name = "health", .what = "health ok, no-bucket" },
};
static const CMUnitTestFunction case_fns[] = {
	case_keys, case_keys_list, case_list_delimiter, case_list_pagination, case_ranged_reads,
	case_conditional_put, case_conditional_read, case_copy, case_multipart, case_multipart_resume,
	case_multipart_abort, case_presign, case_errors_missing, case_errors_long_key,
	case_errors_bad_credentials, case_health,
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

static void usage(FILE *f)
{
	fprintf(f,
		"usage: provider_contract --provider NAME --bucket BUCKET [--config FILE]\n"
		"                         [--prefix P] [--bad-provider NAME2] [--only CASE,...]\n"
		"                         [--list]\n"
		"Runs the provider contract suite against [provider NAME] of the objfs\n"
		"configuration FILE (--provider mem without --config: an in-memory store).\n"
		"Environment: OBJFS_CONTRACT_CONFIG, OBJFS_CONTRACT_PROVIDER,\n"
		"OBJFS_CONTRACT_BUCKET, OBJFS_CONTRACT_PREFIX, OBJFS_CONTRACT_BAD_PROVIDER,\n"
		"OBJFS_CONTRACT_ONLY stand in for the options.\n"
		"Exit status: 0 when no case failed, 1 when one did, 2 for a bad invocation\n"
		"or a provider that cannot be opened.\n");
}

static const char *env_or(const char *v, const char *name)
{
	return v ? v : getenv(name);
}

/* 1 if name is in the comma-separated list (NULL: every case). */
static int selected(const char *only, const char *name)
{
	size_t n = strlen(name);

	if (!only || !only[0])
		return 1;
	for (const char *s = only; s; s = strchr(s, ',') ? strchr(s, ',') + 1 : NULL)
		if (strncmp(s, name, n) == 0 && (s[n] == ',' || s[n] == '\0'))
			return 1;
	return 0;
}

/* Opens the provider and creates the bucket when missing.  0 or exit status 2. */
static int contract_open(void)
{
	char errbuf[512] = "";
	const struct objfs_provider_section *ps;
	struct objfs_err err;
	int rc;

	if (!C.config_path && strcmp(C.prov_name, "mem") == 0) {
		C.mem_conf.name = "mem";
		C.mem_conf.type = "mem";
		C.conf = &C.mem_conf;
	} else {
		if (!C.config_path) {
			fprintf(stderr, "provider_contract: --config FILE is required for provider "
				"'%s' (only mem runs without one)\n", C.prov_name);
			return 2;
		}
		rc = objfs_config_load(C.config_path, &C.cfg, errbuf, sizeof(errbuf));
		if (rc < 0) {
			fprintf(stderr, "provider_contract: %s\n", errbuf);
			return 2;
		}
		ps = objfs_config_provider(C.cfg, C.prov_name);
		if (!ps) {
			fprintf(stderr, "provider_contract: %s: no [provider %s]\n", C.config_path,
				C.prov_name);
			return 2;
		}
		C.conf = &ps->conf;
		if (C.bad_name) {
			ps = objfs_config_provider(C.cfg, C.bad_name);
			if (!ps) {
				fprintf(stderr, "provider_contract: %s: no [provider %s] (--bad-provider)\n",
					C.config_path, C.bad_name);
				return 2;
			}
			C.bad_conf = &ps->conf;
		}
	}
	rc = objfs_prov_open(C.conf, &C.p, &err);
	if (rc < 0) {
		fprintf(stderr, "provider_contract: open provider %s (%s): %s: %s\n", C.prov_name,
			C.conf->type, errname(rc), err.msg);
		return 2;
	}
	rc = objfs_prov_bucket_exists(C.p, C.bucket, &err);
	if (rc == -ENOENT)
		rc = objfs_prov_bucket_create(C.p, C.bucket, &err);
	if (rc < 0) {
		fprintf(stderr, "provider_contract: bucket %s on %s: %s: %s\n", C.bucket, C.prov_name,
			errname(rc), err.msg);
		return 2;
	}
	return 0;
}

/* One line per case, then the one-line summary. */
static int summary(void)
{
	int npass = 0, nfail = 0, nna = 0, nrun = 0;
	char failed[2048] = "", na[2048] = "";

	printf("\n");
	for (size_t i = 0; i < NCASES; i++) {
		struct case_state *cs = &cases[i];
		const char *tag = "";
		switch (cs->status) {
		case ST_NOT_RUN: continue;
		case ST_PASSED: tag = "pass"; npass++; break;
		case ST_NA: tag = "n/a "; nna++; break;
		default: tag = "FAIL"; nfail++; break;
		}
		nrun++;
		printf("  %s  %-24s %5.1fs  %s%s%s\n", tag, cs->name, cs->secs,
		       cs->status == ST_PASSED ? cs->what : cs->msg,
		       cs->status == ST_PASSED && cs->note[0] ? " -- " : "",
		       cs->status == ST_PASSED ? cs->note : "");
		if (cs->status == ST_NA)
			snprintf(na + strlen(na), sizeof(na) - strlen(na), "%s%s (%s)", na[0] ? "; " : "",
				 cs->name, cs->msg);
		else if (cs->status != ST_PASSED)
			snprintf(failed + strlen(failed), sizeof(failed) - strlen(failed), "%s%s",
				 failed[0] ? ", " : "", cs->name);
	}
	printf("contract %s (%s): %d passed, %d failed, %d not applicable%s%s%s%s\n",
	       C.prov_name, C.conf ? C.conf->type : "?", npass, nfail, nna,
	       nfail ? "; failed: " : "", failed, nna ? "; n/a: " : "", na);
	fflush(stdout);
	return nfail || nrun == 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "provider", required_argument, NULL, 'p' },
		{ "bucket", required_argument, NULL, 'b' },
		{ "prefix", required_argument, NULL, 'x' },
		{ "bad-provider", required_argument, NULL, 'B' },
		{ "only", required_argument, NULL, 'o' },
		{ "list", no_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct CMUnitTest tests[NCASES];
	const char *only = NULL;
	size_t ntests = 0;
	unsigned r = 0;
	int c, rc, list = 0;

	while ((c = getopt_long(argc, argv, "c:p:b:x:B:o:lh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': C.config_path = optarg; break;
		case 'p': C.prov_name = optarg; break;
		case 'b': C.bucket = optarg; break;
		case 'x': C.base_prefix = optarg; break;
		case 'B': C.bad_name = optarg; break;
		case 'o': only = optarg; break;
		case 'l': list = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (list) {
		for (size_t i = 0; i < NCASES; i++)
			printf("%-24s %s\n", cases[i].name, cases[i].what);
		return 0;
	}
	C.config_path = env_or(C.config_path, "OBJFS_CONTRACT_CONFIG");
	C.prov_name = env_or(C.prov_name, "OBJFS_CONTRACT_PROVIDER");
	C.bucket = env_or(C.bucket, "OBJFS_CONTRACT_BUCKET");
	C.base_prefix = env_or(C.base_prefix, "OBJFS_CONTRACT_PREFIX");
	C.bad_name = env_or(C.bad_name, "OBJFS_CONTRACT_BAD_PROVIDER");
	only = env_or(only, "OBJFS_CONTRACT_ONLY");
	if (optind != argc || !C.prov_name || !C.bucket) {
		usage(stderr);
		return 2;
	}
	if (!C.base_prefix)
		C.base_prefix = "objfs-contract/";
	if (C.base_prefix[0] && C.base_prefix[strlen(C.base_prefix) - 1] != '/') {
		fprintf(stderr, "provider_contract: --prefix must end with '/'\n");
		return 2;
	}
	if (only) {
		/* every name in --only must be a case */
		for (const char *s = only; s; s = strchr(s, ',') ? strchr(s, ',') + 1 : NULL) {
			size_t n = strcspn(s, ","), i;
			for (i = 0; i < NCASES; i++)
				if (strlen(cases[i].name) == n && strncmp(s, cases[i].name, n) == 0)
					break;
			if (i == NCASES) {
				fprintf(stderr, "provider_contract: no case '%.*s' (see --list)\n",
					(int)n, s);
				return 2;
			}
		}
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "provider_contract: curl_global_init failed\n");
		return 2;
	}
	if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
		r = (unsigned)getpid();
	/* run id: reruns never meet an earlier run's keys */
	snprintf(C.run_prefix, sizeof(C.run_prefix), "%s%lld-%d-%08x/", C.base_prefix,
		 (long long)time(NULL), (int)getpid(), r);
	rc = contract_open();
	if (rc) {
		objfs_config_free(C.cfg);
		curl_global_cleanup();
		return rc;
	}
	printf("contract: provider %s (type %s), bucket %s, keys under %s\n", C.prov_name,
	       C.conf->type, C.bucket, C.run_prefix);
	fflush(stdout);
	for (size_t i = 0; i < NCASES; i++) {
		if (!selected(only, cases[i].name))
			continue;
		tests[ntests] = (struct CMUnitTest){
			.name = cases[i].name, .test_func = case_fns[i],
			.setup_func = case_setup, .teardown_func = case_teardown,
			.initial_state = &cases[i],
		};
		ntests++;
	}
	_cmocka_run_group_tests("provider_contract", tests, ntests, NULL, NULL);
	rc = summary();
	objfs_prov_free(C.p);
	objfs_config_free(C.cfg);
	curl_global_cleanup();
	return rc;
}
