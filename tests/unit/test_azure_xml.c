/*
 * Unit tests for src/azure_xml.c: List Blobs, Get Block List and error
 * bodies (good, malformed, truncated), and the Put Block List builder.
 *
 * AZURITE_LIST, AZURITE_ERROR and AZURITE_BLOCKS are byte for byte what
 * Azurite 3.37.0 (tests/servers) answered.  Every body is parsed from a
 * buffer of exactly its length, so AddressSanitizer catches a parser that
 * reads past the end; every prefix of the good bodies must fail cleanly.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <cmocka.h>

#include "azure_xml.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define DECL "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>"

static const char AZURITE_LIST[] =
	DECL "<EnumerationResults ServiceEndpoint=\"http://127.0.0.1:37551/objfstest\" "
	"ContainerName=\"cont\"><Prefix/><Marker/><MaxResults>2</MaxResults><Delimiter>/"
	"</Delimiter><Blobs><BlobPrefix><Name>dir/</Name></BlobPrefix><Blob><Name>a&amp;b "
	"&lt;c&gt;.txt</Name><Properties><Creation-Time>Mon, 23 Nov 2026 16:03:33 GMT"
	"</Creation-Time><Last-Modified>Mon, 23 Nov 2026 16:03:33 GMT</Last-Modified><Etag>"
	"0x1CE250315B3D000</Etag><Content-Length>5</Content-Length><Content-Type>text/plain"
	"</Content-Type><Content-MD5>XUFAKrxLKna5cZ2REBfFkg==</Content-MD5><BlobType>BlockBlob"
	"</BlobType><LeaseStatus>unlocked</LeaseStatus><LeaseState>available</LeaseState>"
	"<ServerEncrypted>true</ServerEncrypted><AccessTier>Hot</AccessTier><AccessTierInferred>"
	"true</AccessTierInferred><AccessTierChangeTime>Mon, 23 Nov 2026 16:03:33 GMT"
	"</AccessTierChangeTime></Properties><Metadata><mode>33188</mode><Mtime>1600000000"
	"</Mtime></Metadata></Blob></Blobs><NextMarker>dir/x</NextMarker></EnumerationResults>";

static const char AZURITE_ERROR[] =
	DECL "\n<Error>\n  <Code>BlobNotFound</Code>\n  <Message>The specified blob does not "
	"exist.\nRequestId:a19c8280-9302-48b4-8c19-be38eb76a277\nTime:2026-11-23T16:03:33.267Z"
	"</Message>\n</Error>";

static const char AZURITE_BLOCKS[] =
	DECL "<BlockList><CommittedBlocks/><UncommittedBlocks><Block><Name>QUJD</Name><Size>3"
	"</Size></Block></UncommittedBlocks></BlockList>";

/* As Azure documents it: BOM, indentation, quoted ETag, an encoded name,
 * a last page (empty NextMarker), an invalid metadata name. */
static const char AZURE_DOC_LIST[] =
	"\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
	"<EnumerationResults ServiceEndpoint=\"https://acct.blob.core.windows.net/\" "
	"ContainerName=\"c\">\n"
	"  <Prefix>p/</Prefix>\n  <MaxResults>1000</MaxResults>\n"
	"  <Blobs>\n"
	"    <Blob>\n      <Name>p/one</Name>\n      <Properties>\n"
	"        <Last-Modified>Sat, 01 Jan 2000 00:00:00 GMT</Last-Modified>\n"
	"        <Etag>\"0x8D1\"</Etag>\n        <Content-Length>0</Content-Length>\n"
	"      </Properties>\n"
	"      <Metadata>\n        <x-ms-invalid-name>bad-name</x-ms-invalid-name>\n"
	"        <UID>0</UID>\n      </Metadata>\n    </Blob>\n"
	"    <Blob>\n      <Name Encoded=\"true\">p/ctl%01%C3%BC</Name>\n"
	"      <Properties><Content-Length>12345678901</Content-Length></Properties>\n"
	"    </Blob>\n"
	"    <BlobPrefix><Name>p/sub dir/</Name></BlobPrefix>\n"
	"  </Blobs>\n  <NextMarker />\n</EnumerationResults>\n";

static char *exact(const char *s, size_t len)
{
	char *p = malloc(len ? len : 1);

	assert_non_null(p);
	memcpy(p, s, len);
	return p;
}

static int parse_list(const char *body, size_t len, struct objfs_listing *l,
		      struct objfs_err *e)
{
	char *b = exact(body, len);
	int rc;

	memset(e, 0, sizeof(*e));
	rc = azure_xml_parse_list(b, len, 1, l, e);
	free(b);
	return rc;
}

static void test_list_azurite(void **state)
{
	struct objfs_listing l;
	struct objfs_err e;

	(void)state;
	assert_int_equal(parse_list(AZURITE_LIST, sizeof(AZURITE_LIST) - 1, &l, &e), 0);
	assert_int_equal(l.nobjects, 1);
	assert_string_equal(l.objects[0].key, "a&b <c>.txt");
	assert_int_equal(l.objects[0].size, 5);
	assert_string_equal(l.objects[0].etag, "0x1CE250315B3D000");
	assert_string_equal(l.objects[0].content_type, "text/plain");
	assert_int_equal(l.objects[0].mtime_ns, 1795449813LL * 1000000000LL);
	assert_int_equal(l.objects[0].has_meta, 1);
	assert_int_equal(l.objects[0].nmeta, 2);
	assert_string_equal(objfs_objinfo_meta(&l.objects[0], "mode"), "33188");
	/* metadata names are reported lower-case */
	assert_string_equal(objfs_objinfo_meta(&l.objects[0], "mtime"), "1600000000");
	assert_int_equal(l.nprefixes, 1);
	assert_string_equal(l.prefixes[0], "dir/");
	assert_string_equal(l.next_token, "dir/x");
	objfs_listing_clear(&l);
}

static void test_list_documented(void **state)
{
	struct objfs_listing l;
	struct objfs_err e;

	(void)state;
	assert_int_equal(parse_list(AZURE_DOC_LIST, sizeof(AZURE_DOC_LIST) - 1, &l, &e), 0);
	assert_int_equal(l.nobjects, 2);
	assert_string_equal(l.objects[0].key, "p/one");
	assert_string_equal(l.objects[0].etag, "0x8D1");
	assert_int_equal(l.objects[0].mtime_ns, 946684800LL * 1000000000LL);
	assert_int_equal(l.objects[0].nmeta, 1);
	assert_string_equal(objfs_objinfo_meta(&l.objects[0], "uid"), "0");
	/* no Content-Type: the default */
	assert_string_equal(l.objects[0].content_type, "application/octet-stream");
	assert_string_equal(l.objects[1].key, "p/ctl\x01\xc3\xbc");
	assert_int_equal(l.objects[1].size, 12345678901ULL);
	assert_int_equal(l.nprefixes, 1);
	assert_string_equal(l.prefixes[0], "p/sub dir/");
	assert_null(l.next_token);
	objfs_listing_clear(&l);
}

static void test_list_bad(void **state)
{
#define LH "<EnumerationResults><Blobs>"
#define LT "</Blobs><NextMarker/></EnumerationResults>"
#define B(name, size) "<Blob><Name>" name "</Name><Properties><Content-Length>" size \
		      "</Content-Length></Properties></Blob>"
	static const struct { const char *body; const char *msg; } cases[] = {
		{ "", "empty" },
		{ "   \n", "empty" },
		{ "not xml", "malformed" },
		{ "<EnumerationResults><Blobs>", "malformed" },
		{ LH B("a", "1") "</Blobs>", "malformed" },
		{ "<Error><Code>X</Code></Error>", "<EnumerationResults> expected" },
		{ "<EnumerationResults><NextMarker/></EnumerationResults>", "without <Blobs>" },
		{ "<EnumerationResults><Blobs/></EnumerationResults>", "without <NextMarker>" },
		{ LH B("", "1") LT, "empty name" },
		{ LH "<Blob><Properties><Content-Length>1</Content-Length></Properties></Blob>" LT,
		  "without <Name>" },
		{ LH "<Blob><Name>a</Name></Blob>" LT, "without <Properties>" },
		{ LH "<Blob><Name>a</Name><Properties/></Blob>" LT, "without <Content-Length>" },
		{ LH B("a", "-1") LT, "not a size" },
		{ LH B("a", "1x") LT, "not a size" },
		{ LH B("a", "") LT, "not a size" },
		{ LH B("a", "99999999999999999999") LT, "not a size" },
		{ LH B("a<b/>", "1") LT, "markup" },
		{ LH B("a<!--c-->b", "1") LT, "markup" },
		{ LH B("a<![CDATA[b]]>", "1") LT, "markup" },
		{ LH "<Blob><Name Encoded=\"true\">a%zz</Name><Properties><Content-Length>1"
		  "</Content-Length></Properties></Blob>" LT, "bad escape" },
		{ LH "<Blob><Name Encoded=\"true\">a%00</Name><Properties><Content-Length>1"
		  "</Content-Length></Properties></Blob>" LT, "bad escape" },
		{ LH "<Blob><Name Encoded=\"true\">a%4</Name><Properties><Content-Length>1"
		  "</Content-Length></Properties></Blob>" LT, "bad escape" },
		{ LH "<BlobPrefix/>" LT, "without <Name>" },
		{ LH "<Blob><Name>a</Name><Properties><Content-Length>1</Content-Length><Etag>a\"b"
		  "</Etag></Properties></Blob>" LT, "Etag" },
		{ "<!DOCTYPE x [<!ENTITY e \"boom\">]><EnumerationResults><Blobs>" B("&e;", "1") LT,
		  "document type" },
		{ LH B("&unknown;", "1") LT, "malformed" },
		{ LH B("a", "1") LT "<extra/>", "malformed" },
	};

	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		struct objfs_listing l;
		struct objfs_err e;
		int rc = parse_list(cases[i].body, strlen(cases[i].body), &l, &e);

		if (rc != -EIO)
			fail_msg("case %zu accepted (rc %d): %s", i, rc, cases[i].body);
		if (!strstr(e.msg, cases[i].msg))
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, e.msg, cases[i].msg);
		assert_null(l.objects);
		assert_null(l.prefixes);
		assert_null(l.next_token);
		assert_int_equal(l.nobjects + l.nprefixes, 0);
	}
	/* a NUL inside the body */
	{
		static const char nul[] = LH B("a", "1") LT;
		char *b = exact(nul, sizeof(nul));
		struct objfs_listing l;
		struct objfs_err e;

		b[10] = '\0';
		assert_int_equal(azure_xml_parse_list(b, sizeof(nul) - 1, 1, &l, &e), -EIO);
		free(b);
	}
}

/* Every prefix of a good body fails cleanly; only the whole body (or one
 * cut in trailing blanks) parses, and then completely. */
static void test_cuts(void **state)
{
	static const char *const bodies[] = { AZURITE_LIST, AZURE_DOC_LIST };

	(void)state;
	for (size_t k = 0; k < N(bodies); k++) {
		size_t len = strlen(bodies[k]), end = len;

		while (end && strchr(" \n", bodies[k][end - 1]))
			end--;
		for (size_t n = 0; n < len; n++) {
			struct objfs_listing l;
			struct objfs_err e;
			int rc = parse_list(bodies[k], n, &l, &e);

			if (n < end && rc != -EIO)
				fail_msg("body %zu cut at %zu of %zu accepted", k, n, len);
			if (n >= end) {
				assert_int_equal(rc, 0);
				assert_true(l.nobjects >= 1);
			}
			if (rc)
				assert_true(e.msg[0] != '\0');
			objfs_listing_clear(&l);
		}
	}
}

static void test_error(void **state)
{
	static const struct { const char *body; int rc; const char *code, *msg; } cases[] = {
		{ AZURITE_ERROR, 0, "BlobNotFound", "The specified blob does not exist." },
		{ "\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>"
		  "AuthenticationFailed</Code><Message>Server failed to authenticate the request."
		  "</Message><AuthenticationErrorDetail>The MAC signature found in the HTTP request "
		  "'x' is not the same</AuthenticationErrorDetail></Error>", 0,
		  "AuthenticationFailed", "Server failed to authenticate the request." },
		{ "<Error><Code>ConditionNotMet</Code></Error>", 0, "ConditionNotMet", "" },
		{ "<Error><Code></Code></Error>", -EIO, "", "" },
		{ "<Error><Message>x</Message></Error>", -EIO, "", "" },
		{ "<EnumerationResults/>", -EIO, "", "" },
		{ "<Error><Code>X", -EIO, "", "" },
		{ "", -EIO, "", "" },
	};

	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		char code[64] = "junk", msg[256] = "junk", *b = exact(cases[i].body,
								       strlen(cases[i].body));
		int rc = azure_xml_parse_error(b, strlen(cases[i].body), code, msg);

		free(b);
		if (rc != cases[i].rc)
			fail_msg("case %zu: rc %d", i, rc);
		assert_string_equal(code, cases[i].code);
		assert_string_equal(msg, cases[i].msg);
	}
}

static void test_blocklist(void **state)
{
	static const char two[] =
		"<BlockList><CommittedBlocks><Block><Name>QUFB</Name><Size>10</Size></Block>"
		"</CommittedBlocks><UncommittedBlocks><Block><Name>QkJC</Name><Size>4194304</Size>"
		"</Block><Block><Name>Q0ND</Name><Size>1</Size></Block></UncommittedBlocks>"
		"</BlockList>";
	static const char *const bad[] = {
		"<BlockList><UncommittedBlocks><Block><Name>QQ==</Name></Block>"
		"</UncommittedBlocks></BlockList>",
		"<BlockList><UncommittedBlocks><Block><Size>1</Size></Block>"
		"</UncommittedBlocks></BlockList>",
		"<BlockList><UncommittedBlocks><Block><Name>QQ==</Name><Size>x</Size></Block>"
		"</UncommittedBlocks></BlockList>",
		"<BlockList><UncommittedBlocks><Block><Name>QQ==</Name><Size>1",
		"<Blocks/>",
	};
	struct azure_block *b = NULL;
	struct objfs_err e;
	size_t n = 0;
	char *body;

	(void)state;
	body = exact(AZURITE_BLOCKS, sizeof(AZURITE_BLOCKS) - 1);
	assert_int_equal(azure_xml_parse_blocklist(body, sizeof(AZURITE_BLOCKS) - 1, &b, &n, &e), 0);
	free(body);
	assert_int_equal(n, 1);
	assert_string_equal(b[0].name, "QUJD");
	assert_int_equal(b[0].size, 3);
	assert_int_equal(b[0].committed, 0);
	azure_blocks_free(b, n);
	body = exact(two, sizeof(two) - 1);
	assert_int_equal(azure_xml_parse_blocklist(body, sizeof(two) - 1, &b, &n, &e), 0);
	free(body);
	assert_int_equal(n, 3);
	assert_int_equal(b[0].committed, 1);
	assert_string_equal(b[1].name, "QkJC");
	assert_int_equal(b[1].size, 4194304);
	assert_int_equal(b[2].committed, 0);
	azure_blocks_free(b, n);
	for (size_t i = 0; i < N(bad); i++) {
		body = exact(bad[i], strlen(bad[i]));
		b = (struct azure_block *)1;
		if (azure_xml_parse_blocklist(body, strlen(bad[i]), &b, &n, &e) != -EIO)
			fail_msg("bad block list %zu accepted", i);
		assert_null(b);
		assert_int_equal(n, 0);
		free(body);
	}
}

static void test_build_blocklist(void **state)
{
	const char *ids[] = { "QUFBLTAwMDAx", "QUFBLTAwMDAy+/==" };
	const char *bad[] = { "QUFB", "<x>" };
	char *out = NULL;
	size_t len = 0;
	struct azure_block *b = NULL;
	struct objfs_err e;
	size_t n = 0;

	(void)state;
	assert_int_equal(azure_xml_build_blocklist(ids, 2, &out, &len), 0);
	assert_string_equal(out, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<BlockList>"
			    "<Latest>QUFBLTAwMDAx</Latest><Latest>QUFBLTAwMDAy+/==</Latest>"
			    "</BlockList>\n");
	assert_int_equal(len, strlen(out));
	free(out);
	assert_int_equal(azure_xml_build_blocklist(bad, 2, &out, &len), -EINVAL);
	assert_null(out);
	/* what we build, parsed back as a (committed-less) document, is XML */
	assert_int_equal(azure_xml_build_blocklist(ids, 1, &out, &len), 0);
	assert_int_equal(azure_xml_parse_blocklist(out, len, &b, &n, &e), 0);
	assert_int_equal(n, 0);   /* <Latest> is not a listed block */
	azure_blocks_free(b, n);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_list_azurite),
		cmocka_unit_test(test_list_documented),
		cmocka_unit_test(test_list_bad),
		cmocka_unit_test(test_cuts),
		cmocka_unit_test(test_error),
		cmocka_unit_test(test_blocklist),
		cmocka_unit_test(test_build_blocklist),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
