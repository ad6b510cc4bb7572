/*
 * Configuration file -> struct objfs_config (see docs/configuration.md).
 *
 * How it works.  libinih does the key = value splitting, but it cannot tell
 * the handler a line number (Debian builds it with INI_HANDLER_LINENO 0),
 * truncates section names to 50 bytes, never reports empty sections and
 * silently splits lines longer than 200 bytes.  So we feed it through our own
 * reader (cfg_reader), which reads whole lines, counts them, refuses long
 * lines and recognises the "[kind NAME]" headers itself.  Everything is first
 * collected raw (struct cfg_sec: keys with their line numbers), then checked
 * in a second pass: [objfs], environment overrides, [provider ...],
 * [tenant ...], cross-checks, and last the creation of cache_dir, so that a
 * bad file has no side effect.  The first problem found stops the load and
 * becomes the one-line message "FILE:LINE: problem" ("FILE: problem" when it
 * is not tied to a line).
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sys/types.h>

#include <ini.h>

#include "config.h"
#include "log.h"
#include "mimetype.h"
#include "tenant.h"

#define CFG_MIB (1024ULL * 1024ULL)
#define CFG_IMPLICIT_LOCAL_ROOT "/var/lib/objfs/objects"

enum cfg_kind { SEC_OBJFS, SEC_PROVIDER, SEC_TENANT };

struct cfg_key {
	char *name;
	char *value;
	int line;
};

/* One section as written in the file, before validation. */
struct cfg_sec {
	enum cfg_kind kind;
	char *name;                 /* NULL for [objfs] */
	int line;
	struct cfg_key *keys;
	size_t nkeys, cap;
};

struct cfg_state {
	const char *path;
	FILE *f;
	int lineno;                 /* lines read so far = line being parsed */
	int prev_key;               /* a key line was seen in the current section */
	char *buf;                  /* getline buffer */
	size_t bufcap;
	struct cfg_sec *secs;
	size_t nsecs, cap;
	int rc;                     /* first error (negative errno), 0 if none */
	int errline;                /* its line, 0 if not tied to a line */
	char *errbuf;
	size_t errlen;
	struct objfs_config *cfg;
	int objfs_lines[48];        /* line of each objfs_opts[] key, 0 = default */
	const char *objfs_src[32];  /* environment variable that set it, or NULL */
};

/* Records the first error only; returns it.  line 0: "FILE: msg". */
static int cfg_err(struct cfg_state *st, int rc, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int cfg_err(struct cfg_state *st, int rc, int line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (st->rc)
		return st->rc;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	st->rc = rc;
	st->errline = line;
	if (st->errbuf && st->errlen) {
		if (line > 0)
			snprintf(st->errbuf, st->errlen, "%s:%d: %s", st->path, line, msg);
		else
			snprintf(st->errbuf, st->errlen, "%s: %s", st->path, msg);
	}
	return rc;
}

static int cfg_oom(struct cfg_state *st)
{
	return cfg_err(st, -ENOMEM, 0, "out of memory");
}

/* ---- small parsers -------------------------------------------------------- */

static const char *cfg_kind_name(enum cfg_kind k)
{
	return k == SEC_OBJFS ? "objfs" : k == SEC_PROVIDER ? "provider" : "tenant";
}

/* Plain unsigned decimal: digits only, no sign, no blanks, no overflow. */
static int cfg_parse_u64(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end = NULL;

	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	if (errno || *end != '\0')
		return -EINVAL;
	*out = v;
	return 0;
}

/* Bytes, or a number with one suffix K, M, G, T (KiB .. TiB), either case. */
static int cfg_parse_size(const char *s, uint64_t *out)
{
	static const char suffixes[] = "KMGT";
	char num[32];
	size_t len = strlen(s);
	uint64_t v, mult = 1;
	const char *p;
	int rc;

	if (len == 0 || len >= sizeof(num))
		return len ? -ERANGE : -EINVAL;
	memcpy(num, s, len + 1);
	p = strchr(suffixes, toupper((unsigned char)num[len - 1]));
	if (p) {   /* num[len - 1] is not NUL, so p is a real suffix */
		for (const char *q = suffixes; q <= p; q++)
			mult *= 1024;
		num[len - 1] = '\0';
	}
	rc = cfg_parse_u64(num, &v);
	if (rc)
		return rc;
	if (v > UINT64_MAX / mult)
		return -ERANGE;
	*out = v * mult;
	return 0;
}

static int cfg_parse_bool(const char *s, int *out)
{
	static const char *const yes[] = { "true", "yes", "1", "on" };
	static const char *const no[] = { "false", "no", "0", "off" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -EINVAL;
}

static int cfg_has_ctl(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

/* host:port, host may be [v6]; port 1..65535. */
static int cfg_listen_valid(const char *s)
{
	const char *colon = strrchr(s, ':');
	uint64_t port;

	if (!colon || colon == s || cfg_parse_u64(colon + 1, &port) || port == 0 || port > 65535)
		return 0;
	if (s[0] == '[' && colon[-1] != ']')
		return 0;
	for (const char *p = s; p < colon; p++)
		if (isspace((unsigned char)*p) || (unsigned char)*p < 0x20)
			return 0;
	return 1;
}

/* Provider names and group names: 1..63 of [A-Za-z0-9_.-], starting alnum. */
static int cfg_ident_valid(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > 63 || !isalnum((unsigned char)s[0]))
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("_.-", s[i]))
			return 0;
	return 1;
}

/* Printable ASCII without blanks (sse, storage_class). */
static int cfg_token_valid(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > 256)
		return 0;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return 0;
	return 1;
}

static char *cfg_trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* Replaces every "{tenant}" in pattern by name; malloc'ed or NULL. */
static char *cfg_expand(const char *pattern, const char *name)
{
	static const char tag[] = "{tenant}";
	size_t tl = sizeof(tag) - 1, nl = strlen(name), n = 0;
	const char *p;
	char *out, *o;

	for (p = pattern; (p = strstr(p, tag)); p += tl)
		n++;
	out = malloc(strlen(pattern) + n * nl + 1);
	if (!out)
		return NULL;
	for (o = out, p = pattern; *p;) {
		if (strncmp(p, tag, tl) == 0) {
			memcpy(o, name, nl);
			o += nl;
			p += tl;
		} else {
			*o++ = *p++;
		}
	}
	*o = '\0';
	return out;
}

/*
 * Normalises a prefix: leading '/' removed, trailing '/' added when not
 * empty.  Refuses empty, "." and ".." segments, control bytes, invalid UTF-8
 * and prefixes too long to leave room for a key.  *out malloc'ed.
 */
static int cfg_prefix_normalise(const char *in, char **out, const char **why)
{
	size_t len;
	const char *s = in, *seg;
	char *p;

	*out = NULL;
	while (*s == '/')
		s++;
	len = strlen(s);
	while (len > 0 && s[len - 1] == '/')
		len--;
	if (len == 0) {
		*out = strdup("");
		return *out ? 0 : -ENOMEM;
	}
	if (len + 1 > OBJFS_KEY_MAX / 2) {
		*why = "is too long";
		return -EINVAL;
	}
	for (seg = s; seg < s + len;) {
		const char *e = memchr(seg, '/', (size_t)(s + len - seg));
		size_t sl = e ? (size_t)(e - seg) : (size_t)(s + len - seg);
		int rc = objfs_name_check(seg, sl);

		if (rc) {
			*why = rc == -EILSEQ ? "is not valid UTF-8" :
			       rc == -ENAMETOOLONG ? "has a segment longer than 255 bytes" :
			       "has an empty, \".\" or \"..\" segment or a control character";
			return -EINVAL;
		}
		seg += sl + 1;
	}
	p = malloc(len + 2);
	if (!p)
		return -ENOMEM;
	memcpy(p, s, len);
	p[len] = '/';
	p[len + 1] = '\0';
	*out = p;
	return 0;
}

/* ---- names ---------------------------------------------------------------- */

static int cfg_ipv4_like(const char *s)
{
	int groups = 0, digits = 0;

	for (;; s++) {
		if (isdigit((unsigned char)*s)) {
			if (++digits > 3)
				return 0;
		} else if (*s == '.' || *s == '\0') {
			if (digits == 0)
				return 0;
			groups++;
			digits = 0;
			if (*s == '\0')
				break;
		} else {
			return 0;
		}
	}
	return groups == 4;
}

/* [a-z0-9.-], starting and ending with a letter or digit, no "..". */
static int cfg_bucketish(const char *s, size_t min, size_t max)
{
	size_t len = strlen(s);

	if (len < min || len > max)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-'))
			return 0;
		if (c == '.' && i + 1 < len && s[i + 1] == '.')
			return 0;
	}
	if (!isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[len - 1]))
		return 0;
	return 1;
}

int objfs_bucket_name_valid(const char *name)
{
	if (!name || !cfg_bucketish(name, 3, 63))
		return 0;
	return !cfg_ipv4_like(name);
}

int objfs_tenant_name_valid(const char *name)
{
	if (!name)
		return 0;
	if (name[0] == '_')
		return cfg_bucketish(name + 1, 1, 62);
	return objfs_bucket_name_valid(name);
}

/* ---- pass 1: reading ------------------------------------------------------ */

static struct cfg_sec *cfg_cur(struct cfg_state *st)
{
	return st->nsecs ? &st->secs[st->nsecs - 1] : NULL;
}

/* Handles a "[kind NAME]" header line (s starts at '['). */
static int cfg_section_line(struct cfg_state *st, char *s)
{
	char *end = strchr(s, ']'), *body, *name = NULL, *after;
	enum cfg_kind kind;
	struct cfg_sec *sec;

	if (!end)
		return cfg_err(st, -EINVAL, st->lineno, "syntax error: section header without ']'");
	*end = '\0';
	after = cfg_trim(end + 1);
	if (*after && *after != ';' && *after != '#')
		return cfg_err(st, -EINVAL, st->lineno, "syntax error: text after section header [%s]", s + 1);
	body = cfg_trim(s + 1);
	for (char *p = body; *p; p++) {
		if (isspace((unsigned char)*p)) {
			*p = '\0';
			name = cfg_trim(p + 1);
			break;
		}
	}
	if (strcmp(body, "objfs") == 0)
		kind = SEC_OBJFS;
	else if (strcmp(body, "provider") == 0)
		kind = SEC_PROVIDER;
	else if (strcmp(body, "tenant") == 0)
		kind = SEC_TENANT;
	else
		return cfg_err(st, -EINVAL, st->lineno,
			       "unknown section [%s%s%s] (expected [objfs], [provider NAME] or [tenant NAME])",
			       body, name ? " " : "", name ? name : "");
	if (kind == SEC_OBJFS && name)
		return cfg_err(st, -EINVAL, st->lineno, "section [objfs] takes no name");
	if (kind != SEC_OBJFS && (!name || !*name))
		return cfg_err(st, -EINVAL, st->lineno, "section [%s] needs a name: [%s NAME]", body, body);
	if (kind == SEC_PROVIDER && !cfg_ident_valid(name))
		return cfg_err(st, -EINVAL, st->lineno,
			       "invalid provider name \"%s\" (1-63 of A-Z a-z 0-9 _ . -, starting with a letter or digit)",
			       name);
	if (kind == SEC_TENANT && !objfs_tenant_name_valid(name))
		return cfg_err(st, -EINVAL, st->lineno,
			       "invalid tenant name \"%s\" (3-63 of a-z 0-9 . -, starting and ending with a letter or digit, no \"..\", not an IP address; or '_' and such a name)",
			       name);
	for (size_t i = 0; i < st->nsecs; i++) {
		struct cfg_sec *o = &st->secs[i];

		if (o->kind == kind && (kind == SEC_OBJFS || strcmp(o->name, name) == 0))
			return cfg_err(st, -EINVAL, st->lineno, "duplicate section [%s%s%s] (first at line %d)",
				       cfg_kind_name(kind), name ? " " : "", name ? name : "", o->line);
	}
	if (st->nsecs == st->cap) {
		size_t ncap = st->cap ? st->cap * 2 : 8;
		struct cfg_sec *v = realloc(st->secs, ncap * sizeof(*v));

		if (!v)
			return cfg_oom(st);
		st->secs = v;
		st->cap = ncap;
	}
	sec = &st->secs[st->nsecs];
	memset(sec, 0, sizeof(*sec));
	sec->kind = kind;
	sec->line = st->lineno;
	if (name && !(sec->name = strdup(name)))
		return cfg_oom(st);
	st->nsecs++;
	st->prev_key = 0;
	return 0;
}

/* fgets-style reader for inih: whole lines, counted, headers handled here. */
static char *cfg_reader(char *str, int num, void *stream)
{
	struct cfg_state *st = stream;
	ssize_t n;
	size_t len;
	char *s;

	if (st->rc)
		return NULL;
	errno = 0;
	n = getline(&st->buf, &st->bufcap, st->f);
	if (n < 0) {
		if (ferror(st->f))
			cfg_err(st, errno ? -errno : -EIO, 0, "read error: %s", strerror(errno ? errno : EIO));
		return NULL;
	}
	st->lineno++;
	len = (size_t)n;
	if (strlen(st->buf) != len) {
		cfg_err(st, -EINVAL, st->lineno, "NUL byte in line");
		return NULL;
	}
	while (len > 0 && (st->buf[len - 1] == '\n' || st->buf[len - 1] == '\r'))
		st->buf[--len] = '\0';
	if (len + 2 > (size_t)num) {
		cfg_err(st, -EINVAL, st->lineno, "line too long (at most %d bytes)", num - 2);
		return NULL;
	}
	memcpy(str, st->buf, len);
	str[len] = '\n';
	str[len + 1] = '\0';

	s = st->buf;
	if (st->lineno == 1 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
		s += 3;
	while (isspace((unsigned char)*s))
		s++;
	if (*s == '\0' || *s == ';' || *s == '#')
		return str;
	if (st->prev_key && s > st->buf) {
		/* inih would append this to the previous value */
		cfg_err(st, -EINVAL, st->lineno,
			"indented line: continuation lines are not supported (remove the leading blanks)");
		return NULL;
	}
	if (*s == '[') {
		if (cfg_section_line(st, s))
			return NULL;
	}
	return str;
}

static int cfg_handler(void *user, const char *section, const char *name, const char *value)
{
	struct cfg_state *st = user;
	struct cfg_sec *sec = cfg_cur(st);
	struct cfg_key *k;

	(void)section;   /* truncated by inih; cfg_reader tracks the real one */
	if (st->rc)
		return 0;
	st->prev_key = 1;
	if (!sec) {
		cfg_err(st, -EINVAL, st->lineno, "key \"%s\" outside any section", name);
		return 0;
	}
	if (!*name) {
		cfg_err(st, -EINVAL, st->lineno, "syntax error: empty key name");
		return 0;
	}
	for (size_t i = 0; i < sec->nkeys; i++) {
		if (strcmp(sec->keys[i].name, name) == 0) {
			cfg_err(st, -EINVAL, st->lineno, "duplicate key %s (first at line %d)",
				name, sec->keys[i].line);
			return 0;
		}
	}
	if (sec->nkeys == sec->cap) {
		size_t ncap = sec->cap ? sec->cap * 2 : 8;
		struct cfg_key *v = realloc(sec->keys, ncap * sizeof(*v));

		if (!v) {
			cfg_oom(st);
			return 0;
		}
		sec->keys = v;
		sec->cap = ncap;
	}
	k = &sec->keys[sec->nkeys];
	k->name = strdup(name);
	k->value = strdup(value);
	k->line = st->lineno;
	if (!k->name || !k->value) {
		free(k->name);
		free(k->value);
		cfg_oom(st);
		return 0;
	}
	sec->nkeys++;
	return 1;
}

/* ---- pass 2: values -------------------------------------------------------- */

enum cfg_type {
	T_PATH,      /* absolute path */
	T_IDENT,     /* provider / group name */
	T_LISTEN,    /* host:port */
	T_PATTERN,   /* bucket pattern with {tenant} */
	T_LEVEL,     /* log level */
	T_RCACHE,    /* read_cache mode */
	T_MODE,      /* octal mode */
	T_SIZE,      /* uint64_t size with suffix */
	T_UINT,      /* unsigned, decimal */
	T_BOOL,      /* int */
	T_BUCKET,    /* bucket name */
	T_PREFIX,    /* normalised prefix */
	T_TOKEN,     /* printable without blanks */
	T_TYPES,     /* char **, NULL-terminated MIME types */
	T_IDS,       /* unsigned * + size_t count at off2 */
};

struct cfg_opt {
	const char *name;
	enum cfg_type type;
	size_t off;
	uint64_t min, max;
	size_t off2;
};

#define CO(n, t, f, lo, hi) { n, t, offsetof(struct objfs_config, f), lo, hi, 0 }
static const struct cfg_opt objfs_opts[] = {
	CO("mountpoint", T_PATH, mountpoint, 0, 0),
	CO("cache_dir", T_PATH, cache_dir, 0, 0),
	CO("control_socket", T_PATH, control_socket, 0, 0),
	CO("control_socket_mode", T_MODE, control_socket_mode, 0, 0777),
	CO("control_socket_group", T_IDENT, control_socket_group, 0, 0),
	CO("control_admin_group", T_IDENT, control_admin_group, 0, 0),
	CO("metrics_listen", T_LISTEN, metrics_listen, 0, 0),
	CO("presign_ttl_default", T_UINT, presign_ttl_default_s, 1, 604800),
	CO("presign_ttl_max", T_UINT, presign_ttl_max_s, 1, 604800),
	CO("audit_log", T_PATH, audit_log, 0, 0),
	CO("audit_log_max_bytes", T_SIZE, audit_log_max_bytes, 0, UINT64_MAX),
	CO("audit_log_keep", T_UINT, audit_log_keep, 0, 100),
	CO("default_provider", T_IDENT, default_provider, 0, 0),
	CO("bucket_pattern", T_PATTERN, bucket_pattern, 0, 0),
	CO("log_level", T_LEVEL, log_level, 0, 0),
	CO("chunk_size", T_SIZE, chunk_size, CFG_MIB, 64 * CFG_MIB),
	CO("staging_max_bytes", T_SIZE, staging_max_bytes, 0, UINT64_MAX),
	CO("read_cache_max_bytes", T_SIZE, read_cache_max_bytes, 0, UINT64_MAX),
	CO("multipart_threshold", T_SIZE, multipart_threshold, 0, UINT64_MAX),
	CO("upload_workers", T_UINT, upload_workers, 1, 64),
	CO("upload_parallel_parts", T_UINT, upload_parallel_parts, 1, 64),
	CO("attr_ttl", T_UINT, attr_ttl_s, 0, 31536000),
	CO("dir_ttl", T_UINT, dir_ttl_s, 0, 31536000),
	CO("negative_ttl", T_UINT, neg_ttl_s, 0, 31536000),
	CO("revalidate_ms", T_UINT, revalidate_ms, 0, 3600000),
	CO("drain_timeout", T_UINT, drain_timeout_s, 0, 86400),
	CO("quota_reconcile_interval", T_UINT, quota_reconcile_s, 0, 31536000),
	CO("sync_upload", T_BOOL, sync_upload, 0, 0),
	CO("writeback_delay_ms", T_UINT, writeback_delay_ms, 0, 3600000),
	CO("read_cache", T_RCACHE, read_cache, 0, 0),
};
#define NOBJFS_OPTS (sizeof(objfs_opts) / sizeof(objfs_opts[0]))

#define TO(n, t, f, lo, hi) { n, t, offsetof(struct objfs_tenant_conf, f), lo, hi, 0 }
static const struct cfg_opt tenant_opts[] = {
	TO("provider", T_IDENT, provider, 0, 0),
	TO("bucket", T_BUCKET, bucket, 0, 0),
	TO("prefix", T_PREFIX, prefix, 0, 0),
	TO("quota_bytes", T_SIZE, quota_bytes, 0, UINT64_MAX),
	TO("quota_objects", T_SIZE, quota_objects, 0, UINT64_MAX),
	TO("max_object_size", T_SIZE, max_object_size, 0, UINT64_MAX),
	TO("allowed_types", T_TYPES, allowed_types, 0, 0),
	TO("denied_types", T_TYPES, denied_types, 0, 0),
	TO("sniff_types", T_BOOL, sniff_types, 0, 0),
	{ "allow_uids", T_IDS, offsetof(struct objfs_tenant_conf, allow_uids), 0, UINT32_MAX - 1,
	  offsetof(struct objfs_tenant_conf, nallow_uids) },
	{ "allow_gids", T_IDS, offsetof(struct objfs_tenant_conf, allow_gids), 0, UINT32_MAX - 1,
	  offsetof(struct objfs_tenant_conf, nallow_gids) },
	TO("read_only", T_BOOL, read_only, 0, 0),
	TO("trash_days", T_UINT, trash_days, 0, 3650),
	TO("sse", T_TOKEN, sse, 0, 0),
	TO("sse_kms_key_id", T_TOKEN, sse_kms_key_id, 0, 0),
	TO("sse_customer_key", T_PATH, sse_customer_key, 0, 0),
	TO("storage_class", T_TOKEN, storage_class, 0, 0),
	TO("acl", T_TOKEN, acl, 0, 0),
};
#define NTENANT_OPTS (sizeof(tenant_opts) / sizeof(tenant_opts[0]))

_Static_assert(sizeof(uid_t) == sizeof(unsigned) && sizeof(gid_t) == sizeof(unsigned),
	       "uid_t/gid_t stored as unsigned");

static void cfg_strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

/* Splits a comma-separated list into trimmed, non-empty items. */
static int cfg_split(const char *value, char ***out, size_t *nout)
{
	char *copy = strdup(value), *save = NULL, *tok;
	char **v = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;

	*out = NULL;
	*nout = 0;
	if (!copy)
		return -ENOMEM;
	/* an empty item ("a,,b", "a,") is an error, so do not use strtok's merging */
	for (tok = copy;; tok = save + 1) {
		char *item;

		save = strchr(tok, ',');
		if (save)
			*save = '\0';
		item = cfg_trim(tok);
		if (!*item) {
			rc = -EINVAL;
			goto out;
		}
		if (n + 1 >= cap) {
			size_t ncap = cap ? cap * 2 : 8;
			char **nv = realloc(v, ncap * sizeof(*nv));

			if (!nv) {
				rc = -ENOMEM;
				goto out;
			}
			v = nv;
			cap = ncap;
		}
		if (!(v[n] = strdup(item))) {
			rc = -ENOMEM;
			goto out;
		}
		v[++n] = NULL;
		if (!save)
			break;
	}
	*out = v;
	*nout = n;
	v = NULL;
out:
	cfg_strv_free(v);
	free(copy);
	return rc;
}

static int cfg_set_str(struct cfg_state *st, char **dst, const char *value)
{
	char *s = strdup(value);

	if (!s)
		return cfg_oom(st);
	free(*dst);
	*dst = s;
	return 0;
}

/*
 * Parses value for opt into base + opt->off.  where: how to name the place in
 * an error, line > 0 -> "FILE:LINE: key: ..." else "FILE: label: ...".
 */
static int cfg_set_opt(struct cfg_state *st, void *base, const struct cfg_opt *o,
		       const char *value, int line, const char *label)
{
	char *field = (char *)base + o->off;
	uint64_t v = 0;
	int rc = 0, b;

	if (!*value && o->type != T_PREFIX)
		return cfg_err(st, -EINVAL, line, "%s: empty value", label);
	if (cfg_has_ctl(value))
		return cfg_err(st, -EINVAL, line, "%s: control character in value", label);
	switch (o->type) {
	case T_PATH:
		if (value[0] != '/')
			return cfg_err(st, -EINVAL, line, "%s: \"%s\" is not an absolute path", label, value);
		if (strlen(value) >= PATH_MAX)
			return cfg_err(st, -EINVAL, line, "%s: path too long", label);
		return cfg_set_str(st, (char **)field, value);
	case T_IDENT:
		if (!cfg_ident_valid(value))
			return cfg_err(st, -EINVAL, line,
				       "%s: invalid name \"%s\" (1-63 of A-Z a-z 0-9 _ . -)", label, value);
		return cfg_set_str(st, (char **)field, value);
	case T_LISTEN:
		if (!cfg_listen_valid(value))
			return cfg_err(st, -EINVAL, line,
				       "%s: \"%s\" is not HOST:PORT (port 1-65535)", label, value);
		return cfg_set_str(st, (char **)field, value);
	case T_PATTERN:
		if (!strstr(value, "{tenant}"))
			return cfg_err(st, -EINVAL, line, "%s: \"%s\" does not contain {tenant}", label, value);
		return cfg_set_str(st, (char **)field, value);
	case T_LEVEL:
		if (objfs_log_parse_level(value) < 0)
			return cfg_err(st, -EINVAL, line,
				       "%s: invalid log level \"%s\" (error, warn, info or debug)", label, value);
		return cfg_set_str(st, (char **)field, value);
	case T_RCACHE:
		if (!strcmp(value, "auto"))
			*(int *)field = OBJFS_READ_CACHE_AUTO;
		else if (!strcmp(value, "always"))
			*(int *)field = OBJFS_READ_CACHE_ALWAYS;
		else if (!strcmp(value, "never"))
			*(int *)field = OBJFS_READ_CACHE_NEVER;
		else
			return cfg_err(st, -EINVAL, line,
				       "%s: invalid value \"%s\" (auto, always or never)", label, value);
		return 0;
	case T_MODE: {
		char *end = NULL;
		unsigned long m;

		errno = 0;
		m = isdigit((unsigned char)value[0]) ? strtoul(value, &end, 8) : ULONG_MAX;
		if (m == ULONG_MAX || errno || *end || m > o->max)
			return cfg_err(st, -EINVAL, line, "%s: invalid octal mode \"%s\" (0000-0777)", label, value);
		*(mode_t *)field = (mode_t)m;
		return 0;
	}
	case T_SIZE:
	case T_UINT:
		rc = o->type == T_SIZE ? cfg_parse_size(value, &v) : cfg_parse_u64(value, &v);
		if (rc == -ERANGE)
			return cfg_err(st, -EINVAL, line, "%s: number \"%s\" out of range", label, value);
		if (rc)
			return cfg_err(st, -EINVAL, line, "%s: invalid number \"%s\"%s", label, value,
				       o->type == T_SIZE ? " (bytes, or with suffix K, M, G or T)" : "");
		if (v < o->min || v > o->max)
			return cfg_err(st, -EINVAL, line,
				       "%s: %s out of range (%llu..%llu)", label, value,
				       (unsigned long long)o->min, (unsigned long long)o->max);
		if (o->type == T_SIZE)
			*(uint64_t *)field = v;
		else
			*(unsigned *)field = (unsigned)v;
		return 0;
	case T_BOOL:
		if (cfg_parse_bool(value, &b))
			return cfg_err(st, -EINVAL, line,
				       "%s: invalid boolean \"%s\" (true/false, yes/no, on/off, 1/0)", label, value);
		*(int *)field = b;
		return 0;
	case T_BUCKET:
		if (!objfs_bucket_name_valid(value))
			return cfg_err(st, -EINVAL, line,
				       "%s: \"%s\" is not a valid bucket name (3-63 of a-z 0-9 . -, starting and ending with a letter or digit, no \"..\", not an IP address)",
				       label, value);
		return cfg_set_str(st, (char **)field, value);
	case T_PREFIX: {
		/* {tenant} is expanded later, once the name is known */
		const char *why = "is invalid";
		char *norm = NULL;

		rc = cfg_prefix_normalise(value, &norm, &why);
		if (rc == -ENOMEM)
			return cfg_oom(st);
		if (rc)
			return cfg_err(st, -EINVAL, line, "%s: \"%s\" %s", label, value, why);
		free(*(char **)field);
		*(char **)field = norm;
		return 0;
	}
	case T_TOKEN:
		if (!cfg_token_valid(value))
			return cfg_err(st, -EINVAL, line, "%s: invalid value \"%s\" (no blanks)", label, value);
		return cfg_set_str(st, (char **)field, value);
	case T_TYPES: {
		char **v2 = NULL;
		size_t n = 0;

		rc = cfg_split(value, &v2, &n);
		if (rc == -ENOMEM)
			return cfg_oom(st);
		if (rc)
			return cfg_err(st, -EINVAL, line, "%s: empty item in list \"%s\"", label, value);
		for (size_t i = 0; i < n; i++) {
			if (!mimetype_pattern_valid(v2[i])) {
				rc = cfg_err(st, -EINVAL, line,
					     "%s: \"%s\" is not a MIME type pattern (type/subtype, '*' as a wildcard)",
					     label, v2[i]);
				cfg_strv_free(v2);
				return rc;
			}
			for (char *p = v2[i]; *p; p++)
				*p = (char)tolower((unsigned char)*p);
		}
		cfg_strv_free(*(char ***)field);
		*(char ***)field = v2;
		return 0;
	}
	case T_IDS: {
		char **items = NULL;
		unsigned *ids = NULL;
		size_t n = 0;

		rc = cfg_split(value, &items, &n);
		if (rc == -ENOMEM)
			return cfg_oom(st);
		if (rc)
			return cfg_err(st, -EINVAL, line, "%s: empty item in list \"%s\"", label, value);
		ids = calloc(n, sizeof(*ids));
		if (!ids) {
			cfg_strv_free(items);
			return cfg_oom(st);
		}
		for (size_t i = 0; i < n; i++) {
			if (cfg_parse_u64(items[i], &v) || v > o->max) {
				rc = cfg_err(st, -EINVAL, line,
					     "%s: invalid id \"%s\" (0..%llu)", label, items[i],
					     (unsigned long long)o->max);
				break;
			}
			ids[i] = (unsigned)v;
		}
		cfg_strv_free(items);
		if (rc) {
			free(ids);
			return rc;
		}
		free(*(unsigned **)field);
		*(unsigned **)field = ids;
		*(size_t *)((char *)base + o->off2) = n;
		return 0;
	}
	}
	return cfg_err(st, -EINVAL, line, "%s: internal error", label);
}

static const struct cfg_opt *cfg_find_opt(const struct cfg_opt *opts, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(opts[i].name, name) == 0)
			return &opts[i];
	return NULL;
}

static int cfg_defaults(struct cfg_state *st)
{
	struct objfs_config *c = st->cfg;

	c->cache_dir = strdup("/var/cache/objfs");
	c->control_socket = strdup("/run/objfs/ctl.sock");
	c->default_provider = strdup("local");
	c->bucket_pattern = strdup("{tenant}-uploads");
	c->log_level = strdup("info");
	if (!c->cache_dir || !c->control_socket || !c->default_provider || !c->bucket_pattern ||
	    !c->log_level)
		return cfg_oom(st);
	c->control_socket_mode = 0660;
	c->chunk_size = 8 * CFG_MIB;
	c->staging_max_bytes = 4096 * CFG_MIB;
	c->read_cache_max_bytes = 2048 * CFG_MIB;
	c->multipart_threshold = 0;
	c->upload_workers = 4;
	c->upload_parallel_parts = 4;
	c->attr_ttl_s = 300;
	c->dir_ttl_s = 300;
	c->neg_ttl_s = 30;
	c->revalidate_ms = 1000;
	c->drain_timeout_s = 300;
	c->quota_reconcile_s = 3600;
	c->sync_upload = 0;
	c->writeback_delay_ms = 0;
	c->presign_ttl_default_s = 900;
	c->presign_ttl_max_s = 604800;
	c->audit_log_max_bytes = 64 * CFG_MIB;
	c->audit_log_keep = 5;
	return 0;
}

static int cfg_objfs_section(struct cfg_state *st, const struct cfg_sec *sec)
{
	for (size_t i = 0; i < sec->nkeys; i++) {
		const struct cfg_key *k = &sec->keys[i];
		const struct cfg_opt *o = cfg_find_opt(objfs_opts, NOBJFS_OPTS, k->name);
		int rc;

		if (!o)
			return cfg_err(st, -EINVAL, k->line, "unknown key %s in [objfs]", k->name);
		rc = cfg_set_opt(st, st->cfg, o, k->value, k->line, k->name);
		if (rc)
			return rc;
		st->objfs_lines[o - objfs_opts] = k->line;
	}
	if (st->cfg->presign_ttl_default_s > st->cfg->presign_ttl_max_s)
		return cfg_err(st, -EINVAL, sec->line,
			       "presign_ttl_default %u is above presign_ttl_max %u",
			       st->cfg->presign_ttl_default_s, st->cfg->presign_ttl_max_s);
	return 0;
}

/* Applies OBJFS_* environment variables; empty ones count as unset. */
static int cfg_env(struct cfg_state *st)
{
	static const struct { const char *var, *key; } env[] = {
		{ "OBJFS_PROVIDER", "default_provider" },
		{ "OBJFS_CACHE_DIR", "cache_dir" },
		{ "OBJFS_MOUNTPOINT", "mountpoint" },
		{ "OBJFS_LOG_LEVEL", "log_level" },
	};

	for (size_t i = 0; i < sizeof(env) / sizeof(env[0]); i++) {
		const char *v = getenv(env[i].var);
		const struct cfg_opt *o = cfg_find_opt(objfs_opts, NOBJFS_OPTS, env[i].key);
		char label[64];
		int rc;

		if (!v || !*v)
			continue;
		snprintf(label, sizeof(label), "environment %s", env[i].var);
		rc = cfg_set_opt(st, st->cfg, o, v, 0, label);
		if (rc)
			return rc;
		st->objfs_lines[o - objfs_opts] = 0;
		st->objfs_src[o - objfs_opts] = env[i].var;
	}
	return 0;
}

static int cfg_objfs_line(const struct cfg_state *st, const char *key)
{
	const struct cfg_opt *o = cfg_find_opt(objfs_opts, NOBJFS_OPTS, key);

	return st->objfs_lines[o - objfs_opts];
}

static int cfg_objfs_checks(struct cfg_state *st)
{
	struct objfs_config *c = st->cfg;

	if (c->chunk_size & (c->chunk_size - 1))
		return cfg_err(st, -EINVAL, cfg_objfs_line(st, "chunk_size"),
			       "chunk_size: %llu is not a power of two",
			       (unsigned long long)c->chunk_size);
	if (c->staging_max_bytes < 2 * c->chunk_size) {
		int line = cfg_objfs_line(st, "staging_max_bytes");

		return cfg_err(st, -EINVAL, line ? line : cfg_objfs_line(st, "chunk_size"),
			       "staging_max_bytes: %llu is less than 2 * chunk_size (%llu)",
			       (unsigned long long)c->staging_max_bytes,
			       (unsigned long long)(2 * c->chunk_size));
	}
	return 0;
}

/* ---- providers ------------------------------------------------------------ */

enum { PT_LOCAL = 1, PT_S3 = 2, PT_GCS = 4, PT_AZURE = 8 };

static const struct { const char *name; unsigned bit; } prov_types[] = {
	{ "local", PT_LOCAL }, { "s3", PT_S3 }, { "gcs", PT_GCS }, { "azure", PT_AZURE },
};

static const struct { const char *key; unsigned types; } prov_keys[] = {
	{ "type", PT_LOCAL | PT_S3 | PT_GCS | PT_AZURE },
	{ "root", PT_LOCAL },
	{ "listen", PT_LOCAL },
	{ "endpoint", PT_S3 | PT_GCS | PT_AZURE },
	{ "region", PT_S3 },
	{ "path_style", PT_S3 },
	{ "credentials", PT_S3 | PT_GCS | PT_AZURE },
	{ "account", PT_AZURE },
	{ "parallel_composite", PT_GCS },
};

static void cfg_provider_conf_clear(struct objfs_provider_conf *pc)
{
	free((void *)pc->name);
	free((void *)pc->type);
	free((void *)pc->root);
	free((void *)pc->listen);
	free((void *)pc->endpoint);
	free((void *)pc->region);
	free((void *)pc->credentials);
	free((void *)pc->account);
	memset(pc, 0, sizeof(*pc));
}

static int cfg_credentials_check(struct cfg_state *st, const char *path, int line)
{
	struct stat sb;

	if (path[0] != '/')
		return cfg_err(st, -EINVAL, line, "credentials: \"%s\" is not an absolute path", path);
	if (stat(path, &sb) != 0)
		return cfg_err(st, -EINVAL, line, "credentials file %s: %s", path, strerror(errno));
	if (!S_ISREG(sb.st_mode))
		return cfg_err(st, -EINVAL, line, "credentials file %s is not a regular file", path);
	if (sb.st_mode & 077)
		return cfg_err(st, -EINVAL, line,
			       "credentials file %s is readable by group or others (chmod 600)", path);
	return 0;
}

static int cfg_provider_add(struct cfg_state *st, struct objfs_provider_section **outp)
{
	struct objfs_config *c = st->cfg;
	struct objfs_provider_section *v;

	v = realloc(c->providers, (c->nproviders + 1) * sizeof(*v));
	if (!v)
		return cfg_oom(st);
	c->providers = v;
	*outp = &v[c->nproviders++];
	memset(*outp, 0, sizeof(**outp));
	return 0;
}

static int cfg_provider_section(struct cfg_state *st, const struct cfg_sec *sec)
{
	struct objfs_provider_section *ps = NULL;
	struct objfs_provider_conf *pc;
	const struct cfg_key *type_key = NULL;
	unsigned bit = 0;
	int rc;

	for (size_t i = 0; i < sec->nkeys; i++) {
		size_t j;

		for (j = 0; j < sizeof(prov_keys) / sizeof(prov_keys[0]); j++)
			if (strcmp(prov_keys[j].key, sec->keys[i].name) == 0)
				break;
		if (j == sizeof(prov_keys) / sizeof(prov_keys[0]))
			return cfg_err(st, -EINVAL, sec->keys[i].line, "unknown key %s in [provider %s]",
				       sec->keys[i].name, sec->name);
		if (j == 0)
			type_key = &sec->keys[i];
	}
	if (!type_key)
		return cfg_err(st, -EINVAL, sec->line,
			       "[provider %s]: missing key type (local, s3, gcs or azure)", sec->name);
	for (size_t j = 0; j < sizeof(prov_types) / sizeof(prov_types[0]); j++)
		if (strcmp(prov_types[j].name, type_key->value) == 0)
			bit = prov_types[j].bit;
	if (!bit)
		return cfg_err(st, -EINVAL, type_key->line,
			       "type: unknown provider type \"%s\" (local, s3, gcs or azure)", type_key->value);

	rc = cfg_provider_add(st, &ps);
	if (rc)
		return rc;
	ps->line = sec->line;
	pc = &ps->conf;
	if (!(pc->name = strdup(sec->name)) || !(pc->type = strdup(type_key->value)))
		return cfg_oom(st);

	for (size_t i = 0; i < sec->nkeys; i++) {
		const struct cfg_key *k = &sec->keys[i];
		const char **dst = NULL;
		size_t j;

		for (j = 0; strcmp(prov_keys[j].key, k->name) != 0; j++)
			;
		if (!(prov_keys[j].types & bit))
			return cfg_err(st, -EINVAL, k->line,
				       "key %s is not allowed for a provider of type %s", k->name, pc->type);
		if (k == type_key)
			continue;
		if (!*k->value)
			return cfg_err(st, -EINVAL, k->line, "%s: empty value", k->name);
		if (cfg_has_ctl(k->value))
			return cfg_err(st, -EINVAL, k->line, "%s: control character in value", k->name);
		if (strcmp(k->name, "path_style") == 0 || strcmp(k->name, "parallel_composite") == 0) {
			int *b = k->name[0] == 'p' && k->name[1] == 'a' && k->name[2] == 't'
					 ? &pc->path_style : &pc->parallel_composite;

			if (cfg_parse_bool(k->value, b))
				return cfg_err(st, -EINVAL, k->line,
					       "%s: invalid boolean \"%s\" (true/false, yes/no, on/off, 1/0)",
					       k->name, k->value);
			continue;
		}
		if (strcmp(k->name, "root") == 0) {
			if (k->value[0] != '/')
				return cfg_err(st, -EINVAL, k->line, "root: \"%s\" is not an absolute path", k->value);
			dst = &pc->root;
		} else if (strcmp(k->name, "listen") == 0) {
			if (!cfg_listen_valid(k->value))
				return cfg_err(st, -EINVAL, k->line,
					       "listen: \"%s\" is not HOST:PORT (port 1-65535)", k->value);
			dst = &pc->listen;
		} else if (strcmp(k->name, "endpoint") == 0) {
			if (strncmp(k->value, "http://", 7) != 0 && strncmp(k->value, "https://", 8) != 0)
				return cfg_err(st, -EINVAL, k->line,
					       "endpoint: \"%s\" is not an http:// or https:// URL", k->value);
			dst = &pc->endpoint;
		} else if (strcmp(k->name, "region") == 0) {
			if (!cfg_token_valid(k->value))
				return cfg_err(st, -EINVAL, k->line, "region: invalid value \"%s\"", k->value);
			dst = &pc->region;
		} else if (strcmp(k->name, "account") == 0) {
			if (!cfg_ident_valid(k->value))
				return cfg_err(st, -EINVAL, k->line, "account: invalid name \"%s\"", k->value);
			dst = &pc->account;
		} else {   /* credentials */
			rc = cfg_credentials_check(st, k->value, k->line);
			if (rc)
				return rc;
			dst = &pc->credentials;
		}
		if (!(*dst = strdup(k->value)))
			return cfg_oom(st);
	}
	if (bit == PT_LOCAL && !pc->root)
		return cfg_err(st, -EINVAL, sec->line, "[provider %s]: type local needs root", sec->name);
	/* azure: account may also come from the endpoint or AZURE_STORAGE_ACCOUNT
	 * (the provider says so when none does); gcs: GOOGLE_APPLICATION_CREDENTIALS */
	return 0;
}

/* ---- tenants -------------------------------------------------------------- */

static void cfg_tenant_clear(struct objfs_tenant_conf *t)
{
	free(t->name);
	free(t->provider);
	free(t->bucket);
	free(t->prefix);
	cfg_strv_free(t->allowed_types);
	cfg_strv_free(t->denied_types);
	free(t->allow_uids);
	free(t->allow_gids);
	free(t->sse);
	free(t->sse_kms_key_id);
	free(t->sse_customer_key);
	free(t->storage_class);
	free(t->acl);
	OPENSSL_cleanse(t->sse_c_key, sizeof(t->sse_c_key));
	memset(t, 0, sizeof(*t));
}

/* Reads an SSE-C key file: 32 raw bytes, or their base64 (44 characters,
 * blanks around it ignored); owner-only like every credentials file. */
static int cfg_read_sse_key(struct cfg_state *st, struct objfs_tenant_conf *t, int line)
{
	unsigned char buf[128], dec[96];
	struct stat sb;
	ssize_t n = -1;
	size_t b = 0, e;
	int fd, rc = 0, dl;

	fd = open(t->sse_customer_key, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cfg_err(st, -EINVAL, line, "sse_customer_key %s: %s", t->sse_customer_key,
			       strerror(errno));
	if (fstat(fd, &sb) == 0 && (sb.st_mode & 077)) {
		rc = cfg_err(st, -EINVAL, line,
			     "sse_customer_key %s is readable by group or others (chmod 600)",
			     t->sse_customer_key);
		goto out;
	}
	n = read(fd, buf, sizeof(buf));
	if (n == 32) {
		memcpy(t->sse_c_key, buf, 32);
		goto out;
	}
	e = n > 0 ? (size_t)n : 0;
	while (b < e && isspace(buf[b]))
		b++;
	while (e > b && isspace(buf[e - 1]))
		e--;
	dl = e - b == 44 ? EVP_DecodeBlock(dec, buf + b, 44) : -1;
	/* 44 base64 characters decode to 33 bytes minus the '=' padding */
	if (dl != 33 || buf[b + 43] != '=' || buf[b + 42] == '=') {
		rc = cfg_err(st, -EINVAL, line,
			     "sse_customer_key %s: expected a 256-bit key (32 bytes, or 44 base64 characters)",
			     t->sse_customer_key);
		goto out;
	}
	memcpy(t->sse_c_key, dec, 32);
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	OPENSSL_cleanse(dec, sizeof(dec));
	close(fd);
	return rc;
}

/* sse, its key settings and acl belong together; checked per tenant. */
static int cfg_tenant_storage(struct cfg_state *st, struct objfs_tenant_conf *t,
			      const struct cfg_sec *sec)
{
	static const char *const acls[] = { "private", "public-read", "public-read-write",
		"authenticated-read", "aws-exec-read", "bucket-owner-read",
		"bucket-owner-full-control", NULL };
	int line = sec->line;

	for (size_t i = 0; i < sec->nkeys; i++)
		if (!strcmp(sec->keys[i].name, "sse"))
			line = sec->keys[i].line;
	if (t->sse && !strcmp(t->sse, "none")) {
		free(t->sse);
		t->sse = NULL;
	}
	if (t->sse && strcmp(t->sse, "AES256") && strcmp(t->sse, "aws:kms") &&
	    strcmp(t->sse, "customer"))
		return cfg_err(st, -EINVAL, line,
			       "tenant %s: sse \"%s\" (expected none, AES256, aws:kms or customer)",
			       t->name, t->sse);
	if (t->sse_kms_key_id && (!t->sse || strcmp(t->sse, "aws:kms")))
		return cfg_err(st, -EINVAL, line, "tenant %s: sse_kms_key_id needs sse = aws:kms",
			       t->name);
	if ((t->sse && !strcmp(t->sse, "customer")) != !!t->sse_customer_key)
		return cfg_err(st, -EINVAL, line,
			       "tenant %s: sse = customer and sse_customer_key go together", t->name);
	if (t->sse_customer_key) {
		int rc = cfg_read_sse_key(st, t, line);
		if (rc)
			return rc;
	}
	if (t->acl) {
		size_t i = 0;
		while (acls[i] && strcmp(acls[i], t->acl))
			i++;
		if (!acls[i])
			return cfg_err(st, -EINVAL, sec->line,
				       "tenant %s: acl \"%s\" is not a canned ACL (private, public-read, bucket-owner-full-control, ...)",
				       t->name, t->acl);
	}
	return 0;
}

static int cfg_tenant_section(struct cfg_state *st, const struct cfg_sec *sec)
{
	struct objfs_config *c = st->cfg;
	struct objfs_tenant_conf *t, *v;
	int provider_line = sec->line;   /* the header when the default is used */
	char *s;
	int rc;

	v = realloc(c->tenants, (c->ntenants + 1) * sizeof(*v));
	if (!v)
		return cfg_oom(st);
	c->tenants = v;
	t = &v[c->ntenants++];
	memset(t, 0, sizeof(*t));
	t->line = sec->line;
	if (!(t->name = strdup(sec->name)))
		return cfg_oom(st);

	for (size_t i = 0; i < sec->nkeys; i++) {
		const struct cfg_key *k = &sec->keys[i];
		const struct cfg_opt *o = cfg_find_opt(tenant_opts, NTENANT_OPTS, k->name);

		if (!o)
			return cfg_err(st, -EINVAL, k->line, "unknown key %s in [tenant %s]",
				       k->name, sec->name);
		rc = cfg_set_opt(st, t, o, k->value, k->line, k->name);
		if (rc)
			return rc;
		if (o->off == offsetof(struct objfs_tenant_conf, provider))
			provider_line = k->line;
	}
	rc = cfg_tenant_storage(st, t, sec);
	if (rc)
		return rc;
	/* providers (and the default, after the environment) are all known here */
	if (!t->provider && !(t->provider = strdup(c->default_provider)))
		return cfg_oom(st);
	if (!objfs_config_provider(c, t->provider))
		return cfg_err(st, -EINVAL, provider_line,
			       "tenant %s: provider \"%s\" is not defined (no [provider %s] section)",
			       t->name, t->provider, t->provider);
	if (!t->bucket) {
		if (t->name[0] == '_')
			return cfg_err(st, -EINVAL, sec->line,
				       "tenant %s: a name starting with '_' needs an explicit bucket", t->name);
		if (!(t->bucket = cfg_expand(c->bucket_pattern, t->name)))
			return cfg_oom(st);
		if (!objfs_bucket_name_valid(t->bucket))
			return cfg_err(st, -EINVAL, sec->line,
				       "tenant %s: bucket \"%s\" from bucket_pattern \"%s\" is not a valid bucket name",
				       t->name, t->bucket, c->bucket_pattern);
	}
	{
		const struct objfs_provider_section *ps = objfs_config_provider(c, t->provider);
		struct objfs_err berr = { { 0 } };

		if (ps && objfs_bucket_check_type(ps->conf.type, t->bucket, &berr))
			return cfg_err(st, -EINVAL, sec->line,
				       "tenant %s: bucket \"%s\" cannot be a %s bucket: %s",
				       t->name, t->bucket, ps->conf.type, berr.msg);
	}
	if (!t->prefix) {
		if (!(t->prefix = strdup("")))
			return cfg_oom(st);
	} else if (strstr(t->prefix, "{tenant}")) {
		if (!(s = cfg_expand(t->prefix, t->name)))
			return cfg_oom(st);
		free(t->prefix);
		t->prefix = s;
		if (strlen(s) + 1 > OBJFS_KEY_MAX / 2)
			return cfg_err(st, -EINVAL, sec->line, "tenant %s: prefix \"%s\" is too long",
				       t->name, s);
	}
	return 0;
}

/* Isolation: two tenants must never share storage, so on one provider and
 * bucket neither prefix may be a prefix of the other. */
static int cfg_tenants_disjoint(struct cfg_state *st)
{
	struct objfs_config *c = st->cfg;

	for (size_t i = 0; i < c->ntenants; i++) {
		for (size_t j = 0; j < i; j++) {
			const struct objfs_tenant_conf *a = &c->tenants[i], *b = &c->tenants[j];
			size_t la = strlen(a->prefix), lb = strlen(b->prefix);

			if (strcmp(a->provider, b->provider) != 0 || strcmp(a->bucket, b->bucket) != 0)
				continue;
			if (strncmp(a->prefix, b->prefix, la < lb ? la : lb) == 0)
				return cfg_err(st, -EINVAL, a->line,
					       "tenant %s: bucket %s prefix \"%s\" overlaps tenant %s (line %d, prefix \"%s\")",
					       a->name, a->bucket, a->prefix, b->name, b->line, b->prefix);
		}
	}
	return 0;
}

/* ---- cache_dir ------------------------------------------------------------ */

/* mkdir -p with mode 0700 for every directory created. */
static int cfg_mkdir_p(const char *path)
{
	char *p = strdup(path);
	struct stat sb;
	int rc = 0;

	if (!p)
		return -ENOMEM;
	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char save = *s;

		*s = '\0';
		if (mkdir(p, 0700) != 0 && errno != EEXIST) {
			rc = -errno;
			goto out;
		}
		*s = save;
		if (!save)
			break;
	}
	if (stat(path, &sb) != 0)
		rc = -errno;
	else if (!S_ISDIR(sb.st_mode))
		rc = -ENOTDIR;
out:
	free(p);
	return rc;
}

static int cfg_cache_dir(struct cfg_state *st)
{
	int idx = (int)(cfg_find_opt(objfs_opts, NOBJFS_OPTS, "cache_dir") - objfs_opts);
	int rc = cfg_mkdir_p(st->cfg->cache_dir);

	if (!rc)
		return 0;
	if (st->objfs_src[idx])
		return cfg_err(st, rc, 0, "cache_dir %s (from %s): cannot create: %s",
			       st->cfg->cache_dir, st->objfs_src[idx], strerror(-rc));
	return cfg_err(st, rc, st->objfs_lines[idx], "cache_dir %s: cannot create: %s",
		       st->cfg->cache_dir, strerror(-rc));
}

/* ---- entry points --------------------------------------------------------- */

static void cfg_state_free(struct cfg_state *st)
{
	for (size_t i = 0; i < st->nsecs; i++) {
		struct cfg_sec *s = &st->secs[i];

		for (size_t j = 0; j < s->nkeys; j++) {
			free(s->keys[j].name);
			free(s->keys[j].value);
		}
		free(s->keys);
		free(s->name);
	}
	free(st->secs);
	free(st->buf);
	if (st->f)
		fclose(st->f);
}

int objfs_config_load(const char *path, struct objfs_config **out, char *errbuf, size_t errlen)
{
	struct cfg_state st;
	struct objfs_config *cfg = NULL;
	struct objfs_provider_section *ps;
	int rc, ret;

	memset(&st, 0, sizeof(st));
	_Static_assert(NOBJFS_OPTS <= sizeof(st.objfs_lines) / sizeof(st.objfs_lines[0]),
		       "objfs_lines too small");
	st.path = path ? path : "(null)";
	st.errbuf = errbuf;
	st.errlen = errlen;
	if (errbuf && errlen)
		errbuf[0] = '\0';
	if (out)
		*out = NULL;
	if (!path || !out) {
		rc = cfg_err(&st, -EINVAL, 0, "no configuration file given");
		goto out;
	}
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg || !(cfg->path = strdup(path))) {
		rc = cfg_oom(&st);
		goto out;
	}
	st.cfg = cfg;
	rc = cfg_defaults(&st);
	if (rc)
		goto out;

	st.f = fopen(path, "re");
	if (!st.f) {
		rc = cfg_err(&st, -errno, 0, "cannot open: %s", strerror(errno));
		goto out;
	}
	ret = ini_parse_stream(cfg_reader, &st, cfg_handler, &st);
	if (ret > 0 && (!st.rc || ret < st.errline)) {
		st.rc = 0;   /* an earlier syntax error that inih found wins */
		cfg_err(&st, -EINVAL, ret, "syntax error (expected [section] or key = value)");
	} else if (ret < 0 && !st.rc) {
		cfg_err(&st, ret == -2 ? -ENOMEM : -EIO, 0, "cannot read");
	}
	if (st.rc) {
		rc = st.rc;
		goto out;
	}

	for (size_t i = 0; i < st.nsecs && !rc; i++)
		if (st.secs[i].kind == SEC_OBJFS)
			rc = cfg_objfs_section(&st, &st.secs[i]);
	if (!rc)
		rc = cfg_env(&st);
	if (!rc)
		rc = cfg_objfs_checks(&st);
	for (size_t i = 0; i < st.nsecs && !rc; i++)
		if (st.secs[i].kind == SEC_PROVIDER)
			rc = cfg_provider_section(&st, &st.secs[i]);
	if (rc)
		goto out;
	if (strcmp(cfg->default_provider, "local") == 0 && !objfs_config_provider(cfg, "local")) {
		/* the embedded default: a mount works with no server at all */
		rc = cfg_provider_add(&st, &ps);
		if (rc)
			goto out;
		if (!(ps->conf.name = strdup("local")) || !(ps->conf.type = strdup("local")) ||
		    !(ps->conf.root = strdup(CFG_IMPLICIT_LOCAL_ROOT))) {
			rc = cfg_oom(&st);
			goto out;
		}
	}
	for (size_t i = 0; i < st.nsecs && !rc; i++)
		if (st.secs[i].kind == SEC_TENANT)
			rc = cfg_tenant_section(&st, &st.secs[i]);
	if (!rc && cfg->ntenants == 0)
		rc = cfg_err(&st, -EINVAL, 0, "no [tenant] sections");
	if (!rc)
		rc = cfg_tenants_disjoint(&st);
	if (!rc && !objfs_config_provider(cfg, cfg->default_provider)) {
		int idx = (int)(cfg_find_opt(objfs_opts, NOBJFS_OPTS, "default_provider") - objfs_opts);

		rc = cfg_err(&st, -EINVAL, st.objfs_lines[idx],
			     "default_provider%s%s: provider \"%s\" is not defined",
			     st.objfs_src[idx] ? " from " : "", st.objfs_src[idx] ? st.objfs_src[idx] : "",
			     cfg->default_provider);
	}
	if (!rc)
		rc = cfg_cache_dir(&st);
	if (rc)
		goto out;
	*out = cfg;
	cfg = NULL;
out:
	cfg_state_free(&st);
	objfs_config_free(cfg);
	return rc;
}

void objfs_config_free(struct objfs_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->path);
	free(cfg->mountpoint);
	free(cfg->cache_dir);
	free(cfg->control_socket);
	free(cfg->control_socket_group);
	free(cfg->control_admin_group);
	free(cfg->metrics_listen);
	free(cfg->audit_log);
	free(cfg->default_provider);
	free(cfg->bucket_pattern);
	free(cfg->log_level);
	for (size_t i = 0; i < cfg->nproviders; i++)
		cfg_provider_conf_clear(&cfg->providers[i].conf);
	free(cfg->providers);
	for (size_t i = 0; i < cfg->ntenants; i++)
		cfg_tenant_clear(&cfg->tenants[i]);
	free(cfg->tenants);
	free(cfg);
}

const struct objfs_provider_section *objfs_config_provider(const struct objfs_config *cfg,
							     const char *name)
{
	if (!cfg || !name)
		return NULL;
	for (size_t i = 0; i < cfg->nproviders; i++)
		if (cfg->providers[i].conf.name && strcmp(cfg->providers[i].conf.name, name) == 0)
			return &cfg->providers[i];
	return NULL;
}
