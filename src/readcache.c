/*
 * Read cache: ranged reads through a bounded on-disk cache of fixed-size
 * blocks (see docs/readcache.md for the overview).
 *
 * Blocks.  Block b of an object covers [b*bs, min(size, (b+1)*bs)).  An
 * object version is named by its cache key ckey = SHA-256(bucket "\n" key "\n"
 * etag); a new ETag is a new ckey, so bytes of an old version are never
 * returned for a new one.  okey = SHA-256(bucket "\n" key) lets invalidate
 * find every version of a key.
 *
 * Entries.  One struct rc_entry per (ckey, block) in a chained hash table.
 * An entry is FILLING until one thread (the "taker": a reader or a background
 * worker) has fetched it, then READY or FAILED for good.  Readers pin entries
 * (refs) for as long as they use them; a FILLING entry doubles as the
 * in-flight record, so a second reader of a missing block pins it and waits
 * on fill_cv instead of fetching it again.  A FILLING entry nobody has taken
 * yet (queued for a worker) is taken by the first reader that needs it, so a
 * reader never waits behind the queue.  A READY entry either has a block
 * file (has_file) or, when the file could not be written or the cache has no
 * room, keeps its bytes in memory (mem) for the readers pinning it and leaves
 * the index at once (read-through).  FAILED entries leave the index at once;
 * a reader that was only waiting for the failed fetch fetches the block once
 * itself, so an error reaches no read beyond the one whose fetch failed.
 *
 * Files.  A block file is named HEX(ckey)-BLOCK-GEN in dir; GEN is unique per
 * entry, so a file being unlinked after eviction can never be a newer file
 * for the same block.  Files are written under a ".tmp" name and renamed,
 * so no one ever sees a partial block.
 *
 * Space.  live counts bytes of files present or reserved for a fill in
 * progress; pending counts bytes of evicted files not yet unlinked.  A fill
 * reserves its block length before fetching, evicting unpinned READY entries
 * from the LRU tail; if live + pending + need cannot be brought under
 * max_bytes, the block is served read-through.  Unlinks happen outside the
 * lock, so on-disk bytes <= live + pending <= max_bytes (+ the caller's own
 * victims until it unlinks them, which it does before writing).
 *
 * Parallelism.  A read that misses several blocks queues all but its first
 * missing block to the workers (front of the queue), fills the first itself
 * and then takes, or waits for, the others in order.  Readahead jobs go to
 * the back of the same bounded queue and are dropped when it is full.  A
 * reader that takes a queued block cancels its job (the ring slot stays, with
 * no entry), and a read that fails cancels the jobs it queued.
 *
 * Locking.  One mutex, rc->lock, protects the index, the LRU, the space
 * counters, the queue, the stream table and the stats; it is never held
 * across provider I/O or block-file I/O.  Entry fields are under rc->lock;
 * once an entry is READY or FAILED, state, err, mem, has_file and len do not
 * change while it is pinned, so pinned readers read them without the lock.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "readcache.h"
#include "log.h"

#define RC_HASH_LEN        32          /* SHA-256 */
#define RC_HEX_LEN         (2 * RC_HASH_LEN)
#define RC_NAME_MAX        (RC_HEX_LEN + 2 * 21 + 8)
#define RC_STREAMS         64          /* readahead streams tracked */
#define RC_QUEUE_MIN       64
#define RC_QUEUE_MAX       4096
#define RC_THREADS_MAX     256
#define RC_HASH_MIN        64
#define RC_HASH_MAX        (1u << 20)
#define RC_WARN_INTERVAL_S 60
#define RC_STACK_SLOTS     8

enum rc_state { RC_FILLING = 0, RC_READY, RC_FAILED };

struct rc_entry {
	/* All fields under rc->lock (see "Locking" above). */
	struct rc_entry *hnext;          /* hash chain, while in_hash */
	struct rc_entry *lprev, *lnext;  /* LRU, while in_lru (refs == 0, READY, has_file) */
	struct rc_entry *vnext;          /* reap list of dead entries */
	unsigned char ckey[RC_HASH_LEN];
	unsigned char okey[RC_HASH_LEN];
	uint64_t blk;
	uint64_t gen;                    /* unique per entry: part of the file name */
	uint32_t len;                    /* block length, >= 1 */
	unsigned refs;                   /* readers and queued jobs pinning it */
	enum rc_state state;
	int err;                         /* FAILED: the negative errno */
	bool in_hash, in_lru;
	bool taken;                      /* FILLING: someone is fetching it */
	bool queued;                     /* a job in rc->q[qslot] pins it */
	size_t qslot;
	bool has_file;                   /* bytes counted in live; file exists once READY */
	void *mem;                       /* READY without a file: the bytes; owned */
};

/* A fetch to do: entry plus where it comes from.  Queued jobs own names and
 * hold one pin on e; a reader's own job points at the reader's strings. */
struct rc_job {
	struct rc_entry *e;
	struct objfs_prov *prov;
	char *names;                     /* bucket \0 key \0 etag \0, owned, or NULL */
	const char *bucket, *key, *etag;
};

struct rc_stream {
	uint64_t id;                     /* 0: free slot */
	uint64_t next_off;               /* where a sequential read would start */
	uint64_t window;                 /* readahead bytes, 0: none */
	uint64_t ra_next;                /* first block not yet considered for readahead */
	uint64_t used;                   /* LRU tick */
	unsigned char ckey[RC_HASH_LEN];
};

/* Lock order: rc->lock is the only lock of this module (log has its own, taken
 * under nothing of ours). */
struct objfs_readcache {
	/* Set at creation, read-only afterwards. */
	char *dir;
	int dfd;
	uint64_t max_bytes, max_ra;
	uint32_t bs;
	unsigned nthreads, started;
	pthread_t *threads;

	pthread_mutex_t lock;
	pthread_cond_t fill_cv;          /* broadcast when an entry leaves FILLING */
	pthread_cond_t work_cv;          /* a job was queued, or stop */
	bool sync_ok;                    /* lock and cvs initialised */

	struct rc_entry **htab;          /* (lock) */
	size_t hmask;
	struct rc_entry lru;             /* (lock) sentinel: lnext = most recent */
	uint64_t lru_bytes;              /* (lock) bytes of entries in the LRU */
	uint64_t live;                   /* (lock) see "Space" */
	uint64_t pending;                /* (lock) */
	uint64_t gen;                    /* (lock) */
	struct rc_job *q;                /* (lock) ring of qcap jobs */
	size_t qcap, qhead, qlen;
	struct rc_stream streams[RC_STREAMS]; /* (lock) */
	uint64_t stream_tick;            /* (lock) */
	struct objfs_readcache_stats st; /* (lock) */
	struct timespec last_warn;       /* (lock) */
	bool warned;                     /* (lock) */
	bool stop;                       /* (lock) */
};

/* ---- keys and names ---------------------------------------------------- */

/* SHA-256 of the strings joined by "\n".  0 or -ENOMEM. */
static int rc_digest(const char *const *parts, size_t n, unsigned char out[RC_HASH_LEN])
{
	EVP_MD_CTX *ctx = NULL;
	unsigned int olen = 0;
	int rc = -ENOMEM;

	ctx = EVP_MD_CTX_new();
	if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && EVP_DigestUpdate(ctx, "\n", 1) != 1)
			goto out;
		if (EVP_DigestUpdate(ctx, parts[i], strlen(parts[i])) != 1)
			goto out;
	}
	if (EVP_DigestFinal_ex(ctx, out, &olen) != 1 || olen != RC_HASH_LEN)
		goto out;
	rc = 0;
out:
	EVP_MD_CTX_free(ctx);
	return rc;
}

static int rc_keys(const char *bucket, const char *key, const char *etag,
		   unsigned char ckey[RC_HASH_LEN], unsigned char okey[RC_HASH_LEN])
{
	const char *parts[3] = { bucket, key, etag };
	int rc;

	rc = rc_digest(parts, 3, ckey);
	if (rc == 0)
		rc = rc_digest(parts, 2, okey);
	return rc;
}

static void rc_name(const struct rc_entry *e, bool tmp, char out[RC_NAME_MAX])
{
	static const char hex[] = "0123456789abcdef";
	char h[RC_HEX_LEN + 1];

	for (int i = 0; i < RC_HASH_LEN; i++) {
		h[2 * i] = hex[e->ckey[i] >> 4];
		h[2 * i + 1] = hex[e->ckey[i] & 15];
	}
	h[RC_HEX_LEN] = '\0';
	snprintf(out, RC_NAME_MAX, "%s-%" PRIu64 "-%" PRIu64 "%s", h, e->blk, e->gen,
		 tmp ? ".tmp" : "");
}

/* 1 if name looks like one of our block files (or their temporaries). */
static int rc_is_block_name(const char *name)
{
	for (int i = 0; i < RC_HEX_LEN; i++)
		if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
			return 0;
	return name[RC_HEX_LEN] == '-';
}

/* ---- index, LRU and space (all under rc->lock) ------------------------- */

static size_t rc_hidx(const struct objfs_readcache *rc, const unsigned char *ckey, uint64_t blk)
{
	uint64_t h;

	memcpy(&h, ckey, sizeof(h));
	h ^= blk * 0x9e3779b97f4a7c15ULL;
	h ^= h >> 31;
	return (size_t)h & rc->hmask;
}

static struct rc_entry *rc_lookup_locked(struct objfs_readcache *rc,
					 const unsigned char *ckey, uint64_t blk)
{
	struct rc_entry *e = rc->htab[rc_hidx(rc, ckey, blk)];

	for (; e; e = e->hnext)
		if (e->blk == blk && memcmp(e->ckey, ckey, RC_HASH_LEN) == 0)
			return e;
	return NULL;
}

static void rc_hash_remove_locked(struct objfs_readcache *rc, struct rc_entry *e)
{
	struct rc_entry **pp = &rc->htab[rc_hidx(rc, e->ckey, e->blk)];

	for (; *pp; pp = &(*pp)->hnext) {
		if (*pp == e) {
			*pp = e->hnext;
			break;
		}
	}
	e->hnext = NULL;
	e->in_hash = false;
}

static void rc_lru_remove_locked(struct objfs_readcache *rc, struct rc_entry *e)
{
	e->lprev->lnext = e->lnext;
	e->lnext->lprev = e->lprev;
	e->lprev = e->lnext = NULL;
	e->in_lru = false;
	rc->lru_bytes -= e->len;
}

static void rc_lru_push_locked(struct objfs_readcache *rc, struct rc_entry *e)
{
	e->lnext = rc->lru.lnext;
	e->lprev = &rc->lru;
	rc->lru.lnext->lprev = e;
	rc->lru.lnext = e;
	e->in_lru = true;
	rc->lru_bytes += e->len;
}

/* Takes a dead entry (no pins, or being evicted) out of every structure and
 * onto *reap; its file's bytes move from live to pending. */
static void rc_kill_locked(struct objfs_readcache *rc, struct rc_entry *e, struct rc_entry **reap)
{
	if (e->in_lru)
		rc_lru_remove_locked(rc, e);
	if (e->in_hash)
		rc_hash_remove_locked(rc, e);
	if (e->has_file) {
		rc->live -= e->len;
		rc->pending += e->len;
		if (e->state == RC_READY)
			rc->st.bytes_cached -= e->len;
	}
	e->vnext = *reap;
	*reap = e;
}

static void rc_pin_locked(struct objfs_readcache *rc, struct rc_entry *e)
{
	if (e->in_lru)
		rc_lru_remove_locked(rc, e);
	e->refs++;
}

static void rc_unpin_locked(struct objfs_readcache *rc, struct rc_entry *e, struct rc_entry **reap)
{
	if (--e->refs > 0)
		return;
	if (e->in_hash && e->state == RC_READY && e->has_file)
		rc_lru_push_locked(rc, e);
	else
		rc_kill_locked(rc, e, reap);   /* failed, read-through, invalidated, or never taken */
}

/* Unlinks the files of dead entries and frees them.  Called without the lock. */
static void rc_reap(struct objfs_readcache *rc, struct rc_entry *reap)
{
	char name[RC_NAME_MAX];
	uint64_t bytes = 0;

	while (reap) {
		struct rc_entry *e = reap;

		reap = e->vnext;
		if (e->has_file) {
			rc_name(e, false, name);
			if (unlinkat(rc->dfd, name, 0) < 0 && errno != ENOENT)
				log_warn("readcache: unlink %s/%s: %s", rc->dir, name, strerror(errno));
			bytes += e->len;
		}
		free(e->mem);
		free(e);
	}
	if (bytes) {
		pthread_mutex_lock(&rc->lock);
		rc->pending -= bytes;
		pthread_mutex_unlock(&rc->lock);
	}
}

/* Lookup-or-create of (ckey, blk), pinned.  *created says which.  NULL: -ENOMEM. */
static struct rc_entry *rc_get_locked(struct objfs_readcache *rc, const unsigned char *ckey,
				      const unsigned char *okey, uint64_t blk,
				      uint64_t obj_size, bool *created)
{
	struct rc_entry *e = rc_lookup_locked(rc, ckey, blk);
	uint64_t start = blk * rc->bs;
	size_t i;

	*created = false;
	if (e) {
		rc_pin_locked(rc, e);
		return e;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	memcpy(e->ckey, ckey, RC_HASH_LEN);
	memcpy(e->okey, okey, RC_HASH_LEN);
	e->blk = blk;
	e->gen = ++rc->gen;
	e->len = (uint32_t)(obj_size - start < rc->bs ? obj_size - start : rc->bs);
	e->refs = 1;
	e->state = RC_FILLING;
	i = rc_hidx(rc, ckey, blk);
	e->hnext = rc->htab[i];
	rc->htab[i] = e;
	e->in_hash = true;
	*created = true;
	return e;
}

/*
 * Reserves need bytes of block files, evicting least-recently-used blocks
 * when that makes room.  Returns true if reserved (the caller must later
 * either keep the bytes as a file or give them back with rc_unreserve).
 */
static bool rc_reserve(struct objfs_readcache *rc, uint64_t need)
{
	struct rc_entry *reap = NULL;
	uint64_t mine = 0;
	bool ok;

	pthread_mutex_lock(&rc->lock);
	/* Evict only if that can succeed: pinned blocks cannot go. */
	if (rc->live + rc->pending + need - rc->lru_bytes <= rc->max_bytes) {
		while (rc->live + rc->pending - mine + need > rc->max_bytes &&
		       rc->lru.lprev != &rc->lru) {
			struct rc_entry *v = rc->lru.lprev;

			mine += v->len;
			rc->st.evictions++;
			rc_kill_locked(rc, v, &reap);
		}
	}
	ok = rc->live + rc->pending - mine + need <= rc->max_bytes;
	if (ok)
		rc->live += need;
	pthread_mutex_unlock(&rc->lock);
	rc_reap(rc, reap);   /* before our own file is written */
	return ok;
}

static void rc_unreserve(struct objfs_readcache *rc, uint64_t need)
{
	pthread_mutex_lock(&rc->lock);
	rc->live -= need;
	pthread_mutex_unlock(&rc->lock);
}

/* ---- block files ------------------------------------------------------- */

/* Writes the block file of e (temporary name, then rename).  0 or -errno. */
static int rc_write_block(struct objfs_readcache *rc, const struct rc_entry *e, const void *data)
{
	char tmp[RC_NAME_MAX], name[RC_NAME_MAX];
	const char *p = data;
	size_t left = e->len;
	int fd = -1, rc_ = 0;

	rc_name(e, true, tmp);
	rc_name(e, false, name);
	fd = openat(rc->dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc_ = -errno;
		goto out;
	}
	while (left > 0) {
		ssize_t n = write(fd, p, left);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc_ = n < 0 ? -errno : -ENOSPC;
			goto out;
		}
		p += n;
		left -= (size_t)n;
	}
	if (close(fd) < 0) {
		fd = -1;
		rc_ = -errno;
		goto out;
	}
	fd = -1;
	if (renameat(rc->dfd, tmp, rc->dfd, name) < 0)
		rc_ = -errno;
out:
	if (fd >= 0)
		close(fd);
	if (rc_ < 0)
		unlinkat(rc->dfd, tmp, 0);
	return rc_;
}

/* Reads [from, from+n) of e's block file (from relative to the block). */
static int rc_read_block(struct objfs_readcache *rc, const struct rc_entry *e,
			 uint64_t from, size_t n, char *dst)
{
	char name[RC_NAME_MAX];
	int fd = -1, rc_ = 0;

	rc_name(e, false, name);
	fd = openat(rc->dfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc_ = -errno;
		goto out;
	}
	while (n > 0) {
		ssize_t got = pread(fd, dst, n, (off_t)from);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			rc_ = got < 0 ? -errno : -EIO;
			goto out;
		}
		dst += got;
		from += (uint64_t)got;
		n -= (size_t)got;
	}
out:
	if (fd >= 0)
		close(fd);
	if (rc_ < 0) {
		log_err("readcache: reading block file %s/%s: %s", rc->dir, name, strerror(-rc_));
		rc_ = -EIO;
	}
	return rc_;
}

/* Warns that block files cannot be written, at most once per interval. */
static void rc_warn_write(struct objfs_readcache *rc, int err)
{
	struct timespec now;
	bool say = false;

	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&rc->lock);
	if (!rc->warned || now.tv_sec - rc->last_warn.tv_sec >= RC_WARN_INTERVAL_S) {
		rc->warned = true;
		rc->last_warn = now;
		say = true;
	}
	pthread_mutex_unlock(&rc->lock);
	if (say)
		log_warn("readcache: cannot write block files in %s (%s); serving reads from memory",
			 rc->dir, strerror(-err));
}

/*
 * Fetches the block of job->e, which the caller has taken, into a block file
 * (or memory), then publishes it: READY or FAILED, and wakes the waiters.
 * If fresh is not NULL and the bytes went to a file, *fresh receives the
 * malloc'ed bytes (the caller frees them).  A queued job's pin (job->names
 * set) is dropped in the same critical section, so a reader woken by the
 * publication never sees the worker still holding the block.  Returns 0 or
 * the fetch error.
 */
static int rc_fill(struct objfs_readcache *rc, const struct rc_job *job, void **fresh)
{
	struct rc_entry *e = job->e, *reap = NULL;
	struct objfs_err err;
	void *data = NULL;
	uint64_t got = 0;
	bool file = false;
	int r;

	data = malloc(e->len);
	if (!data) {
		r = -ENOMEM;
		goto out;
	}
	file = rc_reserve(rc, e->len);
	r = objfs_prov_get(job->prov, job->bucket, job->key, e->blk * rc->bs, e->len,
			   job->etag, data, &got, &err);
	if (r == 0 && got != e->len) {
		log_warn("readcache: %s/%s block %" PRIu64 ": got %" PRIu64 " of %" PRIu32
			 " bytes (size does not match the ETag's object)",
			 job->bucket, job->key, e->blk, got, e->len);
		r = -EIO;
	}
	if (r < 0)
		goto out;
	if (file) {
		int w = rc_write_block(rc, e, data);

		if (w < 0) {
			rc_warn_write(rc, w);
			rc_unreserve(rc, e->len);
			file = false;
		}
	}
out:
	if (r < 0 && file) {
		rc_unreserve(rc, e->len);
		file = false;
	}
	pthread_mutex_lock(&rc->lock);
	e->state = r < 0 ? RC_FAILED : RC_READY;
	e->err = r;
	e->has_file = file;
	if (file) {
		rc->st.bytes_cached += e->len;
	} else {
		if (r == 0) {
			e->mem = data;
			data = NULL;
		}
		if (e->in_hash)
			rc_hash_remove_locked(rc, e);
	}
	if (job->names)
		rc_unpin_locked(rc, e, &reap);
	pthread_cond_broadcast(&rc->fill_cv);
	pthread_mutex_unlock(&rc->lock);
	rc_reap(rc, reap);
	if (fresh && data) {
		*fresh = data;
		data = NULL;
	}
	free(data);
	return r;
}

/* ---- background workers ------------------------------------------------ */

static bool rc_queue_full_locked(const struct objfs_readcache *rc)
{
	return rc->qlen >= rc->qcap;
}

/* Queues a fetch of e (pinning it for the job).  0 or -ENOMEM/-EAGAIN. */
static int rc_enqueue_locked(struct objfs_readcache *rc, struct rc_entry *e,
			     struct objfs_prov *prov, const char *bucket, const char *key,
			     const char *etag, bool front)
{
	size_t lb = strlen(bucket) + 1, lk = strlen(key) + 1, le = strlen(etag) + 1;
	struct rc_job *j;
	char *names;
	size_t i;

	if (rc_queue_full_locked(rc))
		return -EAGAIN;
	names = malloc(lb + lk + le);
	if (!names)
		return -ENOMEM;
	memcpy(names, bucket, lb);
	memcpy(names + lb, key, lk);
	memcpy(names + lb + lk, etag, le);
	if (front) {
		rc->qhead = (rc->qhead + rc->qcap - 1) % rc->qcap;
		i = rc->qhead;
	} else {
		i = (rc->qhead + rc->qlen) % rc->qcap;
	}
	rc->qlen++;
	j = &rc->q[i];
	e->queued = true;
	e->qslot = i;
	j->e = e;
	j->prov = prov;
	j->names = names;
	j->bucket = names;
	j->key = names + lb;
	j->etag = names + lb + lk;
	rc_pin_locked(rc, e);
	pthread_cond_signal(&rc->work_cv);
	return 0;
}

/* Cancels the queued job of e (a reader took the block, or it was
 * invalidated): the job stays in the ring with no entry and drops its pin. */
static void rc_cancel_job_locked(struct objfs_readcache *rc, struct rc_entry *e,
				 struct rc_entry **reap)
{
	if (!e->queued)
		return;
	rc->q[e->qslot].e = NULL;
	e->queued = false;
	rc_unpin_locked(rc, e, reap);
}

static void *rc_worker(void *arg)
{
	struct objfs_readcache *rc = arg;
	struct rc_entry *reap = NULL;
	struct rc_job j;

	pthread_mutex_lock(&rc->lock);
	for (;;) {
		while (!rc->stop && rc->qlen == 0)
			pthread_cond_wait(&rc->work_cv, &rc->lock);
		if (rc->stop)
			break;
		j = rc->q[rc->qhead];
		rc->qhead = (rc->qhead + 1) % rc->qcap;
		rc->qlen--;
		if (!j.e) {                       /* cancelled */
			free(j.names);
			continue;
		}
		j.e->queued = false;
		if (j.e->state == RC_FILLING && !j.e->taken && j.e->in_hash) {
			j.e->taken = true;
			pthread_mutex_unlock(&rc->lock);
			rc_fill(rc, &j, NULL);          /* drops the job's pin */
			pthread_mutex_lock(&rc->lock);
		} else {
			rc_unpin_locked(rc, j.e, &reap);
		}
		if (reap) {
			pthread_mutex_unlock(&rc->lock);
			rc_reap(rc, reap);
			reap = NULL;
			pthread_mutex_lock(&rc->lock);
		}
		free(j.names);
	}
	pthread_mutex_unlock(&rc->lock);
	return NULL;
}

/* ---- readahead --------------------------------------------------------- */

static struct rc_stream *rc_stream_locked(struct objfs_readcache *rc, uint64_t id, bool *found)
{
	struct rc_stream *s, *victim = &rc->streams[0];

	for (int i = 0; i < RC_STREAMS; i++) {
		s = &rc->streams[i];
		if (s->id == id) {
			*found = true;
			return s;
		}
		if (s->used < victim->used)
			victim = s;
	}
	*found = false;
	memset(victim, 0, sizeof(*victim));
	victim->id = id;
	return victim;
}

/*
 * Records a read of [off, end) by stream_id and queues readahead of the
 * blocks after end when the stream reads sequentially.
 */
static void rc_readahead_locked(struct objfs_readcache *rc, struct objfs_prov *prov,
				const char *bucket, const char *key, const char *etag,
				const unsigned char *ckey, const unsigned char *okey,
				uint64_t obj_size, uint64_t off, uint64_t end, uint64_t stream_id,
				struct rc_entry **reap)
{
	struct rc_stream *s;
	uint64_t ra_end, b;
	bool found, seq;

	s = rc_stream_locked(rc, stream_id, &found);
	if (found && memcmp(s->ckey, ckey, RC_HASH_LEN) == 0)
		seq = s->next_off == off;
	else
		seq = off == 0;        /* a new stream that starts at the beginning */
	if (!seq) {
		s->window = 0;
		s->ra_next = 0;
	} else if (s->window == 0) {
		s->window = rc->max_ra < rc->bs ? rc->max_ra : rc->bs;
	} else {
		s->window = s->window > rc->max_ra / 2 ? rc->max_ra : s->window * 2;
	}
	memcpy(s->ckey, ckey, RC_HASH_LEN);
	s->next_off = end;
	s->used = ++rc->stream_tick;
	if (s->window == 0)
		return;
	ra_end = obj_size - end < s->window ? obj_size : end + s->window;
	b = end / rc->bs;
	if (b < s->ra_next)
		b = s->ra_next;
	for (; b * rc->bs < ra_end; b++) {
		struct rc_entry *e;
		bool created;

		if (rc_queue_full_locked(rc))
			break;                 /* drop the rest; the reader will fetch it */
		if (rc_lookup_locked(rc, ckey, b))
			continue;
		e = rc_get_locked(rc, ckey, okey, b, obj_size, &created);
		if (!e)
			break;
		if (rc_enqueue_locked(rc, e, prov, bucket, key, etag, false) < 0) {
			rc_unpin_locked(rc, e, reap);    /* never taken: dies */
			break;
		}
		rc_unpin_locked(rc, e, reap);            /* the job keeps its pin */
		rc->st.readahead_blocks++;
	}
	s->ra_next = b;
}

/* ---- the interface ----------------------------------------------------- */

struct rc_slot {
	struct rc_entry *e;
	void *fresh;                     /* bytes we fetched ourselves, or NULL */
	bool created;
};

ssize_t objfs_readcache_read(struct objfs_readcache *rc, struct objfs_prov *prov,
			     const char *bucket, const char *key, const char *etag,
			     uint64_t obj_size, uint64_t off, size_t len, void *buf,
			     uint64_t stream_id)
{
	unsigned char ckey[RC_HASH_LEN], okey[RC_HASH_LEN];
	struct rc_slot stack_slots[RC_STACK_SLOTS], *slots = NULL;
	struct rc_entry *reap = NULL;
	struct rc_job own;
	uint64_t end, first, n = 0, pinned = 0;
	uint64_t firstc;
	ssize_t ret = 0;
	int r;

	if (!rc || !prov || !bucket || !key || !etag || !*etag || (!buf && len)) {
		ret = -EINVAL;
		goto out;
	}
	if (off >= obj_size || len == 0)
		goto out;
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	end = obj_size - off < len ? obj_size : off + len;
	first = off / rc->bs;
	n = (end - 1) / rc->bs - first + 1;
	r = rc_keys(bucket, key, etag, ckey, okey);
	if (r < 0) {
		ret = r;
		goto out;
	}
	slots = n <= RC_STACK_SLOTS ? stack_slots : calloc(n, sizeof(*slots));
	if (!slots) {
		ret = -ENOMEM;
		goto out;
	}
	memset(slots, 0, n * sizeof(*slots));

	pthread_mutex_lock(&rc->lock);
	for (pinned = 0; pinned < n; pinned++) {
		struct rc_slot *sl = &slots[pinned];

		sl->e = rc_get_locked(rc, ckey, okey, first + pinned, obj_size, &sl->created);
		if (!sl->e)
			break;
		if (sl->created)
			rc->st.misses++;
		else
			rc->st.hits++;
	}
	if (pinned < n) {
		pthread_mutex_unlock(&rc->lock);
		ret = -ENOMEM;
		goto out;
	}
	/* Several missing blocks: the workers fetch all but our first one,
	 * queued in reverse at the front so they are taken in order (a full
	 * queue just leaves them to us). */
	for (firstc = 0; firstc < n && !slots[firstc].created; firstc++)
		;
	for (uint64_t i = n; i-- > firstc + 1;)
		if (slots[i].created)
			rc_enqueue_locked(rc, slots[i].e, prov, bucket, key, etag, true);
	if (stream_id != 0 && rc->max_ra > 0)
		rc_readahead_locked(rc, prov, bucket, key, etag, ckey, okey, obj_size,
				    off, end, stream_id, &reap);
	pthread_mutex_unlock(&rc->lock);
	rc_reap(rc, reap);
	reap = NULL;

	own.prov = prov;
	own.names = NULL;
	own.bucket = bucket;
	own.key = key;
	own.etag = etag;
	for (uint64_t i = 0; i < n; i++) {
		struct rc_entry *e = slots[i].e;
		uint64_t bstart = (first + i) * rc->bs;
		uint64_t from = off > bstart ? off : bstart;
		uint64_t to = end < bstart + e->len ? end : bstart + e->len;
		char *dst = (char *)buf + (from - off);
		const char *src;

		for (int retried = 0;; retried = 1) {
			bool mine = false;

			pthread_mutex_lock(&rc->lock);
			while (e->state == RC_FILLING && e->taken)
				pthread_cond_wait(&rc->fill_cv, &rc->lock);
			if (e->state == RC_FILLING) {
				e->taken = true;
				rc_cancel_job_locked(rc, e, &reap);   /* we hold a pin: no death */
				pthread_mutex_unlock(&rc->lock);
				own.e = e;
				rc_fill(rc, &own, &slots[i].fresh);
				mine = true;
			} else {
				pthread_mutex_unlock(&rc->lock);
			}
			/* Published: state, err, mem and has_file are fixed while pinned. */
			if (e->state != RC_FAILED || mine || retried)
				break;
			/* A fetch this read only waited for failed (another reader's,
			 * or a worker's started before this read): errors are not
			 * shared beyond the readers that overlap the fetch, so this
			 * read fetches the block once itself. */
			pthread_mutex_lock(&rc->lock);
			struct rc_entry *ne = rc_get_locked(rc, ckey, okey, first + i, obj_size,
							    &slots[i].created);
			if (ne) {
				rc_unpin_locked(rc, e, &reap);
				slots[i].e = e = ne;
				if (slots[i].created)
					rc->st.misses++;
			}
			pthread_mutex_unlock(&rc->lock);
			if (!ne)
				break;
		}
		if (e->state == RC_FAILED) {
			ret = e->err;
			goto out;
		}
		src = e->mem ? e->mem : slots[i].fresh;
		if (src) {
			memcpy(dst, src + (from - bstart), to - from);
		} else {
			r = rc_read_block(rc, e, from - bstart, to - from, dst);
			if (r < 0) {
				ret = r;
				goto out;
			}
		}
	}
	ret = (ssize_t)(end - off);
out:
	if (pinned > 0) {
		pthread_mutex_lock(&rc->lock);
		for (uint64_t i = 0; i < pinned; i++) {
			/* After an error, the blocks we queued are not wanted. */
			if (ret < 0 && slots[i].created && slots[i].e->state == RC_FILLING &&
			    !slots[i].e->taken)
				rc_cancel_job_locked(rc, slots[i].e, &reap);
			rc_unpin_locked(rc, slots[i].e, &reap);
		}
		pthread_mutex_unlock(&rc->lock);
		rc_reap(rc, reap);
	}
	for (uint64_t i = 0; slots && i < n; i++)
		free(slots[i].fresh);
	if (slots != stack_slots)
		free(slots);
	return ret;
}

void objfs_readcache_invalidate(struct objfs_readcache *rc, const char *bucket,
				const char *key)
{
	const char *parts[2] = { bucket, key };
	unsigned char okey[RC_HASH_LEN];
	struct rc_entry *reap = NULL;

	if (!rc || !bucket || !key || rc_digest(parts, 2, okey) < 0)
		return;
	pthread_mutex_lock(&rc->lock);
	for (size_t i = 0; i <= rc->hmask; i++) {
		struct rc_entry *e = rc->htab[i], *next;

		for (; e; e = next) {
			next = e->hnext;
			if (memcmp(e->okey, okey, RC_HASH_LEN) != 0)
				continue;
			if (e->refs == 0) {
				rc_kill_locked(rc, e, &reap);
				continue;
			}
			rc_hash_remove_locked(rc, e);           /* dies at the last unpin */
			if (e->state == RC_FILLING && !e->taken)
				rc_cancel_job_locked(rc, e, &reap);
		}
	}
	for (int i = 0; i < RC_STREAMS; i++)
		rc->streams[i].ra_next = 0;
	pthread_mutex_unlock(&rc->lock);
	rc_reap(rc, reap);
}

void objfs_readcache_stats(struct objfs_readcache *rc, struct objfs_readcache_stats *out)
{
	if (!out)
		return;
	memset(out, 0, sizeof(*out));
	if (!rc)
		return;
	pthread_mutex_lock(&rc->lock);
	*out = rc->st;
	pthread_mutex_unlock(&rc->lock);
	out->max_bytes = rc->max_bytes;
}

/* Removes our block files (and temporaries) left in the directory. */
static int rc_empty_dir(struct objfs_readcache *rc)
{
	struct dirent *de;
	DIR *d = NULL;
	int fd, rc_ = 0;

	fd = openat(rc->dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		rc_ = -errno;
		if (fd >= 0)
			close(fd);
		goto out;
	}
	while ((de = readdir(d)) != NULL) {
		if (strlen(de->d_name) <= RC_HEX_LEN || !rc_is_block_name(de->d_name))
			continue;
		if (unlinkat(rc->dfd, de->d_name, 0) < 0 && errno != ENOENT) {
			rc_ = -errno;
			log_err("readcache: cannot remove %s/%s: %s", rc->dir, de->d_name,
				strerror(errno));
			goto out;
		}
	}
out:
	if (d)
		closedir(d);
	return rc_;
}

int objfs_readcache_new(const char *dir, uint64_t max_bytes, uint32_t block_size,
			uint64_t max_readahead, unsigned threads,
			struct objfs_readcache **out)
{
	struct objfs_readcache *rc = NULL;
	uint64_t want;
	size_t nb;
	int r = 0;

	if (out)
		*out = NULL;
	if (!dir || !*dir || !out || block_size == 0 || (block_size & (block_size - 1)) ||
	    threads == 0 || threads > RC_THREADS_MAX) {
		r = -EINVAL;
		goto out;
	}
	rc = calloc(1, sizeof(*rc));
	if (!rc) {
		r = -ENOMEM;
		goto out;
	}
	rc->dfd = -1;
	rc->lru.lnext = rc->lru.lprev = &rc->lru;
	if (pthread_mutex_init(&rc->lock, NULL) != 0) {
		free(rc);
		rc = NULL;
		r = -ENOMEM;
		goto out;
	}
	if (pthread_cond_init(&rc->fill_cv, NULL) != 0) {
		pthread_mutex_destroy(&rc->lock);
		free(rc);
		rc = NULL;
		r = -ENOMEM;
		goto out;
	}
	if (pthread_cond_init(&rc->work_cv, NULL) != 0) {
		pthread_cond_destroy(&rc->fill_cv);
		pthread_mutex_destroy(&rc->lock);
		free(rc);
		rc = NULL;
		r = -ENOMEM;
		goto out;
	}
	rc->sync_ok = true;
	rc->max_bytes = max_bytes;
	rc->max_ra = max_readahead;
	rc->bs = block_size;
	rc->nthreads = threads;
	if (!(rc->dir = strdup(dir))) {
		r = -ENOMEM;
		goto out;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		r = -errno;
		log_err("readcache: cannot create %s: %s", dir, strerror(errno));
		goto out;
	}
	rc->dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rc->dfd < 0 || fchmod(rc->dfd, 0700) < 0) {
		r = -errno;
		log_err("readcache: cannot use %s: %s", dir, strerror(errno));
		goto out;
	}
	r = rc_empty_dir(rc);
	if (r < 0)
		goto out;

	want = max_bytes / block_size;
	for (nb = RC_HASH_MIN; nb < RC_HASH_MAX && nb < want; nb *= 2)
		;
	rc->hmask = nb - 1;
	want = max_readahead / block_size * 2 + threads;
	rc->qcap = want < RC_QUEUE_MIN ? RC_QUEUE_MIN : want > RC_QUEUE_MAX ? RC_QUEUE_MAX : want;
	rc->htab = calloc(nb, sizeof(*rc->htab));
	rc->q = calloc(rc->qcap, sizeof(*rc->q));
	rc->threads = calloc(threads, sizeof(*rc->threads));
	if (!rc->htab || !rc->q || !rc->threads) {
		r = -ENOMEM;
		goto out;
	}
	for (; rc->started < threads; rc->started++) {
		int e = pthread_create(&rc->threads[rc->started], NULL, rc_worker, rc);

		if (e != 0) {
			r = -e;
			log_err("readcache: cannot start thread: %s", strerror(e));
			goto out;
		}
	}
	*out = rc;
	rc = NULL;
out:
	objfs_readcache_free(rc);
	return r;
}

/*
 * Stops and joins the workers, drops queued readahead, removes the block
 * files and frees everything.  No read may be in progress.  Providers used
 * with this cache must stay open until it returns (queued jobs use them).
 */
void objfs_readcache_free(struct objfs_readcache *rc)
{
	struct rc_entry *reap = NULL;

	if (!rc)
		return;
	if (rc->sync_ok) {
		pthread_mutex_lock(&rc->lock);
		rc->stop = true;
		pthread_cond_broadcast(&rc->work_cv);
		pthread_mutex_unlock(&rc->lock);
	}
	for (unsigned i = 0; i < rc->started; i++)
		pthread_join(rc->threads[i], NULL);
	for (; rc->qlen > 0; rc->qlen--) {
		struct rc_job *j = &rc->q[rc->qhead];

		if (j->e)
			rc_unpin_locked(rc, j->e, &reap);
		free(j->names);
		rc->qhead = (rc->qhead + 1) % rc->qcap;
	}
	for (size_t i = 0; rc->htab && i <= rc->hmask; i++)
		while (rc->htab[i])
			rc_kill_locked(rc, rc->htab[i], &reap);
	if (rc->sync_ok) {
		rc_reap(rc, reap);
		pthread_cond_destroy(&rc->work_cv);
		pthread_cond_destroy(&rc->fill_cv);
		pthread_mutex_destroy(&rc->lock);
	}
	if (rc->dfd >= 0)
		close(rc->dfd);
	free(rc->htab);
	free(rc->q);
	free(rc->threads);
	free(rc->dir);
	free(rc);
}
