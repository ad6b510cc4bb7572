/*
 * Object metadata <-> file attributes, compatible with s3fs-fuse:
 *   mode  = decimal st_mode including the file-type bits (e.g. "33188" = S_IFREG|0644)
 *   uid, gid = decimal
 *   mtime = decimal seconds since the epoch; "SECONDS.NANOS" is also read
 *           (rclone writes fractional seconds); objfs writes "SECONDS" when the
 *           nanoseconds are 0, else "SECONDS.NNNNNNNNN".
 *   xattr = s3fs's encoding of extended attributes: a JSON object
 *           {"user.name":"<base64 value>",...}, percent-encoded as a whole.
 * Keys are lower-case without the provider's prefix (x-amz-meta-...).
 * Symlinks are objects whose mode has S_IFLNK and whose body is the target.
 */
#ifndef OBJFS_OBJMETA_H
#define OBJFS_OBJMETA_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "objfs/provider.h"

struct objfs_xattr {
	char *name;              /* full name, e.g. "user.foo" */
	void *value;
	size_t len;
};

struct objfs_fileattr {
	mode_t mode; int has_mode;
	uid_t uid;   int has_uid;
	gid_t gid;   int has_gid;
	int64_t mtime_ns; int has_mtime;
	struct objfs_xattr *xattrs; size_t nxattrs;   /* owned */
};

/* Decodes the metadata list; unknown keys are ignored, malformed values are
 * treated as absent (has_* = 0).  Returns 0 or -ENOMEM.  Free with
 * objfs_fileattr_clear. */
int objfs_objmeta_decode(const struct objfs_kv *meta, size_t nmeta, struct objfs_fileattr *out);
/* Encodes the present fields; *out is a malloc'ed array of malloc'ed strings,
 * freed with objfs_kv_free.  Returns 0, -ENOMEM, or -E2BIG when the encoded
 * metadata exceeds OBJFS_META_MAX bytes (S3's 2 KiB user-metadata limit). */
int objfs_objmeta_encode(const struct objfs_fileattr *a, struct objfs_kv **out, size_t *nout);
void objfs_fileattr_clear(struct objfs_fileattr *a);
void objfs_kv_free(struct objfs_kv *kv, size_t n);

/* Sets (replace or add) / removes an xattr in a; 0, -ENOMEM, or -ENODATA on remove of a missing one. */
int objfs_fileattr_set_xattr(struct objfs_fileattr *a, const char *name, const void *value, size_t len);
int objfs_fileattr_remove_xattr(struct objfs_fileattr *a, const char *name);
const struct objfs_xattr *objfs_fileattr_get_xattr(const struct objfs_fileattr *a, const char *name);
int objfs_fileattr_copy(struct objfs_fileattr *dst, const struct objfs_fileattr *src);

#define OBJFS_META_MAX 2048

/* 1 when oi is exactly what an upload of `size` bytes with this metadata
 * puts: the same size and every metadata value (keys compared without case,
 * since stores lower-case them).  objfs's metadata carries the mtime in
 * nanoseconds, so this tells an upload's own landed attempt (whose answer
 * was lost) from another version of the file.  0 when nmeta is 0. */
int objfs_objmeta_is_upload(const struct objfs_objinfo *oi, uint64_t size,
			    const struct objfs_kv *meta, size_t nmeta);

/* Content-Type from a file name's extension ("text/plain", ...); never NULL. */
const char *objfs_content_type_for(const char *name);

#endif
