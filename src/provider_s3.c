/*
 * The s3 provider: AWS S3 and S3-compatible stores over HTTP(S).
 *
 * Every operation goes through s3_call(): it builds the URL (path style
 * "endpoint/bucket/key" or virtual-host style "bucket.host/key"), and hands
 * the HTTP client (src/http.c) a prepare callback that signs the request
 * with SigV4 (src/sigv4.c) at the moment of each attempt, so retries carry a
 * fresh date.  Responses are interpreted in one place, s3_fail(): the XML
 * <Error> code when there is one (src/s3xml.c), else the HTTP status, is
 * turned into a negative errno with a message naming the operation, bucket
 * and key -- never a credential.
 *
 * Request paths are given raw ("/bucket/a key+%") to the signer, which
 * encodes them once (S3 rules); the URL uses the same encoding.  Bucket-level
 * requests use "/bucket" without a trailing slash (some stores canonicalise
 * "/bucket/" differently; AWS accepts both).
 *
 * Bodies are hashed before sending: Content-MD5 always (the store checks
 * every part and object against it), and the payload SHA-256 is signed on
 * plain HTTP; over HTTPS the payload is UNSIGNED-PAYLOAD (TLS protects it and
 * the MD5 still checks it), which saves a hash pass.
 *
 * Per-tenant storage defaults (SSE, storage class, canned ACL) are kept in a
 * small table keyed by (bucket, key prefix) behind a rwlock.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/crypto.h>

#include "objfs/provider.h"
#include "awscred.h"
#include "http.h"
#include "log.h"
#include "s3xml.h"
#include "sigv4.h"

#define S3_COPY_MAX      (5ull << 30)     /* CopyObject's limit: 5 GiB */
#define S3_COPY_PART     (512ull << 20)   /* part size of a multipart copy */
#define S3_SKEW_MAX_S    900              /* S3 refuses requests 15 min off */
#define S3_LIST_BODY_MAX (8u << 20)

struct s3_defaults {
	char *bucket;
	char *prefix;
	char *sse, *kms_key_id, *storage_class, *acl;
	char ssec_key_b64[48], ssec_md5_b64[32];  /* "" without SSE-C */
};

struct objfs_provider {
	char *scheme;              /* "http" or "https" */
	char *authority;           /* host[:port], default port dropped */
	char *base_path;           /* path of the endpoint ("" or "/x") */
	char *region;
	int path_style;
	int https;
	objfs_clock_fn clock;
	struct objfs_awscred cred;
	struct objfs_sigv4 sig;
	struct objfs_http *http;
	pthread_rwlock_t defs_lock;      /* protects defs */
	struct s3_defaults *defs;
	size_t ndefs;
};

/* One request, as the prepare callback signs it. */
struct s3_req {
	struct objfs_provider *p;
	const char *method;
	char *path;                      /* raw path, signed */
	const char *query;               /* encoded, NULL for none */
	struct objfs_sigv4_header *hdrs; /* names and values owned */
	size_t nhdrs, cap;
	int nomem;                       /* a header could not be added */
	const char *payload_hash;
	int xml_result;                  /* a 200 may carry an <Error>: retry it */
};

static time_t s3_now(const struct objfs_provider *p)
{
	return p->clock ? p->clock() : time(NULL);
}

/* ---- request building ---- */

/* Adds a header (name and value copied; the name must be lower-case).  A
 * failed allocation is remembered in r->nomem and fails the request. */
static void req_hdr(struct s3_req *r, const char *name, const char *value)
{
	struct objfs_sigv4_header *v;
	char *n = NULL, *val = NULL;

	if (!value)
		return;
	if (r->nhdrs == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		v = realloc(r->hdrs, cap * sizeof(*v));
		if (!v)
			goto fail;
		r->hdrs = v;
		r->cap = cap;
	}
	n = strdup(name);
	val = strdup(value);
	if (!n || !val)
		goto fail;
	r->hdrs[r->nhdrs].name = n;
	r->hdrs[r->nhdrs].value = val;
	r->nhdrs++;
	return;
fail:
	free(n);
	free(val);
	r->nomem = 1;
}

static void req_hdrf(struct s3_req *r, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void req_hdrf(struct s3_req *r, const char *name, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	req_hdr(r, name, buf);
}

static void req_free(struct s3_req *r)
{
	for (size_t i = 0; i < r->nhdrs; i++) {
		free((char *)r->hdrs[i].name);
		if (r->hdrs[i].value)
			OPENSSL_cleanse((char *)r->hdrs[i].value, strlen(r->hdrs[i].value));
		free((char *)r->hdrs[i].value);
	}
	free(r->hdrs);
	free(r->path);
	memset(r, 0, sizeof(*r));
}

/* The raw path of bucket/key: "/bucket/key" (path style), "/key" (virtual
 * host); bucket-level: "/bucket" or "/".  The endpoint's own path first. */
static char *s3_path(const struct objfs_provider *p, const char *bucket, const char *key)
{
	char *out = NULL;
	int n;

	if (!bucket)
		n = asprintf(&out, "%s/", p->base_path);
	else if (p->path_style)
		n = asprintf(&out, "%s/%s%s%s", p->base_path, bucket, key ? "/" : "", key ? key : "");
	else
		n = asprintf(&out, "%s/%s", p->base_path, key ? key : "");
	return n < 0 ? NULL : out;
}

/* "bucket.host" for virtual-host style, else the endpoint's authority. */
static char *s3_host(const struct objfs_provider *p, const char *bucket)
{
	char *out = NULL;

	if (!p->path_style && bucket) {
		if (asprintf(&out, "%s.%s", bucket, p->authority) < 0)
			return NULL;
		return out;
	}
	return strdup(p->authority);
}

/* The prepare callback: fresh x-amz-date and signature for each attempt. */
static int s3_prepare(void *ctx, struct curl_slist **out)
{
	struct s3_req *r = ctx;
	struct objfs_provider *p = r->p;
	struct objfs_sigv4_header *h;
	struct objfs_sigv4_request sr;
	struct objfs_sigv4_result res;
	struct curl_slist *list = NULL, *t;
	char date[17], line[4096];
	size_t n = 0;
	time_t now = s3_now(p);
	int rc;

	memset(&res, 0, sizeof(res));
	h = calloc(r->nhdrs + 3, sizeof(*h));
	if (!h)
		return -ENOMEM;
	objfs_sigv4_amz_date(now, date);
	h[n++] = (struct objfs_sigv4_header){ "x-amz-date", date };
	h[n++] = (struct objfs_sigv4_header){ "x-amz-content-sha256", r->payload_hash };
	if (p->cred.session_token)
		h[n++] = (struct objfs_sigv4_header){ "x-amz-security-token", p->cred.session_token };
	for (size_t i = 0; i < r->nhdrs; i++)
		h[n++] = r->hdrs[i];
	memset(&sr, 0, sizeof(sr));
	sr.method = r->method;
	sr.path = r->path;
	sr.query = r->query;
	sr.headers = h;
	sr.nheaders = n;
	sr.payload_hash = r->payload_hash;
	rc = objfs_sigv4_sign(&p->sig, &sr, now, &res);
	if (rc)
		goto out;
	for (size_t i = 0; i < n; i++) {
		snprintf(line, sizeof(line), "%s: %s", h[i].name, h[i].value);
		if (!(t = curl_slist_append(list, line)))
			goto nomem;
		list = t;
	}
	snprintf(line, sizeof(line), "Authorization: %s", res.authorization);
	if (!(t = curl_slist_append(list, line)))
		goto nomem;
	list = t;
	/* curl must not add headers of its own that change the meaning */
	if (!(t = curl_slist_append(list, "Expect:")))
		goto nomem;
	list = t;
	*out = list;
	list = NULL;
	goto out;
nomem:
	rc = -ENOMEM;
out:
	OPENSSL_cleanse(line, sizeof(line));
	curl_slist_free_all(list);
	objfs_sigv4_result_free(&res);
	free(h);
	return rc;
}

/* Complete, copy and part-copy results can be a 200 with an <Error> body
 * (the store failed after it started answering): retry those. */
static int s3_retry_check(void *ctx, long status, const char *body, size_t len)
{
	struct s3_req *r = ctx;
	char code[64], msg[256];

	/* 501 NotImplemented is an answer, not a hiccup */
	if (status == 429 || (status >= 500 && status != 501))
		return OBJFS_HTTP_RETRY;
	if (r->xml_result && status == 200 && body &&
	    s3xml_parse_error(body, len, code, msg) == 0)
		return OBJFS_HTTP_RETRY;
	return OBJFS_HTTP_ACCEPT;
}

/* The one place that turns a failed response into an errno and a message. */
static int s3_fail(const char *op, const char *bucket, const char *key,
		   const struct objfs_http_resp *resp, int rc, struct objfs_err *err)
{
	char code[64] = "", msg[256] = "";

	if (rc < 0) {
		/* no response: the store is unreachable or the transfer broke */
		int e = rc == -ENOMEM || rc == -EMSGSIZE ? rc : -EIO;
		return objfs_err_set(err, e, "s3 %s %s/%s: %s", op, bucket ? bucket : "",
				     key ? key : "", resp->err[0] ? resp->err : strerror(-rc));
	}
	if (resp->body && resp->body_len &&
	    s3xml_parse_error(resp->body, resp->body_len, code, msg) == 0)
		rc = s3xml_code_errno(code, objfs_http_status_errno(resp->status));
	else
		rc = objfs_http_status_errno(resp->status);
	if (rc == 0)
		rc = -EIO;
	return objfs_err_set(err, rc, "s3 %s %s/%s: HTTP %ld%s%s%s%s", op, bucket ? bucket : "",
			     key ? key : "", resp->status, code[0] ? " " : "", code,
			     msg[0] ? ": " : "", msg);
}

/*
 * Sends one request: r carries the method, path, query and extra headers
 * (the host header is added here); hr carries the body, the response target
 * and the attempt policy, and gets the URL and the signing callback.
 * Returns objfs_http_do's result (or -ENOMEM); the caller reads resp.
 */
static int s3_send(struct objfs_provider *p, const char *bucket, struct s3_req *r,
		   struct objfs_http_req *hr, struct objfs_http_resp *resp)
{
	char *enc = NULL, *url = NULL, *host = NULL;
	int rc = -ENOMEM;

	r->p = p;
	if (!r->payload_hash)
		r->payload_hash = OBJFS_SIGV4_EMPTY_SHA256;
	host = s3_host(p, bucket);
	enc = r->path ? objfs_sigv4_encode_path(r->path) : NULL;
	if (!host || !enc)
		goto out;
	req_hdr(r, "host", host);
	if (r->nomem || asprintf(&url, "%s://%s%s%s%s", p->scheme, host, enc,
				 r->query && r->query[0] ? "?" : "",
				 r->query ? r->query : "") < 0) {
		url = NULL;
		goto out;
	}
	hr->method = r->method;
	hr->url = url;
	hr->prepare = s3_prepare;
	hr->retry_check = s3_retry_check;
	hr->ctx = r;
	rc = objfs_http_do(p->http, hr, resp);
out:
	free(enc);
	free(url);
	free(host);
	return rc;
}

/*
 * Performs one request (see s3_send), retried per the HTTP client's policy.
 * Returns 0 for a 2xx response (resp filled, the caller clears it), else a
 * negative errno with err set (resp cleared).
 */
static int s3_call(struct objfs_provider *p, const char *op, const char *bucket,
		   const char *key, struct s3_req *r, const struct objfs_source *body,
		   void *out_buf, size_t out_cap, size_t max_body,
		   struct objfs_http_resp *resp, struct objfs_err *err)
{
	struct objfs_http_req hr;
	int rc;

	memset(&hr, 0, sizeof(hr));
	hr.body = body;
	hr.out_buf = out_buf;
	hr.out_cap = out_cap;
	hr.max_body = max_body;
	rc = s3_send(p, bucket, r, &hr, resp);
	if (rc == -ENOMEM)
		return objfs_err_set(err, -ENOMEM, "out of memory");
	if (rc == 0 && resp->status >= 200 && resp->status < 300)
		return 0;
	rc = s3_fail(op, bucket, key, resp, rc, err);
	objfs_http_resp_clear(resp);
	return rc;
}

static void etag_from(const char *v, char *etag)
{
	size_t n;

	etag[0] = '\0';
	if (!v)
		return;
	if (*v == '"')
		v++;
	n = strlen(v);
	if (n && v[n - 1] == '"')
		n--;
	if (n >= OBJFS_ETAG_MAX)
		n = OBJFS_ETAG_MAX - 1;
	memcpy(etag, v, n);
	etag[n] = '\0';
}

/* ---- storage defaults ---- */

static void defs_entry_free(struct s3_defaults *d)
{
	free(d->bucket);
	free(d->prefix);
	free(d->sse);
	free(d->kms_key_id);
	free(d->storage_class);
	free(d->acl);
	OPENSSL_cleanse(d->ssec_key_b64, sizeof(d->ssec_key_b64));
}

/* The defaults for bucket/key (longest prefix); defs_lock held for reading. */
static const struct s3_defaults *defs_find(const struct objfs_provider *p, const char *bucket,
					   const char *key)
{
	const struct s3_defaults *best = NULL;

	for (size_t i = 0; i < p->ndefs; i++) {
		const struct s3_defaults *d = &p->defs[i];
		if (strcmp(d->bucket, bucket) || strncmp(key ? key : "", d->prefix, strlen(d->prefix)))
			continue;
		if (!best || strlen(d->prefix) > strlen(best->prefix))
			best = d;
	}
	return best;
}

enum { DEF_WRITE = 1, DEF_READ = 2, DEF_COPY_SRC = 4 };

/* Adds the headers the defaults of bucket/key ask for: on object creation
 * (DEF_WRITE) SSE, storage class and ACL; SSE-C keys on every access
 * (DEF_READ, DEF_WRITE) and for the source of a copy (DEF_COPY_SRC). */
static void defs_apply(struct objfs_provider *p, struct s3_req *r, const char *bucket,
		       const char *key, unsigned what)
{
	const struct s3_defaults *d;

	pthread_rwlock_rdlock(&p->defs_lock);
	d = defs_find(p, bucket, key);
	if (!d)
		goto out;
	if (d->ssec_key_b64[0]) {
		if (what & (DEF_READ | DEF_WRITE)) {
			req_hdr(r, "x-amz-server-side-encryption-customer-algorithm", "AES256");
			req_hdr(r, "x-amz-server-side-encryption-customer-key", d->ssec_key_b64);
			req_hdr(r, "x-amz-server-side-encryption-customer-key-md5", d->ssec_md5_b64);
		}
		if (what & DEF_COPY_SRC) {
			req_hdr(r, "x-amz-copy-source-server-side-encryption-customer-algorithm", "AES256");
			req_hdr(r, "x-amz-copy-source-server-side-encryption-customer-key", d->ssec_key_b64);
			req_hdr(r, "x-amz-copy-source-server-side-encryption-customer-key-md5", d->ssec_md5_b64);
		}
	}
	if (!(what & DEF_WRITE) || (what & DEF_COPY_SRC))
		goto out;
	if (d->sse) {
		req_hdr(r, "x-amz-server-side-encryption", d->sse);
		if (d->kms_key_id)
			req_hdr(r, "x-amz-server-side-encryption-aws-kms-key-id", d->kms_key_id);
	}
	if (d->storage_class)
		req_hdr(r, "x-amz-storage-class", d->storage_class);
	if (d->acl)
		req_hdr(r, "x-amz-acl", d->acl);
out:
	pthread_rwlock_unlock(&p->defs_lock);
}

static int s3_set_defaults(struct objfs_provider *p, const char *bucket, const char *prefix,
			   const struct objfs_store_defaults *in, struct objfs_err *err)
{
	struct s3_defaults d, *v;
	int rc = 0;

	memset(&d, 0, sizeof(d));
	d.bucket = strdup(bucket);
	d.prefix = strdup(prefix ? prefix : "");
	if (!d.bucket || !d.prefix)
		goto nomem;
	if (in->sse && !strcmp(in->sse, "customer")) {
		unsigned char md5[16];
		unsigned int mlen = 0;

		if (!in->sse_c_key) {
			rc = objfs_err_set(err, -EINVAL, "sse = customer needs a key");
			goto out;
		}
		EVP_EncodeBlock((unsigned char *)d.ssec_key_b64, in->sse_c_key, 32);
		EVP_Digest(in->sse_c_key, 32, md5, &mlen, EVP_md5(), NULL);
		EVP_EncodeBlock((unsigned char *)d.ssec_md5_b64, md5, 16);
	} else if (in->sse && !(d.sse = strdup(in->sse))) {
		goto nomem;
	}
	if ((in->sse_kms_key_id && !(d.kms_key_id = strdup(in->sse_kms_key_id))) ||
	    (in->storage_class && !(d.storage_class = strdup(in->storage_class))) ||
	    (in->acl && !(d.acl = strdup(in->acl))))
		goto nomem;
	pthread_rwlock_wrlock(&p->defs_lock);
	for (size_t i = 0; i < p->ndefs; i++) {
		if (!strcmp(p->defs[i].bucket, d.bucket) && !strcmp(p->defs[i].prefix, d.prefix)) {
			defs_entry_free(&p->defs[i]);
			p->defs[i] = d;
			pthread_rwlock_unlock(&p->defs_lock);
			return 0;
		}
	}
	v = realloc(p->defs, (p->ndefs + 1) * sizeof(*v));
	if (v) {
		p->defs = v;
		p->defs[p->ndefs++] = d;
	}
	pthread_rwlock_unlock(&p->defs_lock);
	if (v)
		return 0;
nomem:
	rc = objfs_err_set(err, -ENOMEM, "out of memory");
out:
	defs_entry_free(&d);
	return rc;
}

/* ---- open / close ---- */

static void s3_close(struct objfs_provider *p)
{
	if (!p)
		return;
	objfs_http_free(p->http);
	objfs_sigv4_destroy(&p->sig);
	objfs_awscred_clear(&p->cred);
	for (size_t i = 0; i < p->ndefs; i++)
		defs_entry_free(&p->defs[i]);
	free(p->defs);
	pthread_rwlock_destroy(&p->defs_lock);
	free(p->scheme);
	free(p->authority);
	free(p->base_path);
	free(p->region);
	free(p);
}

/* Splits "scheme://host[:port][/path]" into p's fields. */
static int s3_parse_endpoint(struct objfs_provider *p, const char *ep, struct objfs_err *err)
{
	const char *h, *slash;
	size_t hl, pl;

	if (!strncmp(ep, "https://", 8)) {
		p->https = 1;
		h = ep + 8;
	} else if (!strncmp(ep, "http://", 7)) {
		h = ep + 7;
	} else {
		return objfs_err_set(err, -EINVAL, "endpoint %s: must start with http:// or https://", ep);
	}
	slash = strchr(h, '/');
	hl = slash ? (size_t)(slash - h) : strlen(h);
	if (!hl || memchr(h, '?', hl) || memchr(h, '@', hl))
		return objfs_err_set(err, -EINVAL, "endpoint %s: no host, or a query or user part", ep);
	/* the Host header carries no default port */
	if (p->https && hl > 4 && !memcmp(h + hl - 4, ":443", 4))
		hl -= 4;
	else if (!p->https && hl > 3 && !memcmp(h + hl - 3, ":80", 3))
		hl -= 3;
	pl = slash ? strlen(slash) : 0;
	while (pl && slash[pl - 1] == '/')
		pl--;
	p->scheme = strdup(p->https ? "https" : "http");
	p->authority = strndup(h, hl);
	p->base_path = strndup(slash ? slash : "", pl);
	for (char *c = p->authority; c && *c; c++)
		*c = (char)tolower((unsigned char)*c);
	if (!p->scheme || !p->authority || !p->base_path)
		return objfs_err_set(err, -ENOMEM, "out of memory");
	return 0;
}

static int s3_open(const struct objfs_provider_conf *conf, struct objfs_provider **out,
		   struct objfs_err *err)
{
	struct objfs_provider *p;
	struct objfs_http_conf hc;
	char ep[512], cerr[256];
	int rc;

	*out = NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return objfs_err_set(err, -ENOMEM, "out of memory");
	pthread_rwlock_init(&p->defs_lock, NULL);
	p->clock = conf->clock;
	p->path_style = conf->path_style;
	p->region = strdup(conf->region && conf->region[0] ? conf->region : "us-east-1");
	if (!p->region) {
		rc = objfs_err_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	if (conf->endpoint && conf->endpoint[0])
		snprintf(ep, sizeof(ep), "%s", conf->endpoint);
	else
		snprintf(ep, sizeof(ep), "https://s3.%s.amazonaws.com", p->region);
	rc = s3_parse_endpoint(p, ep, err);
	if (rc)
		goto fail;
	rc = objfs_awscred_load(conf->credentials, &p->cred, cerr, sizeof(cerr));
	if (rc) {
		rc = objfs_err_set(err, rc, "provider %s: %s", conf->name ? conf->name : "s3", cerr);
		goto fail;
	}
	objfs_sigv4_init(&p->sig,
			 &(struct objfs_sigv4_creds){ p->cred.access_key, p->cred.secret_key,
						      p->cred.session_token },
			 p->region, "s3", 1);
	memset(&hc, 0, sizeof(hc));
	hc.label = conf->name ? conf->name : "s3";   /* the metrics' provider label */
	p->http = objfs_http_new(&hc);
	if (!p->http) {
		rc = objfs_err_set(err, -ENOMEM, "provider %s: cannot create the HTTP client",
				   conf->name ? conf->name : "s3");
		goto fail;
	}
	log_info("s3 provider %s: %s://%s%s region %s, %s style, credentials from %s",
		 conf->name ? conf->name : "s3", p->scheme, p->authority, p->base_path, p->region,
		 p->path_style ? "path" : "virtual-host", p->cred.source);
	*out = p;
	return 0;
fail:
	s3_close(p);
	return rc;
}

/* ---- objects ---- */

static int64_t http_date_ns(const char *v)
{
	time_t t;

	if (!v)
		return 0;
	t = curl_getdate(v, NULL);
	return t < 0 ? 0 : (int64_t)t * 1000000000;
}

/* Object info from HEAD/GET response headers. */
static int info_from_headers(const struct objfs_http_resp *resp, const char *key,
			     struct objfs_objinfo *out)
{
	const char *v;
	struct objfs_kv *meta = NULL;
	size_t nmeta = 0;
	int rc = -ENOMEM;

	memset(out, 0, sizeof(*out));
	if (!(out->key = strdup(key)))
		goto out;
	v = objfs_http_resp_header(resp, "content-length");
	out->size = v ? strtoull(v, NULL, 10) : 0;
	etag_from(objfs_http_resp_header(resp, "etag"), out->etag);
	out->mtime_ns = http_date_ns(objfs_http_resp_header(resp, "last-modified"));
	meta = calloc(resp->nheaders ? resp->nheaders : 1, sizeof(*meta));
	if (!meta)
		goto out;
	for (size_t i = 0; i < resp->nheaders; i++) {
		const char *n = resp->headers[i].key;
		if (strncmp(n, "x-amz-meta-", 11) || !n[11])
			continue;
		meta[nmeta].key = (char *)n + 11;
		meta[nmeta].value = resp->headers[i].value;
		nmeta++;
	}
	rc = objfs_objinfo_set_meta(out, objfs_http_resp_header(resp, "content-type"), meta, nmeta);
out:
	free(meta);
	if (rc)
		objfs_objinfo_clear(out);
	return rc;
}

static int s3_head(struct objfs_provider *p, const char *bucket, const char *key,
		   struct objfs_objinfo *out, struct objfs_err *err)
{
	struct objfs_http_resp resp;
	struct s3_req r;
	int rc;

	memset(&resp, 0, sizeof(resp));
	memset(&r, 0, sizeof(r));
	r.method = "HEAD";
	r.path = s3_path(p, bucket, key);
	defs_apply(p, &r, bucket, key, DEF_READ);
	rc = s3_call(p, "head", bucket, key, &r, NULL, NULL, 0, 0, &resp, err);
	if (rc == 0 && (rc = info_from_headers(&resp, key, out)))
		objfs_err_set(err, rc, "out of memory");
	objfs_http_resp_clear(&resp);
	req_free(&r);
	return rc;
}

static int s3_get(struct objfs_provider *p, const char *bucket, const char *key,
		  uint64_t off, uint64_t len, const char *if_match, void *buf,
		  uint64_t *got, struct objfs_err *err)
{
	struct objfs_http_resp resp;
	struct s3_req r;
	char etag[OBJFS_ETAG_MAX];
	int rc;

	*got = 0;
	if (len == 0)
		return 0;
	memset(&resp, 0, sizeof(resp));
	memset(&r, 0, sizeof(r));
	r.method = "GET";
	r.path = s3_path(p, bucket, key);
	req_hdrf(&r, "range", "bytes=%llu-%llu", (unsigned long long)off,
		 (unsigned long long)(off + len - 1));
	if (if_match)
		req_hdrf(&r, "if-match", "\"%s\"", if_match);
	defs_apply(p, &r, bucket, key, DEF_READ);
	rc = s3_call(p, "get", bucket, key, &r, NULL, buf, len, 0, &resp, err);
	if (rc == -EMSGSIZE) {
		/* a 200 with the whole object where a range was asked for */
		rc = objfs_err_set(err, -EIO, "s3 get %s/%s: the store ignored the range", bucket, key);
		goto out;
	}
	if (rc == -EINVAL && strstr(err->msg, "InvalidRange")) {
		/* reading at or past the end (or an empty object) */
		rc = 0;
		goto out;
	}
	if (rc)
		goto out;
	if (resp.status == 200 && off != 0) {
		rc = objfs_err_set(err, -EIO, "s3 get %s/%s: the store ignored the range", bucket, key);
		goto out;
	}
	/* stores that ignore If-Match on GET still name the version they sent */
	etag_from(objfs_http_resp_header(&resp, "etag"), etag);
	if (if_match && etag[0] && strcmp(etag, if_match)) {
		rc = objfs_err_set(err, -ESTALE, "s3 get %s/%s: object changed (ETag %s, expected %s)",
				   bucket, key, etag, if_match);
		goto out;
	}
	*got = resp.out_len;
out:
	objfs_http_resp_clear(&resp);
	req_free(&r);
	return rc;
}

/* Content-MD5 (and, on plain HTTP, the signed payload hash) of a body. */
static int body_hashes(struct objfs_provider *p, const struct objfs_source *src,
		       struct s3_req *r, char sha[65], struct objfs_err *err)
{
	char md5[25];
	int rc;

	rc = objfs_http_source_digests(src, md5, p->https ? NULL : sha);
	if (rc)
		return objfs_err_set(err, rc, "reading the data to upload: %s", strerror(-rc));
	req_hdr(r, "content-md5", md5);
	r->payload_hash = p->https ? OBJFS_SIGV4_UNSIGNED : sha;
	return 0;
}

/* Headers of an object-creating request from opts: type and metadata.
 * The conditions are the caller's (they differ between put and copy). */
static void put_headers(struct s3_req *r, const struct objfs_putopts *opts)
{
	char name[300];

	req_hdr(r, "content-type", opts && opts->content_type ? opts->content_type
							       : "application/octet-stream");
	for (size_t i = 0; opts && i < opts->nmeta; i++) {
		snprintf(name, sizeof(name), "x-amz-meta-%s", opts->meta[i].key);
		for (char *c = name; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		req_hdr(r, name, opts->meta[i].value);
	}
}

static int s3_put(struct objfs_provider *p, const char *bucket, const char *key,
		  const struct objfs_source *src, const struct objfs_putopts *opts,
		  char *etag_out, struct objfs_err *err)
{
	struct objfs_http_resp resp;
	struct s3_req r;
	char sha[65];
	int rc;

	memset(&resp, 0, sizeof(resp));
	memset(&r, 0, sizeof(r));
	r.method = "PUT";
	r.path = s3_path(p, bucket, key);
	rc = body_hashes(p, src, &r, sha, err);
	if (rc)
		goto out;
	put_headers(&r, opts);
	if (opts && opts->if_match)
		req_hdrf(&r, "if-match", "\"%s\"", opts->if_match);
	if (opts && opts->if_none_match)
		req_hdr(&r, "if-none-match", "*");
	defs_apply(p, &r, bucket, key, DEF_WRITE);
	rc = s3_call(p, "put", bucket, key, &r, src, NULL, 0, 0, &resp, err);
	if (rc == -ESTALE && opts && opts->if_none_match)
		rc = objfs_err_set(err, -EEXIST, "s3 put %s/%s: the object exists", bucket, key);
	if (rc == 0 && etag_out)
		etag_from(objfs_http_resp_header(&resp, "etag"), etag_out);
out:
	objfs_http_resp_clear(&resp);
	req_free(&r);
	return rc;
}

/* Appends "&name=value" (value URI-encoded) to a query being built. */
static int q_add(char **q, const char *name, const char *value)
{
	char *enc = NULL, *n = NULL;
	int rc = -ENOMEM;

	if (value && !(enc = objfs_sigv4_uri_encode(value, strlen(value), 0)))
		goto out;
	if (asprintf(&n, "%s%s%s%s%s", *q ? *q : "", *q && **q ? "&" : "", name,
		     value ? "=" : "", enc ? enc : "") < 0)
		goto out;
	free(*q);
	*q = n;
	rc = 0;
out:
	free(enc);
	return rc;
}

static int s3_list(struct objfs_provider *p, const char *bucket, const char *prefix,
		   const char *delimiter, const char *token, unsigned max_keys,
		   struct objfs_listing *out, struct objfs_err *err)
{
	struct objfs_http_resp resp;
	struct s3_req r;
	char *q = NULL, mk[16];
	int rc;

	memset(&resp, 0, sizeof(resp));
	memset(&r, 0, sizeof(r));
	memset(out, 0, sizeof(*out));
	if (max_keys == 0 || max_keys > OBJFS_LIST_MAX_KEYS)
		max_keys = OBJFS_LIST_MAX_KEYS;
	snprintf(mk, sizeof(mk), "%u", max_keys);
	/* parameters in canonical (byte) order; encoding-type=url keeps keys
	 * with characters XML cannot carry intact (stores that ignore it send
	 * no EncodingType element, and then nothing is decoded) */
	if ((token && q_add(&q, "continuation-token", token)) ||
	    (delimiter && q_add(&q, "delimiter", delimiter)) ||
	    q_add(&q, "encoding-type", "url") || q_add(&q, "list-type", "2") ||
	    q_add(&q, "max-keys", mk) ||
	    (prefix && prefix[0] && q_add(&q, "prefix", prefix))) {
		rc = objfs_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	/* an answer that does not parse is asked for again (twice): a proxy or
	 * a store hiccup, not a reason to fail a readdir; a listing that is
	 * wrong is never returned */
	for (int attempt = 0; attempt < 3; attempt++) {
		int parse_rc = 0;

		memset(&r, 0, sizeof(r));
		r.method = "GET";
		r.path = s3_path(p, bucket, NULL);
		r.query = q;
		rc = s3_call(p, "list", bucket, prefix, &r, NULL, NULL, 0, S3_LIST_BODY_MAX,
			     &resp, err);
		if (rc == 0)
			parse_rc = rc = s3xml_parse_list(resp.body, resp.body_len, out, err);
		objfs_http_resp_clear(&resp);
		req_free(&r);
		if (!parse_rc)
			break;    /* a listing, or a failure the HTTP layer already retried */
		log_warn("s3 list %s/%s: unusable answer (%s)%s", bucket, prefix ? prefix : "",
			 err->msg, attempt < 2 ? ", asking again" : "");
	}
out:
	objfs_http_resp_clear(&resp);
	req_free(&r);
	free(q);
	return rc;
}

static int s3_del(struct objfs_provider *p, const char *bucket, const char *key,
		  struct objfs_err *err)
{
	struct objfs_http_resp resp;
	struct s3_req r;
	int rc;

	memset(&resp, 0, sizeof(resp));
	memset(&r, 0, sizeof(r));
	r.method = "DELETE";
	r.path = s3_path(p, bucket, key);
	rc = s3_call(p, "delete", bucket, key, &r, NULL, NULL, 0, 0, &resp, err);
	if (rc == -ENOENT && !strstr(err->msg, "NoSuchBucket"))
		rc = 0;    /* deleting a missing key succeeds */
	objfs_http_resp_clear(&resp);
	req_free(&r);
	return rc;
}

static int s3_del_batch(struct objfs_provider *p, const char *bucket,
			const char *const *keys, size_t nkeys, int *results,
			struct objfs_err *err)
{
	struct objfs_http_resp resp;
	struct s3_req r;
	struct objfs_seg seg;
	struct objfs_source src;
	char *body = NULL, sha[65];
	size_t blen = 0;
	int rc;

	memset(&resp, 0, sizeof(resp));
	memset(&r, 0, sizeof(r));
	if (nkeys == 0)
		return 0;
	if (nkeys > 1000)
		return objfs_err_set(err, -EINVAL, "s3 delete: %zu keys (at most 1000)", nkeys);
	rc = s3xml_build_delete(keys, nkeys, &body, &blen);
	if (rc) {
		objfs_err_set(err, rc, "s3 delete %s: cannot express a key in XML", bucket);
		goto out;
	}
	seg = (struct objfs_seg){ .fd = -1, .buf = body, .off = 0, .len = blen };
	src = (struct objfs_source){ &seg, 1, blen };
	r.method = "POST";
	r.path = s3_path(p, bucket, NULL);
	r.query = "delete";
	req_hdr(&r, "content-type", "application/xml");
	rc = body_hashes(p, &src, &r, sha, err);
	if (rc)
		goto out;
	rc = s3_call(p, "delete-objects", bucket, NULL, &r, &src, NULL, 0, 0, &resp, err);
	if (rc == 0)
		rc = s3xml_parse_delete(resp.body, resp.body_len, keys, nkeys, results, err);
out:
	objfs_http_resp_clear(&resp);
	req_free(&r);
	free(body);
	return rc;
}

/* The x-amz-copy-source value: "/bucket/key", key URI-encoded. */
static char *copy_source(const char *bucket, const char *key)
{
	char *enc = objfs_sigv4_uri_encode(key, strlen(key), 1), *out = NULL;

	if (enc && asprintf(&out, "/%s/%s", bucket, enc) < 0)
		out = NULL;
	free(enc);
	return out;
}

static int s3_mpu_create(struct objfs_provider *p, const char *bucket, const char *key,
			 const struct objfs_putopts *opts, char **upload_id,
			 struct objfs_err *err);
static int s3_mpu_upload_part_copy(struct objfs_provider *p, const char *bucket,
				   const char *key, const char *upload_id, int part_number,
				   const char *src_key, const char *src_if_match, uint64_t off,
				   uint64_t len, char *etag_out, struct objfs_err *err);
static int s3_mpu_complete(struct objfs_provider *p, const char *bucket, const char *key,
			   const char *upload_id, const struct objfs_part *parts, size_t nparts,
			   char *etag_out, struct objfs_err *err);
/* 405/501 from a store that has no such operation: -ENOSYS, not a failure. */
static int not_supported(int rc, const char *what, struct objfs_err *err)
{
	if ((rc == -EIO || rc == -EINVAL) &&
	    (strstr(err->msg, "HTTP 405") || strstr(err->msg, "HTTP 501") ||
	     strstr(err->msg, "NotImplemented") || strstr(err->msg, "MethodNotAllowed")))
		return objfs_err_set(err, -ENOSYS, "the store does not support %s", what);
	return rc;
}

static int s3_mpu_abort(struct objfs_provider *p, const char *bucket, const char *key,
			const char *upload_id, struct objfs_err *err);

/* A copy of an object over CopyObject's 5 GiB limit: multipart with
 * UploadPartCopy, parts of S3_COPY_PART.  Metadata from opts, or the
 * source's (src, from a head) when opts is NULL. */
static int copy_multipart(struct objfs_provider *p, const char *bucket, const char *src_key,
			  const char *dst_key, const struct objfs_objinfo *src,
			  const struct objfs_putopts *opts, char *etag_out, struct objfs_err *err)
{
	struct objfs_putopts o;
	struct objfs_part *parts = NULL;
	char *id = NULL;
	size_t n = (size_t)((src->size + S3_COPY_PART - 1) / S3_COPY_PART);
	int rc;

	if (opts) {
		o = *opts;
	} else {
		memset(&o, 0, sizeof(o));
		o.content_type = src->content_type;
		o.meta = src->meta;
		o.nmeta = src->nmeta;
	}
	o.if_match = NULL;
	o.if_none_match = 0;
	parts = calloc(n, sizeof(*parts));
	if (!parts)
		return objfs_err_set(err, -ENOMEM, "out of memory");
	rc = s3_mpu_create(p, bucket, dst_key, &o, &id, err);
	if (rc)
		goto out;
	for (size_t i = 0; i < n && rc == 0; i++) {
		uint64_t off = (uint64_t)i * S3_COPY_PART;
		uint64_t len = src->size - off < S3_COPY_PART ? src->size - off : S3_COPY_PART;

		parts[i].number = (int)i + 1;
		parts[i].size = len;
		rc = s3_mpu_upload_part_copy(p, bucket, dst_key, id, (int)i + 1, src_key,
					     src->etag, off, len, parts[i].etag, err);
	}
	if (rc == 0)
		rc = s3_mpu_complete(p, bucket, dst_key, id, parts, n, etag_out, err);
	if (rc) {
		struct objfs_err e2;
		s3_mpu_abort(p, bucket, dst_key, id, &e2);
	}
out:
	free(id);
	free(parts);
	return rc;
}

static int s3_copy(struct objfs_provider *p, const char *bucket, const char *src_key,
		   const char *dst_key, const struct objfs_putopts *opts,
		   char *etag_out, struct objfs_err *err)
{
	struct objfs_http_resp resp;
	struct objfs_objinfo info;
	struct s3_req r;
	char *cs = NULL, etag[OBJFS_ETAG_MAX];
	int rc;

	memset(&resp, 0, sizeof(resp));
	memset(&r, 0, sizeof(r));
	memset(&info, 0, sizeof(info));
	/* the size decides between CopyObject and a multipart copy */
	rc = s3_head(p, bucket, src_key, &info, err);
	if (rc)
		goto out;
	if (opts && opts->if_match && strcmp(opts->if_match, info.etag)) {
		rc = objfs_err_set(err, -ESTALE, "s3 copy %s/%s: source changed", bucket, src_key);
		goto out;
	}
	if (info.size > S3_COPY_MAX) {
		rc = copy_multipart(p, bucket, src_key, dst_key, &info, opts, etag_out, err);
		goto out;
	}
	cs = copy_source(bucket, src_key);
	if (!cs) {
		rc = objfs_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	r.method = "PUT";
	r.path = s3_path(p, bucket, dst_key);
	r.xml_result = 1;
	req_hdr(&r, "x-amz-copy-source", cs);
	req_hdrf(&r, "x-amz-copy-source-if-match", "\"%s\"",
		 opts && opts->if_match ? opts->if_match : info.etag);
	if (opts) {
		put_headers(&r, opts);
		req_hdr(&r, "x-amz-metadata-directive", "REPLACE");
	} else {
		req_hdr(&r, "x-amz-metadata-directive", "COPY");
	}
	defs_apply(p, &r, bucket, dst_key, DEF_WRITE);
	defs_apply(p, &r, bucket, src_key, DEF_COPY_SRC);
	rc = s3_call(p, "copy", bucket, dst_key, &r, NULL, NULL, 0, 0, &resp, err);
	if (rc == 0) {
		rc = s3xml_parse_etag_result(resp.body, resp.body_len, etag, err);
		if (rc == -EAGAIN)
			rc = -EIO;
		if (rc == 0 && etag_out)
			snprintf(etag_out, OBJFS_ETAG_MAX, "%s", etag);
	}
out:
	objfs_objinfo_clear(&info);
	objfs_http_resp_clear(&resp);
	req_free(&r);
	free(cs);
	return rc;
}

/* ---- multipart ---- */

static char *upload_query(const char *upload_id, int part_number)
{
	char *q = NULL, num[16];

	if (part_number > 0) {
		snprintf(num, sizeof(num), "%d", part_number);
		if (q_add(&q, "partNumber", num))
			goto fail;
	}
	if (q_add(&q, "uploadId", upload_id))
		goto fail;
	return q;
fail:
	free(q);
	return NULL;
}

static int s3_mpu_create(struct objfs_provider *p, const char *bucket, const char *key,
			 const struct objfs_putopts *opts, char **upload_id,
			 struct objfs_err *err)
{
	struct objfs_http_resp resp;
	struct s3_req r;
	int rc;

	memset(&resp, 0, sizeof(resp));
	memset(&r, 0, sizeof(r));
	*upload_id = NULL;
	r.method = "POST";
	r.path = s3_path(p, bucket, key);
	r.query = "uploads";
	put_headers(&r, opts);
	defs_apply(p, &r, bucket, key, DEF_WRITE);
	rc = s3_call(p, "create-multipart", bucket, key, &r, NULL, NULL, 0, 0, &resp, err);
	if (rc == 0)
		rc = s3xml_parse_initiate(resp.body, resp.body_len, upload_id, err);
	objfs_http_resp_clear(&resp);
	req_free(&r);
	return rc;
}

static int s3_mpu_upload_part(struct objfs_provider *p, const char *bucket,
			      const char *key, const char *upload_id, int part_number,
			      uint64_t off, const struct objfs_source *src, char *etag_out,
			      struct objfs_err *err)
{
	struct objfs_http_resp resp;
	struct s3_req r;
	char *q = upload_query(upload_id, part_number), sha[65];
	int rc;

	memset(&resp, 0, sizeof(resp));
	memset(&r, 0, sizeof(r));
	if (!q)
		return objfs_err_set(err, -ENOMEM, "out of memory");
	r.method = "PUT";
	r.path = s3_path(p, bucket, key);
	r.query = q;
	rc = body_hashes(p, src, &r, sha, err);
	if (rc)
		goto out;
	defs_apply(p, &r, bucket, key, DEF_READ);
	rc = s3_call(p, "upload-part", bucket, key, &r, src, NULL, 0, 0, &resp, err);
	if (rc == 0) {
		etag_from(objfs_http_resp_header(&resp, "etag"), etag_out);
		if (!etag_out[0])
			rc = objfs_err_set(err, -EIO, "s3 upload-part %s/%s: no ETag in the answer",
					   bucket, key);
	}
out:
	objfs_http_resp_clear(&resp);
	req_free(&r);
	free(q);
	return rc;
}

static int s3_mpu_upload_part_copy(struct objfs_provider *p, const char *bucket,
				   const char *key, const char *upload_id, int part_number,
				   const char *src_key, const char *src_if_match, uint64_t off,
				   uint64_t len, char *etag_out, struct objfs_err *err)
{
	struct objfs_http_resp resp;
	struct s3_req r;
	char *q = upload_query(upload_id, part_number), *cs = copy_source(bucket, src_key);
	int rc;

	memset(&resp, 0, sizeof(resp));
	memset(&r, 0, sizeof(r));
	if (!q || !cs || len == 0) {
		rc = objfs_err_set(err, len ? -ENOMEM : -EINVAL, "s3 upload-part-copy: %s",
				   len ? "out of memory" : "empty range");
		goto out;
	}
	r.method = "PUT";
	r.path = s3_path(p, bucket, key);
	r.query = q;
	r.xml_result = 1;
	req_hdr(&r, "x-amz-copy-source", cs);
	req_hdrf(&r, "x-amz-copy-source-range", "bytes=%llu-%llu", (unsigned long long)off,
		 (unsigned long long)(off + len - 1));
	if (src_if_match)
		req_hdrf(&r, "x-amz-copy-source-if-match", "\"%s\"", src_if_match);
	defs_apply(p, &r, bucket, key, DEF_READ);
	defs_apply(p, &r, bucket, src_key, DEF_COPY_SRC);
	rc = s3_call(p, "upload-part-copy", bucket, key, &r, NULL, NULL, 0, 0, &resp, err);
	if (rc == 0) {
		rc = s3xml_parse_etag_result(resp.body, resp.body_len, etag_out, err);
		if (rc == -EAGAIN)
			rc = -EIO;
	}
out:
	objfs_http_resp_clear(&resp);
	req_free(&r);
	free(q);
	free(cs);
	return rc;
}

static int s3_mpu_complete(struct objfs_provider *p, const char *bucket, const char *key,
			   const char *upload_id, const struct objfs_part *parts, size_t nparts,
			   char *etag_out, struct objfs_err *err)
{
	struct objfs_http_resp resp;
	struct objfs_seg seg;
	struct objfs_source src;
	struct s3_req r;
	char *q = upload_query(upload_id, 0), *body = NULL, sha[65], etag[OBJFS_ETAG_MAX];
	size_t blen = 0;
	int rc;

	memset(&resp, 0, sizeof(resp));
	memset(&r, 0, sizeof(r));
	if (!q || s3xml_build_complete(parts, nparts, &body, &blen)) {
		rc = objfs_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	seg = (struct objfs_seg){ .fd = -1, .buf = body, .off = 0, .len = blen };
	src = (struct objfs_source){ &seg, 1, blen };
	r.method = "POST";
	r.path = s3_path(p, bucket, key);
	r.query = q;
	r.xml_result = 1;
	req_hdr(&r, "content-type", "application/xml");
	rc = body_hashes(p, &src, &r, sha, err);
	if (rc)
		goto out;
	defs_apply(p, &r, bucket, key, DEF_READ);
	rc = s3_call(p, "complete-multipart", bucket, key, &r, &src, NULL, 0, 0, &resp, err);
	if (rc == 0) {
		rc = s3xml_parse_etag_result(resp.body, resp.body_len, etag, err);
		if (rc == -EAGAIN)
			rc = -EIO;
		if (rc == 0 && etag_out)
			snprintf(etag_out, OBJFS_ETAG_MAX, "%s", etag);
	}
out:
	objfs_http_resp_clear(&resp);
	req_free(&r);
	free(q);
	free(body);
	return rc;
}

static int s3_mpu_abort(struct objfs_provider *p, const char *bucket, const char *key,
			const char *upload_id, struct objfs_err *err)
{
	struct objfs_http_resp resp;
	struct s3_req r;
	char *q = upload_query(upload_id, 0);
	int rc;

	memset(&resp, 0, sizeof(resp));
	memset(&r, 0, sizeof(r));
	if (!q)
		return objfs_err_set(err, -ENOMEM, "out of memory");
	r.method = "DELETE";
	r.path = s3_path(p, bucket, key);
	r.query = q;
	rc = s3_call(p, "abort-multipart", bucket, key, &r, NULL, NULL, 0, 0, &resp, err);
	if (rc == -ENOENT)
		rc = 0;    /* already gone */
	rc = not_supported(rc, "AbortMultipartUpload", err);   /* s3rver: 405 */
	objfs_http_resp_clear(&resp);
	req_free(&r);
	free(q);
	return rc;
}

static int s3_mpu_list_parts(struct objfs_provider *p, const char *bucket,
			     const char *key, const char *upload_id,
			     struct objfs_part **parts, size_t *nparts, struct objfs_err *err)
{
	struct objfs_part *all = NULL;
	size_t n = 0;
	int marker = 0, rc = 0;

	*parts = NULL;
	*nparts = 0;
	for (unsigned page = 0; page < 100; page++) {   /* 10,000 parts at most */
		struct objfs_http_resp resp;
		struct objfs_part *got = NULL, *v;
		struct s3_req r;
		char *q = upload_query(upload_id, 0), num[16];
		size_t ng = 0;
		int next = 0;

		memset(&resp, 0, sizeof(resp));
		memset(&r, 0, sizeof(r));
		snprintf(num, sizeof(num), "%d", marker);
		if (!q || (marker && q_add(&q, "part-number-marker", num))) {
			free(q);
			rc = objfs_err_set(err, -ENOMEM, "out of memory");
			break;
		}
		r.method = "GET";
		r.path = s3_path(p, bucket, key);
		r.query = q;
		rc = s3_call(p, "list-parts", bucket, key, &r, NULL, NULL, 0, 0, &resp, err);
		if (rc == 0)
			rc = s3xml_parse_parts(resp.body, resp.body_len, &got, &ng, &next, err);
		objfs_http_resp_clear(&resp);
		req_free(&r);
		free(q);
		if (rc) {
			rc = not_supported(rc, "ListParts", err);
			break;
		}
		v = realloc(all, (n + ng + 1) * sizeof(*v));
		if (!v) {
			free(got);
			rc = objfs_err_set(err, -ENOMEM, "out of memory");
			break;
		}
		all = v;
		memcpy(all + n, got, ng * sizeof(*got));
		n += ng;
		free(got);
		if (!next || next <= marker)
			break;
		marker = next;
	}
	if (rc) {
		free(all);
		return rc;
	}
	*parts = all;
	*nparts = n;
	return 0;
}

static int s3_mpu_list_uploads(struct objfs_provider *p, const char *bucket,
			       const char *prefix, struct objfs_mpu_info **out, size_t *nout,
			       struct objfs_err *err)
{
	struct objfs_mpu_info *all = NULL;
	char *kmark = NULL, *umark = NULL;
	size_t n = 0;
	int rc = 0;

	for (unsigned page = 0; page < 1000; page++) {
		struct objfs_http_resp resp;
		struct s3xml_uploads u;
		struct objfs_mpu_info *v;
		struct s3_req r;
		char *q = NULL;

		memset(&resp, 0, sizeof(resp));
		memset(&r, 0, sizeof(r));
		memset(&u, 0, sizeof(u));
		if ((kmark && q_add(&q, "key-marker", kmark)) ||
		    (prefix && prefix[0] && q_add(&q, "prefix", prefix)) ||
		    (umark && q_add(&q, "upload-id-marker", umark)) || q_add(&q, "uploads", NULL)) {
			free(q);
			rc = objfs_err_set(err, -ENOMEM, "out of memory");
			break;
		}
		r.method = "GET";
		r.path = s3_path(p, bucket, NULL);
		r.query = q;
		rc = s3_call(p, "list-uploads", bucket, prefix, &r, NULL, NULL, 0,
			     S3_LIST_BODY_MAX, &resp, err);
		if (rc == 0)
			rc = s3xml_parse_uploads(resp.body, resp.body_len, &u, err);
		objfs_http_resp_clear(&resp);
		req_free(&r);
		free(q);
		if (rc) {
			rc = not_supported(rc, "ListMultipartUploads", err);
			break;
		}
		v = realloc(all, (n + u.n + 1) * sizeof(*v));
		if (!v) {
			s3xml_uploads_clear(&u);
			rc = objfs_err_set(err, -ENOMEM, "out of memory");
			break;
		}
		all = v;
		for (size_t i = 0; i < u.n; i++) {
			all[n].key = u.uploads[i].key;
			all[n].upload_id = u.uploads[i].upload_id;
			all[n].initiated_ns = u.uploads[i].initiated_ns;
			u.uploads[i].key = u.uploads[i].upload_id = NULL;
			n++;
		}
		free(kmark);
		free(umark);
		kmark = u.next_key_marker;
		umark = u.next_upload_id_marker;
		u.next_key_marker = u.next_upload_id_marker = NULL;
		s3xml_uploads_clear(&u);
		if (!kmark)
			break;
	}
	free(kmark);
	free(umark);
	if (rc) {
		objfs_mpu_info_free(all, n);
		return rc;
	}
	*out = all;
	*nout = n;
	return 0;
}

/* ---- presign, health, buckets ---- */

#define S3_PRESIGN_MAX_S 604800u   /* SigV4's limit: 7 days */

static int s3_presign(struct objfs_provider *p, const char *bucket, const char *key,
		      const char *method, unsigned ttl_s, char **url, struct objfs_err *err)
{
	char *host = s3_host(p, bucket), *path = s3_path(p, bucket, key), *base = NULL;
	int rc;

	*url = NULL;
	if (!host || !path || asprintf(&base, "%s://%s", p->scheme, host) < 0) {
		base = NULL;
		rc = objfs_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (strcmp(method, "GET") && strcmp(method, "PUT")) {
		rc = objfs_err_set(err, -EINVAL, "presign: method %s (GET or PUT)", method);
		goto out;
	}
	if (ttl_s < 1 || ttl_s > S3_PRESIGN_MAX_S) {
		rc = objfs_err_set(err, -EINVAL, "presign: TTL %u s outside 1..%u", ttl_s,
				   S3_PRESIGN_MAX_S);
		goto out;
	}
	rc = objfs_sigv4_presign(&p->sig, method, base, host, path, NULL, ttl_s, s3_now(p), url);
	if (rc)
		objfs_err_set(err, rc, "presign %s/%s failed", bucket, key);
out:
	free(host);
	free(path);
	free(base);
	return rc;
}

/* SigV4 query presigning cannot carry a size range (only POST policies
 * can): a declared size is bound exactly by signing Content-Length, and a
 * content type by signing Content-Type; max_size alone stays unbound. */
static int s3_presign_put(struct objfs_provider *p, const char *bucket, const char *key,
			  unsigned ttl_s, const struct objfs_presign_cond *cond,
			  struct objfs_presign_out *out, char **url, struct objfs_err *err)
{
	char *host = s3_host(p, bucket), *path = s3_path(p, bucket, key), *base = NULL;
	struct objfs_kv h[2];
	char len[24];
	size_t nh = 0;
	int rc;

	*url = NULL;
	if (!host || !path || asprintf(&base, "%s://%s", p->scheme, host) < 0) {
		base = NULL;
		rc = objfs_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (ttl_s < 1 || ttl_s > S3_PRESIGN_MAX_S) {
		rc = objfs_err_set(err, -EINVAL, "presign: TTL %u s outside 1..%u", ttl_s,
				   S3_PRESIGN_MAX_S);
		goto out;
	}
	if (cond && cond->has_size && (!cond->max_size || cond->size <= cond->max_size)) {
		snprintf(len, sizeof(len), "%llu", (unsigned long long)cond->size);
		h[nh++] = (struct objfs_kv){ (char *)"content-length", len };
	}
	if (cond && cond->content_type)
		h[nh++] = (struct objfs_kv){ (char *)"content-type", (char *)cond->content_type };
	rc = objfs_sigv4_presign_hdrs(&p->sig, "PUT", base, host, path, NULL, h, nh, ttl_s,
				      s3_now(p), url);
	if (rc) {
		objfs_err_set(err, rc, "presign %s/%s failed", bucket, key);
		goto out;
	}
	for (size_t i = 0; i < nh && rc == 0; i++) {
		int is_len = !strcmp(h[i].key, "content-length");

		rc = objfs_presign_out_header(out, is_len ? "Content-Length" : "Content-Type",
					      h[i].value);
		out->binds |= is_len ? OBJFS_PRESIGN_BINDS_SIZE : OBJFS_PRESIGN_BINDS_TYPE;
	}
	if (rc) {
		free(*url);
		*url = NULL;
		objfs_err_set(err, -ENOMEM, "out of memory");
	}
out:
	free(host);
	free(path);
	free(base);
	return rc;
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Health: one signed listing of at most one key (or the bucket list when no
 * bucket is named), told apart as: no answer (unreachable), 403 with
 * RequestTimeTooSkewed or a Date header more than 15 minutes off (clock
 * skew), other 401/403 (auth), 404 (no bucket), 5xx (degraded).
 */
static int s3_health(struct objfs_provider *p, const char *bucket, struct objfs_health *out,
		     struct objfs_err *err)
{
	struct objfs_http_resp resp;
	struct objfs_http_req hr;
	struct s3_req r;
	char code[64] = "", msg[256] = "";
	const char *date;
	double t0 = mono_s();
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&resp, 0, sizeof(resp));
	memset(&r, 0, sizeof(r));
	memset(&hr, 0, sizeof(hr));
	r.method = "GET";
	r.path = s3_path(p, bucket, NULL);
	r.query = bucket ? "list-type=2&max-keys=1" : NULL;
	hr.single_attempt = 1;
	rc = s3_send(p, bucket, &r, &hr, &resp);
	if (rc == -ENOMEM) {
		rc = objfs_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	out->latency_s = mono_s() - t0;
	if (rc < 0) {
		out->state = OBJFS_HEALTH_UNREACHABLE;
		snprintf(out->detail, sizeof(out->detail), "%s://%.80s unreachable: %.150s", p->scheme,
			 p->authority, resp.err[0] ? resp.err : strerror(-rc));
		rc = 0;
		goto out;
	}
	if (resp.body && resp.body_len)
		s3xml_parse_error(resp.body, resp.body_len, code, msg);
	date = objfs_http_resp_header(&resp, "date");
	if (date) {
		time_t srv = curl_getdate(date, NULL);
		long skew = srv > 0 ? (long)(srv - s3_now(p)) : 0;

		if (labs(skew) > S3_SKEW_MAX_S || !strcmp(code, "RequestTimeTooSkewed")) {
			out->state = OBJFS_HEALTH_CLOCK_SKEW;
			snprintf(out->detail, sizeof(out->detail),
				 "clock skew: the store's clock is %+ld s from ours", skew);
			goto out;
		}
	}
	if (!strcmp(code, "RequestTimeTooSkewed")) {
		out->state = OBJFS_HEALTH_CLOCK_SKEW;
		snprintf(out->detail, sizeof(out->detail), "clock skew: %.200s", msg);
	} else if (resp.status == 401 || resp.status == 403) {
		out->state = OBJFS_HEALTH_AUTH;
		snprintf(out->detail, sizeof(out->detail), "credentials refused: %.63s%s%.150s",
			 code[0] ? code : "HTTP 403", msg[0] ? ": " : "", msg);
	} else if (resp.status == 404) {
		out->state = OBJFS_HEALTH_NO_BUCKET;
		snprintf(out->detail, sizeof(out->detail), "bucket '%s' missing",
			 bucket ? bucket : "");
	} else if (resp.status >= 300) {
		out->state = OBJFS_HEALTH_DEGRADED;
		snprintf(out->detail, sizeof(out->detail), "HTTP %ld %s", resp.status, code);
	} else {
		snprintf(out->detail, sizeof(out->detail), "ok");
	}
out:
	objfs_http_resp_clear(&resp);
	req_free(&r);
	return rc;
}

static int s3_bucket_exists(struct objfs_provider *p, const char *bucket, struct objfs_err *err)
{
	struct objfs_http_resp resp;
	struct s3_req r;
	int rc;

	memset(&resp, 0, sizeof(resp));
	memset(&r, 0, sizeof(r));
	r.method = "HEAD";
	r.path = s3_path(p, bucket, NULL);
	rc = s3_call(p, "head-bucket", bucket, NULL, &r, NULL, NULL, 0, 0, &resp, err);
	objfs_http_resp_clear(&resp);
	req_free(&r);
	return rc;
}

static int s3_bucket_create(struct objfs_provider *p, const char *bucket, struct objfs_err *err)
{
	struct objfs_http_resp resp;
	struct objfs_seg seg;
	struct objfs_source src;
	struct s3_req r;
	char *body = NULL, sha[65];
	size_t blen = 0;
	int rc;

	memset(&resp, 0, sizeof(resp));
	memset(&r, 0, sizeof(r));
	rc = objfs_bucket_check(bucket, err);
	if (rc)
		return rc;
	if (s3xml_build_create_bucket(p->region, &body, &blen))
		return objfs_err_set(err, -ENOMEM, "out of memory");
	seg = (struct objfs_seg){ .fd = -1, .buf = body, .off = 0, .len = blen };
	src = (struct objfs_source){ &seg, 1, blen };
	r.method = "PUT";
	r.path = s3_path(p, bucket, NULL);
	if (body) {
		req_hdr(&r, "content-type", "application/xml");
		rc = body_hashes(p, &src, &r, sha, err);
	}
	if (rc == 0)
		rc = s3_call(p, "create-bucket", bucket, NULL, &r, body ? &src : NULL, NULL, 0, 0,
			     &resp, err);
	if (rc == -EEXIST && strstr(err->msg, "BucketAlreadyOwnedByYou"))
		rc = 0;
	objfs_http_resp_clear(&resp);
	req_free(&r);
	free(body);
	return rc;
}

const struct objfs_provider_ops objfs_provider_s3 = {
	.type = "s3",
	.caps = OBJFS_CAP_PART_COPY,
	.mpu_threshold = 16ull << 20,
	.mpu_min_part = 5ull << 20,
	.open = s3_open,
	.close = s3_close,
	.head = s3_head,
	.get = s3_get,
	.put = s3_put,
	.list = s3_list,
	.del = s3_del,
	.del_batch = s3_del_batch,
	.copy = s3_copy,
	.mpu_create = s3_mpu_create,
	.mpu_upload_part = s3_mpu_upload_part,
	.mpu_upload_part_copy = s3_mpu_upload_part_copy,
	.mpu_complete = s3_mpu_complete,
	.mpu_abort = s3_mpu_abort,
	.mpu_list_parts = s3_mpu_list_parts,
	.mpu_list_uploads = s3_mpu_list_uploads,
	.set_defaults = s3_set_defaults,
	.presign = s3_presign,
	.presign_put = s3_presign_put,
	.health = s3_health,
	.bucket_exists = s3_bucket_exists,
	.bucket_create = s3_bucket_create,
};
