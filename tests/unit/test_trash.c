/*
 * Unit tests of the trash (src/trash.c) on the mem provider: keep (and the
 * key layout, with names of any bytes the mount accepts), list order,
 * restore conflicts, directory restore, purge of expired versions only.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "clock.h"
#include "file.h"
#include "meta.h"
#include "trash.h"
#include "testutil.h"

struct env {
	char *dir;
	struct objfs_prov *prov;
	struct objfs_config cfg;
	struct objfs_tenant_conf tc;
	struct objfs_ctx ctx;
	struct objfs_tenant *t;
};

static void put(struct env *e, const char *key, const char *body, const char *mode)
{
	struct objfs_seg seg = { -1, body, 0, strlen(body) };
	struct objfs_source src = { &seg, 1, strlen(body) };
	struct objfs_kv kv[1] = { { (char *)"mode", (char *)mode } };
	struct objfs_putopts o = { .meta = kv, .nmeta = mode ? 1 : 0 };
	struct objfs_err err;

	assert_int_equal(objfs_prov_put(e->prov, "bkt", key, &src, &o, NULL, &err), 0);
}

static char *get(struct env *e, const char *key)
{
	static char buf[256];
	uint64_t got = 0;
	struct objfs_err err;

	if (objfs_prov_get(e->prov, "bkt", key, 0, sizeof(buf) - 1, NULL, buf, &got, &err))
		return NULL;
	buf[got] = '\0';
	return buf;
}

static int setup(void **state)
{
	struct objfs_provider_conf pc = { .name = "mem", .type = "mem" };
	struct env *e = calloc(1, sizeof(*e));
	struct objfs_err err;

	if (!e || !(e->dir = tu_mkdtemp("trash")))
		return -1;
	if (objfs_prov_open(&pc, &e->prov, &err) ||
	    objfs_prov_bucket_create(e->prov, "bkt", &err))
		return -1;
	e->cfg.cache_dir = e->dir;
	e->tc.name = (char *)"acme";
	e->tc.bucket = (char *)"bkt";
	e->tc.prefix = (char *)"t/acme/";
	e->tc.trash_days = 7;
	e->ctx.cfg = &e->cfg;
	e->ctx.tenants.v = calloc(OBJFS_TENANTS_MAX, sizeof(*e->ctx.tenants.v));
	if (!e->ctx.tenants.v)
		return -1;
	e->t = &e->ctx.tenants.v[0];
	e->t->conf = &e->tc;
	e->t->prov = e->prov;
	e->t->name = "acme";
	e->t->bucket = "bkt";
	e->t->prefix = "t/acme/";
	e->ctx.tenants.n = 1;
	if (meta_open(e->dir, &e->ctx.meta) || files_new(&e->ctx, &e->ctx.files))
		return -1;
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	files_free(e->ctx.files);
	meta_close(e->ctx.meta);
	free(e->ctx.tenants.v);
	objfs_prov_free(e->prov);
	tu_rm_rf(e->dir);
	free(e->dir);
	free(e);
	return 0;
}

/* Keeps: a missing object is nothing; odd names keep their bytes; a second
 * keep of the same ETag by an upload is skipped; tenants without trash_days keep nothing. */
static void test_keep_and_list(void **state)
{
	static const struct objfs_kv own[1] = { { (char *)"mode", (char *)"33152" } };
	struct env *e = *state;
	static const char *const names[] = { "a.txt", "dir/sp ace %41 é", "dir/.hidden" };
	struct objfs_trash_entry *v = NULL;
	char msg[256];
	size_t n = 0;
	int tr = -1;

	assert_int_equal(objfs_trash_keep(e->t, "missing"), 0);
	for (size_t i = 0; i < 3; i++) {
		char key[256];

		snprintf(key, sizeof(key), "t/acme/%s", names[i]);
		put(e, key, names[i], "33188");
		assert_int_equal(objfs_trash_keep(e->t, names[i]), 0);
	}
	/* an upload retried after its keep: the same ETag is not kept twice */
	struct objfs_trash_upload up = { NULL, 2, own, 1, 1 };

	assert_int_equal(objfs_trash_keep_slow(e->t, "a.txt", &up), 0);
	put(e, "t/acme/a.txt", "a2", "33152");
	/* a retried upload whose first put landed: the object is its own bytes
	 * (same size and metadata), not a version to keep */
	assert_int_equal(objfs_trash_keep_slow(e->t, "a.txt", &up), 0);
	up.size = 3;                                                 /* not its own */
	up.maybe_landed = 0;
	assert_int_equal(objfs_trash_keep(e->t, "a.txt"), 0);        /* a new version */
	e->tc.trash_days = 0;
	put(e, "t/acme/a.txt", "a3", NULL);
	assert_int_equal(objfs_trash_keep(e->t, "a.txt"), 0);        /* off: nothing */
	e->tc.trash_days = 7;

	assert_int_equal(objfs_trash_list(e->t, "", 100, &v, &n, &tr, msg, sizeof(msg)), 0);
	assert_int_equal(n, 4);
	assert_int_equal(tr, 0);
	assert_string_equal(v[0].rel, "a.txt");
	assert_string_equal(v[1].rel, "a.txt");
	assert_true(strcmp(v[0].vid, v[1].vid) > 0);                 /* newest first */
	assert_int_equal(v[0].mode & 07777, 0600);
	assert_int_equal(v[1].mode & 07777, 0644);
	assert_string_equal(v[2].rel, "dir/.hidden");
	assert_string_equal(v[3].rel, "dir/sp ace %41 é");
	assert_int_equal(objfs_trash_expires_ms(e->t, v[0].deleted_ms),
			 v[0].deleted_ms + 7LL * 86400 * 1000);
	objfs_trash_entries_free(v, n);

	/* a directory names the paths below it, not "dir2" or "di" */
	put(e, "t/acme/dir2", "x", NULL);
	assert_int_equal(objfs_trash_keep(e->t, "dir2"), 0);
	assert_int_equal(objfs_trash_list(e->t, "dir", 100, &v, &n, &tr, msg, sizeof(msg)), 0);
	assert_int_equal(n, 2);
	objfs_trash_entries_free(v, n);
	assert_int_equal(objfs_trash_list(e->t, "a.txt", 1, &v, &n, &tr, msg, sizeof(msg)), 0);
	assert_int_equal(n, 1);
	assert_int_equal(tr, 1);
	objfs_trash_entries_free(v, n);
}

/* Restore: a live file is a conflict without force; with force it is kept
 * first; a directory restores the newest of every file below it. */
static void test_restore(void **state)
{
	struct env *e = *state;
	struct objfs_trash_entry *v = NULL, *done = NULL;
	struct objfs_err err;
	char msg[512];
	size_t n = 0, nd = 0;

	put(e, "t/acme/f", "old", "33188");
	assert_int_equal(objfs_trash_keep(e->t, "f"), 0);
	put(e, "t/acme/f", "new", "33188");
	assert_int_equal(objfs_trash_restore(&e->ctx, e->t, "f", NULL, NULL, 0, NULL, NULL, msg,
					     sizeof(msg)), -EEXIST);
	assert_non_null(strstr(msg, "exists"));
	assert_string_equal(get(e, "t/acme/f"), "new");
	assert_int_equal(objfs_trash_restore(&e->ctx, e->t, "f", NULL, "g", 0, &done, &nd, msg,
					     sizeof(msg)), 0);
	assert_int_equal(nd, 1);
	assert_string_equal(done[0].rel, "g");
	objfs_trash_entries_free(done, nd);
	assert_string_equal(get(e, "t/acme/g"), "old");
	assert_int_equal(objfs_trash_restore(&e->ctx, e->t, "f", NULL, NULL, 0, NULL, NULL, msg,
					     sizeof(msg)), -ENOENT);

	put(e, "t/acme/d/x", "x1", NULL);
	put(e, "t/acme/d/s/y", "y1", NULL);
	assert_int_equal(objfs_trash_keep(e->t, "d/x"), 0);
	assert_int_equal(objfs_trash_keep(e->t, "d/s/y"), 0);
	assert_int_equal(objfs_prov_del(e->prov, "bkt", "t/acme/d/s/y", &err), 0);   /* rm */
	put(e, "t/acme/d/x", "x2", NULL);
	assert_int_equal(objfs_trash_keep(e->t, "d/x"), 0);          /* x2 is newest */
	assert_int_equal(objfs_trash_restore(&e->ctx, e->t, "d", NULL, NULL, 0, NULL, NULL, msg,
					     sizeof(msg)), -EEXIST);   /* d/x is live */
	assert_null(get(e, "t/acme/d/s/y"));                        /* nothing restored */
	assert_int_equal(objfs_trash_restore(&e->ctx, e->t, "d", NULL, NULL, 1, &done, &nd, msg,
					     sizeof(msg)), 0);
	assert_int_equal(nd, 2);
	objfs_trash_entries_free(done, nd);
	assert_string_equal(get(e, "t/acme/d/x"), "x2");
	assert_string_equal(get(e, "t/acme/d/s/y"), "y1");
	/* left: x1 and the live x2 that --force replaced (the same bytes) */
	assert_int_equal(objfs_trash_list(e->t, "d", 100, &v, &n, NULL, msg, sizeof(msg)), 0);
	assert_int_equal(n, 2);
	objfs_trash_entries_free(v, n);
}

/* Purge with expired_only stops at the first version within retention. */
static void test_purge(void **state)
{
	struct env *e = *state;
	int64_t old_ms = objfs_clock_now_ms() - 8LL * 86400 * 1000;
	char key[256], msg[256];
	struct objfs_trash_entry *v = NULL;
	size_t n = 0, count = 0;
	uint64_t bytes = 0;

	snprintf(key, sizeof(key), "t/acme/.objfs-trash/%014lld-0000000a/old", (long long)old_ms);
	put(e, key, "old!", NULL);
	put(e, "t/acme/.objfs-trash/not-a-version/x", "?", NULL);       /* ignored */
	put(e, "t/acme/h", "h", NULL);
	assert_int_equal(objfs_trash_keep(e->t, "h"), 0);
	assert_int_equal(objfs_trash_purge(e->t, NULL, NULL, 1, &count, &bytes, msg, sizeof(msg)),
			 0);
	assert_int_equal(count, 1);
	assert_int_equal(bytes, 4);
	assert_null(get(e, key));
	assert_int_equal(objfs_trash_list(e->t, "h", 100, &v, &n, NULL, msg, sizeof(msg)), 0);
	assert_int_equal(n, 1);
	assert_int_equal(objfs_trash_purge(e->t, "h", v[0].vid, 0, &count, NULL, msg,
					   sizeof(msg)), 0);
	assert_int_equal(count, 1);
	objfs_trash_entries_free(v, n);
	assert_int_equal(objfs_trash_purge(e->t, NULL, NULL, 0, &count, NULL, msg, sizeof(msg)),
			 0);
	assert_int_equal(objfs_trash_list(e->t, "", 100, &v, &n, NULL, msg, sizeof(msg)), 0);
	assert_int_equal(n, 0);
	objfs_trash_entries_free(v, n);
	assert_non_null(get(e, "t/acme/.objfs-trash/not-a-version/x"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_keep_and_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore, setup, teardown),
		cmocka_unit_test_setup_teardown(test_purge, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
