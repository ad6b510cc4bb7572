/*
 * The azure provider: Azure Blob Storage (block blobs) over the REST API.
 *
 * A tenant's bucket is a container; a key is a blob name.  Every request goes
 * through az_call(): the URL is ENDPOINT + "/container/blob" with the blob
 * name percent-encoded once (azure_encode, '/' kept), and the HTTP client
 * (src/http.c) calls az_prepare() before each attempt, which adds a fresh
 * x-ms-date, the pinned x-ms-version and, with an account key, the Shared
 * Key Authorization computed over exactly the path and query being sent
 * (src/azure_auth.c).  With a SAS token instead, the token is appended to
 * every URL and nothing is signed here.  Responses are turned into an errno
 * in one place, az_fail(): the error code (<Error><Code> in the body, or the
 * x-ms-error-code header of a HEAD) refines the status mapping of
 * objfs_http_status_errno; messages name the operation, container and blob,
 * never a key, signature or token.
 *
 * Path style: an endpoint with a path (Azurite: http://127.0.0.1:PORT/ACCOUNT)
 * keeps that path in front of every request, so the canonicalized resource
 * is "/ACCOUNT/ACCOUNT/container/blob" there and "/ACCOUNT/container/blob" on
 * https://ACCOUNT.blob.core.windows.net.
 *
 * Uploads.  Small objects are one Put Blob (Content-MD5 checked by the
 * service).  Large ones are blocks: mpu_create makes the upload id locally
 * (no request: Azure has no upload object) and packs into it what Put Block
 * List will need (content type, metadata, conditions), because the
 * write-back journal keeps the id across a crash and passes only the id to
 * mpu_complete.  A part is a Put Block whose id is derived from (upload id,
 * part number) at a fixed width, so every block of an upload has the same id
 * length (Azure requires it) and a restart can name the blocks it already
 * sent; the part's "etag" is that block id.  mpu_complete commits the blocks
 * in part order with Put Block List.  Uncommitted blocks expire on their own
 * (7 days), so abort has nothing to delete.
 *
 * Copies (rename, chmod) use Copy Blob, which may answer "pending": the
 * destination is then polled (bounded) until the copy settles.  A metadata
 * change in place is Set Blob Metadata (and Set Blob Properties when the
 * content type changes), each conditional on the ETag it starts from.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "objfs/provider.h"
#include "azure_auth.h"
#include "azure_xml.h"
#include "http.h"
#include "log.h"
#include "strutil.h"

/* Azurite accepts 2009-04-14 .. 2026-06-06; Azure accepts this one too. */
#define AZ_VERSION        "2023-11-03"
#define AZ_PUT_BLOB_MAX   (5000ull << 20)    /* Put Blob's limit */
#define AZ_BLOCK_MAX      (4000ull << 20)    /* Put Block's limit */
#define AZ_MAX_BLOCKS     50000
#define AZ_SKEW_MAX_S     900
#define AZ_LIST_BODY_MAX  (8u << 20)
#define AZ_PRESIGN_MAX_S  604800u
#define AZ_COPY_WAIT_S    600                /* longest wait for a pending copy */
#define AZ_ID_HEX         32                 /* random part of an upload id */
#define AZ_BLOCK_PREFIX   24                 /* of it in each block id */
#define AZ_ABORTED_MAX    256                /* aborted upload ids remembered */

struct objfs_provider {
	char *name;
	char *scheme;                    /* "http" or "https" */
	char *authority;                 /* host[:port] */
	char *base_path;                 /* "" or "/ACCOUNT" (path style) */
	char *account;
	objfs_clock_fn clock;
	struct azure_cred cred;
	struct objfs_http *http;
	/* Upload ids aborted by this instance (a ring), so a later part or
	 * complete of one is -ENOENT as the contract says; Azure itself has no
	 * upload object to delete. */
	pthread_mutex_t aborted_lock;
	char aborted[AZ_ABORTED_MAX][AZ_ID_HEX + 1];   /* aborted_lock */
	unsigned naborted;                             /* aborted_lock: next slot */
};

/* One request as az_prepare signs it. */
struct az_req {
	struct objfs_provider *p;
	const char *method;
	char *path;                      /* encoded, as sent */
	char *query;                     /* encoded, as sent (without the SAS) */
	struct azure_hdr *hdrs;          /* names (lower-case) and values owned */
	size_t nhdrs, cap;
	int nomem;
	unsigned long long content_length;
};

static time_t az_now(const struct objfs_provider *p)
{
	return p->clock ? p->clock() : time(NULL);
}

/* ---- request building ---- */

static void req_hdr(struct az_req *r, const char *name, const char *value)
{
	char *n = NULL, *v = NULL;

	if (!value)
		return;
	if (r->nhdrs == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		struct azure_hdr *nv = realloc(r->hdrs, cap * sizeof(*nv));

		if (!nv)
			goto fail;
		r->hdrs = nv;
		r->cap = cap;
	}
	n = strdup(name);
	v = strdup(value);
	if (!n || !v)
		goto fail;
	r->hdrs[r->nhdrs].name = n;
	r->hdrs[r->nhdrs].value = v;
	r->nhdrs++;
	return;
fail:
	free(n);
	free(v);
	r->nomem = 1;
}

static void req_hdrf(struct az_req *r, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void req_hdrf(struct az_req *r, const char *name, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	req_hdr(r, name, buf);
}

static void req_free(struct az_req *r)
{
	for (size_t i = 0; i < r->nhdrs; i++) {
		free((char *)r->hdrs[i].name);
		free((char *)r->hdrs[i].value);
	}
	free(r->hdrs);
	free(r->path);
	free(r->query);
	memset(r, 0, sizeof(*r));
}

/* The encoded path of container/blob (blob NULL: the container; container
 * NULL: the account). */
static char *az_path(const struct objfs_provider *p, const char *container, const char *blob)
{
	char *enc = NULL, *out = NULL;

	if (blob && !(enc = azure_encode(blob, 1)))
		return NULL;
	if (asprintf(&out, "%s/%s%s%s", p->base_path, container ? container : "",
		     enc ? "/" : "", enc ? enc : "") < 0)
		out = NULL;
	free(enc);
	return out;
}

/* Appends "&name=value" (value encoded) to *q. */
static int q_add(char **q, const char *name, const char *value)
{
	char *enc = azure_encode(value, 0), *n = NULL;
	int rc = -ENOMEM;

	if (enc && asprintf(&n, "%s%s%s=%s", *q ? *q : "", *q && **q ? "&" : "", name, enc) >= 0) {
		free(*q);
		*q = n;
		rc = 0;
	}
	free(enc);
	return rc;
}

/* The prepare callback: fresh x-ms-date (and signature) for each attempt. */
static int az_prepare(void *ctx, struct curl_slist **out)
{
	struct az_req *r = ctx;
	struct objfs_provider *p = r->p;
	struct azure_hdr *h;
	struct curl_slist *list = NULL, *t;
	char date[30], line[4096], *auth = NULL;
	size_t n = 0;
	int rc = 0;

	h = calloc(r->nhdrs + 2, sizeof(*h));
	if (!h)
		return -ENOMEM;
	azure_rfc1123(az_now(p), date);
	h[n++] = (struct azure_hdr){ "x-ms-date", date };
	h[n++] = (struct azure_hdr){ "x-ms-version", AZ_VERSION };
	for (size_t i = 0; i < r->nhdrs; i++)
		h[n++] = r->hdrs[i];
	if (p->cred.keylen) {
		struct azure_sk_request sk = {
			.method = r->method, .account = p->account, .path = r->path,
			.query = r->query, .content_length = r->content_length,
			.hdrs = h, .nhdrs = n,
		};
		rc = azure_sk_authorization(&p->cred, &sk, &auth);
		if (rc)
			goto out;
	}
	for (size_t i = 0; i < n; i++) {
		snprintf(line, sizeof(line), "%s: %s", h[i].name, h[i].value);
		if (!(t = curl_slist_append(list, line)))
			goto nomem;
		list = t;
	}
	if (auth) {
		snprintf(line, sizeof(line), "Authorization: %s", auth);
		if (!(t = curl_slist_append(list, line)))
			goto nomem;
		list = t;
	}
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
	if (auth) {
		OPENSSL_cleanse(auth, strlen(auth));
		free(auth);
	}
	curl_slist_free_all(list);
	free(h);
	return rc;
}

/* The error code of a failed response: <Error><Code> or x-ms-error-code. */
static void error_code(const struct objfs_http_resp *resp, char code[64], char msg[256])
{
	const char *h;

	code[0] = msg[0] = '\0';
	if (resp->body && resp->body_len &&
	    azure_xml_parse_error(resp->body, resp->body_len, code, msg) == 0)
		return;
	h = objfs_http_resp_header(resp, "x-ms-error-code");
	if (h)
		snprintf(code, 64, "%s", h);
}

/* The one place that turns a failed response into an errno and a message. */
static int az_fail(const char *op, const char *container, const char *blob,
		   const struct objfs_http_resp *resp, int rc, struct objfs_err *err)
{
	char code[64], msg[256];

	if (rc < 0) {
		int e = rc == -ENOMEM || rc == -EMSGSIZE ? rc : -EIO;
		return objfs_err_set(err, e, "azure %s %s/%s: %s", op, container ? container : "",
				     blob ? blob : "", resp->err[0] ? resp->err : strerror(-rc));
	}
	error_code(resp, code, msg);
	rc = objfs_http_status_errno(resp->status);
	if (!strcmp(code, "Md5Mismatch") || !strcmp(code, "InvalidMd5"))
		rc = -EIO;           /* the body was damaged on the way */
	else if (!strcmp(code, "BlobAlreadyExists") || !strcmp(code, "ContainerAlreadyExists"))
		rc = -EEXIST;
	else if (!strcmp(code, "ConditionNotMet") || !strcmp(code, "SourceConditionNotMet") ||
		 !strcmp(code, "TargetConditionNotMet"))
		rc = -ESTALE;
	else if (resp->status == 404)
		rc = -ENOENT;
	if (rc == 0)
		rc = -EIO;
	return objfs_err_set(err, rc, "azure %s %s/%s: HTTP %ld%s%s%s%s", op,
			     container ? container : "", blob ? blob : "", resp->status,
			     code[0] ? " " : "", code, msg[0] ? ": " : "", msg);
}

/* Sends r (URL from its path and query, plus the SAS token when that is the
 * credential); hr carries body and response policy.  objfs_http_do's
 * result, or -ENOMEM. */
static int az_send(struct objfs_provider *p, struct az_req *r, struct objfs_http_req *hr,
		   struct objfs_http_resp *resp)
{
	char *url = NULL;
	const char *q = r->query && r->query[0] ? r->query : NULL;
	const char *sas = p->cred.keylen ? NULL : p->cred.sas;
	int rc;

	r->p = p;
	if (!r->path || r->nomem)
		return -ENOMEM;
	if (asprintf(&url, "%s://%s%s%s%s%s%s", p->scheme, p->authority, r->path,
		     q || sas ? "?" : "", q ? q : "", q && sas ? "&" : "", sas ? sas : "") < 0)
		return -ENOMEM;
	r->content_length = hr->body ? hr->body->size : 0;
	hr->method = r->method;
	hr->url = url;
	hr->prepare = az_prepare;
	hr->ctx = r;
	rc = objfs_http_do(p->http, hr, resp);
	if (url) {
		OPENSSL_cleanse(url, strlen(url));
		free(url);
	}
	return rc;
}

/* One request, retried per the HTTP client's policy.  0 for a 2xx (resp
 * filled; the caller clears it), else a negative errno with err set and resp
 * cleared. */
static int az_call(struct objfs_provider *p, const char *op, const char *container,
		   const char *blob, struct az_req *r, const struct objfs_source *body,
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
	rc = az_send(p, r, &hr, resp);
	if (rc == -ENOMEM)
		return objfs_err_set(err, -ENOMEM, "out of memory");
	if (rc == 0 && resp->status >= 200 && resp->status < 300)
		return 0;
	rc = az_fail(op, container, blob, resp, rc, err);
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

/* ---- metadata and conditions ---- */

/* Azure metadata names are C# identifiers; values are sent as header values
 * (printable ASCII).  0 or -EINVAL naming the bad one. */
static int meta_check(const struct objfs_putopts *opts, struct objfs_err *err)
{
	for (size_t i = 0; opts && i < opts->nmeta; i++) {
		const char *k = opts->meta[i].key, *v = opts->meta[i].value;

		if (!k || !v || !(isalpha((unsigned char)k[0]) || k[0] == '_') || strlen(k) > 200)
			return objfs_err_set(err, -EINVAL, "azure: metadata name \"%.64s\" is not "
					     "a C# identifier", k ? k : "");
		for (const char *c = k; *c; c++)
			if (!(isalnum((unsigned char)*c) || *c == '_'))
				return objfs_err_set(err, -EINVAL, "azure: metadata name \"%.64s\" "
						     "is not a C# identifier", k);
		for (const char *c = v; *c; c++)
			if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
				return objfs_err_set(err, -EINVAL, "azure: metadata %s: the value "
						     "is not printable ASCII", k);
	}
	return 0;
}

static void meta_headers(struct az_req *r, const struct objfs_kv *meta, size_t nmeta)
{
	char name[300];

	for (size_t i = 0; i < nmeta; i++) {
		snprintf(name, sizeof(name), "x-ms-meta-%s", meta[i].key);
		for (char *c = name; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		req_hdr(r, name, meta[i].value);
	}
}

/* If-Match "etag" / If-None-Match * of opts. */
static void cond_headers(struct az_req *r, const char *if_match, int if_none_match)
{
	if (if_match)
		req_hdrf(r, "if-match", "\"%s\"", if_match);
	if (if_none_match)
		req_hdr(r, "if-none-match", "*");
}

/* A failed conditional create: -EEXIST is what the contract says for
 * if_none_match (Azure answers 409 BlobAlreadyExists or 412). */
static int cond_fail(int rc, int if_none_match, const char *op, const char *c,
		     const char *b, struct objfs_err *err)
{
	if (if_none_match && (rc == -ESTALE || rc == -EEXIST))
		return objfs_err_set(err, -EEXIST, "azure %s %s/%s: the blob exists", op, c, b);
	return rc;
}

/* ---- open / close ---- */

static void az_close(struct objfs_provider *p)
{
	if (!p)
		return;
	objfs_http_free(p->http);
	azure_cred_clear(&p->cred);
	pthread_mutex_destroy(&p->aborted_lock);
	free(p->name);
	free(p->scheme);
	free(p->authority);
	free(p->base_path);
	free(p->account);
	free(p);
}

static int account_valid(const char *a)
{
	if (!a || !*a || strlen(a) > 64)
		return 0;
	for (; *a; a++)
		if (!(isalnum((unsigned char)*a) || *a == '-' || *a == '_'))
			return 0;
	return 1;
}

/* Splits "scheme://host[:port][/path]" into p's fields; the account from the
 * path (path style) or from "ACCOUNT.blob...." into *ep_account. */
static int parse_endpoint(struct objfs_provider *p, const char *ep, char **ep_account,
			  struct objfs_err *err)
{
	const char *h, *slash;
	size_t hl, pl;
	int https = 0;

	*ep_account = NULL;
	if (!strncmp(ep, "https://", 8)) {
		https = 1;
		h = ep + 8;
	} else if (!strncmp(ep, "http://", 7)) {
		h = ep + 7;
	} else {
		return objfs_err_set(err, -EINVAL, "endpoint %s: must start with http:// or https://",
				     ep);
	}
	slash = strchr(h, '/');
	hl = slash ? (size_t)(slash - h) : strlen(h);
	if (!hl || memchr(h, '?', hl) || memchr(h, '@', hl) ||
	    (slash && strpbrk(slash, "?#%")))
		return objfs_err_set(err, -EINVAL, "endpoint %s: no host, or a query, user or "
				     "escaped part", ep);
	if (https && hl > 4 && !memcmp(h + hl - 4, ":443", 4))
		hl -= 4;
	else if (!https && hl > 3 && !memcmp(h + hl - 3, ":80", 3))
		hl -= 3;
	pl = slash ? strlen(slash) : 0;
	while (pl && slash[pl - 1] == '/')
		pl--;
	p->scheme = strdup(https ? "https" : "http");
	p->authority = strndup(h, hl);
	p->base_path = strndup(slash ? slash : "", pl);
	if (!p->scheme || !p->authority || !p->base_path)
		return objfs_err_set(err, -ENOMEM, "out of memory");
	for (char *c = p->authority; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	if (p->base_path[0]) {
		const char *s = p->base_path + 1;
		*ep_account = strndup(s, strcspn(s, "/"));
	} else if (strstr(p->authority, ".blob.")) {
		*ep_account = strndup(p->authority, strcspn(p->authority, "."));
	}
	return 0;
}

static int az_open(const struct objfs_provider_conf *conf, struct objfs_provider **out,
		   struct objfs_err *err)
{
	const char *name = conf->name ? conf->name : "azure";
	struct objfs_provider *p;
	struct objfs_http_conf hc;
	char *ep_account = NULL, *ep = NULL, cerrbuf[300];
	const char *acct;
	int rc;

	*out = NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return objfs_err_set(err, -ENOMEM, "out of memory");
	pthread_mutex_init(&p->aborted_lock, NULL);
	p->clock = conf->clock;
	p->name = strdup(name);
	if (!p->name) {
		rc = objfs_err_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	if (conf->endpoint && conf->endpoint[0]) {
		struct objfs_err e2;

		rc = parse_endpoint(p, conf->endpoint, &ep_account, &e2);
		if (rc) {
			rc = objfs_err_set(err, rc, "provider %s: %s", name, e2.msg);
			goto fail;
		}
	}
	acct = conf->account && conf->account[0] ? conf->account
	       : ep_account && ep_account[0] ? ep_account : getenv("AZURE_STORAGE_ACCOUNT");
	if (!acct || !acct[0]) {
		rc = objfs_err_set(err, -EINVAL, "provider %s: no storage account: set account = "
				   "NAME (or AZURE_STORAGE_ACCOUNT)", name);
		goto fail;
	}
	if (!account_valid(acct)) {
		rc = objfs_err_set(err, -EINVAL, "provider %s: account \"%.64s\" is not a storage "
				   "account name", name, acct);
		goto fail;
	}
	if (!(p->account = strdup(acct))) {
		rc = objfs_err_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	if (!p->scheme) {
		if (asprintf(&ep, "https://%s.blob.core.windows.net", p->account) < 0) {
			ep = NULL;
			rc = objfs_err_set(err, -ENOMEM, "out of memory");
			goto fail;
		}
		free(ep_account);
		rc = parse_endpoint(p, ep, &ep_account, err);
		if (rc)
			goto fail;
	}
	rc = azure_cred_load(conf->credentials, &p->cred, cerrbuf, sizeof(cerrbuf));
	if (rc) {
		rc = objfs_err_set(err, rc, "provider %s: %s", name, cerrbuf);
		goto fail;
	}
	memset(&hc, 0, sizeof(hc));
	hc.label = name;
	p->http = objfs_http_new(&hc);
	if (!p->http) {
		rc = objfs_err_set(err, -ENOMEM, "provider %s: cannot create the HTTP client", name);
		goto fail;
	}
	log_info("azure provider %s: %s://%s%s account %s, %s from %s", name, p->scheme,
		 p->authority, p->base_path, p->account,
		 p->cred.keylen ? "shared key" : "SAS token", p->cred.source);
	*out = p;
	p = NULL;
	rc = 0;
fail:
	free(ep_account);
	free(ep);
	az_close(p);
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

/* Object info from Get Blob Properties / Get Blob response headers. */
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
		const char *n = resp->headers[i].key;   /* lower-cased by the client */

		if (strncmp(n, "x-ms-meta-", 10) || !n[10])
			continue;
		meta[nmeta].key = (char *)n + 10;
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

/* Get Blob Properties into resp (cleared by the caller). */
static int head_raw(struct objfs_provider *p, const char *container, const char *blob,
		    struct objfs_http_resp *resp, struct objfs_err *err)
{
	struct az_req r;
	int rc;

	memset(&r, 0, sizeof(r));
	r.method = "HEAD";
	r.path = az_path(p, container, blob);
	rc = az_call(p, "head", container, blob, &r, NULL, NULL, 0, 0, resp, err);
	req_free(&r);
	return rc;
}

static int az_head(struct objfs_provider *p, const char *bucket, const char *key,
		   struct objfs_objinfo *out, struct objfs_err *err)
{
	struct objfs_http_resp resp;
	int rc;

	memset(&resp, 0, sizeof(resp));
	memset(out, 0, sizeof(*out));
	if ((rc = objfs_key_check(key, err)))
		return rc;
	rc = head_raw(p, bucket, key, &resp, err);
	if (rc == 0 && (rc = info_from_headers(&resp, key, out)))
		objfs_err_set(err, rc, "out of memory");
	objfs_http_resp_clear(&resp);
	return rc;
}

static int az_get(struct objfs_provider *p, const char *bucket, const char *key,
		  uint64_t off, uint64_t len, const char *if_match, void *buf,
		  uint64_t *got, struct objfs_err *err)
{
	struct objfs_http_resp resp;
	struct az_req r;
	char etag[OBJFS_ETAG_MAX];
	int rc;

	*got = 0;
	if ((rc = objfs_key_check(key, err)))
		return rc;
	if (len == 0)
		return 0;
	memset(&resp, 0, sizeof(resp));
	memset(&r, 0, sizeof(r));
	r.method = "GET";
	r.path = az_path(p, bucket, key);
	req_hdrf(&r, "x-ms-range", "bytes=%llu-%llu", (unsigned long long)off,
		 (unsigned long long)(off + len - 1));
	cond_headers(&r, if_match, 0);
	rc = az_call(p, "get", bucket, key, &r, NULL, buf, len, 0, &resp, err);
	if (rc == -EMSGSIZE) {
		rc = objfs_err_set(err, -EIO, "azure get %s/%s: the store ignored the range",
				   bucket, key);
		goto out;
	}
	if (rc == -EINVAL && strstr(err->msg, "HTTP 416")) {
		rc = 0;    /* at or past the end, or an empty blob */
		goto out;
	}
	if (rc)
		goto out;
	if (resp.status == 200 && off != 0) {
		rc = objfs_err_set(err, -EIO, "azure get %s/%s: the store ignored the range",
				   bucket, key);
		goto out;
	}
	etag_from(objfs_http_resp_header(&resp, "etag"), etag);
	if (if_match && etag[0] && strcmp(etag, if_match)) {
		rc = objfs_err_set(err, -ESTALE, "azure get %s/%s: blob changed (ETag %s, "
				   "expected %s)", bucket, key, etag, if_match);
		goto out;
	}
	*got = resp.out_len;
out:
	objfs_http_resp_clear(&resp);
	req_free(&r);
	return rc;
}

/* Content-MD5 of a body as a header. */
static int body_md5(const struct objfs_source *src, struct az_req *r, struct objfs_err *err)
{
	char md5[25];
	int rc = objfs_http_source_digests(src, md5, NULL);

	if (rc)
		return objfs_err_set(err, rc, "reading the data to upload: %s", strerror(-rc));
	req_hdr(r, "content-md5", md5);
	return 0;
}

static int az_put(struct objfs_provider *p, const char *bucket, const char *key,
		  const struct objfs_source *src, const struct objfs_putopts *opts,
		  char *etag_out, struct objfs_err *err)
{
	struct objfs_http_resp resp;
	struct az_req r;
	int rc;

	memset(&resp, 0, sizeof(resp));
	memset(&r, 0, sizeof(r));
	if ((rc = objfs_key_check(key, err)) || (rc = meta_check(opts, err)))
		return rc;
	if (src && src->size > AZ_PUT_BLOB_MAX)
		return objfs_err_set(err, -EFBIG, "azure put %s/%s: %llu bytes is over Put Blob's "
				     "limit (use blocks)", bucket, key,
				     (unsigned long long)src->size);
	r.method = "PUT";
	r.path = az_path(p, bucket, key);
	rc = body_md5(src, &r, err);
	if (rc)
		goto out;
	req_hdr(&r, "x-ms-blob-type", "BlockBlob");
	req_hdr(&r, "x-ms-blob-content-type", opts && opts->content_type ? opts->content_type
								       : "application/octet-stream");
	if (opts) {
		meta_headers(&r, opts->meta, opts->nmeta);
		cond_headers(&r, opts->if_match, opts->if_none_match);
	}
	rc = az_call(p, "put", bucket, key, &r, src, NULL, 0, 0, &resp, err);
	rc = cond_fail(rc, opts && opts->if_none_match, "put", bucket, key, err);
	if (rc == 0 && etag_out)
		etag_from(objfs_http_resp_header(&resp, "etag"), etag_out);
out:
	objfs_http_resp_clear(&resp);
	req_free(&r);
	return rc;
}

static int az_list(struct objfs_provider *p, const char *bucket, const char *prefix,
		   const char *delimiter, const char *token, unsigned max_keys,
		   struct objfs_listing *out, struct objfs_err *err)
{
	struct objfs_http_resp resp;
	struct az_req r;
	char *q = NULL, mk[16];
	int rc = 0;

	memset(&resp, 0, sizeof(resp));
	memset(&r, 0, sizeof(r));
	memset(out, 0, sizeof(*out));
	if (max_keys == 0 || max_keys > OBJFS_LIST_MAX_KEYS)
		max_keys = OBJFS_LIST_MAX_KEYS;
	snprintf(mk, sizeof(mk), "%u", max_keys);
	if (q_add(&q, "restype", "container") || q_add(&q, "comp", "list") ||
	    (prefix && prefix[0] && q_add(&q, "prefix", prefix)) ||
	    (delimiter && delimiter[0] && q_add(&q, "delimiter", delimiter)) ||
	    (token && token[0] && q_add(&q, "marker", token)) ||
	    q_add(&q, "maxresults", mk) || q_add(&q, "include", "metadata")) {
		free(q);
		return objfs_err_set(err, -ENOMEM, "out of memory");
	}
	/* an answer that does not parse is asked for again (twice); a listing
	 * that is wrong or partial is never returned */
	for (int attempt = 0; attempt < 3; attempt++) {
		int parse_rc = 0;

		memset(&r, 0, sizeof(r));
		r.method = "GET";
		r.path = az_path(p, bucket, NULL);
		if (!(r.query = strdup(q)))
			r.nomem = 1;
		rc = az_call(p, "list", bucket, prefix, &r, NULL, NULL, 0, AZ_LIST_BODY_MAX,
			     &resp, err);
		if (rc == 0) {
			parse_rc = rc = azure_xml_parse_list(resp.body, resp.body_len, 1, out, err);
			if (rc)
				objfs_err_set(err, rc, "azure list %s/%s: malformed answer: %.180s",
					      bucket, prefix ? prefix : "", err->msg);
		}
		objfs_http_resp_clear(&resp);
		req_free(&r);
		if (!parse_rc)
			break;
		log_warn("%s%s", err->msg, attempt < 2 ? ", asking again" : "");
	}
	free(q);
	return rc;
}

static int az_del(struct objfs_provider *p, const char *bucket, const char *key,
		  struct objfs_err *err)
{
	struct objfs_http_resp resp;
	struct az_req r;
	int rc;

	memset(&resp, 0, sizeof(resp));
	memset(&r, 0, sizeof(r));
	if ((rc = objfs_key_check(key, err)))
		return rc;
	r.method = "DELETE";
	r.path = az_path(p, bucket, key);
	req_hdr(&r, "x-ms-delete-snapshots", "include");
	rc = az_call(p, "delete", bucket, key, &r, NULL, NULL, 0, 0, &resp, err);
	if (rc == -ENOENT && !strstr(err->msg, "ContainerNotFound"))
		rc = 0;    /* deleting a missing blob succeeds */
	objfs_http_resp_clear(&resp);
	req_free(&r);
	return rc;
}

/* Azure's Blob Batch is multipart/mixed; one Delete Blob per key is simpler
 * and the keys of one directory are few. */
static int az_del_batch(struct objfs_provider *p, const char *bucket,
			const char *const *keys, size_t nkeys, int *results,
			struct objfs_err *err)
{
	struct objfs_err e;

	if (nkeys > 1000)
		return objfs_err_set(err, -EINVAL, "azure delete: %zu keys (at most 1000)", nkeys);
	for (size_t i = 0; i < nkeys; i++) {
		results[i] = az_del(p, bucket, keys[i], &e);
		if (results[i] == -ENOENT) {
			/* the container is gone: the batch as a whole fails */
			for (size_t k = i; k < nkeys; k++)
				results[k] = -ENOENT;
			return objfs_err_set(err, -ENOENT, "%s", e.msg);
		}
	}
	return 0;
}

/* Set Blob Metadata (meta replaces all of it) if the ETag is etag;
 * new ETag into etag. */
static int set_metadata(struct objfs_provider *p, const char *bucket, const char *key,
			const struct objfs_kv *meta, size_t nmeta, char *etag,
			struct objfs_err *err)
{
	struct objfs_http_resp resp;
	struct az_req r;
	int rc;

	memset(&resp, 0, sizeof(resp));
	memset(&r, 0, sizeof(r));
	r.method = "PUT";
	r.path = az_path(p, bucket, key);
	r.query = strdup("comp=metadata");
	if (!r.query)
		r.nomem = 1;
	meta_headers(&r, meta, nmeta);
	cond_headers(&r, etag[0] ? etag : NULL, 0);
	rc = az_call(p, "set-metadata", bucket, key, &r, NULL, NULL, 0, 0, &resp, err);
	if (rc == 0)
		etag_from(objfs_http_resp_header(&resp, "etag"), etag);
	objfs_http_resp_clear(&resp);
	req_free(&r);
	return rc;
}

/* Set Blob Properties: content type ctype, keeping the other content
 * headers of src (a head response: Set Blob Properties clears what it is not
 * given), if the ETag is etag; new ETag into etag. */
static int set_content_type(struct objfs_provider *p, const char *bucket, const char *key,
			    const char *ctype, const struct objfs_http_resp *src, char *etag,
			    struct objfs_err *err)
{
	static const char *const keep[][2] = {
		{ "content-md5", "x-ms-blob-content-md5" },
		{ "content-encoding", "x-ms-blob-content-encoding" },
		{ "content-language", "x-ms-blob-content-language" },
		{ "content-disposition", "x-ms-blob-content-disposition" },
		{ "cache-control", "x-ms-blob-cache-control" },
	};
	struct objfs_http_resp resp;
	struct az_req r;
	int rc;

	memset(&resp, 0, sizeof(resp));
	memset(&r, 0, sizeof(r));
	r.method = "PUT";
	r.path = az_path(p, bucket, key);
	r.query = strdup("comp=properties");
	if (!r.query)
		r.nomem = 1;
	req_hdr(&r, "x-ms-blob-content-type", ctype ? ctype : "application/octet-stream");
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		req_hdr(&r, keep[i][1], objfs_http_resp_header(src, keep[i][0]));
	cond_headers(&r, etag[0] ? etag : NULL, 0);
	rc = az_call(p, "set-properties", bucket, key, &r, NULL, NULL, 0, 0, &resp, err);
	if (rc == 0)
		etag_from(objfs_http_resp_header(&resp, "etag"), etag);
	objfs_http_resp_clear(&resp);
	req_free(&r);
	return rc;
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Waits (bounded) for a pending Copy Blob onto bucket/key to settle; the
 * destination's ETag into etag. */
static int copy_wait(struct objfs_provider *p, const char *bucket, const char *key,
		     char *etag, struct objfs_err *err)
{
	double deadline = mono_s() + AZ_COPY_WAIT_S;
	unsigned delay_ms = 50;

	for (unsigned i = 0; i < 100000; i++) {
		struct objfs_http_resp resp;
		const char *st;
		int rc;

		memset(&resp, 0, sizeof(resp));
		rc = head_raw(p, bucket, key, &resp, err);
		if (rc)
			return rc;
		st = objfs_http_resp_header(&resp, "x-ms-copy-status");
		etag_from(objfs_http_resp_header(&resp, "etag"), etag);
		if (!st || !strcmp(st, "success")) {
			objfs_http_resp_clear(&resp);
			return 0;
		}
		if (strcmp(st, "pending")) {
			rc = objfs_err_set(err, -EIO, "azure copy %s/%s: copy %.20s: %.150s", bucket,
					   key, st, objfs_http_resp_header(&resp,
									   "x-ms-copy-status-description")
					   ?: "");
			objfs_http_resp_clear(&resp);
			return rc;
		}
		objfs_http_resp_clear(&resp);
		if (mono_s() > deadline)
			break;
		usleep(delay_ms * 1000);
		if (delay_ms < 1000)
			delay_ms *= 2;
	}
	return objfs_err_set(err, -EIO, "azure copy %s/%s: still pending after %d s", bucket, key,
			     AZ_COPY_WAIT_S);
}

/* Copy Blob src_key -> dst_key: source pinned to src_etag, metadata from
 * opts when it has any (else the source's is copied); the destination's
 * ETag into etag once the copy is complete. */
static int copy_blob(struct objfs_provider *p, const char *bucket, const char *src_key,
		     const char *dst_key, const char *src_etag, const struct objfs_putopts *opts,
		     char *etag, struct objfs_err *err)
{
	struct objfs_http_resp resp;
	struct az_req r;
	char *spath = az_path(p, bucket, src_key), *url = NULL;
	const char *sas = p->cred.keylen ? NULL : p->cred.sas, *st;
	int rc;

	memset(&resp, 0, sizeof(resp));
	memset(&r, 0, sizeof(r));
	if (!spath || asprintf(&url, "%s://%s%s%s%s", p->scheme, p->authority, spath,
			       sas ? "?" : "", sas ? sas : "") < 0) {
		url = NULL;
		rc = objfs_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	r.method = "PUT";
	r.path = az_path(p, bucket, dst_key);
	req_hdr(&r, "x-ms-copy-source", url);
	req_hdrf(&r, "x-ms-source-if-match", "\"%s\"", src_etag);
	if (opts) {
		meta_headers(&r, opts->meta, opts->nmeta);
		cond_headers(&r, NULL, opts->if_none_match);
	}
	rc = az_call(p, "copy", bucket, dst_key, &r, NULL, NULL, 0, 0, &resp, err);
	if (rc == -ESTALE && strstr(err->msg, "SourceConditionNotMet"))
		rc = objfs_err_set(err, -ESTALE, "azure copy %s/%s: the source changed", bucket,
				   src_key);
	else
		rc = cond_fail(rc, opts && opts->if_none_match, "copy", bucket, dst_key, err);
	if (rc)
		goto out;
	etag_from(objfs_http_resp_header(&resp, "etag"), etag);
	st = objfs_http_resp_header(&resp, "x-ms-copy-status");
	if (st && strcmp(st, "success"))
		rc = copy_wait(p, bucket, dst_key, etag, err);
out:
	objfs_http_resp_clear(&resp);
	req_free(&r);
	if (url) {
		OPENSSL_cleanse(url, strlen(url));
		free(url);
	}
	free(spath);
	return rc;
}

static int az_copy(struct objfs_provider *p, const char *bucket, const char *src_key,
		   const char *dst_key, const struct objfs_putopts *opts,
		   char *etag_out, struct objfs_err *err)
{
	struct objfs_http_resp src;
	char etag[OBJFS_ETAG_MAX], src_etag[OBJFS_ETAG_MAX];
	const char *ctype, *want;
	int same = !strcmp(src_key, dst_key), rc;

	memset(&src, 0, sizeof(src));
	if ((rc = objfs_key_check(src_key, err)) || (rc = objfs_key_check(dst_key, err)) ||
	    (rc = meta_check(opts, err)))
		return rc;
	if (same && !opts)
		return objfs_err_set(err, -EINVAL, "azure copy %s/%s onto itself without new "
				     "metadata", bucket, src_key);
	rc = head_raw(p, bucket, src_key, &src, err);
	if (rc)
		goto out;
	etag_from(objfs_http_resp_header(&src, "etag"), src_etag);
	if (opts && opts->if_match && strcmp(opts->if_match, src_etag)) {
		rc = objfs_err_set(err, -ESTALE, "azure copy %s/%s: the source changed", bucket,
				   src_key);
		goto out;
	}
	snprintf(etag, sizeof(etag), "%s", src_etag);
	if (same) {
		/* chmod/chown/utimens: metadata in place, conditional on the
		 * ETag the caller saw; then the content type if it changes */
		rc = set_metadata(p, bucket, dst_key, opts->meta, opts->nmeta, etag, err);
	} else {
		rc = copy_blob(p, bucket, src_key, dst_key, src_etag, opts, etag, err);
		/* Copy Blob copies the source's metadata when it is given none */
		if (rc == 0 && opts && opts->nmeta == 0)
			rc = set_metadata(p, bucket, dst_key, NULL, 0, etag, err);
	}
	if (rc || !opts)
		goto out;
	ctype = objfs_http_resp_header(&src, "content-type");
	want = opts->content_type ? opts->content_type : "application/octet-stream";
	if (!ctype || strcmp(ctype, want))
		rc = set_content_type(p, bucket, dst_key, want, &src, etag, err);
out:
	if (rc == 0 && etag_out)
		snprintf(etag_out, OBJFS_ETAG_MAX, "%s", etag);
	objfs_http_resp_clear(&src);
	return rc;
}

/* ---- block uploads ---- */

/*
 * The upload id: AZ_ID_HEX random hex digits, then what Put Block List must
 * send, as "&ct=TYPE&im=ETAG&inm=1&m.NAME=VALUE..." with values encoded.
 * Kept by the write-back journal across restarts.
 */
struct az_upload {
	char hex[AZ_ID_HEX + 1];
	char *ctype;
	char *if_match;
	int if_none_match;
	struct objfs_kv *meta;
	size_t nmeta;
};

static void upload_clear(struct az_upload *u)
{
	free(u->ctype);
	free(u->if_match);
	for (size_t i = 0; i < u->nmeta; i++) {
		free(u->meta[i].key);
		free(u->meta[i].value);
	}
	free(u->meta);
	memset(u, 0, sizeof(*u));
}

static char *pct_dup(const char *s, size_t n)
{
	char *out = malloc(n + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		int h, l;

		if (s[i] == '%' && i + 2 < n && (h = objfs_hexval((unsigned char)s[i + 1])) >= 0 &&
		    (l = objfs_hexval((unsigned char)s[i + 2])) >= 0 && (h || l)) {
			*o++ = (char)(h * 16 + l);
			i += 2;
		} else if (s[i] == '%') {
			free(out);
			return NULL;
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;
}

/* Parses an upload id; -ENOENT for one that is not ours (the journal's
 * upload ids of another provider, or a damaged one). */
static int upload_parse(const char *id, struct az_upload *u, struct objfs_err *err)
{
	const char *s;

	memset(u, 0, sizeof(*u));
	for (int i = 0; i < AZ_ID_HEX; i++)
		if (!isxdigit((unsigned char)id[i]))
			goto bad;
	memcpy(u->hex, id, AZ_ID_HEX);
	s = id + AZ_ID_HEX;
	while (*s) {
		const char *e, *eq;
		char *v;

		if (*s != '&')
			goto bad;
		s++;
		e = strchrnul(s, '&');
		eq = memchr(s, '=', (size_t)(e - s));
		if (!eq || !(v = pct_dup(eq + 1, (size_t)(e - eq - 1))))
			goto bad;
		if (eq - s == 2 && !strncmp(s, "ct", 2)) {
			free(u->ctype);
			u->ctype = v;
		} else if (eq - s == 2 && !strncmp(s, "im", 2)) {
			free(u->if_match);
			u->if_match = v;
		} else if (eq - s == 3 && !strncmp(s, "inm", 3)) {
			u->if_none_match = 1;
			free(v);
		} else if (eq - s > 2 && !strncmp(s, "m.", 2)) {
			struct objfs_kv *nv = realloc(u->meta, (u->nmeta + 1) * sizeof(*nv));
			char *k = strndup(s + 2, (size_t)(eq - s - 2));

			if (!nv || !k) {
				if (nv)
					u->meta = nv;
				free(k);
				free(v);
				upload_clear(u);
				return objfs_err_set(err, -ENOMEM, "out of memory");
			}
			u->meta = nv;
			u->meta[u->nmeta].key = k;
			u->meta[u->nmeta].value = v;
			u->nmeta++;
		} else {
			free(v);
			goto bad;
		}
		s = e;
	}
	return 0;
bad:
	upload_clear(u);
	return objfs_err_set(err, -ENOENT, "azure: not an upload id of this provider");
}

static int upload_aborted(struct objfs_provider *p, const struct az_upload *u)
{
	int found = 0;

	pthread_mutex_lock(&p->aborted_lock);
	for (unsigned i = 0; i < AZ_ABORTED_MAX && !found; i++)
		found = !strcmp(p->aborted[i], u->hex);
	pthread_mutex_unlock(&p->aborted_lock);
	return found;
}

/* upload_parse, and -ENOENT for an upload this instance aborted. */
static int upload_open(struct objfs_provider *p, const char *id, struct az_upload *u,
		       struct objfs_err *err)
{
	int rc = upload_parse(id, u, err);

	if (rc == 0 && upload_aborted(p, u)) {
		upload_clear(u);
		rc = objfs_err_set(err, -ENOENT, "azure: the upload was aborted");
	}
	return rc;
}

/* The block id of part n: base64 of "HEX24-NNNNN" (30 bytes: 40 characters,
 * no padding), the same width for every part of every upload. */
static void block_id(const char *hex, int n, char out[41])
{
	char raw[31];

	snprintf(raw, sizeof(raw), "%.*s-%05d", AZ_BLOCK_PREFIX, hex, n);
	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)raw, 30);
}

static int az_mpu_create(struct objfs_provider *p, const char *bucket, const char *key,
			 const struct objfs_putopts *opts, char **upload_id,
			 struct objfs_err *err)
{
	unsigned char rnd[AZ_ID_HEX / 2];
	char *id = NULL;
	int rc;

	(void)p;
	(void)bucket;
	*upload_id = NULL;
	if ((rc = objfs_key_check(key, err)) || (rc = meta_check(opts, err)))
		return rc;
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return objfs_err_set(err, -EIO, "azure: no random bytes for an upload id");
	id = malloc(AZ_ID_HEX + 1);
	if (!id)
		return objfs_err_set(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(id + 2 * i, 3, "%02x", rnd[i]);
	if (q_add(&id, "ct", opts && opts->content_type ? opts->content_type
						       : "application/octet-stream") ||
	    (opts && opts->if_match && q_add(&id, "im", opts->if_match)) ||
	    (opts && opts->if_none_match && q_add(&id, "inm", "1")))
		goto nomem;
	for (size_t i = 0; opts && i < opts->nmeta; i++) {
		char name[256];

		snprintf(name, sizeof(name), "m.%s", opts->meta[i].key);
		if (q_add(&id, name, opts->meta[i].value))
			goto nomem;
	}
	*upload_id = id;
	return 0;
nomem:
	free(id);
	return objfs_err_set(err, -ENOMEM, "out of memory");
}

static int az_mpu_upload_part(struct objfs_provider *p, const char *bucket,
			      const char *key, const char *upload_id, int part_number,
			      uint64_t off, const struct objfs_source *src, char *etag_out,
			      struct objfs_err *err)
{
	struct objfs_http_resp resp;
	struct az_upload u;
	struct az_req r;
	char bid[41];
	int rc;

	(void)off;
	memset(&resp, 0, sizeof(resp));
	memset(&r, 0, sizeof(r));
	etag_out[0] = '\0';
	if (part_number < 1 || part_number > AZ_MAX_BLOCKS)
		return objfs_err_set(err, -EINVAL, "azure put-block: part %d outside 1..%d",
				     part_number, AZ_MAX_BLOCKS);
	if (!src || src->size == 0 || src->size > AZ_BLOCK_MAX)
		return objfs_err_set(err, -EINVAL, "azure put-block: a block of %llu bytes "
				     "(1 byte to 4000 MiB)", src ? (unsigned long long)src->size : 0ull);
	if ((rc = objfs_key_check(key, err)))
		return rc;
	rc = upload_open(p, upload_id, &u, err);
	if (rc)
		return rc;
	block_id(u.hex, part_number, bid);
	r.method = "PUT";
	r.path = az_path(p, bucket, key);
	if (q_add(&r.query, "comp", "block") || q_add(&r.query, "blockid", bid))
		r.nomem = 1;
	rc = body_md5(src, &r, err);
	if (rc == 0)
		rc = az_call(p, "put-block", bucket, key, &r, src, NULL, 0, 0, &resp, err);
	if (rc == 0)
		snprintf(etag_out, OBJFS_ETAG_MAX, "%s", bid);
	objfs_http_resp_clear(&resp);
	req_free(&r);
	upload_clear(&u);
	return rc;
}

static int az_mpu_complete(struct objfs_provider *p, const char *bucket, const char *key,
			   const char *upload_id, const struct objfs_part *parts,
			   size_t nparts, char *etag_out, struct objfs_err *err)
{
	struct objfs_http_resp resp;
	struct objfs_seg seg;
	struct objfs_source src;
	struct az_upload u;
	struct az_req r;
	const char **ids = NULL;
	char (*bids)[41] = NULL, *body = NULL;
	size_t blen = 0;
	int rc;

	memset(&resp, 0, sizeof(resp));
	memset(&r, 0, sizeof(r));
	if ((rc = objfs_key_check(key, err)))
		return rc;
	rc = upload_open(p, upload_id, &u, err);
	if (rc)
		return rc;
	if (nparts == 0 || nparts > AZ_MAX_BLOCKS) {
		rc = objfs_err_set(err, -EINVAL, "azure put-block-list: %zu blocks (1..%d)", nparts,
				   AZ_MAX_BLOCKS);
		goto out;
	}
	ids = calloc(nparts, sizeof(*ids));
	bids = calloc(nparts, sizeof(*bids));
	if (!ids || !bids) {
		rc = objfs_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < nparts; i++) {
		if (parts[i].number < 1 || parts[i].number > AZ_MAX_BLOCKS ||
		    (i && parts[i].number <= parts[i - 1].number)) {
			rc = objfs_err_set(err, -EINVAL, "azure put-block-list: part numbers not "
					   "ascending in 1..%d", AZ_MAX_BLOCKS);
			goto out;
		}
		block_id(u.hex, parts[i].number, bids[i]);
		if (strcmp(parts[i].etag, bids[i])) {
			rc = objfs_err_set(err, -EINVAL, "azure put-block-list: part %d was not sent "
					   "in this upload (InvalidPart)", parts[i].number);
			goto out;
		}
		ids[i] = bids[i];
	}
	rc = azure_xml_build_blocklist(ids, nparts, &body, &blen);
	if (rc) {
		rc = objfs_err_set(err, rc, "out of memory");
		goto out;
	}
	seg = (struct objfs_seg){ .fd = -1, .buf = body, .off = 0, .len = blen };
	src = (struct objfs_source){ &seg, 1, blen };
	r.method = "PUT";
	r.path = az_path(p, bucket, key);
	if (q_add(&r.query, "comp", "blocklist"))
		r.nomem = 1;
	rc = body_md5(&src, &r, err);
	if (rc)
		goto out;
	req_hdr(&r, "x-ms-blob-content-type", u.ctype ? u.ctype : "application/octet-stream");
	meta_headers(&r, u.meta, u.nmeta);
	cond_headers(&r, u.if_match, u.if_none_match);
	rc = az_call(p, "put-block-list", bucket, key, &r, &src, NULL, 0, 0, &resp, err);
	rc = cond_fail(rc, u.if_none_match, "put-block-list", bucket, key, err);
	if (rc == 0 && etag_out)
		etag_from(objfs_http_resp_header(&resp, "etag"), etag_out);
out:
	objfs_http_resp_clear(&resp);
	req_free(&r);
	upload_clear(&u);
	free(ids);
	free(bids);
	free(body);
	return rc;
}

/* Nothing to delete: uncommitted blocks expire by themselves (7 days), and
 * the next upload to the blob or a commit drops them. */
static int az_mpu_abort(struct objfs_provider *p, const char *bucket, const char *key,
			const char *upload_id, struct objfs_err *err)
{
	struct az_upload u;
	int rc;

	(void)bucket;
	(void)key;
	rc = upload_open(p, upload_id, &u, err);
	if (rc == 0) {
		pthread_mutex_lock(&p->aborted_lock);
		memcpy(p->aborted[p->naborted++ % AZ_ABORTED_MAX], u.hex, sizeof(u.hex));
		pthread_mutex_unlock(&p->aborted_lock);
	}
	upload_clear(&u);
	return rc;
}

static int part_cmp(const void *a, const void *b)
{
	const struct objfs_part *x = a, *y = b;

	return (x->number > y->number) - (x->number < y->number);
}

/* The blocks of this upload the service holds uncommitted (Get Block List). */
static int az_mpu_list_parts(struct objfs_provider *p, const char *bucket,
			     const char *key, const char *upload_id,
			     struct objfs_part **parts, size_t *nparts, struct objfs_err *err)
{
	struct objfs_http_resp resp;
	struct azure_block *blocks = NULL;
	struct objfs_part *v = NULL;
	struct az_upload u;
	struct az_req r;
	size_t nb = 0, n = 0;
	int rc;

	*parts = NULL;
	*nparts = 0;
	memset(&resp, 0, sizeof(resp));
	memset(&r, 0, sizeof(r));
	rc = upload_open(p, upload_id, &u, err);
	if (rc)
		return rc;
	r.method = "GET";
	r.path = az_path(p, bucket, key);
	if (q_add(&r.query, "comp", "blocklist") ||
	    q_add(&r.query, "blocklisttype", "uncommitted"))
		r.nomem = 1;
	rc = az_call(p, "get-block-list", bucket, key, &r, NULL, NULL, 0, AZ_LIST_BODY_MAX,
		     &resp, err);
	if (rc == -ENOENT && !strstr(err->msg, "ContainerNotFound"))
		rc = 0;    /* no blob and no block yet */
	else if (rc == 0)
		rc = azure_xml_parse_blocklist(resp.body, resp.body_len, &blocks, &nb, err);
	if (rc)
		goto out;
	v = calloc(nb + 1, sizeof(*v));
	if (!v) {
		rc = objfs_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < nb; i++) {
		unsigned char raw[64];
		int len, num;
		char bid[41];

		if (blocks[i].committed || strlen(blocks[i].name) != 40)
			continue;
		len = EVP_DecodeBlock(raw, (const unsigned char *)blocks[i].name, 40);
		if (len != 30 || memcmp(raw, u.hex, AZ_BLOCK_PREFIX) || raw[AZ_BLOCK_PREFIX] != '-')
			continue;
		raw[30] = '\0';
		num = atoi((const char *)raw + AZ_BLOCK_PREFIX + 1);
		block_id(u.hex, num, bid);
		if (num < 1 || strcmp(bid, blocks[i].name))
			continue;
		v[n].number = num;
		v[n].size = blocks[i].size;
		snprintf(v[n].etag, sizeof(v[n].etag), "%s", bid);
		n++;
	}
	qsort(v, n, sizeof(*v), part_cmp);
	*parts = v;
	*nparts = n;
	v = NULL;
out:
	free(v);
	azure_blocks_free(blocks, nb);
	objfs_http_resp_clear(&resp);
	req_free(&r);
	upload_clear(&u);
	return rc;
}

static int az_mpu_list_uploads(struct objfs_provider *p, const char *bucket,
			       const char *prefix, struct objfs_mpu_info **out, size_t *n,
			       struct objfs_err *err)
{
	(void)p;
	(void)bucket;
	(void)prefix;
	*out = NULL;
	*n = 0;
	return objfs_err_set(err, -ENOSYS, "azure keeps no upload objects to list "
			     "(uncommitted blocks expire by themselves)");
}

/* ---- presign, health, containers ---- */

static int az_presign(struct objfs_provider *p, const char *bucket, const char *key,
		      const char *method, unsigned ttl_s, char **url, struct objfs_err *err)
{
	char *path = NULL, *q = NULL;
	const char *perms;
	int rc;

	*url = NULL;
	if (!strcmp(method, "GET"))
		perms = "r";
	else if (!strcmp(method, "PUT"))
		perms = "cw";
	else
		return objfs_err_set(err, -EINVAL, "presign: method %s (GET or PUT)", method);
	if (ttl_s < 1 || ttl_s > AZ_PRESIGN_MAX_S)
		return objfs_err_set(err, -EINVAL, "presign: TTL %u s outside 1..%u", ttl_s,
				     AZ_PRESIGN_MAX_S);
	if ((rc = objfs_key_check(key, err)))
		return rc;
	if (!p->cred.keylen)
		return objfs_err_set(err, -ENOTSUP, "presign: provider %s has a SAS token, and "
				     "presigned URLs need the account key (account_key = ...)",
				     p->name);
	rc = azure_sas_blob_query(&p->cred, p->account, bucket, key, perms,
				  az_now(p) + (time_t)ttl_s, AZ_VERSION, &q);
	path = az_path(p, bucket, key);
	if (rc || !path ||
	    asprintf(url, "%s://%s%s?%s", p->scheme, p->authority, path, q) < 0) {
		*url = NULL;
		rc = objfs_err_set(err, rc && rc != -ENOMEM ? rc : -ENOMEM, "presign %s/%s failed",
				   bucket, key);
	}
	if (q) {
		OPENSSL_cleanse(q, strlen(q));
		free(q);
	}
	free(path);
	return rc;
}

/*
 * Health: one request (Get Container Properties, or List Containers when no
 * bucket is named), told apart as: no answer (unreachable), a Date more than
 * 15 minutes from our clock or a 403 that says the request time is off
 * (clock skew), other 401/403 (auth), 404 (no bucket), 5xx (degraded).
 */
static int az_health(struct objfs_provider *p, const char *bucket, struct objfs_health *out,
		     struct objfs_err *err)
{
	struct objfs_http_resp resp;
	struct objfs_http_req hr;
	struct az_req r;
	char code[64], msg[256];
	const char *date;
	double t0 = mono_s();
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&resp, 0, sizeof(resp));
	memset(&r, 0, sizeof(r));
	memset(&hr, 0, sizeof(hr));
	r.method = "GET";
	r.path = az_path(p, bucket, NULL);
	if (bucket ? q_add(&r.query, "restype", "container")
		   : (q_add(&r.query, "comp", "list") || q_add(&r.query, "maxresults", "1")))
		r.nomem = 1;
	hr.single_attempt = 1;
	rc = az_send(p, &r, &hr, &resp);
	if (rc == -ENOMEM) {
		rc = objfs_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	out->latency_s = mono_s() - t0;
	if (rc < 0) {
		out->state = OBJFS_HEALTH_UNREACHABLE;
		snprintf(out->detail, sizeof(out->detail), "%s://%.80s unreachable: %.150s",
			 p->scheme, p->authority, resp.err[0] ? resp.err : strerror(-rc));
		rc = 0;
		goto out;
	}
	rc = 0;
	error_code(&resp, code, msg);
	date = objfs_http_resp_header(&resp, "date");
	if (date) {
		time_t srv = curl_getdate(date, NULL);
		long skew = srv > 0 ? (long)(srv - az_now(p)) : 0;

		if (labs(skew) > AZ_SKEW_MAX_S) {
			out->state = OBJFS_HEALTH_CLOCK_SKEW;
			snprintf(out->detail, sizeof(out->detail),
				 "clock skew: the store's clock is %+ld s from ours", skew);
			goto out;
		}
	}
	if ((resp.status == 403 || resp.status == 401) &&
	    (strstr(msg, "x-ms-date") || strstr(msg, "Request date") || strstr(msg, "too old"))) {
		out->state = OBJFS_HEALTH_CLOCK_SKEW;
		snprintf(out->detail, sizeof(out->detail), "clock skew: %.200s", msg);
	} else if (resp.status == 401 || resp.status == 403) {
		out->state = OBJFS_HEALTH_AUTH;
		snprintf(out->detail, sizeof(out->detail), "credentials refused: HTTP %ld %.63s%s%.120s",
			 resp.status, code, msg[0] ? ": " : "", msg);
	} else if (resp.status == 404) {
		out->state = OBJFS_HEALTH_NO_BUCKET;
		snprintf(out->detail, sizeof(out->detail), "container '%s' missing",
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

static int az_bucket_exists(struct objfs_provider *p, const char *bucket, struct objfs_err *err)
{
	struct objfs_http_resp resp;
	struct az_req r;
	int rc;

	memset(&resp, 0, sizeof(resp));
	memset(&r, 0, sizeof(r));
	r.method = "HEAD";
	r.path = az_path(p, bucket, NULL);
	if (q_add(&r.query, "restype", "container"))
		r.nomem = 1;
	rc = az_call(p, "get-container", bucket, NULL, &r, NULL, NULL, 0, 0, &resp, err);
	objfs_http_resp_clear(&resp);
	req_free(&r);
	return rc;
}

static int az_bucket_create(struct objfs_provider *p, const char *bucket, struct objfs_err *err)
{
	struct objfs_http_resp resp;
	struct az_req r;
	int rc;

	memset(&resp, 0, sizeof(resp));
	memset(&r, 0, sizeof(r));
	rc = objfs_bucket_check_type("azure", bucket, err);
	if (rc)
		return rc;
	r.method = "PUT";
	r.path = az_path(p, bucket, NULL);
	if (q_add(&r.query, "restype", "container"))
		r.nomem = 1;
	rc = az_call(p, "create-container", bucket, NULL, &r, NULL, NULL, 0, 0, &resp, err);
	if (rc == -EEXIST && strstr(err->msg, "ContainerAlreadyExists"))
		rc = 0;
	objfs_http_resp_clear(&resp);
	req_free(&r);
	return rc;
}

const struct objfs_provider_ops objfs_provider_azure = {
	.type = "azure",
	.caps = 0,
	.mpu_threshold = 16ull << 20,
	.mpu_min_part = 1ull << 20,
	.mpu_max_parts = AZ_MAX_BLOCKS,
	.open = az_open,
	.close = az_close,
	.head = az_head,
	.get = az_get,
	.put = az_put,
	.list = az_list,
	.del = az_del,
	.del_batch = az_del_batch,
	.copy = az_copy,
	.mpu_create = az_mpu_create,
	.mpu_upload_part = az_mpu_upload_part,
	.mpu_complete = az_mpu_complete,
	.mpu_abort = az_mpu_abort,
	.mpu_list_parts = az_mpu_list_parts,
	.mpu_list_uploads = az_mpu_list_uploads,
	.presign = az_presign,
	.health = az_health,
	.bucket_exists = az_bucket_exists,
	.bucket_create = az_bucket_create,
};
