/*
 * GCS V4 signed URLs (GOOG4-RSA-SHA256); see gcs_sign.h for the rules.
 * Strings are built with open_memstream; every helper frees what it made,
 * and the one exit path of gcs_sign_url frees the rest.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "gcs_sign.h"
#include "sigv4.h"

#define GCS_SIGN_MAX_HEADERS 64
#define GCS_SIGN_MAX_QUERY   64

struct pair {
	char *k;    /* encoded (query) or lower-cased (headers) */
	char *v;
};

void gcs_sign_date(time_t t, char out[17])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

int gcs_rsa_sha256(EVP_PKEY *key, const void *data, size_t len, unsigned char **sig,
		   size_t *siglen)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char *s = NULL;
	size_t n = 0;
	int rc = -EIO;

	*sig = NULL;
	*siglen = 0;
	if (!md)
		return -ENOMEM;
	if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(md, NULL, &n, data, len) != 1)
		goto out;
	if (!(s = malloc(n))) {
		rc = -ENOMEM;
		goto out;
	}
	if (EVP_DigestSign(md, s, &n, data, len) != 1)
		goto out;
	*sig = s;
	*siglen = n;
	s = NULL;
	rc = 0;
out:
	free(s);
	EVP_MD_CTX_free(md);
	return rc;
}

static int pair_cmp(const void *a, const void *b)
{
	const struct pair *x = a, *y = b;
	int c = strcmp(x->k, y->k);

	return c ? c : strcmp(x->v, y->v);
}

static void pairs_free(struct pair *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].k);
		free(v[i].v);
	}
	free(v);
}

/* Trimmed value with inner runs of spaces and tabs collapsed to one space. */
static char *header_value(const char *v)
{
	char *out = malloc(strlen(v) + 1), *o = out;
	int blank = 0;

	if (!out)
		return NULL;
	while (*v == ' ' || *v == '\t')
		v++;
	for (; *v; v++) {
		if (*v == ' ' || *v == '\t') {
			blank = 1;
			continue;
		}
		if (blank && o != out)
			*o++ = ' ';
		blank = 0;
		*o++ = *v;
	}
	*o = '\0';
	return out;
}

/* The authority without a port ("[v6]:p" keeps its brackets). */
static char *host_without_port(const char *authority)
{
	const char *end = authority + strlen(authority), *c = strrchr(authority, ':');
	const char *rb = strrchr(authority, ']');

	if (c && (!rb || c > rb)) {
		int digits = c[1] != '\0';

		for (const char *d = c + 1; *d; d++)
			digits = digits && isdigit((unsigned char)*d);
		if (digits)
			end = c;
	}
	return strndup(authority, (size_t)(end - authority));
}

static int add_pair(struct pair *v, size_t *n, size_t cap, char *k, char *val)
{
	if (!k || !val || *n >= cap) {
		free(k);
		free(val);
		return k && val ? -EINVAL : -ENOMEM;
	}
	v[*n].k = k;
	v[*n].v = val;
	(*n)++;
	return 0;
}

static char *enc(const char *s)
{
	return objfs_sigv4_uri_encode(s, strlen(s), 0);
}

int gcs_sign_url(EVP_PKEY *key, const struct gcs_sign_in *in, char **url, char **canonical,
		 char **sts, struct objfs_err *err)
{
	struct pair *hdr = NULL, *q = NULL;
	size_t nh = 0, nq = 0, clen = 0, slen = 0, ulen = 0;
	char date[17], *host = NULL, *path = NULL, *cred = NULL, *signed_names = NULL;
	char *creq = NULL, *str = NULL, *u = NULL, scope[64];
	const char *payload = "UNSIGNED-PAYLOAD";
	unsigned char hash[EVP_MAX_MD_SIZE], *sig = NULL;
	unsigned int hlen = 0;
	size_t siglen = 0, snl = 0;
	FILE *f = NULL;
	int rc;

	*url = NULL;
	if (err)
		err->msg[0] = '\0';
	if (canonical)
		*canonical = NULL;
	if (sts)
		*sts = NULL;
	if (!in->method || !in->scheme || !in->authority || !in->path || in->path[0] != '/' ||
	    !in->client_email || !key)
		return objfs_err_set(err, -EINVAL, "gcs sign: incomplete request");
	if (in->expires < 1 || in->expires > GCS_SIGN_MAX_EXPIRES)
		return objfs_err_set(err, -EINVAL, "gcs sign: expiry %u s outside 1..%u",
				     in->expires, GCS_SIGN_MAX_EXPIRES);
	hdr = calloc(GCS_SIGN_MAX_HEADERS, sizeof(*hdr));
	q = calloc(GCS_SIGN_MAX_QUERY, sizeof(*q));
	host = host_without_port(in->authority);
	path = objfs_sigv4_uri_encode(in->path, strlen(in->path), 1);
	if (!hdr || !q || !host || !path)
		goto nomem;
	gcs_sign_date(in->now, date);
	snprintf(scope, sizeof(scope), "%.8s/auto/storage/goog4_request", date);

	/* headers: host plus the caller's, lower-cased, sorted */
	for (char *c = host; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	if ((rc = add_pair(hdr, &nh, GCS_SIGN_MAX_HEADERS, strdup("host"), strdup(host))))
		goto fail;
	for (size_t i = 0; i < in->nheaders; i++) {
		char *n = strdup(in->headers[i].key);

		for (char *c = n; c && *c; c++)
			*c = (char)tolower((unsigned char)*c);
		if (n && !strcmp(n, "host")) {
			free(n);
			continue;
		}
		if ((rc = add_pair(hdr, &nh, GCS_SIGN_MAX_HEADERS, n,
				   header_value(in->headers[i].value))))
			goto fail;
	}
	qsort(hdr, nh, sizeof(*hdr), pair_cmp);
	f = open_memstream(&signed_names, &snl);
	if (!f)
		goto nomem;
	for (size_t i = 0; i < nh; i++) {
		fprintf(f, "%s%s", i ? ";" : "", hdr[i].k);
		if (!strcmp(hdr[i].k, "x-goog-content-sha256") && hdr[i].v[0])
			payload = hdr[i].v;
	}
	if (fclose(f))
		goto nomem;
	f = NULL;

	/* query: the X-Goog-* parameters plus the caller's, encoded, sorted */
	if (asprintf(&cred, "%s/%s", in->client_email, scope) < 0) {
		cred = NULL;
		goto nomem;
	}
	{
		char exp[16];

		snprintf(exp, sizeof(exp), "%u", in->expires);
		if ((rc = add_pair(q, &nq, GCS_SIGN_MAX_QUERY, strdup("X-Goog-Algorithm"),
				   strdup("GOOG4-RSA-SHA256"))) ||
		    (rc = add_pair(q, &nq, GCS_SIGN_MAX_QUERY, strdup("X-Goog-Credential"), enc(cred))) ||
		    (rc = add_pair(q, &nq, GCS_SIGN_MAX_QUERY, strdup("X-Goog-Date"), strdup(date))) ||
		    (rc = add_pair(q, &nq, GCS_SIGN_MAX_QUERY, strdup("X-Goog-Expires"), strdup(exp))) ||
		    (rc = add_pair(q, &nq, GCS_SIGN_MAX_QUERY, strdup("X-Goog-SignedHeaders"),
				   enc(signed_names))))
			goto fail;
	}
	for (size_t i = 0; i < in->nquery; i++)
		if ((rc = add_pair(q, &nq, GCS_SIGN_MAX_QUERY, enc(in->query[i].key),
				   enc(in->query[i].value))))
			goto fail;
	qsort(q, nq, sizeof(*q), pair_cmp);

	/* canonical request */
	f = open_memstream(&creq, &clen);
	if (!f)
		goto nomem;
	fprintf(f, "%s\n%s\n", in->method, path);
	for (size_t i = 0; i < nq; i++)
		fprintf(f, "%s%s=%s", i ? "&" : "", q[i].k, q[i].v);
	fputc('\n', f);
	for (size_t i = 0; i < nh; i++)
		fprintf(f, "%s:%s\n", hdr[i].k, hdr[i].v);
	fprintf(f, "\n%s\n%s", signed_names, payload);
	if (fclose(f))
		goto nomem;
	f = NULL;

	/* string to sign, signature */
	if (EVP_Digest(creq, clen, hash, &hlen, EVP_sha256(), NULL) != 1) {
		rc = objfs_err_set(err, -EIO, "gcs sign: SHA-256 failed");
		goto fail;
	}
	f = open_memstream(&str, &slen);
	if (!f)
		goto nomem;
	fprintf(f, "GOOG4-RSA-SHA256\n%s\n%s\n", date, scope);
	for (unsigned i = 0; i < hlen; i++)
		fprintf(f, "%02x", hash[i]);
	if (fclose(f))
		goto nomem;
	f = NULL;
	rc = gcs_rsa_sha256(key, str, slen, &sig, &siglen);
	if (rc) {
		rc = objfs_err_set(err, rc, "gcs sign: RSA signature failed");
		goto fail;
	}

	/* URL: the canonical query, then the signature */
	f = open_memstream(&u, &ulen);
	if (!f)
		goto nomem;
	fprintf(f, "%s://%s%s?", in->scheme, in->authority, path);
	for (size_t i = 0; i < nq; i++)
		fprintf(f, "%s=%s&", q[i].k, q[i].v);
	fputs("X-Goog-Signature=", f);
	for (size_t i = 0; i < siglen; i++)
		fprintf(f, "%02x", sig[i]);
	if (fclose(f))
		goto nomem;
	f = NULL;
	*url = u;
	u = NULL;
	if (canonical) {
		*canonical = creq;
		creq = NULL;
	}
	if (sts) {
		*sts = str;
		str = NULL;
	}
	rc = 0;
	goto out;
nomem:
	rc = -ENOMEM;
fail:
	if (rc == -ENOMEM || !err || !err->msg[0])
		objfs_err_set(err, rc, rc == -ENOMEM ? "out of memory"
						   : "gcs sign: too many headers or parameters");
out:
	if (f)
		fclose(f);
	pairs_free(hdr, nh);
	pairs_free(q, nq);
	free(host);
	free(path);
	free(cred);
	free(signed_names);
	free(creq);
	free(str);
	free(u);
	free(sig);
	return rc;
}
