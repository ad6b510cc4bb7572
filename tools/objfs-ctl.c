/*
 * objfs-ctl: the command-line client of objfs.
 *
 * Most commands are requests to the daemon's control socket (HTTP/1.1 with
 * JSON bodies on a Unix socket, docs/control-socket.md), made with libcurl
 * (CURLOPT_UNIX_SOCKET_PATH, URL http://objfs/v1/...) and parsed with
 * jansson.  The socket is --socket PATH, else $OBJFS_CTL_SOCKET, else the
 * control_socket of --config FILE, else /run/objfs/ctl.sock.
 *
 * The client checks what it can check alone (the method, a TTL that is an
 * integer in 1..604800) before sending anything, and leaves the rest to the
 * daemon (the configured presign_ttl_max, tenants, permissions): the
 * daemon's one-line "error" is printed as "objfs-ctl: MESSAGE", a 403 as
 * "objfs-ctl: not allowed: MESSAGE".
 *
 * `--direct` (with --config) keeps the offline mode: `presign` and `health`
 * talk to the providers the configuration names, without a daemon.  Tests
 * move the clock of that mode with OBJFS_CTL_CLOCK_OFFSET (seconds).
 *
 * The configuration-file commands live in their own files (tools/ctl.h):
 * onboard, doctor, migrate.
 *
 * Output contract: `presign` prints the URL alone on stdout; --json prints
 * the daemon's JSON answer; errors are one line on stderr.  Exit status 0 on
 * success, 1 on failure, unhealthy or timeout, 2 on bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "objfs/provider.h"
#include "config.h"
#include "ctl.h"
#include "log.h"
#include "presign_local.h"

#include "version.h"
#define CTL_DEFAULT_CONFIG   "/etc/objfs/objfs.conf"
#define CTL_DEFAULT_SOCKET   "/run/objfs/ctl.sock"
#define CTL_TTL_DEFAULT      900u
#define CTL_FLUSH_TIMEOUT    300L          /* the daemon's default */
#define CTL_FLUSH_MAX        86400L
#define CTL_REQ_TIMEOUT      60L           /* every request but flush */
#define CTL_BODY_MAX         (16u << 20)   /* bound on an answer we keep */


static long clock_offset;

time_t ctl_clock(void)
{
	return time(NULL) + clock_offset;
}

long ctl_clock_offset(void)
{
	return clock_offset;
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: objfs-ctl [--socket PATH] [--config FILE] COMMAND [ARGS]\n"
		"       objfs-ctl --config FILE --direct presign|health [ARGS]\n"
		"commands (control socket; PATH is TENANT/KEY or a path under the mount):\n"
		"  presign [--method GET|PUT] [--ttl SECONDS] PATH   print a presigned URL\n"
		"          PUT: [--content-type TYPE] [--size BYTES] declare the upload\n"
		"  health [--json]       daemon, mount, providers, journal; exit 1 when unhealthy\n"
		"  status [--json]       pending uploads, staging, read cache, recent errors\n"
		"  flush [--timeout SECONDS] [PATH]   wait until pending uploads have landed\n"
		"  metrics               Prometheus text\n"
		"  tenants [--json]      the tenants you may access\n"
		"  reload                reload the tenant configuration (admin)\n"
		"  trash list|restore|purge ...   deleted and overwritten files (trash_days)\n"
		"commands (configuration file, default " CTL_DEFAULT_CONFIG "):\n"
		"  doctor [--json]       check FUSE, configuration, credentials, providers, clock,\n"
		"                        mount, control socket and a presign round trip\n"
		"  onboard               write a configuration interactively\n"
		"  migrate ...           copy a tenant to another provider\n"
		"  backup ...            incremental snapshots of a tenant; backup list, backup restore\n"
		"options:\n"
		"  --socket PATH   control socket (default $OBJFS_CTL_SOCKET, the configuration's\n"
		"                  control_socket, or " CTL_DEFAULT_SOCKET ")\n"
		"  --config FILE   configuration file\n"
		"  --direct        presign/health straight against the providers, no daemon\n"
		"  -V, --version   print the version\n"
		"exit status: 0 ok, 1 failure/unhealthy/timeout, 2 bad usage\n");
}

/* ---- the control-socket client ---- */

struct ctl_buf {
	char *data;
	size_t len;
	int overflow;
};

static size_t ctl_buf_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct ctl_buf *b = userdata;
	size_t n = size * nmemb;
	char *p;

	if (b->len + n > CTL_BODY_MAX) {
		b->overflow = 1;
		return 0;
	}
	p = realloc(b->data, b->len + n + 1);
	if (!p)
		return 0;
	memcpy(p + b->len, ptr, n);
	b->data = p;
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

/* errno of a plain connect() to sock, for when libcurl did not keep it. */
static int ctl_connect_errno(const char *sock)
{
	struct sockaddr_un sa;
	int fd, e = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		e = errno;
	close(fd);
	return e;
}

/* The message for a socket that could not be connected to (errno e). */
static int ctl_unreachable(const char *sock, int e, char *err, size_t errlen)
{
	if (e == EACCES || e == EPERM) {
		snprintf(err, errlen, "cannot reach the objfs daemon at %s: permission denied "
			 "(socket mode/group: ask an admin)", sock);
		return -EACCES;
	}
	if (e == 0)
		e = ECONNREFUSED;
	snprintf(err, errlen, "cannot reach the objfs daemon at %s: %s (is objfs running? "
		 "see --socket)", sock, strerror(e));
	return e == ENOENT ? -ENOENT : e == ECONNREFUSED ? -ECONNREFUSED : -e;
}

int ctl_sock_request(const char *sock, const char *method, const char *endpoint,
		     const char *body_json, long timeout_s, long *status, char **body,
		     char *err, size_t errlen)
{
	struct curl_slist *hdrs = NULL;
	struct ctl_buf b = { NULL, 0, 0 };
	char url[256];
	CURL *c = NULL;
	CURLcode cc;
	long os_errno = 0;
	int rc = 0;

	*status = 0;
	*body = NULL;
	err[0] = '\0';
	if (strlen(sock) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		snprintf(err, errlen, "socket path %s is too long (at most %zu bytes)", sock,
			 sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
		return -ENAMETOOLONG;
	}
	snprintf(url, sizeof(url), "http://objfs%s", endpoint);
	c = curl_easy_init();
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, sock);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_s);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ctl_buf_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "objfs-ctl/" OBJFS_VERSION);
	if (!strcmp(method, "POST")) {
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
		/* No "Expect: 100-continue" round trip for our small bodies. */
		hdrs = curl_slist_append(hdrs, "Expect:");
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body_json ? body_json : "{}");
	} else if (strcmp(method, "GET")) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	}
	cc = curl_easy_perform(c);
	if (cc == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
		*body = b.data ? b.data : strdup("");
		b.data = NULL;
		if (!*body) {
			snprintf(err, errlen, "out of memory");
			rc = -ENOMEM;
		}
		goto out;
	}
	if (cc == CURLE_COULDNT_CONNECT) {
		curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os_errno);
		rc = ctl_unreachable(sock, os_errno ? (int)os_errno : ctl_connect_errno(sock),
				     err, errlen);
	} else if (cc == CURLE_OPERATION_TIMEDOUT) {
		snprintf(err, errlen, "the objfs daemon at %s did not answer within %ld s",
			 sock, timeout_s);
		rc = -ETIMEDOUT;
	} else if (b.overflow) {
		snprintf(err, errlen, "the answer from %s is larger than %u bytes", sock,
			 CTL_BODY_MAX);
		rc = -EMSGSIZE;
	} else {
		snprintf(err, errlen, "control socket %s: %s", sock, curl_easy_strerror(cc));
		rc = -EIO;
	}
out:
	free(b.data);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	return rc;
}

/* ---- commands on the socket ---- */

struct ctl_opts {
	const char *sock;
	int json;
};

/*
 * Sends a request and parses the answer.  On a 2xx, 0 is returned and *out
 * is the parsed JSON object (or, with raw != NULL, *raw the body as text).
 * On a status equal to own_status with a JSON answer, the caller reports
 * the problem itself: 1 is returned with *out the parsed answer.
 * Otherwise the problem is printed and 1 is returned.  The caller frees
 * *out (json_decref) and *raw (free).
 */
static int ctl_call(const struct ctl_opts *o, const char *method, const char *endpoint,
		    json_t *req, long timeout_s, long own_status, json_t **out, char **raw)
{
	char err[512], *reqtext = NULL, *body = NULL;
	json_t *j = NULL;
	long status;
	int rc, ret = 1;

	if (out)
		*out = NULL;
	if (raw)
		*raw = NULL;
	if (req && !(reqtext = json_dumps(req, JSON_COMPACT))) {
		fprintf(stderr, "objfs-ctl: out of memory\n");
		return 1;
	}
	rc = ctl_sock_request(o->sock, method, endpoint, reqtext, timeout_s, &status, &body,
			      err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "objfs-ctl: %s\n", err);
		goto out;
	}
	if (raw && status / 100 == 2) {
		*raw = body;
		body = NULL;
		ret = 0;
		goto out;
	}
	j = json_loads(body, 0, NULL);
	if (status == own_status && out && json_is_object(j)) {
		*out = j;
		j = NULL;
		goto out;
	}
	if (status / 100 != 2) {
		json_t *e = json_is_object(j) ? json_object_get(j, "error") : NULL;
		const char *msg = json_is_string(e) ? json_string_value(e) : NULL;

		if (status == 403)
			fprintf(stderr, "objfs-ctl: not allowed: %s\n",
				msg ? msg : "the daemon refused the request");
		else if (msg)
			fprintf(stderr, "objfs-ctl: %s\n", msg);
		else
			fprintf(stderr, "objfs-ctl: %s %s: HTTP %ld from the daemon\n", method,
				endpoint, status);
		goto out;
	}
	if (!json_is_object(j)) {
		fprintf(stderr, "objfs-ctl: %s %s: the daemon's answer is not a JSON object\n",
			method, endpoint);
		goto out;
	}
	if (out) {
		*out = j;
		j = NULL;
	}
	ret = 0;
out:
	json_decref(j);
	free(reqtext);
	free(body);
	return ret;
}

/* Prints j as JSON on stdout (the --json output). */
static void ctl_print_json(const json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));

	if (s)
		printf("%s\n", s);
	free(s);
}

static const char *jstr(const json_t *o, const char *k, const char *dflt)
{
	const json_t *v = json_object_get(o, k);

	return json_is_string(v) ? json_string_value(v) : dflt;
}

static double jnum(const json_t *o, const char *k, double dflt)
{
	const json_t *v = json_object_get(o, k);

	return json_is_number(v) ? json_number_value(v) : dflt;
}

/* "1.5 GiB" into buf. */
static const char *ctl_bytes(double n, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	unsigned u = 0;

	while (n >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		n /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%.0f B", n);
	else
		snprintf(buf, len, "%.1f %s", n, units[u]);
	return buf;
}

/* "1h02m" or "42 s" into buf. */
static const char *ctl_duration(double s, char *buf, size_t len)
{
	long v = s < 0 ? 0 : (long)s;

	if (v >= 86400)
		snprintf(buf, len, "%ldd%02ldh", v / 86400, v % 86400 / 3600);
	else if (v >= 3600)
		snprintf(buf, len, "%ldh%02ldm", v / 3600, v % 3600 / 60);
	else if (v >= 60)
		snprintf(buf, len, "%ldm%02lds", v / 60, v % 60);
	else
		snprintf(buf, len, "%.1f s", s < 0 ? 0 : s);
	return buf;
}

/*
 * PATH of presign and flush: TENANT/KEY goes to the daemon as it is, and so
 * does an absolute path.  A relative path that exists from here (or that
 * starts with ./ or ../, for a PUT of a new file) is made absolute, so that
 * `cd /mnt/store/acme && objfs-ctl presign report.pdf` names the file under
 * the mount; the daemon checks that it is under the mount.  0, or 2 (usage)
 * with the problem printed.
 */
static int ctl_path_arg(const char *arg, char *out, size_t outlen)
{
	char real[PATH_MAX], *dir = NULL;
	const char *base;
	struct stat sb;
	int ret = 0;

	if (!arg[0]) {
		fprintf(stderr, "objfs-ctl: empty path\n");
		return 2;
	}
	if (arg[0] != '/' && lstat(arg, &sb) == 0) {
		if (!realpath(arg, real)) {
			fprintf(stderr, "objfs-ctl: %s: %s\n", arg, strerror(errno));
			return 2;
		}
		arg = real;
	} else if (!strncmp(arg, "./", 2) || !strncmp(arg, "../", 3)) {
		if (!(dir = strdup(arg)))
			return 2;
		base = strrchr(arg, '/') + 1;
		*strrchr(dir, '/') = '\0';
		if (!*base || !strcmp(base, ".") || !strcmp(base, "..") || !realpath(dir, real) ||
		    strlen(real) + 1 + strlen(base) >= sizeof(real)) {
			fprintf(stderr, "objfs-ctl: %s: no such directory\n", arg);
			ret = 2;
			goto out;
		}
		strcat(real, "/");
		strcat(real, base);
		arg = real;
	}
	if (strlen(arg) >= outlen) {
		fprintf(stderr, "objfs-ctl: %.64s...: path too long\n", arg);
		ret = 2;
		goto out;
	}
	strcpy(out, arg);
out:
	free(dir);
	return ret;
}

/* Seconds from a command-line argument: an integer in 1..max, else 2 (usage). */
static int ctl_seconds(const char *opt, const char *arg, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v < 1 || v > max) {
		fprintf(stderr, "objfs-ctl: %s %s: expected a whole number of seconds in 1..%ld\n",
			opt, arg, max);
		return 2;
	}
	*out = v;
	return 0;
}

/* Options of presign, shared by the socket and --direct modes. */
struct presign_args {
	const char *method;
	long ttl;            /* 0: the default (the daemon's presign_ttl_default) */
	const char *path;
	const char *content_type;   /* PUT: the type the upload declares (NULL: none) */
	long long size;             /* PUT: the declared size in bytes, -1: none */
};

static int presign_parse(int argc, char **argv, struct presign_args *a)
{
	static const struct option opts[] = {
		{ "method", required_argument, NULL, 'm' },
		{ "ttl", required_argument, NULL, 't' },
		{ "content-type", required_argument, NULL, 'c' },
		{ "size", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	a->method = "GET";
	a->ttl = 0;
	a->content_type = NULL;
	a->size = -1;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "+m:t:", opts, NULL)) != -1) {
		switch (opt) {
		case 'm':
			a->method = optarg;
			break;
		case 'c':
			a->content_type = optarg;
			break;
		case 's': {
			char *end;

			errno = 0;
			a->size = strtoll(optarg, &end, 10);
			if (errno || end == optarg || *end || a->size < 0) {
				fprintf(stderr, "objfs-ctl: --size %s: expected a number of bytes\n",
					optarg);
				return 2;
			}
			break;
		}
		case 't':
			/* The daemon enforces its configured maximum; 604800 is
			 * the largest any configuration may allow. */
			if (ctl_seconds("--ttl", optarg, OBJFS_PRESIGN_TTL_MAX, &a->ttl))
				return 2;
			break;
		default:
			return 2;
		}
	}
	if (strcmp(a->method, "GET") && strcmp(a->method, "PUT")) {
		fprintf(stderr, "objfs-ctl: --method %s: expected GET or PUT\n", a->method);
		return 2;
	}
	if ((a->content_type || a->size >= 0) && strcmp(a->method, "PUT")) {
		fprintf(stderr, "objfs-ctl: --content-type and --size are for --method PUT\n");
		return 2;
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: objfs-ctl presign [--method GET|PUT] [--ttl SECONDS] "
			"[--content-type TYPE] [--size BYTES] PATH\n");
		return 2;
	}
	a->path = argv[optind];
	return 0;
}

static int cmd_presign(struct ctl_opts *o, int argc, char **argv)
{
	struct presign_args a;
	char path[PATH_MAX];
	json_t *req = NULL, *ans = NULL;
	const char *url;
	int ret;

	if ((ret = presign_parse(argc, argv, &a)) || (ret = ctl_path_arg(a.path, path, sizeof(path))))
		return ret;
	req = json_pack("{s:s, s:s}", "path", path, "method", a.method);
	if (!req || (a.ttl && json_object_set_new(req, "ttl", json_integer(a.ttl))) ||
	    (a.content_type &&
	     json_object_set_new(req, "content_type", json_string(a.content_type))) ||
	    (a.size >= 0 && json_object_set_new(req, "size", json_integer(a.size)))) {
		fprintf(stderr, "objfs-ctl: out of memory\n");
		ret = 1;
		goto out;
	}
	ret = ctl_call(o, "POST", "/v1/presign", req, CTL_REQ_TIMEOUT, 0, &ans, NULL);
	if (ret)
		goto out;
	url = jstr(ans, "url", NULL);
	if (!url) {
		fprintf(stderr, "objfs-ctl: presign: the daemon's answer has no url\n");
		ret = 1;
		goto out;
	}
	printf("%s\n", url);
	/* signed headers: the upload must send them as given, or the store refuses it */
	{
		json_t *h = json_object_get(ans, "headers"), *v;
		const char *k;

		json_object_foreach(h, k, v)
			if (json_is_string(v))
				fprintf(stderr, "objfs-ctl: the PUT must send the header %s: %s\n", k,
					json_string_value(v));
	}
out:
	json_decref(req);
	json_decref(ans);
	return ret;
}

/* Commands whose only option is --json. */
static int json_only_args(const char *cmd, int argc, char **argv, int *json)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	*json = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "+j", opts, NULL)) != -1) {
		if (opt != 'j')
			return 2;
		*json = 1;
	}
	if (optind != argc) {
		fprintf(stderr, "objfs-ctl: %s: unexpected argument %s\n", cmd, argv[optind]);
		return 2;
	}
	return 0;
}

static int cmd_health(struct ctl_opts *o, int argc, char **argv)
{
	const json_t *d, *m, *jr, *ps, *p;
	json_t *ans = NULL;
	char t1[32], t2[32];
	size_t i;
	int ret, healthy;

	if ((ret = json_only_args("health", argc, argv, &o->json)))
		return ret;
	if ((ret = ctl_call(o, "GET", "/v1/health", NULL, CTL_REQ_TIMEOUT, 0, &ans, NULL)))
		return ret;
	healthy = json_is_true(json_object_get(ans, "healthy"));
	if (o->json) {
		ctl_print_json(ans);
		goto out;
	}
	d = json_object_get(ans, "daemon");
	printf("daemon: %s (pid %.0f, version %s, up %s)\n", healthy ? "healthy" : "UNHEALTHY",
	       jnum(d, "pid", 0), jstr(d, "version", "?"),
	       ctl_duration(jnum(d, "uptime_s", 0), t1, sizeof(t1)));
	m = json_object_get(ans, "mount");
	printf("mount %s: %s%s%s\n", jstr(m, "path", "?"),
	       json_is_true(json_object_get(m, "ok")) ? "ok" : "NOT ANSWERING",
	       *jstr(m, "detail", "") ? ": " : "", jstr(m, "detail", ""));
	ps = json_object_get(ans, "providers");
	json_array_foreach(ps, i, p) {
		const json_t *ts = json_object_get(p, "tenants"), *t;
		size_t k;

		printf("provider %s (%s, bucket %s, tenants ", jstr(p, "name", "?"),
		       jstr(p, "type", "?"), jstr(p, "bucket", "?"));
		json_array_foreach(ts, k, t)
			printf("%s%s", k ? "," : "", json_is_string(t) ? json_string_value(t) : "?");
		printf("): %s (%.1f ms)%s%s\n", jstr(p, "state", "?"), jnum(p, "latency_ms", 0),
		       *jstr(p, "detail", "") && strcmp(jstr(p, "detail", ""), "ok") ? ": " : "",
		       strcmp(jstr(p, "detail", ""), "ok") ? jstr(p, "detail", "") : "");
	}
	jr = json_object_get(ans, "journal");
	printf("journal: %.0f pending uploads, oldest %s\n", jnum(jr, "pending", 0),
	       ctl_duration(jnum(jr, "oldest_age_s", 0), t2, sizeof(t2)));
out:
	json_decref(ans);
	return healthy ? 0 : 1;
}

static int cmd_status(struct ctl_opts *o, int argc, char **argv)
{
	const json_t *st, *rc, *ts, *t, *es, *e;
	json_t *ans = NULL;
	char b1[32], b2[32], b3[32];
	size_t i;
	int ret;

	if ((ret = json_only_args("status", argc, argv, &o->json)))
		return ret;
	if ((ret = ctl_call(o, "GET", "/v1/status", NULL, CTL_REQ_TIMEOUT, 0, &ans, NULL)))
		return ret;
	if (o->json) {
		ctl_print_json(ans);
		goto out;
	}
	/* A non-admin caller gets only its tenants: the global figures are absent. */
	if (json_object_get(ans, "pending_uploads"))
		printf("pending uploads: %.0f (%.0f in flight, %.0f retrying), %s, oldest %s\n",
		       jnum(ans, "pending_uploads", 0), jnum(ans, "in_flight", 0),
		       jnum(ans, "retrying", 0),
		       ctl_bytes(jnum(ans, "bytes_pending", 0), b1, sizeof(b1)),
		       ctl_duration(jnum(ans, "oldest_pending_age_s", 0), b2, sizeof(b2)));
	if ((st = json_object_get(ans, "staging")))
		printf("staging: %s of %s\n", ctl_bytes(jnum(st, "used_bytes", 0), b1, sizeof(b1)),
		       ctl_bytes(jnum(st, "max_bytes", 0), b2, sizeof(b2)));
	if ((rc = json_object_get(ans, "read_cache")))
		printf("read cache: %s of %s, %.0f hits, %.0f misses\n",
		       ctl_bytes(jnum(rc, "used_bytes", 0), b1, sizeof(b1)),
		       ctl_bytes(jnum(rc, "max_bytes", 0), b2, sizeof(b2)),
		       jnum(rc, "hits", 0), jnum(rc, "misses", 0));
	ts = json_object_get(ans, "tenants");
	json_array_foreach(ts, i, t) {
		const json_t *g;
		size_t k;

		printf("tenant %s: %.0f pending uploads\n", jstr(t, "name", "?"),
		       jnum(t, "pending_uploads", 0));
		/* quota usage; a limit 0 is unlimited */
		if ((g = json_object_get(t, "quota")))
			printf("  quota: %s of %s, %.0f of %s objects\n",
			       ctl_bytes(jnum(g, "bytes_used", 0), b1, sizeof(b1)),
			       jnum(g, "bytes_limit", 0) > 0
			       ? ctl_bytes(jnum(g, "bytes_limit", 0), b2, sizeof(b2)) : "unlimited",
			       jnum(g, "objects_used", 0),
			       jnum(g, "objects_limit", 0) > 0
			       ? (snprintf(b3, sizeof(b3), "%.0f", jnum(g, "objects_limit", 0)), b3)
			       : "unlimited");
		/* guardrail problems awaiting an operator: kind, path, reason */
		json_array_foreach(json_object_get(t, "guardrails"), k, g)
			printf("  guardrail %s %s: %s\n", jstr(g, "kind", "?"), jstr(g, "path", "?"),
			       jstr(g, "reason", ""));
	}
	es = json_object_get(ans, "recent_errors");
	if (json_array_size(es))
		printf("recent errors:\n");
	json_array_foreach(es, i, e) {
		time_t when = (time_t)jnum(e, "time", 0);
		struct tm tm;

		if (!localtime_r(&when, &tm) || !strftime(b3, sizeof(b3), "%Y-%m-%d %H:%M:%S", &tm))
			snprintf(b3, sizeof(b3), "%lld", (long long)when);
		printf("  %s %s: %s\n", b3, jstr(e, "level", "?"), jstr(e, "message", ""));
	}
out:
	json_decref(ans);
	return 0;
}

static int cmd_flush(struct ctl_opts *o, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	char path[PATH_MAX];
	json_t *req = NULL, *ans = NULL;
	long timeout = 0;
	int opt, ret;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "+t:", opts, NULL)) != -1) {
		if (opt != 't' || ctl_seconds("--timeout", optarg, CTL_FLUSH_MAX, &timeout))
			return 2;
	}
	if (optind < argc - 1) {
		fprintf(stderr, "usage: objfs-ctl flush [--timeout SECONDS] [PATH]\n");
		return 2;
	}
	req = json_object();
	if (!req)
		return 1;
	if (optind == argc - 1) {
		if ((ret = ctl_path_arg(argv[optind], path, sizeof(path))))
			goto out;
		json_object_set_new(req, "path", json_string(path));
	}
	if (timeout)
		json_object_set_new(req, "timeout", json_integer(timeout));
	/* The answer comes when the flush ends: wait a little longer than it may. */
	ret = ctl_call(o, "POST", "/v1/flush", req, (timeout ? timeout : CTL_FLUSH_TIMEOUT) + 30,
		       504, &ans, NULL);
	if (ret) {
		if (ans)   /* 504: the timeout passed first */
			fprintf(stderr, "objfs-ctl: flush timed out after %ld s: %.0f uploads still "
				"pending\n", timeout ? timeout : CTL_FLUSH_TIMEOUT,
				jnum(ans, "pending", 0));
		goto out;
	}
	if (!json_is_true(json_object_get(ans, "flushed"))) {
		fprintf(stderr, "objfs-ctl: not flushed: %.0f uploads still pending\n",
			jnum(ans, "pending", 0));
		ret = 1;
		goto out;
	}
	printf("flushed\n");
out:
	json_decref(req);
	json_decref(ans);
	return ret;
}

static int cmd_metrics(struct ctl_opts *o, int argc, char **argv)
{
	char *text = NULL;
	size_t n;
	int ret;

	if (argc > 1) {
		fprintf(stderr, "objfs-ctl: metrics: unexpected argument %s\n", argv[1]);
		return 2;
	}
	if ((ret = ctl_call(o, "GET", "/v1/metrics", NULL, CTL_REQ_TIMEOUT, 0, NULL, &text)))
		return ret;
	n = strlen(text);
	fwrite(text, 1, n, stdout);
	if (n && text[n - 1] != '\n')
		putchar('\n');
	free(text);
	return 0;
}

static int cmd_tenants(struct ctl_opts *o, int argc, char **argv)
{
	const json_t *ts, *t;
	json_t *ans = NULL;
	size_t i;
	int ret;

	if ((ret = json_only_args("tenants", argc, argv, &o->json)))
		return ret;
	if ((ret = ctl_call(o, "GET", "/v1/tenants", NULL, CTL_REQ_TIMEOUT, 0, &ans, NULL)))
		return ret;
	if (o->json) {
		ctl_print_json(ans);
		goto out;
	}
	ts = json_object_get(ans, "tenants");
	printf("%-20s %-12s %-6s %-24s %-16s %-3s %s\n", "TENANT", "PROVIDER", "TYPE", "BUCKET",
	       "PREFIX", "RO", "PENDING");
	json_array_foreach(ts, i, t)
		printf("%-20s %-12s %-6s %-24s %-16s %-3s %.0f\n", jstr(t, "name", "?"),
		       jstr(t, "provider", "?"), jstr(t, "type", "?"), jstr(t, "bucket", "?"),
		       *jstr(t, "prefix", "") ? jstr(t, "prefix", "") : "-",
		       json_is_true(json_object_get(t, "read_only")) ? "yes" : "no",
		       jnum(t, "pending_uploads", 0));
out:
	json_decref(ans);
	return 0;
}

static int cmd_reload(struct ctl_opts *o, int argc, char **argv)
{
	json_t *ans = NULL;
	int ret;

	if (argc > 1) {
		fprintf(stderr, "objfs-ctl: reload: unexpected argument %s\n", argv[1]);
		return 2;
	}
	if ((ret = ctl_call(o, "POST", "/v1/reload", NULL, CTL_REQ_TIMEOUT, 0, &ans, NULL)))
		return ret;
	if (!json_is_true(json_object_get(ans, "reloaded"))) {
		fprintf(stderr, "objfs-ctl: not reloaded: %s\n", jstr(ans, "message", "no reason given"));
		ret = 1;
	} else {
		printf("reloaded: %s\n", jstr(ans, "message", ""));
	}
	json_decref(ans);
	return ret;
}

/* ---- --direct: the providers of the configuration, no daemon ---- */

/* Opens the provider of tenant t; *out freed with objfs_prov_free. */
static int open_tenant_provider(const struct objfs_config *cfg, const struct objfs_tenant_conf *t,
				struct objfs_prov **out)
{
	const struct objfs_provider_section *ps = objfs_config_provider(cfg, t->provider);
	struct objfs_provider_conf pc;
	struct objfs_err err;
	int rc;

	if (!ps) {
		fprintf(stderr, "objfs-ctl: tenant %s: provider %s not configured\n", t->name,
			t->provider);
		return -EINVAL;
	}
	pc = ps->conf;
	if (clock_offset)
		pc.clock = ctl_clock;
	rc = objfs_prov_open(&pc, out, &err);
	if (rc)
		fprintf(stderr, "objfs-ctl: provider %s: %s\n", pc.name,
			err.msg[0] ? err.msg : strerror(-rc));
	return rc;
}

static int direct_presign(const struct objfs_config *cfg, int argc, char **argv)
{
	const struct objfs_tenant_conf *t = NULL;
	struct objfs_prov *prov = NULL;
	struct presign_args a;
	struct objfs_err err;
	const char *path, *slash;
	char key[OBJFS_KEY_MAX + 1], *url = NULL;
	unsigned ttl;
	int rc;

	if ((rc = presign_parse(argc, argv, &a)))
		return rc;
	if (a.content_type || a.size >= 0) {
		/* the guardrails and the landing checks are the daemon's */
		fprintf(stderr, "objfs-ctl: --content-type and --size need the daemon, not --direct\n");
		return 2;
	}
	ttl = a.ttl ? (unsigned)a.ttl : cfg->presign_ttl_default_s;
	if (ttl > cfg->presign_ttl_max_s) {
		fprintf(stderr, "objfs-ctl: --ttl %u: above presign_ttl_max (%u s)\n", ttl,
			cfg->presign_ttl_max_s);
		return 2;
	}
	path = a.path;
	if (cfg->mountpoint && path[0] == '/') {
		size_t n = strlen(cfg->mountpoint);

		while (n > 1 && cfg->mountpoint[n - 1] == '/')
			n--;
		if (!strncmp(path, cfg->mountpoint, n) && path[n] == '/')
			path += n;
	}
	while (*path == '/')
		path++;
	slash = strchr(path, '/');
	if (!slash || !slash[1]) {
		fprintf(stderr, "objfs-ctl: %s: expected TENANT/KEY\n", a.path);
		return 2;
	}
	for (size_t i = 0; i < cfg->ntenants; i++)
		if (strlen(cfg->tenants[i].name) == (size_t)(slash - path) &&
		    !strncmp(cfg->tenants[i].name, path, (size_t)(slash - path)))
			t = &cfg->tenants[i];
	if (!t) {
		fprintf(stderr, "objfs-ctl: %.*s: no such tenant\n", (int)(slash - path), path);
		return 1;
	}
	if ((size_t)snprintf(key, sizeof(key), "%s%s", t->prefix, slash + 1) >= sizeof(key)) {
		fprintf(stderr, "objfs-ctl: key too long\n");
		return 1;
	}
	if (!strcmp(a.method, "PUT") && t->read_only) {
		fprintf(stderr, "objfs-ctl: tenant %s is read-only: no PUT URLs\n", t->name);
		return 1;
	}
	if (open_tenant_provider(cfg, t, &prov))
		return 1;
	rc = objfs_prov_presign(prov, t->bucket, key, a.method, ttl, &url, &err);
	if (rc)
		fprintf(stderr, "objfs-ctl: presign: %s\n", err.msg[0] ? err.msg : strerror(-rc));
	else
		printf("%s\n", url);
	free(url);
	objfs_prov_free(prov);
	return rc ? 1 : 0;
}

static int direct_health(const struct objfs_config *cfg, int argc, char **argv)
{
	json_t *arr = NULL;
	int bad = 0, json, ret;

	if ((ret = json_only_args("health", argc, argv, &json)))
		return ret;
	if (json && !(arr = json_array()))
		return 1;
	for (size_t i = 0; i < cfg->ntenants; i++) {
		const struct objfs_tenant_conf *t = &cfg->tenants[i];
		struct objfs_prov *prov = NULL;
		struct objfs_health h;
		struct objfs_err err;
		int rc;

		if (open_tenant_provider(cfg, t, &prov)) {
			bad = 1;
			continue;
		}
		memset(&h, 0, sizeof(h));
		rc = objfs_prov_health(prov, t->bucket, &h, &err);
		if (rc) {
			snprintf(h.detail, sizeof(h.detail), "error: %.240s",
				 err.msg[0] ? err.msg : strerror(-rc));
			h.state = OBJFS_HEALTH_UNREACHABLE;
		}
		bad |= h.state != OBJFS_HEALTH_OK;
		if (json)
			json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:f, s:s}",
				"tenant", t->name, "provider", t->provider, "bucket", t->bucket,
				"state", objfs_health_state_name(h.state), "latency_ms", h.latency_s * 1000,
				"detail", h.detail));
		else if (rc)
			printf("tenant %s: provider %s: %s\n", t->name, t->provider, h.detail);
		else
			printf("tenant %s: provider %s bucket %s: %s (%.0f ms) %s\n", t->name,
			       t->provider, t->bucket, objfs_health_state_name(h.state), h.latency_s * 1000,
			       h.detail);
		objfs_prov_free(prov);
	}
	if (json) {
		json_t *o = json_pack("{s:b, s:o}", "healthy", !bad, "tenants", arr);

		if (o)
			ctl_print_json(o);
		json_decref(o);
	}
	return bad;
}

static int run_direct(const char *config, int argc, char **argv)
{
	struct objfs_config *cfg = NULL;
	char errbuf[1024];
	int status;

	if (strcmp(argv[0], "presign") && strcmp(argv[0], "health")) {
		fprintf(stderr, "objfs-ctl: --direct works with presign and health only, not %s\n",
			argv[0]);
		return 2;
	}
	objfs_log_set_level(OBJFS_LOG_WARN);
	if (objfs_config_load(config ? config : CTL_DEFAULT_CONFIG, &cfg, errbuf, sizeof(errbuf))) {
		fprintf(stderr, "objfs-ctl: %s\n", errbuf);
		return 1;
	}
	if (!strcmp(argv[0], "presign"))
		status = direct_presign(cfg, argc, argv);
	else
		status = direct_health(cfg, argc, argv);
	objfs_config_free(cfg);
	return status;
}

/* ---- main ---- */

/* The socket path: --socket, $OBJFS_CTL_SOCKET, the configuration's, the
 * default.  *owned receives a copy to free when it came from the file.
 * 0, or 1 when the configuration does not load (printed). */
static int resolve_socket(const char *opt, const char *config, const char **sock, char **owned)
{
	struct objfs_config *cfg = NULL;
	const char *env = getenv("OBJFS_CTL_SOCKET");
	char errbuf[1024];

	*owned = NULL;
	if (opt) {
		*sock = opt;
	} else if (env && *env) {
		*sock = env;
	} else if (config) {
		objfs_log_set_level(OBJFS_LOG_WARN);
		if (objfs_config_load(config, &cfg, errbuf, sizeof(errbuf))) {
			fprintf(stderr, "objfs-ctl: %s\n", errbuf);
			return 1;
		}
		*owned = strdup(cfg->control_socket);
		objfs_config_free(cfg);
		if (!*owned) {
			fprintf(stderr, "objfs-ctl: out of memory\n");
			return 1;
		}
		*sock = *owned;
	} else {
		*sock = CTL_DEFAULT_SOCKET;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ "direct", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	static const struct {
		const char *name;
		int (*fn)(struct ctl_opts *o, int argc, char **argv);
	} cmds[] = {
		{ "presign", cmd_presign },
		{ "health", cmd_health },
		{ "status", cmd_status },
		{ "flush", cmd_flush },
		{ "metrics", cmd_metrics },
		{ "tenants", cmd_tenants },
		{ "reload", cmd_reload },
	};
	const char *config = NULL, *sockopt = NULL, *env, *cmd;
	struct ctl_opts o = { NULL, 0 };
	char *owned = NULL, *end;
	int opt, direct = 0, status = 2, cargc;
	char **cargv;

	while ((opt = getopt_long(argc, argv, "+c:s:hV", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config = optarg;
			break;
		case 's':
			sockopt = optarg;
			break;
		case 'd':
			direct = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("objfs-ctl %s\n", OBJFS_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	if ((env = getenv("OBJFS_CTL_CLOCK_OFFSET")) && *env) {
		errno = 0;
		clock_offset = strtol(env, &end, 10);
		if (errno || *end) {
			fprintf(stderr, "objfs-ctl: OBJFS_CTL_CLOCK_OFFSET=%s: expected seconds\n", env);
			return 2;
		}
	}
	cmd = argv[optind];
	cargc = argc - optind;
	cargv = argv + optind;
	/* libcurl set up once for every command (the ctl_*.c commands use it too). */
	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		fprintf(stderr, "objfs-ctl: cannot initialise libcurl\n");
		return 1;
	}
	if (direct) {
		status = run_direct(config, cargc, cargv);
		goto out;
	}
	if (!strcmp(cmd, "onboard")) {
		status = ctl_onboard_main(config, cargc, cargv);
		goto out;
	}
	if (!strcmp(cmd, "migrate")) {
		status = ctl_migrate_main(config, cargc, cargv);
		goto out;
	}
	if (!strcmp(cmd, "backup")) {
		status = ctl_backup_main(config, cargc, cargv);
		goto out;
	}
	if (!strcmp(cmd, "doctor")) {
		const char *s = sockopt;

		if (!s && (env = getenv("OBJFS_CTL_SOCKET")) && *env)
			s = env;
		status = ctl_doctor_main(config, s, cargc, cargv);
		goto out;
	}
	if (!strcmp(cmd, "trash")) {
		if (!(status = resolve_socket(sockopt, config, &o.sock, &owned)))
			status = ctl_trash_main(o.sock, cargc, cargv);
		goto out;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(cmd, cmds[i].name))
			continue;
		if (!(status = resolve_socket(sockopt, config, &o.sock, &owned)))
			status = cmds[i].fn(&o, cargc, cargv);
		goto out;
	}
	fprintf(stderr, "objfs-ctl: unknown command %s\n", cmd);
	usage(stderr);
	status = 2;
out:
	free(owned);
	curl_global_cleanup();
	fflush(stdout);
	return status;
}
