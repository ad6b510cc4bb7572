/*
 * GCS V4 signed URLs (GOOG4-RSA-SHA256) and the RSA-SHA256 primitive the
 * OAuth2 JWT shares (src/gcs_auth.c).
 *
 * The canonical request is the published one: method, the path encoded per
 * segment (RFC 3986 unreserved characters kept, '/' kept), the query pairs
 * encoded and sorted, the signed headers (names lower-cased and sorted,
 * values trimmed with inner runs of blanks collapsed), the signed header
 * list, and UNSIGNED-PAYLOAD (or a signed x-goog-content-sha256 value).
 * The host header is the URL's authority without a port, as the conformance
 * vectors sign it.  The clock is the caller's (now), so tests are exact.
 */
#ifndef OBJFS_GCS_SIGN_H
#define OBJFS_GCS_SIGN_H

#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>

#include "objfs/provider.h"

#define GCS_SIGN_MAX_EXPIRES 604800u   /* 7 days, V4's limit */

struct gcs_sign_in {
	const char *method;              /* "GET", "PUT", "POST", ... */
	const char *scheme;              /* "https" or "http" */
	const char *authority;           /* host[:port] as the URL carries it */
	const char *path;                /* raw path from '/', e.g. "/bucket/a key" */
	const struct objfs_kv *headers;  /* extra headers to sign (any case); may be NULL */
	size_t nheaders;
	const struct objfs_kv *query;    /* extra query parameters (raw); may be NULL */
	size_t nquery;
	const char *client_email;        /* the service account */
	time_t now;
	unsigned expires;                /* 1..GCS_SIGN_MAX_EXPIRES seconds */
};

/* Signs in with key: *url malloc'ed (caller frees).  canonical and sts, when
 * not NULL, receive malloc'ed copies of the canonical request and the string
 * to sign (for tests).  0, -EINVAL (bad input, the message in err), -ENOMEM,
 * or -EIO (signing failed).  err never holds key material. */
int gcs_sign_url(EVP_PKEY *key, const struct gcs_sign_in *in, char **url, char **canonical,
		 char **sts, struct objfs_err *err);

/* RSASSA-PKCS1-v1_5 with SHA-256 of data; *sig malloc'ed.  0, -ENOMEM or -EIO. */
int gcs_rsa_sha256(EVP_PKEY *key, const void *data, size_t len, unsigned char **sig,
		   size_t *siglen);

/* "20190201T090000Z" of t (UTC). */
void gcs_sign_date(time_t t, char out[17]);

#endif
