/*
 * AWS credentials for the s3 provider (see awscred.h for the sources and
 * their order).
 *
 * Both files are read whole into one buffer with read(2) (not stdio, whose
 * buffers could not be wiped), parsed in place and wiped before release;
 * every copy of a secret is wiped with OPENSSL_cleanse when freed.
 *
 * Syntax, shared by both files (a subset of the INI dialect botocore reads):
 *   - blank lines, and lines whose first non-blank byte is '#' or ';', are
 *     skipped (no inline comments: '#' and ';' may be part of a secret);
 *   - "[name]" opens a section (the profile of the shared file);
 *   - "key = value", key case-insensitive, both sides trimmed;
 *   - anything else is a syntax error, reported by line number only.
 * Error messages name the file, the line and the key, never a value nor the
 * text of a line (a garbled line may hold a secret).
 *
 * The provider's own file may have at most one set of keys: sections are
 * allowed (a copied profile) but a key given twice, even in two sections, is
 * an error, as is an unknown key.  In the shared file only the profile's
 * section counts and keys other than the credentials are ignored (region,
 * output, role_arn ... belong to other tools).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "awscred.h"

/* Credential files are a few hundred bytes; anything larger is a mistake. */
#define AWSCRED_MAX_FILE (1024 * 1024)

enum awscred_field { F_ACCESS, F_SECRET, F_TOKEN, F_COUNT };

static const char *const awscred_field_name[F_COUNT] = {
	"access_key_id", "secret_access_key", "session_token",
};

/* Key names accepted for each field (case-insensitive). */
static const struct {
	const char *key;
	enum awscred_field field;
} awscred_keys[] = {
	{ "access_key_id", F_ACCESS },
	{ "aws_access_key_id", F_ACCESS },
	{ "secret_access_key", F_SECRET },
	{ "aws_secret_access_key", F_SECRET },
	{ "session_token", F_TOKEN },
	{ "aws_session_token", F_TOKEN },
	{ "aws_security_token", F_TOKEN },      /* botocore's legacy alias */
};

/* What a parse found: values point into the file buffer. */
struct awscred_found {
	const char *val[F_COUNT];
	const char *key[F_COUNT];        /* the key as spelled, for messages */
	int line[F_COUNT];
	int section_found;               /* the wanted profile's section was seen */
};

static void awscred_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void awscred_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static void awscred_free_str(char *s)
{
	if (s) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

void objfs_awscred_clear(struct objfs_awscred *c)
{
	if (!c)
		return;
	awscred_free_str(c->access_key);
	awscred_free_str(c->secret_key);
	awscred_free_str(c->session_token);
	memset(c, 0, sizeof(*c));
}

static int awscred_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Trims blanks on both ends of [*b, *e). */
static void awscred_trim(char **b, char **e)
{
	while (*b < *e && awscred_blank(**b))
		(*b)++;
	while (*e > *b && awscred_blank((*e)[-1]))
		(*e)--;
}

/* 1 if the value has a control byte (after trimming). */
static int awscred_has_ctl(const char *v)
{
	for (; *v; v++)
		if ((unsigned char)*v < 0x20 || *v == 0x7f)
			return 1;
	return 0;
}

/*
 * Reads path whole into *buf (NUL-terminated, malloc'ed; the caller wipes
 * and frees it).  When private_only, a file that group or others may access
 * is refused.  0, -ENOENT, -EACCES, -EINVAL (not a regular file, too large,
 * a NUL byte) or -ENOMEM, with the message in err.
 */
static int awscred_read(const char *path, int private_only, char **buf, size_t *len,
			char *err, size_t errlen)
{
	struct stat st;
	char *b = NULL;
	size_t n = 0, cap = 0;
	int fd = -1, rc;

	*buf = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		rc = errno == ENOENT || errno == ENOTDIR ? -ENOENT : errno == EACCES ? -EACCES : -EINVAL;
		awscred_err(err, errlen, "credentials file %s: %s", path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) != 0) {
		rc = -EINVAL;
		awscred_err(err, errlen, "credentials file %s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		awscred_err(err, errlen, "credentials file %s is not a regular file", path);
		goto out;
	}
	if (private_only && (st.st_mode & 077)) {
		rc = -EACCES;
		awscred_err(err, errlen,
			    "credentials file %s has mode %04o: group or others may access it "
			    "(chmod 600 %s)", path, (unsigned)(st.st_mode & 07777), path);
		goto out;
	}
	if (st.st_size > AWSCRED_MAX_FILE) {
		rc = -EINVAL;
		awscred_err(err, errlen, "credentials file %s is larger than %d bytes", path,
			    AWSCRED_MAX_FILE);
		goto out;
	}
	/* One byte more than the size, to notice a file that grew meanwhile. */
	cap = (size_t)st.st_size + 1;
	b = malloc(cap + 1);
	if (!b) {
		rc = -ENOMEM;
		awscred_err(err, errlen, "credentials file %s: out of memory", path);
		goto out;
	}
	while (n < cap) {
		ssize_t r = read(fd, b + n, cap - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = errno == EACCES ? -EACCES : -EINVAL;
			awscred_err(err, errlen, "credentials file %s: %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n == cap) {
		rc = -EINVAL;
		awscred_err(err, errlen, "credentials file %s changed while being read", path);
		goto out;
	}
	if (memchr(b, '\0', n)) {
		rc = -EINVAL;
		awscred_err(err, errlen, "credentials file %s holds a NUL byte", path);
		goto out;
	}
	b[n] = '\0';
	*buf = b;
	*len = n;
	b = NULL;
	rc = 0;
out:
	if (b) {
		OPENSSL_cleanse(b, n);
		free(b);
	}
	if (fd >= 0)
		close(fd);
	return rc;
}

/*
 * Parses buf (modified in place: lines and values are NUL-terminated) into
 * *f.  profile NULL: the provider's own file (every section counts, unknown
 * keys are errors); otherwise only section [profile] counts and other keys
 * are ignored.  0 or -EINVAL with the message in err.
 */
static int awscred_parse(char *buf, const char *path, const char *profile,
			 struct awscred_found *f, char *err, size_t errlen)
{
	int lineno = 0, in_section = profile ? 0 : 1;

	memset(f, 0, sizeof(*f));
	for (char *p = buf; *p;) {
		char *e = strchrnul(p, '\n'), *next = *e ? e + 1 : e;
		char *b = p, *eq, *kb, *ke, *vb, *ve;
		size_t i;

		lineno++;
		awscred_trim(&b, &e);
		p = next;
		if (b == e || *b == '#' || *b == ';')
			continue;
		if (*b == '[') {
			char *nb = b + 1, *ne = e - 1;

			if (e - b < 2 || *ne != ']') {
				awscred_err(err, errlen, "%s line %d: section header without ']'",
					    path, lineno);
				return -EINVAL;
			}
			awscred_trim(&nb, &ne);
			*ne = '\0';
			if (profile)
				in_section = strcmp(nb, profile) == 0;
			if (in_section)
				f->section_found = 1;
			continue;
		}
		eq = memchr(b, '=', (size_t)(e - b));
		if (!eq) {
			awscred_err(err, errlen, "%s line %d: syntax error (expected key = value)",
				    path, lineno);
			return -EINVAL;
		}
		kb = b;
		ke = eq;
		vb = eq + 1;
		ve = e;
		awscred_trim(&kb, &ke);
		awscred_trim(&vb, &ve);
		if (kb == ke) {
			awscred_err(err, errlen, "%s line %d: empty key name", path, lineno);
			return -EINVAL;
		}
		*ke = '\0';
		*ve = '\0';
		if (!in_section)
			continue;
		for (i = 0; i < sizeof(awscred_keys) / sizeof(awscred_keys[0]); i++)
			if (strcasecmp(kb, awscred_keys[i].key) == 0)
				break;
		if (i == sizeof(awscred_keys) / sizeof(awscred_keys[0])) {
			if (profile)
				continue;
			/* The name is not echoed: a stray line such as a pasted
			 * base64 token ("...==") would parse as a key. */
			awscred_err(err, errlen,
				    "%s line %d: unknown key (expected access_key_id, "
				    "secret_access_key or session_token)", path, lineno);
			return -EINVAL;
		}
		enum awscred_field fld = awscred_keys[i].field;

		if (f->val[fld]) {
			awscred_err(err, errlen, "%s line %d: duplicate %s (first at line %d)",
				    path, lineno, awscred_keys[i].key, f->line[fld]);
			return -EINVAL;
		}
		if (vb == ve) {
			awscred_err(err, errlen, "%s line %d: empty value for %s", path, lineno,
				    awscred_keys[i].key);
			return -EINVAL;
		}
		if (awscred_has_ctl(vb)) {
			awscred_err(err, errlen, "%s line %d: control character in the value of %s",
				    path, lineno, awscred_keys[i].key);
			return -EINVAL;
		}
		f->val[fld] = vb;
		f->key[fld] = awscred_keys[i].key;
		f->line[fld] = lineno;
	}
	return 0;
}

/* Copies the three values into out; 0 or -ENOMEM.  token may be NULL. */
static int awscred_set(struct objfs_awscred *out, const char *access, const char *secret,
		       const char *token, const char *source, char *err, size_t errlen)
{
	out->access_key = strdup(access);
	out->secret_key = strdup(secret);
	out->session_token = token ? strdup(token) : NULL;
	if (!out->access_key || !out->secret_key || (token && !out->session_token)) {
		objfs_awscred_clear(out);
		awscred_err(err, errlen, "credentials: out of memory");
		return -ENOMEM;
	}
	snprintf(out->source, sizeof(out->source), "%s", source);
	return 0;
}

/* Source 1 or 3: the file at path (private_only for the provider's file),
 * the whole file (profile NULL) or one profile. */
static int awscred_from_file(const char *path, const char *profile, int private_only,
			     struct objfs_awscred *out, char *err, size_t errlen)
{
	struct awscred_found f;
	char source[300];
	char *buf = NULL;
	size_t len = 0;
	int rc;

	rc = awscred_read(path, private_only, &buf, &len, err, errlen);
	if (rc)
		goto out;
	rc = awscred_parse(buf, path, profile, &f, err, errlen);
	if (rc)
		goto out;
	rc = -EINVAL;
	if (profile && !f.section_found) {
		rc = -ENOENT;
		awscred_err(err, errlen, "no AWS credentials: %s has no [%s] profile%s", path,
			    profile, getenv("AWS_PROFILE") ? " (AWS_PROFILE)" : "");
		goto out;
	}
	if (!f.val[F_ACCESS] && !f.val[F_SECRET]) {
		awscred_err(err, errlen, "%s%s%s%s: no %s%s and %s%s (profiles using role_arn, "
			    "sso or credential_process are not supported)", path,
			    profile ? " [" : "", profile ? profile : "", profile ? "]" : "",
			    profile ? "aws_" : "", awscred_field_name[F_ACCESS],
			    profile ? "aws_" : "", awscred_field_name[F_SECRET]);
		goto out;
	}
	for (int i = F_ACCESS; i <= F_SECRET; i++) {
		if (!f.val[i]) {
			int o = i == F_ACCESS ? F_SECRET : F_ACCESS;

			awscred_err(err, errlen, "%s%s%s%s: %s (line %d) without %s%s", path,
				    profile ? " [" : "", profile ? profile : "", profile ? "]" : "",
				    f.key[o], f.line[o], profile ? "aws_" : "",
				    awscred_field_name[i]);
			goto out;
		}
	}
	if (profile)
		snprintf(source, sizeof(source), "%s [%s]", path, profile);
	else
		snprintf(source, sizeof(source), "%s", path);
	rc = awscred_set(out, f.val[F_ACCESS], f.val[F_SECRET], f.val[F_TOKEN], source, err,
			 errlen);
out:
	if (buf) {
		OPENSSL_cleanse(buf, len);
		free(buf);
	}
	return rc;
}

/* An environment variable, NULL when unset or empty. */
static const char *awscred_env(const char *name)
{
	const char *v = getenv(name);

	return v && v[0] ? v : NULL;
}

/* Source 2.  1 when the environment has no credentials (try the next
 * source), else 0 or a negative errno. */
static int awscred_from_env(struct objfs_awscred *out, char *err, size_t errlen)
{
	const char *ak = awscred_env("AWS_ACCESS_KEY_ID");
	const char *sk = awscred_env("AWS_SECRET_ACCESS_KEY");
	const char *tok = awscred_env("AWS_SESSION_TOKEN");

	if (!tok)
		tok = awscred_env("AWS_SECURITY_TOKEN");
	if (!ak && !sk)
		return 1;
	if (!ak || !sk) {
		awscred_err(err, errlen, "environment: %s is set but %s is not (or is empty)",
			    ak ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
			    ak ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
		return -EINVAL;
	}
	if (awscred_has_ctl(ak) || awscred_has_ctl(sk) || (tok && awscred_has_ctl(tok))) {
		awscred_err(err, errlen, "environment: control character in an AWS_* credential");
		return -EINVAL;
	}
	return awscred_set(out, ak, sk, tok, "environment", err, errlen);
}

int objfs_awscred_load(const char *path, struct objfs_awscred *out, char *err, size_t errlen)
{
	const char *shared = awscred_env("AWS_SHARED_CREDENTIALS_FILE");
	const char *profile = awscred_env("AWS_PROFILE");
	const char *home = awscred_env("HOME");
	char *def = NULL;
	int rc;

	if (err && errlen)
		err[0] = '\0';
	if (!out) {
		awscred_err(err, errlen, "credentials: no output");
		return -EINVAL;
	}
	memset(out, 0, sizeof(*out));
	if (path && path[0]) {
		rc = awscred_from_file(path, NULL, 1, out, err, errlen);
		goto out;
	}
	rc = awscred_from_env(out, err, errlen);
	if (rc <= 0)
		goto out;
	if (!shared) {
		if (!home) {
			rc = -ENOENT;
			awscred_err(err, errlen, "no AWS credentials: no credentials file configured, "
				    "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY unset, and no HOME for "
				    "~/.aws/credentials");
			goto out;
		}
		if (asprintf(&def, "%s/.aws/credentials", home) < 0) {
			def = NULL;
			rc = -ENOMEM;
			awscred_err(err, errlen, "credentials: out of memory");
			goto out;
		}
		shared = def;
	}
	rc = awscred_from_file(shared, profile ? profile : "default", 0, out, err, errlen);
	if (rc == -ENOENT && access(shared, F_OK) != 0)
		awscred_err(err, errlen, "no AWS credentials: no credentials file configured, "
			    "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY unset, and %s does not exist",
			    shared);
out:
	free(def);
	if (rc)
		objfs_awscred_clear(out);
	return rc;
}
