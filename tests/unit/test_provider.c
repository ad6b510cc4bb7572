/*
 * Provider contract suite: every test runs against the local provider (in a
 * mkdtemp directory) and the mem provider.  Local-only tests at the end look
 * at the on-disk format: atomic replacement, torn metadata slots, escape
 * attempts, a 20,000-entry directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <pthread.h>
#include <unistd.h>

#include "objfs/provider.h"
#include "log.h"
#include "presign_local.h"

#define B "bkt"
/* objfs_kv holds char *; -Wwrite-strings makes literals const. */
#define KV(k, v) { (char *)(k), (char *)(v) }

/* KIND_LOCAL_SHM: local on /dev/shm when it exists (the 20,000-directory
 * test spends its time creating directories otherwise). */
enum { KIND_LOCAL, KIND_MEM, KIND_LOCAL_SHM };
static const int kind_local = KIND_LOCAL, kind_mem = KIND_MEM, kind_local_shm = KIND_LOCAL_SHM;

struct fx {
	int kind;
	struct objfs_prov *p;
	char dir[64];
	char root[128];
	struct objfs_err err;
};

static time_t test_now = 1700000000;
static time_t test_clock(void)
{
	return test_now;
}

static int fx_open(struct fx *f)
{
	struct objfs_provider_conf conf = {
		.name = f->kind == KIND_LOCAL ? "loc" : "mem",
		.type = f->kind == KIND_LOCAL ? "local" : "mem",
		.root = f->root,
		.clock = test_clock,
	};
	return objfs_prov_open(&conf, &f->p, &f->err);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->kind = *(const int *)*state;
	test_now = 1700000000;
	if (f->kind == KIND_LOCAL_SHM) {
		f->kind = KIND_LOCAL;
		if (access("/dev/shm", W_OK) == 0)
			strcpy(f->dir, "/dev/shm/objfs-prov-XXXXXX");
	}
	if (f->kind == KIND_LOCAL) {
		if (!f->dir[0])
			strcpy(f->dir, "/tmp/objfs-prov-XXXXXX");
		assert_non_null(mkdtemp(f->dir));
		snprintf(f->root, sizeof(f->root), "%s/root", f->dir);
	}
	assert_int_equal(fx_open(f), 0);
	assert_int_equal(objfs_prov_bucket_create(f->p, B, &f->err), 0);
	*state = f;
	return 0;
}

static void rm_rf(const char *path)
{
	struct stat st;
	DIR *d;
	struct dirent *de;
	char sub[8192];

	if (lstat(path, &st) < 0)
		return;
	if (S_ISDIR(st.st_mode) && (d = opendir(path))) {
		while ((de = readdir(d))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
			rm_rf(sub);
		}
		closedir(d);
		rmdir(path);
	} else {
		unlink(path);
	}
}

static int teardown(void **state)
{
	struct fx *f = *state;

	objfs_prov_free(f->p);
	if (f->kind == KIND_LOCAL)
		rm_rf(f->dir);
	free(f);
	return 0;
}

static int put_buf(struct fx *f, const char *key, const void *buf, size_t len,
		   const struct objfs_putopts *opts, char *etag)
{
	struct objfs_seg seg = { .fd = -1, .buf = buf, .len = len };
	struct objfs_source src = { .segs = &seg, .nsegs = 1, .size = len };

	return objfs_prov_put(f->p, B, key, &src, opts, etag, &f->err);
}

static int put_str(struct fx *f, const char *key, const char *s)
{
	return put_buf(f, key, s, strlen(s), NULL, NULL);
}

/* The whole object as a NUL-terminated string (NULL if missing). */
static char *get_str(struct fx *f, const char *key)
{
	struct objfs_objinfo oi = { 0 };
	uint64_t got = 0;
	char *buf;

	if (objfs_prov_head(f->p, B, key, &oi, &f->err) < 0)
		return NULL;
	buf = calloc(1, oi.size + 1);
	assert_non_null(buf);
	assert_int_equal(objfs_prov_get(f->p, B, key, 0, oi.size + 10, NULL, buf, &got,
					&f->err), 0);
	assert_int_equal(got, oi.size);
	objfs_objinfo_clear(&oi);
	return buf;
}

static char **list_all(struct fx *f, const char *prefix, const char *delim,
		       unsigned max_keys, size_t *n);
static void free_items(char **items, size_t n);

/* ---- round trips ---- */

static const char *const rt_keys[] = {
	"a", "dir/file.txt", "with space", "sp ace/and tab\t", "\xc3\xbcnic\xc3\xb6" "de/\xd0\xba",
	"100%", "%", "%25", "%2E", "a//b", "//lead", "./x", "../x", "x/../y", "x/./y",
	".hidden", ".", "..", "...", ".obj", "d/.obj", ".tmp1", "dir/", "deep/er/marker/",
	"ctl\x01\x1f", "eq=sign", "nl\nin", "trailing.", "-dash", "~tilde",
};

static void test_roundtrip(void **state)
{
	struct fx *f = *state;
	struct objfs_kv meta[] = { KV("mode", "33188"), KV("odd", "v=1%\n\r\x01") };
	struct objfs_putopts opts = { .content_type = "text/plain", .meta = meta, .nmeta = 2 };

	for (size_t i = 0; i < sizeof(rt_keys) / sizeof(rt_keys[0]); i++) {
		const char *k = rt_keys[i];
		struct objfs_objinfo oi = { 0 };
		char etag[OBJFS_ETAG_MAX] = "", *body;

		assert_int_equal(put_buf(f, k, k, strlen(k), &opts, etag), 0);
		assert_true(strlen(etag) > 0);
		assert_int_equal(objfs_prov_head(f->p, B, k, &oi, &f->err), 0);
		assert_string_equal(oi.key, k);
		assert_int_equal(oi.size, strlen(k));
		assert_string_equal(oi.etag, etag);
		assert_string_equal(oi.content_type, "text/plain");
		assert_true(oi.has_meta);
		assert_int_equal(oi.mtime_ns, (int64_t)test_now * 1000000000LL);
		assert_string_equal(objfs_objinfo_meta(&oi, "mode"), "33188");
		assert_string_equal(objfs_objinfo_meta(&oi, "odd"), "v=1%\n\r\x01");
		assert_null(objfs_objinfo_meta(&oi, "missing"));
		objfs_objinfo_clear(&oi);
		body = get_str(f, k);
		assert_non_null(body);
		assert_string_equal(body, k);
		free(body);
	}
	/* Each key is a distinct object. */
	for (size_t i = 0; i < sizeof(rt_keys) / sizeof(rt_keys[0]); i++) {
		char *body = get_str(f, rt_keys[i]);
		assert_string_equal(body, rt_keys[i]);
		free(body);
	}
}

static void test_zero_length_and_segments(void **state)
{
	struct fx *f = *state;
	struct objfs_objinfo oi = { 0 };
	char buf[64], tmpl[] = "/tmp/objfs-seg-XXXXXX";
	uint64_t got = 99;
	int fd = mkstemp(tmpl);

	assert_true(fd >= 0);
	unlink(tmpl);
	assert_int_equal(write(fd, "0123456789", 10), 10);

	assert_int_equal(put_buf(f, "empty", "", 0, NULL, NULL), 0);
	assert_int_equal(objfs_prov_head(f->p, B, "empty", &oi, &f->err), 0);
	assert_int_equal(oi.size, 0);
	assert_string_equal(oi.content_type, "application/octet-stream");
	objfs_objinfo_clear(&oi);
	assert_int_equal(objfs_prov_get(f->p, B, "empty", 0, 10, NULL, buf, &got, &f->err), 0);
	assert_int_equal(got, 0);
	assert_int_equal(objfs_prov_put(f->p, B, "nullsrc", NULL, NULL, NULL, &f->err), 0);

	/* fd segment, memory segment, zeros, fd segment again. */
	struct objfs_seg segs[] = {
		{ .fd = fd, .off = 2, .len = 3 },
		{ .fd = -1, .buf = "abc", .len = 3 },
		{ .fd = -1, .len = 4 },
		{ .fd = fd, .off = 8, .len = 2 },
	};
	struct objfs_source src = { .segs = segs, .nsegs = 4, .size = 12 };
	assert_int_equal(objfs_prov_put(f->p, B, "segs", &src, NULL, NULL, &f->err), 0);
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(objfs_prov_get(f->p, B, "segs", 0, sizeof(buf), NULL, buf, &got,
					&f->err), 0);
	assert_int_equal(got, 12);
	assert_memory_equal(buf, "234abc\0\0\0\0" "89", 12);

	/* Declared size must match; a source shorter than declared fails. */
	src.size = 13;
	assert_int_equal(objfs_prov_put(f->p, B, "bad", &src, NULL, NULL, &f->err), -EINVAL);
	segs[3].len = 5;
	src.size = 15;
	assert_int_equal(objfs_prov_put(f->p, B, "bad", &src, NULL, NULL, &f->err), -EIO);
	assert_int_equal(objfs_prov_head(f->p, B, "bad", &oi, &f->err), -ENOENT);
	close(fd);
}

static void test_ranged_get(void **state)
{
	static const struct { uint64_t off, len; const char *want; } cases[] = {
		{ 0, 10, "0123456789" }, { 0, 100, "0123456789" }, { 3, 4, "3456" },
		{ 9, 5, "9" }, { 10, 5, "" }, { 50, 5, "" }, { 4, 0, "" },
	};
	struct fx *f = *state;

	assert_int_equal(put_str(f, "r", "0123456789"), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[128] = "";
		uint64_t got = 77;
		assert_int_equal(objfs_prov_get(f->p, B, "r", cases[i].off, cases[i].len, NULL,
						buf, &got, &f->err), 0);
		assert_int_equal(got, strlen(cases[i].want));
		assert_memory_equal(buf, cases[i].want, got);
	}
}

static void test_missing_and_bad_keys(void **state)
{
	struct fx *f = *state;
	struct objfs_objinfo oi = { 0 };
	char buf[8], longkey[OBJFS_KEY_MAX + 2], okkey[OBJFS_KEY_MAX + 1];
	uint64_t got;

	assert_int_equal(objfs_prov_head(f->p, B, "nope", &oi, &f->err), -ENOENT);
	assert_true(strlen(f->err.msg) > 0);
	assert_int_equal(objfs_prov_get(f->p, B, "nope", 0, 1, NULL, buf, &got, &f->err), -ENOENT);
	assert_int_equal(objfs_prov_head(f->p, "nobucket", "a", &oi, &f->err), -ENOENT);
	assert_int_equal(put_str(f, "", "x"), -EINVAL);
	memset(longkey, 'k', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	assert_int_equal(put_str(f, longkey, "x"), -ENAMETOOLONG);
	/* 1024 bytes in segments of <= 200 bytes is fine. */
	memset(okkey, 'k', sizeof(okkey) - 1);
	okkey[sizeof(okkey) - 1] = '\0';
	for (size_t i = 200; i < OBJFS_KEY_MAX; i += 201)
		okkey[i] = '/';
	assert_int_equal(put_str(f, okkey, "ok"), 0);
	free(get_str(f, okkey));
	size_t n;
	char **items = list_all(f, "k", NULL, 0, &n);
	assert_int_equal(n, 1);
	assert_string_equal(items[0] + 1, okkey);
	free_items(items, n);
	/* A key that is also a prefix: "p" and "p/q" are both objects. */
	assert_int_equal(put_str(f, "p", "1"), 0);
	assert_int_equal(put_str(f, "p/q", "2"), 0);
	assert_int_equal(objfs_prov_del(f->p, B, "p", &f->err), 0);
	char *s = get_str(f, "p/q");
	assert_string_equal(s, "2");
	free(s);
	assert_null(get_str(f, "p"));
	assert_int_equal(put_str(f, "p", "3"), 0);
	assert_int_equal(objfs_prov_del(f->p, B, "p/q", &f->err), 0);
	s = get_str(f, "p");
	assert_string_equal(s, "3");
	free(s);
}

/* ---- listing ---- */

static const char *const list_keys[] = {
	"a", "a-x", "a/b", "a/c/d", "a0", "b/", "b/x", "c", "c/d/e", "c//f", "d e", "z%",
};

/* Expected items: "K<key>" for an object, "P<prefix>" for a common prefix. */
static const struct {
	const char *prefix, *delim;
	const char *want[16];
} list_cases[] = {
	{ "", NULL, { "Ka", "Ka-x", "Ka/b", "Ka/c/d", "Ka0", "Kb/", "Kb/x", "Kc", "Kc//f",
		      "Kc/d/e", "Kd e", "Kz%" } },
	{ "", "/", { "Ka", "Ka-x", "Pa/", "Ka0", "Pb/", "Kc", "Pc/", "Kd e", "Kz%" } },
	{ "a", "/", { "Ka", "Ka-x", "Pa/", "Ka0" } },
	{ "a/", "/", { "Ka/b", "Pa/c/" } },
	{ "a/", NULL, { "Ka/b", "Ka/c/d" } },
	{ "a/c", "/", { "Pa/c/" } },
	{ "c/", "/", { "Pc//", "Pc/d/" } },
	{ "c/", NULL, { "Kc//f", "Kc/d/e" } },
	{ "c//", "/", { "Kc//f" } },
	{ "b/", "/", { "Kb/", "Kb/x" } },
	{ "b", "/", { "Pb/" } },
	{ "", "-", { "Ka", "Pa-", "Ka/b", "Ka/c/d", "Ka0", "Kb/", "Kb/x", "Kc", "Kc//f",
		     "Kc/d/e", "Kd e", "Kz%" } },
	/* "a/c/d" contains the delimiter "/d": it rolls into itself as a prefix. */
	{ "", "/d", { "Ka", "Ka-x", "Ka/b", "Pa/c/d", "Ka0", "Kb/", "Kb/x", "Kc", "Kc//f",
		      "Pc/d", "Kd e", "Kz%" } },
	{ "d", "/", { "Kd e" } },
	{ "zz", "/", { NULL } },
	{ "a/c/d/", "/", { NULL } },
	{ "nothing/", NULL, { NULL } },
};

/* Set by tests whose objects hold their own key as the body. */
static int list_body_is_key;

/* Lists everything with pages of max_keys; checks page rules and order and
 * returns the items as a malloc'ed array of "K..."/"P..." strings. */
static char **list_all(struct fx *f, const char *prefix, const char *delim, unsigned max_keys,
		       size_t *n)
{
	char **items = NULL, *token = NULL;
	size_t cnt = 0, pages = 0;

	do {
		struct objfs_listing l = { 0 };
		size_t io = 0, ip = 0;
		assert_int_equal(objfs_prov_list(f->p, B, prefix, delim, token, max_keys, &l,
						 &f->err), 0);
		pages++;
		assert_true(l.nobjects + l.nprefixes <= (max_keys ? max_keys : 1000));
		if (l.next_token)
			assert_true(l.nobjects + l.nprefixes == max_keys);
		items = realloc(items, (cnt + l.nobjects + l.nprefixes + 1) * sizeof(*items));
		assert_non_null(items);
		while (io < l.nobjects || ip < l.nprefixes) {
			int obj = ip == l.nprefixes ||
				  (io < l.nobjects && strcmp(l.objects[io].key, l.prefixes[ip]) < 0);
			const char *s = obj ? l.objects[io].key : l.prefixes[ip];
			char *it = malloc(strlen(s) + 2);
			assert_non_null(it);
			it[0] = obj ? 'K' : 'P';
			strcpy(it + 1, s);
			if (obj) {
				assert_true(l.objects[io].has_meta);
				if (list_body_is_key)
					assert_int_equal(l.objects[io].size, strlen(s));
				assert_true(strlen(l.objects[io].etag) > 0);
				assert_non_null(l.objects[io].content_type);
				io++;
			} else {
				ip++;
			}
			/* Strictly increasing byte order across pages. */
			if (cnt)
				assert_true(strcmp(items[cnt - 1] + 1, it + 1) < 0);
			items[cnt++] = it;
		}
		free(token);
		token = l.next_token ? strdup(l.next_token) : NULL;
		objfs_listing_clear(&l);
		assert_true(pages < 100000);
	} while (token);
	*n = cnt;
	return items;
}

static void free_items(char **items, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(items[i]);
	free(items);
}

static void test_list(void **state)
{
	static const unsigned page_sizes[] = { 1, 2, 3, 5, 1000, 0 };
	struct fx *f = *state;

	for (size_t i = 0; i < sizeof(list_keys) / sizeof(list_keys[0]); i++)
		assert_int_equal(put_str(f, list_keys[i], list_keys[i]), 0);
	list_body_is_key = 1;
	for (size_t c = 0; c < sizeof(list_cases) / sizeof(list_cases[0]); c++) {
		for (size_t ps = 0; ps < sizeof(page_sizes) / sizeof(page_sizes[0]); ps++) {
			size_t n, want = 0;
			char **items = list_all(f, list_cases[c].prefix, list_cases[c].delim,
						page_sizes[ps], &n);
			while (list_cases[c].want[want])
				want++;
			if (n != want)
				fail_msg("case %zu (prefix '%s') page %u: %zu items, want %zu", c,
					 list_cases[c].prefix, page_sizes[ps], n, want);
			for (size_t k = 0; k < n; k++)
				assert_string_equal(items[k], list_cases[c].want[k]);
			free_items(items, n);
		}
	}
	list_body_is_key = 0;
}

static void test_list_continuation(void **state)
{
	struct fx *f = *state;
	struct objfs_listing l = { 0 };

	for (size_t i = 0; i < sizeof(list_keys) / sizeof(list_keys[0]); i++)
		assert_int_equal(put_str(f, list_keys[i], "x"), 0);
	/* Page 1: a, a-x, a/  -> token "a/"; page 2 must not repeat a/b or a/c/d. */
	assert_int_equal(objfs_prov_list(f->p, B, "", "/", NULL, 3, &l, &f->err), 0);
	assert_int_equal(l.nobjects, 2);
	assert_int_equal(l.nprefixes, 1);
	assert_string_equal(l.prefixes[0], "a/");
	assert_non_null(l.next_token);
	char *tok = strdup(l.next_token);
	objfs_listing_clear(&l);
	assert_int_equal(objfs_prov_list(f->p, B, "", "/", tok, 1, &l, &f->err), 0);
	assert_int_equal(l.nobjects, 1);
	assert_string_equal(l.objects[0].key, "a0");
	objfs_listing_clear(&l);
	/* Without a delimiter, the same token resumes inside a/. */
	assert_int_equal(objfs_prov_list(f->p, B, "", NULL, tok, 1, &l, &f->err), 0);
	assert_string_equal(l.objects[0].key, "a/b");
	objfs_listing_clear(&l);
	free(tok);
	/* A token past everything: empty last page. */
	assert_int_equal(objfs_prov_list(f->p, B, "", "/", "zzz", 10, &l, &f->err), 0);
	assert_int_equal(l.nobjects + l.nprefixes, 0);
	assert_null(l.next_token);
	objfs_listing_clear(&l);
	/* Exactly max_keys items: no next token. */
	assert_int_equal(objfs_prov_list(f->p, B, "a/", "/", NULL, 2, &l, &f->err), 0);
	assert_int_equal(l.nobjects + l.nprefixes, 2);
	assert_null(l.next_token);
	objfs_listing_clear(&l);
	assert_int_equal(objfs_prov_list(f->p, "nobucket", "", NULL, NULL, 0, &l, &f->err),
			 -ENOENT);
}

/* ---- conditions, delete, copy ---- */

static void test_conditional(void **state)
{
	struct fx *f = *state;
	char e1[OBJFS_ETAG_MAX], e2[OBJFS_ETAG_MAX], buf[8];
	struct objfs_putopts inm = { .if_none_match = 1 };
	struct objfs_putopts im = { 0 };
	uint64_t got;

	assert_int_equal(put_buf(f, "c", "one", 3, &inm, e1), 0);
	assert_int_equal(put_buf(f, "c", "two", 3, &inm, NULL), -EEXIST);
	im.if_match = "not-the-etag";
	assert_int_equal(put_buf(f, "c", "two", 3, &im, NULL), -ESTALE);
	im.if_match = e1;
	assert_int_equal(put_buf(f, "c", "two", 3, &im, e2), 0);
	assert_string_not_equal(e1, e2);
	assert_int_equal(put_buf(f, "c", "three", 5, &im, NULL), -ESTALE);
	assert_int_equal(put_buf(f, "missing", "x", 1, &im, NULL), -ESTALE);
	assert_int_equal(objfs_prov_get(f->p, B, "c", 0, 8, e1, buf, &got, &f->err), -ESTALE);
	assert_int_equal(objfs_prov_get(f->p, B, "c", 0, 8, e2, buf, &got, &f->err), 0);
	assert_memory_equal(buf, "two", 3);
}

static void test_delete(void **state)
{
	struct fx *f = *state;
	const char *keys[] = { "d1", "dir/d2", "never", "dir/sub/d3" };
	const char *many[1001];
	int res[1001];
	struct objfs_objinfo oi = { 0 };

	assert_int_equal(objfs_prov_del(f->p, B, "missing", &f->err), 0);
	assert_int_equal(put_str(f, "d1", "x"), 0);
	assert_int_equal(put_str(f, "dir/d2", "x"), 0);
	assert_int_equal(put_str(f, "dir/sub/d3", "x"), 0);
	assert_int_equal(put_str(f, "dir/keep", "x"), 0);
	assert_int_equal(objfs_prov_del(f->p, B, "d1", &f->err), 0);
	assert_int_equal(objfs_prov_head(f->p, B, "d1", &oi, &f->err), -ENOENT);
	assert_int_equal(put_str(f, "d1", "x"), 0);
	memset(res, 0x55, sizeof(res));
	assert_int_equal(objfs_prov_del_batch(f->p, B, keys, 4, res, &f->err), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(res[i], 0);
		assert_int_equal(objfs_prov_head(f->p, B, keys[i], &oi, &f->err), -ENOENT);
	}
	free(get_str(f, "dir/keep"));
	for (int i = 0; i < 1001; i++)
		many[i] = "k";
	assert_int_equal(objfs_prov_del_batch(f->p, B, many, 1001, res, &f->err), -EINVAL);
	assert_int_equal(objfs_prov_del_batch(f->p, B, many, 1000, res, &f->err), 0);
}

static void test_copy(void **state)
{
	struct fx *f = *state;
	struct objfs_kv m1[] = { KV("mode", "33188"), KV("uid", "1000") };
	struct objfs_kv m2[] = { KV("mode", "33261") };
	struct objfs_putopts o1 = { .content_type = "text/plain", .meta = m1, .nmeta = 2 };
	struct objfs_putopts o2 = { .content_type = "image/png", .meta = m2, .nmeta = 1 };
	struct objfs_putopts bad = { .if_match = "nope" };
	char e0[OBJFS_ETAG_MAX], e1[OBJFS_ETAG_MAX], e2[OBJFS_ETAG_MAX];
	struct objfs_objinfo oi = { 0 };
	char *s;

	assert_int_equal(put_buf(f, "src", "payload", 7, &o1, e0), 0);
	/* Keep metadata. */
	assert_int_equal(objfs_prov_copy(f->p, B, "src", "dst/keep", NULL, e1, &f->err), 0);
	assert_int_equal(objfs_prov_head(f->p, B, "dst/keep", &oi, &f->err), 0);
	assert_string_equal(oi.etag, e1);
	assert_string_equal(oi.content_type, "text/plain");
	assert_string_equal(objfs_objinfo_meta(&oi, "uid"), "1000");
	objfs_objinfo_clear(&oi);
	s = get_str(f, "dst/keep");
	assert_string_equal(s, "payload");
	free(s);
	/* Replace metadata. */
	assert_int_equal(objfs_prov_copy(f->p, B, "src", "dst/repl", &o2, NULL, &f->err), 0);
	assert_int_equal(objfs_prov_head(f->p, B, "dst/repl", &oi, &f->err), 0);
	assert_string_equal(oi.content_type, "image/png");
	assert_string_equal(objfs_objinfo_meta(&oi, "mode"), "33261");
	assert_null(objfs_objinfo_meta(&oi, "uid"));
	objfs_objinfo_clear(&oi);
	/* Same key, replace in place: data kept, metadata and ETag new. */
	test_now += 5;
	assert_int_equal(objfs_prov_copy(f->p, B, "src", "src", &o2, e2, &f->err), 0);
	assert_string_not_equal(e0, e2);
	assert_int_equal(objfs_prov_head(f->p, B, "src", &oi, &f->err), 0);
	assert_string_equal(oi.etag, e2);
	assert_string_equal(objfs_objinfo_meta(&oi, "mode"), "33261");
	assert_int_equal(oi.size, 7);
	assert_int_equal(oi.mtime_ns, (int64_t)test_now * 1000000000LL);
	objfs_objinfo_clear(&oi);
	s = get_str(f, "src");
	assert_string_equal(s, "payload");
	free(s);
	/* Again (the other slot), then once more (back to the first). */
	assert_int_equal(objfs_prov_copy(f->p, B, "src", "src", &o1, NULL, &f->err), 0);
	assert_int_equal(objfs_prov_copy(f->p, B, "src", "src", &o2, NULL, &f->err), 0);
	assert_int_equal(objfs_prov_head(f->p, B, "src", &oi, &f->err), 0);
	assert_string_equal(objfs_objinfo_meta(&oi, "mode"), "33261");
	objfs_objinfo_clear(&oi);
	/* Errors. */
	assert_int_equal(objfs_prov_copy(f->p, B, "src", "x", &bad, NULL, &f->err), -ESTALE);
	assert_int_equal(objfs_prov_copy(f->p, B, "src", "src", &bad, NULL, &f->err), -ESTALE);
	assert_int_equal(objfs_prov_copy(f->p, B, "nosuch", "x", NULL, NULL, &f->err), -ENOENT);
	assert_int_equal(objfs_prov_copy(f->p, B, "src", "src", NULL, NULL, &f->err), -EINVAL);
	bad.if_match = e1;   /* the etag of dst/keep, not of src */
	assert_int_equal(objfs_prov_copy(f->p, B, "src", "x", &bad, NULL, &f->err), -ESTALE);
}

/* ---- multipart ---- */

static int upload_part(struct fx *f, const char *key, const char *id, int n, const void *buf,
		       size_t len, char *etag)
{
	struct objfs_seg seg = { .fd = -1, .buf = buf, .len = len };
	struct objfs_source src = { .segs = &seg, .nsegs = 1, .size = len };

	/* the offset only matters to sequential stores; these ignore it */
	return objfs_prov_mpu_upload_part(f->p, B, key, id, n, 0, &src, etag, &f->err);
}

static void test_multipart(void **state)
{
	struct fx *f = *state;
	size_t min = f->p->ops->mpu_min_part;
	char *a = malloc(min), *b = malloc(min), *id = NULL, *id2 = NULL, *got;
	struct objfs_part parts[3], *lp = NULL;
	struct objfs_kv meta[] = { KV("mode", "33188") };
	struct objfs_putopts opts = { .content_type = "text/csv", .meta = meta, .nmeta = 1 };
	struct objfs_objinfo oi = { 0 };
	char etag[OBJFS_ETAG_MAX], old1[OBJFS_ETAG_MAX];
	uint64_t n;
	size_t np;

	assert_non_null(a);
	assert_non_null(b);
	memset(a, 'A', min);
	memset(b, 'B', min);
	assert_int_equal(put_str(f, "source", "0123456789"), 0);
	assert_int_equal(objfs_prov_mpu_create(f->p, B, "big/file", &opts, &id, &f->err), 0);
	assert_non_null(id);
	/* Out of order, and part 1 uploaded twice (the second replaces the first). */
	assert_int_equal(upload_part(f, "big/file", id, 2, b, min, parts[1].etag), 0);
	assert_int_equal(upload_part(f, "big/file", id, 1, b, 10, old1), 0);
	assert_int_equal(upload_part(f, "big/file", id, 1, a, min, parts[0].etag), 0);
	assert_string_not_equal(old1, parts[0].etag);
	assert_int_equal(objfs_prov_mpu_upload_part_copy(f->p, B, "big/file", id, 3, "source",
							 NULL, 2, 5, parts[2].etag, &f->err), 0);
	assert_int_equal(objfs_prov_mpu_upload_part_copy(f->p, B, "big/file", id, 4, "source",
							 "wrong", 0, 1, etag, &f->err), -ESTALE);
	assert_int_equal(objfs_prov_mpu_upload_part_copy(f->p, B, "big/file", id, 4, "source",
							 NULL, 8, 5, etag, &f->err), -EINVAL);
	assert_int_equal(upload_part(f, "big/file", id, 0, a, 1, etag), -EINVAL);
	assert_int_equal(upload_part(f, "big/file", id, 10001, a, 1, etag), -EINVAL);
	assert_int_equal(upload_part(f, "other", id, 5, a, 1, etag), -ENOENT);
	parts[0].number = 1;
	parts[1].number = 2;
	parts[2].number = 3;
	assert_int_equal(objfs_prov_mpu_list_parts(f->p, B, "big/file", id, &lp, &np, &f->err), 0);
	assert_int_equal(np, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(lp[i].number, (int)i + 1);
		assert_string_equal(lp[i].etag, parts[i].etag);
		parts[i].size = lp[i].size;
	}
	assert_int_equal(lp[0].size, min);
	assert_int_equal(lp[2].size, 5);
	free(lp);
	/* Bad completes change nothing. */
	struct objfs_part swapped[2] = { parts[1], parts[0] };
	assert_int_equal(objfs_prov_mpu_complete(f->p, B, "big/file", id, swapped, 2, etag,
						 &f->err), -EINVAL);
	struct objfs_part stale[1] = { parts[0] };
	strcpy(stale[0].etag, old1);
	assert_int_equal(objfs_prov_mpu_complete(f->p, B, "big/file", id, stale, 1, etag,
						 &f->err), -EINVAL);
	struct objfs_part small[2] = { parts[2], parts[2] };
	small[1].number = 4;
	assert_int_equal(objfs_prov_mpu_complete(f->p, B, "big/file", id, parts, 0, etag,
						 &f->err), -EINVAL);
	assert_int_equal(objfs_prov_mpu_complete(f->p, B, "big/file", id, small, 2, etag,
						 &f->err), -EINVAL);
	assert_int_equal(objfs_prov_head(f->p, B, "big/file", &oi, &f->err), -ENOENT);
	/* The real one. */
	assert_int_equal(objfs_prov_mpu_complete(f->p, B, "big/file", id, parts, 3, etag,
						 &f->err), 0);
	assert_non_null(strstr(etag, "-3"));
	/* S3's rule, so write-back can tell its own landed upload (writeback.c) */
	assert_int_equal(objfs_mpu_etag(parts, 3, old1), 0);
	assert_string_equal(etag, old1);
	assert_int_equal(objfs_prov_head(f->p, B, "big/file", &oi, &f->err), 0);
	assert_int_equal(oi.size, 2 * min + 5);
	assert_string_equal(oi.etag, etag);
	assert_string_equal(oi.content_type, "text/csv");
	assert_string_equal(objfs_objinfo_meta(&oi, "mode"), "33188");
	objfs_objinfo_clear(&oi);
	got = malloc(2 * min + 5);
	assert_int_equal(objfs_prov_get(f->p, B, "big/file", 0, 2 * min + 5, NULL, got, &n,
					&f->err), 0);
	assert_int_equal(n, 2 * min + 5);
	assert_memory_equal(got, a, min);
	assert_memory_equal(got + min, b, min);
	assert_memory_equal(got + 2 * min, "23456", 5);
	free(got);
	/* The upload is gone. */
	assert_int_equal(objfs_prov_mpu_list_parts(f->p, B, "big/file", id, &lp, &np, &f->err),
			 -ENOENT);
	assert_int_equal(objfs_prov_mpu_abort(f->p, B, "big/file", id, &f->err), -ENOENT);

	/* EntityTooSmall, then abort. */
	assert_int_equal(objfs_prov_mpu_create(f->p, B, "small", NULL, &id2, &f->err), 0);
	assert_int_equal(upload_part(f, "small", id2, 1, a, 100, parts[0].etag), 0);
	assert_int_equal(upload_part(f, "small", id2, 2, a, 100, parts[1].etag), 0);
	parts[0].number = 1;
	parts[1].number = 2;
	assert_int_equal(objfs_prov_mpu_complete(f->p, B, "small", id2, parts, 2, etag, &f->err),
			 -EINVAL);
	assert_non_null(strstr(f->err.msg, "EntityTooSmall"));
	assert_int_equal(objfs_prov_mpu_abort(f->p, B, "wrongkey", id2, &f->err), -ENOENT);
	assert_int_equal(objfs_prov_mpu_abort(f->p, B, "small", id2, &f->err), 0);
	assert_int_equal(objfs_prov_mpu_abort(f->p, B, "small", id2, &f->err), -ENOENT);
	assert_int_equal(upload_part(f, "small", id2, 3, a, 1, etag), -ENOENT);
	assert_int_equal(objfs_prov_mpu_abort(f->p, B, "small", "../../etc", &f->err), -ENOENT);
	assert_int_equal(objfs_prov_head(f->p, B, "small", &oi, &f->err), -ENOENT);
	free(id);
	free(id2);
	free(a);
	free(b);
}

/* ---- threads ---- */

#define RACE_THREADS 8

struct race {
	struct fx *f;
	int id;
	int created;        /* if_none_match puts that succeeded */
	int failed;         /* anything unexpected */
};

static void *race_main(void *arg)
{
	struct race *r = arg;
	struct objfs_putopts inm = { .if_none_match = 1 };
	struct objfs_err err;
	char key[64], body[64];

	for (int i = 0; i < 50; i++) {
		struct objfs_seg seg = { .fd = -1, .buf = body };
		struct objfs_source src = { .segs = &seg, .nsegs = 1 };
		int rc;
		/* Everybody races to create the same key: exactly one wins. */
		snprintf(key, sizeof(key), "race/k%d", i);
		seg.len = src.size = (uint64_t)snprintf(body, sizeof(body), "t%d", r->id);
		rc = objfs_prov_put(r->f->p, B, key, &src, &inm, NULL, &err);
		if (rc == 0)
			r->created++;
		else if (rc != -EEXIST)
			r->failed++;
		/* Put and delete siblings in one directory (rmdir vs mkdir). */
		snprintf(key, sizeof(key), "churn/d%d/x%d", i % 3, r->id);
		if (objfs_prov_put(r->f->p, B, key, &src, NULL, NULL, &err) != 0 ||
		    objfs_prov_del(r->f->p, B, key, &err) != 0)
			r->failed++;
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct fx *f = *state;
	struct race r[RACE_THREADS];
	pthread_t t[RACE_THREADS];
	int created = 0;
	size_t n;

	for (int i = 0; i < RACE_THREADS; i++) {
		r[i] = (struct race){ .f = f, .id = i };
		assert_int_equal(pthread_create(&t[i], NULL, race_main, &r[i]), 0);
	}
	for (int i = 0; i < RACE_THREADS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(r[i].failed, 0);
		created += r[i].created;
	}
	assert_int_equal(created, 50);
	char **items = list_all(f, "", NULL, 7, &n);
	assert_int_equal(n, 50);      /* churn/ is empty again */
	free_items(items, n);
}

/* ---- buckets, presign, health ---- */

static void test_buckets(void **state)
{
	static const struct { const char *name; int rc; } cases[] = {
		{ "ok-bucket", 0 }, { "a.b.c", 0 }, { "abc", 0 }, { "ab", -EINVAL },
		{ "Upper", -EINVAL }, { "-lead", -EINVAL }, { "trail-", -EINVAL },
		{ "a..b", -EINVAL }, { "../x", -EINVAL }, { ".objfs", -EINVAL },
		{ "under_score", -EINVAL }, { "a/b", -EINVAL }, { "", -EINVAL },
		{ "0123456789012345678901234567890123456789012345678901234567890123", -EINVAL },
	};
	struct fx *f = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int want_exists = cases[i].rc == 0 ? -ENOENT : -EINVAL;
		assert_int_equal(objfs_prov_bucket_exists(f->p, cases[i].name, &f->err),
				 want_exists);
		assert_int_equal(objfs_prov_bucket_create(f->p, cases[i].name, &f->err),
				 cases[i].rc);
		if (cases[i].rc == 0) {
			assert_int_equal(objfs_prov_bucket_exists(f->p, cases[i].name, &f->err), 0);
			assert_int_equal(objfs_prov_bucket_create(f->p, cases[i].name, &f->err), 0);
		}
	}
	assert_int_equal(objfs_prov_put(f->p, "no-such-bucket", "k", NULL, NULL, NULL, &f->err),
			 -ENOENT);
}

/* Parses X-Objfs-Expires and X-Objfs-Signature out of a URL. */
static void url_params(const char *url, char *expires, char *sig)
{
	const char *e = strstr(url, "X-Objfs-Expires="), *s = strstr(url, "X-Objfs-Signature=");

	assert_non_null(e);
	assert_non_null(s);
	sscanf(e + 16, "%31[0-9]", expires);
	sscanf(s + 18, "%64[0-9a-f]", sig);
}

static void fx_secret(struct fx *f, unsigned char *secret)
{
	if (f->kind == KIND_MEM) {
		memcpy(secret, OBJFS_MEM_PRESIGN_SECRET, OBJFS_PRESIGN_SECRET_LEN);
	} else {
		char path[256];
		snprintf(path, sizeof(path), "%s/.objfs/presign.key", f->root);
		FILE *fp = fopen(path, "rb");
		assert_non_null(fp);
		assert_int_equal(fread(secret, 1, OBJFS_PRESIGN_SECRET_LEN, fp),
				 OBJFS_PRESIGN_SECRET_LEN);
		fclose(fp);
	}
}

static void test_presign(void **state)
{
	struct fx *f = *state;
	unsigned char secret[OBJFS_PRESIGN_SECRET_LEN];
	char expires[32] = "", sig[65] = "", *url = NULL;
	const char *key = "dir/my file+ü.txt";
	const struct { const char *method, *bucket, *key; int dt; int rc; } cases[] = {
		{ "GET", B, key, 0, 0 },
		{ "GET", B, key, 60, 0 },
		{ "GET", B, key, 61, -EKEYEXPIRED },
		{ "PUT", B, key, 0, -EACCES },
		{ "GET", B, "dir/my file+u.txt", 0, -EACCES },
		{ "GET", "other", key, 0, -EACCES },
	};

	fx_secret(f, secret);
	assert_int_equal(objfs_prov_presign(f->p, B, key, "GET", 60, &url, &f->err), 0);
	assert_non_null(url);
	if (f->kind == KIND_LOCAL) {
		static const char want[] = "http://127.0.0.1:9080/bkt/dir/my%20file%2B%C3%BC.txt?"
					   "X-Objfs-Method=GET&X-Objfs-Expires=1700000060&"
					   "X-Objfs-Signature=";
		assert_int_equal(strncmp(url, want, sizeof(want) - 1), 0);
		assert_int_equal(strlen(url), sizeof(want) - 1 + 64);
	} else {
		assert_int_equal(strncmp(url, "mem://bkt/", 10), 0);
	}
	url_params(url, expires, sig);
	assert_string_equal(expires, "1700000060");
	assert_int_equal(strlen(sig), 64);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(objfs_local_presign_check(secret, sizeof(secret), cases[i].method,
							   cases[i].bucket, cases[i].key,
							   expires, sig, test_now + cases[i].dt),
				 cases[i].rc);
	/* Tampered expiry or signature. */
	assert_int_equal(objfs_local_presign_check(secret, sizeof(secret), "GET", B, key,
						   "1700009999", sig, test_now), -EACCES);
	sig[10] = sig[10] == 'a' ? 'b' : 'a';
	assert_int_equal(objfs_local_presign_check(secret, sizeof(secret), "GET", B, key,
						   expires, sig, test_now), -EACCES);
	assert_int_equal(objfs_local_presign_check(secret, sizeof(secret), "GET", B, key,
						   expires, "abc", test_now), -EACCES);
	assert_int_equal(objfs_local_presign_check(secret, sizeof(secret), "GET", B, key,
						   "-5", sig, test_now), -EACCES);
	free(url);
	url = NULL;
	/* A clock later: the URL's expiry moves with it. */
	test_now += 1000;
	assert_int_equal(objfs_prov_presign(f->p, B, key, "PUT", 1, &url, &f->err), 0);
	url_params(url, expires, sig);
	assert_string_equal(expires, "1700001001");
	assert_int_equal(objfs_local_presign_check(secret, sizeof(secret), "PUT", B, key,
						   expires, sig, test_now + 1), 0);
	free(url);
	url = NULL;
	assert_int_equal(objfs_prov_presign(f->p, B, key, "GET", 0, &url, &f->err), -EINVAL);
	assert_int_equal(objfs_prov_presign(f->p, B, key, "GET", 604801, &url, &f->err), -EINVAL);
	assert_int_equal(objfs_prov_presign(f->p, B, key, "DELETE", 60, &url, &f->err), -EINVAL);
	assert_int_equal(objfs_prov_presign(f->p, B, key, "GET", 604800, &url, &f->err), 0);
	free(url);
}

/* presign_check: the provider checks its own URLs with its secret and clock. */
static void test_presign_check(void **state)
{
	struct fx *f = *state;
	char expires[32] = "", sig[65] = "", bad[65], later[32], *url = NULL;
	const char *key = "dir/a b+ü.txt";

	assert_int_equal(objfs_prov_presign(f->p, B, key, "PUT", 60, &url, &f->err), 0);
	url_params(url, expires, sig);
	free(url);
	memcpy(bad, sig, sizeof(bad));
	bad[63] = bad[63] == '0' ? '1' : '0';
	snprintf(later, sizeof(later), "%lld", (long long)test_now + 3600);
	const struct {
		const char *method, *bucket, *key, *expires, *sig;
		int dt, rc;
	} cases[] = {
		{ "PUT", B, key, expires, sig, 0, 0 },
		{ "PUT", B, key, expires, sig, 60, 0 },
		{ "PUT", B, key, expires, sig, 61, -EKEYEXPIRED },
		{ "GET", B, key, expires, sig, 0, -EACCES },        /* another method */
		{ "DELETE", B, key, expires, sig, 0, -EACCES },     /* not signable */
		{ "put", B, key, expires, sig, 0, -EACCES },
		{ NULL, B, key, expires, sig, 0, -EACCES },
		{ "PUT", "other", key, expires, sig, 0, -EACCES },
		{ "PUT", B, "dir/a b+u.txt", expires, sig, 0, -EACCES },
		{ "PUT", B, "dir/a b+ü.txt/", expires, sig, 0, -EACCES },
		{ "PUT", B, key, later, sig, 0, -EACCES },          /* tampered expiry */
		{ "PUT", B, key, "", sig, 0, -EACCES },
		{ "PUT", B, key, NULL, sig, 0, -EACCES },
		{ "PUT", B, key, "+1700000060", sig, 0, -EACCES },
		{ "PUT", B, key, expires, bad, 0, -EACCES },        /* tampered signature */
		{ "PUT", B, key, expires, "", 0, -EACCES },
		{ "PUT", B, key, expires, NULL, 0, -EACCES },
		{ "PUT", B, key, expires, "zz", 0, -EACCES },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		time_t saved = test_now;

		test_now += cases[i].dt;
		memset(&f->err, 0, sizeof(f->err));
		assert_int_equal(objfs_prov_presign_check(f->p, cases[i].method, cases[i].bucket,
							  cases[i].key, cases[i].expires,
							  cases[i].sig, &f->err), cases[i].rc);
		if (cases[i].rc)
			assert_true(f->err.msg[0] != '\0');
		/* the message never holds the expected signature */
		assert_null(strstr(f->err.msg, sig));
		test_now = saved;
	}
}

/* S3's multipart ETag rule; the expected value was computed independently
 * (Python: md5(b"".join(bytes.fromhex(e) for e in etags)).hexdigest() + "-3"). */
static void test_mpu_etag(void **state)
{
	struct objfs_part p[3] = {
		{ 1, 5, "d41d8cd98f00b204e9800998ecf8427e" },
		{ 2, 5, "0CC175B9C0F1B6A831C399E269772661" },     /* case does not matter */
		{ 3, 5, "900150983cd24fb0d6963f7d28e17f72" },
	};
	char out[OBJFS_ETAG_MAX];

	(void)state;
	assert_int_equal(objfs_mpu_etag(p, 3, out), 0);
	assert_string_equal(out, "bd1f80a2da61c7bff610b5b38821a926-3");
	assert_int_equal(objfs_mpu_etag(p, 0, out), -EINVAL);
	p[1].etag[31] = 0;                                  /* 31 digits */
	assert_int_equal(objfs_mpu_etag(p, 3, out), -EINVAL);
	snprintf(p[1].etag, sizeof(p[1].etag), "%s", "0cc175b9c0f1b6a831c399e26977266g");
	assert_int_equal(objfs_mpu_etag(p, 3, out), -EINVAL);
}

/* Known-answer test of the signature (RFC 4231-style fixed inputs). */
static void test_presign_vector(void **state)
{
	char hex[OBJFS_PRESIGN_HEX_LEN], again[OBJFS_PRESIGN_HEX_LEN];
	unsigned char secret[32];

	(void)state;
	memset(secret, 0x0b, sizeof(secret));
	assert_int_equal(objfs_local_presign_sign(secret, 32, "GET", "bkt", "a/b", 100, hex), 0);
	assert_int_equal(strlen(hex), 64);
	assert_int_equal(objfs_local_presign_sign(secret, 32, "GET", "bkt", "a/b", 100, again), 0);
	assert_string_equal(hex, again);
	assert_int_equal(objfs_local_presign_sign(secret, 32, "GET", "bkt", "a/b", 101, again), 0);
	assert_string_not_equal(hex, again);
	assert_int_equal(objfs_local_presign_check(secret, 32, "GET", "bkt", "a/b", "100", hex, 100),
			 0);
	assert_int_equal(objfs_local_presign_check(secret, 32, "GET", "bkt", "a/b", "100", hex, 101),
			 -EKEYEXPIRED);
}

static void test_health(void **state)
{
	struct fx *f = *state;
	struct objfs_health h;

	assert_int_equal(objfs_prov_health(f->p, NULL, &h, &f->err), 0);
	assert_true(h.state == OBJFS_HEALTH_OK || h.state == OBJFS_HEALTH_DEGRADED);
	assert_true(h.latency_s >= 0);
	assert_true(strlen(h.detail) > 0);
	assert_int_equal(objfs_prov_health(f->p, B, &h, &f->err), 0);
	assert_true(h.state == OBJFS_HEALTH_OK || h.state == OBJFS_HEALTH_DEGRADED);
	assert_int_equal(objfs_prov_health(f->p, "missing-bucket", &h, &f->err), 0);
	assert_int_equal(h.state, OBJFS_HEALTH_NO_BUCKET);
}

/* ---- wrappers: ENOSYS and exactly one log line per call ---- */

static void test_wrappers_log(void **state)
{
	struct fx *f = *state;
	struct objfs_provider_ops empty = { .type = "empty" };
	struct objfs_prov ep = { .ops = &empty, .impl = NULL, .name = (char *)"ep" };
	struct objfs_objinfo oi = { 0 };
	char tmpl[] = "/tmp/objfs-log-XXXXXX", line[512];
	int fd = mkstemp(tmpl), saved = dup(2), lines = 0;
	FILE *fp;

	assert_true(fd >= 0 && saved >= 0);
	assert_int_equal(objfs_prov_head(&ep, B, "k", &oi, &f->err), -ENOSYS);
	assert_non_null(strstr(f->err.msg, "not supported"));
	objfs_log_set_level(OBJFS_LOG_DEBUG);
	fflush(stderr);
	dup2(fd, 2);
	assert_int_equal(put_str(f, "log/key", "x"), 0);
	assert_int_equal(objfs_prov_head(f->p, B, "log/key", &oi, &f->err), 0);
	objfs_objinfo_clear(&oi);
	assert_int_equal(objfs_prov_head(f->p, B, "nl\nkey", &oi, &f->err), -ENOENT);
	assert_int_equal(objfs_prov_del(&ep, B, "k", &f->err), -ENOSYS);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	objfs_log_set_level(OBJFS_LOG_INFO);
	fp = fdopen(fd, "r");
	assert_non_null(fp);
	rewind(fp);
	const char *want[] = {
		"prov %s put bucket=bkt key=log/key rc=0",
		"prov %s head bucket=bkt key=log/key rc=0",
		"prov %s head bucket=bkt key=nl%%0Akey rc=-2",
		"prov ep del bucket=bkt key=k rc=-38",
	};
	while (fgets(line, sizeof(line), fp)) {
		char w[128];
		assert_true(lines < 4);
		snprintf(w, sizeof(w), want[lines], f->p->name);
		assert_non_null(strstr(line, w));
		lines++;
	}
	assert_int_equal(lines, 4);
	fclose(fp);
	unlink(tmpl);
}

/* ---- local only ---- */

static void obj_path(struct fx *f, const char *rel, char *out, size_t size)
{
	snprintf(out, size, "%s/" B "/%s/.obj", f->root, rel);
}

static void test_local_atomic(void **state)
{
	struct fx *f = *state;
	char path[512], buf[16] = "";
	char *s;
	int fd;

	assert_int_equal(put_str(f, "at/om", "old-data"), 0);
	obj_path(f, "at/om", path, sizeof(path));
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(put_str(f, "at/om", "new-data!"), 0);
	assert_int_equal(pread(fd, buf, sizeof(buf), 8192), 8);
	assert_memory_equal(buf, "old-data", 8);
	close(fd);
	s = get_str(f, "at/om");
	assert_string_equal(s, "new-data!");
	free(s);
	/* No temporary files left behind. */
	snprintf(path, sizeof(path), "%s/.objfs/tmp", f->root);
	DIR *d = opendir(path);
	struct dirent *de;
	int n = 0;
	assert_non_null(d);
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	assert_int_equal(n, 0);
}

static uint32_t crc32_ref(const unsigned char *b, size_t n)
{
	uint32_t c = 0xFFFFFFFFu;

	for (size_t i = 0; i < n; i++) {
		c ^= b[i];
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
	}
	return ~c;
}

static void test_local_format_and_torn_slot(void **state)
{
	struct fx *f = *state;
	struct objfs_kv m1[] = { KV("mode", "1") }, m2[] = { KV("mode", "2") };
	struct objfs_putopts o1 = { .meta = m1, .nmeta = 1 }, o2 = { .meta = m2, .nmeta = 1 };
	struct objfs_objinfo oi = { 0 };
	unsigned char slot[4096];
	char path[512], etag[OBJFS_ETAG_MAX];
	int fd;

	assert_int_equal(put_buf(f, "t", "data", 4, &o1, etag), 0);
	obj_path(f, "t", path, sizeof(path));
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	/* Slot A is exactly what docs/providers.md says. */
	assert_int_equal(pread(fd, slot, sizeof(slot), 0), 4096);
	assert_memory_equal(slot, "OBJFSMD1", 8);
	uint32_t len = slot[16] | slot[17] << 8 | slot[18] << 16 | (uint32_t)slot[19] << 24;
	uint32_t crc = slot[20] | slot[21] << 8 | slot[22] << 16 | (uint32_t)slot[23] << 24;
	assert_int_equal(slot[8], 1);
	assert_int_equal(crc, crc32_ref(slot + 24, len));
	char want[512];
	snprintf(want, sizeof(want), "etag=%s\nsize=4\nmtime=%lld000000000\n"
		 "content-type=application/octet-stream\nm.mode=1\n", etag, (long long)test_now);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(slot + 24, want, len);
	assert_int_equal(lseek(fd, 0, SEEK_END), 8196);

	/* In-place metadata replacement goes to slot B with seq 2. */
	assert_int_equal(objfs_prov_copy(f->p, B, "t", "t", &o2, NULL, &f->err), 0);
	assert_int_equal(pread(fd, slot, sizeof(slot), 4096), 4096);
	assert_memory_equal(slot, "OBJFSMD1", 8);
	assert_int_equal(slot[8], 2);
	assert_int_equal(objfs_prov_head(f->p, B, "t", &oi, &f->err), 0);
	assert_string_equal(objfs_objinfo_meta(&oi, "mode"), "2");
	objfs_objinfo_clear(&oi);
	/* Tear slot B (crc no longer matches): slot A wins again. */
	unsigned char x = slot[30] ^ 0xff;
	assert_int_equal(pwrite(fd, &x, 1, 4096 + 30), 1);
	assert_int_equal(objfs_prov_head(f->p, B, "t", &oi, &f->err), 0);
	assert_string_equal(objfs_objinfo_meta(&oi, "mode"), "1");
	assert_string_equal(oi.etag, etag);
	objfs_objinfo_clear(&oi);
	/* The next replacement goes to the torn slot B (seq 2) and wins. */
	assert_int_equal(objfs_prov_copy(f->p, B, "t", "t", &o2, NULL, &f->err), 0);
	assert_int_equal(objfs_prov_head(f->p, B, "t", &oi, &f->err), 0);
	assert_string_equal(objfs_objinfo_meta(&oi, "mode"), "2");
	objfs_objinfo_clear(&oi);
	/* Both slots bad: EIO, and listings skip it. */
	memset(slot, 0, 8);
	assert_int_equal(pwrite(fd, slot, 8, 0), 8);
	assert_int_equal(pwrite(fd, slot, 8, 4096), 8);
	assert_int_equal(objfs_prov_head(f->p, B, "t", &oi, &f->err), -EIO);
	close(fd);
	struct objfs_listing l = { 0 };
	objfs_log_set_level(OBJFS_LOG_ERROR);   /* the expected "skipping corrupt" warning */
	assert_int_equal(objfs_prov_list(f->p, B, "", NULL, NULL, 0, &l, &f->err), 0);
	objfs_log_set_level(OBJFS_LOG_INFO);
	assert_int_equal(l.nobjects, 0);
	objfs_listing_clear(&l);
	/* Metadata too large for a slot. */
	static char big[5000];
	memset(big, 'v', sizeof(big) - 1);
	struct objfs_kv mb[] = { KV("big", big) };
	struct objfs_putopts ob = { .meta = mb, .nmeta = 1 };
	assert_int_equal(put_buf(f, "toobig", "x", 1, &ob, NULL), -E2BIG);
}

/* Walks dir; fails if anything but the expected top-level names exists. */
static void test_local_escape(void **state)
{
	static const struct { const char *key; const char *rel; } cases[] = {
		{ "..", "%2E." }, { ".", "%2E" }, { "../x", "%2E./x" }, { "../../etc/passwd",
		  "%2E./%2E./etc/passwd" }, { "/abs", "%/abs" }, { "a/../../b", "a/%2E./%2E./b" },
		{ ".objfs/presign.key", "%2Eobjfs/presign.key" }, { ".obj", "%2Eobj" },
		{ "dir/", "dir/%" }, { "a//b", "a/%/b" }, { "100%", "100%25" }, { "x\ny", "x%0Ay" },
		{ "./", "%2E/%" },
	};
	struct fx *f = *state;
	char path[512], longseg[300];
	struct dirent *de;
	DIR *d;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct stat st;
		assert_int_equal(put_str(f, cases[i].key, "x"), 0);
		obj_path(f, cases[i].rel, path, sizeof(path));
		if (stat(path, &st) != 0)
			fail_msg("key '%s': %s missing", cases[i].key, path);
	}
	/* Nothing outside root/bkt and root/.objfs. */
	d = opendir(f->dir);
	while ((de = readdir(d)))
		assert_true(de->d_name[0] == '.' || strcmp(de->d_name, "root") == 0);
	closedir(d);
	d = opendir(f->root);
	while ((de = readdir(d)))
		assert_true(!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
			    !strcmp(de->d_name, ".objfs") || !strcmp(de->d_name, B));
	closedir(d);
	/* The presign key is untouched and still 32 bytes. */
	struct stat st;
	snprintf(path, sizeof(path), "%s/.objfs/presign.key", f->root);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 32);
	/* Listing gives back the keys as written. */
	size_t n;
	char **items = list_all(f, "", NULL, 4, &n);
	assert_int_equal(n, sizeof(cases) / sizeof(cases[0]));
	free_items(items, n);
	/* Segment limits: 255 encoded bytes. */
	memset(longseg, 'a', 255);
	longseg[255] = '\0';
	assert_int_equal(put_str(f, longseg, "x"), 0);
	longseg[0] = '.';       /* "%2E" + 254 = 257 encoded */
	assert_int_equal(put_str(f, longseg, "x"), -ENAMETOOLONG);
	memset(longseg, 'a', 256);
	longseg[256] = '\0';
	assert_int_equal(put_str(f, longseg, "x"), -ENAMETOOLONG);
	/* Deleting removes the emptied directories, not the bucket. */
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(objfs_prov_del(f->p, B, cases[i].key, &f->err), 0);
	memset(longseg, 'a', 255);
	longseg[255] = '\0';
	assert_int_equal(objfs_prov_del(f->p, B, longseg, &f->err), 0);
	snprintf(path, sizeof(path), "%s/" B, f->root);
	d = opendir(path);
	assert_non_null(d);
	while ((de = readdir(d)))
		assert_true(de->d_name[0] == '.');
	closedir(d);
}

static void test_local_presign_key_mode(void **state)
{
	struct fx *f = *state;
	char path[512];
	struct objfs_prov *p2 = NULL;
	struct objfs_provider_conf conf = { .name = "l2", .type = "local", .root = f->root };

	snprintf(path, sizeof(path), "%s/.objfs/presign.key", f->root);
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(objfs_prov_open(&conf, &p2, &f->err), -EACCES);
	assert_null(p2);
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(objfs_prov_open(&conf, &p2, &f->err), 0);
	objfs_prov_free(p2);
	conf.root = "relative/path";
	assert_int_equal(objfs_prov_open(&conf, &p2, &f->err), -EINVAL);
	conf.type = "nosuch";
	assert_int_equal(objfs_prov_open(&conf, &p2, &f->err), -EINVAL);
}

/* 20,000 objects in one directory (every 10th also a prefix), paged by 1000. */
static void test_local_big_dir(void **state)
{
	struct fx *f = *state;
	char path[512], tpl[512];
	unsigned char *obj;
	struct stat st;
	int fd;
	size_t n;
	/* BIG_DIR_N=100000 checks the size the brief asks to work; 20,000 by default. */
	int total = getenv("BIG_DIR_N") ? atoi(getenv("BIG_DIR_N")) : 20000;

	assert_true(total >= 20000 && total % 1000 == 0);
	assert_int_equal(put_str(f, "tmpl", "0123456789"), 0);
	obj_path(f, "tmpl", tpl, sizeof(tpl));
	fd = open(tpl, O_RDONLY);
	assert_true(fd >= 0 && fstat(fd, &st) == 0);
	obj = malloc((size_t)st.st_size);
	assert_int_equal(read(fd, obj, (size_t)st.st_size), st.st_size);
	close(fd);
	assert_int_equal(objfs_prov_del(f->p, B, "tmpl", &f->err), 0);
	snprintf(path, sizeof(path), "%s/" B "/big", f->root);
	assert_int_equal(mkdir(path, 0700), 0);
	for (int i = 0; i < total; i++) {
		snprintf(path, sizeof(path), "%s/" B "/big/k%06d", f->root, i);
		assert_int_equal(mkdir(path, 0700), 0);
		if (i % 10 == 0) {
			snprintf(path, sizeof(path), "%s/" B "/big/k%06d/s", f->root, i);
			assert_int_equal(mkdir(path, 0700), 0);
			strcat(path, "/.obj");
		} else {
			snprintf(path, sizeof(path), "%s/" B "/big/k%06d/.obj", f->root, i);
		}
		fd = open(path, O_WRONLY | O_CREAT, 0600);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, obj, (size_t)st.st_size), st.st_size);
		close(fd);
	}
	free(obj);
	/* With "/": 18,000 objects and 2,000 prefixes, interleaved. */
	size_t keys = 0, pfx = 0, pages = 0;
	char *token = NULL, *last = NULL;
	do {
		struct objfs_listing l = { 0 };
		assert_int_equal(objfs_prov_list(f->p, B, "big/", "/", token, 1000, &l, &f->err), 0);
		assert_true(l.nobjects + l.nprefixes <= 1000);
		keys += l.nobjects;
		pfx += l.nprefixes;
		for (size_t i = 0; i < l.nprefixes; i++) {
			if (last)
				assert_true(strcmp(last, l.prefixes[i]) < 0);
			free(last);
			last = strdup(l.prefixes[i]);
		}
		free(token);
		token = l.next_token ? strdup(l.next_token) : NULL;
		objfs_listing_clear(&l);
		pages++;
	} while (token);
	free(last);
	assert_int_equal(keys, total / 10 * 9);
	assert_int_equal(pfx, total / 10);
	assert_int_equal(pages, total / 1000);
	/* Without a delimiter: all 20,000 keys, sorted. */
	char **items = list_all(f, "big/", NULL, 1000, &n);
	assert_int_equal(n, total);
	assert_string_equal(items[0], "Kbig/k000000/s");
	assert_string_equal(items[1], "Kbig/k000001");
	free_items(items, n);
	/* A prefix inside the big directory reads only what matches. */
	items = list_all(f, "big/k01999", "/", 3, &n);
	assert_int_equal(n, 10);
	assert_string_equal(items[0], "Pbig/k019990/");
	assert_string_equal(items[1], "Kbig/k019991");
	free_items(items, n);
}

#define BOTH(fn) \
	cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, (void *)&kind_local), \
	cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, (void *)&kind_mem)
#define LOCAL(fn) \
	cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, (void *)&kind_local)

int main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_roundtrip),
		BOTH(test_zero_length_and_segments),
		BOTH(test_ranged_get),
		BOTH(test_missing_and_bad_keys),
		BOTH(test_list),
		BOTH(test_list_continuation),
		BOTH(test_conditional),
		BOTH(test_delete),
		BOTH(test_copy),
		BOTH(test_multipart),
		BOTH(test_buckets),
		BOTH(test_presign),
		BOTH(test_presign_check),
		BOTH(test_health),
		BOTH(test_wrappers_log),
		BOTH(test_threads),
		cmocka_unit_test(test_presign_vector),
		cmocka_unit_test(test_mpu_etag),
		LOCAL(test_local_atomic),
		LOCAL(test_local_format_and_torn_slot),
		LOCAL(test_local_escape),
		LOCAL(test_local_presign_key_mode),
		cmocka_unit_test_prestate_setup_teardown(test_local_big_dir, setup, teardown,
							 (void *)&kind_local_shm),
	};

	if (getenv("TEST_FILTER"))
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
