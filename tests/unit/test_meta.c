/*
 * Unit tests of the metadata store (src/meta.c): the attribute / listing
 * cache (`entries`, `dirs`) and the write-back journal (`uploads`, `parts`).
 *
 * Every test gets a fresh store in its own mkdtemp directory; tests that
 * check persistence close and reopen it on the same directory (the crash
 * model of the journal: whatever a call committed is there after reopen).
 * Cases are tables; each row names what it checks so a failure says which.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "log.h"
#include "meta.h"
#include "testutil.h"

#define T1 "tenant-a"
#define T2 "tenant-b"

struct fx {
	char *dir;
	struct objfs_meta *m;
};

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	if (!fx || !(fx->dir = tu_mkdtemp("meta")))
		return -1;
	if (meta_open(fx->dir, &fx->m))
		return -1;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	meta_close(fx->m);
	tu_rm_rf(fx->dir);
	free(fx->dir);
	free(fx);
	return 0;
}

static void reopen(struct fx *fx)
{
	meta_close(fx->m);
	fx->m = NULL;
	assert_int_equal(meta_open(fx->dir, &fx->m), 0);
	assert_non_null(fx->m);
}

/* ---- helpers ---------------------------------------------------------- */

static void assert_opt_str(const char *what, const char *got, const char *want)
{
	if (!want && !got)
		return;
	if (!want || !got || strcmp(want, got)) {
		print_error("%s: got \"%s\", want \"%s\"\n", what, got ? got : "(null)",
			    want ? want : "(null)");
		fail();
	}
}

static struct meta_entry mk(enum meta_type type, uint64_t size, const char *etag)
{
	struct meta_entry e;

	memset(&e, 0, sizeof(e));
	e.type = type;
	e.mode = type == META_DIR ? (S_IFDIR | 0755) : type == META_LINK ? (S_IFLNK | 0777)
									 : (S_IFREG | 0644);
	e.uid = 1000;
	e.gid = 1000;
	e.size = size;
	e.mtime_ns = 1700000000123456789LL;
	e.etag = (char *)etag;
	e.fetched_ms = 1000;
	return e;
}

static uint64_t put(struct objfs_meta *m, const char *tenant, const char *path,
		    enum meta_type type)
{
	struct meta_entry e = mk(type, 7, type == META_DIR ? NULL : "etag");
	uint64_t ino = 0;

	assert_int_equal(meta_put(m, tenant, path, &e, &ino), 0);
	assert_true(ino > 1);
	return ino;
}

/* Inode of (tenant, path), or 0 when the row does not exist. */
static uint64_t ino_of(struct objfs_meta *m, const char *tenant, const char *path)
{
	struct meta_entry e;
	uint64_t ino;
	int rc = meta_get(m, tenant, path, &e);

	if (rc == -ENOENT)
		return 0;
	assert_int_equal(rc, 0);
	ino = e.ino;
	meta_entry_clear(&e);
	return ino;
}

/* 1 if readdir(dir) lists name (all pages). */
static int listed(struct objfs_meta *m, const char *tenant, const char *dir, const char *name)
{
	struct meta_entry ents[8];
	uint64_t after = 0;
	int found = 0;

	for (;;) {
		size_t n = 0;

		assert_int_equal(meta_readdir(m, tenant, dir, after, ents, 8, &n), 0);
		for (size_t i = 0; i < n; i++) {
			if (!strcmp(ents[i].name, name))
				found = 1;
			after = ents[i].cookie;
			meta_entry_clear(&ents[i]);
		}
		if (n < 8)
			break;
	}
	return found;
}

/* ---- open, close, reopen ---------------------------------------------- */

static void test_open_errors(void **state)
{
	char longdir[5000];
	static const struct {
		const char *what;
		const char *dir;    /* NULL: the long one */
		int rc;
	} cases[] = {
		{ "missing directory", "/nonexistent-objfs-dir/sub", -EIO },
		{ "cache_dir path too long", NULL, -ENAMETOOLONG },
	};

	(void)state;
	memset(longdir, 'x', sizeof(longdir) - 1);
	longdir[0] = '/';
	longdir[sizeof(longdir) - 1] = '\0';
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct objfs_meta *m = (struct objfs_meta *)(uintptr_t)16;   /* must be reset */
		int rc = meta_open(cases[i].dir ? cases[i].dir : longdir, &m);

		if (rc != cases[i].rc || m != NULL) {
			print_error("%s: rc %d (want %d), out %p\n", cases[i].what, rc, cases[i].rc,
				    (void *)m);
			fail();
		}
	}
	meta_close(NULL);   /* accepts NULL */
}

static void test_root_and_reopen(void **state)
{
	struct fx *fx = *state;
	static const struct {
		const char *tenant, *path;
		enum meta_type type;
		uint64_t size;
		const char *etag, *xattr, *target;
	} rows[] = {
		{ T1, "", META_DIR, 0, NULL, NULL, NULL },
		{ T1, "f", META_FILE, 12, "e-f", "%7B%22user.a%22%3A%22eA%3D%3D%22%7D", NULL },
		{ T1, "d", META_DIR, 0, NULL, NULL, NULL },
		{ T1, "d/l", META_LINK, 3, "e-l", NULL, "../f" },
		{ T1, "d/gone", META_NEG, 0, NULL, NULL, NULL },
		{ T2, "f", META_FILE, 99, "e-other", NULL, NULL },
	};
	uint64_t ino[sizeof(rows) / sizeof(rows[0])];
	struct meta_entry e;
	uint64_t fresh;

	/* the mount root is inode 1, present in a new store */
	assert_int_equal(meta_get(fx->m, "", "", &e), 0);
	assert_int_equal(e.ino, 1);
	assert_int_equal(e.type, META_DIR);
	meta_entry_clear(&e);

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct meta_entry w = mk(rows[i].type, rows[i].size, rows[i].etag);

		w.xattr = (char *)rows[i].xattr;
		w.target = (char *)rows[i].target;
		w.uid = 100 + (uid_t)i;
		w.fetched_ms = 5000 + (int64_t)i;
		assert_int_equal(meta_put(fx->m, rows[i].tenant, rows[i].path, &w, &ino[i]), 0);
		assert_true(ino[i] > 1);
		for (size_t j = 0; j < i; j++)
			assert_int_not_equal(ino[i], ino[j]);
	}
	reopen(fx);
	reopen(fx);   /* twice: opening an existing store changes nothing */
	assert_int_equal(ino_of(fx->m, "", ""), 1);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		assert_int_equal(meta_get(fx->m, rows[i].tenant, rows[i].path, &e), 0);
		if (e.ino != ino[i] || e.type != rows[i].type || e.size != rows[i].size ||
		    e.uid != 100 + (uid_t)i || e.gid != 1000 || e.fetched_ms != 5000 + (int64_t)i ||
		    e.mtime_ns != 1700000000123456789LL) {
			print_error("row %s:%s changed across reopen\n", rows[i].tenant, rows[i].path);
			fail();
		}
		assert_opt_str("etag", e.etag, rows[i].etag);
		assert_opt_str("xattr", e.xattr, rows[i].xattr);
		assert_opt_str("target", e.target, rows[i].target);
		meta_entry_clear(&e);
	}
	/* inode numbers are not reused: a new row gets a larger one */
	fresh = put(fx->m, T1, "new", META_FILE);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		assert_true(fresh > ino[i]);
}

/* ---- put / get / del / ino -------------------------------------------- */

static void test_put_upsert(void **state)
{
	struct fx *fx = *state;
	/* each row: put `first`, then `second` over it; the row keeps its inode
	 * and takes every field of the second put (NULL strings included) */
	static const struct {
		const char *what;
		enum meta_type t1, t2;
		const char *etag1, *etag2, *x1, *x2;
		uint64_t size2;
	} cases[] = {
		{ "file content changed", META_FILE, META_FILE, "v1", "v2", NULL, NULL, 10 },
		{ "xattr dropped", META_FILE, META_FILE, "v1", "v1", "x", NULL, 1 },
		{ "negative becomes a file", META_NEG, META_FILE, NULL, "v1", NULL, "x", 5 },
		{ "file becomes negative", META_FILE, META_NEG, "v1", NULL, NULL, NULL, 0 },
		{ "file becomes a directory", META_FILE, META_DIR, "v1", NULL, "x", "y", 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char path[64];
		struct meta_entry a = mk(cases[i].t1, 3, cases[i].etag1);
		struct meta_entry b = mk(cases[i].t2, cases[i].size2, cases[i].etag2);
		struct meta_entry got;
		uint64_t ino1 = 0, ino2 = 0;

		snprintf(path, sizeof(path), "dir/case%zu", i);
		a.xattr = (char *)cases[i].x1;
		b.xattr = (char *)cases[i].x2;
		b.mode = 0600 | (cases[i].t2 == META_DIR ? S_IFDIR : S_IFREG);
		b.mtime_ns = 42;
		b.fetched_ms = 77;
		assert_int_equal(meta_put(fx->m, T1, path, &a, &ino1), 0);
		assert_int_equal(meta_put(fx->m, T1, path, &b, &ino2), 0);
		assert_int_equal(meta_get(fx->m, T1, path, &got), 0);
		if (ino1 != ino2 || got.ino != ino1 || got.type != cases[i].t2 ||
		    got.size != cases[i].size2 || got.mode != b.mode || got.mtime_ns != 42 ||
		    got.fetched_ms != 77) {
			print_error("%s: ino %llu/%llu/%llu type %d size %llu\n", cases[i].what,
				    (unsigned long long)ino1, (unsigned long long)ino2,
				    (unsigned long long)got.ino, got.type,
				    (unsigned long long)got.size);
			fail();
		}
		assert_opt_str(cases[i].what, got.etag, cases[i].etag2);
		assert_opt_str(cases[i].what, got.xattr, cases[i].x2);
		meta_entry_clear(&got);
	}
	/* ino_out may be NULL */
	{
		struct meta_entry e = mk(META_FILE, 1, "z");

		assert_int_equal(meta_put(fx->m, T1, "noino", &e, NULL), 0);
		assert_true(ino_of(fx->m, T1, "noino") > 1);
	}
}

static void test_get_del_ino(void **state)
{
	struct fx *fx = *state;
	uint64_t a = put(fx->m, T1, "a", META_DIR);
	uint64_t ax = put(fx->m, T1, "a/x", META_FILE);
	uint64_t other = put(fx->m, T2, "a", META_FILE);
	uint64_t i1 = 0, i2 = 0;
	struct meta_entry e;
	static const struct {
		const char *tenant, *path;
	} missing[] = {
		{ T1, "nope" }, { T1, "a/" }, { T1, "A" }, { "no-tenant", "a" }, { T2, "a/x" },
	};

	for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++) {
		int rc = meta_get(fx->m, missing[i].tenant, missing[i].path, &e);

		if (rc != -ENOENT) {
			print_error("get %s:%s: %d, want -ENOENT\n", missing[i].tenant,
				    missing[i].path, rc);
			fail();
		}
	}
	/* tenants are separate key spaces */
	assert_int_not_equal(a, other);
	assert_int_equal(ino_of(fx->m, T2, "a"), other);

	/* meta_del removes the row only: descendants and other tenants stay */
	assert_int_equal(meta_del(fx->m, T1, "a"), 0);
	assert_int_equal(ino_of(fx->m, T1, "a"), 0);
	assert_int_equal(ino_of(fx->m, T1, "a/x"), ax);
	assert_int_equal(ino_of(fx->m, T2, "a"), other);
	assert_int_equal(meta_del(fx->m, T1, "a"), 0);   /* deleting a missing row succeeds */

	/* meta_ino: an existing row's inode; else a stale negative placeholder */
	assert_int_equal(meta_ino(fx->m, T1, "a/x", &i1), 0);
	assert_int_equal(i1, ax);
	assert_int_equal(meta_ino(fx->m, T1, "ph", &i1), 0);
	assert_int_equal(meta_ino(fx->m, T1, "ph", &i2), 0);
	assert_true(i1 > ax);
	assert_int_equal(i1, i2);
	assert_int_equal(meta_get(fx->m, T1, "ph", &e), 0);
	assert_int_equal(e.type, META_NEG);
	assert_int_equal(e.fetched_ms, 0);
	assert_int_equal(e.ino, i1);
	meta_entry_clear(&e);
	meta_entry_clear(NULL);   /* accepts NULL */
}

static void test_negative_entries(void **state)
{
	struct fx *fx = *state;
	struct meta_entry ents[4], e;
	size_t n = 99;
	uint64_t neg;

	put(fx->m, T1, "d", META_DIR);
	neg = put(fx->m, T1, "d/missing", META_NEG);
	/* a cached negative is found by get, but is not a child */
	assert_int_equal(meta_get(fx->m, T1, "d/missing", &e), 0);
	assert_int_equal(e.type, META_NEG);
	assert_int_equal(e.ino, neg);
	meta_entry_clear(&e);
	assert_int_equal(meta_readdir(fx->m, T1, "d", 0, ents, 4, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(meta_has_children(fx->m, T1, "d"), 0);
	/* the name appears: the same row turns positive and keeps its inode */
	put(fx->m, T1, "d/missing", META_FILE);
	assert_int_equal(ino_of(fx->m, T1, "d/missing"), neg);
	assert_int_equal(meta_has_children(fx->m, T1, "d"), 1);
	assert_int_equal(meta_readdir(fx->m, T1, "d", 0, ents, 4, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(ents[0].name, "missing");
	assert_int_equal(ents[0].ino, neg);
	meta_entry_clear(&ents[0]);
}

/* ---- rename, del_tree, expire_tree -------------------------------------- */

/* The tree every rename / del_tree / expire case starts from. */
static const char *const tree_paths[] = {
	"a", "a/x", "a/y", "a/y/z",          /* the tree that moves */
	"a-b", "a-b/k", "a0", "a.b", "ab", "a b", "ax",  /* siblings that sort near "a/" */
	"c", "c/old", "c/old/deep",          /* an existing destination tree */
	"c-keep", "c0",                      /* its siblings */
	"d",
};
#define NTREE (sizeof(tree_paths) / sizeof(tree_paths[0]))

static void seed_tree(struct objfs_meta *m, uint64_t *ino)
{
	for (size_t i = 0; i < NTREE; i++) {
		int dir = !strcmp(tree_paths[i], "a") || !strcmp(tree_paths[i], "a/y") ||
			  !strcmp(tree_paths[i], "c") || !strcmp(tree_paths[i], "c/old") ||
			  !strcmp(tree_paths[i], "a-b") || !strcmp(tree_paths[i], "d");

		ino[i] = put(m, T1, tree_paths[i], dir ? META_DIR : META_FILE);
		/* the other tenant has the same names: never touched */
		put(m, T2, tree_paths[i], dir ? META_DIR : META_FILE);
	}
}

static size_t tree_idx(const char *path)
{
	for (size_t i = 0; i < NTREE; i++)
		if (!strcmp(tree_paths[i], path))
			return i;
	fail_msg("no tree path %s", path);
	return 0;
}

/* Checks the other tenant still has every tree row. */
static void assert_t2_intact(struct objfs_meta *m)
{
	for (size_t i = 0; i < NTREE; i++)
		if (!ino_of(m, T2, tree_paths[i]))
			fail_msg("tenant %s lost %s", T2, tree_paths[i]);
}

static void test_rename(void **state)
{
	struct fx *fx = *state;
	/* moves: "old=>new" pairs that must hold after the rename (new has old's
	 * inode); gone: paths that must not exist afterwards (besides the moved
	 * sources); every tree path not named keeps its inode. */
	static const struct {
		const char *what, *from, *to;
		const char *moves[6];
		const char *gone[4];
		const char *parent, *name;   /* readdir(parent) must list name */
	} cases[] = {
		{ "file to a new name", "ab", "ab2", { "ab=>ab2" }, { NULL }, "", "ab2" },
		{ "file over an existing file", "ax", "a0", { "ax=>a0" }, { NULL }, "", "a0" },
		{ "file into a directory", "a.b", "d/moved", { "a.b=>d/moved" }, { NULL }, "d",
		  "moved" },
		{ "directory tree to a new name", "a", "n",
		  { "a=>n", "a/x=>n/x", "a/y=>n/y", "a/y/z=>n/y/z" }, { NULL }, "n/y", "z" },
		{ "directory tree deeper", "a", "d/e/a2",
		  { "a=>d/e/a2", "a/x=>d/e/a2/x", "a/y=>d/e/a2/y", "a/y/z=>d/e/a2/y/z" }, { NULL }, "d/e/a2", "x" },
		{ "directory over an existing tree", "a", "c",
		  { "a=>c", "a/x=>c/x", "a/y=>c/y", "a/y/z=>c/y/z" }, { "c/old", "c/old/deep" },
		  "c", "y" },
		{ "subdirectory up one level", "a/y", "y2", { "a/y=>y2", "a/y/z=>y2/z" }, { NULL },
		  "y2", "z" },
		{ "name with a dash (sibling of a)", "a-b", "q",
		  { "a-b=>q", "a-b/k=>q/k" }, { NULL }, "q", "k" },
	};

	for (size_t ci = 0; ci < sizeof(cases) / sizeof(cases[0]); ci++) {
		uint64_t ino[NTREE];
		int touched[NTREE] = { 0 };
		char buf[128];

		teardown(state);
		assert_int_equal(setup(state), 0);
		fx = *state;
		seed_tree(fx->m, ino);
		assert_int_equal(meta_rename(fx->m, T1, cases[ci].from, cases[ci].to), 0);
		for (size_t k = 0; k < 6 && cases[ci].moves[k]; k++) {
			const char *sep;
			size_t src;

			snprintf(buf, sizeof(buf), "%s", cases[ci].moves[k]);
			sep = strstr(buf, "=>");
			buf[sep - buf] = '\0';
			src = tree_idx(buf);
			touched[src] = 1;
			if (ino_of(fx->m, T1, buf))
				fail_msg("%s: source %s still present", cases[ci].what, buf);
			if (ino_of(fx->m, T1, sep + 2) != ino[src])
				fail_msg("%s: %s does not carry the inode of %s", cases[ci].what,
					 sep + 2, buf);
			for (size_t t = 0; t < NTREE; t++)
				if (!strcmp(tree_paths[t], sep + 2))
					touched[t] = 1;
		}
		for (size_t k = 0; k < 4 && cases[ci].gone[k]; k++) {
			touched[tree_idx(cases[ci].gone[k])] = 1;
			if (ino_of(fx->m, T1, cases[ci].gone[k]))
				fail_msg("%s: %s was not dropped", cases[ci].what, cases[ci].gone[k]);
		}
		for (size_t t = 0; t < NTREE; t++)
			if (!touched[t] && ino_of(fx->m, T1, tree_paths[t]) != ino[t])
				fail_msg("%s: bystander %s changed", cases[ci].what, tree_paths[t]);
		/* parent / name columns were rewritten: the new place lists it */
		if (!listed(fx->m, T1, cases[ci].parent, cases[ci].name))
			fail_msg("%s: readdir(%s) does not list %s", cases[ci].what,
				 cases[ci].parent, cases[ci].name);
		assert_t2_intact(fx->m);
	}
}

static void test_rename_listing_marks(void **state)
{
	struct fx *fx = *state;
	int64_t gen, t;

	put(fx->m, T1, "a", META_DIR);
	put(fx->m, T1, "a/y", META_DIR);
	put(fx->m, T1, "a-b", META_DIR);
	put(fx->m, T1, "c", META_DIR);
	/* complete listings of a, a/y, a-b, c and its subdirectory */
	static const struct { const char *dir; int64_t at; } marks[] = {
		{ "a", 100 }, { "a/y", 200 }, { "a-b", 300 }, { "c", 400 }, { "c/sub", 500 },
	};
	for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++) {
		assert_int_equal(meta_listing_begin(fx->m, T1, marks[i].dir, &gen), 0);
		assert_int_equal(meta_listing_end(fx->m, T1, marks[i].dir, gen, marks[i].at), 0);
	}
	assert_int_equal(meta_rename(fx->m, T1, "a", "c"), 0);
	static const struct { const char *dir; int64_t at; } after[] = {
		{ "a", -1 }, { "a/y", -1 },          /* moved away */
		{ "c", 100 }, { "c/y", 200 },        /* carried over */
		{ "c/sub", -1 },                     /* the destination's old mark dropped */
		{ "a-b", 300 },                      /* sibling untouched */
	};
	for (size_t i = 0; i < sizeof(after) / sizeof(after[0]); i++) {
		int rc = meta_listing_time(fx->m, T1, after[i].dir, &t);

		if (after[i].at < 0 ? rc != -ENOENT : rc != 0 || t != after[i].at)
			fail_msg("listing mark of %s: rc %d t %lld, want %lld", after[i].dir, rc,
				 (long long)t, (long long)after[i].at);
	}
}

static void test_del_tree(void **state)
{
	struct fx *fx = *state;
	static const struct {
		const char *what, *path;
		const char *gone[5];
	} cases[] = {
		{ "directory tree", "a", { "a", "a/x", "a/y", "a/y/z" } },
		{ "subtree", "a/y", { "a/y", "a/y/z" } },
		{ "single file", "ab", { "ab" } },
		{ "missing path", "zz", { NULL } },
		{ "dash sibling", "a-b", { "a-b", "a-b/k" } },
	};

	for (size_t ci = 0; ci < sizeof(cases) / sizeof(cases[0]); ci++) {
		uint64_t ino[NTREE];
		int64_t gen, t;
		int gone[NTREE] = { 0 };

		teardown(state);
		assert_int_equal(setup(state), 0);
		fx = *state;
		seed_tree(fx->m, ino);
		assert_int_equal(meta_listing_begin(fx->m, T1, "a/y", &gen), 0);
		assert_int_equal(meta_listing_end(fx->m, T1, "a/y", gen, 10), 0);
		assert_int_equal(meta_listing_begin(fx->m, T1, "a-b", &gen), 0);
		assert_int_equal(meta_listing_end(fx->m, T1, "a-b", gen, 20), 0);
		/* those empty listings swept a/y/z and a-b/k (not seen): seed again
		 * so every row exists; ino[] gets the current inode numbers */
		seed_tree(fx->m, ino);

		assert_int_equal(meta_del_tree(fx->m, T1, cases[ci].path), 0);
		for (size_t k = 0; k < 5 && cases[ci].gone[k]; k++)
			gone[tree_idx(cases[ci].gone[k])] = 1;
		for (size_t i = 0; i < NTREE; i++) {
			uint64_t now = ino_of(fx->m, T1, tree_paths[i]);

			if (gone[i] ? now != 0 : now != ino[i])
				fail_msg("%s: %s is %s", cases[ci].what, tree_paths[i],
					 now ? "still there" : "gone");
		}
		/* listing marks in the tree go with it */
		int yrc = meta_listing_time(fx->m, T1, "a/y", &t);
		int brc = meta_listing_time(fx->m, T1, "a-b", &t);
		int ygone = gone[tree_idx("a/y")], bgone = gone[tree_idx("a-b")];

		if ((ygone ? yrc != -ENOENT : yrc != 0) || (bgone ? brc != -ENOENT : brc != 0))
			fail_msg("%s: listing marks a/y %d a-b %d", cases[ci].what, yrc, brc);
		assert_t2_intact(fx->m);
	}
}

static void test_expire_tree(void **state)
{
	struct fx *fx = *state;
	static const struct {
		const char *what, *path;
		const char *stale[5];
	} cases[] = {
		{ "directory tree", "a", { "a", "a/x", "a/y", "a/y/z" } },
		{ "file", "a0", { "a0" } },
		{ "missing", "nope", { NULL } },
	};

	for (size_t ci = 0; ci < sizeof(cases) / sizeof(cases[0]); ci++) {
		uint64_t ino[NTREE];
		int stale[NTREE] = { 0 };

		teardown(state);
		assert_int_equal(setup(state), 0);
		fx = *state;
		seed_tree(fx->m, ino);   /* fetched_ms 1000 everywhere */
		assert_int_equal(meta_expire_tree(fx->m, T1, cases[ci].path), 0);
		for (size_t k = 0; k < 5 && cases[ci].stale[k]; k++)
			stale[tree_idx(cases[ci].stale[k])] = 1;
		for (size_t i = 0; i < NTREE; i++) {
			struct meta_entry e;

			assert_int_equal(meta_get(fx->m, T1, tree_paths[i], &e), 0);
			if (e.ino != ino[i] || e.fetched_ms != (stale[i] ? 0 : 1000))
				fail_msg("%s: %s fetched_ms %lld", cases[ci].what, tree_paths[i],
					 (long long)e.fetched_ms);
			meta_entry_clear(&e);
			assert_int_equal(meta_get(fx->m, T2, tree_paths[i], &e), 0);
			assert_int_equal(e.fetched_ms, 1000);
			meta_entry_clear(&e);
		}
	}
}

/* ---- listings ------------------------------------------------------------ */

static void list_page(struct objfs_meta *m, const char *dir, int64_t gen,
		      const char *const *names, size_t n)
{
	struct meta_entry ents[16];

	assert_true(n <= 16);
	for (size_t i = 0; i < n; i++)
		ents[i] = mk(META_FILE, i, "e");
	assert_int_equal(meta_listing_add(m, T1, dir, gen, names, ents, n), 0);
}

static void test_listing_sweep(void **state)
{
	struct fx *fx = *state;
	/* rows before the listing; then the listing sees `seen` (in two pages);
	 * afterwards exactly `after` are children of dir */
	static const struct {
		const char *what, *dir;
		const char *before[5];
		const char *seen[5];
		const char *after[5];
	} cases[] = {
		{ "fresh directory", "d", { NULL }, { "x", "y", "z" }, { "x", "y", "z" } },
		{ "vanished children are swept", "d", { "d/x", "d/old", "d/older" }, { "x", "n" },
		  { "x", "n" } },
		{ "empty listing sweeps all", "d", { "d/x", "d/y" }, { NULL }, { NULL } },
		{ "tenant root", "", { "r1", "r2" }, { "r2", "r3" }, { "r2", "r3" } },
	};

	for (size_t ci = 0; ci < sizeof(cases) / sizeof(cases[0]); ci++) {
		uint64_t before_ino[5] = { 0 };
		const char *seen[5];
		size_t nseen = 0, nafter = 0, n = 0;
		struct meta_entry ents[8];
		int64_t gen, t;

		teardown(state);
		assert_int_equal(setup(state), 0);
		fx = *state;
		put(fx->m, T1, "d", META_DIR);
		put(fx->m, T1, "d/sub", META_DIR);
		put(fx->m, T1, "d/sub/deep", META_FILE);   /* a grandchild: not a child of d */
		put(fx->m, T1, "d-x", META_FILE);          /* sibling of d: never a child */
		put(fx->m, T2, "d/x", META_FILE);          /* other tenant */
		put(fx->m, T2, "r1", META_FILE);
		for (size_t k = 0; k < 5 && cases[ci].before[k]; k++)
			before_ino[k] = put(fx->m, T1, cases[ci].before[k], META_FILE);
		for (; nseen < 5 && cases[ci].seen[nseen]; nseen++)
			seen[nseen] = cases[ci].seen[nseen];
		for (; nafter < 5 && cases[ci].after[nafter]; nafter++)
			;
		assert_int_equal(meta_listing_begin(fx->m, T1, cases[ci].dir, &gen), 0);
		if (!strcmp(cases[ci].dir, "d")) {
			/* d/sub is listed as a common prefix */
			const char *sub = "sub";
			struct meta_entry de = mk(META_DIR, 0, NULL);

			assert_int_equal(meta_listing_add(fx->m, T1, "d", gen, &sub, &de, 1), 0);
		}
		/* two pages */
		list_page(fx->m, cases[ci].dir, gen, seen, nseen / 2);
		list_page(fx->m, cases[ci].dir, gen, seen + nseen / 2, nseen - nseen / 2);
		assert_int_equal(meta_listing_end(fx->m, T1, cases[ci].dir, gen, 123456), 0);

		assert_int_equal(meta_listing_time(fx->m, T1, cases[ci].dir, &t), 0);
		assert_int_equal(t, 123456);
		assert_int_equal(meta_readdir(fx->m, T1, cases[ci].dir, 0, ents, 8, &n), 0);
		/* d also keeps "sub", seen as a common prefix; in the tenant root
		 * d and d-x were not seen, so they are swept like any child */
		size_t want = nafter + (!strcmp(cases[ci].dir, "d") ? 1 : 0);
		if (n != want)
			fail_msg("%s: %zu children, want %zu", cases[ci].what, n, want);
		for (size_t i = 0; i < n; i++)
			meta_entry_clear(&ents[i]);
		for (size_t k = 0; k < nafter; k++)
			if (!listed(fx->m, T1, cases[ci].dir, cases[ci].after[k]))
				fail_msg("%s: %s missing", cases[ci].what, cases[ci].after[k]);
		/* a child seen again keeps its inode */
		for (size_t k = 0; k < 5 && cases[ci].before[k]; k++) {
			const char *name = strrchr(cases[ci].before[k], '/');
			int kept = 0;

			name = name ? name + 1 : cases[ci].before[k];
			for (size_t s = 0; s < nseen; s++)
				kept |= !strcmp(seen[s], name);
			if (kept && ino_of(fx->m, T1, cases[ci].before[k]) != before_ino[k])
				fail_msg("%s: %s got a new inode", cases[ci].what, cases[ci].before[k]);
			if (!kept && ino_of(fx->m, T1, cases[ci].before[k]))
				fail_msg("%s: %s not swept", cases[ci].what, cases[ci].before[k]);
		}
		/* outside the directory nothing was swept */
		assert_true(ino_of(fx->m, T1, "d/sub/deep") != 0);
		assert_true(ino_of(fx->m, T2, "d/x") != 0);
		assert_true(ino_of(fx->m, T2, "r1") != 0);
		if (cases[ci].dir[0])
			assert_true(ino_of(fx->m, T1, "d-x") != 0);
		assert_int_equal(ino_of(fx->m, "", ""), 1);   /* the mount root survives */
	}
}

static void test_listing_time_and_invalidate(void **state)
{
	struct fx *fx = *state;
	int64_t g1, g2, t;
	const char *name = "x";

	assert_int_equal(meta_listing_time(fx->m, T1, "d", &t), -ENOENT);
	assert_int_equal(meta_listing_begin(fx->m, T1, "d", &g1), 0);
	/* not complete until end */
	assert_int_equal(meta_listing_time(fx->m, T1, "d", &t), -ENOENT);
	list_page(fx->m, "d", g1, &name, 1);
	assert_int_equal(meta_listing_end(fx->m, T1, "d", g1, 1000), 0);
	assert_int_equal(meta_listing_time(fx->m, T1, "d", &t), 0);
	assert_int_equal(t, 1000);
	/* a new listing: a new generation, and the dir is incomplete meanwhile */
	assert_int_equal(meta_listing_begin(fx->m, T1, "d", &g2), 0);
	assert_true(g2 > g1);
	assert_int_equal(meta_listing_time(fx->m, T1, "d", &t), -ENOENT);
	list_page(fx->m, "d", g2, &name, 1);
	assert_int_equal(meta_listing_end(fx->m, T1, "d", g2, 2000), 0);
	assert_int_equal(meta_listing_time(fx->m, T1, "d", &t), 0);
	assert_int_equal(t, 2000);
	/* other tenant, other dir: separate marks */
	assert_int_equal(meta_listing_time(fx->m, T2, "d", &t), -ENOENT);
	assert_int_equal(meta_listing_time(fx->m, T1, "d/x", &t), -ENOENT);
	/* invalidate forgets completeness but keeps the rows */
	assert_int_equal(meta_listing_invalidate(fx->m, T1, "d"), 0);
	assert_int_equal(meta_listing_time(fx->m, T1, "d", &t), -ENOENT);
	assert_true(listed(fx->m, T1, "d", "x"));
	assert_int_equal(meta_listing_invalidate(fx->m, T1, "never-listed"), 0);
	/* marks persist */
	assert_int_equal(meta_listing_begin(fx->m, T1, "e", &g1), 0);
	assert_int_equal(meta_listing_end(fx->m, T1, "e", g1, 3000), 0);
	reopen(fx);
	assert_int_equal(meta_listing_time(fx->m, T1, "e", &t), 0);
	assert_int_equal(t, 3000);
	assert_int_equal(meta_listing_time(fx->m, T1, "d", &t), -ENOENT);
}

/*
 * Two listings of one directory overlap (two readdirs at once: fs.c runs
 * relist() without a per-directory lock).  The older one ends last-but-one:
 * it must neither mark the listing complete nor sweep the rows the newer
 * listing has stamped.
 *
 * Regression: at 651b4cd the sweep did not check that the ending generation
 * was still the directory's current one, so the older listing deleted "x"
 * and "y" that the newer one saw, and the newer one then marked the listing
 * complete without them (lookups answered ENOENT from the cache until the
 * listing expired).  Fixed in ca1ad7e.
 */
static void test_listing_superseded_generation(void **state)
{
	struct fx *fx = *state;
	const char *names[] = { "x", "y" };
	int64_t g1, g2, t;

	put(fx->m, T1, "d", META_DIR);
	assert_int_equal(meta_listing_begin(fx->m, T1, "d", &g1), 0);
	assert_int_equal(meta_listing_begin(fx->m, T1, "d", &g2), 0);
	list_page(fx->m, "d", g1, names, 2);
	list_page(fx->m, "d", g2, names, 2);
	assert_int_equal(meta_listing_end(fx->m, T1, "d", g1, 1000), 0);
	assert_int_equal(meta_listing_time(fx->m, T1, "d", &t), -ENOENT);
	assert_int_equal(meta_listing_end(fx->m, T1, "d", g2, 2000), 0);
	assert_int_equal(meta_listing_time(fx->m, T1, "d", &t), 0);
	assert_int_equal(t, 2000);
	if (!listed(fx->m, T1, "d", "x") || !listed(fx->m, T1, "d", "y"))
		fail_msg("the superseded listing (gen %lld) swept children the current one"
			 " (gen %lld) saw; the directory is marked complete without them",
			 (long long)g1, (long long)g2);
}

static void test_readdir_pages(void **state)
{
	struct fx *fx = *state;
	static const size_t page_sizes[] = { 1, 3, 7, 10, 11, 64 };
	char names[10][8];
	uint64_t ino[10];

	put(fx->m, T1, "d", META_DIR);
	for (int i = 0; i < 10; i++) {
		char p[32];

		snprintf(names[i], sizeof(names[i]), "n%d", 9 - i);   /* not in name order */
		snprintf(p, sizeof(p), "d/%s", names[i]);
		ino[i] = put(fx->m, T1, p, i % 3 ? META_FILE : META_DIR);
		if (i == 4) {   /* interleave rows that must not show up */
			put(fx->m, T1, "d/neg", META_NEG);
			put(fx->m, T1, "d/n1/grandchild", META_FILE);
			put(fx->m, T1, "dd", META_FILE);
			put(fx->m, T1, "d-x/y", META_FILE);
			put(fx->m, T2, "d/other", META_FILE);
		}
	}
	for (size_t pi = 0; pi < sizeof(page_sizes) / sizeof(page_sizes[0]); pi++) {
		struct meta_entry ents[64];
		size_t max = page_sizes[pi], total = 0, n;
		uint64_t after = 0;

		do {
			assert_int_equal(meta_readdir(fx->m, T1, "d", after, ents, max, &n), 0);
			assert_true(n <= max);
			for (size_t i = 0; i < n; i++, total++) {
				/* cookie order is inode order, i.e. creation order here */
				if (total >= 10 || ents[i].ino != ino[total] ||
				    strcmp(ents[i].name, names[total]) || ents[i].cookie != ents[i].ino)
					fail_msg("page size %zu: entry %zu is %s/%llu", max, total,
						 ents[i].name, (unsigned long long)ents[i].ino);
				after = ents[i].cookie;
				meta_entry_clear(&ents[i]);
			}
		} while (n == max);
		if (total != 10)
			fail_msg("page size %zu: %zu entries, want 10", max, total);
	}
	/* resuming after the last cookie gives nothing */
	{
		struct meta_entry e;
		size_t n = 5;

		assert_int_equal(meta_readdir(fx->m, T1, "d", ino[9], &e, 1, &n), 0);
		assert_int_equal(n, 0);
	}
	static const struct { const char *tenant, *dir; int want; } hc[] = {
		{ T1, "d", 1 }, { T1, "d/n1", 1 }, { T1, "d/n0", 0 }, { T1, "", 1 },
		{ T1, "nope", 0 }, { T2, "d", 1 }, { T2, "d/other", 0 }, { T1, "d-x", 1 },
	};
	for (size_t i = 0; i < sizeof(hc) / sizeof(hc[0]); i++)
		if (meta_has_children(fx->m, hc[i].tenant, hc[i].dir) != hc[i].want)
			fail_msg("has_children(%s:%s) != %d", hc[i].tenant, hc[i].dir, hc[i].want);
}

/* ---- journal ------------------------------------------------------------- */

struct jrow {
	uint64_t fid;
	const char *tenant, *path;
	uint64_t size;
	const char *base;
	uint64_t base_len;
	uint32_t chunks[6];
	size_t nchunks;
	const char *meta, *ctype, *upload_id;
	int64_t created;
};

static const struct jrow jrows[] = {
	{ 11, T1, "a/file.txt", 3u << 20, NULL, 0, { 1, 1, 1 }, 3, "mode=33188\n", "text/plain",
	  NULL, 1000 },
	{ 12, T1, "b", 0, NULL, 0, { 0 }, 0, "", NULL, NULL, 2000 },
	{ 11, T1, "a/file.txt", 5u << 20, "base-etag", 4u << 20, { 0, 2, 0, 0, 3, 0xFFFFFFFFu }, 6,
	  "mode=33188\nxattr=%7B%7D\n", NULL, "upload-1", 3000 },
	{ 13, T2, "deep/dir/name with spaces", 1, "b2", 1, { 0 }, 1, "uid=0\n",
	  "application/octet-stream", NULL, 4000 },
};
#define NJ (sizeof(jrows) / sizeof(jrows[0]))

static int64_t commit_row(struct objfs_meta *m, const struct jrow *r)
{
	struct meta_upload u;

	memset(&u, 0, sizeof(u));
	u.seq = -77;
	u.fid = r->fid;
	u.tenant = (char *)r->tenant;
	u.path = (char *)r->path;
	u.size = r->size;
	u.base_etag = (char *)r->base;
	u.base_len = r->base_len;
	u.chunks = (uint32_t *)r->chunks;
	u.nchunks = r->nchunks;
	u.meta = (char *)r->meta;
	u.content_type = (char *)r->ctype;
	u.upload_id = (char *)r->upload_id;
	u.created_ms = r->created;
	assert_int_equal(meta_journal_commit(m, &u), 0);
	assert_true(u.seq > 0);
	return u.seq;
}

static void load(struct objfs_meta *m, struct meta_upload **v, size_t *n)
{
	assert_int_equal(meta_journal_load(m, v, n), 0);
}

static void free_loaded(struct meta_upload *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		meta_upload_clear(&v[i]);
	free(v);
}

static void assert_jrow(const struct meta_upload *u, const struct jrow *r, int64_t seq)
{
	if (u->seq != seq || u->fid != r->fid || u->size != r->size ||
	    u->base_len != r->base_len || u->created_ms != r->created ||
	    u->nchunks != r->nchunks)
		fail_msg("journal row %s seq %lld: scalar fields differ", r->path, (long long)seq);
	assert_opt_str("tenant", u->tenant, r->tenant);
	assert_opt_str("path", u->path, r->path);
	assert_opt_str("base_etag", u->base_etag, r->base);
	assert_opt_str("meta", u->meta, r->meta);
	assert_opt_str("content_type", u->content_type, r->ctype);
	assert_opt_str("upload_id", u->upload_id, r->upload_id);
	if (r->nchunks)
		assert_memory_equal(u->chunks, r->chunks, r->nchunks * sizeof(uint32_t));
}

static void test_journal_commit_load(void **state)
{
	struct fx *fx = *state;
	struct meta_upload *v;
	int64_t seq[NJ];
	size_t n;

	load(fx->m, &v, &n);
	assert_int_equal(n, 0);
	free_loaded(v, n);
	for (size_t i = 0; i < NJ; i++) {
		seq[i] = commit_row(fx->m, &jrows[i]);
		if (i)
			assert_true(seq[i] > seq[i - 1]);
	}
	load(fx->m, &v, &n);
	assert_int_equal(n, NJ);
	for (size_t i = 0; i < NJ; i++)
		assert_jrow(&v[i], &jrows[i], seq[i]);
	free_loaded(v, n);

	/* a NULL meta text is stored as "" */
	{
		struct meta_upload u;

		memset(&u, 0, sizeof(u));
		u.fid = 99;
		u.tenant = (char *)T1;
		u.path = (char *)"m";
		assert_int_equal(meta_journal_commit(fx->m, &u), 0);
		load(fx->m, &v, &n);
		assert_int_equal(n, NJ + 1);
		assert_string_equal(v[NJ].meta, "");
		assert_int_equal(v[NJ].seq, u.seq);
		free_loaded(v, n);
	}

	/* durable: all of it is there after reopen, in order */
	reopen(fx);
	load(fx->m, &v, &n);
	assert_int_equal(n, NJ + 1);
	for (size_t i = 0; i < NJ; i++)
		assert_jrow(&v[i], &jrows[i], seq[i]);
	free_loaded(v, n);
	meta_upload_clear(NULL);   /* accepts NULL */
}

static void test_journal_seq_not_reused(void **state)
{
	struct fx *fx = *state;
	int64_t s1, s2, s3;

	s1 = commit_row(fx->m, &jrows[0]);
	s2 = commit_row(fx->m, &jrows[1]);
	assert_int_equal(meta_journal_done(fx->m, s2, NULL, NULL), 0);
	/* the highest seq was removed: a new commit must not get it back (its
	 * parts, or a worker still holding it, would be confused with the new one) */
	s3 = commit_row(fx->m, &jrows[1]);
	assert_true(s3 > s2);
	assert_int_equal(meta_journal_done(fx->m, s3, NULL, NULL), 0);
	assert_int_equal(meta_journal_done(fx->m, s1, NULL, NULL), 0);
	reopen(fx);
	assert_true(commit_row(fx->m, &jrows[0]) > s3);
}

static void test_journal_upload_id_and_parts(void **state)
{
	struct fx *fx = *state;
	struct meta_upload *v;
	struct meta_part *parts;
	size_t n, np;
	int64_t s1 = commit_row(fx->m, &jrows[0]);
	int64_t s2 = commit_row(fx->m, &jrows[1]);
	/* parts added in this order; the last one of a number wins */
	static const struct meta_part adds[] = {
		{ 3, 1024, "p3" }, { 1, 2048, "p1" }, { 2, 10, "p2-old" }, { 2, 2048, "p2" },
		{ 10000, 1, "p10000" },
	};
	static const struct meta_part want[] = {
		{ 1, 2048, "p1" }, { 2, 2048, "p2" }, { 3, 1024, "p3" }, { 10000, 1, "p10000" },
	};

	assert_int_equal(meta_journal_set_upload_id(fx->m, s1, "mpu-42"), 0);
	for (size_t i = 0; i < sizeof(adds) / sizeof(adds[0]); i++)
		assert_int_equal(meta_journal_add_part(fx->m, s1, &adds[i]), 0);
	assert_int_equal(meta_journal_add_part(fx->m, s2, &adds[0]), 0);

	for (int round = 0; round < 2; round++) {
		load(fx->m, &v, &n);
		assert_int_equal(n, 2);
		assert_string_equal(v[0].upload_id, "mpu-42");
		assert_null(v[1].upload_id);
		free_loaded(v, n);
		assert_int_equal(meta_journal_parts(fx->m, s1, &parts, &np), 0);
		assert_int_equal(np, sizeof(want) / sizeof(want[0]));
		for (size_t i = 0; i < np; i++) {
			assert_int_equal(parts[i].number, want[i].number);
			assert_int_equal(parts[i].size, want[i].size);
			assert_string_equal(parts[i].etag, want[i].etag);
		}
		free(parts);
		assert_int_equal(meta_journal_parts(fx->m, s2, &parts, &np), 0);
		assert_int_equal(np, 1);
		free(parts);
		reopen(fx);   /* second round: after reopen */
	}
	/* no parts for an unknown seq */
	assert_int_equal(meta_journal_parts(fx->m, 9999, &parts, &np), 0);
	assert_int_equal(np, 0);
	free(parts);
	/* a new upload id (or none: the upload must start over) forgets the
	 * parts of the previous one, of this entry only */
	static const char *const ids[] = { "mpu-43", NULL };
	for (size_t k = 0; k < 2; k++) {
		assert_int_equal(meta_journal_add_part(fx->m, s1, &adds[0]), 0);
		assert_int_equal(meta_journal_set_upload_id(fx->m, s1, ids[k]), 0);
		load(fx->m, &v, &n);
		assert_opt_str("upload_id", v[0].upload_id, ids[k]);
		free_loaded(v, n);
		assert_int_equal(meta_journal_parts(fx->m, s1, &parts, &np), 0);
		assert_int_equal(np, 0);
		free(parts);
		assert_int_equal(meta_journal_parts(fx->m, s2, &parts, &np), 0);
		assert_int_equal(np, 1);
		free(parts);
	}
	assert_int_equal(meta_journal_add_part(fx->m, s1, &adds[0]), 0);
	/* done removes the entry and its parts, and only those */
	assert_int_equal(meta_journal_done(fx->m, s1, NULL, NULL), 0);
	assert_int_equal(meta_journal_parts(fx->m, s1, &parts, &np), 0);
	assert_int_equal(np, 0);
	free(parts);
	assert_int_equal(meta_journal_parts(fx->m, s2, &parts, &np), 0);
	assert_int_equal(np, 1);
	free(parts);
	load(fx->m, &v, &n);
	assert_int_equal(n, 1);
	assert_int_equal(v[0].seq, s2);
	free_loaded(v, n);
}

static void test_journal_retarget(void **state)
{
	struct fx *fx = *state;
	struct meta_upload *v;
	size_t n;
	int64_t seq[NJ];

	for (size_t i = 0; i < NJ; i++)
		seq[i] = commit_row(fx->m, &jrows[i]);
	/* fid 11 has rows 0 and 2 */
	assert_int_equal(meta_journal_retarget(fx->m, 11, T2, "moved/here"), 0);
	assert_int_equal(meta_journal_retarget(fx->m, 4242, T1, "nobody"), 0);
	reopen(fx);
	load(fx->m, &v, &n);
	assert_int_equal(n, NJ);
	for (size_t i = 0; i < NJ; i++) {
		int moved = jrows[i].fid == 11;

		assert_int_equal(v[i].seq, seq[i]);
		assert_string_equal(v[i].tenant, moved ? T2 : jrows[i].tenant);
		assert_string_equal(v[i].path, moved ? "moved/here" : jrows[i].path);
		assert_int_equal(v[i].size, jrows[i].size);   /* nothing else changes */
		assert_opt_str("base", v[i].base_etag, jrows[i].base);
	}
	free_loaded(v, n);
}

/* Bases of a fixed set of entries before and after one rebase call. */
static void test_journal_rebase(void **state)
{
	struct fx *fx = *state;
	static const struct { uint64_t fid; const char *base; } ents[] = {
		{ 1, "old" }, { 1, NULL }, { 1, "other" }, { 2, "old" }, { 1, "old" }, { 2, NULL },
	};
	static const struct {
		const char *what;
		uint64_t fid;
		const char *old_etag, *new_etag;
		const char *want[6];
	} cases[] = {
		{ "named base", 1, "old", "new", { "new", NULL, "other", "old", "new", NULL } },
		{ "no base (IS NULL)", 1, NULL, "new", { "old", "new", "other", "old", "old", NULL } },
		{ "other fid", 2, "old", "new", { "old", NULL, "other", "new", "old", NULL } },
		{ "no match", 1, "absent", "new", { "old", NULL, "other", "old", "old", NULL } },
	};

	for (size_t ci = 0; ci < sizeof(cases) / sizeof(cases[0]); ci++) {
		struct meta_upload *v;
		size_t n;

		teardown(state);
		assert_int_equal(setup(state), 0);
		fx = *state;
		for (size_t i = 0; i < 6; i++) {
			struct jrow r = jrows[1];

			r.fid = ents[i].fid;
			r.base = ents[i].base;
			commit_row(fx->m, &r);
		}
		assert_int_equal(meta_journal_rebase(fx->m, cases[ci].fid, cases[ci].old_etag,
						     cases[ci].new_etag), 0);
		reopen(fx);
		load(fx->m, &v, &n);
		assert_int_equal(n, 6);
		for (size_t i = 0; i < 6; i++) {
			const char *got = v[i].base_etag, *want = cases[ci].want[i];

			if (want ? !got || strcmp(got, want) : got != NULL)
				fail_msg("%s: entry %zu base %s, want %s", cases[ci].what, i,
					 got ? got : "(null)", want ? want : "(null)");
		}
		free_loaded(v, n);
	}
}

static void test_journal_done_landed(void **state)
{
	struct fx *fx = *state;
	/* entries of the journal, in commit order; the one at index `land` lands
	 * as "landed-etag"; want[i]: the base of entry i afterwards ("-": gone) */
	static const struct { uint64_t fid; const char *base; } ents[] = {
		{ 1, "B" }, { 1, "B" }, { 1, "B" }, { 1, "C" }, { 2, "B" }, { 1, NULL },
	};
	static const struct {
		const char *what;
		size_t land;
		int cached;          /* a cache row existed for the path before */
		const char *want[6];
	} cases[] = {
		{ "later entries of the same base rebase", 1, 0,
		  { "B", "-", "landed-etag", "C", "B", NULL } },
		{ "first entry", 0, 1, { "-", "landed-etag", "landed-etag", "C", "B", NULL } },
		{ "no base: later NULL bases rebase", 5, 1, { "B", "B", "B", "C", "B", "-" } },
		{ "other fid untouched", 4, 0, { "B", "B", "B", "C", "-", NULL } },
	};

	for (size_t ci = 0; ci < sizeof(cases) / sizeof(cases[0]); ci++) {
		struct meta_upload *v, u;
		struct meta_entry landed, got;
		struct meta_part p = { 1, 5, "p" };
		struct meta_part *parts;
		int64_t seq[6];
		uint64_t ino0 = 0;
		size_t n, np;

		teardown(state);
		assert_int_equal(setup(state), 0);
		fx = *state;
		for (size_t i = 0; i < 6; i++) {
			struct jrow r = jrows[0];

			r.fid = ents[i].fid;
			r.base = ents[i].base;
			r.path = ents[i].fid == 1 ? "f1" : "f2";
			seq[i] = commit_row(fx->m, &r);
			assert_int_equal(meta_journal_add_part(fx->m, seq[i], &p), 0);
		}
		if (cases[ci].cached)
			ino0 = put(fx->m, T1, ents[cases[ci].land].fid == 1 ? "f1" : "f2", META_FILE);
		load(fx->m, &v, &n);
		u = v[cases[ci].land];
		landed = mk(META_FILE, 31337, "landed-etag");
		assert_int_equal(meta_journal_done(fx->m, seq[cases[ci].land], &u, &landed), 0);
		free_loaded(v, n);
		reopen(fx);

		load(fx->m, &v, &n);
		assert_int_equal(n, 5);
		for (size_t i = 0, j = 0; i < 6; i++) {
			const char *want = cases[ci].want[i], *base;

			if (want && !strcmp(want, "-"))
				continue;
			assert_int_equal(v[j].seq, seq[i]);
			base = v[j].base_etag;
			if (want ? !base || strcmp(base, want) : base != NULL)
				fail_msg("%s: entry %zu base %s, want %s", cases[ci].what, i,
					 base ? base : "(null)", want ? want : "(null)");
			j++;
		}
		free_loaded(v, n);
		assert_int_equal(meta_journal_parts(fx->m, seq[cases[ci].land], &parts, &np), 0);
		assert_int_equal(np, 0);
		free(parts);
		/* the cache row of the path describes what landed (keeping its inode) */
		assert_int_equal(meta_get(fx->m, T1, ents[cases[ci].land].fid == 1 ? "f1" : "f2",
					  &got), 0);
		assert_int_equal(got.type, META_FILE);
		assert_int_equal(got.size, 31337);
		assert_string_equal(got.etag, "landed-etag");
		if (cases[ci].cached)
			assert_int_equal(got.ino, ino0);
		meta_entry_clear(&got);
	}
}

/* done without `landed` (a dropped entry): the cache is not touched */
static void test_journal_done_dropped(void **state)
{
	struct fx *fx = *state;
	struct meta_upload *v;
	struct meta_entry e;
	size_t n;
	int64_t s1 = commit_row(fx->m, &jrows[0]);
	int64_t s2 = commit_row(fx->m, &jrows[2]);   /* same fid, base "base-etag" */

	assert_int_equal(meta_journal_done(fx->m, s1, NULL, NULL), 0);
	assert_int_equal(meta_get(fx->m, T1, jrows[0].path, &e), -ENOENT);
	load(fx->m, &v, &n);
	assert_int_equal(n, 1);
	assert_int_equal(v[0].seq, s2);
	assert_string_equal(v[0].base_etag, "base-etag");
	free_loaded(v, n);
	/* done of a seq that is not there succeeds and changes nothing */
	assert_int_equal(meta_journal_done(fx->m, s1, NULL, NULL), 0);
	load(fx->m, &v, &n);
	assert_int_equal(n, 1);
	free_loaded(v, n);
}

/* ---- quota usage ------------------------------------------------------ */

static const struct usage_row {
	const char *what, *tenant;
	struct meta_usage u;
} urows[] = {
	{ "zero usage", T1, { (char *)"bkt/", 0, 0, 1000, 1000, 0 } },
	{ "large figures", T2, { (char *)"bkt/tenants/b/", 1ULL << 50, 123456789, 5, 7, 1 } },
	{ "empty location", "c", { (char *)"", 42, 1, 0, 0, 1 } },
};
#define NU (sizeof(urows) / sizeof(urows[0]))

static void assert_usage(const char *what, const struct meta_usage *got,
			 const struct meta_usage *want)
{
	assert_opt_str(what, got->location, want->location);
	if (got->bytes != want->bytes || got->objects != want->objects ||
	    got->seeded_ms != want->seeded_ms || got->reconciled_ms != want->reconciled_ms ||
	    !got->clean != !want->clean) {
		print_error("%s: got %llu/%llu/%lld/%lld/%d\n", what,
			    (unsigned long long)got->bytes, (unsigned long long)got->objects,
			    (long long)got->seeded_ms, (long long)got->reconciled_ms, got->clean);
		fail();
	}
}

static void test_usage_put_get(void **state)
{
	struct fx *fx = *state;
	struct meta_usage got;

	/* no row: -ENOENT, *out zeroed */
	assert_int_equal(meta_usage_get(fx->m, T1, &got), -ENOENT);
	assert_null(got.location);
	for (size_t i = 0; i < NU; i++)
		assert_int_equal(meta_usage_put(fx->m, urows[i].tenant, &urows[i].u), 0);
	for (size_t i = 0; i < NU; i++) {
		assert_int_equal(meta_usage_get(fx->m, urows[i].tenant, &got), 0);
		assert_usage(urows[i].what, &got, &urows[i].u);
		meta_usage_clear(&got);
	}
	/* put replaces the whole row */
	{
		struct meta_usage u = { (char *)"bkt/", 7, 3, 1000, 2000, 1 };

		assert_int_equal(meta_usage_put(fx->m, T1, &u), 0);
		assert_int_equal(meta_usage_get(fx->m, T1, &got), 0);
		assert_usage("replaced", &got, &u);
		meta_usage_clear(&got);
	}
	/* rows survive a reopen */
	reopen(fx);
	for (size_t i = 1; i < NU; i++) {
		assert_int_equal(meta_usage_get(fx->m, urows[i].tenant, &got), 0);
		assert_usage(urows[i].what, &got, &urows[i].u);
		meta_usage_clear(&got);
	}
	/* del: only that tenant's row; deleting a missing row succeeds */
	assert_int_equal(meta_usage_del(fx->m, T2), 0);
	assert_int_equal(meta_usage_get(fx->m, T2, &got), -ENOENT);
	assert_int_equal(meta_usage_del(fx->m, T2), 0);
	assert_int_equal(meta_usage_get(fx->m, T1, &got), 0);
	meta_usage_clear(&got);
	meta_usage_clear(NULL);   /* accepts NULL */
}

static void test_journal_count(void **state)
{
	struct fx *fx = *state;
	uint64_t n = 99;

	assert_int_equal(meta_journal_count(fx->m, T1, &n), 0);
	assert_int_equal(n, 0);
	int64_t first = 0;

	for (size_t i = 0; i < NJ; i++) {
		int64_t seq = commit_row(fx->m, &jrows[i]);

		if (!first && !strcmp(jrows[i].tenant, T1))
			first = seq;
	}
	/* per tenant, as the rows say */
	for (int k = 0; k < 2; k++) {
		const char *t = k ? T2 : T1;
		uint64_t want = 0;

		for (size_t i = 0; i < NJ; i++)
			want += !strcmp(jrows[i].tenant, t);
		assert_int_equal(meta_journal_count(fx->m, t, &n), 0);
		assert_int_equal(n, want);
	}
	/* a landed entry is no longer counted */
	assert_int_equal(meta_journal_count(fx->m, T1, &n), 0);
	{
		uint64_t before = n;

		assert_int_equal(meta_journal_done(fx->m, first, NULL, NULL), 0);
		assert_int_equal(meta_journal_count(fx->m, T1, &n), 0);
		assert_int_equal(n, before - 1);
	}
	assert_int_equal(meta_journal_count(fx->m, "nobody", &n), 0);
	assert_int_equal(n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test_setup_teardown(test_root_and_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_put_upsert, setup, teardown),
		cmocka_unit_test_setup_teardown(test_get_del_ino, setup, teardown),
		cmocka_unit_test_setup_teardown(test_negative_entries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rename, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rename_listing_marks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_del_tree, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expire_tree, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listing_sweep, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listing_time_and_invalidate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listing_superseded_generation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readdir_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_journal_commit_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_journal_seq_not_reused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_journal_upload_id_and_parts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_journal_retarget, setup, teardown),
		cmocka_unit_test_setup_teardown(test_journal_rebase, setup, teardown),
		cmocka_unit_test_setup_teardown(test_journal_done_landed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_journal_done_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_usage_put_get, setup, teardown),
		cmocka_unit_test_setup_teardown(test_journal_count, setup, teardown),
	};

	objfs_log_set_level(OBJFS_LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
