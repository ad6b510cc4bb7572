/*
 * AWS Signature Version 4: canonical request, string to sign, signing key,
 * Authorization header and query-string presigning (src/sigv4.c).
 *
 * Two modes: the generic one of the AWS test suite (the path is normalized:
 * "." and ".." segments removed, "//" merged) and the S3 one (s3 = 1: the path
 * is signed exactly as given).  In both, the path is given as raw bytes, the
 * way it appears before URI encoding ("/bucket/a key+%.txt", UTF-8 as is), and
 * encoded once with the unreserved set A-Za-z0-9-._~ ('/' kept); the same
 * encoding must be used for the URL that is sent (objfs_sigv4_encode_path).
 *
 * In the generic mode the path is normalized the way botocore and the AWS
 * suite do it: "/a/b/.." is "/a", "//x//" is "/x/", "/./" is "/".
 *
 * The query is given as it is sent ("a=1&b=%2B"): pairs are split on '&'
 * (empty pieces skipped) and the first '=', percent-decoded ('+' is a space,
 * as in any form-encoded query; a literal plus must be sent as %2B, which
 * stays %2B), re-encoded with the unreserved set ('=' is always present in
 * the canonical form) and sorted by encoded name, then encoded value (byte
 * order).  A malformed escape ("%4", "%zz") is -EINVAL.
 *
 * Header names are lower-cased, values trimmed with inner runs of blanks
 * collapsed to one; a value holding '\n' (the folded lines of a multi-line
 * header, as in the AWS suite) becomes its trimmed non-empty lines joined
 * with ','; duplicate names are joined with ',' in the order given; headers
 * are sorted by name.  Every header passed in is signed.  Control bytes other
 * than blanks and '\n' in a value are -EINVAL.
 *
 * Nothing here reads the clock: callers pass `now`, so signatures are
 * deterministic in tests.  No function logs; secrets never leave except as
 * HMAC output, and every copy of the secret or of a derived key is wiped
 * (OPENSSL_cleanse) before its memory is released.
 */
#ifndef OBJFS_SIGV4_H
#define OBJFS_SIGV4_H

#include <pthread.h>
#include <stddef.h>
#include <time.h>

struct objfs_kv;

#define OBJFS_SIGV4_EMPTY_SHA256 \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define OBJFS_SIGV4_UNSIGNED "UNSIGNED-PAYLOAD"

/* Credentials; strings owned by the caller.  session_token may be NULL. */
struct objfs_sigv4_creds {
	const char *access_key;
	const char *secret_key;
	const char *session_token;
};

/* A signer for one (credentials, region, service).  It caches the derived
 * signing key per day; thread-safe (the cache is behind `lock`). */
struct objfs_sigv4 {
	struct objfs_sigv4_creds creds;
	const char *region;
	const char *service;             /* "s3" */
	int s3;                          /* S3 path rules and session token signed */
	/* private: */
	pthread_mutex_t lock;            /* protects the cache below */
	char key_date[9];                /* YYYYMMDD of key, "" when empty */
	unsigned char key[32];
};

/* Initialises s (strings are borrowed, not copied, and must outlive s; the
 * creds struct itself is copied).  Bad strings (empty, or '/' in the access
 * key, region or service) are reported by sign/presign as -EINVAL.
 * objfs_sigv4_destroy wipes the cached key. */
void objfs_sigv4_init(struct objfs_sigv4 *s, const struct objfs_sigv4_creds *c,
		      const char *region, const char *service, int s3);
void objfs_sigv4_destroy(struct objfs_sigv4 *s);

struct objfs_sigv4_header {
	const char *name;
	const char *value;
};

/* A request to sign.  headers must include "host" and "x-amz-date" (the
 * latter as objfs_sigv4_amz_date(now)); for S3 also x-amz-content-sha256
 * (and x-amz-security-token when a session token is used: the caller adds
 * it, see objfs_sigv4_sign).  At most 128 headers; strings at most 64 KiB. */
struct objfs_sigv4_request {
	const char *method;
	const char *path;                /* raw, see above; "" is "/" */
	const char *query;               /* as sent, without '?'; NULL or "" for none */
	const struct objfs_sigv4_header *headers;
	size_t nheaders;
	const char *payload_hash;        /* lower-case hex SHA-256, OBJFS_SIGV4_UNSIGNED or
					  * another S3 token (no blanks) */
};

/* What signing produced; every string malloc'ed, freed by
 * objfs_sigv4_result_free (which accepts a zeroed struct). */
struct objfs_sigv4_result {
	char *creq;                      /* canonical request */
	char *sts;                       /* string to sign */
	char *signed_headers;            /* "host;x-amz-date" */
	char *authorization;             /* the Authorization header's value */
	char signature[65];
};
void objfs_sigv4_result_free(struct objfs_sigv4_result *r);

/* "20150830T123600Z" for now (UTC) into out[17]; "" for a time outside
 * years 0..9999 (which sign and presign reject). */
void objfs_sigv4_amz_date(time_t now, char out[17]);

/*
 * Signs r at time now into *out (zeroed first; free with
 * objfs_sigv4_result_free, also after an error).  Checks: host non-empty,
 * x-amz-date equal to objfs_sigv4_amz_date(now), path "" or starting with
 * '/'.  In S3 mode also x-amz-content-sha256 equal to payload_hash, and
 * x-amz-security-token present and equal to the session token exactly when
 * the credentials have one (S3 signs the token).  In the generic mode a
 * token header is signed when passed, like any header (the suite's
 * post-sts-header-before), and may be added after signing instead
 * (post-sts-header-after).  0, -EINVAL (a missing or inconsistent header,
 * bad input), -ENOMEM or -EIO (OpenSSL failed).
 */
int objfs_sigv4_sign(struct objfs_sigv4 *s, const struct objfs_sigv4_request *r,
		     time_t now, struct objfs_sigv4_result *out);

/*
 * A presigned URL: base_url is "scheme://host[:port]" as the client will
 * use it, host the Host header value it will send (usually base_url's
 * authority), path raw as above, extra_query extra parameters as sent
 * (NULL for none; e.g. "partNumber=1&uploadId=x").  expires_s must be in
 * 1..604800.  The signed headers are "host" only and the payload is
 * UNSIGNED-PAYLOAD; X-Amz-Security-Token is included (and signed) when the
 * credentials have a session token.  The URL is base_url, the encoded path,
 * then the query in the order of botocore's signer and the S3 API reference
 * (not canonical order): extra_query's parameters re-encoded in the order
 * given, then X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date, X-Amz-Expires,
 * X-Amz-SignedHeaders, X-Amz-Security-Token (with a token) and
 * X-Amz-Signature last, so it matches botocore byte for byte.  (botocore
 * with awscrt installed signs through the CRT, which puts
 * X-Amz-SignedHeaders before X-Amz-Expires; the signature is the same.)
 * extra_query must not hold X-Amz-* auth parameters.  The canonical path
 * follows the signer's mode, the URL's path is always
 * objfs_sigv4_encode_path(path).  *url malloc'ed.  0, -EINVAL, -ENOMEM or
 * -EIO.
 */
int objfs_sigv4_presign(struct objfs_sigv4 *s, const char *method, const char *base_url,
			const char *host, const char *path, const char *extra_query,
			unsigned expires_s, time_t now, char **url);
/* objfs_sigv4_presign that also signs hdrs (at most 8; names lower-case
 * [a-z0-9-], not "host"; values without CR/LF): X-Amz-SignedHeaders lists
 * them with host, sorted, and the uploader must send each one with that
 * value (e.g. content-type, content-length: the store then refuses another
 * type or size).  Same results. */
int objfs_sigv4_presign_hdrs(struct objfs_sigv4 *s, const char *method, const char *base_url,
			     const char *host, const char *path, const char *extra_query,
			     const struct objfs_kv *hdrs, size_t nhdrs, unsigned expires_s,
			     time_t now, char **url);

/* URI-encodes len bytes of in with the unreserved set; '/' is kept when
 * keep_slash.  Returns a malloc'ed string or NULL. */
char *objfs_sigv4_uri_encode(const char *in, size_t len, int keep_slash);
/* The path as it goes into the URL and the canonical request (S3 mode: no
 * normalization): "" is "/", otherwise objfs_sigv4_uri_encode(path, '/'
 * kept).  Malloc'ed or NULL. */
char *objfs_sigv4_encode_path(const char *path);

/* Lower-case hex SHA-256 of len bytes into out[65] ("" if OpenSSL fails). */
void objfs_sigv4_sha256_hex(const void *data, size_t len, char out[65]);

#endif
