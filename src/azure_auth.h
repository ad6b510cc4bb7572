/*
 * Azure Blob authorisation (src/azure_auth.c): the credentials file, Shared
 * Key request signing and service SAS URLs.
 *
 * Credentials.  The provider's `credentials` file (owner-only, like every
 * credentials file) holds one of
 *     account_key = BASE64          the storage account key (Shared Key)
 *     sas_token = sv=...&sig=...    a SAS token appended to every URL
 * with blank lines and comments ('#' or ';' at the start of a line).  A file
 * with both, neither, an unknown key, a duplicate, a key that is not base64
 * or a token without sv= and sig= is refused with a one-line message that
 * never quotes a value.  Without a file the environment is used:
 * AZURE_STORAGE_KEY, else AZURE_STORAGE_SAS_TOKEN.
 *
 * Shared Key (version 2015-02-21 and later), as Azure and Azurite compute it:
 *     VERB \n Content-Encoding \n Content-Language \n Content-Length \n
 *     Content-MD5 \n Content-Type \n Date \n If-Modified-Since \n If-Match \n
 *     If-None-Match \n If-Unmodified-Since \n Range \n
 *     CanonicalizedHeaders CanonicalizedResource
 * Content-Length is "" when 0.  CanonicalizedHeaders: every x-ms-* header,
 * name lower-cased, sorted by name (byte order), "name:value\n" with the value
 * trimmed of leading and trailing blanks.  CanonicalizedResource:
 * "/" ACCOUNT PATH, PATH being the URL path exactly as sent (encoded once by
 * azure_encode_path; for a path-style endpoint such as Azurite's it starts
 * with "/ACCOUNT", hence "/ACCOUNT/ACCOUNT/container/blob"), then for each
 * query parameter, sorted by lower-cased name, "\nname:value" with the value
 * percent-decoded ('+' read as a space) and repeated names' values sorted
 * and joined with ','.  Signature: base64(HMAC-SHA256(key, string)).
 *
 * Service SAS for one blob (signed version >= 2020-12-06):
 *     sp \n st \n se \n /blob/ACCOUNT/CONTAINER/BLOB \n si \n sip \n spr \n
 *     sv \n sr \n snapshot \n ses \n rscc \n rscd \n rsce \n rscl \n rsct
 * with BLOB the raw (decoded) name; only sp, se, sv and sr=b are used.
 *
 * Nothing here reads the clock or logs; keys are wiped before being freed.
 */
#ifndef OBJFS_AZURE_AUTH_H
#define OBJFS_AZURE_AUTH_H

#include <stddef.h>
#include <time.h>

#define AZURE_KEY_MAX 128          /* decoded account key bytes (Azure: 64) */

struct azure_cred {
	unsigned char key[AZURE_KEY_MAX];
	size_t keylen;                   /* 0: no key (SAS only) */
	char *sas;                       /* without a leading '?'; NULL: none */
	char source[300];                /* a path or "environment", for logs */
};

/* Loads credentials (see above) into *out (zeroed by the caller).  0, or
 * -ENOENT (no file and nothing in the environment, or the file is missing),
 * -EACCES (mode too open, unreadable), -EINVAL (malformed), -ENOMEM; the
 * message in err (errlen bytes) never holds a secret. */
int azure_cred_load(const char *path, struct azure_cred *out, char *err, size_t errlen);
/* Wipes and frees; accepts a zeroed struct. */
void azure_cred_clear(struct azure_cred *c);

/* Percent-encodes raw (bytes other than A-Za-z0-9-._~ become %XX, upper-case
 * hex); '/' is kept when keep_slash.  malloc'ed, NULL on ENOMEM. */
char *azure_encode(const char *raw, int keep_slash);

/* One request header for the string to sign. */
struct azure_hdr {
	const char *name;                /* any case */
	const char *value;
};

struct azure_sk_request {
	const char *method;
	const char *account;
	const char *path;                /* as sent: encoded, starts with '/' */
	const char *query;               /* as sent, without '?'; NULL or "" for none */
	unsigned long long content_length;
	const struct azure_hdr *hdrs;    /* every header sent (x-ms-date included) */
	size_t nhdrs;
};

/* The Shared Key string to sign of r; *out malloc'ed.  0, -EINVAL (a bad
 * escape in the query, a header value with a line break) or -ENOMEM. */
int azure_sk_string_to_sign(const struct azure_sk_request *r, char **out);

/* base64(HMAC-SHA256(key, msg)) into out (45 bytes with the NUL). */
int azure_hmac_b64(const unsigned char *key, size_t keylen, const char *msg, size_t len,
		   char out[45]);

/* "Authorization" value "SharedKey ACCOUNT:SIG" for r; *out malloc'ed.
 * Errors as azure_sk_string_to_sign. */
int azure_sk_authorization(const struct azure_cred *c, const struct azure_sk_request *r,
			   char **out);

/* RFC 1123 date ("Mon, 02 Jan 2006 15:04:05 GMT") of t, for x-ms-date. */
void azure_rfc1123(time_t t, char out[30]);
/* ISO 8601 UTC "2006-01-02T15:04:05Z" of t, for SAS times. */
void azure_iso8601(time_t t, char out[21]);

/* The string to sign of a service SAS for a blob; *out malloc'ed. */
int azure_sas_blob_string_to_sign(const char *account, const char *container,
				  const char *blob, const char *perms, const char *expiry,
				  const char *version, char **out);
/* The query of a service SAS for a blob ("sv=..&se=..&sr=b&sp=..&sig=..",
 * values encoded), signed with c's key; *out malloc'ed.  -ENOTSUP without
 * an account key, -ENOMEM. */
int azure_sas_blob_query(const struct azure_cred *c, const char *account,
			 const char *container, const char *blob, const char *perms,
			 time_t expiry, const char *version, char **out);

#endif
