/*
 * objfs-ctl onboard: writes a configuration and a credentials file, then
 * checks that they work.
 *
 * Two forms share one set of answers (struct ob):
 *   - the wizard (no --provider): asks each question on stderr and reads the
 *     answer from stdin, offering the current value in [brackets] (flags given
 *     on the command line become those defaults); an invalid answer is
 *     refused with its reason and asked again (at most OB_TRIES times);
 *     secrets are read with echo off when stdin is a terminal;
 *   - the flags (--provider ...): every value is checked the same way and
 *     the first bad one is one line on stderr, exit status 2.
 *
 * Files: the credentials file first (mode 0600, created O_EXCL under umask
 * 077; with --force through a temporary file renamed over the old one), then
 * the configuration (mode 0644, written to a temporary file and linked into
 * place, or renamed over the old one with --force), so the configuration
 * never names a credentials file that is not there.  An existing file is
 * never replaced without --force (the wizard asks instead).
 *
 * Validation (skipped with --no-validate): the written file is loaded with
 * objfs_config_load, every provider a tenant uses is opened and probed with
 * objfs_prov_health on the tenant's bucket; a missing bucket is created when
 * the user agrees (--yes).  A provider type this build cannot open (gcs,
 * azure before their files land) cannot be validated: exit 1 unless
 * --no-validate.  On failure the files stay where they are for editing and
 * the message says where.
 *
 * Secrets never reach stdout, stderr or the configuration file.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "objfs/provider.h"
#include "config.h"
#include "ctl.h"
#include "log.h"
#include "tenant.h"

#define OB_DEFAULT_CONFIG   "/etc/objfs/objfs.conf"
#define OB_DEFAULT_ROOT     "/var/lib/objfs/objects"
#define OB_DEFAULT_MNT      "/mnt/objfs"
#define OB_DEFAULT_CACHE    "/var/cache/objfs"
#define OB_DEFAULT_SOCKET   "/run/objfs/ctl.sock"
#define OB_DEFAULT_PATTERN  "{tenant}-uploads"
#define OB_DEFAULT_SHARED_PREFIX "tenants/{tenant}/"
#define OB_DEFAULT_REGION   "us-east-1"
#define OB_TRIES            10     /* invalid answers before the wizard gives up */
#define OB_LINE_MAX         198    /* the configuration's longest line (docs/configuration.md) */
#define OB_PATH_MAX         160    /* leaves room for "key = " on one line */
#define OB_MAX_TENANTS      256
#define OB_SECRET_MAX       4096

struct ob {
	/* answers; every string malloc'ed (or NULL) */
	char *provider;          /* local, s3, gcs, azure: also the [provider NAME] */
	char *root;              /* local */
	char *endpoint;          /* s3, gcs, azure; NULL: the store's default */
	char *region;            /* s3 */
	int path_style;          /* s3; -1: not decided yet */
	char *access_key_id;     /* s3; NULL: from the environment at run time */
	char *secret;            /* s3 secret key, azure account key or SAS token; wiped */
	int azure_sas;           /* azure: secret is a SAS token */
	char *account;           /* azure */
	char *sa_json;           /* gcs: service-account key file */
	char *tenants[OB_MAX_TENANTS];
	size_t ntenants;
	char *bucket_pattern;    /* per-tenant buckets ... */
	char *bucket;            /* ... or one shared bucket ... */
	char *prefix;            /* ... with this per-tenant prefix */
	char *mountpoint, *cache_dir, *control_socket, *config, *cred;
	/* how */
	int force, no_validate, yes, wizard;
	int cred_written;        /* we created (or replaced) cred */
};

typedef int (*ob_check_fn)(struct ob *o, const char *v, char *why, size_t whylen);

/* ---- small helpers ------------------------------------------------------ */

static void ob_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void ob_msg(const char *fmt, ...)
{
	va_list ap;

	fputs("objfs-ctl: onboard: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void ob_wipe_free(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

static void ob_free(struct ob *o)
{
	free(o->provider);
	free(o->root);
	free(o->endpoint);
	free(o->region);
	free(o->access_key_id);
	ob_wipe_free(o->secret);
	free(o->account);
	free(o->sa_json);
	for (size_t i = 0; i < o->ntenants; i++)
		free(o->tenants[i]);
	free(o->bucket_pattern);
	free(o->bucket);
	free(o->prefix);
	free(o->mountpoint);
	free(o->cache_dir);
	free(o->control_socket);
	free(o->config);
	free(o->cred);
}

/* Replaces *dst with a copy of v (NULL or "" clears it).  0 or -ENOMEM. */
static int ob_set(char **dst, const char *v)
{
	char *c = NULL;

	if (v && *v && !(c = strdup(v)))
		return -ENOMEM;
	free(*dst);
	*dst = c;
	return 0;
}

static int has_ctl(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

/* Text the INI reader would keep as written: no control bytes, no blank at
 * either end (trimmed), no " ;" (starts an inline comment). */
static int ini_safe(const char *v, const char *what, char *why, size_t n)
{
	size_t len = strlen(v);

	if (has_ctl(v))
		return snprintf(why, n, "%s contains a control character", what), -EINVAL;
	if (len && (isspace((unsigned char)v[0]) || isspace((unsigned char)v[len - 1])))
		return snprintf(why, n, "%s starts or ends with a blank", what), -EINVAL;
	if (strstr(v, " ;") || strstr(v, "\t;"))
		return snprintf(why, n, "%s contains \" ;\", which the configuration reads as a comment",
				what), -EINVAL;
	return 0;
}

static char *trim(char *s)
{
	size_t len;

	while (isspace((unsigned char)*s))
		s++;
	len = strlen(s);
	while (len && isspace((unsigned char)s[len - 1]))
		s[--len] = '\0';
	return s;
}

/* ---- checks: 0, or -EINVAL with the reason in why ----------------------- */

static int ck_provider(struct ob *o, const char *v, char *why, size_t n)
{
	if (!strcmp(v, "local") || !strcmp(v, "s3") || !strcmp(v, "gcs") || !strcmp(v, "azure"))
		return 0;
	return snprintf(why, n, "unknown provider \"%s\" (local, s3, gcs or azure)", v), -EINVAL;
}

static int ck_abs_path(struct ob *o, const char *v, char *why, size_t n)
{
	if (v[0] != '/')
		return snprintf(why, n, "\"%s\" is not an absolute path (it must start with /)", v),
		       -EINVAL;
	if (strlen(v) > OB_PATH_MAX)
		return snprintf(why, n, "path longer than %d bytes", OB_PATH_MAX), -EINVAL;
	return ini_safe(v, "the path", why, n);
}

static int ck_mountpoint(struct ob *o, const char *v, char *why, size_t n)
{
	struct stat st;
	int rc = ck_abs_path(o, v, why, n);

	if (rc)
		return rc;
	if (!strcmp(v, "/"))
		return snprintf(why, n, "the mount point cannot be /"), -EINVAL;
	if (stat(v, &st) == 0 && !S_ISDIR(st.st_mode))
		return snprintf(why, n, "%s exists and is not a directory", v), -EINVAL;
	return 0;
}

/* An http:// or https:// URL: host (name, IPv4 or [IPv6]), optional :port,
 * optional path; no query, fragment, user info or blanks. */
static int ck_url(struct ob *o, const char *v, char *why, size_t n)
{
	const char *h, *p;
	size_t hl;

	if (!strncmp(v, "http://", 7))
		h = v + 7;
	else if (!strncmp(v, "https://", 8))
		h = v + 8;
	else
		return snprintf(why, n, "\"%s\" is not a URL: it must start with http:// or https://", v),
		       -EINVAL;
	if (strlen(v) > OB_PATH_MAX)
		return snprintf(why, n, "URL longer than %d bytes", OB_PATH_MAX), -EINVAL;
	for (p = v; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '?' || *p == '#' || *p == '@' ||
		    *p == '\\' || *p == '"')
			return (unsigned char)*p <= 0x20 || *p == 0x7f ?
			       snprintf(why, n, "URL \"%s\": blanks and control characters are not"
					" allowed", v) :
			       snprintf(why, n, "URL \"%s\": '%c' is not allowed in an endpoint", v, *p),
			       -EINVAL;
	if (*h == '[') {
		p = strchr(h, ']');
		if (!p || p == h + 1 || strspn(h + 1, "0123456789abcdefABCDEF:.") != (size_t)(p - h - 1))
			return snprintf(why, n, "URL \"%s\": malformed [IPv6] host", v), -EINVAL;
		p++;
	} else {
		hl = strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_");
		if (hl == 0)
			return snprintf(why, n, "URL \"%s\" has no host name", v), -EINVAL;
		if (h[0] == '.' || h[0] == '-' || h[hl - 1] == '-' || memmem(h, hl, "..", 2))
			return snprintf(why, n, "URL \"%s\": invalid host name", v), -EINVAL;
		p = h + hl;
	}
	if (*p == ':') {
		char *end;
		unsigned long port;

		errno = 0;
		port = strtoul(p + 1, &end, 10);
		if (end == p + 1 || errno || port < 1 || port > 65535 || (*end && *end != '/'))
			return snprintf(why, n, "URL \"%s\": invalid port (1-65535)", v), -EINVAL;
		p = end;
	}
	if (*p && *p != '/')
		return snprintf(why, n, "URL \"%s\": unexpected '%c' after the host", v, *p), -EINVAL;
	return 0;
}

static int ck_region(struct ob *o, const char *v, char *why, size_t n)
{
	if (!*v || strlen(v) > 63 || strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(v))
		return snprintf(why, n, "region \"%s\": expected letters, digits and '-' (e.g. us-east-1)",
				v), -EINVAL;
	return 0;
}

static int ck_access_key(struct ob *o, const char *v, char *why, size_t n)
{
	if (strlen(v) > 128 || strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				      "0123456789_-.+/=") != strlen(v))
		return snprintf(why, n, "access key id: expected up to 128 letters, digits or _-.+/="),
		       -EINVAL;
	return 0;
}

/* Never quotes the secret back. */
static int ck_secret(struct ob *o, const char *v, char *why, size_t n)
{
	if (!*v)
		return snprintf(why, n, "the secret is empty"), -EINVAL;
	if (strlen(v) > OB_SECRET_MAX)
		return snprintf(why, n, "the secret is longer than %d bytes", OB_SECRET_MAX), -EINVAL;
	if (has_ctl(v))
		return snprintf(why, n, "the secret contains a control character"), -EINVAL;
	if (isspace((unsigned char)v[0]) || isspace((unsigned char)v[strlen(v) - 1]))
		return snprintf(why, n, "the secret starts or ends with a blank"), -EINVAL;
	return 0;
}

static int ck_account(struct ob *o, const char *v, char *why, size_t n)
{
	size_t len = strlen(v);

	if (len < 3 || len > 24 || strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789") != len)
		return snprintf(why, n, "storage account \"%s\": 3-24 lower-case letters and digits", v),
		       -EINVAL;
	return 0;
}

/* A service-account key: a JSON file, owner-only, with the fields gcs needs. */
static int ck_sa_json(struct ob *o, const char *v, char *why, size_t n)
{
	static const char *const fields[] = { "client_email", "private_key" };
	json_error_t jerr;
	json_t *j = NULL;
	struct stat st;
	int rc = ck_abs_path(o, v, why, n);

	if (rc)
		return rc;
	if (stat(v, &st))
		return snprintf(why, n, "%s: %s", v, strerror(errno)), -EINVAL;
	if (!S_ISREG(st.st_mode))
		return snprintf(why, n, "%s is not a regular file", v), -EINVAL;
	if (st.st_mode & 077)
		return snprintf(why, n, "%s is readable by group or others (chmod 600 %s)", v, v),
		       -EINVAL;
	j = json_load_file(v, 0, &jerr);
	if (!j || !json_is_object(j)) {
		snprintf(why, n, "%s is not a JSON object (line %d: %.80s)", v, jerr.line,
			 j ? "not an object" : jerr.text);
		rc = -EINVAL;
		goto out;
	}
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (!json_is_string(json_object_get(j, fields[i]))) {
			snprintf(why, n, "%s is not a service-account key: no \"%s\"", v, fields[i]);
			rc = -EINVAL;
			goto out;
		}
out:
	json_decref(j);
	return rc;
}

static int ck_tenant(struct ob *o, const char *v, char *why, size_t n)
{
	if (!objfs_tenant_name_valid(v))
		return snprintf(why, n, "invalid tenant name \"%s\": 3-63 of a-z 0-9 . - starting and"
				" ending with a letter or digit, no \"..\", not an IP address (or _NAME"
				" for a shared area)", v), -EINVAL;
	return 0;
}

/* A comma-separated list of tenants; replaces o->tenants. */
static int ck_tenant_list(struct ob *o, const char *v, char *why, size_t n)
{
	char *copy = strdup(v), *save = NULL, *tok;
	char *names[OB_MAX_TENANTS];
	size_t cnt = 0;
	int rc = 0;

	if (!copy)
		return snprintf(why, n, "out of memory"), -ENOMEM;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *t = trim(tok);

		if (!*t)
			continue;
		if ((rc = ck_tenant(o, t, why, n)))
			goto out;
		for (size_t i = 0; i < cnt; i++)
			if (!strcmp(names[i], t)) {
				rc = -EINVAL;
				snprintf(why, n, "tenant %s is named twice", t);
				goto out;
			}
		if (cnt == OB_MAX_TENANTS) {
			rc = -EINVAL;
			snprintf(why, n, "more than %d tenants", OB_MAX_TENANTS);
			goto out;
		}
		names[cnt++] = t;
	}
	if (!cnt) {
		rc = -EINVAL;
		snprintf(why, n, "name at least one tenant");
		goto out;
	}
	for (size_t i = 0; i < o->ntenants; i++)
		free(o->tenants[i]);
	o->ntenants = 0;
	for (size_t i = 0; i < cnt; i++) {
		if (!(o->tenants[i] = strdup(names[i]))) {
			rc = -ENOMEM;
			snprintf(why, n, "out of memory");
			goto out;
		}
		o->ntenants = i + 1;
	}
out:
	free(copy);
	return rc;
}

/* Expands every {tenant} in pattern; *out malloc'ed. */
static char *expand(const char *pattern, const char *tenant)
{
	size_t cap = strlen(pattern) + 1, tl = strlen(tenant), len = 0;
	char *out;

	for (const char *p = pattern; (p = strstr(p, "{tenant}")); p += 8)
		cap += tl;
	if (!(out = malloc(cap)))
		return NULL;
	for (const char *p = pattern; *p;) {
		if (!strncmp(p, "{tenant}", 8)) {
			memcpy(out + len, tenant, tl);
			len += tl;
			p += 8;
		} else {
			out[len++] = *p++;
		}
	}
	out[len] = '\0';
	return out;
}

static int ck_bucket_pattern(struct ob *o, const char *v, char *why, size_t n)
{
	if (!strstr(v, "{tenant}"))
		return snprintf(why, n, "bucket pattern \"%s\" must contain {tenant}", v), -EINVAL;
	for (size_t i = 0; i < o->ntenants; i++) {
		char *b;
		int ok;

		if (o->tenants[i][0] == '_')
			return snprintf(why, n, "tenant %s is a shared area and needs an explicit bucket:"
					" use one shared bucket (--bucket)", o->tenants[i]), -EINVAL;
		if (!(b = expand(v, o->tenants[i])))
			return snprintf(why, n, "out of memory"), -ENOMEM;
		ok = objfs_bucket_name_valid(b);
		if (!ok)
			snprintf(why, n, "tenant %s would get bucket \"%s\", which is not a valid bucket"
				 " name (3-63 of a-z 0-9 . -)", o->tenants[i], b);
		free(b);
		if (!ok)
			return -EINVAL;
	}
	return 0;
}

static int ck_bucket(struct ob *o, const char *v, char *why, size_t n)
{
	if (!objfs_bucket_name_valid(v))
		return snprintf(why, n, "invalid bucket name \"%s\": 3-63 of a-z 0-9 . - starting and"
				" ending with a letter or digit", v), -EINVAL;
	return 0;
}

static int ck_prefix(struct ob *o, const char *v, char *why, size_t n)
{
	const char *s = v;
	size_t len;
	int rc;

	if ((rc = ini_safe(v, "the prefix", why, n)))
		return rc;
	if (o->ntenants > 1 && !strstr(v, "{tenant}"))
		return snprintf(why, n, "prefix \"%s\" must contain {tenant}: %zu tenants cannot share"
				" one prefix", v, o->ntenants), -EINVAL;
	if (o->ntenants > 1 && o->bucket && !*v)
		return snprintf(why, n, "tenants in one bucket need a prefix each"), -EINVAL;
	while (*s == '/')
		s++;
	len = strlen(s);
	while (len && s[len - 1] == '/')
		len--;
	if (len > 400)
		return snprintf(why, n, "prefix longer than 400 bytes"), -EINVAL;
	for (const char *seg = s; seg < s + len;) {
		const char *e = memchr(seg, '/', (size_t)(s + len - seg));
		size_t sl = e ? (size_t)(e - seg) : (size_t)(s + len - seg);

		if (objfs_name_check(seg, sl))
			return snprintf(why, n, "prefix \"%s\": empty, \".\" or \"..\" segment, control"
					" character or invalid UTF-8", v), -EINVAL;
		seg += sl + 1;
	}
	return 0;
}

/* ---- the terminal ------------------------------------------------------- */

static struct termios saved_tio;
static volatile sig_atomic_t echo_off;

static void restore_echo(void)
{
	if (echo_off) {
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
		echo_off = 0;
	}
}

/* A signal during a hidden read must not leave the terminal without echo. */
static void echo_sig(int sig)
{
	restore_echo();
	signal(sig, SIG_DFL);
	raise(sig);
}

static struct sigaction old_int, old_term, old_hup;

/* Turns echo off on stdin (a terminal) before the prompt is shown, so that
 * nothing typed after the prompt appears; TCSANOW keeps type-ahead.
 * Returns 1 if echo was turned off. */
static int echo_disable(void)
{
	struct sigaction sa;
	struct termios t;

	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved_tio))
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = echo_sig;
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	sigaction(SIGHUP, &sa, &old_hup);
	t = saved_tio;
	t.c_lflag &= ~(tcflag_t)ECHO;
	t.c_lflag |= ECHONL;
	if (tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0)
		echo_off = 1;
	return 1;
}

static void echo_enable(int was_disabled)
{
	if (!was_disabled)
		return;
	if (echo_off) {
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
		echo_off = 0;
	}
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGHUP, &old_hup, NULL);
}

/* Reads one line from stdin into a malloc'ed string (newline removed).
 * 0, -EIO at end of input. */
static int read_line(char **out)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;

	*out = NULL;
	len = getline(&line, &cap, stdin);
	if (len < 0) {
		free(line);
		return -EIO;
	}
	while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		line[--len] = '\0';
	*out = line;
	return 0;
}

enum { ASK_SECRET = 1, ASK_EMPTY_OK = 2 };

/*
 * Asks q (with [def] when def is set and the answer is not secret) until the
 * answer passes check; an empty answer takes def, or is accepted as "" with
 * ASK_EMPTY_OK.  *out is malloc'ed (wiped by the caller for secrets).
 * 0, -EIO (input ended) or -EINVAL (OB_TRIES invalid answers).
 */
static int ask(struct ob *o, const char *q, const char *def, int flags, ob_check_fn check,
	       char **out)
{
	char why[512];

	*out = NULL;
	for (int i = 0; i < OB_TRIES; i++) {
		char *line = NULL, *v;
		int rc, hidden = (flags & ASK_SECRET) ? echo_disable() : 0;

		if (def && *def && !(flags & ASK_SECRET))
			fprintf(stderr, "%s [%s]: ", q, def);
		else if (flags & ASK_SECRET)
			fprintf(stderr, "%s (input hidden): ", q);
		else
			fprintf(stderr, "%s: ", q);
		fflush(stderr);
		rc = read_line(&line);
		echo_enable(hidden);
		if (rc) {
			fputc('\n', stderr);
			ob_msg("input ended; nothing written");
			return rc;
		}
		v = (flags & ASK_SECRET) ? line : trim(line);
		if (!*v && def && *def && !(flags & ASK_SECRET))
			v = (char *)def;
		if (!*v && (flags & ASK_EMPTY_OK)) {
			*out = strdup("");
		} else if (!*v) {
			fprintf(stderr, "  an answer is required\n");
			free(line);
			continue;
		} else if (check && (rc = check(o, v, why, sizeof(why)))) {
			fprintf(stderr, "  invalid: %s\n", why);
			if (flags & ASK_SECRET)
				explicit_bzero(line, strlen(line));
			free(line);
			continue;
		} else {
			*out = strdup(v);
		}
		if (flags & ASK_SECRET)
			explicit_bzero(line, strlen(line));
		free(line);
		return *out ? 0 : -ENOMEM;
	}
	ob_msg("too many invalid answers; nothing written");
	return -EINVAL;
}

static int ck_yesno(struct ob *o, const char *v, char *why, size_t n)
{
	static const char *const words[] = { "y", "yes", "n", "no", "true", "false" };

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (!strcasecmp(v, words[i]))
			return 0;
	return snprintf(why, n, "answer yes or no"), -EINVAL;
}

/* 1 for yes, 0 for no, negative errno when input ended. */
static int ask_yesno(struct ob *o, const char *q, int def)
{
	char *a = NULL;
	int rc = ask(o, q, def ? "yes" : "no", 0, ck_yesno, &a);

	if (rc)
		return rc;
	rc = a[0] == 'y' || a[0] == 'Y' || a[0] == 't' || a[0] == 'T';
	free(a);
	return rc;
}

/* Asks and stores into *dst (freeing the old value). */
static int ask_into(struct ob *o, char **dst, const char *q, const char *def, int flags,
		    ob_check_fn check)
{
	char *a = NULL;
	int rc = ask(o, q, def, flags, check, &a);

	if (rc)
		return rc;
	if (flags & ASK_SECRET)
		ob_wipe_free(*dst);
	else
		free(*dst);
	*dst = a[0] ? a : NULL;
	if (!a[0])
		free(a);
	return 0;
}

/* 1 if the endpoint's host is an IP address or localhost (path-style needed). */
static int host_is_ip(const char *url)
{
	const char *h = strstr(url, "://");

	if (!h)
		return 0;
	h += 3;
	if (*h == '[' || !strncmp(h, "localhost", 9))
		return 1;
	return strspn(h, "0123456789.") > 0 && (h[strspn(h, "0123456789.")] == ':' ||
						h[strspn(h, "0123456789.")] == '/' ||
						!h[strspn(h, "0123456789.")]);
}

static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash || slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

/* Default credentials path: next to the configuration, PROVIDER.cred. */
static int default_cred(struct ob *o)
{
	char *d;
	int rc = 0;

	if (o->cred)
		return 0;
	if (!strcmp(o->provider, "local") || !strcmp(o->provider, "gcs"))
		return 0;
	if (!strcmp(o->provider, "s3") && !o->access_key_id)
		return 0;      /* credentials from the environment at run time */
	if (!(d = dir_of(o->config)))
		return -ENOMEM;
	if (asprintf(&o->cred, "%s/%s.cred", strcmp(d, "/") ? d : "", o->provider) < 0) {
		o->cred = NULL;
		rc = -ENOMEM;
	}
	free(d);
	return rc;
}

/* ---- the wizard --------------------------------------------------------- */

static int wizard(struct ob *o)
{
	char *tl = NULL, *layout = NULL;
	int rc, yn;

	fprintf(stderr, "objfs onboarding: a few questions, then the configuration is written and"
		" checked.\nPress Enter to take the value in [brackets]; Ctrl-C to stop (nothing is"
		" written before the last question).\n\n");
	if ((rc = ask_into(o, &o->provider, "Provider type (local, s3, gcs, azure)",
			   o->provider ? o->provider : "local", 0, ck_provider)))
		goto out;
	if (!strcmp(o->provider, "local")) {
		rc = ask_into(o, &o->root, "Directory holding the objects (one subdirectory per bucket)",
			      o->root ? o->root : OB_DEFAULT_ROOT, 0, ck_abs_path);
	} else if (!strcmp(o->provider, "s3")) {
		if ((rc = ask_into(o, &o->endpoint, "Endpoint URL (empty for AWS S3)", o->endpoint,
				   ASK_EMPTY_OK, ck_url)))
			goto out;
		if ((rc = ask_into(o, &o->region, "Region", o->region ? o->region : OB_DEFAULT_REGION,
				   0, ck_region)))
			goto out;
		if (o->path_style < 0)
			o->path_style = o->endpoint && host_is_ip(o->endpoint);
		yn = ask_yesno(o, "Path-style URLs (MinIO, Ceph, endpoints given by IP address)",
			       o->path_style);
		if (yn < 0) {
			rc = yn;
			goto out;
		}
		o->path_style = yn;
		if ((rc = ask_into(o, &o->access_key_id,
				   "Access key ID (empty: take AWS_ACCESS_KEY_ID or ~/.aws/credentials"
				   " when objfs runs)", o->access_key_id, ASK_EMPTY_OK, ck_access_key)))
			goto out;
		if (o->access_key_id && !o->secret &&
		    (rc = ask_into(o, &o->secret, "Secret access key", NULL, ASK_SECRET, ck_secret)))
			goto out;
		if (!o->access_key_id) {
			ob_wipe_free(o->secret);
			o->secret = NULL;
		}
	} else if (!strcmp(o->provider, "gcs")) {
		if ((rc = ask_into(o, &o->sa_json, "Service-account key file (JSON, mode 0600)",
				   o->sa_json, 0, ck_sa_json)))
			goto out;
		rc = ask_into(o, &o->endpoint, "Endpoint URL (empty for https://storage.googleapis.com)",
			      o->endpoint, ASK_EMPTY_OK, ck_url);
	} else {
		char *kind = NULL;

		if ((rc = ask_into(o, &o->account, "Storage account name", o->account, 0, ck_account)))
			goto out;
		if ((rc = ask_into(o, &o->endpoint, "Endpoint URL (empty for"
				   " https://ACCOUNT.blob.core.windows.net)", o->endpoint,
				   ASK_EMPTY_OK, ck_url)))
			goto out;
		for (int i = 0; i < OB_TRIES; i++) {
			free(kind);
			kind = NULL;
			if ((rc = ask(o, "Authenticate with the account key or a SAS token (key, sas)",
				      o->azure_sas ? "sas" : "key", 0, NULL, &kind)))
				goto out;
			if (!strcmp(kind, "key") || !strcmp(kind, "sas"))
				break;
			fprintf(stderr, "  invalid: answer key or sas\n");
		}
		if (!kind || (strcmp(kind, "key") && strcmp(kind, "sas"))) {
			free(kind);
			rc = -EINVAL;
			goto out;
		}
		o->azure_sas = !strcmp(kind, "sas");
		free(kind);
		if (!o->secret)
			rc = ask_into(o, &o->secret, o->azure_sas ? "SAS token" : "Account key", NULL,
				      ASK_SECRET, ck_secret);
	}
	if (rc)
		goto out;

	/* tenants */
	{
		char def[1024] = "";
		size_t len = 0;

		for (size_t i = 0; i < o->ntenants && len < sizeof(def) - 1; i++)
			len += (size_t)snprintf(def + len, sizeof(def) - len, "%s%s", i ? "," : "",
						o->tenants[i]);
		if ((rc = ask(o, "Tenants (comma-separated; each becomes a directory of the mount)",
			      def, 0, ck_tenant_list, &tl)))
			goto out;
	}
	for (int i = 0; i < OB_TRIES; i++) {
		free(layout);
		layout = NULL;
		if ((rc = ask(o, "Buckets: one per tenant, or one shared bucket with a prefix per"
			      " tenant (per-tenant, shared)", o->bucket ? "shared" : "per-tenant", 0,
			      NULL, &layout)))
			goto out;
		if (!strcmp(layout, "per-tenant") || !strcmp(layout, "shared"))
			break;
		fprintf(stderr, "  invalid: answer per-tenant or shared\n");
	}
	if (strcmp(layout, "per-tenant") && strcmp(layout, "shared")) {
		rc = -EINVAL;
		goto out;
	}
	if (!strcmp(layout, "per-tenant")) {
		free(o->bucket);
		free(o->prefix);
		o->bucket = o->prefix = NULL;
		rc = ask_into(o, &o->bucket_pattern, "Bucket name pattern",
			      o->bucket_pattern ? o->bucket_pattern : OB_DEFAULT_PATTERN, 0,
			      ck_bucket_pattern);
	} else {
		free(o->bucket_pattern);
		o->bucket_pattern = NULL;
		if ((rc = ask_into(o, &o->bucket, "Shared bucket name", o->bucket, 0, ck_bucket)))
			goto out;
		rc = ask_into(o, &o->prefix, "Prefix of each tenant in it",
			      o->prefix ? o->prefix : OB_DEFAULT_SHARED_PREFIX,
			      o->ntenants > 1 ? 0 : ASK_EMPTY_OK, ck_prefix);
	}
	if (rc)
		goto out;
	if ((rc = ask_into(o, &o->mountpoint, "Mount point",
			   o->mountpoint ? o->mountpoint : OB_DEFAULT_MNT, 0, ck_mountpoint)))
		goto out;
	if ((rc = ask_into(o, &o->cache_dir, "Cache directory (metadata, staging, read cache)",
			   o->cache_dir ? o->cache_dir : OB_DEFAULT_CACHE, 0, ck_abs_path)))
		goto out;
	rc = ask_into(o, &o->config, "Configuration file", o->config, 0, ck_abs_path);
out:
	free(tl);
	free(layout);
	return rc;
}

/* ---- flags -------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: objfs-ctl onboard                      (the wizard: asks on the terminal)\n"
		"       objfs-ctl onboard --provider local|s3|gcs|azure --tenant NAME [...]\n"
		"  --provider TYPE          store type; with it, no questions are asked\n"
		"  --root DIR               local: directory of the objects [" OB_DEFAULT_ROOT "]\n"
		"  --endpoint URL           s3, gcs, azure: http(s) URL (default: the cloud's)\n"
		"  --region R               s3: signing region [" OB_DEFAULT_REGION "]\n"
		"  --path-style             s3: http://host/bucket/key URLs\n"
		"  --access-key-id ID       s3: key id (none: AWS_* environment at run time)\n"
		"  --secret-access-key-file FILE   s3 secret, azure account key (first line of\n"
		"                           FILE; or the environment's OBJFS_SECRET_ACCESS_KEY)\n"
		"  --sas-token-file FILE    azure: a SAS token instead of the account key\n"
		"  --account NAME           azure: storage account\n"
		"  --service-account-file FILE   gcs: service-account key (JSON, mode 0600)\n"
		"  --tenant NAME            a tenant (repeat for several)\n"
		"  --bucket-pattern P       one bucket per tenant [" OB_DEFAULT_PATTERN "]\n"
		"  --bucket B [--prefix P]  one shared bucket, a prefix per tenant ["
		OB_DEFAULT_SHARED_PREFIX "]\n"
		"  --mountpoint DIR [" OB_DEFAULT_MNT "]   --cache-dir DIR [" OB_DEFAULT_CACHE "]\n"
		"  --control-socket PATH [" OB_DEFAULT_SOCKET "]\n"
		"  --config PATH [" OB_DEFAULT_CONFIG "]   --credentials PATH [next to it: TYPE.cred]\n"
		"  --force                  replace existing files\n"
		"  --no-validate            write only; do not load or probe\n"
		"  --yes                    create missing buckets; no confirmation\n");
}

/* Reads the first line of file into a malloc'ed secret. */
static int read_secret_file(const char *path, char **out)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;

	*out = NULL;
	if (!f) {
		ob_msg("secret file %s: %s", path, strerror(errno));
		return -errno;
	}
	len = getline(&line, &cap, f);
	fclose(f);
	if (len < 0) {
		free(line);
		ob_msg("secret file %s is empty", path);
		return -EINVAL;
	}
	while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		line[--len] = '\0';
	*out = line;
	return 0;
}

enum {
	OPT_PROVIDER = 256, OPT_ENDPOINT, OPT_REGION, OPT_PATH_STYLE, OPT_AKID, OPT_SECRET_FILE,
	OPT_SAS_FILE, OPT_ACCOUNT, OPT_SA_FILE, OPT_ROOT, OPT_TENANT, OPT_PATTERN, OPT_BUCKET,
	OPT_PREFIX, OPT_MNT, OPT_CACHE, OPT_SOCKET, OPT_CONFIG, OPT_CRED, OPT_FORCE,
	OPT_NO_VALIDATE, OPT_YES, OPT_HELP,
};

/* Checks one flag value; on failure prints "--FLAG VALUE: reason". */
static int flag_check(struct ob *o, const char *flag, const char *v, ob_check_fn fn)
{
	char why[512];

	if (fn(o, v, why, sizeof(why))) {
		ob_msg("%s: %s", flag, why);
		return -EINVAL;
	}
	return 0;
}

static int parse_flags(struct ob *o, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "provider", required_argument, NULL, OPT_PROVIDER },
		{ "endpoint", required_argument, NULL, OPT_ENDPOINT },
		{ "region", required_argument, NULL, OPT_REGION },
		{ "path-style", no_argument, NULL, OPT_PATH_STYLE },
		{ "access-key-id", required_argument, NULL, OPT_AKID },
		{ "secret-access-key-file", required_argument, NULL, OPT_SECRET_FILE },
		{ "sas-token-file", required_argument, NULL, OPT_SAS_FILE },
		{ "account", required_argument, NULL, OPT_ACCOUNT },
		{ "service-account-file", required_argument, NULL, OPT_SA_FILE },
		{ "root", required_argument, NULL, OPT_ROOT },
		{ "tenant", required_argument, NULL, OPT_TENANT },
		{ "bucket-pattern", required_argument, NULL, OPT_PATTERN },
		{ "bucket", required_argument, NULL, OPT_BUCKET },
		{ "prefix", required_argument, NULL, OPT_PREFIX },
		{ "mountpoint", required_argument, NULL, OPT_MNT },
		{ "cache-dir", required_argument, NULL, OPT_CACHE },
		{ "control-socket", required_argument, NULL, OPT_SOCKET },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "credentials", required_argument, NULL, OPT_CRED },
		{ "force", no_argument, NULL, OPT_FORCE },
		{ "no-validate", no_argument, NULL, OPT_NO_VALIDATE },
		{ "yes", no_argument, NULL, OPT_YES },
		{ "help", no_argument, NULL, OPT_HELP },
		{ NULL, 0, NULL, 0 },
	};
	char **dst;
	int opt, rc = 0;

	optind = 0;
	while ((opt = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		dst = NULL;
		switch (opt) {
		case OPT_PROVIDER: dst = &o->provider; break;
		case OPT_ENDPOINT: dst = &o->endpoint; break;
		case OPT_REGION: dst = &o->region; break;
		case OPT_PATH_STYLE: o->path_style = 1; break;
		case OPT_AKID: dst = &o->access_key_id; break;
		case OPT_ACCOUNT: dst = &o->account; break;
		case OPT_SA_FILE: dst = &o->sa_json; break;
		case OPT_ROOT: dst = &o->root; break;
		case OPT_PATTERN: dst = &o->bucket_pattern; break;
		case OPT_BUCKET: dst = &o->bucket; break;
		case OPT_PREFIX: dst = &o->prefix; break;
		case OPT_MNT: dst = &o->mountpoint; break;
		case OPT_CACHE: dst = &o->cache_dir; break;
		case OPT_SOCKET: dst = &o->control_socket; break;
		case OPT_CONFIG: dst = &o->config; break;
		case OPT_CRED: dst = &o->cred; break;
		case OPT_FORCE: o->force = 1; break;
		case OPT_NO_VALIDATE: o->no_validate = 1; break;
		case OPT_YES: o->yes = 1; break;
		case OPT_SECRET_FILE:
		case OPT_SAS_FILE:
			ob_wipe_free(o->secret);
			if ((rc = read_secret_file(optarg, &o->secret)))
				return 2;
			o->azure_sas = opt == OPT_SAS_FILE;
			break;
		case OPT_TENANT:
			if ((rc = flag_check(o, "--tenant", optarg, ck_tenant)))
				return 2;
			for (size_t i = 0; i < o->ntenants; i++)
				if (!strcmp(o->tenants[i], optarg)) {
					ob_msg("--tenant %s: named twice", optarg);
					return 2;
				}
			if (o->ntenants == OB_MAX_TENANTS) {
				ob_msg("--tenant: more than %d tenants", OB_MAX_TENANTS);
				return 2;
			}
			if (!(o->tenants[o->ntenants] = strdup(optarg)))
				return 1;
			o->ntenants++;
			break;
		case OPT_HELP:
			usage(stdout);
			return -1;
		default:
			usage(stderr);
			return 2;
		}
		if (dst && ob_set(dst, optarg))
			return 1;
	}
	if (optind < argc) {
		ob_msg("unexpected argument %s", argv[optind]);
		return 2;
	}
	return 0;
}

/* Checks the answers as a whole (flags form; the wizard checked each already). */
static int check_all(struct ob *o)
{
	const char *p = o->provider;
	int rc = 0;

	if ((rc = flag_check(o, "--provider", p, ck_provider)))
		return rc;
	if (o->root && strcmp(p, "local"))
		return ob_msg("--root is for the local provider"), -EINVAL;
	if (o->endpoint && !strcmp(p, "local"))
		return ob_msg("--endpoint is not for the local provider"), -EINVAL;
	if ((o->region || o->path_style > 0 || o->access_key_id) && strcmp(p, "s3"))
		return ob_msg("--region, --path-style and --access-key-id are for s3"), -EINVAL;
	if (o->account && strcmp(p, "azure"))
		return ob_msg("--account is for azure"), -EINVAL;
	if (o->sa_json && strcmp(p, "gcs"))
		return ob_msg("--service-account-file is for gcs"), -EINVAL;
	if (o->secret && (!strcmp(p, "local") || !strcmp(p, "gcs")))
		return ob_msg("a secret is not used by the %s provider", p), -EINVAL;
	if (o->azure_sas && strcmp(p, "azure"))
		return ob_msg("--sas-token-file is for azure"), -EINVAL;
	if (o->endpoint && (rc = flag_check(o, "--endpoint", o->endpoint, ck_url)))
		return rc;
	if (!strcmp(p, "local") && !o->root && !(o->root = strdup(OB_DEFAULT_ROOT)))
		return -ENOMEM;
	if (o->root && (rc = flag_check(o, "--root", o->root, ck_abs_path)))
		return rc;
	if (!strcmp(p, "s3")) {
		if (o->region && (rc = flag_check(o, "--region", o->region, ck_region)))
			return rc;
		if (o->access_key_id && (rc = flag_check(o, "--access-key-id", o->access_key_id,
							 ck_access_key)))
			return rc;
		if (o->access_key_id && !o->secret)
			return ob_msg("--access-key-id needs the secret: --secret-access-key-file FILE"
				      " or OBJFS_SECRET_ACCESS_KEY in the environment"), -EINVAL;
		if (!o->access_key_id && o->secret)
			return ob_msg("a secret access key needs --access-key-id"), -EINVAL;
		if (o->path_style < 0)
			o->path_style = 0;
	}
	if (!strcmp(p, "gcs")) {
		if (!o->sa_json)
			return ob_msg("gcs needs --service-account-file FILE (JSON key)"), -EINVAL;
		if ((rc = flag_check(o, "--service-account-file", o->sa_json, ck_sa_json)))
			return rc;
	}
	if (!strcmp(p, "azure")) {
		if (!o->account)
			return ob_msg("azure needs --account NAME"), -EINVAL;
		if ((rc = flag_check(o, "--account", o->account, ck_account)))
			return rc;
		if (!o->secret)
			return ob_msg("azure needs --secret-access-key-file FILE (the account key),"
				      " --sas-token-file FILE or OBJFS_SECRET_ACCESS_KEY"), -EINVAL;
	}
	if (o->secret && (rc = flag_check(o, "secret", o->secret, ck_secret)))
		return rc;
	if (!o->ntenants)
		return ob_msg("name at least one --tenant"), -EINVAL;
	if (o->bucket_pattern && o->bucket)
		return ob_msg("--bucket-pattern and --bucket exclude each other"), -EINVAL;
	if (o->prefix && !o->bucket)
		return ob_msg("--prefix goes with --bucket (one shared bucket)"), -EINVAL;
	if (o->bucket) {
		if ((rc = flag_check(o, "--bucket", o->bucket, ck_bucket)))
			return rc;
		if (!o->prefix && o->ntenants > 1 && !(o->prefix = strdup(OB_DEFAULT_SHARED_PREFIX)))
			return -ENOMEM;
		if ((rc = flag_check(o, "--prefix", o->prefix ? o->prefix : "", ck_prefix)))
			return rc;
	} else {
		if (!o->bucket_pattern && !(o->bucket_pattern = strdup(OB_DEFAULT_PATTERN)))
			return -ENOMEM;
		if ((rc = flag_check(o, "--bucket-pattern", o->bucket_pattern, ck_bucket_pattern)))
			return rc;
	}
	if ((rc = flag_check(o, "--mountpoint", o->mountpoint, ck_mountpoint)) ||
	    (rc = flag_check(o, "--cache-dir", o->cache_dir, ck_abs_path)) ||
	    (rc = flag_check(o, "--control-socket", o->control_socket, ck_abs_path)) ||
	    (rc = flag_check(o, "--config", o->config, ck_abs_path)))
		return rc;
	if (o->cred && (rc = flag_check(o, "--credentials", o->cred, ck_abs_path)))
		return rc;
	return 0;
}

/* ---- writing ------------------------------------------------------------ */

/* Builds the configuration text; *out malloc'ed.  -E2BIG (message printed)
 * when a line would exceed the reader's limit. */
static int build_config(const struct ob *o, char **out)
{
	char *buf = NULL, *line, *save = NULL, *copy = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	time_t now = time(NULL);
	char date[32];
	int rc = 0;

	*out = NULL;
	if (!f)
		return -ENOMEM;
	strftime(date, sizeof(date), "%Y-%m-%d", localtime(&now));
	fprintf(f, "; objfs configuration, written by objfs-ctl onboard on %s.\n"
		"; Keys and defaults: docs/configuration.md.  Check it with: objfs-ctl --config"
		" THIS_FILE health\n\n", date);
	fprintf(f, "[objfs]\nmountpoint = %s\ncache_dir = %s\ncontrol_socket = %s\n"
		"default_provider = %s\n", o->mountpoint, o->cache_dir, o->control_socket,
		o->provider);
	if (o->bucket_pattern)
		fprintf(f, "bucket_pattern = %s\n", o->bucket_pattern);
	fprintf(f, "\n[provider %s]\ntype = %s\n", o->provider, o->provider);
	if (!strcmp(o->provider, "local")) {
		fprintf(f, "root = %s\n", o->root);
	} else if (!strcmp(o->provider, "s3")) {
		if (o->endpoint)
			fprintf(f, "endpoint = %s\n", o->endpoint);
		fprintf(f, "region = %s\npath_style = %s\n", o->region ? o->region : OB_DEFAULT_REGION,
			o->path_style > 0 ? "true" : "false");
		if (o->cred)
			fprintf(f, "credentials = %s\n", o->cred);
		else
			fprintf(f, "; no credentials file: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or"
				" ~/.aws/credentials of the user running objfs\n");
	} else if (!strcmp(o->provider, "gcs")) {
		if (o->endpoint)
			fprintf(f, "endpoint = %s\n", o->endpoint);
		fprintf(f, "credentials = %s\n", o->sa_json);
	} else {
		fprintf(f, "account = %s\n", o->account);
		if (o->endpoint)
			fprintf(f, "endpoint = %s\n", o->endpoint);
		fprintf(f, "credentials = %s\n", o->cred);
	}
	for (size_t i = 0; i < o->ntenants; i++) {
		fprintf(f, "\n[tenant %s]\n", o->tenants[i]);
		if (o->bucket) {
			fprintf(f, "bucket = %s\n", o->bucket);
			if (o->prefix && *o->prefix)
				fprintf(f, "prefix = %s\n", o->prefix);
		}
	}
	if (fclose(f) || !buf) {
		free(buf);
		return -ENOMEM;
	}
	if (!(copy = strdup(buf))) {
		free(buf);
		return -ENOMEM;
	}
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (strlen(line) > OB_LINE_MAX) {
			ob_msg("configuration line too long (over %d bytes): %.60s...", OB_LINE_MAX, line);
			rc = -E2BIG;
			break;
		}
	free(copy);
	if (rc)
		free(buf);
	else
		*out = buf;
	return rc;
}

static int mkdir_p(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	size_t len = strlen(path);

	if (len >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, path, len + 1);
	for (char *p = tmp + 1; ; p++) {
		if (*p == '/' || !*p) {
			char c = *p;

			*p = '\0';
			if (mkdir(tmp, mode) && errno != EEXIST)
				return -errno;
			*p = c;
			if (!c)
				break;
		}
	}
	return 0;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t w = write(fd, buf, len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

static void fsync_dir(const char *path)
{
	char *d = dir_of(path);
	int fd = d ? open(d, O_RDONLY | O_DIRECTORY) : -1;

	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	free(d);
}

/*
 * Writes text to path with mode: through "path.tmp.PID" (created O_EXCL
 * under a umask that leaves no more than mode), fsynced, then renamed over
 * path (replace) or linked to it (no replace: an existing path is -EEXIST,
 * atomically).  Nothing is left behind on failure.
 */
static int write_file_atomic(const char *path, const char *text, mode_t mode, int replace)
{
	char tmp[PATH_MAX];
	mode_t old = umask(0777 & ~mode);
	int fd = -1, rc = 0;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= sizeof(tmp)) {
		rc = -ENAMETOOLONG;
		goto out;
	}
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	if ((rc = write_all(fd, text, strlen(text))))
		goto out;
	if (fchmod(fd, mode) || fsync(fd)) {
		rc = -errno;
		goto out;
	}
	if (close(fd)) {
		fd = -1;
		rc = -errno;
		goto out;
	}
	fd = -1;
	if (replace ? rename(tmp, path) : link(tmp, path)) {
		rc = -errno;
		goto out;
	}
	if (!replace)
		unlink(tmp);
	fsync_dir(path);
out:
	if (fd >= 0)
		close(fd);
	if (rc)
		unlink(tmp);
	umask(old);
	return rc;
}

/* The credentials file's text (NULL when the provider needs none). */
static int build_cred(const struct ob *o, char **out)
{
	int n = 0;

	*out = NULL;
	if (!o->cred)
		return 0;
	if (!strcmp(o->provider, "s3"))
		n = asprintf(out, "; objfs s3 credentials (keep mode 0600)\naccess_key_id = %s\n"
			     "secret_access_key = %s\n", o->access_key_id, o->secret);
	else if (!strcmp(o->provider, "azure"))
		n = asprintf(out, "; objfs azure credentials (keep mode 0600)\n%s = %s\n",
			     o->azure_sas ? "sas_token" : "account_key", o->secret);
	if (n < 0) {
		*out = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* Refuses (or, in the wizard, asks about) an existing file.  0 to go on,
 * with *replace set when path exists and is to be replaced. */
static int may_replace(struct ob *o, const char *path, const char *what, int *replace)
{
	struct stat st;
	char q[PATH_MAX + 64];
	int yn;

	*replace = 0;
	if (lstat(path, &st) != 0)
		return 0;
	if (!S_ISREG(st.st_mode)) {
		ob_msg("%s %s exists and is not a regular file", what, path);
		return -EEXIST;
	}
	if (o->force) {
		*replace = 1;
		return 0;
	}
	if (o->wizard) {
		snprintf(q, sizeof(q), "%s %s exists. Replace it", what, path);
		yn = ask_yesno(o, q, 0);
		if (yn > 0) {
			*replace = 1;
			return 0;
		}
		if (yn < 0)
			return yn;
	}
	ob_msg("%s %s exists: not replaced (use --force to overwrite it)", what, path);
	return -EEXIST;
}

static int write_files(struct ob *o)
{
	char *conf = NULL, *cred = NULL, *d = NULL;
	int rc, replace_conf = 0, replace_cred = 0;

	if ((rc = build_config(o, &conf)))
		goto out;
	if ((rc = build_cred(o, &cred))) {
		ob_msg("out of memory");
		goto out;
	}
	if ((rc = may_replace(o, o->config, "configuration file", &replace_conf)))
		goto out;
	if (o->cred && (rc = may_replace(o, o->cred, "credentials file", &replace_cred)))
		goto out;
	if (!(d = dir_of(o->config)) || (rc = mkdir_p(d, 0755))) {
		ob_msg("cannot create directory %s: %s", d ? d : "", strerror(d ? -rc : ENOMEM));
		rc = rc ? rc : -ENOMEM;
		goto out;
	}
	if (o->cred) {
		free(d);
		if (!(d = dir_of(o->cred)) || (rc = mkdir_p(d, 0755))) {
			ob_msg("cannot create directory %s: %s", d ? d : "", strerror(d ? -rc : ENOMEM));
			rc = rc ? rc : -ENOMEM;
			goto out;
		}
		/* Unless replacing, the file must be new: linked into place, never over
		 * a file that appeared meanwhile. */
		if ((rc = write_file_atomic(o->cred, cred, 0600, replace_cred))) {
			ob_msg("cannot write credentials file %s: %s", o->cred, strerror(-rc));
			goto out;
		}
		o->cred_written = 1;
	}
	if ((rc = write_file_atomic(o->config, conf, 0644, replace_conf))) {
		ob_msg("cannot write configuration file %s: %s", o->config, strerror(-rc));
		if (o->cred_written && !replace_cred) {
			unlink(o->cred);         /* ours, just created: nothing half-written stays */
			o->cred_written = 0;
		}
		goto out;
	}
	printf("wrote %s (mode 0644)\n", o->config);
	if (o->cred)
		printf("wrote %s (mode 0600)\n", o->cred);
	if (mkdir_p(o->mountpoint, 0755))
		printf("note: could not create the mount point %s; create it before mounting\n",
		       o->mountpoint);
out:
	if (cred)
		explicit_bzero(cred, strlen(cred));
	free(cred);
	free(conf);
	free(d);
	return rc;
}

/* ---- validation --------------------------------------------------------- */

static const char *health_name(enum objfs_health_state s)
{
	switch (s) {
	case OBJFS_HEALTH_OK: return "ok";
	case OBJFS_HEALTH_UNREACHABLE: return "unreachable";
	case OBJFS_HEALTH_AUTH: return "credentials refused";
	case OBJFS_HEALTH_NO_BUCKET: return "bucket missing";
	case OBJFS_HEALTH_CLOCK_SKEW: return "clock skew";
	case OBJFS_HEALTH_DEGRADED: return "degraded";
	}
	return "unknown";
}

/* Probes tenant t's bucket; creates it when missing and agreed.  0 ok,
 * 1 problem (reported), negative errno when input ended. */
static int validate_tenant(struct ob *o, struct objfs_prov *prov, const struct objfs_tenant_conf *t)
{
	struct objfs_health h;
	struct objfs_err err;
	char q[256];
	int rc, yn;

	memset(&h, 0, sizeof(h));
	rc = objfs_prov_health(prov, t->bucket, &h, &err);
	if (rc) {
		printf("tenant %s: provider %s bucket %s: probe failed: %s\n", t->name, t->provider,
		       t->bucket, err.msg[0] ? err.msg : strerror(-rc));
		return 1;
	}
	if (h.state == OBJFS_HEALTH_NO_BUCKET) {
		yn = o->yes;
		if (!yn && o->wizard) {
			snprintf(q, sizeof(q), "Bucket %s of tenant %s does not exist. Create it now",
				 t->bucket, t->name);
			if ((yn = ask_yesno(o, q, 1)) < 0)
				return yn;
		}
		if (!yn) {
			printf("tenant %s: provider %s bucket %s: missing, not created (objfs creates"
			       " missing buckets when it starts; --yes creates it now)\n", t->name,
			       t->provider, t->bucket);
			return 0;
		}
		rc = objfs_prov_bucket_create(prov, t->bucket, &err);
		if (rc) {
			printf("tenant %s: provider %s: cannot create bucket %s: %s\n", t->name,
			       t->provider, t->bucket, err.msg[0] ? err.msg : strerror(-rc));
			return 1;
		}
		printf("tenant %s: created bucket %s\n", t->name, t->bucket);
		memset(&h, 0, sizeof(h));
		rc = objfs_prov_health(prov, t->bucket, &h, &err);
		if (rc) {
			printf("tenant %s: provider %s bucket %s: probe failed: %s\n", t->name,
			       t->provider, t->bucket, err.msg[0] ? err.msg : strerror(-rc));
			return 1;
		}
	}
	printf("tenant %s: provider %s bucket %s%s%s: %s (%.0f ms)%s%s\n", t->name, t->provider,
	       t->bucket, t->prefix[0] ? " prefix " : "", t->prefix, health_name(h.state),
	       h.latency_s * 1000, h.state != OBJFS_HEALTH_OK && h.detail[0] ? ": " : "",
	       h.state != OBJFS_HEALTH_OK ? h.detail : "");
	return h.state == OBJFS_HEALTH_OK ? 0 : 1;
}

/* 0 valid; 1 invalid or not checkable (reported); negative errno. */
static int validate(struct ob *o)
{
	struct objfs_config *cfg = NULL;
	char errbuf[1024];
	int bad = 0, rc;

	rc = objfs_config_load(o->config, &cfg, errbuf, sizeof(errbuf));
	if (rc) {
		ob_msg("the written configuration does not load: %s", errbuf);
		return 1;
	}
	for (size_t i = 0; i < cfg->nproviders; i++) {
		const struct objfs_provider_conf *pc = &cfg->providers[i].conf;
		struct objfs_prov *prov = NULL;
		struct objfs_err err;
		size_t used = 0;

		for (size_t j = 0; j < cfg->ntenants; j++)
			used += !strcmp(cfg->tenants[j].provider, pc->name);
		if (!used)
			continue;
		if (!objfs_provider_lookup(pc->type)) {
			printf("provider %s: type %s cannot be validated: this build of objfs has no %s"
			       " provider (rerun with --no-validate to accept the files unchecked)\n",
			       pc->name, pc->type, pc->type);
			bad = 1;
			continue;
		}
		rc = objfs_prov_open(pc, &prov, &err);
		if (rc) {
			printf("provider %s: cannot open: %s\n", pc->name,
			       err.msg[0] ? err.msg : strerror(-rc));
			bad = 1;
			continue;
		}
		for (size_t j = 0; j < cfg->ntenants; j++) {
			if (strcmp(cfg->tenants[j].provider, pc->name))
				continue;
			rc = validate_tenant(o, prov, &cfg->tenants[j]);
			if (rc < 0) {
				objfs_prov_free(prov);
				objfs_config_free(cfg);
				return rc;
			}
			bad |= rc;
		}
		objfs_prov_free(prov);
	}
	objfs_config_free(cfg);
	return bad;
}

static void print_choices(const struct ob *o)
{
	fprintf(stderr, "\nAbout to write:\n  configuration  %s (mode 0644)\n", o->config);
	if (o->cred)
		fprintf(stderr, "  credentials    %s (mode 0600; the secret is not shown)\n", o->cred);
	fprintf(stderr, "  provider       %s", o->provider);
	if (o->root)
		fprintf(stderr, ", objects in %s", o->root);
	if (o->endpoint)
		fprintf(stderr, ", endpoint %s", o->endpoint);
	if (!strcmp(o->provider, "gcs"))
		fprintf(stderr, ", key %s", o->sa_json);
	fprintf(stderr, "\n  tenants       ");
	for (size_t i = 0; i < o->ntenants; i++)
		fprintf(stderr, " %s", o->tenants[i]);
	if (o->bucket)
		fprintf(stderr, " (bucket %s, prefix %s)\n", o->bucket, o->prefix ? o->prefix : "");
	else
		fprintf(stderr, " (buckets %s)\n", o->bucket_pattern);
	fprintf(stderr, "  mount point    %s\n  cache          %s\n", o->mountpoint, o->cache_dir);
}

int ctl_onboard_main(const char *config_path, int argc, char **argv)
{
	struct ob o;
	const char *env;
	int rc, status = 1;

	memset(&o, 0, sizeof(o));
	o.path_style = -1;
	if (ob_set(&o.config, config_path))
		goto nomem;
	rc = parse_flags(&o, argc, argv);
	if (rc) {
		status = rc < 0 ? 0 : rc;
		goto out;
	}
	if (!o.secret && (env = getenv("OBJFS_SECRET_ACCESS_KEY")) && *env &&
	    !(o.secret = strdup(env)))
		goto nomem;
	o.wizard = !o.provider;
	if ((!o.config && ob_set(&o.config, OB_DEFAULT_CONFIG)) ||
	    (!o.mountpoint && ob_set(&o.mountpoint, OB_DEFAULT_MNT)) ||
	    (!o.cache_dir && ob_set(&o.cache_dir, OB_DEFAULT_CACHE)) ||
	    (!o.control_socket && ob_set(&o.control_socket, OB_DEFAULT_SOCKET)))
		goto nomem;
	objfs_log_set_level(OBJFS_LOG_WARN);
	if (o.wizard) {
		if ((rc = wizard(&o))) {
			status = 1;
			goto out;
		}
	}
	if (check_all(&o)) {
		status = o.wizard ? 1 : 2;
		goto out;
	}
	if (default_cred(&o))
		goto nomem;
	if (o.wizard && !o.yes) {
		print_choices(&o);
		rc = ask_yesno(&o, "Write these files", 1);
		if (rc <= 0) {
			if (rc == 0)
				ob_msg("nothing written");
			status = 1;
			goto out;
		}
	}
	if (write_files(&o)) {
		status = 1;
		goto out;
	}
	fflush(stdout);
	if (o.no_validate) {
		printf("not validated (--no-validate)\n");
	} else {
		rc = validate(&o);
		fflush(stdout);
		if (rc) {
			ob_msg("validation failed; the files are kept for editing: %s%s%s (rerun with"
			       " --force to replace them)", o.config, o.cred ? " and " : "",
			       o.cred ? o.cred : "");
			status = 1;
			goto out;
		}
		printf("validated: the configuration loads and every tenant's store answers\n");
	}
	printf("next: objfs --config %s            (add -f to stay in the foreground)\n", o.config);
	if (!strcmp(o.config, OB_DEFAULT_CONFIG))
		printf("  or, as a service: systemctl enable --now objfs\n");
	else
		printf("  (the systemd unit objfs.service reads " OB_DEFAULT_CONFIG ")\n");
	status = 0;
	goto out;
nomem:
	ob_msg("out of memory");
	status = 1;
out:
	ob_free(&o);
	return status;
}
