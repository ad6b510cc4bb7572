/* Unit tests for mimetype.c (the MIME database, patterns, policy) and
 * sniff.c (libmagic). */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include "mimetype.h"
#include "objmeta.h"
#include "sniff.h"

static char db_path[64];

/* A small mime.types: comments, blanks, tabs, a multi-dot extension, an
 * extension listed twice (the last line wins), upper case, a bad line. */
static const char db_text[] =
	"# test database\n"
	"\n"
	"text/plain\t\t\t\ttxt text conf\n"
	"image/png\t\t\t\tpng\n"
	"Image/JPEG jpg JPEG jpe  # trailing comment\n"
	"application/gzip gz\n"
	"application/x-compressed-tar tar.gz tgz\n"
	"application/x-old dup\n"
	"application/x-new dup\n"
	"not-a-type ext1\n"
	"text/x-python py\n"
	"application/x-empty-line\n";

static int setup(void **state)
{
	FILE *f;

	(void)state;
	snprintf(db_path, sizeof(db_path), "/tmp/test_mimetype.%ld", (long)getpid());
	f = fopen(db_path, "w");
	if (!f || fputs(db_text, f) < 0 || fclose(f))
		return -1;
	return mimetype_load(db_path);
}

static int teardown(void **state)
{
	(void)state;
	unlink(db_path);
	mimetype_free();
	sniff_shutdown();
	return 0;
}

static const struct { const char *name, *type; } lookup_cases[] = {
	{ "a.txt", "text/plain" },
	{ "dir/sub/A.TXT", "text/plain" },
	{ "a.png", "image/png" },
	{ "a.jpg", "image/jpeg" },
	{ "a.JPEG", "image/jpeg" },
	{ "a.gz", "application/gzip" },
	{ "a.tar.gz", "application/x-compressed-tar" },   /* longest suffix first */
	{ "a.b.tar.gz", "application/x-compressed-tar" },
	{ "a.TAR.GZ", "application/x-compressed-tar" },
	{ "a.x.gz", "application/gzip" },
	{ "a.dup", "application/x-new" },                 /* last line wins */
	{ "a.py", "text/x-python" },
	{ "dir.png/file", NULL },                          /* the dot is in a directory */
	{ "noext", NULL },
	{ ".png", NULL },                                  /* a dot file, no extension */
	{ "dir/.txt", NULL },
	{ "file.", NULL },
	{ "file.ext1", NULL },                             /* from an invalid line */
	{ "file.unknown", NULL },
	{ "file.txt.bak", NULL },
	{ "", NULL },
};

static void test_lookup(void **state)
{
	(void)state;
	assert_true(mimetype_loaded());
	for (size_t i = 0; i < sizeof(lookup_cases) / sizeof(lookup_cases[0]); i++) {
		const char *got = mimetype_for_name(lookup_cases[i].name);
		const char *want = lookup_cases[i].type;

		if (want ? !got || strcmp(got, want) : got != NULL)
			fail_msg("\"%s\": got %s, want %s", lookup_cases[i].name, got ? got : "NULL",
				 want ? want : "NULL");
	}
	assert_null(mimetype_for_name(NULL));
	/* objmeta's Content-Type comes from the database, undecided otherwise */
	assert_string_equal(objfs_content_type_for("x/y.tgz"), "application/x-compressed-tar");
	assert_string_equal(objfs_content_type_for("x/y.unknown"), MIMETYPE_UNDECIDED);
}

static void test_missing_file(void **state)
{
	(void)state;
	assert_int_equal(mimetype_load("/nonexistent/mime.types"), -ENOENT);
	assert_false(mimetype_loaded());
	assert_null(mimetype_for_name("a.txt"));
	/* the built-in table takes over */
	assert_string_equal(objfs_content_type_for("a.png"), "image/png");
	assert_int_equal(mimetype_load(db_path), 0);
	assert_string_equal(mimetype_for_name("a.dup"), "application/x-new");
}

static const struct { const char *pattern; int valid; } pattern_cases[] = {
	{ "image/png", 1 }, { "image/*", 1 }, { "*/*", 1 }, { "text/x-*", 1 },
	{ "application/vnd.ms-excel", 1 }, { "*/json", 1 }, { "IMAGE/PNG", 1 },
	{ "image", 0 }, { "image/", 0 }, { "/png", 0 }, { "a/b/c", 0 }, { "image/p?g", 0 },
	{ "image/[pj]ng", 0 }, { "image/ png", 0 }, { "", 0 }, { "*", 0 }, { "text/x\\-y", 0 },
};

static void test_patterns(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(pattern_cases) / sizeof(pattern_cases[0]); i++)
		if (mimetype_pattern_valid(pattern_cases[i].pattern) != pattern_cases[i].valid)
			fail_msg("\"%s\": want valid=%d", pattern_cases[i].pattern,
				 pattern_cases[i].valid);
}

static const struct { const char *pattern, *type; int match; } match_cases[] = {
	{ "image/*", "image/png", 1 },
	{ "image/*", "IMAGE/PNG", 1 },
	{ "IMAGE/*", "image/png", 1 },
	{ "image/*", "text/plain", 0 },
	{ "*/*", "application/octet-stream", 1 },
	{ "*", "image/png", 0 },                 /* '*' does not cross the slash */
	{ "text/x-*", "text/x-python", 1 },
	{ "text/x-*", "text/plain", 0 },
	{ "*/json", "application/json", 1 },
	{ "image/png", "image/png", 1 },
	{ "image/png", "image/pngx", 0 },
};

static void test_match(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++)
		if (mimetype_match(match_cases[i].pattern, match_cases[i].type) !=
		    match_cases[i].match)
			fail_msg("%s ~ %s: want %d", match_cases[i].pattern, match_cases[i].type,
				 match_cases[i].match);
}

static void test_policy(void **state)
{
	static char img[] = "image/*", png[] = "image/png", all[] = "*/*",
		    und[] = MIMETYPE_UNDECIDED;
	char *allow_img[] = { img, NULL }, *deny_png[] = { png, NULL };
	char *allow_all[] = { all, NULL }, *deny_undecided[] = { und, NULL };
	char why[256];

	(void)state;
	assert_int_equal(mimetype_policy(NULL, NULL, "image/png", why, sizeof(why)), 1);
	assert_int_equal(mimetype_policy(allow_img, NULL, "image/jpeg", why, sizeof(why)), 1);
	assert_int_equal(mimetype_policy(allow_img, NULL, "text/plain", why, sizeof(why)), 0);
	assert_string_equal(why, "content type text/plain is not in allowed_types");
	/* denied wins over allowed */
	assert_int_equal(mimetype_policy(allow_img, deny_png, "image/png", why, sizeof(why)), 0);
	assert_string_equal(why, "content type image/png is denied by denied_types (image/png)");
	assert_int_equal(mimetype_policy(allow_all, deny_png, "image/gif", why, sizeof(why)), 1);
	/* the undecided type is an ordinary type to the lists */
	assert_int_equal(mimetype_policy(allow_img, NULL, MIMETYPE_UNDECIDED, why, sizeof(why)), 0);
	assert_int_equal(mimetype_policy(allow_all, NULL, MIMETYPE_UNDECIDED, why, sizeof(why)), 1);
	assert_int_equal(mimetype_policy(NULL, deny_undecided, MIMETYPE_UNDECIDED, why,
					 sizeof(why)), 0);
	assert_int_equal(mimetype_policy(NULL, deny_png, MIMETYPE_UNDECIDED, why, sizeof(why)), 1);
}

static void test_sniff(void **state)
{
	static const unsigned char png[] = {
		0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R',
		0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0, 0x1f, 0x15, 0xc4, 0x89,
	};
	static const char text[] = "just some words\nand a second line\n";
	char out[128];
	int rc;

	(void)state;
	rc = sniff_type(png, sizeof(png), out, sizeof(out));
	if (rc < 0)
		skip();                      /* no magic database on this machine */
	assert_int_equal(rc, 1);
	assert_string_equal(out, "image/png");
	assert_int_equal(sniff_type(text, sizeof(text) - 1, out, sizeof(out)), 0);
	assert_string_equal(out, "text/plain");
	assert_int_equal(sniff_type("", 0, out, sizeof(out)), 0);
	assert_string_equal(out, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_patterns),
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_policy),
		cmocka_unit_test(test_sniff),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
