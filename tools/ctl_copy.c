/*
 * The per-object copy engine shared by objfs-ctl migrate and backup, and
 * their common helpers (see ctl_copy.h for the contracts).
 */
#include <errno.h>
#include <getopt.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "ctl_copy.h"
#include "log.h"
#include "strutil.h"

#define CC_MAX_PARTS 10000

/* ---- hashing ------------------------------------------------------------ */

struct cc_hash {
	EVP_MD_CTX *sha, *md5;
};

static int hash_init(struct cc_hash *h)
{
	h->sha = EVP_MD_CTX_new();
	h->md5 = EVP_MD_CTX_new();
	if (!h->sha || !h->md5 || !EVP_DigestInit_ex(h->sha, EVP_sha256(), NULL) ||
	    !EVP_DigestInit_ex(h->md5, EVP_md5(), NULL))
		return -ENOMEM;
	return 0;
}

static void hash_free(struct cc_hash *h)
{
	EVP_MD_CTX_free(h->sha);
	EVP_MD_CTX_free(h->md5);
}

static void hex(const unsigned char *b, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[b[i] >> 4];
		out[2 * i + 1] = d[b[i] & 15];
	}
	out[2 * n] = '\0';
}

/* Final digests as lower-case hex (sha: 65 bytes, md5: 33 bytes or NULL). */
static void hash_final(struct cc_hash *h, char *sha, char *md5)
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned n = 0;

	EVP_DigestFinal_ex(h->sha, d, &n);
	hex(d, n, sha);
	if (md5) {
		EVP_DigestFinal_ex(h->md5, d, &n);
		hex(d, n, md5);
	}
}

/* ---- small helpers ------------------------------------------------------ */

int ctl_copy_transient(int rc)
{
	return rc == -EIO || rc == -ESTALE || rc == -EAGAIN || rc == -ETIMEDOUT ||
	       rc == -ECONNRESET || rc == -ECONNREFUSED;
}

int ctl_etag_plain(const char *etag)
{
	return strlen(etag) == 32 && strspn(etag, "0123456789abcdefABCDEF") == 32;
}

const char *ctl_ctype_or_default(const char *ct)
{
	return ct && *ct ? ct : "application/octet-stream";
}

int ctl_same_meta(const struct objfs_objinfo *a, const struct objfs_objinfo *b)
{
	if (a->nmeta != b->nmeta)
		return 0;
	for (size_t i = 0; i < a->nmeta; i++) {
		size_t j;

		for (j = 0; j < b->nmeta; j++)
			if (!strcasecmp(a->meta[i].key, b->meta[j].key))
				break;
		if (j == b->nmeta || strcmp(a->meta[i].value, b->meta[j].value))
			return 0;
	}
	return 1;
}

const char *ctl_emsg(const struct objfs_err *err, int rc)
{
	return err->msg[0] ? err->msg : strerror(-rc);
}

/* ---- the copier --------------------------------------------------------- */

int ctl_copier_init(struct ctl_copier *c)
{
	c->spool_fd = -1;
	c->buf = malloc(CTL_COPY_CHUNK);
	return c->buf ? 0 : -ENOMEM;
}

void ctl_copier_free(struct ctl_copier *c)
{
	free(c->buf);
	c->buf = NULL;
	if (c->spool_fd >= 0)
		close(c->spool_fd);
	c->spool_fd = -1;
}

/* Reads [off, off+len) of the source into buf (len <= CTL_COPY_CHUNK), hashing it. */
static int read_src(struct ctl_copier *c, const struct objfs_objinfo *oi, uint64_t off,
		    uint64_t len, unsigned char *buf, struct cc_hash *h, char *why, size_t n)
{
	struct objfs_err err;
	uint64_t done = 0, got;
	int rc;

	while (done < len) {
		got = 0;
		rc = objfs_prov_get(c->src, c->src_bucket, oi->key, off + done, len - done, oi->etag,
				    buf + done, &got, &err);
		if (rc) {
			snprintf(why, n, "read at %llu: %s", (unsigned long long)(off + done),
				 rc == -ESTALE ? "the source object changed during the copy" :
				 ctl_emsg(&err, rc));
			return rc;
		}
		if (got == 0) {
			snprintf(why, n, "the source object ends at %llu, before its size %llu",
				 (unsigned long long)(off + done), (unsigned long long)oi->size);
			return -EIO;
		}
		done += got;
	}
	EVP_DigestUpdate(h->sha, buf, len);
	EVP_DigestUpdate(h->md5, buf, len);
	return 0;
}

static int spool_open(struct ctl_copier *c)
{
	char path[PATH_MAX];

	if (c->spool_fd >= 0)
		return ftruncate(c->spool_fd, 0) ? -errno : 0;
	c->spool_fd = open(c->spool_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (c->spool_fd >= 0)
		return 0;
	if ((size_t)snprintf(path, sizeof(path), "%s/copy-spool.XXXXXX", c->spool_dir) >=
	    sizeof(path))
		return -ENAMETOOLONG;
	c->spool_fd = mkstemp(path);
	if (c->spool_fd < 0)
		return -errno;
	unlink(path);
	return 0;
}

/* Copies [off, off+len) of the source into the spool file from offset 0. */
static int spool_range(struct ctl_copier *c, const struct objfs_objinfo *oi, uint64_t off,
		       uint64_t len, struct cc_hash *h, char *why, size_t n)
{
	int rc = spool_open(c);

	if (rc) {
		snprintf(why, n, "spool file in %s: %s", c->spool_dir, strerror(-rc));
		return rc;
	}
	for (uint64_t done = 0; done < len;) {
		uint64_t chunk = len - done < CTL_COPY_CHUNK ? len - done : CTL_COPY_CHUNK;
		const unsigned char *p = c->buf;
		size_t left = (size_t)chunk;
		off_t at = (off_t)done;

		if ((rc = read_src(c, oi, off + done, chunk, c->buf, h, why, n)))
			return rc;
		while (left) {
			ssize_t wr = pwrite(c->spool_fd, p, left, at);

			if (wr < 0 && errno == EINTR)
				continue;
			if (wr <= 0) {
				rc = wr < 0 ? -errno : -EIO;
				snprintf(why, n, "spool file in %s: %s", c->spool_dir, strerror(-rc));
				return rc;
			}
			p += wr;
			left -= (size_t)wr;
			at += wr;
		}
		done += chunk;
	}
	return 0;
}

/* A body of len bytes read from the source at off: from memory when it fits
 * one chunk, else through the spool file. */
static int load_body(struct ctl_copier *c, const struct objfs_objinfo *oi, uint64_t off,
		     uint64_t len, struct cc_hash *h, struct objfs_seg *seg, char *why, size_t n)
{
	int rc;

	memset(seg, 0, sizeof(*seg));
	seg->len = len;
	if (len <= CTL_COPY_CHUNK) {
		seg->fd = -1;
		seg->buf = c->buf;
		return read_src(c, oi, off, len, c->buf, h, why, n);
	}
	if ((rc = spool_range(c, oi, off, len, h, why, n)))
		return rc;
	seg->fd = c->spool_fd;
	seg->off = 0;
	return 0;
}

static int put_whole(struct ctl_copier *c, const struct objfs_objinfo *oi, const char *dkey,
		     const struct objfs_putopts *po, struct cc_hash *h, char *why, size_t n)
{
	struct objfs_source src = { NULL, 0, 0 };
	struct objfs_seg seg;
	struct objfs_err err;
	int rc;

	if (oi->size) {
		if ((rc = load_body(c, oi, 0, oi->size, h, &seg, why, n)))
			return rc;
		src.segs = &seg;
		src.nsegs = 1;
		src.size = oi->size;
	}
	rc = objfs_prov_put(c->dst, c->dst_bucket, dkey, &src, po, NULL, &err);
	if (rc)
		snprintf(why, n, "put: %s", ctl_emsg(&err, rc));
	return rc;
}

static int put_multipart(struct ctl_copier *c, const struct objfs_objinfo *oi, const char *dkey,
			 const struct objfs_putopts *po, struct cc_hash *h, char *why, size_t n)
{
	uint64_t psize = CTL_COPY_CHUNK, off;
	struct objfs_part *parts = NULL;
	struct objfs_err err;
	char *id = NULL;
	size_t nparts, i;
	int rc;

	/* parts of CTL_COPY_CHUNK, or larger (whole MiB) so that 10000 parts cover it */
	if ((oi->size + psize - 1) / psize > CC_MAX_PARTS)
		psize = (((oi->size + CC_MAX_PARTS - 1) / CC_MAX_PARTS) + (1u << 20) - 1) &
			~((uint64_t)(1u << 20) - 1);
	nparts = (size_t)((oi->size + psize - 1) / psize);
	if (!(parts = calloc(nparts, sizeof(*parts)))) {
		snprintf(why, n, "out of memory");
		return -ENOMEM;
	}
	rc = objfs_prov_mpu_create(c->dst, c->dst_bucket, dkey, po, &id, &err);
	if (rc) {
		snprintf(why, n, "multipart create: %s", ctl_emsg(&err, rc));
		goto out;
	}
	if (c->mpu_begin)
		c->mpu_begin(c->hook_arg, dkey, id);
	for (i = 0, off = 0; i < nparts; i++, off += psize) {
		uint64_t len = oi->size - off < psize ? oi->size - off : psize;
		struct objfs_source src;
		struct objfs_seg seg;

		if (c->stop && *c->stop) {
			rc = -EINTR;
			snprintf(why, n, "stopped");
			goto abort;
		}
		if ((rc = load_body(c, oi, off, len, h, &seg, why, n)))
			goto abort;
		src.segs = &seg;
		src.nsegs = 1;
		src.size = len;
		parts[i].number = (int)i + 1;
		parts[i].size = len;
		rc = objfs_prov_mpu_upload_part(c->dst, c->dst_bucket, dkey, id, (int)i + 1, off,
						&src, parts[i].etag, &err);
		if (rc) {
			snprintf(why, n, "part %zu: %s", i + 1, ctl_emsg(&err, rc));
			goto abort;
		}
	}
	rc = objfs_prov_mpu_complete(c->dst, c->dst_bucket, dkey, id, parts, nparts, NULL, &err);
	if (rc) {
		snprintf(why, n, "multipart complete: %s", ctl_emsg(&err, rc));
		goto abort;
	}
	goto ended;
abort:
	objfs_prov_mpu_abort(c->dst, c->dst_bucket, dkey, id, &err);
ended:
	if (c->mpu_end)
		c->mpu_end(c->hook_arg, dkey);
out:
	free(id);
	free(parts);
	return rc;
}

/* Writes len bytes of buf to fd (EINTR retried). 0 or a negative errno. */
static int write_all(int fd, const unsigned char *buf, size_t len)
{
	while (len) {
		ssize_t w = write(fd, buf, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

int ctl_copy_to_fd(struct ctl_copier *c, struct objfs_prov *p, const char *bucket,
		   const char *key, const char *etag, uint64_t size, int fd, char *sha,
		   const char *what, char *why, size_t n)
{
	struct cc_hash h = { NULL, NULL };
	struct objfs_err err;
	int rc = hash_init(&h);

	if (rc) {
		snprintf(why, n, "out of memory");
		goto out;
	}
	for (uint64_t off = 0; off < size;) {
		uint64_t len = size - off < CTL_COPY_CHUNK ? size - off : CTL_COPY_CHUNK, got = 0;

		err.msg[0] = '\0';
		rc = objfs_prov_get(p, bucket, key, off, len, etag && *etag ? etag : NULL, c->buf,
				    &got, &err);
		if (rc || got == 0) {
			rc = rc ? rc : -EIO;
			snprintf(why, n, "%s at %llu: %s", what, (unsigned long long)off,
				 err.msg[0] ? err.msg : rc == -EIO ? "shorter than its size" :
				 strerror(-rc));
			goto out;
		}
		EVP_DigestUpdate(h.sha, c->buf, got);
		if (fd >= 0 && (rc = write_all(fd, c->buf, (size_t)got))) {
			snprintf(why, n, "%s: writing at %llu: %s", what, (unsigned long long)off,
				 strerror(-rc));
			goto out;
		}
		off += got;
	}
	hash_final(&h, sha, NULL);
out:
	hash_free(&h);
	return rc;
}

int ctl_copy_hash_object(struct ctl_copier *c, struct objfs_prov *p, const char *bucket,
			 const char *key, const char *etag, uint64_t size, char *sha,
			 const char *what, char *why, size_t n)
{
	return ctl_copy_to_fd(c, p, bucket, key, etag, size, -1, sha, what, why, n);
}

int ctl_hash_fd(struct ctl_copier *c, int fd, char *sha, uint64_t *size)
{
	struct cc_hash h = { NULL, NULL };
	uint64_t total = 0;
	int rc = hash_init(&h);

	if (rc)
		goto out;
	for (;;) {
		ssize_t r = pread(fd, c->buf, CTL_COPY_CHUNK, (off_t)total);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			goto out;
		}
		if (r == 0)
			break;
		EVP_DigestUpdate(h.sha, c->buf, (size_t)r);
		total += (uint64_t)r;
	}
	hash_final(&h, sha, NULL);
	if (size)
		*size = total;
out:
	hash_free(&h);
	return rc;
}

/* Verifies dkey on the target against size, the MD5 (may be NULL) and
 * SHA-256 of what was sent; deletes it when it does not match. */
static int verify(struct ctl_copier *c, const char *dkey, uint64_t size, const char *md5,
		  const char *sha, char *why, size_t n)
{
	struct objfs_objinfo d;
	struct objfs_err err;
	char back[CTL_SHA256_HEX];
	int rc;

	memset(&d, 0, sizeof(d));
	rc = objfs_prov_head(c->dst, c->dst_bucket, dkey, &d, &err);
	if (rc) {
		snprintf(why, n, "verify: head of the copy: %s", ctl_emsg(&err, rc));
		goto out;
	}
	if (d.size != size) {
		snprintf(why, n, "verify: the copy has %llu bytes, the source %llu",
			 (unsigned long long)d.size, (unsigned long long)size);
		rc = -EIO;
	} else if (c->dst_s3 && md5 && ctl_etag_plain(d.etag) && !strcasecmp(d.etag, md5)) {
		rc = 0;        /* the store's MD5 of what it holds is the MD5 of what we read */
	} else {
		/* no MD5 ETag to compare (multipart, local, SSE-KMS): read it back */
		rc = ctl_copy_hash_object(c, c->dst, c->dst_bucket, dkey, d.etag, d.size, back,
					  "verify: reading the copy back", why, n);
		if (!rc && strcmp(back, sha)) {
			snprintf(why, n, "verify: the copy's SHA-256 %.16s... differs from the"
				 " source's %.16s...", back, sha);
			rc = -EIO;
		}
	}
	if (rc) {
		/* never leave a bad copy that a later run could take for a good one */
		objfs_prov_del(c->dst, c->dst_bucket, dkey, &err);
	}
out:
	objfs_objinfo_clear(&d);
	return rc;
}

int ctl_copy_stream(struct ctl_copier *c, const struct objfs_objinfo *oi, const char *dkey,
		    const struct objfs_putopts *po, char *sha, char *why, size_t n)
{
	struct cc_hash h = { NULL, NULL };
	char s[CTL_SHA256_HEX], md5[2 * EVP_MAX_MD_SIZE + 1];
	int rc;

	if ((rc = hash_init(&h))) {
		snprintf(why, n, "out of memory");
		goto out;
	}
	if (oi->size > CTL_COPY_MPU_THRESHOLD)
		rc = put_multipart(c, oi, dkey, po, &h, why, n);
	else
		rc = put_whole(c, oi, dkey, po, &h, why, n);
	if (rc)
		goto out;
	hash_final(&h, s, md5);
	rc = verify(c, dkey, oi->size, md5, s, why, n);
	if (!rc && sha)
		memcpy(sha, s, CTL_SHA256_HEX);
out:
	hash_free(&h);
	return rc;
}

int ctl_copy_server_side(struct ctl_copier *c, const struct objfs_objinfo *oi, const char *dkey,
			 const struct objfs_putopts *po, char *sha, char *why, size_t n)
{
	struct objfs_putopts o = *po;
	struct objfs_objinfo d;
	struct objfs_err err;
	char etag[OBJFS_ETAG_MAX];
	int rc;

	memset(&d, 0, sizeof(d));
	o.if_match = oi->etag[0] ? oi->etag : NULL;
	etag[0] = '\0';
	rc = objfs_prov_copy(c->src, c->src_bucket, oi->key, dkey, &o, etag, &err);
	if (rc) {
		snprintf(why, n, "server-side copy: %s", rc == -ESTALE ?
			 "the source object changed during the copy" : ctl_emsg(&err, rc));
		return rc;
	}
	rc = objfs_prov_head(c->src, c->src_bucket, dkey, &d, &err);
	if (rc) {
		snprintf(why, n, "verify: head of the copy: %s", ctl_emsg(&err, rc));
		goto out;
	}
	if (d.size != oi->size) {
		snprintf(why, n, "verify: the copy has %llu bytes, the source %llu",
			 (unsigned long long)d.size, (unsigned long long)oi->size);
		rc = -EIO;
	} else if (c->dst_s3 && ctl_etag_plain(oi->etag) && ctl_etag_plain(d.etag) &&
		   strcasecmp(oi->etag, d.etag)) {
		snprintf(why, n, "verify: the copy's ETag %s differs from the source's %s", d.etag,
			 oi->etag);
		rc = -EIO;
	} else {
		rc = ctl_copy_hash_object(c, c->src, c->src_bucket, dkey, d.etag, d.size, sha,
					  "verify: reading the copy back", why, n);
	}
	if (rc)
		objfs_prov_del(c->src, c->src_bucket, dkey, &err);
out:
	objfs_objinfo_clear(&d);
	return rc;
}

/* ---- command helpers ---------------------------------------------------- */

volatile sig_atomic_t ctl_signalled;

static void on_signal(int sig)
{
	(void)sig;
	ctl_signalled = 1;
}

void ctl_signals_catch(struct sigaction *old_int, struct sigaction *old_term)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, old_int);
	sigaction(SIGTERM, &sa, old_term);
}

void ctl_signals_restore(const struct sigaction *old_int, const struct sigaction *old_term)
{
	sigaction(SIGINT, old_int, NULL);
	sigaction(SIGTERM, old_term, NULL);
}

int ctl_getopt(int argc, char **argv, const struct option *opts, void (*usage)(FILE *f),
	       int *status)
{
	int opt = getopt_long(argc, argv, "+", opts, NULL);

	if (opt == 'h') {
		usage(stdout);
		*status = 0;
		return -1;
	}
	if (opt == '?') {
		usage(stderr);
		*status = 2;
		return -1;
	}
	return opt;
}

int ctl_retry(int attempts, int (*one)(void *arg, char *why, size_t n),
	      void (*changed)(void *arg), void *arg, char *why, size_t n)
{
	int rc = 0;

	for (int a = 0; a < attempts; a++) {
		why[0] = '\0';
		rc = one(arg, why, n);
		if (!rc || !ctl_copy_transient(rc) || ctl_signalled)
			break;
		if (rc == -ESTALE)
			changed(arg);   /* changed meanwhile: head it again */
		sleep((unsigned)a + 1);
	}
	return rc;
}

void ctl_report_failure(const char *cmd, const char *name, const char *why, int rc)
{
	fprintf(stderr, "%sobjfs-ctl: %s: %s: %s\n", isatty(STDERR_FILENO) ? "\r\033[K" : "",
		cmd, name, why[0] ? why : strerror(-rc));
}

void ctl_cond_wait_ms(pthread_cond_t *cv, pthread_mutex_t *m, long ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += ms * 1000000L;
	while (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(cv, m, &ts);
}

/* ---- configuration helpers ---------------------------------------------- */

void ctl_err(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "objfs-ctl: %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int ctl_load_config(const char *cmd, const char *path, struct objfs_config **cfg)
{
	char errbuf[1024];
	const char *env;

	objfs_log_set_level(OBJFS_LOG_WARN);
	if (objfs_config_load(path, cfg, errbuf, sizeof(errbuf))) {
		ctl_err(cmd, "%s", errbuf);
		return -EINVAL;
	}
	/* quiet (warnings) unless OBJFS_LOG_LEVEL asks for more: with debug, every
	 * provider request is one "prov NAME OP ..." line on stderr */
	if ((env = getenv("OBJFS_LOG_LEVEL")) && *env && objfs_log_parse_level(env) >= 0)
		objfs_log_set_level((enum objfs_log_level)objfs_log_parse_level(env));
	return 0;
}

const struct objfs_tenant_conf *ctl_find_tenant(const struct objfs_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->ntenants; i++)
		if (!strcmp(cfg->tenants[i].name, name))
			return &cfg->tenants[i];
	return NULL;
}

const struct objfs_provider_section *ctl_find_provider(const struct objfs_config *cfg,
						       const char *name)
{
	for (size_t i = 0; i < cfg->nproviders; i++)
		if (!strcmp(cfg->providers[i].conf.name, name))
			return &cfg->providers[i];
	return NULL;
}

static int str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

int ctl_same_store(const struct objfs_provider_conf *a, const struct objfs_provider_conf *b)
{
	char ra[PATH_MAX], rb[PATH_MAX];

	if (!strcmp(a->name, b->name))
		return 1;
	if (strcmp(a->type, b->type))
		return 0;
	if (!strcmp(a->type, "local"))
		return realpath(a->root, ra) && realpath(b->root, rb) ? !strcmp(ra, rb) :
		       str_eq(a->root, b->root);
	return str_eq(a->endpoint, b->endpoint) && str_eq(a->region, b->region) &&
	       str_eq(a->account, b->account);
}

char *ctl_norm_prefix(const char *p)
{
	size_t len;
	char *out;

	while (*p == '/')
		p++;
	len = strlen(p);
	while (len && p[len - 1] == '/')
		len--;
	if (!(out = malloc(len + 2)))
		return NULL;
	memcpy(out, p, len);
	out[len] = len ? '/' : '\0';
	out[len + 1] = '\0';
	return out;
}

int ctl_check_prefix(const char *cmd, const char *opt, const char *prefix)
{
	for (const char *c = prefix; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f) {
			ctl_err(cmd, "%s: control character", opt);
			return -EINVAL;
		}
	if (strstr(prefix, "//") || !strcmp(prefix, ".") || strstr(prefix, "../") ||
	    !strncmp(prefix, "./", 2) || strstr(prefix, "/./") || !strcmp(prefix, "..")) {
		ctl_err(cmd, "%s %s: empty, \".\" or \"..\" segment", opt, prefix);
		return -EINVAL;
	}
	return 0;
}

int ctl_apply_defaults(const char *cmd, const struct objfs_tenant_conf *t, struct objfs_prov *p,
		       const char *bucket, const char *prefix, const char *which)
{
	struct objfs_store_defaults d = {
		.sse = t->sse,
		.sse_kms_key_id = t->sse_kms_key_id,
		.sse_c_key = t->sse_customer_key ? t->sse_c_key : NULL,
		.storage_class = t->storage_class,
		.acl = t->acl,
	};
	struct objfs_err err;
	int rc;

	if (!t->sse && !t->storage_class && !t->acl)
		return 0;
	rc = objfs_prov_set_defaults(p, bucket, prefix, &d, &err);
	if (rc == -ENOSYS) {
		ctl_err(cmd, "note: the %s provider %s has no SSE, storage classes or ACLs; tenant"
			" %s's settings do not apply there", which, p->name, t->name);
		return 0;
	}
	if (rc)
		ctl_err(cmd, "%s provider %s: %s", which, p->name, ctl_emsg(&err, rc));
	return rc;
}

/* ---- output ------------------------------------------------------------- */

double ctl_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void ctl_human(uint64_t b, char *out, size_t n)
{
	static const char *const u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)b;
	int i = 0;

	while (v >= 1024 && i < 4) {
		v /= 1024;
		i++;
	}
	snprintf(out, n, i ? "%.1f %s" : "%.0f %s", v, u[i]);
}

void ctl_progress_init(struct ctl_progress *p, double t0)
{
	memset(p, 0, sizeof(*p));
	p->tty = isatty(STDERR_FILENO);
	p->t0 = p->last = t0;
}

int ctl_progress_due(struct ctl_progress *p, uint64_t count, int force)
{
	double t = ctl_now();

	if (!force) {
		if (p->tty && t - p->last < 0.5)
			return 0;
		if (!p->tty && t - p->last < 2.0 && count - p->last_count < 1000)
			return 0;
		if (!p->tty && count == p->last_count)
			return 0;
	}
	p->last = t;
	p->last_count = count;
	return 1;
}

const char *ctl_progress_cr(const struct ctl_progress *p)
{
	return p->tty ? "\r\033[K" : "";
}

/* ---- line files --------------------------------------------------------- */

void ctl_esc_put(FILE *f, const char *s)
{
	if (!*s) {
		fputc('%', f);
		return;
	}
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p <= 0x20 || *p == '%' || *p == 0x7f)
			fprintf(f, "%%%02X", *p);
		else
			fputc(*p, f);
	}
}

int ctl_esc_get(char *s)
{
	char *o = s;

	if (!strcmp(s, "%")) {
		*s = '\0';
		return 0;
	}
	for (char *p = s; *p; p++) {
		if (*p == '%') {
			int h = objfs_hexval((unsigned char)p[1]);
			int l = h < 0 ? -1 : objfs_hexval((unsigned char)p[2]);

			if (h < 0 || l < 0 || (h == 0 && l == 0))
				return -EINVAL;
			*o++ = (char)(h * 16 + l);
			p += 2;
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
	return 0;
}

int ctl_split_words(char *line, char **w, int max)
{
	char *save = NULL, *tok;
	int n = 0;

	for (tok = strtok_r(line, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		if (n == max || ctl_esc_get(tok))
			return -1;
		w[n++] = tok;
	}
	return n;
}
