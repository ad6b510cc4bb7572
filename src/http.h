/*
 * HTTP client for the network providers (src/http.c): libcurl easy handles
 * kept in a pool so connections are reused, a bound on requests in flight,
 * timeouts, TCP keep-alive, and the one retry policy (exponential backoff
 * with full jitter for transport errors, 5xx and 429).
 *
 * A request is described once; before every attempt the client calls the
 * request's prepare callback for its headers, so signatures are made fresh
 * for each attempt (a retry after a long stall must not reuse a stale
 * x-amz-date).  Bodies come from a struct objfs_source (file segments, memory,
 * zeros) and are re-read from the start on each attempt, so every request is
 * safe to repeat as long as the operation itself is idempotent.
 *
 * Error contract: objfs_http_do returns 0 when a response was received (any
 * status: the caller interprets it, see objfs_http_status_errno), or a
 * negative errno when no usable response came after the last attempt:
 * -ECONNREFUSED / -EHOSTUNREACH (could not connect or resolve), -ETIMEDOUT
 * (connect or stall timeout), -EIO (reset, truncated body, other transport
 * failures), -EMSGSIZE (a body larger than the request allowed), -ENOMEM.
 * A message for the log is left in resp->err; it never contains header
 * values (which may carry signatures or tokens).
 */
#ifndef OBJFS_HTTP_H
#define OBJFS_HTTP_H

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>

#include "objfs/provider.h"

struct objfs_http;

struct objfs_http_conf {
	unsigned max_inflight;           /* requests in flight at once; 0: 64 */
	unsigned connect_timeout_ms;     /* 0: 10000 */
	unsigned stall_timeout_s;        /* abort a transfer that moves no byte for this long; 0: 30 */
	unsigned max_attempts;           /* attempts per request, including the first; 0: 5 */
	unsigned backoff_base_ms;        /* first backoff bound; 0: 100 */
	unsigned backoff_max_ms;         /* cap of a single backoff; 0: 5000 */
	const char *user_agent;          /* NULL: "objfs/VERSION" */
	/* Provider name for the metrics (objfs_http_requests_total and
	 * objfs_http_retries_total); copied.  NULL: not counted there. */
	const char *label;
};

/* Result of a retry check: what to do with a response. */
enum { OBJFS_HTTP_ACCEPT = 0, OBJFS_HTTP_RETRY = 1 };

struct objfs_http_req {
	const char *method;              /* "GET", "HEAD", "PUT", "POST", "DELETE" */
	const char *url;                 /* complete and already encoded */
	const struct objfs_source *body; /* NULL: no body (PUT/POST send Content-Length: 0) */
	/* Response body destination for 2xx answers: out_buf (exactly out_cap
	 * bytes at most; more is -EMSGSIZE) or, when out_buf is NULL, collected
	 * into resp->body up to max_body bytes (0: 16 MiB).  Non-2xx bodies are
	 * always collected into resp->body (bounded by 64 KiB) for the error. */
	void *out_buf;
	size_t out_cap;
	size_t max_body;
	int single_attempt;              /* 1: never retry (not idempotent) */
	/* Called before each attempt: set *headers to a new list (the client
	 * frees it after the attempt, also when prepare fails).  Nonzero return
	 * aborts the request with that (negative errno) value; a positive one
	 * becomes -EIO.  The client adds "Expect:" (no 100-continue round trip)
	 * and, for POST, "Content-Type:" (no form type) unless the list already
	 * names them; it never changes or removes the caller's headers. */
	int (*prepare)(void *ctx, struct curl_slist **headers);
	/* Optional: called on every received response; return OBJFS_HTTP_RETRY to
	 * retry it (e.g. S3's 200 with an <Error> body).  NULL: the default
	 * policy (5xx and 429 retried).  body is where that response's body went:
	 * req->out_buf (body_len = out_len) for a 2xx with an out_buf, else
	 * resp->body (may be NULL).  When no attempt is left, the response is
	 * returned as is (0, with resp->err saying it still wanted a retry). */
	int (*retry_check)(void *ctx, long status, const char *body, size_t body_len);
	void *ctx;
};

struct objfs_http_resp {
	long status;                     /* 0 when no response; on -EMSGSIZE the
					  * status of the oversized response */
	char *body;                      /* collected body, NUL-terminated; malloc'ed or NULL */
	size_t body_len;
	size_t out_len;                  /* bytes written into req->out_buf */
	struct objfs_kv *headers;        /* of the final response; names lower-cased,
					  * values trimmed; at most 128 (more dropped) */
	size_t nheaders;
	unsigned attempts;
	char err[OBJFS_ERR_MAX];
};

/* Value of response header name (lower-case), or NULL. */
const char *objfs_http_resp_header(const struct objfs_http_resp *r, const char *name);
/* Frees members and zeroes; accepts a zeroed struct. */
void objfs_http_resp_clear(struct objfs_http_resp *r);

/* New client (conf may be NULL for defaults); NULL on failure.  Calls
 * curl_global_init once per process.  Free with objfs_http_free (NULL ok);
 * no request may be in flight then. */
struct objfs_http *objfs_http_new(const struct objfs_http_conf *conf);
void objfs_http_free(struct objfs_http *h);

/* Performs req (blocking, thread-safe), retrying per the policy.  See the
 * error contract above.  resp is zeroed by the caller and cleared by it
 * (objfs_http_do frees what a previous call left in it first).  On a
 * negative return body and headers are freed, err says why.  -EINVAL for a
 * bad request (no method or URL, a body with GET/HEAD, segment lengths that
 * do not add up to size); a segment that cannot be read fails the request
 * with that errno (-EIO if the file is short), not retried. */
int objfs_http_do(struct objfs_http *h, const struct objfs_http_req *req,
		  struct objfs_http_resp *resp);

/* The errno of an HTTP status (the one place that maps them): 2xx 0,
 * 304 0, 400 -EINVAL, 401/403 -EACCES, 404 -ENOENT, 409 -EEXIST,
 * 412 -ESTALE, 416 -EINVAL, 429/5xx/other -EIO. */
int objfs_http_status_errno(long status);

/* Counters since objfs_http_new, for metrics.  failures: requests that
 * returned a negative errno or ended on a response still to be retried;
 * bytes: body bytes sent and received, over all attempts. */
struct objfs_http_stats {
	uint64_t requests, attempts, retries, failures;
	uint64_t bytes_up, bytes_down;
};
void objfs_http_get_stats(struct objfs_http *h, struct objfs_http_stats *out);

/* Base64 MD5 (24 characters) and lower-case hex SHA-256 of a source, in one
 * pass over its segments (for Content-MD5 and x-amz-content-sha256); src
 * NULL is the empty body.  Either output may be NULL.  0, -EINVAL (segment
 * lengths do not add up to size), or a negative errno from reading a
 * segment (-EIO when the file is shorter than its segment). */
int objfs_http_source_digests(const struct objfs_source *src, char md5_b64[25],
			      char sha256_hex[65]);

#endif
