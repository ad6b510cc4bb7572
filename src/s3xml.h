/*
 * S3 XML bodies (src/s3xml.c), parsed with libxml2 and built by hand.
 *
 * Every parser takes the body bytes and their length, never trusts them to
 * be NUL-terminated, forbids network access and entity expansion
 * (XML_PARSE_NONET, no XML_PARSE_NOENT), and returns 0 or -EIO with a message
 * in err when the document is malformed, truncated, has the wrong root
 * element, or misses a required element.  A partial result is never
 * returned: on failure the output is cleared.
 *
 * Namespaces are ignored (S3 sends xmlns="http://s3.amazonaws.com/doc/2006-03-01/",
 * some compatible stores send none); element names are matched by local name.
 */
#ifndef OBJFS_S3XML_H
#define OBJFS_S3XML_H

#include <stddef.h>

#include "objfs/provider.h"

/* <Error><Code/><Message/>...</Error>: code and message copied (truncated to
 * fit).  Returns -EIO if the body is not an Error document. */
int s3xml_parse_error(const char *body, size_t len, char code[64], char msg[256]);

/* ListObjectsV2 result into out (zeroed by the caller): Contents (Key, Size,
 * ETag without quotes, LastModified as ns since the epoch; has_meta = 0),
 * CommonPrefixes/Prefix, and next_token = NextContinuationToken when
 * IsTruncated is true (a truncated result without a token is an error).
 * With EncodingType=url responses (EncodingType element "url"), keys,
 * prefixes are percent-decoded. */
int s3xml_parse_list(const char *body, size_t len, struct objfs_listing *out,
		     struct objfs_err *err);

/* InitiateMultipartUploadResult: *upload_id malloc'ed. */
int s3xml_parse_initiate(const char *body, size_t len, char **upload_id,
			 struct objfs_err *err);

/* CompleteMultipartUploadResult, CopyObjectResult or CopyPartResult: the ETag
 * without quotes into etag (OBJFS_ETAG_MAX).  An <Error> document (S3 answers
 * 200 and then an error for these) is -EAGAIN with its code in err->msg as
 * "CODE: message". */
int s3xml_parse_etag_result(const char *body, size_t len, char *etag,
			    struct objfs_err *err);

/* ListPartsResult: parts in document order (*parts malloc'ed), and
 * *next_marker = NextPartNumberMarker when IsTruncated (else 0). */
int s3xml_parse_parts(const char *body, size_t len, struct objfs_part **parts,
		      size_t *nparts, int *next_marker, struct objfs_err *err);

/* ListMultipartUploadsResult: Upload elements (Key, UploadId, Initiated). */
struct s3xml_upload {
	char *key;
	char *upload_id;
	int64_t initiated_ns;
};
struct s3xml_uploads {
	struct s3xml_upload *uploads;
	size_t n;
	char *next_key_marker;           /* when IsTruncated, else NULL */
	char *next_upload_id_marker;
};
int s3xml_parse_uploads(const char *body, size_t len, struct s3xml_uploads *out,
			struct objfs_err *err);
void s3xml_uploads_clear(struct s3xml_uploads *u);

/* DeleteResult for keys[0..nkeys): results[i] = 0 for a <Deleted> key, a
 * negative errno for an <Error> key (AccessDenied -EACCES, else -EIO); keys
 * the result does not mention are -EIO. */
int s3xml_parse_delete(const char *body, size_t len, const char *const *keys,
		       size_t nkeys, int *results, struct objfs_err *err);

/* Bodies to send; *out malloc'ed (NUL-terminated), *outlen its length.
 * Text is XML-escaped (& < > " ' and control characters as character
 * references; keys that are not valid XML 1.0 are -EINVAL). */
int s3xml_build_complete(const struct objfs_part *parts, size_t nparts,
			 char **out, size_t *outlen);
int s3xml_build_delete(const char *const *keys, size_t nkeys, char **out,
		       size_t *outlen);
/* CreateBucketConfiguration with LocationConstraint; region NULL or
 * "us-east-1" gives *out = NULL (no body needed). */
int s3xml_build_create_bucket(const char *region, char **out, size_t *outlen);

/* S3 error code to errno: NoSuchKey/NoSuchBucket/NoSuchUpload -ENOENT,
 * AccessDenied/InvalidAccessKeyId/SignatureDoesNotMatch/
 * RequestTimeTooSkewed/ExpiredToken -EACCES, PreconditionFailed -ESTALE,
 * BucketAlreadyOwnedByYou 0, BucketAlreadyExists -EEXIST,
 * EntityTooLarge -EFBIG, InvalidArgument/InvalidRequest/InvalidRange
 * -EINVAL, SlowDown/InternalError/ServiceUnavailable -EIO; unknown codes:
 * fallback. */
int s3xml_code_errno(const char *code, int fallback);

/* RFC 3339 / ISO 8601 "2009-10-12T17:50:30.000Z" to ns since the epoch;
 * -1 if malformed. */
int64_t s3xml_parse_time(const char *s);

#endif
