/* HMAC-SHA256 presigned URLs of the local provider (see presign_local.h). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "objfs/provider.h"
#include "presign_local.h"

int objfs_local_presign_sign(const unsigned char *secret, size_t secretlen,
			     const char *method, const char *bucket, const char *key,
			     time_t expires, char *hex_out)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	char *msg = NULL;
	int rc = -EINVAL;
	int n;

	if (!secret || !method || !bucket || !key || !hex_out)
		goto out;
	n = asprintf(&msg, "OBJFS-HMAC-SHA256\n%s\n%s\n%s\n%lld", method, bucket, key,
		     (long long)expires);
	if (n < 0) {
		msg = NULL;
		rc = -ENOMEM;
		goto out;
	}
	if (!HMAC(EVP_sha256(), secret, (int)secretlen, (const unsigned char *)msg,
		  (size_t)n, mac, &maclen) || maclen != 32) {
		rc = -EIO;
		goto out;
	}
	for (unsigned i = 0; i < maclen; i++) {
		hex_out[2 * i] = hex[mac[i] >> 4];
		hex_out[2 * i + 1] = hex[mac[i] & 15];
	}
	hex_out[2 * maclen] = '\0';
	rc = 0;
out:
	free(msg);
	return rc;
}

/* Parses a non-negative decimal without sign or blanks; 0 or -EINVAL. */
static int presign_parse_time(const char *s, time_t *out)
{
	int64_t v = 0;

	if (!s || !*s || strlen(s) > 18)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (*s - '0');
	}
	*out = (time_t)v;
	return 0;
}

int objfs_local_presign_check(const unsigned char *secret, size_t secretlen,
			      const char *method, const char *bucket, const char *key,
			      const char *expires_str, const char *signature_hex,
			      time_t now)
{
	char want[OBJFS_PRESIGN_HEX_LEN];
	time_t expires;
	int rc;

	if (!signature_hex || strlen(signature_hex) != OBJFS_PRESIGN_HEX_LEN - 1)
		return -EACCES;
	if (presign_parse_time(expires_str, &expires) < 0)
		return -EACCES;
	rc = objfs_local_presign_sign(secret, secretlen, method, bucket, key, expires, want);
	if (rc < 0)
		return rc == -EINVAL ? -EACCES : rc;
	if (CRYPTO_memcmp(want, signature_hex, OBJFS_PRESIGN_HEX_LEN - 1) != 0)
		return -EACCES;
	if (now > expires)
		return -EKEYEXPIRED;
	return 0;
}

int objfs_local_presign_verify(const unsigned char *secret, size_t secretlen,
			       const char *method, const char *bucket, const char *key,
			       const char *expires_str, const char *signature_hex, time_t now,
			       struct objfs_err *err)
{
	int rc;

	if (!method || (strcmp(method, "GET") != 0 && strcmp(method, "PUT") != 0) ||
	    !bucket || !key)
		return objfs_err_set(err, -EACCES, "presigned request: bad method");
	rc = objfs_local_presign_check(secret, secretlen, method, bucket, key, expires_str,
				       signature_hex, now);
	if (rc == -EKEYEXPIRED)
		return objfs_err_set(err, rc, "presigned URL expired");
	if (rc < 0)
		return objfs_err_set(err, -EACCES, "presigned request: bad signature or expiry");
	return 0;
}
