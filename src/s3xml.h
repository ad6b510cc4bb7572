/*
 * S3 XML bodies (src/s3xml.c), parsed with libxml2 and built by hand.
 *
 * Every parser takes the body bytes and their length, never trusts them to
 * be NUL-terminated, forbids network access and entity expansion
 * (XML_PARSE_NONET, no XML_PARSE_NOENT, no document type declarations), and
 * returns 0 or -EIO with a message in err when the document is malformed,
 * truncated, has the wrong root element, or misses a required element
 * (-ENOMEM when memory runs out).  A partial result is never returned: on
 * failure the output is cleared.  Leading white space is skipped (S3 sends
 * blanks before the XML of a slow CompleteMultipartUpload or copy); bodies
 * over S3XML_MAX_BODY bytes and bodies holding a NUL byte are malformed.
 * Text-valued elements must hold plain text (no markup, comments or CDATA).
 * All functions are thread-safe.
 *
 * Namespaces are ignored (S3 sends xmlns="http://s3.amazonaws.com/doc/2006-03-01/",
 * some compatible stores send none); element names are matched by local name.
 * Sizes are strict decimals (digits only) of at most INT64_MAX; ETags lose one
 * pair of surrounding quotes and must not hold control characters or quotes.
 */
#ifndef OBJFS_S3XML_H
#define OBJFS_S3XML_H

#include <stddef.h>
#include <stdint.h>

#include "objfs/provider.h"
#include "xmldoc.h"

/* Largest body the parsers accept (and the builders produce). */
#define S3XML_MAX_BODY OBJFS_XML_MAX_BODY

/* <Error><Code/><Message/>...</Error>: code and message copied (truncated to
 * fit; Message may be absent, then msg is "").  Returns -EIO, with code and
 * msg empty, if the body is not an Error document with a non-empty Code. */
int s3xml_parse_error(const char *body, size_t len, char code[64], char msg[256]);

/* ListObjectsV2 result into out (zeroed by the caller; zeroed again on
 * failure): Contents (Key and Size required, ETag without quotes and
 * LastModified as ns since the epoch optional, 0/"" when absent;
 * has_meta = 0), CommonPrefixes/Prefix, and next_token =
 * NextContinuationToken when IsTruncated is true (a truncated result without
 * a token is an error; IsTruncated itself is required).  Objects and prefixes
 * keep document order, which must be strictly increasing byte order
 * (duplicates or disorder are malformed).  With EncodingType=url responses
 * (EncodingType element "url"), keys and prefixes are percent-decoded with
 * "+" read as a space, as S3 encodes them; a bad escape or an encoded NUL is
 * malformed, another EncodingType value too. */
int s3xml_parse_list(const char *body, size_t len, struct objfs_listing *out,
		     struct objfs_err *err);

/* InitiateMultipartUploadResult: *upload_id malloc'ed (non-empty, no control
 * characters; NULL on failure). */
int s3xml_parse_initiate(const char *body, size_t len, char **upload_id,
			 struct objfs_err *err);

/* CompleteMultipartUploadResult, CopyObjectResult or CopyPartResult: the ETag
 * (required, non-empty) without quotes into etag (OBJFS_ETAG_MAX; "" on
 * failure).  An <Error> document (S3 answers 200 and then an error for these)
 * is -EAGAIN with its code in err->msg as "CODE: message". */
int s3xml_parse_etag_result(const char *body, size_t len, char *etag,
			    struct objfs_err *err);

/* ListPartsResult: parts in document order, which must be strictly
 * increasing part numbers (*parts malloc'ed, NULL when there are none), and
 * *next_marker = NextPartNumberMarker when IsTruncated (else 0; next_marker
 * may be NULL).  PartNumber, Size and ETag are required; a truncated result
 * needs a marker >= the last part listed. */
int s3xml_parse_parts(const char *body, size_t len, struct objfs_part **parts,
		      size_t *nparts, int *next_marker, struct objfs_err *err);

/* ListMultipartUploadsResult: Upload elements (Key and UploadId required,
 * Initiated optional, 0 when absent) in document order; Key and
 * NextKeyMarker percent-decoded under EncodingType=url.  A truncated result
 * needs a NextKeyMarker; an empty NextUploadIdMarker reads as NULL.  out is
 * overwritten; free it with s3xml_uploads_clear (accepts a zeroed struct). */
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
 * negative errno for an <Error> key (AccessDenied -EACCES, else -EIO; an
 * error wins over a Deleted entry for the same key); keys the result does not
 * mention are -EIO, keys it mentions that were not asked for are ignored.
 * Keys are compared byte for byte (not URL-decoded: do not request
 * EncodingType=url).  Returns 0 when the document is valid, even if some keys
 * failed (err then names the first); on failure every results[i] is -EIO. */
int s3xml_parse_delete(const char *body, size_t len, const char *const *keys,
		       size_t nkeys, int *results, struct objfs_err *err);

/* Bodies to send; *out malloc'ed (NUL-terminated), *outlen its length; on
 * failure *out = NULL.  Text is XML-escaped (& < > " ' and tab, LF, CR as
 * character references); text that is not valid UTF-8 or holds a character
 * XML 1.0 cannot carry (other C0 controls, U+FFFE, U+FFFF) is -EINVAL.
 * complete: 1..10000 parts in strictly increasing part-number order, each
 * number 1..10000 and a non-empty ETag without quotes (sent quoted), else
 * -EINVAL.  delete: 1..1000 non-empty keys (-EINVAL), each at most
 * OBJFS_KEY_MAX bytes (-ENAMETOOLONG); Quiet is false so every key is
 * reported.  -ENOMEM when memory runs out. */
int s3xml_build_complete(const struct objfs_part *parts, size_t nparts,
			 char **out, size_t *outlen);
int s3xml_build_delete(const char *const *keys, size_t nkeys, char **out,
		       size_t *outlen);
/* CreateBucketConfiguration with LocationConstraint; region NULL, "" or
 * "us-east-1" gives *out = NULL, *outlen = 0 and 0 (no body needed). */
int s3xml_build_create_bucket(const char *region, char **out, size_t *outlen);

/* S3 error code to errno: NoSuchKey/NoSuchBucket/NoSuchUpload/NoSuchVersion
 * -ENOENT, AccessDenied/AccountProblem/AllAccessDisabled/InvalidAccessKeyId/
 * SignatureDoesNotMatch/RequestTimeTooSkewed/ExpiredToken/InvalidToken
 * -EACCES, PreconditionFailed -ESTALE, BucketAlreadyOwnedByYou 0,
 * BucketAlreadyExists -EEXIST, BucketNotEmpty -ENOTEMPTY, EntityTooLarge
 * -EFBIG, KeyTooLongError -ENAMETOOLONG, InvalidArgument/InvalidRequest/
 * InvalidRange/InvalidBucketName -EINVAL, SlowDown/InternalError/
 * ServiceUnavailable/RequestTimeout -EIO; unknown codes and NULL: fallback
 * (NotImplemented is left to the fallback on purpose: -ENOSYS would make
 * FUSE stop calling some operations for good). */
int s3xml_code_errno(const char *code, int fallback);

/* RFC 3339 / ISO 8601 "2009-10-12T17:50:30.000Z" to ns since the epoch:
 * "YYYY-MM-DDTHH:MM:SS", optional fraction (digits past ns truncated), then
 * "Z" or "+HH:MM"/"-HH:MM".  -1 if malformed, out of range (day of month
 * included) or outside 1970..2262 (what int64 ns can hold). */
int64_t s3xml_parse_time(const char *s);

#endif
