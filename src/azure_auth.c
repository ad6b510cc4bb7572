/*
 * Azure Blob authorisation: credentials file, Shared Key, service SAS.
 * The contract and the exact strings signed are in src/azure_auth.h.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "azure_auth.h"
#include "strutil.h"

#define AZURE_CRED_MAX_FILE 16384

static void cerr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void cerr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

void azure_cred_clear(struct azure_cred *c)
{
	if (!c)
		return;
	if (c->sas) {
		OPENSSL_cleanse(c->sas, strlen(c->sas));
		free(c->sas);
	}
	OPENSSL_cleanse(c, sizeof(*c));
	memset(c, 0, sizeof(*c));
}

/* Decodes strict base64 (length a multiple of 4, '=' only at the end) into
 * out; the decoded length or -1. */
static int b64_decode(const char *s, size_t n, unsigned char *out, size_t cap)
{
	unsigned char tmp[AZURE_KEY_MAX + 4];
	size_t pad = 0;
	int len;

	if (n == 0 || n % 4 || n / 4 * 3 > sizeof(tmp))
		return -1;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '=') {
			if (i < n - 2)
				return -1;
			pad++;
		} else if (pad || !(isalnum((unsigned char)c) || c == '+' || c == '/')) {
			return -1;
		}
	}
	len = EVP_DecodeBlock(tmp, (const unsigned char *)s, (int)n);
	if (len < 0 || (size_t)len < pad || (size_t)len - pad > cap) {
		OPENSSL_cleanse(tmp, sizeof(tmp));
		return -1;
	}
	len -= (int)pad;
	memcpy(out, tmp, (size_t)len);
	OPENSSL_cleanse(tmp, sizeof(tmp));
	return len;
}

/* A SAS token: query characters only, with sv= and sig= parameters. */
static int sas_valid(const char *s)
{
	int sv = 0, sig = 0;

	if (!*s)
		return 0;
	for (const char *c = s; *c; c++)
		if ((unsigned char)*c <= ' ' || (unsigned char)*c >= 0x7f || *c == '#' || *c == '?')
			return 0;
	for (const char *p = s; p && *p; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL) {
		if (!strncmp(p, "sv=", 3) && p[3] && p[3] != '&')
			sv = 1;
		if (!strncmp(p, "sig=", 4) && p[4] && p[4] != '&')
			sig = 1;
	}
	return sv && sig;
}

static int set_key(struct azure_cred *out, const char *v, size_t n, const char *where,
		   char *err, size_t errlen)
{
	int len = b64_decode(v, n, out->key, sizeof(out->key));

	if (len <= 0) {
		cerr(err, errlen, "%s: account_key is not a base64 key", where);
		return -EINVAL;
	}
	out->keylen = (size_t)len;
	return 0;
}

static int set_sas(struct azure_cred *out, const char *v, size_t n, const char *where,
		   char *err, size_t errlen)
{
	if (n && *v == '?') {
		v++;
		n--;
	}
	out->sas = strndup(v, n);
	if (!out->sas) {
		cerr(err, errlen, "%s: out of memory", where);
		return -ENOMEM;
	}
	if (!sas_valid(out->sas)) {
		cerr(err, errlen, "%s: sas_token is not a SAS query (it needs the sv and sig parameters, "
		     "no blanks)", where);
		return -EINVAL;
	}
	return 0;
}

/* Reads path (owner-only, regular, small) into a NUL-terminated buffer. */
static int read_file(const char *path, char **buf, char *err, size_t errlen)
{
	struct stat st;
	char *b = NULL;
	ssize_t n = 0;
	int fd, rc = 0;

	*buf = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		rc = errno == ENOENT || errno == ENOTDIR ? -ENOENT
		     : errno == EACCES ? -EACCES : -EINVAL;
		cerr(err, errlen, "credentials file %s: %s", path, strerror(errno));
		return rc;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		cerr(err, errlen, "credentials file %s is not a regular file", path);
		goto out;
	}
	if (st.st_mode & 077) {
		rc = -EACCES;
		cerr(err, errlen, "credentials file %s has mode %04o: group or others may access "
		     "it (chmod 600 %s)", path, (unsigned)(st.st_mode & 07777), path);
		goto out;
	}
	if (st.st_size > AZURE_CRED_MAX_FILE) {
		rc = -EINVAL;
		cerr(err, errlen, "credentials file %s is larger than %d bytes", path,
		     AZURE_CRED_MAX_FILE);
		goto out;
	}
	b = calloc(1, (size_t)st.st_size + 2);
	if (!b) {
		rc = -ENOMEM;
		cerr(err, errlen, "credentials file %s: out of memory", path);
		goto out;
	}
	for (;;) {
		ssize_t r = read(fd, b + n, (size_t)st.st_size + 1 - (size_t)n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -EINVAL;
			cerr(err, errlen, "credentials file %s: %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		n += r;
		if (n > st.st_size) {
			rc = -EINVAL;
			cerr(err, errlen, "credentials file %s changed while being read", path);
			goto out;
		}
	}
	if (memchr(b, '\0', (size_t)n)) {
		rc = -EINVAL;
		cerr(err, errlen, "credentials file %s holds a NUL byte", path);
		goto out;
	}
	*buf = b;
	b = NULL;
out:
	if (b) {
		OPENSSL_cleanse(b, (size_t)st.st_size + 2);
		free(b);
	}
	close(fd);
	return rc;
}

static int parse_file(char *buf, const char *path, struct azure_cred *out, char *err,
		      size_t errlen)
{
	int lineno = 0, have_key = 0, have_sas = 0, rc;
	char where[400];

	for (char *p = buf; *p;) {
		char *e = strchrnul(p, '\n'), *next = *e ? e + 1 : e;
		char *b = p, *eq, *ke, *vb, *ve;

		lineno++;
		p = next;
		while (b < e && isspace((unsigned char)*b))
			b++;
		while (e > b && isspace((unsigned char)e[-1]))
			e--;
		if (b == e || *b == '#' || *b == ';')
			continue;
		snprintf(where, sizeof(where), "%s line %d", path, lineno);
		eq = memchr(b, '=', (size_t)(e - b));
		if (!eq) {
			cerr(err, errlen, "%s: syntax error (expected key = value)", where);
			return -EINVAL;
		}
		ke = eq;
		while (ke > b && isspace((unsigned char)ke[-1]))
			ke--;
		vb = eq + 1;
		while (vb < e && isspace((unsigned char)*vb))
			vb++;
		ve = e;
		/* a key name is an identifier; anything else is a line that is not
		 * "key = value" (and may hold a secret: never quoted) */
		for (const char *c = b; c < ke || c == b; c++)
			if (c == ke || !(isalnum((unsigned char)*c) || *c == '_')) {
				cerr(err, errlen, "%s: syntax error (expected key = value)", where);
				return -EINVAL;
			}
		if (vb == ve) {
			cerr(err, errlen, "%s: empty value", where);
			return -EINVAL;
		}
		if ((size_t)(ke - b) == 11 && !strncmp(b, "account_key", 11)) {
			if (have_key++) {
				cerr(err, errlen, "%s: account_key given twice", where);
				return -EINVAL;
			}
			rc = set_key(out, vb, (size_t)(ve - vb), where, err, errlen);
		} else if ((size_t)(ke - b) == 9 && !strncmp(b, "sas_token", 9)) {
			if (have_sas++) {
				cerr(err, errlen, "%s: sas_token given twice", where);
				return -EINVAL;
			}
			rc = set_sas(out, vb, (size_t)(ve - vb), where, err, errlen);
		} else {
			cerr(err, errlen, "%s: unknown key \"%.*s\" (account_key or sas_token)", where,
			     (int)(ke - b > 40 ? 40 : ke - b), b);
			return -EINVAL;
		}
		if (rc)
			return rc;
	}
	if (have_key && have_sas) {
		cerr(err, errlen, "credentials file %s: both account_key and sas_token (keep one)",
		     path);
		return -EINVAL;
	}
	if (!have_key && !have_sas) {
		cerr(err, errlen, "credentials file %s: no account_key or sas_token", path);
		return -EINVAL;
	}
	return 0;
}

int azure_cred_load(const char *path, struct azure_cred *out, char *err, size_t errlen)
{
	const char *v;
	char *buf = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if (path && path[0]) {
		rc = read_file(path, &buf, err, errlen);
		if (rc == 0)
			rc = parse_file(buf, path, out, err, errlen);
		if (buf) {
			OPENSSL_cleanse(buf, strlen(buf));
			free(buf);
		}
		snprintf(out->source, sizeof(out->source), "%s", path);
	} else if ((v = getenv("AZURE_STORAGE_KEY")) && *v) {
		rc = set_key(out, v, strlen(v), "AZURE_STORAGE_KEY", err, errlen);
		snprintf(out->source, sizeof(out->source), "environment (AZURE_STORAGE_KEY)");
	} else if ((v = getenv("AZURE_STORAGE_SAS_TOKEN")) && *v) {
		rc = set_sas(out, v, strlen(v), "AZURE_STORAGE_SAS_TOKEN", err, errlen);
		snprintf(out->source, sizeof(out->source), "environment (AZURE_STORAGE_SAS_TOKEN)");
	} else {
		rc = -ENOENT;
		cerr(err, errlen, "no Azure credentials: set credentials = FILE (account_key = ... "
		     "or sas_token = ...) or AZURE_STORAGE_KEY");
	}
	if (rc)
		azure_cred_clear(out);
	return rc;
}

/* ---- encoding ---- */

static int unreserved(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

char *azure_encode(const char *raw, int keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(raw);
	char *out = malloc(n * 3 + 1), *o = out;

	if (!out)
		return NULL;
	for (const unsigned char *c = (const unsigned char *)raw; *c; c++) {
		if (unreserved(*c) || (keep_slash && *c == '/')) {
			*o++ = (char)*c;
		} else {
			*o++ = '%';
			*o++ = hex[*c >> 4];
			*o++ = hex[*c & 15];
		}
	}
	*o = '\0';
	return out;
}

/* Percent-decodes s[0..n) ('+' is a space) into a new string; NULL with
 * *bad set for a malformed escape or an encoded NUL. */
static char *pct_decode(const char *s, size_t n, int *bad)
{
	char *out = malloc(n + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%') {
			int h = i + 2 < n ? objfs_hexval((unsigned char)s[i + 1]) : -1;
			int l = i + 2 < n ? objfs_hexval((unsigned char)s[i + 2]) : -1;

			if (h < 0 || l < 0 || (h == 0 && l == 0)) {
				free(out);
				*bad = 1;
				return NULL;
			}
			*o++ = (char)(h * 16 + l);
			i += 2;
		} else {
			*o++ = s[i] == '+' ? ' ' : s[i];
		}
	}
	*o = '\0';
	return out;
}

/* ---- Shared Key ---- */

struct qpair {
	char *name;
	char *value;
};

static int qpair_cmp(const void *a, const void *b)
{
	const struct qpair *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : strcmp(x->value, y->value);
}

static int hdr_cmp(const void *a, const void *b)
{
	const struct azure_hdr *x = a, *y = b;

	return strcasecmp(x->name, y->name);
}

/* A growing string; on allocation failure ->nomem is set and it stops. */
struct sbuf {
	char *s;
	size_t len, cap;
	int nomem;
};

static void sb_addn(struct sbuf *b, const char *s, size_t n)
{
	if (b->nomem)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *v;

		while (cap < b->len + n + 1)
			cap *= 2;
		v = realloc(b->s, cap);
		if (!v) {
			b->nomem = 1;
			return;
		}
		b->s = v;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void sb_add(struct sbuf *b, const char *s)
{
	sb_addn(b, s, strlen(s));
}

/* Value of header name among r's headers (case-insensitive), or "". */
static const char *std_hdr(const struct azure_sk_request *r, const char *name)
{
	for (size_t i = 0; i < r->nhdrs; i++)
		if (!strcasecmp(r->hdrs[i].name, name))
			return r->hdrs[i].value ? r->hdrs[i].value : "";
	return "";
}

/* Appends value trimmed of blanks at both ends; -EINVAL for a line break. */
static int add_trimmed(struct sbuf *b, const char *v)
{
	const char *e;

	if (strpbrk(v, "\r\n"))
		return -EINVAL;
	while (*v == ' ' || *v == '\t')
		v++;
	e = v + strlen(v);
	while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	sb_addn(b, v, (size_t)(e - v));
	return 0;
}

int azure_sk_string_to_sign(const struct azure_sk_request *r, char **out)
{
	static const char *const std[] = {
		"content-encoding", "content-language", NULL /* length */, "content-md5",
		"content-type", "date", "if-modified-since", "if-match", "if-none-match",
		"if-unmodified-since", "range",
	};
	struct azure_hdr *xms = NULL;
	struct qpair *q = NULL;
	struct sbuf b = { 0 };
	size_t nx = 0, nq = 0;
	char num[32];
	int rc = 0;

	*out = NULL;
	sb_add(&b, r->method);
	sb_add(&b, "\n");
	for (size_t i = 0; i < sizeof(std) / sizeof(std[0]); i++) {
		if (!std[i]) {
			if (r->content_length) {
				snprintf(num, sizeof(num), "%llu", r->content_length);
				sb_add(&b, num);
			}
		} else if ((rc = add_trimmed(&b, std_hdr(r, std[i])))) {
			goto out;
		}
		sb_add(&b, "\n");
	}
	/* canonicalized headers */
	xms = calloc(r->nhdrs + 1, sizeof(*xms));
	if (!xms)
		goto nomem;
	for (size_t i = 0; i < r->nhdrs; i++)
		if (!strncasecmp(r->hdrs[i].name, "x-ms-", 5))
			xms[nx++] = r->hdrs[i];
	qsort(xms, nx, sizeof(*xms), hdr_cmp);
	for (size_t i = 0; i < nx; i++) {
		for (const char *c = xms[i].name; *c; c++) {
			char l = (char)tolower((unsigned char)*c);
			sb_addn(&b, &l, 1);
		}
		sb_add(&b, ":");
		if ((rc = add_trimmed(&b, xms[i].value ? xms[i].value : "")))
			goto out;
		sb_add(&b, "\n");
	}
	/* canonicalized resource */
	sb_add(&b, "/");
	sb_add(&b, r->account);
	sb_add(&b, r->path && r->path[0] ? r->path : "/");
	if (r->query && r->query[0]) {
		size_t cap = 1;

		for (const char *c = r->query; *c; c++)
			cap += *c == '&';
		q = calloc(cap, sizeof(*q));
		if (!q)
			goto nomem;
		for (const char *p = r->query; *p;) {
			const char *e = strchrnul(p, '&'), *eq = memchr(p, '=', (size_t)(e - p));
			int bad = 0;

			if (e > p) {
				const char *ne = eq ? eq : e;

				q[nq].name = pct_decode(p, (size_t)(ne - p), &bad);
				q[nq].value = eq ? pct_decode(eq + 1, (size_t)(e - eq - 1), &bad)
						 : strdup("");
				nq++;
				if (bad) {
					rc = -EINVAL;
					goto out;
				}
				if (!q[nq - 1].name || !q[nq - 1].value)
					goto nomem;
				for (char *c = q[nq - 1].name; *c; c++)
					*c = (char)tolower((unsigned char)*c);
			}
			p = *e ? e + 1 : e;
		}
		qsort(q, nq, sizeof(*q), qpair_cmp);
		for (size_t i = 0; i < nq; i++) {
			if (i && !strcmp(q[i].name, q[i - 1].name)) {
				sb_add(&b, ",");
			} else {
				sb_add(&b, "\n");
				sb_add(&b, q[i].name);
				sb_add(&b, ":");
			}
			sb_add(&b, q[i].value);
		}
	}
	if (b.nomem)
		goto nomem;
	*out = b.s;
	b.s = NULL;
	goto out;
nomem:
	rc = -ENOMEM;
out:
	for (size_t i = 0; i < nq; i++) {
		free(q[i].name);
		free(q[i].value);
	}
	free(q);
	free(xms);
	free(b.s);
	return rc;
}

int azure_hmac_b64(const unsigned char *key, size_t keylen, const char *msg, size_t len,
		   char out[45])
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mlen = 0;

	out[0] = '\0';
	if (!HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)msg, len, mac, &mlen) ||
	    mlen != 32)
		return -EIO;
	EVP_EncodeBlock((unsigned char *)out, mac, 32);
	OPENSSL_cleanse(mac, sizeof(mac));
	return 0;
}

int azure_sk_authorization(const struct azure_cred *c, const struct azure_sk_request *r,
			   char **out)
{
	char *sts = NULL, sig[45];
	int rc;

	*out = NULL;
	if (!c->keylen)
		return -ENOTSUP;
	rc = azure_sk_string_to_sign(r, &sts);
	if (rc)
		return rc;
	rc = azure_hmac_b64(c->key, c->keylen, sts, strlen(sts), sig);
	if (rc == 0 && asprintf(out, "SharedKey %s:%s", r->account, sig) < 0) {
		*out = NULL;
		rc = -ENOMEM;
	}
	OPENSSL_cleanse(sig, sizeof(sig));
	free(sts);
	return rc;
}

void azure_rfc1123(time_t t, char out[30])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	/* strftime's %a/%b follow the locale; these are fixed English names */
	static const char *const wd[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const mo[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	snprintf(out, 30, "%s, %02u %s %04u %02u:%02u:%02u GMT", wd[tm.tm_wday % 7],
		 (unsigned)tm.tm_mday % 100u, mo[tm.tm_mon % 12], (unsigned)(tm.tm_year + 1900) % 10000u,
		 (unsigned)tm.tm_hour % 100u, (unsigned)tm.tm_min % 100u, (unsigned)tm.tm_sec % 100u);
}

void azure_iso8601(time_t t, char out[21])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	if (strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		out[0] = '\0';
}

/* ---- service SAS ---- */

int azure_sas_blob_string_to_sign(const char *account, const char *container,
				  const char *blob, const char *perms, const char *expiry,
				  const char *version, char **out)
{
	/* sp st se resource si sip spr sv sr snapshot ses rscc rscd rsce rscl rsct */
	if (asprintf(out, "%s\n\n%s\n/blob/%s/%s/%s\n\n\n\n%s\nb\n\n\n\n\n\n\n", perms, expiry,
		     account, container, blob, version) < 0) {
		*out = NULL;
		return -ENOMEM;
	}
	return 0;
}

int azure_sas_blob_query(const struct azure_cred *c, const char *account,
			 const char *container, const char *blob, const char *perms,
			 time_t expiry, const char *version, char **out)
{
	char se[21], sig[45], *sts = NULL, *esig = NULL, *ese = NULL, *esv = NULL;
	int rc;

	*out = NULL;
	if (!c->keylen)
		return -ENOTSUP;
	azure_iso8601(expiry, se);
	rc = azure_sas_blob_string_to_sign(account, container, blob, perms, se, version, &sts);
	if (rc)
		return rc;
	rc = azure_hmac_b64(c->key, c->keylen, sts, strlen(sts), sig);
	if (rc)
		goto out;
	esig = azure_encode(sig, 0);
	ese = azure_encode(se, 0);
	esv = azure_encode(version, 0);
	if (!esig || !ese || !esv ||
	    asprintf(out, "sv=%s&se=%s&sr=b&sp=%s&sig=%s", esv, ese, perms, esig) < 0) {
		*out = NULL;
		rc = -ENOMEM;
	}
out:
	OPENSSL_cleanse(sig, sizeof(sig));
	if (esig) {
		OPENSSL_cleanse(esig, strlen(esig));
		free(esig);
	}
	free(ese);
	free(esv);
	free(sts);
	return rc;
}
