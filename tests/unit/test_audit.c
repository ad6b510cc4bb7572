/*
 * Unit tests for src/audit.c: the JSON-lines audit log.
 *
 * Records are written through the public interface and read back from the
 * file with jansson: a table of records (every field, errno names, hostile
 * and invalid-UTF-8 strings), rotation by size with `keep` files, reopen
 * after an external rename, threads writing at once (no torn or mixed
 * lines, nothing lost), and clear errors for paths that cannot be opened.
 * Each test runs in its own scratch directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>

#include "audit.h"
#include "testutil.h"

struct fixture {
	char *dir;
	char path[4096];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->dir = tu_mkdtemp("audit");
	if (!f->dir)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/audit.log", f->dir);
	umask(022);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	objfs_audit_close();
	tu_rm_rf(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

/* The whole file, NUL-terminated, malloc'ed; NULL if it does not exist. */
static char *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!fp)
		return NULL;
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
	buf[n] = '\0';
	fclose(fp);
	if (len)
		*len = (size_t)n;
	return buf;
}

/* Parses every line of path; calls fn on each object.  Fails the test on a
 * line that is not one JSON object or a file not ending in '\n'.  Returns
 * the number of lines (0 for a missing file). */
static size_t each_line(const char *path, void (*fn)(json_t *o, void *arg), void *arg)
{
	size_t len = 0, n = 0;
	char *buf = slurp(path, &len), *p, *nl;

	if (!buf)
		return 0;
	if (len)
		assert_int_equal(buf[len - 1], '\n');
	for (p = buf; *p; p = nl + 1) {
		json_error_t je;
		json_t *o;

		nl = strchr(p, '\n');
		assert_non_null(nl);
		*nl = '\0';
		o = json_loads(p, 0, &je);
		if (!o)
			fail_msg("%s: line %zu is not JSON (%s): %s", path, n + 1, je.text, p);
		assert_true(json_is_object(o));
		if (fn)
			fn(o, arg);
		json_decref(o);
		n++;
	}
	free(buf);
	return n;
}

/* ---- the record table ---- */

struct rec_case {
	const char *name;
	uid_t uid;
	pid_t pid;
	const char *tenant, *op, *path, *to, *detail;
	int rc;
	const char *result;          /* expected "result" */
	const char *path_out;        /* expected "path" (UTF-8); NULL: same as path */
	const char *path_hex;        /* expected "path_hex"; NULL: absent */
	const char *to_out, *to_hex;
};

static const struct rec_case rec_cases[] = {
	{ "create ok", 1000, 4242, "acme", "create", "a/b.txt", NULL, NULL, 0, "ok",
	  NULL, NULL, NULL, NULL },
	{ "rename", 0, 1, "acme", "rename", "a/b", "a/c", NULL, 0, "ok", NULL, NULL, NULL, NULL },
	{ "denied", 65534, 7, "globex", "unlink", "x", NULL, NULL, -EACCES, "EACCES",
	  NULL, NULL, NULL, NULL },
	{ "no such", 1, 2, "acme", "rmdir", "gone", NULL, NULL, -ENOENT, "ENOENT",
	  NULL, NULL, NULL, NULL },
	{ "quota", 1, 2, "acme", "write", "big", NULL, "tenant quota", -EDQUOT, "EDQUOT",
	  NULL, NULL, NULL, NULL },
	{ "not empty", 1, 2, "acme", "rmdir", "d", NULL, NULL, -ENOTEMPTY, "ENOTEMPTY",
	  NULL, NULL, NULL, NULL },
	{ "unknown errno", 1, 2, "acme", "chmod", "f", NULL, NULL, -4000, "E4000",
	  NULL, NULL, NULL, NULL },
	{ "no tenant or path", 0, 99, NULL, "reload", NULL, NULL, "3 tenants", 0, "ok",
	  NULL, NULL, NULL, NULL },
	{ "quotes and controls", 5, 6, "acme", "setxattr", "q\"u\\o\te\nline\x01", NULL,
	  "user.x", 0, "ok", NULL, NULL, NULL, NULL },
	{ "valid utf-8", 5, 6, "acme", "mkdir", "d\xc3\xa9j\xc3\xa0/\xe2\x82\xac/\xf0\x9f\x98\x80",
	  NULL, NULL, 0, "ok", NULL, NULL, NULL, NULL },
	{ "bad byte", 5, 6, "acme", "create", "a\xff" "b", NULL, NULL, 0, "ok",
	  "a\xef\xbf\xbd" "b", "61ff62", NULL, NULL },
	{ "overlong slash", 5, 6, "acme", "create", "\xc0\xaf", NULL, NULL, 0, "ok",
	  "\xef\xbf\xbd\xef\xbf\xbd", "c0af", NULL, NULL },
	{ "surrogate", 5, 6, "acme", "create", "\xed\xa0\x80", NULL, NULL, 0, "ok",
	  "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", "eda080", NULL, NULL },
	{ "truncated sequence", 5, 6, "acme", "create", "x\xe2\x82", NULL, NULL, 0, "ok",
	  "x\xef\xbf\xbd\xef\xbf\xbd", "78e282", NULL, NULL },
	{ "past U+10FFFF", 5, 6, "acme", "create", "\xf4\x90\x80\x80", NULL, NULL, 0, "ok",
	  "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", "f4908080", NULL, NULL },
	{ "bad rename target", 5, 6, "acme", "rename", "ok", "n\x80", NULL, -EXDEV, "EXDEV",
	  NULL, NULL, "n\xef\xbf\xbd", "6e80" },
};
#define NREC (sizeof(rec_cases) / sizeof(rec_cases[0]))

static void expect_str(json_t *o, const char *key, const char *want, const char *cname)
{
	json_t *v = json_object_get(o, key);

	if (!want) {
		if (v)
			fail_msg("%s: unexpected field %s", cname, key);
		return;
	}
	if (!json_is_string(v))
		fail_msg("%s: field %s missing or not a string", cname, key);
	if (strcmp(json_string_value(v), want) != 0)
		fail_msg("%s: %s is \"%s\", expected \"%s\"", cname, key, json_string_value(v),
			 want);
}

static void check_time(json_t *o, const char *cname)
{
	const char *t = json_string_value(json_object_get(o, "time"));
	struct tm tm;
	int ms = -1;
	char z = 0, *end;
	time_t when, now = time(NULL);

	if (!t)
		fail_msg("%s: no time", cname);
	/* 2026-11-23T10:00:00.123Z */
	assert_int_equal(strlen(t), 24);
	memset(&tm, 0, sizeof(tm));
	end = strptime(t, "%Y-%m-%dT%H:%M:%S", &tm);
	assert_non_null(end);
	assert_int_equal(sscanf(end, ".%3d%c", &ms, &z), 2);
	assert_true(ms >= 0 && ms <= 999);
	assert_int_equal(z, 'Z');
	when = timegm(&tm);
	assert_true(when >= now - 5 && when <= now + 1);
}

struct rec_check {
	size_t i;
};

static void check_record(json_t *o, void *arg)
{
	struct rec_check *rc = arg;
	const struct rec_case *c;

	assert_true(rc->i < NREC);
	c = &rec_cases[rc->i++];
	check_time(o, c->name);
	assert_int_equal(json_integer_value(json_object_get(o, "uid")), c->uid);
	assert_int_equal(json_integer_value(json_object_get(o, "pid")), c->pid);
	expect_str(o, "tenant", c->tenant, c->name);
	expect_str(o, "op", c->op, c->name);
	expect_str(o, "path", c->path_out ? c->path_out : c->path, c->name);
	expect_str(o, "path_hex", c->path_hex, c->name);
	expect_str(o, "to", c->to_out ? c->to_out : c->to, c->name);
	expect_str(o, "to_hex", c->to_hex, c->name);
	expect_str(o, "result", c->result, c->name);
	expect_str(o, "detail", c->detail, c->name);
}

static void test_records(void **state)
{
	struct fixture *f = *state;
	struct rec_check chk = { 0 };
	struct stat st;
	char err[512];

	assert_int_equal(objfs_audit_open(f->path, 0, 5, err, sizeof(err)), 0);
	assert_int_equal(objfs_audit_enabled(), 1);
	for (size_t i = 0; i < NREC; i++) {
		const struct rec_case *c = &rec_cases[i];

		objfs_audit(c->uid, c->pid, c->tenant, c->op, c->path, c->to, c->rc, c->detail);
	}
	assert_int_equal(each_line(f->path, check_record, &chk), NREC);
	assert_int_equal(chk.i, NREC);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
}

/* Field order is stable: time first, result after the operands. */
static void test_line_shape(void **state)
{
	struct fixture *f = *state;
	char err[512], *buf;

	assert_int_equal(objfs_audit_open(f->path, 0, 5, err, sizeof(err)), 0);
	objfs_audit(1000, 4242, "acme", "rename", "a/b", "a/c", 0, NULL);
	buf = slurp(f->path, NULL);
	assert_non_null(buf);
	assert_non_null(strstr(buf, "\",\"uid\":1000,\"pid\":4242,\"tenant\":\"acme\",\"op\":"
				    "\"rename\",\"path\":\"a/b\",\"to\":\"a/c\",\"result\":\"ok\"}\n"));
	assert_memory_equal(buf, "{\"time\":\"", 9);
	free(buf);
}

static void test_off(void **state)
{
	struct fixture *f = *state;
	char err[512];

	assert_int_equal(objfs_audit_open(NULL, 0, 5, err, sizeof(err)), 0);
	assert_int_equal(objfs_audit_enabled(), 0);
	objfs_audit(1, 2, "acme", "create", "x", NULL, 0, NULL);
	assert_int_equal(objfs_audit_open(f->path, 0, 5, err, sizeof(err)), 0);
	assert_int_equal(objfs_audit_enabled(), 1);
	assert_int_equal(objfs_audit_open("", 0, 5, err, sizeof(err)), 0);
	assert_int_equal(objfs_audit_enabled(), 0);
	objfs_audit(1, 2, "acme", "create", "x", NULL, 0, NULL);
	assert_int_equal(each_line(f->path, NULL, NULL), 0);
	assert_int_equal(objfs_audit_reopen(), 0);
	assert_int_equal(objfs_audit_enabled(), 0);
}

/* ---- errors at open ---- */

static void test_open_errors(void **state)
{
	struct fixture *f = *state;
	char err[512], p[4300], longp[4200];
	int rc;

	/* missing directory */
	snprintf(p, sizeof(p), "%s/nodir/audit.log", f->dir);
	assert_int_equal(objfs_audit_open(p, 0, 5, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, p));
	assert_non_null(strstr(err, "directory must exist"));
	assert_int_equal(objfs_audit_enabled(), 0);

	/* a directory */
	assert_int_equal(objfs_audit_open(f->dir, 0, 5, err, sizeof(err)), -EISDIR);
	assert_non_null(strstr(err, "cannot open for appending"));

	/* too long for the rotated names */
	memset(longp, 'a', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	assert_int_equal(objfs_audit_open(longp, 0, 5, err, sizeof(err)), -ENAMETOOLONG);
	assert_non_null(strstr(err, "too long"));

	/* not writable: a read-only directory, tried as an unprivileged user
	 * when the test runs as root (root ignores permissions) */
	snprintf(p, sizeof(p), "%s/ro", f->dir);
	assert_int_equal(mkdir(p, 0555), 0);
	snprintf(p, sizeof(p), "%s/ro/audit.log", f->dir);
	if (geteuid() == 0)
		assert_int_equal(seteuid(65534), 0);
	rc = objfs_audit_open(p, 0, 5, err, sizeof(err));
	if (geteuid() != getuid())
		assert_int_equal(seteuid(0), 0);
	assert_int_equal(rc, -EACCES);
	assert_non_null(strstr(err, p));
	assert_non_null(strstr(err, "Permission denied"));
	assert_non_null(strstr(err, "must be able to create and write"));

	/* a bad path at reload leaves the running log in place */
	assert_int_equal(objfs_audit_open(f->path, 0, 5, err, sizeof(err)), 0);
	assert_int_equal(objfs_audit_open(f->dir, 0, 5, err, sizeof(err)), -EISDIR);
	assert_int_equal(objfs_audit_enabled(), 1);
	objfs_audit(1, 2, "acme", "create", "still", NULL, 0, NULL);
	assert_int_equal(each_line(f->path, NULL, NULL), 1);
}

/* ---- rotation ---- */

struct seq_check {
	long next;                   /* expected pid (sequence number) of the next line */
};

static void check_seq(json_t *o, void *arg)
{
	struct seq_check *s = arg;
	long pid = (long)json_integer_value(json_object_get(o, "pid"));

	if (s->next < 0)
		s->next = pid;          /* the oldest kept line */
	assert_int_equal(pid, s->next);
	s->next++;
}

static void rotated(char *buf, size_t len, const char *path, unsigned i)
{
	if (i)
		snprintf(buf, len, "%s.%u", path, i);
	else
		snprintf(buf, len, "%s", path);
}

static const struct {
	uint64_t max;
	unsigned keep;
	int lines;
} rot_cases[] = {
	{ 1000, 3, 200 },
	{ 1000, 1, 50 },
	{ 2500, 5, 300 },
	{ 1000, 0, 40 },
};

static void test_rotation(void **state)
{
	struct fixture *f = *state;
	char err[512], p[4200];

	for (size_t c = 0; c < sizeof(rot_cases) / sizeof(rot_cases[0]); c++) {
		struct seq_check s = { -1 };
		size_t total = 0;
		struct stat st;
		unsigned keep = rot_cases[c].keep;

		/* fresh files */
		for (unsigned i = 0; i <= 10; i++) {
			rotated(p, sizeof(p), f->path, i);
			unlink(p);
		}
		assert_int_equal(objfs_audit_open(f->path, rot_cases[c].max, keep, err,
						  sizeof(err)), 0);
		for (int i = 0; i < rot_cases[c].lines; i++)
			objfs_audit(1000, (pid_t)i, "acme", "write", "some/path/of/a/file.bin",
				    NULL, 0, NULL);
		/* exactly keep rotated files, each within max, oldest first in
		 * .keep and the sequence unbroken up to the last line */
		for (unsigned i = keep; ; i--) {
			rotated(p, sizeof(p), f->path, i);
			assert_int_equal(stat(p, &st), 0);
			assert_true((uint64_t)st.st_size <= rot_cases[c].max);
			total += each_line(p, check_seq, &s);
			if (i == 0)
				break;
		}
		rotated(p, sizeof(p), f->path, keep + 1);
		assert_false(tu_exists(p));
		assert_int_equal(s.next, rot_cases[c].lines);
		assert_true(total < (size_t)rot_cases[c].lines);    /* old ones are gone */
		objfs_audit_close();
	}
}

/* ---- reopen after an external rename (logrotate) ---- */

static void test_reopen(void **state)
{
	struct fixture *f = *state;
	char err[512], moved[4200];

	snprintf(moved, sizeof(moved), "%s.moved", f->path);
	assert_int_equal(objfs_audit_open(f->path, 0, 5, err, sizeof(err)), 0);
	objfs_audit(1, 1, "acme", "create", "a", NULL, 0, NULL);
	assert_int_equal(rename(f->path, moved), 0);
	objfs_audit(1, 2, "acme", "create", "b", NULL, 0, NULL);   /* still the old file */
	assert_false(tu_exists(f->path));
	assert_int_equal(objfs_audit_reopen(), 0);
	assert_true(tu_exists(f->path));
	objfs_audit(1, 3, "acme", "create", "c", NULL, 0, NULL);
	assert_int_equal(each_line(moved, NULL, NULL), 2);
	assert_int_equal(each_line(f->path, NULL, NULL), 1);

	/* a reopen that fails keeps the current file */
	assert_int_equal(rename(f->path, moved), 0);
	assert_int_equal(mkdir(f->path, 0755), 0);
	assert_int_equal(objfs_audit_reopen(), -EISDIR);
	assert_int_equal(objfs_audit_enabled(), 1);
	objfs_audit(1, 4, "acme", "create", "d", NULL, 0, NULL);
	assert_int_equal(each_line(moved, NULL, NULL), 2);
	assert_int_equal(rmdir(f->path), 0);
}

/* ---- concurrent writers ---- */

#define NTHREADS 8
#define PER_THREAD 400

struct writer {
	int id;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	char path[3000];

	/* long paths: each line is far over PIPE_BUF */
	memset(path, 'a' + w->id, sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	for (int i = 0; i < PER_THREAD; i++)
		objfs_audit((uid_t)w->id, (pid_t)i, "acme", "write", path, NULL, 0, NULL);
	return NULL;
}

struct conc_check {
	int seen[NTHREADS][PER_THREAD];
};

static void check_conc(json_t *o, void *arg)
{
	struct conc_check *c = arg;
	int id = (int)json_integer_value(json_object_get(o, "uid"));
	int i = (int)json_integer_value(json_object_get(o, "pid"));
	const char *path = json_string_value(json_object_get(o, "path"));

	assert_true(id >= 0 && id < NTHREADS);
	assert_true(i >= 0 && i < PER_THREAD);
	assert_non_null(path);
	assert_int_equal(strlen(path), 2999);
	assert_int_equal(strspn(path, (char[]){ (char)('a' + id), 0 }), 2999);
	c->seen[id][i]++;
}

static void test_concurrent(void **state)
{
	struct fixture *f = *state;
	struct writer w[NTHREADS];
	pthread_t th[NTHREADS];
	struct conc_check *c = calloc(1, sizeof(*c));
	char err[512], p[4200];
	size_t total = 0;

	assert_non_null(c);
	/* rotation runs while the threads write: ~3 KiB lines, 256 KiB files */
	assert_int_equal(objfs_audit_open(f->path, 256 * 1024, 50, err, sizeof(err)), 0);
	for (int i = 0; i < NTHREADS; i++) {
		w[i].id = i;
		assert_int_equal(pthread_create(&th[i], NULL, writer_main, &w[i]), 0);
	}
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	for (unsigned i = 0; i <= 50; i++) {
		rotated(p, sizeof(p), f->path, i);
		total += each_line(p, check_conc, c);
	}
	assert_int_equal(total, NTHREADS * PER_THREAD);
	for (int t = 0; t < NTHREADS; t++)
		for (int i = 0; i < PER_THREAD; i++)
			assert_int_equal(c->seen[t][i], 1);
	rotated(p, sizeof(p), f->path, 5);
	assert_true(tu_exists(p));                  /* it did rotate */
	free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_records, setup, teardown),
		cmocka_unit_test_setup_teardown(test_line_shape, setup, teardown),
		cmocka_unit_test_setup_teardown(test_off, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
