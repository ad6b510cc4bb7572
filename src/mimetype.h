/*
 * Content types: the system's MIME database (mime.types) for names, the
 * tenant patterns of allowed_types/denied_types, and the policy that
 * decides between them (docs/guardrails.md, "Content types").
 *
 * The database is loaded once, on first use, from $OBJFS_MIME_TYPES or
 * /etc/mime.types (Debian's media-types package); after that it is
 * read-only and lookups need no lock.  When the file cannot be read the
 * lookups return NULL and the caller falls back to its own table (logged
 * once).  mimetype_load() replaces the table and is for tests only: it must
 * not run while other threads look types up.
 */
#ifndef OBJFS_MIMETYPE_H
#define OBJFS_MIMETYPE_H

#include <stddef.h>

/* The type names take when nothing decides them (no or unknown extension). */
#define MIMETYPE_UNDECIDED "application/octet-stream"

/* Loads path (NULL: $OBJFS_MIME_TYPES, else /etc/mime.types) as the
 * database, replacing the current one.  0, or a negative errno (the table is
 * then empty and mimetype_loaded() is 0). */
int mimetype_load(const char *path);
/* 1 when a database is loaded (loads it on first call). */
int mimetype_loaded(void);
/* The type of a file name by its extension, case-insensitive: the longest
 * dotted suffix of the last path component that mime.types lists wins
 * ("a.tar.gz": "tar.gz" before "gz"); an extension listed twice takes its
 * last line.  NULL when none is listed, the name has no extension (dot files
 * included) or no database is loaded. */
const char *mimetype_for_name(const char *name);
/* Frees the table (exit, tests). */
void mimetype_free(void);

/* 1 if pattern is a valid allowed_types/denied_types item: "type/subtype"
 * of MIME token characters where either part may hold '*' wildcards (a
 * whole image family, every type, "text/x-" followed by anything); no other
 * glob characters. */
int mimetype_pattern_valid(const char *pattern);
/* 1 if type matches pattern (fnmatch, case-insensitive). */
int mimetype_match(const char *pattern, const char *type);

/*
 * The tenant policy for type: refused when a denied_types pattern matches
 * (denied wins), or when allowed_types is set and none of it matches.
 * Lists are NULL-terminated, or NULL for "not set".  Returns 1 when
 * allowed; 0 when refused, with one line in why ("content type image/png is
 * denied by denied_types (image/png)").
 */
int mimetype_policy(char *const *allowed, char *const *denied, const char *type, char *why,
		    size_t whylen);

#endif
