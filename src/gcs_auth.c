/*
 * GCS service-account key, RS256 JWT and the shared OAuth2 token cache
 * (see gcs_auth.h).  Lock order: auth->lock is a leaf; it is never held
 * across the token request.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>

#include "gcs_auth.h"
#include "gcs_sign.h"
#include "log.h"

#define GCS_KEY_FILE_MAX (64 * 1024)
#define GCS_TOKEN_BODY_MAX (64 * 1024)

struct gcs_auth {
	const struct gcs_key *key;
	objfs_clock_fn clock;
	struct objfs_http *http;         /* for the token endpoint only */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	char token[GCS_TOKEN_MAX];       /* lock: "" when none */
	int64_t refresh_ms;              /* lock: monotonic ms to refresh from */
	int64_t expire_ms;               /* lock: monotonic ms it stops working */
	int refreshing;                  /* lock: a thread is fetching */
	unsigned gen;                    /* lock: finished fetches */
	int last_rc;                     /* lock: result of the last fetch */
	struct objfs_err last_err;       /* lock: its message */
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int gcs_b64url(const void *in, size_t len, char **out)
{
	static const char t[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	const unsigned char *p = in;
	char *o = malloc(len / 3 * 4 + 5), *w = o;

	*out = NULL;
	if (!o)
		return -ENOMEM;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		size_t n = len - i < 3 ? len - i : 3;

		if (n > 1)
			v |= (uint32_t)p[i + 1] << 8;
		if (n > 2)
			v |= p[i + 2];
		*w++ = t[(v >> 18) & 63];
		*w++ = t[(v >> 12) & 63];
		if (n > 1)
			*w++ = t[(v >> 6) & 63];
		if (n > 2)
			*w++ = t[v & 63];
	}
	*w = '\0';
	*out = o;
	return 0;
}

/* ---- key file ---- */

void gcs_key_clear(struct gcs_key *k)
{
	if (!k)
		return;
	free(k->client_email);
	free(k->private_key_id);
	free(k->token_uri);
	free(k->project_id);
	EVP_PKEY_free(k->pkey);
	memset(k, 0, sizeof(*k));
}

static char *json_str_dup(json_t *o, const char *name)
{
	const char *v = json_string_value(json_object_get(o, name));

	return v && v[0] ? strdup(v) : NULL;
}

int gcs_key_parse(const char *json, size_t len, struct gcs_key *out, struct objfs_err *err)
{
	json_error_t je;
	json_t *root = NULL;
	const char *type, *pem;
	BIO *bio = NULL;
	int rc = -EINVAL;

	memset(out, 0, sizeof(out[0]));
	root = json_loadb(json, len, 0, &je);
	if (!root || !json_is_object(root)) {
		/* je.text may quote the file: only its position is reported */
		rc = objfs_err_set(err, -EINVAL, "not a JSON object (line %d)", root ? 1 : je.line);
		goto out;
	}
	type = json_string_value(json_object_get(root, "type"));
	if (!type || strcmp(type, "service_account")) {
		rc = objfs_err_set(err, -EINVAL, "\"type\" is %s%s%s, not \"service_account\"",
				   type ? "\"" : "", type ? type : "missing", type ? "\"" : "");
		goto out;
	}
	pem = json_string_value(json_object_get(root, "private_key"));
	out->client_email = json_str_dup(root, "client_email");
	out->token_uri = json_str_dup(root, "token_uri");
	out->private_key_id = json_str_dup(root, "private_key_id");
	out->project_id = json_str_dup(root, "project_id");
	if (!out->client_email || !out->token_uri || !pem) {
		rc = objfs_err_set(err, -EINVAL, "missing \"%s\"",
				   !out->client_email ? "client_email"
				   : !out->token_uri ? "token_uri" : "private_key");
		goto out;
	}
	if (strncmp(out->token_uri, "https://", 8) && strncmp(out->token_uri, "http://", 7)) {
		rc = objfs_err_set(err, -EINVAL, "\"token_uri\" is not an http(s) URL");
		goto out;
	}
	bio = BIO_new_mem_buf(pem, (int)strlen(pem));
	if (!bio) {
		rc = objfs_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	out->pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	if (!out->pkey || EVP_PKEY_base_id(out->pkey) != EVP_PKEY_RSA) {
		rc = objfs_err_set(err, -EINVAL, "\"private_key\" is not a PEM RSA private key");
		goto out;
	}
	rc = 0;
out:
	BIO_free(bio);
	if (root) {
		/* the PEM text lives in the parsed tree: wipe it before freeing */
		json_t *pk = json_object_get(root, "private_key");
		const char *v = json_string_value(pk);

		if (v)
			OPENSSL_cleanse((char *)v, strlen(v));
		json_decref(root);
	}
	if (rc)
		gcs_key_clear(out);
	return rc;
}

int gcs_key_load(const char *path, struct gcs_key *out, struct objfs_err *err)
{
	struct stat st;
	char *buf = NULL;
	ssize_t n = 0;
	int fd = -1, rc;

	memset(out, 0, sizeof(*out));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		rc = objfs_err_set(err, -errno, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > GCS_KEY_FILE_MAX) {
		rc = objfs_err_set(err, -EINVAL, "%s: not a regular file of at most 64 KiB", path);
		goto out;
	}
	if (st.st_mode & 077) {
		rc = objfs_err_set(err, -EACCES, "%s is readable by group or others (chmod 600)", path);
		goto out;
	}
	buf = calloc(1, (size_t)st.st_size + 1);
	if (!buf) {
		rc = objfs_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (ssize_t got; n < st.st_size; n += got) {
		got = read(fd, buf + n, (size_t)(st.st_size - n));
		if (got <= 0) {
			rc = objfs_err_set(err, got < 0 ? -errno : -EIO, "%s: read failed", path);
			goto out;
		}
	}
	rc = gcs_key_parse(buf, (size_t)n, out, err);
	if (rc) {
		char m[OBJFS_ERR_MAX];

		snprintf(m, sizeof(m), "%s", err ? err->msg : "");
		objfs_err_set(err, rc, "%s: not a service-account key file: %s", path, m);
	}
out:
	if (buf) {
		OPENSSL_cleanse(buf, (size_t)st.st_size);
		free(buf);
	}
	if (fd >= 0)
		close(fd);
	return rc;
}

/* ---- JWT ---- */

int gcs_jwt_build(const struct gcs_key *k, const char *scope, time_t now, unsigned lifetime,
		  char **out)
{
	json_t *hdr = NULL, *cl = NULL;
	char *hs = NULL, *cs = NULL, *h64 = NULL, *c64 = NULL, *s64 = NULL, *input = NULL;
	unsigned char *sig = NULL;
	size_t siglen = 0;
	int rc = -ENOMEM;

	*out = NULL;
	hdr = json_pack("{s:s, s:s}", "alg", "RS256", "typ", "JWT");
	cl = json_pack("{s:s, s:s, s:s, s:I, s:I}", "iss", k->client_email, "scope", scope,
		       "aud", k->token_uri, "iat", (json_int_t)now,
		       "exp", (json_int_t)now + lifetime);
	if (!hdr || !cl)
		goto out;
	if (k->private_key_id && json_object_set_new(hdr, "kid", json_string(k->private_key_id)))
		goto out;
	hs = json_dumps(hdr, JSON_COMPACT | JSON_PRESERVE_ORDER);
	cs = json_dumps(cl, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!hs || !cs || gcs_b64url(hs, strlen(hs), &h64) || gcs_b64url(cs, strlen(cs), &c64))
		goto out;
	if (asprintf(&input, "%s.%s", h64, c64) < 0) {
		input = NULL;
		goto out;
	}
	rc = gcs_rsa_sha256(k->pkey, input, strlen(input), &sig, &siglen);
	if (rc)
		goto out;
	rc = -ENOMEM;
	if (gcs_b64url(sig, siglen, &s64) || asprintf(out, "%s.%s", input, s64) < 0) {
		*out = NULL;
		goto out;
	}
	rc = 0;
out:
	json_decref(hdr);
	json_decref(cl);
	free(hs);
	free(cs);
	free(h64);
	free(c64);
	free(s64);
	free(input);
	free(sig);
	return rc;
}

/* ---- token cache ---- */

struct gcs_auth *gcs_auth_new(const struct gcs_key *k, objfs_clock_fn clock, const char *label)
{
	struct gcs_auth *a = calloc(1, sizeof(*a));
	struct objfs_http_conf hc;

	if (!a)
		return NULL;
	memset(&hc, 0, sizeof(hc));
	hc.max_inflight = 4;
	hc.label = label;
	a->key = k;
	a->clock = clock;
	a->http = objfs_http_new(&hc);
	if (!a->http) {
		free(a);
		return NULL;
	}
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->cond, NULL);
	return a;
}

void gcs_auth_free(struct gcs_auth *a)
{
	if (!a)
		return;
	objfs_http_free(a->http);
	pthread_mutex_destroy(&a->lock);
	pthread_cond_destroy(&a->cond);
	OPENSSL_cleanse(a->token, sizeof(a->token));
	free(a);
}

/* The JSON error of a token answer: "error: description" (both from the
 * server, neither a secret), or the status. */
static void token_error_text(const struct objfs_http_resp *resp, char *out, size_t cap)
{
	json_t *root = resp->body ? json_loadb(resp->body, resp->body_len, 0, NULL) : NULL;
	const char *e = json_string_value(json_object_get(root, "error"));
	const char *d = json_string_value(json_object_get(root, "error_description"));

	if (e)
		snprintf(out, cap, "%.60s%s%.150s", e, d ? ": " : "", d ? d : "");
	else
		snprintf(out, cap, "HTTP %ld", resp->status);
	json_decref(root);
}

/* The token request's one header: the form type. */
static int form_prepare(void *ctx, struct curl_slist **headers)
{
	(void)ctx;
	*headers = curl_slist_append(NULL, "Content-Type: application/x-www-form-urlencoded");
	return *headers ? 0 : -ENOMEM;
}

/*
 * One grant: a fresh JWT posted to token_uri.  On success the token goes
 * to tok with its lifetime in *ttl_s.  status/date (may be NULL) get the
 * answer's status and Date.  single: one attempt (health), else retried.
 */
static int auth_fetch(struct gcs_auth *a, int single, char *tok, long *ttl_s, long *status,
		      time_t *date, struct objfs_err *err)
{
	static const char grant[] =
		"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=";
	struct objfs_http_resp resp;
	struct objfs_http_req hr;
	struct objfs_seg seg;
	struct objfs_source src;
	char *jwt = NULL, *body = NULL, why[256];
	json_t *root = NULL;
	const char *v;
	time_t now = a->clock ? a->clock() : time(NULL);
	int rc;

	memset(&resp, 0, sizeof(resp));
	memset(&hr, 0, sizeof(hr));
	if (status)
		*status = 0;
	if (date)
		*date = 0;
	rc = gcs_jwt_build(a->key, GCS_SCOPE_FULL, now, GCS_JWT_LIFETIME, &jwt);
	if (rc) {
		rc = objfs_err_set(err, rc, "gcs token: cannot sign the JWT assertion");
		goto out;
	}
	if (asprintf(&body, "%s%s", grant, jwt) < 0) {
		body = NULL;
		rc = objfs_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	seg = (struct objfs_seg){ .fd = -1, .buf = body, .off = 0, .len = strlen(body) };
	src = (struct objfs_source){ &seg, 1, seg.len };
	hr.method = "POST";
	hr.url = a->key->token_uri;
	hr.body = &src;
	hr.max_body = GCS_TOKEN_BODY_MAX;
	hr.single_attempt = single;
	hr.prepare = form_prepare;
	rc = objfs_http_do(a->http, &hr, &resp);
	if (rc < 0) {
		rc = objfs_err_set(err, rc == -ENOMEM ? -ENOMEM : -EIO,
				   "gcs token endpoint unreachable: %s",
				   resp.err[0] ? resp.err : strerror(-rc));
		goto out;
	}
	if (status)
		*status = resp.status;
	if (date && (v = objfs_http_resp_header(&resp, "date")))
		*date = curl_getdate(v, NULL) > 0 ? curl_getdate(v, NULL) : 0;
	if (resp.status < 200 || resp.status >= 300) {
		token_error_text(&resp, why, sizeof(why));
		if (resp.status == 400 || resp.status == 401 || resp.status == 403)
			rc = objfs_err_set(err, -EACCES,
					   "gcs token endpoint refused the service-account key %s: %s",
					   a->key->client_email, why);
		else
			rc = objfs_err_set(err, -EIO, "gcs token endpoint failing: %s", why);
		goto out;
	}
	root = resp.body ? json_loadb(resp.body, resp.body_len, 0, NULL) : NULL;
	v = json_string_value(json_object_get(root, "access_token"));
	*ttl_s = (long)json_integer_value(json_object_get(root, "expires_in"));
	if (!v || !v[0] || strlen(v) >= GCS_TOKEN_MAX || strpbrk(v, "\r\n")) {
		rc = objfs_err_set(err, -EIO, "gcs token endpoint: malformed JSON answer"
				   " (no usable access_token)");
		goto out;
	}
	if (*ttl_s <= 0)
		*ttl_s = 3600;          /* "expires_in" is RECOMMENDED only */
	snprintf(tok, GCS_TOKEN_MAX, "%s", v);
	rc = 0;
out:
	if (root) {
		v = json_string_value(json_object_get(root, "access_token"));
		if (v)
			OPENSSL_cleanse((char *)v, strlen(v));
		json_decref(root);
	}
	if (resp.body)
		OPENSSL_cleanse(resp.body, resp.body_len);
	objfs_http_resp_clear(&resp);
	if (jwt)
		OPENSSL_cleanse(jwt, strlen(jwt));
	if (body)
		OPENSSL_cleanse(body, strlen(body));
	free(jwt);
	free(body);
	return rc;
}

/* Stores a new token (lock held); t0 is when its request started. */
static void auth_store(struct gcs_auth *a, const char *tok, long ttl_s, int64_t t0)
{
	int64_t life = (int64_t)ttl_s * 1000, margin = life / 4;

	if (margin > 300000)
		margin = 300000;
	snprintf(a->token, sizeof(a->token), "%s", tok);
	a->expire_ms = t0 + life;
	a->refresh_ms = t0 + life - margin;
}

int gcs_auth_token(struct gcs_auth *a, const char *stale, char *out, struct objfs_err *err)
{
	char *tok = NULL;
	long ttl = 0;
	int rc;

	pthread_mutex_lock(&a->lock);
	for (;;) {
		int64_t now = mono_ms();
		int refused = stale && a->token[0] && !strcmp(stale, a->token);
		unsigned gen;

		if (a->token[0] && !refused && now < a->refresh_ms) {
			snprintf(out, GCS_TOKEN_MAX, "%s", a->token);
			pthread_mutex_unlock(&a->lock);
			return 0;
		}
		if (a->refreshing) {
			/* the old token serves until it expires */
			if (a->token[0] && !refused && now < a->expire_ms) {
				snprintf(out, GCS_TOKEN_MAX, "%s", a->token);
				pthread_mutex_unlock(&a->lock);
				return 0;
			}
			gen = a->gen;
			while (a->refreshing && a->gen == gen)
				pthread_cond_wait(&a->cond, &a->lock);
			if (a->gen != gen && a->last_rc) {
				rc = a->last_rc;
				if (err)
					*err = a->last_err;
				pthread_mutex_unlock(&a->lock);
				return rc;
			}
			continue;
		}
		break;
	}
	a->refreshing = 1;
	pthread_mutex_unlock(&a->lock);

	{
		int64_t t0 = mono_ms();
		struct objfs_err e2;

		e2.msg[0] = '\0';
		tok = malloc(GCS_TOKEN_MAX);
		rc = tok ? auth_fetch(a, 0, tok, &ttl, NULL, NULL, &e2)
			 : objfs_err_set(&e2, -ENOMEM, "out of memory");
		pthread_mutex_lock(&a->lock);
		a->refreshing = 0;
		a->gen++;
		a->last_rc = rc;
		a->last_err = e2;
		if (rc == 0) {
			auth_store(a, tok, ttl, t0);
			snprintf(out, GCS_TOKEN_MAX, "%s", a->token);
			log_debug("gcs token: new access token for %s, valid %ld s",
				  a->key->client_email, ttl);
		} else {
			/* a refused old token is dropped; an unexpired one serves on */
			if (stale && !strcmp(stale, a->token))
				a->token[0] = '\0';
			if (err)
				*err = e2;
		}
		pthread_cond_broadcast(&a->cond);
		pthread_mutex_unlock(&a->lock);
	}
	if (tok) {
		OPENSSL_cleanse(tok, GCS_TOKEN_MAX);
		free(tok);
	}
	return rc;
}

int gcs_auth_probe(struct gcs_auth *a, struct gcs_auth_probe *out, struct objfs_err *err)
{
	char *tok = malloc(GCS_TOKEN_MAX);
	int64_t t0 = mono_ms();
	long ttl = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!tok)
		return objfs_err_set(err, -ENOMEM, "out of memory");
	rc = auth_fetch(a, 1, tok, &ttl, &out->status, &out->server_date, err);
	if (rc == 0) {
		pthread_mutex_lock(&a->lock);
		if (!a->refreshing)
			auth_store(a, tok, ttl, t0);
		pthread_mutex_unlock(&a->lock);
	}
	OPENSSL_cleanse(tok, GCS_TOKEN_MAX);
	free(tok);
	return rc;
}

int gcs_auth_cached(struct gcs_auth *a, char *out)
{
	int rc = -ENOENT;

	pthread_mutex_lock(&a->lock);
	if (a->token[0] && mono_ms() < a->expire_ms) {
		snprintf(out, GCS_TOKEN_MAX, "%s", a->token);
		rc = 0;
	}
	pthread_mutex_unlock(&a->lock);
	return rc;
}
