/*
 * The gcs provider: Google Cloud Storage through its JSON API.
 *
 * Authentication is a service-account key (src/gcs_auth.c): an RS256 JWT
 * traded for an OAuth2 access token, cached and refreshed before it
 * expires.  Every request goes through gcs_call(): the HTTP client's prepare
 * callback puts the current token in "Authorization: Bearer" at each
 * attempt, a 401 hands the token back as stale (one refresh) and the request
 * is sent once more, and gcs_fail() is the one place that turns a failed
 * answer into an errno (the same as s3's for the same failure) and a message
 * naming the operation, bucket and key -- never a token, key or session URI.
 *
 * Versions: an object's ETag, everywhere objfs sees one, is its generation
 * (a decimal string).  if_match becomes ifGenerationMatch, if_none_match
 * ifGenerationMatch=0, a copy's if_match ifSourceGenerationMatch; 412 is
 * -ESTALE (-EEXIST for if_none_match).
 *
 * Metadata: objfs's attribute keys (mode, uid, gid, mtime, xattr) live in
 * the object's custom "metadata" map under the names s3 uses.  gcsfuse keeps
 * an object's mtime as "gcsfuse_mtime" (RFC 3339): when "mtime" is absent,
 * head and list report that one as objfs's "mtime" (seconds[.nanos]).
 *
 * Uploads: put is one multipart/related upload (JSON resource + bytes).
 * The mpu_* operations are a resumable upload session: mpu_create starts it
 * and returns the session URI as the upload id (the write-back journal keeps
 * it); parts are PUT in order with "Content-Range: bytes A-B/ *" (every part
 * but the last a multiple of 256 KiB, which whole chunks always are); a part
 * whose size is not such a multiple is the last one and finalizes the
 * session with the total.  On a transport failure or a 5xx the session is
 * asked what it holds ("bytes * / *" -> 308 with Range) and only the rest is
 * sent; the first time this process uses a session (after a restart, when
 * the journal may lag what the server has) it asks before sending.  Each
 * part's "ETag" (what the journal keeps) is its CRC-32C in hex, plus
 * ":GENERATION" for the part that finalized; mpu_complete combines the
 * parts' CRCs into the object's and checks it against the stored crc32c,
 * finalizing with "bytes * /TOTAL" when no part did.  Sessions cannot be
 * listed (mpu_list_uploads is -ENOSYS); unfinished ones expire after a week.
 *
 * With parallel_composite = true, the parts are instead temporary objects
 * ("DIR/.objfs-compose-ID-N" beside the key), composed 32 at a time into the
 * object, then deleted (see docs/gcs.md for why this is off by default).
 *
 * Every upload's crc32c (and md5Hash where the store gives one) is checked
 * against what was computed from the bytes sent; a mismatch is -EIO and the
 * generation written is deleted, so no reader trusts it.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "objfs/provider.h"
#include "crc32c.h"
#include "gcs_auth.h"
#include "gcs_sign.h"
#include "http.h"
#include "log.h"
#include "sigv4.h"

#define GCS_DEFAULT_ENDPOINT "https://storage.googleapis.com"
#define GCS_CHUNK_ALIGN      (256u * 1024)     /* resumable chunks: multiples of 256 KiB */
#define GCS_SKEW_MAX_S       300               /* health: clock skew over 5 minutes */
#define GCS_LIST_BODY_MAX    (32u << 20)
#define GCS_JSON_BODY_MAX    (4u << 20)
#define GCS_SESS_MAX         64                /* sessions whose offset this process knows */
#define GCS_PART_ATTEMPTS    6                 /* failures of one part before -EIO */
#define GCS_PART_ROUNDS      64                /* chunk requests of one part at most */
#define GCS_REWRITE_ROUNDS   100000            /* rewriteTo calls of one copy at most */
#define GCS_COMPOSE_MAX      32                /* sources of one compose */
#define GCS_COMPOSE_TAG      ".objfs-compose-"
#define GCS_COMPOSE_ID       "compose:"
#define GCS_READ_BUF         (1u << 20)

/* What this process knows of a resumable session. */
struct gcs_session {
	char *uri;                       /* NULL: free slot */
	uint64_t persisted;              /* bytes the server holds */
	unsigned used;                   /* LRU tick */
};

struct objfs_provider {
	char *name;
	char *base;                      /* "scheme://authority[/path]", no trailing '/' */
	char *scheme;
	char *authority;
	char *base_path;                 /* "" or "/x" */
	objfs_clock_fn clock;
	int composite;                   /* parallel composite uploads */
	struct gcs_key key;
	struct gcs_auth *auth;
	struct objfs_http *http;
	pthread_mutex_t sess_lock;       /* protects sess, tick; a leaf lock */
	struct gcs_session sess[GCS_SESS_MAX];
	unsigned tick;
};

/* One request, as the prepare callback completes it. */
struct gcs_req {
	struct objfs_provider *p;
	const char *method;
	char *url;                       /* owned; complete and encoded */
	char *hdrs[8];                   /* "Name: value", owned */
	size_t nhdrs;
	int nomem;
	int no_auth;                     /* a session URI is its own credential */
	int accept_308;                  /* a resumable session's "incomplete" */
	char *token;                     /* the token the last attempt carried */
	char *stale;                     /* a token the store refused (401) */
	int auth_rc;                     /* prepare could not get a token */
	struct objfs_err auth_err;
};

static time_t gcs_now(const struct objfs_provider *p)
{
	return p->clock ? p->clock() : time(NULL);
}

/* ---- request building ---- */

static void req_hdrf(struct gcs_req *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void req_hdrf(struct gcs_req *r, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int n;

	if (r->nhdrs >= sizeof(r->hdrs) / sizeof(r->hdrs[0])) {
		r->nomem = 1;
		return;
	}
	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0) {
		r->nomem = 1;
		return;
	}
	r->hdrs[r->nhdrs++] = s;
}

static void req_free(struct gcs_req *r)
{
	for (size_t i = 0; i < r->nhdrs; i++)
		free(r->hdrs[i]);
	if (r->url && r->no_auth)
		OPENSSL_cleanse(r->url, strlen(r->url));   /* a session URI */
	free(r->url);
	if (r->token)
		OPENSSL_cleanse(r->token, GCS_TOKEN_MAX);
	if (r->stale)
		OPENSSL_cleanse(r->stale, GCS_TOKEN_MAX);
	free(r->token);
	free(r->stale);
	memset(r, 0, sizeof(*r));
}

static char *enc(const char *s)
{
	return objfs_sigv4_uri_encode(s, strlen(s), 0);
}

/* base + fmt, where each %s argument is URI-encoded (bucket, key). */
static char *url_obj(const struct objfs_provider *p, const char *api, const char *bucket,
		     const char *key, const char *suffix)
{
	char *b = enc(bucket), *k = key ? enc(key) : NULL, *out = NULL;

	if (b && (!key || k) &&
	    asprintf(&out, "%s%s/b/%s%s%s%s", p->base, api, b, key ? "/o/" : "", k ? k : "",
		     suffix ? suffix : "") < 0)
		out = NULL;
	free(b);
	free(k);
	return out;
}

/* Appends "&name=value" (or "?name=value" first), value URI-encoded. */
static int q_add(char **url, const char *name, const char *value)
{
	char *v = enc(value), *n = NULL;
	int rc = -ENOMEM;

	if (v && asprintf(&n, "%s%c%s=%s", *url, strchr(*url, '?') ? '&' : '?', name, v) >= 0) {
		free(*url);
		*url = n;
		rc = 0;
	}
	free(v);
	return rc;
}

/* The prepare callback: the caller's headers and a current token. */
static int gcs_prepare(void *ctx, struct curl_slist **out)
{
	struct gcs_req *r = ctx;
	struct curl_slist *list = NULL, *t;
	char *line = NULL;
	int rc = -ENOMEM;

	for (size_t i = 0; i < r->nhdrs; i++) {
		if (!(t = curl_slist_append(list, r->hdrs[i])))
			goto out;
		list = t;
	}
	if (!r->no_auth) {
		if (!r->token && !(r->token = malloc(GCS_TOKEN_MAX)))
			goto out;
		rc = gcs_auth_token(r->p->auth, r->stale, r->token, &r->auth_err);
		if (rc) {
			r->auth_rc = rc;
			goto out;
		}
		rc = -ENOMEM;
		if (asprintf(&line, "Authorization: Bearer %s", r->token) < 0) {
			line = NULL;
			goto out;
		}
		t = curl_slist_append(list, line);
		OPENSSL_cleanse(line, strlen(line));
		if (!t)
			goto out;
		list = t;
	}
	*out = list;
	list = NULL;
	rc = 0;
out:
	free(line);
	curl_slist_free_all(list);
	return rc;
}

/* Message of a JSON error answer ({"error":{"message":...}}), or "". */
static void json_error_text(const struct objfs_http_resp *resp, char *out, size_t cap)
{
	json_t *root;
	const char *m = NULL;

	out[0] = '\0';
	if (!resp->body || !resp->body_len)
		return;
	root = json_loadb(resp->body, resp->body_len, 0, NULL);
	m = json_string_value(json_object_get(json_object_get(root, "error"), "message"));
	if (m)
		snprintf(out, cap, "%s", m);
	json_decref(root);
}

/* The one place that turns a failed response into an errno and a message. */
static int gcs_fail(const char *op, const char *bucket, const char *key,
		    const struct objfs_http_resp *resp, int rc, struct objfs_err *err)
{
	char msg[200];

	if (rc < 0) {
		int e = rc == -ENOMEM || rc == -EMSGSIZE ? rc : -EIO;
		return objfs_err_set(err, e, "gcs %s %s/%s: %s", op, bucket ? bucket : "",
				     key ? key : "", resp->err[0] ? resp->err : strerror(-rc));
	}
	json_error_text(resp, msg, sizeof(msg));
	rc = objfs_http_status_errno(resp->status);
	if (resp->status == 410)
		rc = -ENOENT;          /* an expired upload session */
	if (rc == 0)
		rc = -EIO;
	return objfs_err_set(err, rc, "gcs %s %s/%s: HTTP %ld%s%s", op, bucket ? bucket : "",
			     key ? key : "", resp->status, msg[0] ? ": " : "", msg);
}

/*
 * Performs r (body, response target, attempt policy in the arguments),
 * refreshing the token once on a 401.  Returns 0 for a 2xx (or a 308 when
 * r->accept_308) with resp filled (the caller clears it), else a negative
 * errno with err set and resp cleared.
 */
static int gcs_call(struct objfs_provider *p, const char *op, const char *bucket,
		    const char *key, struct gcs_req *r, const struct objfs_source *body,
		    void *out_buf, size_t out_cap, size_t max_body, int single,
		    struct objfs_http_resp *resp, struct objfs_err *err)
{
	struct objfs_http_req hr;
	int rc = -ENOMEM;

	r->p = p;
	if (r->nomem || !r->url)
		return objfs_err_set(err, -ENOMEM, "out of memory");
	for (int round = 0; round < 2; round++) {
		memset(&hr, 0, sizeof(hr));
		hr.method = r->method;
		hr.url = r->url;
		hr.body = body;
		hr.out_buf = out_buf;
		hr.out_cap = out_cap;
		hr.max_body = max_body;
		hr.single_attempt = single;
		hr.prepare = gcs_prepare;
		hr.ctx = r;
		r->auth_rc = 0;
		rc = objfs_http_do(p->http, &hr, resp);
		if (rc < 0 && r->auth_rc)
			return objfs_err_set(err, r->auth_rc, "gcs %s %s/%s: %s", op,
					     bucket ? bucket : "", key ? key : "", r->auth_err.msg);
		if (rc == 0 && resp->status == 401 && !r->no_auth && round == 0 && r->token) {
			/* the token was refused: a new one, once */
			if (!r->stale && !(r->stale = malloc(GCS_TOKEN_MAX)))
				break;
			memcpy(r->stale, r->token, GCS_TOKEN_MAX);
			log_debug("gcs %s %s: token refused (401), refreshing it", op,
				  bucket ? bucket : "");
			continue;
		}
		break;
	}
	if (rc == 0 && ((resp->status >= 200 && resp->status < 300) ||
			(r->accept_308 && resp->status == 308)))
		return 0;
	rc = gcs_fail(op, bucket, key, resp, rc, err);
	objfs_http_resp_clear(resp);
	return rc;
}

/* Parses a JSON object answer.  NULL with -EIO in err when it is not one. */
static json_t *gcs_json(const struct objfs_http_resp *resp, const char *op, const char *bucket,
			const char *key, struct objfs_err *err)
{
	json_t *root = resp->body ? json_loadb(resp->body, resp->body_len, 0, NULL) : NULL;

	if (!json_is_object(root)) {
		json_decref(root);
		objfs_err_set(err, -EIO, "gcs %s %s/%s: malformed JSON answer", op,
			      bucket ? bucket : "", key ? key : "");
		return NULL;
	}
	return root;
}

/* ---- object resources ---- */

/* Nanoseconds of an RFC 3339 time ("2006-01-02T15:04:05.999999999Z07:00");
 * 0 and *ok = 0 when it does not parse. */
static int64_t rfc3339_ns(const char *s, int *ok)
{
	struct tm tm;
	const char *c;
	int64_t ns = 0, scale = 100000000;
	long off = 0;
	time_t t;

	*ok = 0;
	if (!s)
		return 0;
	memset(&tm, 0, sizeof(tm));
	c = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!c)
		return 0;
	if (*c == '.') {
		for (c++; isdigit((unsigned char)*c); c++) {
			ns += (*c - '0') * scale;
			scale /= 10;
		}
	}
	if (*c == 'Z' || *c == 'z') {
		c++;
	} else if ((*c == '+' || *c == '-') && isdigit((unsigned char)c[1]) &&
		   isdigit((unsigned char)c[2]) && c[3] == ':' && isdigit((unsigned char)c[4]) &&
		   isdigit((unsigned char)c[5])) {
		off = ((c[1] - '0') * 10 + (c[2] - '0')) * 3600 + ((c[4] - '0') * 10 + (c[5] - '0')) * 60;
		if (*c == '-')
			off = -off;
		c += 6;
	} else {
		return 0;
	}
	if (*c)
		return 0;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return 0;
	*ok = 1;
	return ((int64_t)t - off) * 1000000000 + ns;
}

/* A decimal unsigned value of a JSON string (GCS sends int64 as strings). */
static int json_u64(json_t *o, const char *name, uint64_t *v)
{
	const char *s = json_string_value(json_object_get(o, name));
	char *end;

	if (!s || !isdigit((unsigned char)s[0]))
		return -1;
	*v = strtoull(s, &end, 10);
	return *end ? -1 : 0;
}

/* Object info from a JSON object resource (has_meta = 1). */
static int info_from_json(json_t *o, struct objfs_objinfo *out, const char *op,
			  const char *bucket, struct objfs_err *err)
{
	const char *name = json_string_value(json_object_get(o, "name"));
	const char *gen = json_string_value(json_object_get(o, "generation"));
	const char *ct = json_string_value(json_object_get(o, "contentType"));
	json_t *md = json_object_get(o, "metadata"), *v;
	struct objfs_kv *meta = NULL;
	size_t nmeta = 0, cap;
	const char *k;
	char mt[48];
	int ok, rc;

	memset(out, 0, sizeof(*out));
	if (!name || !gen || strlen(gen) >= OBJFS_ETAG_MAX || json_u64(o, "size", &out->size))
		return objfs_err_set(err, -EIO, "gcs %s %s: malformed JSON answer (object resource"
				     " without name, generation or size)", op, bucket);
	snprintf(out->etag, sizeof(out->etag), "%s", gen);
	out->mtime_ns = rfc3339_ns(json_string_value(json_object_get(o, "updated")), &ok);
	cap = (json_is_object(md) ? json_object_size(md) : 0) + 1;
	meta = calloc(cap, sizeof(*meta));
	if (!meta || !(out->key = strdup(name))) {
		rc = objfs_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	json_object_foreach(md, k, v) {
		if (!json_is_string(v))
			continue;
		meta[nmeta].key = (char *)k;
		meta[nmeta].value = (char *)json_string_value(v);
		nmeta++;
	}
	/* gcsfuse's mtime shows as objfs's when objfs has none */
	if (!json_object_get(md, "mtime")) {
		int64_t ns = rfc3339_ns(json_string_value(json_object_get(md, "gcsfuse_mtime")), &ok);

		if (ok && ns >= 0) {
			if (ns % 1000000000)
				snprintf(mt, sizeof(mt), "%" PRId64 ".%09" PRId64, ns / 1000000000,
					 ns % 1000000000);
			else
				snprintf(mt, sizeof(mt), "%" PRId64, ns / 1000000000);
			meta[nmeta].key = (char *)"mtime";
			meta[nmeta].value = mt;
			nmeta++;
		}
	}
	rc = objfs_objinfo_set_meta(out, ct, meta, nmeta);
	if (rc)
		rc = objfs_err_set(err, rc, "out of memory");
out:
	free(meta);
	if (rc)
		objfs_objinfo_clear(out);
	return rc;
}

/* The JSON resource of an object to write: name (may be NULL), contentType,
 * metadata.  NULL with err set (-ENOMEM, or -EINVAL for a value that is not
 * UTF-8). */
static json_t *resource_json(const char *name, const struct objfs_putopts *opts,
			     struct objfs_err *err)
{
	json_t *o = json_object(), *md = json_object();

	if (!o || !md)
		goto nomem;
	if (name && json_object_set_new(o, "name", json_string(name)))
		goto bad;
	if (json_object_set_new(o, "contentType",
				json_string(opts && opts->content_type ? opts->content_type
					    : "application/octet-stream")))
		goto bad;
	for (size_t i = 0; opts && i < opts->nmeta; i++)
		if (json_object_set_new(md, opts->meta[i].key, json_string(opts->meta[i].value)))
			goto bad;
	if (json_object_set(o, "metadata", md))
		goto nomem;
	json_decref(md);
	return o;
bad:
	json_decref(o);
	json_decref(md);
	objfs_err_set(err, -EINVAL, "gcs: a name, type or metadata value is not UTF-8");
	return NULL;
nomem:
	json_decref(o);
	json_decref(md);
	objfs_err_set(err, -ENOMEM, "out of memory");
	return NULL;
}

/* CRC-32C (and base64 MD5 when md5 != NULL) of a source, in one pass. */
static int source_hash(const struct objfs_source *src, uint32_t *crc, char md5[25])
{
	EVP_MD_CTX *md = NULL;
	unsigned char *buf = NULL, dig[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	uint64_t total = 0;
	int rc = -ENOMEM;

	*crc = 0;
	if (!src || !src->nsegs) {
		if (md5)
			snprintf(md5, 25, "1B2M2Y8AsgTpgAmY7PhCfg==");
		return 0;
	}
	if (!(buf = malloc(GCS_READ_BUF)))
		goto out;
	if (md5 && (!(md = EVP_MD_CTX_new()) || EVP_DigestInit_ex(md, EVP_md5(), NULL) != 1)) {
		rc = -EIO;
		goto out;
	}
	for (size_t i = 0; i < src->nsegs; i++) {
		const struct objfs_seg *s = &src->segs[i];

		for (uint64_t done = 0; done < s->len;) {
			size_t n = s->len - done < GCS_READ_BUF ? (size_t)(s->len - done) : GCS_READ_BUF;
			const void *p = buf;

			if (s->buf) {
				p = (const char *)s->buf + done;
			} else if (s->fd >= 0) {
				ssize_t got = pread(s->fd, buf, n, (off_t)(s->off + done));

				if (got < 0) {
					rc = -errno;
					goto out;
				}
				if (got == 0) {
					rc = -EIO;
					goto out;
				}
				n = (size_t)got;
			} else {
				memset(buf, 0, n);
			}
			*crc = objfs_crc32c(*crc, p, n);
			if (md && EVP_DigestUpdate(md, p, n) != 1) {
				rc = -EIO;
				goto out;
			}
			done += n;
		}
		total += s->len;
	}
	if (total != src->size) {
		rc = -EINVAL;
		goto out;
	}
	if (md) {
		if (EVP_DigestFinal_ex(md, dig, &dlen) != 1) {
			rc = -EIO;
			goto out;
		}
		EVP_EncodeBlock((unsigned char *)md5, dig, (int)dlen);
	}
	rc = 0;
out:
	EVP_MD_CTX_free(md);
	free(buf);
	return rc;
}

static int del_generation(struct objfs_provider *p, const char *bucket, const char *key,
			  const char *gen, struct objfs_err *err);

/*
 * Checks a written object's crc32c (and md5Hash, when both are known)
 * against what was sent; on a mismatch the generation is deleted (it must
 * not be trusted) and -EIO returned.
 */
static int verify_written(struct objfs_provider *p, const char *op, const char *bucket,
			  const char *key, json_t *o, uint32_t crc, uint64_t size,
			  const char *md5, struct objfs_err *err)
{
	const char *have_crc = json_string_value(json_object_get(o, "crc32c"));
	const char *have_md5 = json_string_value(json_object_get(o, "md5Hash"));
	const char *gen = json_string_value(json_object_get(o, "generation"));
	char want[9];
	uint64_t have_size = 0;
	struct objfs_err e2;

	objfs_crc32c_b64(crc, want);
	if (!gen || json_u64(o, "size", &have_size))
		return objfs_err_set(err, -EIO, "gcs %s %s/%s: malformed JSON answer (no generation"
				     " or size)", op, bucket, key);
	if (have_size == size && (!have_crc || !strcmp(have_crc, want)) &&
	    (!md5 || !have_md5 || !strcmp(have_md5, md5))) {
		if (!have_crc)
			log_warn("gcs %s %s/%s: the store sent no crc32c to check", op, bucket, key);
		return 0;
	}
	log_err("gcs %s %s/%s: the stored object differs from what was sent (size %" PRIu64
		"/%" PRIu64 ", crc32c %s/%s, md5 %s/%s); deleting generation %s",
		op, bucket, key, have_size, size, have_crc ? have_crc : "-", want,
		have_md5 ? have_md5 : "-", md5 ? md5 : "-", gen);
	del_generation(p, bucket, key, gen, &e2);
	return objfs_err_set(err, -EIO, "gcs %s %s/%s: checksum mismatch after upload (crc32c %s,"
			     " expected %s)", op, bucket, key, have_crc ? have_crc : "-", want);
}

/* Copies the generation of resource o into etag_out (may be NULL). */
static int etag_of(json_t *o, char *etag_out)
{
	const char *gen = json_string_value(json_object_get(o, "generation"));

	if (!gen || strlen(gen) >= OBJFS_ETAG_MAX)
		return -1;
	if (etag_out)
		snprintf(etag_out, OBJFS_ETAG_MAX, "%s", gen);
	return 0;
}

/* ---- open / close ---- */

static void gcs_close(struct objfs_provider *p)
{
	if (!p)
		return;
	gcs_auth_free(p->auth);
	objfs_http_free(p->http);
	gcs_key_clear(&p->key);
	for (size_t i = 0; i < GCS_SESS_MAX; i++) {
		if (p->sess[i].uri)
			OPENSSL_cleanse(p->sess[i].uri, strlen(p->sess[i].uri));
		free(p->sess[i].uri);
	}
	pthread_mutex_destroy(&p->sess_lock);
	free(p->name);
	free(p->base);
	free(p->scheme);
	free(p->authority);
	free(p->base_path);
	free(p);
}

/* Splits "scheme://host[:port][/path]" into p's fields. */
static int parse_endpoint(struct objfs_provider *p, const char *ep, struct objfs_err *err)
{
	const char *h, *slash;
	size_t hl, pl;
	int https;

	if (!strncmp(ep, "https://", 8)) {
		https = 1;
		h = ep + 8;
	} else if (!strncmp(ep, "http://", 7)) {
		https = 0;
		h = ep + 7;
	} else {
		return objfs_err_set(err, -EINVAL, "provider %s: endpoint %s: must start with"
				     " http:// or https://", p->name, ep);
	}
	slash = strchr(h, '/');
	hl = slash ? (size_t)(slash - h) : strlen(h);
	if (!hl || memchr(h, '?', hl) || memchr(h, '@', hl))
		return objfs_err_set(err, -EINVAL, "provider %s: endpoint %s: no host, or a query"
				     " or user part", p->name, ep);
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
	for (char *c = p->authority; c && *c; c++)
		*c = (char)tolower((unsigned char)*c);
	if (!p->scheme || !p->authority || !p->base_path ||
	    asprintf(&p->base, "%s://%s%s", p->scheme, p->authority, p->base_path) < 0) {
		p->base = NULL;
		return objfs_err_set(err, -ENOMEM, "out of memory");
	}
	return 0;
}

static int gcs_open(const struct objfs_provider_conf *conf, struct objfs_provider **out,
		    struct objfs_err *err)
{
	struct objfs_provider *p;
	struct objfs_http_conf hc;
	const char *cred = conf->credentials, *from = "credentials";
	char label[160];
	int rc;

	*out = NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return objfs_err_set(err, -ENOMEM, "out of memory");
	pthread_mutex_init(&p->sess_lock, NULL);
	p->clock = conf->clock;
	p->composite = conf->parallel_composite;
	if (!(p->name = strdup(conf->name ? conf->name : "gcs"))) {
		rc = objfs_err_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	rc = parse_endpoint(p, conf->endpoint && conf->endpoint[0] ? conf->endpoint
			    : GCS_DEFAULT_ENDPOINT, err);
	if (rc)
		goto fail;
	if (!cred || !cred[0]) {
		cred = getenv("GOOGLE_APPLICATION_CREDENTIALS");
		from = "GOOGLE_APPLICATION_CREDENTIALS";
	}
	if (!cred || !cred[0]) {
		rc = objfs_err_set(err, -EINVAL, "provider %s: no service-account key: set"
				   " credentials = /path/key.json in [provider %s] or"
				   " GOOGLE_APPLICATION_CREDENTIALS", p->name, p->name);
		goto fail;
	}
	{
		struct objfs_err kerr = { "" };

		rc = gcs_key_load(cred, &p->key, &kerr);
		if (rc) {
			rc = objfs_err_set(err, rc, "provider %s: %s", p->name, kerr.msg);
			goto fail;
		}
	}
	memset(&hc, 0, sizeof(hc));
	hc.label = p->name;              /* the metrics' provider label */
	p->http = objfs_http_new(&hc);
	snprintf(label, sizeof(label), "%s-token", p->name);
	p->auth = gcs_auth_new(&p->key, p->clock, NULL);
	if (!p->http || !p->auth) {
		rc = objfs_err_set(err, -ENOMEM, "provider %s: cannot create the HTTP client",
				   p->name);
		goto fail;
	}
	log_info("gcs provider %s: %s, service account %s (key from %s), parallel composite"
		 " uploads %s", p->name, p->base, p->key.client_email, from,
		 p->composite ? "on" : "off");
	*out = p;
	return 0;
fail:
	gcs_close(p);
	return rc;
}

/* ---- objects ---- */

/* GET of an object's resource; *root is the parsed JSON (caller decrefs). */
static int get_resource(struct objfs_provider *p, const char *op, const char *bucket,
			const char *key, json_t **root, struct objfs_err *err)
{
	struct objfs_http_resp resp;
	struct gcs_req r;
	int rc;

	*root = NULL;
	memset(&resp, 0, sizeof(resp));
	memset(&r, 0, sizeof(r));
	r.method = "GET";
	r.url = url_obj(p, "/storage/v1", bucket, key, NULL);
	rc = gcs_call(p, op, bucket, key, &r, NULL, NULL, 0, GCS_JSON_BODY_MAX, 0, &resp, err);
	if (rc == 0 && !(*root = gcs_json(&resp, op, bucket, key, err)))
		rc = -EIO;
	objfs_http_resp_clear(&resp);
	req_free(&r);
	return rc;
}

static int gcs_head(struct objfs_provider *p, const char *bucket, const char *key,
		    struct objfs_objinfo *out, struct objfs_err *err)
{
	json_t *root = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = get_resource(p, "head", bucket, key, &root, err);
	if (rc == 0)
		rc = info_from_json(root, out, "head", bucket, err);
	json_decref(root);
	return rc;
}

static int gcs_get(struct objfs_provider *p, const char *bucket, const char *key,
		   uint64_t off, uint64_t len, const char *if_match, void *buf,
		   uint64_t *got, struct objfs_err *err)
{
	struct objfs_http_resp resp;
	struct gcs_req r;
	const char *gen;
	int rc;

	*got = 0;
	if (len == 0)
		return 0;
	memset(&resp, 0, sizeof(resp));
	memset(&r, 0, sizeof(r));
	r.method = "GET";
	r.url = url_obj(p, "/storage/v1", bucket, key, "?alt=media");
	if (r.url && if_match && q_add(&r.url, "ifGenerationMatch", if_match))
		r.nomem = 1;
	req_hdrf(&r, "Range: bytes=%llu-%llu", (unsigned long long)off,
		 (unsigned long long)(off + len - 1));
	rc = gcs_call(p, "get", bucket, key, &r, NULL, buf, len, 0, 0, &resp, err);
	if (rc == -EMSGSIZE) {
		rc = objfs_err_set(err, -EIO, "gcs get %s/%s: the store ignored the range", bucket, key);
		goto out;
	}
	if (rc == -EINVAL && strstr(err->msg, "HTTP 416")) {
		rc = 0;        /* at or past the end, or an empty object */
		goto out;
	}
	if (rc == -ESTALE) {
		objfs_err_set(err, -ESTALE, "gcs get %s/%s: object changed (generation is not %s)",
			      bucket, key, if_match ? if_match : "");
		goto out;
	}
	if (rc)
		goto out;
	if (resp.status == 200 && off != 0) {
		rc = objfs_err_set(err, -EIO, "gcs get %s/%s: the store ignored the range", bucket, key);
		goto out;
	}
	gen = objfs_http_resp_header(&resp, "x-goog-generation");
	if (if_match && gen && strcmp(gen, if_match)) {
		rc = objfs_err_set(err, -ESTALE, "gcs get %s/%s: object changed (generation %s,"
				   " expected %s)", bucket, key, gen, if_match);
		goto out;
	}
	*got = resp.out_len;
out:
	objfs_http_resp_clear(&resp);
	req_free(&r);
	return rc;
}

static void random_hex(char *out, size_t nbytes)
{
	unsigned char b[32];

	if (nbytes > sizeof(b))
		nbytes = sizeof(b);
	if (RAND_bytes(b, (int)nbytes) != 1)
		for (size_t i = 0; i < nbytes; i++)
			b[i] = (unsigned char)(rand() ^ (int)(i * 131));
	for (size_t i = 0; i < nbytes; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

/*
 * One multipart/related upload of src as bucket/key with resource res
 * (name included).  cond: "ifGenerationMatch" value or NULL.  On success
 * the stored resource is checked against crc (and md5) and *out_res is the
 * parsed answer (caller decrefs).
 */
static int upload_multipart(struct objfs_provider *p, const char *op, const char *bucket,
			    const char *key, json_t *res, const struct objfs_source *src,
			    const char *cond, json_t **out_res, struct objfs_err *err)
{
	struct objfs_http_resp resp;
	struct gcs_req r;
	struct objfs_seg *segs = NULL;
	struct objfs_source body;
	char boundary[48], md5[25], *js = NULL, *pre = NULL, *post = NULL;
	const char *ct = json_string_value(json_object_get(res, "contentType"));
	uint32_t crc = 0;
	size_t nsegs = src ? src->nsegs : 0;
	json_t *root = NULL;
	int rc;

	*out_res = NULL;
	memset(&resp, 0, sizeof(resp));
	memset(&r, 0, sizeof(r));
	rc = source_hash(src, &crc, md5);
	if (rc) {
		rc = objfs_err_set(err, rc, "gcs %s %s/%s: reading the data to upload: %s", op,
				   bucket, key, strerror(-rc));
		goto out;
	}
	{
		char crc_b64[9];

		/* sent in the resource too: GCS refuses the upload if they differ */
		objfs_crc32c_b64(crc, crc_b64);
		if (json_object_set_new(res, "crc32c", json_string(crc_b64)) ||
		    json_object_set_new(res, "md5Hash", json_string(md5))) {
			rc = objfs_err_set(err, -ENOMEM, "out of memory");
			goto out;
		}
	}
	memcpy(boundary, "objfs_", 6);
	random_hex(boundary + 6, 16);
	js = json_dumps(res, JSON_COMPACT);
	if (!js || asprintf(&pre, "--%s\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n"
			    "%s\r\n--%s\r\nContent-Type: %s\r\n\r\n", boundary, js, boundary,
			    ct ? ct : "application/octet-stream") < 0 ||
	    asprintf(&post, "\r\n--%s--\r\n", boundary) < 0 ||
	    !(segs = calloc(nsegs + 2, sizeof(*segs)))) {
		rc = objfs_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	segs[0] = (struct objfs_seg){ .fd = -1, .buf = pre, .len = strlen(pre) };
	for (size_t i = 0; i < nsegs; i++)
		segs[i + 1] = src->segs[i];
	segs[nsegs + 1] = (struct objfs_seg){ .fd = -1, .buf = post, .len = strlen(post) };
	body = (struct objfs_source){ segs, nsegs + 2,
				      strlen(pre) + strlen(post) + (src ? src->size : 0) };
	r.method = "POST";
	r.url = url_obj(p, "/upload/storage/v1", bucket, NULL, "/o?uploadType=multipart");
	if (r.url && cond && q_add(&r.url, "ifGenerationMatch", cond))
		r.nomem = 1;
	req_hdrf(&r, "Content-Type: multipart/related; boundary=%s", boundary);
	rc = gcs_call(p, op, bucket, key, &r, &body, NULL, 0, GCS_JSON_BODY_MAX, 0, &resp, err);
	if (rc)
		goto out;
	if (!(root = gcs_json(&resp, op, bucket, key, err))) {
		rc = -EIO;
		goto out;
	}
	rc = verify_written(p, op, bucket, key, root, crc, src ? src->size : 0, md5, err);
	if (rc == 0 && etag_of(root, NULL))
		rc = objfs_err_set(err, -EIO, "gcs %s %s/%s: malformed JSON answer (no generation)",
				   op, bucket, key);
	if (rc == 0) {
		*out_res = root;
		root = NULL;
	}
out:
	json_decref(root);
	objfs_http_resp_clear(&resp);
	req_free(&r);
	free(js);
	free(pre);
	free(post);
	free(segs);
	return rc;
}

static int gcs_put(struct objfs_provider *p, const char *bucket, const char *key,
		   const struct objfs_source *src, const struct objfs_putopts *opts,
		   char *etag_out, struct objfs_err *err)
{
	json_t *res = NULL, *stored = NULL;
	const char *cond = NULL;
	int rc;

	if ((rc = objfs_key_check(key, err)))
		return rc;
	if (opts && opts->if_none_match)
		cond = "0";
	else if (opts && opts->if_match)
		cond = opts->if_match;
	res = resource_json(key, opts, err);
	if (!res)
		return err && strstr(err->msg, "UTF-8") ? -EINVAL : -ENOMEM;
	rc = upload_multipart(p, "put", bucket, key, res, src, cond, &stored, err);
	if (rc == -ESTALE && opts && opts->if_none_match)
		rc = objfs_err_set(err, -EEXIST, "gcs put %s/%s: the object exists", bucket, key);
	else if (rc == -ESTALE && cond)
		objfs_err_set(err, -ESTALE, "gcs put %s/%s: the object changed (generation is not %s)",
			      bucket, key, cond);
	if (rc == 0)
		etag_of(stored, etag_out);
	json_decref(stored);
	json_decref(res);
	return rc;
}

static int gcs_list(struct objfs_provider *p, const char *bucket, const char *prefix,
		    const char *delimiter, const char *token, unsigned max_keys,
		    struct objfs_listing *out, struct objfs_err *err)
{
	struct objfs_http_resp resp;
	struct gcs_req r;
	json_t *root = NULL, *items, *prefixes, *v;
	const char *next;
	char mk[16];
	size_t i;
	int rc;

	memset(&resp, 0, sizeof(resp));
	memset(&r, 0, sizeof(r));
	memset(out, 0, sizeof(*out));
	if (max_keys == 0 || max_keys > OBJFS_LIST_MAX_KEYS)
		max_keys = OBJFS_LIST_MAX_KEYS;
	snprintf(mk, sizeof(mk), "%u", max_keys);
	r.method = "GET";
	r.url = url_obj(p, "/storage/v1", bucket, NULL, "/o");
	if (!r.url || q_add(&r.url, "maxResults", mk) ||
	    (prefix && prefix[0] && q_add(&r.url, "prefix", prefix)) ||
	    (delimiter && delimiter[0] && q_add(&r.url, "delimiter", delimiter)) ||
	    (token && q_add(&r.url, "pageToken", token)))
		r.nomem = 1;
	rc = gcs_call(p, "list", bucket, prefix, &r, NULL, NULL, 0, GCS_LIST_BODY_MAX, 0, &resp, err);
	if (rc)
		goto out;
	if (!(root = gcs_json(&resp, "list", bucket, prefix, err))) {
		rc = -EIO;
		goto out;
	}
	items = json_object_get(root, "items");
	prefixes = json_object_get(root, "prefixes");
	if ((items && !json_is_array(items)) || (prefixes && !json_is_array(prefixes))) {
		rc = objfs_err_set(err, -EIO, "gcs list %s/%s: malformed JSON answer", bucket,
				   prefix ? prefix : "");
		goto out;
	}
	if (json_array_size(items) &&
	    !(out->objects = calloc(json_array_size(items), sizeof(*out->objects))))
		goto nomem;
	json_array_foreach(items, i, v) {
		rc = info_from_json(v, &out->objects[out->nobjects], "list", bucket, err);
		if (rc)
			goto out;
		out->nobjects++;
	}
	if (json_array_size(prefixes) &&
	    !(out->prefixes = calloc(json_array_size(prefixes), sizeof(*out->prefixes))))
		goto nomem;
	json_array_foreach(prefixes, i, v) {
		if (!json_is_string(v)) {
			rc = objfs_err_set(err, -EIO, "gcs list %s/%s: malformed JSON answer", bucket,
					   prefix ? prefix : "");
			goto out;
		}
		if (!(out->prefixes[out->nprefixes] = strdup(json_string_value(v))))
			goto nomem;
		out->nprefixes++;
	}
	next = json_string_value(json_object_get(root, "nextPageToken"));
	if (next && next[0] && !(out->next_token = strdup(next)))
		goto nomem;
	rc = 0;
	goto out;
nomem:
	rc = objfs_err_set(err, -ENOMEM, "out of memory");
out:
	if (rc)
		objfs_listing_clear(out);
	json_decref(root);
	objfs_http_resp_clear(&resp);
	req_free(&r);
	return rc;
}

/* DELETE of an object (one generation when gen != NULL).  A missing object
 * is success, a missing bucket -ENOENT. */
static int del_generation(struct objfs_provider *p, const char *bucket, const char *key,
			  const char *gen, struct objfs_err *err)
{
	struct objfs_http_resp resp;
	struct gcs_req r;
	int rc;

	memset(&resp, 0, sizeof(resp));
	memset(&r, 0, sizeof(r));
	r.method = "DELETE";
	r.url = url_obj(p, "/storage/v1", bucket, key, NULL);
	if (r.url && gen && q_add(&r.url, "ifGenerationMatch", gen))
		r.nomem = 1;
	rc = gcs_call(p, "delete", bucket, key, &r, NULL, NULL, 0, 0, 0, &resp, err);
	/* "No such object" is done; "The specified bucket does not exist" is not */
	if (rc == -ENOENT && !strstr(err->msg, "bucket does not exist"))
		rc = 0;
	objfs_http_resp_clear(&resp);
	req_free(&r);
	return rc;
}

static int gcs_del(struct objfs_provider *p, const char *bucket, const char *key,
		   struct objfs_err *err)
{
	return del_generation(p, bucket, key, NULL, err);
}

/* The JSON API has a batch endpoint (multipart/mixed); one DELETE per key
 * keeps the errno per key exact and is what the store bills the same. */
static int gcs_del_batch(struct objfs_provider *p, const char *bucket,
			 const char *const *keys, size_t nkeys, int *results,
			 struct objfs_err *err)
{
	struct objfs_err e2;

	if (nkeys > 1000)
		return objfs_err_set(err, -EINVAL, "gcs delete: %zu keys (at most 1000)", nkeys);
	for (size_t i = 0; i < nkeys; i++) {
		results[i] = gcs_del(p, bucket, keys[i], &e2);
		if (results[i] == -ENOENT)      /* the bucket is gone: so is every key */
			return objfs_err_set(err, -ENOENT, "%s", e2.msg);
		if (results[i])
			log_warn("%s", e2.msg);
	}
	return 0;
}

/* A POST with a JSON body (may be NULL) answered by a JSON object. */
static int post_json(struct objfs_provider *p, const char *op, const char *bucket,
		     const char *key, char *url, json_t *body, json_t **out,
		     struct objfs_err *err)
{
	struct objfs_http_resp resp;
	struct gcs_req r;
	struct objfs_seg seg;
	struct objfs_source src;
	char *js = NULL;
	int rc;

	*out = NULL;
	memset(&resp, 0, sizeof(resp));
	memset(&r, 0, sizeof(r));
	r.method = "POST";
	r.url = url;
	if (body && !(js = json_dumps(body, JSON_COMPACT)))
		r.nomem = 1;
	seg = (struct objfs_seg){ .fd = -1, .buf = js, .len = js ? strlen(js) : 0 };
	src = (struct objfs_source){ &seg, 1, seg.len };
	req_hdrf(&r, "Content-Type: application/json; charset=UTF-8");
	rc = gcs_call(p, op, bucket, key, &r, js ? &src : NULL, NULL, 0, GCS_JSON_BODY_MAX, 0,
		      &resp, err);
	if (rc == 0 && !(*out = gcs_json(&resp, op, bucket, key, err)))
		rc = -EIO;
	objfs_http_resp_clear(&resp);
	req_free(&r);
	free(js);
	return rc;
}

/* chmod/chown/utimens: a metadata PATCH of the same generation; metadata
 * keys opts does not name are removed (the copy contract: replaced). */
static int patch_meta(struct objfs_provider *p, const char *bucket, const char *key,
		      const struct objfs_putopts *opts, char *etag_out, struct objfs_err *err)
{
	struct objfs_http_resp resp;
	struct gcs_req r;
	struct objfs_seg seg;
	struct objfs_source src;
	json_t *cur = NULL, *res = NULL, *md, *oldmd, *v, *root = NULL;
	const char *gen, *mgen, *k;
	char *js = NULL;
	int rc;

	memset(&resp, 0, sizeof(resp));
	memset(&r, 0, sizeof(r));
	rc = get_resource(p, "patch", bucket, key, &cur, err);
	if (rc)
		goto out;
	gen = json_string_value(json_object_get(cur, "generation"));
	mgen = json_string_value(json_object_get(cur, "metageneration"));
	if (!gen || !mgen) {
		rc = objfs_err_set(err, -EIO, "gcs patch %s/%s: malformed JSON answer", bucket, key);
		goto out;
	}
	if (opts->if_match && strcmp(opts->if_match, gen)) {
		rc = objfs_err_set(err, -ESTALE, "gcs patch %s/%s: object changed (generation %s,"
				   " expected %s)", bucket, key, gen, opts->if_match);
		goto out;
	}
	res = resource_json(NULL, opts, err);
	if (!res) {
		rc = err && strstr(err->msg, "UTF-8") ? -EINVAL : -ENOMEM;
		goto out;
	}
	md = json_object_get(res, "metadata");
	oldmd = json_object_get(cur, "metadata");
	json_object_foreach(oldmd, k, v)
		if (!json_object_get(md, k) && json_object_set_new(md, k, json_null())) {
			rc = objfs_err_set(err, -ENOMEM, "out of memory");
			goto out;
		}
	js = json_dumps(res, JSON_COMPACT);
	seg = (struct objfs_seg){ .fd = -1, .buf = js, .len = js ? strlen(js) : 0 };
	src = (struct objfs_source){ &seg, 1, seg.len };
	r.method = "PATCH";
	r.url = url_obj(p, "/storage/v1", bucket, key, NULL);
	if (!js || !r.url || q_add(&r.url, "ifGenerationMatch", gen) ||
	    q_add(&r.url, "ifMetagenerationMatch", mgen))
		r.nomem = 1;
	req_hdrf(&r, "Content-Type: application/json; charset=UTF-8");
	rc = gcs_call(p, "patch", bucket, key, &r, &src, NULL, 0, GCS_JSON_BODY_MAX, 0, &resp, err);
	if (rc == -ESTALE)
		objfs_err_set(err, -ESTALE, "gcs patch %s/%s: object changed while its metadata was"
			      " updated", bucket, key);
	if (rc)
		goto out;
	if (!(root = gcs_json(&resp, "patch", bucket, key, err)) || etag_of(root, etag_out))
		rc = objfs_err_set(err, -EIO, "gcs patch %s/%s: malformed JSON answer", bucket, key);
out:
	json_decref(cur);
	json_decref(res);
	json_decref(root);
	objfs_http_resp_clear(&resp);
	req_free(&r);
	free(js);
	return rc;
}

static int gcs_copy(struct objfs_provider *p, const char *bucket, const char *src_key,
		    const char *dst_key, const struct objfs_putopts *opts,
		    char *etag_out, struct objfs_err *err)
{
	json_t *res = NULL, *root = NULL;
	char *token = NULL, *path = NULL;
	int rc;

	if ((rc = objfs_key_check(dst_key, err)))
		return rc;
	if (!strcmp(src_key, dst_key)) {
		if (!opts)   /* nothing would change: S3 refuses it too */
			return objfs_err_set(err, -EINVAL,
					     "gcs copy %s/%s onto itself without new metadata", bucket,
					     src_key);
		return patch_meta(p, bucket, src_key, opts, etag_out, err);
	}
	if (opts && !(res = resource_json(NULL, opts, err)))
		return err && strstr(err->msg, "UTF-8") ? -EINVAL : -ENOMEM;
	{
		char *sk = enc(src_key), *dk = enc(dst_key), *b = enc(bucket);

		if (!sk || !dk || !b || asprintf(&path, "/o/%s/rewriteTo/b/%s/o/%s", sk, b, dk) < 0)
			path = NULL;
		free(sk);
		free(dk);
		free(b);
	}
	for (int round = 0; rc == 0; round++) {
		char *url = path ? url_obj(p, "/storage/v1", bucket, NULL, path) : NULL;
		const char *t;

		if (round >= GCS_REWRITE_ROUNDS) {
			free(url);
			rc = objfs_err_set(err, -EIO, "gcs copy %s/%s: rewrite not done after %d rounds",
					   bucket, src_key, round);
			break;
		}
		if (!url || (opts && opts->if_match &&
			     q_add(&url, "ifSourceGenerationMatch", opts->if_match)) ||
		    (token && q_add(&url, "rewriteToken", token))) {
			free(url);
			rc = objfs_err_set(err, -ENOMEM, "out of memory");
			break;
		}
		json_decref(root);
		root = NULL;
		rc = post_json(p, "copy", bucket, src_key, url, res, &root, err);   /* takes url */
		if (rc == -ESTALE)
			objfs_err_set(err, -ESTALE, "gcs copy %s/%s: source changed (generation is"
				      " not %s)", bucket, src_key, opts && opts->if_match
				      ? opts->if_match : "");
		if (rc)
			break;
		if (json_is_true(json_object_get(root, "done"))) {
			if (etag_of(json_object_get(root, "resource"), etag_out))
				rc = objfs_err_set(err, -EIO, "gcs copy %s/%s: malformed JSON answer",
						   bucket, dst_key);
			break;
		}
		t = json_string_value(json_object_get(root, "rewriteToken"));
		if (!t || !t[0]) {
			rc = objfs_err_set(err, -EIO, "gcs copy %s/%s: malformed JSON answer (not done"
					   ", no rewriteToken)", bucket, src_key);
			break;
		}
		free(token);
		if (!(token = strdup(t)))
			rc = objfs_err_set(err, -ENOMEM, "out of memory");
	}
	json_decref(root);
	json_decref(res);
	free(token);
	free(path);
	return rc;
}

/* ---- resumable sessions ---- */

/* The session URI must lead to this provider's upload endpoint: it comes
 * back from the journal, and is requested without a token. */
static int session_ok(const struct objfs_provider *p, const char *uri)
{
	char pre[600];

	snprintf(pre, sizeof(pre), "%s://%s/", p->scheme, p->authority);
	return !strncmp(uri, pre, strlen(pre)) && strstr(uri, "upload_id=") &&
	       !strpbrk(uri, " \r\n");
}

/* Offset this process knows for uri: 0 and *known = 1, or *known = 0. */
static uint64_t sess_get(struct objfs_provider *p, const char *uri, int *known)
{
	uint64_t v = 0;

	*known = 0;
	pthread_mutex_lock(&p->sess_lock);
	for (size_t i = 0; i < GCS_SESS_MAX; i++)
		if (p->sess[i].uri && !strcmp(p->sess[i].uri, uri)) {
			v = p->sess[i].persisted;
			p->sess[i].used = ++p->tick;
			*known = 1;
			break;
		}
	pthread_mutex_unlock(&p->sess_lock);
	return v;
}

/* Records (or, drop = 1, forgets) a session's offset; the least recently
 * used entry makes room.  A failed allocation only loses the hint. */
static void sess_set(struct objfs_provider *p, const char *uri, uint64_t persisted, int drop)
{
	size_t slot = 0;

	pthread_mutex_lock(&p->sess_lock);
	for (size_t i = 0; i < GCS_SESS_MAX; i++) {
		if (p->sess[i].uri && !strcmp(p->sess[i].uri, uri)) {
			slot = i;
			goto found;
		}
		if (!p->sess[i].uri || p->sess[i].used < p->sess[slot].used)
			slot = i;
		if (!p->sess[slot].uri)
			break;
	}
	if (drop)
		goto out;
	free(p->sess[slot].uri);
	p->sess[slot].uri = strdup(uri);
found:
	if (drop) {
		free(p->sess[slot].uri);
		p->sess[slot].uri = NULL;
		goto out;
	}
	p->sess[slot].persisted = persisted;
	p->sess[slot].used = ++p->tick;
out:
	pthread_mutex_unlock(&p->sess_lock);
}

/* Bytes a 308's Range header says the server holds ("bytes=0-N"). */
static int range_persisted(const struct objfs_http_resp *resp, uint64_t *persisted)
{
	const char *v = objfs_http_resp_header(resp, "range");
	unsigned long long a, b;

	if (!v) {
		*persisted = 0;
		return 0;
	}
	if (sscanf(v, "bytes=%llu-%llu", &a, &b) != 2 || a != 0)
		return -1;
	*persisted = (uint64_t)b + 1;
	return 0;
}

/* Result of a chunk or status request to a session. */
struct sess_state {
	uint64_t persisted;
	int final;                       /* the object exists: resource holds it */
	json_t *resource;
};

/*
 * One PUT to session uri: body src (NULL: a status query or a finalize),
 * content_range the header value.  single: one attempt (the caller resumes).
 * Fills st from a 308 or a 200/201.
 */
static int sess_put(struct objfs_provider *p, const char *op, const char *bucket,
		    const char *key, const char *uri, const struct objfs_source *src,
		    const char *content_range, int single, struct sess_state *st,
		    struct objfs_err *err)
{
	struct objfs_http_resp resp;
	struct gcs_req r;
	int rc;

	memset(&resp, 0, sizeof(resp));
	memset(&r, 0, sizeof(r));
	r.method = "PUT";
	r.url = strdup(uri);
	r.no_auth = 1;
	r.accept_308 = 1;
	req_hdrf(&r, "Content-Range: %s", content_range);
	rc = gcs_call(p, op, bucket, key, &r, src, NULL, 0, GCS_JSON_BODY_MAX, single, &resp, err);
	if (rc)
		goto out;
	if (resp.status == 308) {
		if (range_persisted(&resp, &st->persisted))
			rc = objfs_err_set(err, -EIO, "gcs %s %s/%s: malformed Range in the session's"
					   " answer", op, bucket, key);
		goto out;
	}
	st->final = 1;
	if (!(st->resource = gcs_json(&resp, op, bucket, key, err)) ||
	    json_u64(st->resource, "size", &st->persisted) || etag_of(st->resource, NULL))
		rc = objfs_err_set(err, -EIO, "gcs %s %s/%s: malformed JSON answer", op, bucket, key);
out:
	objfs_http_resp_clear(&resp);
	req_free(&r);
	return rc;
}

/* The bytes [from, src->size) of src as a new source over the same
 * segments; *segs malloc'ed. */
static int source_slice(const struct objfs_source *src, uint64_t from, struct objfs_seg **segs,
			struct objfs_source *out)
{
	size_t n = 0;
	uint64_t pos = 0;

	*segs = calloc(src->nsegs ? src->nsegs : 1, sizeof(**segs));
	if (!*segs)
		return -ENOMEM;
	for (size_t i = 0; i < src->nsegs; i++) {
		struct objfs_seg s = src->segs[i];

		if (pos + s.len > from) {
			uint64_t skip = from > pos ? from - pos : 0;

			if (s.buf)
				s.buf = (const char *)s.buf + skip;
			else
				s.off += skip;
			s.len -= skip;
			(*segs)[n++] = s;
		}
		pos += src->segs[i].len;
	}
	*out = (struct objfs_source){ *segs, n, src->size - from };
	return 0;
}

static void backoff_sleep(int attempt)
{
	unsigned ms = 200u << (attempt < 5 ? attempt : 5);
	unsigned char r = 0;

	if (ms > 5000)
		ms = 5000;
	RAND_bytes(&r, 1);
	usleep((useconds_t)(ms / 2 + ms / 2 * r / 255) * 1000);
}

/* "CRC" or "CRC:GENERATION" of a part. */
static void part_etag(char *etag_out, uint32_t crc, json_t *final_res)
{
	const char *gen = final_res ? json_string_value(json_object_get(final_res, "generation"))
				    : NULL;

	if (gen)
		snprintf(etag_out, OBJFS_ETAG_MAX, "%08x:%s", crc, gen);
	else
		snprintf(etag_out, OBJFS_ETAG_MAX, "%08x", crc);
}

static int resumable_part(struct objfs_provider *p, const char *bucket, const char *key,
			  const char *uri, int part_number, uint64_t off,
			  const struct objfs_source *src, char *etag_out, struct objfs_err *err)
{
	uint64_t end = off + src->size, persisted;
	int final = src->size % GCS_CHUNK_ALIGN != 0, known, first_use, failures = 0, rc;
	struct sess_state st;
	uint32_t crc = 0;

	memset(&st, 0, sizeof(st));
	if (off % GCS_CHUNK_ALIGN)
		return objfs_err_set(err, -EINVAL, "gcs upload %s/%s part %d: offset %" PRIu64
				     " is not a multiple of 256 KiB (every part but the last must"
				     " be)", bucket, key, part_number, off);
	if (src->size == 0 && off != 0)
		return objfs_err_set(err, -EINVAL, "gcs upload %s/%s part %d: empty part", bucket,
				     key, part_number);
	rc = source_hash(src, &crc, NULL);
	if (rc)
		return objfs_err_set(err, rc, "gcs upload %s/%s: reading the data to upload: %s",
				     bucket, key, strerror(-rc));
	final = final || src->size == 0;
	persisted = sess_get(p, uri, &known);
	first_use = !known;
	for (int round = 0; round < GCS_PART_ROUNDS; round++) {
		struct objfs_seg *segs = NULL;
		struct objfs_source body;
		char cr[96];

		if (!known) {
			/* first use in this process, or after a failure: ask */
			json_decref(st.resource);
			memset(&st, 0, sizeof(st));
			rc = sess_put(p, "upload-status", bucket, key, uri, NULL, "bytes */*", 1,
				      &st, err);
			if (rc == -EIO && ++failures < GCS_PART_ATTEMPTS) {
				backoff_sleep(failures);
				continue;
			}
			if (rc)
				break;
			persisted = st.persisted;
			known = 1;
			/* a session this process did not start (a restart), or a
			 * part the journal did not record: say where it resumes */
			if (first_use || persisted != off || st.final)
				log_info("gcs upload %s/%s part %d: resuming the session at byte %"
					 PRIu64 " (the server's offset%s; the part is bytes %" PRIu64
					 "-%" PRIu64 ")", bucket, key, part_number, persisted,
					 st.final ? ", finalized" : "", off, end - 1);
			first_use = 0;
		}
		if (st.final) {
			if (persisted < end) {
				rc = objfs_err_set(err, -EINVAL, "gcs upload %s/%s: the session was"
						   " finalized at %" PRIu64 " bytes, before part %d",
						   bucket, key, persisted, part_number);
			}
			break;
		}
		if (persisted < off) {
			rc = objfs_err_set(err, -EINVAL, "gcs upload %s/%s part %d: the session holds"
					   " only %" PRIu64 " bytes, the part starts at %" PRIu64,
					   bucket, key, part_number, persisted, off);
			break;
		}
		if (persisted >= end && !final)
			break;                 /* already there (a journal that lagged) */
		if (source_slice(src, persisted - off, &segs, &body)) {
			rc = objfs_err_set(err, -ENOMEM, "out of memory");
			break;
		}
		if (body.size == 0)
			snprintf(cr, sizeof(cr), "bytes */%" PRIu64, end);
		else if (final)
			snprintf(cr, sizeof(cr), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, persisted,
				 end - 1, end);
		else
			snprintf(cr, sizeof(cr), "bytes %" PRIu64 "-%" PRIu64 "/*", persisted, end - 1);
		json_decref(st.resource);
		memset(&st, 0, sizeof(st));
		rc = sess_put(p, "upload-part", bucket, key, uri, body.size ? &body : NULL, cr, 1,
			      &st, err);
		free(segs);
		if (rc == -EIO && ++failures < GCS_PART_ATTEMPTS) {
			log_debug("gcs upload %s/%s part %d: %s; asking the session what it holds",
				  bucket, key, part_number, err->msg);
			known = 0;
			backoff_sleep(failures);
			continue;
		}
		if (rc)
			break;
		persisted = st.persisted;
		if (st.final || persisted >= end)
			break;
	}
	if (rc == 0 && !st.final && persisted < end)
		rc = objfs_err_set(err, -EIO, "gcs upload %s/%s part %d: the session took only %"
				   PRIu64 " of %" PRIu64 " bytes", bucket, key, part_number,
				   persisted, end);
	if (rc == 0 && st.final)
		sess_set(p, uri, 0, 1);
	else if (rc == 0)
		sess_set(p, uri, persisted, 0);
	else
		sess_set(p, uri, 0, 1);        /* ask next time */
	if (rc == 0)
		part_etag(etag_out, crc, st.final ? st.resource : NULL);
	json_decref(st.resource);
	return rc;
}

/* Parses a part ETag "CRC[:GENERATION]". */
static int parse_part_etag(const char *etag, uint32_t *crc, const char **gen)
{
	char *end;
	unsigned long v;

	if (!isxdigit((unsigned char)etag[0]))
		return -1;
	v = strtoul(etag, &end, 16);
	if (end != etag + 8 || (*end && *end != ':'))
		return -1;
	*crc = (uint32_t)v;
	*gen = *end == ':' ? end + 1 : NULL;
	return 0;
}

/* The object's CRC and size from its parts; *final_gen the generation a
 * part recorded when it finalized the upload (NULL if none did).  In a
 * composite upload every part names its temporary's generation instead. */
static int parts_crc(const char *bucket, const char *key, const struct objfs_part *parts,
		     size_t nparts, int composite, uint32_t *crc, uint64_t *total,
		     const char **final_gen, struct objfs_err *err)
{
	*crc = 0;
	*total = 0;
	*final_gen = NULL;
	for (size_t i = 0; i < nparts; i++) {
		uint32_t c;
		const char *g;

		if (parts[i].number != (int)i + 1 || parse_part_etag(parts[i].etag, &c, &g))
			return objfs_err_set(err, -EINVAL, "gcs upload %s/%s: part %zu is missing or"
					     " its record is unusable", bucket, key, i + 1);
		if (composite && !g)
			return objfs_err_set(err, -EINVAL, "gcs upload %s/%s: part %zu has no"
					     " temporary object", bucket, key, i + 1);
		if (!composite && g && i + 1 != nparts)
			return objfs_err_set(err, -EINVAL, "gcs upload %s/%s: part %zu finalized the"
					     " upload but is not the last", bucket, key, i + 1);
		*crc = objfs_crc32c_combine(*crc, c, parts[i].size);
		*total += parts[i].size;
		*final_gen = composite ? NULL : g;
	}
	return 0;
}

/* ---- composite uploads (parallel_composite = true) ---- */

/* Name of temporary n (round r > 0: an intermediate compose) of upload id,
 * beside key: "DIR/.objfs-compose-ID-N" or "...-ID-rR-N". */
static char *compose_tmp(const char *key, const char *id, int r, int n)
{
	const char *slash = strrchr(key, '/');
	int dl = slash ? (int)(slash - key + 1) : 0;
	char *out = NULL;

	if ((r ? asprintf(&out, "%.*s%s%s-r%d-%05d", dl, key, GCS_COMPOSE_TAG, id, r, n)
	       : asprintf(&out, "%.*s%s%s-%05d", dl, key, GCS_COMPOSE_TAG, id, n)) < 0)
		return NULL;
	return out;
}

/* The parts of a composite upload id "compose:ID:JSON": *id (16 hex) and
 * the destination resource (caller decrefs). */
static int compose_parse(const char *upload_id, char id[17], json_t **res)
{
	const char *c = upload_id + strlen(GCS_COMPOSE_ID);

	*res = NULL;
	if (strlen(c) < 18 || c[16] != ':')
		return -1;
	memcpy(id, c, 16);
	id[16] = '\0';
	for (int i = 0; i < 16; i++)
		if (!isxdigit((unsigned char)id[i]))
			return -1;
	*res = json_loads(c + 17, 0, NULL);
	return json_is_object(*res) ? 0 : -1;
}

/* Deletes the temporaries of composite upload id under key's directory. */
static int compose_cleanup(struct objfs_provider *p, const char *bucket, const char *key,
			   const char *id, struct objfs_err *err)
{
	char *prefix = compose_tmp(key, id, 0, 0);
	struct objfs_listing l;
	char *token = NULL;
	size_t deleted = 0;
	int rc = 0;

	if (!prefix)
		return objfs_err_set(err, -ENOMEM, "out of memory");
	prefix[strlen(prefix) - 5] = '\0';          /* "DIR/.objfs-compose-ID-" */
	for (int page = 0; page < 1000 && rc == 0; page++) {
		rc = gcs_list(p, bucket, prefix, NULL, token, 0, &l, err);
		if (rc)
			break;
		for (size_t i = 0; i < l.nobjects && rc == 0; i++) {
			rc = gcs_del(p, bucket, l.objects[i].key, err);
			deleted += rc == 0;
		}
		free(token);
		token = l.next_token;
		l.next_token = NULL;
		objfs_listing_clear(&l);
		if (!token)
			break;
	}
	if (deleted)
		log_debug("gcs upload %s/%s: deleted %zu temporary objects", bucket, key, deleted);
	free(token);
	free(prefix);
	return rc;
}

static int compose_create(const char *key, const struct objfs_putopts *opts, char **upload_id,
			  struct objfs_err *err)
{
	json_t *res = resource_json(NULL, opts, err);
	char id[33], *js = NULL;
	int rc = 0;

	if (!res)
		return err && strstr(err->msg, "UTF-8") ? -EINVAL : -ENOMEM;
	if (opts && (opts->if_match || opts->if_none_match) &&
	    json_object_set_new(res, "ifGenerationMatch",
				json_string(opts->if_none_match ? "0" : opts->if_match)))
		rc = -ENOMEM;
	random_hex(id, 8);
	if (rc || !(js = json_dumps(res, JSON_COMPACT)) ||
	    asprintf(upload_id, "%s%s:%s", GCS_COMPOSE_ID, id, js) < 0) {
		*upload_id = NULL;
		rc = objfs_err_set(err, -ENOMEM, "out of memory");
	}
	(void)key;
	free(js);
	json_decref(res);
	return rc;
}

static int compose_part(struct objfs_provider *p, const char *bucket, const char *key,
			const char *id, int part_number, const struct objfs_source *src,
			char *etag_out, struct objfs_err *err)
{
	char *tmp = compose_tmp(key, id, 0, part_number);
	json_t *res = NULL, *stored = NULL;
	uint32_t crc = 0;
	int rc;

	if (!tmp || !(res = json_pack("{s:s, s:s}", "name", tmp, "contentType",
				      "application/octet-stream"))) {
		rc = objfs_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	rc = source_hash(src, &crc, NULL);
	if (rc == 0)
		rc = upload_multipart(p, "upload-part", bucket, tmp, res, src, NULL, &stored, err);
	if (rc == 0)
		part_etag(etag_out, crc, stored);
out:
	json_decref(res);
	json_decref(stored);
	free(tmp);
	return rc;
}

/* One compose of srcs (names + generations) into dst with resource dres;
 * cond: ifGenerationMatch or NULL.  *out: the stored resource. */
static int compose_one(struct objfs_provider *p, const char *bucket, const char *dst,
		       json_t *srcs, json_t *dres, const char *cond, json_t **out,
		       struct objfs_err *err)
{
	json_t *body = json_pack("{s:O, s:O}", "sourceObjects", srcs, "destination", dres);
	char *dk = enc(dst), *path = NULL, *url = NULL;
	int rc;

	if (!body || !dk || asprintf(&path, "/o/%s/compose", dk) < 0 ||
	    !(url = url_obj(p, "/storage/v1", bucket, NULL, path)) ||
	    (cond && q_add(&url, "ifGenerationMatch", cond))) {
		free(url);
		rc = objfs_err_set(err, -ENOMEM, "out of memory");
	} else {
		rc = post_json(p, "compose", bucket, dst, url, body, out, err);   /* takes url */
	}
	json_decref(body);
	free(dk);
	free(path);
	return rc;
}

static int compose_complete(struct objfs_provider *p, const char *bucket, const char *key,
			    const char *upload_id, const struct objfs_part *parts, size_t nparts,
			    char *etag_out, struct objfs_err *err)
{
	json_t *dres = NULL, *level = NULL, *next = NULL, *stored = NULL, *tmpres = NULL;
	const char *fg, *cond;
	char id[17], *cond_s = NULL;
	uint32_t crc;
	uint64_t total;
	int rc, round = 0;

	if (compose_parse(upload_id, id, &dres))
		return objfs_err_set(err, -EINVAL, "gcs upload %s/%s: unusable composite upload id",
				     bucket, key);
	rc = parts_crc(bucket, key, parts, nparts, 1, &crc, &total, &fg, err);
	if (rc)
		goto out;
	cond = json_string_value(json_object_get(dres, "ifGenerationMatch"));
	if (cond && !(cond_s = strdup(cond))) {
		rc = objfs_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	json_object_del(dres, "ifGenerationMatch");
	level = json_array();
	tmpres = json_pack("{s:s}", "contentType", "application/octet-stream");
	if (!level || !tmpres) {
		rc = objfs_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < nparts; i++) {
		char *name = compose_tmp(key, id, 0, (int)i + 1);
		const char *g = strchr(parts[i].etag, ':');

		if (!name || !g || json_array_append_new(level, json_pack("{s:s, s:s}", "name", name,
									  "generation", g + 1))) {
			free(name);
			rc = objfs_err_set(err, -EINVAL, "gcs upload %s/%s: part %zu has no"
					   " temporary object", bucket, key, i + 1);
			goto out;
		}
		free(name);
	}
	/* rounds of at most 32 sources until one compose makes the object */
	while (json_array_size(level) > GCS_COMPOSE_MAX) {
		size_t n = json_array_size(level);

		round++;
		next = json_array();
		if (!next) {
			rc = objfs_err_set(err, -ENOMEM, "out of memory");
			goto out;
		}
		for (size_t i = 0; i < n; i += GCS_COMPOSE_MAX) {
			json_t *group = json_array();
			char *name = compose_tmp(key, id, round, (int)(i / GCS_COMPOSE_MAX));

			for (size_t j = i; group && j < n && j < i + GCS_COMPOSE_MAX; j++)
				json_array_append(group, json_array_get(level, j));
			json_decref(stored);
			stored = NULL;
			rc = group && name ? compose_one(p, bucket, name, group, tmpres, NULL, &stored,
							 err)
					   : objfs_err_set(err, -ENOMEM, "out of memory");
			json_decref(group);
			if (rc == 0 && json_array_append_new(next, json_pack("{s:s, s:O}", "name", name,
				      "generation", json_object_get(stored, "generation"))))
				rc = objfs_err_set(err, -ENOMEM, "out of memory");
			free(name);
			if (rc)
				goto out;
		}
		json_decref(level);
		level = next;
		next = NULL;
	}
	json_decref(stored);
	stored = NULL;
	rc = compose_one(p, bucket, key, level, dres, cond_s, &stored, err);
	if (rc == -ESTALE && cond_s && !strcmp(cond_s, "0"))
		rc = objfs_err_set(err, -EEXIST, "gcs upload %s/%s: the object exists", bucket, key);
	if (rc == 0)
		rc = verify_written(p, "compose", bucket, key, stored, crc, total, NULL, err);
	if (rc == 0 && etag_of(stored, etag_out))
		rc = objfs_err_set(err, -EIO, "gcs compose %s/%s: malformed JSON answer", bucket, key);
	if (rc == 0) {
		struct objfs_err e2;

		if (compose_cleanup(p, bucket, key, id, &e2))
			log_warn("gcs upload %s/%s: temporaries left behind: %s", bucket, key, e2.msg);
	}
out:
	json_decref(dres);
	json_decref(level);
	json_decref(next);
	json_decref(stored);
	json_decref(tmpres);
	free(cond_s);
	return rc;
}

/* ---- multipart operations ---- */

static int gcs_mpu_create(struct objfs_provider *p, const char *bucket, const char *key,
			  const struct objfs_putopts *opts, char **upload_id,
			  struct objfs_err *err)
{
	struct objfs_http_resp resp;
	struct objfs_seg seg;
	struct objfs_source src;
	struct gcs_req r;
	json_t *res = NULL;
	const char *loc;
	char *js = NULL;
	int rc;

	*upload_id = NULL;
	if ((rc = objfs_key_check(key, err)))
		return rc;
	if (p->composite)
		return compose_create(key, opts, upload_id, err);
	memset(&resp, 0, sizeof(resp));
	memset(&r, 0, sizeof(r));
	if (!(res = resource_json(key, opts, err)))
		return err && strstr(err->msg, "UTF-8") ? -EINVAL : -ENOMEM;
	js = json_dumps(res, JSON_COMPACT);
	seg = (struct objfs_seg){ .fd = -1, .buf = js, .len = js ? strlen(js) : 0 };
	src = (struct objfs_source){ &seg, 1, seg.len };
	r.method = "POST";
	r.url = url_obj(p, "/upload/storage/v1", bucket, NULL, "/o?uploadType=resumable");
	if (!js || !r.url || q_add(&r.url, "name", key) ||
	    (opts && opts->if_none_match && q_add(&r.url, "ifGenerationMatch", "0")) ||
	    (opts && !opts->if_none_match && opts->if_match &&
	     q_add(&r.url, "ifGenerationMatch", opts->if_match)))
		r.nomem = 1;
	req_hdrf(&r, "Content-Type: application/json; charset=UTF-8");
	req_hdrf(&r, "X-Upload-Content-Type: %s", opts && opts->content_type ? opts->content_type
		 : "application/octet-stream");
	rc = gcs_call(p, "create-upload", bucket, key, &r, &src, NULL, 0, GCS_JSON_BODY_MAX, 0,
		      &resp, err);
	if (rc)
		goto out;
	loc = objfs_http_resp_header(&resp, "location");
	if (!loc || !session_ok(p, loc)) {
		rc = objfs_err_set(err, -EIO, "gcs create-upload %s/%s: no usable session URI in"
				   " the answer", bucket, key);
		goto out;
	}
	if (!(*upload_id = strdup(loc))) {
		rc = objfs_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	sess_set(p, loc, 0, 0);
out:
	objfs_http_resp_clear(&resp);
	req_free(&r);
	json_decref(res);
	free(js);
	return rc;
}

static int gcs_mpu_upload_part(struct objfs_provider *p, const char *bucket,
			       const char *key, const char *upload_id, int part_number,
			       uint64_t off, const struct objfs_source *src, char *etag_out,
			       struct objfs_err *err)
{
	if (!strncmp(upload_id, GCS_COMPOSE_ID, strlen(GCS_COMPOSE_ID))) {
		char id[17];
		json_t *res = NULL;
		int bad = compose_parse(upload_id, id, &res);

		json_decref(res);
		if (bad)
			return objfs_err_set(err, -EINVAL, "gcs upload %s/%s: unusable composite"
					     " upload id", bucket, key);
		return compose_part(p, bucket, key, id, part_number, src, etag_out, err);
	}
	if (!session_ok(p, upload_id))
		return objfs_err_set(err, -EINVAL, "gcs upload %s/%s: the upload id is not a session"
				     " URI of this endpoint", bucket, key);
	return resumable_part(p, bucket, key, upload_id, part_number, off, src, etag_out, err);
}

static int gcs_mpu_complete(struct objfs_provider *p, const char *bucket, const char *key,
			    const char *upload_id, const struct objfs_part *parts,
			    size_t nparts, char *etag_out, struct objfs_err *err)
{
	struct sess_state st;
	const char *fgen;
	char cr[64];
	uint32_t crc;
	uint64_t total;
	json_t *cur = NULL;
	int rc;

	if (!strncmp(upload_id, GCS_COMPOSE_ID, strlen(GCS_COMPOSE_ID)))
		return compose_complete(p, bucket, key, upload_id, parts, nparts, etag_out, err);
	if (!session_ok(p, upload_id))
		return objfs_err_set(err, -EINVAL, "gcs upload %s/%s: the upload id is not a session"
				     " URI of this endpoint", bucket, key);
	memset(&st, 0, sizeof(st));
	rc = parts_crc(bucket, key, parts, nparts, 0, &crc, &total, &fgen, err);
	if (rc)
		return rc;
	if (!fgen) {
		snprintf(cr, sizeof(cr), "bytes */%" PRIu64, total);
		rc = sess_put(p, "complete", bucket, key, upload_id, NULL, cr, 0, &st, err);
		if (rc == 0 && !st.final)
			rc = objfs_err_set(err, -EINVAL, "gcs complete %s/%s: the session holds %" PRIu64
					   " of %" PRIu64 " bytes", bucket, key, st.persisted, total);
		if (rc == -ENOENT) {
			/* finalized by an earlier attempt whose answer was lost? */
			struct objfs_err e2;
			json_t *o = NULL;
			uint64_t sz = 0;
			char want[9];

			objfs_crc32c_b64(crc, want);
			if (get_resource(p, "complete", bucket, key, &o, &e2) == 0 &&
			    json_u64(o, "size", &sz) == 0 && sz == total &&
			    json_string_value(json_object_get(o, "crc32c")) &&
			    !strcmp(json_string_value(json_object_get(o, "crc32c")), want)) {
				log_info("gcs complete %s/%s: the session is gone and the object holds"
					 " exactly these bytes: done earlier", bucket, key);
				st.resource = o;
				st.final = 1;
				rc = 0;
			} else {
				json_decref(o);
			}
		}
		if (rc)
			goto out;
		rc = verify_written(p, "complete", bucket, key, st.resource, crc, total, NULL, err);
		if (rc == 0 && etag_of(st.resource, etag_out))
			rc = -EIO;
		goto out;
	}
	/* the last part finalized the session: check the object it made */
	rc = get_resource(p, "complete", bucket, key, &cur, err);
	if (rc == -ENOENT)
		rc = objfs_err_set(err, -EIO, "gcs complete %s/%s: the uploaded object is gone",
				   bucket, key);
	if (rc)
		goto out;
	if (!strcmp(json_string_value(json_object_get(cur, "generation")) ?: "", fgen))
		rc = verify_written(p, "complete", bucket, key, cur, crc, total, NULL, err);
	else
		log_warn("gcs complete %s/%s: generation %s was replaced since it was uploaded",
			 bucket, key, fgen);
	if (rc == 0 && etag_out)
		snprintf(etag_out, OBJFS_ETAG_MAX, "%s", fgen);
out:
	sess_set(p, upload_id, 0, 1);
	json_decref(st.resource);
	json_decref(cur);
	return rc;
}

static int gcs_mpu_abort(struct objfs_provider *p, const char *bucket, const char *key,
			 const char *upload_id, struct objfs_err *err)
{
	struct objfs_http_resp resp;
	struct gcs_req r;
	int rc;

	if (!strncmp(upload_id, GCS_COMPOSE_ID, strlen(GCS_COMPOSE_ID))) {
		char id[17];
		json_t *res = NULL;
		int bad = compose_parse(upload_id, id, &res);

		json_decref(res);
		return bad ? 0 : compose_cleanup(p, bucket, key, id, err);
	}
	if (!session_ok(p, upload_id))
		return 0;                      /* nothing this provider can reach */
	memset(&resp, 0, sizeof(resp));
	memset(&r, 0, sizeof(r));
	sess_set(p, upload_id, 0, 1);
	r.method = "DELETE";
	r.url = strdup(upload_id);
	r.no_auth = 1;
	rc = gcs_call(p, "abort-upload", bucket, key, &r, NULL, NULL, 0, 0, 0, &resp, err);
	/* GCS answers a cancelled session with 499; a gone one with 404/410 */
	if (rc == -EIO && strstr(err->msg, "HTTP 499"))
		rc = 0;
	if (rc == -ENOENT)
		rc = 0;
	objfs_http_resp_clear(&resp);
	req_free(&r);
	return rc;
}

static int gcs_mpu_list_uploads(struct objfs_provider *p, const char *bucket,
				const char *prefix, struct objfs_mpu_info **out, size_t *n,
				struct objfs_err *err)
{
	(void)p;
	(void)bucket;
	(void)prefix;
	*out = NULL;
	*n = 0;
	return objfs_err_set(err, -ENOSYS, "gcs: resumable upload sessions cannot be listed"
			     " (unfinished ones expire after a week)");
}

/* ---- presign, health, buckets ---- */

static int gcs_presign(struct objfs_provider *p, const char *bucket, const char *key,
		       const char *method, unsigned ttl_s, char **url, struct objfs_err *err)
{
	struct gcs_sign_in in;
	char *path = NULL;
	int rc;

	*url = NULL;
	if (strcmp(method, "GET") && strcmp(method, "PUT"))
		return objfs_err_set(err, -EINVAL, "presign: method %s (GET or PUT)", method);
	if (ttl_s < 1 || ttl_s > GCS_SIGN_MAX_EXPIRES)
		return objfs_err_set(err, -EINVAL, "presign: TTL %u s outside 1..%u", ttl_s,
				     GCS_SIGN_MAX_EXPIRES);
	if (asprintf(&path, "%s/%s/%s", p->base_path, bucket, key) < 0)
		return objfs_err_set(err, -ENOMEM, "out of memory");
	memset(&in, 0, sizeof(in));
	in.method = method;
	in.scheme = p->scheme;
	in.authority = p->authority;
	in.path = path;
	in.client_email = p->key.client_email;
	in.now = gcs_now(p);
	in.expires = ttl_s;
	rc = gcs_sign_url(p->key.pkey, &in, url, NULL, NULL, err);
	free(path);
	return rc;
}

/* GCS V4 signed URLs bind the headers they sign: x-goog-content-length-range
 * (0,MAX: GCS refuses a larger body) and Content-Type. */
static int gcs_presign_put(struct objfs_provider *p, const char *bucket, const char *key,
			   unsigned ttl_s, const struct objfs_presign_cond *cond,
			   struct objfs_presign_out *out, char **url, struct objfs_err *err)
{
	struct gcs_sign_in in;
	struct objfs_kv h[2];
	char range[48];
	char *path = NULL;
	uint64_t max = 0;
	size_t nh = 0;
	int rc;

	*url = NULL;
	if (ttl_s < 1 || ttl_s > GCS_SIGN_MAX_EXPIRES)
		return objfs_err_set(err, -EINVAL, "presign: TTL %u s outside 1..%u", ttl_s,
				     GCS_SIGN_MAX_EXPIRES);
	if (cond) {
		max = cond->max_size;
		if (cond->has_size && (!max || cond->size < max))
			max = cond->size;
		if (max || cond->has_size) {
			snprintf(range, sizeof(range), "0,%llu", (unsigned long long)max);
			h[nh++] = (struct objfs_kv){ (char *)"x-goog-content-length-range", range };
		}
		if (cond->content_type)
			h[nh++] = (struct objfs_kv){ (char *)"Content-Type",
						     (char *)cond->content_type };
	}
	if (asprintf(&path, "%s/%s/%s", p->base_path, bucket, key) < 0)
		return objfs_err_set(err, -ENOMEM, "out of memory");
	memset(&in, 0, sizeof(in));
	in.method = "PUT";
	in.scheme = p->scheme;
	in.authority = p->authority;
	in.path = path;
	in.headers = nh ? h : NULL;
	in.nheaders = nh;
	in.client_email = p->key.client_email;
	in.now = gcs_now(p);
	in.expires = ttl_s;
	rc = gcs_sign_url(p->key.pkey, &in, url, NULL, NULL, err);
	free(path);
	for (size_t i = 0; rc == 0 && i < nh; i++) {
		int is_range = h[i].key[0] == 'x';

		rc = objfs_presign_out_header(out, h[i].key, h[i].value);
		out->binds |= is_range ? OBJFS_PRESIGN_BINDS_SIZE : OBJFS_PRESIGN_BINDS_TYPE;
		if (rc) {
			free(*url);
			*url = NULL;
			rc = objfs_err_set(err, -ENOMEM, "out of memory");
		}
	}
	return rc;
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Seconds the Date header is off from our clock (0 without one). */
static long date_skew(const struct objfs_provider *p, time_t server)
{
	return server > 0 ? (long)(server - gcs_now(p)) : 0;
}

/*
 * Health: the token first (a grant when none is cached, one attempt), then
 * the bucket's resource (or the bucket list), one attempt.  Told apart: no
 * answer from the token endpoint or the store (unreachable), a refused grant
 * or a 401/403 (auth), a Date header more than 5 minutes off (clock skew,
 * checked first: a skewed clock makes Google refuse the grant), 404 (no
 * bucket), other failures (degraded).
 */
static int gcs_health(struct objfs_provider *p, const char *bucket, struct objfs_health *out,
		      struct objfs_err *err)
{
	struct objfs_http_resp resp;
	struct gcs_req r;
	struct objfs_http_req hr;
	struct gcs_auth_probe probe;
	struct objfs_err e2 = { "" };
	double t0 = mono_s();
	char msg[160];
	long skew;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&resp, 0, sizeof(resp));
	memset(&r, 0, sizeof(r));
	{
		char *tok = malloc(GCS_TOKEN_MAX);

		/* a cached token: no grant needed; none: one grant attempt */
		rc = tok ? gcs_auth_cached(p->auth, tok) : -ENOMEM;
		if (tok) {
			OPENSSL_cleanse(tok, GCS_TOKEN_MAX);
			free(tok);
		}
	}
	if (rc) {
		rc = gcs_auth_probe(p->auth, &probe, &e2);
		if (rc == -ENOMEM)
			return objfs_err_set(err, -ENOMEM, "out of memory");
		if (rc) {
			out->latency_s = mono_s() - t0;
			skew = date_skew(p, probe.server_date);
			if (labs(skew) > GCS_SKEW_MAX_S) {
				out->state = OBJFS_HEALTH_CLOCK_SKEW;
				snprintf(out->detail, sizeof(out->detail), "clock skew: the token"
					 " endpoint's clock is %+ld s from ours", skew);
			} else if (probe.status == 0) {
				out->state = OBJFS_HEALTH_UNREACHABLE;
				snprintf(out->detail, sizeof(out->detail), "%.240s", e2.msg);
			} else if (rc == -EACCES) {
				out->state = OBJFS_HEALTH_AUTH;
				snprintf(out->detail, sizeof(out->detail), "%.240s", e2.msg);
			} else {
				out->state = OBJFS_HEALTH_DEGRADED;
				snprintf(out->detail, sizeof(out->detail), "%.240s", e2.msg);
			}
			return 0;
		}
	}
	r.method = "GET";
	if (bucket)
		r.url = url_obj(p, "/storage/v1", bucket, NULL, NULL);
	else if (asprintf(&r.url, "%s/storage/v1/b?maxResults=1", p->base) >= 0 &&
		 p->key.project_id && q_add(&r.url, "project", p->key.project_id))
		r.nomem = 1;
	if (!r.url || r.nomem) {
		req_free(&r);
		return objfs_err_set(err, -ENOMEM, "out of memory");
	}
	r.p = p;
	memset(&hr, 0, sizeof(hr));
	hr.method = r.method;
	hr.url = r.url;
	hr.single_attempt = 1;
	hr.max_body = GCS_JSON_BODY_MAX;
	hr.prepare = gcs_prepare;
	hr.ctx = &r;
	rc = objfs_http_do(p->http, &hr, &resp);
	out->latency_s = mono_s() - t0;
	if (rc < 0) {
		out->state = r.auth_rc == -EACCES ? OBJFS_HEALTH_AUTH : OBJFS_HEALTH_UNREACHABLE;
		snprintf(out->detail, sizeof(out->detail), "%.80s unreachable: %.150s", p->base,
			 r.auth_rc ? r.auth_err.msg : resp.err[0] ? resp.err : strerror(-rc));
		rc = 0;
		goto out;
	}
	rc = 0;
	json_error_text(&resp, msg, sizeof(msg));
	{
		const char *d = objfs_http_resp_header(&resp, "date");

		skew = d ? date_skew(p, curl_getdate(d, NULL)) : 0;
	}
	if (labs(skew) > GCS_SKEW_MAX_S) {
		out->state = OBJFS_HEALTH_CLOCK_SKEW;
		snprintf(out->detail, sizeof(out->detail), "clock skew: the store's clock is %+ld s"
			 " from ours", skew);
	} else if (resp.status == 401 || resp.status == 403) {
		out->state = OBJFS_HEALTH_AUTH;
		snprintf(out->detail, sizeof(out->detail), "credentials refused: HTTP %ld%s%.150s",
			 resp.status, msg[0] ? ": " : "", msg);
	} else if (resp.status == 404) {
		out->state = OBJFS_HEALTH_NO_BUCKET;
		snprintf(out->detail, sizeof(out->detail), "bucket '%s' missing", bucket ? bucket : "");
	} else if (resp.status >= 300) {
		out->state = OBJFS_HEALTH_DEGRADED;
		snprintf(out->detail, sizeof(out->detail), "HTTP %ld%s%.150s", resp.status,
			 msg[0] ? ": " : "", msg);
	} else {
		snprintf(out->detail, sizeof(out->detail), "ok");
	}
out:
	objfs_http_resp_clear(&resp);
	req_free(&r);
	return rc;
}

static int gcs_bucket_exists(struct objfs_provider *p, const char *bucket, struct objfs_err *err)
{
	struct objfs_http_resp resp;
	struct gcs_req r;
	int rc;

	memset(&resp, 0, sizeof(resp));
	memset(&r, 0, sizeof(r));
	r.method = "GET";
	r.url = url_obj(p, "/storage/v1", bucket, NULL, NULL);
	rc = gcs_call(p, "get-bucket", bucket, NULL, &r, NULL, NULL, 0, GCS_JSON_BODY_MAX, 0, &resp,
		      err);
	objfs_http_resp_clear(&resp);
	req_free(&r);
	return rc;
}

static int gcs_bucket_create(struct objfs_provider *p, const char *bucket, struct objfs_err *err)
{
	json_t *body = NULL, *root = NULL;
	char *url = NULL;
	int rc;

	rc = objfs_bucket_check_type("gcs", bucket, err);
	if (rc)
		return rc;
	body = json_pack("{s:s}", "name", bucket);
	if (!body || asprintf(&url, "%s/storage/v1/b", p->base) < 0 ||
	    (p->key.project_id && q_add(&url, "project", p->key.project_id))) {
		if (url)
			free(url);
		json_decref(body);
		return objfs_err_set(err, -ENOMEM, "out of memory");
	}
	rc = post_json(p, "create-bucket", bucket, NULL, url, body, &root, err);   /* takes url */
	/* 409: "... you already own it" is ours; another owner's name is not */
	if (rc == -EEXIST && strstr(err->msg, "already own"))
		rc = 0;
	json_decref(body);
	json_decref(root);
	return rc;
}

/* A resumable session takes its chunks in order; composite parts are
 * independent temporary objects, sent in parallel. */
static unsigned gcs_instance_caps(const struct objfs_provider *p)
{
	return p->composite ? 0 : OBJFS_CAP_SEQUENTIAL_PARTS;
}

const struct objfs_provider_ops objfs_provider_gcs = {
	.type = "gcs",
	.caps = OBJFS_CAP_SEQUENTIAL_PARTS,
	.instance_caps = gcs_instance_caps,
	.mpu_threshold = 16ull << 20,
	.mpu_min_part = 8ull << 20,      /* a multiple of 256 KiB, as chunks must be */
	.mpu_max_parts = 10000,
	.open = gcs_open,
	.close = gcs_close,
	.head = gcs_head,
	.get = gcs_get,
	.put = gcs_put,
	.list = gcs_list,
	.del = gcs_del,
	.del_batch = gcs_del_batch,
	.copy = gcs_copy,
	.mpu_create = gcs_mpu_create,
	.mpu_upload_part = gcs_mpu_upload_part,
	.mpu_complete = gcs_mpu_complete,
	.mpu_abort = gcs_mpu_abort,
	.mpu_list_uploads = gcs_mpu_list_uploads,
	.presign = gcs_presign,
	.presign_put = gcs_presign_put,
	.health = gcs_health,
	.bucket_exists = gcs_bucket_exists,
	.bucket_create = gcs_bucket_create,
};
