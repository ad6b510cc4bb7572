/*
 * Object metadata <-> file attributes, in the format s3fs-fuse uses, so that
 * buckets written by either tool read correctly in the other (see objmeta.h).
 *
 * Decoding is lenient by field and strict by value: an unknown key is
 * ignored, and a value that does not parse exactly (trailing garbage,
 * overflow, a file type that does not exist, bad base64, broken JSON) makes
 * that one field absent rather than guessing.  The whole xattr field is
 * dropped when any entry in it is malformed.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "mimetype.h"
#include "objmeta.h"
#include "strutil.h"

#define NS_PER_S INT64_C(1000000000)

/* ---- scalar values -------------------------------------------------------- */

/* Digits only (no sign, blanks or trailing text), value <= max. */
static int om_parse_dec(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (!s || !*s)
		return -EINVAL;
	for (; *s; s++) {
		unsigned d;

		if (*s < '0' || *s > '9')
			return -EINVAL;
		d = (unsigned)(*s - '0');
		if (v > (max - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

static int om_mode_type_valid(uint64_t m)
{
	switch (m & S_IFMT) {
	case 0:            /* permission bits only: the caller picks the type */
	case S_IFREG: case S_IFDIR: case S_IFLNK: case S_IFIFO:
	case S_IFCHR: case S_IFBLK: case S_IFSOCK:
		return 1;
	default:
		return 0;
	}
}

/* "SECONDS" or "SECONDS.FRACTION" (fraction digits past 9 are dropped),
 * optionally negative; into nanoseconds. */
static int om_parse_mtime(const char *s, int64_t *out)
{
	char secs[24];
	const char *dot;
	uint64_t sec, ns = 0;
	size_t sl;
	int neg = 0;

	if (*s == '-') {
		neg = 1;
		s++;
	}
	dot = strchr(s, '.');
	sl = dot ? (size_t)(dot - s) : strlen(s);
	if (sl == 0 || sl >= sizeof(secs))
		return -EINVAL;
	memcpy(secs, s, sl);
	secs[sl] = '\0';
	if (om_parse_dec(secs, (uint64_t)(INT64_MAX / NS_PER_S) - 1, &sec))
		return -EINVAL;
	if (dot) {
		const char *f = dot + 1;
		int i;

		if (!*f)
			return -EINVAL;
		for (i = 0; f[i]; i++) {
			if (f[i] < '0' || f[i] > '9')
				return -EINVAL;
			if (i < 9)
				ns = ns * 10 + (uint64_t)(f[i] - '0');
		}
		for (; i < 9; i++)
			ns *= 10;
	}
	*out = (int64_t)(sec * NS_PER_S + ns);
	if (neg)
		*out = -*out;
	return 0;
}

/* ---- percent-encoding and base64 ------------------------------------------- */

/* Decodes %XX escapes (other bytes are literal); *out malloc'ed, NUL-terminated. */
static int om_pct_decode(const char *s, char **out, size_t *outlen)
{
	size_t len = strlen(s), n = 0;
	char *buf = malloc(len + 1);

	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '%') {
			int hi = i + 2 < len ? objfs_hexval(s[i + 1]) : -1;
			int lo = i + 2 < len ? objfs_hexval(s[i + 2]) : -1;

			if (hi < 0 || lo < 0) {
				free(buf);
				return -EINVAL;
			}
			buf[n++] = (char)(hi * 16 + lo);
			i += 2;
		} else {
			buf[n++] = s[i];
		}
	}
	buf[n] = '\0';
	*out = buf;
	*outlen = n;
	return 0;
}

/* Percent-encodes everything but the unreserved set A-Za-z0-9-_.~ */
static char *om_pct_encode(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t len = strlen(s);
	char *out = malloc(len * 3 + 1), *o = out;

	if (!out)
		return NULL;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		    *p == '-' || *p == '_' || *p == '.' || *p == '~') {
			*o++ = (char)*p;
		} else {
			*o++ = '%';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 15];
		}
	}
	*o = '\0';
	return out;
}

static int om_b64_char(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

/*
 * Standard base64, padded or not.  EVP_DecodeBlock counts padding as zero
 * bytes (it returns a multiple of 3), so the '=' count is subtracted here.
 * *out malloc'ed (at least 1 byte).
 */
static int om_b64_decode(const char *s, void **out, size_t *outlen)
{
	size_t len = strlen(s), body = len, pad, full;
	unsigned char *in = NULL, *buf = NULL;
	int n, rc = -EINVAL;

	while (body > 0 && s[body - 1] == '=')
		body--;
	if (len - body > 2)
		goto out;
	for (size_t i = 0; i < body; i++)
		if (!om_b64_char((unsigned char)s[i]))
			goto out;
	if (body % 4 == 1)
		goto out;
	pad = (4 - body % 4) % 4;
	if (len != body && len != body + pad)
		goto out;    /* wrong amount of padding */
	full = body + pad;
	rc = -ENOMEM;
	in = malloc(full + 1);
	buf = malloc(full / 4 * 3 + 1);
	if (!in || !buf)
		goto out;
	memcpy(in, s, body);
	memset(in + body, '=', pad);
	in[full] = '\0';
	rc = -EINVAL;
	n = full ? EVP_DecodeBlock(buf, in, (int)full) : 0;
	if (n < 0 || (size_t)n < pad)
		goto out;
	*out = buf;
	*outlen = (size_t)n - pad;
	buf = NULL;
	rc = 0;
out:
	free(in);
	free(buf);
	return rc;
}

static char *om_b64_encode(const void *v, size_t len)
{
	char *out;

	if (len > (size_t)INT32_MAX / 2)
		return NULL;
	out = malloc((len + 2) / 3 * 4 + 1);
	if (!out)
		return NULL;
	if (len)
		EVP_EncodeBlock((unsigned char *)out, v, (int)len);
	else
		out[0] = '\0';
	return out;
}

/* ---- xattrs ---------------------------------------------------------------- */

static void om_xattrs_free(struct objfs_xattr *x, size_t n)
{
	if (!x)
		return;
	for (size_t i = 0; i < n; i++) {
		free(x[i].name);
		free(x[i].value);
	}
	free(x);
}

/* Decodes the s3fs xattr value into a fresh array; -EINVAL when malformed. */
static int om_xattr_decode(const char *value, struct objfs_xattr **out, size_t *nout)
{
	struct objfs_xattr *v = NULL;
	size_t n = 0, cap, jlen = 0;
	char *json = NULL;
	json_t *root = NULL, *jv;
	const char *name;
	int rc;

	rc = om_pct_decode(value, &json, &jlen);
	if (rc)
		goto out;
	rc = -EINVAL;
	root = json_loadb(json, jlen, JSON_REJECT_DUPLICATES, NULL);
	if (!root || !json_is_object(root))
		goto out;
	cap = json_object_size(root);
	if (cap) {
		rc = -ENOMEM;
		v = calloc(cap, sizeof(*v));
		if (!v)
			goto out;
	}
	json_object_foreach(root, name, jv) {
		if (!json_is_string(jv) || !*name) {
			rc = -EINVAL;
			goto out;
		}
		rc = om_b64_decode(json_string_value(jv), &v[n].value, &v[n].len);
		if (rc)
			goto out;
		if (!(v[n].name = strdup(name))) {
			free(v[n].value);
			rc = -ENOMEM;
			goto out;
		}
		n++;
	}
	*out = v;
	*nout = n;
	v = NULL;
	rc = 0;
out:
	om_xattrs_free(v, n);
	json_decref(root);
	free(json);
	return rc;
}

/* s3fs xattr value for a: percent-encoded {"name":"base64",...}; malloc'ed. */
static int om_xattr_encode(const struct objfs_fileattr *a, char **out)
{
	json_t *root = json_object();
	char *json = NULL;
	int rc = -ENOMEM;

	*out = NULL;
	if (!root)
		goto out;
	for (size_t i = 0; i < a->nxattrs; i++) {
		char *b64 = om_b64_encode(a->xattrs[i].value, a->xattrs[i].len);
		json_t *s = b64 ? json_string(b64) : NULL;

		free(b64);
		if (!s)
			goto out;
		if (json_object_set_new(root, a->xattrs[i].name, s) != 0) {
			rc = -EINVAL;   /* name not valid UTF-8 */
			goto out;
		}
	}
	json = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!json)
		goto out;
	*out = om_pct_encode(json);
	rc = *out ? 0 : -ENOMEM;
out:
	free(json);
	json_decref(root);
	return rc;
}

/* ---- interface -------------------------------------------------------------- */

void objfs_fileattr_clear(struct objfs_fileattr *a)
{
	if (!a)
		return;
	om_xattrs_free(a->xattrs, a->nxattrs);
	memset(a, 0, sizeof(*a));
}

void objfs_kv_free(struct objfs_kv *kv, size_t n)
{
	if (!kv)
		return;
	for (size_t i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

int objfs_objmeta_decode(const struct objfs_kv *meta, size_t nmeta, struct objfs_fileattr *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < nmeta; i++) {
		const char *k = meta[i].key, *v = meta[i].value;
		uint64_t u;

		if (!k || !v)
			continue;
		if (strcasecmp(k, "mode") == 0) {
			out->has_mode = om_parse_dec(v, 0177777, &u) == 0 && om_mode_type_valid(u);
			out->mode = out->has_mode ? (mode_t)u : 0;
		} else if (strcasecmp(k, "uid") == 0) {
			out->has_uid = om_parse_dec(v, UINT32_MAX - 1, &u) == 0;
			out->uid = out->has_uid ? (uid_t)u : 0;
		} else if (strcasecmp(k, "gid") == 0) {
			out->has_gid = om_parse_dec(v, UINT32_MAX - 1, &u) == 0;
			out->gid = out->has_gid ? (gid_t)u : 0;
		} else if (strcasecmp(k, "mtime") == 0) {
			out->has_mtime = om_parse_mtime(v, &out->mtime_ns) == 0;
			if (!out->has_mtime)
				out->mtime_ns = 0;
		} else if (strcasecmp(k, "xattr") == 0) {
			struct objfs_xattr *x = NULL;
			size_t nx = 0;
			int rc = om_xattr_decode(v, &x, &nx);

			if (rc == -ENOMEM) {
				objfs_fileattr_clear(out);
				return rc;
			}
			om_xattrs_free(out->xattrs, out->nxattrs);
			out->xattrs = rc ? NULL : x;
			out->nxattrs = rc ? 0 : nx;
		}
	}
	return 0;
}

static int om_kv_add(struct objfs_kv *kv, size_t *n, const char *key, char *value)
{
	if (!value)
		return -ENOMEM;
	kv[*n].value = value;
	kv[*n].key = strdup(key);
	(*n)++;
	return kv[*n - 1].key ? 0 : -ENOMEM;
}

static char *om_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *om_fmt(const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	return r < 0 ? NULL : s;
}

int objfs_objmeta_encode(const struct objfs_fileattr *a, struct objfs_kv **out, size_t *nout)
{
	struct objfs_kv *kv = calloc(5, sizeof(*kv));
	size_t n = 0, total = 0;
	int rc = 0;

	*out = NULL;
	*nout = 0;
	if (!kv)
		return -ENOMEM;
	if (a->has_mode)
		rc = om_kv_add(kv, &n, "mode", om_fmt("%u", (unsigned)a->mode));
	if (!rc && a->has_uid)
		rc = om_kv_add(kv, &n, "uid", om_fmt("%u", (unsigned)a->uid));
	if (!rc && a->has_gid)
		rc = om_kv_add(kv, &n, "gid", om_fmt("%u", (unsigned)a->gid));
	if (!rc && a->has_mtime) {
		uint64_t mag = a->mtime_ns < 0 ? (uint64_t)0 - (uint64_t)a->mtime_ns
					       : (uint64_t)a->mtime_ns;
		const char *sign = a->mtime_ns < 0 ? "-" : "";

		if (mag % (uint64_t)NS_PER_S)
			rc = om_kv_add(kv, &n, "mtime", om_fmt("%s%" PRIu64 ".%09" PRIu64, sign,
							       mag / (uint64_t)NS_PER_S, mag % (uint64_t)NS_PER_S));
		else
			rc = om_kv_add(kv, &n, "mtime", om_fmt("%s%" PRIu64, sign, mag / (uint64_t)NS_PER_S));
	}
	if (!rc && a->nxattrs) {
		char *x = NULL;

		rc = om_xattr_encode(a, &x);
		if (!rc)
			rc = om_kv_add(kv, &n, "xattr", x);
	}
	if (rc)
		goto out;
	for (size_t i = 0; i < n; i++)
		total += strlen(kv[i].key) + strlen(kv[i].value);
	if (total > OBJFS_META_MAX) {
		rc = -E2BIG;
		goto out;
	}
	*out = kv;
	*nout = n;
	kv = NULL;
out:
	objfs_kv_free(kv, n);
	return rc;
}

static ssize_t om_xattr_index(const struct objfs_fileattr *a, const char *name)
{
	for (size_t i = 0; i < a->nxattrs; i++)
		if (strcmp(a->xattrs[i].name, name) == 0)
			return (ssize_t)i;
	return -1;
}

int objfs_fileattr_set_xattr(struct objfs_fileattr *a, const char *name, const void *value, size_t len)
{
	ssize_t i = om_xattr_index(a, name);
	void *copy = malloc(len ? len : 1);
	struct objfs_xattr *v;

	if (!copy)
		return -ENOMEM;
	if (len)
		memcpy(copy, value, len);
	if (i >= 0) {
		free(a->xattrs[i].value);
		a->xattrs[i].value = copy;
		a->xattrs[i].len = len;
		return 0;
	}
	v = realloc(a->xattrs, (a->nxattrs + 1) * sizeof(*v));
	if (!v) {
		free(copy);
		return -ENOMEM;
	}
	a->xattrs = v;
	v[a->nxattrs].name = strdup(name);
	if (!v[a->nxattrs].name) {
		free(copy);
		return -ENOMEM;
	}
	v[a->nxattrs].value = copy;
	v[a->nxattrs].len = len;
	a->nxattrs++;
	return 0;
}

int objfs_fileattr_remove_xattr(struct objfs_fileattr *a, const char *name)
{
	ssize_t i = om_xattr_index(a, name);

	if (i < 0)
		return -ENODATA;
	free(a->xattrs[i].name);
	free(a->xattrs[i].value);
	memmove(&a->xattrs[i], &a->xattrs[i + 1], (a->nxattrs - (size_t)i - 1) * sizeof(a->xattrs[0]));
	a->nxattrs--;
	if (a->nxattrs == 0) {
		free(a->xattrs);
		a->xattrs = NULL;
	}
	return 0;
}

const struct objfs_xattr *objfs_fileattr_get_xattr(const struct objfs_fileattr *a, const char *name)
{
	ssize_t i = om_xattr_index(a, name);

	return i < 0 ? NULL : &a->xattrs[i];
}

/* dst is overwritten (not freed first): pass a zeroed or cleared struct.
 * On failure dst is left cleared. */
int objfs_fileattr_copy(struct objfs_fileattr *dst, const struct objfs_fileattr *src)
{
	*dst = *src;
	dst->xattrs = NULL;
	dst->nxattrs = 0;
	if (!src->nxattrs)
		return 0;
	dst->xattrs = calloc(src->nxattrs, sizeof(*dst->xattrs));
	if (!dst->xattrs)
		goto fail;
	for (size_t i = 0; i < src->nxattrs; i++) {
		const struct objfs_xattr *x = &src->xattrs[i];

		dst->xattrs[i].name = strdup(x->name);
		dst->xattrs[i].value = malloc(x->len ? x->len : 1);
		dst->xattrs[i].len = x->len;
		dst->nxattrs++;
		if (!dst->xattrs[i].name || !dst->xattrs[i].value)
			goto fail;
		if (x->len)
			memcpy(dst->xattrs[i].value, x->value, x->len);
	}
	return 0;
fail:
	objfs_fileattr_clear(dst);
	return -ENOMEM;
}

/* ---- Content-Type ------------------------------------------------------------ */

static const struct { const char *ext, *type; } om_types[] = {
	{ "7z", "application/x-7z-compressed" },
	{ "avi", "video/x-msvideo" },
	{ "avif", "image/avif" },
	{ "bmp", "image/bmp" },
	{ "bz2", "application/x-bzip2" },
	{ "c", "text/x-c" },
	{ "cpp", "text/x-c" },
	{ "css", "text/css" },
	{ "csv", "text/csv" },
	{ "deb", "application/vnd.debian.binary-package" },
	{ "doc", "application/msword" },
	{ "docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document" },
	{ "eot", "application/vnd.ms-fontobject" },
	{ "epub", "application/epub+zip" },
	{ "exe", "application/x-msdownload" },
	{ "flac", "audio/flac" },
	{ "gif", "image/gif" },
	{ "gz", "application/gzip" },
	{ "h", "text/x-c" },
	{ "heic", "image/heic" },
	{ "htm", "text/html" },
	{ "html", "text/html" },
	{ "ico", "image/vnd.microsoft.icon" },
	{ "ics", "text/calendar" },
	{ "iso", "application/x-iso9660-image" },
	{ "jar", "application/java-archive" },
	{ "jpeg", "image/jpeg" },
	{ "jpg", "image/jpeg" },
	{ "js", "text/javascript" },
	{ "json", "application/json" },
	{ "log", "text/plain" },
	{ "m4a", "audio/mp4" },
	{ "md", "text/markdown" },
	{ "mjs", "text/javascript" },
	{ "mkv", "video/x-matroska" },
	{ "mov", "video/quicktime" },
	{ "mp3", "audio/mpeg" },
	{ "mp4", "video/mp4" },
	{ "mpeg", "video/mpeg" },
	{ "msi", "application/x-msdownload" },
	{ "odp", "application/vnd.oasis.opendocument.presentation" },
	{ "ods", "application/vnd.oasis.opendocument.spreadsheet" },
	{ "odt", "application/vnd.oasis.opendocument.text" },
	{ "oga", "audio/ogg" },
	{ "ogg", "audio/ogg" },
	{ "ogv", "video/ogg" },
	{ "otf", "font/otf" },
	{ "pdf", "application/pdf" },
	{ "png", "image/png" },
	{ "ppt", "application/vnd.ms-powerpoint" },
	{ "pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation" },
	{ "py", "text/x-python" },
	{ "rar", "application/vnd.rar" },
	{ "rtf", "application/rtf" },
	{ "sh", "application/x-sh" },
	{ "sql", "application/sql" },
	{ "svg", "image/svg+xml" },
	{ "tar", "application/x-tar" },
	{ "tgz", "application/gzip" },
	{ "tif", "image/tiff" },
	{ "tiff", "image/tiff" },
	{ "toml", "application/toml" },
	{ "ttf", "font/ttf" },
	{ "tsv", "text/tab-separated-values" },
	{ "txt", "text/plain" },
	{ "wasm", "application/wasm" },
	{ "wav", "audio/wav" },
	{ "webm", "video/webm" },
	{ "webp", "image/webp" },
	{ "woff", "font/woff" },
	{ "woff2", "font/woff2" },
	{ "xls", "application/vnd.ms-excel" },
	{ "xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" },
	{ "xml", "application/xml" },
	{ "xz", "application/x-xz" },
	{ "yaml", "application/yaml" },
	{ "yml", "application/yaml" },
	{ "zip", "application/zip" },
	{ "zst", "application/zstd" },
};

/* The system's MIME database decides (mimetype.h); om_types is the fallback
 * for a machine without one. */
const char *objfs_content_type_for(const char *name)
{
	const char *base, *dot;

	if (!name)
		return "application/octet-stream";
	if (mimetype_loaded()) {
		const char *t = mimetype_for_name(name);

		return t ? t : MIMETYPE_UNDECIDED;
	}
	base = strrchr(name, '/');
	base = base ? base + 1 : name;
	dot = strrchr(base, '.');
	if (!dot || dot == base || dot[1] == '\0')
		return "application/octet-stream";   /* no extension, or a dot file */
	for (size_t i = 0; i < sizeof(om_types) / sizeof(om_types[0]); i++)
		if (strcasecmp(om_types[i].ext, dot + 1) == 0)
			return om_types[i].type;
	return "application/octet-stream";
}

int objfs_objmeta_is_upload(const struct objfs_objinfo *oi, uint64_t size,
			    const struct objfs_kv *meta, size_t nmeta)
{
	if (!nmeta || oi->size != size)
		return 0;
	for (size_t i = 0; i < nmeta; i++) {
		int found = 0;

		for (size_t j = 0; j < oi->nmeta && !found; j++)
			found = !strcasecmp(oi->meta[j].key, meta[i].key) &&
				!strcmp(oi->meta[j].value, meta[i].value);
		if (!found)
			return 0;
	}
	return 1;
}
