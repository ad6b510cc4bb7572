/*
 * Unit tests for src/http.c against a scripted HTTP/1.1 server that runs in
 * the test process.
 *
 * The server listens on 127.0.0.1 (ephemeral port), serves each connection
 * in its own thread with keep-alive, and answers request number i (counted
 * over all connections) with step min(i, nsteps - 1) of the test's script,
 * so the last step repeats forever.  A step is {status, extra headers, body,
 * action, delay}; the action can also close the connection without an
 * answer, send a truncated body, stall, or send an interim 100 response
 * first.  For every request the server records the method, path, body length
 * and MD5 and a few headers, and it counts accepted connections and the most
 * requests it saw between "request read" and "answer started" at once.
 *
 * Every wait is bounded (poll timeouts), the client uses a 1 ms backoff base,
 * and only the stall test waits for a timeout (1 s).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include <openssl/evp.h>

#include "http.h"
#include "testutil.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define REC_MAX   64
#define CONN_MAX  64
#define SRV_BUF   65536

enum act {
	ACT_NORMAL = 0,
	ACT_RESET,        /* read the request, close with RST, no answer */
	ACT_TRUNCATE,     /* Content-Length = body + 100, send body, close */
	ACT_STALL,        /* read the request, send nothing until the client leaves (<= 5 s) */
	ACT_INTERIM,      /* "100 Continue" with a header first, then the answer */
};

struct step {
	int status;
	const char *headers;             /* extra lines, each ending "\r\n"; NULL: none */
	const char *body;                /* NULL: empty */
	size_t body_len;                 /* 0: strlen(body) */
	enum act action;
	unsigned delay_ms;               /* before answering */
	int no_clen;                     /* headers carry their own Content-Length */
};

struct rec {
	char method[16];
	char path[256];
	size_t body_len;
	unsigned char md5[16];
	int has_expect;
	char ctype[64];
	char attempt[16];                /* X-Attempt header */
};

struct srv {
	int lfd;
	int port;
	pthread_t thr;
	int stop;                        /* __atomic */
	pthread_mutex_t lock;            /* protects everything below */
	const struct step *steps;
	size_t nsteps;
	unsigned nreq, accepted, cur, max_cur;
	struct rec recs[REC_MAX];
	pthread_t conns[CONN_MAX];
	size_t nconns;
};

struct conn_arg {
	struct srv *s;
	int fd;
};

static char big_body[1000];

/* ---- the server ------------------------------------------------------------ */

static int srv_stopping(struct srv *s)
{
	return __atomic_load_n(&s->stop, __ATOMIC_ACQUIRE);
}

/* recv with 100 ms poll slices so a stop is noticed; <= 0 ends the connection. */
static ssize_t srv_recv(struct srv *s, int fd, void *buf, size_t cap)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	while (!srv_stopping(s)) {
		int n = poll(&p, 1, 100);

		if (n < 0 && errno != EINTR)
			return -1;
		if (n > 0)
			return recv(fd, buf, cap, 0);
	}
	return -1;
}

static int srv_send(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Value of header name in the block [hdrs, end) into out (cap bytes); 1 if found. */
static int hdr_get(const char *hdrs, const char *end, const char *name, char *out, size_t cap)
{
	size_t nl = strlen(name);

	for (const char *l = hdrs; l < end;) {
		const char *e = memmem(l, (size_t)(end - l), "\r\n", 2);
		size_t ll = e ? (size_t)(e - l) : (size_t)(end - l);

		if (ll > nl && strncasecmp(l, name, nl) == 0 && l[nl] == ':') {
			const char *v = l + nl + 1;
			size_t vl = ll - nl - 1;

			while (vl && *v == ' ')
				v++, vl--;
			if (vl >= cap)
				vl = cap - 1;
			memcpy(out, v, vl);
			out[vl] = '\0';
			return 1;
		}
		l += ll + 2;
	}
	return 0;
}

static void srv_answer(int fd, const struct step *st, const char *method)
{
	const char *body = st->body ? st->body : "";
	size_t blen = st->body_len ? st->body_len : strlen(body);
	char head[8192];
	int n;

	if (st->action == ACT_INTERIM) {
		static const char interim[] = "HTTP/1.1 100 Continue\r\nX-Interim: yes\r\n\r\n";

		if (srv_send(fd, interim, sizeof(interim) - 1))
			return;
	}
	n = snprintf(head, sizeof(head), "HTTP/1.1 %d Scripted\r\n", st->status);
	if (!st->no_clen)
		n += snprintf(head + n, sizeof(head) - (size_t)n, "Content-Length: %zu\r\n",
			      st->action == ACT_TRUNCATE ? blen + 100 : blen);
	n += snprintf(head + n, sizeof(head) - (size_t)n, "%s\r\n", st->headers ? st->headers : "");
	if (srv_send(fd, head, (size_t)n))
		return;
	if (strcmp(method, "HEAD") != 0 && blen)
		srv_send(fd, body, blen);
}

static void *srv_conn(void *arg)
{
	struct conn_arg *ca = arg;
	struct srv *s = ca->s;
	int fd = ca->fd;
	char *buf = malloc(SRV_BUF);
	size_t have = 0;

	free(ca);
	if (!buf)
		goto done;
	for (;;) {
		char method[16] = "", path[256] = "", val[64];
		const char *end;
		size_t hlen, clen = 0, got = 0;
		struct rec r;
		const struct step *st;
		EVP_MD_CTX *md = EVP_MD_CTX_new();
		unsigned mdlen = 0;
		unsigned idx;

		while (!(end = memmem(buf, have, "\r\n\r\n", 4))) {
			ssize_t n;

			if (have == SRV_BUF)
				break;
			n = srv_recv(s, fd, buf + have, SRV_BUF - have);
			if (n <= 0)
				break;
			have += (size_t)n;
		}
		if (!end || !md) {
			EVP_MD_CTX_free(md);
			goto done;
		}
		hlen = (size_t)(end - buf) + 4;
		memset(&r, 0, sizeof(r));
		if (sscanf(buf, "%15s %255s", method, path) != 2) {
			EVP_MD_CTX_free(md);
			goto done;
		}
		if (hdr_get(buf, end + 2, "Content-Length", val, sizeof(val)))
			clen = strtoul(val, NULL, 10);
		r.has_expect = hdr_get(buf, end + 2, "Expect", val, sizeof(val));
		hdr_get(buf, end + 2, "Content-Type", r.ctype, sizeof(r.ctype));
		hdr_get(buf, end + 2, "X-Attempt", r.attempt, sizeof(r.attempt));
		snprintf(r.method, sizeof(r.method), "%s", method);
		snprintf(r.path, sizeof(r.path), "%s", path);

		/* The body: first what followed the headers, then the socket. */
		EVP_DigestInit_ex(md, EVP_md5(), NULL);
		memmove(buf, buf + hlen, have - hlen);
		have -= hlen;
		while (got < clen) {
			size_t take = have < clen - got ? have : clen - got;

			if (take) {
				EVP_DigestUpdate(md, buf, take);
				memmove(buf, buf + take, have - take);
				have -= take;
				got += take;
				continue;
			}
			ssize_t n = srv_recv(s, fd, buf, SRV_BUF);

			if (n <= 0)
				break;
			have = (size_t)n;
		}
		EVP_DigestFinal_ex(md, r.md5, &mdlen);
		EVP_MD_CTX_free(md);
		r.body_len = got;
		if (got < clen)
			goto done;

		pthread_mutex_lock(&s->lock);
		idx = s->nreq++;
		st = &s->steps[idx < s->nsteps ? idx : s->nsteps - 1];
		if (idx < REC_MAX)
			s->recs[idx] = r;
		if (++s->cur > s->max_cur)
			s->max_cur = s->cur;
		pthread_mutex_unlock(&s->lock);
		if (st->delay_ms)
			poll(NULL, 0, (int)st->delay_ms);
		/* Done counting before the answer leaves, so the client, which
		 * holds its slot until the answer arrives, is always ahead. */
		pthread_mutex_lock(&s->lock);
		s->cur--;
		pthread_mutex_unlock(&s->lock);

		if (st->action == ACT_RESET) {
			struct linger lg = { .l_onoff = 1, .l_linger = 0 };

			setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
			goto done;
		}
		if (st->action == ACT_STALL) {
			struct pollfd p = { .fd = fd, .events = POLLIN };

			for (int i = 0; i < 50 && !srv_stopping(s); i++)
				if (poll(&p, 1, 100) != 0)
					break;
			goto done;
		}
		srv_answer(fd, st, method);
		if (st->action == ACT_TRUNCATE)
			goto done;
	}
done:
	free(buf);
	close(fd);
	return NULL;
}

static void *srv_main(void *arg)
{
	struct srv *s = arg;
	struct pollfd p = { .fd = s->lfd, .events = POLLIN };

	while (!srv_stopping(s)) {
		struct conn_arg *ca;
		int fd;

		if (poll(&p, 1, 50) <= 0)
			continue;
		fd = accept(s->lfd, NULL, NULL);
		if (fd < 0)
			continue;
		ca = malloc(sizeof(*ca));
		pthread_mutex_lock(&s->lock);
		s->accepted++;
		if (ca && s->nconns < CONN_MAX) {
			ca->s = s;
			ca->fd = fd;
			if (pthread_create(&s->conns[s->nconns], NULL, srv_conn, ca) == 0) {
				s->nconns++;
				ca = NULL;
				fd = -1;
			}
		}
		pthread_mutex_unlock(&s->lock);
		free(ca);
		if (fd >= 0)
			close(fd);
	}
	return NULL;
}

static void srv_start(struct srv *s, const struct step *steps, size_t nsteps)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);

	memset(s, 0, sizeof(*s));
	s->steps = steps;
	s->nsteps = nsteps;
	pthread_mutex_init(&s->lock, NULL);
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s->lfd >= 0);
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(s->lfd, 64), 0);
	assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&sa, &sl), 0);
	s->port = ntohs(sa.sin_port);
	assert_int_equal(pthread_create(&s->thr, NULL, srv_main, s), 0);
}

/* Stops the server; free the client first so its kept-alive connections end. */
static void srv_stop(struct srv *s)
{
	__atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
	pthread_join(s->thr, NULL);
	for (size_t i = 0; i < s->nconns; i++)
		pthread_join(s->conns[i], NULL);
	close(s->lfd);
	pthread_mutex_destroy(&s->lock);
}

static unsigned srv_nreq(struct srv *s)
{
	unsigned n;

	pthread_mutex_lock(&s->lock);
	n = s->nreq;
	pthread_mutex_unlock(&s->lock);
	return n;
}

/* ---- client helpers ----------------------------------------------------------- */

static struct objfs_http *client(unsigned max_attempts)
{
	struct objfs_http_conf c = {
		.max_inflight = 4,
		.connect_timeout_ms = 2000,
		.stall_timeout_s = 1,
		.max_attempts = max_attempts,
		.backoff_base_ms = 1,
		.backoff_max_ms = 5,
	};
	struct objfs_http *h = objfs_http_new(&c);

	assert_non_null(h);
	return h;
}

static void url_of(char *out, size_t cap, int port, const char *path)
{
	snprintf(out, cap, "http://127.0.0.1:%d%s", port, path);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void md5_of(const void *p, size_t n, unsigned char out[16])
{
	unsigned len = 0;

	assert_int_equal(EVP_Digest(p, n, out, &len, EVP_md5(), NULL), 1);
}

/* Runs one request against the server of s (path "/p"); returns rc. */
static int do_req(struct objfs_http *h, struct srv *s, struct objfs_http_req *req,
		  struct objfs_http_resp *resp)
{
	char url[128];
	int own = !req->url, rc;

	url_of(url, sizeof(url), s->port, "/p?X-Amz-Signature=secret");
	if (own)
		req->url = url;
	memset(resp, 0, sizeof(*resp));
	rc = objfs_http_do(h, req, resp);
	if (own)
		req->url = NULL;
	return rc;
}

/* ---- tests: responses ------------------------------------------------------------ */

static void test_get_collected(void **state)
{
	static const struct step steps[] = {
		{ 200, "X-Foo:   bar  \r\nX-Mixed-Case: Value\r\nEtag: \"abc\"\r\n", "hello world", 0, 0, 0, 0 },
	};
	struct objfs_http_req req = { .method = "GET" };
	struct objfs_http_resp resp;
	struct objfs_http_stats st;
	struct objfs_http *h = client(3);
	struct srv s;

	(void)state;
	srv_start(&s, steps, ARRAY_LEN(steps));
	assert_int_equal(do_req(h, &s, &req, &resp), 0);
	assert_int_equal(resp.status, 200);
	assert_int_equal(resp.attempts, 1);
	assert_int_equal(resp.body_len, 11);
	assert_string_equal(resp.body, "hello world");
	assert_int_equal(resp.out_len, 0);
	assert_string_equal(objfs_http_resp_header(&resp, "x-foo"), "bar");
	assert_string_equal(objfs_http_resp_header(&resp, "x-mixed-case"), "Value");
	assert_string_equal(objfs_http_resp_header(&resp, "etag"), "\"abc\"");
	assert_string_equal(objfs_http_resp_header(&resp, "content-length"), "11");
	assert_null(objfs_http_resp_header(&resp, "x-missing"));
	for (size_t i = 0; i < resp.nheaders; i++)
		for (const char *p = resp.headers[i].key; *p; p++)
			assert_false(*p >= 'A' && *p <= 'Z');
	assert_string_equal(s.recs[0].method, "GET");
	assert_string_equal(s.recs[0].path, "/p?X-Amz-Signature=secret");
	objfs_http_resp_clear(&resp);
	assert_null(resp.body);
	assert_int_equal(resp.nheaders, 0);

	objfs_http_get_stats(h, &st);
	assert_int_equal(st.requests, 1);
	assert_int_equal(st.attempts, 1);
	assert_int_equal(st.retries, 0);
	assert_int_equal(st.failures, 0);
	assert_int_equal(st.bytes_down, 11);
	objfs_http_free(h);
	srv_stop(&s);
}

static void test_get_out_buf(void **state)
{
	static const struct step steps[] = {
		{ 200, NULL, big_body, sizeof(big_body), 0, 0, 0 },
	};
	static char out[sizeof(big_body)];
	struct objfs_http_req req = { .method = "GET", .out_buf = out, .out_cap = sizeof(out) };
	struct objfs_http_resp resp;
	struct objfs_http *h = client(3);
	struct srv s;

	(void)state;
	srv_start(&s, steps, ARRAY_LEN(steps));
	/* exactly out_cap bytes */
	assert_int_equal(do_req(h, &s, &req, &resp), 0);
	assert_int_equal(resp.status, 200);
	assert_int_equal(resp.out_len, sizeof(big_body));
	assert_memory_equal(out, big_body, sizeof(big_body));
	assert_null(resp.body);
	objfs_http_resp_clear(&resp);

	/* one byte short: -EMSGSIZE, not retried */
	req.out_cap = sizeof(out) - 1;
	assert_int_equal(do_req(h, &s, &req, &resp), -EMSGSIZE);
	assert_int_equal(resp.attempts, 1);
	assert_int_equal(resp.status, 200);
	assert_int_equal(resp.out_len, 0);
	assert_true(resp.err[0] != '\0');
	assert_int_equal(srv_nreq(&s), 2);
	objfs_http_resp_clear(&resp);

	/* collected body over max_body: -EMSGSIZE, not retried */
	req.out_buf = NULL;
	req.out_cap = 0;
	req.max_body = 999;
	assert_int_equal(do_req(h, &s, &req, &resp), -EMSGSIZE);
	assert_int_equal(resp.attempts, 1);
	assert_null(resp.body);
	objfs_http_resp_clear(&resp);
	req.max_body = 1000;
	assert_int_equal(do_req(h, &s, &req, &resp), 0);
	assert_int_equal(resp.body_len, 1000);
	assert_memory_equal(resp.body, big_body, 1000);
	objfs_http_resp_clear(&resp);
	assert_int_equal(srv_nreq(&s), 4);
	objfs_http_free(h);
	srv_stop(&s);
}

/* Non-2xx bodies go to resp->body even with an out_buf, bounded by 64 KiB. */
static void test_error_body(void **state)
{
	static char huge[100000];
	static const char xml[] = "<Error><Code>NoSuchKey</Code></Error>";
	const struct step steps[] = {
		{ 404, NULL, xml, 0, 0, 0, 0 },
		{ 400, NULL, huge, sizeof(huge), 0, 0, 0 },
	};
	char out[16];
	struct objfs_http_req req = { .method = "GET", .out_buf = out, .out_cap = sizeof(out) };
	struct objfs_http_resp resp;
	struct objfs_http *h = client(3);
	struct srv s;

	(void)state;
	memset(huge, 'e', sizeof(huge));
	srv_start(&s, steps, ARRAY_LEN(steps));
	assert_int_equal(do_req(h, &s, &req, &resp), 0);
	assert_int_equal(resp.status, 404);
	assert_int_equal(resp.attempts, 1);
	assert_int_equal(resp.out_len, 0);
	assert_string_equal(resp.body, xml);
	assert_int_equal(objfs_http_status_errno(resp.status), -ENOENT);
	objfs_http_resp_clear(&resp);

	assert_int_equal(do_req(h, &s, &req, &resp), 0);
	assert_int_equal(resp.status, 400);
	assert_int_equal(resp.body_len, 64 * 1024);
	assert_int_equal(resp.body[resp.body_len], '\0');
	objfs_http_resp_clear(&resp);
	objfs_http_free(h);
	srv_stop(&s);
}

static void test_head(void **state)
{
	static const struct step steps[] = {
		{ 200, "Content-Length: 12345\r\nLast-Modified: Mon, 23 Nov 2026 13:00:00 GMT\r\n",
		  NULL, 0, 0, 0, 1 },
	};
	struct objfs_http_req req = { .method = "HEAD" };
	struct objfs_http_resp resp;
	struct objfs_http *h = client(3);
	struct srv s;

	(void)state;
	srv_start(&s, steps, ARRAY_LEN(steps));
	assert_int_equal(do_req(h, &s, &req, &resp), 0);
	assert_int_equal(resp.status, 200);
	assert_null(resp.body);
	assert_string_equal(objfs_http_resp_header(&resp, "content-length"), "12345");
	assert_string_equal(objfs_http_resp_header(&resp, "last-modified"),
			    "Mon, 23 Nov 2026 13:00:00 GMT");
	assert_string_equal(s.recs[0].method, "HEAD");
	objfs_http_resp_clear(&resp);
	objfs_http_free(h);
	srv_stop(&s);
}

/* Interim 1xx headers do not leak into the final response. */
static void test_interim_headers(void **state)
{
	static const struct step steps[] = {
		{ 200, "X-Final: 1\r\n", "ok", 0, ACT_INTERIM, 0, 0 },
	};
	struct objfs_http_req req = { .method = "GET" };
	struct objfs_http_resp resp;
	struct objfs_http *h = client(3);
	struct srv s;

	(void)state;
	srv_start(&s, steps, ARRAY_LEN(steps));
	assert_int_equal(do_req(h, &s, &req, &resp), 0);
	assert_int_equal(resp.status, 200);
	assert_string_equal(resp.body, "ok");
	assert_null(objfs_http_resp_header(&resp, "x-interim"));
	assert_string_equal(objfs_http_resp_header(&resp, "x-final"), "1");
	objfs_http_resp_clear(&resp);
	objfs_http_free(h);
	srv_stop(&s);
}

/* More headers than the client keeps: bounded, no failure. */
static void test_many_headers(void **state)
{
	static char hdrs[300 * 16];
	const struct step steps[] = { { 200, hdrs, "ok", 0, 0, 0, 0 } };
	struct objfs_http_req req = { .method = "GET" };
	struct objfs_http_resp resp;
	struct objfs_http *h = client(3);
	struct srv s;
	size_t n = 0;

	(void)state;
	for (int i = 0; i < 300; i++)
		n += (size_t)snprintf(hdrs + n, sizeof(hdrs) - n, "X-H%d: %d\r\n", i, i);
	srv_start(&s, steps, ARRAY_LEN(steps));
	assert_int_equal(do_req(h, &s, &req, &resp), 0);
	assert_int_equal(resp.status, 200);
	assert_true(resp.nheaders <= 128);
	assert_true(resp.nheaders >= 100);
	assert_string_equal(objfs_http_resp_header(&resp, "x-h0"), "0");
	objfs_http_resp_clear(&resp);
	objfs_http_free(h);
	srv_stop(&s);
}

/* ---- tests: bodies ---------------------------------------------------------------- */

struct body_fixture {
	char *dir;
	int fd;
	unsigned char *file;             /* the file's bytes */
	size_t file_len;
	unsigned char *expect;           /* the source's bytes */
	size_t expect_len;
	char buf[3000];
	struct objfs_seg segs[4];
	struct objfs_source src;
};

/* A source of fd (2.5 MiB from offset 100) + buf + zeros + fd (first 10 bytes). */
static void body_setup(struct body_fixture *b)
{
	char path[512];
	size_t pos = 0;

	b->dir = tu_mkdtemp("http");
	assert_non_null(b->dir);
	b->file_len = 2600 * 1024;
	b->file = malloc(b->file_len);
	assert_non_null(b->file);
	for (size_t i = 0; i < b->file_len; i++)
		b->file[i] = (unsigned char)(i * 7 + (i >> 10));
	snprintf(path, sizeof(path), "%s/data", b->dir);
	assert_int_equal(tu_write_file(path, b->file, b->file_len), 0);
	b->fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(b->fd >= 0);
	for (size_t i = 0; i < sizeof(b->buf); i++)
		b->buf[i] = (char)('a' + i % 26);
	b->segs[0] = (struct objfs_seg){ .fd = b->fd, .off = 100, .len = 2560 * 1024 };
	b->segs[1] = (struct objfs_seg){ .fd = -1, .buf = b->buf, .len = sizeof(b->buf) };
	b->segs[2] = (struct objfs_seg){ .fd = -1, .len = 4096 };
	b->segs[3] = (struct objfs_seg){ .fd = b->fd, .off = 0, .len = 10 };
	b->src.segs = b->segs;
	b->src.nsegs = 4;
	b->src.size = 0;
	for (int i = 0; i < 4; i++)
		b->src.size += b->segs[i].len;
	b->expect_len = (size_t)b->src.size;
	b->expect = calloc(1, b->expect_len);
	assert_non_null(b->expect);
	memcpy(b->expect, b->file + 100, 2560 * 1024);
	pos = 2560 * 1024;
	memcpy(b->expect + pos, b->buf, sizeof(b->buf));
	pos += sizeof(b->buf) + 4096;
	memcpy(b->expect + pos, b->file, 10);
}

static void body_teardown(struct body_fixture *b)
{
	close(b->fd);
	tu_rm_rf(b->dir);
	free(b->dir);
	free(b->file);
	free(b->expect);
}

static void test_put_segments(void **state)
{
	static const struct step steps[] = {
		{ 200, "ETag: \"e1\"\r\n", NULL, 0, 0, 0, 0 },
	};
	struct body_fixture b;
	struct objfs_http_req req = { .method = "PUT" };
	struct objfs_http_resp resp;
	struct objfs_http_stats st;
	unsigned char md5[16];
	struct objfs_http *h = client(3);
	struct srv s;

	(void)state;
	body_setup(&b);
	req.body = &b.src;
	md5_of(b.expect, b.expect_len, md5);
	srv_start(&s, steps, ARRAY_LEN(steps));
	assert_int_equal(do_req(h, &s, &req, &resp), 0);
	assert_int_equal(resp.status, 200);
	assert_string_equal(objfs_http_resp_header(&resp, "etag"), "\"e1\"");
	assert_string_equal(s.recs[0].method, "PUT");
	assert_int_equal(s.recs[0].body_len, b.expect_len);
	assert_memory_equal(s.recs[0].md5, md5, 16);
	assert_int_equal(s.recs[0].has_expect, 0);
	objfs_http_resp_clear(&resp);
	objfs_http_get_stats(h, &st);
	assert_true(st.bytes_up >= b.expect_len);

	/* No body: Content-Length: 0. */
	req.body = NULL;
	assert_int_equal(do_req(h, &s, &req, &resp), 0);
	assert_int_equal(s.recs[1].body_len, 0);
	assert_string_equal(s.recs[1].method, "PUT");
	objfs_http_resp_clear(&resp);
	objfs_http_free(h);
	srv_stop(&s);
	body_teardown(&b);
}

/* The body is sent again, from its start, on a retry. */
static void test_put_retried(void **state)
{
	static const struct step steps[] = {
		{ 0, NULL, NULL, 0, ACT_RESET, 0, 0 },
		{ 500, NULL, "slow down", 0, 0, 0, 0 },
		{ 200, NULL, NULL, 0, 0, 0, 0 },
	};
	struct body_fixture b;
	struct objfs_http_req req = { .method = "PUT" };
	struct objfs_http_resp resp;
	unsigned char md5[16];
	struct objfs_http *h = client(5);
	struct srv s;

	(void)state;
	body_setup(&b);
	req.body = &b.src;
	md5_of(b.expect, b.expect_len, md5);
	srv_start(&s, steps, ARRAY_LEN(steps));
	assert_int_equal(do_req(h, &s, &req, &resp), 0);
	assert_int_equal(resp.status, 200);
	assert_int_equal(resp.attempts, 3);
	assert_int_equal(srv_nreq(&s), 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(s.recs[i].body_len, b.expect_len);
		assert_memory_equal(s.recs[i].md5, md5, 16);
	}
	objfs_http_resp_clear(&resp);
	objfs_http_free(h);
	srv_stop(&s);
	body_teardown(&b);
}

/*
 * A kept-alive connection that dies under a PUT: curl itself retries on a
 * fresh connection within the same attempt, rewinding the body through the
 * seek callback (from the middle of the fd segment back to the start).
 */
static void test_put_rewind(void **state)
{
	static const struct step steps[] = {
		{ 200, NULL, "warm", 0, 0, 0, 0 },
		{ 0, NULL, NULL, 0, ACT_RESET, 0, 0 },
		{ 200, NULL, NULL, 0, 0, 0, 0 },
	};
	struct body_fixture b;
	struct objfs_http_req req = { .method = "GET" };
	struct objfs_http_resp resp;
	unsigned char md5[16];
	struct objfs_http *h = client(1);
	struct srv s;

	(void)state;
	body_setup(&b);
	md5_of(b.expect, b.expect_len, md5);
	srv_start(&s, steps, ARRAY_LEN(steps));
	assert_int_equal(do_req(h, &s, &req, &resp), 0);
	objfs_http_resp_clear(&resp);
	req.method = "PUT";
	req.body = &b.src;
	assert_int_equal(do_req(h, &s, &req, &resp), 0);
	assert_int_equal(resp.status, 200);
	assert_int_equal(resp.attempts, 1);
	assert_int_equal(srv_nreq(&s), 3);
	assert_int_equal(s.recs[2].body_len, b.expect_len);
	assert_memory_equal(s.recs[2].md5, md5, 16);
	objfs_http_resp_clear(&resp);
	objfs_http_free(h);
	srv_stop(&s);
	body_teardown(&b);
}

/* A segment the file cannot fill: the read error, not retried. */
static void test_put_short_file(void **state)
{
	static const struct step steps[] = { { 200, NULL, NULL, 0, 0, 0, 0 } };
	struct body_fixture b;
	struct objfs_seg seg;
	struct objfs_source src;
	struct objfs_http_req req = { .method = "PUT", .body = &src };
	struct objfs_http_resp resp;
	struct objfs_http *h = client(3);
	struct srv s;

	(void)state;
	body_setup(&b);
	seg = (struct objfs_seg){ .fd = b.fd, .off = b.file_len - 10, .len = 20 };
	src = (struct objfs_source){ .segs = &seg, .nsegs = 1, .size = 20 };
	srv_start(&s, steps, ARRAY_LEN(steps));
	assert_int_equal(do_req(h, &s, &req, &resp), -EIO);
	assert_int_equal(resp.attempts, 1);
	assert_int_equal(srv_nreq(&s), 0);
	objfs_http_resp_clear(&resp);

	/* segment lengths that do not add up to size */
	src.size = 21;
	assert_int_equal(do_req(h, &s, &req, &resp), -EINVAL);
	objfs_http_resp_clear(&resp);
	objfs_http_free(h);
	srv_stop(&s);
	body_teardown(&b);
}

static void test_post_delete(void **state)
{
	static const struct step steps[] = {
		{ 200, NULL, "<Result/>", 0, 0, 0, 0 },
	};
	static const char xml[] = "<Delete><Object><Key>a</Key></Object></Delete>";
	struct objfs_seg seg = { .fd = -1, .buf = xml, .len = sizeof(xml) - 1 };
	struct objfs_source src = { .segs = &seg, .nsegs = 1, .size = sizeof(xml) - 1 };
	struct objfs_http_req req = { .method = "POST", .body = &src };
	struct objfs_http_resp resp;
	unsigned char md5[16];
	struct objfs_http *h = client(3);
	struct srv s;

	(void)state;
	md5_of(xml, sizeof(xml) - 1, md5);
	srv_start(&s, steps, ARRAY_LEN(steps));
	assert_int_equal(do_req(h, &s, &req, &resp), 0);
	assert_string_equal(resp.body, "<Result/>");
	assert_string_equal(s.recs[0].method, "POST");
	assert_int_equal(s.recs[0].body_len, sizeof(xml) - 1);
	assert_memory_equal(s.recs[0].md5, md5, 16);
	assert_string_equal(s.recs[0].ctype, "");        /* no form Content-Type */
	assert_int_equal(s.recs[0].has_expect, 0);
	objfs_http_resp_clear(&resp);

	/* POST without a body (CreateMultipartUpload) */
	req.body = NULL;
	assert_int_equal(do_req(h, &s, &req, &resp), 0);
	assert_int_equal(s.recs[1].body_len, 0);
	objfs_http_resp_clear(&resp);

	req.method = "DELETE";
	assert_int_equal(do_req(h, &s, &req, &resp), 0);
	assert_string_equal(s.recs[2].method, "DELETE");
	objfs_http_resp_clear(&resp);

	/* bad requests */
	req.method = "GET";
	req.body = &src;
	assert_int_equal(do_req(h, &s, &req, &resp), -EINVAL);
	objfs_http_resp_clear(&resp);
	req.body = NULL;
	req.url = NULL;
	req.method = NULL;
	assert_int_equal(do_req(h, &s, &req, &resp), -EINVAL);
	objfs_http_resp_clear(&resp);
	assert_int_equal(srv_nreq(&s), 3);
	objfs_http_free(h);
	srv_stop(&s);
}

/* ---- tests: retries --------------------------------------------------------------- */

struct retry_case {
	const char *name;
	struct step steps[3];
	unsigned max_attempts;
	int single;
	int rc;
	long status;
	unsigned attempts;
	const char *body;                /* expected collected body, NULL: none checked */
};

static const struct retry_case retry_cases[] = {
	{ "503 then 200", { { 503, NULL, "busy", 0, 0, 0, 0 }, { 200, NULL, "ok", 0, 0, 0, 0 } },
	  5, 0, 0, 200, 2, "ok" },
	{ "500 forever", { { 500, NULL, "err", 0, 0, 0, 0 } }, 3, 0, 0, 500, 3, "err" },
	{ "429 Retry-After: 0", { { 429, "Retry-After: 0\r\n", NULL, 0, 0, 0, 0 },
				  { 200, NULL, "ok", 0, 0, 0, 0 } }, 5, 0, 0, 200, 2, "ok" },
	{ "Retry-After capped", { { 503, "Retry-After: 3\r\n", NULL, 0, 0, 0, 0 },
				  { 200, NULL, "ok", 0, 0, 0, 0 } }, 5, 0, 0, 200, 2, "ok" },
	{ "reset then 200", { { 0, NULL, NULL, 0, ACT_RESET, 0, 0 }, { 200, NULL, "ok", 0, 0, 0, 0 } },
	  5, 0, 0, 200, 2, "ok" },
	{ "truncated then 200", { { 200, NULL, "partial", 0, ACT_TRUNCATE, 0, 0 },
				  { 200, NULL, "whole", 0, 0, 0, 0 } }, 5, 0, 0, 200, 2, "whole" },
	{ "truncated forever", { { 200, NULL, "partial", 0, ACT_TRUNCATE, 0, 0 } },
	  3, 0, -EIO, 0, 3, NULL },
	{ "reset forever", { { 0, NULL, NULL, 0, ACT_RESET, 0, 0 } }, 2, 0, -EIO, 0, 2, NULL },
	{ "404 not retried", { { 404, NULL, "nf", 0, 0, 0, 0 } }, 5, 0, 0, 404, 1, "nf" },
	{ "single 503", { { 503, NULL, "busy", 0, 0, 0, 0 } }, 5, 1, 0, 503, 1, "busy" },
	{ "single reset", { { 0, NULL, NULL, 0, ACT_RESET, 0, 0 }, { 200, NULL, "ok", 0, 0, 0, 0 } },
	  5, 1, -EIO, 0, 1, NULL },
};

static void test_retry_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(retry_cases); i++) {
		const struct retry_case *c = &retry_cases[i];
		size_t nsteps = 1;
		struct objfs_http_req req = { .method = "GET", .single_attempt = c->single };
		struct objfs_http_resp resp;
		struct objfs_http_stats st;
		struct objfs_http *h = client(c->max_attempts);
		struct srv s;
		double t0;
		int rc;

		while (nsteps < 3 && c->steps[nsteps].status + (int)c->steps[nsteps].action)
			nsteps++;
		srv_start(&s, c->steps, nsteps);
		t0 = now_s();
		rc = do_req(h, &s, &req, &resp);
		if (rc != c->rc || resp.status != c->status || resp.attempts != c->attempts)
			fail_msg("%s: rc %d status %ld attempts %u, want %d %ld %u (%s)", c->name,
				 rc, resp.status, resp.attempts, c->rc, c->status, c->attempts,
				 resp.err);
		if (srv_nreq(&s) != c->attempts)
			fail_msg("%s: server saw %u requests", c->name, srv_nreq(&s));
		if (c->body && (!resp.body || strcmp(resp.body, c->body)))
			fail_msg("%s: body \"%s\"", c->name, resp.body ? resp.body : "(null)");
		if (rc < 0 && (resp.body || resp.nheaders || !resp.err[0]))
			fail_msg("%s: failure left a body or headers, or no message", c->name);
		/* backoff_max_ms is 5: no case may take long */
		if (now_s() - t0 > 2.0)
			fail_msg("%s: took %.1f s", c->name, now_s() - t0);
		if (strstr(resp.err, "secret") || strstr(resp.err, "X-Amz"))
			fail_msg("%s: message shows the query: %s", c->name, resp.err);
		objfs_http_get_stats(h, &st);
		assert_int_equal(st.requests, 1);
		assert_int_equal(st.attempts, c->attempts);
		assert_int_equal(st.retries, c->attempts - 1);
		assert_int_equal(st.failures,
				 rc < 0 || c->status >= 500 || c->status == 429 ? 1 : 0);
		objfs_http_resp_clear(&resp);
		objfs_http_free(h);
		srv_stop(&s);
	}
}

static void test_conn_refused(void **state)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	struct objfs_http_req req = { .method = "GET" };
	struct objfs_http_resp resp;
	struct objfs_http *h = client(2);
	char url[128];
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	close(fd);
	snprintf(url, sizeof(url), "http://user:pw@127.0.0.1:%d/bucket/key?X-Amz-Signature=secret#f",
		 ntohs(sa.sin_port));
	req.url = url;
	memset(&resp, 0, sizeof(resp));
	assert_int_equal(objfs_http_do(h, &req, &resp), -ECONNREFUSED);
	assert_int_equal(resp.attempts, 2);
	assert_int_equal(resp.status, 0);
	assert_non_null(strstr(resp.err, "GET 127.0.0.1:"));
	assert_non_null(strstr(resp.err, "/bucket/key"));
	assert_null(strstr(resp.err, "secret"));
	assert_null(strstr(resp.err, "pw"));
	objfs_http_resp_clear(&resp);
	objfs_http_free(h);
}

static void test_stall(void **state)
{
	static const struct step steps[] = { { 0, NULL, NULL, 0, ACT_STALL, 0, 0 } };
	struct objfs_http_req req = { .method = "GET" };
	struct objfs_http_resp resp;
	struct objfs_http *h = client(1);
	struct srv s;
	double t0, dt;

	(void)state;
	srv_start(&s, steps, ARRAY_LEN(steps));
	t0 = now_s();
	assert_int_equal(do_req(h, &s, &req, &resp), -ETIMEDOUT);
	dt = now_s() - t0;
	assert_true(dt >= 0.9 && dt < 4.0);
	assert_int_equal(resp.attempts, 1);
	assert_true(resp.err[0] != '\0');
	objfs_http_resp_clear(&resp);
	objfs_http_free(h);
	srv_stop(&s);
}

/* ---- tests: callbacks ----------------------------------------------------------------- */

struct prep_ctx {
	unsigned calls;
	unsigned fail_at;                /* call number that fails, 0: none */
	int fail_rc;
	unsigned checks;
};

static int prep(void *ctx, struct curl_slist **headers)
{
	struct prep_ctx *p = ctx;
	char line[64];

	p->calls++;
	if (p->fail_at && p->calls == p->fail_at)
		return p->fail_rc;
	snprintf(line, sizeof(line), "X-Attempt: %u", p->calls);
	*headers = curl_slist_append(*headers, line);
	return *headers ? 0 : -ENOMEM;
}

static void test_prepare(void **state)
{
	static const struct step steps[] = {
		{ 503, NULL, NULL, 0, 0, 0, 0 },
		{ 503, NULL, NULL, 0, 0, 0, 0 },
		{ 200, NULL, "ok", 0, 0, 0, 0 },
	};
	struct prep_ctx pc = { 0 };
	struct objfs_http_req req = { .method = "PUT", .prepare = prep, .ctx = &pc };
	struct objfs_http_resp resp;
	struct objfs_http *h = client(5);
	struct srv s;

	(void)state;
	srv_start(&s, steps, ARRAY_LEN(steps));
	assert_int_equal(do_req(h, &s, &req, &resp), 0);
	assert_int_equal(resp.status, 200);
	assert_int_equal(resp.attempts, 3);
	assert_int_equal(pc.calls, 3);
	for (int i = 0; i < 3; i++) {
		char want[16];

		snprintf(want, sizeof(want), "%d", i + 1);
		assert_string_equal(s.recs[i].attempt, want);   /* fresh headers each time */
		assert_int_equal(s.recs[i].has_expect, 0);
	}
	objfs_http_resp_clear(&resp);

	/* failing on the first call: nothing sent */
	pc = (struct prep_ctx){ .fail_at = 1, .fail_rc = -EACCES };
	assert_int_equal(do_req(h, &s, &req, &resp), -EACCES);
	assert_int_equal(pc.calls, 1);
	assert_int_equal(resp.attempts, 1);
	assert_int_equal(srv_nreq(&s), 3);
	objfs_http_resp_clear(&resp);

	/* failing before a retry: that value, after one request */
	pc = (struct prep_ctx){ .fail_at = 2, .fail_rc = -EKEYEXPIRED };
	assert_int_equal(do_req(h, &s, &req, &resp), 0);  /* step 3 repeats: 200 */
	assert_int_equal(pc.calls, 1);
	objfs_http_resp_clear(&resp);
	objfs_http_free(h);
	srv_stop(&s);

	{
		static const struct step busy[] = { { 503, NULL, NULL, 0, 0, 0, 0 } };

		h = client(5);
		srv_start(&s, busy, ARRAY_LEN(busy));
		pc = (struct prep_ctx){ .fail_at = 2, .fail_rc = -EKEYEXPIRED };
		assert_int_equal(do_req(h, &s, &req, &resp), -EKEYEXPIRED);
		assert_int_equal(pc.calls, 2);
		assert_int_equal(resp.attempts, 2);
		assert_int_equal(srv_nreq(&s), 1);
		assert_int_equal(resp.status, 0);
		objfs_http_resp_clear(&resp);
		objfs_http_free(h);
		srv_stop(&s);
	}
}

/* Retries a 200 whose body is an <Error>; accepts a 503. */
static int check(void *ctx, long status, const char *body, size_t body_len)
{
	struct prep_ctx *p = ctx;

	p->checks++;
	if (status == 200 && body && memmem(body, body_len, "<Error>", 7))
		return OBJFS_HTTP_RETRY;
	return OBJFS_HTTP_ACCEPT;
}

static void test_retry_check(void **state)
{
	static const struct step steps[] = {
		{ 200, NULL, "<Error><Code>InternalError</Code></Error>", 0, 0, 0, 0 },
		{ 200, NULL, "<Result/>", 0, 0, 0, 0 },
		{ 503, NULL, NULL, 0, 0, 0, 0 },
	};
	struct prep_ctx pc = { 0 };
	char out[64];
	struct objfs_http_req req = { .method = "GET", .retry_check = check, .ctx = &pc };
	struct objfs_http_resp resp;
	struct objfs_http *h = client(5);
	struct srv s;

	(void)state;
	srv_start(&s, steps, ARRAY_LEN(steps));
	assert_int_equal(do_req(h, &s, &req, &resp), 0);
	assert_int_equal(resp.status, 200);
	assert_int_equal(resp.attempts, 2);
	assert_int_equal(pc.checks, 2);
	assert_string_equal(resp.body, "<Result/>");
	objfs_http_resp_clear(&resp);

	/* 503 accepted by the check */
	assert_int_equal(do_req(h, &s, &req, &resp), 0);
	assert_int_equal(resp.status, 503);
	assert_int_equal(resp.attempts, 1);
	assert_int_equal(pc.checks, 3);
	objfs_http_resp_clear(&resp);
	objfs_http_free(h);
	srv_stop(&s);

	/* with an out_buf, the check sees the bytes written there */
	h = client(2);
	srv_start(&s, steps, 1);
	req.out_buf = out;
	req.out_cap = sizeof(out);
	pc.checks = 0;
	assert_int_equal(do_req(h, &s, &req, &resp), 0);
	assert_int_equal(resp.attempts, 2);
	assert_int_equal(pc.checks, 2);
	assert_int_equal(resp.out_len, strlen(steps[0].body));
	assert_true(resp.err[0] != '\0');   /* still wanted a retry */
	objfs_http_resp_clear(&resp);
	objfs_http_free(h);
	srv_stop(&s);
}

/* ---- tests: pool ------------------------------------------------------------------------ */

static void test_conn_reuse(void **state)
{
	static const struct step steps[] = {
		{ 200, NULL, "ok", 0, 0, 0, 0 },
		{ 200, "Content-Length: 5\r\n", NULL, 0, 0, 0, 1 },   /* HEAD */
		{ 200, NULL, NULL, 0, 0, 0, 0 },
		{ 404, NULL, "<Error/>", 0, 0, 0, 0 },
		{ 204, NULL, NULL, 0, 0, 0, 0 },
		{ 200, NULL, "ok", 0, 0, 0, 0 },
	};
	static const char *const methods[] = { "GET", "HEAD", "PUT", "GET", "DELETE" };
	struct objfs_seg seg = { .fd = -1, .len = 100 };
	struct objfs_source src = { .segs = &seg, .nsegs = 1, .size = 100 };
	struct objfs_http *h = client(3);
	struct srv s;

	(void)state;
	srv_start(&s, steps, ARRAY_LEN(steps));
	for (int i = 0; i < 10; i++) {
		struct objfs_http_req req = { .method = i < 5 ? methods[i] : "GET" };
		struct objfs_http_resp resp;

		if (i == 2)
			req.body = &src;
		assert_int_equal(do_req(h, &s, &req, &resp), 0);
		assert_int_equal(resp.attempts, 1);
		objfs_http_resp_clear(&resp);
	}
	assert_int_equal(srv_nreq(&s), 10);
	assert_int_equal(s.recs[2].body_len, 100);
	pthread_mutex_lock(&s.lock);
	assert_int_equal(s.accepted, 1);
	pthread_mutex_unlock(&s.lock);
	objfs_http_free(h);
	srv_stop(&s);
}

struct worker {
	struct objfs_http *h;
	struct srv *s;
	int fails;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < 3; i++) {
		struct objfs_http_req req = { .method = "GET" };
		struct objfs_http_resp resp;
		char url[128];

		url_of(url, sizeof(url), w->s->port, "/c");
		req.url = url;
		memset(&resp, 0, sizeof(resp));
		if (objfs_http_do(w->h, &req, &resp) || resp.status != 200 ||
		    !resp.body || strcmp(resp.body, "ok"))
			w->fails++;
		objfs_http_resp_clear(&resp);
	}
	return NULL;
}

static void test_inflight_bound(void **state)
{
	static const struct step steps[] = { { 200, NULL, "ok", 0, 0, 30, 0 } };
	struct objfs_http_conf conf = {
		.max_inflight = 2, .stall_timeout_s = 2, .backoff_base_ms = 1, .backoff_max_ms = 5,
	};
	struct objfs_http *h = objfs_http_new(&conf);
	struct worker w[8];
	pthread_t t[8];
	struct objfs_http_stats st;
	struct srv s;

	(void)state;
	assert_non_null(h);
	srv_start(&s, steps, ARRAY_LEN(steps));
	for (int i = 0; i < 8; i++) {
		w[i] = (struct worker){ .h = h, .s = &s };
		assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].fails, 0);
	}
	pthread_mutex_lock(&s.lock);
	assert_int_equal(s.nreq, 24);
	assert_int_equal(s.max_cur, 2);     /* reached, never passed */
	assert_true(s.accepted <= 2);
	pthread_mutex_unlock(&s.lock);
	objfs_http_get_stats(h, &st);
	assert_int_equal(st.requests, 24);
	assert_int_equal(st.attempts, 24);
	assert_int_equal(st.failures, 0);
	objfs_http_free(h);
	srv_stop(&s);
}

/* ---- tests: tables ----------------------------------------------------------------------- */

static void test_status_errno(void **state)
{
	static const struct { long status; int err; } cases[] = {
		{ 200, 0 }, { 201, 0 }, { 204, 0 }, { 206, 0 }, { 299, 0 }, { 304, 0 },
		{ 400, -EINVAL }, { 401, -EACCES }, { 403, -EACCES }, { 404, -ENOENT },
		{ 409, -EEXIST }, { 412, -ESTALE }, { 416, -EINVAL }, { 429, -EIO },
		{ 500, -EIO }, { 502, -EIO }, { 503, -EIO }, { 504, -EIO }, { 301, -EIO },
		{ 307, -EIO }, { 405, -EIO }, { 100, -EIO }, { 0, -EIO },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(cases); i++)
		if (objfs_http_status_errno(cases[i].status) != cases[i].err)
			fail_msg("status %ld: %d, want %d", cases[i].status,
				 objfs_http_status_errno(cases[i].status), cases[i].err);
}

static void test_digests(void **state)
{
	static const char fox[] = "The quick brown fox jumps over the lazy dog";
	struct {
		const char *name;
		struct objfs_seg segs[3];
		size_t nsegs;
		const char *md5, *sha;
	} cases[] = {
		{ "empty", { { 0 } }, 0, "1B2M2Y8AsgTpgAmY7PhCfg==",
		  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
		{ "abc", { { .fd = -1, .buf = "abc", .len = 3 } }, 1, "kAFQmDzST7DWlj99KOF/cg==",
		  "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
		/* fox: "The quick " from memory, "brown fox" from the file, the rest from memory */
		{ "fox", { { .fd = -1, .buf = fox, .len = 10 }, { .fd = -2, .off = 10, .len = 9 },
			   { .fd = -1, .buf = fox + 19, .len = sizeof(fox) - 1 - 19 } }, 3,
		  "nhB9nTcrtoJr2B01QqQZ1g==",
		  "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592" },
		/* 1 MiB of zeros */
		{ "zeros", { { .fd = -1, .len = 1 << 20 } }, 1, "ttgbNgpWctgMJ0MPORU+LA==",
		  "30e14955ebf1352266dc2ff8067e68104607e750abb9d3b36582b8af909fcb58" },
	};
	struct body_fixture b;
	char md5[25], sha[65];
	char path[512];
	int fd;

	(void)state;
	body_setup(&b);
	snprintf(path, sizeof(path), "%s/fox", b.dir);
	assert_int_equal(tu_write_file(path, fox, sizeof(fox) - 1), 0);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		struct objfs_source src = { .segs = cases[i].segs, .nsegs = cases[i].nsegs };

		for (size_t j = 0; j < cases[i].nsegs; j++) {
			if (cases[i].segs[j].fd == -2)
				cases[i].segs[j].fd = fd;
			src.size += cases[i].segs[j].len;
		}
		memset(md5, 'x', sizeof(md5));
		memset(sha, 'x', sizeof(sha));
		assert_int_equal(objfs_http_source_digests(&src, md5, sha), 0);
		if (strcmp(md5, cases[i].md5) || strcmp(sha, cases[i].sha))
			fail_msg("%s: %s %s", cases[i].name, md5, sha);
		assert_int_equal(objfs_http_source_digests(&src, NULL, sha), 0);
		assert_int_equal(objfs_http_source_digests(&src, md5, NULL), 0);
		assert_string_equal(md5, cases[i].md5);
	}
	assert_int_equal(objfs_http_source_digests(NULL, md5, sha), 0);
	assert_string_equal(md5, "1B2M2Y8AsgTpgAmY7PhCfg==");

	/* the multi-segment body of the PUT tests, against a digest of its bytes */
	{
		unsigned char dm[16], ds[32];
		unsigned n = 0;
		char want_md5[25], want_sha[65];

		md5_of(b.expect, b.expect_len, dm);
		assert_int_equal(EVP_Digest(b.expect, b.expect_len, ds, &n, EVP_sha256(), NULL), 1);
		EVP_EncodeBlock((unsigned char *)want_md5, dm, 16);
		for (int i = 0; i < 32; i++)
			snprintf(want_sha + 2 * i, 3, "%02x", ds[i]);
		assert_int_equal(objfs_http_source_digests(&b.src, md5, sha), 0);
		assert_string_equal(md5, want_md5);
		assert_string_equal(sha, want_sha);
	}

	/* a file shorter than its segment, and sizes that do not add up */
	{
		struct objfs_seg seg = { .fd = fd, .off = 40, .len = 10 };
		struct objfs_source src = { .segs = &seg, .nsegs = 1, .size = 10 };

		assert_int_equal(objfs_http_source_digests(&src, md5, sha), -EIO);
		seg.fd = -1;
		assert_int_equal(objfs_http_source_digests(&src, md5, sha), 0);
		src.size = 11;
		assert_int_equal(objfs_http_source_digests(&src, md5, sha), -EINVAL);
	}
	close(fd);
	body_teardown(&b);
}

static void test_defaults(void **state)
{
	struct objfs_http *h = objfs_http_new(NULL);
	struct objfs_http_stats st;
	struct objfs_http_resp resp;

	(void)state;
	assert_non_null(h);
	objfs_http_get_stats(h, &st);
	assert_int_equal(st.requests, 0);
	memset(&resp, 0, sizeof(resp));
	assert_int_equal(objfs_http_do(h, NULL, &resp), -EINVAL);
	objfs_http_resp_clear(&resp);
	objfs_http_resp_clear(NULL);
	objfs_http_free(h);
	objfs_http_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_collected),
		cmocka_unit_test(test_get_out_buf),
		cmocka_unit_test(test_error_body),
		cmocka_unit_test(test_head),
		cmocka_unit_test(test_interim_headers),
		cmocka_unit_test(test_many_headers),
		cmocka_unit_test(test_put_segments),
		cmocka_unit_test(test_put_retried),
		cmocka_unit_test(test_put_rewind),
		cmocka_unit_test(test_put_short_file),
		cmocka_unit_test(test_post_delete),
		cmocka_unit_test(test_retry_table),
		cmocka_unit_test(test_conn_refused),
		cmocka_unit_test(test_stall),
		cmocka_unit_test(test_prepare),
		cmocka_unit_test(test_retry_check),
		cmocka_unit_test(test_conn_reuse),
		cmocka_unit_test(test_inflight_bound),
		cmocka_unit_test(test_status_errno),
		cmocka_unit_test(test_digests),
		cmocka_unit_test(test_defaults),
	};

	for (size_t i = 0; i < sizeof(big_body); i++)
		big_body[i] = (char)('A' + i % 50);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
