/*
 * Unit tests for src/s3xml.c: tables of S3 XML bodies and of bodies to build.
 *
 * Sample bodies come in three dialects: as AWS documents them (declaration,
 * xmlns, indentation), as a minimal store sends them (no declaration, no
 * namespace, one line), and byte for byte as s3rver 5.0.0 emits them (its
 * fast-xml-parser 5.12.1 builder, as pinned in tests/servers; see the
 * S3RVER_* bodies).  Every body is copied into a buffer of exactly its length
 * before parsing, so AddressSanitizer catches a parser that reads past the
 * end or expects a NUL.
 *
 * Every parser is also run on every prefix of a valid body (test_cuts): a cut
 * must either fail cleanly (-EIO, output cleared, a message) or, only when it
 * falls after the closing root tag, give exactly the full result.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <cmocka.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "s3xml.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define DECL "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
#define NS " xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\""
#define SEC 1000000000LL

/* ---- helpers ---------------------------------------------------------------- */

/* A malloc'ed copy of exactly len bytes (no NUL after them); NULL for 0. */
static char *exact(const char *s, size_t len)
{
	char *p;

	if (len == 0)
		return NULL;
	p = malloc(len);
	assert_non_null(p);
	memcpy(p, s, len);
	return p;
}

/* Appends printf output to a malloc'ed string. */
static void cat(char **s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void cat(char **s, const char *fmt, ...)
{
	va_list ap;
	char *add = NULL, *n = NULL;

	va_start(ap, fmt);
	assert_true(vasprintf(&add, fmt, ap) >= 0);
	va_end(ap);
	assert_true(asprintf(&n, "%s%s", *s ? *s : "", add) >= 0);
	free(*s);
	free(add);
	*s = n;
}

static int all_zero(const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i])
			return 0;
	return 1;
}

/* ---- one runner per parser: result as text, cleared output checked -------- */

/* Each runner parses body[0..len), asserts that a failure left the output
 * cleared and set a message, and returns rc; on success *dump is a
 * malloc'ed description of the whole result (compared between runs). */
typedef int (*runner_fn)(const char *body, size_t len, char **dump);

static char *dump_listing(const struct objfs_listing *l)
{
	char *s = NULL;

	cat(&s, "token=%s\n", l->next_token ? l->next_token : "(null)");
	for (size_t i = 0; i < l->nobjects; i++) {
		const struct objfs_objinfo *o = &l->objects[i];

		cat(&s, "obj [%s] size=%llu etag=[%s] mtime=%lld meta=%d\n", o->key,
		    (unsigned long long)o->size, o->etag, (long long)o->mtime_ns, o->has_meta);
	}
	for (size_t i = 0; i < l->nprefixes; i++)
		cat(&s, "prefix [%s]\n", l->prefixes[i]);
	return s;
}

static int run_list(const char *body, size_t len, char **dump)
{
	struct objfs_listing l;
	struct objfs_err err = { "" };
	char *b = exact(body, len);
	int rc;

	memset(&l, 0, sizeof(l));
	rc = s3xml_parse_list(b, len, &l, &err);
	free(b);
	*dump = NULL;
	if (rc) {
		assert_true(all_zero(&l, sizeof(l)));
		assert_true(err.msg[0] != '\0');
		return rc;
	}
	*dump = dump_listing(&l);
	objfs_listing_clear(&l);
	return 0;
}

static int run_error(const char *body, size_t len, char **dump)
{
	char code[64], msg[256], *b = exact(body, len);
	int rc;

	memset(code, 'x', sizeof(code));
	memset(msg, 'x', sizeof(msg));
	rc = s3xml_parse_error(b, len, code, msg);
	free(b);
	*dump = NULL;
	if (rc) {
		assert_int_equal(code[0], '\0');
		assert_int_equal(msg[0], '\0');
		return rc;
	}
	cat(dump, "code=[%s] msg=[%s]", code, msg);
	return 0;
}

static int run_initiate(const char *body, size_t len, char **dump)
{
	struct objfs_err err = { "" };
	char *id = (char *)"junk", *b = exact(body, len);
	int rc;

	rc = s3xml_parse_initiate(b, len, &id, &err);
	free(b);
	*dump = NULL;
	if (rc) {
		assert_null(id);
		assert_true(err.msg[0] != '\0');
		return rc;
	}
	cat(dump, "id=[%s]", id);
	free(id);
	return 0;
}

static int run_etag(const char *body, size_t len, char **dump)
{
	struct objfs_err err = { "" };
	char etag[OBJFS_ETAG_MAX], *b = exact(body, len);
	int rc;

	memset(etag, 'x', sizeof(etag));
	rc = s3xml_parse_etag_result(b, len, etag, &err);
	free(b);
	*dump = NULL;
	if (rc) {
		assert_int_equal(etag[0], '\0');
		assert_true(err.msg[0] != '\0');
		if (rc == -EAGAIN)
			cat(dump, "%s", err.msg);
		return rc;
	}
	cat(dump, "etag=[%s]", etag);
	return 0;
}

static int run_parts(const char *body, size_t len, char **dump)
{
	struct objfs_err err = { "" };
	struct objfs_part *parts = (struct objfs_part *)&err;
	size_t n = 99;
	int next = 99, rc;
	char *b = exact(body, len);

	rc = s3xml_parse_parts(b, len, &parts, &n, &next, &err);
	free(b);
	*dump = NULL;
	if (rc) {
		assert_null(parts);
		assert_int_equal(n, 0);
		assert_int_equal(next, 0);
		assert_true(err.msg[0] != '\0');
		return rc;
	}
	cat(dump, "next=%d\n", next);
	for (size_t i = 0; i < n; i++)
		cat(dump, "part %d size=%llu etag=[%s]\n", parts[i].number,
		    (unsigned long long)parts[i].size, parts[i].etag);
	free(parts);
	return 0;
}

static int run_uploads(const char *body, size_t len, char **dump)
{
	struct objfs_err err = { "" };
	struct s3xml_uploads u;
	char *b = exact(body, len);
	int rc;

	memset(&u, 0, sizeof(u));
	rc = s3xml_parse_uploads(b, len, &u, &err);
	free(b);
	*dump = NULL;
	if (rc) {
		assert_true(all_zero(&u, sizeof(u)));
		assert_true(err.msg[0] != '\0');
		return rc;
	}
	cat(dump, "next=[%s] [%s]\n", u.next_key_marker ? u.next_key_marker : "(null)",
	    u.next_upload_id_marker ? u.next_upload_id_marker : "(null)");
	for (size_t i = 0; i < u.n; i++)
		cat(dump, "upload [%s] [%s] %lld\n", u.uploads[i].key, u.uploads[i].upload_id,
		    (long long)u.uploads[i].initiated_ns);
	s3xml_uploads_clear(&u);
	return 0;
}

/* The keys every delete body of the cut and thread tests answers. */
static const char *const del_keys[] = { "a", "b&c", "d" };

static int run_delete(const char *body, size_t len, char **dump)
{
	struct objfs_err err = { "" };
	int res[N(del_keys)], rc;
	char *b = exact(body, len);

	rc = s3xml_parse_delete(b, len, del_keys, N(del_keys), res, &err);
	free(b);
	*dump = NULL;
	if (rc) {
		for (size_t i = 0; i < N(del_keys); i++)
			assert_int_equal(res[i], -EIO);
		assert_true(err.msg[0] != '\0');
		return rc;
	}
	for (size_t i = 0; i < N(del_keys); i++)
		cat(dump, "%s=%d\n", del_keys[i], res[i]);
	return 0;
}

/* ---- sample bodies -------------------------------------------------------------- */

/* ListObjectsV2 as AWS documents it. */
static const char AWS_LIST[] =
	DECL
	"<ListBucketResult" NS ">\n"
	"  <Name>bucket</Name>\n"
	"  <Prefix/>\n"
	"  <KeyCount>3</KeyCount>\n"
	"  <MaxKeys>3</MaxKeys>\n"
	"  <Delimiter>/</Delimiter>\n"
	"  <IsTruncated>true</IsTruncated>\n"
	"  <Contents>\n"
	"    <Key>my-image.jpg</Key>\n"
	"    <LastModified>2009-10-12T17:50:30.000Z</LastModified>\n"
	"    <ETag>&quot;fba9dede5f27731c9771645a39863328&quot;</ETag>\n"
	"    <Size>434234</Size>\n"
	"    <StorageClass>STANDARD</StorageClass>\n"
	"    <Owner>\n"
	"      <ID>75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a</ID>\n"
	"      <DisplayName>someName</DisplayName>\n"
	"    </Owner>\n"
	"  </Contents>\n"
	"  <Contents>\n"
	"    <Key>my-third-image.jpg</Key>\n"
	"    <LastModified>2009-10-12T17:50:30.123Z</LastModified>\n"
	"    <ETag>\"1b2cf535f27731c974343645a3985328\"</ETag>\n"
	"    <Size>64994</Size>\n"
	"    <StorageClass>STANDARD_IA</StorageClass>\n"
	"    <ChecksumAlgorithm>CRC32</ChecksumAlgorithm>\n"
	"  </Contents>\n"
	"  <CommonPrefixes>\n"
	"    <Prefix>photos/</Prefix>\n"
	"  </CommonPrefixes>\n"
	"  <EncodingType>url</EncodingType>\n"
	"  <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>\n"
	"</ListBucketResult>\n";

/* s3rver 5.0.0, keys "d/a<b>&'\"`" and "d/b&c", a prefix "d/sub dir/",
 * max-keys 2.  Its builder escapes values twice (he.escape in s3rver's
 * tagValueProcessor, then fast-xml-parser's own entity processing), so these
 * keys read back as the once-escaped text: that is s3rver's bug, not ours,
 * and tests against s3rver must avoid & < > ' ` in keys. */
static const char S3RVER_LIST[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult xmlns=\"http://doc.s3.amazonaws.com/2006-03-01/\"><Name>bkt</Name><Prefix>d/</Prefix><NextContinuationToken>dXMtZWFzdC0xL2JrdC9kL2ImYw==</NextContinuationToken><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><Delimiter>/</Delimiter><IsTruncated>true</IsTruncated><Contents><Key>d/a&amp;lt;b&amp;gt;&amp;amp;&amp;#x27;&quot;&amp;#x60;</Key><LastModified>2023-11-14T22:13:20.123Z</LastModified><ETag>&quot;9e107d9d372bb6826bd81d3542a419d6&quot;</ETag><Size>42</Size><StorageClass>STANDARD</StorageClass></Contents><Contents><Key>d/b&amp;amp;c</Key><LastModified>1970-01-01T00:00:00.000Z</LastModified><ETag>&quot;d41d8cd98f00b204e9800998ecf8427e-2&quot;</ETag><Size>0</Size><StorageClass>STANDARD</StorageClass></Contents><CommonPrefixes><Prefix>d/sub dir/</Prefix></CommonPrefixes></ListBucketResult>";
static const char S3RVER_LIST_EMPTY[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult xmlns=\"http://doc.s3.amazonaws.com/2006-03-01/\"><Name>bkt</Name><Prefix></Prefix><KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>";
static const char S3RVER_LIST_ONE[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult xmlns=\"http://doc.s3.amazonaws.com/2006-03-01/\"><Name>bkt</Name><Prefix></Prefix><KeyCount>1</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated><Contents><Key>only</Key><LastModified>1970-01-01T00:00:05.000Z</LastModified><ETag>&quot;x&quot;</ETag><Size>7</Size></Contents></ListBucketResult>";
static const char S3RVER_ERROR[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Key>a&amp;quot;b</Key></Error>";
static const char S3RVER_INITIATE[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<InitiateMultipartUploadResult><Bucket>bkt</Bucket><Key>k</Key><UploadId>a1b2c3-d4</UploadId></InitiateMultipartUploadResult>";
static const char S3RVER_COMPLETE[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CompleteMultipartUploadResult><Location>http://localhost/bkt/k</Location><Bucket>bkt</Bucket><Key>k</Key><ETag>&quot;abc-2&quot;</ETag></CompleteMultipartUploadResult>";
static const char S3RVER_COPY[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CopyObjectResult><LastModified>1970-01-01T00:00:00.000Z</LastModified><ETag>&quot;abc&quot;</ETag></CopyObjectResult>";
static const char S3RVER_COPY_PART[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CopyPartResult><LastModified>1970-01-01T00:00:00.000Z</LastModified><ETag>&quot;abc&quot;</ETag></CopyPartResult>";
/* Captured from a running s3rver 5.0.0 deleting "a&b<c" and "nope": the key
 * comes back escaped twice, so it does not match and reads as not deleted
 * (-EIO).  Its request parser also turns numeric-looking keys into numbers
 * ("007" gives an InternalError) and trims blanks: test multi-delete there
 * with plain keys. */
static const char S3RVER_DELETE_ESCAPED[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Deleted><Key>a&amp;amp;b&amp;lt;c</Key></Deleted><Deleted><Key>nope</Key></Deleted></DeleteResult>";
static const char S3RVER_DELETE[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Deleted><Key>a</Key></Deleted><Deleted><Key>b&amp;amp;c</Key></Deleted></DeleteResult>";

static const char AWS_PARTS[] =
	DECL
	"<ListPartsResult" NS ">\n"
	"  <Bucket>example-bucket</Bucket>\n"
	"  <Key>example-object</Key>\n"
	"  <UploadId>XXBsb2FkIElEIGZvciBlbHZpbmcncyVcdS1tb3ZpZS5tMnRzEEEwbG9hZA</UploadId>\n"
	"  <Initiator>\n"
	"    <ID>arn:aws:iam::111122223333:user/some-user</ID>\n"
	"    <DisplayName>umat-user</DisplayName>\n"
	"  </Initiator>\n"
	"  <Owner><ID>75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a</ID></Owner>\n"
	"  <StorageClass>STANDARD</StorageClass>\n"
	"  <PartNumberMarker>1</PartNumberMarker>\n"
	"  <NextPartNumberMarker>3</NextPartNumberMarker>\n"
	"  <MaxParts>2</MaxParts>\n"
	"  <IsTruncated>true</IsTruncated>\n"
	"  <Part>\n"
	"    <PartNumber>2</PartNumber>\n"
	"    <LastModified>2010-11-10T20:48:34.000Z</LastModified>\n"
	"    <ETag>\"7778aef83f66abc1fa1e8477f296d394\"</ETag>\n"
	"    <Size>10485760</Size>\n"
	"  </Part>\n"
	"  <Part>\n"
	"    <PartNumber>3</PartNumber>\n"
	"    <LastModified>2010-11-10T20:48:33.000Z</LastModified>\n"
	"    <ETag>\"aaaa18db4cc2f85cedef654fccc4a4x8\"</ETag>\n"
	"    <Size>10485760</Size>\n"
	"  </Part>\n"
	"</ListPartsResult>\n";

static const char AWS_UPLOADS[] =
	DECL
	"<ListMultipartUploadsResult" NS ">\n"
	"  <Bucket>bucket</Bucket>\n"
	"  <KeyMarker></KeyMarker>\n"
	"  <UploadIdMarker></UploadIdMarker>\n"
	"  <NextKeyMarker>my-movie.m2ts</NextKeyMarker>\n"
	"  <NextUploadIdMarker>YW55IGlkZWEgd2h5IGVsdmluZydzIHVwbG9hZCBmYWlsZWQ</NextUploadIdMarker>\n"
	"  <MaxUploads>3</MaxUploads>\n"
	"  <IsTruncated>true</IsTruncated>\n"
	"  <Upload>\n"
	"    <Key>my-divisor</Key>\n"
	"    <UploadId>XMgbGlrZSBlbHZpbmcncyBub3QgaGF2aW5nIG11Y2ggbHVjaw</UploadId>\n"
	"    <Initiator><ID>arn:aws:iam::111122223333:user/user1</ID></Initiator>\n"
	"    <Owner><ID>75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a</ID></Owner>\n"
	"    <StorageClass>REDUCED_REDUNDANCY</StorageClass>\n"
	"    <Initiated>2010-11-10T20:48:33.000Z</Initiated>\n"
	"  </Upload>\n"
	"  <Upload>\n"
	"    <Key>my-movie.m2ts</Key>\n"
	"    <UploadId>VXBsb2FkIElEIGZvciBlbHZpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA</UploadId>\n"
	"    <Initiated>2010-11-10T20:49:33.000Z</Initiated>\n"
	"  </Upload>\n"
	"</ListMultipartUploadsResult>\n";

static const char AWS_DELETE[] =
	DECL
	"<DeleteResult" NS ">\n"
	"  <Deleted>\n"
	"    <Key>a</Key>\n"
	"  </Deleted>\n"
	"  <Error>\n"
	"    <Key>b&amp;c</Key>\n"
	"    <Code>AccessDenied</Code>\n"
	"    <Message>Access Denied</Message>\n"
	"  </Error>\n"
	"  <Deleted><Key>not-asked</Key></Deleted>\n"
	"</DeleteResult>\n";

static const char AWS_COMPLETE[] =
	DECL
	"<CompleteMultipartUploadResult" NS ">\n"
	"   <Location>http://Example-Bucket.s3.eu-west-1.amazonaws.com/Example-Object</Location>\n"
	"   <Bucket>Example-Bucket</Bucket>\n"
	"   <Key>Example-Object</Key>\n"
	"   <ETag>\"3858f62230ac3c915f300c664312c11f-9\"</ETag>\n"
	"</CompleteMultipartUploadResult>\n";

/* The 200-then-error answer of a slow complete: blanks first, then <Error>. */
static const char AWS_COMPLETE_ERROR[] =
	"\n\n \n" DECL
	"<Error>\n"
	"  <Code>InternalError</Code>\n"
	"  <Message>We encountered an internal error. Please try again.</Message>\n"
	"  <RequestId>656c76696e6727732072657175657374</RequestId>\n"
	"  <HostId>Uuag1LuByRx9e6j5Onimru9pO4ZVKnJ2Qz7/C1NPcfTWAtRPfTaOFg==</HostId>\n"
	"</Error>\n";

/* ---- ListObjectsV2 ---------------------------------------------------------------- */

struct exp_obj {
	const char *key;
	uint64_t size;
	const char *etag;
	int64_t mtime_ns;
};

struct list_case {
	const char *name;
	const char *body;
	size_t len;                    /* 0: strlen(body) */
	struct exp_obj objs[5];        /* until key == NULL */
	const char *prefixes[4];       /* until NULL */
	const char *token;             /* expected next_token */
};

#define LB "<ListBucketResult>"
#define LE "</ListBucketResult>"
#define NT "<IsTruncated>false</IsTruncated>"
#define C(k, s) "<Contents><Key>" k "</Key><Size>" s "</Size></Contents>"

static const struct list_case list_good[] = {
	{ "aws", AWS_LIST, 0,
	  { { "my-image.jpg", 434234, "fba9dede5f27731c9771645a39863328", 1255369830 * SEC },
	    { "my-third-image.jpg", 64994, "1b2cf535f27731c974343645a3985328",
	      1255369830 * SEC + 123000000 } },
	  { "photos/" }, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=" },
	{ "s3rver", S3RVER_LIST, 0,
	  { { "d/a&lt;b&gt;&amp;&#x27;\"&#x60;", 42, "9e107d9d372bb6826bd81d3542a419d6",
	      1700000000 * SEC + 123000000 },
	    { "d/b&amp;c", 0, "d41d8cd98f00b204e9800998ecf8427e-2", 0 } },
	  { "d/sub dir/" }, "dXMtZWFzdC0xL2JrdC9kL2ImYw==" },
	{ "s3rver empty", S3RVER_LIST_EMPTY, 0, { { 0 } }, { 0 }, NULL },
	{ "s3rver one", S3RVER_LIST_ONE, 0, { { "only", 7, "x", 5 * SEC } }, { 0 }, NULL },
	{ "minimal", LB NT C("k", "1") LE, 0, { { "k", 1, "", 0 } }, { 0 }, NULL },
	{ "not truncated ignores token",
	  LB NT "<NextContinuationToken>t</NextContinuationToken>" C("k", "1") LE, 0,
	  { { "k", 1, "", 0 } }, { 0 }, NULL },
	{ "leading blanks", " \r\n\t" DECL LB NT LE "\n\n", 0, { { 0 } }, { 0 }, NULL },
	{ "prefixed namespace",
	  "<s3:ListBucketResult xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
	  "<s3:IsTruncated>true</s3:IsTruncated><s3:NextContinuationToken>tok</s3:NextContinuationToken>"
	  "<s3:Contents><s3:Key>a</s3:Key><s3:Size>2</s3:Size><s3:ETag>e</s3:ETag></s3:Contents>"
	  "<s3:CommonPrefixes><s3:Prefix>p/</s3:Prefix></s3:CommonPrefixes></s3:ListBucketResult>", 0,
	  { { "a", 2, "e", 0 } }, { "p/" }, "tok" },
	{ "entities and character references",
	  LB NT C("a&amp;b&#x9;c&#13;&lt;&gt;&apos;&quot;", "3") C("b&#x20AC;", "4") LE, 0,
	  { { "a&b\tc\r<>'\"", 3, "", 0 }, { "b\xe2\x82\xac", 4, "", 0 } }, { 0 }, NULL },
	{ "blank keys kept", LB NT C(" ", "1") C("  x  ", "2") LE, 0,
	  { { " ", 1, "", 0 }, { "  x  ", 2, "", 0 } }, { 0 }, NULL },
	{ "url encoding",
	  LB "<EncodingType>url</EncodingType>" NT C("a+b%2Bc", "1") C("caf%C3%a9", "2")
	  C("x%25", "3") "<CommonPrefixes><Prefix>run+books/</Prefix></CommonPrefixes>"
	  "<CommonPrefixes><Prefix>%ED%95%9C/</Prefix></CommonPrefixes>" LE, 0,
	  { { "a b+c", 1, "", 0 }, { "caf\xc3\xa9", 2, "", 0 }, { "x%", 3, "", 0 } },
	  { "run books/", "\xed\x95\x9c/" }, NULL },
	{ "url encoding, control characters", LB "<EncodingType>url</EncodingType>" NT
	  C("%01%1F", "1") LE, 0, { { "\x01\x1f", 1, "", 0 } }, { 0 }, NULL },
	{ "no encoding: percent kept", LB NT C("a+b%2B", "1") LE, 0,
	  { { "a+b%2B", 1, "", 0 } }, { 0 }, NULL },
	{ "largest size", LB NT C("k", "9223372036854775807") LE, 0,
	  { { "k", 9223372036854775807ULL, "", 0 } }, { 0 }, NULL },
	{ "leading zeros in size", LB NT C("k", "007") LE, 0, { { "k", 7, "", 0 } }, { 0 }, NULL },
	{ "byte order, not locale", LB NT C("B", "1") C("a", "1") C("\xc3\xa9", "1") LE, 0,
	  { { "B", 1, "", 0 }, { "a", 1, "", 0 }, { "\xc3\xa9", 1, "", 0 } }, { 0 }, NULL },
	{ "times with offsets",
	  LB NT "<Contents><Key>a</Key><Size>1</Size><LastModified>2009-10-12T19:50:30.5+02:00</LastModified></Contents>"
	  "<Contents><Key>b</Key><Size>1</Size><LastModified>2009-10-12T17:50:30.000000001Z</LastModified></Contents>" LE, 0,
	  { { "a", 1, "", 1255369830 * SEC + 500000000 }, { "b", 1, "", 1255369830 * SEC + 1 } },
	  { 0 }, NULL },
	{ "unquoted and odd etags",
	  LB NT "<Contents><Key>a</Key><Size>1</Size><ETag>abc</ETag></Contents>"
	  "<Contents><Key>b</Key><Size>1</Size><ETag>\"\"</ETag></Contents>"
	  "<Contents><Key>c</Key><Size>1</Size><ETag></ETag></Contents>" LE, 0,
	  { { "a", 1, "abc", 0 }, { "b", 1, "", 0 }, { "c", 1, "", 0 } }, { 0 }, NULL },
	{ "comments, PIs and unknown elements around fields",
	  "<!-- hi -->" LB "<?pi x?>" NT "<Contents><!-- c --><Key>k</Key><Extra><Key>no</Key></Extra>"
	  "<Size>5</Size></Contents><Unknown>x</Unknown>" LE "<!-- bye -->", 0,
	  { { "k", 5, "", 0 } }, { 0 }, NULL },
	{ "prefixes only", LB NT "<CommonPrefixes><Prefix>a/</Prefix></CommonPrefixes>"
	  "<CommonPrefixes><Prefix>b/</Prefix></CommonPrefixes>" LE, 0,
	  { { 0 } }, { "a/", "b/" }, NULL },
	{ "keep-alive blanks before a declaration-less body", "\n\n\n" LB NT LE, 0,
	  { { 0 } }, { 0 }, NULL },
	{ "ISO-8859-1 body", "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>" LB NT
	  C("caf\xe9", "1") LE, 0, { { "caf\xc3\xa9", 1, "", 0 } }, { 0 }, NULL },
};

static void test_list_good(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(list_good); i++) {
		const struct list_case *c = &list_good[i];
		struct objfs_listing l;
		struct objfs_err err = { "" };
		size_t len = c->len ? c->len : strlen(c->body), no = 0, np = 0;
		char *b = exact(c->body, len);
		int rc;

		memset(&l, 0, sizeof(l));
		rc = s3xml_parse_list(b, len, &l, &err);
		free(b);
		if (rc)
			fail_msg("%s: rc %d (%s)", c->name, rc, err.msg);
		while (no < N(c->objs) && c->objs[no].key)
			no++;
		while (np < N(c->prefixes) && c->prefixes[np])
			np++;
		if (l.nobjects != no || l.nprefixes != np)
			fail_msg("%s: %zu objects, %zu prefixes; want %zu, %zu", c->name,
				 l.nobjects, l.nprefixes, no, np);
		for (size_t j = 0; j < no; j++) {
			const struct objfs_objinfo *o = &l.objects[j];
			const struct exp_obj *e = &c->objs[j];

			if (strcmp(o->key, e->key) || o->size != e->size || strcmp(o->etag, e->etag) ||
			    o->mtime_ns != e->mtime_ns || o->has_meta || o->meta || o->content_type)
				fail_msg("%s: object %zu: [%s] %llu [%s] %lld; want [%s] %llu [%s] %lld",
					 c->name, j, o->key, (unsigned long long)o->size, o->etag,
					 (long long)o->mtime_ns, e->key, (unsigned long long)e->size,
					 e->etag, (long long)e->mtime_ns);
		}
		for (size_t j = 0; j < np; j++)
			if (strcmp(l.prefixes[j], c->prefixes[j]))
				fail_msg("%s: prefix %zu [%s], want [%s]", c->name, j, l.prefixes[j],
					 c->prefixes[j]);
		if ((c->token == NULL) != (l.next_token == NULL) ||
		    (c->token && strcmp(c->token, l.next_token)))
			fail_msg("%s: token [%s], want [%s]", c->name,
				 l.next_token ? l.next_token : "(null)", c->token ? c->token : "(null)");
		objfs_listing_clear(&l);
	}
}

struct bad_case {
	const char *name;
	const char *body;
	size_t len;                    /* 0: strlen(body) */
	const char *msg;               /* a substring the message must hold, or NULL */
};

static const struct bad_case list_bad[] = {
	{ "empty", "", 0, "empty" },
	{ "blanks only", " \n\t\r ", 0, "empty" },
	{ "not XML", "Internal Server Error", 0, "malformed" },
	{ "HTML", "<html><body><h1>502 Bad Gateway</h1></body></html>", 0, "ListBucketResult" },
	{ "JSON", "{\"Contents\": []}", 0, "malformed" },
	{ "declaration only", DECL, 0, "malformed" },
	{ "wrong root", "<ListAllMyBucketsResult>" NT "</ListAllMyBucketsResult>", 0,
	  "ListAllMyBucketsResult" },
	{ "V1-style body, truncated without token", LB "<IsTruncated>true</IsTruncated>"
	  "<NextMarker>k</NextMarker>" C("k", "1") LE, 0, "NextContinuationToken" },
	{ "Error document", DECL "<Error><Code>NoSuchBucket</Code><Message>gone</Message></Error>",
	  0, "NoSuchBucket: gone" },
	{ "missing IsTruncated", LB C("k", "1") LE, 0, "IsTruncated" },
	{ "IsTruncated True", LB "<IsTruncated>True</IsTruncated>" LE, 0, "IsTruncated" },
	{ "IsTruncated 1", LB "<IsTruncated>1</IsTruncated>" LE, 0, "IsTruncated" },
	{ "IsTruncated padded", LB "<IsTruncated> false</IsTruncated>" LE, 0, "IsTruncated" },
	{ "two IsTruncated", LB NT NT LE, 0, "more than one" },
	{ "truncated without token", LB "<IsTruncated>true</IsTruncated>" LE, 0,
	  "NextContinuationToken" },
	{ "truncated with empty token", LB "<IsTruncated>true</IsTruncated>"
	  "<NextContinuationToken></NextContinuationToken>" LE, 0, "NextContinuationToken" },
	{ "token with a control character", LB "<IsTruncated>true</IsTruncated>"
	  "<NextContinuationToken>a&#10;b</NextContinuationToken>" LE, 0, "control" },
	{ "missing Key", LB NT "<Contents><Size>1</Size></Contents>" LE, 0, "missing <Key>" },
	{ "missing Size", LB NT "<Contents><Key>k</Key></Contents>" LE, 0, "missing <Size>" },
	{ "empty Key", LB NT C("", "1") LE, 0, "empty <Key>" },
	{ "two Keys", LB NT "<Contents><Key>a</Key><Key>b</Key><Size>1</Size></Contents>" LE, 0,
	  "more than one <Key>" },
	{ "two Sizes", LB NT "<Contents><Key>a</Key><Size>1</Size><Size>1</Size></Contents>" LE, 0,
	  "more than one <Size>" },
	{ "negative size", LB NT C("k", "-1") LE, 0, "Size" },
	{ "plus size", LB NT C("k", "+1") LE, 0, "Size" },
	{ "empty size", LB NT C("k", "") LE, 0, "Size" },
	{ "blank size", LB NT C("k", " 1") LE, 0, "Size" },
	{ "size with trailing blank", LB NT C("k", "1 ") LE, 0, "Size" },
	{ "size with junk", LB NT C("k", "12abc") LE, 0, "Size" },
	{ "float size", LB NT C("k", "1.5") LE, 0, "Size" },
	{ "exponent size", LB NT C("k", "1e3") LE, 0, "Size" },
	{ "hex size", LB NT C("k", "0x10") LE, 0, "Size" },
	{ "size over INT64_MAX", LB NT C("k", "9223372036854775808") LE, 0, "Size" },
	{ "size over UINT64_MAX", LB NT C("k", "18446744073709551616") LE, 0, "Size" },
	{ "huge size", LB NT C("k", "99999999999999999999999999999999999999999") LE, 0, "Size" },
	{ "size as markup", LB NT "<Contents><Key>k</Key><Size><n>1</n></Size></Contents>" LE, 0,
	  "markup" },
	{ "comment inside a key", LB NT C("a<!--x-->b", "1") LE, 0, "markup" },
	{ "blank and comment inside a key", LB NT C(" <!--x-->b", "1") LE, 0, "markup" },
	{ "CDATA inside a key", LB NT C("<![CDATA[a]]>", "1") LE, 0, "markup" },
	{ "PI inside a key", LB NT C("a<?x y?>", "1") LE, 0, "markup" },
	{ "keys out of order", LB NT C("b", "1") C("a", "1") LE, 0, "not after" },
	{ "duplicate keys", LB NT C("a", "1") C("a", "2") LE, 0, "not after" },
	{ "url-decoded keys out of order", LB "<EncodingType>url</EncodingType>" NT
	  C("a%2B", "1") C("a+", "1") LE, 0, "not after" },
	{ "prefixes out of order", LB NT "<CommonPrefixes><Prefix>b/</Prefix></CommonPrefixes>"
	  "<CommonPrefixes><Prefix>a/</Prefix></CommonPrefixes>" LE, 0, "not after" },
	{ "duplicate prefixes", LB NT "<CommonPrefixes><Prefix>a/</Prefix></CommonPrefixes>"
	  "<CommonPrefixes><Prefix>a/</Prefix></CommonPrefixes>" LE, 0, "not after" },
	{ "CommonPrefixes without Prefix", LB NT "<CommonPrefixes></CommonPrefixes>" LE, 0,
	  "missing <Prefix>" },
	{ "empty Prefix", LB NT "<CommonPrefixes><Prefix/></CommonPrefixes>" LE, 0,
	  "empty <Prefix>" },
	{ "two Prefixes in one CommonPrefixes", LB NT
	  "<CommonPrefixes><Prefix>a/</Prefix><Prefix>b/</Prefix></CommonPrefixes>" LE, 0,
	  "more than one" },
	{ "bad LastModified", LB NT "<Contents><Key>k</Key><Size>1</Size>"
	  "<LastModified>Mon, 12 Oct 2009 17:50:30 GMT</LastModified></Contents>" LE, 0,
	  "LastModified" },
	{ "ETag too long", LB NT "<Contents><Key>k</Key><Size>1</Size><ETag>"
	  "0123456789012345678901234567890123456789012345678901234567890123"
	  "0123456789012345678901234567890123456789012345678901234567890123"
	  "</ETag></Contents>" LE, 0, "ETag" },
	{ "ETag with a quote inside", LB NT "<Contents><Key>k</Key><Size>1</Size>"
	  "<ETag>\"a\"b\"</ETag></Contents>" LE, 0, "ETag" },
	{ "ETag with a line feed", LB NT "<Contents><Key>k</Key><Size>1</Size>"
	  "<ETag>a&#10;b</ETag></Contents>" LE, 0, "ETag" },
	{ "unknown EncodingType", LB "<EncodingType>base64</EncodingType>" NT LE, 0,
	  "EncodingType" },
	{ "two EncodingTypes", LB "<EncodingType>url</EncodingType><EncodingType>url</EncodingType>"
	  NT LE, 0, "more than one" },
	{ "lone percent", LB "<EncodingType>url</EncodingType>" NT C("a%", "1") LE, 0, "percent" },
	{ "short escape", LB "<EncodingType>url</EncodingType>" NT C("a%2", "1") LE, 0, "percent" },
	{ "bad hex escape", LB "<EncodingType>url</EncodingType>" NT C("a%zz", "1") LE, 0, "percent" },
	{ "half-bad hex escape", LB "<EncodingType>url</EncodingType>" NT C("a%2g", "1") LE, 0,
	  "percent" },
	{ "encoded NUL", LB "<EncodingType>url</EncodingType>" NT C("a%00b", "1") LE, 0, "percent" },
	{ "bad escape in a prefix", LB "<EncodingType>url</EncodingType>" NT
	  "<CommonPrefixes><Prefix>%G0/</Prefix></CommonPrefixes>" LE, 0, "percent" },
	{ "internal DTD entity", "<!DOCTYPE ListBucketResult [<!ENTITY k \"key\">]>"
	  LB NT C("&k;", "1") LE, 0, "document type" },
	{ "billion laughs", "<!DOCTYPE l [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;\">"
	  "<!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;\"><!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;\">]>"
	  LB NT C("&d;", "1") LE, 0, "document type" },
	{ "external entity", "<!DOCTYPE l [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
	  LB NT C("&x;", "1") LE, 0, "document type" },
	{ "external DTD", "<!DOCTYPE ListBucketResult SYSTEM \"http://127.0.0.1:1/x.dtd\">"
	  LB NT LE, 0, "document type" },
	{ "undefined entity", LB NT C("&nbsp;", "1") LE, 0, "malformed" },
	{ "bare ampersand", LB NT C("a&b", "1") LE, 0, "malformed" },
	{ "forbidden character reference", LB NT C("a&#1;", "1") LE, 0, "malformed" },
	{ "NUL in a key", LB NT C("a\0b", "1") LE, sizeof(LB NT C("a\0b", "1") LE) - 1, "NUL" },
	{ "NUL after the root", LB NT LE "\0", sizeof(LB NT LE "\0") - 1, "NUL" },
	{ "NUL first", "\0" LB NT LE, sizeof("\0" LB NT LE) - 1, "NUL" },
	{ "text after the root", LB NT LE "x", 0, "malformed" },
	{ "two roots", LB NT LE LB NT LE, 0, "malformed" },
	{ "unclosed root", LB NT, 0, "malformed" },
	{ "mismatched tags", LB NT "<Contents><Key>k</Size></Contents>" LE, 0, "malformed" },
	{ "undeclared namespace prefix", "<s3:ListBucketResult>" NT "</s3:ListBucketResult>", 0,
	  "malformed" },
	{ "invalid UTF-8", LB NT C("\xff\xfe", "1") LE, 0, "malformed" },
	{ "declaration after blanks and junk", "x" DECL LB NT LE, 0, "malformed" },
	{ "attribute without quotes", "<ListBucketResult a=b>" NT LE, 0, "malformed" },
};

static void check_bad(const struct bad_case *c, runner_fn run, int want)
{
	size_t len = c->len ? c->len : strlen(c->body);
	char *dump = NULL;
	int rc = run(c->body, len, &dump);

	if (rc != want)
		fail_msg("%s: rc %d, want %d (%s)", c->name, rc, want, dump ? dump : "");
	free(dump);
}

/* The message of a failing list parse, for the substring checks. */
static void list_msg(const struct bad_case *c, char *msg, size_t sz)
{
	size_t len = c->len ? c->len : strlen(c->body);
	struct objfs_listing l;
	struct objfs_err err = { "" };
	char *b = exact(c->body, len);

	memset(&l, 0, sizeof(l));
	assert_int_equal(s3xml_parse_list(b, len, &l, &err), -EIO);
	free(b);
	snprintf(msg, sz, "%s", err.msg);
}

static void test_list_bad(void **state)
{
	char msg[OBJFS_ERR_MAX];

	(void)state;
	for (size_t i = 0; i < N(list_bad); i++) {
		const struct bad_case *c = &list_bad[i];

		check_bad(c, run_list, -EIO);
		list_msg(c, msg, sizeof(msg));
		if (c->msg && !strstr(msg, c->msg))
			fail_msg("%s: message \"%s\" lacks \"%s\"", c->name, msg, c->msg);
	}
}

/* Bodies too big or too deep to write out in the table. */
static void test_list_limits(void **state)
{
	size_t big = (size_t)S3XML_MAX_BODY + 1, depth = 5000;
	char *body = malloc(big), *dump = NULL, *p;
	struct objfs_listing l;
	struct objfs_err err = { "" };
	int rc;

	(void)state;
	assert_non_null(body);
	memset(body, 'x', big);
	memcpy(body, LB, strlen(LB));
	memset(&l, 0, sizeof(l));
	assert_int_equal(s3xml_parse_list(body, big, &l, &err), -EIO);
	assert_non_null(strstr(err.msg, "bytes"));
	assert_true(all_zero(&l, sizeof(l)));
	/* NULL body with a length */
	assert_int_equal(s3xml_parse_list(NULL, 10, &l, &err), -EIO);
	assert_true(all_zero(&l, sizeof(l)));

	/* 5000 nested elements inside Contents: libxml2 refuses the depth */
	p = body;
	p += sprintf(p, LB NT "<Contents><Key>k</Key><Size>1</Size>");
	for (size_t i = 0; i < depth; i++)
		p += sprintf(p, "<a>");
	for (size_t i = 0; i < depth; i++)
		p += sprintf(p, "</a>");
	p += sprintf(p, "</Contents>" LE);
	assert_int_equal(run_list(body, (size_t)(p - body), &dump), -EIO);

	/* an 11 MB key (over libxml2's XML_MAX_TEXT_LENGTH, which 2.9.14 does
	 * not enforce here): whole or an error, never cut short */
	p = body;
	p += sprintf(p, LB NT "<Contents><Key>");
	memset(p, 'k', 11u << 20);
	p += 11u << 20;
	p += sprintf(p, "</Key><Size>1</Size></Contents>" LE);
	assert_true((size_t)(p - body) <= S3XML_MAX_BODY);
	rc = s3xml_parse_list(body, (size_t)(p - body), &l, &err);
	if (rc == 0) {
		assert_int_equal(l.nobjects, 1);
		assert_int_equal(strlen(l.objects[0].key), 11u << 20);
		objfs_listing_clear(&l);
	} else {
		assert_int_equal(rc, -EIO);
		assert_true(all_zero(&l, sizeof(l)));
	}
	free(body);
}

/* ---- every prefix of a valid body ---------------------------------------------- */

/* A ListObjectsV2 body of a few KB touching every construct the parser reads:
 * entities, character references, url encoding, prefixes, a token; it ends
 * with blanks after the root, so the last few cuts succeed. */
static char *big_list(size_t *len)
{
	char *s = NULL;

	cat(&s, DECL "<ListBucketResult" NS ">\n  <Name>bkt</Name>\n  <Prefix>d%%2F</Prefix>\n"
	    "  <EncodingType>url</EncodingType>\n  <IsTruncated>true</IsTruncated>\n");
	for (int i = 0; i < 24; i++)
		cat(&s, "  <Contents>\n    <Key>d/f%%20%02d+&amp;&#x41;%%E2%%82%%AC</Key>\n"
		    "    <LastModified>2023-11-14T22:13:%02d.%03dZ</LastModified>\n"
		    "    <ETag>&quot;%032x&quot;</ETag>\n    <Size>%d</Size>\n"
		    "    <Owner><ID>abc</ID><DisplayName>x</DisplayName></Owner>\n"
		    "    <StorageClass>STANDARD</StorageClass>\n  </Contents>\n",
		    i, i, i * 7, (unsigned)i * 2654435761u, i * 1000);
	for (int i = 0; i < 4; i++)
		cat(&s, "  <CommonPrefixes><Prefix>d/sub%%20%d/</Prefix></CommonPrefixes>\n", i);
	cat(&s, "  <NextContinuationToken>tok/en+==</NextContinuationToken>\n"
	    "</ListBucketResult>\n \n");
	*len = strlen(s);
	return s;
}

struct cut_case {
	const char *name;
	const char *body;
	runner_fn run;
	int rc;                        /* of the whole body */
};

static void cut_one(const char *name, const char *body, size_t len, runner_fn run, int want)
{
	const char *end = NULL;
	size_t root_end, ok = 0;
	char *full = NULL;

	/* the root ends at the last '>' */
	for (const char *p = body; p < body + len; p++)
		if (*p == '>')
			end = p;
	assert_non_null(end);
	root_end = (size_t)(end - body) + 1;
	assert_int_equal(run(body, len, &full), want);
	assert_non_null(full);
	for (size_t n = 0; n <= len; n++) {
		char *dump = NULL;
		int rc = run(body, n, &dump);

		if (rc == want) {
			if (n < root_end)
				fail_msg("%s: cut at %zu of %zu (root ends at %zu) parsed", name, n,
					 len, root_end);
			if (strcmp(dump, full))
				fail_msg("%s: cut at %zu: result differs:\n%s\nwant\n%s", name, n,
					 dump, full);
			ok++;
		} else if (rc != -EIO) {
			fail_msg("%s: cut at %zu: rc %d", name, n, rc);
		}
		free(dump);
	}
	assert_int_equal(ok, len - root_end + 1);
	free(full);
}

static void test_cuts(void **state)
{
	static const struct cut_case cases[] = {
		{ "aws list", AWS_LIST, run_list, 0 },
		{ "s3rver list", S3RVER_LIST, run_list, 0 },
		{ "s3rver error", S3RVER_ERROR, run_error, 0 },
		{ "aws error", AWS_COMPLETE_ERROR, run_error, 0 },
		{ "s3rver initiate", S3RVER_INITIATE, run_initiate, 0 },
		{ "aws complete", AWS_COMPLETE, run_etag, 0 },
		{ "s3rver copy part", S3RVER_COPY_PART, run_etag, 0 },
		{ "complete error", AWS_COMPLETE_ERROR, run_etag, -EAGAIN },
		{ "aws parts", AWS_PARTS, run_parts, 0 },
		{ "aws uploads", AWS_UPLOADS, run_uploads, 0 },
		{ "aws delete", AWS_DELETE, run_delete, 0 },
		{ "s3rver delete", S3RVER_DELETE, run_delete, 0 },
	};
	size_t len;
	char *big = big_list(&len);
	char *dump = NULL;

	(void)state;
	assert_true(len > 4000);
	/* the big body itself parses to what it says */
	assert_int_equal(run_list(big, len, &dump), 0);
	assert_non_null(strstr(dump, "token=tok/en+==\n"));
	assert_non_null(strstr(dump, "obj [d/f 00 &A\xe2\x82\xac] size=0 etag=[00000000000000000000000000000000] mtime=1699999980000000000 meta=0\n"));
	assert_non_null(strstr(dump, "obj [d/f 23 &A\xe2\x82\xac] size=23000 "));
	assert_non_null(strstr(dump, "prefix [d/sub 3/]\n"));
	free(dump);
	cut_one("big list", big, len, run_list, 0);
	free(big);
	for (size_t i = 0; i < N(cases); i++)
		cut_one(cases[i].name, cases[i].body, strlen(cases[i].body), cases[i].run,
			cases[i].rc);
}

/* Every byte of the big list replaced by a few troublesome ones: no crash,
 * and either a clean failure or a listing that still holds its invariants. */
static void test_mutations(void **state)
{
	static const char repl[] = { '<', '>', '&', '"', '\0', (char)0xff, ' ', '9', '%' };
	size_t len;
	char *big = big_list(&len), *b = malloc(len);

	(void)state;
	assert_non_null(b);
	for (size_t i = 0; i < len; i++) {
		for (size_t j = 0; j < sizeof(repl); j++) {
			struct objfs_listing l;
			struct objfs_err err = { "" };
			int rc;

			memcpy(b, big, len);
			b[i] = repl[j];
			memset(&l, 0, sizeof(l));
			rc = s3xml_parse_list(b, len, &l, &err);
			if (rc) {
				assert_int_equal(rc, -EIO);
				assert_true(all_zero(&l, sizeof(l)));
				continue;
			}
			for (size_t k = 1; k < l.nobjects; k++)
				assert_true(strcmp(l.objects[k - 1].key, l.objects[k].key) < 0);
			for (size_t k = 1; k < l.nprefixes; k++)
				assert_true(strcmp(l.prefixes[k - 1], l.prefixes[k]) < 0);
			assert_non_null(l.next_token);
			objfs_listing_clear(&l);
		}
	}
	free(b);
	free(big);
}

/* ---- threads ------------------------------------------------------------------ */

struct thread_arg {
	const char *body;
	size_t len;
	const char *want;
	int failures;
};

static void *thread_main(void *p)
{
	struct thread_arg *a = p;

	for (int i = 0; i < 200; i++) {
		struct objfs_listing l;
		struct objfs_err err;
		char code[64], msg[256], *body = NULL, *dump;
		size_t blen;
		int rc;

		memset(&l, 0, sizeof(l));
		rc = s3xml_parse_list(a->body, a->len, &l, &err);
		dump = rc ? NULL : dump_listing(&l);
		if (!dump || strcmp(dump, a->want))
			a->failures++;
		free(dump);
		objfs_listing_clear(&l);
		/* a failing parse in between must not disturb the others */
		if (s3xml_parse_list("<x>", 3, &l, &err) != -EIO ||
		    s3xml_parse_error(S3RVER_ERROR, strlen(S3RVER_ERROR), code, msg) ||
		    strcmp(code, "NoSuchKey") || s3xml_build_delete(del_keys, N(del_keys), &body, &blen))
			a->failures++;
		free(body);
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct thread_arg args[8];
	pthread_t th[8];
	size_t len;
	char *big = big_list(&len), *want = NULL;

	(void)state;
	assert_int_equal(run_list(big, len, &want), 0);
	for (int i = 0; i < 8; i++) {
		args[i] = (struct thread_arg){ big, len, want, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, thread_main, &args[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(args[i].failures, 0);
	}
	free(want);
	free(big);
}

/* ---- Error, Initiate, ETag results -------------------------------------------------- */

struct text_case {
	const char *name;
	const char *body;
	int rc;
	const char *want;              /* the runner's dump (or -EAGAIN message) */
};

static void run_text_cases(const struct text_case *t, size_t n, runner_fn run)
{
	for (size_t i = 0; i < n; i++) {
		char *dump = NULL;
		int rc = run(t[i].body, strlen(t[i].body), &dump);

		if (rc != t[i].rc)
			fail_msg("%s: rc %d, want %d", t[i].name, rc, t[i].rc);
		if (t[i].want && (!dump || strcmp(dump, t[i].want)))
			fail_msg("%s: got [%s], want [%s]", t[i].name, dump ? dump : "(null)",
				 t[i].want);
		free(dump);
	}
}

#define LONG64 "0123456789012345678901234567890123456789012345678901234567890123"

static void test_error(void **state)
{
	static const struct text_case cases[] = {
		{ "aws", DECL "<Error>\n  <Code>NoSuchKey</Code>\n  <Message>The resource you "
		  "requested does not exist</Message>\n  <Resource>/mybucket/myfoto.jpg</Resource>\n"
		  "  <RequestId>4442587FB7D0A2F9</RequestId>\n</Error>", 0,
		  "code=[NoSuchKey] msg=[The resource you requested does not exist]" },
		{ "s3rver", S3RVER_ERROR, 0,
		  "code=[NoSuchKey] msg=[The specified key does not exist.]" },
		{ "after keep-alive blanks", AWS_COMPLETE_ERROR, 0,
		  "code=[InternalError] msg=[We encountered an internal error. Please try again.]" },
		{ "no message", "<Error><Code>SlowDown</Code></Error>", 0,
		  "code=[SlowDown] msg=[]" },
		{ "namespaced", "<e:Error xmlns:e=\"urn:x\"><e:Code>A</e:Code><e:Message>&lt;b&gt;</e:Message></e:Error>",
		  0, "code=[A] msg=[<b>]" },
		{ "long code truncated", "<Error><Code>" LONG64 "X</Code><Message>m</Message></Error>",
		  0, "code=[012345678901234567890123456789012345678901234567890123456789012] msg=[m]" },
		{ "long message truncated", "<Error><Code>C</Code><Message>" LONG64 LONG64 LONG64
		  LONG64 "X</Message></Error>", 0,
		  "code=[C] msg=[" LONG64 LONG64 LONG64
		  "012345678901234567890123456789012345678901234567890123456789012]" },
		{ "missing code", "<Error><Message>m</Message></Error>", -EIO, NULL },
		{ "empty code", "<Error><Code></Code></Error>", -EIO, NULL },
		{ "two codes", "<Error><Code>A</Code><Code>B</Code></Error>", -EIO, NULL },
		{ "not an Error", S3RVER_LIST_EMPTY, -EIO, NULL },
		{ "HTML error page", "<html><head><title>403 Forbidden</title></head></html>", -EIO, NULL },
		{ "empty", "", -EIO, NULL },
		{ "cut", "<Error><Code>NoSuchKey</Code>", -EIO, NULL },
	};

	(void)state;
	run_text_cases(cases, N(cases), run_error);
}

static void test_initiate(void **state)
{
	static const struct text_case cases[] = {
		{ "aws", DECL "<InitiateMultipartUploadResult" NS ">\n  <Bucket>example-bucket</Bucket>\n"
		  "  <Key>example-object</Key>\n"
		  "  <UploadId>VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA</UploadId>\n"
		  "</InitiateMultipartUploadResult>", 0,
		  "id=[VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA]" },
		{ "s3rver", S3RVER_INITIATE, 0, "id=[a1b2c3-d4]" },
		{ "minimal", "<InitiateMultipartUploadResult><UploadId>x~y</UploadId></InitiateMultipartUploadResult>",
		  0, "id=[x~y]" },
		{ "missing UploadId", "<InitiateMultipartUploadResult><Key>k</Key></InitiateMultipartUploadResult>",
		  -EIO, NULL },
		{ "empty UploadId", "<InitiateMultipartUploadResult><UploadId/></InitiateMultipartUploadResult>",
		  -EIO, NULL },
		{ "UploadId with a line feed", "<InitiateMultipartUploadResult><UploadId>a&#10;b</UploadId>"
		  "</InitiateMultipartUploadResult>", -EIO, NULL },
		{ "Error document", S3RVER_ERROR, -EIO, NULL },
		{ "wrong root", S3RVER_COMPLETE, -EIO, NULL },
	};

	(void)state;
	run_text_cases(cases, N(cases), run_initiate);
}

static void test_etag_result(void **state)
{
	static const struct text_case cases[] = {
		{ "aws complete", AWS_COMPLETE, 0, "etag=[3858f62230ac3c915f300c664312c11f-9]" },
		{ "aws complete after keep-alive blanks", "\n \n \n" DECL
		  "<CompleteMultipartUploadResult" NS "><ETag>&quot;e-2&quot;</ETag>"
		  "</CompleteMultipartUploadResult>", 0, "etag=[e-2]" },
		{ "aws copy", "<CopyObjectResult>\n   <LastModified>2009-10-28T22:32:00</LastModified>\n"
		  "   <ETag>\"9b2cf535f27731c974343645a3985328\"</ETag>\n</CopyObjectResult>", 0,
		  "etag=[9b2cf535f27731c974343645a3985328]" },
		{ "s3rver complete", S3RVER_COMPLETE, 0, "etag=[abc-2]" },
		{ "s3rver copy", S3RVER_COPY, 0, "etag=[abc]" },
		{ "s3rver copy part", S3RVER_COPY_PART, 0, "etag=[abc]" },
		{ "unquoted", "<CopyPartResult><ETag>abc</ETag></CopyPartResult>", 0, "etag=[abc]" },
		{ "longest etag", "<CopyPartResult><ETag>" LONG64 "012345678901234567890123456789012345678901234567890123456789012"
		  "</ETag></CopyPartResult>", 0,
		  "etag=[" LONG64 "012345678901234567890123456789012345678901234567890123456789012]" },
		{ "etag too long", "<CopyPartResult><ETag>" LONG64 LONG64 "</ETag></CopyPartResult>",
		  -EIO, NULL },
		{ "Error after 200", AWS_COMPLETE_ERROR, -EAGAIN,
		  "InternalError: We encountered an internal error. Please try again." },
		{ "s3rver Error", S3RVER_ERROR, -EAGAIN, "NoSuchKey: The specified key does not exist." },
		{ "missing etag", "<CopyObjectResult><LastModified>x</LastModified></CopyObjectResult>",
		  -EIO, NULL },
		{ "empty etag", "<CopyObjectResult><ETag>\"\"</ETag></CopyObjectResult>", -EIO, NULL },
		{ "two etags", "<CopyObjectResult><ETag>a</ETag><ETag>b</ETag></CopyObjectResult>",
		  -EIO, NULL },
		{ "wrong root", S3RVER_INITIATE, -EIO, NULL },
		{ "blanks only (the body was cut during keep-alive)", "\n \n ", -EIO, NULL },
	};

	(void)state;
	run_text_cases(cases, N(cases), run_etag);
}

/* ---- ListParts and ListMultipartUploads ------------------------------------------- */

#define PB "<ListPartsResult>"
#define PE "</ListPartsResult>"
#define P(n, s, e) "<Part><PartNumber>" n "</PartNumber><Size>" s "</Size><ETag>" e "</ETag></Part>"

static void test_parts(void **state)
{
	static const struct text_case cases[] = {
		{ "aws", AWS_PARTS, 0, "next=3\npart 2 size=10485760 etag=[7778aef83f66abc1fa1e8477f296d394]\n"
		  "part 3 size=10485760 etag=[aaaa18db4cc2f85cedef654fccc4a4x8]\n" },
		{ "not truncated", PB NT "<NextPartNumberMarker>1</NextPartNumberMarker>"
		  P("1", "5", "\"a\"") PE, 0, "next=0\npart 1 size=5 etag=[a]\n" },
		{ "no parts", PB NT PE, 0, "next=0\n" },
		{ "part 10000", PB NT P("9999", "1", "a") P("10000", "0", "b") PE, 0,
		  "next=0\npart 9999 size=1 etag=[a]\npart 10000 size=0 etag=[b]\n" },
		{ "missing IsTruncated", PB P("1", "5", "a") PE, -EIO, NULL },
		{ "truncated without marker", PB "<IsTruncated>true</IsTruncated>" P("1", "5", "a") PE,
		  -EIO, NULL },
		{ "marker behind the last part", PB "<IsTruncated>true</IsTruncated>"
		  "<NextPartNumberMarker>1</NextPartNumberMarker>" P("1", "5", "a") P("2", "5", "b") PE,
		  -EIO, NULL },
		{ "marker 0", PB "<IsTruncated>true</IsTruncated>"
		  "<NextPartNumberMarker>0</NextPartNumberMarker>" PE, -EIO, NULL },
		{ "parts out of order", PB NT P("2", "5", "a") P("1", "5", "b") PE, -EIO, NULL },
		{ "duplicate parts", PB NT P("1", "5", "a") P("1", "5", "b") PE, -EIO, NULL },
		{ "part 0", PB NT P("0", "5", "a") PE, -EIO, NULL },
		{ "part 10001", PB NT P("10001", "5", "a") PE, -EIO, NULL },
		{ "negative part", PB NT P("-1", "5", "a") PE, -EIO, NULL },
		{ "missing size", PB NT "<Part><PartNumber>1</PartNumber><ETag>a</ETag></Part>" PE,
		  -EIO, NULL },
		{ "missing etag", PB NT "<Part><PartNumber>1</PartNumber><Size>1</Size></Part>" PE,
		  -EIO, NULL },
		{ "bad size", PB NT P("1", "-5", "a") PE, -EIO, NULL },
		{ "Error document", S3RVER_ERROR, -EIO, NULL },
	};
	struct objfs_part *parts = NULL;
	size_t n = 0;

	(void)state;
	run_text_cases(cases, N(cases), run_parts);
	/* next_marker may be NULL */
	assert_int_equal(s3xml_parse_parts(AWS_PARTS, strlen(AWS_PARTS), &parts, &n, NULL, NULL), 0);
	assert_int_equal(n, 2);
	free(parts);
}

#define UB "<ListMultipartUploadsResult>"
#define UE "</ListMultipartUploadsResult>"

static void test_uploads(void **state)
{
	static const struct text_case cases[] = {
		{ "aws", AWS_UPLOADS, 0,
		  "next=[my-movie.m2ts] [YW55IGlkZWEgd2h5IGVsdmluZydzIHVwbG9hZCBmYWlsZWQ]\n"
		  "upload [my-divisor] [XMgbGlrZSBlbHZpbmcncyBub3QgaGF2aW5nIG11Y2ggbHVjaw] 1289422113000000000\n"
		  "upload [my-movie.m2ts] [VXBsb2FkIElEIGZvciBlbHZpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA] 1289422173000000000\n" },
		{ "not truncated drops markers", UB NT "<NextKeyMarker>k</NextKeyMarker>"
		  "<Upload><Key>k</Key><UploadId>u</UploadId></Upload>" UE, 0,
		  "next=[(null)] [(null)]\nupload [k] [u] 0\n" },
		{ "same key twice", UB NT "<Upload><Key>k</Key><UploadId>u2</UploadId></Upload>"
		  "<Upload><Key>k</Key><UploadId>u1</UploadId></Upload>" UE, 0,
		  "next=[(null)] [(null)]\nupload [k] [u2] 0\nupload [k] [u1] 0\n" },
		{ "empty upload id marker", UB "<IsTruncated>true</IsTruncated><NextKeyMarker>k</NextKeyMarker>"
		  "<NextUploadIdMarker></NextUploadIdMarker>" UE, 0, "next=[k] [(null)]\n" },
		{ "url encoding", UB "<EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>"
		  "<NextKeyMarker>a+b%2B</NextKeyMarker><NextUploadIdMarker>x+y</NextUploadIdMarker>"
		  "<Upload><Key>a+b%2B</Key><UploadId>x+y</UploadId></Upload>" UE, 0,
		  "next=[a b+] [x+y]\nupload [a b+] [x+y] 0\n" },
		{ "none", UB NT UE, 0, "next=[(null)] [(null)]\n" },
		{ "truncated without NextKeyMarker", UB "<IsTruncated>true</IsTruncated>" UE, -EIO, NULL },
		{ "missing UploadId", UB NT "<Upload><Key>k</Key></Upload>" UE, -EIO, NULL },
		{ "missing Key", UB NT "<Upload><UploadId>u</UploadId></Upload>" UE, -EIO, NULL },
		{ "bad Initiated", UB NT "<Upload><Key>k</Key><UploadId>u</UploadId>"
		  "<Initiated>yesterday</Initiated></Upload>" UE, -EIO, NULL },
		{ "bad escape", UB "<EncodingType>url</EncodingType>" NT
		  "<Upload><Key>%</Key><UploadId>u</UploadId></Upload>" UE, -EIO, NULL },
		{ "wrong root", AWS_PARTS, -EIO, NULL },
	};

	(void)state;
	run_text_cases(cases, N(cases), run_uploads);
	s3xml_uploads_clear(NULL);
}

/* ---- DeleteResult ---------------------------------------------------------------- */

struct delete_case {
	const char *name;
	const char *body;
	const char *keys[5];           /* until NULL */
	int rc;
	int results[5];
};

#define DB "<DeleteResult>"
#define DE "</DeleteResult>"
#define DEL(k) "<Deleted><Key>" k "</Key></Deleted>"
#define DERR(k, c) "<Error><Key>" k "</Key><Code>" c "</Code><Message>m</Message></Error>"

static const struct delete_case delete_cases[] = {
	{ "aws", AWS_DELETE, { "a", "b&c", "d" }, 0, { 0, -EACCES, -EIO } },
	{ "s3rver", S3RVER_DELETE, { "a", "b&c" }, 0, { 0, -EIO } },
	{ "s3rver, escaped twice", S3RVER_DELETE_ESCAPED, { "a&b<c", "nope" }, 0, { -EIO, 0 } },
	{ "quiet-style: only errors", DB DERR("x", "InternalError") DE, { "x", "y" }, 0,
	  { -EIO, -EIO } },
	{ "empty result", DB DE, { "x" }, 0, { -EIO } },
	{ "keys in any order", DB DEL("c") DEL("a") DEL("b") DE, { "a", "b", "c" }, 0, { 0, 0, 0 } },
	{ "duplicate request keys", DB DEL("a") DE, { "a", "b", "a" }, 0, { 0, -EIO, 0 } },
	{ "error wins over deleted", DB DEL("a") DERR("a", "AccessDenied") DERR("b", "SlowDown")
	  DEL("b") DE, { "a", "b" }, 0, { -EACCES, -EIO } },
	{ "exact bytes, no decoding", DB DEL("a%20b") DEL("a b ") DE, { "a b", "a%20b", "a b " }, 0,
	  { -EIO, 0, 0 } },
	{ "character references", DB DEL("t&#9;&#13;&lt;") DE, { "t\t\r<" }, 0, { 0 } },
	{ "no keys", DB DEL("a") DE, { 0 }, 0, { 0 } },
	{ "Error document", S3RVER_ERROR, { "a", "b" }, -EIO, { -EIO, -EIO } },
	{ "Deleted without Key", DB DEL("a") "<Deleted></Deleted>" DE, { "a" }, -EIO, { -EIO } },
	{ "Error without Code", DB "<Error><Key>a</Key></Error>" DE, { "a" }, -EIO, { -EIO } },
	{ "Deleted with two Keys", DB "<Deleted><Key>a</Key><Key>b</Key></Deleted>" DE, { "a", "b" },
	  -EIO, { -EIO, -EIO } },
	{ "cut", DB DEL("a"), { "a" }, -EIO, { -EIO } },
	{ "empty", "", { "a" }, -EIO, { -EIO } },
};

static void test_delete(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(delete_cases); i++) {
		const struct delete_case *c = &delete_cases[i];
		struct objfs_err err = { "" };
		int res[5] = { 7, 7, 7, 7, 7 }, rc;
		size_t n = 0, len = strlen(c->body);
		char *b = exact(c->body, len);

		while (n < N(c->keys) && c->keys[n])
			n++;
		rc = s3xml_parse_delete(b, len, c->keys, n, res, &err);
		free(b);
		if (rc != c->rc)
			fail_msg("%s: rc %d, want %d (%s)", c->name, rc, c->rc, err.msg);
		for (size_t j = 0; j < n; j++)
			if (res[j] != c->results[j])
				fail_msg("%s: key %zu [%s]: %d, want %d", c->name, j, c->keys[j], res[j],
					 c->results[j]);
		if (n < N(res))
			assert_int_equal(res[n], 7);
		/* a failure, or a per-key failure, is explained */
		for (size_t j = 0; j < n; j++)
			if (res[j] && !err.msg[0])
				fail_msg("%s: no message", c->name);
	}
}

/* ---- builders ---------------------------------------------------------------------- */

#define BNS " xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\""

/* rc, out and outlen of a builder call made before (not in the arguments:
 * their evaluation order is unspecified). */
static void check_built(const char *name, int rc, char *out, size_t outlen, const char *want)
{
	if (rc)
		fail_msg("%s: rc %d", name, rc);
	assert_non_null(out);
	if (strlen(out) != outlen || strcmp(out, want))
		fail_msg("%s: got\n%s\nwant\n%s", name, out, want);
	free(out);
}

static void test_build_complete(void **state)
{
	struct objfs_part parts[3] = {
		{ 1, 5, "a54357aff0632cce46d942af68356b38" },
		{ 2, 5, "0c78aef83f66abc1fa1e8477f296d394" },
		{ 10000, 1, "e&<x>'" },
	};
	struct objfs_part bad[2];
	char *out = (char *)"junk";
	size_t outlen = 99;
	int rc;

	(void)state;
	rc = s3xml_build_complete(parts, 3, &out, &outlen);
	check_built("complete", rc, out, outlen,
		    DECL "<CompleteMultipartUpload" BNS ">"
		    "<Part><PartNumber>1</PartNumber><ETag>\"a54357aff0632cce46d942af68356b38\"</ETag></Part>"
		    "<Part><PartNumber>2</PartNumber><ETag>\"0c78aef83f66abc1fa1e8477f296d394\"</ETag></Part>"
		    "<Part><PartNumber>10000</PartNumber><ETag>\"e&amp;&lt;x&gt;&apos;\"</ETag></Part>"
		    "</CompleteMultipartUpload>");

	struct {
		const char *name;
		int n0, n1;
		const char *e0, *e1;
		size_t nparts;
	} cases[] = {
		{ "no parts", 1, 2, "a", "b", 0 },
		{ "part 0", 0, 2, "a", "b", 2 },
		{ "part 10001", 1, 10001, "a", "b", 2 },
		{ "negative part", -1, 2, "a", "b", 2 },
		{ "descending", 2, 1, "a", "b", 2 },
		{ "duplicate", 1, 1, "a", "b", 2 },
		{ "empty etag", 1, 2, "a", "", 2 },
		{ "quoted etag", 1, 2, "\"a\"", "b", 2 },
		{ "etag with a line feed", 1, 2, "a\nb", "b", 2 },
		{ "etag not UTF-8", 1, 2, "a\xff", "b", 2 },
	};
	for (size_t i = 0; i < N(cases); i++) {
		memset(bad, 0, sizeof(bad));
		bad[0].number = cases[i].n0;
		bad[1].number = cases[i].n1;
		snprintf(bad[0].etag, sizeof(bad[0].etag), "%s", cases[i].e0);
		snprintf(bad[1].etag, sizeof(bad[1].etag), "%s", cases[i].e1);
		out = (char *)"junk";
		outlen = 99;
		if (s3xml_build_complete(bad, cases[i].nparts, &out, &outlen) != -EINVAL)
			fail_msg("%s: not -EINVAL", cases[i].name);
		assert_null(out);
		assert_int_equal(outlen, 0);
	}
	/* an etag that fills its array without a NUL */
	memset(bad, 0, sizeof(bad));
	bad[0].number = 1;
	memset(bad[0].etag, 'e', sizeof(bad[0].etag));
	assert_int_equal(s3xml_build_complete(bad, 1, &out, &outlen), -EINVAL);
	assert_int_equal(s3xml_build_complete(NULL, 1, &out, &outlen), -EINVAL);
}

/* Reads the <Key> texts of a Delete body back with libxml2. */
static size_t read_back_keys(const char *body, size_t len, char **keys, size_t max)
{
	xmlDoc *doc = xmlReadMemory(body, (int)len, NULL, NULL, XML_PARSE_NONET);
	xmlNode *root;
	size_t n = 0;

	assert_non_null(doc);
	root = xmlDocGetRootElement(doc);
	assert_string_equal((const char *)root->name, "Delete");
	for (xmlNode *o = root->children; o; o = o->next) {
		if (o->type != XML_ELEMENT_NODE || strcmp((const char *)o->name, "Object"))
			continue;
		for (xmlNode *k = o->children; k; k = k->next) {
			if (k->type == XML_ELEMENT_NODE && !strcmp((const char *)k->name, "Key")) {
				xmlChar *t = xmlNodeGetContent(k);

				assert_true(n < max);
				keys[n++] = strdup((const char *)t);
				xmlFree(t);
			}
		}
	}
	xmlFreeDoc(doc);
	return n;
}

static void test_build_delete(void **state)
{
	static const char *const keys[] = {
		"plain", "a&b<c>\"d'e", "tab\there", "lf\nhere", "cr\rhere", "crlf\r\n",
		" lead and trail ", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "del\x7f",
		"]]>", "&amp;", "\xef\xbf\xbd",
	};
	static const char *const bad[] = {
		"", "a\x01", "\x1f", "a\x0b", "\xff", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80",
		"\xef\xbf\xbe", "\xef\xbf\xbf", "\xf4\x90\x80\x80", "\xe2\x82", "\xc3",
		"\x80", "\xf8\x88\x80\x80\x80",
	};
	const char *one[1], *many[1001];
	char *out = NULL, *back[N(keys)], longkey[OBJFS_KEY_MAX + 2];
	size_t outlen = 0, n;
	int rc;

	(void)state;
	rc = s3xml_build_delete((const char *const[]){ "x/y z" }, 1, &out, &outlen);
	check_built("delete one", rc, out, outlen,
		    DECL "<Delete" BNS "><Quiet>false</Quiet><Object><Key>x/y z</Key></Object></Delete>");
	assert_int_equal(s3xml_build_delete(keys, N(keys), &out, &outlen), 0);
	assert_non_null(strstr(out, "<Key>a&amp;b&lt;c&gt;&quot;d&apos;e</Key>"));
	assert_non_null(strstr(out, "<Key>cr&#13;here</Key>"));
	assert_non_null(strstr(out, "<Key>tab&#9;here</Key>"));
	assert_non_null(strstr(out, "<Key>]]&gt;</Key>"));
	/* what a server's XML parser reads back is exactly the keys */
	n = read_back_keys(out, outlen, back, N(back));
	assert_int_equal(n, N(keys));
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(back[i], keys[i]);
		free(back[i]);
	}
	free(out);

	for (size_t i = 0; i < N(bad); i++) {
		one[0] = bad[i];
		out = (char *)"junk";
		outlen = 9;
		if (s3xml_build_delete(one, 1, &out, &outlen) != -EINVAL)
			fail_msg("bad key %zu not -EINVAL", i);
		assert_null(out);
		assert_int_equal(outlen, 0);
	}
	/* a bad key among good ones fails the whole body */
	one[0] = NULL;
	assert_int_equal(s3xml_build_delete(one, 1, &out, &outlen), -EINVAL);
	assert_int_equal(s3xml_build_delete(NULL, 1, &out, &outlen), -EINVAL);
	assert_int_equal(s3xml_build_delete(keys, 0, &out, &outlen), -EINVAL);

	/* key length: OBJFS_KEY_MAX bytes pass, one more is -ENAMETOOLONG */
	memset(longkey, 'k', sizeof(longkey));
	longkey[OBJFS_KEY_MAX] = '\0';
	one[0] = longkey;
	assert_int_equal(s3xml_build_delete(one, 1, &out, &outlen), 0);
	free(out);
	longkey[OBJFS_KEY_MAX] = 'k';
	longkey[OBJFS_KEY_MAX + 1] = '\0';
	assert_int_equal(s3xml_build_delete(one, 1, &out, &outlen), -ENAMETOOLONG);
	assert_null(out);

	/* 1000 keys of the worst escaping fit, 1001 keys do not */
	memset(longkey, '"', OBJFS_KEY_MAX);
	longkey[OBJFS_KEY_MAX] = '\0';
	for (size_t i = 0; i < N(many); i++)
		many[i] = longkey;
	assert_int_equal(s3xml_build_delete(many, 1000, &out, &outlen), 0);
	assert_true(outlen > 1000 * OBJFS_KEY_MAX * 6);
	assert_true(outlen <= S3XML_MAX_BODY);
	free(out);
	assert_int_equal(s3xml_build_delete(many, 1001, &out, &outlen), -EINVAL);
	assert_null(out);
}

static void test_build_create_bucket(void **state)
{
	char *out = (char *)"junk";
	size_t outlen = 9;
	int rc;

	(void)state;
	assert_int_equal(s3xml_build_create_bucket(NULL, &out, &outlen), 0);
	assert_null(out);
	assert_int_equal(outlen, 0);
	out = (char *)"junk";
	assert_int_equal(s3xml_build_create_bucket("us-east-1", &out, &outlen), 0);
	assert_null(out);
	out = (char *)"junk";
	assert_int_equal(s3xml_build_create_bucket("", &out, &outlen), 0);
	assert_null(out);
	rc = s3xml_build_create_bucket("eu-west-1", &out, &outlen);
	check_built("eu-west-1", rc, out, outlen,
		    DECL "<CreateBucketConfiguration" BNS "><LocationConstraint>eu-west-1"
		    "</LocationConstraint></CreateBucketConfiguration>");
	rc = s3xml_build_create_bucket("a<b", &out, &outlen);
	check_built("escaped", rc, out, outlen,
		    DECL "<CreateBucketConfiguration" BNS "><LocationConstraint>a&lt;b"
		    "</LocationConstraint></CreateBucketConfiguration>");
	assert_int_equal(s3xml_build_create_bucket("x\x01", &out, &outlen), -EINVAL);
	assert_null(out);
	assert_int_equal(s3xml_build_create_bucket(LONG64 "x", &out, &outlen), -EINVAL);
	assert_null(out);
}

/* ---- codes and times ----------------------------------------------------------------- */

static void test_code_errno(void **state)
{
	static const struct {
		const char *code;
		int want;
	} cases[] = {
		{ "NoSuchKey", -ENOENT }, { "NoSuchBucket", -ENOENT }, { "NoSuchUpload", -ENOENT },
		{ "NoSuchVersion", -ENOENT },
		{ "AccessDenied", -EACCES }, { "InvalidAccessKeyId", -EACCES },
		{ "SignatureDoesNotMatch", -EACCES }, { "RequestTimeTooSkewed", -EACCES },
		{ "ExpiredToken", -EACCES }, { "InvalidToken", -EACCES }, { "AccountProblem", -EACCES },
		{ "AllAccessDisabled", -EACCES },
		{ "PreconditionFailed", -ESTALE },
		{ "BucketAlreadyOwnedByYou", 0 }, { "BucketAlreadyExists", -EEXIST },
		{ "BucketNotEmpty", -ENOTEMPTY },
		{ "EntityTooLarge", -EFBIG }, { "KeyTooLongError", -ENAMETOOLONG },
		{ "InvalidArgument", -EINVAL }, { "InvalidRequest", -EINVAL },
		{ "InvalidRange", -EINVAL }, { "InvalidBucketName", -EINVAL },
		{ "SlowDown", -EIO }, { "InternalError", -EIO }, { "ServiceUnavailable", -EIO },
		{ "RequestTimeout", -EIO },
		{ "NotImplemented", -1234 }, { "nosuchkey", -1234 }, { "NoSuchKey ", -1234 },
		{ "", -1234 }, { NULL, -1234 },
	};

	(void)state;
	for (size_t i = 0; i < N(cases); i++)
		if (s3xml_code_errno(cases[i].code, -1234) != cases[i].want)
			fail_msg("%s: %d, want %d", cases[i].code ? cases[i].code : "(null)",
				 s3xml_code_errno(cases[i].code, -1234), cases[i].want);
}

static void test_parse_time(void **state)
{
	static const struct {
		const char *s;
		int64_t want;
	} cases[] = {
		{ "2009-10-12T17:50:30.000Z", 1255369830 * SEC },
		{ "2009-10-12T17:50:30Z", 1255369830 * SEC },
		{ "2009-10-12t17:50:30z", 1255369830 * SEC },
		{ "2009-10-12T19:50:30+02:00", 1255369830 * SEC },
		{ "2009-10-12T15:20:30-02:30", 1255369830 * SEC },
		{ "2023-11-14T22:13:20.123Z", 1700000000 * SEC + 123000000 },
		{ "1970-01-01T00:00:00Z", 0 },
		{ "1970-01-01T00:00:00.123456789Z", 123456789 },
		{ "1970-01-01T00:00:00.1Z", 100000000 },
		{ "1970-01-01T00:00:00.1234567891234Z", 123456789 },
		{ "1969-12-31T23:59:59-00:01", 59 * SEC },
		{ "2000-02-29T00:00:00Z", 951782400 * SEC },
		{ "2016-12-31T23:59:60Z", 1483228800 * SEC },
		{ "2262-04-11T23:47:15Z", 9223372035 * SEC },
		{ "2262-04-11T23:47:15.999999999Z", 9223372035 * SEC + 999999999 },
		/* malformed or out of range */
		{ "2262-04-11T23:47:16Z", -1 },
		{ "9999-12-31T23:59:59Z", -1 },
		{ "1969-12-31T23:59:59Z", -1 },
		{ "1970-01-01T00:30:00+01:00", -1 },
		{ "", -1 },
		{ "2009-10-12", -1 },
		{ "2009-10-12T17:50:30", -1 },
		{ "2009-10-12T17:50:30.000", -1 },
		{ "2009-10-12 17:50:30Z", -1 },
		{ "2009-10-12T17:50Z", -1 },
		{ "2009-13-01T00:00:00Z", -1 },
		{ "2009-00-01T00:00:00Z", -1 },
		{ "2009-01-00T00:00:00Z", -1 },
		{ "2009-02-29T00:00:00Z", -1 },
		{ "1900-02-29T00:00:00Z", -1 },
		{ "2009-04-31T00:00:00Z", -1 },
		{ "2009-10-12T24:00:00Z", -1 },
		{ "2009-10-12T17:60:00Z", -1 },
		{ "2009-10-12T17:50:61Z", -1 },
		{ "2009-10-12T17:50:30.Z", -1 },
		{ "2009-10-12T17:50:30.000ZZ", -1 },
		{ "2009-10-12T17:50:30.000Z ", -1 },
		{ " 2009-10-12T17:50:30.000Z", -1 },
		{ "2009-10-12T17:50:30+0200", -1 },
		{ "2009-10-12T17:50:30+24:00", -1 },
		{ "2009-10-12T17:50:30+02:60", -1 },
		{ "+2009-10-12T17:50:30Z", -1 },
		{ "2009-1-12T17:50:30Z", -1 },
		{ "2009-10-12T17:50:3Z", -1 },
		{ "Mon, 12 Oct 2009 17:50:30 GMT", -1 },
		{ "2009-10-12T17:50:30.-1Z", -1 },
	};

	(void)state;
	for (size_t i = 0; i < N(cases); i++)
		if (s3xml_parse_time(cases[i].s) != cases[i].want)
			fail_msg("\"%s\": %lld, want %lld", cases[i].s,
				 (long long)s3xml_parse_time(cases[i].s), (long long)cases[i].want);
	assert_int_equal(s3xml_parse_time(NULL), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_list_good),
		cmocka_unit_test(test_list_bad),
		cmocka_unit_test(test_list_limits),
		cmocka_unit_test(test_cuts),
		cmocka_unit_test(test_mutations),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_error),
		cmocka_unit_test(test_initiate),
		cmocka_unit_test(test_etag_result),
		cmocka_unit_test(test_parts),
		cmocka_unit_test(test_uploads),
		cmocka_unit_test(test_delete),
		cmocka_unit_test(test_build_complete),
		cmocka_unit_test(test_build_delete),
		cmocka_unit_test(test_build_create_bucket),
		cmocka_unit_test(test_code_errno),
		cmocka_unit_test(test_parse_time),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
