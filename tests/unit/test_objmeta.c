/* Unit tests for src/objmeta.c: s3fs-compatible metadata, xattrs, Content-Type. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <setjmp.h>
#include <cmocka.h>

#include "mimetype.h"
#include "objmeta.h"

#define S INT64_C(1000000000)

/* ---- decoding one value -------------------------------------------------------- */

enum field { F_MODE, F_UID, F_GID, F_MTIME };

struct dec_case {
	const char *key;
	const char *value;
	enum field field;
	int has;
	int64_t want;
};

static const struct dec_case dec_cases[] = {
	/* s3fs examples */
	{ "mode", "33188", F_MODE, 1, S_IFREG | 0644 },
	{ "mode", "16877", F_MODE, 1, S_IFDIR | 0755 },
	{ "mode", "41471", F_MODE, 1, S_IFLNK | 0777 },
	{ "mode", "33261", F_MODE, 1, S_IFREG | 0755 },
	{ "mode", "4480", F_MODE, 1, S_IFIFO | 0600 },
	{ "mode", "420", F_MODE, 1, 0644 },              /* no type bits: caller decides */
	{ "mode", "0", F_MODE, 1, 0 },
	{ "mode", "35309", F_MODE, 1, S_IFREG | 04755 },  /* setuid kept */
	{ "Mode", "33188", F_MODE, 1, S_IFREG | 0644 },   /* header names are case-insensitive */
	{ "mode", "61440", F_MODE, 0, 0 },               /* 0170000: not a file type */
	{ "mode", "65536", F_MODE, 0, 0 },
	{ "mode", "99999999999999999999999", F_MODE, 0, 0 },
	{ "mode", "-33188", F_MODE, 0, 0 },
	{ "mode", "+33188", F_MODE, 0, 0 },
	{ "mode", " 33188", F_MODE, 0, 0 },
	{ "mode", "33188 ", F_MODE, 0, 0 },
	{ "mode", "33188x", F_MODE, 0, 0 },
	{ "mode", "0x81a4", F_MODE, 0, 0 },
	{ "mode", "", F_MODE, 0, 0 },
	{ "mode", "rw-r--r--", F_MODE, 0, 0 },
	{ "uid", "1000", F_UID, 1, 1000 },
	{ "uid", "0", F_UID, 1, 0 },
	{ "uid", "4294967294", F_UID, 1, 4294967294 },
	{ "uid", "4294967295", F_UID, 0, 0 },            /* (uid_t)-1 */
	{ "uid", "-1", F_UID, 0, 0 },
	{ "uid", "1e3", F_UID, 0, 0 },
	{ "uid", "", F_UID, 0, 0 },
	{ "gid", "100", F_GID, 1, 100 },
	{ "gid", "99999999999", F_GID, 0, 0 },
	{ "gid", "10 0", F_GID, 0, 0 },
	{ "mtime", "1700000000", F_MTIME, 1, 1700000000 * S },
	{ "mtime", "0", F_MTIME, 1, 0 },
	{ "mtime", "1700000000.5", F_MTIME, 1, 1700000000 * S + 500000000 },
	{ "mtime", "1700000000.123456789", F_MTIME, 1, 1700000000 * S + 123456789 },
	{ "mtime", "1700000000.000000001", F_MTIME, 1, 1700000000 * S + 1 },
	{ "mtime", "1700000000.1234567899999", F_MTIME, 1, 1700000000 * S + 123456789 },
	{ "mtime", "-1", F_MTIME, 1, -S },
	{ "mtime", "-1.5", F_MTIME, 1, -S - S / 2 },
	{ "mtime", "9223372035", F_MTIME, 1, 9223372035 * S },
	{ "mtime", "9223372036", F_MTIME, 0, 0 },
	{ "mtime", "99999999999999999999", F_MTIME, 0, 0 },
	{ "mtime", "1.", F_MTIME, 0, 0 },
	{ "mtime", ".5", F_MTIME, 0, 0 },
	{ "mtime", "1..5", F_MTIME, 0, 0 },
	{ "mtime", "1.5x", F_MTIME, 0, 0 },
	{ "mtime", "1.-5", F_MTIME, 0, 0 },
	{ "mtime", "--1", F_MTIME, 0, 0 },
	{ "mtime", "-", F_MTIME, 0, 0 },
	{ "mtime", "", F_MTIME, 0, 0 },
	{ "mtime", "2023-11-14T22:13:20Z", F_MTIME, 0, 0 },
	{ "mtime", "1.7e9", F_MTIME, 0, 0 },
};

static void test_decode_values(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(dec_cases) / sizeof(dec_cases[0]); i++) {
		const struct dec_case *c = &dec_cases[i];
		struct objfs_kv kv = { (char *)c->key, (char *)c->value };
		struct objfs_fileattr a;
		int has = -1;
		int64_t got = -1;

		assert_int_equal(objfs_objmeta_decode(&kv, 1, &a), 0);
		switch (c->field) {
		case F_MODE: has = a.has_mode; got = a.mode; break;
		case F_UID: has = a.has_uid; got = a.uid; break;
		case F_GID: has = a.has_gid; got = a.gid; break;
		case F_MTIME: has = a.has_mtime; got = a.mtime_ns; break;
		}
		if (has != c->has || (has && got != c->want))
			fail_msg("%s=\"%s\": has %d value %lld, want has %d value %lld", c->key, c->value,
				 has, (long long)got, c->has, (long long)c->want);
		/* only that one field */
		if (a.has_mode + a.has_uid + a.has_gid + a.has_mtime != has || a.nxattrs != 0)
			fail_msg("%s=\"%s\": other fields set", c->key, c->value);
		objfs_fileattr_clear(&a);
	}
}

static void test_decode_list(void **state)
{
	static const struct objfs_kv meta[] = {
		{ (char *)"content-type", (char *)"text/plain" },
		{ (char *)"mode", (char *)"33188" },
		{ (char *)"uid", (char *)"1000" },
		{ (char *)"gid", (char *)"bogus" },
		{ (char *)"mtime", (char *)"1700000000" },
		{ (char *)"something-else", (char *)"1" },
		{ NULL, (char *)"x" },
		{ (char *)"mode", NULL },
	};
	struct objfs_fileattr a;

	(void)state;
	assert_int_equal(objfs_objmeta_decode(meta, sizeof(meta) / sizeof(meta[0]), &a), 0);
	assert_true(a.has_mode);
	assert_int_equal(a.mode, S_IFREG | 0644);
	assert_true(S_ISREG(a.mode));
	assert_true(a.has_uid);
	assert_int_equal(a.uid, 1000);
	assert_false(a.has_gid);
	assert_true(a.has_mtime);
	assert_int_equal(a.nxattrs, 0);
	objfs_fileattr_clear(&a);
	/* nothing at all: objects written by other tools */
	assert_int_equal(objfs_objmeta_decode(NULL, 0, &a), 0);
	assert_false(a.has_mode || a.has_uid || a.has_gid || a.has_mtime);
	objfs_fileattr_clear(&a);
	objfs_fileattr_clear(NULL);
	objfs_kv_free(NULL, 0);
}

/* ---- xattr decoding ------------------------------------------------------------ */

struct xdec_case {
	const char *value;
	int ok;                 /* 0: the whole xattr field is treated as absent */
	const char *name;       /* one expected entry (ok only) */
	const char *want;
	size_t want_len;
	size_t n;               /* expected number of entries */
};

static const struct xdec_case xdec_cases[] = {
	/* s3fs writes the JSON percent-encoded as a whole */
	{ "%7B%22user.foo%22%3A%22YmFy%22%7D", 1, "user.foo", "bar", 3, 1 },
	{ "%7b%22user.foo%22%3a%22YmFy%22%7d", 1, "user.foo", "bar", 3, 1 },
	{ "{\"user.foo\":\"YmFy\"}", 1, "user.foo", "bar", 3, 1 },       /* not encoded at all */
	{ "%7B%22user.a%22%3A%22YQ%3D%3D%22%2C%22user.b%22%3A%22%22%7D", 1, "user.a", "a", 1, 2 },
	{ "%7B%22user.b%22%3A%22%22%7D", 1, "user.b", "", 0, 1 },
	{ "%7B%22user.a%22%3A%22YQ%22%7D", 1, "user.a", "a", 1, 1 },     /* unpadded base64 */
	{ "%7B%22user.a%22%3A%22YWI%22%7D", 1, "user.a", "ab", 2, 1 },
	{ "%7B%22user.a%22%3A%22YWI%3D%22%7D", 1, "user.a", "ab", 2, 1 },
	{ "%7B%22user.a%22%3A%22AAEC%22%7D", 1, "user.a", "\0\1\2", 3, 1 },
	{ "%7B%22user.a%22%3A%22%2B%2F8%3D%22%7D", 1, "user.a", "\xfb\xff", 2, 1 },
	{ "%7B%7D", 1, NULL, NULL, 0, 0 },
	{ "%7B", 0, NULL, NULL, 0, 0 },                                   /* broken JSON */
	{ "%ZZ", 0, NULL, NULL, 0, 0 },                                   /* broken escape */
	{ "%7B%22user.a%22%3A%22YQ%3D%3D%22%7D%", 0, NULL, NULL, 0, 0 },
	{ "%7B%22user.a%22%3A%22YQ%3D%3D%22%7D%2", 0, NULL, NULL, 0, 0 },
	{ "%5B%5D", 0, NULL, NULL, 0, 0 },                                /* [] */
	{ "%22x%22", 0, NULL, NULL, 0, 0 },                               /* "x" */
	{ "%7B%22user.a%22%3A5%7D", 0, NULL, NULL, 0, 0 },                /* not a string */
	{ "%7B%22user.a%22%3Anull%7D", 0, NULL, NULL, 0, 0 },
	{ "%7B%22%22%3A%22YQ%3D%3D%22%7D", 0, NULL, NULL, 0, 0 },         /* empty name */
	{ "%7B%22user.a%22%3A%22!!!!%22%7D", 0, NULL, NULL, 0, 0 },       /* bad base64 */
	{ "%7B%22user.a%22%3A%22Y%22%7D", 0, NULL, NULL, 0, 0 },          /* 1 char left over */
	{ "%7B%22user.a%22%3A%22YQ%3D%22%7D", 0, NULL, NULL, 0, 0 },      /* wrong padding */
	{ "%7B%22user.a%22%3A%22YQ%3D%3D%3D%22%7D", 0, NULL, NULL, 0, 0 },
	{ "%7B%22user.a%22%3A%22YQ%3D%3DYQ%3D%3D%22%7D", 0, NULL, NULL, 0, 0 },
	{ "%7B%22user.a%22%3A%22YQ%3D%3D%22%2C%22user.b%22%3A%22%3F%22%7D", 0, NULL, NULL, 0, 0 },
	{ "%7B%22user.a%22%3A%22YQ%22%2C%22user.a%22%3A%22Yg%22%7D", 0, NULL, NULL, 0, 0 },  /* dup */
	{ "", 0, NULL, NULL, 0, 0 },
};

static void test_decode_xattr(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(xdec_cases) / sizeof(xdec_cases[0]); i++) {
		const struct xdec_case *c = &xdec_cases[i];
		struct objfs_kv kv[2] = {
			{ (char *)"xattr", (char *)c->value },
			{ (char *)"uid", (char *)"7" },
		};
		struct objfs_fileattr a;
		const struct objfs_xattr *x;

		assert_int_equal(objfs_objmeta_decode(kv, 2, &a), 0);
		if (!a.has_uid || a.uid != 7)
			fail_msg("xattr case %zu: other fields lost", i);
		if (!c->ok && (a.nxattrs != 0 || a.xattrs != NULL))
			fail_msg("xattr case %zu \"%s\": accepted", i, c->value);
		if (c->ok && a.nxattrs != c->n)
			fail_msg("xattr case %zu \"%s\": %zu entries, want %zu", i, c->value, a.nxattrs, c->n);
		if (c->ok && c->name) {
			x = objfs_fileattr_get_xattr(&a, c->name);
			if (!x || x->len != c->want_len || memcmp(x->value, c->want, c->want_len) != 0)
				fail_msg("xattr case %zu \"%s\": wrong value", i, c->value);
		}
		objfs_fileattr_clear(&a);
	}
}

/* ---- encoding ------------------------------------------------------------------ */

struct enc_case {
	const char *name;
	struct objfs_fileattr in;
	const char *want;       /* "key=value;key=value" in order */
};

static const struct enc_case enc_cases[] = {
	{ "nothing", { .has_mode = 0 }, "" },
	{ "regular file", { .mode = S_IFREG | 0644, .has_mode = 1 }, "mode=33188" },
	{ "directory", { .mode = S_IFDIR | 0755, .has_mode = 1 }, "mode=16877" },
	{ "symlink", { .mode = S_IFLNK | 0777, .has_mode = 1 }, "mode=41471" },
	{ "all", { .mode = S_IFREG | 0600, .has_mode = 1, .uid = 1000, .has_uid = 1, .gid = 0, .has_gid = 1,
		   .mtime_ns = 1700000000 * S, .has_mtime = 1 },
	  "mode=33152;uid=1000;gid=0;mtime=1700000000" },
	{ "fractional mtime", { .mtime_ns = 1700000000 * S + 5, .has_mtime = 1 },
	  "mtime=1700000000.000000005" },
	{ "half second", { .mtime_ns = 1700000000 * S + S / 2, .has_mtime = 1 }, "mtime=1700000000.500000000" },
	{ "negative mtime", { .mtime_ns = -S - S / 2, .has_mtime = 1 }, "mtime=-1.500000000" },
	{ "negative whole", { .mtime_ns = -2 * S, .has_mtime = 1 }, "mtime=-2" },
	{ "epoch", { .mtime_ns = 0, .has_mtime = 1 }, "mtime=0" },
	{ "sub-second before epoch", { .mtime_ns = -1, .has_mtime = 1 }, "mtime=-0.000000001" },
	{ "uid only", { .uid = 4294967294u, .has_uid = 1 }, "uid=4294967294" },
};

static void kv_join(const struct objfs_kv *kv, size_t n, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s=%s", i ? ";" : "", kv[i].key, kv[i].value);
}

static void test_encode(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(enc_cases) / sizeof(enc_cases[0]); i++) {
		const struct enc_case *c = &enc_cases[i];
		struct objfs_kv *kv = NULL;
		struct objfs_fileattr back;
		size_t n = 0;
		char got[512];

		assert_int_equal(objfs_objmeta_encode(&c->in, &kv, &n), 0);
		kv_join(kv, n, got, sizeof(got));
		if (strcmp(got, c->want) != 0)
			fail_msg("encode \"%s\": got \"%s\", want \"%s\"", c->name, got, c->want);
		/* and back */
		assert_int_equal(objfs_objmeta_decode(kv, n, &back), 0);
		if (back.has_mode != c->in.has_mode || back.has_uid != c->in.has_uid ||
		    back.has_gid != c->in.has_gid || back.has_mtime != c->in.has_mtime ||
		    (back.has_mode && back.mode != c->in.mode) || (back.has_uid && back.uid != c->in.uid) ||
		    (back.has_gid && back.gid != c->in.gid) ||
		    (back.has_mtime && back.mtime_ns != c->in.mtime_ns))
			fail_msg("round trip \"%s\" differs", c->name);
		objfs_fileattr_clear(&back);
		objfs_kv_free(kv, n);
	}
}

/* xattr values of every length 0..7 and every byte value survive a round trip */
static void test_xattr_round_trip(void **state)
{
	static const char *const names[] = {
		"user.a", "user.empty", "user.\xc3\xbcnicode", "user.with space", "user.q\"uote",
		"user.back\\slash", "security.selinux", "user.7", "user.allbytes",
	};
	struct objfs_fileattr a, b;
	struct objfs_kv *kv = NULL;
	unsigned char all[256];
	size_t n = 0;

	(void)state;
	memset(&a, 0, sizeof(a));
	for (size_t i = 0; i < 256; i++)
		all[i] = (unsigned char)(255 - i);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		size_t len = i < 8 ? i : sizeof(all);

		assert_int_equal(objfs_fileattr_set_xattr(&a, names[i], all + (i < 8 ? 250 - i : 0), len), 0);
	}
	a.mode = S_IFREG | 0640;
	a.has_mode = 1;
	assert_int_equal(objfs_objmeta_encode(&a, &kv, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(kv[1].key, "xattr");
	/* percent-encoded as a whole: only unreserved characters and escapes */
	for (const char *p = kv[1].value; *p; p++)
		if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~%", *p))
			fail_msg("unencoded character '%c' in %s", *p, kv[1].value);
	assert_int_equal(strncmp(kv[1].value, "%7B%22user.a%22%3A%22%22%2C", 27), 0);
	assert_int_equal(objfs_objmeta_decode(kv, n, &b), 0);
	assert_int_equal(b.nxattrs, a.nxattrs);
	for (size_t i = 0; i < a.nxattrs; i++) {
		const struct objfs_xattr *x = objfs_fileattr_get_xattr(&b, a.xattrs[i].name);

		if (!x || x->len != a.xattrs[i].len || memcmp(x->value, a.xattrs[i].value, x->len) != 0)
			fail_msg("xattr %s did not survive", a.xattrs[i].name);
		/* order is kept */
		assert_string_equal(b.xattrs[i].name, a.xattrs[i].name);
	}
	objfs_kv_free(kv, n);
	objfs_fileattr_clear(&a);
	objfs_fileattr_clear(&b);
}

/* xattr "user.x" with n zero bytes (n a multiple of 3) encodes to 32 + 4n/3
 * bytes of metadata: "xattr" (5) + %7B%22user.x%22%3A%22 (21) + base64 (4n/3)
 * + %22%7D (6). */
struct big_case {
	size_t len;
	int rc;
};

static const struct big_case big_cases[] = {
	{ 0, 0 },
	{ 1509, 0 },        /* 32 + 2012 = 2044 */
	{ 1512, 0 },        /* 32 + 2016 = 2048: exactly the limit */
	{ 1515, -E2BIG },   /* 32 + 2020 = 2052 */
	{ 4096, -E2BIG },
	{ 65536, -E2BIG },
};

static void test_e2big(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(big_cases) / sizeof(big_cases[0]); i++) {
		struct objfs_fileattr a;
		struct objfs_kv *kv = (struct objfs_kv *)0x1;
		size_t n = 99, total = 0;
		void *zero = calloc(1, big_cases[i].len + 1);
		int rc;

		assert_non_null(zero);
		memset(&a, 0, sizeof(a));
		assert_int_equal(objfs_fileattr_set_xattr(&a, "user.x", zero, big_cases[i].len), 0);
		rc = objfs_objmeta_encode(&a, &kv, &n);
		if (rc != big_cases[i].rc)
			fail_msg("E2BIG case %zu: rc %d, want %d", big_cases[i].len, rc, big_cases[i].rc);
		if (rc == 0) {
			for (size_t j = 0; j < n; j++)
				total += strlen(kv[j].key) + strlen(kv[j].value);
			assert_true(total <= OBJFS_META_MAX);
			objfs_kv_free(kv, n);
		} else {
			assert_null(kv);
			assert_int_equal(n, 0);
		}
		objfs_fileattr_clear(&a);
		free(zero);
	}
}

static void test_encode_bad_name(void **state)
{
	struct objfs_fileattr a;
	struct objfs_kv *kv = NULL;
	size_t n = 0;

	(void)state;
	memset(&a, 0, sizeof(a));
	assert_int_equal(objfs_fileattr_set_xattr(&a, "user.\xff", "v", 1), 0);
	assert_int_equal(objfs_objmeta_encode(&a, &kv, &n), -EINVAL);
	assert_null(kv);
	objfs_fileattr_clear(&a);
}

static void test_xattr_ops(void **state)
{
	struct objfs_fileattr a, b;
	const struct objfs_xattr *x;

	(void)state;
	memset(&a, 0, sizeof(a));
	assert_null(objfs_fileattr_get_xattr(&a, "user.a"));
	assert_int_equal(objfs_fileattr_remove_xattr(&a, "user.a"), -ENODATA);
	assert_int_equal(objfs_fileattr_set_xattr(&a, "user.a", "one", 3), 0);
	assert_int_equal(objfs_fileattr_set_xattr(&a, "user.b", "two", 3), 0);
	assert_int_equal(objfs_fileattr_set_xattr(&a, "user.c", NULL, 0), 0);
	assert_int_equal(a.nxattrs, 3);
	assert_int_equal(objfs_fileattr_set_xattr(&a, "user.a", "uno!", 4), 0);   /* replace */
	assert_int_equal(a.nxattrs, 3);
	x = objfs_fileattr_get_xattr(&a, "user.a");
	assert_non_null(x);
	assert_int_equal(x->len, 4);
	assert_memory_equal(x->value, "uno!", 4);
	assert_null(objfs_fileattr_get_xattr(&a, "user.A"));
	assert_null(objfs_fileattr_get_xattr(&a, "user."));

	a.mode = S_IFDIR | 0700;
	a.has_mode = 1;
	assert_int_equal(objfs_fileattr_copy(&b, &a), 0);
	assert_int_equal(b.nxattrs, 3);
	assert_int_equal(b.mode, S_IFDIR | 0700);
	assert_ptr_not_equal(b.xattrs, a.xattrs);
	assert_int_equal(objfs_fileattr_remove_xattr(&a, "user.b"), 0);
	assert_int_equal(objfs_fileattr_remove_xattr(&a, "user.b"), -ENODATA);
	assert_int_equal(a.nxattrs, 2);
	assert_string_equal(a.xattrs[1].name, "user.c");
	x = objfs_fileattr_get_xattr(&b, "user.b");           /* the copy is deep */
	assert_non_null(x);
	assert_memory_equal(x->value, "two", 3);
	assert_int_equal(objfs_fileattr_remove_xattr(&a, "user.a"), 0);
	assert_int_equal(objfs_fileattr_remove_xattr(&a, "user.c"), 0);
	assert_int_equal(a.nxattrs, 0);
	assert_null(a.xattrs);
	objfs_fileattr_clear(&a);
	objfs_fileattr_clear(&b);
	assert_int_equal(b.nxattrs, 0);
	/* copy of a struct without xattrs */
	a.uid = 5;
	a.has_uid = 1;
	assert_int_equal(objfs_fileattr_copy(&b, &a), 0);
	assert_int_equal(b.uid, 5);
	assert_null(b.xattrs);
	objfs_fileattr_clear(&b);
}

/* ---- Content-Type ------------------------------------------------------------------ */

struct ct_case {
	const char *name;
	const char *type;
};

static const struct ct_case ct_cases[] = {
	{ "a.txt", "text/plain" },
	{ "A.TXT", "text/plain" },
	{ "index.html", "text/html" },
	{ "index.htm", "text/html" },
	{ "site.css", "text/css" },
	{ "app.js", "text/javascript" },
	{ "data.json", "application/json" },
	{ "feed.xml", "application/xml" },
	{ "t.csv", "text/csv" },
	{ "doc.pdf", "application/pdf" },
	{ "pic.png", "image/png" },
	{ "pic.JpEg", "image/jpeg" },
	{ "pic.jpg", "image/jpeg" },
	{ "a.gif", "image/gif" },
	{ "a.svg", "image/svg+xml" },
	{ "a.webp", "image/webp" },
	{ "favicon.ico", "image/vnd.microsoft.icon" },
	{ "a.zip", "application/zip" },
	{ "backup.tar.gz", "application/gzip" },
	{ "backup.tgz", "application/gzip" },
	{ "a.tar", "application/x-tar" },
	{ "a.bz2", "application/x-bzip2" },
	{ "a.xz", "application/x-xz" },
	{ "a.zst", "application/zstd" },
	{ "a.7z", "application/x-7z-compressed" },
	{ "song.mp3", "audio/mpeg" },
	{ "film.mp4", "video/mp4" },
	{ "a.wav", "audio/wav" },
	{ "a.ogg", "audio/ogg" },
	{ "a.webm", "video/webm" },
	{ "a.mov", "video/quicktime" },
	{ "a.avi", "video/x-msvideo" },
	{ "a.doc", "application/msword" },
	{ "a.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document" },
	{ "a.xls", "application/vnd.ms-excel" },
	{ "a.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" },
	{ "a.ppt", "application/vnd.ms-powerpoint" },
	{ "a.pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation" },
	{ "a.odt", "application/vnd.oasis.opendocument.text" },
	{ "README.md", "text/markdown" },
	{ "c.yaml", "application/yaml" },
	{ "c.yml", "application/yaml" },
	{ "run.sh", "application/x-sh" },
	{ "x.py", "text/x-python" },
	{ "x.c", "text/x-c" },
	{ "x.h", "text/x-c" },
	{ "setup.exe", "application/x-msdownload" },
	{ "SETUP.EXE", "application/x-msdownload" },
	{ "a.wasm", "application/wasm" },
	{ "f.woff", "font/woff" },
	{ "f.woff2", "font/woff2" },
	{ "f.ttf", "font/ttf" },
	{ "f.otf", "font/otf" },
	{ "f.eot", "application/vnd.ms-fontobject" },
	{ "a.rtf", "application/rtf" },
	{ "dir/sub.d/file.txt", "text/plain" },
	{ "dir.txt/file", "application/octet-stream" },   /* the dot is in a directory */
	{ "noext", "application/octet-stream" },
	{ ".bashrc", "application/octet-stream" },
	{ "dir/.txt", "application/octet-stream" },
	{ "file.", "application/octet-stream" },
	{ "file.unknownext", "application/octet-stream" },
	{ "file.txt.bak", "application/octet-stream" },
	{ "", "application/octet-stream" },
};

/* The built-in table, used when the system has no mime.types (mimetype.h);
 * the database itself is tested in test_mimetype.c. */
static void test_content_type(void **state)
{
	(void)state;
	assert_int_equal(mimetype_load("/nonexistent/mime.types"), -ENOENT);
	for (size_t i = 0; i < sizeof(ct_cases) / sizeof(ct_cases[0]); i++) {
		const char *got = objfs_content_type_for(ct_cases[i].name);

		if (!got || strcmp(got, ct_cases[i].type) != 0)
			fail_msg("\"%s\": got %s, want %s", ct_cases[i].name, got ? got : "NULL", ct_cases[i].type);
	}
	assert_string_equal(objfs_content_type_for(NULL), "application/octet-stream");
}

/* An object is an upload's own landed attempt only with its exact size and
 * every metadata value (key case aside: stores lower-case keys). */
static void test_is_upload(void **state)
{
	char k_mode[] = "mode", k_mtime[] = "mtime", k_other[] = "other", k_mode_uc[] = "Mode";
	char v_mode[] = "33188", v_mtime[] = "1795466945.912025036", v_x[] = "x";
	char v_later[] = "1795466945.912025037";
	struct objfs_kv stored[] = { { k_mode, v_mode }, { k_mtime, v_mtime }, { k_other, v_x } };
	struct objfs_kv want[] = { { k_mode_uc, v_mode }, { k_mtime, v_mtime } };
	struct objfs_objinfo oi;

	(void)state;
	memset(&oi, 0, sizeof(oi));
	oi.size = 100;
	oi.meta = stored;
	oi.nmeta = 3;
	assert_true(objfs_objmeta_is_upload(&oi, 100, want, 2));
	assert_false(objfs_objmeta_is_upload(&oi, 101, want, 2));      /* size */
	assert_false(objfs_objmeta_is_upload(&oi, 100, want, 0));      /* nothing to match */
	want[1].value = v_later;                                        /* a nanosecond off */
	assert_false(objfs_objmeta_is_upload(&oi, 100, want, 2));
	oi.nmeta = 0;                                                   /* no metadata */
	want[1].value = v_mtime;
	assert_false(objfs_objmeta_is_upload(&oi, 100, want, 2));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode_values),
		cmocka_unit_test(test_decode_list),
		cmocka_unit_test(test_decode_xattr),
		cmocka_unit_test(test_encode),
		cmocka_unit_test(test_xattr_round_trip),
		cmocka_unit_test(test_e2big),
		cmocka_unit_test(test_encode_bad_name),
		cmocka_unit_test(test_xattr_ops),
		cmocka_unit_test(test_content_type),
		cmocka_unit_test(test_is_upload),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
