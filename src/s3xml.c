/*
 * S3 XML bodies: parsers for the responses objfs reads, builders for the
 * request bodies it sends (the contract is src/s3xml.h).
 *
 * How a response is read
 * ----------------------
 * Every parser goes through objfs_xml_read() (src/xmldoc.c), which:
 *   - skips leading XML white space: S3 answers CompleteMultipartUpload and
 *     CopyObject with "200 OK" at once and then sends blanks to keep the
 *     connection alive until the XML (possibly an <Error>) follows, so such a
 *     body legitimately starts with "\n\n  <?xml ...";
 *   - refuses empty bodies, bodies over S3XML_MAX_BODY and NUL bytes (the
 *     body is never assumed to be NUL-terminated);
 *   - parses with a private parser context (xmlNewParserCtxt) so that many
 *     threads can parse at once: libxml2 is initialised once (pthread_once),
 *     errors go to a per-context structured handler that prints nothing and
 *     records the first one as our message (the process-wide handlers are
 *     never touched); any error fails the parse, warnings do not;
 *   - forbids the network (XML_PARSE_NONET) and does not substitute entities
 *     (no XML_PARSE_NOENT); beyond that any document type declaration stops
 *     the parse before its internal subset is read (S3 never sends one), so
 *     only the five predefined entities and character references exist;
 *   - accepts only well-formed, namespace-well-formed documents.
 * Elements are then matched by local name (namespaces ignored), looking only
 * at the children of the element in question, so indentation and unknown
 * elements are skipped.
 *
 * Text-valued elements (<Key>, <Size>, ...) must hold text only: element
 * children, comments, processing instructions and CDATA sections make the
 * document malformed.  This is stricter than XML needs but it is what keeps
 * XML_PARSE_NOBLANKS harmless: libxml2 drops a blank run only when markup
 * follows it, so "<Key> <!--x-->a</Key>" would silently read as "a"; with
 * this rule it is an error instead.  Blank-only text ("<Key> </Key>") and
 * blanks next to text are kept.
 *
 * A wrong answer is worse than an error: a listing whose keys or prefixes are
 * not in strictly increasing byte order, a truncated page without a token,
 * a size that is not a plain decimal, or an ETag that could not be sent back
 * in an If-Match header (control characters, inner quotes) are all malformed.
 * Results are built in locals and handed over only on success.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#include "s3xml.h"
#include "xmldoc.h"
#include "strutil.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define S3XML_NS "http://s3.amazonaws.com/doc/2006-03-01/"
#define S3XML_DECL "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"

#define S3XML_PART_MAX 10000       /* S3 part numbers are 1..10000 */
#define S3XML_DELETE_MAX 1000      /* keys per DeleteObjects request */

/* ---- the document reader: src/xmldoc.c ---------------------------------------- */

static const char *el_name(const xmlNode *n)
{
	return (const char *)n->name;
}

/* 1 if n is an element with local name name. */
static int is_el(const xmlNode *n, const char *name)
{
	return n->type == XML_ELEMENT_NODE && strcmp(el_name(n), name) == 0;
}


/* If root is an <Error> document, puts "CODE: message" (or a note that it is
 * malformed) into err and returns 1; else 0. */
static int root_error(const xmlNode *root, struct objfs_err *err);

/* -EIO unless root is named want; an <Error> root names its code. */
static int expect_root(const xmlNode *root, const char *want, struct objfs_err *err)
{
	struct objfs_err e2;

	if (is_el(root, want))
		return 0;
	if (root_error(root, &e2))
		return objfs_err_set(err, -EIO, "<%s> expected, got <Error> %s", want, e2.msg);
	return objfs_err_set(err, -EIO, "<%s> expected, got <%.64s>", want, el_name(root));
}

/* ---- scalar values ------------------------------------------------------------ */

/* Strict unsigned decimal: one or more digits, nothing else, at most max.
 * 0 or -1. */
static int parse_udec(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return -1;
	for (; *s; s++) {
		unsigned d;

		if (*s < '0' || *s > '9')
			return -1;
		d = (unsigned)(*s - '0');
		if (v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* Reads exactly n digits at *p (advancing it); -1 if any is not a digit. */
static int take_digits(const char **p, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++, (*p)++) {
		if (**p < '0' || **p > '9')
			return -1;
		v = v * 10 + (**p - '0');
	}
	return v;
}

/* 1 and advances *p if **p is one of the characters in set (never NUL). */
static int take_char(const char **p, const char *set)
{
	if (!**p || !strchr(set, **p))
		return 0;
	(*p)++;
	return 1;
}

static int is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int64_t s3xml_parse_time(const char *s)
{
	static const int mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	const int64_t max_s = (INT64_MAX - 999999999) / 1000000000;
	int year, mon, day, hour, min, sec, off = 0;
	int64_t frac = 0, t;
	struct tm tm;
	time_t tt;

	if (!s)
		return -1;
	if ((year = take_digits(&s, 4)) < 0 || !take_char(&s, "-") ||
	    (mon = take_digits(&s, 2)) < 0 || !take_char(&s, "-") ||
	    (day = take_digits(&s, 2)) < 0 || !take_char(&s, "Tt") ||
	    (hour = take_digits(&s, 2)) < 0 || !take_char(&s, ":") ||
	    (min = take_digits(&s, 2)) < 0 || !take_char(&s, ":") ||
	    (sec = take_digits(&s, 2)) < 0)
		return -1;
	if (mon < 1 || mon > 12 || day < 1 ||
	    day > mdays[mon - 1] + (mon == 2 && is_leap(year)) ||
	    hour > 23 || min > 59 || sec > 60)
		return -1;
	if (*s == '.') {
		int nd = 0;

		s++;
		if (*s < '0' || *s > '9')
			return -1;
		/* digits beyond nanoseconds are truncated */
		for (; *s >= '0' && *s <= '9'; s++, nd++)
			if (nd < 9)
				frac = frac * 10 + (*s - '0');
		for (; nd < 9; nd++)
			frac *= 10;
	}
	if (*s == 'Z' || *s == 'z') {
		s++;
	} else if (*s == '+' || *s == '-') {
		int sign = *s++ == '-' ? -1 : 1, oh, om;

		if ((oh = take_digits(&s, 2)) < 0 || !take_char(&s, ":") ||
		    (om = take_digits(&s, 2)) < 0 || oh > 23 || om > 59)
			return -1;
		off = sign * (oh * 3600 + om * 60);
	} else {
		return -1;
	}
	if (*s)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = day;
	tm.tm_hour = hour;
	tm.tm_min = min;
	tm.tm_sec = sec;             /* 60 (a leap second) rolls into the next minute */
	tt = timegm(&tm);
	if (tt == (time_t)-1 && !(year == 1969 && mon == 12 && day == 31))
		return -1;
	t = (int64_t)tt - off;
	if (t < 0 || t > max_s)
		return -1;
	return t * 1000000000 + frac;
}

/* 1 if the ETag (quotes already stripped) can go back into an If-Match
 * header between quotes: printable ASCII or UTF-8, no quote, no control. */
static int etag_ok(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f || *p == '"')
			return 0;
	return 1;
}

/* Copies the ETag text without surrounding quotes into etag
 * (OBJFS_ETAG_MAX).  -1 if it does not fit or is not etag_ok(). */
static int etag_copy(const char *s, char *etag)
{
	size_t n = strlen(s);

	if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
		s++;
		n -= 2;
	}
	if (n >= OBJFS_ETAG_MAX)
		return -1;
	memcpy(etag, s, n);
	etag[n] = '\0';
	if (!etag_ok(etag)) {
		etag[0] = '\0';
		return -1;
	}
	return 0;
}

/* In-place decoding of an EncodingType=url value: "%XY" is a byte and "+" a
 * space (S3 encodes a space as "+" and a plus as "%2B").  -1 on a bad escape
 * or an encoded NUL (a key cannot hold one). */
static int url_decode(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (*s == '+') {
			*o++ = ' ';
		} else if (*s == '%') {
			int hi = objfs_hexval(s[1]), lo = hi < 0 ? -1 : objfs_hexval(s[2]);

			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return -1;
			*o++ = (char)(hi << 4 | lo);
			s += 2;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
	return 0;
}

/* ---- fields of an element ------------------------------------------------- */

enum {
	XF_STR,     /* dst: char **, malloc'ed */
	XF_U64,     /* dst: uint64_t *, a strict decimal <= INT64_MAX */
	XF_ETAG,    /* dst: char[OBJFS_ETAG_MAX], quotes stripped */
	XF_TIME,    /* dst: int64_t *, ns since the epoch */
	XF_BOOL,    /* dst: int *, "true" or "false" */
	XF_PARTNO,  /* dst: int *, 1..10000 */
	XF_MARKER,  /* dst: int *, 0..10000 (a part-number marker) */
};
#define XF_REQUIRED 0x1u    /* missing is malformed */
#define XF_NONEMPTY 0x2u    /* empty is malformed */
#define XF_URL      0x4u    /* percent-decoded when the document is EncodingType=url */
#define XF_NOCTL    0x8u    /* no control characters (the value goes into a URL) */

struct xfield {
	const char *name;
	int type;
	unsigned flags;
	void *dst;
};

/* Stores the text of field f.  For XF_STR the text is taken over (*text set
 * to NULL).  0 or -EIO. */
static int field_set(const struct xfield *f, char **text, int url, const char *where,
		     struct objfs_err *err)
{
	char *s = *text;
	uint64_t v;
	int64_t t;

	if ((f->flags & XF_URL) && url && url_decode(s))
		return objfs_err_set(err, -EIO, "%s: <%s>: bad percent-encoding in \"%.64s\"",
				     where, f->name, s);
	if ((f->flags & XF_NONEMPTY) && !*s)
		return objfs_err_set(err, -EIO, "%s: empty <%s>", where, f->name);
	switch (f->type) {
	case XF_STR:
		if (f->flags & XF_NOCTL)
			for (const unsigned char *p = (const unsigned char *)s; *p; p++)
				if (*p < 0x20 || *p == 0x7f)
					return objfs_err_set(err, -EIO, "%s: control character in <%s>",
							     where, f->name);
		*(char **)f->dst = s;
		*text = NULL;
		return 0;
	case XF_U64:
		if (parse_udec(s, INT64_MAX, &v))
			break;
		*(uint64_t *)f->dst = v;
		return 0;
	case XF_ETAG:
		if (etag_copy(s, f->dst))
			break;
		if ((f->flags & XF_NONEMPTY) && !*(char *)f->dst)
			break;
		return 0;
	case XF_TIME:
		t = s3xml_parse_time(s);
		if (t < 0)
			break;
		*(int64_t *)f->dst = t;
		return 0;
	case XF_BOOL:
		if (strcmp(s, "true") == 0)
			*(int *)f->dst = 1;
		else if (strcmp(s, "false") == 0)
			*(int *)f->dst = 0;
		else
			break;
		return 0;
	case XF_PARTNO:
	case XF_MARKER:
		if (parse_udec(s, S3XML_PART_MAX, &v) || (f->type == XF_PARTNO && v == 0))
			break;
		*(int *)f->dst = (int)v;
		return 0;
	}
	return objfs_err_set(err, -EIO, "%s: bad <%s> \"%.64s\"", where, f->name, s);
}

/* Reads the fields f[0..nf) (nf <= 32) from the children of parent: each may
 * appear at most once; other children are ignored.  Strings stored in the
 * destinations belong to the caller, also on failure.  url: the document is
 * EncodingType=url.  0, -EIO or -ENOMEM (message in err, prefixed by where). */
static int get_fields(const xmlNode *parent, const struct xfield *f, size_t nf, int url,
		      const char *where, struct objfs_err *err)
{
	uint32_t seen = 0;
	char *text = NULL;
	int rc = 0;

	for (const xmlNode *c = parent->children; c; c = c->next) {
		size_t i;

		if (c->type != XML_ELEMENT_NODE)
			continue;
		for (i = 0; i < nf && strcmp(el_name(c), f[i].name); i++)
			;
		if (i == nf)
			continue;
		if (seen & (UINT32_C(1) << i)) {
			rc = objfs_err_set(err, -EIO, "%s: more than one <%s>", where, f[i].name);
			goto out;
		}
		seen |= UINT32_C(1) << i;
		rc = objfs_xml_text(c, where, &text, err);
		if (rc)
			goto out;
		rc = field_set(&f[i], &text, url, where, err);
		if (rc)
			goto out;
		free(text);
		text = NULL;
	}
	for (size_t i = 0; i < nf; i++) {
		if ((f[i].flags & XF_REQUIRED) && !(seen & (UINT32_C(1) << i))) {
			rc = objfs_err_set(err, -EIO, "%s: missing <%s>", where, f[i].name);
			goto out;
		}
	}
out:
	free(text);
	return rc;
}

/* Reads <EncodingType> of root: *url = 1 for "url", 0 when absent; any other
 * value is malformed (the keys could not be read). */
static int get_encoding(const xmlNode *root, int *url, struct objfs_err *err)
{
	char *enc = NULL;
	struct xfield f[] = { { "EncodingType", XF_STR, 0, &enc } };
	int rc;

	*url = 0;
	rc = get_fields(root, f, ARRAY_SIZE(f), 0, el_name(root), err);
	if (rc == 0 && enc) {
		if (strcmp(enc, "url") == 0)
			*url = 1;
		else
			rc = objfs_err_set(err, -EIO, "%s: unknown <EncodingType> \"%.32s\"",
					   el_name(root), enc);
	}
	free(enc);
	return rc;
}

/* Grows an array of elements of size sz so that it holds n + 1. */
static int grow(void **arr, size_t *cap, size_t n, size_t sz)
{
	size_t nc;
	void *p;

	if (n < *cap)
		return 0;
	nc = *cap ? *cap * 2 : 16;
	p = reallocarray(*arr, nc, sz);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = nc;
	return 0;
}

static int root_error(const xmlNode *root, struct objfs_err *err)
{
	char *code = NULL, *msg = NULL;
	struct xfield f[] = {
		{ "Code", XF_STR, XF_REQUIRED | XF_NONEMPTY, &code },
		{ "Message", XF_STR, 0, &msg },
	};

	if (!is_el(root, "Error"))
		return 0;
	if (get_fields(root, f, ARRAY_SIZE(f), 0, "Error", err) == 0)
		objfs_err_set(err, 0, "%.64s: %.180s", code, msg ? msg : "");
	free(code);
	free(msg);
	return 1;
}

/* ---- Error ---------------------------------------------------------------------- */

int s3xml_parse_error(const char *body, size_t len, char code[64], char msg[256])
{
	char *c = NULL, *m = NULL;
	struct xfield f[] = {
		{ "Code", XF_STR, XF_REQUIRED | XF_NONEMPTY, &c },
		{ "Message", XF_STR, 0, &m },
	};
	struct objfs_err err;
	xmlDoc *doc = NULL;
	xmlNode *root;
	int rc;

	code[0] = msg[0] = '\0';
	rc = objfs_xml_read(body, len, 0, &doc, &root, &err);
	if (rc)
		goto out;
	if (!is_el(root, "Error")) {
		rc = -EIO;
		goto out;
	}
	rc = get_fields(root, f, ARRAY_SIZE(f), 0, "Error", &err);
	if (rc)
		goto out;
	snprintf(code, 64, "%s", c);
	snprintf(msg, 256, "%s", m ? m : "");
out:
	free(c);
	free(m);
	if (doc)
		xmlFreeDoc(doc);
	return rc ? -EIO : 0;
}

/* ---- ListObjectsV2 ------------------------------------------------------------ */

static int parse_contents(const xmlNode *el, int url, size_t idx, struct objfs_objinfo *oi,
			  struct objfs_err *err)
{
	struct xfield f[] = {
		{ "Key", XF_STR, XF_REQUIRED | XF_NONEMPTY | XF_URL, &oi->key },
		{ "Size", XF_U64, XF_REQUIRED, &oi->size },
		{ "ETag", XF_ETAG, 0, oi->etag },
		{ "LastModified", XF_TIME, 0, &oi->mtime_ns },
	};
	char where[64];

	snprintf(where, sizeof(where), "ListBucketResult: Contents %zu", idx + 1);
	return get_fields(el, f, ARRAY_SIZE(f), url, where, err);
}

int s3xml_parse_list(const char *body, size_t len, struct objfs_listing *out,
		     struct objfs_err *err)
{
	struct objfs_listing l;
	size_t cap_o = 0, cap_p = 0;
	int url = 0, truncated = 0, rc;
	char *token = NULL;
	struct xfield top[] = {
		{ "IsTruncated", XF_BOOL, XF_REQUIRED, &truncated },
		{ "NextContinuationToken", XF_STR, XF_NOCTL, &token },
	};
	xmlDoc *doc = NULL;
	xmlNode *root;

	memset(&l, 0, sizeof(l));
	rc = objfs_xml_read(body, len, 0, &doc, &root, err);
	if (rc)
		goto out;
	rc = expect_root(root, "ListBucketResult", err);
	if (rc)
		goto out;
	rc = get_encoding(root, &url, err);
	if (rc)
		goto out;
	rc = get_fields(root, top, ARRAY_SIZE(top), 0, "ListBucketResult", err);
	if (rc)
		goto out;
	for (const xmlNode *c = root->children; c; c = c->next) {
		if (is_el(c, "Contents")) {
			struct objfs_objinfo *oi;

			if (grow((void **)&l.objects, &cap_o, l.nobjects, sizeof(*l.objects))) {
				rc = objfs_err_set(err, -ENOMEM, "out of memory");
				goto out;
			}
			oi = &l.objects[l.nobjects++];
			memset(oi, 0, sizeof(*oi));
			rc = parse_contents(c, url, l.nobjects - 1, oi, err);
			if (rc)
				goto out;
			if (l.nobjects > 1 && strcmp(l.objects[l.nobjects - 2].key, oi->key) >= 0) {
				rc = objfs_err_set(err, -EIO,
						   "ListBucketResult: key \"%.100s\" not after \"%.100s\"",
						   oi->key, l.objects[l.nobjects - 2].key);
				goto out;
			}
		} else if (is_el(c, "CommonPrefixes")) {
			char *pfx = NULL;
			struct xfield f[] = {
				{ "Prefix", XF_STR, XF_REQUIRED | XF_NONEMPTY | XF_URL, &pfx },
			};
			char where[64];

			snprintf(where, sizeof(where), "ListBucketResult: CommonPrefixes %zu",
				 l.nprefixes + 1);
			if (grow((void **)&l.prefixes, &cap_p, l.nprefixes, sizeof(*l.prefixes))) {
				rc = objfs_err_set(err, -ENOMEM, "out of memory");
				goto out;
			}
			rc = get_fields(c, f, ARRAY_SIZE(f), url, where, err);
			if (rc) {
				free(pfx);
				goto out;
			}
			l.prefixes[l.nprefixes++] = pfx;
			if (l.nprefixes > 1 && strcmp(l.prefixes[l.nprefixes - 2], pfx) >= 0) {
				rc = objfs_err_set(err, -EIO,
						   "ListBucketResult: prefix \"%.100s\" not after \"%.100s\"",
						   pfx, l.prefixes[l.nprefixes - 2]);
				goto out;
			}
		}
	}
	if (truncated) {
		if (!token || !*token) {
			rc = objfs_err_set(err, -EIO,
					   "ListBucketResult: truncated without a NextContinuationToken");
			goto out;
		}
		l.next_token = token;
		token = NULL;
	}
	*out = l;
	memset(&l, 0, sizeof(l));
out:
	if (rc) {
		objfs_listing_clear(&l);
		memset(out, 0, sizeof(*out));
	}
	free(token);
	if (doc)
		xmlFreeDoc(doc);
	return rc;
}

/* ---- multipart results --------------------------------------------------------- */

int s3xml_parse_initiate(const char *body, size_t len, char **upload_id,
			 struct objfs_err *err)
{
	char *id = NULL;
	struct xfield f[] = {
		{ "UploadId", XF_STR, XF_REQUIRED | XF_NONEMPTY | XF_NOCTL, &id },
	};
	xmlDoc *doc = NULL;
	xmlNode *root;
	int rc;

	*upload_id = NULL;
	rc = objfs_xml_read(body, len, 0, &doc, &root, err);
	if (rc)
		goto out;
	rc = expect_root(root, "InitiateMultipartUploadResult", err);
	if (rc)
		goto out;
	rc = get_fields(root, f, ARRAY_SIZE(f), 0, "InitiateMultipartUploadResult", err);
	if (rc)
		goto out;
	*upload_id = id;
	id = NULL;
out:
	free(id);
	if (doc)
		xmlFreeDoc(doc);
	return rc;
}

int s3xml_parse_etag_result(const char *body, size_t len, char *etag,
			    struct objfs_err *err)
{
	static const char *const roots[] = {
		"CompleteMultipartUploadResult", "CopyObjectResult", "CopyPartResult",
	};
	struct xfield f[] = {
		{ "ETag", XF_ETAG, XF_REQUIRED | XF_NONEMPTY, etag },
	};
	xmlDoc *doc = NULL;
	xmlNode *root;
	size_t i;
	int rc;

	etag[0] = '\0';
	rc = objfs_xml_read(body, len, 0, &doc, &root, err);
	if (rc)
		goto out;
	for (i = 0; i < ARRAY_SIZE(roots) && !is_el(root, roots[i]); i++)
		;
	if (i == ARRAY_SIZE(roots)) {
		struct objfs_err e2;

		if (root_error(root, &e2))
			rc = objfs_err_set(err, -EAGAIN, "%s", e2.msg);
		else
			rc = objfs_err_set(err, -EIO, "<%.64s> is not a copy or complete result",
					   el_name(root));
		goto out;
	}
	rc = get_fields(root, f, ARRAY_SIZE(f), 0, roots[i], err);
out:
	if (rc)
		etag[0] = '\0';
	if (doc)
		xmlFreeDoc(doc);
	return rc;
}

int s3xml_parse_parts(const char *body, size_t len, struct objfs_part **parts,
		      size_t *nparts, int *next_marker, struct objfs_err *err)
{
	struct objfs_part *v = NULL;
	size_t n = 0, cap = 0;
	int truncated = 0, marker = 0, rc;
	struct xfield top[] = {
		{ "IsTruncated", XF_BOOL, XF_REQUIRED, &truncated },
		{ "NextPartNumberMarker", XF_MARKER, 0, &marker },
	};
	xmlDoc *doc = NULL;
	xmlNode *root;

	*parts = NULL;
	*nparts = 0;
	if (next_marker)
		*next_marker = 0;
	rc = objfs_xml_read(body, len, 0, &doc, &root, err);
	if (rc)
		goto out;
	rc = expect_root(root, "ListPartsResult", err);
	if (rc)
		goto out;
	rc = get_fields(root, top, ARRAY_SIZE(top), 0, "ListPartsResult", err);
	if (rc)
		goto out;
	for (const xmlNode *c = root->children; c; c = c->next) {
		struct objfs_part *pt;
		char where[48];

		if (!is_el(c, "Part"))
			continue;
		if (grow((void **)&v, &cap, n, sizeof(*v))) {
			rc = objfs_err_set(err, -ENOMEM, "out of memory");
			goto out;
		}
		pt = &v[n++];
		memset(pt, 0, sizeof(*pt));
		{
			struct xfield f[] = {
				{ "PartNumber", XF_PARTNO, XF_REQUIRED, &pt->number },
				{ "Size", XF_U64, XF_REQUIRED, &pt->size },
				{ "ETag", XF_ETAG, XF_REQUIRED | XF_NONEMPTY, pt->etag },
			};

			snprintf(where, sizeof(where), "ListPartsResult: Part %zu", n);
			rc = get_fields(c, f, ARRAY_SIZE(f), 0, where, err);
			if (rc)
				goto out;
		}
		if (n > 1 && v[n - 2].number >= pt->number) {
			rc = objfs_err_set(err, -EIO, "ListPartsResult: part %d not after part %d",
					   pt->number, v[n - 2].number);
			goto out;
		}
	}
	if (truncated && (marker < 1 || (n && marker < v[n - 1].number))) {
		rc = objfs_err_set(err, -EIO,
				   "ListPartsResult: truncated without a usable NextPartNumberMarker");
		goto out;
	}
	*parts = v;
	*nparts = n;
	if (next_marker)
		*next_marker = truncated ? marker : 0;
	v = NULL;
out:
	free(v);
	if (doc)
		xmlFreeDoc(doc);
	return rc;
}

void s3xml_uploads_clear(struct s3xml_uploads *u)
{
	if (!u)
		return;
	for (size_t i = 0; i < u->n; i++) {
		free(u->uploads[i].key);
		free(u->uploads[i].upload_id);
	}
	free(u->uploads);
	free(u->next_key_marker);
	free(u->next_upload_id_marker);
	memset(u, 0, sizeof(*u));
}

int s3xml_parse_uploads(const char *body, size_t len, struct s3xml_uploads *out,
			struct objfs_err *err)
{
	struct s3xml_uploads u;
	size_t cap = 0;
	int url = 0, truncated = 0, rc;
	struct xfield top[] = {
		{ "IsTruncated", XF_BOOL, XF_REQUIRED, &truncated },
		{ "NextKeyMarker", XF_STR, XF_URL, &u.next_key_marker },
		{ "NextUploadIdMarker", XF_STR, XF_NOCTL, &u.next_upload_id_marker },
	};
	xmlDoc *doc = NULL;
	xmlNode *root;

	memset(&u, 0, sizeof(u));
	rc = objfs_xml_read(body, len, 0, &doc, &root, err);
	if (rc)
		goto out;
	rc = expect_root(root, "ListMultipartUploadsResult", err);
	if (rc)
		goto out;
	rc = get_encoding(root, &url, err);
	if (rc)
		goto out;
	rc = get_fields(root, top, ARRAY_SIZE(top), url, "ListMultipartUploadsResult", err);
	if (rc)
		goto out;
	for (const xmlNode *c = root->children; c; c = c->next) {
		struct s3xml_upload *up;
		char where[64];

		if (!is_el(c, "Upload"))
			continue;
		if (grow((void **)&u.uploads, &cap, u.n, sizeof(*u.uploads))) {
			rc = objfs_err_set(err, -ENOMEM, "out of memory");
			goto out;
		}
		up = &u.uploads[u.n++];
		memset(up, 0, sizeof(*up));
		{
			struct xfield f[] = {
				{ "Key", XF_STR, XF_REQUIRED | XF_NONEMPTY | XF_URL, &up->key },
				{ "UploadId", XF_STR, XF_REQUIRED | XF_NONEMPTY | XF_NOCTL,
				  &up->upload_id },
				{ "Initiated", XF_TIME, 0, &up->initiated_ns },
			};

			snprintf(where, sizeof(where), "ListMultipartUploadsResult: Upload %zu", u.n);
			rc = get_fields(c, f, ARRAY_SIZE(f), url, where, err);
			if (rc)
				goto out;
		}
	}
	if (!truncated) {
		free(u.next_key_marker);
		free(u.next_upload_id_marker);
		u.next_key_marker = u.next_upload_id_marker = NULL;
	} else if (!u.next_key_marker || !*u.next_key_marker) {
		rc = objfs_err_set(err, -EIO,
				   "ListMultipartUploadsResult: truncated without a NextKeyMarker");
		goto out;
	} else if (u.next_upload_id_marker && !*u.next_upload_id_marker) {
		free(u.next_upload_id_marker);
		u.next_upload_id_marker = NULL;
	}
	*out = u;
	memset(&u, 0, sizeof(u));
out:
	if (rc) {
		s3xml_uploads_clear(&u);
		memset(out, 0, sizeof(*out));
	}
	if (doc)
		xmlFreeDoc(doc);
	return rc;
}

/* ---- DeleteResult --------------------------------------------------------------- */

static int key_index_cmp(const void *a, const void *b, void *arg)
{
	const char *const *keys = arg;

	return strcmp(keys[*(const size_t *)a], keys[*(const size_t *)b]);
}

/* Sets results[i] = val for every i with keys[i] == key, found through idx
 * (indices sorted by key).  Pending entries hold 1; an error result (< 0)
 * is never replaced by success. */
static void delete_mark(const char *const *keys, const size_t *idx, size_t nkeys,
			const char *key, int *results, int val)
{
	size_t lo = 0, hi = nkeys;

	while (lo < hi) {                     /* first index whose key >= key */
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(keys[idx[mid]], key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < nkeys && strcmp(keys[idx[lo]], key) == 0; lo++) {
		int *r = &results[idx[lo]];

		if (val < 0 || *r == 1)
			*r = val;
	}
}

int s3xml_parse_delete(const char *body, size_t len, const char *const *keys,
		       size_t nkeys, int *results, struct objfs_err *err)
{
	size_t *idx = NULL, nbad = 0, first_bad = 0, ndel = 0, nerr = 0;
	char *key = NULL, *code = NULL, *msg = NULL;
	xmlDoc *doc = NULL;
	xmlNode *root;
	int rc = 0;

	if (nkeys && (!keys || !results))
		return objfs_err_set(err, -EINVAL, "delete: no keys or no results");
	for (size_t i = 0; i < nkeys; i++)
		results[i] = 1;
	for (size_t i = 0; i < nkeys; i++) {
		if (!keys[i]) {
			rc = objfs_err_set(err, -EINVAL, "delete: key %zu is NULL", i);
			goto out;
		}
	}
	idx = calloc(nkeys ? nkeys : 1, sizeof(*idx));
	if (!idx) {
		rc = objfs_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < nkeys; i++)
		idx[i] = i;
	qsort_r(idx, nkeys, sizeof(*idx), key_index_cmp, (void *)keys);
	rc = objfs_xml_read(body, len, 0, &doc, &root, err);
	if (rc)
		goto out;
	rc = expect_root(root, "DeleteResult", err);
	if (rc)
		goto out;
	for (const xmlNode *c = root->children; c; c = c->next) {
		struct xfield fd[] = { { "Key", XF_STR, XF_REQUIRED, &key } };
		struct xfield fe[] = {
			{ "Key", XF_STR, XF_REQUIRED, &key },
			{ "Code", XF_STR, XF_REQUIRED | XF_NONEMPTY, &code },
			{ "Message", XF_STR, 0, &msg },
		};
		char where[48];

		if (is_el(c, "Deleted")) {
			snprintf(where, sizeof(where), "DeleteResult: Deleted %zu", ++ndel);
			rc = get_fields(c, fd, ARRAY_SIZE(fd), 0, where, err);
			if (rc)
				goto out;
			delete_mark(keys, idx, nkeys, key, results, 0);
		} else if (is_el(c, "Error")) {
			snprintf(where, sizeof(where), "DeleteResult: Error %zu", ++nerr);
			rc = get_fields(c, fe, ARRAY_SIZE(fe), 0, where, err);
			if (rc)
				goto out;
			delete_mark(keys, idx, nkeys, key, results,
				    strcmp(code, "AccessDenied") == 0 ? -EACCES : -EIO);
		}
		free(key);
		free(code);
		free(msg);
		key = code = msg = NULL;
	}
	for (size_t i = 0; i < nkeys; i++) {
		if (results[i] == 1)
			results[i] = -EIO;
		if (results[i] < 0 && nbad++ == 0)
			first_bad = i;
	}
	/* Success with per-key failures: say which, for the log. */
	if (nbad)
		objfs_err_set(err, 0, "delete: %zu of %zu keys not deleted (first \"%.100s\": %s)",
			      nbad, nkeys, keys[first_bad],
			      results[first_bad] == -EACCES ? "access denied" : "failed or not reported");
out:
	if (rc)
		for (size_t i = 0; i < nkeys; i++)
			results[i] = -EIO;
	free(key);
	free(code);
	free(msg);
	free(idx);
	if (doc)
		xmlFreeDoc(doc);
	return rc;
}

/* ---- builders ------------------------------------------------------------------- */

/* A bounded output buffer: the first failure sticks in rc and later appends
 * do nothing, so a builder checks once at the end. */
struct sbuf {
	char *p;
	size_t len, cap;
	int rc;     /* 0, -ENOMEM, -E2BIG (over S3XML_MAX_BODY) or -EINVAL */
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
	char *np;
	size_t nc;

	if (b->rc)
		return;
	if (n > S3XML_MAX_BODY - b->len) {
		b->rc = -E2BIG;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		nc = b->cap ? b->cap : 1024;
		while (nc < b->len + n + 1)
			nc *= 2;
		np = realloc(b->p, nc);
		if (!np) {
			b->rc = -ENOMEM;
			return;
		}
		b->p = np;
		b->cap = nc;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_puts(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

/* Length of the strict UTF-8 sequence at p (1..4) with its code point in
 * *cp, or 0 if it is not valid UTF-8 (overlong, surrogate, > U+10FFFF,
 * truncated).  p is NUL-terminated, so reads stop at the NUL. */
static size_t utf8_next(const unsigned char *p, uint32_t *cp)
{
	unsigned char c = p[0];
	size_t n;
	uint32_t v;
	unsigned char lo = 0x80, hi = 0xbf;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		v = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		v = c & 0x0f;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		v = c & 0x07;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if (i > 1 && (p[i] < 0x80 || p[i] > 0xbf))
			return 0;
		v = v << 6 | (p[i] & 0x3f);
	}
	*cp = v;
	return n;
}

/* The Char production of XML 1.0. */
static int xml_char_ok(uint32_t c)
{
	return c == 0x9 || c == 0xa || c == 0xd || (c >= 0x20 && c <= 0xd7ff) ||
	       (c >= 0xe000 && c <= 0xfffd) || (c >= 0x10000 && c <= 0x10ffff);
}

/* Appends s as XML text: markup characters and tab/LF/CR as references (a
 * raw CR would be read back as LF).  Sets b->rc = -EINVAL if s is not valid
 * UTF-8 or holds a character XML 1.0 cannot carry at all. */
static void sb_text(struct sbuf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p && !b->rc) {
		uint32_t c;
		size_t n = utf8_next(p, &c);

		if (!n || !xml_char_ok(c)) {
			b->rc = -EINVAL;
			return;
		}
		switch (c) {
		case '&': sb_puts(b, "&amp;"); break;
		case '<': sb_puts(b, "&lt;"); break;
		case '>': sb_puts(b, "&gt;"); break;
		case '"': sb_puts(b, "&quot;"); break;
		case '\'': sb_puts(b, "&apos;"); break;
		case '\t': sb_puts(b, "&#9;"); break;
		case '\n': sb_puts(b, "&#10;"); break;
		case '\r': sb_puts(b, "&#13;"); break;
		default: sb_add(b, (const char *)p, n); break;
		}
		p += n;
	}
}

/* Hands the buffer over (*out, *outlen) or frees it; returns b->rc. */
static int sb_finish(struct sbuf *b, char **out, size_t *outlen)
{
	if (b->rc) {
		free(b->p);
		return b->rc;
	}
	*out = b->p;
	*outlen = b->len;
	return 0;
}

int s3xml_build_complete(const struct objfs_part *parts, size_t nparts,
			 char **out, size_t *outlen)
{
	struct sbuf b = { 0 };
	char num[16];

	*out = NULL;
	*outlen = 0;
	if (!parts || nparts == 0 || nparts > S3XML_PART_MAX)
		return -EINVAL;
	sb_puts(&b, S3XML_DECL "<CompleteMultipartUpload xmlns=\"" S3XML_NS "\">");
	for (size_t i = 0; i < nparts && !b.rc; i++) {
		const struct objfs_part *pt = &parts[i];

		if (pt->number < 1 || pt->number > S3XML_PART_MAX ||
		    (i && pt->number <= parts[i - 1].number) ||
		    !memchr(pt->etag, '\0', sizeof(pt->etag)) || !pt->etag[0] ||
		    !etag_ok(pt->etag)) {
			b.rc = -EINVAL;
			break;
		}
		snprintf(num, sizeof(num), "%d", pt->number);
		sb_puts(&b, "<Part><PartNumber>");
		sb_puts(&b, num);
		sb_puts(&b, "</PartNumber><ETag>\"");
		sb_text(&b, pt->etag);
		sb_puts(&b, "\"</ETag></Part>");
	}
	sb_puts(&b, "</CompleteMultipartUpload>");
	return sb_finish(&b, out, outlen);
}

int s3xml_build_delete(const char *const *keys, size_t nkeys, char **out,
		       size_t *outlen)
{
	struct sbuf b = { 0 };

	*out = NULL;
	*outlen = 0;
	if (!keys || nkeys == 0 || nkeys > S3XML_DELETE_MAX)
		return -EINVAL;
	sb_puts(&b, S3XML_DECL "<Delete xmlns=\"" S3XML_NS "\"><Quiet>false</Quiet>");
	for (size_t i = 0; i < nkeys && !b.rc; i++) {
		if (!keys[i] || !keys[i][0]) {
			b.rc = -EINVAL;
			break;
		}
		if (strlen(keys[i]) > OBJFS_KEY_MAX) {
			b.rc = -ENAMETOOLONG;
			break;
		}
		sb_puts(&b, "<Object><Key>");
		sb_text(&b, keys[i]);
		sb_puts(&b, "</Key></Object>");
	}
	sb_puts(&b, "</Delete>");
	return sb_finish(&b, out, outlen);
}

int s3xml_build_create_bucket(const char *region, char **out, size_t *outlen)
{
	struct sbuf b = { 0 };

	*out = NULL;
	*outlen = 0;
	if (!region || !region[0] || strcmp(region, "us-east-1") == 0)
		return 0;
	if (strlen(region) > 64)
		return -EINVAL;
	sb_puts(&b, S3XML_DECL "<CreateBucketConfiguration xmlns=\"" S3XML_NS "\">"
		"<LocationConstraint>");
	sb_text(&b, region);
	sb_puts(&b, "</LocationConstraint></CreateBucketConfiguration>");
	return sb_finish(&b, out, outlen);
}

/* ---- error codes ---------------------------------------------------------------- */

static const struct {
	const char *code;
	int err;
} s3xml_codes[] = {
	{ "NoSuchKey", -ENOENT },
	{ "NoSuchBucket", -ENOENT },
	{ "NoSuchUpload", -ENOENT },
	{ "NoSuchVersion", -ENOENT },
	{ "AccessDenied", -EACCES },
	{ "AccountProblem", -EACCES },
	{ "AllAccessDisabled", -EACCES },
	{ "InvalidAccessKeyId", -EACCES },
	{ "SignatureDoesNotMatch", -EACCES },
	{ "RequestTimeTooSkewed", -EACCES },
	{ "ExpiredToken", -EACCES },
	{ "InvalidToken", -EACCES },
	{ "PreconditionFailed", -ESTALE },
	{ "BucketAlreadyOwnedByYou", 0 },
	{ "BucketAlreadyExists", -EEXIST },
	{ "BucketNotEmpty", -ENOTEMPTY },
	{ "EntityTooLarge", -EFBIG },
	{ "KeyTooLongError", -ENAMETOOLONG },
	{ "InvalidArgument", -EINVAL },
	{ "InvalidRequest", -EINVAL },
	{ "InvalidRange", -EINVAL },
	{ "InvalidBucketName", -EINVAL },
	{ "SlowDown", -EIO },
	{ "InternalError", -EIO },
	{ "ServiceUnavailable", -EIO },
	{ "RequestTimeout", -EIO },
};

int s3xml_code_errno(const char *code, int fallback)
{
	if (!code)
		return fallback;
	for (size_t i = 0; i < ARRAY_SIZE(s3xml_codes); i++)
		if (strcmp(code, s3xml_codes[i].code) == 0)
			return s3xml_codes[i].err;
	return fallback;
}
