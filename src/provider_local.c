/*
 * The `local` provider: a directory used as an object store.
 *
 * Layout (docs/providers.md is the reference, tests read it directly):
 *
 *   ROOT/.objfs/tmp/<random>          temporary files, renamed into place
 *   ROOT/.objfs/mpu/<upload id>/      info + part.<n> of a multipart upload
 *   ROOT/.objfs/presign.key           32-byte HMAC secret, mode 0600
 *   ROOT/<bucket>/<seg1>/.../<segN>/.obj   the object whose key is
 *                                     seg1/.../segN, each segment encoded
 *
 * A segment is encoded so that it is always a plain, safe file name: '%' ->
 * "%25", bytes < 0x20 -> %XX, a leading '.' -> "%2E", the empty segment ->
 * "%".  Encoded names therefore never start with '.', never are "." or "..",
 * and never collide with ".obj" or ".tmp*".  Keys cannot leave the bucket.
 *
 * An .obj file holds two 4 KiB metadata slots (A at 0, B at 4096) and the data
 * from byte 8192.  A slot is "OBJFSMD1", seq (u64 LE), payload length (u32
 * LE), crc32 of the payload (u32 LE), then "name=value\n" lines.  The valid
 * slot with the highest seq wins, so a metadata-only change rewrites the
 * other slot in place and a torn write leaves the old slot in charge.  Every
 * other write builds a complete file under .objfs/tmp, fsyncs it and
 * rename()s it over the .obj: readers see the old or the new object, never a
 * mix (an open fd keeps reading the file it opened).
 *
 * Threads: readers take no lock.  p->lock serialises changes of the object
 * namespace (conditional checks + rename, mkdir/rmdir of object directories,
 * slot rewrites, removal of upload directories), so a conditional put is
 * atomic with respect to other writers of this process, and a delete's rmdir
 * of an emptied directory cannot race a put's mkdir.  Data copies and fsyncs
 * of temporary files happen outside the lock.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "objfs/provider.h"
#include "log.h"
#include "presign_local.h"
#include "strutil.h"

#define LOCAL_SLOT_SIZE   4096
#define LOCAL_DATA_OFF    8192
#define LOCAL_HDR_SIZE    24
#define LOCAL_PAYLOAD_MAX (LOCAL_SLOT_SIZE - LOCAL_HDR_SIZE)
#define LOCAL_MAGIC       "OBJFSMD1"
#define LOCAL_OBJ         ".obj"
#define LOCAL_TMP_DIR     ".objfs/tmp"
#define LOCAL_MPU_DIR     ".objfs/mpu"
#define LOCAL_KEY_FILE    ".objfs/presign.key"
#define LOCAL_ID_HEX      32                 /* upload ids and ETags: 128 bits */
#define LOCAL_MIN_PART    (1024 * 1024)
#define LOCAL_MAX_PARTS   10000
#define LOCAL_BATCH_MAX   1000
#define LOCAL_COPY_BUF    (256 * 1024)
#define LOCAL_TMP_STALE_S (24 * 3600)
#define LOCAL_DEFAULT_CT  "application/octet-stream"
/* The listener (src/presign_server.c) reads `listen` from the configuration
 * and has the same default: keep the two in step. */

/*
 * Open objects for reads: a ranged get with if_match names one version of
 * one object, whose bytes never change (every write installs a new file), so
 * its open file can serve the next get of that version without resolving the
 * path and parsing the metadata header again.  Entries of a key are dropped
 * when the key is written or deleted.  Lock: fdc_lock (a leaf); an entry in
 * use (refs) is not closed.
 */
#define LOCAL_FDC_SIZE 32

struct local_fdc {
	char *bucket;            /* NULL: free slot */
	char *key;
	char etag[OBJFS_ETAG_MAX];
	int fd;
	uint64_t size;
	unsigned refs;
	uint64_t used;           /* LRU tick */
};

struct objfs_provider {
	int rootfd;
	char *listen;
	objfs_clock_fn clock;
	unsigned char secret[OBJFS_PRESIGN_SECRET_LEN];
	pthread_mutex_t lock;    /* object namespace changes, see the top comment */
	pthread_mutex_t fdc_lock;
	struct local_fdc fdc[LOCAL_FDC_SIZE];   /* fdc_lock */
	uint64_t fdc_tick;                      /* fdc_lock */
};

static void fdc_slot_free(struct local_fdc *c)
{
	if (c->bucket && c->fd >= 0)
		close(c->fd);
	free(c->bucket);
	free(c->key);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

/* The cached entry of (bucket, key, etag) with a reference, or NULL. */
static struct local_fdc *fdc_get(struct objfs_provider *p, const char *bucket, const char *key,
				 const char *etag)
{
	struct local_fdc *hit = NULL;

	pthread_mutex_lock(&p->fdc_lock);
	for (int i = 0; i < LOCAL_FDC_SIZE && !hit; i++) {
		struct local_fdc *c = &p->fdc[i];

		if (c->bucket && !strcmp(c->etag, etag) && !strcmp(c->key, key) &&
		    !strcmp(c->bucket, bucket))
			hit = c;
	}
	if (hit) {
		hit->refs++;
		hit->used = ++p->fdc_tick;
	}
	pthread_mutex_unlock(&p->fdc_lock);
	return hit;
}

static void fdc_unref(struct objfs_provider *p, struct local_fdc *c)
{
	pthread_mutex_lock(&p->fdc_lock);
	c->refs--;
	if (!c->refs && !c->bucket && c->fd >= 0) {
		close(c->fd);   /* forgotten while in use */
		c->fd = -1;
	}
	pthread_mutex_unlock(&p->fdc_lock);
}

/* Keeps fd (a version of key) for later gets; takes fd either way. */
static void fdc_put(struct objfs_provider *p, const char *bucket, const char *key,
		    const char *etag, uint64_t size, int fd)
{
	struct local_fdc *victim = NULL;

	pthread_mutex_lock(&p->fdc_lock);
	for (int i = 0; i < LOCAL_FDC_SIZE; i++) {
		struct local_fdc *c = &p->fdc[i];

		if (c->refs)
			continue;
		if (!c->bucket && c->fd < 0) {
			victim = c;
			break;
		}
		if (c->bucket && (!victim || c->used < victim->used))
			victim = c;
	}
	if (victim) {
		fdc_slot_free(victim);
		victim->bucket = strdup(bucket);
		victim->key = strdup(key);
		if (victim->bucket && victim->key) {
			snprintf(victim->etag, sizeof(victim->etag), "%s", etag);
			victim->fd = fd;
			victim->size = size;
			victim->used = ++p->fdc_tick;
			fd = -1;
		} else {
			fdc_slot_free(victim);
		}
	}
	pthread_mutex_unlock(&p->fdc_lock);
	if (fd >= 0)
		close(fd);
}

/* key was written or deleted: forget its open versions. */
static void fdc_forget(struct objfs_provider *p, const char *bucket, const char *key)
{
	pthread_mutex_lock(&p->fdc_lock);
	for (int i = 0; i < LOCAL_FDC_SIZE; i++) {
		struct local_fdc *c = &p->fdc[i];

		if (!c->bucket || strcmp(c->key, key) || strcmp(c->bucket, bucket))
			continue;
		if (c->refs) {
			/* in use: the last user closes it */
			free(c->bucket);
			free(c->key);
			c->bucket = c->key = NULL;
		} else {
			fdc_slot_free(c);
		}
	}
	pthread_mutex_unlock(&p->fdc_lock);
}

/* ---- small helpers ---- */

static int local_random(void *buf, size_t len)
{
	unsigned char *b = buf;
	size_t done = 0;

	while (done < len) {
		ssize_t n = getrandom(b + done, len - done, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		done += (size_t)n;
	}
	return 0;
}

/* Writes 2 * nbytes random hex digits and a NUL into out. */
static int local_random_hex(char *out, size_t nbytes)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[64];
	int rc;

	if (nbytes > sizeof(b))
		return -EINVAL;
	rc = local_random(b, nbytes);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < nbytes; i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[2 * nbytes] = '\0';
	return 0;
}

static int64_t local_now_ns(const struct objfs_provider *p)
{
	struct timespec ts;

	if (p->clock)
		return (int64_t)p->clock() * 1000000000LL;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static uint32_t local_crc_table[256];
static pthread_once_t local_crc_once = PTHREAD_ONCE_INIT;

static void local_crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
		local_crc_table[i] = c;
	}
}

/* Standard (zlib/IEEE 802.3) CRC-32. */
static uint32_t local_crc32(const void *buf, size_t len)
{
	const unsigned char *b = buf;
	uint32_t c = 0xFFFFFFFFu;

	pthread_once(&local_crc_once, local_crc_init);
	for (size_t i = 0; i < len; i++)
		c = local_crc_table[(c ^ b[i]) & 0xFF] ^ (c >> 8);
	return c ^ 0xFFFFFFFFu;
}

static void local_put_le(unsigned char *b, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		b[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t local_get_le(const unsigned char *b, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | b[i];
	return v;
}

static int local_pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const char *b = buf;

	while (len) {
		ssize_t n = pwrite(fd, b, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		b += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* Reads up to len bytes; *got short only at end of file. */
static int local_pread_all(int fd, void *buf, size_t len, uint64_t off, size_t *got)
{
	char *b = buf;
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, b + done, len - done, (off_t)(off + done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	*got = done;
	return 0;
}

/* Copies len bytes from in@inoff to out@outoff: copy_file_range (reflink or
 * in-kernel copy), falling back to pread/pwrite where it is not supported.
 * -EIO if the source ends early. */
static int local_copy_range(int in, uint64_t inoff, int out, uint64_t outoff, uint64_t len)
{
	char *buf = NULL;
	int rc = 0;

	while (len) {
		loff_t io = (loff_t)inoff, oo = (loff_t)outoff;
		size_t want = len > (1u << 30) ? (1u << 30) : (size_t)len;
		ssize_t n = copy_file_range(in, &io, out, &oo, want, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS ||
			      errno == EOPNOTSUPP || errno == EBADF))
			break;          /* fall back below */
		if (n < 0) {
			rc = -errno;
			goto out;
		}
		if (n == 0) {
			rc = -EIO;
			goto out;
		}
		inoff += (uint64_t)n;
		outoff += (uint64_t)n;
		len -= (uint64_t)n;
	}
	if (len && !(buf = malloc(LOCAL_COPY_BUF))) {
		rc = -ENOMEM;
		goto out;
	}
	while (len) {
		size_t want = len > LOCAL_COPY_BUF ? LOCAL_COPY_BUF : (size_t)len, got;
		rc = local_pread_all(in, buf, want, inoff, &got);
		if (rc < 0)
			goto out;
		if (got == 0) {
			rc = -EIO;
			goto out;
		}
		rc = local_pwrite_all(out, buf, got, outoff);
		if (rc < 0)
			goto out;
		inoff += got;
		outoff += got;
		len -= got;
	}
out:
	free(buf);
	return rc;
}

/* ---- key encoding ---- */

/* Encodes one key segment into out (size >= OBJFS_NAME_MAX + 1); returns its
 * length or -ENAMETOOLONG. */
static int local_seg_enc(const char *seg, size_t len, char *out)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	if (len == 0) {
		out[o++] = '%';
		goto out;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)seg[i];
		if (c == '%' || c < 0x20 || (i == 0 && c == '.')) {
			if (o + 3 > OBJFS_NAME_MAX)
				return -ENAMETOOLONG;
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		} else {
			if (o + 1 > OBJFS_NAME_MAX)
				return -ENAMETOOLONG;
			out[o++] = (char)c;
		}
	}
out:
	out[o] = '\0';
	return (int)o;
}

/* Decodes a directory entry name into out (OBJFS_NAME_MAX + 1 bytes); its
 * length, or -EINVAL when name is not the canonical encoding of a segment. */
static int local_seg_dec(const char *name, char *out)
{
	char re[OBJFS_NAME_MAX + 1];
	size_t o = 0;

	if (strcmp(name, "%") == 0) {
		out[0] = '\0';
		return 0;
	}
	for (const char *s = name; *s; s++) {
		if (o >= OBJFS_NAME_MAX)
			return -EINVAL;
		if (*s == '%') {
			int hi = objfs_hexval(s[1]), lo = hi < 0 ? -1 : objfs_hexval(s[2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return -EINVAL;
			out[o++] = (char)(hi << 4 | lo);
			s += 2;
		} else {
			out[o++] = *s;
		}
	}
	out[o] = '\0';
	if (o == 0 || local_seg_enc(out, o, re) < 0 || strcmp(re, name) != 0)
		return -EINVAL;
	return (int)o;
}

/* The relative path (inside the bucket) of key's object directory. */
static int local_key_path(const char *key, char *out, size_t size, struct objfs_err *err)
{
	char enc[OBJFS_NAME_MAX + 1];
	size_t o = 0;
	int rc;

	rc = objfs_key_check(key, err);
	if (rc < 0)
		return rc;
	for (const char *s = key;;) {
		const char *e = strchr(s, '/');
		size_t len = e ? (size_t)(e - s) : strlen(s);
		int n = local_seg_enc(s, len, enc);
		if (n < 0)
			return objfs_err_set(err, -ENAMETOOLONG,
					     "key segment longer than %d bytes when encoded",
					     OBJFS_NAME_MAX);
		if (o + (o ? 1 : 0) + (size_t)n + sizeof("/" LOCAL_OBJ) > size)
			return objfs_err_set(err, -ENAMETOOLONG, "key too long");
		if (o)
			out[o++] = '/';
		memcpy(out + o, enc, (size_t)n);
		o += (size_t)n;
		if (!e)
			break;
		s = e + 1;
	}
	out[o] = '\0';
	return 0;
}

/* ---- metadata slots ---- */

static int local_line_enc(char *buf, size_t size, size_t *o, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '%' || c == '\n' || c == '\r' || c == '=' || c < 0x20) {
			if (*o + 3 > size)
				return -E2BIG;
			buf[(*o)++] = '%';
			buf[(*o)++] = hex[c >> 4];
			buf[(*o)++] = hex[c & 15];
		} else {
			if (*o + 1 > size)
				return -E2BIG;
			buf[(*o)++] = (char)c;
		}
	}
	return 0;
}

static int local_line(char *buf, size_t size, size_t *o, const char *pfx,
		      const char *name, const char *value)
{
	size_t pl = strlen(pfx);

	if (*o + pl > size)
		return -E2BIG;
	memcpy(buf + *o, pfx, pl);
	*o += pl;
	if (local_line_enc(buf, size, o, name) < 0 || *o + 1 > size)
		return -E2BIG;
	buf[(*o)++] = '=';
	if (local_line_enc(buf, size, o, value) < 0 || *o + 1 > size)
		return -E2BIG;
	buf[(*o)++] = '\n';
	return 0;
}

/* Formats the metadata lines of oi (etag, size, mtime, content-type, m.*)
 * into buf; the payload length or -E2BIG. */
static int local_md_format(const struct objfs_objinfo *oi, char *buf, size_t size)
{
	char num[32];
	size_t o = 0;

	if (local_line(buf, size, &o, "", "etag", oi->etag) < 0)
		return -E2BIG;
	snprintf(num, sizeof(num), "%llu", (unsigned long long)oi->size);
	if (local_line(buf, size, &o, "", "size", num) < 0)
		return -E2BIG;
	snprintf(num, sizeof(num), "%lld", (long long)oi->mtime_ns);
	if (local_line(buf, size, &o, "", "mtime", num) < 0)
		return -E2BIG;
	if (local_line(buf, size, &o, "", "content-type",
		       oi->content_type ? oi->content_type : LOCAL_DEFAULT_CT) < 0)
		return -E2BIG;
	for (size_t i = 0; i < oi->nmeta; i++)
		if (local_line(buf, size, &o, "m.", oi->meta[i].key, oi->meta[i].value) < 0)
			return -E2BIG;
	return (int)o;
}

/* Decodes s[0, len) (percent-encoded) into a malloc'ed string. */
static char *local_unescape(const char *s, size_t len)
{
	char *out = malloc(len + 1);
	size_t o = 0;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		int hi, lo;
		if (s[i] == '%' && i + 2 < len && (hi = objfs_hexval(s[i + 1])) >= 0 &&
		    (lo = objfs_hexval(s[i + 2])) >= 0 && (hi || lo)) {
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	return out;
}

/* Parses a payload into oi (etag, size, mtime, content_type, meta).  0,
 * -EIO when etag or size are missing, -ENOMEM. */
static int local_md_parse(const char *buf, size_t len, struct objfs_objinfo *oi)
{
	int have_etag = 0, have_size = 0, rc = 0;
	const char *end = buf + len;
	char *name = NULL, *value = NULL;

	for (const char *s = buf; s < end;) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		const char *eq;
		if (!nl)
			break;
		eq = memchr(s, '=', (size_t)(nl - s));
		if (!eq) {
			s = nl + 1;
			continue;
		}
		name = local_unescape(s, (size_t)(eq - s));
		value = local_unescape(eq + 1, (size_t)(nl - eq - 1));
		if (!name || !value) {
			rc = -ENOMEM;
			goto out;
		}
		if (strcmp(name, "etag") == 0) {
			snprintf(oi->etag, sizeof(oi->etag), "%s", value);
			have_etag = 1;
		} else if (strcmp(name, "size") == 0) {
			oi->size = strtoull(value, NULL, 10);
			have_size = 1;
		} else if (strcmp(name, "mtime") == 0) {
			oi->mtime_ns = strtoll(value, NULL, 10);
		} else if (strcmp(name, "content-type") == 0) {
			free(oi->content_type);
			oi->content_type = value;
			value = NULL;
		} else if (strncmp(name, "m.", 2) == 0) {
			struct objfs_kv *nm = realloc(oi->meta, (oi->nmeta + 1) * sizeof(*nm));
			if (!nm) {
				rc = -ENOMEM;
				goto out;
			}
			oi->meta = nm;
			nm[oi->nmeta].key = strdup(name + 2);
			if (!nm[oi->nmeta].key) {
				rc = -ENOMEM;
				goto out;
			}
			nm[oi->nmeta].value = value;
			oi->nmeta++;
			value = NULL;
		}
		free(name);
		free(value);
		name = value = NULL;
		s = nl + 1;
	}
	if (!have_etag || !have_size)
		rc = -EIO;
out:
	free(name);
	free(value);
	return rc;
}

/* Reads the winning slot of an open .obj into oi (key untouched, has_meta
 * set); *seq and *slot (may be NULL) receive its sequence number and index.
 * -EIO (with err) when no slot is valid. */
static int local_md_read(int fd, struct objfs_objinfo *oi, uint64_t *seq, int *slot,
			 struct objfs_err *err)
{
	unsigned char *buf = NULL;
	int best = -1, rc;
	uint64_t best_seq = 0;
	size_t got;

	buf = malloc(LOCAL_DATA_OFF);
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	rc = local_pread_all(fd, buf, LOCAL_DATA_OFF, 0, &got);
	if (rc < 0)
		goto out;
	for (int i = 0; i < 2; i++) {
		const unsigned char *s = buf + i * LOCAL_SLOT_SIZE;
		uint64_t sq;
		uint32_t len;
		if (got < (size_t)i * LOCAL_SLOT_SIZE + LOCAL_HDR_SIZE ||
		    memcmp(s, LOCAL_MAGIC, 8) != 0)
			continue;
		sq = local_get_le(s + 8, 8);
		len = (uint32_t)local_get_le(s + 16, 4);
		if (len > LOCAL_PAYLOAD_MAX ||
		    got < (size_t)i * LOCAL_SLOT_SIZE + LOCAL_HDR_SIZE + len ||
		    local_crc32(s + LOCAL_HDR_SIZE, len) != (uint32_t)local_get_le(s + 20, 4))
			continue;
		if (best < 0 || sq > best_seq) {
			best = i;
			best_seq = sq;
		}
	}
	if (best < 0) {
		rc = objfs_err_set(err, -EIO, "object metadata corrupt (no valid slot)");
		goto out;
	}
	rc = local_md_parse((const char *)buf + best * LOCAL_SLOT_SIZE + LOCAL_HDR_SIZE,
			    (uint32_t)local_get_le(buf + best * LOCAL_SLOT_SIZE + 16, 4), oi);
	if (rc == -EIO)
		objfs_err_set(err, rc, "object metadata incomplete");
	if (rc < 0)
		goto out;
	oi->has_meta = 1;
	if (seq)
		*seq = best_seq;
	if (slot)
		*slot = best;
out:
	free(buf);
	return rc;
}

/* Writes a complete slot (header and payload, zero padded). */
static int local_slot_write(int fd, int slot, uint64_t seq, const struct objfs_objinfo *oi,
			    struct objfs_err *err)
{
	unsigned char *buf = calloc(1, LOCAL_SLOT_SIZE);
	int n, rc;

	if (!buf)
		return -ENOMEM;
	n = local_md_format(oi, (char *)buf + LOCAL_HDR_SIZE, LOCAL_PAYLOAD_MAX);
	if (n < 0) {
		rc = objfs_err_set(err, -E2BIG, "metadata larger than %d bytes",
				   LOCAL_PAYLOAD_MAX);
		goto out;
	}
	memcpy(buf, LOCAL_MAGIC, 8);
	local_put_le(buf + 8, seq, 8);
	local_put_le(buf + 16, (uint64_t)n, 4);
	local_put_le(buf + 20, local_crc32(buf + LOCAL_HDR_SIZE, (size_t)n), 4);
	rc = local_pwrite_all(fd, buf, LOCAL_SLOT_SIZE, (uint64_t)slot * LOCAL_SLOT_SIZE);
out:
	free(buf);
	return rc;
}

/* Fills oi's metadata from opts (or copies it from from when opts is NULL). */
static int local_oi_meta(struct objfs_objinfo *oi, const struct objfs_putopts *opts,
			 const struct objfs_objinfo *from)
{
	if (opts)
		return objfs_objinfo_set_meta(oi, opts->content_type, opts->meta, opts->nmeta);
	if (from)
		return objfs_objinfo_set_meta(oi, from->content_type, from->meta, from->nmeta);
	return objfs_objinfo_set_meta(oi, NULL, NULL, 0);
}

/* ---- buckets, temporary files, installing objects ---- */

static int local_bucket_open(struct objfs_provider *p, const char *bucket,
			     struct objfs_err *err)
{
	int rc = objfs_bucket_check(bucket, err), fd;

	if (rc < 0)
		return rc;
	fd = openat(p->rootfd, bucket, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		return objfs_err_set(err, rc, rc == -ENOENT ? "no such bucket '%s'" :
				     "cannot open bucket '%s': %s", bucket, strerror(-rc));
	}
	return fd;
}

/* Creates ROOT/.objfs/tmp/<random>; the fd, and its path in name (64 bytes). */
static int local_tmp_create(struct objfs_provider *p, char *name, struct objfs_err *err)
{
	char hex[LOCAL_ID_HEX + 1];
	int rc = local_random_hex(hex, LOCAL_ID_HEX / 2), fd;

	if (rc < 0)
		return objfs_err_set(err, rc, "getrandom failed");
	snprintf(name, 64, LOCAL_TMP_DIR "/%s", hex);
	fd = openat(p->rootfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		return objfs_err_set(err, rc, "cannot create temporary file: %s", strerror(-rc));
	}
	return fd;
}

/* Writes the body of src at LOCAL_DATA_OFF; zero segments stay holes (the
 * file was already extended with ftruncate). */
static int local_write_source(int fd, const struct objfs_source *src, struct objfs_err *err)
{
	uint64_t pos = LOCAL_DATA_OFF;
	int rc = 0;

	for (size_t i = 0; src && i < src->nsegs; i++) {
		const struct objfs_seg *s = &src->segs[i];
		if (s->fd >= 0)
			rc = local_copy_range(s->fd, s->off, fd, pos, s->len);
		else if (s->buf)
			rc = local_pwrite_all(fd, s->buf, (size_t)s->len, pos);
		if (rc < 0)
			return objfs_err_set(err, rc, "writing segment %zu: %s", i,
					     rc == -EIO ? "source shorter than declared" :
					     strerror(-rc));
		pos += s->len;
	}
	return 0;
}

static int local_source_check(const struct objfs_source *src, struct objfs_err *err)
{
	uint64_t sum = 0;

	if (!src)
		return 0;
	if (src->nsegs && !src->segs)
		return objfs_err_set(err, -EINVAL, "source without segments");
	for (size_t i = 0; i < src->nsegs; i++) {
		if (src->segs[i].len > UINT64_MAX - sum)
			return objfs_err_set(err, -EINVAL, "source too large");
		sum += src->segs[i].len;
	}
	if (sum != src->size)
		return objfs_err_set(err, -EINVAL, "source size %llu != sum of segments %llu",
				     (unsigned long long)src->size, (unsigned long long)sum);
	return 0;
}

/* Checks if_match / if_none_match against the current object at rel.  Call
 * with p->lock held. */
static int local_cond_check(int bfd, const char *rel, const struct objfs_putopts *opts,
			    struct objfs_err *err)
{
	struct objfs_objinfo cur = { 0 };
	char path[PATH_MAX + 8];
	int fd = -1, rc = 0;

	if (!opts || (!opts->if_match && !opts->if_none_match))
		return 0;
	snprintf(path, sizeof(path), "%s/" LOCAL_OBJ, rel);
	fd = openat(bfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno != ENOENT && errno != ENOTDIR) {
		rc = objfs_err_set(err, -errno, "cannot open object: %s", strerror(errno));
		goto out;
	}
	if (fd >= 0) {
		rc = local_md_read(fd, &cur, NULL, NULL, err);
		if (rc < 0)
			goto out;
	}
	if (opts->if_none_match && fd >= 0) {
		rc = objfs_err_set(err, -EEXIST, "object exists (if-none-match)");
		goto out;
	}
	if (opts->if_match && (fd < 0 || strcmp(cur.etag, opts->if_match) != 0))
		rc = objfs_err_set(err, -ESTALE, fd < 0 ? "object missing (if-match)" :
				   "etag differs (if-match)");
out:
	if (fd >= 0)
		close(fd);
	objfs_objinfo_clear(&cur);
	return rc;
}

/* mkdir -p of rel inside the bucket.  Call with p->lock held. */
static int local_mkdirs(int bfd, const char *rel)
{
	char path[PATH_MAX + 8];
	size_t n = strlen(rel);

	memcpy(path, rel, n + 1);
	for (size_t i = 0; i <= n; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		path[i] = '\0';
		if (mkdirat(bfd, path, 0700) < 0 && errno != EEXIST)
			return -errno;
		path[i] = rel[i];
	}
	return 0;
}

static void local_fsync_dir(int dirfd, const char *rel)
{
	int fd = openat(dirfd, *rel ? rel : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

/* Moves the finished temporary file tmp onto the object at rel, after the
 * conditions in opts (may be NULL) hold; the tmp file is removed on failure. */
static int local_install(struct objfs_provider *p, int bfd, const char *rel,
			 const char *tmp, const struct objfs_putopts *opts,
			 struct objfs_err *err)
{
	char path[PATH_MAX + 8];
	int rc;

	snprintf(path, sizeof(path), "%s/" LOCAL_OBJ, rel);
	pthread_mutex_lock(&p->lock);
	rc = local_cond_check(bfd, rel, opts, err);
	if (rc < 0)
		goto unlock;
	rc = local_mkdirs(bfd, rel);
	if (rc < 0) {
		objfs_err_set(err, rc, "cannot create object directory: %s", strerror(-rc));
		goto unlock;
	}
	if (renameat(p->rootfd, tmp, bfd, path) < 0)
		rc = objfs_err_set(err, -errno, "rename into place: %s", strerror(errno));
unlock:
	pthread_mutex_unlock(&p->lock);
	if (rc < 0)
		unlinkat(p->rootfd, tmp, 0);
	else
		local_fsync_dir(bfd, rel);
	return rc;
}

/* Fills a new object's identity: etag (random, "-N" suffix when nparts > 0),
 * mtime now, size. */
static int local_oi_new(struct objfs_provider *p, struct objfs_objinfo *oi, uint64_t size,
			size_t nparts)
{
	int rc = local_random_hex(oi->etag, LOCAL_ID_HEX / 2);

	if (rc < 0)
		return rc;
	if (nparts)
		snprintf(oi->etag + LOCAL_ID_HEX, sizeof(oi->etag) - LOCAL_ID_HEX, "-%zu", nparts);
	oi->size = size;
	oi->mtime_ns = local_now_ns(p);
	return 0;
}

/* Opens the .obj of key read-only, reads its metadata into oi (with key). */
static int local_obj_open(int bfd, const char *key, const char *rel,
			  struct objfs_objinfo *oi, struct objfs_err *err)
{
	char path[PATH_MAX + 8];
	int fd, rc;

	snprintf(path, sizeof(path), "%s/" LOCAL_OBJ, rel);
	fd = openat(bfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		if (rc == -ENOTDIR || rc == -ENOENT)
			return objfs_err_set(err, -ENOENT, "no such key");
		return objfs_err_set(err, rc, "cannot open object: %s", strerror(-rc));
	}
	rc = local_md_read(fd, oi, NULL, NULL, err);
	if (rc == 0 && !(oi->key = strdup(key)))
		rc = -ENOMEM;
	if (rc < 0) {
		close(fd);
		objfs_objinfo_clear(oi);
		return rc;
	}
	return fd;
}

/* The data of a new object: a source, or oi->size bytes of in_fd at in_off. */
struct local_body {
	const struct objfs_source *src;    /* or: */
	int in_fd;
	uint64_t in_off;
};

/* Builds a complete temporary object file: slot A from oi (seq 1), the
 * body, fsync.  Its path goes to tmp (64 bytes); removed on failure. */
static int local_tmp_build(struct objfs_provider *p, const struct objfs_objinfo *oi,
			   const struct local_body *body, char *tmp, struct objfs_err *err)
{
	int fd, rc;

	fd = local_tmp_create(p, tmp, err);
	if (fd < 0)
		return fd;
	rc = local_slot_write(fd, 0, 1, oi, err);
	if (rc < 0)
		goto out;
	if (ftruncate(fd, (off_t)(LOCAL_DATA_OFF + oi->size)) < 0) {
		rc = objfs_err_set(err, -errno, "ftruncate: %s", strerror(errno));
		goto out;
	}
	if (body->src) {
		rc = local_write_source(fd, body->src, err);
		if (rc < 0)
			goto out;
	} else if (body->in_fd >= 0 && oi->size) {
		rc = local_copy_range(body->in_fd, body->in_off, fd, LOCAL_DATA_OFF, oi->size);
		if (rc < 0) {
			objfs_err_set(err, rc, "copying object data: %s", strerror(-rc));
			goto out;
		}
	}
	if (fsync(fd) < 0)
		rc = objfs_err_set(err, -errno, "fsync: %s", strerror(errno));
out:
	close(fd);
	if (rc < 0)
		unlinkat(p->rootfd, tmp, 0);
	return rc;
}

/* ---- open / close ---- */

static int local_mkdir_p(const char *path)
{
	char buf[PATH_MAX];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0700) < 0 && errno != EEXIST)
			return -errno;
		buf[i] = path[i];
	}
	return 0;
}

/* Loads ROOT/.objfs/presign.key, creating it (0600, 32 random bytes) if
 * missing; refuses a key file readable by group or others. */
static int local_load_secret(struct objfs_provider *p, struct objfs_err *err)
{
	char tmp[64];
	struct stat st;
	int fd = -1, rc = 0, tries = 0;
	size_t got;

again:
	fd = openat(p->rootfd, LOCAL_KEY_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && tries++ == 0) {
		unsigned char key[OBJFS_PRESIGN_SECRET_LEN];
		int tfd = local_tmp_create(p, tmp, err);
		if (tfd < 0)
			return tfd;
		rc = local_random(key, sizeof(key));
		if (rc == 0)
			rc = local_pwrite_all(tfd, key, sizeof(key), 0);
		if (rc == 0 && fsync(tfd) < 0)
			rc = -errno;
		close(tfd);
		if (rc == 0 && linkat(p->rootfd, tmp, p->rootfd, LOCAL_KEY_FILE, 0) < 0 &&
		    errno != EEXIST)
			rc = -errno;
		unlinkat(p->rootfd, tmp, 0);
		if (rc < 0)
			return objfs_err_set(err, rc, "cannot create presign key: %s",
					     strerror(-rc));
		goto again;
	}
	if (fd < 0)
		return objfs_err_set(err, -errno, "cannot open presign key: %s", strerror(errno));
	if (fstat(fd, &st) < 0) {
		rc = objfs_err_set(err, -errno, "fstat presign key: %s", strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || (st.st_mode & 077)) {
		rc = objfs_err_set(err, -EACCES, "%s must be a regular file of mode 0600",
				   LOCAL_KEY_FILE);
		goto out;
	}
	rc = local_pread_all(fd, p->secret, sizeof(p->secret), 0, &got);
	if (rc == 0 && (got != sizeof(p->secret) || st.st_size != (off_t)sizeof(p->secret)))
		rc = objfs_err_set(err, -EINVAL, "%s must hold exactly %d bytes",
				   LOCAL_KEY_FILE, OBJFS_PRESIGN_SECRET_LEN);
out:
	close(fd);
	return rc;
}

/* Removes temporary files a crash left behind (older than a day, so a
 * concurrent writer sharing the root is never disturbed). */
static void local_tmp_sweep(struct objfs_provider *p)
{
	int fd = openat(p->rootfd, LOCAL_TMP_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	time_t now = time(NULL);
	struct dirent *de;
	struct stat st;
	DIR *d;

	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(st.st_mode) && now - st.st_mtime > LOCAL_TMP_STALE_S)
			unlinkat(dirfd(d), de->d_name, 0);
	}
	closedir(d);
}

static void local_close(struct objfs_provider *p)
{
	if (!p)
		return;
	if (p->rootfd >= 0)
		close(p->rootfd);
	for (int i = 0; i < LOCAL_FDC_SIZE; i++)
		fdc_slot_free(&p->fdc[i]);
	pthread_mutex_destroy(&p->fdc_lock);
	pthread_mutex_destroy(&p->lock);
	free(p->listen);
	memset(p->secret, 0, sizeof(p->secret));
	free(p);
}

static int local_open(const struct objfs_provider_conf *conf, struct objfs_provider **out,
		      struct objfs_err *err)
{
	static const char *const dirs[] = { ".objfs", LOCAL_TMP_DIR, LOCAL_MPU_DIR };
	struct objfs_provider *p = NULL;
	int rc;

	*out = NULL;
	if (!conf->root || conf->root[0] != '/') {
		rc = objfs_err_set(err, -EINVAL, "local provider: root must be an absolute path");
		goto out;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		rc = -ENOMEM;
		goto out;
	}
	p->rootfd = -1;
	pthread_mutex_init(&p->lock, NULL);
	pthread_mutex_init(&p->fdc_lock, NULL);
	for (int i = 0; i < LOCAL_FDC_SIZE; i++)
		p->fdc[i].fd = -1;
	p->clock = conf->clock;
	p->listen = strdup(conf->listen && *conf->listen ? conf->listen
							  : OBJFS_LOCAL_DEFAULT_LISTEN);
	if (!p->listen) {
		rc = -ENOMEM;
		goto out;
	}
	rc = local_mkdir_p(conf->root);
	if (rc < 0) {
		objfs_err_set(err, rc, "cannot create %s: %s", conf->root, strerror(-rc));
		goto out;
	}
	p->rootfd = open(conf->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (p->rootfd < 0) {
		rc = objfs_err_set(err, -errno, "cannot open %s: %s", conf->root, strerror(errno));
		goto out;
	}
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		if (mkdirat(p->rootfd, dirs[i], 0700) < 0 && errno != EEXIST) {
			rc = objfs_err_set(err, -errno, "cannot create %s/%s: %s", conf->root,
					   dirs[i], strerror(errno));
			goto out;
		}
	}
	rc = local_load_secret(p, err);
	if (rc < 0)
		goto out;
	local_tmp_sweep(p);
	*out = p;
	p = NULL;
out:
	local_close(p);
	return rc;
}

/* ---- objects ---- */

static int local_head(struct objfs_provider *p, const char *bucket, const char *key,
		      struct objfs_objinfo *out, struct objfs_err *err)
{
	char rel[PATH_MAX];
	int bfd = -1, fd, rc;

	memset(out, 0, sizeof(*out));
	rc = local_key_path(key, rel, sizeof(rel), err);
	if (rc < 0)
		goto out;
	rc = bfd = local_bucket_open(p, bucket, err);
	if (rc < 0)
		goto out;
	rc = fd = local_obj_open(bfd, key, rel, out, err);
	if (rc >= 0) {
		close(fd);
		rc = 0;
	}
out:
	if (bfd >= 0)
		close(bfd);
	return rc;
}

static int local_get(struct objfs_provider *p, const char *bucket, const char *key,
		     uint64_t off, uint64_t len, const char *if_match, void *buf,
		     uint64_t *got, struct objfs_err *err)
{
	struct objfs_objinfo oi = { 0 };
	char rel[PATH_MAX];
	int bfd = -1, fd = -1, rc = 0;
	size_t n = 0;

	*got = 0;
	if (if_match) {
		struct local_fdc *c = fdc_get(p, bucket, key, if_match);

		if (c) {
			if (off < c->size) {
				if (len > c->size - off)
					len = c->size - off;
				rc = len > SIZE_MAX ? -EINVAL
						    : local_pread_all(c->fd, buf, (size_t)len,
								      LOCAL_DATA_OFF + off, &n);
				if (rc < 0)
					objfs_err_set(err, rc, "read: %s", strerror(-rc));
				*got = n;
			}
			fdc_unref(p, c);
			return rc;
		}
	}
	rc = local_key_path(key, rel, sizeof(rel), err);
	if (rc < 0)
		goto out;
	rc = bfd = local_bucket_open(p, bucket, err);
	if (rc < 0)
		goto out;
	rc = fd = local_obj_open(bfd, key, rel, &oi, err);
	if (rc < 0)
		goto out;
	rc = 0;
	if (if_match && strcmp(if_match, oi.etag) != 0) {
		rc = objfs_err_set(err, -ESTALE, "etag differs (if-match)");
		goto out;
	}
	if (off >= oi.size)
		goto out;
	if (len > oi.size - off)
		len = oi.size - off;
	if (len > SIZE_MAX) {
		rc = -EINVAL;
		goto out;
	}
	rc = local_pread_all(fd, buf, (size_t)len, LOCAL_DATA_OFF + off, &n);
	if (rc < 0)
		objfs_err_set(err, rc, "read: %s", strerror(-rc));
	*got = n;
out:
	if (fd >= 0 && if_match && rc >= 0) {
		fdc_put(p, bucket, key, oi.etag, oi.size, fd);   /* takes fd */
		fd = -1;
	}
	if (fd >= 0)
		close(fd);
	if (bfd >= 0)
		close(bfd);
	objfs_objinfo_clear(&oi);
	return rc;
}

static int local_put(struct objfs_provider *p, const char *bucket, const char *key,
		     const struct objfs_source *src, const struct objfs_putopts *opts,
		     char *etag_out, struct objfs_err *err)
{
	struct objfs_objinfo oi = { 0 };
	struct local_body body = { .src = src, .in_fd = -1 };
	char rel[PATH_MAX], tmp[64];
	int bfd = -1, rc;

	fdc_forget(p, bucket, key);
	rc = local_key_path(key, rel, sizeof(rel), err);
	if (rc < 0)
		goto out;
	rc = local_source_check(src, err);
	if (rc < 0)
		goto out;
	rc = bfd = local_bucket_open(p, bucket, err);
	if (rc < 0)
		goto out;
	rc = local_oi_new(p, &oi, src ? src->size : 0, 0);
	if (rc == 0)
		rc = local_oi_meta(&oi, opts, NULL);
	if (rc < 0) {
		objfs_err_set(err, rc, "bad metadata");
		goto out;
	}
	rc = local_tmp_build(p, &oi, &body, tmp, err);
	if (rc < 0)
		goto out;
	rc = local_install(p, bfd, rel, tmp, opts, err);
	if (rc == 0 && etag_out)
		memcpy(etag_out, oi.etag, OBJFS_ETAG_MAX);
out:
	if (bfd >= 0)
		close(bfd);
	objfs_objinfo_clear(&oi);
	return rc;
}

/* Removes rel/.obj, then the directories of rel that are now empty.  Call
 * with p->lock held. */
static int local_unlink_obj(int bfd, const char *rel)
{
	char path[PATH_MAX + 8];
	size_t n;

	snprintf(path, sizeof(path), "%s/" LOCAL_OBJ, rel);
	if (unlinkat(bfd, path, 0) < 0 && errno != ENOENT && errno != ENOTDIR)
		return -errno;
	snprintf(path, sizeof(path), "%s", rel);
	for (n = strlen(path); n > 0;) {
		if (unlinkat(bfd, path, AT_REMOVEDIR) < 0)
			break;
		while (n > 0 && path[n - 1] != '/')
			n--;
		if (n == 0)
			break;
		path[--n] = '\0';
	}
	return 0;
}

static int local_del(struct objfs_provider *p, const char *bucket, const char *key,
		     struct objfs_err *err)
{
	char rel[PATH_MAX];
	int bfd = -1, rc;

	fdc_forget(p, bucket, key);
	rc = local_key_path(key, rel, sizeof(rel), err);
	if (rc < 0)
		goto out;
	rc = bfd = local_bucket_open(p, bucket, err);
	if (rc < 0)
		goto out;
	pthread_mutex_lock(&p->lock);
	rc = local_unlink_obj(bfd, rel);
	pthread_mutex_unlock(&p->lock);
	if (rc < 0)
		objfs_err_set(err, rc, "delete: %s", strerror(-rc));
out:
	if (bfd >= 0)
		close(bfd);
	return rc;
}

static int local_del_batch(struct objfs_provider *p, const char *bucket,
			   const char *const *keys, size_t nkeys, int *results,
			   struct objfs_err *err)
{
	int bfd, rc = 0;

	if (nkeys > LOCAL_BATCH_MAX)
		return objfs_err_set(err, -EINVAL, "more than %d keys in one batch",
				     LOCAL_BATCH_MAX);
	bfd = local_bucket_open(p, bucket, err);
	if (bfd < 0)
		return bfd;
	for (size_t i = 0; i < nkeys; i++) {
		char rel[PATH_MAX];

		fdc_forget(p, bucket, keys[i]);
		results[i] = local_key_path(keys[i], rel, sizeof(rel), NULL);
		if (results[i] < 0)
			continue;
		pthread_mutex_lock(&p->lock);
		results[i] = local_unlink_obj(bfd, rel);
		pthread_mutex_unlock(&p->lock);
	}
	close(bfd);
	return rc;
}

/* Replaces the metadata of the object at rel in place: the slot not in use
 * gets seq + 1 and is fdatasync'ed; a torn write leaves the old slot valid. */
static int local_replace_meta(struct objfs_provider *p, int bfd, const char *rel, const struct objfs_putopts *opts,
			      char *etag_out, struct objfs_err *err)
{
	struct objfs_objinfo cur = { 0 }, oi = { 0 };
	char path[PATH_MAX + 8];
	uint64_t seq = 0;
	int fd = -1, slot = 0, rc;

	snprintf(path, sizeof(path), "%s/" LOCAL_OBJ, rel);
	pthread_mutex_lock(&p->lock);
	fd = openat(bfd, path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		rc = errno == ENOENT || errno == ENOTDIR ?
		     objfs_err_set(err, -ENOENT, "no such key") :
		     objfs_err_set(err, -errno, "cannot open object: %s", strerror(errno));
		goto out;
	}
	rc = local_md_read(fd, &cur, &seq, &slot, err);
	if (rc < 0)
		goto out;
	if (opts->if_match && strcmp(opts->if_match, cur.etag) != 0) {
		rc = objfs_err_set(err, -ESTALE, "etag differs (if-match)");
		goto out;
	}
	rc = local_oi_new(p, &oi, cur.size, 0);
	if (rc == 0)
		rc = local_oi_meta(&oi, opts, NULL);
	if (rc < 0)
		goto out;
	rc = local_slot_write(fd, !slot, seq + 1, &oi, err);
	if (rc < 0)
		goto out;
	if (fdatasync(fd) < 0) {
		rc = objfs_err_set(err, -errno, "fdatasync: %s", strerror(errno));
		goto out;
	}
	if (etag_out)
		memcpy(etag_out, oi.etag, OBJFS_ETAG_MAX);
out:
	pthread_mutex_unlock(&p->lock);
	if (fd >= 0)
		close(fd);
	objfs_objinfo_clear(&cur);
	objfs_objinfo_clear(&oi);
	return rc;
}

static int local_copy(struct objfs_provider *p, const char *bucket, const char *src_key,
		      const char *dst_key, const struct objfs_putopts *opts,
		      char *etag_out, struct objfs_err *err)
{
	struct objfs_objinfo src = { 0 }, oi = { 0 };
	struct objfs_putopts dst_cond = { 0 };
	char srel[PATH_MAX], drel[PATH_MAX], tmp[64];
	struct local_body body = { .in_fd = -1, .in_off = LOCAL_DATA_OFF };
	int bfd = -1, fd = -1, rc;

	fdc_forget(p, bucket, dst_key);
	rc = local_key_path(src_key, srel, sizeof(srel), err);
	if (rc == 0)
		rc = local_key_path(dst_key, drel, sizeof(drel), err);
	if (rc < 0)
		goto out;
	rc = bfd = local_bucket_open(p, bucket, err);
	if (rc < 0)
		goto out;
	if (strcmp(src_key, dst_key) == 0) {
		if (!opts) {
			rc = objfs_err_set(err, -EINVAL,
					   "copy onto itself without replacing metadata");
			goto out;
		}
		rc = local_replace_meta(p, bfd, drel, opts, etag_out, err);
		goto out;
	}
	rc = fd = local_obj_open(bfd, src_key, srel, &src, err);
	if (rc < 0)
		goto out;
	if (opts && opts->if_match && strcmp(opts->if_match, src.etag) != 0) {
		rc = objfs_err_set(err, -ESTALE, "source etag differs (if-match)");
		goto out;
	}
	rc = local_oi_new(p, &oi, src.size, 0);
	if (rc == 0)
		rc = local_oi_meta(&oi, opts, &src);
	if (rc < 0)
		goto out;
	body.in_fd = fd;
	rc = local_tmp_build(p, &oi, &body, tmp, err);
	if (rc < 0)
		goto out;
	dst_cond.if_none_match = opts ? opts->if_none_match : 0;
	rc = local_install(p, bfd, drel, tmp, &dst_cond, err);
	if (rc == 0 && etag_out)
		memcpy(etag_out, oi.etag, OBJFS_ETAG_MAX);
out:
	if (fd >= 0)
		close(fd);
	if (bfd >= 0)
		close(bfd);
	objfs_objinfo_clear(&src);
	objfs_objinfo_clear(&oi);
	return rc;
}

/* ---- listing ----
 *
 * The walk visits the bucket's directories depth first.  A directory whose
 * key prefix is S ("" for the bucket, else ending in '/') holds children c,
 * each contributing up to two items: the object S+c (c/.obj exists) and the
 * block of keys under S+c+"/" (c has sub-entries).  Sorting the strings c and
 * c+"/" together by bytes yields the keys in byte order of the full key
 * ('-' < '/' < '0': "a", "a-x", "a/b", "a0").  Items wholly <= the token are
 * dropped before sorting; a block that the delimiter rolls into one common
 * prefix is not descended into (only checked for holding an object).  While
 * the listing prefix still extends past S by a whole segment, the walk goes
 * straight to that child without reading the directory.
 */

struct local_child {
	char *name;           /* decoded segment c, followed by '/' and NUL */
	char *enc;            /* its directory entry name */
	size_t len;           /* strlen(c) */
};

struct local_item {
	const struct local_child *c;
	int sub;              /* 1: the block S+c+"/", 0: the object S+c */
};

struct local_dir {
	struct local_child *children;
	size_t nchildren, capchildren;
	struct local_item *items;
	size_t nitems;
};

struct local_walk {
	struct objfs_provider *p;
	int bfd;
	struct objfs_listb *b;
	struct objfs_err *err;
	char rel[PATH_MAX];              /* directory, relative to the bucket */
	char key[OBJFS_KEY_MAX + 2];     /* its key prefix S (+ c + "/" while sorting) */
	int done;                        /* page complete */
};

static int local_item_cmp(const void *a, const void *b)
{
	const struct local_item *x = a, *y = b;
	size_t lx = x->c->len + (size_t)x->sub, ly = y->c->len + (size_t)y->sub;
	int c = memcmp(x->c->name, y->c->name, lx < ly ? lx : ly);

	if (c)
		return c;
	return lx < ly ? -1 : lx > ly;
}

/* 1 if the directory rel (relative to bfd) holds an object somewhere below
 * (at depth 0 its own .obj does not count: that is the key S+c, not one of
 * the keys S+c+"/..."). */
static int local_has_object(int bfd, const char *rel, int depth)
{
	int fd = openat(bfd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	char sub[PATH_MAX + 8];
	struct dirent *de;
	int found = 0;
	DIR *d;

	if (fd < 0)
		return 0;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return 0;
	}
	while (!found && (de = readdir(d))) {
		if (strcmp(de->d_name, LOCAL_OBJ) == 0)
			found = depth > 0;
		else if (de->d_name[0] != '.' && depth < OBJFS_KEY_MAX + 2 &&
			 (size_t)snprintf(sub, sizeof(sub), "%s/%s", rel, de->d_name) < sizeof(sub))
			found = local_has_object(bfd, sub, depth + 1);
	}
	closedir(d);
	return found;
}

static void local_dir_free(struct local_dir *d)
{
	for (size_t i = 0; i < d->nchildren; i++) {
		free(d->children[i].name);
		free(d->children[i].enc);
	}
	free(d->children);
	free(d->items);
	memset(d, 0, sizeof(*d));
}

/* Adds the child dec (decoded, len bytes) named enc to d. */
static int local_dir_add(struct local_dir *d, const char *dec, size_t len, const char *enc)
{
	struct local_child *c;

	if (d->nchildren == d->capchildren) {
		size_t ncap = d->capchildren ? d->capchildren * 2 : 64;
		c = realloc(d->children, ncap * sizeof(*c));
		if (!c)
			return -ENOMEM;
		d->children = c;
		d->capchildren = ncap;
	}
	c = &d->children[d->nchildren];
	c->name = malloc(len + 2);
	c->enc = strdup(enc);
	c->len = len;
	d->nchildren++;
	if (!c->name || !c->enc)
		return -ENOMEM;
	memcpy(c->name, dec, len);
	memcpy(c->name + len, "/", 2);
	return 0;
}

/* Reads the children of the walk's current directory whose decoded names
 * start with rest (NULL: all), and makes the sorted items that the token
 * does not prune. */
static int local_read_dir(struct local_walk *w, size_t keylen, const char *rest,
			  struct local_dir *ld)
{
	size_t restlen = rest ? strlen(rest) : 0;
	char dec[OBJFS_NAME_MAX + 1];
	struct dirent *de;
	DIR *d = NULL;
	int fd, rc = 0;

	memset(ld, 0, sizeof(*ld));
	fd = openat(w->bfd, *w->rel ? w->rel : ".", O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		int len;
		if (de->d_name[0] == '.')
			continue;
		len = local_seg_dec(de->d_name, dec);
		if (len < 0 || keylen + (size_t)len > OBJFS_KEY_MAX)
			continue;
		if (restlen && ((size_t)len < restlen || memcmp(dec, rest, restlen) != 0))
			continue;
		rc = local_dir_add(ld, dec, (size_t)len, de->d_name);
		if (rc < 0)
			goto out;
	}
	ld->items = malloc((2 * ld->nchildren + 1) * sizeof(*ld->items));
	if (!ld->items) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < ld->nchildren; i++) {
		const struct local_child *c = &ld->children[i];
		memcpy(w->key + keylen, c->name, c->len + 2);   /* S + c + "/" */
		if (keylen + c->len + 1 <= OBJFS_KEY_MAX &&
		    !objfs_listb_prunable(w->b, w->key, keylen + c->len + 1))
			ld->items[ld->nitems++] = (struct local_item){ c, 1 };
		w->key[keylen + c->len] = '\0';                /* S + c */
		if (!w->b->token || strcmp(w->key, w->b->token) > 0)
			ld->items[ld->nitems++] = (struct local_item){ c, 0 };
	}
	qsort(ld->items, ld->nitems, sizeof(*ld->items), local_item_cmp);
out:
	w->key[keylen] = '\0';
	closedir(d);
	if (rc < 0)
		local_dir_free(ld);
	return rc;
}

static int local_walk_dir(struct local_walk *w, const char *rest);

/* Visits one item of the current directory (rel, key = S). */
static int local_walk_item(struct local_walk *w, const struct local_item *it)
{
	struct objfs_listb *b = w->b;
	size_t rellen = strlen(w->rel), keylen = strlen(w->key);
	struct objfs_objinfo oi = { 0 };
	int rc = 0, cls, fd;

	if (rellen + 1 + strlen(it->c->enc) + sizeof("/" LOCAL_OBJ) > sizeof(w->rel))
		return 0;
	snprintf(w->rel + rellen, sizeof(w->rel) - rellen, "%s%s", rellen ? "/" : "",
		 it->c->enc);
	memcpy(w->key + keylen, it->c->name, it->c->len + (size_t)it->sub);
	w->key[keylen + it->c->len + (size_t)it->sub] = '\0';

	if (!it->sub) {
		cls = objfs_listb_classify(b, w->key);
		if (cls == OBJFS_LISTB_SKIP)
			goto out;
		fd = local_obj_open(w->bfd, w->key, w->rel, &oi, NULL);
		if (fd < 0) {
			if (fd == -EIO)
				log_warn("local: skipping corrupt object in listing");
			goto out;
		}
		close(fd);
		if (objfs_listb_full(b)) {
			rc = objfs_listb_truncate(b);
			w->done = 1;
			goto out;
		}
		rc = cls == OBJFS_LISTB_KEY ? objfs_listb_add_object(b, &oi) :
		     objfs_listb_add_prefix(b, w->key);
		goto out;
	}
	/* A block of keys S+c+"/...": one common prefix, or descend. */
	if (objfs_listb_cp_len(b, w->key)) {
		cls = objfs_listb_classify(b, w->key);
		if (cls == OBJFS_LISTB_SKIP || !local_has_object(w->bfd, w->rel, 0))
			goto out;
		if (objfs_listb_full(b)) {
			rc = objfs_listb_truncate(b);
			w->done = 1;
			goto out;
		}
		rc = objfs_listb_add_prefix(b, w->key);
		goto out;
	}
	rc = local_walk_dir(w, NULL);
out:
	w->rel[rellen] = '\0';
	w->key[keylen] = '\0';
	objfs_objinfo_clear(&oi);
	return rc;
}

/* Walks the current directory; rest is what remains of the listing prefix
 * beyond the directory's key prefix (NULL or "" when it is covered). */
static int local_walk_dir(struct local_walk *w, const char *rest)
{
	struct local_dir ld;
	size_t keylen = strlen(w->key);
	const char *slash = rest ? strchr(rest, '/') : NULL;
	int rc = 0;

	if (slash) {
		/* The prefix names a whole segment: go straight to that child. */
		char dec[OBJFS_NAME_MAX + 1], enc[OBJFS_NAME_MAX + 1];
		size_t len = (size_t)(slash - rest), rellen = strlen(w->rel);
		if (len > OBJFS_NAME_MAX || local_seg_enc(rest, len, enc) < 0 ||
		    keylen + len + 1 > OBJFS_KEY_MAX ||
		    rellen + 1 + strlen(enc) + sizeof("/" LOCAL_OBJ) > sizeof(w->rel))
			return 0;
		memcpy(dec, rest, len);
		dec[len] = '\0';
		snprintf(w->rel + rellen, sizeof(w->rel) - rellen, "%s%s", rellen ? "/" : "", enc);
		snprintf(w->key + keylen, sizeof(w->key) - keylen, "%s/", dec);
		rc = local_walk_dir(w, slash + 1);
		w->rel[rellen] = '\0';
		w->key[keylen] = '\0';
		return rc;
	}
	rc = local_read_dir(w, keylen, rest, &ld);
	if (rc < 0) {
		objfs_err_set(w->err, rc, "listing: %s", strerror(-rc));
		return rc;
	}
	for (size_t i = 0; i < ld.nitems && !w->done && rc == 0; i++)
		rc = local_walk_item(w, &ld.items[i]);
	local_dir_free(&ld);
	return rc;
}

static int local_list(struct objfs_provider *p, const char *bucket, const char *prefix,
		      const char *delimiter, const char *token, unsigned max_keys,
		      struct objfs_listing *out, struct objfs_err *err)
{
	struct objfs_listb b;
	struct local_walk *w = NULL;
	int bfd = -1, rc;

	objfs_listb_init(&b, prefix, delimiter, token, max_keys, out);
	if (b.plen > OBJFS_KEY_MAX) {
		rc = 0;          /* no key can start with it */
		goto out;
	}
	rc = bfd = local_bucket_open(p, bucket, err);
	if (rc < 0)
		goto out;
	w = calloc(1, sizeof(*w));
	if (!w) {
		rc = -ENOMEM;
		goto out;
	}
	w->p = p;
	w->bfd = bfd;
	w->b = &b;
	w->err = err;
	rc = local_walk_dir(w, b.prefix);
out:
	if (rc < 0)
		objfs_listing_clear(out);
	free(w);
	if (bfd >= 0)
		close(bfd);
	return rc < 0 ? rc : 0;
}

/* ---- multipart uploads ----
 *
 * ROOT/.objfs/mpu/<upload id>/info holds "bucket=", "key=", "content-type="
 * and "m.<name>=" lines (the slot line encoding); part.<n> files have the
 * .obj format (slot A: etag and size of the part, data from byte 8192).
 */

static int local_upload_id_ok(const char *id)
{
	size_t n = 0;

	for (; id && id[n]; n++)
		if (!((id[n] >= '0' && id[n] <= '9') || (id[n] >= 'a' && id[n] <= 'f')))
			return 0;
	return n == LOCAL_ID_HEX;
}

/* Reads the info of upload id into info (key = the key, meta, content_type)
 * after checking that it belongs to bucket/key (key NULL: to any key of
 * bucket); -ENOENT otherwise. */
static int local_mpu_info(struct objfs_provider *p, const char *bucket, const char *key,
			  const char *id, struct objfs_objinfo *info, struct objfs_err *err)
{
	char path[128], *buf = NULL, *b = NULL, *k = NULL;
	int fd = -1, rc;
	size_t got;

	memset(info, 0, sizeof(*info));
	if (!local_upload_id_ok(id))
		return objfs_err_set(err, -ENOENT, "no such upload (NoSuchUpload)");
	snprintf(path, sizeof(path), LOCAL_MPU_DIR "/%s/info", id);
	fd = openat(p->rootfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		rc = errno == ENOENT ? objfs_err_set(err, -ENOENT, "no such upload (NoSuchUpload)")
				     : objfs_err_set(err, -errno, "upload info: %s", strerror(errno));
		goto out;
	}
	buf = malloc(2 * LOCAL_SLOT_SIZE + OBJFS_KEY_MAX * 3);
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	rc = local_pread_all(fd, buf, 2 * LOCAL_SLOT_SIZE + OBJFS_KEY_MAX * 3, 0, &got);
	if (rc < 0)
		goto out;
	/* The info lines are the slot lines plus bucket= and key=; parse them
	 * with the slot parser after pulling those two out. */
	for (char *s = buf; s < buf + got;) {
		char *nl = memchr(s, '\n', (size_t)(buf + got - s));
		if (!nl)
			break;
		if (strncmp(s, "bucket=", 7) == 0 && !b)
			b = local_unescape(s + 7, (size_t)(nl - s - 7));
		else if (strncmp(s, "key=", 4) == 0 && !k)
			k = local_unescape(s + 4, (size_t)(nl - s - 4));
		s = nl + 1;
	}
	rc = local_md_parse(buf, got, info);
	if (rc < 0 || !b || !k || strcmp(b, bucket) != 0 || (key && strcmp(k, key) != 0)) {
		rc = rc == -ENOMEM ? rc : objfs_err_set(err, -ENOENT,
							"no such upload for this key (NoSuchUpload)");
		goto out;
	}
	info->key = k;
	k = NULL;
out:
	if (fd >= 0)
		close(fd);
	if (rc < 0)
		objfs_objinfo_clear(info);
	free(buf);
	free(b);
	free(k);
	return rc;
}

static int local_part_number_ok(int n, struct objfs_err *err)
{
	if (n < 1 || n > LOCAL_MAX_PARTS)
		return objfs_err_set(err, -EINVAL, "part number %d out of range 1..%d", n,
				     LOCAL_MAX_PARTS);
	return 0;
}

static int local_mpu_create(struct objfs_provider *p, const char *bucket, const char *key,
			    const struct objfs_putopts *opts, char **upload_id,
			    struct objfs_err *err)
{
	struct objfs_objinfo oi = { 0 };
	char rel[PATH_MAX], id[LOCAL_ID_HEX + 1], path[128], *buf = NULL;
	int bfd = -1, fd = -1, rc, n;
	size_t o = 0, size = 2 * LOCAL_SLOT_SIZE + OBJFS_KEY_MAX * 3;

	*upload_id = NULL;
	rc = local_key_path(key, rel, sizeof(rel), err);
	if (rc < 0)
		goto out;
	rc = bfd = local_bucket_open(p, bucket, err);
	if (rc < 0)
		goto out;
	rc = local_oi_meta(&oi, opts, NULL);
	if (rc == 0)
		rc = local_random_hex(id, LOCAL_ID_HEX / 2);
	buf = malloc(size);
	if (rc < 0 || !buf) {
		rc = rc < 0 ? rc : -ENOMEM;
		goto out;
	}
	/* Same size limit as an object's slot, so complete cannot fail on it. */
	strcpy(oi.etag, "-");
	n = local_md_format(&oi, buf, LOCAL_PAYLOAD_MAX);
	if (n < 0) {
		rc = objfs_err_set(err, -E2BIG, "metadata larger than %d bytes",
				   LOCAL_PAYLOAD_MAX);
		goto out;
	}
	o = (size_t)n;
	if (local_line(buf, size, &o, "", "bucket", bucket) < 0 ||
	    local_line(buf, size, &o, "", "key", key) < 0) {
		rc = -E2BIG;
		goto out;
	}
	snprintf(path, sizeof(path), LOCAL_MPU_DIR "/%s", id);
	if (mkdirat(p->rootfd, path, 0700) < 0) {
		rc = objfs_err_set(err, -errno, "cannot create upload: %s", strerror(errno));
		goto out;
	}
	snprintf(path, sizeof(path), LOCAL_MPU_DIR "/%s/info", id);
	fd = openat(p->rootfd, path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = objfs_err_set(err, -errno, "cannot create upload: %s", strerror(errno));
		goto out;
	}
	rc = local_pwrite_all(fd, buf, o, 0);
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (rc < 0) {
		objfs_err_set(err, rc, "writing upload info: %s", strerror(-rc));
		goto out;
	}
	*upload_id = strdup(id);
	if (!*upload_id)
		rc = -ENOMEM;
out:
	if (fd >= 0)
		close(fd);
	if (bfd >= 0)
		close(bfd);
	free(buf);
	objfs_objinfo_clear(&oi);
	return rc;
}

/* Renames the finished part tmp to part.<n> of upload id. */
static int local_part_install(struct objfs_provider *p, const char *id, int n,
			      const char *tmp, struct objfs_err *err)
{
	char path[128];
	int rc = 0;

	snprintf(path, sizeof(path), LOCAL_MPU_DIR "/%s/part.%d", id, n);
	pthread_mutex_lock(&p->lock);
	if (renameat(p->rootfd, tmp, p->rootfd, path) < 0)
		rc = errno == ENOENT ? objfs_err_set(err, -ENOENT, "upload gone (NoSuchUpload)")
				     : objfs_err_set(err, -errno, "rename part: %s", strerror(errno));
	pthread_mutex_unlock(&p->lock);
	if (rc < 0)
		unlinkat(p->rootfd, tmp, 0);
	return rc;
}

static int local_mpu_upload_part(struct objfs_provider *p, const char *bucket,
				 const char *key, const char *upload_id, int part_number,
				 uint64_t off, const struct objfs_source *src, char *etag_out,
				 struct objfs_err *err)
{
	struct objfs_objinfo info = { 0 }, oi = { 0 };
	struct local_body body = { .src = src, .in_fd = -1 };
	char tmp[64];
	int rc;

	rc = local_part_number_ok(part_number, err);
	if (rc == 0)
		rc = local_source_check(src, err);
	if (rc == 0)
		rc = local_mpu_info(p, bucket, key, upload_id, &info, err);
	if (rc == 0)
		rc = local_oi_new(p, &oi, src ? src->size : 0, 0);
	if (rc < 0)
		goto out;
	rc = local_tmp_build(p, &oi, &body, tmp, err);
	if (rc == 0)
		rc = local_part_install(p, upload_id, part_number, tmp, err);
	if (rc == 0 && etag_out)
		memcpy(etag_out, oi.etag, OBJFS_ETAG_MAX);
out:
	objfs_objinfo_clear(&info);
	objfs_objinfo_clear(&oi);
	return rc;
}

static int local_mpu_upload_part_copy(struct objfs_provider *p, const char *bucket,
				      const char *key, const char *upload_id,
				      int part_number, const char *src_key,
				      const char *src_if_match, uint64_t off, uint64_t len,
				      char *etag_out, struct objfs_err *err)
{
	struct objfs_objinfo info = { 0 }, src = { 0 }, oi = { 0 };
	struct local_body body = { .in_fd = -1 };
	char srel[PATH_MAX], tmp[64];
	int bfd = -1, fd = -1, rc;

	rc = local_part_number_ok(part_number, err);
	if (rc == 0)
		rc = local_key_path(src_key, srel, sizeof(srel), err);
	if (rc == 0)
		rc = local_mpu_info(p, bucket, key, upload_id, &info, err);
	if (rc < 0)
		goto out;
	rc = bfd = local_bucket_open(p, bucket, err);
	if (rc < 0)
		goto out;
	rc = fd = local_obj_open(bfd, src_key, srel, &src, err);
	if (rc < 0)
		goto out;
	if (src_if_match && strcmp(src_if_match, src.etag) != 0) {
		rc = objfs_err_set(err, -ESTALE, "source etag differs (if-match)");
		goto out;
	}
	if (off > src.size || len > src.size - off) {
		rc = objfs_err_set(err, -EINVAL, "range %llu+%llu beyond source size %llu "
				   "(InvalidRange)", (unsigned long long)off,
				   (unsigned long long)len, (unsigned long long)src.size);
		goto out;
	}
	rc = local_oi_new(p, &oi, len, 0);
	if (rc < 0)
		goto out;
	body.in_fd = fd;
	body.in_off = LOCAL_DATA_OFF + off;
	rc = local_tmp_build(p, &oi, &body, tmp, err);
	if (rc == 0)
		rc = local_part_install(p, upload_id, part_number, tmp, err);
	if (rc == 0 && etag_out)
		memcpy(etag_out, oi.etag, OBJFS_ETAG_MAX);
out:
	if (fd >= 0)
		close(fd);
	if (bfd >= 0)
		close(bfd);
	objfs_objinfo_clear(&info);
	objfs_objinfo_clear(&src);
	objfs_objinfo_clear(&oi);
	return rc;
}

/* Removes the directory of upload id and everything in it.  Call with
 * p->lock held. */
static int local_mpu_remove(struct objfs_provider *p, const char *id)
{
	char path[128];
	struct dirent *de;
	DIR *d;
	int fd;

	snprintf(path, sizeof(path), LOCAL_MPU_DIR "/%s", id);
	fd = openat(p->rootfd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
	if (unlinkat(p->rootfd, path, AT_REMOVEDIR) < 0)
		return -errno;
	return 0;
}

/* Opens part.<n> of upload id and reads its metadata. */
static int local_part_open(struct objfs_provider *p, const char *id, int n,
			   struct objfs_objinfo *oi)
{
	char path[128];
	int fd, rc;

	snprintf(path, sizeof(path), LOCAL_MPU_DIR "/%s/part.%d", id, n);
	fd = openat(p->rootfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	rc = local_md_read(fd, oi, NULL, NULL, NULL);
	if (rc < 0) {
		close(fd);
		objfs_objinfo_clear(oi);
		return rc;
	}
	return fd;
}

static int local_mpu_complete(struct objfs_provider *p, const char *bucket, const char *key,
			      const char *upload_id, const struct objfs_part *parts,
			      size_t nparts, char *etag_out, struct objfs_err *err)
{
	struct objfs_objinfo info = { 0 }, oi = { 0 }, part = { 0 };
	char rel[PATH_MAX], tmp[64] = "";
	int bfd = -1, fd = -1, pfd = -1, rc;
	uint64_t total = 0, pos = LOCAL_DATA_OFF;

	fdc_forget(p, bucket, key);
	rc = local_key_path(key, rel, sizeof(rel), err);
	if (rc == 0)
		rc = local_mpu_info(p, bucket, key, upload_id, &info, err);
	if (rc < 0)
		goto out;
	if (nparts == 0 || nparts > LOCAL_MAX_PARTS || !parts) {
		rc = objfs_err_set(err, -EINVAL, "complete needs 1..%d parts", LOCAL_MAX_PARTS);
		goto out;
	}
	/* Check every part before writing anything. */
	for (size_t i = 0; i < nparts; i++) {
		if (i > 0 && parts[i].number <= parts[i - 1].number) {
			rc = objfs_err_set(err, -EINVAL, "parts not in ascending order "
					   "(InvalidPartOrder)");
			goto out;
		}
		rc = pfd = local_part_open(p, upload_id, parts[i].number, &part);
		if (rc < 0) {
			rc = objfs_err_set(err, -EINVAL, "part %d missing (InvalidPart)",
					   parts[i].number);
			goto out;
		}
		close(pfd);
		pfd = -1;
		if (strcmp(part.etag, parts[i].etag) != 0) {
			rc = objfs_err_set(err, -EINVAL, "part %d etag differs (InvalidPart)",
					   parts[i].number);
			goto out;
		}
		if (i + 1 < nparts && part.size < objfs_provider_local.mpu_min_part) {
			rc = objfs_err_set(err, -EINVAL, "part %d smaller than %llu bytes "
					   "(EntityTooSmall)", parts[i].number,
					   (unsigned long long)objfs_provider_local.mpu_min_part);
			goto out;
		}
		total += part.size;
		objfs_objinfo_clear(&part);
	}
	rc = bfd = local_bucket_open(p, bucket, err);
	if (rc < 0)
		goto out;
	rc = local_oi_new(p, &oi, total, nparts);
	if (rc == 0)     /* S3's multipart ETag, from the parts' (random) ETags */
		objfs_mpu_etag(parts, nparts, oi.etag);
	if (rc == 0) {
		struct objfs_putopts o = { .content_type = info.content_type,
					   .meta = info.meta, .nmeta = info.nmeta };
		rc = local_oi_meta(&oi, &o, NULL);
	}
	if (rc < 0)
		goto out;
	rc = fd = local_tmp_create(p, tmp, err);
	if (rc < 0) {
		tmp[0] = '\0';
		goto out;
	}
	rc = local_slot_write(fd, 0, 1, &oi, err);
	if (rc < 0)
		goto out;
	for (size_t i = 0; i < nparts; i++) {
		rc = pfd = local_part_open(p, upload_id, parts[i].number, &part);
		if (rc < 0) {
			objfs_err_set(err, -EINVAL, "part %d vanished (InvalidPart)",
				      parts[i].number);
			rc = -EINVAL;
			goto out;
		}
		if (strcmp(part.etag, parts[i].etag) != 0) {
			rc = objfs_err_set(err, -EINVAL, "part %d replaced meanwhile (InvalidPart)",
					   parts[i].number);
			goto out;
		}
		rc = local_copy_range(pfd, LOCAL_DATA_OFF, fd, pos, part.size);
		if (rc < 0) {
			objfs_err_set(err, rc, "copying part %d: %s", parts[i].number,
				      strerror(-rc));
			goto out;
		}
		pos += part.size;
		close(pfd);
		pfd = -1;
		objfs_objinfo_clear(&part);
	}
	if (pos - LOCAL_DATA_OFF != total) {
		rc = objfs_err_set(err, -EINVAL, "parts changed during complete");
		goto out;
	}
	if (ftruncate(fd, (off_t)pos) < 0 || fsync(fd) < 0) {
		rc = objfs_err_set(err, -errno, "finishing object: %s", strerror(errno));
		goto out;
	}
	close(fd);
	fd = -1;
	rc = local_install(p, bfd, rel, tmp, NULL, err);
	tmp[0] = '\0';              /* installed, or removed by local_install */
	if (rc < 0)
		goto out;
	pthread_mutex_lock(&p->lock);
	local_mpu_remove(p, upload_id);
	pthread_mutex_unlock(&p->lock);
	if (etag_out)
		memcpy(etag_out, oi.etag, OBJFS_ETAG_MAX);
out:
	if (pfd >= 0)
		close(pfd);
	if (fd >= 0)
		close(fd);
	if (tmp[0] && rc < 0)
		unlinkat(p->rootfd, tmp, 0);
	if (bfd >= 0)
		close(bfd);
	objfs_objinfo_clear(&info);
	objfs_objinfo_clear(&oi);
	objfs_objinfo_clear(&part);
	return rc;
}

static int local_mpu_abort(struct objfs_provider *p, const char *bucket, const char *key,
			   const char *upload_id, struct objfs_err *err)
{
	struct objfs_objinfo info = { 0 };
	int rc;

	rc = local_mpu_info(p, bucket, key, upload_id, &info, err);
	if (rc < 0)
		goto out;
	pthread_mutex_lock(&p->lock);
	rc = local_mpu_remove(p, upload_id);
	pthread_mutex_unlock(&p->lock);
	if (rc < 0)
		objfs_err_set(err, rc, "removing upload: %s", strerror(-rc));
out:
	objfs_objinfo_clear(&info);
	return rc;
}

static int local_mpu_list_uploads(struct objfs_provider *p, const char *bucket,
				  const char *prefix, struct objfs_mpu_info **out, size_t *nout,
				  struct objfs_err *err)
{
	struct objfs_mpu_info *v = NULL, *nv;
	struct dirent *de;
	size_t n = 0, plen = prefix ? strlen(prefix) : 0;
	DIR *d = NULL;
	int fd, rc = 0;

	fd = openat(p->rootfd, LOCAL_MPU_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : objfs_err_set(err, -errno, "uploads: %s", strerror(errno));
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return objfs_err_set(err, -errno, "uploads: %s", strerror(errno));
	}
	while ((de = readdir(d))) {
		struct objfs_objinfo info;
		struct objfs_err e2;
		struct stat st;

		if (!local_upload_id_ok(de->d_name) ||
		    local_mpu_info(p, bucket, NULL, de->d_name, &info, &e2) < 0)
			continue;
		if (strncmp(info.key, prefix ? prefix : "", plen)) {
			objfs_objinfo_clear(&info);
			continue;
		}
		nv = realloc(v, (n + 1) * sizeof(*v));
		if (!nv) {
			objfs_objinfo_clear(&info);
			rc = -ENOMEM;
			break;
		}
		v = nv;
		v[n].key = info.key;
		info.key = NULL;
		v[n].upload_id = strdup(de->d_name);
		v[n].initiated_ns = fstatat(dirfd(d), de->d_name, &st, 0) == 0
			? (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec : 0;
		objfs_objinfo_clear(&info);
		if (!v[n++].upload_id) {
			rc = -ENOMEM;
			break;
		}
	}
	closedir(d);
	if (rc) {
		objfs_mpu_info_free(v, n);
		return objfs_err_set(err, rc, "out of memory");
	}
	*out = v;
	*nout = n;
	return 0;
}

static int local_part_cmp(const void *a, const void *b)
{
	const struct objfs_part *x = a, *y = b;

	return (x->number > y->number) - (x->number < y->number);
}

static int local_mpu_list_parts(struct objfs_provider *p, const char *bucket,
				const char *key, const char *upload_id,
				struct objfs_part **parts, size_t *nparts,
				struct objfs_err *err)
{
	struct objfs_objinfo info = { 0 }, part = { 0 };
	struct objfs_part *arr = NULL;
	size_t n = 0, cap = 0;
	char path[128];
	struct dirent *de;
	DIR *d = NULL;
	int fd, rc;

	*parts = NULL;
	*nparts = 0;
	rc = local_mpu_info(p, bucket, key, upload_id, &info, err);
	if (rc < 0)
		goto out;
	snprintf(path, sizeof(path), LOCAL_MPU_DIR "/%s", upload_id);
	fd = openat(p->rootfd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		rc = objfs_err_set(err, -ENOENT, "upload gone (NoSuchUpload)");
		if (fd >= 0)
			close(fd);
		goto out;
	}
	while ((de = readdir(d))) {
		char *end;
		long num;
		int pfd;
		if (strncmp(de->d_name, "part.", 5) != 0)
			continue;
		num = strtol(de->d_name + 5, &end, 10);
		if (*end || num < 1 || num > LOCAL_MAX_PARTS)
			continue;
		pfd = local_part_open(p, upload_id, (int)num, &part);
		if (pfd < 0)
			continue;
		close(pfd);
		if (n == cap) {
			struct objfs_part *na;
			cap = cap ? cap * 2 : 16;
			na = realloc(arr, cap * sizeof(*na));
			if (!na) {
				rc = -ENOMEM;
				goto out;
			}
			arr = na;
		}
		arr[n].number = (int)num;
		arr[n].size = part.size;
		memcpy(arr[n].etag, part.etag, OBJFS_ETAG_MAX);
		n++;
		objfs_objinfo_clear(&part);
	}
	qsort(arr, n, sizeof(*arr), local_part_cmp);
	*parts = arr;
	*nparts = n;
	arr = NULL;
out:
	if (d)
		closedir(d);
	free(arr);
	objfs_objinfo_clear(&info);
	objfs_objinfo_clear(&part);
	return rc;
}

/* ---- presign, health, buckets ---- */

static int local_presign(struct objfs_provider *p, const char *bucket, const char *key,
			 const char *method, unsigned ttl_s, char **url,
			 struct objfs_err *err)
{
	static const char hex[] = "0123456789ABCDEF";
	char sig[OBJFS_PRESIGN_HEX_LEN], *ek = NULL;
	time_t expires;
	size_t o = 0;
	int rc;

	*url = NULL;
	rc = objfs_bucket_check(bucket, err);
	if (rc == 0)
		rc = objfs_key_check(key, err);
	if (rc < 0)
		goto out;
	if (!method || (strcmp(method, "GET") != 0 && strcmp(method, "PUT") != 0)) {
		rc = objfs_err_set(err, -EINVAL, "presign method must be GET or PUT");
		goto out;
	}
	if (ttl_s < 1 || ttl_s > OBJFS_PRESIGN_TTL_MAX) {
		rc = objfs_err_set(err, -EINVAL, "presign ttl must be 1..%d seconds",
				   OBJFS_PRESIGN_TTL_MAX);
		goto out;
	}
	expires = (p->clock ? p->clock() : time(NULL)) + (time_t)ttl_s;
	rc = objfs_local_presign_sign(p->secret, sizeof(p->secret), method, bucket, key,
				      expires, sig);
	if (rc < 0) {
		objfs_err_set(err, rc, "signing failed");
		goto out;
	}
	ek = malloc(strlen(key) * 3 + 1);
	if (!ek) {
		rc = -ENOMEM;
		goto out;
	}
	for (const unsigned char *s = (const unsigned char *)key; *s; s++) {
		if ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		    (*s >= '0' && *s <= '9') || strchr("-._~/", *s)) {
			ek[o++] = (char)*s;
		} else {
			ek[o++] = '%';
			ek[o++] = hex[*s >> 4];
			ek[o++] = hex[*s & 15];
		}
	}
	ek[o] = '\0';
	if (asprintf(url, "http://%s/%s/%s?X-Objfs-Method=%s&X-Objfs-Expires=%lld"
		     "&X-Objfs-Signature=%s", p->listen, bucket, ek, method,
		     (long long)expires, sig) < 0) {
		*url = NULL;
		rc = -ENOMEM;
	}
out:
	free(ek);
	return rc;
}

/* The URL leads to the daemon's presign server (src/presign_server.c),
 * which checks read_only, max_object_size, quota and content types before
 * it stores anything: the conditions need no signing. */
static int local_presign_put(struct objfs_provider *p, const char *bucket, const char *key,
			     unsigned ttl_s, const struct objfs_presign_cond *cond,
			     struct objfs_presign_out *out, char **url, struct objfs_err *err)
{
	int rc = local_presign(p, bucket, key, "PUT", ttl_s, url, err);

	if (rc == 0)
		out->binds = OBJFS_PRESIGN_CHECKED_AT_UPLOAD;
	return rc;
}

/* Checks a presigned request with the secret of ROOT/.objfs/presign.key at
 * the provider's clock (the secret never leaves this file). */
static int local_presign_check(struct objfs_provider *p, const char *method, const char *bucket,
			       const char *key, const char *expires, const char *signature,
			       struct objfs_err *err)
{
	return objfs_local_presign_verify(p->secret, sizeof(p->secret), method, bucket, key,
					  expires, signature, p->clock ? p->clock() : time(NULL),
					  err);
}

static int local_bucket_exists(struct objfs_provider *p, const char *bucket,
			       struct objfs_err *err)
{
	int fd = local_bucket_open(p, bucket, err);

	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

static int local_bucket_create(struct objfs_provider *p, const char *bucket,
			       struct objfs_err *err)
{
	int rc = objfs_bucket_check(bucket, err);

	if (rc < 0)
		return rc;
	if (mkdirat(p->rootfd, bucket, 0700) < 0 && errno != EEXIST)
		return objfs_err_set(err, -errno, "cannot create bucket: %s", strerror(errno));
	return local_bucket_exists(p, bucket, err);
}

static double local_elapsed(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Fills out (state and detail) and returns 0 whenever a probe could be made;
 * a failing store is reported in out->state, not as an error. */
static int local_health(struct objfs_provider *p, const char *bucket,
			struct objfs_health *out, struct objfs_err *err)
{
	struct timespec t0;
	struct statvfs sv;
	char tmp[64];
	int fd;

	memset(out, 0, sizeof(*out));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	fd = local_tmp_create(p, tmp, NULL);
	if (fd < 0 || local_pwrite_all(fd, "probe", 5, 0) < 0 || fsync(fd) < 0) {
		out->state = OBJFS_HEALTH_UNREACHABLE;
		snprintf(out->detail, sizeof(out->detail), "root not writable: %s",
			 strerror(fd < 0 ? -fd : errno));
		if (fd >= 0) {
			close(fd);
			unlinkat(p->rootfd, tmp, 0);
		}
		goto out;
	}
	close(fd);
	unlinkat(p->rootfd, tmp, 0);
	out->latency_s = local_elapsed(&t0);
	if (bucket && local_bucket_exists(p, bucket, NULL) < 0) {
		out->state = OBJFS_HEALTH_NO_BUCKET;
		snprintf(out->detail, sizeof(out->detail), "bucket '%s' missing", bucket);
		goto out;
	}
	if (fstatvfs(p->rootfd, &sv) == 0) {
		uint64_t avail = (uint64_t)sv.f_bavail * sv.f_frsize;
		uint64_t total = (uint64_t)sv.f_blocks * sv.f_frsize;
		if (avail < total / 100 || avail < 100ull * 1024 * 1024) {
			out->state = OBJFS_HEALTH_DEGRADED;
			snprintf(out->detail, sizeof(out->detail),
				 "low on space: %llu MiB free of %llu MiB",
				 (unsigned long long)(avail >> 20),
				 (unsigned long long)(total >> 20));
			goto out;
		}
	}
	snprintf(out->detail, sizeof(out->detail), "ok");
out:
	if (out->latency_s == 0)
		out->latency_s = local_elapsed(&t0);
	return 0;
}

const struct objfs_provider_ops objfs_provider_local = {
	.type = "local",
	.caps = OBJFS_CAP_LOCAL_READS | OBJFS_CAP_PART_COPY,
	/* Never by default: on one local disk multipart costs an extra full
	 * copy and gains no parallelism (the configuration can force it). */
	.mpu_threshold = 0,
	.mpu_min_part = LOCAL_MIN_PART,
	.open = local_open,
	.close = local_close,
	.head = local_head,
	.get = local_get,
	.put = local_put,
	.list = local_list,
	.del = local_del,
	.del_batch = local_del_batch,
	.copy = local_copy,
	.mpu_create = local_mpu_create,
	.mpu_upload_part = local_mpu_upload_part,
	.mpu_upload_part_copy = local_mpu_upload_part_copy,
	.mpu_complete = local_mpu_complete,
	.mpu_abort = local_mpu_abort,
	.mpu_list_parts = local_mpu_list_parts,
	.mpu_list_uploads = local_mpu_list_uploads,
	.presign = local_presign,
	.presign_put = local_presign_put,
	.presign_check = local_presign_check,
	.health = local_health,
	.bucket_exists = local_bucket_exists,
	.bucket_create = local_bucket_create,
};
