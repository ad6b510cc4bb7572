/*
 * Files: staged chunks over a base object.  See file.h for the model.
 *
 * Design notes
 * - A chunk is writable only at the file's current version (cur_ver).  The
 *   first write to a chunk that is not staged creates its chunk file, filled
 *   from the base object when the chunk overlaps [0, base_len); a write to a
 *   frozen chunk (ver <= commit_ver, referenced by a journal entry) copies it
 *   to cur_ver first.  So journal entries never see their chunk files change.
 * - Reads plan under f->lock (staged bytes are read there: local disk only)
 *   and fetch base bytes after dropping it; a base that changed meanwhile
 *   (our own upload landed) answers -ESTALE and the read is replanned.
 * - Base bytes needed for a fill are fetched without f->lock, then the chunk
 *   state is rechecked.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "file.h"
#include "log.h"
#include "quota.h"
#include "readcache.h"
#include "staging.h"
#include "writeback.h"

#define FILES_HASH 4096

struct objfs_files {
	struct objfs_ctx *ctx;
	pthread_mutex_t lock;
	struct objfs_file *hash[FILES_HASH];   /* lock */
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static size_t hash_of(const struct objfs_tenant *t, const char *path)
{
	uint64_t h = 1469598103934665603ULL ^ t->idx;

	for (const unsigned char *p = (const unsigned char *)path; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	return (size_t)(h % FILES_HASH);
}

int tenant_key(const struct objfs_tenant *t, const char *path, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s%s", t->prefix, path);

	if (n < 0 || (size_t)n >= len || n > OBJFS_KEY_MAX)
		return -ENAMETOOLONG;
	return 0;
}

int files_new(struct objfs_ctx *ctx, struct objfs_files **out)
{
	struct objfs_files *fs = calloc(1, sizeof(*fs));

	if (!fs)
		return -ENOMEM;
	fs->ctx = ctx;
	pthread_mutex_init(&fs->lock, NULL);
	*out = fs;
	return 0;
}

static void file_destroy(struct objfs_file *f)
{
	quota_release(f->tenant, f->q_res);
	if (f->q_obj)
		quota_unreserve_object(f->tenant);   /* created, never landed */
	if (f->cfd >= 0)
		close(f->cfd);
	objfs_fileattr_clear(&f->attr);
	pthread_mutex_destroy(&f->lock);
	pthread_mutex_destroy(&f->commit_lock);
	pthread_cond_destroy(&f->landed);
	free(f->path);
	free(f->base_etag);
	free(f->chunks);
	free(f->content_type);
	free(f);
}

void files_free(struct objfs_files *fs)
{
	if (!fs)
		return;
	for (size_t i = 0; i < FILES_HASH; i++) {
		struct objfs_file *f = fs->hash[i], *n;

		for (; f; f = n) {
			n = f->hnext;
			file_destroy(f);
		}
	}
	pthread_mutex_destroy(&fs->lock);
	free(fs);
}

static void unhash(struct objfs_files *fs, struct objfs_file *f)
{
	struct objfs_file **pp = &fs->hash[hash_of(f->tenant, f->path)];

	for (; *pp; pp = &(*pp)->hnext) {
		if (*pp == f) {
			*pp = f->hnext;
			break;
		}
	}
	f->hnext = NULL;
	f->in_table = 0;
}

static struct objfs_file *find_locked(struct objfs_files *fs, struct objfs_tenant *t,
				      const char *path)
{
	for (struct objfs_file *f = fs->hash[hash_of(t, path)]; f; f = f->hnext)
		if (f->tenant == t && strcmp(f->path, path) == 0)
			return f;
	return NULL;
}

struct objfs_file *files_lookup(struct objfs_files *fs, struct objfs_tenant *t, const char *path)
{
	struct objfs_file *f;

	pthread_mutex_lock(&fs->lock);
	f = find_locked(fs, t, path);
	if (f)
		f->refs++;
	pthread_mutex_unlock(&fs->lock);
	return f;
}

int files_get(struct objfs_files *fs, struct objfs_tenant *t, const char *path, uint64_t fid,
	      const struct meta_entry *base, const struct objfs_fileattr *attr,
	      struct objfs_file **out)
{
	struct objfs_file *f;
	int rc = 0;

	pthread_mutex_lock(&fs->lock);
	f = find_locked(fs, t, path);
	if (f) {
		f->refs++;
		goto out;
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		rc = -ENOMEM;
		goto out;
	}
	f->ctx = fs->ctx;
	f->tenant = t;
	f->fid = fid;
	f->path = strdup(path);
	f->cfd = -1;
	pthread_mutex_init(&f->lock, NULL);
	pthread_mutex_init(&f->commit_lock, NULL);
	pthread_cond_init(&f->landed, NULL);
	f->cur_ver = 1;
	f->ctime_ns = now_ns();
	if (base && base->etag) {
		f->base_etag = strdup(base->etag);
		f->base_len = f->size = base->size;
		f->q_base = base->size;
	}
	if (!f->path || (base && base->etag && !f->base_etag) ||
	    (attr && objfs_fileattr_copy(&f->attr, attr))) {
		file_destroy(f);
		f = NULL;
		rc = -ENOMEM;
		goto out;
	}
	f->refs = 1;
	f->in_table = 1;
	f->hnext = fs->hash[hash_of(t, path)];
	fs->hash[hash_of(t, path)] = f;
out:
	pthread_mutex_unlock(&fs->lock);
	*out = f;
	return rc;
}

void file_ref(struct objfs_file *f)
{
	struct objfs_files *fs = f->ctx->files;

	pthread_mutex_lock(&fs->lock);
	f->refs++;
	pthread_mutex_unlock(&fs->lock);
}

void file_put(struct objfs_file *f)
{
	struct objfs_files *fs;
	int last;

	if (!f)
		return;
	fs = f->ctx->files;
	pthread_mutex_lock(&fs->lock);
	last = --f->refs == 0;
	if (last && f->in_table)
		unhash(fs, f);
	pthread_mutex_unlock(&fs->lock);
	if (!last)
		return;
	/* With nothing pending, nothing references the staged chunks any more:
	 * every committed state has landed, and uncommitted state is only left
	 * behind by an unlinked file.  Entries still pending (a shutdown whose
	 * drain timed out) keep their chunks for the next start. */
	if (!f->pending)
		staging_remove_fid(f->ctx->staging, f->fid);
	file_destroy(f);
}

static int path_under(const char *p, const char *dir)
{
	size_t n = strlen(dir);

	if (n == 0)
		return 1;
	return strncmp(p, dir, n) == 0 && (p[n] == '\0' || p[n] == '/');
}

/* Collects referenced files matching pred, then calls fn without the table lock. */
static void for_each(struct objfs_files *fs, struct objfs_tenant *t, const char *dir, int child,
		     void (*fn)(struct objfs_file *f, void *arg), void *arg)
{
	struct objfs_file **v = NULL, **nv;
	size_t n = 0, cap = 0;

	pthread_mutex_lock(&fs->lock);
	for (size_t i = 0; i < FILES_HASH; i++) {
		for (struct objfs_file *f = fs->hash[i]; f; f = f->hnext) {
			const char *slash;

			if (f->tenant != t)
				continue;
			if (child) {
				slash = strrchr(f->path, '/');
				if (slash ? (strncmp(f->path, dir, (size_t)(slash - f->path)) ||
					     strlen(dir) != (size_t)(slash - f->path))
					  : dir[0] != '\0')
					continue;
			} else if (!path_under(f->path, dir)) {
				continue;
			}
			if (n == cap) {
				cap = cap ? cap * 2 : 16;
				nv = realloc(v, cap * sizeof(*v));
				if (!nv)
					goto stop;
				v = nv;
			}
			f->refs++;
			v[n++] = f;
		}
	}
stop:
	pthread_mutex_unlock(&fs->lock);
	for (size_t i = 0; i < n; i++) {
		fn(v[i], arg);
		file_put(v[i]);
	}
	free(v);
}

void files_for_each_under(struct objfs_files *fs, struct objfs_tenant *t, const char *path,
			  void (*fn)(struct objfs_file *f, void *arg), void *arg)
{
	for_each(fs, t, path, 0, fn, arg);
}

void files_for_each_child(struct objfs_files *fs, struct objfs_tenant *t, const char *dir,
			  void (*fn)(struct objfs_file *f, void *arg), void *arg)
{
	for_each(fs, t, dir, 1, fn, arg);
}

int files_any_under(struct objfs_files *fs, struct objfs_tenant *t, const char *dir)
{
	int found = 0;

	pthread_mutex_lock(&fs->lock);
	for (size_t i = 0; i < FILES_HASH && !found; i++)
		for (struct objfs_file *f = fs->hash[i]; f && !found; f = f->hnext)
			if (f->tenant == t && !f->unlinked && strcmp(f->path, dir) &&
			    path_under(f->path, dir))
				found = 1;
	pthread_mutex_unlock(&fs->lock);
	return found;
}

void files_rename(struct objfs_files *fs, struct objfs_tenant *t, const char *path,
		  const char *new_path)
{
	struct objfs_file *moved = NULL, *f, *n;
	size_t plen = strlen(path);

	pthread_mutex_lock(&fs->lock);
	for (size_t i = 0; i < FILES_HASH; i++) {
		for (f = fs->hash[i]; f; f = n) {
			n = f->hnext;
			if (f->tenant == t && path_under(f->path, path)) {
				unhash(fs, f);
				f->hnext = moved;
				moved = f;
			}
		}
	}
	for (f = moved; f; f = n) {
		char *np = NULL;

		n = f->hnext;
		if (asprintf(&np, "%s%s", new_path, f->path + plen) >= 0) {
			free(f->path);
			f->path = np;
		}
		f->hnext = fs->hash[hash_of(t, f->path)];
		fs->hash[hash_of(t, f->path)] = f;
		f->in_table = 1;
	}
	pthread_mutex_unlock(&fs->lock);
}

void files_detach(struct objfs_files *fs, struct objfs_file *f)
{
	pthread_mutex_lock(&fs->lock);
	if (f->in_table)
		unhash(fs, f);
	pthread_mutex_unlock(&fs->lock);
	pthread_mutex_lock(&f->lock);
	f->unlinked = 1;
	pthread_mutex_unlock(&f->lock);
}

/* 1 when f has no local changes (nothing staged, dirty or pending) and reads
 * the base object stale_etag (any base when stale_etag is NULL).  Caller holds
 * f->lock. */
static int clean_locked(const struct objfs_file *f, const char *stale_etag)
{
	int clean = !f->dirty && !f->pending && f->base_etag &&
		    (!stale_etag || !strcmp(f->base_etag, stale_etag));

	for (size_t i = 0; clean && i < f->nchunks; i++)
		clean = !f->chunks[i].ver;
	return clean;
}

int files_detach_clean(struct objfs_files *fs, struct objfs_file *f, const char *base)
{
	int rc = -EBUSY;

	pthread_mutex_lock(&fs->lock);
	pthread_mutex_lock(&f->lock);
	if (clean_locked(f, base)) {
		if (f->in_table)
			unhash(fs, f);
		f->unlinked = 1;
		rc = 0;
	}
	pthread_mutex_unlock(&f->lock);
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

/*
 * Quota: the file's growth beyond its landed size is reserved as it happens,
 * so that a tenant at its quota gets EDQUOT from write() or truncate().
 * Caller holds f->lock.
 */
static int quota_resize(struct objfs_file *f, uint64_t new_size)
{
	uint64_t want = new_size > f->q_base ? new_size - f->q_base : 0;
	int rc = 0;

	if (want > f->q_res) {
		rc = quota_reserve(f->tenant, want - f->q_res);
		if (rc == 0)
			f->q_res = want;
	} else if (want < f->q_res) {
		quota_release(f->tenant, f->q_res - want);
		f->q_res = want;
	}
	return rc;
}

/* ---- reading base bytes ---- */

ssize_t file_read_base(struct objfs_ctx *ctx, struct objfs_tenant *t, const char *key,
		       const char *etag, uint64_t obj_size, void *buf, size_t len, uint64_t off,
		       uint64_t stream)
{
	struct objfs_err err;
	uint64_t got = 0;
	int rc;

	if (ctx->rcache && (ctx->rcache_all || !(objfs_prov_caps(t->prov) & OBJFS_CAP_LOCAL_READS)))
		return objfs_readcache_read(ctx->rcache, t->prov, t->bucket, key, etag, obj_size,
					    off, len, buf, stream);
	rc = objfs_prov_get(t->prov, t->bucket, key, off, len, etag, buf, &got, &err);
	if (rc) {
		if (rc != -ESTALE)
			log_warn("read %s/%s: %s", t->bucket, key, err.msg);
		return rc;
	}
	return (ssize_t)got;
}

/*
 * After -ESTALE from the base object: if one of our uploads is landing, the
 * object was replaced by our own content and file_landed() will rebase us;
 * wait for it (bounded) before looking again.  Returns 1 to retry, 0 when
 * nothing of ours is pending (someone else changed the object).
 */
static int wait_rebase(struct objfs_file *f, const char *stale_etag)
{
	struct timespec until;
	int retry;

	pthread_mutex_lock(&f->lock);
	if (f->pending && f->base_etag && !strcmp(f->base_etag, stale_etag)) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 100 * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&f->landed, &f->lock, &until);
	}
	retry = f->pending || !f->base_etag || strcmp(f->base_etag, stale_etag);
	pthread_mutex_unlock(&f->lock);
	return retry;
}

char *file_clean_base(struct objfs_file *f)
{
	char *e = NULL;

	pthread_mutex_lock(&f->lock);
	if (clean_locked(f, NULL))
		e = strdup(f->base_etag);
	pthread_mutex_unlock(&f->lock);
	return e;
}

int file_adopt(struct objfs_file *f, const char *stale_etag, const struct meta_entry *cur,
	       const struct objfs_fileattr *attr)
{
	struct objfs_fileattr a;
	char *e = cur->etag ? strdup(cur->etag) : NULL;
	int rc = -EBUSY;

	memset(&a, 0, sizeof(a));
	if (!e || objfs_fileattr_copy(&a, attr)) {
		free(e);
		objfs_fileattr_clear(&a);
		return -ENOMEM;
	}
	pthread_mutex_lock(&f->lock);
	if (clean_locked(f, stale_etag)) {
		struct objfs_fileattr old = f->attr;

		free(f->base_etag);
		f->base_etag = e;
		f->base_len = f->size = cur->size;
		f->attr = a;
		a = old;             /* freed below */
		e = NULL;
		rc = 0;
	}
	pthread_mutex_unlock(&f->lock);
	free(e);
	objfs_fileattr_clear(&a);
	return rc;
}

/*
 * The base object changed under a file that has no local changes (nothing
 * staged, dirty or pending): the file simply follows the store, as a new
 * open would (close-to-open).  0 when the file now reads the current object.
 */
static int adopt_current(struct objfs_file *f, const char *stale_etag)
{
	char key[OBJFS_KEY_MAX + 1];
	struct objfs_objinfo oi;
	struct objfs_err err;
	int rc;

	pthread_mutex_lock(&f->lock);
	rc = clean_locked(f, stale_etag) ? tenant_key(f->tenant, f->path, key, sizeof(key)) : -EIO;
	pthread_mutex_unlock(&f->lock);
	if (rc)
		return rc;
	memset(&oi, 0, sizeof(oi));
	rc = objfs_prov_head(f->tenant->prov, f->tenant->bucket, key, &oi, &err);
	if (rc == 0) {
		char *e = strdup(oi.etag);

		pthread_mutex_lock(&f->lock);
		if (e && !f->dirty && !f->pending && f->base_etag &&
		    !strcmp(f->base_etag, stale_etag)) {
			log_warn("read %s/%s: the object changed in the store (%s -> %s); reading"
				 " the current version", f->tenant->name, f->path, stale_etag, e);
			free(f->base_etag);
			f->base_etag = e;
			f->base_len = f->size = oi.size;
			e = NULL;
		}
		pthread_mutex_unlock(&f->lock);
		free(e);
	}
	objfs_objinfo_clear(&oi);
	return rc;
}

/* ---- chunk files ---- */

static uint64_t csize(const struct objfs_file *f)
{
	return f->ctx->chunk_size;
}

static int ensure_chunks(struct objfs_file *f, size_t n)
{
	struct file_chunk *nc;
	size_t cap;

	if (n <= f->nchunks)
		return 0;
	cap = f->nchunks ? f->nchunks : 4;
	while (cap < n)
		cap *= 2;
	nc = realloc(f->chunks, cap * sizeof(*nc));
	if (!nc)
		return -ENOMEM;
	memset(nc + f->nchunks, 0, (cap - f->nchunks) * sizeof(*nc));
	f->chunks = nc;
	f->nchunks = cap;
	return 0;
}

/* fd of chunk idx at its current version (cached). Caller holds f->lock. */
static int chunk_fd(struct objfs_file *f, size_t idx, int create)
{
	char p[4096];
	uint32_t ver = f->chunks[idx].ver;
	int fd;

	if (f->cfd >= 0 && f->cfd_idx == idx && f->cfd_ver == ver)
		return f->cfd;
	staging_chunk_path(f->ctx->staging, f->fid, idx, ver, p, sizeof(p));
	fd = open(p, O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0600);
	if (fd < 0)
		return -errno;
	if (f->cfd >= 0)
		close(f->cfd);
	f->cfd = fd;
	f->cfd_idx = idx;
	f->cfd_ver = ver;
	return fd;
}

static void chunk_fd_forget(struct objfs_file *f)
{
	if (f->cfd >= 0)
		close(f->cfd);
	f->cfd = -1;
}

static int copy_fd_range(int in, int out, uint64_t len)
{
	loff_t ioff = 0, ooff = 0;
	char buf[65536];

	while ((uint64_t)ooff < len) {
		ssize_t n = copy_file_range(in, &ioff, out, &ooff, (size_t)(len - (uint64_t)ooff), 0);

		if (n > 0)
			continue;
		if (n == 0)
			return -EIO;
		if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
			return -errno;
		/* fallback: plain copy */
		while ((uint64_t)ooff < len) {
			size_t want = len - (uint64_t)ooff > sizeof(buf) ? sizeof(buf)
									  : (size_t)(len - (uint64_t)ooff);
			ssize_t r = pread(in, buf, want, ioff);

			if (r <= 0)
				return r < 0 ? -errno : -EIO;
			if (pwrite(out, buf, (size_t)r, ooff) != r)
				return -errno;
			ioff += r;
			ooff += r;
		}
	}
	return 0;
}

/* Creates chunk file idx at cur_ver (mkdir of the fid dir as needed). */
static int chunk_create(struct objfs_file *f, size_t idx)
{
	int created = 0, rc = staging_fid_mkdir(f->ctx->staging, f->fid, &created);

	if (rc)
		return rc;
	if (created)
		f->new_fid_dir = 1;
	f->chunks[idx].ver = f->cur_ver;
	f->chunks[idx].len = 0;
	rc = chunk_fd(f, idx, 1);
	if (rc < 0) {
		f->chunks[idx].ver = 0;
		return rc;
	}
	if (ftruncate(rc, 0))
		return -errno;
	return rc;
}

/*
 * Makes chunk idx writable at cur_ver; returns its fd.  May drop and retake
 * f->lock to fetch base bytes (then re-examines the state).
 */
static int chunk_prepare(struct objfs_file *f, size_t idx)
{
	struct file_chunk *c;
	char key[OBJFS_KEY_MAX + 1];
	int rc;

	for (int attempt = 0; attempt < 300; attempt++) {
		rc = ensure_chunks(f, idx + 1);
		if (rc)
			return rc;
		c = &f->chunks[idx];
		if (c->ver == f->cur_ver)
			return chunk_fd(f, idx, 0);
		if (c->ver != 0) {
			/* frozen by a commit: copy-on-write */
			uint32_t oldlen = c->len;
			int in;
			char p[4096];

			staging_chunk_path(f->ctx->staging, f->fid, idx, c->ver, p, sizeof(p));
			in = open(p, O_RDONLY | O_CLOEXEC);
			if (in < 0)
				return -errno;
			pthread_mutex_unlock(&f->lock);
			staging_reserve(f->ctx->staging, oldlen);
			pthread_mutex_lock(&f->lock);
			c = &f->chunks[idx];
			if (c->ver == f->cur_ver || c->len != oldlen) {
				close(in);
				staging_release(f->ctx->staging, oldlen);
				continue;
			}
			rc = chunk_create(f, idx);
			if (rc >= 0) {
				int out = rc;

				rc = copy_fd_range(in, out, oldlen);
				if (rc == 0) {
					c->len = oldlen;
					rc = out;
				}
			}
			close(in);
			if (rc < 0) {
				staging_release(f->ctx->staging, oldlen);
				c->ver = 0;
				chunk_fd_forget(f);
				return rc;
			}
			return rc;
		}
		/* not staged */
		uint64_t start = (uint64_t)idx * csize(f);
		if (start >= f->base_len || !f->base_etag)
			return chunk_create(f, idx);
		{
			uint64_t want = f->base_len - start < csize(f) ? f->base_len - start : csize(f);
			char *etag = strdup(f->base_etag);
			uint64_t base_size = f->base_len, base_len = f->base_len;
			void *buf = malloc(want ? want : 1);
			ssize_t got;

			if (!etag || !buf) {
				free(etag);
				free(buf);
				return -ENOMEM;
			}
			rc = tenant_key(f->tenant, f->path, key, sizeof(key));
			pthread_mutex_unlock(&f->lock);
			got = rc ? rc : file_read_base(f->ctx, f->tenant, key, etag, base_size, buf,
						       want, start, 0);
			if (got >= 0)
				staging_reserve(f->ctx->staging, (uint64_t)got);
			pthread_mutex_lock(&f->lock);
			c = &f->chunks[idx];
			if (got < 0 || c->ver != 0 || !f->base_etag || strcmp(etag, f->base_etag) ||
			    f->base_len != base_len) {
				free(buf);
				if (got >= 0)
					staging_release(f->ctx->staging, (uint64_t)got);
				if (got == -ESTALE) {
					/* wait_rebase takes f->lock itself */
					pthread_mutex_unlock(&f->lock);
					int again = wait_rebase(f, etag);
					pthread_mutex_lock(&f->lock);
					if (!again) {
						free(etag);
						return -EIO;
					}
				} else if (got < 0) {
					free(etag);
					return (int)got;
				}
				free(etag);
				continue;   /* state changed: look again */
			}
			free(etag);
			rc = chunk_create(f, idx);
			if (rc >= 0 && pwrite(rc, buf, (size_t)got, 0) != got)
				rc = -errno;
			free(buf);
			if (rc < 0) {
				staging_release(f->ctx->staging, (uint64_t)got);
				c->ver = 0;
				chunk_fd_forget(f);
				return rc;
			}
			c->len = (uint32_t)got;
			return rc;
		}
	}
	return -EIO;
}

ssize_t file_write(struct objfs_file *f, const void *buf, size_t len, uint64_t off)
{
	const struct objfs_tenant_conf *tc = f->tenant->conf;
	const char *p = buf;
	size_t done = 0;
	int rc = 0;

	if (len == 0)
		return 0;
	if (tc->max_object_size && off + len > tc->max_object_size)
		return -EFBIG;
	pthread_mutex_lock(&f->lock);
	if (off + len > f->size && (rc = quota_resize(f, off + len)) != 0) {
		pthread_mutex_unlock(&f->lock);
		return rc;
	}
	/* before the chunk map changes: the lock drops inside the loop */
	f->dirty = 1;
	while (done < len) {
		uint64_t pos = off + done;
		size_t idx = (size_t)(pos / csize(f));
		uint32_t coff = (uint32_t)(pos % csize(f));
		size_t n = len - done;
		uint64_t grow;
		int fd;

		if (n > csize(f) - coff)
			n = (size_t)(csize(f) - coff);
		fd = chunk_prepare(f, idx);
		if (fd < 0) {
			rc = fd;
			break;
		}
		grow = coff + n > f->chunks[idx].len ? coff + n - f->chunks[idx].len : 0;
		if (grow) {
			uint32_t before = f->chunks[idx].len, ver = f->chunks[idx].ver;

			pthread_mutex_unlock(&f->lock);
			staging_reserve(f->ctx->staging, grow);
			pthread_mutex_lock(&f->lock);
			if (f->chunks[idx].len != before || f->chunks[idx].ver != ver) {
				staging_release(f->ctx->staging, grow);
				continue;    /* changed while waiting: redo this piece */
			}
			fd = chunk_fd(f, idx, 0);
			if (fd < 0) {
				staging_release(f->ctx->staging, grow);
				rc = fd;
				break;
			}
		}
		ssize_t w = pwrite(fd, p + done, n, coff);
		if (w != (ssize_t)n) {
			rc = w < 0 ? -errno : -ENOSPC;
			staging_release(f->ctx->staging, grow);
			/* keep len truthful: the file may have grown partially */
			struct stat st;
			if (fstat(fd, &st) == 0 && (uint64_t)st.st_size > f->chunks[idx].len)
				f->chunks[idx].len = (uint32_t)st.st_size;
			break;
		}
		if (coff + n > f->chunks[idx].len)
			f->chunks[idx].len = (uint32_t)(coff + n);
		done += n;
		if (off + done > f->size)
			f->size = off + done;
	}
	if (done) {
		f->attr.mtime_ns = now_ns();
		f->attr.has_mtime = 1;
		f->ctime_ns = f->attr.mtime_ns;
	}
	pthread_mutex_unlock(&f->lock);
	return done ? (ssize_t)done : rc;
}

int file_truncate(struct objfs_file *f, uint64_t size)
{
	const struct objfs_tenant_conf *tc = f->tenant->conf;
	size_t keep;
	int rc = 0;

	if (tc->max_object_size && size > tc->max_object_size)
		return -EFBIG;
	pthread_mutex_lock(&f->lock);
	f->dirty = 1;       /* before the chunk map changes (chunk_prepare drops the lock) */
	if (size < f->size) {
		keep = (size_t)((size + csize(f) - 1) / csize(f));
		for (size_t i = keep; i < f->nchunks; i++) {
			struct file_chunk *c = &f->chunks[i];

			if (c->ver == f->cur_ver) {
				if (f->cfd >= 0 && f->cfd_idx == i)
					chunk_fd_forget(f);
				staging_remove_chunk(f->ctx->staging, f->fid, i, c->ver);
			}
			c->ver = 0;
			c->len = 0;
		}
		uint32_t coff = (uint32_t)(size % csize(f));
		size_t last = (size_t)(size / csize(f));
		if (coff && last < f->nchunks && f->chunks[last].ver && f->chunks[last].len > coff) {
			int fd = chunk_prepare(f, last);

			if (fd < 0) {
				rc = fd;
			} else if (f->chunks[last].len > coff) {
				if (ftruncate(fd, coff)) {
					rc = -errno;
				} else {
					staging_release(f->ctx->staging, f->chunks[last].len - coff);
					f->chunks[last].len = coff;
				}
			}
		}
		if (f->base_len > size)
			f->base_len = size;
	}
	if (!rc)
		rc = quota_resize(f, size);
	if (!rc) {
		f->size = size;
		f->attr.mtime_ns = now_ns();
		f->attr.has_mtime = 1;
		f->ctime_ns = f->attr.mtime_ns;
	}
	pthread_mutex_unlock(&f->lock);
	return rc;
}

int file_materialize(struct objfs_file *f)
{
	int rc = 0;

	pthread_mutex_lock(&f->lock);
	if (f->base_etag) {
		size_t n = (size_t)((f->base_len + csize(f) - 1) / csize(f));

		f->dirty = 1;   /* before the chunk map changes (chunk_prepare drops the lock) */

		for (size_t i = 0; i < n && rc == 0; i++) {
			if (ensure_chunks(f, i + 1))
				rc = -ENOMEM;
			else if (f->chunks[i].ver == 0) {
				int fd = chunk_prepare(f, i);

				rc = fd < 0 ? fd : 0;
			}
		}
		if (rc == 0) {
			free(f->base_etag);
			f->base_etag = NULL;
			f->base_len = 0;
			f->dirty = 1;
		}
	}
	pthread_mutex_unlock(&f->lock);
	return rc;
}

/* One piece of a read plan. */
struct piece {
	uint64_t pos;       /* file offset */
	size_t len;
	int kind;           /* 0 zeros, 1 base */
};

ssize_t file_read(struct objfs_file *f, void *buf, size_t len, uint64_t off, uint64_t stream)
{
	char key[OBJFS_KEY_MAX + 1];
	struct piece pieces[64];
	char *out = buf;
	ssize_t total = 0;
	int rc = 0;

	for (int attempt = 0; attempt < 300; attempt++) {
		size_t np = 0, done = 0;
		char *etag = NULL;
		uint64_t base_size = 0;

		total = 0;
		pthread_mutex_lock(&f->lock);
		if (off >= f->size) {
			pthread_mutex_unlock(&f->lock);
			return 0;
		}
		if (len > f->size - off)
			len = (size_t)(f->size - off);
		while (done < len && np < 64) {
			uint64_t pos = off + done;
			size_t idx = (size_t)(pos / csize(f));
			uint32_t coff = (uint32_t)(pos % csize(f));
			size_t n = len - done;

			if (n > csize(f) - coff)
				n = (size_t)(csize(f) - coff);
			if (idx < f->nchunks && f->chunks[idx].ver) {
				int fd = chunk_fd(f, idx, 0);
				ssize_t r = 0;

				if (fd < 0) {
					rc = fd;
					break;
				}
				if (coff < f->chunks[idx].len) {
					size_t want = n;

					if (want > f->chunks[idx].len - coff)
						want = f->chunks[idx].len - coff;
					r = pread(fd, out + done, want, coff);
					if (r < 0) {
						rc = -errno;
						break;
					}
				}
				if ((size_t)r < n)
					memset(out + done + r, 0, n - (size_t)r);
			} else if (pos < f->base_len && f->base_etag) {
				if (n > f->base_len - pos)
					n = (size_t)(f->base_len - pos);
				pieces[np++] = (struct piece){ pos, n, 1 };
			} else {
				memset(out + done, 0, n);   /* a hole, beyond the base */
			}
			done += n;
		}
		if (np && !rc) {
			etag = strdup(f->base_etag);
			base_size = f->base_len;
			rc = etag ? tenant_key(f->tenant, f->path, key, sizeof(key)) : -ENOMEM;
		}
		pthread_mutex_unlock(&f->lock);
		if (rc) {
			free(etag);
			return rc;
		}
		/* base pieces, without the lock */
		for (size_t i = 0; i < np && rc == 0; i++) {
			size_t got = 0;

			while (got < pieces[i].len) {
				ssize_t r = file_read_base(f->ctx, f->tenant, key, etag, base_size,
							   out + (pieces[i].pos - off) + got,
							   pieces[i].len - got, pieces[i].pos + got, stream);
				if (r < 0) {
					rc = (int)r;
					break;
				}
				if (r == 0) {   /* object shorter than expected */
					memset(out + (pieces[i].pos - off) + got, 0, pieces[i].len - got);
					break;
				}
				got += (size_t)r;
			}
		}
		if (rc == -ESTALE && wait_rebase(f, etag)) {
			free(etag);
			rc = 0;
			continue;   /* the base changed under us (an upload landed): replan */
		}
		if (rc == -ESTALE && adopt_current(f, etag) == 0) {
			free(etag);
			rc = 0;
			continue;
		}
		free(etag);
		if (rc == -ESTALE) {
			log_warn("read %s/%s: the object was replaced by another client while the"
				 " file had local changes", f->tenant->name, f->path);
			return -EIO;
		}
		if (rc)
			return rc;
		total = (ssize_t)done;
		return total;
	}
	return -EIO;
}

/* ---- commit ---- */

static void kv_text_append(char **buf, size_t *len, size_t *cap, const char *s, int escape)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char tmp[4];
		size_t n = 1;

		if (escape && (*p == '%' || *p == '=' || *p == '\n' || *p < 0x20)) {
			snprintf(tmp, sizeof(tmp), "%%%02X", *p);
			n = 3;
		} else {
			tmp[0] = (char)*p;
		}
		if (*len + n + 1 > *cap) {
			size_t ncap = *cap ? *cap * 2 : 256;
			char *nb;

			while (ncap < *len + n + 1)
				ncap *= 2;
			nb = realloc(*buf, ncap);
			if (!nb)
				return;
			*buf = nb;
			*cap = ncap;
		}
		memcpy(*buf + *len, tmp, n);
		*len += n;
		(*buf)[*len] = '\0';
	}
}

char *file_meta_text(const struct objfs_fileattr *a)
{
	struct objfs_kv *kv = NULL;
	size_t n = 0, len = 0, cap = 0;
	char *buf = strdup("");

	if (!buf || objfs_objmeta_encode(a, &kv, &n)) {
		free(buf);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		kv_text_append(&buf, &len, &cap, kv[i].key, 1);
		kv_text_append(&buf, &len, &cap, "=", 0);
		kv_text_append(&buf, &len, &cap, kv[i].value, 1);
		kv_text_append(&buf, &len, &cap, "\n", 0);
	}
	objfs_kv_free(kv, n);
	return buf;
}

static char *unescape(const char *s, size_t n)
{
	char *o = malloc(n + 1), *q = o;

	if (!o)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		if (s[i] == '%' && i + 2 < n + 0 + 1 && sscanf(s + i + 1, "%2x", &v) == 1) {
			*q++ = (char)v;
			i += 2;
		} else {
			*q++ = s[i];
		}
	}
	*q = '\0';
	return o;
}

int file_meta_parse(const char *text, struct objfs_kv **kv, size_t *n)
{
	struct objfs_kv *v = NULL, *nv;
	size_t cnt = 0;

	*kv = NULL;
	*n = 0;
	for (const char *line = text; line && *line;) {
		const char *nl = strchr(line, '\n'), *eq;
		size_t ll = nl ? (size_t)(nl - line) : strlen(line);

		eq = memchr(line, '=', ll);
		if (eq) {
			nv = realloc(v, (cnt + 1) * sizeof(*v));
			if (!nv)
				goto fail;
			v = nv;
			v[cnt].key = unescape(line, (size_t)(eq - line));
			v[cnt].value = unescape(eq + 1, ll - (size_t)(eq - line) - 1);
			cnt++;
			if (!v[cnt - 1].key || !v[cnt - 1].value)
				goto fail;
		}
		line = nl ? nl + 1 : NULL;
	}
	*kv = v;
	*n = cnt;
	return 0;
fail:
	objfs_kv_free(v, cnt);
	return -ENOMEM;
}

/* Copies the file's content (chunk 0 or zeros) into u->inline_data and
 * makes u independent of chunk files and of the base.  f->lock held. */
static int inline_content(struct objfs_file *f, struct meta_upload *u)
{
	char *buf = calloc(1, f->size ? f->size : 1);
	uint32_t have = 0;

	if (!buf)
		return -ENOMEM;
	if (f->nchunks && f->chunks[0].ver) {
		int fd = chunk_fd(f, 0, 0);
		ssize_t r;

		have = f->chunks[0].len < f->size ? f->chunks[0].len : (uint32_t)f->size;
		r = fd < 0 ? fd : pread(fd, buf, have, 0);
		if (r != (ssize_t)have) {
			free(buf);
			return r < 0 ? (fd < 0 ? fd : -errno) : -EIO;
		}
	}
	u->inline_data = buf;
	u->inline_len = (size_t)f->size;
	free(u->base_etag);
	u->base_etag = NULL;
	u->base_len = 0;
	return 0;
}

int file_commit(struct objfs_file *f)
{
	struct meta_upload u;
	uint32_t *fsync_idx = NULL;
	size_t nfs = 0, ncover;
	int rc = 0, fid_created;
	char p[4096];

	memset(&u, 0, sizeof(u));
	pthread_mutex_lock(&f->commit_lock);
	pthread_mutex_lock(&f->lock);
	if (!f->dirty || f->unlinked) {
		pthread_mutex_unlock(&f->lock);
		goto out_unlock;
	}
	ncover = (size_t)((f->size + csize(f) - 1) / csize(f));
	u.fid = f->fid;
	u.tenant = strdup(f->tenant->name);
	u.path = strdup(f->path);
	u.size = f->size;
	u.base_etag = f->base_etag ? strdup(f->base_etag) : NULL;
	u.base_len = f->base_etag ? f->base_len : 0;
	u.nchunks = ncover;
	u.chunks = calloc(ncover ? ncover : 1, sizeof(uint32_t));
	fsync_idx = calloc(ncover ? ncover : 1, sizeof(uint32_t));
	u.meta = file_meta_text(&f->attr);
	u.content_type = f->content_type ? strdup(f->content_type) : NULL;
	u.created_ms = meta_now_ms();
	if (!u.tenant || !u.path || !u.chunks || !fsync_idx || !u.meta ||
	    (f->base_etag && !u.base_etag) || (f->content_type && !u.content_type)) {
		pthread_mutex_unlock(&f->lock);
		rc = -ENOMEM;
		goto out_unlock;
	}
	if (f->size <= OBJFS_INLINE_MAX && f->size <= csize(f) &&
	    (!f->base_etag || f->base_len == 0 || (f->nchunks && f->chunks[0].ver))) {
		/* small: the content goes into the journal entry itself */
		rc = inline_content(f, &u);
		if (rc) {
			pthread_mutex_unlock(&f->lock);
			goto out_unlock;
		}
	} else {
		for (size_t i = 0; i < ncover && i < f->nchunks; i++) {
			u.chunks[i] = f->chunks[i].ver;
			if (f->chunks[i].ver == f->cur_ver)
				fsync_idx[nfs++] = (uint32_t)i;
		}
	}
	uint32_t ver = f->cur_ver;
	int64_t prev_seq = f->last_seq;
	/* a newer commit is in progress: an older upload landing meanwhile must
	 * not take the file for clean (last_seq is set once the entry is durable) */
	f->last_seq = -1;
	f->commit_ver = f->cur_ver;
	f->cur_ver++;
	f->dirty = 0;
	/* an inline commit syncs no chunk file: a later commit syncs the directory */
	fid_created = nfs ? f->new_fid_dir : 0;
	if (nfs)
		f->new_fid_dir = 0;
	f->pending++;
	chunk_fd_forget(f);
	pthread_mutex_unlock(&f->lock);

	/* The chunk data first, then the journal entry that names it. */
	for (size_t i = 0; i < nfs && rc == 0; i++) {
		int fd;

		staging_chunk_path(f->ctx->staging, f->fid, fsync_idx[i], ver, p, sizeof(p));
		fd = open(p, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || fdatasync(fd))
			rc = -errno;
		if (fd >= 0)
			close(fd);
	}
	if (rc == 0 && nfs)
		rc = staging_fid_sync(f->ctx->staging, f->fid, fid_created);
	if (rc == 0)
		rc = meta_journal_commit(f->ctx->meta, &u);
	if (rc) {
		log_err("commit %s/%s failed: %s", f->tenant->name, f->path, strerror(-rc));
		pthread_mutex_lock(&f->lock);
		f->dirty = 1;
		f->new_fid_dir |= fid_created;
		f->pending--;
		if (f->last_seq == -1)
			f->last_seq = prev_seq;
		pthread_mutex_unlock(&f->lock);
		goto out_unlock;
	}
	pthread_mutex_lock(&f->lock);
	f->last_seq = u.seq;
	pthread_mutex_unlock(&f->lock);
	file_ref(f);                       /* the pending upload's reference */
	writeback_enqueue(f->ctx->wb, f, &u);   /* takes u */
out_unlock:
	pthread_mutex_unlock(&f->commit_lock);
	meta_upload_clear(&u);
	free(fsync_idx);
	return rc;
}

/* staging_gc_fid callback: is chunk file (idx, ver) in f's live map?  f->lock held. */
static int chunk_live(size_t idx, uint32_t ver, void *arg)
{
	struct objfs_file *f = arg;

	return idx < f->nchunks && f->chunks[idx].ver == ver;
}

void file_landed(struct objfs_file *f, int64_t seq, const char *old_base, const char *etag,
		 uint64_t size)
{
	pthread_mutex_lock(&f->lock);
	if (f->pending)
		f->pending--;
	if (etag && !f->unlinked) {
		char *e = strdup(etag);

		quota_landed(f->tenant, f->q_base, size, f->q_obj);
		f->q_base = size;
		f->q_obj = 0;
		quota_resize(f, f->size);   /* growth is now counted against the new base */

		int clean = e && seq == f->last_seq && !f->dirty;

		/* a chunk written since the commit means changes, whatever dirty says */
		for (size_t i = 0; clean && i < f->nchunks; i++)
			clean = f->chunks[i].ver <= f->commit_ver;
		if (clean) {
			/* The object now holds exactly the file's state: drop the staging. */
			free(f->base_etag);
			f->base_etag = e;
			f->base_len = size;
			chunk_fd_forget(f);
			for (size_t i = 0; i < f->nchunks; i++) {
				if (f->chunks[i].ver)
					staging_remove_chunk(f->ctx->staging, f->fid, i, f->chunks[i].ver);
				f->chunks[i].ver = 0;
				f->chunks[i].len = 0;
			}
		} else if (e && (old_base ? f->base_etag && !strcmp(old_base, f->base_etag)
					  : !f->base_etag)) {
			/* Newer changes exist.  Every chunk they still read from the old
			 * base lies within [0, base_len) and was unstaged in the landed
			 * version too, so the new object has the same bytes there. */
			free(f->base_etag);
			f->base_etag = e;
			if (!old_base)
				f->base_len = 0;
		} else {
			free(e);
		}
	}
	if (f->pending == 0 && !f->unlinked)
		staging_gc_fid(f->ctx->staging, f->fid, chunk_live, f);
	pthread_cond_broadcast(&f->landed);
	pthread_mutex_unlock(&f->lock);
}

void file_stat(struct objfs_file *f, struct stat *st, uint64_t ino)
{
	pthread_mutex_lock(&f->lock);
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = f->attr.has_mode ? f->attr.mode : (S_IFREG | 0644);
	st->st_nlink = 1;
	st->st_uid = f->attr.has_uid ? f->attr.uid : f->ctx->uid;
	st->st_gid = f->attr.has_gid ? f->attr.gid : f->ctx->gid;
	st->st_size = (off_t)f->size;
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)((f->size + 511) / 512);
	st->st_mtim.tv_sec = f->attr.mtime_ns / 1000000000LL;
	st->st_mtim.tv_nsec = f->attr.mtime_ns % 1000000000LL;
	st->st_atim = st->st_mtim;
	st->st_ctim.tv_sec = f->ctime_ns / 1000000000LL;
	st->st_ctim.tv_nsec = f->ctime_ns % 1000000000LL;
	pthread_mutex_unlock(&f->lock);
}
