/*
 * Unit tests for src/metrics.c: counters and their labels, errno names,
 * cumulative histogram buckets, label escaping, the tenant lookup by
 * (provider, bucket, prefix), no-ops before init, the provider and HTTP
 * hooks, concurrent recording, the scrape endpoint, and a line-grammar
 * check of the whole rendering (exposition format 0.0.4).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "http.h"
#include "metrics.h"

/* ---- fixture: a context with tenants on two fake providers ---- */

static struct objfs_prov prov_a = { .name = (char *)"alpha" };
static struct objfs_prov prov_b = { .name = (char *)"beta" };

struct fixture {
	struct objfs_ctx ctx;
	struct objfs_prov *provs[2];
};

static const struct {
	const char *name;
	struct objfs_prov *prov;
	const char *bucket, *prefix;
} tenant_rows[] = {
	{ "acme", &prov_a, "acme-uploads", "" },
	{ "globex", &prov_b, "shared", "tenants/globex/" },
	{ "tenants", &prov_b, "shared", "tenants/" },
	{ "initech", &prov_b, "shared", "tenants/initech/" },
	{ "other", &prov_a, "shared", "" },
};
#define NTENANTS (sizeof(tenant_rows) / sizeof(tenant_rows[0]))

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->ctx.tenants.v = calloc(OBJFS_TENANTS_MAX, sizeof(struct objfs_tenant));
	assert_non_null(f->ctx.tenants.v);
	for (size_t i = 0; i < NTENANTS; i++) {
		struct objfs_tenant *t = &f->ctx.tenants.v[i];

		t->idx = i;
		t->name = tenant_rows[i].name;
		t->prov = tenant_rows[i].prov;
		t->bucket = tenant_rows[i].bucket;
		t->prefix = tenant_rows[i].prefix;
	}
	f->ctx.tenants.n = NTENANTS;
	f->provs[0] = &prov_a;
	f->provs[1] = &prov_b;
	f->ctx.provs = f->provs;
	f->ctx.nprovs = 2;
	f->ctx.started_ms = 1700000000123LL;
	assert_int_equal(objfs_metrics_init(&f->ctx), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	objfs_metrics_free();
	free(f->ctx.tenants.v);
	free(f);
	return 0;
}

static struct objfs_tenant *tenant(void **state, size_t i)
{
	return &((struct fixture *)*state)->ctx.tenants.v[i];
}

static char *render(void)
{
	size_t len = 0;
	char *s = objfs_metrics_render(&len);

	assert_non_null(s);
	assert_int_equal(strlen(s), len);
	return s;
}

/* The value of the sample whose line starts with `series ` exactly, or -1
 * when there is no such line. */
static double sample(const char *text, const char *series)
{
	size_t n = strlen(series);

	for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
		if (strncmp(l, series, n) == 0 && l[n] == ' ')
			return strtod(l + n + 1, NULL);
	return -1;
}

/* ---- a checker of the exposition format, line by line ---- */

static int is_name_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}

static int is_name_char(char c)
{
	return is_name_start(c) || (c >= '0' && c <= '9');
}

/* Length of a metric (colons: 1) or label name at s; 0 if none. */
static size_t name_len(const char *s, int colons)
{
	size_t i = 0;

	if (!is_name_start(s[0]) || (!colons && s[0] == ':'))
		return 0;
	while (is_name_char(s[i]) && (colons || s[i] != ':'))
		i++;
	return i;
}

struct family {
	char name[128];
	char type[16];
};

struct checker {
	struct family fam[128];
	size_t nfam;
	char last_hist[700];         /* series (without le) of the last bucket line */
	double last_bucket;          /* its cumulative value */
	double inf_bucket;           /* the +Inf value of the last histogram series */
	char errbuf[256];
};

static struct family *family_of(struct checker *c, const char *name, size_t len)
{
	for (size_t i = 0; i < c->nfam; i++)
		if (strlen(c->fam[i].name) == len && memcmp(c->fam[i].name, name, len) == 0)
			return &c->fam[i];
	return NULL;
}

static int bad(struct checker *c, const char *line, const char *why)
{
	snprintf(c->errbuf, sizeof(c->errbuf), "%s: %.160s", why, line);
	return -1;
}

/* Checks one sample line; 0 or -1 with c->errbuf. */
static int check_sample(struct checker *c, const char *line)
{
	size_t n = name_len(line, 1), base = n;
	const char *p = line + n, *le = NULL;
	char series[512], *end;
	struct family *fam;
	double v;
	size_t slen;

	if (!n)
		return bad(c, line, "no metric name");
	fam = family_of(c, line, n);
	if (!fam) {
		/* histogram children name their family without the suffix */
		static const char *const sfx[] = { "_bucket", "_sum", "_count" };

		for (size_t i = 0; i < 3 && !fam; i++) {
			size_t sl = strlen(sfx[i]);

			if (n > sl && memcmp(line + n - sl, sfx[i], sl) == 0) {
				base = n - sl;
				fam = family_of(c, line, base);
				if (fam && strcmp(fam->type, "histogram") != 0)
					fam = NULL;
			}
		}
	}
	if (!fam)
		return bad(c, line, "sample before its # TYPE");
	if (strcmp(fam->type, "histogram") == 0 && base == n)
		return bad(c, line, "histogram sample without _bucket/_sum/_count");
	slen = 0;
	if (*p == '{') {
		p++;
		while (*p != '}') {
			size_t ln = name_len(p, 0);
			int is_le;

			if (!ln || p[ln] != '=' || p[ln + 1] != '"')
				return bad(c, line, "bad label name");
			is_le = ln == 2 && memcmp(p, "le", 2) == 0;
			if (!is_le) {
				if (slen + ln + 2 >= sizeof(series))
					return bad(c, line, "series too long");
				memcpy(series + slen, p, ln + 2);
				slen += ln + 2;
			}
			p += ln + 2;
			if (is_le)
				le = p;
			while (*p != '"') {
				if (*p == '\0' || *p == '\n')
					return bad(c, line, "unterminated label value");
				if (*p == '\\') {
					if (p[1] != '\\' && p[1] != '"' && p[1] != 'n')
						return bad(c, line, "bad escape");
					if (!is_le && slen + 2 < sizeof(series)) {
						series[slen++] = p[0];
						series[slen++] = p[1];
					}
					p += 2;
					continue;
				}
				if (!is_le && slen + 1 < sizeof(series))
					series[slen++] = *p;
				p++;
			}
			p++;
			if (*p == ',')
				p++;
			else if (*p != '}')
				return bad(c, line, "expected , or }");
		}
		p++;
	}
	series[slen] = '\0';
	if (*p != ' ')
		return bad(c, line, "expected a space before the value");
	p++;
	if (!strcmp(p, "+Inf") || !strcmp(p, "-Inf") || !strcmp(p, "NaN")) {
		v = 0;
	} else {
		v = strtod(p, &end);
		if (end == p || *end != '\0')
			return bad(c, line, "bad value");
	}
	if (base != n && memcmp(line + base, "_bucket", 7) == 0) {
		char key[700];

		if (!le)
			return bad(c, line, "bucket without le");
		snprintf(key, sizeof(key), "%.*s|%s", (int)base, line, series);
		if (strcmp(key, c->last_hist) == 0) {
			if (v < c->last_bucket)
				return bad(c, line, "buckets not cumulative");
		} else {
			snprintf(c->last_hist, sizeof(c->last_hist), "%s", key);
		}
		c->last_bucket = v;
		if (strncmp(le, "+Inf\"", 5) == 0)
			c->inf_bucket = v;
	} else if (base != n && memcmp(line + base, "_count", 6) == 0) {
		if (v != c->inf_bucket)
			return bad(c, line, "_count differs from the +Inf bucket");
	}
	return 0;
}

/* Checks a whole rendering; 0 or -1 with c->errbuf. */
static int check_text(struct checker *c, const char *text)
{
	char line[2048];
	const char *p = text;

	memset(c, 0, sizeof(*c));
	if (!*text || text[strlen(text) - 1] != '\n')
		return bad(c, text, "text does not end with a newline");
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t len = (size_t)(nl - p);

		if (len >= sizeof(line))
			return bad(c, p, "line too long");
		memcpy(line, p, len);
		line[len] = '\0';
		p = nl + 1;
		if (strncmp(line, "# HELP ", 7) == 0) {
			size_t n = name_len(line + 7, 1);

			if (!n || line[7 + n] != ' ' || !line[8 + n])
				return bad(c, line, "bad HELP");
		} else if (strncmp(line, "# TYPE ", 7) == 0) {
			size_t n = name_len(line + 7, 1);
			const char *t = line + 8 + n;
			struct family *f;

			if (!n || line[7 + n] != ' ' ||
			    (strcmp(t, "counter") && strcmp(t, "gauge") && strcmp(t, "histogram")))
				return bad(c, line, "bad TYPE");
			if (family_of(c, line + 7, n))
				return bad(c, line, "TYPE twice");
			if (c->nfam == sizeof(c->fam) / sizeof(c->fam[0]))
				return bad(c, line, "too many families");
			f = &c->fam[c->nfam++];
			snprintf(f->name, sizeof(f->name), "%.*s", (int)n, line + 7);
			snprintf(f->type, sizeof(f->type), "%s", t);
			if (!strcmp(t, "counter") && (n < 6 || strcmp(f->name + n - 6, "_total")))
				return bad(c, line, "counter not named *_total");
		} else if (line[0] == '#' || line[0] == '\0') {
			return bad(c, line, "stray comment or empty line");
		} else if (check_sample(c, line)) {
			return -1;
		}
	}
	return 0;
}

/* The checker rejects what it should (a test of the test). */
static void test_checker_rejects(void **state)
{
	static const char *const badtexts[] = {
		"x_total 1\n",                                           /* no TYPE */
		"# TYPE x_total counter\nx_total{a=\"b} 1\n",            /* unterminated */
		"# TYPE x_total counter\nx_total{a=\"\\t\"} 1\n",        /* bad escape */
		"# TYPE x_total counter\nx_total one\n",                 /* bad value */
		"# TYPE x counter\nx 1\n",                               /* counter name */
		"# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n",
		"# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n",
		"# TYPE g gauge\ng 1",                                   /* no newline */
		"# TYPE g gauge\n9g 1\n",
	};
	struct checker c;

	(void)state;
	for (size_t i = 0; i < sizeof(badtexts) / sizeof(badtexts[0]); i++)
		assert_int_equal(check_text(&c, badtexts[i]), -1);
	assert_int_equal(check_text(&c, "# HELP g x\n# TYPE g gauge\ng{a=\"\\\"\\\\\\n\"} 1.5\n"), 0);
}

/* ---- tests ---- */

static void test_noop_before_init(void **state)
{
	struct objfs_tenant t = { .idx = 0, .name = "acme" };
	char *s;

	(void)state;
	objfs_metrics_fs_op(OBJFS_FSOP_GETATTR, &t, -ENOENT, 1000);
	objfs_metrics_prov_op(&prov_a, OBJFS_PROVOP_PUT, "b", "k", 0, 1000, 10, 0);
	objfs_metrics_http_response("alpha", 200);
	objfs_metrics_http_retry("alpha");
	objfs_metrics_wb_upload(&t, OBJFS_WB_LANDED, 1000);
	assert_null(objfs_metrics_tenant_of(&prov_a, "acme-uploads", "x"));
	s = render();
	assert_non_null(strstr(s, "objfs_up 1\n"));
	assert_null(strstr(s, "objfs_fs_operations_total"));
	assert_null(strstr(s, "objfs_provider_requests_total"));
	free(s);
	/* a registry made after the calls above starts from zero */
	assert_int_equal(setup(state), 0);
	s = render();
	assert_null(strstr(s, "objfs_fs_operations_total{"));
	assert_null(strstr(s, "objfs_writeback_uploads_total{"));
	assert_int_equal(sample(s, "objfs_http_retries_total{provider=\"alpha\"}"), 0);
	free(s);
	assert_int_equal(objfs_metrics_init(NULL), -EALREADY);
	teardown(state);
	objfs_metrics_free();        /* twice: harmless */
}

static void test_fs_counters(void **state)
{
	char *s;

	for (int i = 0; i < 3; i++)
		objfs_metrics_fs_op(OBJFS_FSOP_GETATTR, tenant(state, 0), 0, 1000);
	objfs_metrics_fs_op(OBJFS_FSOP_GETATTR, tenant(state, 0), -ENOENT, 1000);
	objfs_metrics_fs_op(OBJFS_FSOP_GETATTR, NULL, 0, 1000);
	objfs_metrics_fs_op(OBJFS_FSOP_MKDIR, tenant(state, 1), -EDQUOT, 1000);
	objfs_metrics_fs_op(OBJFS_FSOP_MKDIR, tenant(state, 1), -EDQUOT, 1000);
	objfs_metrics_fs_op(OBJFS_FSOP_WRITE, tenant(state, 1), -ENOSPC, 1000);
	objfs_metrics_fs_op(OBJFS_FSOP_WRITE, tenant(state, 1), -4000, 1000);   /* no name */
	objfs_metrics_fs_op(OBJFS_FSOP__N, tenant(state, 1), 0, 1000);          /* ignored */
	s = render();
	assert_int_equal(sample(s, "objfs_fs_operations_total{op=\"getattr\",tenant=\"acme\"}"), 4);
	assert_int_equal(sample(s, "objfs_fs_operations_total{op=\"getattr\",tenant=\"/\"}"), 1);
	assert_int_equal(sample(s, "objfs_fs_operations_total{op=\"mkdir\",tenant=\"globex\"}"), 2);
	assert_int_equal(sample(s, "objfs_fs_errors_total{op=\"getattr\",tenant=\"acme\","
				   "errno=\"ENOENT\"}"), 1);
	assert_int_equal(sample(s, "objfs_fs_errors_total{op=\"mkdir\",tenant=\"globex\","
				   "errno=\"EDQUOT\"}"), 2);
	assert_int_equal(sample(s, "objfs_fs_errors_total{op=\"write\",tenant=\"globex\","
				   "errno=\"ENOSPC\"}"), 1);
	assert_int_equal(sample(s, "objfs_fs_errors_total{op=\"write\",tenant=\"globex\","
				   "errno=\"EOTHER\"}"), 1);
	/* no error line for a tenant or op without errors */
	assert_null(strstr(s, "objfs_fs_errors_total{op=\"getattr\",tenant=\"/\""));
	assert_int_equal(sample(s, "objfs_fs_operation_duration_seconds_count{op=\"getattr\"}"), 5);
	assert_int_equal(sample(s, "objfs_tenants"), NTENANTS);
	assert_true(sample(s, "objfs_start_time_seconds") > 1700000000.1229);
	assert_true(sample(s, "objfs_start_time_seconds") < 1700000000.1231);
	assert_non_null(strstr(s, "objfs_build_info{version=\""));
	free(s);
}

/* A tenant removed by a reload keeps its counters; one appended later is
 * counted and named as soon as it is in the table. */
static void test_tenants_reload(void **state)
{
	struct fixture *f = *state;
	struct objfs_tenant *t = &f->ctx.tenants.v[NTENANTS];
	char *s;

	t->idx = NTENANTS;
	t->name = "late";
	t->prov = &prov_a;
	t->bucket = "late-uploads";
	t->prefix = "";
	__atomic_store_n(&f->ctx.tenants.n, NTENANTS + 1, __ATOMIC_RELEASE);
	f->ctx.tenants.v[0].removed = 1;
	objfs_metrics_fs_op(OBJFS_FSOP_OPEN, t, 0, 1000);
	objfs_metrics_fs_op(OBJFS_FSOP_OPEN, &f->ctx.tenants.v[0], 0, 1000);
	s = render();
	assert_int_equal(sample(s, "objfs_fs_operations_total{op=\"open\",tenant=\"late\"}"), 1);
	assert_int_equal(sample(s, "objfs_fs_operations_total{op=\"open\",tenant=\"acme\"}"), 1);
	assert_int_equal(sample(s, "objfs_tenants"), NTENANTS);   /* +1 added, -1 removed */
	free(s);
}

static void test_histogram_buckets(void **state)
{
	static const struct {
		const char *le;
		int want;
	} rows[] = {
		{ "0.0001", 2 }, { "0.00025", 2 }, { "0.001", 3 }, { "0.0025", 3 }, { "1", 3 },
		{ "10", 4 }, { "+Inf", 5 },
	};
	char series[128], *s;

	(void)state;
	objfs_metrics_fs_op(OBJFS_FSOP_READ, NULL, 0, 50000);          /* 50 us */
	objfs_metrics_fs_op(OBJFS_FSOP_READ, NULL, 0, 100000);         /* 100 us: le is inclusive */
	objfs_metrics_fs_op(OBJFS_FSOP_READ, NULL, 0, 1000000);        /* 1 ms */
	objfs_metrics_fs_op(OBJFS_FSOP_READ, NULL, 0, 10000000000LL);  /* 10 s */
	objfs_metrics_fs_op(OBJFS_FSOP_READ, NULL, 0, 20000000000LL);  /* 20 s */
	objfs_metrics_fs_op(OBJFS_FSOP_READ, NULL, -EIO, -5);          /* clock step: 0 */
	s = render();
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		snprintf(series, sizeof(series),
			 "objfs_fs_operation_duration_seconds_bucket{op=\"read\",le=\"%s\"}", rows[i].le);
		/* the -5 ns observation lands in the first bucket */
		assert_int_equal(sample(s, series), rows[i].want + 1);
	}
	assert_non_null(strstr(s, "objfs_fs_operation_duration_seconds_sum{op=\"read\"} "
			       "30.001150000\n"));
	assert_int_equal(sample(s, "objfs_fs_operation_duration_seconds_count{op=\"read\"}"), 6);
	/* no series for an operation never seen */
	assert_null(strstr(s, "objfs_fs_operation_duration_seconds_count{op=\"link\"}"));
	free(s);
}

static void test_escaping(void **state)
{
	char *s;

	(void)state;
	objfs_metrics_http_retry("we\"ird\\na\nme");
	objfs_metrics_http_response("we\"ird\\na\nme", 503);
	s = render();
	assert_int_equal(sample(s, "objfs_http_retries_total{provider=\"we\\\"ird\\\\na\\nme\"}"), 1);
	assert_int_equal(sample(s, "objfs_http_requests_total{provider=\"we\\\"ird\\\\na\\nme\","
				   "code=\"503\"}"), 1);
	free(s);
}

static void test_tenant_of(void **state)
{
	static const struct {
		struct objfs_prov *p;
		const char *bucket, *key;
		const char *want;                    /* NULL: none */
	} rows[] = {
		{ &prov_a, "acme-uploads", "a/b", "acme" },
		{ &prov_a, "acme-uploads", NULL, "acme" },
		{ &prov_a, "acme-uploads", "", "acme" },
		{ &prov_b, "acme-uploads", "a/b", NULL },        /* other provider */
		{ &prov_b, "shared", "tenants/globex/x", "globex" },
		{ &prov_b, "shared", "tenants/globex/", "globex" },
		{ &prov_b, "shared", "tenants/globe", "tenants" },   /* longest that matches */
		{ &prov_b, "shared", "tenants/initech/deep/k", "initech" },
		{ &prov_b, "shared", "tenants/", "tenants" },
		{ &prov_b, "shared", "other/key", NULL },
		{ &prov_b, "shared", NULL, NULL },
		{ &prov_a, "shared", "tenants/globex/x", "other" },  /* same bucket, provider a */
		{ &prov_a, "nope", "x", NULL },
		{ &prov_a, NULL, "x", NULL },
		{ NULL, "shared", "x", NULL },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct objfs_tenant *t = objfs_metrics_tenant_of(rows[i].p, rows[i].bucket,
								       rows[i].key);

		if (!rows[i].want) {
			if (t)
				fail_msg("row %zu: want none, got %s", i, t->name);
		} else {
			if (!t || strcmp(t->name, rows[i].want))
				fail_msg("row %zu: want %s, got %s", i, rows[i].want,
					 t ? t->name : "none");
		}
	}
}

static void test_provider_counters(void **state)
{
	char *s;

	(void)state;
	objfs_metrics_prov_op(&prov_b, OBJFS_PROVOP_PUT, "shared", "tenants/globex/f", 0, 2000000,
			      100, 0);
	objfs_metrics_prov_op(&prov_b, OBJFS_PROVOP_PUT, "shared", "tenants/globex/g", 0, 2000000,
			      23, 0);
	objfs_metrics_prov_op(&prov_b, OBJFS_PROVOP_GET, "shared", "tenants/globex/f", 0, 1000, 0, 50);
	objfs_metrics_prov_op(&prov_b, OBJFS_PROVOP_HEAD, "shared", "tenants/globex/f", -EIO, 1000,
			      0, 0);
	objfs_metrics_prov_op(&prov_b, OBJFS_PROVOP_HEAD, "shared", "tenants/globex/f", -ENOENT,
			      1000, 0, 0);
	objfs_metrics_prov_op(&prov_b, OBJFS_PROVOP_LIST, "shared", "elsewhere/", 0, 1000, 0, 0);
	s = render();
	assert_int_equal(sample(s, "objfs_provider_requests_total{provider=\"beta\",tenant=\"globex\","
				   "op=\"put\"}"), 2);
	assert_int_equal(sample(s, "objfs_provider_requests_total{provider=\"beta\",tenant=\"globex\","
				   "op=\"head\"}"), 2);
	/* -ENOENT is an answer, not an error */
	assert_int_equal(sample(s, "objfs_provider_errors_total{provider=\"beta\",tenant=\"globex\","
				   "op=\"head\"}"), 1);
	assert_int_equal(sample(s, "objfs_provider_errors_total{provider=\"beta\",tenant=\"globex\","
				   "op=\"put\"}"), -1);
	assert_int_equal(sample(s, "objfs_provider_requests_total{provider=\"beta\",tenant=\"\","
				   "op=\"list\"}"), 1);
	assert_int_equal(sample(s, "objfs_provider_bytes_uploaded_total{provider=\"beta\","
				   "tenant=\"globex\"}"), 123);
	assert_int_equal(sample(s, "objfs_provider_bytes_downloaded_total{provider=\"beta\","
				   "tenant=\"globex\"}"), 50);
	assert_int_equal(sample(s, "objfs_provider_request_duration_seconds_count{provider=\"beta\","
				   "op=\"put\"}"), 2);
	assert_int_equal(sample(s, "objfs_provider_request_duration_seconds_bucket{provider=\"beta\","
				   "op=\"put\",le=\"0.001\"}"), 0);
	assert_int_equal(sample(s, "objfs_provider_request_duration_seconds_bucket{provider=\"beta\","
				   "op=\"put\",le=\"0.0025\"}"), 2);
	free(s);
}

/* The objfs_prov_* wrappers feed the metrics: a real (mem) provider. */
static void test_provider_wrappers(void **state)
{
	struct fixture *f = *state;
	struct objfs_provider_conf conf = { .name = "alpha", .type = "mem" };
	struct objfs_prov *p = NULL;
	struct objfs_err err;
	char data[1000], buf[1000], etag[OBJFS_ETAG_MAX];
	struct objfs_seg seg = { .fd = -1, .buf = data, .off = 0, .len = sizeof(data) };
	struct objfs_source src = { &seg, 1, sizeof(data) };
	struct objfs_objinfo oi;
	uint64_t got = 0;
	char *s;

	memset(data, 'x', sizeof(data));
	memset(&oi, 0, sizeof(oi));
	assert_int_equal(objfs_prov_open(&conf, &p, &err), 0);
	/* the tenants of "alpha" now live on this instance */
	f->ctx.tenants.v[0].prov = p;
	assert_int_equal(objfs_prov_bucket_create(p, "acme-uploads", &err), 0);
	assert_int_equal(objfs_prov_put(p, "acme-uploads", "k", &src, NULL, etag, &err), 0);
	assert_int_equal(objfs_prov_get(p, "acme-uploads", "k", 0, 600, NULL, buf, &got, &err), 0);
	assert_int_equal(got, 600);
	assert_int_equal(objfs_prov_head(p, "acme-uploads", "missing", &oi, &err), -ENOENT);
	assert_int_not_equal(objfs_prov_get(p, "no-such-bucket", "k", 0, 10, NULL, buf, &got, &err),
			     0);
	s = render();
	assert_int_equal(sample(s, "objfs_provider_requests_total{provider=\"alpha\",tenant=\"acme\","
				   "op=\"put\"}"), 1);
	assert_int_equal(sample(s, "objfs_provider_requests_total{provider=\"alpha\",tenant=\"acme\","
				   "op=\"bucket_create\"}"), 1);
	assert_int_equal(sample(s, "objfs_provider_requests_total{provider=\"alpha\",tenant=\"\","
				   "op=\"get\"}"), 1);
	assert_int_equal(sample(s, "objfs_provider_bytes_uploaded_total{provider=\"alpha\","
				   "tenant=\"acme\"}"), 1000);
	assert_int_equal(sample(s, "objfs_provider_bytes_downloaded_total{provider=\"alpha\","
				   "tenant=\"acme\"}"), 600);
	assert_int_equal(sample(s, "objfs_provider_errors_total{provider=\"alpha\",tenant=\"acme\","
				   "op=\"head\"}"), -1);
	free(s);
	f->ctx.tenants.v[0].prov = &prov_a;
	objfs_prov_free(p);
}

static void test_writeback(void **state)
{
	char *s;

	objfs_metrics_wb_upload(tenant(state, 1), OBJFS_WB_LANDED, 30000000);    /* 30 ms */
	objfs_metrics_wb_upload(tenant(state, 1), OBJFS_WB_LANDED, 2000000000);  /* 2 s */
	objfs_metrics_wb_upload(tenant(state, 1), OBJFS_WB_FAILED, 100000000);
	objfs_metrics_wb_upload(tenant(state, 1), OBJFS_WB_SUPERSEDED, 0);
	objfs_metrics_wb_upload(NULL, OBJFS_WB_SUPERSEDED, 0);
	s = render();
	assert_int_equal(sample(s, "objfs_writeback_uploads_total{tenant=\"globex\","
				   "result=\"landed\"}"), 2);
	assert_int_equal(sample(s, "objfs_writeback_uploads_total{tenant=\"globex\","
				   "result=\"failed\"}"), 1);
	assert_int_equal(sample(s, "objfs_writeback_uploads_total{tenant=\"globex\","
				   "result=\"superseded\"}"), 1);
	assert_int_equal(sample(s, "objfs_writeback_uploads_total{tenant=\"\","
				   "result=\"superseded\"}"), 1);
	assert_int_equal(sample(s, "objfs_writeback_upload_duration_seconds_count"), 3);
	assert_int_equal(sample(s, "objfs_writeback_upload_duration_seconds_bucket{le=\"0.05\"}"), 1);
	assert_int_equal(sample(s, "objfs_writeback_upload_duration_seconds_bucket{le=\"2.5\"}"), 3);
	/* no write-back, staging or read cache in this context: zeros */
	assert_int_equal(sample(s, "objfs_writeback_queue_length"), 0);
	assert_int_equal(sample(s, "objfs_staging_bytes"), 0);
	assert_int_equal(sample(s, "objfs_readcache_max_bytes"), 0);
	free(s);
}

/* ---- HTTP hooks: a loopback server answering 503, then 200 ---- */

struct script_srv {
	int fd;
	int port;
	pthread_t th;
};

static void *script_thread(void *arg)
{
	static const char *const answers[] = {
		"HTTP/1.1 503 Slow Down\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
	};
	struct script_srv *s = arg;

	for (size_t i = 0; i < 2; i++) {
		char buf[4096];
		size_t have = 0;
		int c = accept(s->fd, NULL, NULL);

		if (c < 0)
			break;
		/* read the request head (no body on GET) */
		while (have < sizeof(buf) - 1) {
			ssize_t n = read(c, buf + have, sizeof(buf) - 1 - have);

			if (n <= 0)
				break;
			have += (size_t)n;
			buf[have] = '\0';
			if (strstr(buf, "\r\n\r\n"))
				break;
		}
		if (write(c, answers[i], strlen(answers[i])) < 0)
			i = 2;
		close(c);
	}
	return NULL;
}

static int listen_any(int *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct timeval tv = { 10, 0 };

	assert_true(fd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));   /* accept gives up */
	*port = ntohs(a.sin_port);
	return fd;
}

static void test_http_hooks(void **state)
{
	struct objfs_http_conf hc = { .label = "beta", .backoff_base_ms = 1, .backoff_max_ms = 2,
				      .max_attempts = 3, .connect_timeout_ms = 2000 };
	struct objfs_http_resp resp;
	struct script_srv srv;
	struct objfs_http *h;
	char url[64];
	int closed_port, cfd;
	char *s;

	(void)state;
	srv.fd = listen_any(&srv.port);
	assert_int_equal(pthread_create(&srv.th, NULL, script_thread, &srv), 0);
	h = objfs_http_new(&hc);
	assert_non_null(h);
	memset(&resp, 0, sizeof(resp));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", srv.port);
	assert_int_equal(objfs_http_do(h, &(struct objfs_http_req){ .method = "GET", .url = url },
				       &resp), 0);
	assert_int_equal(resp.status, 200);
	objfs_http_resp_clear(&resp);
	pthread_join(srv.th, NULL);
	close(srv.fd);
	/* a port nothing listens on: two attempts without a response */
	cfd = listen_any(&closed_port);
	close(cfd);
	hc.max_attempts = 2;
	objfs_http_free(h);
	h = objfs_http_new(&hc);
	assert_non_null(h);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", closed_port);
	assert_true(objfs_http_do(h, &(struct objfs_http_req){ .method = "GET", .url = url },
				  &resp) < 0);
	objfs_http_resp_clear(&resp);
	objfs_http_free(h);
	s = render();
	assert_int_equal(sample(s, "objfs_http_requests_total{provider=\"beta\",code=\"503\"}"), 1);
	assert_int_equal(sample(s, "objfs_http_requests_total{provider=\"beta\",code=\"200\"}"), 1);
	assert_int_equal(sample(s, "objfs_http_requests_total{provider=\"beta\",code=\"none\"}"), 2);
	assert_int_equal(sample(s, "objfs_http_retries_total{provider=\"beta\"}"), 2);
	assert_int_equal(sample(s, "objfs_http_retries_total{provider=\"alpha\"}"), 0);
	free(s);
}

/* ---- concurrency: no count is lost ---- */

#define CONC_THREADS 4
#define CONC_OPS 20000

static void *conc_thread(void *arg)
{
	struct objfs_tenant *t = arg;

	for (int i = 0; i < CONC_OPS; i++) {
		objfs_metrics_fs_op(OBJFS_FSOP_STATFS, t, i % 10 ? 0 : -EACCES, i);
		objfs_metrics_prov_op(&prov_b, OBJFS_PROVOP_DEL, "shared", "tenants/initech/k", 0, i,
				      0, 0);
	}
	return NULL;
}

static void test_concurrent(void **state)
{
	pthread_t th[CONC_THREADS];
	char *s;

	for (int i = 0; i < CONC_THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, conc_thread, tenant(state, 3)), 0);
	for (int i = 0; i < CONC_THREADS; i++)
		pthread_join(th[i], NULL);
	s = render();
	assert_int_equal(sample(s, "objfs_fs_operations_total{op=\"statfs\",tenant=\"initech\"}"),
			 CONC_THREADS * CONC_OPS);
	assert_int_equal(sample(s, "objfs_fs_errors_total{op=\"statfs\",tenant=\"initech\","
				   "errno=\"EACCES\"}"), CONC_THREADS * CONC_OPS / 10);
	assert_int_equal(sample(s, "objfs_fs_operation_duration_seconds_count{op=\"statfs\"}"),
			 CONC_THREADS * CONC_OPS);
	assert_int_equal(sample(s, "objfs_provider_requests_total{provider=\"beta\","
				   "tenant=\"initech\",op=\"del\"}"), CONC_THREADS * CONC_OPS);
	free(s);
}

/* ---- the whole rendering parses ---- */

static void test_render_grammar(void **state)
{
	struct checker c;
	char *s;

	for (int op = 0; op < OBJFS_FSOP__N; op++)
		objfs_metrics_fs_op((enum objfs_fsop)op, tenant(state, (size_t)op % NTENANTS),
				    op % 3 ? 0 : -(op + 1), (int64_t)op * 1000000);
	objfs_metrics_fs_op(OBJFS_FSOP_READ, NULL, -ENOENT, 5);
	for (int op = 0; op < OBJFS_PROVOP__N; op++)
		objfs_metrics_prov_op(op % 2 ? &prov_a : &prov_b, (enum objfs_provop)op, "shared",
				      "tenants/globex/x", op % 4 ? 0 : -EIO, op * 1000, 7, 9);
	objfs_metrics_http_response("beta", 200);
	objfs_metrics_http_response("beta", 0);
	objfs_metrics_http_response("beta", 999);
	objfs_metrics_http_retry("od\"d\n");
	objfs_metrics_wb_upload(tenant(state, 0), OBJFS_WB_LANDED, 1);
	objfs_metrics_wb_upload(NULL, OBJFS_WB_FAILED, 1);
	s = render();
	if (check_text(&c, s))
		fail_msg("%s", c.errbuf);
	/* every family documented in docs/metrics.md is present */
	{
		static const char *const fams[] = {
			"objfs_up", "objfs_build_info", "objfs_start_time_seconds", "objfs_tenants",
			"objfs_fs_operations_total", "objfs_fs_errors_total",
			"objfs_fs_operation_duration_seconds", "objfs_provider_requests_total",
			"objfs_provider_errors_total", "objfs_provider_request_duration_seconds",
			"objfs_provider_bytes_uploaded_total", "objfs_provider_bytes_downloaded_total",
			"objfs_http_requests_total", "objfs_http_retries_total",
			"objfs_readcache_hits_total", "objfs_readcache_misses_total",
			"objfs_readcache_bytes", "objfs_readcache_max_bytes",
			"objfs_writeback_queue_length", "objfs_writeback_in_flight",
			"objfs_writeback_bytes_pending", "objfs_writeback_oldest_pending_age_seconds",
			"objfs_writeback_uploads_total", "objfs_writeback_upload_duration_seconds",
			"objfs_staging_bytes", "objfs_staging_max_bytes",
		};

		for (size_t i = 0; i < sizeof(fams) / sizeof(fams[0]); i++)
			if (!family_of(&c, fams[i], strlen(fams[i])))
				fail_msg("family %s missing", fams[i]);
	}
	assert_int_equal(sample(s, "objfs_http_requests_total{provider=\"beta\",code=\"none\"}"), 2);
	free(s);
}

/* ---- the scrape endpoint ---- */

/* GET path from 127.0.0.1:port; the whole answer (malloc'ed). */
static char *http_get(int port, const char *path)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct timeval tv = { 10, 0 };
	size_t have = 0, cap = 1 << 16;
	char *buf = malloc(cap), req[128];
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_non_null(buf);
	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: x\r\n\r\n", path);
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	for (;;) {
		ssize_t n;

		if (have + 1 >= cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		n = read(fd, buf + have, cap - have - 1);
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	buf[have] = '\0';
	close(fd);
	return buf;
}

/* The same over IPv6 ::1; 0 when there is no IPv6 loopback (then *ans NULL). */
static int http_get6(int port, const char *path, char **ans)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port),
				  .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	struct timeval tv = { 10, 0 };
	char req[128], buf[8192];
	size_t have = 0;
	int fd = socket(AF_INET6, SOCK_STREAM, 0);

	*ans = NULL;
	if (fd < 0)
		return 0;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: x\r\n\r\n", path);
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	for (;;) {
		ssize_t n = read(fd, buf + have, sizeof(buf) - 1 - have);

		if (n <= 0 || have + (size_t)n >= sizeof(buf) - 1)
			break;
		have += (size_t)n;
	}
	buf[have] = '\0';
	close(fd);
	*ans = strdup(buf);
	return 1;
}

/* "[::1]:PORT" serves on IPv6 (skipped without an IPv6 loopback). */
static void test_listen_v6(void **state)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	socklen_t al = sizeof(a);
	char addr[64], err[256], *ans = NULL;
	int fd = socket(AF_INET6, SOCK_STREAM, 0);

	(void)state;
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a))) {
		if (fd >= 0)
			close(fd);
		skip();
	}
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	close(fd);
	snprintf(addr, sizeof(addr), "[::1]:%d", ntohs(a.sin6_port));
	assert_int_equal(objfs_metrics_listen_start(addr, err, sizeof(err)), 0);
	assert_int_equal(http_get6(ntohs(a.sin6_port), "/metrics", &ans), 1);
	assert_non_null(ans);
	assert_non_null(strstr(ans, " 200 "));
	assert_non_null(strstr(ans, "\nobjfs_up 1\n"));
	free(ans);
	objfs_metrics_listen_stop();
}

static void test_listen(void **state)
{
	char addr[64], err[256], *ans;
	int port, fd, rc;
	const char *body;
	struct checker c;

	(void)state;
	objfs_metrics_fs_op(OBJFS_FSOP_MKDIR, tenant(state, 2), 0, 1000);
	fd = listen_any(&port);
	close(fd);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	assert_int_equal(objfs_metrics_listen_start(addr, err, sizeof(err)), 0);
	ans = http_get(port, "/metrics");
	assert_non_null(strstr(ans, "HTTP/1.1 200") ? ans : strstr(ans, "HTTP/1.0 200"));
	assert_non_null(strcasestr(ans, "Content-Type: text/plain; version=0.0.4"));
	body = strstr(ans, "\r\n\r\n");
	assert_non_null(body);
	if (check_text(&c, body + 4))
		fail_msg("%s", c.errbuf);
	assert_int_equal(sample(body + 4, "objfs_fs_operations_total{op=\"mkdir\","
					  "tenant=\"tenants\"}"), 1);
	free(ans);
	ans = http_get(port, "/other");
	assert_non_null(strstr(ans, " 404 "));
	free(ans);
	/* a second server is refused while one runs */
	assert_int_equal(objfs_metrics_listen_start(addr, err, sizeof(err)), -EALREADY);
	objfs_metrics_listen_stop();
	objfs_metrics_listen_stop();             /* twice: harmless */
	/* the port was given back: it can be served again */
	assert_int_equal(objfs_metrics_listen_start(addr, err, sizeof(err)), 0);
	objfs_metrics_listen_stop();

	/* a port in use: one line naming the address and the reason */
	fd = listen_any(&port);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	rc = objfs_metrics_listen_start(addr, err, sizeof(err));
	assert_int_equal(rc, -EADDRINUSE);
	{
		char want[128];

		snprintf(want, sizeof(want), "metrics_listen 127.0.0.1:%d: Address already in use",
			 port);
		assert_string_equal(err, want);
	}
	close(fd);
	/* malformed addresses */
	{
		static const char *const bad_addrs[] = {
			"nonsense", "127.0.0.1:", ":80", "[::1]80", "[::1", "no.such.host.invalid:80",
		};

		for (size_t i = 0; i < sizeof(bad_addrs) / sizeof(bad_addrs[0]); i++) {
			assert_true(objfs_metrics_listen_start(bad_addrs[i], err, sizeof(err)) < 0);
			assert_non_null(strstr(err, "metrics_listen"));
			assert_null(strchr(err, '\n'));
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_checker_rejects),
		cmocka_unit_test(test_noop_before_init),
		cmocka_unit_test_setup_teardown(test_fs_counters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tenants_reload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_histogram_buckets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_escaping, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tenant_of, setup, teardown),
		cmocka_unit_test_setup_teardown(test_provider_counters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_provider_wrappers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writeback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_http_hooks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_render_grammar, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listen_v6, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
