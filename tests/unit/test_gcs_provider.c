/*
 * The gcs provider (src/provider_gcs.c) driven directly against the GCS test
 * server ($OBJFS_GCS_TEST_SERVER or ../shared/tools/gcs-test-server, started
 * with its start.sh on a free port; a missing server is a failure): the
 * cases a mount cannot stage on purpose.
 *
 *   - a resumable upload whose journal lagged the server (a crash after the
 *     server took a part, before it was recorded): a new instance resends
 *     nothing the session holds, and the object lands whole;
 *   - a misaligned part offset is -EINVAL;
 *   - parallel composite uploads of more than 32 parts compose in rounds,
 *     and leave no temporaries;
 *   - errno per failure (the s3 provider's): -ENOENT, -ESTALE, -EEXIST,
 *     deleting a missing key succeeds, a missing bucket is -ENOENT.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "objfs/provider.h"
#include "testutil.h"

struct srv {
	char *dir;                 /* DATADIR of start.sh */
	char *tools;
	char endpoint[64];
	char key[600];
	int port;
};

static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM, 0), port;

	assert_true(s >= 0);
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&a, &l), 0);
	port = ntohs(a.sin_port);
	close(s);
	return port;
}

static int setup(void **state)
{
	struct srv *s = calloc(1, sizeof(*s));
	const char *t = getenv("OBJFS_GCS_TEST_SERVER");
	char *cmd = NULL, start[600];
	int port = free_port();

	s->tools = strdup(t && t[0] ? t : "../shared/tools/gcs-test-server");
	snprintf(start, sizeof(start), "%s/start.sh", s->tools);
	if (access(start, X_OK))
		fail_msg("the GCS test server is missing: %s (set OBJFS_GCS_TEST_SERVER)", start);
	s->port = port;
	s->dir = tu_mkdtemp("gcs-unit");
	assert_non_null(s->dir);
	assert_true(asprintf(&cmd, "GCS_TEST_DEBUG=1 %s %d %s >/dev/null", start, port, s->dir) > 0);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	snprintf(s->endpoint, sizeof(s->endpoint), "http://127.0.0.1:%d", port);
	snprintf(s->key, sizeof(s->key), "%s/service-account.json", s->dir);
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	struct srv *s = *state;
	char *cmd = NULL;

	if (asprintf(&cmd, "%s/stop.sh %s", s->tools, s->dir) > 0 && system(cmd) != 0)
		fprintf(stderr, "stop.sh failed\n");
	free(cmd);
	tu_rm_rf(s->dir);
	free(s->dir);
	free(s->tools);
	free(s);
	return 0;
}

static struct objfs_prov *open_prov(struct srv *s, int composite)
{
	struct objfs_provider_conf c;
	struct objfs_prov *p = NULL;
	struct objfs_err err = { "" };

	memset(&c, 0, sizeof(c));
	c.name = composite ? "gcsc" : "gcs";
	c.type = "gcs";
	c.endpoint = s->endpoint;
	c.credentials = s->key;
	c.parallel_composite = composite;
	if (objfs_prov_open(&c, &p, &err))
		fail_msg("open: %s", err.msg);
	return p;
}

/* Lines of the server's request log containing needle.  The server logs a
 * request when its answer has been sent, so a client can be faster than
 * the line: give it a moment first. */
static int log_count(struct srv *s, const char *needle)
{
	char path[600], line[4096];
	FILE *f;
	int n = 0;

	usleep(300 * 1000);
	snprintf(path, sizeof(path), "%s/gcs.log", s->dir);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

static struct objfs_source mem_src(struct objfs_seg *seg, const void *buf, size_t len)
{
	*seg = (struct objfs_seg){ .fd = -1, .buf = buf, .len = len };
	return (struct objfs_source){ seg, 1, len };
}

static void test_resume_with_lagging_journal(void **state)
{
	struct srv *s = *state;
	struct objfs_prov *p = open_prov(s, 0), *p2;
	struct objfs_err err = { "" };
	const size_t part = 8u << 20, total = 2 * part + 1000;
	unsigned char *data = malloc(total), *back = malloc(total);
	struct objfs_part parts[3];
	struct objfs_seg seg;
	struct objfs_source src;
	char *id = NULL, etag[OBJFS_ETAG_MAX];
	uint64_t got = 0;
	int puts_before;

	for (size_t i = 0; i < total; i++)
		data[i] = (unsigned char)(i * 7 + (i >> 11));
	assert_int_equal(objfs_prov_bucket_create(p, "unit-bucket", &err), 0);
	assert_int_equal(objfs_prov_bucket_create(p, "unit-bucket", &err), 0);   /* ours: ok */
	assert_int_equal(objfs_prov_mpu_create(p, "unit-bucket", "big", NULL, &id, &err), 0);
	memset(parts, 0, sizeof(parts));
	for (int n = 1; n <= 2; n++) {
		src = mem_src(&seg, data + (n - 1) * part, part);
		parts[n - 1].number = n;
		parts[n - 1].size = part;
		assert_int_equal(objfs_prov_mpu_upload_part(p, "unit-bucket", "big", id, n,
							    (n - 1) * part, &src,
							    parts[n - 1].etag, &err), 0);
	}
	/* misaligned offset */
	src = mem_src(&seg, data, 1000);
	assert_int_equal(objfs_prov_mpu_upload_part(p, "unit-bucket", "big", id, 9, 1000, &src,
						    etag, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "256 KiB"));
	/* "crash": a new instance, whose journal only recorded part 1 */
	objfs_prov_free(p);
	p2 = open_prov(s, 0);
	puts_before = log_count(s, "PUT /upload/storage/v1/b/unit-bucket/o?uploadType=resumable");
	src = mem_src(&seg, data + part, part);
	assert_int_equal(objfs_prov_mpu_upload_part(p2, "unit-bucket", "big", id, 2, part, &src,
						    etag, &err), 0);
	assert_string_equal(etag, parts[1].etag);        /* same CRC, nothing new */
	/* only the status query went out */
	assert_int_equal(log_count(s, "PUT /upload/storage/v1/b/unit-bucket/o?uploadType=resumable")
			 - puts_before, 1);
	src = mem_src(&seg, data + 2 * part, 1000);
	parts[2].number = 3;
	parts[2].size = 1000;
	assert_int_equal(objfs_prov_mpu_upload_part(p2, "unit-bucket", "big", id, 3, 2 * part, &src,
						    parts[2].etag, &err), 0);
	assert_non_null(strchr(parts[2].etag, ':'));       /* the short last part finalized */
	assert_int_equal(objfs_prov_mpu_complete(p2, "unit-bucket", "big", id, parts, 3, etag,
						 &err), 0);
	assert_int_equal(objfs_prov_get(p2, "unit-bucket", "big", 0, total, etag, back, &got,
					&err), 0);
	assert_int_equal(got, total);
	assert_memory_equal(back, data, total);
	/* a bad record of a part is refused, not trusted */
	snprintf(parts[0].etag, sizeof(parts[0].etag), "nothex");
	assert_int_equal(objfs_prov_mpu_complete(p2, "unit-bucket", "big", id, parts, 3, etag,
						 &err), -EINVAL);
	objfs_prov_free(p2);
	free(id);
	free(data);
	free(back);
}

static void test_composite_rounds(void **state)
{
	struct srv *s = *state;
	struct objfs_prov *p = open_prov(s, 1);
	struct objfs_err err = { "" };
	enum { N = 40, SZ = 300 };
	static unsigned char data[N * SZ], back[N * SZ];
	struct objfs_part parts[N];
	struct objfs_seg seg;
	struct objfs_source src;
	struct objfs_listing l;
	struct objfs_putopts o;
	struct objfs_kv kv[1] = { { (char *)"mode", (char *)"33188" } };
	struct objfs_objinfo oi;
	char *id = NULL, etag[OBJFS_ETAG_MAX];
	uint64_t got = 0;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 13);
	memset(&o, 0, sizeof(o));
	o.content_type = "text/x-test";
	o.meta = kv;
	o.nmeta = 1;
	assert_int_equal(objfs_prov_bucket_create(p, "unit-comp", &err), 0);
	assert_int_equal(objfs_prov_mpu_create(p, "unit-comp", "d/obj", &o, &id, &err), 0);
	assert_non_null(strstr(id, "compose:"));
	for (int n = 1; n <= N; n++) {
		src = mem_src(&seg, data + (n - 1) * SZ, SZ);
		parts[n - 1].number = n;
		parts[n - 1].size = SZ;
		assert_int_equal(objfs_prov_mpu_upload_part(p, "unit-comp", "d/obj", id, n,
							    (uint64_t)(n - 1) * SZ, &src,
							    parts[n - 1].etag, &err), 0);
	}
	assert_int_equal(objfs_prov_mpu_complete(p, "unit-comp", "d/obj", id, parts, N, etag,
						 &err), 0);
	assert_int_equal(log_count(s, "/compose "), 3);   /* 32 + 8, then the two */
	assert_int_equal(objfs_prov_get(p, "unit-comp", "d/obj", 0, sizeof(back), NULL, back, &got,
					&err), 0);
	assert_int_equal(got, sizeof(data));
	assert_memory_equal(back, data, sizeof(data));
	assert_int_equal(objfs_prov_head(p, "unit-comp", "d/obj", &oi, &err), 0);
	assert_string_equal(oi.etag, etag);
	assert_string_equal(oi.content_type, "text/x-test");
	assert_string_equal(objfs_objinfo_meta(&oi, "mode"), "33188");
	objfs_objinfo_clear(&oi);
	assert_int_equal(objfs_prov_list(p, "unit-comp", "d/", NULL, NULL, 0, &l, &err), 0);
	assert_int_equal(l.nobjects, 1);                  /* no temporaries left */
	assert_string_equal(l.objects[0].key, "d/obj");
	assert_int_equal(l.objects[0].has_meta, 1);
	objfs_listing_clear(&l);
	objfs_prov_free(p);
	free(id);
}

static void test_errnos(void **state)
{
	struct srv *s = *state;
	struct objfs_prov *p = open_prov(s, 0);
	struct objfs_err err = { "" };
	struct objfs_objinfo oi;
	struct objfs_listing l;
	struct objfs_putopts o;
	struct objfs_seg seg;
	struct objfs_source src = mem_src(&seg, "hello world", 11);
	char etag[OBJFS_ETAG_MAX], etag2[OBJFS_ETAG_MAX], buf[32];
	uint64_t got;

	assert_int_equal(objfs_prov_bucket_create(p, "unit-err", &err), 0);
	assert_int_equal(objfs_prov_bucket_exists(p, "unit-err", &err), 0);
	assert_int_equal(objfs_prov_bucket_exists(p, "unit-none", &err), -ENOENT);
	assert_int_equal(objfs_prov_head(p, "unit-err", "nope", &oi, &err), -ENOENT);
	assert_int_equal(objfs_prov_put(p, "unit-err", "k", &src, NULL, etag, &err), 0);
	memset(&o, 0, sizeof(o));
	o.if_none_match = 1;
	assert_int_equal(objfs_prov_put(p, "unit-err", "k", &src, &o, NULL, &err), -EEXIST);
	o.if_none_match = 0;
	o.if_match = "12345";
	assert_int_equal(objfs_prov_put(p, "unit-err", "k", &src, &o, NULL, &err), -ESTALE);
	assert_int_equal(objfs_prov_get(p, "unit-err", "k", 6, 100, etag, buf, &got, &err), 0);
	assert_int_equal(got, 5);
	assert_memory_equal(buf, "world", 5);
	assert_int_equal(objfs_prov_get(p, "unit-err", "k", 11, 10, etag, buf, &got, &err), 0);
	assert_int_equal(got, 0);
	assert_int_equal(objfs_prov_get(p, "unit-err", "k", 0, 5, "12345", buf, &got, &err),
			 -ESTALE);
	assert_int_equal(objfs_prov_copy(p, "unit-err", "k", "k2", &o, etag2, &err), -ESTALE);
	o.if_match = etag;
	assert_int_equal(objfs_prov_copy(p, "unit-err", "k", "k2", &o, etag2, &err), 0);
	assert_int_equal(objfs_prov_copy(p, "unit-err", "missing", "k3", NULL, etag2, &err),
			 -ENOENT);
	assert_int_equal(objfs_prov_del(p, "unit-err", "missing", &err), 0);
	assert_int_equal(objfs_prov_del(p, "unit-none", "k", &err), -ENOENT);
	assert_int_equal(objfs_prov_list(p, "unit-none", "", NULL, NULL, 0, &l, &err), -ENOENT);
	assert_int_equal(objfs_prov_bucket_create(p, "has-google-in-it", &err), -EINVAL);
	/* presign: bounds */
	{
		char *url = NULL;

		assert_int_equal(objfs_prov_presign(p, "unit-err", "k", "GET", 0, &url, &err), -EINVAL);
		assert_int_equal(objfs_prov_presign(p, "unit-err", "k", "DELETE", 60, &url, &err),
				 -EINVAL);
		assert_int_equal(objfs_prov_presign(p, "unit-err", "k", "PUT", 604800, &url, &err), 0);
		assert_non_null(strstr(url, "X-Goog-Expires=604800&"));
		free(url);
	}
	objfs_prov_free(p);
}

/* The server restarted: it forgot every token (and bucket).  The cached
 * token is answered 401, refreshed once, and the request goes through. */
static void test_401_refreshes_once(void **state)
{
	struct srv *s = *state;
	struct objfs_prov *p = open_prov(s, 0);
	struct objfs_err err = { "" };
	char *cmd = NULL;
	int grants, refused;

	assert_int_equal(objfs_prov_bucket_create(p, "unit-401", &err), 0);
	assert_true(asprintf(&cmd, "%s/stop.sh %s && GCS_TEST_DEBUG=1 %s/start.sh %d %s >/dev/null",
			     s->tools, s->dir, s->tools, s->port, s->dir) > 0);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	grants = log_count(s, "POST /token auth=- -> 200");
	refused = log_count(s, "POST /storage/v1/b?project=objfs-test auth=Bearer");
	assert_int_equal(objfs_prov_bucket_create(p, "unit-401", &err), 0);
	assert_int_equal(log_count(s, "POST /token auth=- -> 200") - grants, 1);
	assert_int_equal(log_count(s, "POST /storage/v1/b?project=objfs-test auth=Bearer") - refused,
			 2);
	assert_int_equal(log_count(s, "-> 401"), 2);      /* start.sh's probe, then ours */
	assert_int_equal(objfs_prov_bucket_exists(p, "unit-401", &err), 0);
	objfs_prov_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resume_with_lagging_journal),
		cmocka_unit_test(test_composite_rounds),
		cmocka_unit_test(test_errnos),
		cmocka_unit_test(test_401_refreshes_once),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
