/*
 * Helpers shared by the unit tests of the metadata store and write-back:
 * scratch directories (created with mkdtemp, removed recursively) and small
 * file-system queries.  Everything is static inline so a test that does not
 * use a helper does not warn.
 */
#ifndef OBJFS_TESTUTIL_H
#define OBJFS_TESTUTIL_H

#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A new empty directory under $TMPDIR (or /tmp); malloc'ed path, or NULL. */
static inline char *tu_mkdtemp(const char *tag)
{
	const char *base = getenv("TMPDIR");
	char *tmpl = NULL;

	if (!base || !base[0])
		base = "/tmp";
	if (asprintf(&tmpl, "%s/objfs-%s-XXXXXX", base, tag) < 0)
		return NULL;
	if (!mkdtemp(tmpl)) {
		free(tmpl);
		return NULL;
	}
	return tmpl;
}

static inline int tu_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) ? 0 : 0;    /* best effort: keep walking */
}

/* Removes dir and everything below it (best effort); accepts NULL. */
static inline void tu_rm_rf(const char *dir)
{
	if (dir)
		nftw(dir, tu_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Number of directory entries in dir other than "." and "..", or -1. */
static inline int tu_count_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* 1 if path exists (any type). */
static inline int tu_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* Writes len bytes of buf to path (created 0600, truncated); 0 or -1. */
static inline int tu_write_file(const char *path, const void *buf, size_t len)
{
	FILE *fp = fopen(path, "wb");
	int rc = 0;

	if (!fp)
		return -1;
	if (len && fwrite(buf, 1, len, fp) != len)
		rc = -1;
	if (fclose(fp))
		rc = -1;
	return rc;
}

#endif
