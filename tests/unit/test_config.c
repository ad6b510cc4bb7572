/*
 * Unit tests for src/config.c: tables of INI files.
 *
 * In every INI text, "@DIR@" is replaced by a fresh temporary directory that
 * holds "cred600" (mode 0600), "cred644" (mode 0644) and "regular" (a plain
 * file).  A bad-input case marks the line the error must name with the inline
 * comment "; <-"; a case without the marker expects "FILE: problem".
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "config.h"

#define HDR "[objfs]\ncache_dir = @DIR@/cache\n"
#define MIB (1024ULL * 1024ULL)

static char test_dir[64];

static const char *const env_vars[] = {
	"OBJFS_PROVIDER", "OBJFS_CACHE_DIR", "OBJFS_MOUNTPOINT", "OBJFS_LOG_LEVEL",
};

/* ---- helpers ---------------------------------------------------------------- */

static char *subst(const char *tmpl)
{
	size_t dl = strlen(test_dir), n = 0;
	const char *p;
	char *out, *o;

	for (p = tmpl; (p = strstr(p, "@DIR@")); p += 5)
		n++;
	out = malloc(strlen(tmpl) + n * dl + 1);
	assert_non_null(out);
	for (o = out, p = tmpl; *p;) {
		if (strncmp(p, "@DIR@", 5) == 0) {
			memcpy(o, test_dir, dl);
			o += dl;
			p += 5;
		} else {
			*o++ = *p++;
		}
	}
	*o = '\0';
	return out;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

/* Sets the environment from "VAR=value;VAR=value" (NULL: nothing). */
static void set_env(const char *env)
{
	char buf[512], *save = NULL;

	for (size_t i = 0; i < sizeof(env_vars) / sizeof(env_vars[0]); i++)
		unsetenv(env_vars[i]);
	if (!env)
		return;
	snprintf(buf, sizeof(buf), "%s", env);
	for (char *tok = strtok_r(buf, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
		char *eq = strchr(tok, '='), *v;

		assert_non_null(eq);
		*eq = '\0';
		v = subst(eq + 1);
		setenv(tok, v, 1);
		free(v);
	}
}

/* Writes the INI text to a mkstemp file and loads it.  *pathp: the file's
 * path (caller frees and unlinks). */
static int load(const char *ini, const char *env, struct objfs_config **cfg,
		char *err, size_t errlen, char **pathp)
{
	char path[] = "/tmp/objfs-test-config-XXXXXX";
	char *text = subst(ini);
	int fd = mkstemp(path), rc;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	free(text);
	set_env(env);
	rc = objfs_config_load(path, cfg, err, errlen);
	set_env(NULL);
	*pathp = strdup(path);
	return rc;
}

/* Line of the first "; <-" marker, 0 if none. */
static int marked_line(const char *ini)
{
	const char *m = strstr(ini, "; <-");
	int line = 1;

	if (!m)
		return 0;
	for (const char *p = ini; p < m; p++)
		if (*p == '\n')
			line++;
	return line;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	char path[128];

	(void)state;
	snprintf(test_dir, sizeof(test_dir), "/tmp/objfs-test-XXXXXX");
	if (!mkdtemp(test_dir))
		return -1;
	snprintf(path, sizeof(path), "%s/cred600", test_dir);
	write_file(path, "access_key_id = AK\nsecret_access_key = SK\n", 0600);
	snprintf(path, sizeof(path), "%s/cred644", test_dir);
	write_file(path, "access_key_id = AK\nsecret_access_key = SK\n", 0644);
	snprintf(path, sizeof(path), "%s/regular", test_dir);
	write_file(path, "not a directory\n", 0644);
	/* SSE-C keys: base64 of 32 bytes 0x00..0x1f, and the same readable by all */
	snprintf(path, sizeof(path), "%s/ssec600", test_dir);
	write_file(path, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n", 0600);
	snprintf(path, sizeof(path), "%s/ssec644", test_dir);
	write_file(path, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n", 0644);
	snprintf(path, sizeof(path), "%s/ssecshort", test_dir);
	write_file(path, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==\n", 0600);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return nftw(test_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- bad input ---------------------------------------------------------------- */

struct bad_case {
	const char *name;
	const char *ini;
	const char *env;      /* "VAR=value;..." or NULL */
	const char *want;     /* substring of the message */
};

static const struct bad_case bad_cases[] = {
	/* sections */
	{ "unknown section", HDR "[tenant acme]\n[bogus] ; <-\n", NULL, "unknown section [bogus]" },
	{ "unknown named section", HDR "[tenants acme] ; <-\n", NULL, "unknown section" },
	{ "objfs with a name", "[objfs main] ; <-\n[tenant acme]\n", NULL, "takes no name" },
	{ "tenant without name", HDR "[tenant] ; <-\n", NULL, "needs a name" },
	{ "provider without name", HDR "[provider ] ; <-\n[tenant acme]\n", NULL, "needs a name" },
	{ "section missing ]", HDR "[tenant acme ; <-\n", NULL, "without ']'" },
	{ "text after header", HDR "[tenant acme] x ; <-\n", NULL, "text after section header" },
	{ "duplicate tenant", HDR "[tenant acme]\n[tenant globex]\n[tenant acme] ; <-\n", NULL,
	  "duplicate section [tenant acme] (first at line 3)" },
	{ "duplicate objfs", HDR "[tenant acme]\n[objfs] ; <-\n", NULL, "duplicate section [objfs]" },
	{ "duplicate provider",
	  HDR "[provider p]\ntype = local\nroot = /x\n[provider p] ; <-\n[tenant acme]\n", NULL,
	  "duplicate section [provider p]" },
	{ "duplicate key", HDR "[tenant acme]\ntrash_days = 1\ntrash_days = 2 ; <-\n", NULL,
	  "duplicate key trash_days (first at line 4)" },
	{ "zero tenants", HDR, NULL, "no [tenant] sections" },
	{ "empty file", "", NULL, "no [tenant] sections" },
	{ "key outside section", "mountpoint = /mnt ; <-\n" HDR "[tenant acme]\n", NULL, "outside any section" },
	{ "syntax error", HDR "[tenant acme]\nthis is not a key ; <-\n", NULL, "syntax error" },
	{ "empty key name", HDR "[tenant acme]\n= 5 ; <-\n", NULL, "empty key name" },
	{ "continuation line", HDR "[tenant acme]\nbucket = abc\n  def ; <-\n", NULL, "continuation" },
	{ "line too long", HDR "[tenant acme]\nsse = "
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx ; <-\n", NULL, "line too long" },

	/* unknown keys, per section type */
	{ "unknown key objfs", HDR "frobnicate = 1 ; <-\n[tenant acme]\n", NULL, "unknown key frobnicate in [objfs]" },
	{ "unknown key provider",
	  HDR "[provider p]\ntype = local\nroot = /x\ncolour = red ; <-\n[tenant acme]\nprovider = p\n", NULL,
	  "unknown key colour in [provider p]" },
	{ "unknown key tenant", HDR "[tenant acme]\nquota = 5 ; <-\n", NULL, "unknown key quota in [tenant acme]" },

	/* providers */
	{ "key not allowed (type after it)",
	  HDR "[provider p]\nregion = x ; <-\ntype = local\nroot = /x\n[tenant acme]\n", NULL,
	  "key region is not allowed for a provider of type local" },
	{ "root on s3", HDR "[provider p]\ntype = s3\nroot = /x ; <-\n[tenant acme]\n", NULL,
	  "key root is not allowed for a provider of type s3" },
	{ "region on gcs", HDR "[provider g]\ntype = gcs\nregion = eu ; <-\n[tenant acme]\n", NULL,
	  "not allowed for a provider of type gcs" },
	{ "path_style on azure",
	  HDR "[provider b]\ntype = azure\naccount = acct\npath_style = true ; <-\n[tenant acme]\n", NULL,
	  "not allowed for a provider of type azure" },
	{ "account on s3", HDR "[provider p]\naccount = a ; <-\ntype = s3\n[tenant acme]\n", NULL,
	  "not allowed for a provider of type s3" },
	{ "listen on gcs", HDR "[provider g]\ntype = gcs\nlisten = 127.0.0.1:1 ; <-\n[tenant acme]\n", NULL,
	  "not allowed for a provider of type gcs" },
	{ "missing type", HDR "[provider p] ; <-\nroot = /x\n[tenant acme]\n", NULL, "missing key type" },
	{ "unknown type", HDR "[provider p]\ntype = ftp ; <-\n[tenant acme]\n", NULL, "unknown provider type \"ftp\"" },
	{ "local without root", HDR "[provider p] ; <-\ntype = local\n[tenant acme]\n", NULL, "needs root" },
	{ "azure container with a dot", HDR "[provider b]\ntype = azure\naccount = a\n[tenant my.co] ; <-\nprovider = b\n",
	  NULL, "cannot be a azure bucket: an Azure container name has no dots" },
	{ "azure container with --", HDR "[provider b]\ntype = azure\n[tenant a--b] ; <-\nprovider = b\n",
	  NULL, "no consecutive hyphens" },
	{ "gcs bucket goog", HDR "[provider g]\ntype = gcs\n[tenant googly] ; <-\nprovider = g\n",
	  NULL, "may not start with \"goog\"" },
	{ "bad parallel_composite", HDR "[provider g]\ntype = gcs\nparallel_composite = maybe ; <-\n[tenant acme]\n",
	  NULL, "parallel_composite: invalid boolean" },
	{ "parallel_composite on s3", HDR "[provider p]\ntype = s3\nparallel_composite = true ; <-\n[tenant acme]\n",
	  NULL, "not allowed for a provider of type s3" },
	{ "relative root", HDR "[provider p]\ntype = local\nroot = objects ; <-\n[tenant acme]\n", NULL,
	  "not an absolute path" },
	{ "bad listen", HDR "[provider p]\ntype = local\nroot = /x\nlisten = 127.0.0.1 ; <-\n[tenant acme]\n", NULL,
	  "HOST:PORT" },
	{ "listen port 0", HDR "[provider p]\ntype = local\nroot = /x\nlisten = h:0 ; <-\n[tenant acme]\n", NULL,
	  "HOST:PORT" },
	{ "bad endpoint", HDR "[provider p]\ntype = s3\nendpoint = ftp://x ; <-\n[tenant acme]\n", NULL,
	  "not an http:// or https:// URL" },
	{ "bad path_style", HDR "[provider p]\ntype = s3\npath_style = sometimes ; <-\n[tenant acme]\n", NULL,
	  "invalid boolean" },
	{ "bad provider name", HDR "[provider -p] ; <-\ntype = s3\n[tenant acme]\n", NULL, "invalid provider name" },
	{ "credentials 0644",
	  HDR "[provider main]\ntype = s3\ncredentials = @DIR@/cred644 ; <-\n[tenant acme]\nprovider = main\n", NULL,
	  "is readable by group or others (chmod 600)" },
	{ "credentials missing",
	  HDR "[provider main]\ntype = s3\ncredentials = @DIR@/nonexistent ; <-\n[tenant acme]\n", NULL,
	  "No such file or directory" },
	{ "credentials is a directory",
	  HDR "[provider main]\ntype = gcs\ncredentials = @DIR@ ; <-\n[tenant acme]\n", NULL,
	  "not a regular file" },
	{ "empty provider value", HDR "[provider p]\ntype = s3\nregion = ; <-\n[tenant acme]\n", NULL, "empty value" },

	/* tenants */
	{ "missing provider", HDR "[tenant acme]\nprovider = nosuch ; <-\n", NULL,
	  "provider \"nosuch\" is not defined" },
	{ "missing default provider", "[objfs]\ncache_dir = @DIR@/cache\ndefault_provider = main\n[tenant acme] ; <-\n",
	  NULL, "provider \"main\" is not defined" },
	{ "unused missing default provider",
	  "[objfs]\ncache_dir = @DIR@/cache\ndefault_provider = main ; <-\n[provider p]\ntype = local\nroot = /x\n"
	  "[tenant acme]\nprovider = p\n", NULL, "default_provider: provider \"main\" is not defined" },
	{ "tenant uppercase", HDR "[tenant Acme] ; <-\n", NULL, "invalid tenant name \"Acme\"" },
	{ "tenant too short", HDR "[tenant ab] ; <-\n", NULL, "invalid tenant name" },
	{ "tenant too long",
	  HDR "[tenant abcdefghij-abcdefghij-abcdefghij-abcdefghij-abcdefghij-abcdefghij] ; <-\n", NULL,
	  "invalid tenant name" },
	{ "tenant 64 bytes",
	  HDR "[tenant a123456789012345678901234567890123456789012345678901234567890123] ; <-\n", NULL,
	  "invalid tenant name" },
	{ "tenant ..", HDR "[tenant a..b] ; <-\n", NULL, "invalid tenant name" },
	{ "tenant dotdot alone", HDR "[tenant ..] ; <-\n", NULL, "invalid tenant name" },
	{ "tenant ip-like", HDR "[tenant 192.168.1.1] ; <-\n", NULL, "invalid tenant name" },
	{ "tenant leading hyphen", HDR "[tenant -acme] ; <-\n", NULL, "invalid tenant name" },
	{ "tenant trailing hyphen", HDR "[tenant acme-] ; <-\n", NULL, "invalid tenant name" },
	{ "tenant underscore inside", HDR "[tenant ac_me] ; <-\n", NULL, "invalid tenant name" },
	{ "tenant slash", HDR "[tenant ac/me] ; <-\n", NULL, "invalid tenant name" },
	{ "tenant space", HDR "[tenant ac me] ; <-\n", NULL, "invalid tenant name" },
	{ "tenant lone underscore", HDR "[tenant _] ; <-\n", NULL, "invalid tenant name" },
	{ "underscore without bucket", HDR "[tenant _staging] ; <-\nprefix = staging/\n", NULL,
	  "needs an explicit bucket" },
	{ "bucket pattern without {tenant}", "[objfs]\ncache_dir = @DIR@/cache\nbucket_pattern = uploads ; <-\n[tenant acme]\n",
	  NULL, "does not contain {tenant}" },
	{ "bucket pattern invalid bucket",
	  "[objfs]\ncache_dir = @DIR@/cache\nbucket_pattern = {tenant}_Uploads\n[tenant acme] ; <-\n", NULL,
	  "bucket \"acme_Uploads\" from bucket_pattern" },
	{ "bucket pattern too long",
	  "[objfs]\ncache_dir = @DIR@/cache\nbucket_pattern = {tenant}-{tenant}-{tenant}\n"
	  "[tenant abc]\n[tenant abcdefghijklmnopqrstuvwxyz] ; <-\n", NULL, "not a valid bucket name" },
	{ "explicit bad bucket", HDR "[tenant acme]\nbucket = Bad_Bucket ; <-\n", NULL, "not a valid bucket name" },
	{ "explicit ip bucket", HDR "[tenant acme]\nbucket = 10.0.0.1 ; <-\n", NULL, "not a valid bucket name" },
	{ "prefix dotdot", HDR "[tenant acme]\nbucket = shared\nprefix = tenants/../globex/ ; <-\n", NULL,
	  "segment" },
	{ "prefix empty segment", HDR "[tenant acme]\nprefix = a//b ; <-\n", NULL, "segment" },
	{ "prefix dot", HDR "[tenant acme]\nprefix = ./a ; <-\n", NULL, "segment" },
	{ "prefix bad utf8", HDR "[tenant acme]\nprefix = a\xc3\x28/ ; <-\n", NULL, "UTF-8" },
	{ "overlapping tenants",
	  HDR "[tenant acme]\nbucket = shared\nprefix = t/\n[tenant globex] ; <-\nbucket = shared\nprefix = t/globex/\n",
	  NULL, "overlaps tenant acme" },
	{ "same bucket no prefix",
	  HDR "[tenant acme]\nbucket = shared\n[tenant globex] ; <-\nbucket = shared\n", NULL, "overlaps" },
	{ "bad uid list", HDR "[tenant acme]\nallow_uids = 1000,abc ; <-\n", NULL, "invalid id \"abc\"" },
	{ "negative uid", HDR "[tenant acme]\nallow_uids = -1 ; <-\n", NULL, "invalid id" },
	{ "uid -1 as number", HDR "[tenant acme]\nallow_gids = 4294967295 ; <-\n", NULL, "invalid id" },
	{ "empty uid item", HDR "[tenant acme]\nallow_uids = 1000,,1001 ; <-\n", NULL, "empty item" },
	{ "bad mime type", HDR "[tenant acme]\ndenied_types = application ; <-\n", NULL, "not a MIME type" },
	{ "bad mime type 2", HDR "[tenant acme]\nallowed_types = text/plain, a/b/c ; <-\n", NULL, "not a MIME type" },
	{ "bad read_only", HDR "[tenant acme]\nread_only = maybe ; <-\n", NULL, "invalid boolean \"maybe\"" },
	{ "bad read_only 2", HDR "[tenant acme]\nread_only = 2 ; <-\n", NULL, "invalid boolean" },
	{ "bad quota", HDR "[tenant acme]\nquota_bytes = 1e9 ; <-\n", NULL, "invalid number \"1e9\"" },
	{ "quota overflow", HDR "[tenant acme]\nquota_bytes = 16777216T ; <-\n", NULL, "out of range" },
	{ "quota overflow digits", HDR "[tenant acme]\nquota_objects = 99999999999999999999999 ; <-\n", NULL,
	  "out of range" },
	{ "negative max size", HDR "[tenant acme]\nmax_object_size = -5 ; <-\n", NULL, "invalid number" },
	{ "trash_days range", HDR "[tenant acme]\ntrash_days = 100000 ; <-\n", NULL, "out of range" },
	{ "sse with blank", HDR "[tenant acme]\nsse = aws kms ; <-\n", NULL, "invalid value" },
	{ "empty tenant value", HDR "[tenant acme]\nbucket = ; <-\n", NULL, "empty value" },

	/* [objfs] values */
	{ "negative workers", HDR "upload_workers = -1 ; <-\n[tenant acme]\n", NULL, "invalid number \"-1\"" },
	{ "plus sign", HDR "upload_workers = +4 ; <-\n[tenant acme]\n", NULL, "invalid number" },
	{ "garbage workers", HDR "upload_workers = four ; <-\n[tenant acme]\n", NULL, "invalid number" },
	{ "trailing garbage", HDR "upload_workers = 4x ; <-\n[tenant acme]\n", NULL, "invalid number" },
	{ "workers zero", HDR "upload_workers = 0 ; <-\n[tenant acme]\n", NULL, "out of range (1..64)" },
	{ "workers 65", HDR "upload_workers = 65 ; <-\n[tenant acme]\n", NULL, "out of range (1..64)" },
	{ "parts 0", HDR "upload_parallel_parts = 0 ; <-\n[tenant acme]\n", NULL, "out of range" },
	{ "workers overflow", HDR "upload_workers = 99999999999999999999999 ; <-\n[tenant acme]\n", NULL,
	  "out of range" },
	{ "ttl with blank", HDR "attr_ttl = 5 5 ; <-\n[tenant acme]\n", NULL, "invalid number" },
	{ "ttl with suffix", HDR "dir_ttl = 5M ; <-\n[tenant acme]\n", NULL, "invalid number" },
	{ "chunk bad suffix", HDR "chunk_size = 8X ; <-\n[tenant acme]\n", NULL, "invalid number" },
	{ "chunk suffix only", HDR "chunk_size = M ; <-\n[tenant acme]\n", NULL, "invalid number" },
	{ "chunk not power of two", HDR "chunk_size = 3M ; <-\n[tenant acme]\n", NULL, "not a power of two" },
	{ "chunk bytes not power of two", HDR "chunk_size = 10000000 ; <-\n[tenant acme]\n", NULL,
	  "not a power of two" },
	{ "chunk too small", HDR "chunk_size = 512K ; <-\n[tenant acme]\n", NULL, "out of range" },
	{ "chunk too big", HDR "chunk_size = 128M ; <-\n[tenant acme]\n", NULL, "out of range" },
	{ "staging too small", HDR "chunk_size = 8M\nstaging_max_bytes = 15M ; <-\n[tenant acme]\n", NULL,
	  "less than 2 * chunk_size" },
	{ "staging too small for default chunk", HDR "staging_max_bytes = 8M ; <-\n[tenant acme]\n", NULL,
	  "less than 2 * chunk_size" },
	{ "chunk too big for default staging",
	  "[objfs]\ncache_dir = @DIR@/cache\nstaging_max_bytes = 32M ; <-\nchunk_size = 32M\n[tenant acme]\n", NULL,
	  "staging_max_bytes" },
	{ "bad sync_upload", HDR "sync_upload = perhaps ; <-\n[tenant acme]\n", NULL, "invalid boolean" },
	{ "bad mode", HDR "control_socket_mode = 0999 ; <-\n[tenant acme]\n", NULL, "invalid octal mode" },
	{ "mode too big", HDR "control_socket_mode = 1777 ; <-\n[tenant acme]\n", NULL, "invalid octal mode" },
	{ "mode negative", HDR "control_socket_mode = -660 ; <-\n[tenant acme]\n", NULL, "invalid octal mode" },
	{ "bad log level", HDR "log_level = loud ; <-\n[tenant acme]\n", NULL, "invalid log level" },
	{ "relative mountpoint", HDR "mountpoint = mnt/store ; <-\n[tenant acme]\n", NULL, "not an absolute path" },
	{ "bad metrics_listen", HDR "metrics_listen = 127.0.0.1:99999 ; <-\n[tenant acme]\n", NULL, "HOST:PORT" },
	{ "bad group", HDR "control_socket_group = a b ; <-\n[tenant acme]\n", NULL, "invalid name" },
	{ "bad default_provider", HDR "default_provider = no/such ; <-\n[tenant acme]\n", NULL, "invalid name" },
	{ "empty value", HDR "mountpoint = ; <-\n[tenant acme]\n", NULL, "empty value" },
	{ "bad revalidate", HDR "revalidate_ms = 1.5 ; <-\n[tenant acme]\n", NULL, "invalid number" },
	{ "bad writeback delay", HDR "writeback_delay_ms = soon ; <-\n[tenant acme]\n", NULL, "invalid number" },
	{ "sse unknown", HDR "[tenant acme]\nsse = DES ; <-\n", NULL, "none, AES256, aws:kms or customer" },
	{ "kms id without kms", HDR "[tenant acme]\nsse = AES256 ; <-\nsse_kms_key_id = k1\n", NULL,
	  "sse_kms_key_id needs sse = aws:kms" },
	{ "customer without key", HDR "[tenant acme]\nsse = customer ; <-\n", NULL, "go together" },
	{ "key without customer", HDR "[tenant acme] ; <-\nsse_customer_key = @DIR@/ssec600\n", NULL,
	  "go together" },
	{ "customer key missing", HDR "[tenant acme]\nsse = customer ; <-\nsse_customer_key = @DIR@/nokey\n",
	  NULL, "sse_customer_key @DIR@/nokey: No such file" },
	{ "customer key readable", HDR "[tenant acme]\nsse = customer ; <-\nsse_customer_key = @DIR@/ssec644\n",
	  NULL, "readable by group or others" },
	{ "customer key short", HDR "[tenant acme]\nsse = customer ; <-\nsse_customer_key = @DIR@/ssecshort\n",
	  NULL, "expected a 256-bit key" },
	{ "bad acl", HDR "[tenant acme] ; <-\nacl = everyone\n", NULL, "not a canned ACL" },
	{ "bad read_cache", HDR "read_cache = sometimes ; <-\n[tenant acme]\n", NULL, "auto, always or never" },
	{ "cache_dir under a file", "[objfs]\ncache_dir = @DIR@/regular/cache ; <-\n[tenant acme]\n", NULL,
	  "cache_dir @DIR@/regular/cache: cannot create: Not a directory" },
	{ "cache_dir relative", "[objfs]\ncache_dir = cache ; <-\n[tenant acme]\n", NULL, "not an absolute path" },

	/* environment */
	{ "env provider missing", HDR "[tenant acme] ; <-\n", "OBJFS_PROVIDER=nosuch",
	  "provider \"nosuch\" is not defined" },
	{ "env provider missing, explicit ok", HDR "[provider p]\ntype = local\nroot = /x\n"
	  "[tenant acme]\nprovider = p\n[tenant globex] ; <-\n", "OBJFS_PROVIDER=nosuch",
	  "tenant globex: provider \"nosuch\" is not defined" },
	{ "env provider invalid", HDR "[tenant acme]\n", "OBJFS_PROVIDER=bad name", "OBJFS_PROVIDER" },
	{ "env log level", HDR "[tenant acme]\n", "OBJFS_LOG_LEVEL=loud", "environment OBJFS_LOG_LEVEL" },
	{ "env mountpoint", HDR "[tenant acme]\n", "OBJFS_MOUNTPOINT=relative", "not an absolute path" },
	{ "env cache_dir", HDR "[tenant acme]\n", "OBJFS_CACHE_DIR=@DIR@/regular/x",
	  "(from OBJFS_CACHE_DIR): cannot create: Not a directory" },
};

static void test_bad_input(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		struct objfs_config *cfg = (struct objfs_config *)0x1;
		char err[1024], prefix[256], *path = NULL, *want = subst(c->want);
		int line = marked_line(c->ini);
		int rc = load(c->ini, c->env, &cfg, err, sizeof(err), &path);

		if (line)
			snprintf(prefix, sizeof(prefix), "%s:%d: ", path, line);
		else
			snprintf(prefix, sizeof(prefix), "%s: ", path);
		if (rc >= 0 || cfg != NULL)
			fail_msg("case \"%s\": loaded (rc %d), expected an error", c->name, rc);
		if (strncmp(err, prefix, strlen(prefix)) != 0)
			fail_msg("case \"%s\": message \"%s\" does not start with \"%s\"", c->name, err, prefix);
		if (!strstr(err, want))
			fail_msg("case \"%s\": message \"%s\" lacks \"%s\"", c->name, err, want);
		if (strchr(err, '\n'))
			fail_msg("case \"%s\": message has more than one line", c->name);
		if (getenv("TEST_VERBOSE"))
			print_message("%-36s %s\n", c->name, err);
		unlink(path);
		free(path);
		free(want);
	}
}

static void test_missing_file(void **state)
{
	struct objfs_config *cfg = NULL;
	char err[512], path[128];

	(void)state;
	snprintf(path, sizeof(path), "%s/does-not-exist.conf", test_dir);
	assert_int_equal(objfs_config_load(path, &cfg, err, sizeof(err)), -ENOENT);
	assert_null(cfg);
	assert_non_null(strstr(err, path));
	assert_int_equal(strncmp(err, path, strlen(path)), 0);
	assert_string_equal(err + strlen(path), ": cannot open: No such file or directory");
	/* a tiny error buffer is fine */
	assert_int_equal(objfs_config_load(path, &cfg, err, 4), -ENOENT);
	assert_int_equal(strlen(err), 3);
	assert_int_equal(objfs_config_load(path, &cfg, NULL, 0), -ENOENT);
}

/* ---- good input -------------------------------------------------------------- */

static const char full_ini[] =
	"[objfs]\n"
	"mountpoint     = /mnt/store\n"
	"cache_dir      = @DIR@/full/cache        ; SQLite database, staging, read cache\n"
	"control_socket = /run/objfs/ctl.sock\n"
	"control_socket_mode = 0640               ; plus control_socket_group\n"
	"control_socket_group = objfs\n"
	"metrics_listen = 127.0.0.1:9567          ; optional: Prometheus scrape address\n"
	"default_provider = local\n"
	"bucket_pattern = {tenant}-uploads        ; used when a tenant names no bucket\n"
	"log_level = debug\n"
	"chunk_size = 16M\n"
	"staging_max_bytes = 1G\n"
	"read_cache_max_bytes = 512m\n"
	"multipart_threshold = 64M\n"
	"upload_workers = 8\n"
	"upload_parallel_parts = 2\n"
	"attr_ttl = 60\n"
	"dir_ttl = 0\n"
	"negative_ttl = 5\n"
	"revalidate_ms = 250\n"
	"drain_timeout = 30\n"
	"sync_upload = yes\n"
	"writeback_delay_ms = 2000\n"
	"read_cache = always\n"
	"\n"
	"[provider local]\n"
	"type = local\n"
	"root = @DIR@/objects                     ; one subdirectory per bucket\n"
	"listen = 127.0.0.1:9080                  ; optional\n"
	"\n"
	"[provider main]\n"
	"endpoint = http://127.0.0.1:9000\n"
	"type = s3\n"
	"region = us-east-1\n"
	"path_style = true\n"
	"credentials = @DIR@/cred600              ; mode 0600\n"
	"\n"
	"[provider gcs]\n"
	"type = gcs\n"
	"credentials = @DIR@/cred600\n"
	"endpoint = https://storage.googleapis.com ; default\n"
	"\n"
	"# a hash comment\n"
	"[provider blob]\n"
	"type = azure\n"
	"account = myaccount\n"
	"credentials = @DIR@/cred600\n"
	"\n"
	"[tenant acme]                            ; -> bucket acme-uploads on the default provider\n"
	"quota_bytes = 10737418240                ; EDQUOT past it; also quota_objects\n"
	"quota_objects = 1000000\n"
	"max_object_size = 5368709120             ; EFBIG past it\n"
	"denied_types = application/x-msdownload  ; or allowed_types; EACCES\n"
	"trash_days = 7                           ; deleted/overwritten objects kept\n"
	"[tenant globex]\n"
	"provider = main\n"
	"bucket = shared-bucket\n"
	"prefix = tenants/globex/\n"
	"allow_uids = 1000,1001\n"
	"allow_gids = 50\n"
	"allowed_types = text/plain, Image/*\n"
	"read_only = false                        ; true: EROFS on every mutation\n"
	"sse = aws:kms\n"
	"sse_kms_key_id = arn:aws:kms:us-east-1:1:key/k1\n"
	"storage_class = STANDARD_IA\n"
	"acl = bucket-owner-full-control\n"
	"[tenant _staging]\n"
	"bucket = shared-bucket\n"
	"provider = main\n"
	"prefix = /staging\n"
	"[tenant initech]\n"
	"provider = main\n"
	"bucket = shared-bucket\n"
	"prefix = tenants/{tenant}\n"
	"read_only = on\n"
	"sse = customer\n"
	"sse_customer_key = @DIR@/ssec600\n";

static void test_full(void **state)
{
	struct objfs_config *cfg = NULL;
	const struct objfs_provider_section *p;
	const struct objfs_tenant_conf *t;
	char err[512], *path = NULL, *s;
	struct stat sb;

	(void)state;
	if (load(full_ini, NULL, &cfg, err, sizeof(err), &path) != 0)
		fail_msg("full config: %s", err);
	assert_string_equal(cfg->path, path);
	assert_string_equal(cfg->mountpoint, "/mnt/store");
	s = subst("@DIR@/full/cache");
	assert_string_equal(cfg->cache_dir, s);
	assert_int_equal(stat(s, &sb), 0);
	assert_true(S_ISDIR(sb.st_mode));
	assert_int_equal(sb.st_mode & 0777, 0700);
	free(s);
	assert_string_equal(cfg->control_socket, "/run/objfs/ctl.sock");
	assert_int_equal(cfg->control_socket_mode, 0640);
	assert_string_equal(cfg->control_socket_group, "objfs");
	assert_string_equal(cfg->metrics_listen, "127.0.0.1:9567");
	assert_string_equal(cfg->default_provider, "local");
	assert_string_equal(cfg->bucket_pattern, "{tenant}-uploads");
	assert_string_equal(cfg->log_level, "debug");
	assert_int_equal(cfg->chunk_size, 16 * MIB);
	assert_int_equal(cfg->staging_max_bytes, 1024 * MIB);
	assert_int_equal(cfg->read_cache_max_bytes, 512 * MIB);
	assert_int_equal(cfg->multipart_threshold, 64 * MIB);
	assert_int_equal(cfg->upload_workers, 8);
	assert_int_equal(cfg->upload_parallel_parts, 2);
	assert_int_equal(cfg->attr_ttl_s, 60);
	assert_int_equal(cfg->dir_ttl_s, 0);
	assert_int_equal(cfg->neg_ttl_s, 5);
	assert_int_equal(cfg->revalidate_ms, 250);
	assert_int_equal(cfg->drain_timeout_s, 30);
	assert_int_equal(cfg->sync_upload, 1);
	assert_int_equal(cfg->writeback_delay_ms, 2000);
	assert_int_equal(cfg->read_cache, OBJFS_READ_CACHE_ALWAYS);

	assert_int_equal(cfg->nproviders, 4);
	p = objfs_config_provider(cfg, "local");
	assert_non_null(p);
	assert_int_equal(p->line, 26);
	assert_string_equal(p->conf.type, "local");
	s = subst("@DIR@/objects");
	assert_string_equal(p->conf.root, s);
	free(s);
	assert_string_equal(p->conf.listen, "127.0.0.1:9080");
	p = objfs_config_provider(cfg, "main");
	assert_non_null(p);
	assert_string_equal(p->conf.name, "main");
	assert_string_equal(p->conf.type, "s3");
	assert_string_equal(p->conf.endpoint, "http://127.0.0.1:9000");
	assert_string_equal(p->conf.region, "us-east-1");
	assert_int_equal(p->conf.path_style, 1);
	s = subst("@DIR@/cred600");
	assert_string_equal(p->conf.credentials, s);
	free(s);
	assert_null(p->conf.root);
	p = objfs_config_provider(cfg, "gcs");
	assert_string_equal(p->conf.endpoint, "https://storage.googleapis.com");
	p = objfs_config_provider(cfg, "blob");
	assert_string_equal(p->conf.account, "myaccount");
	assert_null(p->conf.endpoint);
	assert_null(objfs_config_provider(cfg, "Main"));
	assert_null(objfs_config_provider(cfg, NULL));

	assert_int_equal(cfg->ntenants, 4);
	t = &cfg->tenants[0];
	assert_string_equal(t->name, "acme");
	assert_int_equal(t->line, 49);
	assert_string_equal(t->provider, "local");
	assert_string_equal(t->bucket, "acme-uploads");
	assert_string_equal(t->prefix, "");
	assert_int_equal(t->quota_bytes, 10737418240ULL);
	assert_int_equal(t->quota_objects, 1000000);
	assert_int_equal(t->max_object_size, 5368709120ULL);
	assert_null(t->allowed_types);
	assert_string_equal(t->denied_types[0], "application/x-msdownload");
	assert_null(t->denied_types[1]);
	assert_int_equal(t->trash_days, 7);
	assert_int_equal(t->nallow_uids, 0);
	assert_null(t->allow_uids);
	assert_int_equal(t->read_only, 0);
	assert_null(t->sse);

	t = &cfg->tenants[1];
	assert_string_equal(t->name, "globex");
	assert_string_equal(t->provider, "main");
	assert_string_equal(t->bucket, "shared-bucket");
	assert_string_equal(t->prefix, "tenants/globex/");
	assert_int_equal(t->nallow_uids, 2);
	assert_int_equal(t->allow_uids[0], 1000);
	assert_int_equal(t->allow_uids[1], 1001);
	assert_int_equal(t->nallow_gids, 1);
	assert_int_equal(t->allow_gids[0], 50);
	assert_string_equal(t->allowed_types[0], "text/plain");
	assert_string_equal(t->allowed_types[1], "image/*");
	assert_null(t->allowed_types[2]);
	assert_int_equal(t->read_only, 0);
	assert_string_equal(t->sse, "aws:kms");
	assert_string_equal(t->sse_kms_key_id, "arn:aws:kms:us-east-1:1:key/k1");
	assert_string_equal(t->storage_class, "STANDARD_IA");
	assert_string_equal(t->acl, "bucket-owner-full-control");
	assert_null(t->sse_customer_key);

	t = &cfg->tenants[2];
	assert_string_equal(t->name, "_staging");
	assert_string_equal(t->bucket, "shared-bucket");
	assert_string_equal(t->prefix, "staging/");

	t = &cfg->tenants[3];
	assert_string_equal(t->prefix, "tenants/initech/");
	assert_int_equal(t->read_only, 1);
	assert_string_equal(t->sse, "customer");
	for (int i = 0; i < 32; i++)
		assert_int_equal(t->sse_c_key[i], i);

	objfs_config_free(cfg);
	unlink(path);
	free(path);
}

static void test_defaults(void **state)
{
	struct objfs_config *cfg = NULL;
	const struct objfs_provider_section *p;
	char err[512], *path = NULL;

	(void)state;
	if (load(HDR "[tenant acme]\n", NULL, &cfg, err, sizeof(err), &path) != 0)
		fail_msg("defaults: %s", err);
	assert_null(cfg->mountpoint);
	assert_string_equal(cfg->control_socket, "/run/objfs/ctl.sock");
	assert_int_equal(cfg->control_socket_mode, 0660);
	assert_null(cfg->control_socket_group);
	assert_null(cfg->metrics_listen);
	assert_string_equal(cfg->default_provider, "local");
	assert_string_equal(cfg->bucket_pattern, "{tenant}-uploads");
	assert_string_equal(cfg->log_level, "info");
	assert_int_equal(cfg->chunk_size, 8 * MIB);
	assert_int_equal(cfg->staging_max_bytes, 4096 * MIB);
	assert_int_equal(cfg->read_cache_max_bytes, 2048 * MIB);
	assert_int_equal(cfg->multipart_threshold, 0);
	assert_int_equal(cfg->upload_workers, 4);
	assert_int_equal(cfg->upload_parallel_parts, 4);
	assert_int_equal(cfg->attr_ttl_s, 300);
	assert_int_equal(cfg->dir_ttl_s, 300);
	assert_int_equal(cfg->neg_ttl_s, 30);
	assert_int_equal(cfg->revalidate_ms, 1000);
	assert_int_equal(cfg->drain_timeout_s, 300);
	assert_int_equal(cfg->sync_upload, 0);
	assert_int_equal(cfg->writeback_delay_ms, 0);
	assert_int_equal(cfg->read_cache, OBJFS_READ_CACHE_AUTO);
	/* the implicit local provider */
	assert_int_equal(cfg->nproviders, 1);
	p = objfs_config_provider(cfg, "local");
	assert_non_null(p);
	assert_int_equal(p->line, 0);
	assert_string_equal(p->conf.type, "local");
	assert_string_equal(p->conf.root, "/var/lib/objfs/objects");
	assert_int_equal(cfg->ntenants, 1);
	assert_string_equal(cfg->tenants[0].provider, "local");
	assert_string_equal(cfg->tenants[0].bucket, "acme-uploads");
	assert_string_equal(cfg->tenants[0].prefix, "");
	assert_int_equal(cfg->tenants[0].line, 3);
	objfs_config_free(cfg);
	unlink(path);
	free(path);
	objfs_config_free(NULL);
}

/* Good files and the value one field ends up with: a table of
 * {ini, environment, which field, expected}. */
enum field { F_CHUNK, F_STAGING, F_MODE, F_SYNC, F_PROVIDER, F_BUCKET, F_PREFIX, F_MOUNT,
	     F_CACHE, F_LEVEL, F_READONLY, F_NPROV, F_QUOTA, F_TTL_DEFAULT, F_TTL_MAX,
	     F_AUDIT_MAX };

struct good_case {
	const char *name;
	const char *ini;
	const char *env;
	enum field field;
	uint64_t num;
	const char *str;     /* for string fields; @DIR@ substituted */
};

static const struct good_case good_cases[] = {
	{ "chunk 1M", HDR "chunk_size = 1M\n[tenant acme]\n", NULL, F_CHUNK, 1 * MIB, NULL },
	{ "chunk 64M", HDR "chunk_size = 64M\nstaging_max_bytes = 128M\n[tenant acme]\n", NULL, F_CHUNK, 64 * MIB, NULL },
	{ "chunk bytes", HDR "chunk_size = 2097152\n[tenant acme]\n", NULL, F_CHUNK, 2 * MIB, NULL },
	{ "chunk 1024K", HDR "chunk_size = 1024k\n[tenant acme]\n", NULL, F_CHUNK, 1 * MIB, NULL },
	{ "staging 2 chunks", HDR "staging_max_bytes = 16M\n[tenant acme]\n", NULL, F_STAGING, 16 * MIB, NULL },
	{ "staging T", HDR "staging_max_bytes = 2T\n[tenant acme]\n", NULL, F_STAGING, 2ULL << 40, NULL },
	{ "staging G", HDR "staging_max_bytes = 3g\n[tenant acme]\n", NULL, F_STAGING, 3ULL << 30, NULL },
	{ "quota 15 exabytes", HDR "[tenant acme]\nquota_bytes = 16777215T\n", NULL, F_QUOTA, 16777215ULL << 40, NULL },
	{ "quota max", HDR "[tenant acme]\nquota_bytes = 18446744073709551615\n", NULL, F_QUOTA, UINT64_MAX, NULL },
	{ "quota zero", HDR "[tenant acme]\nquota_bytes = 0\n", NULL, F_QUOTA, 0, NULL },
	{ "presign ttl default", HDR "[tenant acme]\n", NULL, F_TTL_DEFAULT, 900, NULL },
	{ "presign ttl max default", HDR "[tenant acme]\n", NULL, F_TTL_MAX, 604800, NULL },
	{ "presign ttl max 1h", HDR "presign_ttl_max = 3600\npresign_ttl_default = 60\n[tenant acme]\n",
	  NULL, F_TTL_MAX, 3600, NULL },
	{ "audit max 1G", HDR "audit_log_max_bytes = 1G\n[tenant acme]\n", NULL, F_AUDIT_MAX, 1ULL << 30, NULL },
	{ "mode 600", HDR "control_socket_mode = 600\n[tenant acme]\n", NULL, F_MODE, 0600, NULL },
	{ "mode 0", HDR "control_socket_mode = 0\n[tenant acme]\n", NULL, F_MODE, 0, NULL },
	{ "bool TRUE", HDR "sync_upload = TRUE\n[tenant acme]\n", NULL, F_SYNC, 1, NULL },
	{ "bool 1", HDR "sync_upload = 1\n[tenant acme]\n", NULL, F_SYNC, 1, NULL },
	{ "bool off", HDR "sync_upload = off\n[tenant acme]\n", NULL, F_SYNC, 0, NULL },
	{ "bool no", HDR "sync_upload = no\n[tenant acme]\n", NULL, F_SYNC, 0, NULL },
	{ "read_only yes", HDR "[tenant acme]\nread_only = yes\n", NULL, F_READONLY, 1, NULL },
	{ "read_only 0", HDR "[tenant acme]\nread_only = 0\n", NULL, F_READONLY, 0, NULL },
	{ "env provider",
	  HDR "[provider main]\ntype = s3\n[tenant acme]\n", "OBJFS_PROVIDER=main", F_PROVIDER, 0, "main" },
	{ "env provider keeps explicit",
	  HDR "[provider main]\ntype = s3\n[provider p]\ntype = local\nroot = /x\n[tenant acme]\nprovider = p\n",
	  "OBJFS_PROVIDER=main", F_PROVIDER, 0, "p" },
	{ "env provider local is implicit",
	  "[objfs]\ncache_dir = @DIR@/cache\ndefault_provider = main\n[provider main]\ntype = s3\n[tenant acme]\n",
	  "OBJFS_PROVIDER=local", F_NPROV, 2, NULL },
	{ "no implicit local when default is another",
	  "[objfs]\ncache_dir = @DIR@/cache\ndefault_provider = main\n[provider main]\ntype = s3\n[tenant acme]\n",
	  NULL, F_NPROV, 1, NULL },
	{ "explicit local replaces implicit",
	  HDR "[tenant acme]\n[provider local]\ntype = local\nroot = /srv/objects\n", NULL, F_NPROV, 1, NULL },
	{ "env empty is unset", HDR "[tenant acme]\n", "OBJFS_PROVIDER=", F_PROVIDER, 0, "local" },
	{ "env mountpoint", HDR "mountpoint = /mnt/a\n[tenant acme]\n", "OBJFS_MOUNTPOINT=/mnt/b", F_MOUNT, 0, "/mnt/b" },
	{ "env cache_dir", "[objfs]\ncache_dir = @DIR@/regular/x\n[tenant acme]\n", "OBJFS_CACHE_DIR=@DIR@/envcache/a/b",
	  F_CACHE, 0, "@DIR@/envcache/a/b" },
	{ "env log level", HDR "log_level = warn\n[tenant acme]\n", "OBJFS_LOG_LEVEL=error", F_LEVEL, 0, "error" },
	{ "pattern twice", "[objfs]\ncache_dir = @DIR@/cache\nbucket_pattern = {tenant}-x-{tenant}\n[tenant acme]\n",
	  NULL, F_BUCKET, 0, "acme-x-acme" },
	{ "pattern prefix only", "[objfs]\ncache_dir = @DIR@/cache\nbucket_pattern = objfs-{tenant}\n[tenant a.b]\n",
	  NULL, F_BUCKET, 0, "objfs-a.b" },
	{ "63-byte tenant with explicit bucket",
	  HDR "[tenant a12345678901234567890123456789012345678901234567890123456789012]\nbucket = abc\n",
	  NULL, F_BUCKET, 0, "abc" },
	{ "prefix normalised", HDR "[tenant acme]\nprefix = //a/b//\n", NULL, F_PREFIX, 0, "a/b/" },
	{ "prefix slash only", HDR "[tenant acme]\nprefix = /\n", NULL, F_PREFIX, 0, "" },
	{ "prefix empty", HDR "[tenant acme]\nprefix =\n", NULL, F_PREFIX, 0, "" },
	{ "prefix utf8", HDR "[tenant acme]\nprefix = caf\xc3\xa9\n", NULL, F_PREFIX, 0, "caf\xc3\xa9/" },
	{ "semicolon without blank stays", HDR "[tenant acme]\nprefix = a;b\n", NULL, F_PREFIX, 0, "a;b/" },
	{ "crlf and bom", "\xEF\xBB\xBF[objfs]\r\ncache_dir = @DIR@/cache\r\n[tenant acme]\r\nprefix = x\r\n", NULL,
	  F_PREFIX, 0, "x/" },
	{ "indented key after header", HDR "[tenant acme]\n  prefix = ind\n", NULL, F_PREFIX, 0, "ind/" },
	{ "disjoint prefixes share a bucket",
	  HDR "[tenant acme]\nbucket = shared\nprefix = t/acme/\n[tenant acmex]\nbucket = shared\nprefix = t/acmex/\n",
	  NULL, F_PREFIX, 0, "t/acme/" },
	{ "no objfs section", "[tenant acme]\n", "OBJFS_CACHE_DIR=@DIR@/cache", F_BUCKET, 0, "acme-uploads" },
};

static void test_good_values(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(good_cases) / sizeof(good_cases[0]); i++) {
		const struct good_case *c = &good_cases[i];
		struct objfs_config *cfg = NULL;
		char err[1024], *path = NULL, *want = c->str ? subst(c->str) : NULL;
		const char *got = NULL;
		uint64_t num = 0;

		if (load(c->ini, c->env, &cfg, err, sizeof(err), &path) != 0)
			fail_msg("case \"%s\": %s", c->name, err);
		switch (c->field) {
		case F_CHUNK: num = cfg->chunk_size; break;
		case F_STAGING: num = cfg->staging_max_bytes; break;
		case F_TTL_DEFAULT: num = cfg->presign_ttl_default_s; break;
		case F_TTL_MAX: num = cfg->presign_ttl_max_s; break;
		case F_AUDIT_MAX: num = cfg->audit_log_max_bytes; break;
		case F_MODE: num = cfg->control_socket_mode; break;
		case F_SYNC: num = (uint64_t)cfg->sync_upload; break;
		case F_READONLY: num = (uint64_t)cfg->tenants[0].read_only; break;
		case F_QUOTA: num = cfg->tenants[0].quota_bytes; break;
		case F_NPROV: num = cfg->nproviders; break;
		case F_PROVIDER: got = cfg->tenants[0].provider; break;
		case F_BUCKET: got = cfg->tenants[0].bucket; break;
		case F_PREFIX: got = cfg->tenants[0].prefix; break;
		case F_MOUNT: got = cfg->mountpoint; break;
		case F_CACHE: got = cfg->cache_dir; break;
		case F_LEVEL: got = cfg->log_level; break;
		}
		if (want && (!got || strcmp(got, want) != 0))
			fail_msg("case \"%s\": got \"%s\", want \"%s\"", c->name, got ? got : "(null)", want);
		if (!want && num != c->num)
			fail_msg("case \"%s\": got %llu, want %llu", c->name, (unsigned long long)num,
				 (unsigned long long)c->num);
		objfs_config_free(cfg);
		unlink(path);
		free(path);
		free(want);
	}
}

/* ---- names -------------------------------------------------------------------- */

struct name_case {
	const char *name;
	int bucket;   /* objfs_bucket_name_valid */
	int tenant;   /* objfs_tenant_name_valid */
};

static const struct name_case name_cases[] = {
	{ "acme", 1, 1 },
	{ "abc", 1, 1 },
	{ "ab", 0, 0 },
	{ "a.b", 1, 1 },
	{ "a-b-c", 1, 1 },
	{ "9lives", 1, 1 },
	{ "a12345678901234567890123456789012345678901234567890123456789012", 1, 1 },
	{ "a123456789012345678901234567890123456789012345678901234567890123", 0, 0 },
	{ "Acme", 0, 0 },
	{ "-acme", 0, 0 },
	{ "acme-", 0, 0 },
	{ ".acme", 0, 0 },
	{ "acme.", 0, 0 },
	{ "a..b", 0, 0 },
	{ "..", 0, 0 },
	{ ".", 0, 0 },
	{ "", 0, 0 },
	{ "192.168.1.1", 0, 0 },
	{ "1.2.3.4", 0, 0 },
	{ "1.2.3", 1, 1 },
	{ "1.2.3.4.5", 1, 1 },
	{ "1.2.3.a", 1, 1 },
	{ "ac_me", 0, 0 },
	{ "ac me", 0, 0 },
	{ "ac/me", 0, 0 },
	{ "caf\xc3\xa9", 0, 0 },
	{ "_staging", 0, 1 },
	{ "_s", 0, 1 },
	{ "_", 0, 0 },
	{ "__x", 0, 0 },
	{ "_-x", 0, 0 },
	{ "_x-", 0, 0 },
	{ "_A", 0, 0 },
	{ "_a..b", 0, 0 },
	{ "_a1234567890123456789012345678901234567890123456789012345678901", 0, 1 },
	{ "_a12345678901234567890123456789012345678901234567890123456789012", 0, 0 },
};

static void test_names(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(name_cases) / sizeof(name_cases[0]); i++) {
		const struct name_case *c = &name_cases[i];

		if (objfs_bucket_name_valid(c->name) != c->bucket)
			fail_msg("bucket \"%s\": want %d", c->name, c->bucket);
		if (objfs_tenant_name_valid(c->name) != c->tenant)
			fail_msg("tenant \"%s\": want %d", c->name, c->tenant);
	}
	assert_int_equal(objfs_bucket_name_valid(NULL), 0);
	assert_int_equal(objfs_tenant_name_valid(NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_good_values),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
