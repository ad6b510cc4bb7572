/*
 * AWS Signature Version 4 (see sigv4.h for the contract).
 *
 * A signature is made in four steps, each a pure function of its inputs
 * except the third:
 *
 *   1. canonical request:  METHOD \n PATH \n QUERY \n HEADERS \n SIGNED \n PAYLOAD
 *      PATH     the raw path, normalized in the generic mode only, then
 *               URI-encoded once ('/' kept);
 *      QUERY    pairs decoded and re-encoded, sorted by encoded name, then
 *               encoded value, "name=value" joined with '&';
 *      HEADERS  "name:value\n" per distinct lower-cased name, sorted by name,
 *               values trimmed and joined with ',' (see sigv4_canon_value);
 *      SIGNED   the names joined with ';';
 *   2. string to sign: "AWS4-HMAC-SHA256\n" DATE "\n" SCOPE "\n" hex(sha256(creq))
 *      with SCOPE = YYYYMMDD/region/service/aws4_request;
 *   3. signing key: HMAC chain "AWS4"+secret -> date -> region -> service ->
 *      "aws4_request".  Only the date varies for one signer, so the key is
 *      cached per day in the signer, under its mutex (a few microseconds of
 *      HMAC while holding it, never I/O);
 *   4. signature: hex(HMAC(key, sts)).
 *
 * Presigned URLs sign the same way with the auth parameters in the query and
 * only "host" signed.  The URL lists the parameters in the order botocore's
 * pure-Python signer (and the S3 API reference) uses, not in canonical order:
 * the caller's extra parameters first, then X-Amz-Algorithm, -Credential,
 * -Date, -Expires, -SignedHeaders, -Security-Token, and -Signature last.
 *
 * Secrets: the secret key is read only by sigv4_derive_key; every buffer that
 * holds it or a derived key is wiped with OPENSSL_cleanse before it is freed
 * or goes out of scope.  Nothing here logs or formats an error message.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "objfs/provider.h"
#include "sigv4.h"
#include "strutil.h"

#define SIGV4_ALGORITHM   "AWS4-HMAC-SHA256"
#define SIGV4_TERMINATOR  "aws4_request"
/* Bounds on caller input (paths, queries, header values, keys); anything
 * longer is -EINVAL rather than an unbounded allocation. */
#define SIGV4_MAX_STR     (64 * 1024)
#define SIGV4_MAX_HEADERS 128
#define SIGV4_MAX_PARAMS  256
#define SIGV4_MAX_EXPIRES 604800u
#define SIGV4_PRESIGN_MAX_HDRS 8

static const char sigv4_hex_lower[] = "0123456789abcdef";
static const char sigv4_hex_upper[] = "0123456789ABCDEF";

/* ---- growing string buffer ------------------------------------------------------- */

/* A string under construction.  err latches the first allocation failure,
 * so a builder can append blindly and check once at the end. */
struct sbuf {
	char *p;
	size_t len;
	size_t cap;
	int err;
};

static void sb_addn(struct sbuf *b, const char *s, size_t n)
{
	if (b->err)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p) {
			b->err = -ENOMEM;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_adds(struct sbuf *b, const char *s)
{
	sb_addn(b, s, strlen(s));
}

static void sb_addc(struct sbuf *b, char c)
{
	sb_addn(b, &c, 1);
}

static int sigv4_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

/* Appends n bytes of s URI-encoded (upper-case hex; '/' kept if keep_slash). */
static void sb_add_encoded(struct sbuf *b, const char *s, size_t n, int keep_slash)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (sigv4_unreserved(c) || (keep_slash && c == '/')) {
			sb_addc(b, (char)c);
		} else {
			char e[3] = { '%', sigv4_hex_upper[c >> 4], sigv4_hex_upper[c & 15] };

			sb_addn(b, e, 3);
		}
	}
}

/* Hands the string over (NULL on a latched error; then the buffer is freed).
 * An empty buffer yields "". */
static char *sb_take(struct sbuf *b)
{
	char *p;

	if (!b->err && !b->p)
		sb_addn(b, "", 0);
	if (b->err) {
		free(b->p);
		p = NULL;
	} else {
		p = b->p;
	}
	memset(b, 0, sizeof(*b));
	return p;
}

/* Frees a string that may hold a credential (a session token in a canonical
 * request or URL): wiped first.  Accepts NULL. */
static void sigv4_free_wiped(char *p)
{
	if (p) {
		OPENSSL_cleanse(p, strlen(p));
		free(p);
	}
}

/* ---- small checks ------------------------------------------------------------------- */

/* 1 if s is non-empty, at most max bytes, and has no byte in the control
 * range, no blank and none of the bytes of `bad`. */
static int sigv4_token_ok(const char *s, size_t max, const char *bad)
{
	size_t n;

	if (!s || !*s)
		return 0;
	n = strnlen(s, max + 1);
	if (n > max)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= 0x20 || c == 0x7f || (bad && strchr(bad, c)))
			return 0;
	}
	return 1;
}

static int sigv4_method_ok(const char *m)
{
	if (!m || !*m || strlen(m) > 16)
		return 0;
	for (; *m; m++)
		if (*m < 'A' || *m > 'Z')
			return 0;
	return 1;
}

/* The signer's own strings: an access key and scope parts that can go into
 * an Authorization header and a credential scope unchanged. */
static int sigv4_signer_ok(const struct objfs_sigv4 *s)
{
	return s && sigv4_token_ok(s->creds.access_key, 256, "/,;=") && s->creds.secret_key &&
	       s->creds.secret_key[0] && strlen(s->creds.secret_key) <= 4096 &&
	       sigv4_token_ok(s->region, 64, "/,;=") && sigv4_token_ok(s->service, 64, "/,;=") &&
	       (!s->creds.session_token || strlen(s->creds.session_token) <= SIGV4_MAX_STR);
}

/* ---- hashing -------------------------------------------------------------------------- */

static void sigv4_hex(const unsigned char *in, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = sigv4_hex_lower[in[i] >> 4];
		out[2 * i + 1] = sigv4_hex_lower[in[i] & 15];
	}
	out[2 * n] = '\0';
}

/* SHA-256 of len bytes into out[65]; 0 or -EIO. */
static int sigv4_sha256(const void *data, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32) {
		out[0] = '\0';
		return -EIO;
	}
	sigv4_hex(md, 32, out);
	return 0;
}

void objfs_sigv4_sha256_hex(const void *data, size_t len, char out[65])
{
	(void)sigv4_sha256(data, len, out);   /* "" on an OpenSSL failure, see sigv4.h */
}

/* out[32] = HMAC-SHA256(key, msg); 0 or -EIO. */
static int sigv4_hmac(const void *key, size_t keylen, const void *msg, size_t msglen,
		      unsigned char out[32])
{
	unsigned int outlen = 0;

	if (keylen > INT_MAX)
		return -EIO;
	if (!HMAC(EVP_sha256(), key, (int)keylen, msg, msglen, out, &outlen) || outlen != 32)
		return -EIO;
	return 0;
}

/* The signing key for date (YYYYMMDD) into key[32]; 0, -ENOMEM or -EIO.
 * The only reader of the secret key. */
static int sigv4_derive_key(const char *secret, const char *date, const char *region,
			    const char *service, unsigned char key[32])
{
	size_t slen = strlen(secret);
	unsigned char k1[32], k2[32];
	char *kse = malloc(slen + 5);
	int rc = -ENOMEM;

	if (!kse)
		goto out;
	memcpy(kse, "AWS4", 4);
	memcpy(kse + 4, secret, slen + 1);
	rc = sigv4_hmac(kse, slen + 4, date, strlen(date), k1);
	if (!rc)
		rc = sigv4_hmac(k1, 32, region, strlen(region), k2);
	if (!rc)
		rc = sigv4_hmac(k2, 32, service, strlen(service), k1);
	if (!rc)
		rc = sigv4_hmac(k1, 32, SIGV4_TERMINATOR, strlen(SIGV4_TERMINATOR), key);
out:
	if (kse) {
		OPENSSL_cleanse(kse, slen + 4);
		free(kse);
	}
	OPENSSL_cleanse(k1, sizeof(k1));
	OPENSSL_cleanse(k2, sizeof(k2));
	if (rc)
		OPENSSL_cleanse(key, 32);
	return rc;
}

/* A copy of the signing key for date into key[32] (the caller wipes it),
 * from the cache when it holds that day, else derived and cached. */
static int sigv4_signing_key(struct objfs_sigv4 *s, const char *date, unsigned char key[32])
{
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	if (strcmp(s->key_date, date) != 0) {
		s->key_date[0] = '\0';
		rc = sigv4_derive_key(s->creds.secret_key, date, s->region, s->service, s->key);
		if (rc)
			goto unlock;
		memcpy(s->key_date, date, 8);
		s->key_date[8] = '\0';
	}
	memcpy(key, s->key, 32);
unlock:
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* String to sign and signature for creq at amz_date; *sts malloc'ed when
 * sts is not NULL.  0, -ENOMEM or -EIO. */
static int sigv4_finish(struct objfs_sigv4 *s, const char *amz_date, const char *creq,
			char **sts, char sig[65])
{
	unsigned char key[32], mac[32];
	char date[9], creq_hash[65];
	struct sbuf b = { 0 };
	char *text = NULL;
	int rc;

	memcpy(date, amz_date, 8);
	date[8] = '\0';
	rc = sigv4_sha256(creq, strlen(creq), creq_hash);
	if (rc)
		goto out;
	sb_adds(&b, SIGV4_ALGORITHM "\n");
	sb_adds(&b, amz_date);
	sb_addc(&b, '\n');
	sb_adds(&b, date);
	sb_addc(&b, '/');
	sb_adds(&b, s->region);
	sb_addc(&b, '/');
	sb_adds(&b, s->service);
	sb_adds(&b, "/" SIGV4_TERMINATOR "\n");
	sb_adds(&b, creq_hash);
	text = sb_take(&b);
	if (!text) {
		rc = -ENOMEM;
		goto out;
	}
	rc = sigv4_signing_key(s, date, key);
	if (rc)
		goto out;
	rc = sigv4_hmac(key, sizeof(key), text, strlen(text), mac);
	if (rc)
		goto out;
	sigv4_hex(mac, sizeof(mac), sig);
	if (sts) {
		*sts = text;
		text = NULL;
	}
out:
	OPENSSL_cleanse(key, sizeof(key));
	free(text);
	return rc;
}

/* ---- dates ------------------------------------------------------------------------- */

/* "YYYYMMDDTHHMMSSZ" into out[17]; 0, or -EINVAL when now is out of range
 * (out is then ""). */
static int sigv4_amz_date(time_t now, char out[17])
{
	struct tm tm;

	out[0] = '\0';
	if (!gmtime_r(&now, &tm) || tm.tm_year < 0 || tm.tm_year > 9999 - 1900)
		return -EINVAL;
	if (strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm) != 16) {
		out[0] = '\0';
		return -EINVAL;
	}
	return 0;
}

void objfs_sigv4_amz_date(time_t now, char out[17])
{
	(void)sigv4_amz_date(now, out);
}

/* ---- signer -------------------------------------------------------------------------- */

void objfs_sigv4_init(struct objfs_sigv4 *s, const struct objfs_sigv4_creds *c,
		      const char *region, const char *service, int s3)
{
	memset(s, 0, sizeof(*s));
	if (c)
		s->creds = *c;
	s->region = region;
	s->service = service;
	s->s3 = s3 ? 1 : 0;
	pthread_mutex_init(&s->lock, NULL);
}

void objfs_sigv4_destroy(struct objfs_sigv4 *s)
{
	if (!s)
		return;
	OPENSSL_cleanse(s->key, sizeof(s->key));
	OPENSSL_cleanse(s->key_date, sizeof(s->key_date));
	pthread_mutex_destroy(&s->lock);
}

void objfs_sigv4_result_free(struct objfs_sigv4_result *r)
{
	if (!r)
		return;
	sigv4_free_wiped(r->creq);       /* may hold x-amz-security-token */
	free(r->sts);
	free(r->signed_headers);
	free(r->authorization);
	memset(r, 0, sizeof(*r));
}

/* ---- paths --------------------------------------------------------------------------- */

char *objfs_sigv4_uri_encode(const char *in, size_t len, int keep_slash)
{
	struct sbuf b = { 0 };

	if (!in || len > (SIZE_MAX - 1) / 3)
		return NULL;
	sb_add_encoded(&b, in, len, keep_slash);
	return sb_take(&b);
}

char *objfs_sigv4_encode_path(const char *path)
{
	if (!path)
		return NULL;
	if (!path[0])
		return strdup("/");
	return objfs_sigv4_uri_encode(path, strlen(path), 1);
}

/*
 * The generic (non-S3) path rule of the AWS suite, as botocore does it:
 * empty and "." segments dropped, ".." drops the previous segment (never
 * above the root), result "/" + segments joined with '/', with a trailing
 * '/' when the input ended in '/' and a segment is left.  path starts
 * with '/'.  Malloc'ed raw path or NULL.
 */
static char *sigv4_normalize(const char *path)
{
	size_t n = strlen(path), nseg = 0, cap = 1;
	struct { const char *p; size_t len; } *seg = NULL;
	struct sbuf b = { 0 };
	char *out = NULL;

	for (size_t i = 0; i < n; i++)
		if (path[i] == '/')
			cap++;
	seg = calloc(cap, sizeof(*seg));
	if (!seg)
		goto out;
	for (const char *p = path; *p;) {
		const char *e = strchrnul(p, '/');
		size_t len = (size_t)(e - p);

		if (len == 2 && p[0] == '.' && p[1] == '.') {
			if (nseg)
				nseg--;
		} else if (len && !(len == 1 && p[0] == '.')) {
			seg[nseg].p = p;
			seg[nseg].len = len;
			nseg++;
		}
		p = *e ? e + 1 : e;
	}
	for (size_t i = 0; i < nseg; i++) {
		sb_addc(&b, '/');
		sb_addn(&b, seg[i].p, seg[i].len);
	}
	if (!nseg || path[n - 1] == '/')
		sb_addc(&b, '/');
	out = sb_take(&b);
out:
	free(seg);
	return out;
}

/* The path as it goes into the canonical request for signer mode s3;
 * *out malloc'ed.  0, -EINVAL (not absolute, too long) or -ENOMEM. */
static int sigv4_canon_path(int s3, const char *path, char **out)
{
	char *norm = NULL;
	int rc = 0;

	*out = NULL;
	if (!path || strnlen(path, SIGV4_MAX_STR + 1) > SIGV4_MAX_STR)
		return -EINVAL;
	if (!path[0])
		path = "/";
	if (path[0] != '/')
		return -EINVAL;
	if (!s3) {
		norm = sigv4_normalize(path);
		if (!norm)
			return -ENOMEM;
		path = norm;
	}
	*out = objfs_sigv4_encode_path(path);
	if (!*out)
		rc = -ENOMEM;
	free(norm);
	return rc;
}

/* ---- query ---------------------------------------------------------------------------- */

/* A query parameter, both parts URI-encoded.  Owned (malloc'ed) in the
 * arrays of sigv4_query_parse; borrowed in presign's sorted copy. */
struct sigv4_param {
	const char *name;
	const char *value;
};

static void sigv4_params_free(struct sigv4_param *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		sigv4_free_wiped((char *)v[i].name);
		sigv4_free_wiped((char *)v[i].value);
	}
	free(v);
}

/* Decodes n bytes of s as sent ('%XX' escapes, '+' is a space as in every
 * form-encoded query) and re-encodes them with the unreserved set.
 * *out malloc'ed.  0, -EINVAL (a malformed escape) or -ENOMEM. */
static int sigv4_reencode(const char *s, size_t n, char **out)
{
	struct sbuf b = { 0 };
	int rc = 0;

	*out = NULL;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '%') {
			int hi = n - i >= 3 ? objfs_hexval(s[i + 1]) : -1;
			int lo = n - i >= 3 ? objfs_hexval(s[i + 2]) : -1;

			if (hi < 0 || lo < 0) {
				rc = -EINVAL;
				goto out;
			}
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
		} else if (c == '+') {
			c = ' ';
		}
		sb_add_encoded(&b, (const char *)&c, 1, 0);
	}
	*out = sb_take(&b);
	if (!*out)
		rc = -ENOMEM;
out:
	if (rc)
		free(b.p);
	return rc;
}

/* Splits a query as sent into pairs (empty pieces between '&' skipped; a
 * piece without '=' has an empty value), each re-encoded, in the order
 * given.  *out malloc'ed (sigv4_params_free), *n its length.  0, -EINVAL
 * or -ENOMEM. */
static int sigv4_query_parse(const char *q, struct sigv4_param **out, size_t *n)
{
	struct sigv4_param *v = NULL;
	size_t cnt = 0, cap = 0;
	int rc = 0;

	*out = NULL;
	*n = 0;
	if (!q)
		return 0;
	if (strnlen(q, SIGV4_MAX_STR + 1) > SIGV4_MAX_STR)
		return -EINVAL;
	for (const char *p = q; *p;) {
		const char *e = strchrnul(p, '&');
		const char *eq = memchr(p, '=', (size_t)(e - p));

		if (e > p) {
			if (cnt == SIGV4_MAX_PARAMS) {
				rc = -EINVAL;
				goto out;
			}
			if (cnt == cap) {
				size_t ncap = cap ? cap * 2 : 8;
				struct sigv4_param *nv = realloc(v, ncap * sizeof(*v));

				if (!nv) {
					rc = -ENOMEM;
					goto out;
				}
				v = nv;
				cap = ncap;
			}
			char *name = NULL, *value = NULL;

			rc = sigv4_reencode(p, (size_t)((eq ? eq : e) - p), &name);
			if (!rc)
				rc = eq ? sigv4_reencode(eq + 1, (size_t)(e - eq - 1), &value)
					: sigv4_reencode("", 0, &value);
			v[cnt].name = name;
			v[cnt].value = value;
			cnt++;
			if (rc)
				goto out;
		}
		p = *e ? e + 1 : e;
	}
	*out = v;
	*n = cnt;
	v = NULL;
out:
	sigv4_params_free(v, cnt);
	return rc;
}

static int sigv4_param_cmp(const void *a, const void *b)
{
	const struct sigv4_param *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : strcmp(x->value, y->value);
}

/* Appends "n=v&n=v..." of v[0..n) in their current order. */
static void sb_add_params(struct sbuf *b, const struct sigv4_param *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (i)
			sb_addc(b, '&');
		sb_adds(b, v[i].name);
		sb_addc(b, '=');
		sb_adds(b, v[i].value);
	}
}

/* ---- headers ---------------------------------------------------------------------------- */

struct sigv4_hdr {
	char *name;                      /* lower-cased */
	char *value;                     /* canonical */
	size_t idx;                      /* position given, for a stable sort */
};

static void sigv4_hdrs_free(struct sigv4_hdr *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].name);
		sigv4_free_wiped(v[i].value);
	}
	free(v);
}

static int sigv4_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/*
 * The canonical form of a header value: each line (a value may hold '\n',
 * the folded lines of the AWS suite's multi-line header) has its leading and
 * trailing blanks removed and inner runs of blanks collapsed to one space;
 * the non-empty lines are joined with ','.  Other control bytes are -EINVAL.
 * *out malloc'ed.  0, -EINVAL or -ENOMEM.
 */
static int sigv4_canon_value(const char *v, char **out)
{
	struct sbuf b = { 0 };
	int lines = 0, rc = 0;

	*out = NULL;
	if (strnlen(v, SIGV4_MAX_STR + 1) > SIGV4_MAX_STR)
		return -EINVAL;
	for (const char *p = v; *p;) {
		const char *e = strchrnul(p, '\n');
		int pending = 0, any = 0;

		for (const char *c = p; c < e; c++) {
			unsigned char u = (unsigned char)*c;

			if (sigv4_blank(*c)) {
				pending = any;
				continue;
			}
			if (u < 0x20 || u == 0x7f) {
				rc = -EINVAL;
				goto out;
			}
			if (!any && lines++)
				sb_addc(&b, ',');
			if (pending)
				sb_addc(&b, ' ');
			sb_addc(&b, *c);
			pending = 0;
			any = 1;
		}
		p = *e ? e + 1 : e;
	}
	*out = sb_take(&b);
	if (!*out)
		rc = -ENOMEM;
out:
	if (rc)
		free(b.p);
	return rc;
}

static int sigv4_hdr_cmp(const void *a, const void *b)
{
	const struct sigv4_hdr *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/*
 * Canonical headers of h[0..n): lower-cased names, canonical values,
 * duplicates merged in the order given, sorted by name.  *out
 * (sigv4_hdrs_free) and *nout are the distinct headers.  0, -EINVAL (a
 * bad name or value, too many headers) or -ENOMEM.
 */
static int sigv4_headers(const struct objfs_sigv4_header *h, size_t n, struct sigv4_hdr **out,
			 size_t *nout)
{
	struct sigv4_hdr *v = NULL;
	size_t cnt = 0, m = 0;
	int rc = 0;

	*out = NULL;
	*nout = 0;
	if (n > SIGV4_MAX_HEADERS || (n && !h))
		return -EINVAL;
	v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (cnt = 0; cnt < n; cnt++) {
		if (!h[cnt].value || !sigv4_token_ok(h[cnt].name, 256, ":()<>@,;\\\"/[]?={}")) {
			rc = -EINVAL;
			goto out;
		}
		v[cnt].idx = cnt;
		v[cnt].name = strdup(h[cnt].name);
		if (!v[cnt].name) {
			rc = -ENOMEM;
			goto out;
		}
		for (char *c = v[cnt].name; *c; c++)
			if (*c >= 'A' && *c <= 'Z')
				*c = (char)(*c - 'A' + 'a');
		rc = sigv4_canon_value(h[cnt].value, &v[cnt].value);
		if (rc)
			goto out;
	}
	qsort(v, cnt, sizeof(*v), sigv4_hdr_cmp);
	/* Merge runs of one name into v[m]. */
	for (size_t i = 0; i < cnt; i++) {
		if (m && strcmp(v[m - 1].name, v[i].name) == 0) {
			struct sbuf b = { 0 };

			sb_adds(&b, v[m - 1].value);
			sb_addc(&b, ',');
			sb_adds(&b, v[i].value);
			sigv4_free_wiped(v[m - 1].value);
			v[m - 1].value = sb_take(&b);
			free(v[i].name);
			sigv4_free_wiped(v[i].value);
			v[i].name = v[i].value = NULL;
			if (!v[m - 1].value) {
				rc = -ENOMEM;
				goto out;
			}
		} else {
			v[m++] = v[i];
			if (m - 1 != i)
				v[i].name = v[i].value = NULL;
		}
	}
	*out = v;
	*nout = m;
	v = NULL;
out:
	/* All n entries: calloc'ed, so the ones not reached yet are NULL, and
	 * the merge leaves each string owned by exactly one entry. */
	sigv4_hdrs_free(v, n);
	return rc;
}

static const char *sigv4_hdr_get(const struct sigv4_hdr *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0)
			return v[i].value;
	return NULL;
}

/* A payload hash: 64 lower-case hex digits or a token such as
 * UNSIGNED-PAYLOAD or STREAMING-AWS4-HMAC-SHA256-PAYLOAD. */
static int sigv4_payload_ok(const char *p)
{
	return sigv4_token_ok(p, 128, NULL);
}

/* ---- signing ---------------------------------------------------------------------------- */

int objfs_sigv4_sign(struct objfs_sigv4 *s, const struct objfs_sigv4_request *r,
		     time_t now, struct objfs_sigv4_result *out)
{
	struct sigv4_param *q = NULL;
	struct sigv4_hdr *h = NULL;
	size_t nq = 0, nh = 0;
	struct sbuf b = { 0 };
	char amz_date[17], sig[65];
	char *path = NULL, *creq = NULL, *sts = NULL, *signed_hdrs = NULL, *authz = NULL;
	const char *v;
	int rc = -EINVAL;

	if (out)
		memset(out, 0, sizeof(*out));
	if (!out || !r || !sigv4_signer_ok(s) || !sigv4_method_ok(r->method) ||
	    !sigv4_payload_ok(r->payload_hash))
		goto out;
	if (sigv4_amz_date(now, amz_date))
		goto out;
	rc = sigv4_canon_path(s->s3, r->path, &path);
	if (!rc)
		rc = sigv4_query_parse(r->query, &q, &nq);
	if (!rc)
		rc = sigv4_headers(r->headers, r->nheaders, &h, &nh);
	if (rc)
		goto out;
	rc = -EINVAL;
	v = sigv4_hdr_get(h, nh, "host");
	if (!v || !v[0])
		goto out;
	v = sigv4_hdr_get(h, nh, "x-amz-date");
	if (!v || strcmp(v, amz_date) != 0)
		goto out;
	if (s->s3) {
		/* S3 signs the payload hash header and the session token. */
		v = sigv4_hdr_get(h, nh, "x-amz-content-sha256");
		if (!v || strcmp(v, r->payload_hash) != 0)
			goto out;
		v = sigv4_hdr_get(h, nh, "x-amz-security-token");
		if (s->creds.session_token ? !v || strcmp(v, s->creds.session_token) != 0 : v != NULL)
			goto out;
	}
	if (nq)                          /* q may be NULL: no qsort(NULL, 0) */
		qsort(q, nq, sizeof(*q), sigv4_param_cmp);

	/* Signed header list. */
	for (size_t i = 0; i < nh; i++) {
		if (i)
			sb_addc(&b, ';');
		sb_adds(&b, h[i].name);
	}
	signed_hdrs = sb_take(&b);
	if (!signed_hdrs) {
		rc = -ENOMEM;
		goto out;
	}

	/* Canonical request. */
	sb_adds(&b, r->method);
	sb_addc(&b, '\n');
	sb_adds(&b, path);
	sb_addc(&b, '\n');
	sb_add_params(&b, q, nq);
	sb_addc(&b, '\n');
	for (size_t i = 0; i < nh; i++) {
		sb_adds(&b, h[i].name);
		sb_addc(&b, ':');
		sb_adds(&b, h[i].value);
		sb_addc(&b, '\n');
	}
	sb_addc(&b, '\n');
	sb_adds(&b, signed_hdrs);
	sb_addc(&b, '\n');
	sb_adds(&b, r->payload_hash);
	creq = sb_take(&b);
	if (!creq) {
		rc = -ENOMEM;
		goto out;
	}

	rc = sigv4_finish(s, amz_date, creq, &sts, sig);
	if (rc)
		goto out;
	if (asprintf(&authz, SIGV4_ALGORITHM " Credential=%s/%.8s/%s/%s/" SIGV4_TERMINATOR
		     ", SignedHeaders=%s, Signature=%s", s->creds.access_key, amz_date, s->region,
		     s->service, signed_hdrs, sig) < 0) {
		authz = NULL;
		rc = -ENOMEM;
		goto out;
	}
	out->creq = creq;
	out->sts = sts;
	out->signed_headers = signed_hdrs;
	out->authorization = authz;
	memcpy(out->signature, sig, sizeof(out->signature));
	creq = sts = signed_hdrs = authz = NULL;
	rc = 0;
out:
	sigv4_params_free(q, nq);
	sigv4_hdrs_free(h, nh);
	free(path);
	sigv4_free_wiped(creq);
	free(sts);
	free(signed_hdrs);
	free(authz);
	return rc;
}

/* 1 if the extra query's name (encoded) is one of the auth parameters. */
static int sigv4_is_auth_param(const char *name)
{
	static const char *const names[] = {
		"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
		"X-Amz-SignedHeaders", "X-Amz-Security-Token", "X-Amz-Signature",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(name, names[i]) == 0)
			return 1;
	return 0;
}

/* "scheme://authority": a scheme, "://", then a non-empty authority with
 * no path, query, fragment or blank. */
static int sigv4_base_url_ok(const char *u)
{
	const char *sep;

	if (!u || strlen(u) > 2048)
		return 0;
	sep = strstr(u, "://");
	if (!sep || sep == u)
		return 0;
	for (const char *c = u; c < sep; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '+' || *c == '-' || *c == '.'))
			return 0;
	return sigv4_token_ok(sep + 3, 2048, "/?#");
}

int objfs_sigv4_presign(struct objfs_sigv4 *s, const char *method, const char *base_url,
			const char *host, const char *path, const char *extra_query,
			unsigned expires_s, time_t now, char **url)
{
	return objfs_sigv4_presign_hdrs(s, method, base_url, host, path, extra_query, NULL, 0,
					expires_s, now, url);
}

static int sigv4_kv_cmp(const void *a, const void *b)
{
	return strcmp(((const struct objfs_kv *)a)->key, ((const struct objfs_kv *)b)->key);
}

int objfs_sigv4_presign_hdrs(struct objfs_sigv4 *s, const char *method, const char *base_url,
			     const char *host, const char *path, const char *extra_query,
			     const struct objfs_kv *hdrs, size_t nhdrs, unsigned expires_s,
			     time_t now, char **url)
{
	struct objfs_kv signed_h[SIGV4_PRESIGN_MAX_HDRS + 1];
	char signed_names[256];
	size_t nsigned = 0, snl = 0;
	struct sigv4_param *extra = NULL, *all = NULL, auth[6];
	size_t nextra = 0, nall = 0, nauth = 0;
	struct sbuf b = { 0 };
	char amz_date[17], sig[65], expires[16];
	char *cpath = NULL, *upath = NULL, *cred = NULL, *token = NULL, *creq = NULL;
	char *signed_enc = NULL;
	int rc = -EINVAL;

	if (url)
		*url = NULL;
	if (!url || !sigv4_signer_ok(s) || !sigv4_method_ok(method) ||
	    !sigv4_base_url_ok(base_url) || !sigv4_token_ok(host, 1024, NULL) ||
	    expires_s < 1 || expires_s > SIGV4_MAX_EXPIRES || nhdrs > SIGV4_PRESIGN_MAX_HDRS)
		goto out;
	if (sigv4_amz_date(now, amz_date))
		goto out;
	/* host and the extra headers, sorted by name: lower-case names, values
	 * without CR/LF, no host among them */
	signed_h[nsigned++] = (struct objfs_kv){ (char *)"host", (char *)host };
	for (size_t i = 0; i < nhdrs; i++) {
		const char *k = hdrs[i].key, *v = hdrs[i].value;

		if (!k || !v || !k[0] || !strcmp(k, "host") || strpbrk(v, "\r\n"))
			goto out;
		for (const char *c = k; *c; c++)
			if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-'))
				goto out;
		signed_h[nsigned++] = hdrs[i];
	}
	qsort(signed_h, nsigned, sizeof(signed_h[0]), sigv4_kv_cmp);
	signed_names[0] = '\0';
	for (size_t i = 0; i < nsigned; i++) {
		int n = snprintf(signed_names + snl, sizeof(signed_names) - snl, "%s%s",
				 i ? ";" : "", signed_h[i].key);

		if (n < 0 || (size_t)n >= sizeof(signed_names) - snl)
			goto out;
		snl += (size_t)n;
	}
	rc = sigv4_canon_path(s->s3, path, &cpath);
	if (!rc)
		rc = sigv4_query_parse(extra_query, &extra, &nextra);
	if (rc)
		goto out;
	rc = -EINVAL;
	for (size_t i = 0; i < nextra; i++)
		if (sigv4_is_auth_param(extra[i].name))
			goto out;
	rc = -ENOMEM;
	upath = objfs_sigv4_encode_path(path[0] ? path : "/");
	if (!upath)
		goto out;
	snprintf(expires, sizeof(expires), "%u", expires_s);
	sb_adds(&b, s->creds.access_key);
	sb_addc(&b, '/');
	sb_addn(&b, amz_date, 8);
	sb_addc(&b, '/');
	sb_adds(&b, s->region);
	sb_addc(&b, '/');
	sb_adds(&b, s->service);
	sb_adds(&b, "/" SIGV4_TERMINATOR);
	cred = sb_take(&b);
	if (!cred)
		goto out;
	sb_add_encoded(&b, cred, strlen(cred), 0);
	free(cred);
	cred = sb_take(&b);
	if (!cred)
		goto out;
	/* the parameter's value is encoded like every other (';' is %3B) */
	sb_add_encoded(&b, signed_names, strlen(signed_names), 0);
	signed_enc = sb_take(&b);
	if (!signed_enc)
		goto out;
	if (s->creds.session_token) {
		sb_add_encoded(&b, s->creds.session_token, strlen(s->creds.session_token), 0);
		token = sb_take(&b);
		if (!token)
			goto out;
	}

	/* The auth parameters in botocore's order; values already encoded.
	 * X-Amz-Signature is appended last, outside the signed set. */
	auth[nauth++] = (struct sigv4_param){ "X-Amz-Algorithm", SIGV4_ALGORITHM };
	auth[nauth++] = (struct sigv4_param){ "X-Amz-Credential", cred };
	auth[nauth++] = (struct sigv4_param){ "X-Amz-Date", amz_date };
	auth[nauth++] = (struct sigv4_param){ "X-Amz-Expires", expires };
	auth[nauth++] = (struct sigv4_param){ "X-Amz-SignedHeaders", signed_enc };
	if (token)
		auth[nauth++] = (struct sigv4_param){ "X-Amz-Security-Token", token };

	/* Canonical query: the extra and auth parameters together, sorted.
	 * The entries borrow their strings. */
	all = calloc(nextra + nauth, sizeof(*all));
	if (!all)
		goto out;
	if (nextra)                      /* extra may be NULL */
		memcpy(all, extra, nextra * sizeof(*all));
	memcpy(all + nextra, auth, nauth * sizeof(*all));
	nall = nextra + nauth;
	qsort(all, nall, sizeof(*all), sigv4_param_cmp);

	sb_adds(&b, method);
	sb_addc(&b, '\n');
	sb_adds(&b, cpath);
	sb_addc(&b, '\n');
	sb_add_params(&b, all, nall);
	sb_addc(&b, '\n');
	for (size_t i = 0; i < nsigned; i++) {
		char *cv = NULL;

		if (!strcmp(signed_h[i].key, "host")) {
			sb_adds(&b, "host:");
			sb_adds(&b, host);
		} else {
			rc = sigv4_canon_value(signed_h[i].value, &cv);
			if (rc)
				goto out;
			sb_adds(&b, signed_h[i].key);
			sb_addc(&b, ':');
			sb_adds(&b, cv);
			free(cv);
		}
		sb_addc(&b, '\n');
	}
	rc = -ENOMEM;
	sb_addc(&b, '\n');
	sb_adds(&b, signed_names);
	sb_adds(&b, "\n" OBJFS_SIGV4_UNSIGNED);
	creq = sb_take(&b);
	if (!creq)
		goto out;
	rc = sigv4_finish(s, amz_date, creq, NULL, sig);
	if (rc)
		goto out;

	sb_adds(&b, base_url);
	sb_adds(&b, upath);
	sb_addc(&b, '?');
	sb_add_params(&b, extra, nextra);
	if (nextra)
		sb_addc(&b, '&');
	sb_add_params(&b, auth, nauth);
	sb_adds(&b, "&X-Amz-Signature=");
	sb_adds(&b, sig);
	*url = sb_take(&b);
	rc = *url ? 0 : -ENOMEM;
out:
	free(all);                       /* entries borrowed */
	sigv4_params_free(extra, nextra);
	free(cpath);
	free(upath);
	free(cred);
	free(signed_enc);
	sigv4_free_wiped(token);
	sigv4_free_wiped(creq);
	return rc;
}
