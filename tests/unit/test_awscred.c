/*
 * Unit tests for src/awscred.c: a table of credential files and
 * environments.
 *
 * Each case runs in a fresh temporary directory; "@DIR@" in any string of a
 * case stands for it.  The provider's file is written to @DIR@/cred (mode
 * from the case), the shared credentials file to @DIR@/shared or, for
 * `in_home`, to @DIR@/home/.aws/credentials.  HOME is always @DIR@/home, so
 * the real ~/.aws is never read, and every AWS_* variable the loader reads is
 * cleared before a case and restored at the end.
 *
 * Every value in the files and the environment is one of the constants
 * below; no error message may contain the secret, the token or their
 * distinctive fragments.
 */
#include <errno.h>
#include <fcntl.h>
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

#include "awscred.h"
#include "testutil.h"

#define AK  "AKIAIOSFODNN7EXAMPLE"
#define SK  "wJalrXUtnFEMI/K7MDENG+bPxRfiCYzSECRET"
#define TOK "FwoGZXIvYXdzEBYaDTOKENtoken/+abc=="
#define AK2 "AKIADEVPROFILE00000"
#define SK2 "devSECRETdevSECRETdev/+devSECRET"

static const char *const env_vars[] = {
	"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
	"AWS_SHARED_CREDENTIALS_FILE", "AWS_PROFILE", "HOME",
};
#define NENV (sizeof(env_vars) / sizeof(env_vars[0]))
static char *saved_env[NENV];

/* Fragments that must never appear in an error message. */
static const char *const secrets[] = {
	SK, TOK, SK2, "wJalrXUtnFEMI", "CYzSECRET", "devSECRETdev", "TOKENtoken", "FwoGZXIv",
};

struct cred_case {
	const char *name;
	const char *path;                /* the provider's credentials key; NULL: none */
	const char *file;                /* written to @DIR@/cred; NULL: no file */
	size_t file_len;                 /* 0: strlen(file) */
	mode_t mode;                     /* of @DIR@/cred */
	const char *shared;              /* shared credentials file; NULL: none */
	int in_home;                     /* shared file at $HOME/.aws/credentials */
	mode_t shared_mode;              /* 0: 0600 */
	const char *env;                 /* "VAR=value|VAR=value" */
	int want_rc;
	const char *ak, *sk, *tok;       /* expected on success (tok NULL: none) */
	const char *source;              /* expected source on success */
	const char *err;                 /* substring of err on failure */
	int nonroot;                     /* meaningful only when not running as root */
};

#define GOOD "access_key_id = " AK "\nsecret_access_key = " SK "\n"
#define CRED "@DIR@/cred"
#define SHARED_ENV "AWS_SHARED_CREDENTIALS_FILE=@DIR@/shared"
#define PROFILES \
	"[default]\naws_access_key_id = " AK "\naws_secret_access_key = " SK "\n" \
	"region = us-east-1\n\n[dev]\noutput = json\naws_access_key_id=" AK2 "\n" \
	"aws_secret_access_key=" SK2 "\naws_session_token=" TOK "\n"

static const struct cred_case cases[] = {
	/* ---- 1. the provider's file ---- */
	{ "file: good", CRED, GOOD, 0, 0600, NULL, 0, 0, NULL, 0, AK, SK, NULL, CRED, NULL, 0 },
	{ "file: read-only owner", CRED, GOOD, 0, 0400, NULL, 0, 0, NULL, 0, AK, SK, NULL, CRED,
	  NULL, 0 },
	{ "file: token, comments, CRLF, aws_ names, section, key case", CRED,
	  "# objfs credentials\r\n; another comment\r\n\r\n[default]\r\n"
	  "AWS_Access_Key_ID   =   " AK "  \r\n\taws_secret_access_key=" SK "\r\n"
	  "  session_token = " TOK "\r\n", 0, 0600, NULL, 0, 0, NULL, 0, AK, SK, TOK, CRED,
	  NULL, 0 },
	{ "file: legacy aws_security_token", CRED, GOOD "aws_security_token = " TOK "\n", 0,
	  0600, NULL, 0, 0, NULL, 0, AK, SK, TOK, CRED, NULL, 0 },
	{ "file: '#' and ';' inside a value are kept", CRED,
	  "access_key_id = " AK "\nsecret_access_key = a#b;c = d\n", 0, 0600, NULL, 0, 0, NULL,
	  0, AK, "a#b;c = d", NULL, CRED, NULL, 0 },
	{ "file: no trailing newline", CRED, "access_key_id=" AK "\nsecret_access_key=" SK, 0,
	  0600, NULL, 0, 0, NULL, 0, AK, SK, NULL, CRED, NULL, 0 },
	{ "file: wins over the environment", CRED, GOOD, 0, 0600, NULL, 0, 0,
	  "AWS_ACCESS_KEY_ID=" AK2 "|AWS_SECRET_ACCESS_KEY=" SK2, 0, AK, SK, NULL, CRED, NULL, 0 },
	{ "file: mode 0644", CRED, GOOD, 0, 0644, NULL, 0, 0, NULL, -EACCES, NULL, NULL, NULL,
	  NULL, "credentials file @DIR@/cred has mode 0644: group or others may access it "
	  "(chmod 600 @DIR@/cred)", 0 },
	{ "file: mode 0640", CRED, GOOD, 0, 0640, NULL, 0, 0, NULL, -EACCES, NULL, NULL, NULL,
	  NULL, "chmod 600", 0 },
	{ "file: mode 0602", CRED, GOOD, 0, 0602, NULL, 0, 0, NULL, -EACCES, NULL, NULL, NULL,
	  NULL, "mode 0602", 0 },
	{ "file: missing", "@DIR@/missing", NULL, 0, 0, NULL, 0, 0, NULL, -ENOENT, NULL, NULL,
	  NULL, NULL, "credentials file @DIR@/missing: No such file or directory", 0 },
	{ "file: broken, no fall-back to the environment", "@DIR@/missing", NULL, 0, 0, NULL, 0,
	  0, "AWS_ACCESS_KEY_ID=" AK "|AWS_SECRET_ACCESS_KEY=" SK, -ENOENT, NULL, NULL, NULL,
	  NULL, "@DIR@/missing", 0 },
	{ "file: a directory", "@DIR@/home", NULL, 0, 0, NULL, 0, 0, NULL, -EINVAL, NULL, NULL,
	  NULL, NULL, "@DIR@/home is not a regular file", 0 },
	{ "file: unreadable", CRED, GOOD, 0, 0200, NULL, 0, 0, NULL, -EACCES, NULL, NULL, NULL,
	  NULL, "Permission denied", 1 },
	{ "file: missing secret", CRED, "access_key_id = " AK "\n", 0, 0600, NULL, 0, 0, NULL,
	  -EINVAL, NULL, NULL, NULL, NULL,
	  "@DIR@/cred: access_key_id (line 1) without secret_access_key", 0 },
	{ "file: missing access key", CRED, "\nsecret_access_key = " SK "\n", 0, 0600, NULL, 0,
	  0, NULL, -EINVAL, NULL, NULL, NULL, NULL,
	  "@DIR@/cred: secret_access_key (line 2) without access_key_id", 0 },
	{ "file: empty", CRED, "", 0, 0600, NULL, 0, 0, NULL, -EINVAL, NULL, NULL, NULL, NULL,
	  "@DIR@/cred: no access_key_id and secret_access_key", 0 },
	{ "file: empty secret", CRED, "access_key_id = " AK "\nsecret_access_key =   \n", 0,
	  0600, NULL, 0, 0, NULL, -EINVAL, NULL, NULL, NULL, NULL,
	  "@DIR@/cred line 2: empty value for secret_access_key", 0 },
	{ "file: empty access key", CRED, "access_key_id=\nsecret_access_key = " SK "\n", 0,
	  0600, NULL, 0, 0, NULL, -EINVAL, NULL, NULL, NULL, NULL,
	  "line 1: empty value for access_key_id", 0 },
	{ "file: empty token", CRED, GOOD "session_token =\n", 0, 0600, NULL, 0, 0, NULL,
	  -EINVAL, NULL, NULL, NULL, NULL, "line 3: empty value for session_token", 0 },
	{ "file: bare secret on a line", CRED, "access_key_id = " AK "\n" SK "\n", 0, 0600, NULL,
	  0, 0, NULL, -EINVAL, NULL, NULL, NULL, NULL,
	  "@DIR@/cred line 2: syntax error (expected key = value)", 0 },
	{ "file: bare token (base64 '=') on a line", CRED, GOOD TOK "\n", 0, 0600, NULL, 0, 0,
	  NULL, -EINVAL, NULL, NULL, NULL, NULL, "@DIR@/cred line 3: unknown key (expected", 0 },
	{ "file: unknown key", CRED, GOOD "region = us-east-1\n", 0, 0600, NULL, 0, 0, NULL,
	  -EINVAL, NULL, NULL, NULL, NULL, "line 3: unknown key", 0 },
	{ "file: garbage", CRED, "access_key_id = " AK "\nsecret " SK "\n", 0, 0600, NULL, 0, 0,
	  NULL, -EINVAL, NULL, NULL, NULL, NULL, "line 2: syntax error", 0 },
	{ "file: empty key name", CRED, GOOD " = " SK "\n", 0, 0600, NULL, 0, 0, NULL, -EINVAL,
	  NULL, NULL, NULL, NULL, "line 3: empty key name", 0 },
	{ "file: duplicate key", CRED, GOOD "aws_secret_access_key = " SK2 "\n", 0, 0600, NULL,
	  0, 0, NULL, -EINVAL, NULL, NULL, NULL, NULL,
	  "line 3: duplicate aws_secret_access_key (first at line 2)", 0 },
	{ "file: two profiles", CRED, PROFILES, 0, 0600, NULL, 0, 0, NULL, -EINVAL, NULL, NULL,
	  NULL, NULL, "line 4: unknown key", 0 },
	{ "file: section without ]", CRED, "[default\n" GOOD, 0, 0600, NULL, 0, 0, NULL, -EINVAL,
	  NULL, NULL, NULL, NULL, "line 1: section header without ']'", 0 },
	{ "file: control character", CRED, "access_key_id = " AK "\nsecret_access_key = a\001b\n",
	  0, 0600, NULL, 0, 0, NULL, -EINVAL, NULL, NULL, NULL, NULL,
	  "line 2: control character in the value of secret_access_key", 0 },
	{ "file: NUL byte", CRED, "access_key_id = " AK "\0\nsecret_access_key = " SK "\n",
	  sizeof("access_key_id = " AK "\0\nsecret_access_key = " SK "\n") - 1, 0600, NULL, 0, 0,
	  NULL, -EINVAL, NULL, NULL, NULL, NULL, "holds a NUL byte", 0 },

	/* ---- 2. the environment ---- */
	{ "env: keys", NULL, NULL, 0, 0, NULL, 0, 0,
	  "AWS_ACCESS_KEY_ID=" AK "|AWS_SECRET_ACCESS_KEY=" SK, 0, AK, SK, NULL, "environment",
	  NULL, 0 },
	{ "env: with token", NULL, NULL, 0, 0, NULL, 0, 0,
	  "AWS_ACCESS_KEY_ID=" AK "|AWS_SECRET_ACCESS_KEY=" SK "|AWS_SESSION_TOKEN=" TOK, 0, AK,
	  SK, TOK, "environment", NULL, 0 },
	{ "env: legacy AWS_SECURITY_TOKEN", NULL, NULL, 0, 0, NULL, 0, 0,
	  "AWS_ACCESS_KEY_ID=" AK "|AWS_SECRET_ACCESS_KEY=" SK "|AWS_SECURITY_TOKEN=" TOK, 0, AK,
	  SK, TOK, "environment", NULL, 0 },
	{ "env: empty token is none", NULL, NULL, 0, 0, NULL, 0, 0,
	  "AWS_ACCESS_KEY_ID=" AK "|AWS_SECRET_ACCESS_KEY=" SK "|AWS_SESSION_TOKEN=", 0, AK, SK,
	  NULL, "environment", NULL, 0 },
	{ "env: wins over the shared file", NULL, NULL, 0, 0, PROFILES, 0, 0,
	  SHARED_ENV "|AWS_ACCESS_KEY_ID=" AK2 "|AWS_SECRET_ACCESS_KEY=" SK2, 0, AK2, SK2, NULL,
	  "environment", NULL, 0 },
	{ "env: access key only", NULL, NULL, 0, 0, PROFILES, 0, 0,
	  SHARED_ENV "|AWS_ACCESS_KEY_ID=" AK, -EINVAL, NULL, NULL, NULL, NULL,
	  "environment: AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not", 0 },
	{ "env: secret only", NULL, NULL, 0, 0, NULL, 0, 0, "AWS_SECRET_ACCESS_KEY=" SK,
	  -EINVAL, NULL, NULL, NULL, NULL,
	  "environment: AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not", 0 },
	{ "env: empty access key", NULL, NULL, 0, 0, NULL, 0, 0,
	  "AWS_ACCESS_KEY_ID=|AWS_SECRET_ACCESS_KEY=" SK, -EINVAL, NULL, NULL, NULL, NULL,
	  "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not (or is empty)", 0 },
	{ "env: both empty falls through", NULL, NULL, 0, 0, PROFILES, 0, 0,
	  SHARED_ENV "|AWS_ACCESS_KEY_ID=|AWS_SECRET_ACCESS_KEY=", 0, AK, SK, NULL,
	  "@DIR@/shared [default]", NULL, 0 },

	/* ---- 3. the shared credentials file ---- */
	{ "shared: default profile", NULL, NULL, 0, 0, PROFILES, 0, 0, SHARED_ENV, 0, AK, SK,
	  NULL, "@DIR@/shared [default]", NULL, 0 },
	{ "shared: in $HOME/.aws", NULL, NULL, 0, 0, PROFILES, 1, 0, NULL, 0, AK, SK, NULL,
	  "@DIR@/home/.aws/credentials [default]", NULL, 0 },
	{ "shared: AWS_PROFILE", NULL, NULL, 0, 0, PROFILES, 1, 0, "AWS_PROFILE=dev", 0, AK2,
	  SK2, TOK, "@DIR@/home/.aws/credentials [dev]", NULL, 0 },
	{ "shared: mode 0644 accepted", NULL, NULL, 0, 0, PROFILES, 0, 0644, SHARED_ENV, 0, AK,
	  SK, NULL, "@DIR@/shared [default]", NULL, 0 },
	{ "shared: unknown profile", NULL, NULL, 0, 0, PROFILES, 0, 0,
	  SHARED_ENV "|AWS_PROFILE=prod", -ENOENT, NULL, NULL, NULL, NULL,
	  "no AWS credentials: @DIR@/shared has no [prod] profile (AWS_PROFILE)", 0 },
	{ "shared: no default profile", NULL, NULL, 0, 0, "[dev]\naws_access_key_id=" AK "\n"
	  "aws_secret_access_key=" SK "\n", 0, 0, SHARED_ENV, -ENOENT, NULL, NULL, NULL, NULL,
	  "@DIR@/shared has no [default] profile", 0 },
	{ "shared: profile without secret", NULL, NULL, 0, 0,
	  "[default]\naws_access_key_id=" AK "\n[other]\naws_secret_access_key=" SK "\n", 0, 0,
	  SHARED_ENV, -EINVAL, NULL, NULL, NULL, NULL,
	  "@DIR@/shared [default]: aws_access_key_id (line 2) without aws_secret_access_key", 0 },
	{ "shared: role profile", NULL, NULL, 0, 0,
	  "[default]\nrole_arn = arn:aws:iam::1:role/x\nsource_profile = base\n", 0, 0,
	  SHARED_ENV, -EINVAL, NULL, NULL, NULL, NULL, "are not supported", 0 },
	{ "shared: empty value", NULL, NULL, 0, 0,
	  "[default]\naws_access_key_id=" AK "\naws_secret_access_key=\n", 0, 0, SHARED_ENV,
	  -EINVAL, NULL, NULL, NULL, NULL,
	  "@DIR@/shared line 3: empty value for aws_secret_access_key", 0 },
	{ "shared: garbage in another profile", NULL, NULL, 0, 0,
	  PROFILES "[x]\n" SK "\n", 0, 0, SHARED_ENV, -EINVAL, NULL, NULL, NULL, NULL,
	  "@DIR@/shared line 12: syntax error", 0 },
	{ "shared: duplicate in the profile", NULL, NULL, 0, 0,
	  PROFILES "[default]\naws_access_key_id=" AK2 "\n", 0, 0, SHARED_ENV, -EINVAL, NULL,
	  NULL, NULL, NULL, "line 12: duplicate aws_access_key_id (first at line 2)", 0 },
	{ "shared: duplicate elsewhere ignored", NULL, NULL, 0, 0,
	  PROFILES "[x]\naws_access_key_id=1\naws_access_key_id=2\n", 0, 0, SHARED_ENV, 0, AK,
	  SK, NULL, "@DIR@/shared [default]", NULL, 0 },
	{ "shared: section names trimmed", NULL, NULL, 0, 0,
	  "[ dev ]\naws_access_key_id=" AK2 "\naws_secret_access_key=" SK2 "\n", 0, 0,
	  SHARED_ENV "|AWS_PROFILE=dev", 0, AK2, SK2, NULL, "@DIR@/shared [dev]", NULL, 0 },
	{ "shared: explicit file missing", NULL, NULL, 0, 0, NULL, 0, 0, SHARED_ENV, -ENOENT,
	  NULL, NULL, NULL, NULL, "and @DIR@/shared does not exist", 0 },
	{ "shared: unreadable", NULL, NULL, 0, 0, PROFILES, 0, 0200, SHARED_ENV, -EACCES, NULL,
	  NULL, NULL, NULL, "@DIR@/shared: Permission denied", 1 },
	{ "nothing anywhere", NULL, NULL, 0, 0, NULL, 0, 0, NULL, -ENOENT, NULL, NULL, NULL,
	  NULL, "no AWS credentials: no credentials file configured, "
	  "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY unset, and @DIR@/home/.aws/credentials does "
	  "not exist", 0 },
	{ "no HOME", NULL, NULL, 0, 0, NULL, 0, 0, "HOME=", -ENOENT, NULL, NULL, NULL, NULL,
	  "no HOME", 0 },
};

/* ---- helpers ---------------------------------------------------------------------- */

static char *subst(const char *tmpl, const char *dir)
{
	size_t dl = strlen(dir), n = 0;
	const char *p;
	char *out, *o;

	if (!tmpl)
		return NULL;
	for (p = tmpl; (p = strstr(p, "@DIR@")); p += 5)
		n++;
	out = malloc(strlen(tmpl) + n * dl + 1);
	assert_non_null(out);
	for (o = out, p = tmpl; *p;) {
		if (strncmp(p, "@DIR@", 5) == 0) {
			memcpy(o, dir, dl);
			o += dl;
			p += 5;
		} else {
			*o++ = *p++;
		}
	}
	*o = '\0';
	return out;
}

static void write_mode(const char *path, const char *text, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void clear_env(void)
{
	for (size_t i = 0; i < NENV; i++)
		unsetenv(env_vars[i]);
}

/* HOME=@DIR@/home, then "VAR=value|..." (an empty value sets it empty). */
static void set_env(const char *env, const char *dir)
{
	char *buf = subst(env, dir), *save = NULL, *home = subst("@DIR@/home", dir);

	clear_env();
	setenv("HOME", home, 1);
	free(home);
	if (!buf)
		return;
	for (char *t = strtok_r(buf, "|", &save); t; t = strtok_r(NULL, "|", &save)) {
		char *eq = strchr(t, '=');

		assert_non_null(eq);
		*eq = '\0';
		setenv(t, eq + 1, 1);
	}
	free(buf);
}

static int setup(void **state)
{
	(void)state;
	for (size_t i = 0; i < NENV; i++) {
		const char *v = getenv(env_vars[i]);

		saved_env[i] = v ? strdup(v) : NULL;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (size_t i = 0; i < NENV; i++) {
		if (saved_env[i])
			setenv(env_vars[i], saved_env[i], 1);
		else
			unsetenv(env_vars[i]);
		free(saved_env[i]);
		saved_env[i] = NULL;
	}
	return 0;
}

/* Runs case c; 1 if it behaved as expected (mismatches are printed). */
static int run_case(const struct cred_case *c)
{
	struct objfs_awscred out;
	char *dir = tu_mkdtemp("awscred"), *path, *want_err, *want_src, *p;
	char err[512];
	int rc, ok = 1;

	assert_non_null(dir);
	p = subst("@DIR@/home", dir);
	assert_int_equal(mkdir(p, 0700), 0);
	free(p);
	if (c->file) {
		p = subst(CRED, dir);
		write_mode(p, c->file, c->file_len ? c->file_len : strlen(c->file), c->mode);
		free(p);
	}
	if (c->shared) {
		p = subst(c->in_home ? "@DIR@/home/.aws" : "@DIR@", dir);
		if (c->in_home)
			assert_int_equal(mkdir(p, 0700), 0);
		free(p);
		p = subst(c->in_home ? "@DIR@/home/.aws/credentials" : "@DIR@/shared", dir);
		write_mode(p, c->shared, strlen(c->shared), c->shared_mode ? c->shared_mode : 0600);
		free(p);
	}
	path = subst(c->path, dir);
	want_err = subst(c->err, dir);
	want_src = subst(c->source, dir);
	set_env(c->env, dir);

	memset(&out, 0, sizeof(out));
	memset(err, 'x', sizeof(err));
	err[sizeof(err) - 1] = '\0';
	rc = objfs_awscred_load(path, &out, err, sizeof(err));
	clear_env();

	if (rc != c->want_rc) {
		print_error("%s: rc %d, want %d (err: %s)\n", c->name, rc, c->want_rc, err);
		ok = 0;
	} else if (rc == 0) {
		if (!out.access_key || strcmp(out.access_key, c->ak) ||
		    !out.secret_key || strcmp(out.secret_key, c->sk) ||
		    (c->tok ? !out.session_token || strcmp(out.session_token, c->tok)
			    : out.session_token != NULL)) {
			print_error("%s: wrong credentials (ak %s, token %s)\n", c->name,
				    out.access_key ? out.access_key : "(null)",
				    out.session_token ? "set" : "none");
			ok = 0;
		}
		if (strcmp(out.source, want_src) != 0) {
			print_error("%s: source \"%s\", want \"%s\"\n", c->name, out.source, want_src);
			ok = 0;
		}
	} else {
		if (!strstr(err, want_err)) {
			print_error("%s: err \"%s\"\n  want \"%s\"\n", c->name, err, want_err);
			ok = 0;
		}
		if (out.access_key || out.secret_key || out.session_token) {
			print_error("%s: output not cleared after an error\n", c->name);
			ok = 0;
		}
	}
	if (strchr(err, '\n')) {
		print_error("%s: err has more than one line\n", c->name);
		ok = 0;
	}
	for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
		if (strstr(err, secrets[i])) {
			print_error("%s: err reveals a secret: %s\n", c->name, err);
			ok = 0;
		}
	}
	objfs_awscred_clear(&out);
	assert_null(out.access_key);
	assert_null(out.secret_key);
	assert_null(out.session_token);
	/* Files made unreadable must be removable by the cleanup. */
	p = subst(CRED, dir);
	chmod(p, 0600);
	free(p);
	tu_rm_rf(dir);
	free(dir);
	free(path);
	free(want_err);
	free(want_src);
	return ok;
}

static void test_cases(void **state)
{
	size_t n = sizeof(cases) / sizeof(cases[0]), passed = 0, run = 0;
	int root = geteuid() == 0;

	(void)state;
	for (size_t i = 0; i < n; i++) {
		/* root reads mode 0200 files anyway: those rows cannot hold. */
		if (cases[i].nonroot && root)
			continue;
		run++;
		passed += (size_t)run_case(&cases[i]);
	}
	printf("awscred: %zu of %zu cases pass%s\n", passed, run,
	       root ? " (unreadable-file cases skipped as root)" : "");
	assert_int_equal(passed, run);
}

/* The environment is restored: the loader itself never sets anything. */
static void test_env_untouched(void **state)
{
	struct objfs_awscred out;
	char err[256];

	(void)state;
	clear_env();
	setenv("HOME", "/nonexistent-objfs-home", 1);
	setenv("AWS_ACCESS_KEY_ID", AK, 1);
	setenv("AWS_SECRET_ACCESS_KEY", SK, 1);
	memset(&out, 0, sizeof(out));
	assert_int_equal(objfs_awscred_load(NULL, &out, err, sizeof(err)), 0);
	assert_string_equal(out.source, "environment");
	assert_string_equal(getenv("AWS_SECRET_ACCESS_KEY"), SK);
	assert_null(getenv("AWS_SESSION_TOKEN"));
	objfs_awscred_clear(&out);
	/* An empty path is "no credentials key" too. */
	assert_int_equal(objfs_awscred_load("", &out, err, sizeof(err)), 0);
	objfs_awscred_clear(&out);
	/* err may be NULL or tiny. */
	unsetenv("AWS_ACCESS_KEY_ID");
	assert_int_equal(objfs_awscred_load(NULL, &out, NULL, 0), -EINVAL);
	assert_int_equal(objfs_awscred_load(NULL, &out, err, 1), -EINVAL);
	assert_string_equal(err, "");
	assert_int_equal(objfs_awscred_load(NULL, NULL, err, sizeof(err)), -EINVAL);
	clear_env();
	objfs_awscred_clear(NULL);
	objfs_awscred_clear(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_env_untouched),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
