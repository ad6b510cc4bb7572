/*
 * Tenants: the table of configured tenants and the mapping from mount paths
 * to (provider, bucket, key).  This is where isolation is enforced: every
 * path the FUSE layer sees goes through objfs_path_parse(), which refuses
 * anything that could name storage outside the tenant's bucket and prefix.
 */
#ifndef OBJFS_TENANT_H
#define OBJFS_TENANT_H

#include <stddef.h>

#include "config.h"
#include "objfs/provider.h"

/* Reload appends tenants; the table is allocated for this many up front so
 * entries never move (pointers to them stay valid). */
#define OBJFS_TENANTS_MAX 4096

struct objfs_tenant {
	size_t idx;                          /* index in the table */
	const struct objfs_tenant_conf *conf;/* replaced by a reload (the old one stays alive) */
	int removed;                         /* a reload removed it: hidden, ENOENT */
	struct objfs_prov *prov;             /* not owned */
	struct objfs_quota *quota;           /* NULL: no quota (quota.c) */
	const char *name;
	const char *bucket;
	const char *prefix;                  /* "" or ends with '/' */
};

struct objfs_tenants {
	struct objfs_tenant *v;              /* OBJFS_TENANTS_MAX entries allocated */
	size_t n;                            /* grows on reload: read it with objfs_tenants_count() */
};

/* Tenants in the table (including removed ones: check t->removed). */
static inline size_t objfs_tenants_count(const struct objfs_tenants *ts)
{
	return __atomic_load_n(&ts->n, __ATOMIC_ACQUIRE);
}

/*
 * Fills ts from cfg (one entry per [tenant], in file order; prov = NULL, to be
 * set by whoever opens the providers).  The entries point into cfg, which
 * must outlive ts.  Free with objfs_tenants_clear.  0, -EINVAL or -ENOMEM.
 */
int objfs_tenants_init(struct objfs_tenants *ts, const struct objfs_config *cfg);
/* Fills table entry t (index idx) from conf c, provider unset, not removed:
 * the one place that knows how an entry maps its conf. */
void objfs_tenant_fill(struct objfs_tenant *t, size_t idx, const struct objfs_tenant_conf *c);
/* Frees ts->v (not the providers) and zeroes ts; accepts NULL. */
void objfs_tenants_clear(struct objfs_tenants *ts);

/* Readies tenant t on its provider (t->prov set): applies its storage
 * defaults (sse, storage_class, acl; a provider without them gets a
 * warning) and checks its bucket, creating a missing one.  0, or a
 * negative errno with "bucket B: reason" or similar in msg. */
int objfs_tenant_setup(struct objfs_tenant *t, char *msg, size_t msglen);

/* Looks a tenant up by name (exact); NULL if none. */
struct objfs_tenant *objfs_tenant_find(struct objfs_tenants *ts, const char *name, size_t len);

/* A parsed mount path "/<tenant>/<rel>". */
struct objfs_path {
	struct objfs_tenant *tenant;    /* NULL for the root "/" */
	char rel[OBJFS_KEY_MAX + 1];    /* "a/b" relative to the tenant, "" for the tenant root */
	char key[OBJFS_KEY_MAX + 1];    /* prefix + rel: the object key ("" root of tenant) */
};

/*
 * Parses an absolute FUSE path.  Refuses (negative errno): a tenant that does
 * not exist (-ENOENT), empty segments, "." or ".." segments, NUL or control
 * bytes (-EINVAL), a segment over OBJFS_NAME_MAX (-ENAMETOOLONG), a key over
 * OBJFS_KEY_MAX (-ENAMETOOLONG), invalid UTF-8 (-EILSEQ).
 */
int objfs_path_parse(struct objfs_tenants *ts, const char *path, struct objfs_path *out);

/*
 * objfs's own area inside every tenant: keys under PREFIX + OBJFS_TRASH_DIR "/"
 * (the trash, trash.c) are never files of the mount: hidden from listings and
 * lookups, refused as names, not counted by quotas, not backed up.
 */
#define OBJFS_TRASH_DIR ".objfs-trash"
/* 1 when rel (relative to the tenant, no leading '/') is OBJFS_TRASH_DIR or
 * under it. */
int objfs_rel_internal(const char *rel);

/* Validates one name (a directory entry): same rules as one segment above. */
int objfs_name_check(const char *name, size_t len);

/* 1 if s[0..len) is valid UTF-8 (no overlongs, no surrogates). */
int objfs_utf8_valid(const char *s, size_t len);

#endif
