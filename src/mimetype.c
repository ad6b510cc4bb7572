/*
 * Content types: see mimetype.h.
 *
 * mime.types lines are "type/subtype ext1 ext2 ..." with '#' comments.  The
 * table is one array of {extension, type} pairs (lower-case, sorted by
 * extension, the last line's pair kept for a repeated extension) pointing
 * into one string pool, so a lookup is a binary search per candidate
 * suffix.  Bounded: lines past MT_LINE_MAX bytes and pairs past
 * MT_PAIRS_MAX are ignored.
 */
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "mimetype.h"

#define MT_DEFAULT_PATH "/etc/mime.types"
#define MT_LINE_MAX 4096
#define MT_PAIRS_MAX 65536
#define MT_EXT_MAX 64

struct mt_pair {
	const char *ext;
	const char *type;
	size_t line;                 /* for "last line wins" */
};

/* Written by mimetype_load only (once, or in single-threaded tests). */
static struct mt_pair *mt_pairs;
static size_t mt_npairs;
static char *mt_pool;
static int mt_ok;
static int mt_tried;                 /* a load ran: the first use does not load again */
static pthread_once_t mt_once = PTHREAD_ONCE_INIT;

void mimetype_free(void)
{
	free(mt_pairs);
	free(mt_pool);
	mt_pairs = NULL;
	mt_pool = NULL;
	mt_npairs = 0;
	mt_ok = 0;
}

static int pair_cmp(const void *a, const void *b)
{
	const struct mt_pair *x = a, *y = b;
	int c = strcmp(x->ext, y->ext);

	if (c)
		return c;
	return x->line < y->line ? -1 : x->line > y->line;
}

static void lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* Appends s (with its NUL) to the pool; offset into *pool, or -1. */
static long pool_add(char **pool, size_t *len, size_t *cap, const char *s)
{
	size_t n = strlen(s) + 1;
	long off = (long)*len;

	if (*len + n > *cap) {
		size_t ncap = *cap ? *cap * 2 : 16384;
		char *np;

		while (ncap < *len + n)
			ncap *= 2;
		np = realloc(*pool, ncap);
		if (!np)
			return -1;
		*pool = np;
		*cap = ncap;
	}
	memcpy(*pool + *len, s, n);
	*len += n;
	return off;
}

int mimetype_load(const char *path)
{
	struct { long ext, type; size_t line; } *raw = NULL;
	size_t nraw = 0, rawcap = 0, plen = 0, pcap = 0, lineno = 0, n = 0;
	char *pool = NULL, line[MT_LINE_MAX];
	struct mt_pair *pairs = NULL;
	FILE *fp;
	int rc = 0;

	mimetype_free();
	if (!path)
		path = getenv("OBJFS_MIME_TYPES");
	if (!path || !*path)
		path = MT_DEFAULT_PATH;
	fp = fopen(path, "re");
	if (!fp) {
		rc = -errno;
		__atomic_store_n(&mt_tried, 1, __ATOMIC_RELEASE);
		return rc;
	}
	while (fgets(line, sizeof(line), fp)) {
		char *save = NULL, *tok, *hash, *tname;
		long type;

		lineno++;
		if (!strchr(line, '\n') && !feof(fp)) {
			int c;

			while ((c = fgetc(fp)) != EOF && c != '\n')
				;            /* an over-long line: skipped whole */
			continue;
		}
		if ((hash = strchr(line, '#')))
			*hash = '\0';
		tok = strtok_r(line, " \t\r\n", &save);
		if (!tok || !mimetype_pattern_valid(tok) || strchr(tok, '*'))
			continue;
		lower(tok);
		tname = tok;
		type = -1;
		while ((tok = strtok_r(NULL, " \t\r\n", &save))) {
			long ext;

			if (strlen(tok) > MT_EXT_MAX || nraw == MT_PAIRS_MAX)
				continue;
			if (type < 0 && (type = pool_add(&pool, &plen, &pcap, tname)) < 0) {
				rc = -ENOMEM;
				goto out;
			}
			while (*tok == '.')
				tok++;       /* some files write ".ext" */
			if (!*tok)
				continue;
			lower(tok);
			if ((ext = pool_add(&pool, &plen, &pcap, tok)) < 0) {
				rc = -ENOMEM;
				goto out;
			}
			if (nraw == rawcap) {
				size_t ncap = rawcap ? rawcap * 2 : 1024;
				void *nr = realloc(raw, ncap * sizeof(*raw));

				if (!nr) {
					rc = -ENOMEM;
					goto out;
				}
				raw = nr;
				rawcap = ncap;
			}
			raw[nraw].ext = ext;
			raw[nraw].type = type;
			raw[nraw].line = lineno;
			nraw++;
		}
	}
	if (ferror(fp)) {
		rc = -EIO;
		goto out;
	}
	/* the pool no longer moves: turn offsets into pointers */
	pairs = calloc(nraw ? nraw : 1, sizeof(*pairs));
	if (!pairs) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < nraw; i++)
		pairs[i] = (struct mt_pair){ pool + raw[i].ext, pool + raw[i].type, raw[i].line };
	qsort(pairs, nraw, sizeof(*pairs), pair_cmp);
	for (size_t i = 0; i < nraw; i++) {
		if (i + 1 < nraw && !strcmp(pairs[i].ext, pairs[i + 1].ext))
			continue;    /* a later line names this extension again */
		pairs[n++] = pairs[i];
	}
	mt_pairs = pairs;
	mt_npairs = n;
	mt_pool = pool;
	mt_ok = 1;
	pairs = NULL;
	pool = NULL;
out:
	__atomic_store_n(&mt_tried, 1, __ATOMIC_RELEASE);
	fclose(fp);
	free(raw);
	free(pairs);
	free(pool);
	return rc;
}

static void load_once(void)
{
	const char *path = getenv("OBJFS_MIME_TYPES");
	int rc;

	if (__atomic_load_n(&mt_tried, __ATOMIC_ACQUIRE))
		return;                  /* loaded explicitly (tests) */
	rc = mimetype_load(NULL);

	if (rc)
		log_warn("content types: cannot read %s (%s); using the built-in table of common "
			 "extensions (install media-types)",
			 path && *path ? path : MT_DEFAULT_PATH, strerror(-rc));
	else
		log_debug("content types: %zu extensions from %s", mt_npairs,
			  path && *path ? path : MT_DEFAULT_PATH);
}

int mimetype_loaded(void)
{
	pthread_once(&mt_once, load_once);
	return mt_ok;
}

static const char *lookup(const char *ext)
{
	size_t lo = 0, hi = mt_npairs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcasecmp(ext, mt_pairs[mid].ext);

		if (c == 0)
			return mt_pairs[mid].type;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

const char *mimetype_for_name(const char *name)
{
	const char *base, *p;

	if (!name || !mimetype_loaded())
		return NULL;
	base = strrchr(name, '/');
	base = base ? base + 1 : name;
	/* the first dot after the name's first character starts the longest suffix
	 * (a leading dot is a hidden file, not an extension) */
	for (p = strchr(base + (base[0] != '\0'), '.'); p; p = strchr(p + 1, '.')) {
		const char *t;

		if (p[1] == '\0')
			break;
		if (strlen(p + 1) <= MT_EXT_MAX && (t = lookup(p + 1)))
			return t;
	}
	return NULL;
}

/* ---- patterns and policy ---- */

static int pat_part_valid(const char *s, size_t n)
{
	static const char tok[] = "!#$&^_.+-";

	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr(tok, s[i]) && s[i] != '*')
			return 0;
	return 1;
}

int mimetype_pattern_valid(const char *pattern)
{
	const char *slash = strchr(pattern, '/');

	if (!slash || strchr(slash + 1, '/') || strlen(pattern) > 255)
		return 0;
	return pat_part_valid(pattern, (size_t)(slash - pattern)) &&
	       pat_part_valid(slash + 1, strlen(slash + 1));
}

int mimetype_match(const char *pattern, const char *type)
{
	/* FNM_PATHNAME: a '*' never crosses the '/' between type and subtype */
	return fnmatch(pattern, type, FNM_CASEFOLD | FNM_PATHNAME) == 0;
}

int mimetype_policy(char *const *allowed, char *const *denied, const char *type, char *why,
		    size_t whylen)
{
	if (denied)
		for (char *const *d = denied; *d; d++)
			if (mimetype_match(*d, type)) {
				snprintf(why, whylen, "content type %s is denied by denied_types (%s)",
					 type, *d);
				return 0;
			}
	if (allowed) {
		for (char *const *a = allowed; *a; a++)
			if (mimetype_match(*a, type))
				return 1;
		snprintf(why, whylen, "content type %s is not in allowed_types", type);
		return 0;
	}
	return 1;
}
