/*
 * Unit tests for src/azure_auth.c: Shared Key strings to sign and
 * signatures, service SAS queries, encoding, and the credentials file.
 *
 * The expected strings are written from Azure's "Authorize with Shared Key"
 * and "Create a service SAS" pages.  The expected signatures were computed
 * independently of this code with Python's hmac over those strings, keyed
 * with Azurite's well-known devstoreaccount1 key:
 *
 *   python3 -c 'import hmac,hashlib,base64,sys; k=base64.b64decode(KEY);
 *     print(base64.b64encode(hmac.new(k, STS.encode(), hashlib.sha256).digest()))'
 *
 * Whether Azurite accepts what we sign (names with spaces, '+', '%' and
 * non-ASCII bytes included) is checked by tests/integration/test_azure.py.
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

#include "azure_auth.h"
#include "testutil.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define DEVKEY "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
#define DATE "Mon, 01 Jan 2024 00:00:00 GMT"

static void dev_cred(struct azure_cred *c)
{
	char *dir = tu_mkdtemp("azauth"), *path = NULL, err[300];
	FILE *f;

	assert_non_null(dir);
	assert_true(asprintf(&path, "%s/c", dir) > 0);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "account_key = %s\n", DEVKEY);
	fclose(f);
	chmod(path, 0600);
	assert_int_equal(azure_cred_load(path, c, err, sizeof(err)), 0);
	assert_int_equal(c->keylen, 64);
	unlink(path);
	rmdir(dir);
	free(path);
	free(dir);
}

struct sts_case {
	const char *name;
	const char *method, *account, *path, *query;
	unsigned long long clen;
	struct azure_hdr hdrs[8];
	const char *want;           /* string to sign */
	const char *sig;            /* base64 HMAC with DEVKEY (Python) */
};

static const struct sts_case sts_cases[] = {
	{ "ranged get, path style (Azurite), encoded name",
	  "GET", "devstoreaccount1", "/devstoreaccount1/cont/a%20b%2Bc%25d/%C3%BC.txt", NULL, 0,
	  { { "x-ms-version", "2023-11-03" }, { "x-ms-date", DATE }, { "x-ms-range", "bytes=0-9" },
	    { "if-match", "\"0x8DC0FFEE\"" } },
	  "GET\n\n\n\n\n\n\n\n\"0x8DC0FFEE\"\n\n\n\n"
	  "x-ms-date:" DATE "\nx-ms-range:bytes=0-9\nx-ms-version:2023-11-03\n"
	  "/devstoreaccount1/devstoreaccount1/cont/a%20b%2Bc%25d/%C3%BC.txt",
	  "ursBRWr50H8uGLBwNa8q1nNpK9T3raC00MFEsXOVIus=" },
	{ "put block: length, MD5, query decoded and sorted",
	  "PUT", "devstoreaccount1", "/devstoreaccount1/cont/big.bin", "comp=block&blockid=ABC%2B%2F%3D",
	  5,
	  { { "Content-MD5", "XUFAKrxLKna5cZ2REBfFkg==" }, { "X-Ms-Date", DATE },
	    { "x-ms-version", "2023-11-03" } },
	  "PUT\n\n\n5\nXUFAKrxLKna5cZ2REBfFkg==\n\n\n\n\n\n\n\n"
	  "x-ms-date:" DATE "\nx-ms-version:2023-11-03\n"
	  "/devstoreaccount1/devstoreaccount1/cont/big.bin\nblockid:ABC+/=\ncomp:block",
	  "Vw77hMMgG1fJ1C2p9BDYN+M+ZRG2ws2omgZ37SOssdw=" },
	{ "list, real Azure path, '+' and %XX in a value, non-ASCII",
	  "GET", "devstoreaccount1", "/cont",
	  "restype=container&comp=list&prefix=a+b%2B%C3%BC&maxresults=2&include=metadata", 0,
	  { { "x-ms-date", DATE }, { "x-ms-version", "2023-11-03" } },
	  NULL, NULL },
	{ "put blob: zero length is empty, headers lower-cased, trimmed, sorted",
	  "PUT", "myaccount", "/cont/dir/f", NULL, 0,
	  { { "x-ms-version", "2023-11-03" }, { "X-MS-META-MTIME", " 1600000000 " },
	    { "x-ms-blob-type", "BlockBlob" }, { "x-ms-date", DATE },
	    { "x-ms-meta-mode", "33188" }, { "If-None-Match", "*" },
	    { "x-ms-blob-content-type", "text/plain" }, { "user-agent", "objfs" } },
	  "PUT\n\n\n\n\n\n\n\n\n*\n\n\n"
	  "x-ms-blob-content-type:text/plain\nx-ms-blob-type:BlockBlob\nx-ms-date:" DATE "\n"
	  "x-ms-meta-mode:33188\nx-ms-meta-mtime:1600000000\nx-ms-version:2023-11-03\n"
	  "/myaccount/cont/dir/f",
	  NULL },
};

static size_t nhdrs(const struct sts_case *c)
{
	size_t n = 0;

	while (n < N(c->hdrs) && c->hdrs[n].name)
		n++;
	return n;
}

static void test_string_to_sign(void **state)
{
	struct azure_cred cred;

	(void)state;
	dev_cred(&cred);
	for (size_t i = 0; i < N(sts_cases); i++) {
		const struct sts_case *c = &sts_cases[i];
		struct azure_sk_request r = {
			.method = c->method, .account = c->account, .path = c->path,
			.query = c->query, .content_length = c->clen, .hdrs = c->hdrs,
			.nhdrs = nhdrs(c),
		};
		char *sts = NULL, *auth = NULL, want_auth[200];

		assert_int_equal(azure_sk_string_to_sign(&r, &sts), 0);
		if (c->want && strcmp(sts, c->want))
			fail_msg("%s:\n got  %s\n want %s", c->name, sts, c->want);
		assert_int_equal(azure_sk_authorization(&cred, &r, &auth), 0);
		if (c->sig) {
			snprintf(want_auth, sizeof(want_auth), "SharedKey %s:%s", c->account, c->sig);
			if (strcmp(auth, want_auth))
				fail_msg("%s: %s, want %s", c->name, auth, want_auth);
		}
		free(sts);
		free(auth);
	}
	azure_cred_clear(&cred);
}

/* The third case, checked against a signature over its documented string. */
static void test_list_query_signature(void **state)
{
	const struct sts_case *c = &sts_cases[2];
	struct azure_sk_request r = {
		.method = "GET", .account = "myaccount", .path = "/cont", .query = c->query,
		.hdrs = c->hdrs, .nhdrs = nhdrs(c),
	};
	struct azure_cred cred;
	char *sts = NULL, *auth = NULL;

	(void)state;
	dev_cred(&cred);
	assert_int_equal(azure_sk_string_to_sign(&r, &sts), 0);
	assert_string_equal(sts, "GET\n\n\n\n\n\n\n\n\n\n\n\n"
			    "x-ms-date:" DATE "\nx-ms-version:2023-11-03\n/myaccount/cont"
			    "\ncomp:list\ninclude:metadata\nmaxresults:2\nprefix:a b+\xc3\xbc"
			    "\nrestype:container");
	assert_int_equal(azure_sk_authorization(&cred, &r, &auth), 0);
	assert_string_equal(auth, "SharedKey myaccount:MgCRjA5c+URN7VADNiulL7TDbIPnTN62WJFwIfnm1o4=");
	free(sts);
	free(auth);
	/* and the put-blob case of the table */
	c = &sts_cases[3];
	r = (struct azure_sk_request){ .method = "PUT", .account = "myaccount",
				       .path = "/cont/dir/f", .hdrs = c->hdrs, .nhdrs = nhdrs(c) };
	assert_int_equal(azure_sk_authorization(&cred, &r, &auth), 0);
	assert_string_equal(auth, "SharedKey myaccount:LUyYjID6iynco6mkco9K3isq4lLiRTwAGIrOY2W/aFk=");
	free(auth);
	azure_cred_clear(&cred);
}

static void test_string_to_sign_bad(void **state)
{
	struct azure_hdr h[] = { { "x-ms-date", DATE }, { "x-ms-meta-a", "x\r\ny" } };
	struct azure_sk_request r = { .method = "GET", .account = "a", .path = "/c",
				      .hdrs = h, .nhdrs = 1 };
	static const char *const bad_queries[] = { "prefix=%zz", "prefix=%4", "prefix=%00", "a=%" };
	char *sts = NULL;

	(void)state;
	for (size_t i = 0; i < N(bad_queries); i++) {
		r.query = bad_queries[i];
		if (azure_sk_string_to_sign(&r, &sts) != -EINVAL)
			fail_msg("query %s accepted", bad_queries[i]);
		assert_null(sts);
	}
	r.query = NULL;
	r.nhdrs = 2;
	assert_int_equal(azure_sk_string_to_sign(&r, &sts), -EINVAL);
	/* repeated names: values sorted, joined with ',' */
	r.nhdrs = 1;
	r.query = "b=2&a=z&a=y&B=1";
	assert_int_equal(azure_sk_string_to_sign(&r, &sts), 0);
	assert_non_null(strstr(sts, "/a/c\na:y,z\nb:1,2"));
	free(sts);
	/* no key: no Authorization */
	{
		struct azure_cred none;
		char *auth = NULL;

		memset(&none, 0, sizeof(none));
		assert_int_equal(azure_sk_authorization(&none, &r, &auth), -ENOTSUP);
		assert_null(auth);
	}
}

static void test_encode(void **state)
{
	static const struct { const char *raw; int slash; const char *want; } cases[] = {
		{ "a b+c%d/\xc3\xbc.txt", 1, "a%20b%2Bc%25d/%C3%BC.txt" },
		{ "a b+c%d/\xc3\xbc.txt", 0, "a%20b%2Bc%25d%2F%C3%BC.txt" },
		{ "AZaz09-._~", 1, "AZaz09-._~" },
		{ "dir/", 1, "dir/" },
		{ "q?x#y&z=1", 1, "q%3Fx%23y%26z%3D1" },
		{ "", 1, "" },
	};

	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		char *e = azure_encode(cases[i].raw, cases[i].slash);

		assert_non_null(e);
		assert_string_equal(e, cases[i].want);
		free(e);
	}
}

static void test_dates(void **state)
{
	char d[30], iso[21];

	(void)state;
	azure_rfc1123(1704067200, d);
	assert_string_equal(d, DATE);
	azure_rfc1123(951782400 + 86399, d);    /* 2000-02-29 23:59:59, a Tuesday */
	assert_string_equal(d, "Tue, 29 Feb 2000 23:59:59 GMT");
	azure_iso8601(1704067200, iso);
	assert_string_equal(iso, "2024-01-01T00:00:00Z");
}

static void test_sas(void **state)
{
	struct azure_cred cred, none;
	char *sts = NULL, *q = NULL;

	(void)state;
	dev_cred(&cred);
	/* the canonical name is the raw (decoded) blob name */
	assert_int_equal(azure_sas_blob_string_to_sign("devstoreaccount1", "cont",
						       "dir/a b+\xc3\xbc%.txt", "r",
						       "2024-01-01T00:00:00Z", "2023-11-03", &sts), 0);
	assert_string_equal(sts, "r\n\n2024-01-01T00:00:00Z\n/blob/devstoreaccount1/cont/"
			    "dir/a b+\xc3\xbc%.txt\n\n\n\n2023-11-03\nb\n\n\n\n\n\n\n");
	free(sts);
	assert_int_equal(azure_sas_blob_query(&cred, "devstoreaccount1", "cont",
					      "dir/a b+\xc3\xbc%.txt", "r", 1704067200, "2023-11-03",
					      &q), 0);
	/* HNQofVkG... = Python hmac over the string above */
	assert_string_equal(q, "sv=2023-11-03&se=2024-01-01T00%3A00%3A00Z&sr=b&sp=r&sig="
			    "HNQofVkGCJSC9Yo9nVvpjSMdPyV4TLoBlazWeMMFnCw%3D");
	free(q);
	assert_int_equal(azure_sas_blob_query(&cred, "myaccount", "cont", "x", "cw", 1704067200,
					      "2023-11-03", &q), 0);
	assert_string_equal(q, "sv=2023-11-03&se=2024-01-01T00%3A00%3A00Z&sr=b&sp=cw&sig="
			    "TSUs33eu%2Fz%2BawnGoymdXun3eLIanKJf%2FOSGEkh3Fj9I%3D");
	free(q);
	memset(&none, 0, sizeof(none));
	assert_int_equal(azure_sas_blob_query(&none, "a", "c", "b", "r", 1, "2023-11-03", &q),
			 -ENOTSUP);
	assert_null(q);
	azure_cred_clear(&cred);
}

/* ---- credentials files ---- */

static char *write_cred(const char *dir, const char *name, const char *text, mode_t mode)
{
	char *path = NULL;
	int fd;

	assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	chmod(path, mode);
	return path;
}

static void test_cred_files(void **state)
{
	static const struct {
		const char *text;
		mode_t mode;
		int rc;
		const char *msg;          /* substring of the message */
		size_t keylen;
		const char *sas;
	} cases[] = {
		{ "account_key = " DEVKEY "\n", 0600, 0, NULL, 64, NULL },
		{ "# comment\n; another\n\n  account_key=" DEVKEY "  \n", 0600, 0, NULL, 64, NULL },
		{ "sas_token = ?sv=2023-11-03&ss=b&sig=abc%3D\n", 0600, 0, NULL, 0,
		  "sv=2023-11-03&ss=b&sig=abc%3D" },
		{ "sas_token = sv=1&sig=x", 0400, 0, NULL, 0, "sv=1&sig=x" },
		{ "account_key = " DEVKEY "\n", 0644, -EACCES, "chmod 600", 0, NULL },
		{ "account_key = " DEVKEY "\n", 0640, -EACCES, "group or others", 0, NULL },
		{ "", 0600, -EINVAL, "no account_key or sas_token", 0, NULL },
		{ "# nothing\n", 0600, -EINVAL, "no account_key or sas_token", 0, NULL },
		{ "account_key = " DEVKEY "\nsas_token = sv=1&sig=2\n", 0600, -EINVAL,
		  "both account_key and sas_token", 0, NULL },
		{ "account_key = " DEVKEY "\naccount_key = " DEVKEY "\n", 0600, -EINVAL,
		  "given twice", 0, NULL },
		{ "account_key = not base64!\n", 0600, -EINVAL, "not a base64 key", 0, NULL },
		{ "account_key = QUJD=EFG\n", 0600, -EINVAL, "not a base64 key", 0, NULL },
		{ "account_key = QUJ\n", 0600, -EINVAL, "not a base64 key", 0, NULL },
		{ "account_key =\n", 0600, -EINVAL, "empty value", 0, NULL },
		{ "account_key " DEVKEY "\n", 0600, -EINVAL, "line 1: syntax error", 0, NULL },
		{ "secret_key = abc\n", 0600, -EINVAL, "unknown key", 0, NULL },
		{ "sas_token = sv=1&se=2\n", 0600, -EINVAL, "not a SAS query", 0, NULL },
		{ "sas_token = sv=1&sig=a b\n", 0600, -EINVAL, "not a SAS query", 0, NULL },
		{ "\n\nsas_token = sig=x\n", 0600, -EINVAL, "line 3: sas_token is not a SAS", 0, NULL },
	};
	char *dir = tu_mkdtemp("azcred");

	(void)state;
	assert_non_null(dir);
	for (size_t i = 0; i < N(cases); i++) {
		struct azure_cred c;
		char *path = write_cred(dir, "azure.cred", cases[i].text, cases[i].mode), err[300] = "";
		int rc = azure_cred_load(path, &c, err, sizeof(err));

		if (rc != cases[i].rc)
			fail_msg("case %zu: rc %d, want %d (%s)", i, rc, cases[i].rc, err);
		if (cases[i].msg && !strstr(err, cases[i].msg))
			fail_msg("case %zu: message \"%s\" lacks \"%s\"", i, err, cases[i].msg);
		/* no message ever quotes a secret */
		assert_null(strstr(err, "Eby8vdM02"));
		assert_null(strstr(err, "sig="));
		if (rc == 0) {
			assert_int_equal(c.keylen, cases[i].keylen);
			if (cases[i].sas)
				assert_string_equal(c.sas, cases[i].sas);
			else
				assert_null(c.sas);
			assert_string_equal(c.source, path);
		}
		azure_cred_clear(&c);
		unlink(path);
		free(path);
	}
	tu_rm_rf(dir);
	free(dir);
}

static void test_cred_missing_and_env(void **state)
{
	struct azure_cred c;
	char err[300];

	(void)state;
	assert_int_equal(azure_cred_load("/nonexistent/azure.cred", &c, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/azure.cred"));
	unsetenv("AZURE_STORAGE_KEY");
	unsetenv("AZURE_STORAGE_SAS_TOKEN");
	assert_int_equal(azure_cred_load(NULL, &c, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "AZURE_STORAGE_KEY"));
	setenv("AZURE_STORAGE_SAS_TOKEN", "sv=1&sig=zz", 1);
	assert_int_equal(azure_cred_load(NULL, &c, err, sizeof(err)), 0);
	assert_string_equal(c.sas, "sv=1&sig=zz");
	assert_int_equal(c.keylen, 0);
	azure_cred_clear(&c);
	setenv("AZURE_STORAGE_KEY", DEVKEY, 1);            /* the key wins */
	assert_int_equal(azure_cred_load("", &c, err, sizeof(err)), 0);
	assert_int_equal(c.keylen, 64);
	assert_null(c.sas);
	assert_non_null(strstr(c.source, "environment"));
	azure_cred_clear(&c);
	setenv("AZURE_STORAGE_KEY", "%%%", 1);
	assert_int_equal(azure_cred_load(NULL, &c, err, sizeof(err)), -EINVAL);
	assert_null(strstr(err, "%%%"));
	unsetenv("AZURE_STORAGE_KEY");
	unsetenv("AZURE_STORAGE_SAS_TOKEN");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_string_to_sign),
		cmocka_unit_test(test_list_query_signature),
		cmocka_unit_test(test_string_to_sign_bad),
		cmocka_unit_test(test_encode),
		cmocka_unit_test(test_dates),
		cmocka_unit_test(test_sas),
		cmocka_unit_test(test_cred_files),
		cmocka_unit_test(test_cred_missing_and_env),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
