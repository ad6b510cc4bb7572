/*
 * The presigned-URL listener of the local provider (presign_server.h).
 *
 * One libmicrohttpd daemon per local provider that a tenant uses, on the
 * provider's `listen` address, read from its [provider NAME] section
 * (default OBJFS_LOCAL_DEFAULT_LISTEN, presign_local.h, the address the
 * provider puts into the URLs it signs).
 *
 * A request goes through these steps, and nothing is read or written before
 * the signature has been checked:
 *   1. the path /BUCKET/KEY is percent-decoded exactly once (MHD's own
 *      unescaping is replaced by ps_unescape, which leaves the text raw):
 *      bad escapes, NUL, invalid UTF-8 or a key over OBJFS_KEY_MAX -> 400;
 *   2. X-Objfs-Method, X-Objfs-Expires and X-Objfs-Signature, each exactly
 *      once; the request method must be the signed one (HEAD for GET), and
 *      the provider that signed checks the signature with its own secret
 *      and clock (objfs_prov_presign_check) -> 403 otherwise;
 *   3. the tenant of this provider whose bucket is BUCKET and whose prefix
 *      starts KEY (longest prefix wins; none -> 403), and the relative path
 *      KEY minus prefix passes objfs_path_parse("/TENANT/REL"), so the
 *      mount's isolation rules hold ("..", empty segments ... -> 403/400);
 *   4. the object is served through the mount, ctx->mountpoint/TENANT/REL,
 *      walking one segment at a time with O_NOFOLLOW, so a symlink stored in
 *      a tenant can never lead outside it, and only after fstatfs() shows
 *      the mount point really is the FUSE mount (else 503: the listener may
 *      be up before the mount or after it is gone).
 *
 * GET/HEAD: the open file is handed to MHD (MHD_create_response_from_fd_at_
 * offset64), one "Range: bytes=" range answered with 206 (several ranges:
 * 200 with the whole body; unsatisfiable: 416), ETag and Last-Modified from
 * fstat.
 *
 * PUT: the body is staged in an unnamed file (O_TMPFILE, or a name unlinked
 * at once) under CACHE_DIR/presign-tmp, so a client that goes away mid-body
 * leaves nothing anywhere; only when the whole body is in (and matches
 * Content-Length) is it copied into the mount.  The destination is opened
 * without O_TRUNC and first set to the new size with ftruncate, so a quota
 * or max_object_size refusal (EDQUOT, EFBIG) comes before any byte of an
 * existing object changes; then fsync and close (which commits the file to
 * the write-back journal) and 200 with an ETag only when close succeeded.
 * A new file that could not be completed is removed again.  Every PUT that
 * reaches a tenant is audited ("presign-put").
 *
 * Threads: MHD runs a thread per connection (at most PS_CONN_LIMIT); a
 * handler touches only its own request state, the read-only ctx and the
 * thread-safe provider.  objfs_presign_server_stop() joins them all, so it
 * must run while the mount still answers (before unmount).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "audit.h"
#include "config.h"
#include "log.h"
#include "mimetype.h"
#include "objmeta.h"
#include "objfs/provider.h"
#include "presign_local.h"
#include "presign_server.h"
#include "tenant.h"
#include "strutil.h"

#define PS_CONN_LIMIT     64
#define PS_TIMEOUT_S      30
#define PS_MEM_LIMIT      (32 * 1024)
#define PS_COPY_BUF       (128 * 1024)
#define PS_DISCARD_MAX    (64ull << 20)     /* body bytes read and dropped after a refusal */
#define PS_TMP_DIR        "presign-tmp"
#define PS_FUSE_MAGIC     0x65735546        /* FUSE_SUPER_MAGIC */
#define PS_PATH_MAX       (1 + 63 + 1 + OBJFS_KEY_MAX)   /* "/" bucket "/" key */
#define PS_ARG_MAX        80                /* longest X-Objfs-* value accepted */

struct ps_listener {
	struct objfs_presign_server *srv;
	struct objfs_prov *prov;             /* not owned */
	char *addr;                          /* the listen string, for messages */
	struct MHD_Daemon *mhd;
};

struct objfs_presign_server {
	struct objfs_ctx *ctx;
	char *tmpdir;                        /* CACHE_DIR/presign-tmp */
	struct ps_listener *v;
	size_t n;
};

/* The state of one PUT between MHD's calls; owned by MHD's con_cls and
 * freed by ps_completed. */
struct ps_put {
	struct ps_listener *l;
	struct objfs_tenant *t;
	char rel[OBJFS_KEY_MAX + 1];
	char remote[INET6_ADDRSTRLEN + 8];
	int tmpfd;
	uint64_t got;                        /* body bytes staged */
	uint64_t limit;                      /* max_object_size, 0: none */
	uint64_t expect;                     /* Content-Length, UINT64_MAX: none given */
	uint64_t discarded;
	int rc;                              /* first failure while receiving */
	int audited;
};

/* ---- small helpers ---- */

/* Percent-decodes in into out (outsz bytes with the NUL): 0, -EINVAL for a
 * bad escape or an encoded NUL, -ENAMETOOLONG when it does not fit, -EILSEQ
 * for invalid UTF-8.  '+' stays '+' (this is a path, not a form). */
static int ps_pct_decode(const char *in, char *out, size_t outsz)
{
	size_t o = 0;

	for (; *in; in++) {
		int c = (unsigned char)*in;

		if (c == '%') {
			int h = objfs_hexval(in[1]), lo = h < 0 ? -1 : objfs_hexval(in[2]);

			if (h < 0 || lo < 0)
				return -EINVAL;
			c = h * 16 + lo;
			if (c == 0)
				return -EINVAL;
			in += 2;
		}
		if (o + 1 >= outsz)
			return -ENAMETOOLONG;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return objfs_utf8_valid(out, o) ? 0 : -EILSEQ;
}

/* MHD's unescape hook: leave the text as sent, ps_pct_decode decodes once. */
static size_t ps_unescape(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls;
	(void)c;
	return strlen(s);
}

static void ps_mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct ps_listener *l = cls;
	char buf[256];
	size_t n;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	log_debug("presign %s: libmicrohttpd: %s", l->addr, buf);
}

static void ps_remote(struct MHD_Connection *c, char *buf, size_t size)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	snprintf(buf, size, "?");
	if (sa && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, buf,
			  (socklen_t)size);
	else if (sa && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
			  buf, (socklen_t)size);
}

/* Queues a short text answer (one line); the status is the caller's. */
static enum MHD_Result ps_reply(struct MHD_Connection *c, unsigned status, const char *hname,
				const char *hval, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static enum MHD_Result ps_reply(struct MHD_Connection *c, unsigned status, const char *hname,
				const char *hval, const char *fmt, ...)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	char body[320];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(body, sizeof(body) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof(body) - 2)
		n = (int)sizeof(body) - 2;
	body[n++] = '\n';
	body[n] = '\0';
	r = MHD_create_response_from_buffer((size_t)n, body, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	if (hname)
		MHD_add_response_header(r, hname, hval);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* The HTTP status of a failed operation on the mount. */
static unsigned ps_status(int rc, int is_put)
{
	switch (rc) {
	case -ENOENT:
	case -ELOOP:
		return MHD_HTTP_NOT_FOUND;
	case -ENOTDIR:
		return is_put ? MHD_HTTP_CONFLICT : MHD_HTTP_NOT_FOUND;
	case -EISDIR:
	case -EEXIST:
		return is_put ? MHD_HTTP_CONFLICT : MHD_HTTP_NOT_FOUND;
	case -EACCES:
	case -EPERM:
	case -EROFS:
		return MHD_HTTP_FORBIDDEN;
	case -EDQUOT:
	case -ENOSPC:
		return MHD_HTTP_INSUFFICIENT_STORAGE;
	case -EFBIG:
		return MHD_HTTP_CONTENT_TOO_LARGE;
	case -EINVAL:
	case -EILSEQ:
	case -ENAMETOOLONG:
	case -EPROTO:
		return MHD_HTTP_BAD_REQUEST;
	case -EAGAIN:
		return MHD_HTTP_SERVICE_UNAVAILABLE;
	default:
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
}

static const char *ps_strerror(int rc)
{
	switch (rc) {
	case -EAGAIN:
		return "the file system is not mounted";
	case -EPROTO:
		return "body shorter or longer than Content-Length";
	case -EFBIG:
		return "object larger than the tenant's max_object_size";
	default:
		return strerror(-rc);
	}
}

static void ps_validators(struct MHD_Response *r, const struct stat *st)
{
	char etag[96], date[64];
	struct tm tm;

	snprintf(etag, sizeof(etag), "\"%llx-%llx-%llx\"", (unsigned long long)st->st_ino,
		 (unsigned long long)st->st_size,
		 (unsigned long long)st->st_mtim.tv_sec * 1000000000ull +
		 (unsigned long long)st->st_mtim.tv_nsec);
	MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, etag);
	if (gmtime_r(&st->st_mtime, &tm) &&
	    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm))
		MHD_add_response_header(r, MHD_HTTP_HEADER_LAST_MODIFIED, date);
}

/* Parses decimal digits at *s (saturating at UINT64_MAX); 0 if none. */
static int ps_digits(const char **s, uint64_t *v)
{
	const char *p = *s;

	*v = 0;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');

		*v = *v > (UINT64_MAX - d) / 10 ? UINT64_MAX : *v * 10 + d;
	}
	if (p == *s)
		return 0;
	*s = p;
	return 1;
}

/*
 * The single byte range a Range header asks of an object of size bytes:
 * 0 = the whole object (no header, or one to ignore: another unit, a
 * malformed spec, several ranges), 1 = [*off, *off + *len), -1 = not
 * satisfiable (416).
 */
static int ps_range(const char *h, uint64_t size, uint64_t *off, uint64_t *len)
{
	uint64_t a, b = UINT64_MAX;
	int has_b = 0;

	*off = 0;
	*len = size;
	if (!h)
		return 0;
	while (*h == ' ' || *h == '\t')
		h++;
	if (strncasecmp(h, "bytes=", 6) != 0 || strchr(h, ','))
		return 0;
	h += 6;
	while (*h == ' ' || *h == '\t')
		h++;
	if (*h == '-') {                 /* suffix: the last n bytes */
		h++;
		if (!ps_digits(&h, &a))
			return 0;
		while (*h == ' ' || *h == '\t')
			h++;
		if (*h)
			return 0;
		if (a == 0 || size == 0)
			return -1;
		*len = a < size ? a : size;
		*off = size - *len;
		return 1;
	}
	if (!ps_digits(&h, &a) || *h++ != '-')
		return 0;
	has_b = ps_digits(&h, &b);
	while (*h == ' ' || *h == '\t')
		h++;
	if (*h || (has_b && b < a))
		return 0;
	if (a >= size)
		return -1;
	if (!has_b || b >= size)
		b = size - 1;
	*off = a;
	*len = b - a + 1;
	return 1;
}

/* ---- the mount ---- */

/*
 * Opens, through the mount, the directory that holds the last segment of
 * rel in tenant t, one segment at a time without following symlinks;
 * with create, missing directories are made (0755).  rel is copied into
 * buf (bufsz bytes) and *leaf points at its last segment there.  Returns the
 * directory fd (caller closes) or a negative errno; -EAGAIN when the mount
 * point is not the FUSE mount.
 */
static int ps_walk(const struct objfs_presign_server *s, const struct objfs_tenant *t,
		   const char *rel, int create, char *buf, size_t bufsz, const char **leaf)
{
	struct statfs sf;
	char *seg, *slash;
	int dfd = -1, nfd, rc = 0;

	if (strlen(rel) >= bufsz)
		return -ENAMETOOLONG;
	strcpy(buf, rel);
	dfd = open(s->ctx->mountpoint, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return errno == ENOENT || errno == ENOTCONN ? -EAGAIN : -errno;
	if (fstatfs(dfd, &sf) < 0 || sf.f_type != PS_FUSE_MAGIC) {
		rc = -EAGAIN;
		goto out;
	}
	nfd = openat(dfd, t->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (nfd < 0) {
		rc = -errno;
		goto out;
	}
	close(dfd);
	dfd = nfd;
	for (seg = buf; (slash = strchr(seg, '/')); seg = slash + 1) {
		*slash = '\0';
		nfd = openat(dfd, seg, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (nfd < 0 && errno == ENOENT && create) {
			if (mkdirat(dfd, seg, 0755) < 0 && errno != EEXIST) {
				rc = -errno;
				goto out;
			}
			nfd = openat(dfd, seg, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (nfd < 0) {
			rc = errno == ELOOP ? -ENOTDIR : -errno;
			goto out;
		}
		close(dfd);
		dfd = nfd;
	}
	*leaf = seg;
out:
	if (rc < 0) {
		if (dfd >= 0)
			close(dfd);
		return rc;
	}
	return dfd;
}

/* Opens tenant t's regular file rel for reading; *st is its fstat.  Returns
 * the fd or a negative errno (-ENOENT for anything but a regular file). */
static int ps_open_read(const struct objfs_presign_server *s, const struct objfs_tenant *t,
			const char *rel, struct stat *st)
{
	char buf[OBJFS_KEY_MAX + 1];
	const char *leaf = NULL;
	int dfd, fd = -1, rc = 0;

	dfd = ps_walk(s, t, rel, 0, buf, sizeof(buf), &leaf);
	if (dfd < 0)
		return dfd;
	/* stat first: never open a FIFO or a device node a tenant may hold */
	if (fstatat(dfd, leaf, st, AT_SYMLINK_NOFOLLOW) < 0) {
		rc = -errno;
		goto out;
	}
	if (!S_ISREG(st->st_mode)) {
		rc = -ENOENT;
		goto out;
	}
	fd = openat(dfd, leaf, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
		rc = -ENOENT;
		goto out;
	}
out:
	close(dfd);
	if (rc < 0) {
		if (fd >= 0)
			close(fd);
		return rc;
	}
	return fd;
}

static int ps_pwrite_all(int fd, const char *p, size_t n, off_t off)
{
	while (n) {
		ssize_t w = pwrite(fd, p, n, off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == 0)
			return -EIO;
		p += w;
		n -= (size_t)w;
		off += w;
	}
	return 0;
}

/* Copies the staged body of pu into the mount (see the top comment);
 * etag (etagsz bytes) receives the ETag of the file written.  0 or a
 * negative errno. */
static int ps_commit(const struct objfs_presign_server *s, const struct ps_put *pu, char *etag,
		     size_t etagsz)
{
	char path[OBJFS_KEY_MAX + 1], *buf = NULL;
	const char *leaf = NULL;
	struct stat st;
	int dfd = -1, fd = -1, created = 0, rc;
	uint64_t off = 0;

	dfd = ps_walk(s, pu->t, pu->rel, 1, path, sizeof(path), &leaf);
	if (dfd < 0)
		return dfd;
	fd = openat(dfd, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd >= 0) {
		created = 1;
	} else if (errno == EEXIST) {
		if (fstatat(dfd, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			rc = -errno;
			goto out;
		}
		if (!S_ISREG(st.st_mode)) {
			rc = S_ISDIR(st.st_mode) ? -EISDIR : -EEXIST;
			goto out;
		}
		fd = openat(dfd, leaf, O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	}
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	/* the new size first: EDQUOT/EFBIG before any old byte changes */
	if (ftruncate(fd, (off_t)pu->got) < 0) {
		rc = -errno;
		goto out;
	}
	buf = malloc(PS_COPY_BUF);
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	while (off < pu->got) {
		size_t want = pu->got - off < PS_COPY_BUF ? (size_t)(pu->got - off) : PS_COPY_BUF;
		ssize_t n = pread(pu->tmpfd, buf, want, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			goto out;
		}
		rc = ps_pwrite_all(fd, buf, (size_t)n, (off_t)off);
		if (rc < 0)
			goto out;
		off += (uint64_t)n;
	}
	if (fsync(fd) < 0 || fstat(fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	snprintf(etag, etagsz, "\"%llx-%llx-%llx\"", (unsigned long long)st.st_ino,
		 (unsigned long long)st.st_size,
		 (unsigned long long)st.st_mtim.tv_sec * 1000000000ull +
		 (unsigned long long)st.st_mtim.tv_nsec);
	rc = close(fd) < 0 ? -errno : 0;   /* close commits the file to the journal */
	fd = -1;
out:
	if (fd >= 0)
		close(fd);
	if (rc < 0 && created && unlinkat(dfd, leaf, 0) < 0)
		log_warn("presign PUT: cannot remove the incomplete new file: %s", strerror(errno));
	if (rc < 0 && !created && off > 0)
		log_err("presign PUT: an existing object was partly overwritten before: %s",
			strerror(-rc));
	if (dfd >= 0)
		close(dfd);
	free(buf);
	return rc;
}

/* ---- requests ---- */

/* The tenant of listener l's provider that holds (bucket, key): bucket equal,
 * prefix a prefix of key, the longest such prefix; NULL if none. */
static struct objfs_tenant *ps_tenant(const struct ps_listener *l, const char *bucket,
				      const char *key)
{
	struct objfs_tenants *ts = &l->srv->ctx->tenants;
	struct objfs_tenant *best = NULL;
	size_t n = objfs_tenants_count(ts), bestlen = 0;

	for (size_t i = 0; i < n; i++) {
		struct objfs_tenant *t = &ts->v[i];
		size_t plen;

		if (__atomic_load_n(&t->removed, __ATOMIC_ACQUIRE) || t->prov != l->prov ||
		    !t->bucket || strcmp(t->bucket, bucket) != 0)
			continue;
		plen = strlen(t->prefix ? t->prefix : "");
		if (plen && strncmp(key, t->prefix, plen) != 0)
			continue;
		if (!best || plen > bestlen) {
			best = t;
			bestlen = plen;
		}
	}
	return best;
}

struct ps_args {
	const char *v[3];      /* raw values of the three X-Objfs-* parameters */
	int count[3];
};
static const char *const ps_arg_names[3] = {
	"X-Objfs-Method", "X-Objfs-Expires", "X-Objfs-Signature",
};

static enum MHD_Result ps_arg_iter(void *cls, enum MHD_ValueKind kind, const char *key,
				   const char *value)
{
	struct ps_args *a = cls;

	(void)kind;
	for (int i = 0; i < 3; i++)
		if (key && strcmp(key, ps_arg_names[i]) == 0) {
			a->count[i]++;
			a->v[i] = value;
		}
	return MHD_YES;
}

static enum MHD_Result ps_get(struct ps_listener *l, struct MHD_Connection *c,
			      const struct objfs_tenant *t, const char *rel, const char *logkey)
{
	struct MHD_Response *r = NULL;
	enum MHD_Result ret;
	struct stat st;
	uint64_t off, len;
	unsigned status;
	char cr[96];
	int fd, kind;

	fd = ps_open_read(l->srv, t, rel, &st);
	if (fd < 0) {
		log_debug("presign GET %s: %s", logkey, strerror(-fd));
		return ps_reply(c, ps_status(fd, 0), NULL, NULL, "%s", ps_strerror(fd));
	}
	kind = ps_range(MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_RANGE),
			(uint64_t)st.st_size, &off, &len);
	if (kind < 0) {
		close(fd);
		snprintf(cr, sizeof(cr), "bytes */%llu", (unsigned long long)st.st_size);
		return ps_reply(c, MHD_HTTP_RANGE_NOT_SATISFIABLE, MHD_HTTP_HEADER_CONTENT_RANGE,
				cr, "range not satisfiable");
	}
	if (len == 0) {
		close(fd);
		r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	} else {
		r = MHD_create_response_from_fd_at_offset64(len, fd, off);   /* owns fd */
		if (!r)
			close(fd);
	}
	if (!r)
		return MHD_NO;
	status = MHD_HTTP_OK;
	if (kind > 0) {
		status = MHD_HTTP_PARTIAL_CONTENT;
		snprintf(cr, sizeof(cr), "bytes %llu-%llu/%llu", (unsigned long long)off,
			 (unsigned long long)(off + len - 1), (unsigned long long)st.st_size);
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
	MHD_add_response_header(r, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
	ps_validators(r, &st);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	log_debug("presign GET %s: %u", logkey, status);
	return ret;
}

static void ps_put_audit(struct ps_put *pu, int rc)
{
	char detail[INET6_ADDRSTRLEN + 16];

	if (pu->audited)
		return;
	pu->audited = 1;
	snprintf(detail, sizeof(detail), "remote=%s", pu->remote);
	objfs_audit(0, 0, pu->t->name, "presign-put", pu->rel, NULL, rc, detail);
}

/* An unnamed temporary file in s->tmpdir (never visible, gone at close). */
static int ps_tmp_open(const struct objfs_presign_server *s)
{
	char path[PATH_MAX];
	int fd = open(s->tmpdir, O_TMPFILE | O_RDWR | O_EXCL | O_CLOEXEC, 0600);

	if (fd >= 0)
		return fd;
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
		return -errno;
	if ((size_t)snprintf(path, sizeof(path), "%s/put-XXXXXX", s->tmpdir) >= sizeof(path))
		return -ENAMETOOLONG;
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	unlink(path);
	return fd;
}

/* Removes staging files a crash left between mkostemp and unlink (only the
 * fallback of ps_tmp_open ever names them). */
static void ps_tmp_sweep(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, "put-", 4))
			unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
}

/* The tenant's allowed_types/denied_types for a PUT: the type of the name
 * (as a create through the mount decides it) and the Content-Type the
 * client sent, when it sent one, must both pass.  0, or -EACCES with the
 * reason in why. */
static int ps_type_check(struct MHD_Connection *c, const struct objfs_tenant_conf *tc,
			 const char *rel, char *why, size_t whylen)
{
	const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_TYPE);
	char base[128], tw[200];

	if (!tc->allowed_types && !tc->denied_types)
		return 0;
	if (!mimetype_policy(tc->allowed_types, tc->denied_types, objfs_content_type_for(rel),
			     tw, sizeof(tw))) {
		snprintf(why, whylen, "%s", tw);
		return -EACCES;
	}
	if (ct && ct[0]) {
		snprintf(base, sizeof(base), "%.*s", (int)strcspn(ct, "; \t"), ct);
		if (!mimetype_policy(tc->allowed_types, tc->denied_types, base, tw, sizeof(tw))) {
			snprintf(why, whylen, "%s", tw);
			return -EACCES;
		}
	}
	return 0;
}

/* The first call of a PUT: refuse at once what can be refused before the
 * body, else set up the staging file in *con_cls. */
static enum MHD_Result ps_put_begin(struct ps_listener *l, struct MHD_Connection *c,
				    struct objfs_tenant *t, const char *rel, void **con_cls)
{
	const struct objfs_tenant_conf *tc = __atomic_load_n(&t->conf, __ATOMIC_ACQUIRE);
	const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_LENGTH);
	struct ps_put *pu = calloc(1, sizeof(*pu));
	char why[256] = "";
	unsigned status;
	int rc = 0;

	if (!pu)
		return MHD_NO;
	pu->l = l;
	pu->t = t;
	pu->tmpfd = -1;
	pu->expect = UINT64_MAX;
	pu->limit = tc->max_object_size;
	snprintf(pu->rel, sizeof(pu->rel), "%s", rel);
	ps_remote(c, pu->remote, sizeof(pu->remote));
	if (cl) {
		const char *p = cl;

		if (!ps_digits(&p, &pu->expect) || *p || pu->expect == UINT64_MAX)
			rc = -EINVAL;
	}
	if (rc == 0 && tc->read_only)
		rc = -EROFS;
	if (rc == 0 && rel[0] == '\0')
		rc = -EISDIR;
	if (rc == 0 && pu->limit && pu->expect != UINT64_MAX && pu->expect > pu->limit)
		rc = -EFBIG;
	if (rc == 0)
		rc = ps_type_check(c, tc, rel, why, sizeof(why));
	if (rc == 0) {
		pu->tmpfd = ps_tmp_open(l->srv);
		if (pu->tmpfd < 0) {
			log_err("presign PUT: cannot create a staging file in %s: %s",
				l->srv->tmpdir, strerror(-pu->tmpfd));
			rc = pu->tmpfd == -ENOSPC || pu->tmpfd == -EDQUOT ? pu->tmpfd : -EIO;
		}
	}
	if (rc < 0) {
		enum MHD_Result ret;

		ps_put_audit(pu, rc);
		status = rc == -EINVAL ? MHD_HTTP_BAD_REQUEST : ps_status(rc, 1);
		log_info("presign PUT %s/%s refused: %s", t->name, rel, why[0] ? why : ps_strerror(rc));
		ret = ps_reply(c, status, NULL, NULL, "%s",
			       why[0] ? why :
			       rc == -EROFS ? "the tenant is read-only" :
			       rc == -EINVAL ? "bad Content-Length" : ps_strerror(rc));
		if (pu->tmpfd >= 0)
			close(pu->tmpfd);
		free(pu);
		return ret;
	}
	*con_cls = pu;
	return MHD_YES;
}

/* The later calls of a PUT: body bytes, then (size 0) the end. */
static enum MHD_Result ps_put_data(struct MHD_Connection *c, struct ps_put *pu,
				   const char *data, size_t *size)
{
	char etag[96];
	int rc;

	if (*size) {
		size_t n = *size;

		*size = 0;
		if (pu->rc == 0 && pu->limit && pu->got + n > pu->limit)
			pu->rc = -EFBIG;
		if (pu->rc == 0) {
			pu->rc = ps_pwrite_all(pu->tmpfd, data, n, (off_t)pu->got);
			if (pu->rc == 0)
				pu->got += n;
		}
		if (pu->rc < 0) {
			/* keep reading to answer; a client that keeps sending is cut off */
			pu->discarded += n;
			if (pu->discarded > PS_DISCARD_MAX)
				return MHD_NO;
		}
		return MHD_YES;
	}
	rc = pu->rc;
	if (rc == 0 && pu->expect != UINT64_MAX && pu->got != pu->expect)
		rc = -EPROTO;
	if (rc == 0)
		rc = ps_commit(pu->l->srv, pu, etag, sizeof(etag));
	ps_put_audit(pu, rc);
	if (rc < 0) {
		log_info("presign PUT %s/%s failed: %s", pu->t->name, pu->rel, ps_strerror(rc));
		return ps_reply(c, ps_status(rc, 1), NULL, NULL, "%s", ps_strerror(rc));
	}
	log_info("presign PUT %s/%s: %llu bytes from %s", pu->t->name, pu->rel,
		 (unsigned long long)pu->got, pu->remote);
	return ps_reply(c, MHD_HTTP_OK, MHD_HTTP_HEADER_ETAG, etag, "ok");
}

static enum MHD_Result ps_handle(void *cls, struct MHD_Connection *c, const char *url,
				 const char *method, const char *version,
				 const char *upload_data, size_t *upload_data_size,
				 void **con_cls)
{
	struct ps_listener *l = cls;
	char path[PS_PATH_MAX + 1], tpath[OBJFS_KEY_MAX + 2 + OBJFS_NAME_MAX + 2];
	char smethod[PS_ARG_MAX], expires[PS_ARG_MAX], sig[PS_ARG_MAX], logkey[256];
	char *vals[3] = { smethod, expires, sig };
	struct ps_args a;
	struct objfs_tenant *t;
	struct objfs_path *pp = NULL;
	struct objfs_err err;
	const char *bucket, *key, *rel;
	char *slash;
	enum MHD_Result ret;
	int rc, is_get, is_put;

	(void)version;
	if (*con_cls)
		return ps_put_data(c, *con_cls, upload_data, upload_data_size);
	is_get = !strcmp(method, MHD_HTTP_METHOD_GET) || !strcmp(method, MHD_HTTP_METHOD_HEAD);
	is_put = !strcmp(method, MHD_HTTP_METHOD_PUT);

	/* 1. /BUCKET/KEY, decoded once */
	rc = url[0] == '/' ? ps_pct_decode(url + 1, path, sizeof(path)) : -EINVAL;
	if (rc == -ENAMETOOLONG)
		return ps_reply(c, MHD_HTTP_BAD_REQUEST, NULL, NULL, "key longer than %d bytes",
				OBJFS_KEY_MAX);
	if (rc < 0) {
		log_debug("presign %s: refused a malformed path (%s)", method, strerror(-rc));
		return ps_reply(c, MHD_HTTP_BAD_REQUEST, NULL, NULL, "malformed path: %s",
				rc == -EILSEQ ? "invalid UTF-8" : "bad percent-encoding or NUL");
	}
	slash = strchr(path, '/');
	if (!slash || slash == path || !slash[1])
		return ps_reply(c, MHD_HTTP_BAD_REQUEST, NULL, NULL, "expected /BUCKET/KEY");
	*slash = '\0';
	bucket = path;
	key = slash + 1;
	if (strlen(key) > OBJFS_KEY_MAX)
		return ps_reply(c, MHD_HTTP_BAD_REQUEST, NULL, NULL, "key longer than %d bytes",
				OBJFS_KEY_MAX);
	snprintf(tpath, sizeof(tpath), "%.100s/%.1024s", bucket, key);
	objfs_log_safe(tpath, logkey, sizeof(logkey));

	/* 2. the signed method, expiry and signature, each exactly once */
	memset(&a, 0, sizeof(a));
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, ps_arg_iter, &a);
	for (int i = 0; i < 3; i++)
		if (a.count[i] != 1 || !a.v[i] || ps_pct_decode(a.v[i], vals[i], PS_ARG_MAX) < 0) {
			log_debug("presign %s %s: refused: %s missing, repeated or malformed",
				  method, logkey, ps_arg_names[i]);
			return ps_reply(c, MHD_HTTP_FORBIDDEN, NULL, NULL,
					"%s missing, repeated or malformed", ps_arg_names[i]);
		}
	if (!(is_get && !strcmp(smethod, "GET")) && !(is_put && !strcmp(smethod, "PUT"))) {
		log_debug("presign %s %s: refused: URL signed for another method", method,
			  logkey);
		return ps_reply(c, MHD_HTTP_FORBIDDEN, NULL, NULL,
				"this URL is not signed for %s", method);
	}
	rc = objfs_prov_presign_check(l->prov, smethod, bucket, key, expires, sig, &err);
	if (rc < 0) {
		log_debug("presign %s %s: refused: %s", method, logkey,
			  rc == -EKEYEXPIRED ? "expired" : "bad signature");
		return ps_reply(c, MHD_HTTP_FORBIDDEN, NULL, NULL, "%s",
				rc == -EKEYEXPIRED ? "the URL has expired" :
				"signature does not match");
	}

	/* 3. the tenant, and the mount's isolation rules on its relative path */
	t = ps_tenant(l, bucket, key);
	if (!t) {
		log_info("presign %s %s: signed, but outside every tenant", method, logkey);
		return ps_reply(c, MHD_HTTP_FORBIDDEN, NULL, NULL, "key outside every tenant");
	}
	rel = key + strlen(t->prefix ? t->prefix : "");
	if ((size_t)snprintf(tpath, sizeof(tpath), "/%s/%s", t->name, rel) >= sizeof(tpath))
		return ps_reply(c, MHD_HTTP_BAD_REQUEST, NULL, NULL, "key too long");
	pp = malloc(sizeof(*pp));
	if (!pp)
		return MHD_NO;
	rc = rel[0] ? objfs_path_parse(&l->srv->ctx->tenants, tpath, pp) : 0;
	if (rc == 0 && rel[0] && pp->tenant != t)
		rc = -EACCES;
	if (rc < 0) {
		log_info("presign %s %s: refused by the tenant's path rules: %s", method,
			 logkey, strerror(-rc));
		ret = ps_reply(c, rc == -ENAMETOOLONG || rc == -EILSEQ ? MHD_HTTP_BAD_REQUEST :
			       MHD_HTTP_FORBIDDEN, NULL, NULL, "key not allowed: %s",
			       strerror(-rc));
		goto out;
	}

	/* 4. serve through the mount */
	if (is_put)
		ret = ps_put_begin(l, c, t, rel[0] ? pp->rel : "", con_cls);
	else if (!rel[0])
		ret = ps_reply(c, MHD_HTTP_NOT_FOUND, NULL, NULL, "%s", strerror(ENOENT));
	else
		ret = ps_get(l, c, t, pp->rel, logkey);
out:
	free(pp);
	return ret;
}

/* A request ended (answered, or the client went away): a PUT's staging file
 * goes with it. */
static void ps_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct ps_put *pu = *con_cls;

	(void)cls;
	(void)c;
	if (!pu)
		return;
	if (!pu->audited) {
		log_info("presign PUT %s/%s: aborted after %llu bytes (code %d); nothing written",
			 pu->t->name, pu->rel, (unsigned long long)pu->got, (int)toe);
		ps_put_audit(pu, pu->rc ? pu->rc : -ECONNABORTED);
	}
	if (pu->tmpfd >= 0)
		close(pu->tmpfd);
	free(pu);
	*con_cls = NULL;
}

/* ---- start and stop ---- */

/* HOST:PORT or [V6]:PORT into *ss; 0 or -EINVAL. */
static int ps_addr_parse(const char *s, struct sockaddr_storage *ss, socklen_t *sslen,
			 uint16_t *port)
{
	struct addrinfo hints, *res = NULL;
	const char *colon = strrchr(s, ':');
	char host[256];
	size_t hl;
	int rc = -EINVAL;

	if (!colon || colon == s || !colon[1])
		return -EINVAL;
	hl = (size_t)(colon - s);
	if (s[0] == '[') {
		if (hl < 3 || s[hl - 1] != ']')
			return -EINVAL;
		s++;
		hl -= 2;
	}
	if (hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, hl);
	host[hl] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
	if (getaddrinfo(host, colon + 1, &hints, &res) != 0 || !res)
		goto out;
	if (res->ai_addrlen > sizeof(*ss))
		goto out;
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*sslen = res->ai_addrlen;
	*port = ntohs(res->ai_family == AF_INET6 ?
		      ((struct sockaddr_in6 *)(void *)ss)->sin6_port :
		      ((struct sockaddr_in *)(void *)ss)->sin_port);
	rc = *port ? 0 : -EINVAL;
out:
	if (res)
		freeaddrinfo(res);
	return rc;
}

/* Binds a throw-away socket to the address, so that a failure is reported
 * with its errno (libmicrohttpd only says it failed). 0 or a negative errno. */
static int ps_probe_bind(const struct sockaddr_storage *ss, socklen_t sslen)
{
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, rc = 0;

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss->ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)ss, sslen) < 0 || listen(fd, 1) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

static int ps_listen(struct ps_listener *l, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sslen = 0;
	uint16_t port = 0;
	unsigned flags;
	int rc;

	rc = ps_addr_parse(l->addr, &ss, &sslen, &port);
	if (rc < 0) {
		snprintf(err, errlen, "provider %s: listen %s: not HOST:PORT or [V6]:PORT",
			 l->prov->name, l->addr);
		return rc;
	}
	rc = ps_probe_bind(&ss, sslen);
	if (rc < 0) {
		snprintf(err, errlen, "provider %s: cannot listen on %s for presigned URLs: %s",
			 l->prov->name, l->addr, strerror(-rc));
		return rc;
	}
	flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL |
		MHD_USE_ERROR_LOG | (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);
	l->mhd = MHD_start_daemon(flags, port, NULL, NULL, ps_handle, l,
				  MHD_OPTION_EXTERNAL_LOGGER, ps_mhd_log, l,   /* first, so it gets all */
				  MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned)PS_CONN_LIMIT,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)PS_TIMEOUT_S,
				  MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)PS_MEM_LIMIT,
				  MHD_OPTION_NOTIFY_COMPLETED, ps_completed, l,
				  MHD_OPTION_UNESCAPE_CALLBACK, ps_unescape, NULL,
				  MHD_OPTION_END);
	if (!l->mhd) {
		snprintf(err, errlen, "provider %s: cannot listen on %s for presigned URLs"
			 " (the HTTP server did not start)", l->prov->name, l->addr);
		return -EIO;
	}
	log_info("presigned URLs of provider %s served on %s", l->prov->name, l->addr);
	return 0;
}

void objfs_presign_server_stop(struct objfs_presign_server *ps)
{
	if (!ps)
		return;
	for (size_t i = 0; i < ps->n; i++) {
		if (ps->v[i].mhd)
			MHD_stop_daemon(ps->v[i].mhd);
		free(ps->v[i].addr);
	}
	free(ps->v);
	free(ps->tmpdir);
	free(ps);
}

int objfs_presign_server_start(struct objfs_ctx *ctx, struct objfs_presign_server **out,
			       char *err, size_t errlen)
{
	struct objfs_presign_server *s = NULL;
	size_t nt = objfs_tenants_count(&ctx->tenants);
	int rc = 0;

	*out = NULL;
	if (errlen)
		err[0] = '\0';
	s = calloc(1, sizeof(*s));
	if (!s || !(s->v = calloc(nt ? nt : 1, sizeof(*s->v)))) {
		rc = -ENOMEM;
		snprintf(err, errlen, "presigned URLs: out of memory");
		goto out;
	}
	s->ctx = ctx;
	for (size_t i = 0; i < nt; i++) {
		struct objfs_prov *p = ctx->tenants.v[i].prov;
		const struct objfs_provider_section *sec;
		size_t j;

		if (!p || strcmp(p->ops->type, "local") != 0)
			continue;
		for (j = 0; j < s->n && s->v[j].prov != p; j++)
			;
		if (j < s->n)
			continue;
		sec = objfs_config_provider(ctx->cfg, p->name);
		s->v[s->n].srv = s;
		s->v[s->n].prov = p;
		s->v[s->n].addr = strdup(sec && sec->conf.listen && sec->conf.listen[0] ?
					 sec->conf.listen : OBJFS_LOCAL_DEFAULT_LISTEN);
		if (!s->v[s->n++].addr) {
			rc = -ENOMEM;
			snprintf(err, errlen, "presigned URLs: out of memory");
			goto out;
		}
	}
	if (s->n == 0)
		goto out;                /* no local provider: nothing to serve */
	if (!ctx->mountpoint || ctx->mountpoint[0] != '/' || !ctx->cfg->cache_dir) {
		rc = -EINVAL;
		snprintf(err, errlen, "presigned URLs: the mount point must be an absolute path");
		goto out;
	}
	if (asprintf(&s->tmpdir, "%s/%s", ctx->cfg->cache_dir, PS_TMP_DIR) < 0) {
		s->tmpdir = NULL;
		rc = -ENOMEM;
		snprintf(err, errlen, "presigned URLs: out of memory");
		goto out;
	}
	if (mkdir(s->tmpdir, 0700) < 0 && errno != EEXIST) {
		rc = -errno;
		snprintf(err, errlen, "presigned URLs: cannot create %s: %s", s->tmpdir,
			 strerror(errno));
		goto out;
	}
	ps_tmp_sweep(s->tmpdir);
	for (size_t i = 0; i < s->n; i++) {
		rc = ps_listen(&s->v[i], err, errlen);
		if (rc < 0)
			goto out;
	}
out:
	if (rc == 0 && s && s->n) {
		*out = s;
		s = NULL;
	}
	objfs_presign_server_stop(s);
	return rc;
}
