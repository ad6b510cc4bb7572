/*
 * FUSE operations (high-level, path-based API; the only file that includes
 * libfuse).
 *
 * Every path goes through objfs_path_parse() (tenant isolation).  Attributes
 * come, in order, from: the in-memory file (open or with uploads pending),
 * the SQLite cache while fresh, a complete listing of the parent (a name
 * missing from a fresh listing is ENOENT without a request), and finally the
 * provider (head, plus a one-key listing for directories).  Rule for a key
 * that is both an object and a prefix ("a" and "a/b"): the directory wins,
 * in listings and lookups alike, and the object is not shown.
 *
 * Content changes are staged (file.c) and committed on flush/fsync/release;
 * namespace changes (mkdir, rmdir, unlink, rename, symlink) and metadata
 * changes of files without staged content go to the provider synchronously.
 */
#define FUSE_USE_VERSION 312
#include <errno.h>
#include <fuse.h>
#include <fuse_lowlevel.h>
#include <inttypes.h>
#include <limits.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "file.h"
#include "fs.h"
#include "audit.h"
#include "notify.h"
#include "reload.h"
#include "services.h"
#include "log.h"
#include "meta.h"
#include "metrics.h"
#include "mimetype.h"
#include "objmeta.h"
#include "quota.h"
#include "trash.h"
#include "writeback.h"

#define READDIR_PAGE 256

/*
 * Open file and directory handles.  They are kept on a list because the
 * kernel sends RELEASE/RELEASEDIR asynchronously and drops them when the
 * file system is unmounted right after a close: destroy releases what is
 * left (the data is safe either way: flush committed it).
 */
struct handle {
	struct objfs_file *f;        /* NULL for a directory handle */
	int wrote;                   /* written through: audited at release */
	int changed;                 /* changed its file since it last committed
	                              * (atomic): only then do flush and release
	                              * commit, so a reader's late release never
	                              * publishes a writer's half-done content */
	int write_err;               /* first write error, for that record */
	char *audit_path;            /* with the audit log on: path and opener, */
	uid_t audit_uid;             /* for the "write" record at release (which */
	pid_t audit_pid;             /* FUSE sends without path or caller) */
	char *dir_path;              /* directory handles: the path (readdir may get NULL) */
	uint64_t ino;
	struct handle *prev, *next;  /* handles_lock */
};

/* Set when a stop (SIGTERM) began flushing: the end of its drain_timeout,
 * which the unmount's drain must not extend.  0: no stop flush ran. */
static int64_t drain_deadline_ms;

static pthread_mutex_t handles_lock = PTHREAD_MUTEX_INITIALIZER;
static struct handle *handles;   /* handles_lock */

static void handle_link(struct handle *h)
{
	pthread_mutex_lock(&handles_lock);
	h->next = handles;
	if (handles)
		handles->prev = h;
	handles = h;
	pthread_mutex_unlock(&handles_lock);
}

static void handle_unlink(struct handle *h)
{
	pthread_mutex_lock(&handles_lock);
	if (h->prev)
		h->prev->next = h->next;
	else
		handles = h->next;
	if (h->next)
		h->next->prev = h->prev;
	pthread_mutex_unlock(&handles_lock);
}

/* h changed its file: the next flush or release commits. */
static void handle_changed(struct handle *h)
{
	__atomic_store_n(&h->changed, 1, __ATOMIC_RELEASE);
}

/*
 * Commits h's file when h changed it since its last commit.  A handle that
 * only read (or whose changes a flush already committed) commits nothing:
 * the file may be mid-rewrite through another handle (an O_TRUNC open whose
 * data has not come yet), and committing it then would upload that state.
 */
static int handle_commit(struct handle *h)
{
	int rc;

	if (!__atomic_exchange_n(&h->changed, 0, __ATOMIC_ACQ_REL))
		return 0;
	rc = file_commit(h->f);
	if (rc)
		handle_changed(h);       /* the release tries again */
	return rc;
}

/* Releases a handle: commits what it changed, drops the reference. */
static void handle_free(struct handle *h)
{
	if (h->f) {
		int rc = handle_commit(h);

		if (rc)
			log_err("release: commit of %s failed: %s", h->f->path, strerror(-rc));
		file_put(h->f);
	}
	free(h->dir_path);
	free(h->audit_path);
	free(h);
}

static struct objfs_ctx *ctx_get(void)
{
	return fuse_get_context()->private_data;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ---- path resolution and access ---- */

static int tenant_allowed(const struct objfs_tenant *t)
{
	const struct objfs_tenant_conf *c = t->conf;
	struct fuse_context *fc = fuse_get_context();

	if (fc->uid == 0 || (!c->nallow_uids && !c->nallow_gids))
		return 1;
	for (size_t i = 0; i < c->nallow_uids; i++)
		if (c->allow_uids[i] == fc->uid)
			return 1;
	for (size_t i = 0; i < c->nallow_gids; i++)
		if (c->allow_gids[i] == fc->gid)
			return 1;
	return 0;
}

static int resolve(struct objfs_ctx *ctx, const char *path, struct objfs_path *p)
{
	int rc;

	if (!path)
		return -ENOENT;
	rc = objfs_path_parse(&ctx->tenants, path, p);
	if (rc)
		return rc;
	if (p->tenant && !tenant_allowed(p->tenant))
		return -EACCES;
	if (p->tenant && objfs_rel_internal(p->rel))
		return -ENOENT;          /* objfs's own area (the trash): never a file */
	return 0;
}

/* resolve_mut() for operations that create a name: a new name directly
 * under the root would be a new tenant, which only the configuration makes. */
static int resolve_new(struct objfs_ctx *ctx, const char *path, struct objfs_path *p);

/* resolve() for operations that change the tenant. */
static int resolve_mut(struct objfs_ctx *ctx, const char *path, struct objfs_path *p)
{
	int rc = resolve(ctx, path, p);

	if (rc)
		return rc;
	if (!p->tenant)
		return -EPERM;           /* the root holds only the configured tenants */
	if (p->tenant->conf->read_only)
		return -EROFS;
	return 0;
}

/* libfuse renames an unlinked file that is still open to .fuse_hiddenXXXX
 * (hard_remove off, so that fstat on it keeps working): such a name is our
 * unlink with open handles, never an object. */
static int is_hidden(const char *rel)
{
	const char *base = strrchr(rel, '/');

	base = base ? base + 1 : rel;
	return strncmp(base, ".fuse_hidden", 12) == 0;
}

static int resolve_new(struct objfs_ctx *ctx, const char *path, struct objfs_path *p)
{
	int rc = resolve_mut(ctx, path, p);

	if (rc == -ENOENT && path && path[0] == '/' && !strchr(path + 1, '/'))
		return -EPERM;
	/* resolve() parsed it before refusing: a name in objfs's own area */
	if (rc == -ENOENT && path && p->tenant && objfs_rel_internal(p->rel))
		return -EPERM;
	return rc;
}

static void parent_of(const char *rel, char *out, size_t len)
{
	const char *s = strrchr(rel, '/');

	snprintf(out, len, "%.*s", s ? (int)(s - rel) : 0, rel);
}

static int dir_key(const struct objfs_tenant *t, const char *rel, char *out, size_t len)
{
	int n = snprintf(out, len, "%s%s%s", t->prefix, rel, rel[0] ? "/" : "");

	return n < 0 || (size_t)n >= len || n > OBJFS_KEY_MAX ? -ENAMETOOLONG : 0;
}

/* ---- attributes ---- */

static void entry_from_info(struct objfs_ctx *ctx, const struct objfs_objinfo *oi, int is_dir,
			    struct meta_entry *e)
{
	struct objfs_fileattr a;

	memset(e, 0, sizeof(*e));
	memset(&a, 0, sizeof(a));
	e->type = is_dir ? META_DIR : META_FILE;
	e->fetched_ms = meta_now_ms();
	if (oi) {
		objfs_objmeta_decode(oi->meta, oi->nmeta, &a);
		e->size = is_dir ? 0 : oi->size;
		e->etag = is_dir ? NULL : strdup(oi->etag);
		e->mtime_ns = a.has_mtime ? a.mtime_ns : oi->mtime_ns;
		const char *x = objfs_objinfo_meta(oi, "xattr");
		e->xattr = x ? strdup(x) : NULL;
	} else {
		e->mtime_ns = e->fetched_ms * 1000000;
	}
	e->mode = a.has_mode ? a.mode : (is_dir ? (S_IFDIR | 0755) : (S_IFREG | 0644));
	if (is_dir && !S_ISDIR(e->mode))
		e->mode = S_IFDIR | (e->mode & 07777);
	if (!is_dir && S_ISLNK(e->mode))
		e->type = META_LINK;
	else if (!is_dir && !S_ISREG(e->mode) && !S_ISFIFO(e->mode) && !S_ISSOCK(e->mode) &&
		 !S_ISCHR(e->mode) && !S_ISBLK(e->mode))
		e->mode = S_IFREG | (e->mode & 07777);
	e->uid = a.has_uid ? a.uid : ctx->uid;
	e->gid = a.has_gid ? a.gid : ctx->gid;
	objfs_fileattr_clear(&a);
}

static int fresh(int64_t fetched_ms, unsigned ttl_s)
{
	return ttl_s && meta_now_ms() - fetched_ms < (int64_t)ttl_s * 1000;
}

/*
 * Asks the provider what key is: one listing with prefix key and delimiter
 * "/" shows both the object key (it sorts first) and the common prefix
 * "key/" (after keys such as "key-1" or "key.txt"; if more than a page of
 * those come first, a second, one-key listing settles it).  The directory
 * wins; its marker object, if any, carries its attributes.  An object
 * listed without metadata is asked for it with a head.
 */
static int probe_name(struct objfs_tenant *t, const char *key, struct objfs_objinfo *oi,
		      struct objfs_objinfo *marker, struct meta_entry *e, struct objfs_ctx *ctx)
{
	char dkey[OBJFS_KEY_MAX + 2];
	struct objfs_listing l;
	struct objfs_err err;
	int rc, is_dir = 0, is_obj = 0, obj_meta = 0;

	snprintf(dkey, sizeof(dkey), "%s/", key);
	memset(&l, 0, sizeof(l));
	rc = objfs_prov_list(t->prov, t->bucket, key, "/", NULL, 0, &l, &err);
	if (rc) {
		log_warn("list %s/%s: %s", t->bucket, key, err.msg);
		return rc;
	}
	for (size_t i = 0; i < l.nprefixes && !is_dir; i++)
		is_dir = !strcmp(l.prefixes[i], dkey);
	for (size_t i = 0; i < l.nobjects && !is_obj; i++) {
		if (strcmp(l.objects[i].key, key))
			continue;
		is_obj = 1;
		obj_meta = l.objects[i].has_meta;
		if (obj_meta)
			objfs_objinfo_copy(oi, &l.objects[i]);
	}
	if (!is_dir && l.next_token) {
		/* a truncated page may have stopped before "key/" */
		const char *last = l.nprefixes ? l.prefixes[l.nprefixes - 1] : NULL;
		const char *lobj = l.nobjects ? l.objects[l.nobjects - 1].key : NULL;

		if (!last || (lobj && strcmp(lobj, last) > 0))
			last = lobj;
		if (!last || strcmp(last, dkey) < 0) {
			struct objfs_listing l2;

			memset(&l2, 0, sizeof(l2));
			rc = objfs_prov_list(t->prov, t->bucket, dkey, NULL, NULL, 1, &l2, &err);
			is_dir = rc == 0 && l2.nobjects > 0;
			objfs_listing_clear(&l2);
		}
	}
	objfs_listing_clear(&l);
	if (rc)
		return rc;
	if (is_dir) {
		rc = objfs_prov_head(t->prov, t->bucket, dkey, marker, &err);
		if (rc && rc != -ENOENT)
			return rc;
		entry_from_info(ctx, rc == 0 ? marker : NULL, 1, e);
		return 0;
	}
	if (!is_obj)
		return -ENOENT;
	if (!obj_meta) {
		rc = objfs_prov_head(t->prov, t->bucket, key, oi, &err);
		if (rc) {
			if (rc != -ENOENT)
				log_warn("head %s/%s: %s", t->bucket, key, err.msg);
			return rc;
		}
	}
	entry_from_info(ctx, oi, 0, e);
	return 0;
}

/*
 * Looks up (tenant, rel) in the cache or at the provider.  0 and *e, or
 * -ENOENT (also cached), or another error.  force: bypass the cache
 * (close-to-open revalidation).
 */
static int lookup_entry(struct objfs_ctx *ctx, struct objfs_tenant *t, const char *rel,
			struct meta_entry *e, int force)
{
	const struct objfs_config *cfg = ctx->cfg;
	char key[OBJFS_KEY_MAX + 1], parent[OBJFS_KEY_MAX + 1];
	struct objfs_objinfo oi, marker;
	int64_t listed;
	int rc, have_row;

	memset(e, 0, sizeof(*e));
	if (!rel[0]) {
		/* the tenant root is always a directory */
		rc = meta_get(ctx->meta, t->name, "", e);
		if (rc == 0 && e->type == META_DIR)
			return 0;
		meta_entry_clear(e);
		entry_from_info(ctx, NULL, 1, e);
		return meta_put(ctx->meta, t->name, "", e, &e->ino);
	}
	rc = meta_get(ctx->meta, t->name, rel, e);
	have_row = rc == 0;
	if (have_row && !force &&
	    fresh(e->fetched_ms, e->type == META_NEG ? cfg->neg_ttl_s : cfg->attr_ttl_s)) {
		if (e->type == META_NEG) {
			meta_entry_clear(e);
			return -ENOENT;
		}
		return 0;
	}
	if (!force && (!have_row || e->type == META_NEG)) {
		parent_of(rel, parent, sizeof(parent));
		if (meta_listing_time(ctx->meta, t->name, parent, &listed) == 0 &&
		    fresh(listed, cfg->dir_ttl_s)) {
			meta_entry_clear(e);
			return -ENOENT;
		}
	}
	meta_entry_clear(e);
	rc = tenant_key(t, rel, key, sizeof(key));
	if (rc)
		return rc;
	memset(&oi, 0, sizeof(oi));
	memset(&marker, 0, sizeof(marker));
	rc = probe_name(t, key, &oi, &marker, e, ctx);
	objfs_objinfo_clear(&oi);
	objfs_objinfo_clear(&marker);
	if (rc == -ENOENT) {
		struct meta_entry neg;

		memset(&neg, 0, sizeof(neg));
		neg.type = META_NEG;
		neg.fetched_ms = meta_now_ms();
		meta_put(ctx->meta, t->name, rel, &neg, NULL);
		return -ENOENT;
	}
	if (rc)
		return rc;
	return meta_put(ctx->meta, t->name, rel, e, &e->ino);
}

static void stat_from_entry(const struct meta_entry *e, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = e->ino;
	st->st_mode = e->mode;
	st->st_nlink = e->type == META_DIR ? 2 : 1;
	st->st_uid = e->uid;
	st->st_gid = e->gid;
	st->st_size = (off_t)(e->type == META_LINK && e->target ? strlen(e->target) : e->size);
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)((e->size + 511) / 512);
	st->st_mtim.tv_sec = e->mtime_ns / 1000000000LL;
	st->st_mtim.tv_nsec = e->mtime_ns % 1000000000LL;
	st->st_atim = st->st_mtim;
	st->st_ctim = st->st_mtim;
}

/* Attributes (and xattrs) of a cached entry; a is cleared by the caller. */
static void attr_from_entry(const struct meta_entry *e, struct objfs_fileattr *a)
{
	memset(a, 0, sizeof(*a));
	a->mode = e->mode;
	a->has_mode = 1;
	a->uid = e->uid;
	a->has_uid = 1;
	a->gid = e->gid;
	a->has_gid = 1;
	a->mtime_ns = e->mtime_ns;
	a->has_mtime = 1;
	if (e->xattr) {
		struct objfs_kv kv = { (char *)"xattr", e->xattr };
		struct objfs_fileattr xa;

		memset(&xa, 0, sizeof(xa));
		if (objfs_objmeta_decode(&kv, 1, &xa) == 0) {
			a->xattrs = xa.xattrs;
			a->nxattrs = xa.nxattrs;
		}
	}
}

/* The cache entry of a new object with attributes a (strings left NULL). */
static void entry_from_attr(struct meta_entry *e, enum meta_type type,
			    const struct objfs_fileattr *a)
{
	memset(e, 0, sizeof(*e));
	e->type = type;
	e->mode = a->mode;
	e->uid = a->uid;
	e->gid = a->gid;
	e->mtime_ns = a->mtime_ns;
	e->fetched_ms = meta_now_ms();
}

/* Attributes of a new object: mode, owned by the caller, modified now. */
static void new_attr(struct objfs_fileattr *a, mode_t mode)
{
	struct fuse_context *fc = fuse_get_context();

	memset(a, 0, sizeof(*a));
	a->mode = mode;
	a->has_mode = 1;
	a->uid = fc->uid;
	a->has_uid = 1;
	a->gid = fc->gid;
	a->has_gid = 1;
	a->mtime_ns = now_ns();
	a->has_mtime = 1;
}

static void stat_root(struct objfs_ctx *ctx, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = 1;
	st->st_mode = S_IFDIR | 0755;
	st->st_nlink = 2 + objfs_tenants_count(&ctx->tenants);
	st->st_uid = ctx->uid;
	st->st_gid = ctx->gid;
}

static int stat_path(struct objfs_ctx *ctx, struct objfs_path *p, struct stat *st)
{
	struct objfs_file *f;
	struct meta_entry e;
	int rc;

	if (!p->tenant) {
		stat_root(ctx, st);
		return 0;
	}
	f = files_lookup(ctx->files, p->tenant, p->rel);
	if (f) {
		file_stat(f, st, f->fid);
		file_put(f);
		return 0;
	}
	if (is_hidden(p->rel))
		return -ENOENT;
	rc = lookup_entry(ctx, p->tenant, p->rel, &e, 0);
	if (rc == 0)
		stat_from_entry(&e, st);
	meta_entry_clear(&e);
	return rc;
}

static int objfs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	struct objfs_ctx *ctx = ctx_get();
	struct objfs_path p;
	int rc;

	if (fi && fi->fh) {
		struct handle *h = (struct handle *)(uintptr_t)fi->fh;

		if (h->f) {
			file_stat(h->f, st, h->ino);
			return 0;
		}
		path = h->dir_path;
	}
	rc = resolve(ctx, path, &p);
	return rc ? rc : stat_path(ctx, &p, st);
}

/* ---- directories ---- */

struct merge_arg {
	struct objfs_ctx *ctx;
	const char *dir;
	int64_t gen;
};

static void merge_file(struct objfs_file *f, void *arg)
{
	struct merge_arg *m = arg;
	struct meta_entry e;
	struct stat st;
	const char *name;

	if (f->unlinked)
		return;
	file_stat(f, &st, f->fid);
	memset(&e, 0, sizeof(e));
	e.type = S_ISLNK(st.st_mode) ? META_LINK : META_FILE;
	e.mode = st.st_mode;
	e.uid = st.st_uid;
	e.gid = st.st_gid;
	e.size = (uint64_t)st.st_size;
	e.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
	e.fetched_ms = meta_now_ms();
	name = strrchr(f->path, '/');
	name = name ? name + 1 : f->path;
	meta_listing_add(m->ctx->meta, f->tenant->name, m->dir, m->gen, &name, &e, 1);
}

/* Lists dir from the provider into the cache (pages, bounded memory). */
static int relist(struct objfs_ctx *ctx, struct objfs_tenant *t, const char *dir)
{
	char prefix[OBJFS_KEY_MAX + 2];
	struct objfs_listing l;
	struct objfs_err err;
	char *token = NULL;
	const char **names = NULL;
	struct meta_entry *ents = NULL;
	int64_t gen;
	int rc;

	rc = dir_key(t, dir, prefix, sizeof(prefix));
	if (rc)
		return rc;
	rc = meta_listing_begin(ctx->meta, t->name, dir, &gen);
	if (rc)
		return rc;
	size_t plen = strlen(prefix);
	do {
		size_t n = 0;

		memset(&l, 0, sizeof(l));
		rc = objfs_prov_list(t->prov, t->bucket, prefix, "/", token, 0, &l, &err);
		free(token);
		token = NULL;
		if (rc) {
			log_warn("list %s/%s: %s", t->bucket, prefix, err.msg);
			break;
		}
		names = calloc(l.nobjects + l.nprefixes + 1, sizeof(*names));
		ents = calloc(l.nobjects + l.nprefixes + 1, sizeof(*ents));
		if (!names || !ents) {
			rc = -ENOMEM;
			objfs_listing_clear(&l);
			break;
		}
		/* objects first, prefixes after: a prefix overrides an object of the
		 * same name (the directory wins) */
		for (size_t i = 0; i < l.nobjects; i++) {
			const struct objfs_objinfo *oi = &l.objects[i];
			const char *name = oi->key + plen;
			struct meta_entry old;
			char child[2 * OBJFS_KEY_MAX + 2];

			if (!name[0] || objfs_name_check(name, strlen(name)) ||
			    (!dir[0] && objfs_rel_internal(name)))
				continue;            /* objfs's own area is never listed */
			names[n] = name;
			snprintf(child, sizeof(child), "%s%s%s", dir, dir[0] ? "/" : "", name);
			if (oi->has_meta) {
				entry_from_info(ctx, oi, 0, &ents[n]);
			} else if (meta_get(ctx->meta, t->name, child, &old) == 0 &&
				   (old.type == META_FILE || old.type == META_LINK) && old.etag &&
				   strcmp(old.etag, oi->etag) == 0) {
				/* a listing without metadata (S3): the same version
				 * keeps the mode, owner, mtime and link target we know */
				ents[n] = old;
				ents[n].fetched_ms = meta_now_ms();
			} else {
				/* unknown attributes: defaults, stale at once, so that
				 * readdir hands no attributes to the kernel and the next
				 * lookup asks the provider (head) */
				if (meta_get(ctx->meta, t->name, child, &old) == 0)
					meta_entry_clear(&old);
				entry_from_info(ctx, oi, 0, &ents[n]);
				ents[n].fetched_ms = 0;
			}
			n++;
		}
		for (size_t i = 0; i < l.nprefixes; i++) {
			char *name = l.prefixes[i] + plen;
			size_t len = strlen(name);
			struct meta_entry old;
			char child[2 * OBJFS_KEY_MAX + 2];

			if (len < 2)
				continue;
			name[len - 1] = '\0';          /* drop the delimiter */
			if (objfs_name_check(name, len - 1) || (!dir[0] && objfs_rel_internal(name)))
				continue;
			names[n] = name;
			snprintf(child, sizeof(child), "%s%s%s", dir, dir[0] ? "/" : "", name);
			/* keep a directory's known attributes (from its marker) */
			if (meta_get(ctx->meta, t->name, child, &old) == 0 && old.type == META_DIR) {
				ents[n] = old;
				free(ents[n].etag);
				ents[n].etag = NULL;
				ents[n].fetched_ms = meta_now_ms();
			} else {
				meta_entry_clear(&old);
				entry_from_info(ctx, NULL, 1, &ents[n]);
			}
			n++;
		}
		rc = meta_listing_add(ctx->meta, t->name, dir, gen, names, ents, n);
		for (size_t i = 0; i < n; i++)
			meta_entry_clear(&ents[i]);
		free(names);
		free(ents);
		names = NULL;
		ents = NULL;
		token = l.next_token;
		l.next_token = NULL;
		objfs_listing_clear(&l);
	} while (rc == 0 && token);
	free(token);
	if (rc == 0) {
		struct merge_arg m = { ctx, dir, gen };

		/* files not uploaded yet are part of the directory too */
		files_for_each_child(ctx->files, t, dir, merge_file, &m);
		rc = meta_listing_end(ctx->meta, t->name, dir, gen, meta_now_ms());
	}
	return rc;
}

static int objfs_opendir(const char *path, struct fuse_file_info *fi)
{
	struct objfs_ctx *ctx = ctx_get();
	struct objfs_path p;
	struct stat st;
	int rc = resolve(ctx, path, &p);

	if (rc)
		return rc;
	rc = stat_path(ctx, &p, &st);
	if (rc)
		return rc;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	/* readdir may get a NULL path (nullpath_ok): the handle keeps it */
	struct handle *h = calloc(1, sizeof(*h));

	if (!h || !(h->dir_path = strdup(path))) {
		free(h);
		return -ENOMEM;
	}
	handle_link(h);
	fi->fh = (uint64_t)(uintptr_t)h;
	return 0;
}

static int objfs_releasedir(const char *path, struct fuse_file_info *fi)
{
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;

	handle_unlink(h);
	handle_free(h);
	return 0;
}

static int objfs_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
			 struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	struct objfs_ctx *ctx = ctx_get();
	struct meta_entry ents[READDIR_PAGE];
	struct objfs_path p;
	struct stat st;
	int64_t listed;
	int rc = resolve(ctx, fi && fi->fh ? ((struct handle *)(uintptr_t)fi->fh)->dir_path : path, &p);

	if (rc)
		return rc;
	enum fuse_fill_dir_flags plus = (flags & FUSE_READDIR_PLUS) ? FUSE_FILL_DIR_PLUS : 0;

	/* glibc skips entries whose d_ino is 0: every entry carries its inode */
	if (off < 2) {
		if (stat_path(ctx, &p, &st))
			stat_root(ctx, &st);
		if (off < 1 && filler(buf, ".", &st, 1, 0))
			return 0;
		st.st_ino = 1;
		if (filler(buf, "..", &st, 2, 0))
			return 0;
	}
	if (!p.tenant) {
		size_t nt = objfs_tenants_count(&ctx->tenants);

		for (size_t i = off > 2 ? (size_t)off - 2 : 0; i < nt; i++) {
			struct meta_entry e;

			if (ctx->tenants.v[i].removed ||
			    lookup_entry(ctx, &ctx->tenants.v[i], "", &e, 0))
				continue;
			stat_from_entry(&e, &st);
			meta_entry_clear(&e);
			if (filler(buf, ctx->tenants.v[i].name, &st, (off_t)(i + 3), plus))
				break;
		}
		return 0;
	}
	/* list from the provider unless a fresh listing is cached */
	if (off <= 2 && (meta_listing_time(ctx->meta, p.tenant->name, p.rel, &listed) ||
			 !fresh(listed, ctx->cfg->dir_ttl_s))) {
		rc = relist(ctx, p.tenant, p.rel);
		if (rc)
			return rc;
	}
	uint64_t after = off > 2 ? (uint64_t)off - 2 : 0;
	for (;;) {
		size_t n = 0, i;
		int full = 0;

		rc = meta_readdir(ctx->meta, p.tenant->name, p.rel, after, ents, READDIR_PAGE, &n);
		if (rc)
			return rc;
		for (i = 0; i < n; i++) {
			/* a row cached before the area was hidden is not shown either */
			if (!full && !p.rel[0] && objfs_rel_internal(ents[i].name)) {
				after = ents[i].cookie;
			} else if (!full) {
				char child[2 * OBJFS_KEY_MAX + 2];
				struct objfs_file *f;

				/* a file with staged changes knows better than the cache: the
				 * kernel takes these attributes (readdirplus) as current */
				snprintf(child, sizeof(child), "%s%s%s", p.rel, p.rel[0] ? "/" : "",
					 ents[i].name);
				int known = 1;

				f = files_lookup(ctx->files, p.tenant, child);
				if (f) {
					file_stat(f, &st, f->fid);
					file_put(f);
				} else {
					/* the row read above may predate a landing that also
					 * freed the file: landing updates the row first, so a
					 * row read now is current */
					struct meta_entry cur;

					if (meta_get(ctx->meta, p.tenant->name, child, &cur) == 0 &&
					    cur.type != META_NEG) {
						stat_from_entry(&cur, &st);
						known = cur.fetched_ms != 0;
					} else {
						stat_from_entry(&ents[i], &st);
						known = ents[i].fetched_ms != 0;
					}
					meta_entry_clear(&cur);
				}
				/* attributes not known yet (fetched_ms 0, from a listing
				 * without metadata): a plain entry, the kernel looks the
				 * name up when it needs them */
				if (filler(buf, ents[i].name, &st, (off_t)(ents[i].cookie + 2),
					   known ? plus : 0))
					full = 1;
				else
					after = ents[i].cookie;
			}
			meta_entry_clear(&ents[i]);
		}
		if (full || n < READDIR_PAGE)
			break;
	}
	return 0;
}

/*
 * Puts an object that is written whole at once (a directory marker, a
 * symlink, a special file): len bytes of body with attributes a.  etag (may
 * be NULL) receives its ETag.
 */
static int put_small(struct objfs_tenant *t, const char *key, const void *body, size_t len,
		     const char *content_type, const struct objfs_fileattr *a, char *etag)
{
	struct objfs_seg seg = { .fd = -1, .buf = body, .len = len };
	struct objfs_source src = { &seg, len ? 1 : 0, len };
	struct objfs_putopts opts;
	struct objfs_kv *kv = NULL;
	struct objfs_err err;
	size_t nkv = 0;
	int rc = objfs_objmeta_encode(a, &kv, &nkv);

	if (rc)
		return rc;
	memset(&opts, 0, sizeof(opts));
	opts.content_type = content_type;
	opts.meta = kv;
	opts.nmeta = nkv;
	rc = objfs_prov_put(t->prov, t->bucket, key, &src, &opts, etag, &err);
	if (rc)
		log_warn("put %s/%s: %s", t->bucket, key, err.msg);
	objfs_kv_free(kv, nkv);
	return rc;
}

static int put_marker(struct objfs_ctx *ctx, struct objfs_tenant *t, const char *rel,
		      const struct objfs_fileattr *a)
{
	char key[OBJFS_KEY_MAX + 2];
	int rc = dir_key(t, rel, key, sizeof(key));

	return rc ? rc : put_small(t, key, NULL, 0, "application/x-directory", a, NULL);
}

static int objfs_mkdir(const char *path, mode_t mode)
{
	struct objfs_ctx *ctx = ctx_get();
	struct objfs_fileattr a;
	struct objfs_path p;
	struct meta_entry e;
	struct stat st;
	int64_t gen;
	int rc = resolve_new(ctx, path, &p);

	if (rc)
		return rc;
	if (!p.rel[0])
		return -EEXIST;
	if (stat_path(ctx, &p, &st) == 0)
		return -EEXIST;
	new_attr(&a, S_IFDIR | (mode & 07777));
	rc = put_marker(ctx, p.tenant, p.rel, &a);
	if (rc)
		return rc;
	entry_from_attr(&e, META_DIR, &a);
	meta_put(ctx->meta, p.tenant->name, p.rel, &e, NULL);
	/* a new directory is known to be empty: its listing is complete */
	if (meta_listing_begin(ctx->meta, p.tenant->name, p.rel, &gen) == 0)
		meta_listing_end(ctx->meta, p.tenant->name, p.rel, gen, meta_now_ms());
	return 0;
}

static int objfs_rmdir(const char *path)
{
	struct objfs_ctx *ctx = ctx_get();
	char key[OBJFS_KEY_MAX + 2];
	struct objfs_listing l;
	struct objfs_path p;
	struct objfs_err err;
	struct stat st;
	int rc = resolve_mut(ctx, path, &p);

	if (rc)
		return rc;
	if (!p.rel[0])
		return -EPERM;
	rc = stat_path(ctx, &p, &st);
	if (rc)
		return rc;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (files_any_under(ctx->files, p.tenant, p.rel))
		return -ENOTEMPTY;
	rc = dir_key(p.tenant, p.rel, key, sizeof(key));
	if (rc)
		return rc;
	memset(&l, 0, sizeof(l));
	rc = objfs_prov_list(p.tenant->prov, p.tenant->bucket, key, NULL, NULL, 2, &l, &err);
	if (rc == 0)
		for (size_t i = 0; i < l.nobjects; i++)
			if (strcmp(l.objects[i].key, key))
				rc = -ENOTEMPTY;
	objfs_listing_clear(&l);
	if (rc)
		return rc;
	rc = objfs_prov_del(p.tenant->prov, p.tenant->bucket, key, &err);
	if (rc)
		return rc;
	meta_del_tree(ctx->meta, p.tenant->name, p.rel);
	return 0;
}

/* ---- files ---- */

/* Why the current operation of this FUSE thread was refused, for its audit
 * record (op_end_audit consumes it); "" when there is nothing to add. */
static __thread char op_detail[256];

/*
 * 1 if tenant t's allowed_types/denied_types let a regular file be named rel
 * (its type from the name, mimetype.h); else logs the refusal of op, keeps
 * the reason for the audit record and returns 0 (the caller fails with
 * EACCES).
 */
static int type_allowed(const struct objfs_tenant *t, const char *rel, const char *op)
{
	const struct objfs_tenant_conf *c = __atomic_load_n(&t->conf, __ATOMIC_ACQUIRE);
	char why[sizeof(op_detail)], safe[256];

	if (!c->allowed_types && !c->denied_types)
		return 1;
	if (mimetype_policy(c->allowed_types, c->denied_types, objfs_content_type_for(rel), why,
			    sizeof(why)))
		return 1;
	log_warn("%s %s/%s refused: %s", op, t->name, objfs_log_safe(rel, safe, sizeof(safe)), why);
	snprintf(op_detail, sizeof(op_detail), "%s", why);
	return 0;
}

static struct handle *handle_new(struct objfs_file *f)
{
	struct handle *h = calloc(1, sizeof(*h));

	if (h) {
		h->f = f;
		h->ino = f->fid;
		handle_link(h);
	}
	return h;
}

static int objfs_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct objfs_ctx *ctx = ctx_get();
	struct objfs_fileattr a;
	struct objfs_file *f = NULL;
	struct objfs_path p;
	struct meta_entry e;
	struct handle *h;
	uint64_t fid;
	int rc = resolve_new(ctx, path, &p);

	if (rc)
		return rc;
	if (!p.rel[0])
		return -EEXIST;
	if (!S_ISREG(mode | S_IFREG) || !type_allowed(p.tenant, p.rel, "create"))
		return -EACCES;
	new_attr(&a, S_IFREG | (mode & 07777));
	rc = quota_add_object(p.tenant);   /* EDQUOT past quota_objects */
	if (rc)
		return rc;
	entry_from_attr(&e, META_FILE, &a);
	rc = meta_create(ctx->meta, p.tenant->name, p.rel, &e, &fid);
	if (rc == 0)
		rc = files_get(ctx->files, p.tenant, p.rel, fid, NULL, &a, &f);
	if (rc) {
		quota_unreserve_object(p.tenant);
		return rc;
	}
	if (f->fid != fid) {
		/* raced with another open of the same name: behave like O_TRUNC */
		quota_unreserve_object(p.tenant);   /* that file is counted already */
		rc = file_truncate(f, 0);
	}
	pthread_mutex_lock(&f->lock);
	f->dirty = 1;                 /* even an empty new file must be uploaded */
	if (f->fid == fid)
		f->q_obj = 1;         /* the reservation lands with its first upload */
	pthread_mutex_unlock(&f->lock);
	if (rc) {
		file_put(f);
		return rc;
	}
	h = handle_new(f);
	if (!h) {
		file_put(f);
		return -ENOMEM;
	}
	handle_changed(h);            /* the new file is uploaded at its close */
	fi->fh = (uint64_t)(uintptr_t)h;
	return 0;
}

/*
 * FIFOs, sockets and device nodes are empty objects whose mode carries the
 * file type (as s3fs stores them); the kernel gives them their behaviour.
 * The device number is not kept.
 */
static int objfs_mknod(const char *path, mode_t mode, dev_t rdev)
{
	struct objfs_ctx *ctx = ctx_get();
	char key[OBJFS_KEY_MAX + 1], etag[OBJFS_ETAG_MAX] = "";
	struct objfs_fileattr a;
	struct fuse_file_info fi;
	struct objfs_path p;
	struct meta_entry e;
	struct stat st;
	int rc;

	if (S_ISREG(mode)) {
		memset(&fi, 0, sizeof(fi));
		rc = objfs_create(path, mode, &fi);
		if (rc == 0) {
			struct handle *h = (struct handle *)(uintptr_t)fi.fh;

			handle_unlink(h);
			rc = file_commit(h->f);
			handle_free(h);
		}
		return rc;
	}
	if (!S_ISFIFO(mode) && !S_ISSOCK(mode) && !S_ISCHR(mode) && !S_ISBLK(mode))
		return -EINVAL;
	rc = resolve_new(ctx, path, &p);
	if (rc)
		return rc;
	if (!p.rel[0] || stat_path(ctx, &p, &st) == 0)
		return -EEXIST;
	rc = tenant_key(p.tenant, p.rel, key, sizeof(key));
	if (rc)
		return rc;
	new_attr(&a, mode);
	rc = quota_add_object(p.tenant);   /* an object like any file */
	if (rc)
		return rc;
	quota_op_begin(p.tenant);
	rc = put_small(p.tenant, key, NULL, 0, "application/octet-stream", &a, etag);
	if (rc)
		quota_unreserve_object(p.tenant);
	else
		quota_object_created(p.tenant, 0);
	quota_op_end(p.tenant);
	if (rc)
		return rc;
	entry_from_attr(&e, META_FILE, &a);
	e.etag = etag;
	meta_put(ctx->meta, p.tenant->name, p.rel, &e, NULL);
	return 0;
}

/*
 * p's entry for an open (close-to-open): the cached one, or the store's when
 * the cached one is older than revalidate_ms (directories are not checked).
 * *changed (may be NULL) is set when the store's ETag is not the cached one.
 */
static int lookup_for_open(struct objfs_ctx *ctx, struct objfs_path *p, struct meta_entry *e,
			   int *changed)
{
	char *old_etag;
	int rc = lookup_entry(ctx, p->tenant, p->rel, e, 0);

	if (rc || e->type == META_DIR ||
	    meta_now_ms() - e->fetched_ms < (int64_t)ctx->cfg->revalidate_ms)
		return rc;
	old_etag = e->etag;
	e->etag = NULL;
	meta_entry_clear(e);
	rc = lookup_entry(ctx, p->tenant, p->rel, e, 1);
	if (rc == 0 && changed)
		*changed = !old_etag || !e->etag || strcmp(old_etag, e->etag);
	free(old_etag);
	return rc;
}

/*
 * Close-to-open for a file that is already open (another handle, a pending
 * upload, or a release the kernel has not sent yet): a file with no local
 * changes checks its object as a fresh open would.  Gone: -ENOENT (handles
 * already open keep what they read); a new version: adopted, *changed = 1.
 * A file with local changes keeps them: they are newer than the store.
 */
static int revalidate_open_file(struct objfs_ctx *ctx, struct objfs_path *p,
				struct objfs_file *f, int *changed)
{
	struct objfs_fileattr a;
	struct meta_entry e;
	char *base = file_clean_base(f);
	int rc;

	if (!base)
		return 0;
	rc = lookup_for_open(ctx, p, &e, NULL);
	if (rc == 0 && e.type == META_DIR)
		rc = -EISDIR;
	if (rc == -ENOENT)   /* a create at the path must not find this file */
		files_detach_clean(ctx->files, f, base);
	if (rc == 0 && e.etag && strcmp(e.etag, base)) {
		attr_from_entry(&e, &a);
		if (file_adopt(f, base, &e, &a) == 0 && changed)
			*changed = 1;
		objfs_fileattr_clear(&a);
	}
	meta_entry_clear(&e);
	free(base);
	return rc;
}

/* The file object for an existing path (opening it from its base object). */
static int file_for_path(struct objfs_ctx *ctx, struct objfs_path *p, int revalidate,
			 struct objfs_file **out, int *changed)
{
	struct objfs_fileattr a;
	struct objfs_file *f;
	struct meta_entry e;
	int rc;

	*out = NULL;
	if (changed)
		*changed = 0;
	if (!p->tenant || !p->rel[0])
		return -EISDIR;
	f = files_lookup(ctx->files, p->tenant, p->rel);
	if (f) {
		rc = revalidate ? revalidate_open_file(ctx, p, f, changed) : 0;
		if (rc) {
			file_put(f);
			return rc;
		}
		*out = f;
		return 0;
	}
	rc = revalidate ? lookup_for_open(ctx, p, &e, changed)
			: lookup_entry(ctx, p->tenant, p->rel, &e, 0);
	if (rc)
		return rc;
	if (e.type == META_DIR) {
		meta_entry_clear(&e);
		return -EISDIR;
	}
	attr_from_entry(&e, &a);
	rc = files_get(ctx->files, p->tenant, p->rel, e.ino, &e, &a, &f);
	objfs_fileattr_clear(&a);
	meta_entry_clear(&e);
	*out = f;
	return rc;
}

static int objfs_open(const char *path, struct fuse_file_info *fi)
{
	struct objfs_ctx *ctx = ctx_get();
	struct objfs_file *f;
	struct objfs_path p;
	struct handle *h;
	int changed = 0, rc = resolve(ctx, path, &p);

	if (rc)
		return rc;
	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		if (!p.tenant)
			return -EISDIR;
		if (p.tenant->conf->read_only)
			return -EROFS;
	}
	rc = file_for_path(ctx, &p, 1, &f, &changed);
	/* The kernel opens a name it still has cached; the object is gone from
	 * the store.  ESTALE makes it walk the path again with a fresh lookup,
	 * so the caller gets ENOENT, or a create when it passed O_CREAT (which
	 * the kernel does not pass on to open). */
	if (rc == -ENOENT)
		return -ESTALE;
	if (rc)
		return rc;
	if ((fi->flags & O_TRUNC) && (fi->flags & O_ACCMODE) != O_RDONLY) {
		rc = file_truncate(f, 0);
		if (rc) {
			file_put(f);
			return rc;
		}
	}
	h = handle_new(f);
	if (!h) {
		file_put(f);
		return -ENOMEM;
	}
	if ((fi->flags & O_TRUNC) && (fi->flags & O_ACCMODE) != O_RDONLY)
		handle_changed(h);
	fi->keep_cache = !changed;
	fi->fh = (uint64_t)(uintptr_t)h;
	if (changed)   /* another client changed it: drop the kernel's size and pages */
		fuse_invalidate_path(fuse_get_context()->fuse, path);
	return 0;
}

static int objfs_read(const char *path, char *buf, size_t size, off_t off,
		      struct fuse_file_info *fi)
{
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;

	return (int)file_read(h->f, buf, size, (uint64_t)off, (uint64_t)(uintptr_t)h);
}

static int objfs_write(const char *path, const char *buf, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;
	ssize_t n;

	if (h->f->tenant->conf->read_only)
		return -EROFS;
	n = file_write(h->f, buf, size, (uint64_t)off);
	handle_changed(h);            /* after the write, so a racing flush covers it */
	return (int)n;
}

static int objfs_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	struct objfs_ctx *ctx = ctx_get();
	struct objfs_file *f;
	struct objfs_path p;
	int rc;

	if (size < 0)
		return -EINVAL;
	if (fi && fi->fh) {
		struct handle *h = (struct handle *)(uintptr_t)fi->fh;

		if (h->f->tenant->conf->read_only)
			return -EROFS;
		rc = file_truncate(h->f, (uint64_t)size);
		handle_changed(h);
		return rc;
	}
	rc = resolve_mut(ctx, path, &p);
	if (rc)
		return rc;
	rc = file_for_path(ctx, &p, 0, &f, NULL);
	if (rc)
		return rc;
	rc = file_truncate(f, (uint64_t)size);
	if (rc == 0)
		rc = file_commit(f);      /* no handle will close: commit now */
	file_put(f);
	return rc;
}

static int objfs_flush(const char *path, struct fuse_file_info *fi)
{
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;

	return handle_commit(h);
}

static int objfs_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	struct objfs_ctx *ctx = ctx_get();
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;
	int rc = file_commit(h->f);

	if (rc == 0 && ctx->cfg->sync_upload)
		rc = writeback_wait_file(ctx->wb, h->f, ctx->cfg->drain_timeout_s);
	return rc;
}

static int objfs_release(const char *path, struct fuse_file_info *fi)
{
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;

	handle_unlink(h);
	handle_free(h);
	return 0;
}

static int objfs_fsyncdir(const char *path, int datasync, struct fuse_file_info *fi)
{
	/* namespace changes are synchronous at the provider */
	return 0;
}

/*
 * Removes the object of a file.  A file with open handles first gets a
 * private copy of its content in staging; when hide_as is given (libfuse's
 * .fuse_hidden name for an unlinked open file) it stays reachable under that
 * name until its last close, else it just leaves the table.
 */
static int remove_file(struct objfs_ctx *ctx, struct objfs_path *p, const char *hide_as)
{
	char key[OBJFS_KEY_MAX + 1];
	struct objfs_file *f;
	struct objfs_err err;
	struct meta_entry neg;
	uint64_t q_size = 0;             /* quota: the landed object that goes, if q_gone */
	int q_gone = 0;
	int rc = tenant_key(p->tenant, p->rel, key, sizeof(key));

	if (rc)
		return rc;
	/* trash_days: the landed object is kept first; if it cannot be, it
	 * stays (trash.h) */
	rc = objfs_trash_keep(p->tenant, p->rel);
	if (rc)
		return rc;
	f = files_lookup(ctx->files, p->tenant, p->rel);
	if (f) {
		rc = file_materialize(f);
		if (rc) {
			file_put(f);
			return rc;
		}
		/* the quota stops counting it (its open handles live on in staging):
		 * a file never landed gives its reservation back, a landed one is
		 * subtracted once its object is gone */
		pthread_mutex_lock(&f->lock);
		if (f->q_obj)
			quota_unreserve_object(p->tenant);
		else
			q_gone = 1;
		q_size = f->q_base;
		quota_release(p->tenant, f->q_res);
		f->q_base = f->q_res = 0;
		f->q_obj = 0;
		pthread_mutex_unlock(&f->lock);
		if (hide_as) {
			files_rename(ctx->files, p->tenant, p->rel, hide_as);
			pthread_mutex_lock(&f->lock);
			f->unlinked = 1;
			pthread_mutex_unlock(&f->lock);
		} else {
			files_detach(ctx->files, f);
		}
		writeback_cancel_file(ctx->wb, f);
		file_put(f);
	} else if (quota_active(p->tenant) &&
		   meta_get(ctx->meta, p->tenant->name, p->rel, &neg) == 0) {
		q_gone = neg.type == META_FILE || neg.type == META_LINK;
		q_size = neg.size;
		meta_entry_clear(&neg);
	}
	quota_op_begin(p->tenant);
	rc = objfs_prov_del(p->tenant->prov, p->tenant->bucket, key, &err);
	if (rc == 0 && q_gone)
		quota_remove_object(p->tenant, q_size);
	quota_op_end(p->tenant);
	if (rc) {
		log_warn("unlink %s/%s: %s", p->tenant->bucket, key, err.msg);
		return rc;
	}
	meta_del(ctx->meta, p->tenant->name, p->rel);
	memset(&neg, 0, sizeof(neg));
	neg.type = META_NEG;
	neg.fetched_ms = meta_now_ms();
	meta_put(ctx->meta, p->tenant->name, p->rel, &neg, NULL);
	return 0;
}

static int objfs_unlink(const char *path)
{
	struct objfs_ctx *ctx = ctx_get();
	struct objfs_file *f;
	struct objfs_path p;
	struct stat st;
	int rc = resolve_mut(ctx, path, &p);

	/* the kernel's cleanup of an unlinked file's last close: a reload may
	 * have made the tenant read-only since the unlink */
	if (rc == -EROFS && p.rel[0] && is_hidden(p.rel))
		rc = 0;
	if (rc)
		return rc;
	if (!p.rel[0])
		return -EPERM;
	if (is_hidden(p.rel)) {
		/* last close of an unlinked file: its object is already gone */
		f = files_lookup(ctx->files, p.tenant, p.rel);
		if (!f)
			return -ENOENT;
		files_detach(ctx->files, f);
		file_put(f);
		return 0;
	}
	rc = stat_path(ctx, &p, &st);
	if (rc)
		return rc;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	return remove_file(ctx, &p, NULL);
}

/* ---- rename ---- */

static void commit_and_wait(struct objfs_file *f, void *arg)
{
	int *rc = arg;
	int r = file_commit(f);

	writeback_expedite_file(f->ctx->wb, f);
	if (r == 0)
		r = writeback_wait_file(f->ctx->wb, f, f->ctx->cfg->drain_timeout_s);
	if (r && !*rc)
		*rc = r;
}

static int move_object(struct objfs_tenant *t, const char *from_key, const char *to_key,
		       char *etag)
{
	struct objfs_err err;
	int rc = objfs_prov_copy(t->prov, t->bucket, from_key, to_key, NULL, etag, &err);

	if (rc) {
		log_warn("rename: copy %s -> %s: %s", from_key, to_key, err.msg);
		return rc;
	}
	rc = objfs_prov_del(t->prov, t->bucket, from_key, &err);
	if (rc)
		log_warn("rename: delete %s: %s", from_key, err.msg);
	return rc;
}

/* One listing page of a directory rename, moved by up to RENAME_THREADS
 * threads: each takes the next object (copy, then delete), the first
 * failure stops the others from taking more. */
#define RENAME_THREADS 8
struct rename_page {
	struct objfs_tenant *t;
	const struct objfs_listing *l;
	const char *fkey, *tkey;
	pthread_mutex_t lock;
	size_t next;                     /* lock */
	int rc;                          /* lock: first failure */
};

static void *rename_page_worker(void *arg)
{
	struct rename_page *pg = arg;
	char nkey[OBJFS_KEY_MAX + 2];

	for (;;) {
		size_t i;
		int rc;

		pthread_mutex_lock(&pg->lock);
		i = pg->rc ? pg->l->nobjects : pg->next++;
		pthread_mutex_unlock(&pg->lock);
		if (i >= pg->l->nobjects)
			return NULL;
		if (snprintf(nkey, sizeof(nkey), "%s%s", pg->tkey,
			     pg->l->objects[i].key + strlen(pg->fkey)) >= (int)sizeof(nkey) ||
		    strlen(nkey) > OBJFS_KEY_MAX)
			rc = -ENAMETOOLONG;
		else
			rc = move_object(pg->t, pg->l->objects[i].key, nkey, NULL);
		if (rc) {
			pthread_mutex_lock(&pg->lock);
			if (!pg->rc)
				pg->rc = rc;
			pthread_mutex_unlock(&pg->lock);
		}
	}
}

static int rename_page(struct objfs_tenant *t, const struct objfs_listing *l, const char *fkey,
		       const char *tkey)
{
	struct rename_page pg = { .t = t, .l = l, .fkey = fkey, .tkey = tkey };
	pthread_t th[RENAME_THREADS];
	size_t n = l->nobjects < RENAME_THREADS ? l->nobjects : RENAME_THREADS, started = 0;

	pthread_mutex_init(&pg.lock, NULL);
	/* the calling thread works too; helpers only when there is more */
	for (size_t i = 1; i < n; i++, started++)
		if (pthread_create(&th[started], NULL, rename_page_worker, &pg))
			break;
	rename_page_worker(&pg);
	for (size_t i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&pg.lock);
	return pg.rc;
}

static int rename_dir(struct objfs_ctx *ctx, struct objfs_tenant *t, const char *from,
		      const char *to)
{
	char fkey[OBJFS_KEY_MAX + 2], tkey[OBJFS_KEY_MAX + 2];
	struct objfs_listing l;
	struct objfs_err err;
	char *token = NULL;
	int rc = 0;

	files_for_each_under(ctx->files, t, from, commit_and_wait, &rc);
	if (rc)
		return rc == -ETIMEDOUT ? -EBUSY : rc;
	if (dir_key(t, from, fkey, sizeof(fkey)) || dir_key(t, to, tkey, sizeof(tkey)))
		return -ENAMETOOLONG;
	/* the listing is of the source prefix, which shrinks as objects move:
	 * the continuation token still points past the page just moved */
	do {
		memset(&l, 0, sizeof(l));
		rc = objfs_prov_list(t->prov, t->bucket, fkey, NULL, token, 0, &l, &err);
		free(token);
		token = NULL;
		if (rc)
			break;
		rc = rename_page(t, &l, fkey, tkey);
		token = l.next_token;
		l.next_token = NULL;
		objfs_listing_clear(&l);
	} while (rc == 0 && token);
	free(token);
	if (rc)
		return rc;
	files_rename(ctx->files, t, from, to);
	meta_rename(ctx->meta, t->name, from, to);
	/* copies have new ETags: cached attributes below `to` must be refetched */
	meta_expire_tree(ctx->meta, t->name, to);
	return 0;
}

/*
 * Renames a file.  A file with uploads pending is renamed in the journal, so
 * nothing waits for an upload: its uploads are held, the object it is based
 * on (if any) is copied server-side and its entries rebased onto the copy,
 * the old key is deleted, and the entries retargeted to the new path.
 */
static int rename_file(struct objfs_ctx *ctx, struct objfs_tenant *t, const char *from,
		       const char *to)
{
	char fkey[OBJFS_KEY_MAX + 1], tkey[OBJFS_KEY_MAX + 1], etag[OBJFS_ETAG_MAX] = "";
	struct objfs_file *f, *dst;
	struct objfs_err err;
	struct meta_entry e;
	char *base = NULL;
	uint64_t q_size = 0;             /* quota: the replaced target's landed object */
	int q_gone = 0, rc = 0;

	if (tenant_key(t, from, fkey, sizeof(fkey)) || tenant_key(t, to, tkey, sizeof(tkey)))
		return -ENAMETOOLONG;
	if (quota_active(t) && meta_get(ctx->meta, t->name, to, &e) == 0) {
		q_gone = e.type == META_FILE || e.type == META_LINK;
		q_size = e.size;
		meta_entry_clear(&e);
	}
	dst = files_lookup(ctx->files, t, to);
	if (dst) {
		/* an open target knows its landed size (or that it never landed:
		 * its reservation goes when it is freed) */
		pthread_mutex_lock(&dst->lock);
		q_gone = !dst->q_obj;
		q_size = dst->q_base;
		pthread_mutex_unlock(&dst->lock);
		/* the target is replaced: whoever still holds it keeps its content */
		rc = file_materialize(dst);
		if (rc == 0) {
			files_detach(ctx->files, dst);
			writeback_cancel_file(ctx->wb, dst);
		}
		file_put(dst);
		if (rc)
			return rc;
	}
	f = files_lookup(ctx->files, t, from);
	if (!f)
		goto plain;
	rc = file_commit(f);
	if (rc) {
		file_put(f);
		return rc;
	}
	writeback_hold_file(ctx->wb, f);
	pthread_mutex_lock(&f->lock);
	if (f->base_etag && !(base = strdup(f->base_etag)))
		rc = -ENOMEM;
	pthread_mutex_unlock(&f->lock);
	if (rc == 0 && base) {
		rc = objfs_prov_copy(t->prov, t->bucket, fkey, tkey, NULL, etag, &err);
		if (rc == 0 && etag[0]) {
			rc = writeback_rebase_file(ctx->wb, f, base, etag);
			pthread_mutex_lock(&f->lock);
			if (f->base_etag && !strcmp(f->base_etag, base)) {
				free(f->base_etag);
				f->base_etag = strdup(etag);
			}
			pthread_mutex_unlock(&f->lock);
		}
		if (rc)
			log_warn("rename %s -> %s: %s", fkey, tkey, err.msg);
		/* once the copy exists the rename completes; an old key that cannot
		 * be deleted is left behind and logged */
		if (rc == 0 && objfs_prov_del(t->prov, t->bucket, fkey, &err))
			log_warn("rename %s -> %s: old object not deleted: %s", fkey, tkey, err.msg);
	}
	if (rc == 0)
		rc = writeback_retarget_file(ctx->wb, f, to);
	if (rc == 0)
		files_rename(ctx->files, t, from, to);
	writeback_unhold_file(ctx->wb, f);
	free(base);
	file_put(f);
	if (rc)
		return rc;
	goto cache;
plain:
	rc = move_object(t, fkey, tkey, etag);
	if (rc)
		return rc;
cache:
	if (q_gone)
		quota_remove_object(t, q_size);   /* the target object went away */
	meta_rename(ctx->meta, t->name, from, to);
	if (etag[0] && meta_get(ctx->meta, t->name, to, &e) == 0) {
		free(e.etag);
		e.etag = strdup(etag);
		meta_put(ctx->meta, t->name, to, &e, NULL);
		meta_entry_clear(&e);
	}
	return 0;
}

static int objfs_rename(const char *from, const char *to, unsigned int flags)
{
	struct objfs_ctx *ctx = ctx_get();
	struct objfs_path pf, pt;
	struct stat sf, st;
	int rc, dst_exists;

	if (flags & ~RENAME_NOREPLACE)
		return -EINVAL;          /* RENAME_EXCHANGE, RENAME_WHITEOUT */
	rc = resolve_mut(ctx, from, &pf);
	if (rc)
		return rc;
	rc = resolve_new(ctx, to, &pt);
	if (rc == -EACCES || rc == -EROFS)
		rc = objfs_path_parse(&ctx->tenants, to, &pt);
	if (rc)
		return rc;
	if (pt.tenant != pf.tenant)  /* tenants are separate stores */
		return pt.tenant && pt.tenant->conf->read_only ? -EROFS : -EXDEV;
	rc = resolve_mut(ctx, to, &pt);
	if (rc)
		return rc;
	if (!pf.rel[0] || !pt.rel[0])
		return -EBUSY;
	if (!strcmp(pf.rel, pt.rel))
		return 0;
	if (is_hidden(pt.rel))
		return remove_file(ctx, &pf, pt.rel);
	rc = stat_path(ctx, &pf, &sf);
	if (rc)
		return rc;
	dst_exists = stat_path(ctx, &pt, &st) == 0;
	if (dst_exists && (flags & RENAME_NOREPLACE))
		return -EEXIST;
	if (S_ISDIR(sf.st_mode)) {
		size_t n = strlen(pf.rel);

		if (!strncmp(pt.rel, pf.rel, n) && pt.rel[n] == '/')
			return -EINVAL;
		if (dst_exists) {
			if (!S_ISDIR(st.st_mode))
				return -ENOTDIR;
			rc = objfs_rmdir(to);   /* must be empty */
			if (rc)
				return rc;
		}
		quota_op_begin(pf.tenant);       /* objects move: no reconcile meanwhile */
		rc = rename_dir(ctx, pf.tenant, pf.rel, pt.rel);
		quota_op_end(pf.tenant);
		return rc;
	}
	if (dst_exists && S_ISDIR(st.st_mode))
		return -EISDIR;
	/* a file's type comes from its name: the new name must be allowed too
	 * (a directory's files keep theirs) */
	if (S_ISREG(sf.st_mode) && !type_allowed(pt.tenant, pt.rel, "rename"))
		return -EACCES;
	/* trash_days: the file replaced is kept first (trash.h) */
	if (dst_exists && (rc = objfs_trash_keep(pt.tenant, pt.rel)) != 0)
		return rc;
	quota_op_begin(pf.tenant);
	rc = rename_file(ctx, pf.tenant, pf.rel, pt.rel);
	quota_op_end(pf.tenant);
	return rc;
}

static int objfs_link(const char *from, const char *to)
{
	struct objfs_ctx *ctx = ctx_get();
	struct objfs_path p;

	/* a read-only tenant says so, as for every other mutation */
	if (objfs_path_parse(&ctx->tenants, to, &p) == 0 && p.tenant &&
	    p.tenant->conf->read_only)
		return -EROFS;
	if (objfs_path_parse(&ctx->tenants, from, &p) == 0 && p.tenant &&
	    p.tenant->conf->read_only)
		return -EROFS;
	return -EPERM;                   /* objects cannot share content by name */
}

/* ---- symlinks ---- */

static int objfs_symlink(const char *target, const char *path)
{
	struct objfs_ctx *ctx = ctx_get();
	char key[OBJFS_KEY_MAX + 1], etag[OBJFS_ETAG_MAX] = "";
	struct objfs_fileattr a;
	struct objfs_path p;
	struct meta_entry e;
	struct stat st;
	size_t tlen = strlen(target);
	int rc = resolve_new(ctx, path, &p);

	if (rc)
		return rc;
	if (!p.rel[0] || stat_path(ctx, &p, &st) == 0)
		return -EEXIST;
	if (tlen > 4095)
		return -ENAMETOOLONG;
	rc = tenant_key(p.tenant, p.rel, key, sizeof(key));
	if (rc)
		return rc;
	new_attr(&a, S_IFLNK | 0777);
	rc = quota_add_object(p.tenant);   /* a symlink is an object of tlen bytes */
	if (rc == 0 && (rc = quota_reserve(p.tenant, tlen)) != 0)
		quota_unreserve_object(p.tenant);
	if (rc)
		return rc;
	quota_op_begin(p.tenant);
	rc = put_small(p.tenant, key, target, tlen, "application/octet-stream", &a, etag);
	if (rc)
		quota_unreserve_object(p.tenant);
	else
		quota_object_created(p.tenant, tlen);
	quota_release(p.tenant, tlen);      /* after: never both uncounted */
	quota_op_end(p.tenant);
	if (rc)
		return rc;
	entry_from_attr(&e, META_LINK, &a);
	e.size = tlen;
	e.etag = etag;
	e.target = (char *)target;
	meta_put(ctx->meta, p.tenant->name, p.rel, &e, NULL);
	return 0;
}

static int objfs_readlink(const char *path, char *buf, size_t size)
{
	struct objfs_ctx *ctx = ctx_get();
	char key[OBJFS_KEY_MAX + 1];
	struct objfs_path p;
	struct objfs_err err;
	struct meta_entry e;
	uint64_t got = 0;
	int rc = resolve(ctx, path, &p);

	if (rc)
		return rc;
	if (!p.tenant || !p.rel[0])
		return -EINVAL;
	rc = lookup_entry(ctx, p.tenant, p.rel, &e, 0);
	if (rc)
		return rc;
	if (e.type != META_LINK) {
		meta_entry_clear(&e);
		return -EINVAL;
	}
	if (size == 0) {
		meta_entry_clear(&e);
		return -EINVAL;
	}
	if (e.target) {
		snprintf(buf, size, "%s", e.target);
	} else {
		rc = tenant_key(p.tenant, p.rel, key, sizeof(key));
		if (rc == 0)
			rc = objfs_prov_get(p.tenant->prov, p.tenant->bucket, key, 0, size - 1,
					    e.etag, buf, &got, &err);
		if (rc == 0) {
			buf[got] = '\0';
			free(e.target);
			e.target = strdup(buf);
			meta_put(ctx->meta, p.tenant->name, p.rel, &e, NULL);
		}
	}
	meta_entry_clear(&e);
	return rc;
}

/* ---- metadata: chmod, chown, utimens, xattrs ---- */

/* Applies fn to the attributes of path and persists them. */
typedef int (*attr_fn)(struct objfs_fileattr *a, void *arg);

static int change_attr(const char *path, struct fuse_file_info *fi, attr_fn fn, void *arg)
{
	struct objfs_ctx *ctx = ctx_get();
	struct objfs_file *f = NULL;
	struct objfs_fileattr a;
	struct objfs_path p;
	struct meta_entry e;
	int rc;

	if (fi && fi->fh && ((struct handle *)(uintptr_t)fi->fh)->f) {
		f = ((struct handle *)(uintptr_t)fi->fh)->f;
		if (f->tenant->conf->read_only)
			return -EROFS;
		file_ref(f);
	} else {
		if (fi && fi->fh)
			path = ((struct handle *)(uintptr_t)fi->fh)->dir_path;
		rc = resolve_mut(ctx, path, &p);
		if (rc)
			return rc;
		if (!p.rel[0])
			return -EPERM;
		f = files_lookup(ctx->files, p.tenant, p.rel);
	}
	if (f) {
		/* Staged or pending content: the change travels with a commit.
		 * Through an open handle (fchmod, futimens: what tar and cp -p do
		 * before close) it waits for that handle's close or fsync, so the
		 * file goes up once; by path it is committed now. */
		struct handle *h = fi && fi->fh ? (struct handle *)(uintptr_t)fi->fh : NULL;
		int by_handle = h && h->f == f;

		pthread_mutex_lock(&f->lock);
		rc = fn(&f->attr, arg);
		if (rc == 0) {
			f->dirty = 1;
			f->ctime_ns = now_ns();
		}
		pthread_mutex_unlock(&f->lock);
		if (rc == 0 && by_handle)
			handle_changed(h);
		else if (rc == 0)
			rc = file_commit(f);
		file_put(f);
		return rc;
	}
	rc = lookup_entry(ctx, p.tenant, p.rel, &e, 0);
	if (rc)
		return rc;
	attr_from_entry(&e, &a);
	rc = fn(&a, arg);
	if (rc == 0) {
		struct objfs_kv *kv = NULL;
		size_t nkv = 0;

		rc = objfs_objmeta_encode(&a, &kv, &nkv);
		if (rc == 0 && e.type == META_DIR) {
			rc = put_marker(ctx, p.tenant, p.rel, &a);
		} else if (rc == 0) {
			char key[OBJFS_KEY_MAX + 1], etag[OBJFS_ETAG_MAX] = "";
			struct objfs_putopts opts;
			struct objfs_err err;

			memset(&opts, 0, sizeof(opts));
			opts.content_type = objfs_content_type_for(p.rel);
			opts.meta = kv;
			opts.nmeta = nkv;
			opts.if_match = e.etag;
			rc = tenant_key(p.tenant, p.rel, key, sizeof(key));
			if (rc == 0)
				rc = objfs_prov_copy(p.tenant->prov, p.tenant->bucket, key, key, &opts,
						     etag, &err);
			if (rc)
				log_warn("metadata update %s/%s: %s", p.tenant->bucket, key, err.msg);
			else if (etag[0]) {
				free(e.etag);
				e.etag = strdup(etag);
			}
		}
		if (rc == 0) {
			e.mode = a.mode;
			e.uid = a.uid;
			e.gid = a.gid;
			e.mtime_ns = a.mtime_ns;
			free(e.xattr);
			e.xattr = NULL;
			for (size_t i = 0; i < nkv; i++)
				if (!strcmp(kv[i].key, "xattr"))
					e.xattr = strdup(kv[i].value);
			e.fetched_ms = meta_now_ms();
			meta_put(ctx->meta, p.tenant->name, p.rel, &e, NULL);
		}
		objfs_kv_free(kv, nkv);
	}
	objfs_fileattr_clear(&a);
	meta_entry_clear(&e);
	return rc;
}

static int set_mode(struct objfs_fileattr *a, void *arg)
{
	mode_t m = *(mode_t *)arg;

	a->mode = (a->mode & S_IFMT) | (m & 07777);
	a->has_mode = 1;
	return 0;
}

static int objfs_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	return change_attr(path, fi, set_mode, &mode);
}

struct owner { uid_t uid; gid_t gid; };

static int set_owner(struct objfs_fileattr *a, void *arg)
{
	struct owner *o = arg;

	if (o->uid != (uid_t)-1) {
		a->uid = o->uid;
		a->has_uid = 1;
	}
	if (o->gid != (gid_t)-1) {
		a->gid = o->gid;
		a->has_gid = 1;
	}
	return 0;
}

static int objfs_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	struct owner o = { uid, gid };

	return change_attr(path, fi, set_owner, &o);
}

static int set_mtime(struct objfs_fileattr *a, void *arg)
{
	const struct timespec *tv = arg;

	if (tv[1].tv_nsec == UTIME_OMIT)
		return 0;
	a->mtime_ns = tv[1].tv_nsec == UTIME_NOW ? now_ns()
						 : (int64_t)tv[1].tv_sec * 1000000000LL + tv[1].tv_nsec;
	a->has_mtime = 1;
	return 0;
}

static int objfs_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
	struct timespec t[2];

	if (tv) {
		t[0] = tv[0];
		t[1] = tv[1];
	} else {
		t[0].tv_nsec = t[1].tv_nsec = UTIME_NOW;
	}
	return change_attr(path, fi, set_mtime, t);
}

struct xattr_set {
	const char *name;
	const char *value;
	size_t size;
	int flags;
};

static int set_xattr(struct objfs_fileattr *a, void *arg)
{
	struct xattr_set *x = arg;
	const struct objfs_xattr *old = objfs_fileattr_get_xattr(a, x->name);

	if ((x->flags & XATTR_CREATE) && old)
		return -EEXIST;
	if ((x->flags & XATTR_REPLACE) && !old)
		return -ENODATA;
	if (!x->value)
		return objfs_fileattr_remove_xattr(a, x->name);
	return objfs_fileattr_set_xattr(a, x->name, x->value, x->size);
}

static int objfs_setxattr(const char *path, const char *name, const char *value, size_t size,
			  int flags)
{
	struct xattr_set x = { name, value, size, flags };
	struct objfs_path p;

	if (resolve_mut(ctx_get(), path, &p) == -EROFS)
		return -EROFS;       /* before the namespace, as a read-only mount does */
	if (strncmp(name, "user.", 5))
		return -ENOTSUP;         /* only the user namespace is stored */
	return change_attr(path, NULL, set_xattr, &x);
}

static int objfs_removexattr(const char *path, const char *name)
{
	struct xattr_set x = { name, NULL, 0, XATTR_REPLACE };
	struct objfs_path p;

	if (resolve_mut(ctx_get(), path, &p) == -EROFS)
		return -EROFS;       /* before the namespace, as a read-only mount does */
	if (strncmp(name, "user.", 5))
		return -ENOTSUP;
	return change_attr(path, NULL, set_xattr, &x);
}

/* Current xattrs of path into *a (caller clears). */
static int read_xattrs(const char *path, struct objfs_fileattr *a)
{
	struct objfs_ctx *ctx = ctx_get();
	struct objfs_file *f;
	struct objfs_path p;
	struct meta_entry e;
	int rc = resolve(ctx, path, &p);

	memset(a, 0, sizeof(*a));
	if (rc)
		return rc;
	if (!p.tenant)
		return 0;
	f = files_lookup(ctx->files, p.tenant, p.rel);
	if (f) {
		pthread_mutex_lock(&f->lock);
		rc = objfs_fileattr_copy(a, &f->attr);
		pthread_mutex_unlock(&f->lock);
		file_put(f);
		return rc;
	}
	rc = lookup_entry(ctx, p.tenant, p.rel, &e, 0);
	if (rc == 0)
		attr_from_entry(&e, a);
	meta_entry_clear(&e);
	return rc;
}

static int objfs_getxattr(const char *path, const char *name, char *value, size_t size)
{
	const struct objfs_xattr *x;
	struct objfs_fileattr a;
	int rc = read_xattrs(path, &a);

	if (rc)
		return rc;
	x = objfs_fileattr_get_xattr(&a, name);
	if (!x)
		rc = -ENODATA;
	else if (size == 0)
		rc = (int)x->len;
	else if (size < x->len)
		rc = -ERANGE;
	else {
		memcpy(value, x->value, x->len);
		rc = (int)x->len;
	}
	objfs_fileattr_clear(&a);
	return rc;
}

static int objfs_listxattr(const char *path, char *list, size_t size)
{
	struct objfs_fileattr a;
	size_t need = 0;
	int rc = read_xattrs(path, &a);

	if (rc)
		return rc;
	for (size_t i = 0; i < a.nxattrs; i++)
		need += strlen(a.xattrs[i].name) + 1;
	if (size == 0) {
		rc = (int)need;
	} else if (size < need) {
		rc = -ERANGE;
	} else {
		char *q = list;

		for (size_t i = 0; i < a.nxattrs; i++) {
			size_t l = strlen(a.xattrs[i].name) + 1;

			memcpy(q, a.xattrs[i].name, l);
			q += l;
		}
		rc = (int)need;
	}
	objfs_fileattr_clear(&a);
	return rc;
}

/* ---- misc ---- */

static int objfs_statfs(const char *path, struct statvfs *sv)
{
	struct objfs_ctx *ctx = ctx_get();
	struct quota_usage u;
	struct objfs_path p;

	memset(sv, 0, sizeof(*sv));
	/* object stores have no fixed size: report 1 PiB, like s3fs does for S3 */
	sv->f_bsize = 4096;
	sv->f_frsize = 4096;
	sv->f_blocks = (fsblkcnt_t)((1ULL << 50) / 4096);
	sv->f_bfree = sv->f_blocks;
	sv->f_bavail = sv->f_blocks;
	sv->f_files = 1ULL << 32;
	sv->f_ffree = sv->f_files;
	sv->f_favail = sv->f_files;
	sv->f_namemax = OBJFS_NAME_MAX;
	/* inside a tenant with a quota: its limits and usage, so df shows them
	 * (bytes in 4 KiB blocks rounded up, the limit rounded down) */
	if (path && objfs_path_parse(&ctx->tenants, path, &p) == 0 && p.tenant &&
	    quota_usage(p.tenant, &u) == 0) {
		if (u.max_bytes) {
			fsblkcnt_t used = (fsblkcnt_t)((u.bytes + 4095) / 4096);

			sv->f_blocks = (fsblkcnt_t)(u.max_bytes / 4096);
			sv->f_bfree = used < sv->f_blocks ? sv->f_blocks - used : 0;
			sv->f_bavail = sv->f_bfree;
		}
		if (u.max_objects) {
			sv->f_files = (fsfilcnt_t)u.max_objects;
			sv->f_ffree = u.objects < u.max_objects ? (fsfilcnt_t)(u.max_objects - u.objects) : 0;
			sv->f_favail = sv->f_ffree;
		}
	}
	return 0;
}

static int objfs_access(const char *path, int mask)
{
	struct objfs_ctx *ctx = ctx_get();
	struct objfs_path p;
	struct stat st;
	int rc = resolve(ctx, path, &p);

	if (rc)
		return rc;
	if ((mask & W_OK) && p.tenant && p.tenant->conf->read_only)
		return -EROFS;
	return stat_path(ctx, &p, &st);
}

static void *objfs_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	struct objfs_ctx *ctx = ctx_get();
	int rc;

	cfg->use_ino = 1;
	cfg->hard_remove = 0;            /* see is_hidden() */
	cfg->nullpath_ok = 1;
	cfg->entry_timeout = 1.0;
	cfg->attr_timeout = 1.0;
	cfg->negative_timeout = 1.0;
	if (conn->capable & FUSE_CAP_ASYNC_READ)
		conn->want |= FUSE_CAP_ASYNC_READ;
	conn->max_write = 1 << 20;
	conn->max_readahead = 1 << 20;
	/* threads start here, after fuse_main() has daemonised */
	rc = writeback_recover(ctx->wb);
	if (rc)
		log_err("journal recovery failed: %s", strerror(-rc));
	rc = writeback_start(ctx->wb);
	if (rc)
		log_err("cannot start upload workers: %s", strerror(-rc));
	log_info("mounted: %zu tenant(s)", objfs_tenants_count(&ctx->tenants));
	objfs_notify_ready(ctx);
	return ctx;
}

static void objfs_destroy(void *private_data)
{
	struct objfs_ctx *ctx = private_data;
	size_t left;

	/* handles whose release the kernel dropped at unmount */
	pthread_mutex_lock(&handles_lock);
	while (handles) {
		struct handle *h = handles;

		handles = h->next;
		pthread_mutex_unlock(&handles_lock);
		handle_free(h);
		pthread_mutex_lock(&handles_lock);
	}
	pthread_mutex_unlock(&handles_lock);
	log_info("unmounting: draining %zu pending upload(s)", writeback_pending(ctx->wb));
	if (drain_deadline_ms) {         /* a stop flushed already: what is left of its time */
		int64_t rest = drain_deadline_ms - meta_now_ms();

		left = writeback_drain(ctx->wb, rest > 0 ? (unsigned)((rest + 999) / 1000) : 0);
	} else {
		left = writeback_drain(ctx->wb, ctx->cfg->drain_timeout_s);
	}
	if (left)
		log_warn("drain timeout: %zu upload(s) left in the journal; they resume at next start",
			 left);
	else
		log_info("all uploads landed");
}

/* ---- instrumentation: metrics and the audit log around every operation ----
 *
 * Each FUSE entry point below times the operation it wraps, counts it for
 * its tenant (metrics.h) and, for mutations, writes an audit record
 * (audit.h) with the caller's uid and pid.  The tenant is taken from the
 * path, or from the handle when FUSE passes no path (nullpath_ok), and
 * always before the call: release frees the handle.
 */

struct op_scope {
	enum objfs_fsop op;
	struct objfs_tenant *t;
	const char *path;            /* as FUSE gave it, may be NULL */
	struct timespec t0;
};

static struct objfs_tenant *path_tenant(const char *path)
{
	const char *s, *e;

	if (!path || path[0] != '/')
		return NULL;
	s = path + 1;
	e = strchrnul(s, '/');
	return objfs_tenant_find(&ctx_get()->tenants, s, (size_t)(e - s));
}

static struct handle *fi_handle(const struct fuse_file_info *fi)
{
	return fi ? (struct handle *)(uintptr_t)fi->fh : NULL;
}

static void op_begin(struct op_scope *sc, enum objfs_fsop op, const char *path,
		     const struct fuse_file_info *fi)
{
	struct handle *h = fi_handle(fi);

	sc->op = op;
	sc->path = path;
	/* a file handle knows its tenant: reads and writes skip the name lookup */
	if (h && h->f)
		sc->t = h->f->tenant;
	else if (path)
		sc->t = path_tenant(path);
	else
		sc->t = h ? path_tenant(h->dir_path) : NULL;
	clock_gettime(CLOCK_MONOTONIC, &sc->t0);
}

/* The tenant-relative part of a mount path ("/acme/a/b" -> "a/b"). */
static const char *rel_of(const char *path)
{
	const char *s;

	if (!path)
		return NULL;
	s = strchr(path + (path[0] == '/'), '/');
	return s ? s + 1 : "";
}

static void audit_op(const struct op_scope *sc, const char *path, const char *to, int rc,
		     const char *detail)
{
	struct fuse_context *fc;

	if (!objfs_audit_enabled())
		return;
	fc = fuse_get_context();
	objfs_audit(fc->uid, fc->pid, sc->t ? sc->t->name : NULL, objfs_fsop_names[sc->op],
		    path, to, rc, detail);
}

static int op_end(const struct op_scope *sc, int rc)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	objfs_metrics_fs_op(sc->op, sc->t, rc < 0 ? rc : 0,
			    (int64_t)(t1.tv_sec - sc->t0.tv_sec) * 1000000000LL +
			    (t1.tv_nsec - sc->t0.tv_nsec));
	return rc;
}

/* op_end() for a mutation of sc->path (to: the second path, or NULL). */
static int op_end_audit(const struct op_scope *sc, int rc, const char *to)
{
	audit_op(sc, rel_of(sc->path), to, rc < 0 ? rc : 0, op_detail[0] ? op_detail : NULL);
	op_detail[0] = '\0';
	return op_end(sc, rc);
}

#define HOOK_READ(OP, PATH, FI, CALL) do {                      \
		struct op_scope sc_;                            \
		op_begin(&sc_, OP, PATH, FI);                   \
		return op_end(&sc_, CALL);                      \
	} while (0)
#define HOOK_MUT(OP, PATH, FI, TO, CALL) do {                   \
		struct op_scope sc_;                            \
		op_begin(&sc_, OP, PATH, FI);                   \
		return op_end_audit(&sc_, CALL, TO);            \
	} while (0)

static int h_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{ HOOK_READ(OBJFS_FSOP_GETATTR, path, fi, objfs_getattr(path, st, fi)); }
static int h_access(const char *path, int mask)
{ HOOK_READ(OBJFS_FSOP_ACCESS, path, NULL, objfs_access(path, mask)); }
static int h_readlink(const char *path, char *buf, size_t size)
{ HOOK_READ(OBJFS_FSOP_READLINK, path, NULL, objfs_readlink(path, buf, size)); }
static int h_opendir(const char *path, struct fuse_file_info *fi)
{ HOOK_READ(OBJFS_FSOP_OPENDIR, path, NULL, objfs_opendir(path, fi)); }
static int h_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
		     struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{ HOOK_READ(OBJFS_FSOP_READDIR, path, fi, objfs_readdir(path, buf, filler, off, fi, flags)); }
static int h_releasedir(const char *path, struct fuse_file_info *fi)
{ HOOK_READ(OBJFS_FSOP_RELEASEDIR, path, fi, objfs_releasedir(path, fi)); }
static int h_mknod(const char *path, mode_t mode, dev_t rdev)
{ HOOK_MUT(OBJFS_FSOP_MKNOD, path, NULL, NULL, objfs_mknod(path, mode, rdev)); }
static int h_mkdir(const char *path, mode_t mode)
{ HOOK_MUT(OBJFS_FSOP_MKDIR, path, NULL, NULL, objfs_mkdir(path, mode)); }
static int h_symlink(const char *target, const char *path)
{ HOOK_MUT(OBJFS_FSOP_SYMLINK, path, NULL, target, objfs_symlink(target, path)); }
static int h_unlink(const char *path)
{ HOOK_MUT(OBJFS_FSOP_UNLINK, path, NULL, NULL, objfs_unlink(path)); }
static int h_rmdir(const char *path)
{ HOOK_MUT(OBJFS_FSOP_RMDIR, path, NULL, NULL, objfs_rmdir(path)); }
static int h_rename(const char *from, const char *to, unsigned int flags)
{ HOOK_MUT(OBJFS_FSOP_RENAME, from, NULL, rel_of(to), objfs_rename(from, to, flags)); }
static int h_link(const char *from, const char *to)
{ HOOK_MUT(OBJFS_FSOP_LINK, to, NULL, rel_of(from), objfs_link(from, to)); }
static int h_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{ HOOK_MUT(OBJFS_FSOP_CHMOD, path, fi, NULL, objfs_chmod(path, mode, fi)); }
static int h_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{ HOOK_MUT(OBJFS_FSOP_CHOWN, path, fi, NULL, objfs_chown(path, uid, gid, fi)); }
static int h_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{ HOOK_MUT(OBJFS_FSOP_TRUNCATE, path, fi, NULL, objfs_truncate(path, size, fi)); }
static int h_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{ HOOK_MUT(OBJFS_FSOP_UTIMENS, path, fi, NULL, objfs_utimens(path, tv, fi)); }
/* Remembers who opened a file handle and as what, for its "write" record. */
static void note_opener(const char *path, struct fuse_file_info *fi, int rc)
{
	struct handle *h = fi_handle(fi);
	struct fuse_context *fc;

	if (rc || !h || !objfs_audit_enabled() || !(fi->flags & O_ACCMODE))
		return;
	fc = fuse_get_context();
	h->audit_path = strdup(rel_of(path));
	h->audit_uid = fc->uid;
	h->audit_pid = fc->pid;
}

static int h_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct op_scope sc;
	int rc;

	op_begin(&sc, OBJFS_FSOP_CREATE, path, NULL);
	rc = objfs_create(path, mode, fi);
	note_opener(path, fi, rc);
	return op_end_audit(&sc, rc, NULL);
}
static int h_setxattr(const char *path, const char *name, const char *value, size_t size,
		      int flags)
{ HOOK_MUT(OBJFS_FSOP_SETXATTR, path, NULL, NULL, objfs_setxattr(path, name, value, size, flags)); }
static int h_removexattr(const char *path, const char *name)
{ HOOK_MUT(OBJFS_FSOP_REMOVEXATTR, path, NULL, NULL, objfs_removexattr(path, name)); }
static int h_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{ HOOK_READ(OBJFS_FSOP_READ, path, fi, objfs_read(path, buf, size, off, fi)); }
static int h_statfs(const char *path, struct statvfs *sv)
{ HOOK_READ(OBJFS_FSOP_STATFS, path, NULL, objfs_statfs(path, sv)); }
static int h_flush(const char *path, struct fuse_file_info *fi)
{ HOOK_READ(OBJFS_FSOP_FLUSH, path, fi, objfs_flush(path, fi)); }
static int h_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{ HOOK_READ(OBJFS_FSOP_FSYNC, path, fi, objfs_fsync(path, datasync, fi)); }
static int h_fsyncdir(const char *path, int datasync, struct fuse_file_info *fi)
{ HOOK_READ(OBJFS_FSOP_FSYNCDIR, path, fi, objfs_fsyncdir(path, datasync, fi)); }
static int h_getxattr(const char *path, const char *name, char *value, size_t size)
{ HOOK_READ(OBJFS_FSOP_GETXATTR, path, NULL, objfs_getxattr(path, name, value, size)); }
static int h_listxattr(const char *path, char *list, size_t size)
{ HOOK_READ(OBJFS_FSOP_LISTXATTR, path, NULL, objfs_listxattr(path, list, size)); }

/* open: a write-open of an existing file is where a content change starts;
 * the audit record of the change itself comes at release ("write"). */
static int h_open(const char *path, struct fuse_file_info *fi)
{
	struct op_scope sc;
	int rc;

	op_begin(&sc, OBJFS_FSOP_OPEN, path, NULL);
	rc = objfs_open(path, fi);
	note_opener(path, fi, rc);
	if (rc == -EROFS)            /* a refused write-open is a refused mutation */
		audit_op(&sc, rel_of(path), NULL, rc, "open for writing");
	return op_end(&sc, rc);
}

/* Writes are audited once per handle, at release, with the first error. */
static int h_write(const char *path, const char *buf, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	struct handle *h = fi_handle(fi);
	struct op_scope sc;
	int rc;

	op_begin(&sc, OBJFS_FSOP_WRITE, path, fi);
	rc = objfs_write(path, buf, size, off, fi);
	if (h) {
		if (!h->wrote)
			h->wrote = 1;
		if (rc < 0 && !h->write_err)
			h->write_err = rc;
	}
	return op_end(&sc, rc);
}

static int h_release(const char *path, struct fuse_file_info *fi)
{
	struct handle *h = fi_handle(fi);
	int wrote = h && h->wrote && h->audit_path;
	struct op_scope sc;
	int rc;

	op_begin(&sc, OBJFS_FSOP_RELEASE, path, fi);
	if (wrote)
		objfs_audit(h->audit_uid, h->audit_pid, sc.t ? sc.t->name : NULL, "write",
			    h->audit_path, NULL, h->write_err, NULL);
	rc = objfs_release(path, fi);          /* frees h */
	return op_end(&sc, rc);
}

static const struct fuse_operations objfs_ops = {
	.init = objfs_init,
	.destroy = objfs_destroy,
	.getattr = h_getattr,
	.access = h_access,
	.readlink = h_readlink,
	.opendir = h_opendir,
	.readdir = h_readdir,
	.releasedir = h_releasedir,
	.mknod = h_mknod,
	.mkdir = h_mkdir,
	.symlink = h_symlink,
	.unlink = h_unlink,
	.rmdir = h_rmdir,
	.rename = h_rename,
	.link = h_link,
	.chmod = h_chmod,
	.chown = h_chown,
	.truncate = h_truncate,
	.utimens = h_utimens,
	.create = h_create,
	.open = h_open,
	.read = h_read,
	.write = h_write,
	.statfs = h_statfs,
	.flush = h_flush,
	.release = h_release,
	.fsync = h_fsync,
	.fsyncdir = h_fsyncdir,
	.setxattr = h_setxattr,
	.getxattr = h_getxattr,
	.listxattr = h_listxattr,
	.removexattr = h_removexattr,
};

/*
 * The kernel reads ahead on a FUSE mount at most its backing device's
 * read_ahead_kb (128 KiB by default; max_readahead can only lower it), which
 * caps every sequential read request at 128 KiB.  Raise it to `kb` through
 * sysfs.  The mount's device number comes from /proc/self/mountinfo, so
 * nothing touches the mount itself (which would wait for FUSE init).
 * Best effort: needs root, and is logged when it fails.
 */
static void set_read_ahead(const char *mountpoint, unsigned kb)
{
	char line[8192], path[128], real[PATH_MAX];
	unsigned major = 0, minor = 0;
	int found = 0;
	FILE *mi, *ra;

	if (!realpath(mountpoint, real))
		return;
	mi = fopen("/proc/self/mountinfo", "r");
	if (!mi)
		return;
	/* "36 35 0:52 / /mnt/store rw,... - fuse.objfs objfs rw,..." (last match wins) */
	while (fgets(line, sizeof(line), mi)) {
		char mnt[PATH_MAX], fstype[64];
		unsigned ma, mi_;

		if (sscanf(line, "%*u %*u %u:%u %*s %4095s", &ma, &mi_, mnt) != 3)
			continue;
		const char *dash = strstr(line, " - ");
		if (!dash || sscanf(dash + 3, "%63s", fstype) != 1)
			continue;
		if (!strcmp(mnt, real) && !strncmp(fstype, "fuse", 4)) {
			major = ma;
			minor = mi_;
			found = 1;
		}
	}
	fclose(mi);
	if (!found)
		return;
	snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/read_ahead_kb", major, minor);
	ra = fopen(path, "w");
	if (!ra || fprintf(ra, "%u\n", kb) < 0 || fclose(ra) != 0) {
		log_debug("cannot set %s: %s", path, strerror(errno));
		return;
	}
	log_debug("read-ahead of the mount set to %u KiB", kb);
}

/* ---- signals: SIGTERM/SIGINT stop (flush, then unmount), SIGHUP reloads ----
 *
 * The handlers only post a semaphore; the signal thread does the work, so
 * a reload or a flush never runs in signal context or on a FUSE thread.
 * A stop flushes while the mount is still up (writes keep working), then
 * ends the FUSE loop: fuse_session_exit() plus SIGUSR2 to the loop's thread
 * to interrupt its wait.  The unmount's own drain (objfs_destroy) gets
 * what is left of drain_timeout.
 */
static sem_t sig_sem;
static volatile sig_atomic_t sig_stop, sig_reload;
static int sig_thread_quit;              /* set by objfs_fs_main, then sem_post */

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		sig_reload = 1;
	else
		sig_stop = 1;
	sem_post(&sig_sem);
}

static void on_wakeup(int sig)
{
	(void)sig;                       /* only interrupts the loop's wait */
}

struct sig_thread_arg {
	struct objfs_ctx *ctx;
	struct fuse_session *se;
	pthread_t loop_thread;
};

static void *signal_thread(void *arg)
{
	struct sig_thread_arg *a = arg;
	struct objfs_ctx *ctx = a->ctx;
	char msg[512];

	for (;;) {
		while (sem_wait(&sig_sem) != 0 && errno == EINTR)
			;
		if (__atomic_load_n(&sig_thread_quit, __ATOMIC_ACQUIRE))
			return NULL;
		if (sig_reload) {
			sig_reload = 0;
			objfs_notify_reloading();
			if (objfs_reload(ctx, msg, sizeof(msg)) == 0)
				log_info("reload: %s", msg);
			else
				log_err("reload failed, configuration unchanged: %s", msg);
			if (objfs_audit_reopen())
				log_err("cannot reopen the audit log");
			objfs_notify_reloaded(ctx);
		}
		if (sig_stop) {
			size_t left;

			objfs_notify_stopping();
			objfs_services_quiesce(ctx);
			drain_deadline_ms = meta_now_ms() + (int64_t)ctx->cfg->drain_timeout_s * 1000;
			log_info("stopping: flushing %zu pending upload(s) before unmounting",
				 writeback_pending(ctx->wb));
			objfs_notify_status("stopping: flushing %zu pending upload(s)",
					    writeback_pending(ctx->wb));
			left = writeback_drain(ctx->wb, ctx->cfg->drain_timeout_s);
			if (left)
				log_warn("stopping: %zu upload(s) still pending at the drain timeout",
					 left);
			fuse_session_exit(a->se);
			pthread_kill(a->loop_thread, SIGUSR2);
			return NULL;
		}
	}
}

static int set_handler(int sig, void (*fn)(int))
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fn;
	sigemptyset(&sa.sa_mask);
	return sigaction(sig, &sa, NULL);
}

/* The mounted filesystem, for objfs_fs_invalidate from service threads: set
 * once mounted, cleared after the services stopped (before the unmount). */
static struct fuse *live_fuse;

void objfs_fs_invalidate(const struct objfs_tenant *t, const char *rel)
{
	struct fuse *fuse = __atomic_load_n(&live_fuse, __ATOMIC_ACQUIRE);
	char path[OBJFS_NAME_MAX + OBJFS_KEY_MAX + 3];

	if (!fuse || snprintf(path, sizeof(path), "/%s%s%s", t->name, rel[0] ? "/" : "", rel) >=
			     (int)sizeof(path))
		return;
	fuse_invalidate_path(fuse, path);
}

int objfs_fs_main(struct objfs_ctx *ctx, int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts opts;
	struct fuse_loop_config *lc = NULL;
	struct fuse_session *se = NULL;
	struct fuse *fuse = NULL;
	struct sig_thread_arg sta;
	pthread_t sig_tid;
	char err[512];
	int res = 1, mounted = 0, handlers = 0, services = 0, sig_started = 0;

	memset(&opts, 0, sizeof(opts));
	if (fuse_parse_cmdline(&args, &opts) != 0)
		goto out;
	if (!opts.mountpoint) {
		fprintf(stderr, "objfs: no mount point\n");
		goto out;
	}
	fuse = fuse_new(&args, &objfs_ops, sizeof(objfs_ops), ctx);
	if (!fuse)
		goto out;
	if (fuse_mount(fuse, opts.mountpoint) != 0)
		goto out;
	mounted = 1;
	__atomic_store_n(&live_fuse, fuse, __ATOMIC_RELEASE);
	set_read_ahead(opts.mountpoint, 1024);
	if (fuse_daemonize(opts.foreground) != 0)
		goto out;
	se = fuse_get_session(fuse);
	if (fuse_set_signal_handlers(se) != 0)
		goto out;
	handlers = 1;
	/* our stop and reload replace libfuse's "exit at once" handlers */
	if (sem_init(&sig_sem, 0, 0) != 0 || set_handler(SIGTERM, on_signal) ||
	    set_handler(SIGINT, on_signal) || set_handler(SIGHUP, on_signal) ||
	    set_handler(SIGUSR2, on_wakeup))
		goto out;
	sta.ctx = ctx;
	sta.se = se;
	sta.loop_thread = pthread_self();
	if (pthread_create(&sig_tid, NULL, signal_thread, &sta) != 0)
		goto out;
	sig_started = 1;
	if (objfs_services_start(ctx, err, sizeof(err)) != 0) {
		log_err("%s", err);
		fprintf(stderr, "objfs: %s\n", err);
		goto out;
	}
	services = 1;
	lc = fuse_loop_cfg_create();
	if (!lc)
		goto out;
	fuse_loop_cfg_set_clone_fd(lc, opts.clone_fd);
	fuse_loop_cfg_set_max_threads(lc, opts.max_threads ? opts.max_threads : 16);
	fuse_loop_cfg_set_idle_threads(lc, opts.max_idle_threads != UINT_MAX ? opts.max_idle_threads
									    : 8);
	res = fuse_loop_mt(fuse, lc);
	/* a signal ends the loop with its number: a clean stop */
	if (res == SIGTERM || res == SIGINT || res == SIGHUP || res == SIGUSR2)
		res = 0;
	res = res ? 1 : 0;
out:
	if (sig_started) {
		__atomic_store_n(&sig_thread_quit, 1, __ATOMIC_RELEASE);
		sem_post(&sig_sem);
		pthread_join(sig_tid, NULL);
	}
	if (services)
		objfs_services_stop(ctx);
	else if (sig_started)
		objfs_services_stop(ctx);    /* whatever a failed start left running */
	__atomic_store_n(&live_fuse, NULL, __ATOMIC_RELEASE);   /* no service calls in */
	if (handlers)
		fuse_remove_signal_handlers(se);
	if (mounted)
		fuse_unmount(fuse);
	if (fuse)
		fuse_destroy(fuse);          /* runs objfs_destroy: drains the journal */
	fuse_loop_cfg_destroy(lc);
	free(opts.mountpoint);
	fuse_opt_free_args(&args);
	return res;
}
