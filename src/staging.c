/* Staging area: chunk-file naming, space accounting and backpressure. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "staging.h"

struct objfs_staging {
	char *root;                      /* cache_dir/staging */
	uint64_t max;
	pthread_mutex_t lock;
	pthread_cond_t freed;            /* signalled on release/kick */
	uint64_t used;                   /* lock */
	staging_pending_fn pending;      /* set once before use */
	void *pending_arg;
	time_t last_over_log;            /* lock */
};

static int mkdir_p(const char *path, mode_t mode)
{
	char tmp[4096];
	size_t len = strlen(path);

	if (len >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, path, len + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, mode) && errno != EEXIST)
		return -errno;
	return 0;
}

/* Sum of the sizes of regular files below dir (one level of fid dirs). */
static uint64_t scan_usage(const char *root)
{
	uint64_t total = 0;
	DIR *d = opendir(root), *sub;
	struct dirent *de, *se;
	char p[4096];
	struct stat st;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", root, de->d_name);
		sub = opendir(p);
		if (!sub)
			continue;
		while ((se = readdir(sub))) {
			if (se->d_name[0] == '.')
				continue;
			if (fstatat(dirfd(sub), se->d_name, &st, 0) == 0 && S_ISREG(st.st_mode))
				total += (uint64_t)st.st_size;
		}
		closedir(sub);
	}
	closedir(d);
	return total;
}

int staging_open(const char *cache_dir, uint64_t max_bytes, struct objfs_staging **out)
{
	struct objfs_staging *s = calloc(1, sizeof(*s));
	int rc;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	if (asprintf(&s->root, "%s/staging", cache_dir) < 0) {
		free(s);
		return -ENOMEM;
	}
	rc = mkdir_p(s->root, 0700);
	if (rc) {
		log_err("staging: cannot create %s: %s", s->root, strerror(-rc));
		free(s->root);
		free(s);
		return rc;
	}
	s->max = max_bytes;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->freed, NULL);
	s->used = scan_usage(s->root);
	*out = s;
	return 0;
}

void staging_free(struct objfs_staging *s)
{
	if (!s)
		return;
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->freed);
	free(s->root);
	free(s);
}

void staging_set_pending_fn(struct objfs_staging *s, staging_pending_fn fn, void *arg)
{
	s->pending = fn;
	s->pending_arg = arg;
}

void staging_chunk_path(const struct objfs_staging *s, uint64_t fid, size_t idx, uint32_t ver,
			char *buf, size_t len)
{
	snprintf(buf, len, "%s/%" PRIu64 "/%zu.%" PRIu32, s->root, fid, idx, ver);
}

void staging_fid_path(const struct objfs_staging *s, uint64_t fid, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%" PRIu64, s->root, fid);
}

int staging_fid_mkdir(struct objfs_staging *s, uint64_t fid, int *created)
{
	char p[4096];

	staging_fid_path(s, fid, p, sizeof(p));
	*created = 0;
	if (mkdir(p, 0700) == 0) {
		*created = 1;
		return 0;
	}
	return errno == EEXIST ? 0 : -errno;
}

static int fsync_path(const char *p)
{
	int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd))
		rc = -errno;
	close(fd);
	return rc;
}

int staging_fid_sync(struct objfs_staging *s, uint64_t fid, int fid_created)
{
	char p[4096];
	int rc;

	staging_fid_path(s, fid, p, sizeof(p));
	rc = fsync_path(p);
	if (!rc && fid_created)
		rc = fsync_path(s->root);
	return rc;
}

void staging_remove_chunk(struct objfs_staging *s, uint64_t fid, size_t idx, uint32_t ver)
{
	char p[4096];
	struct stat st;

	staging_chunk_path(s, fid, idx, ver, p, sizeof(p));
	if (stat(p, &st) == 0 && unlink(p) == 0)
		staging_release(s, (uint64_t)st.st_size);
}

void staging_gc_fid(struct objfs_staging *s, uint64_t fid,
		    int (*keep)(size_t idx, uint32_t ver, void *arg), void *arg)
{
	char p[4096];
	uint64_t freed = 0;
	struct dirent *de;
	struct stat st;
	DIR *d;

	staging_fid_path(s, fid, p, sizeof(p));
	d = opendir(p);
	if (!d)
		return;
	while ((de = readdir(d))) {
		unsigned long long idx;
		unsigned ver;
		char tail;

		if (de->d_name[0] == '.')
			continue;
		/* chunk files are "<idx>.<ver>"; anything else is left over from a crash */
		if (sscanf(de->d_name, "%llu.%u%c", &idx, &ver, &tail) == 2 &&
		    keep((size_t)idx, (uint32_t)ver, arg))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, 0) == 0 &&
		    unlinkat(dirfd(d), de->d_name, 0) == 0)
			freed += (uint64_t)st.st_size;
	}
	closedir(d);
	staging_release(s, freed);
}

static int keep_none(size_t idx, uint32_t ver, void *arg)
{
	return 0;
}

void staging_remove_fid(struct objfs_staging *s, uint64_t fid)
{
	char p[4096];

	staging_gc_fid(s, fid, keep_none, NULL);
	staging_fid_path(s, fid, p, sizeof(p));
	rmdir(p);
}

void staging_reserve(struct objfs_staging *s, uint64_t bytes)
{
	struct timespec until;

	if (!bytes)
		return;
	pthread_mutex_lock(&s->lock);
	while (s->used + bytes > s->max) {
		/* Nothing will free space: grant over the bound instead of deadlocking. */
		if (!s->pending || !s->pending(s->pending_arg)) {
			time_t now = time(NULL);

			if (now != s->last_over_log) {
				s->last_over_log = now;
				log_warn("staging: %" PRIu64 " bytes used exceed the bound of %" PRIu64
					 " and no upload is pending (a single file larger than"
					 " staging_max_bytes?)", s->used + bytes, s->max);
			}
			break;
		}
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 200 * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&s->freed, &s->lock, &until);
	}
	s->used += bytes;
	pthread_mutex_unlock(&s->lock);
}

void staging_charge(struct objfs_staging *s, uint64_t bytes)
{
	pthread_mutex_lock(&s->lock);
	s->used += bytes;
	pthread_mutex_unlock(&s->lock);
}

void staging_release(struct objfs_staging *s, uint64_t bytes)
{
	if (!bytes)
		return;
	pthread_mutex_lock(&s->lock);
	s->used = bytes > s->used ? 0 : s->used - bytes;
	pthread_cond_broadcast(&s->freed);
	pthread_mutex_unlock(&s->lock);
}

void staging_kick(struct objfs_staging *s)
{
	pthread_mutex_lock(&s->lock);
	pthread_cond_broadcast(&s->freed);
	pthread_mutex_unlock(&s->lock);
}

uint64_t staging_used(struct objfs_staging *s)
{
	uint64_t u;

	pthread_mutex_lock(&s->lock);
	u = s->used;
	pthread_mutex_unlock(&s->lock);
	return u;
}

uint64_t staging_max(const struct objfs_staging *s)
{
	return s->max;
}

int staging_list_fids(struct objfs_staging *s, uint64_t **fids, size_t *n)
{
	uint64_t *v = NULL, *nv;
	size_t cnt = 0, cap = 0;
	struct dirent *de;
	DIR *d = opendir(s->root);
	char *end;

	*fids = NULL;
	*n = 0;
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		unsigned long long id;

		if (de->d_name[0] == '.')
			continue;
		errno = 0;
		id = strtoull(de->d_name, &end, 10);
		if (errno || *end)
			continue;
		if (cnt == cap) {
			cap = cap ? cap * 2 : 64;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				free(v);
				closedir(d);
				return -ENOMEM;
			}
			v = nv;
		}
		v[cnt++] = id;
	}
	closedir(d);
	*fids = v;
	*n = cnt;
	return 0;
}
