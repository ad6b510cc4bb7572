/*
 * GCS service-account authentication: the key file, the RS256 JWT and the
 * cached OAuth2 access token (JWT-bearer grant, RFC 7523, at the key file's
 * token_uri).
 *
 * The token is shared by every thread of a provider instance: it is fetched
 * once and refreshed before it expires (a quarter of its lifetime ahead, at
 * most five minutes), by one thread at a time; the others keep using the
 * old token while it is still valid, or wait for the refresh.  A request the
 * store answers with 401 hands its token back as "stale", which refreshes it
 * unless another thread already has.  The token endpoint is called through
 * the HTTP client's retries (backoff with jitter on transport errors, 5xx
 * and 429).  Expiry runs on the monotonic clock; the JWT's iat/exp on the
 * injected wall clock (a skewed clock is then refused as it would be by
 * Google, and the health probe tells it apart).
 *
 * No key material, assertion or token ever goes into err or the log.
 */
#ifndef OBJFS_GCS_AUTH_H
#define OBJFS_GCS_AUTH_H

#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>

#include "objfs/provider.h"
#include "http.h"

#define GCS_SCOPE_FULL "https://www.googleapis.com/auth/devstorage.full_control"
#define GCS_TOKEN_MAX  4096            /* longest access token kept */
#define GCS_JWT_LIFETIME 3600          /* seconds; Google's maximum */

/* A service-account key file. */
struct gcs_key {
	char *client_email;
	char *private_key_id;            /* NULL when the file has none */
	char *token_uri;
	char *project_id;                /* may be NULL */
	EVP_PKEY *pkey;
};

/* Parses key-file JSON (type service_account, client_email, private_key,
 * token_uri; private_key_id and project_id optional).  0, -EINVAL with a
 * message naming the missing or bad field, or -ENOMEM.  Clear with
 * gcs_key_clear (accepts a zeroed struct). */
int gcs_key_parse(const char *json, size_t len, struct gcs_key *out, struct objfs_err *err);
/* Reads and parses path: a regular file, owner-only (mode 0600), at most
 * 64 KiB.  Errors as gcs_key_parse, plus the file's errno. */
int gcs_key_load(const char *path, struct gcs_key *out, struct objfs_err *err);
void gcs_key_clear(struct gcs_key *k);

/* The signed assertion "header.claims.signature" (base64url): header
 * {"alg":"RS256","typ":"JWT","kid":private_key_id}, claims {iss, scope,
 * aud = token_uri, iat = now, exp = now + lifetime}.  *out malloc'ed.
 * 0, -ENOMEM or -EIO. */
int gcs_jwt_build(const struct gcs_key *k, const char *scope, time_t now, unsigned lifetime,
		  char **out);

struct gcs_auth;

/* A token cache for key k (borrowed: it must outlive the cache), using its
 * own HTTP client; clock NULL: time(NULL).  NULL on failure. */
struct gcs_auth *gcs_auth_new(const struct gcs_key *k, objfs_clock_fn clock, const char *label);
void gcs_auth_free(struct gcs_auth *a);

/* A valid access token into out (GCS_TOKEN_MAX bytes).  stale: a token the
 * store refused (NULL if none): refreshed unless the cache already holds
 * another.  0, or -EACCES (the grant was refused: a wrong or disabled key,
 * a bad clock), -EIO (token endpoint unreachable or failing after retries,
 * or an answer that does not parse), -ENOMEM; err says which. */
int gcs_auth_token(struct gcs_auth *a, const char *stale, char *out, struct objfs_err *err);

/* 0 and the token in out when one is cached and not past its expiry (no
 * request made), else -ENOENT. */
int gcs_auth_cached(struct gcs_auth *a, char *out);

/* One grant attempt, not retried (the health probe): status is the HTTP
 * status (0: no answer), server_date the answer's Date (0: none).  A token
 * obtained is cached.  Returns as gcs_auth_token. */
struct gcs_auth_probe {
	long status;
	time_t server_date;
};
int gcs_auth_probe(struct gcs_auth *a, struct gcs_auth_probe *out, struct objfs_err *err);

/* Base64url without padding of len bytes; *out malloc'ed.  0 or -ENOMEM. */
int gcs_b64url(const void *in, size_t len, char **out);

#endif
