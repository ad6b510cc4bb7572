/*
 * HTTP client for the network providers: a pool of libcurl easy handles, a
 * bound on requests in flight, timeouts, and the one retry policy.
 *
 * Pool and slots.  A request first takes a slot (at most conf.max_inflight
 * requests run at once; the others wait on slot_cv) and then an easy handle
 * from a stack (LIFO, so a sequential caller keeps getting the handle whose
 * connection is warm).  A handle lives as long as the client; between uses
 * it is curl_easy_reset, which forgets every option (so nothing of one
 * request, e.g. CURLOPT_NOBODY or a pointer to a stack buffer, leaks into the
 * next) but keeps its live connections, DNS and TLS session caches.  There
 * are never more handles than slots, so the stack never overflows.  The slot
 * and the handle are kept across the retries of one request (including the
 * backoff sleeps: a request that waits to retry still counts in flight,
 * which is the backpressure we want when the store is struggling).
 *
 * Attempts.  Every attempt starts from scratch: the prepare callback makes a
 * fresh header list (fresh signature and date), the body is re-read from its
 * first segment, and the response (status, headers, body, out_len) is
 * cleared.  Curl may also rewind the body itself within one attempt (a dead
 * reused connection, a redirect, auth), through the seek callback.
 *
 * Response.  The header callback sees the header block of every response of
 * an attempt, including interim 1xx ones; each status line starts a new list,
 * so only the final response's headers remain.  The write callback routes the
 * body by the status of the response it belongs to: 2xx into req->out_buf or
 * the bounded collected body, others into the error body (64 KiB, silently
 * truncated; its job is only to carry an error document).
 *
 * Retries.  Transport failures that may be transient (connect, resolve,
 * reset, send/receive errors, timeouts, a truncated body, an empty reply)
 * and, by default, statuses 5xx and 429 are retried up to max_attempts, after
 * a backoff drawn uniformly from [0, min(backoff_max, backoff_base * 2^n)]
 * ("full jitter"; n = 0 before the second attempt).  A Retry-After of
 * delta-seconds on 429/503 replaces the drawn backoff, capped at backoff_max.
 * Failures of our own (a body too large, a segment that cannot be read, no
 * memory) are never retried.
 *
 * Secrets.  Signed URLs carry signatures in the query string and headers
 * carry tokens, so log lines and resp->err name a request only by method and
 * host/path (no userinfo, no query) and never include header values.
 *
 * Locking.  h->lock protects the pool stack, the in-flight count and the
 * jitter PRNG; it is never held across curl_easy_perform, a sleep or a
 * callback.  Counters are atomics.  It is the only lock: no lock order.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "http.h"
#include "log.h"
#include "metrics.h"

/* Keep in step with src/main.c (which defines it for --version). */
#include "version.h"

#define HTTP_DEF_INFLIGHT      64
#define HTTP_MAX_INFLIGHT      4096
#define HTTP_DEF_CONNECT_MS    10000
#define HTTP_DEF_STALL_S       30
#define HTTP_DEF_ATTEMPTS      5
#define HTTP_MAX_ATTEMPTS      100
#define HTTP_DEF_BACKOFF_BASE  100
#define HTTP_DEF_BACKOFF_MAX   5000
#define HTTP_DEF_MAX_BODY      (16u * 1024 * 1024)
#define HTTP_ERR_BODY_MAX      (64u * 1024)
#define HTTP_HDR_MAX           128         /* headers kept per response */
#define HTTP_HDR_LINE_MAX      8192        /* longer header lines are dropped */
#define HTTP_WHERE_MAX         160         /* host/path in messages */
#define HTTP_DIGEST_BLOCK      (1u << 20)
#define HTTP_KEEPIDLE_S        60L
#define HTTP_KEEPINTVL_S       30L

struct objfs_http {
	/* Immutable after objfs_http_new (defaults applied). */
	struct objfs_http_conf conf;
	char *user_agent;                /* owned; conf.user_agent points here */
	char *label;                     /* owned or NULL; conf.label points here */

	pthread_mutex_t lock;
	pthread_cond_t slot_cv;          /* signalled when inflight drops */
	CURL **pool;                     /* lock: idle handles, capacity max_inflight */
	size_t npool;                    /* lock */
	unsigned inflight;               /* lock: requests holding a slot */
	uint64_t rng;                    /* lock: xorshift64* state, never 0 */

	/* Atomics (__atomic builtins, relaxed: they are only statistics). */
	uint64_t n_requests, n_attempts, n_retries, n_failures;
	uint64_t n_bytes_up, n_bytes_down;
};

/* State of one attempt, shared with the curl callbacks. */
struct http_xfer {
	const struct objfs_http_req *req;
	struct objfs_http_resp *resp;
	/* upload position */
	size_t seg;
	uint64_t seg_off;
	/* response */
	long cur_status;                 /* of the response being received */
	size_t body_cap;                 /* allocated bytes of resp->body */
	int cb_err;                      /* a callback's own failure (never retried) */
};

static pthread_once_t http_global_once = PTHREAD_ONCE_INIT;
static CURLcode http_global_rc = CURLE_FAILED_INIT;

static void http_global_init(void)
{
	http_global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void stat_add(uint64_t *ctr, uint64_t v)
{
	__atomic_fetch_add(ctr, v, __ATOMIC_RELAXED);
}

/* ---- small helpers --------------------------------------------------------- */

/* "host/path" of url for messages: no scheme, no userinfo, no query or
 * fragment (signed URLs carry their signature in the query). */
static void http_where(const char *url, char *out, size_t cap)
{
	const char *p = strstr(url, "://");
	const char *auth_end, *at;
	size_t n;

	p = p ? p + 3 : url;
	auth_end = p + strcspn(p, "/?#");
	at = memchr(p, '@', (size_t)(auth_end - p));
	if (at)
		p = at + 1;
	n = strcspn(p, "?#");
	if (n >= cap)
		n = cap - 1;
	memcpy(out, p, n);
	out[n] = '\0';
}

static void http_headers_free(struct objfs_http_resp *r)
{
	for (size_t i = 0; i < r->nheaders; i++) {
		free(r->headers[i].key);
		free(r->headers[i].value);
	}
	free(r->headers);
	r->headers = NULL;
	r->nheaders = 0;
}

/* Forgets the response of an attempt (keeps attempts and err). */
static void http_resp_reset(struct objfs_http_resp *r, struct http_xfer *x)
{
	http_headers_free(r);
	free(r->body);
	r->body = NULL;
	r->body_len = 0;
	r->out_len = 0;
	r->status = 0;
	if (x)
		x->body_cap = 0;
}

void objfs_http_resp_clear(struct objfs_http_resp *r)
{
	if (!r)
		return;
	http_resp_reset(r, NULL);
	memset(r, 0, sizeof(*r));
}

const char *objfs_http_resp_header(const struct objfs_http_resp *r, const char *name)
{
	if (!r || !name)
		return NULL;
	for (size_t i = 0; i < r->nheaders; i++)
		if (strcasecmp(r->headers[i].key, name) == 0)
			return r->headers[i].value;
	return NULL;
}

int objfs_http_status_errno(long status)
{
	if ((status >= 200 && status < 300) || status == 304)
		return 0;
	switch (status) {
	case 400: return -EINVAL;
	case 401:
	case 403: return -EACCES;
	case 404: return -ENOENT;
	case 409: return -EEXIST;
	case 412: return -ESTALE;
	case 416: return -EINVAL;
	default:  return -EIO;           /* 429, 5xx, anything else */
	}
}

/* Sum of the segment lengths equals src->size (0 or -EINVAL). */
static int http_source_check(const struct objfs_source *src)
{
	uint64_t sum = 0;

	if (!src)
		return 0;
	if (src->nsegs && !src->segs)
		return -EINVAL;
	for (size_t i = 0; i < src->nsegs; i++) {
		if (src->segs[i].len > UINT64_MAX - sum)
			return -EINVAL;
		sum += src->segs[i].len;
	}
	return sum == src->size ? 0 : -EINVAL;
}

/* ---- client --------------------------------------------------------------- */

struct objfs_http *objfs_http_new(const struct objfs_http_conf *conf)
{
	struct objfs_http *h = NULL;
	uint64_t seed = 0;
	int locks = 0;

	pthread_once(&http_global_once, http_global_init);
	if (http_global_rc != CURLE_OK)
		goto fail;
	h = calloc(1, sizeof(*h));
	if (!h)
		goto fail;
	if (conf)
		h->conf = *conf;
	if (!h->conf.max_inflight)
		h->conf.max_inflight = HTTP_DEF_INFLIGHT;
	if (h->conf.max_inflight > HTTP_MAX_INFLIGHT)
		h->conf.max_inflight = HTTP_MAX_INFLIGHT;
	if (!h->conf.connect_timeout_ms)
		h->conf.connect_timeout_ms = HTTP_DEF_CONNECT_MS;
	if (!h->conf.stall_timeout_s)
		h->conf.stall_timeout_s = HTTP_DEF_STALL_S;
	if (!h->conf.max_attempts)
		h->conf.max_attempts = HTTP_DEF_ATTEMPTS;
	if (h->conf.max_attempts > HTTP_MAX_ATTEMPTS)
		h->conf.max_attempts = HTTP_MAX_ATTEMPTS;
	if (!h->conf.backoff_base_ms)
		h->conf.backoff_base_ms = HTTP_DEF_BACKOFF_BASE;
	if (!h->conf.backoff_max_ms)
		h->conf.backoff_max_ms = HTTP_DEF_BACKOFF_MAX;
	h->user_agent = strdup(h->conf.user_agent ? h->conf.user_agent
				: "objfs/" OBJFS_VERSION);
	if (!h->user_agent)
		goto fail;
	h->conf.user_agent = h->user_agent;
	if (h->conf.label && !(h->label = strdup(h->conf.label)))
		goto fail;
	h->conf.label = h->label;
	h->pool = calloc(h->conf.max_inflight, sizeof(*h->pool));
	if (!h->pool)
		goto fail;
	if (pthread_mutex_init(&h->lock, NULL))
		goto fail;
	locks = 1;
	if (pthread_cond_init(&h->slot_cv, NULL))
		goto fail;
	locks = 2;
	/* Jitter only needs to differ between processes; without getrandom
	 * the clock and an address are good enough. */
	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed)) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^
		       (uint64_t)(uintptr_t)h ^ (uint64_t)getpid();
	}
	h->rng = seed ? seed : 0x9e3779b97f4a7c15ULL;
	return h;

fail:
	if (h) {
		if (locks > 1)
			pthread_cond_destroy(&h->slot_cv);
		if (locks > 0)
			pthread_mutex_destroy(&h->lock);
		free(h->pool);
		free(h->user_agent);
		free(h->label);
		free(h);
	}
	return NULL;
}

void objfs_http_free(struct objfs_http *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->npool; i++)
		curl_easy_cleanup(h->pool[i]);
	pthread_cond_destroy(&h->slot_cv);
	pthread_mutex_destroy(&h->lock);
	free(h->pool);
	free(h->user_agent);
	free(h->label);
	free(h);
}

void objfs_http_get_stats(struct objfs_http *h, struct objfs_http_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!h)
		return;
	out->requests = __atomic_load_n(&h->n_requests, __ATOMIC_RELAXED);
	out->attempts = __atomic_load_n(&h->n_attempts, __ATOMIC_RELAXED);
	out->retries = __atomic_load_n(&h->n_retries, __ATOMIC_RELAXED);
	out->failures = __atomic_load_n(&h->n_failures, __ATOMIC_RELAXED);
	out->bytes_up = __atomic_load_n(&h->n_bytes_up, __ATOMIC_RELAXED);
	out->bytes_down = __atomic_load_n(&h->n_bytes_down, __ATOMIC_RELAXED);
}

/* Waits for a slot and takes an idle handle (or makes one).  0 or -ENOMEM
 * (then the slot is already given back). */
static int http_acquire(struct objfs_http *h, CURL **out)
{
	CURL *c = NULL;

	pthread_mutex_lock(&h->lock);
	while (h->inflight >= h->conf.max_inflight)
		pthread_cond_wait(&h->slot_cv, &h->lock);
	h->inflight++;
	if (h->npool)
		c = h->pool[--h->npool];
	pthread_mutex_unlock(&h->lock);
	if (!c)
		c = curl_easy_init();
	if (!c) {
		pthread_mutex_lock(&h->lock);
		h->inflight--;
		pthread_cond_signal(&h->slot_cv);
		pthread_mutex_unlock(&h->lock);
		return -ENOMEM;
	}
	*out = c;
	return 0;
}

/* Returns c (already curl_easy_reset) to the pool and gives the slot back. */
static void http_release(struct objfs_http *h, CURL *c)
{
	pthread_mutex_lock(&h->lock);
	/* Cannot be full: handles in use + idle <= max_inflight. */
	if (h->npool < h->conf.max_inflight) {
		h->pool[h->npool++] = c;
		c = NULL;
	}
	h->inflight--;
	pthread_cond_signal(&h->slot_cv);
	pthread_mutex_unlock(&h->lock);
	if (c)
		curl_easy_cleanup(c);
}

/* Uniform in [0, bound]. */
static unsigned http_jitter(struct objfs_http *h, unsigned bound)
{
	uint64_t x;

	pthread_mutex_lock(&h->lock);
	x = h->rng;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	h->rng = x;
	pthread_mutex_unlock(&h->lock);
	x *= 0x2545f4914f6cdd1dULL;
	return (unsigned)((x >> 11) % ((uint64_t)bound + 1));
}

/* Backoff before attempt number retry_n + 2 (retry_n = 0 for the first retry). */
static unsigned http_backoff_ms(struct objfs_http *h, unsigned retry_n)
{
	uint64_t bound = h->conf.backoff_base_ms;

	bound <<= retry_n < 32 ? retry_n : 32;
	if (bound > h->conf.backoff_max_ms)
		bound = h->conf.backoff_max_ms;
	return http_jitter(h, (unsigned)bound);
}

static void http_sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* ---- curl callbacks -------------------------------------------------------- */

/* Segments as the other providers read them: fd >= 0 wins (pread from off),
 * else buf (from its start; off is for files), else zeros. */
static size_t http_read_cb(char *dst, size_t size, size_t nitems, void *ud)
{
	struct http_xfer *x = ud;
	const struct objfs_source *src = x->req->body;
	size_t want = size * nitems, done = 0;

	while (src && done < want && x->seg < src->nsegs) {
		const struct objfs_seg *s = &src->segs[x->seg];
		uint64_t left = s->len - x->seg_off;
		size_t n;

		if (left == 0) {
			x->seg++;
			x->seg_off = 0;
			continue;
		}
		n = (uint64_t)(want - done) < left ? want - done : (size_t)left;
		if (s->fd >= 0) {
			ssize_t r = pread(s->fd, dst + done, n, (off_t)(s->off + x->seg_off));

			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				/* r == 0: the file is shorter than its segment. */
				x->cb_err = r < 0 && errno ? -errno : -EIO;
				return CURL_READFUNC_ABORT;
			}
			n = (size_t)r;
		} else if (s->buf) {
			memcpy(dst + done, (const char *)s->buf + x->seg_off, n);
		} else {
			memset(dst + done, 0, n);
		}
		x->seg_off += n;
		done += n;
	}
	return done;
}

static int http_seek_cb(void *ud, curl_off_t offset, int origin)
{
	struct http_xfer *x = ud;
	const struct objfs_source *src = x->req->body;
	uint64_t pos;

	if (origin != SEEK_SET || offset < 0)
		return CURL_SEEKFUNC_CANTSEEK;
	pos = (uint64_t)offset;
	if (pos > (src ? src->size : 0))
		return CURL_SEEKFUNC_FAIL;
	x->seg = 0;
	x->seg_off = 0;
	while (src && x->seg < src->nsegs && pos >= src->segs[x->seg].len) {
		pos -= src->segs[x->seg].len;
		x->seg++;
	}
	x->seg_off = pos;
	return CURL_SEEKFUNC_OK;
}

/* Trims blanks (and CR/LF) at both ends of [*s, *s + *n). */
static void http_trim(const char **s, size_t *n)
{
	while (*n && strchr(" \t\r\n", (*s)[0]))
		(*s)++, (*n)--;
	while (*n && strchr(" \t\r\n", (*s)[*n - 1]))
		(*n)--;
}

static size_t http_header_cb(char *line, size_t size, size_t nitems, void *ud)
{
	struct http_xfer *x = ud;
	struct objfs_http_resp *r = x->resp;
	size_t n = size * nitems, nlen, vlen;
	const char *colon, *name = line, *val;
	struct objfs_kv *kv;

	if (n >= 5 && memcmp(line, "HTTP/", 5) == 0) {
		/* A new response (interim 1xx, or the final one): start over. */
		const char *sp = memchr(line, ' ', n);

		http_headers_free(r);
		x->cur_status = sp ? strtol(sp + 1, NULL, 10) : 0;
		return n;
	}
	if (n > HTTP_HDR_LINE_MAX || r->nheaders >= HTTP_HDR_MAX)
		return n;                /* dropped: bounded */
	if (n && (line[0] == ' ' || line[0] == '\t'))
		return n;                /* obsolete line folding: dropped */
	colon = memchr(line, ':', n);
	if (!colon)
		return n;                /* the blank line ending the block */
	nlen = (size_t)(colon - line);
	http_trim(&name, &nlen);
	if (!nlen)
		return n;
	val = colon + 1;
	vlen = n - (size_t)(val - line);
	http_trim(&val, &vlen);
	if (!r->headers) {
		r->headers = calloc(HTTP_HDR_MAX, sizeof(*r->headers));
		if (!r->headers)
			goto nomem;
	}
	kv = &r->headers[r->nheaders];
	kv->key = strndup(name, nlen);
	kv->value = strndup(val, vlen);
	if (!kv->key || !kv->value) {
		free(kv->key);
		free(kv->value);
		kv->key = kv->value = NULL;
		goto nomem;
	}
	for (char *p = kv->key; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	r->nheaders++;
	return n;
nomem:
	x->cb_err = -ENOMEM;
	return 0;
}

/* Appends to resp->body, bounded by limit: beyond it, -EMSGSIZE when
 * strict, else the excess is dropped.  Returns the callback's answer. */
static size_t http_body_append(struct http_xfer *x, const char *data, size_t n,
			       size_t limit, bool strict)
{
	struct objfs_http_resp *r = x->resp;
	size_t keep = n;

	if (keep > limit - r->body_len) {
		if (strict) {
			x->cb_err = -EMSGSIZE;
			return 0;
		}
		keep = limit - r->body_len;
	}
	if (!keep)
		return n;
	if (r->body_len + keep + 1 > x->body_cap) {
		size_t cap = x->body_cap ? x->body_cap : 4096;
		char *nb;

		while (cap < r->body_len + keep + 1)
			cap *= 2;
		if (cap > limit + 1)
			cap = limit + 1;
		nb = realloc(r->body, cap);
		if (!nb) {
			x->cb_err = -ENOMEM;
			return 0;
		}
		r->body = nb;
		x->body_cap = cap;
	}
	memcpy(r->body + r->body_len, data, keep);
	r->body_len += keep;
	r->body[r->body_len] = '\0';
	return n;
}

static size_t http_write_cb(char *data, size_t size, size_t nmemb, void *ud)
{
	struct http_xfer *x = ud;
	const struct objfs_http_req *req = x->req;
	struct objfs_http_resp *r = x->resp;
	size_t n = size * nmemb;

	if (x->cur_status < 200 || x->cur_status >= 300)
		return http_body_append(x, data, n, HTTP_ERR_BODY_MAX, false);
	if (!req->out_buf)
		return http_body_append(x, data, n,
					req->max_body ? req->max_body : HTTP_DEF_MAX_BODY, true);
	if (n > req->out_cap - r->out_len) {
		x->cb_err = -EMSGSIZE;
		return 0;
	}
	memcpy((char *)req->out_buf + r->out_len, data, n);
	r->out_len += n;
	return n;
}

/* ---- one attempt ------------------------------------------------------------ */

/* 1 if list already has a header named name (case-insensitive). */
static int http_list_has(const struct curl_slist *l, const char *name)
{
	size_t n = strlen(name);

	for (; l; l = l->next)
		if (strncasecmp(l->data, name, n) == 0 && (l->data[n] == ':' || l->data[n] == ';'))
			return 1;
	return 0;
}

/* The errno of a transport failure, and whether it may be transient. */
static int http_curl_errno(CURL *c, CURLcode cc, bool *retry)
{
	long os_err = 0;

	*retry = true;
	switch (cc) {
	case CURLE_COULDNT_CONNECT:
		curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os_err);
		if (os_err == EHOSTUNREACH || os_err == ENETUNREACH)
			return -EHOSTUNREACH;
		return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return -EHOSTUNREACH;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_PARTIAL_FILE:
	case CURLE_GOT_NOTHING:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_HTTP3:
		return -EIO;
	case CURLE_OUT_OF_MEMORY:
		*retry = false;
		return -ENOMEM;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		*retry = false;
		return -EINVAL;
	default:
		*retry = false;
		return -EIO;
	}
}

#define HTTP_SETOPT(c, cc, opt, val) do { \
		if ((cc) == CURLE_OK) \
			(cc) = curl_easy_setopt((c), (opt), (val)); \
	} while (0)

/* Sets the options of one attempt on c (freshly reset). */
static CURLcode http_setup(struct objfs_http *h, CURL *c, struct http_xfer *x,
			   struct curl_slist *hdrs, char *errbuf)
{
	const struct objfs_http_req *req = x->req;
	curl_off_t size = req->body ? (curl_off_t)req->body->size : 0;
	CURLcode cc = CURLE_OK;

	HTTP_SETOPT(c, cc, CURLOPT_URL, req->url);
#if LIBCURL_VERSION_NUM >= 0x075500
	HTTP_SETOPT(c, cc, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	HTTP_SETOPT(c, cc, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	HTTP_SETOPT(c, cc, CURLOPT_ERRORBUFFER, errbuf);
	HTTP_SETOPT(c, cc, CURLOPT_NOSIGNAL, 1L);
	HTTP_SETOPT(c, cc, CURLOPT_USERAGENT, h->user_agent);
	HTTP_SETOPT(c, cc, CURLOPT_CONNECTTIMEOUT_MS, (long)h->conf.connect_timeout_ms);
	/* Stall detection: fewer than 1 byte/s for stall_timeout_s aborts. */
	HTTP_SETOPT(c, cc, CURLOPT_LOW_SPEED_LIMIT, 1L);
	HTTP_SETOPT(c, cc, CURLOPT_LOW_SPEED_TIME, (long)h->conf.stall_timeout_s);
	HTTP_SETOPT(c, cc, CURLOPT_TCP_KEEPALIVE, 1L);
	HTTP_SETOPT(c, cc, CURLOPT_TCP_KEEPIDLE, HTTP_KEEPIDLE_S);
	HTTP_SETOPT(c, cc, CURLOPT_TCP_KEEPINTVL, HTTP_KEEPINTVL_S);
	/* No CURLOPT_ACCEPT_ENCODING: bodies are object bytes (and ranges of
	 * them), never to be decoded.  Redirects are not followed: S3 answers
	 * 301/307 for a wrong region, which the provider must see. */
	HTTP_SETOPT(c, cc, CURLOPT_HTTPHEADER, hdrs);
	HTTP_SETOPT(c, cc, CURLOPT_HEADERFUNCTION, http_header_cb);
	HTTP_SETOPT(c, cc, CURLOPT_HEADERDATA, x);
	HTTP_SETOPT(c, cc, CURLOPT_WRITEFUNCTION, http_write_cb);
	HTTP_SETOPT(c, cc, CURLOPT_WRITEDATA, x);
	HTTP_SETOPT(c, cc, CURLOPT_READFUNCTION, http_read_cb);
	HTTP_SETOPT(c, cc, CURLOPT_READDATA, x);
	HTTP_SETOPT(c, cc, CURLOPT_SEEKFUNCTION, http_seek_cb);
	HTTP_SETOPT(c, cc, CURLOPT_SEEKDATA, x);

	if (strcmp(req->method, "GET") == 0) {
		HTTP_SETOPT(c, cc, CURLOPT_HTTPGET, 1L);
	} else if (strcmp(req->method, "HEAD") == 0) {
		HTTP_SETOPT(c, cc, CURLOPT_NOBODY, 1L);
	} else if (strcmp(req->method, "POST") == 0) {
		HTTP_SETOPT(c, cc, CURLOPT_POST, 1L);
		HTTP_SETOPT(c, cc, CURLOPT_POSTFIELDSIZE_LARGE, size);
	} else if (strcmp(req->method, "PUT") == 0 || req->body) {
		/* PUT, or another method with a body: an upload of known size. */
		HTTP_SETOPT(c, cc, CURLOPT_UPLOAD, 1L);
		HTTP_SETOPT(c, cc, CURLOPT_INFILESIZE_LARGE, size);
		if (strcmp(req->method, "PUT") != 0)
			HTTP_SETOPT(c, cc, CURLOPT_CUSTOMREQUEST, req->method);
	} else {
		HTTP_SETOPT(c, cc, CURLOPT_CUSTOMREQUEST, req->method);
	}
	return cc;
}

/*
 * One attempt of req on c.  Returns 0 when a response was received (resp
 * holds it), or a negative errno with resp->err set.  *retry says whether
 * another attempt may help (transport failures only; the status policy is
 * the caller's).  *what gets a short description for the retry log line.
 */
static int http_attempt(struct objfs_http *h, CURL *c, const struct objfs_http_req *req,
			struct objfs_http_resp *resp, const char *where, bool *retry,
			char *what, size_t what_cap)
{
	struct curl_slist *hdrs = NULL, *l;
	struct http_xfer x = { .req = req, .resp = resp };
	char errbuf[CURL_ERROR_SIZE];
	curl_off_t up = 0, down = 0;
	CURLcode cc;
	int rc = 0;

	*retry = false;
	errbuf[0] = '\0';
	http_resp_reset(resp, &x);
	if (req->prepare) {
		rc = req->prepare(req->ctx, &hdrs);
		if (rc) {
			rc = rc < 0 ? rc : -EIO;
			snprintf(resp->err, sizeof(resp->err), "%s %s: preparing the request: %s",
				 req->method, where, strerror(-rc));
			snprintf(what, what_cap, "prepare failed");
			goto out;
		}
	}
	/* No "Expect: 100-continue" round trip and no form Content-Type for
	 * POST, unless the caller's list names them (it may have signed them,
	 * so its headers are never changed or removed). */
	for (int i = 0; i < 2; i++) {
		static const char *const names[] = { "expect", "content-type" };
		static const char *const blank[] = { "Expect:", "Content-Type:" };

		if (http_list_has(hdrs, names[i]) || (i == 1 && strcmp(req->method, "POST")))
			continue;
		l = curl_slist_append(hdrs, blank[i]);
		if (!l) {
			rc = -ENOMEM;
			snprintf(resp->err, sizeof(resp->err), "%s %s: out of memory",
				 req->method, where);
			snprintf(what, what_cap, "out of memory");
			goto out;
		}
		hdrs = l;
	}

	cc = http_setup(h, c, &x, hdrs, errbuf);
	if (cc == CURLE_OK)
		cc = curl_easy_perform(c);
	if (curl_easy_getinfo(c, CURLINFO_SIZE_UPLOAD_T, &up) == CURLE_OK && up > 0)
		stat_add(&h->n_bytes_up, (uint64_t)up);
	if (curl_easy_getinfo(c, CURLINFO_SIZE_DOWNLOAD_T, &down) == CURLE_OK && down > 0)
		stat_add(&h->n_bytes_down, (uint64_t)down);

	if (cc == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
		snprintf(what, what_cap, "HTTP %ld", resp->status);
		goto out;
	}
	if (x.cb_err) {
		/* Our own failure (body too large, unreadable segment, memory). */
		rc = x.cb_err;
		if (rc == -EMSGSIZE)
			snprintf(resp->err, sizeof(resp->err),
				 "%s %s: response body larger than %zu bytes", req->method, where,
				 req->out_buf ? req->out_cap
				 : req->max_body ? req->max_body : (size_t)HTTP_DEF_MAX_BODY);
		else
			snprintf(resp->err, sizeof(resp->err), "%s %s: %s", req->method, where,
				 strerror(-rc));
		snprintf(what, what_cap, "%s", strerror(-rc));
		goto out;
	}
	rc = http_curl_errno(c, cc, retry);
	snprintf(resp->err, sizeof(resp->err), "%s %s: %s", req->method, where,
		 errbuf[0] ? errbuf : curl_easy_strerror(cc));
	snprintf(what, what_cap, "%s", curl_easy_strerror(cc));

out:
	if (rc < 0) {
		http_resp_reset(resp, &x);
		if (rc == -EMSGSIZE)
			resp->status = x.cur_status;   /* the response was there, too big */
	}
	/* Drops every option, including pointers to x, errbuf and hdrs. */
	curl_easy_reset(c);
	curl_slist_free_all(hdrs);
	return rc;
}

/* Milliseconds of a "Retry-After: <delta-seconds>" header, or -1. */
static long http_retry_after_ms(const struct objfs_http_resp *resp, unsigned cap_ms)
{
	const char *v = objfs_http_resp_header(resp, "retry-after");
	unsigned long s = 0;

	if (!v || !*v)
		return -1;
	for (const char *p = v; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;       /* an HTTP-date: not honoured */
		if (s < 1000000)
			s = s * 10 + (unsigned long)(*p - '0');
	}
	return s * 1000 > cap_ms ? (long)cap_ms : (long)(s * 1000);
}

static int http_check_req(const struct objfs_http_req *req)
{
	if (!req || !req->method || !req->url || !req->method[0])
		return -EINVAL;
	if (req->out_buf == NULL && req->out_cap)
		return -EINVAL;
	if (req->body && (strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0))
		return -EINVAL;
	return http_source_check(req->body);
}

int objfs_http_do(struct objfs_http *h, const struct objfs_http_req *req,
		  struct objfs_http_resp *resp)
{
	char where[HTTP_WHERE_MAX], what[64];
	unsigned max_attempts;
	CURL *c = NULL;
	bool retry = false;
	int rc;

	if (!resp)
		return -EINVAL;
	objfs_http_resp_clear(resp);
	rc = h ? http_check_req(req) : -EINVAL;
	if (rc) {
		snprintf(resp->err, sizeof(resp->err), "http: invalid request");
		goto out;
	}
	http_where(req->url, where, sizeof(where));
	stat_add(&h->n_requests, 1);
	max_attempts = req->single_attempt ? 1 : h->conf.max_attempts;
	rc = http_acquire(h, &c);
	if (rc) {
		snprintf(resp->err, sizeof(resp->err), "%s %s: out of memory", req->method, where);
		goto out;
	}
	for (;;) {
		long delay_ms;

		resp->attempts++;
		stat_add(&h->n_attempts, 1);
		resp->err[0] = '\0';
		rc = http_attempt(h, c, req, resp, where, &retry, what, sizeof(what));
		/* status 0: no response (also set on -EMSGSIZE: the one that came) */
		objfs_metrics_http_response(h->label, resp->status);
		if (rc == 0) {
			const void *b = resp->body;
			size_t blen = resp->body_len;

			if (resp->status >= 200 && resp->status < 300 && req->out_buf) {
				b = req->out_buf;
				blen = resp->out_len;
			}
			if (req->retry_check)
				retry = req->retry_check(req->ctx, resp->status, b, blen) ==
					OBJFS_HTTP_RETRY;
			else
				retry = resp->status >= 500 || resp->status == 429;
		}
		if (!retry || resp->attempts >= max_attempts)
			break;
		delay_ms = -1;
		if (rc == 0 && (resp->status == 429 || resp->status == 503))
			delay_ms = http_retry_after_ms(resp, h->conf.backoff_max_ms);
		if (delay_ms < 0)
			delay_ms = http_backoff_ms(h, resp->attempts - 1);
		log_debug("http: %s %s: %s (attempt %u of %u), retrying in %ld ms",
			  req->method, where, what, resp->attempts, max_attempts, delay_ms);
		stat_add(&h->n_retries, 1);
		objfs_metrics_http_retry(h->label);
		http_sleep_ms((unsigned)delay_ms);
	}
	if (rc == 0 && retry)
		snprintf(resp->err, sizeof(resp->err), "%s %s: %s after %u attempt%s",
			 req->method, where, what, resp->attempts, resp->attempts == 1 ? "" : "s");
	if (rc < 0 || retry)
		stat_add(&h->n_failures, 1);
	http_release(h, c);
out:
	return rc;
}

/* ---- digests ------------------------------------------------------------------ */

int objfs_http_source_digests(const struct objfs_source *src, char md5_b64[25],
			      char sha256_hex[65])
{
	EVP_MD_CTX *md5 = NULL, *sha = NULL;
	unsigned char *blk = NULL, dm[EVP_MAX_MD_SIZE], ds[EVP_MAX_MD_SIZE];
	unsigned lm = 0, ls = 0;
	int rc = -ENOMEM;

	if (src && http_source_check(src)) {
		rc = -EINVAL;
		goto out;
	}
	md5 = EVP_MD_CTX_new();
	sha = EVP_MD_CTX_new();
	if (!md5 || !sha)
		goto out;
	rc = -EIO;
	if (!EVP_DigestInit_ex(md5, EVP_md5(), NULL) ||
	    !EVP_DigestInit_ex(sha, EVP_sha256(), NULL))
		goto out;
	for (size_t i = 0; src && i < src->nsegs; i++) {
		const struct objfs_seg *s = &src->segs[i];
		uint64_t done = 0;

		if (s->buf && s->fd < 0) {
			const unsigned char *p = s->buf;

			if (!EVP_DigestUpdate(md5, p, s->len) || !EVP_DigestUpdate(sha, p, s->len))
				goto out;
			continue;
		}
		if (!blk) {
			blk = malloc(HTTP_DIGEST_BLOCK);
			if (!blk) {
				rc = -ENOMEM;
				goto out;
			}
		}
		if (s->fd < 0)
			memset(blk, 0, HTTP_DIGEST_BLOCK);
		while (done < s->len) {
			size_t n = s->len - done < HTTP_DIGEST_BLOCK ? (size_t)(s->len - done)
				   : HTTP_DIGEST_BLOCK;

			if (s->fd >= 0) {
				ssize_t r = pread(s->fd, blk, n, (off_t)(s->off + done));

				if (r < 0 && errno == EINTR)
					continue;
				if (r <= 0) {
					/* r == 0: the file is shorter than its segment. */
					rc = r < 0 && errno ? -errno : -EIO;
					goto out;
				}
				n = (size_t)r;
			}
			if (!EVP_DigestUpdate(md5, blk, n) || !EVP_DigestUpdate(sha, blk, n)) {
				rc = -EIO;
				goto out;
			}
			done += n;
		}
	}
	if (!EVP_DigestFinal_ex(md5, dm, &lm) || !EVP_DigestFinal_ex(sha, ds, &ls) ||
	    lm != 16 || ls != 32) {
		rc = -EIO;
		goto out;
	}
	if (md5_b64)
		EVP_EncodeBlock((unsigned char *)md5_b64, dm, 16);   /* 24 chars + NUL */
	if (sha256_hex)
		for (unsigned i = 0; i < 32; i++)
			snprintf(sha256_hex + 2 * i, 3, "%02x", ds[i]);
	rc = 0;
out:
	free(blk);
	EVP_MD_CTX_free(md5);
	EVP_MD_CTX_free(sha);
	return rc;
}
