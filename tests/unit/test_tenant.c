/* Unit tests for src/tenant.c: path parsing, name checks, UTF-8; tables of cases. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <cmocka.h>

#include "tenant.h"

static char long_prefix[1001];   /* 1000 bytes ending with '/' */

static struct objfs_tenant tenant_v[] = {
	{ .idx = 0, .name = "acme", .bucket = "acme-uploads", .prefix = "" },
	{ .idx = 1, .name = "globex", .bucket = "shared", .prefix = "tenants/globex/" },
	{ .idx = 2, .name = "_staging", .bucket = "shared", .prefix = "staging/" },
	{ .idx = 3, .name = "longpfx", .bucket = "shared", .prefix = long_prefix },
	{ .idx = 4, .name = "a.b", .bucket = "ab-uploads", .prefix = "" },
};
static struct objfs_tenants tenants = { tenant_v, sizeof(tenant_v) / sizeof(tenant_v[0]) };

/*
 * A path is pre + fill * nfill + post (so long paths fit in a table row).
 * want_tenant NULL: the root or an error.  rel/key "-": not checked.
 */
struct path_case {
	const char *pre;
	char fill;
	size_t nfill;
	const char *post;
	int rc;
	const char *want_tenant;
	const char *rel;
	const char *key;
};

static const struct path_case path_cases[] = {
	/* good paths */
	{ "/", 0, 0, "", 0, NULL, "", "" },
	{ "/acme", 0, 0, "", 0, "acme", "", "" },
	{ "/acme/a", 0, 0, "", 0, "acme", "a", "a" },
	{ "/acme/a/b", 0, 0, "", 0, "acme", "a/b", "a/b" },
	{ "/globex", 0, 0, "", 0, "globex", "", "tenants/globex/" },
	{ "/globex/x.txt", 0, 0, "", 0, "globex", "x.txt", "tenants/globex/x.txt" },
	{ "/globex/d/e/f", 0, 0, "", 0, "globex", "d/e/f", "tenants/globex/d/e/f" },
	{ "/_staging/in", 0, 0, "", 0, "_staging", "in", "staging/in" },
	{ "/a.b/c", 0, 0, "", 0, "a.b", "c", "c" },
	{ "/acme/...", 0, 0, "", 0, "acme", "...", "..." },
	{ "/acme/.hidden/..x/x..", 0, 0, "", 0, "acme", ".hidden/..x/x..", ".hidden/..x/x.." },
	{ "/acme/a%2e%2e/%2F", 0, 0, "", 0, "acme", "a%2e%2e/%2F", "a%2e%2e/%2F" },
	{ "/acme/back\\slash", 0, 0, "", 0, "acme", "back\\slash", "back\\slash" },
	{ "/acme/del\x7f", 0, 0, "", 0, "acme", "del\x7f", "del\x7f" },
	{ "/acme/caf\xc3\xa9", 0, 0, "", 0, "acme", "caf\xc3\xa9", "caf\xc3\xa9" },
	{ "/acme/\xf0\x9f\x98\x80", 0, 0, "", 0, "acme", "\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80" },
	{ "/acme/with space", 0, 0, "", 0, "acme", "with space", "with space" },

	/* malformed */
	{ "", 0, 0, "", -EINVAL, NULL, "", "" },
	{ "acme", 0, 0, "", -EINVAL, NULL, "", "" },
	{ "acme/x", 0, 0, "", -EINVAL, NULL, "", "" },
	{ "//", 0, 0, "", -EINVAL, NULL, "", "" },
	{ "//acme", 0, 0, "", -EINVAL, NULL, "", "" },
	{ "/acme/", 0, 0, "", -EINVAL, NULL, "", "" },
	{ "/acme/a/", 0, 0, "", -EINVAL, NULL, "", "" },
	{ "/acme//a", 0, 0, "", -EINVAL, NULL, "", "" },
	{ "/acme/a//b", 0, 0, "", -EINVAL, NULL, "", "" },

	/* escapes */
	{ "/acme/../globex/x", 0, 0, "", -EINVAL, NULL, "", "" },
	{ "/acme/..", 0, 0, "", -EINVAL, NULL, "", "" },
	{ "/acme/a/../../globex", 0, 0, "", -EINVAL, NULL, "", "" },
	{ "/acme/./x", 0, 0, "", -EINVAL, NULL, "", "" },
	{ "/acme/.", 0, 0, "", -EINVAL, NULL, "", "" },
	{ "/..", 0, 0, "", -EINVAL, NULL, "", "" },
	{ "/../acme", 0, 0, "", -EINVAL, NULL, "", "" },
	{ "/.", 0, 0, "", -EINVAL, NULL, "", "" },
	{ "/./acme", 0, 0, "", -EINVAL, NULL, "", "" },

	/* tenant lookup is exact */
	{ "/ACME", 0, 0, "", -ENOENT, NULL, "", "" },
	{ "/Acme/x", 0, 0, "", -ENOENT, NULL, "", "" },
	{ "/acm", 0, 0, "", -ENOENT, NULL, "", "" },
	{ "/acmex", 0, 0, "", -ENOENT, NULL, "", "" },
	{ "/acme.", 0, 0, "", -ENOENT, NULL, "", "" },
	{ "/staging", 0, 0, "", -ENOENT, NULL, "", "" },
	{ "/tenants", 0, 0, "", -ENOENT, NULL, "", "" },
	{ "/nosuch/x", 0, 0, "", -ENOENT, NULL, "", "" },

	/* control bytes */
	{ "/acme/a\x01", 0, 0, "", -EINVAL, NULL, "", "" },
	{ "/acme/a\nb", 0, 0, "", -EINVAL, NULL, "", "" },
	{ "/acme/a\rb", 0, 0, "", -EINVAL, NULL, "", "" },
	{ "/acme/tab\t", 0, 0, "", -EINVAL, NULL, "", "" },
	{ "/acme/\x1f", 0, 0, "", -EINVAL, NULL, "", "" },
	{ "/acme\x01/x", 0, 0, "", -EINVAL, NULL, "", "" },
	{ "/acme/ok/\x1b[31m", 0, 0, "", -EINVAL, NULL, "", "" },

	/* invalid UTF-8 */
	{ "/acme/\xc3\x28", 0, 0, "", -EILSEQ, NULL, "", "" },
	{ "/acme/\xc0\xaf", 0, 0, "", -EILSEQ, NULL, "", "" },          /* overlong '/' */
	{ "/acme/\xc0\xae\xc0\xae", 0, 0, "", -EILSEQ, NULL, "", "" },  /* overlong ".." */
	{ "/acme/\xe0\x80\xaf", 0, 0, "", -EILSEQ, NULL, "", "" },
	{ "/acme/\xed\xa0\x80", 0, 0, "", -EILSEQ, NULL, "", "" },      /* surrogate */
	{ "/acme/\xf4\x90\x80\x80", 0, 0, "", -EILSEQ, NULL, "", "" },  /* > U+10FFFF */
	{ "/acme/a\xe2\x82", 0, 0, "", -EILSEQ, NULL, "", "" },         /* truncated */
	{ "/acme/\xe2\x82/x", 0, 0, "", -EILSEQ, NULL, "", "" },        /* truncated by '/' */
	{ "/acme/\xff", 0, 0, "", -EILSEQ, NULL, "", "" },
	{ "/acme/\x80", 0, 0, "", -EILSEQ, NULL, "", "" },
	{ "/acme\xc3\x28", 0, 0, "", -EILSEQ, NULL, "", "" },

	/* lengths: segments of 255 bytes, keys of 1024 bytes */
	{ "/acme/", 'a', 255, "", 0, "acme", "-", "-" },
	{ "/acme/", 'a', 256, "", -ENAMETOOLONG, NULL, "", "" },
	{ "/acme/x/", 'a', 256, "/y", -ENAMETOOLONG, NULL, "", "" },
	{ "/acme/", 'a', 4096, "", -ENAMETOOLONG, NULL, "", "" },
	{ "/", 'a', 256, "", -ENAMETOOLONG, NULL, "", "" },
	{ "/acme/" "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
	  "/0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
	  "/0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
	  "/0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
	  "/0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
	  "/0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
	  "/0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
	  "/0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
	  "/0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
	  "/0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789/",
	  'k', 14, "", 0, "acme", "-", "-" },                                   /* key 1024 */
	{ "/acme/" "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
	  "/0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
	  "/0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
	  "/0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
	  "/0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
	  "/0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
	  "/0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
	  "/0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
	  "/0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
	  "/0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789/",
	  'k', 15, "", -ENAMETOOLONG, NULL, "", "" },                           /* key 1025 */
	{ "/longpfx/", 'z', 24, "", 0, "longpfx", "-", "-" },                  /* 1000 + 24 */
	{ "/longpfx/", 'z', 25, "", -ENAMETOOLONG, NULL, "", "" },             /* 1000 + 25 */
	{ "/longpfx/ab/", 'z', 21, "", 0, "longpfx", "-", "-" },
	{ "/longpfx/ab/", 'z', 22, "", -ENAMETOOLONG, NULL, "", "" },
};

static char *make_path(const struct path_case *c)
{
	size_t pl = strlen(c->pre), ql = strlen(c->post);
	char *p = malloc(pl + c->nfill + ql + 1);

	assert_non_null(p);
	memcpy(p, c->pre, pl);
	memset(p + pl, c->fill, c->nfill);
	memcpy(p + pl + c->nfill, c->post, ql + 1);
	return p;
}

static void test_path_parse(void **state)
{
	struct objfs_path *out = malloc(sizeof(*out));

	(void)state;
	assert_non_null(out);
	memset(long_prefix, 'p', 999);
	long_prefix[999] = '/';
	long_prefix[1000] = '\0';
	for (size_t i = 0; i < sizeof(path_cases) / sizeof(path_cases[0]); i++) {
		const struct path_case *c = &path_cases[i];
		char *path = make_path(c);
		int rc;

		memset(out, 0x5a, sizeof(*out));
		rc = objfs_path_parse(&tenants, path, out);
		if (rc != c->rc)
			fail_msg("case %zu \"%.60s\": rc %d, want %d", i, path, rc, c->rc);
		if (rc == 0 && c->want_tenant == NULL && out->tenant != NULL)
			fail_msg("case %zu \"%s\": want the root", i, path);
		if (rc == 0 && c->want_tenant &&
		    (!out->tenant || strcmp(out->tenant->name, c->want_tenant) != 0))
			fail_msg("case %zu \"%s\": wrong tenant", i, path);
		if (rc != 0 && out->tenant != NULL)
			fail_msg("case %zu \"%.60s\": tenant set on error", i, path);
		if (rc == 0 && strcmp(c->rel, "-") != 0 && strcmp(out->rel, c->rel) != 0)
			fail_msg("case %zu \"%s\": rel \"%s\", want \"%s\"", i, path, out->rel, c->rel);
		if (rc == 0 && strcmp(c->key, "-") != 0 && strcmp(out->key, c->key) != 0)
			fail_msg("case %zu \"%s\": key \"%s\", want \"%s\"", i, path, out->key, c->key);
		if (rc == 0 && out->tenant) {
			/* the key is always prefix + rel: nothing escapes the prefix */
			size_t pl = strlen(out->tenant->prefix);

			if (strncmp(out->key, out->tenant->prefix, pl) != 0 ||
			    strcmp(out->key + pl, out->rel) != 0)
				fail_msg("case %zu: key is not prefix + rel", i);
			if (strlen(out->key) > OBJFS_KEY_MAX)
				fail_msg("case %zu: key too long", i);
		}
		free(path);
	}
	assert_int_equal(objfs_path_parse(&tenants, NULL, out), -EINVAL);
	assert_int_equal(objfs_path_parse(&tenants, "/acme", NULL), -EINVAL);
	free(out);
}

struct name_case {
	const char *name;
	size_t len;      /* 0: strlen(name) */
	int rc;
};

static const struct name_case name_cases[] = {
	{ "a", 0, 0 },
	{ "file.txt", 0, 0 },
	{ "...", 0, 0 },
	{ ".a", 0, 0 },
	{ "", 1, -EINVAL },          /* a NUL byte */
	{ "a\0b", 3, -EINVAL },
	{ "ab", 1, 0 },              /* only len bytes count */
	{ ".", 0, -EINVAL },
	{ "..", 0, -EINVAL },
	{ "a/b", 0, -EINVAL },
	{ "/", 0, -EINVAL },
	{ "a\x01", 0, -EINVAL },
	{ "\x7f", 0, 0 },
	{ "\xc3\xa9", 0, 0 },
	{ "\xc3", 0, -EILSEQ },
	{ "\xc3\xa9", 1, -EILSEQ },
};

static void test_name_check(void **state)
{
	char big[300];

	(void)state;
	for (size_t i = 0; i < sizeof(name_cases) / sizeof(name_cases[0]); i++) {
		const struct name_case *c = &name_cases[i];
		size_t len = c->len ? c->len : strlen(c->name);
		int rc = objfs_name_check(c->name, len);

		if (rc != c->rc)
			fail_msg("name case %zu: rc %d, want %d", i, rc, c->rc);
	}
	assert_int_equal(objfs_name_check("x", 0), -EINVAL);
	assert_int_equal(objfs_name_check(NULL, 1), -EINVAL);
	memset(big, 'n', sizeof(big));
	assert_int_equal(objfs_name_check(big, 255), 0);
	assert_int_equal(objfs_name_check(big, 256), -ENAMETOOLONG);
	/* 254 bytes + a 2-byte character = 256 bytes: the limit is in bytes */
	big[254] = '\xc3';
	big[255] = '\xa9';
	assert_int_equal(objfs_name_check(big, 256), -ENAMETOOLONG);
	assert_int_equal(objfs_name_check(big + 1, 255), 0);
}

struct utf8_case {
	const char *s;
	size_t len;      /* 0: strlen(s) */
	int valid;
};

static const struct utf8_case utf8_cases[] = {
	{ "", 0, 1 },
	{ "plain ascii", 0, 1 },
	{ "a\0b", 3, 1 },                        /* U+0000 is valid UTF-8 */
	{ "\x7f", 0, 1 },
	{ "\xc2\x80", 0, 1 },                    /* U+0080, smallest 2-byte */
	{ "\xdf\xbf", 0, 1 },                    /* U+07FF */
	{ "\xe0\xa0\x80", 0, 1 },                /* U+0800, smallest 3-byte */
	{ "\xed\x9f\xbf", 0, 1 },                /* U+D7FF, below surrogates */
	{ "\xee\x80\x80", 0, 1 },                /* U+E000, above surrogates */
	{ "\xef\xbf\xbd", 0, 1 },                /* U+FFFD */
	{ "\xef\xbf\xbf", 0, 1 },                /* U+FFFF */
	{ "\xf0\x90\x80\x80", 0, 1 },            /* U+10000, smallest 4-byte */
	{ "\xf4\x8f\xbf\xbf", 0, 1 },            /* U+10FFFF, the largest */
	{ "\xe6\x97\xa5\xe6\x9c\xac", 0, 1 },
	{ "\x80", 0, 0 },                        /* lone continuation */
	{ "\xbf", 0, 0 },
	{ "\xc0\x80", 0, 0 },                    /* overlong NUL */
	{ "\xc1\xbf", 0, 0 },                    /* overlong U+007F */
	{ "\xe0\x9f\xbf", 0, 0 },                /* overlong U+07FF */
	{ "\xf0\x8f\xbf\xbf", 0, 0 },            /* overlong U+FFFF */
	{ "\xed\xa0\x80", 0, 0 },                /* U+D800 */
	{ "\xed\xbf\xbf", 0, 0 },                /* U+DFFF */
	{ "\xed\xa0\xbd\xed\xb8\x80", 0, 0 },    /* CESU-8 surrogate pair */
	{ "\xf4\x90\x80\x80", 0, 0 },            /* U+110000 */
	{ "\xf5\x80\x80\x80", 0, 0 },
	{ "\xf8\x88\x80\x80\x80", 0, 0 },        /* 5-byte form */
	{ "\xfc\x84\x80\x80\x80\x80", 0, 0 },    /* 6-byte form */
	{ "\xfe", 0, 0 },
	{ "\xff", 0, 0 },
	{ "\xc3", 0, 0 },                        /* truncated 2-byte */
	{ "\xe2\x82", 0, 0 },                    /* truncated 3-byte */
	{ "\xf0\x9f\x98", 0, 0 },                /* truncated 4-byte */
	{ "\xc3\xa9", 1, 0 },                    /* truncated by len */
	{ "\xc3" "a", 0, 0 },                    /* continuation missing */
	{ "\xe2\x28\xa1", 0, 0 },
	{ "\xf0\x9f\x98\x80\x80", 0, 0 },        /* extra continuation */
	{ "ok\xc3\xa9ok\xe2\x82\xacok", 0, 1 },
};

static void test_utf8(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(utf8_cases) / sizeof(utf8_cases[0]); i++) {
		const struct utf8_case *c = &utf8_cases[i];
		size_t len = c->len ? c->len : strlen(c->s);

		if (objfs_utf8_valid(c->s, len) != c->valid)
			fail_msg("utf8 case %zu: want %d", i, c->valid);
	}
}

static void test_tenants_init(void **state)
{
	struct objfs_tenant_conf tc[2];
	struct objfs_config cfg;
	struct objfs_tenants ts;
	struct objfs_path p;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	memset(tc, 0, sizeof(tc));
	tc[0].name = (char *)"acme";
	tc[0].bucket = (char *)"acme-uploads";
	tc[0].prefix = (char *)"";
	tc[1].name = (char *)"globex";
	tc[1].bucket = (char *)"shared";
	tc[1].prefix = (char *)"t/globex/";
	cfg.tenants = tc;
	cfg.ntenants = 2;
	assert_int_equal(objfs_tenants_init(&ts, &cfg), 0);
	assert_int_equal(ts.n, 2);
	assert_int_equal(ts.v[1].idx, 1);
	assert_ptr_equal(ts.v[1].conf, &tc[1]);
	assert_null(ts.v[1].prov);
	assert_ptr_equal(objfs_tenant_find(&ts, "globex", 6), &ts.v[1]);
	assert_ptr_equal(objfs_tenant_find(&ts, "globex/x", 6), &ts.v[1]);
	assert_null(objfs_tenant_find(&ts, "globe", 5));
	assert_null(objfs_tenant_find(&ts, "globexx", 7));
	assert_null(objfs_tenant_find(&ts, "GLOBEX", 6));
	assert_null(objfs_tenant_find(NULL, "acme", 4));
	assert_int_equal(objfs_path_parse(&ts, "/globex/f", &p), 0);
	assert_string_equal(p.key, "t/globex/f");
	objfs_tenants_clear(&ts);
	assert_int_equal(ts.n, 0);
	assert_null(ts.v);
	objfs_tenants_clear(NULL);
	/* an empty table: every tenant is unknown, the root still works */
	cfg.ntenants = 0;
	assert_int_equal(objfs_tenants_init(&ts, &cfg), 0);
	assert_int_equal(objfs_path_parse(&ts, "/acme", &p), -ENOENT);
	assert_int_equal(objfs_path_parse(&ts, "/", &p), 0);
	objfs_tenants_clear(&ts);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_parse),
		cmocka_unit_test(test_name_check),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_tenants_init),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
