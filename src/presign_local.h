/*
 * Presigned URLs of the local provider: HMAC-SHA256 over
 *     "OBJFS-HMAC-SHA256\n" METHOD "\n" BUCKET "\n" KEY "\n" EXPIRES
 * (KEY raw, EXPIRES decimal Unix seconds), hex-encoded (lower case) into
 * X-Objfs-Signature.  The local provider signs; whatever serves the
 * provider's `listen` address checks.  The mem provider signs with the fixed
 * test secret below.
 */
#ifndef OBJFS_PRESIGN_LOCAL_H
#define OBJFS_PRESIGN_LOCAL_H

#include <stddef.h>
#include <time.h>

#define OBJFS_PRESIGN_SECRET_LEN 32
#define OBJFS_PRESIGN_HEX_LEN    65          /* 64 hex digits and NUL */
#define OBJFS_PRESIGN_TTL_MAX    604800      /* 7 days, like S3 */
/* Where a local provider serves its presigned URLs when `listen` is unset
 * (the provider signs URLs for it, src/presign_server.c listens on it). */
#define OBJFS_LOCAL_DEFAULT_LISTEN "127.0.0.1:9080"
/* The secret of the mem provider (unit tests only; 32 bytes). */
#define OBJFS_MEM_PRESIGN_SECRET "objfs-mem-provider-test-secret!!"

/* Writes the signature (64 lower-case hex digits) into hex_out.
 * 0, or -EINVAL for a NULL argument, -EIO if OpenSSL fails. */
int objfs_local_presign_sign(const unsigned char *secret, size_t secretlen,
			     const char *method, const char *bucket, const char *key,
			     time_t expires, char *hex_out);

/* Checks a presigned request at time now: 0 if valid, -EACCES for a bad or
 * malformed signature or expiry (constant-time compare), -EKEYEXPIRED when
 * the signature is right but now > expires. */
int objfs_local_presign_check(const unsigned char *secret, size_t secretlen,
			      const char *method, const char *bucket, const char *key,
			      const char *expires_str, const char *signature_hex,
			      time_t now);

/* The presign_check provider operation over objfs_local_presign_check, for
 * the providers that sign with a local secret (local, mem): GET/PUT only,
 * 0, -EACCES (bad method, signature or expiry) or -EKEYEXPIRED, with the
 * reason in err. */
struct objfs_err;
int objfs_local_presign_verify(const unsigned char *secret, size_t secretlen,
			       const char *method, const char *bucket, const char *key,
			       const char *expires_str, const char *signature_hex, time_t now,
			       struct objfs_err *err);

#endif
