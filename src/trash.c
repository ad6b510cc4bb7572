/*
 * The trash: keep, list, restore and purge versions under the tenant's
 * hidden area (layout and contracts in trash.h, docs/trash.md).
 *
 * Consistency without a journal of its own: a keep is a server-side copy
 * that completes before the object is deleted or replaced (so a crash in
 * between leaves the object live and, at worst, an extra version); a
 * restore copies the version out and then deletes it from the trash (a
 * crash in between leaves the file restored and the version still listed,
 * which a second restore reports as a conflict).
 *
 * Locks: kept_lock (the small cache of versions just kept) is a leaf, never
 * held across provider I/O; purge_lock guards the background thread's
 * stop flag.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "clock.h"
#include "file.h"
#include "fs.h"
#include "log.h"
#include "meta.h"
#include "objmeta.h"
#include "quota.h"
#include "trash.h"

#define TRASH_KEEP_TRIES 3      /* a keep racing another writer re-reads the object */
#define TRASH_KEPT_SLOTS 64     /* recently kept (key, ETag): a retried upload keeps once */
#define TRASH_DEL_BATCH  1000

/* ---- helpers ---- */

void objfs_trash_entries_free(struct objfs_trash_entry *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i].rel);
	free(v);
}

int64_t objfs_trash_expires_ms(const struct objfs_tenant *t, int64_t deleted_ms)
{
	const struct objfs_tenant_conf *c = __atomic_load_n(&t->conf, __ATOMIC_ACQUIRE);

	if (!c || !c->trash_days)
		return 0;
	return deleted_ms + (int64_t)c->trash_days * 86400 * 1000;
}

/* PREFIX ".objfs-trash/" into buf; 0 or -ENAMETOOLONG. */
static int trash_root(const struct objfs_tenant *t, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s%s/", t->prefix, OBJFS_TRASH_DIR);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* A new version id: deletion time now (ms) and a counter seeded at random. */
static void new_vid(char *vid, int64_t *deleted_ms)
{
	static uint32_t counter;         /* atomic; 0 until seeded */
	uint32_t c;

	*deleted_ms = objfs_clock_now_ms();
	if (__atomic_load_n(&counter, __ATOMIC_RELAXED) == 0) {
		uint32_t r = 0, zero = 0;

		/* random start: ids stay unique across restarts within one ms */
		if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
			r = (uint32_t)*deleted_ms;
		__atomic_compare_exchange_n(&counter, &zero, r | 1, 0, __ATOMIC_RELAXED,
					    __ATOMIC_RELAXED);
	}
	c = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
	snprintf(vid, OBJFS_TRASH_VID_LEN + 1, "%014" PRId64 "-%08x", *deleted_ms, c);
}

/* Parses "VID/REL" (the part of a trash key after the root).  0, or -EINVAL
 * for a key that is not ours (ignored by every caller). */
static int parse_tail(const char *tail, char *vid, int64_t *deleted_ms, const char **rel)
{
	int64_t ms = 0;

	if (strlen(tail) < OBJFS_TRASH_VID_LEN + 2 || tail[14] != '-' ||
	    tail[OBJFS_TRASH_VID_LEN] != '/')
		return -EINVAL;
	for (int i = 0; i < 14; i++) {
		if (tail[i] < '0' || tail[i] > '9')
			return -EINVAL;
		ms = ms * 10 + (tail[i] - '0');
	}
	for (int i = 15; i < OBJFS_TRASH_VID_LEN; i++)
		if (!((tail[i] >= '0' && tail[i] <= '9') || (tail[i] >= 'a' && tail[i] <= 'f')))
			return -EINVAL;
	memcpy(vid, tail, OBJFS_TRASH_VID_LEN);
	vid[OBJFS_TRASH_VID_LEN] = '\0';
	*deleted_ms = ms;
	*rel = tail + OBJFS_TRASH_VID_LEN + 1;
	return 0;
}

/* 1 if path is rel or below it (rel "" or NULL: everything). */
static int path_matches(const char *path, const char *rel)
{
	size_t n;

	if (!rel || !rel[0])
		return 1;
	n = strlen(rel);
	return !strncmp(path, rel, n) && (path[n] == '\0' || path[n] == '/');
}

/* Trash key of (vid, rel) into buf (OBJFS_KEY_MAX + 1). */
static int version_key(const struct objfs_tenant *t, const char *vid, const char *rel,
		       char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s%s/%s/%s", t->prefix, OBJFS_TRASH_DIR, vid, rel);

	return n < 0 || (size_t)n >= len || n > OBJFS_KEY_MAX ? -ENAMETOOLONG : 0;
}

/* ---- keep ---- */

/* Versions just kept, so that an upload retried after its keep (or the
 * upload of a file renamed over another, which still finds the object the
 * rename kept) keeps that object once.  Unlink and rename always keep. */
static pthread_mutex_t kept_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	size_t tenant;
	char *key;
	char etag[OBJFS_ETAG_MAX];
} kept[TRASH_KEPT_SLOTS];                 /* kept_lock */
static size_t kept_next;                  /* kept_lock */

static int kept_has(const struct objfs_tenant *t, const char *key, const char *etag)
{
	int hit = 0;

	pthread_mutex_lock(&kept_lock);
	for (size_t i = 0; i < TRASH_KEPT_SLOTS && !hit; i++)
		hit = kept[i].key && kept[i].tenant == t->idx && !strcmp(kept[i].key, key) &&
		      !strcmp(kept[i].etag, etag);
	pthread_mutex_unlock(&kept_lock);
	return hit;
}

static void kept_add(const struct objfs_tenant *t, const char *key, const char *etag)
{
	char *k = strdup(key);

	if (!k)
		return;          /* only a possible second copy of one version */
	pthread_mutex_lock(&kept_lock);
	free(kept[kept_next].key);
	kept[kept_next].tenant = t->idx;
	kept[kept_next].key = k;
	snprintf(kept[kept_next].etag, OBJFS_ETAG_MAX, "%s", etag);
	kept_next = (kept_next + 1) % TRASH_KEPT_SLOTS;
	pthread_mutex_unlock(&kept_lock);
}

/* Forgets what was kept of key (t NULL: of every key): a version restored
 * or purged is no longer in the trash, so the object it was must be kept
 * again the next time. */
static void kept_forget(const struct objfs_tenant *t, const char *key)
{
	pthread_mutex_lock(&kept_lock);
	for (size_t i = 0; i < TRASH_KEPT_SLOTS; i++) {
		if (!kept[i].key || (t && (kept[i].tenant != t->idx || strcmp(kept[i].key, key))))
			continue;
		free(kept[i].key);
		kept[i].key = NULL;
	}
	pthread_mutex_unlock(&kept_lock);
}

/* oi's metadata plus "mtime" from Last-Modified when it has none, so the
 * version restores with the mtime the file showed.  *out freed with
 * objfs_kv_free. */
static int keep_meta(const struct objfs_objinfo *oi, struct objfs_kv **out, size_t *nout)
{
	struct objfs_kv *kv = calloc(oi->nmeta + 1, sizeof(*kv));
	size_t n = 0;
	int has_mtime = 0;
	char buf[64];

	if (!kv)
		return -ENOMEM;
	for (size_t i = 0; i < oi->nmeta; i++) {
		if (!strcasecmp(oi->meta[i].key, "mtime"))
			has_mtime = 1;
		kv[n].key = strdup(oi->meta[i].key);
		kv[n].value = strdup(oi->meta[i].value);
		n++;
		if (!kv[n - 1].key || !kv[n - 1].value)
			goto oom;
	}
	if (!has_mtime) {
		int64_t s = oi->mtime_ns / 1000000000LL, ns = oi->mtime_ns % 1000000000LL;

		if (ns < 0) {
			s--;
			ns += 1000000000LL;
		}
		if (ns)
			snprintf(buf, sizeof(buf), "%" PRId64 ".%09" PRId64, s, ns);
		else
			snprintf(buf, sizeof(buf), "%" PRId64, s);
		kv[n].key = strdup("mtime");
		kv[n].value = strdup(buf);
		n++;
		if (!kv[n - 1].key || !kv[n - 1].value)
			goto oom;
	}
	*out = kv;
	*nout = n;
	return 0;
oom:
	objfs_kv_free(kv, n);
	return -ENOMEM;
}

int objfs_trash_keep_slow(struct objfs_tenant *t, const char *rel,
			  const struct objfs_trash_upload *up)
{
	char key[OBJFS_KEY_MAX + 1], tkey[OBJFS_KEY_MAX + 1], vid[OBJFS_TRASH_VID_LEN + 1];
	struct objfs_objinfo oi;
	struct objfs_putopts opts;
	struct objfs_kv *kv = NULL;
	struct objfs_err err;
	size_t nkv = 0;
	int64_t deleted_ms;
	int rc, tries = 0;

	memset(&oi, 0, sizeof(oi));
	rc = tenant_key(t, rel, key, sizeof(key));
	if (rc)
		return rc;
again:
	objfs_objinfo_clear(&oi);
	objfs_kv_free(kv, nkv);
	kv = NULL;
	nkv = 0;
	rc = objfs_prov_head(t->prov, t->bucket, key, &oi, &err);
	if (rc == -ENOENT) {
		rc = 0;                  /* nothing landed there: nothing to keep */
		goto out;
	}
	if (rc) {
		log_warn("trash: %s/%s: cannot read the object to keep: %s", t->name, rel,
			 err.msg);
		goto out;
	}
	if (up && (kept_has(t, key, oi.etag) || (up->same_etag && !strcmp(up->same_etag, oi.etag))))
		goto out;
	if (up && up->maybe_landed &&
	    objfs_objmeta_is_upload(&oi, up->size, up->meta, up->nmeta)) {
		log_debug("trash: %s/%s: the object is this upload's own earlier attempt: not kept",
			  t->name, rel);
		goto out;
	}
	new_vid(vid, &deleted_ms);
	rc = version_key(t, vid, rel, tkey, sizeof(tkey));
	if (rc) {
		/* A path within ~40 bytes of the key limit has no room for the trash
		 * prefix: the change goes ahead without a kept version rather than
		 * leaving the file impossible to delete or its new content stuck. */
		log_warn("trash: %s/%s: the trash key would pass %d bytes: no version kept",
			 t->name, rel, OBJFS_KEY_MAX);
		rc = 0;
		goto out;
	}
	rc = keep_meta(&oi, &kv, &nkv);
	if (rc)
		goto out;
	memset(&opts, 0, sizeof(opts));
	opts.content_type = oi.content_type;
	opts.meta = kv;
	opts.nmeta = nkv;
	opts.if_match = oi.etag;         /* the version we saw, not a newer one */
	rc = objfs_prov_copy(t->prov, t->bucket, key, tkey, &opts, NULL, &err);
	if (rc == -ESTALE && ++tries < TRASH_KEEP_TRIES)
		goto again;
	if (rc == -ENOENT) {
		rc = 0;                  /* deleted meanwhile by someone else */
		goto out;
	}
	if (rc) {
		log_warn("trash: %s/%s: keeping the previous version failed: %s", t->name, rel,
			 err.msg[0] ? err.msg : strerror(-rc));
		rc = rc == -ENAMETOOLONG ? rc : -EIO;
		goto out;
	}
	kept_add(t, key, oi.etag);
	log_debug("trash: kept %s/%s as version %s (%" PRIu64 " bytes)", t->name, rel, vid,
		  oi.size);
out:
	objfs_kv_free(kv, nkv);
	objfs_objinfo_clear(&oi);
	return rc;
}

/* ---- scanning ---- */

/* Called per version in key order (= deletion order): 0 go on, 1 stop, or
 * a negative errno (stops). */
typedef int (*scan_fn)(void *arg, const struct objfs_objinfo *oi, const char *vid,
		       int64_t deleted_ms, const char *rel);

static int scan(struct objfs_tenant *t, scan_fn fn, void *arg, char *msg, size_t msglen)
{
	char root[OBJFS_KEY_MAX + 2], vid[OBJFS_TRASH_VID_LEN + 1];
	struct objfs_listing l;
	struct objfs_err err;
	char *token = NULL;
	size_t rlen;
	int rc;

	rc = trash_root(t, root, sizeof(root));
	if (rc)
		return rc;
	rlen = strlen(root);
	do {
		memset(&l, 0, sizeof(l));
		rc = objfs_prov_list(t->prov, t->bucket, root, NULL, token, 0, &l, &err);
		free(token);
		token = NULL;
		if (rc) {
			snprintf(msg, msglen, "listing the trash of %s: %s", t->name,
				 err.msg[0] ? err.msg : strerror(-rc));
			break;
		}
		for (size_t i = 0; i < l.nobjects && rc == 0; i++) {
			const char *rel;
			int64_t ms;

			if (strncmp(l.objects[i].key, root, rlen) ||
			    parse_tail(l.objects[i].key + rlen, vid, &ms, &rel))
				continue;
			rc = fn(arg, &l.objects[i], vid, ms, rel);
		}
		token = l.next_token;
		l.next_token = NULL;
		objfs_listing_clear(&l);
	} while (rc == 0 && token);
	free(token);
	if (rc < 0 && !msg[0])
		snprintf(msg, msglen, "reading the trash of %s: %s", t->name, strerror(-rc));
	return rc < 0 ? rc : 0;
}

struct collect {
	const char *rel;               /* match: path_matches */
	const char *vid;               /* NULL: any */
	int exact;                     /* only rel itself */
	size_t max;
	struct objfs_trash_entry *v;
	size_t n, cap;
	int truncated;
};

static int collect_fn(void *arg, const struct objfs_objinfo *oi, const char *vid,
		      int64_t deleted_ms, const char *rel)
{
	struct collect *c = arg;
	struct objfs_trash_entry *e;

	if (c->exact ? strcmp(rel, c->rel) : !path_matches(rel, c->rel))
		return 0;
	if (c->vid && strcmp(vid, c->vid))
		return 0;
	if (c->n == c->max) {
		c->truncated = 1;
		return 1;
	}
	if (c->n == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 64;
		struct objfs_trash_entry *nv = realloc(c->v, ncap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		c->v = nv;
		c->cap = ncap;
	}
	e = &c->v[c->n];
	memset(e, 0, sizeof(*e));
	if (!(e->rel = strdup(rel)))
		return -ENOMEM;
	memcpy(e->vid, vid, sizeof(e->vid));
	e->deleted_ms = deleted_ms;
	e->size = oi->size;
	if (oi->has_meta) {
		struct objfs_fileattr a;

		memset(&a, 0, sizeof(a));
		objfs_objmeta_decode(oi->meta, oi->nmeta, &a);
		e->has_attr = 1;
		e->mode = a.has_mode ? a.mode : (S_IFREG | 0644);
		e->uid = a.uid;
		e->gid = a.gid;
		e->mtime_ns = a.has_mtime ? a.mtime_ns : oi->mtime_ns;
		objfs_fileattr_clear(&a);
	}
	c->n++;
	return 0;
}

/* Path ascending, then newest first. */
static int entry_cmp(const void *a, const void *b)
{
	const struct objfs_trash_entry *x = a, *y = b;
	int c = strcmp(x->rel, y->rel);

	return c ? c : -strcmp(x->vid, y->vid);
}

/* Fills the attributes of e from a head of its version. */
static void entry_attrs(struct objfs_tenant *t, struct objfs_trash_entry *e)
{
	char tkey[OBJFS_KEY_MAX + 1];
	struct objfs_objinfo oi;
	struct objfs_fileattr a;
	struct objfs_err err;

	if (e->has_attr || version_key(t, e->vid, e->rel, tkey, sizeof(tkey)))
		return;
	memset(&oi, 0, sizeof(oi));
	memset(&a, 0, sizeof(a));
	if (objfs_prov_head(t->prov, t->bucket, tkey, &oi, &err) == 0) {
		objfs_objmeta_decode(oi.meta, oi.nmeta, &a);
		e->has_attr = 1;
		e->mode = a.has_mode ? a.mode : (S_IFREG | 0644);
		e->uid = a.uid;
		e->gid = a.gid;
		e->mtime_ns = a.has_mtime ? a.mtime_ns : oi.mtime_ns;
		objfs_fileattr_clear(&a);
	}
	objfs_objinfo_clear(&oi);
}

int objfs_trash_list(struct objfs_tenant *t, const char *rel, size_t max,
		     struct objfs_trash_entry **out, size_t *n, int *truncated,
		     char *msg, size_t msglen)
{
	struct collect c = { .rel = rel, .max = max };
	int rc;

	msg[0] = '\0';
	*out = NULL;
	*n = 0;
	rc = scan(t, collect_fn, &c, msg, msglen);
	if (rc) {
		objfs_trash_entries_free(c.v, c.n);
		return rc;
	}
	if (c.n)                 /* c.v is NULL when empty: no qsort(NULL, 0) */
		qsort(c.v, c.n, sizeof(*c.v), entry_cmp);
	for (size_t i = 0; i < c.n; i++)
		entry_attrs(t, &c.v[i]);
	*out = c.v;
	*n = c.n;
	if (truncated)
		*truncated = c.truncated;
	return 0;
}

/* ---- restore ---- */

/* The cache forgets what it knew about path and its ancestors' listings,
 * so a lookup or readdir asks the provider and finds the restored file. */
static void invalidate(struct objfs_ctx *ctx, struct objfs_tenant *t, const char *path)
{
	char *p = strdup(path);
	struct meta_entry e;

	meta_del(ctx->meta, t->name, path);
	objfs_fs_invalidate(t, path);
	if (!p)
		return;
	for (char *s = strrchr(p, '/'); ; s = strrchr(p, '/')) {
		if (!s) {
			meta_listing_invalidate(ctx->meta, t->name, "");
			break;
		}
		*s = '\0';
		meta_listing_invalidate(ctx->meta, t->name, p);
		objfs_fs_invalidate(t, p);
		if (meta_get(ctx->meta, t->name, p, &e) == 0) {
			if (e.type != META_DIR)
				meta_del(ctx->meta, t->name, p);    /* a negative entry */
			meta_entry_clear(&e);
		}
	}
	free(p);
}

/* Where version e of a restore of rel goes: to + what follows rel. */
static int target_of(const struct objfs_trash_entry *e, const char *rel, const char *to,
		     char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s%s", to, e->rel + strlen(rel));

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Checks one target: 0 free, 1 a live object there (force may replace it),
 * or a negative errno conflict with msg set. */
static int check_target(struct objfs_ctx *ctx, struct objfs_tenant *t, const char *to,
			int force, uint64_t *old_size, char *msg, size_t msglen)
{
	char key[OBJFS_KEY_MAX + 2];
	struct objfs_listing l;
	struct objfs_objinfo oi;
	struct objfs_file *f;
	struct objfs_err err;
	int rc;

	if (objfs_rel_internal(to)) {
		snprintf(msg, msglen, "%s: a name reserved for objfs", to);
		return -EPERM;
	}
	f = files_lookup(ctx->files, t, to);
	if (f) {
		file_put(f);
		snprintf(msg, msglen, "%s/%s is open or has uploads pending: not replaced, even "
			 "with --force; try again after it is closed and flushed", t->name, to);
		return -EBUSY;
	}
	rc = tenant_key(t, to, key, OBJFS_KEY_MAX + 1);
	if (rc) {
		snprintf(msg, msglen, "%s/%s: the key is too long", t->name, to);
		return rc;
	}
	strcat(key, "/");
	memset(&l, 0, sizeof(l));
	rc = objfs_prov_list(t->prov, t->bucket, key, NULL, NULL, 1, &l, &err);
	if (rc == 0 && l.nobjects) {
		objfs_listing_clear(&l);
		snprintf(msg, msglen, "%s/%s is a directory: not replaced", t->name, to);
		return -EISDIR;
	}
	objfs_listing_clear(&l);
	key[strlen(key) - 1] = '\0';
	memset(&oi, 0, sizeof(oi));
	rc = objfs_prov_head(t->prov, t->bucket, key, &oi, &err);
	*old_size = oi.size;
	objfs_objinfo_clear(&oi);
	if (rc == -ENOENT)
		return 0;
	if (rc) {
		snprintf(msg, msglen, "%s/%s: %s", t->name, to, err.msg[0] ? err.msg : strerror(-rc));
		return -EIO;
	}
	if (!force) {
		snprintf(msg, msglen, "%s/%s exists: not overwritten (restore with --force to "
			 "replace it, keeping it in the trash, or --to another path)", t->name, to);
		return -EEXIST;
	}
	return 1;
}

/* Newest version per path (v sorted by entry_cmp): compacts v, frees the rest. */
static size_t newest_only(struct objfs_trash_entry *v, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		if (k && !strcmp(v[k - 1].rel, v[i].rel)) {
			free(v[i].rel);
			continue;
		}
		v[k++] = v[i];
	}
	return k;
}

int objfs_trash_restore(struct objfs_ctx *ctx, struct objfs_tenant *t, const char *rel,
			const char *vid, const char *to, int force,
			struct objfs_trash_entry **done, size_t *ndone, char *msg, size_t msglen)
{
	struct collect c = { .rel = rel, .vid = vid, .exact = 1, .max = OBJFS_TRASH_RESTORE_MAX };
	const struct objfs_tenant_conf *conf = __atomic_load_n(&t->conf, __ATOMIC_ACQUIRE);
	char target[OBJFS_KEY_MAX + 1], vkey[OBJFS_KEY_MAX + 1], tkey[OBJFS_KEY_MAX + 1];
	uint64_t *old = NULL;
	int *live = NULL;
	struct objfs_err err;
	size_t restored = 0;
	int rc;

	msg[0] = '\0';
	if (done)
		*done = NULL;
	if (ndone)
		*ndone = 0;
	if (!to)
		to = rel;
	if (conf && conf->read_only) {
		snprintf(msg, msglen, "tenant %s is read-only", t->name);
		return -EROFS;
	}
	rc = scan(t, collect_fn, &c, msg, msglen);
	if (rc == 0 && c.n == 0 && !vid) {
		c.exact = 0;             /* a directory: every file below it */
		rc = scan(t, collect_fn, &c, msg, msglen);
	}
	if (rc)
		goto out;
	if (c.truncated) {
		snprintf(msg, msglen, "more than %d files to restore under %s/%s: restore "
			 "subdirectories one at a time", OBJFS_TRASH_RESTORE_MAX, t->name, rel);
		rc = -E2BIG;
		goto out;
	}
	if (c.n == 0) {
		if (vid)
			snprintf(msg, msglen, "no version %s of %s/%s in the trash", vid, t->name,
				 rel);
		else
			snprintf(msg, msglen, "nothing in the trash at %s/%s", t->name, rel);
		rc = -ENOENT;
		goto out;
	}
	qsort(c.v, c.n, sizeof(*c.v), entry_cmp);
	c.n = newest_only(c.v, c.n);
	old = calloc(c.n, sizeof(*old));
	live = calloc(c.n, sizeof(*live));
	if (!old || !live) {
		rc = -ENOMEM;
		goto out;
	}
	/* every target first: nothing is restored when one conflicts */
	for (size_t i = 0; i < c.n; i++) {
		rc = target_of(&c.v[i], rel, to, target, sizeof(target));
		if (rc) {
			snprintf(msg, msglen, "%s%s: the target path is too long", to,
				 c.v[i].rel + strlen(rel));
			goto out;
		}
		rc = check_target(ctx, t, target, force, &old[i], msg, msglen);
		if (rc < 0)
			goto out;
		live[i] = rc;
		rc = 0;
	}
	for (size_t i = 0; i < c.n; i++) {
		struct objfs_trash_entry *e = &c.v[i];

		target_of(e, rel, to, target, sizeof(target));
		if (version_key(t, e->vid, e->rel, vkey, sizeof(vkey)) ||
		    tenant_key(t, target, tkey, sizeof(tkey))) {
			rc = -ENAMETOOLONG;
			snprintf(msg, msglen, "%s/%s: the key is too long", t->name, target);
			break;
		}
		kept_forget(t, tkey);            /* the live object may be a version restored */
		if (live[i]) {
			rc = objfs_trash_keep(t, target);   /* --force: the live file is kept */
			if (rc) {
				snprintf(msg, msglen, "%s/%s: keeping the live file in the trash "
					 "failed: not replaced", t->name, target);
				break;
			}
		} else if ((rc = quota_add_object(t)) != 0) {
			snprintf(msg, msglen, "tenant %s: restoring %s would pass quota_objects",
				 t->name, target);
			break;
		}
		quota_op_begin(t);
		rc = objfs_prov_copy(t->prov, t->bucket, vkey, tkey, NULL, NULL, &err);
		if (rc == 0 && live[i])
			quota_landed(t, old[i], e->size, 0);
		else if (rc == 0)
			quota_object_created(t, e->size);
		else if (!live[i])
			quota_unreserve_object(t);
		quota_op_end(t);
		kept_forget(t, tkey);            /* its bytes left the trash */
		if (rc) {
			snprintf(msg, msglen, "restoring %s/%s: %s", t->name, target,
				 err.msg[0] ? err.msg : strerror(-rc));
			rc = rc == -ENOENT ? -ENOENT : -EIO;
			break;
		}
		invalidate(ctx, t, target);
		if (objfs_prov_del(t->prov, t->bucket, vkey, &err))
			log_warn("trash: restored %s/%s but version %s stays in the trash: %s",
				 t->name, target, e->vid, err.msg);
		log_info("trash: restored %s/%s version %s to %s", t->name, e->rel, e->vid, target);
		free(e->rel);
		e->rel = strdup(target);
		if (!e->rel) {
			rc = -ENOMEM;
			restored++;
			break;
		}
		restored++;
	}
	if (rc == 0 && done) {
		*done = c.v;
		*ndone = restored;
		c.v = NULL;
		c.n = 0;
	}
	if (rc && restored)
		snprintf(msg + strlen(msg), msglen - strlen(msg), " (%zu restored before it)",
			 restored);
out:
	free(old);
	free(live);
	objfs_trash_entries_free(c.v, c.n);
	return rc;
}

/* ---- purge ---- */

struct purge {
	struct objfs_tenant *t;
	const char *rel, *vid;
	int expired_only;
	int64_t now_ms;
	const char *keys[TRASH_DEL_BATCH];
	char *owned[TRASH_DEL_BATCH];
	uint64_t sizes[TRASH_DEL_BATCH];
	size_t n;
	size_t count;
	uint64_t bytes;
	char *msg;
	size_t msglen;
};

static int purge_flush(struct purge *p)
{
	int results[TRASH_DEL_BATCH];
	struct objfs_err err;
	int rc = 0;

	if (!p->n)
		return 0;
	rc = objfs_prov_del_batch(p->t->prov, p->t->bucket, p->keys, p->n, results, &err);
	if (rc == -ENOSYS) {
		rc = 0;
		for (size_t i = 0; i < p->n; i++)
			results[i] = objfs_prov_del(p->t->prov, p->t->bucket, p->keys[i], &err);
	} else if (rc) {
		for (size_t i = 0; i < p->n; i++)
			results[i] = rc;
	}
	for (size_t i = 0; i < p->n; i++) {
		if (results[i] == 0 || results[i] == -ENOENT) {
			p->count++;
			p->bytes += p->sizes[i];
		} else if (!rc) {
			rc = results[i];
			snprintf(p->msg, p->msglen, "purging %s: %s", p->keys[i],
				 err.msg[0] ? err.msg : strerror(-rc));
		}
		free(p->owned[i]);
	}
	p->n = 0;
	return rc;
}

static int purge_fn(void *arg, const struct objfs_objinfo *oi, const char *vid,
		    int64_t deleted_ms, const char *rel)
{
	struct purge *p = arg;

	if (p->expired_only) {
		int64_t exp = objfs_trash_expires_ms(p->t, deleted_ms);

		if (!exp || exp > p->now_ms)
			return 1;        /* keys sort by deletion time: the rest is younger */
	}
	if (!path_matches(rel, p->rel) || (p->vid && strcmp(vid, p->vid)))
		return 0;
	if (p->n == TRASH_DEL_BATCH) {
		int rc = purge_flush(p);

		if (rc)
			return rc;
	}
	if (!(p->owned[p->n] = strdup(oi->key)))
		return -ENOMEM;
	p->keys[p->n] = p->owned[p->n];
	p->sizes[p->n] = oi->size;
	p->n++;
	return 0;
}

int objfs_trash_purge(struct objfs_tenant *t, const char *rel, const char *vid,
		      int expired_only, size_t *count, uint64_t *bytes, char *msg,
		      size_t msglen)
{
	struct purge *p = calloc(1, sizeof(*p));
	int rc, rc2;

	msg[0] = '\0';
	if (!p) {
		snprintf(msg, msglen, "out of memory");
		return -ENOMEM;
	}
	p->t = t;
	p->rel = rel;
	p->vid = vid;
	p->expired_only = expired_only;
	p->now_ms = objfs_clock_now_ms();
	p->msg = msg;
	p->msglen = msglen;
	rc = scan(t, purge_fn, p, msg, msglen);
	rc2 = purge_flush(p);
	if (!rc)
		rc = rc2;
	for (size_t i = 0; i < p->n; i++)
		free(p->owned[i]);
	if (count)
		*count = p->count;
	if (bytes)
		*bytes = p->bytes;
	if (p->count)
		kept_forget(NULL, NULL);
	if (p->count)
		log_info("trash: purged %zu versions (%" PRIu64 " bytes) of %s%s", p->count,
			 p->bytes, t->name, expired_only ? ", expired" : "");
	free(p);
	return rc;
}

/* ---- the background purge ---- */

static pthread_mutex_t purge_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t purge_cv = PTHREAD_COND_INITIALIZER;
static int purge_stop;                   /* purge_lock */
static int purge_running;                /* purge_lock: the thread exists */
static pthread_t purge_thread;

static void purge_all(struct objfs_ctx *ctx)
{
	size_t nt = objfs_tenants_count(&ctx->tenants);
	char msg[512];

	for (size_t i = 0; i < nt; i++) {
		struct objfs_tenant *t = &ctx->tenants.v[i];
		const struct objfs_tenant_conf *c = __atomic_load_n(&t->conf, __ATOMIC_ACQUIRE);
		int rc;

		if (t->removed || !t->prov || !c || !c->trash_days)
			continue;
		rc = objfs_trash_purge(t, NULL, NULL, 1, NULL, NULL, msg, sizeof(msg));
		if (rc)
			log_warn("trash: purging expired versions of %s: %s", t->name, msg);
		pthread_mutex_lock(&purge_lock);
		rc = purge_stop;
		pthread_mutex_unlock(&purge_lock);
		if (rc)
			return;
	}
}

static void *purge_main(void *arg)
{
	struct objfs_ctx *ctx = arg;

	pthread_mutex_lock(&purge_lock);
	while (!purge_stop) {
		struct timespec until;

		pthread_mutex_unlock(&purge_lock);
		purge_all(ctx);
		pthread_mutex_lock(&purge_lock);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += OBJFS_TRASH_PURGE_INTERVAL_S;
		while (!purge_stop &&
		       pthread_cond_timedwait(&purge_cv, &purge_lock, &until) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&purge_lock);
	return NULL;
}

int objfs_trash_start(struct objfs_ctx *ctx)
{
	int rc;

	pthread_mutex_lock(&purge_lock);
	purge_stop = 0;
	rc = purge_running ? 0 : -pthread_create(&purge_thread, NULL, purge_main, ctx);
	if (rc == 0)
		purge_running = 1;
	pthread_mutex_unlock(&purge_lock);
	return rc;
}

void objfs_trash_stop(void)
{
	int join;

	pthread_mutex_lock(&purge_lock);
	purge_stop = 1;
	join = purge_running;
	purge_running = 0;
	pthread_cond_broadcast(&purge_cv);
	pthread_mutex_unlock(&purge_lock);
	if (join)
		pthread_join(purge_thread, NULL);
}
