/*
 * Write-back workers.  See writeback.h for the contract and
 * docs/architecture.md for the journal states and crash points.
 *
 * Locking: wb->lock protects the queue and the entries' scheduling fields.
 * It is never held across provider I/O, SQLite, or a file lock taken after
 * it (workers read f->last_seq under f->lock with wb->lock released).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "file.h"
#include "guardrep.h"
#include "log.h"
#include "metrics.h"
#include "mimetype.h"
#include "objmeta.h"
#include "sniff.h"
#include "staging.h"
#include "trash.h"
#include "writeback.h"

#define WB_MAX_WORKERS 64
#define WB_MAX_PARTS 10000

struct wb_entry {
	struct meta_upload u;
	struct objfs_file *f;            /* referenced */
	struct wb_entry *next, *prev;    /* wb->lock */
	int64_t not_before_ms;           /* wb->lock */
	unsigned attempts;               /* wb->lock */
	int in_flight;                   /* wb->lock */
	int held;                        /* wb->lock: its content type is refused (hold_check);
					  * not picked until released by a newer commit of
					  * the file, a rename, a reload or a delete */
	int reported;                    /* a guardrep report names it (set by the worker
					  * that has it in flight, read once it is off the queue) */
	int resumed;                     /* from the journal at start: an attempt before
					  * the restart may have landed */
	int complete_sent;               /* a complete of u.upload_id failed without a clear
					  * answer: the store may have done it (only the
					  * worker with the entry in flight touches it) */
};

struct objfs_writeback {
	struct objfs_ctx *ctx;
	pthread_mutex_t lock;
	pthread_cond_t work;             /* new entries, or stop */
	pthread_cond_t done;             /* an entry finished (landed, dropped or failed) */
	struct wb_entry *head, *tail;    /* lock; commit order */
	size_t count;                    /* lock */
	int stop;                        /* lock */
	int sweep_taken;                 /* lock: a worker took the abandoned-upload sweep */
	size_t nheld;                    /* lock: entries held (counted in count too) */
	int64_t start_ms;                /* when recovery ran: older unknown uploads are abandoned */
	pthread_t threads[WB_MAX_WORKERS];
	unsigned nthreads;
};

static int64_t now_ms(void)
{
	return meta_now_ms();
}

/* Staging's question "will uploads free space?": held entries will not. */
static int pending_fn(void *arg)
{
	struct objfs_writeback *wb = arg;
	int r;

	pthread_mutex_lock(&wb->lock);
	r = wb->count > wb->nheld;
	pthread_mutex_unlock(&wb->lock);
	return r;
}

int writeback_new(struct objfs_ctx *ctx, struct objfs_writeback **out)
{
	struct objfs_writeback *wb = calloc(1, sizeof(*wb));

	if (!wb)
		return -ENOMEM;
	wb->ctx = ctx;
	pthread_mutex_init(&wb->lock, NULL);
	pthread_cond_init(&wb->work, NULL);
	pthread_cond_init(&wb->done, NULL);
	staging_set_pending_fn(ctx->staging, pending_fn, wb);
	*out = wb;
	return 0;
}

static void entry_free(struct wb_entry *e)
{
	meta_upload_clear(&e->u);
	free(e);
}

static void unlink_entry(struct objfs_writeback *wb, struct wb_entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		wb->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		wb->tail = e->prev;
	e->next = e->prev = NULL;
	wb->count--;
	if (e->held)
		wb->nheld--;
	e->held = 0;
}

/* Makes held entry e runnable again (its file changed, was renamed, or the
 * tenant's types were reloaded): it is checked afresh when picked.  Its
 * report stays until it lands, is dropped, or is held again.  wb->lock held. */
static void release_held(struct objfs_writeback *wb, struct wb_entry *e)
{
	if (!e->held)
		return;
	e->held = 0;
	wb->nheld--;
	e->not_before_ms = 0;
}

/* resumed: u comes from the journal at start (writeback_recover). */
static void enqueue(struct objfs_writeback *wb, struct objfs_file *f, struct meta_upload *u,
		    int resumed)
{
	struct wb_entry *e = calloc(1, sizeof(*e));
	unsigned delay = wb->ctx->cfg->writeback_delay_ms;

	if (!e) {
		/* The entry is durable in the journal: it is picked up at next start. */
		log_err("writeback: out of memory queueing %s/%s; it uploads after a restart",
			u->tenant, u->path);
		meta_upload_clear(u);
		file_put(f);
		return;
	}
	e->u = *u;
	memset(u, 0, sizeof(*u));
	e->f = f;
	e->resumed = resumed;
	e->not_before_ms = e->u.created_ms + delay;
	pthread_mutex_lock(&wb->lock);
	/* a held older commit of the file goes first, to be dropped as superseded */
	for (struct wb_entry *o = wb->head; o; o = o->next)
		if (o->f == f)
			release_held(wb, o);
	e->prev = wb->tail;
	if (wb->tail)
		wb->tail->next = e;
	else
		wb->head = e;
	wb->tail = e;
	wb->count++;
	pthread_cond_broadcast(&wb->work);
	pthread_mutex_unlock(&wb->lock);
}

void writeback_enqueue(struct objfs_writeback *wb, struct objfs_file *f, struct meta_upload *u)
{
	enqueue(wb, f, u, 0);
}

size_t writeback_pending(struct objfs_writeback *wb)
{
	size_t n;

	pthread_mutex_lock(&wb->lock);
	n = wb->count;
	pthread_mutex_unlock(&wb->lock);
	return n;
}

void writeback_get_stats(struct objfs_writeback *wb, struct writeback_stats *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&wb->lock);
	for (struct wb_entry *e = wb->head; e; e = e->next) {
		out->pending++;
		out->in_flight += e->in_flight != 0;
		out->retrying += e->attempts != 0;
		out->bytes_pending += e->u.size;
		if (!out->oldest_commit_ms || e->u.created_ms < out->oldest_commit_ms)
			out->oldest_commit_ms = e->u.created_ms;
	}
	pthread_mutex_unlock(&wb->lock);
}

/* 1 if entry e is of tenant t (NULL: any) at path or below it. */
static int entry_under(const struct wb_entry *e, const struct objfs_tenant *t, const char *path)
{
	size_t n = path ? strlen(path) : 0;

	if (t && strcmp(e->u.tenant, t->name) != 0)
		return 0;
	if (!n)
		return 1;
	return strncmp(e->u.path, path, n) == 0 && (e->u.path[n] == '\0' || e->u.path[n] == '/');
}

/* Entries under (t, path); with skip_held, only those that may still land. */
static size_t count_under(struct objfs_writeback *wb, const struct objfs_tenant *t,
			  const char *path, int skip_held)
{
	size_t n = 0;

	for (struct wb_entry *e = wb->head; e; e = e->next)
		n += entry_under(e, t, path) && !(skip_held && e->held);
	return n;
}

size_t writeback_pending_under(struct objfs_writeback *wb, const struct objfs_tenant *t,
			       const char *path)
{
	size_t n;

	pthread_mutex_lock(&wb->lock);
	n = count_under(wb, t, path, 0);
	pthread_mutex_unlock(&wb->lock);
	return n;
}

/* ---- building upload bodies ---- */

/* Segments of one byte range of an entry, with the fds to close afterwards. */
struct body {
	struct objfs_seg *segs;
	size_t nsegs;
	int *fds;
	size_t nfds;
	char **fills;                    /* temporary fill files to unlink */
	size_t nfills;
	uint64_t size;
};

static void body_clear(struct body *b)
{
	for (size_t i = 0; i < b->nfds; i++)
		close(b->fds[i]);
	for (size_t i = 0; i < b->nfills; i++) {
		unlink(b->fills[i]);
		free(b->fills[i]);
	}
	free(b->segs);
	free(b->fds);
	free(b->fills);
	memset(b, 0, sizeof(*b));
}

/*
 * Describes bytes [start, end) of entry e (chunk aligned start) as segments:
 * staged chunk files, base bytes copied into a temporary fill file, zeros.
 */
static int body_build(struct objfs_writeback *wb, struct wb_entry *e, uint64_t start,
		      uint64_t end, const char *key, struct body *b)
{
	struct objfs_ctx *ctx = wb->ctx;
	uint64_t cs = ctx->chunk_size;
	size_t first = (size_t)(start / cs), last = (size_t)((end + cs - 1) / cs);
	size_t n = last - first;
	void *buf = NULL;
	char p[4096];
	int rc = 0;

	memset(b, 0, sizeof(*b));
	if (e->u.inline_data) {
		/* a small file committed with its content in the journal */
		b->segs = calloc(1, sizeof(*b->segs));
		if (!b->segs)
			return -ENOMEM;
		b->segs[0] = (struct objfs_seg){ .fd = -1, .buf = (char *)e->u.inline_data + start,
						 .len = end - start };
		b->nsegs = end > start;
		b->size = end - start;
		return 0;
	}
	b->segs = calloc(2 * n + 1, sizeof(*b->segs));
	b->fds = calloc(n + 1, sizeof(int));
	b->fills = calloc(n + 1, sizeof(char *));
	if (!b->segs || !b->fds || !b->fills)
		return -ENOMEM;
	for (size_t idx = first; idx < last && rc == 0; idx++) {
		uint64_t cstart = (uint64_t)idx * cs;
		uint64_t clen = (end < cstart + cs ? end : cstart + cs) - cstart;
		uint32_t ver = idx < e->u.nchunks ? e->u.chunks[idx] : 0;
		uint64_t have = 0;
		int fd = -1;

		if (ver) {
			struct stat st;

			staging_chunk_path(ctx->staging, e->u.fid, idx, ver, p, sizeof(p));
			fd = open(p, O_RDONLY | O_CLOEXEC);
			if (fd < 0 || fstat(fd, &st)) {
				rc = -errno;
				log_err("writeback: staged chunk %s missing: %s", p, strerror(errno));
				if (fd >= 0)
					close(fd);
				break;
			}
			b->fds[b->nfds++] = fd;
			have = (uint64_t)st.st_size < clen ? (uint64_t)st.st_size : clen;
		} else if (e->u.base_etag && cstart < e->u.base_len) {
			/* unchanged bytes of the existing object: fetch into a fill file */
			uint64_t want = e->u.base_len - cstart < clen ? e->u.base_len - cstart : clen;
			ssize_t got;

			if (!buf && !(buf = malloc(cs))) {
				rc = -ENOMEM;
				break;
			}
			got = file_read_base(ctx, e->f->tenant, key, e->u.base_etag, e->u.base_len,
					     buf, (size_t)want, cstart, 0);
			if (got < 0) {
				rc = (int)got;
				break;
			}
			snprintf(p, sizeof(p), "%s", "");
			staging_fid_path(ctx->staging, e->u.fid, p, sizeof(p));
			if (asprintf(&b->fills[b->nfills], "%s/fill.%" PRId64 ".%zu", p, e->u.seq,
				     idx) < 0) {
				rc = -ENOMEM;
				break;
			}
			fd = open(b->fills[b->nfills++], O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
			if (fd < 0) {
				int cr;

				staging_fid_mkdir(ctx->staging, e->u.fid, &cr);
				fd = open(b->fills[b->nfills - 1], O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
					  0600);
			}
			if (fd < 0) {
				rc = -errno;
				break;
			}
			b->fds[b->nfds++] = fd;
			if (pwrite(fd, buf, (size_t)got, 0) != got) {
				rc = -errno ? -errno : -EIO;
				break;
			}
			have = (uint64_t)got;
		}
		if (have)
			b->segs[b->nsegs++] = (struct objfs_seg){ .fd = fd, .off = 0, .len = have };
		if (have < clen)
			b->segs[b->nsegs++] = (struct objfs_seg){ .fd = -1, .len = clen - have };
		b->size += clen;
	}
	free(buf);
	return rc;
}

/* ---- multipart ---- */

struct mpu_job {
	struct objfs_writeback *wb;
	struct wb_entry *e;
	const char *key;
	const char *upload_id;
	uint64_t part_size;
	int nparts;
	pthread_mutex_t lock;
	int next;                /* lock: next part number to take */
	int rc;                  /* lock: first failure */
	struct objfs_part *parts;   /* [nparts], filled as parts finish */
	unsigned char *have;     /* [nparts]: 1 when done (resumed or uploaded) */
};

/* 1 if every chunk of [start, end) comes unchanged from the base object. */
static int range_is_base(const struct wb_entry *e, uint64_t cs, uint64_t start, uint64_t end)
{
	if (!e->u.base_etag || end > e->u.base_len)
		return 0;
	for (size_t i = (size_t)(start / cs); i < (size_t)((end + cs - 1) / cs); i++)
		if (i < e->u.nchunks && e->u.chunks[i])
			return 0;
	return 1;
}

static void *mpu_worker(void *arg)
{
	struct mpu_job *j = arg;
	struct objfs_ctx *ctx = j->wb->ctx;
	struct objfs_tenant *t = j->e->f->tenant;
	struct objfs_err err;

	for (;;) {
		struct objfs_part part;
		struct meta_part mp;
		uint64_t start, end;
		int num, rc;

		pthread_mutex_lock(&j->lock);
		while (j->next <= j->nparts && j->have[j->next - 1])
			j->next++;
		num = j->rc ? j->nparts + 1 : j->next++;
		pthread_mutex_unlock(&j->lock);
		if (num > j->nparts)
			break;
		start = (uint64_t)(num - 1) * j->part_size;
		end = start + j->part_size < j->e->u.size ? start + j->part_size : j->e->u.size;
		memset(&part, 0, sizeof(part));
		part.number = num;
		part.size = end - start;
		if ((objfs_prov_caps(t->prov) & OBJFS_CAP_PART_COPY) &&
		    range_is_base(j->e, ctx->chunk_size, start, end)) {
			rc = objfs_prov_mpu_upload_part_copy(t->prov, t->bucket, j->key, j->upload_id,
							     num, j->key, j->e->u.base_etag, start,
							     end - start, part.etag, &err);
		} else {
			struct body b;

			rc = body_build(j->wb, j->e, start, end, j->key, &b);
			if (rc == 0) {
				struct objfs_source src = { b.segs, b.nsegs, b.size };

				rc = objfs_prov_mpu_upload_part(t->prov, t->bucket, j->key, j->upload_id,
								num, start, &src, part.etag, &err);
			} else {
				snprintf(err.msg, sizeof(err.msg), "staging: %s", strerror(-rc));
			}
			body_clear(&b);
		}
		if (rc == 0) {
			mp.number = num;
			mp.size = part.size;
			snprintf(mp.etag, sizeof(mp.etag), "%s", part.etag);
			rc = meta_journal_add_part(ctx->meta, j->e->u.seq, &mp);
		}
		pthread_mutex_lock(&j->lock);
		if (rc == 0) {
			j->parts[num - 1] = part;
			j->have[num - 1] = 1;
		} else if (!j->rc) {
			j->rc = rc;
			log_warn("upload %s/%s part %d: %s", t->bucket, j->key, num, err.msg);
		}
		pthread_mutex_unlock(&j->lock);
	}
	return NULL;
}

/* 0 when etag is an S3 multipart ETag ("<32 hex>-<n>") that parts do not
 * make (objfs_mpu_etag); 1 when it agrees, or when either side is in another
 * form (s3rver, gcs and azure tag the whole object differently). */
static int mpu_etag_agrees(const char *etag, const struct objfs_part *parts, int n)
{
	char want[OBJFS_ETAG_MAX];
	const char *dash = strchr(etag, '-');

	if (!dash || dash - etag != 32 || strspn(etag, "0123456789abcdefABCDEF") != 32 ||
	    strspn(dash + 1, "0123456789") != strlen(dash + 1) || !dash[1])
		return 1;
	if (objfs_mpu_etag(parts, (size_t)n, want))
		return 1;
	return !strcasecmp(want, etag);
}

/* After a complete whose answer was lost, the store may have finished the
 * upload: a retried complete then finds the upload gone (NoSuchUpload).  1
 * when the object at key is that upload (its size, its metadata, and its
 * multipart ETag where the store gives one), with its ETag in etag; the
 * upload is then done and is not sent again. */
static int mpu_landed_already(struct objfs_tenant *t, const char *key, const struct wb_entry *e,
			      const struct objfs_putopts *opts, const struct objfs_part *parts,
			      int nparts, char *etag)
{
	struct objfs_objinfo oi;
	struct objfs_err err;
	int yes;

	memset(&oi, 0, sizeof(oi));
	if (objfs_prov_head(t->prov, t->bucket, key, &oi, &err))
		return 0;
	yes = objfs_objmeta_is_upload(&oi, e->u.size, opts->meta, opts->nmeta) &&
	      mpu_etag_agrees(oi.etag, parts, nparts);
	if (yes)
		snprintf(etag, OBJFS_ETAG_MAX, "%s", oi.etag);
	objfs_objinfo_clear(&oi);
	return yes;
}

static int upload_multipart(struct objfs_writeback *wb, struct wb_entry *e, const char *key,
			    const struct objfs_putopts *opts, char *etag)
{
	struct objfs_ctx *ctx = wb->ctx;
	struct objfs_tenant *t = e->f->tenant;
	uint64_t cs = ctx->chunk_size, part_chunks, max_parts;
	struct meta_part *done = NULL;
	size_t ndone = 0;
	struct objfs_err err;
	struct mpu_job j;
	pthread_t th[64];
	unsigned nth;
	int rc;

	memset(&j, 0, sizeof(j));
	/* parts are whole chunks; enough of them that the store's most parts
	 * (S3 10,000, Azure 50,000 blocks) cover the file */
	max_parts = t->prov->ops->mpu_max_parts ? t->prov->ops->mpu_max_parts : WB_MAX_PARTS;
	part_chunks = (e->u.size + cs * max_parts - 1) / (cs * max_parts);
	if (part_chunks < 1)
		part_chunks = 1;
	while (part_chunks * cs < t->prov->ops->mpu_min_part)
		part_chunks++;
	j.part_size = part_chunks * cs;
	j.nparts = (int)((e->u.size + j.part_size - 1) / j.part_size);
	if (!e->u.upload_id) {
		char *id = NULL;

		rc = objfs_prov_mpu_create(t->prov, t->bucket, key, opts, &id, &err);
		if (rc) {
			log_warn("upload %s/%s: create multipart: %s", t->bucket, key, err.msg);
			return rc;
		}
		rc = meta_journal_set_upload_id(ctx->meta, e->u.seq, id);
		if (rc) {
			objfs_prov_mpu_abort(t->prov, t->bucket, key, id, &err);
			free(id);
			return rc;
		}
		e->u.upload_id = id;
	}
	j.wb = wb;
	j.e = e;
	j.key = key;
	j.upload_id = e->u.upload_id;
	j.next = 1;
	j.parts = calloc((size_t)j.nparts, sizeof(*j.parts));
	j.have = calloc((size_t)j.nparts, 1);
	if (!j.parts || !j.have) {
		rc = -ENOMEM;
		goto out;
	}
	/* resume: parts recorded before a crash or failure need not go again */
	if (meta_journal_parts(ctx->meta, e->u.seq, &done, &ndone) == 0) {
		for (size_t i = 0; i < ndone; i++) {
			int n = done[i].number;

			if (n < 1 || n > j.nparts)
				continue;
			j.parts[n - 1].number = n;
			j.parts[n - 1].size = done[i].size;
			snprintf(j.parts[n - 1].etag, sizeof(j.parts[n - 1].etag), "%s", done[i].etag);
			j.have[n - 1] = 1;
		}
	}
	pthread_mutex_init(&j.lock, NULL);
	nth = ctx->cfg->upload_parallel_parts;
	if (objfs_prov_caps(t->prov) & OBJFS_CAP_SEQUENTIAL_PARTS)
		nth = 1;      /* one worker takes the parts in ascending order */
	if (nth > 64)
		nth = 64;
	if (nth > (unsigned)j.nparts)
		nth = (unsigned)j.nparts;
	if (nth < 1)
		nth = 1;
	for (unsigned i = 0; i < nth; i++)
		if (pthread_create(&th[i], NULL, mpu_worker, &j)) {
			nth = i;
			break;
		}
	if (nth == 0)
		mpu_worker(&j);
	for (unsigned i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&j.lock);
	rc = j.rc;
	if (rc == 0) {
		rc = objfs_prov_mpu_complete(t->prov, t->bucket, key, e->u.upload_id, j.parts,
					     (size_t)j.nparts, etag, &err);
		if (rc)
			log_warn("upload %s/%s: complete: %s", t->bucket, key, err.msg);
		if (rc == -ENOENT && (e->complete_sent || e->resumed) &&
		    mpu_landed_already(t, key, e, opts, j.parts, j.nparts, etag)) {
			log_info("upload %s/%s: an earlier complete had landed (its answer was lost)",
				 t->bucket, key);
			meta_journal_set_upload_id(ctx->meta, e->u.seq, NULL);
			free(e->u.upload_id);
			e->u.upload_id = NULL;
			e->complete_sent = 0;
			rc = 0;
			goto out;
		}
		if (rc && rc != -ENOENT && rc != -EINVAL)
			e->complete_sent = 1;
	}
	if (rc == -ENOENT || rc == -EINVAL) {
		/* the upload is gone (aborted or expired at the provider) or
		 * unusable: start over next time, without its recorded parts */
		objfs_prov_mpu_abort(t->prov, t->bucket, key, e->u.upload_id, &err);
		meta_journal_set_upload_id(ctx->meta, e->u.seq, NULL);
		free(e->u.upload_id);
		e->u.upload_id = NULL;
		e->complete_sent = 0;
	}
out:
	free(done);
	free(j.parts);
	free(j.have);
	return rc;
}

/* ---- one entry ---- */

static int upload_entry(struct objfs_writeback *wb, struct wb_entry *e, char *etag)
{
	struct objfs_ctx *ctx = wb->ctx;
	struct objfs_tenant *t = e->f->tenant;
	char key[OBJFS_KEY_MAX + 1];
	struct objfs_kv *kv = NULL;
	size_t nkv = 0;
	uint64_t threshold;
	struct objfs_putopts opts;
	struct objfs_err err;
	struct body b;
	int rc;

	memset(&b, 0, sizeof(b));
	rc = tenant_key(t, e->u.path, key, sizeof(key));
	if (rc)
		return rc;
	rc = file_meta_parse(e->u.meta, &kv, &nkv);
	if (rc)
		return rc;
	memset(&opts, 0, sizeof(opts));
	opts.content_type = e->u.content_type ? e->u.content_type : objfs_content_type_for(e->u.path);
	opts.meta = kv;
	opts.nmeta = nkv;
	/* trash_days: the object this replaces is kept first; a failed keep
	 * fails the attempt, which is retried (trash.h) */
	rc = objfs_trash_keep_upload(t, &e->u, kv, nkv, e->attempts || e->resumed);
	if (rc) {
		objfs_kv_free(kv, nkv);
		return rc;
	}
	threshold = ctx->cfg->multipart_threshold ? ctx->cfg->multipart_threshold
						   : t->prov->ops->mpu_threshold;
	if (threshold && e->u.size > threshold) {
		rc = upload_multipart(wb, e, key, &opts, etag);
	} else {
		rc = body_build(wb, e, 0, e->u.size, key, &b);
		if (rc == 0) {
			struct objfs_source src = { b.segs, b.nsegs, b.size };

			rc = objfs_prov_put(t->prov, t->bucket, key, &src, &opts, etag, &err);
			if (rc)
				log_warn("upload %s/%s: %s", t->bucket, key, err.msg);
		} else {
			log_warn("upload %s/%s: preparing the body: %s", t->bucket, key, strerror(-rc));
		}
		body_clear(&b);
	}
	objfs_kv_free(kv, nkv);
	return rc;
}

/* Cache entry describing what landed. */
static void landed_entry(const struct wb_entry *e, const char *etag, struct meta_entry *m)
{
	struct objfs_fileattr a;
	struct objfs_kv *kv = NULL;
	size_t nkv = 0;

	memset(m, 0, sizeof(*m));
	memset(&a, 0, sizeof(a));
	m->type = META_FILE;
	m->size = e->u.size;
	m->etag = strdup(etag);
	m->fetched_ms = now_ms();
	if (file_meta_parse(e->u.meta, &kv, &nkv) == 0 && objfs_objmeta_decode(kv, nkv, &a) == 0) {
		m->mode = a.has_mode ? a.mode : (S_IFREG | 0644);
		m->uid = a.has_uid ? a.uid : e->f->ctx->uid;
		m->gid = a.has_gid ? a.gid : e->f->ctx->gid;
		m->mtime_ns = a.has_mtime ? a.mtime_ns : m->fetched_ms * 1000000;
		if (S_ISLNK(m->mode))
			m->type = META_LINK;
		for (size_t i = 0; i < nkv; i++)
			if (!strcmp(kv[i].key, "xattr"))
				m->xattr = strdup(kv[i].value);
	}
	objfs_fileattr_clear(&a);
	objfs_kv_free(kv, nkv);
}

/* Drops e (superseded or cancelled): aborts its multipart upload, forgets it. */
static void drop_entry(struct objfs_writeback *wb, struct wb_entry *e)
{
	struct objfs_tenant *t = e->f->tenant;
	char key[OBJFS_KEY_MAX + 1];
	struct objfs_err err;

	if (e->u.upload_id && tenant_key(t, e->u.path, key, sizeof(key)) == 0)
		objfs_prov_mpu_abort(t->prov, t->bucket, key, e->u.upload_id, &err);
	meta_journal_done(wb->ctx->meta, e->u.seq, NULL, NULL);
	file_landed(e->f, e->u.seq, e->u.base_etag, NULL, 0);
	objfs_metrics_wb_upload(t, OBJFS_WB_SUPERSEDED, 0);
	if (e->reported)
		guardrep_clear(e->u.tenant, e->u.path, GUARDREP_HELD_COMMIT);
}

/* Later queued entries of e's file that named e's base now name what e
 * landed as (the journal rows were updated by meta_journal_done). */
static void rebase_queued(struct objfs_writeback *wb, struct wb_entry *e, const char *etag)
{
	pthread_mutex_lock(&wb->lock);
	for (struct wb_entry *o = e->next; o; o = o->next) {
		char *n;

		if (o->f != e->f || o->u.seq <= e->u.seq)
			continue;
		if (e->u.base_etag ? !o->u.base_etag || strcmp(o->u.base_etag, e->u.base_etag)
				   : o->u.base_etag != NULL)
			continue;
		n = strdup(etag);
		if (n) {
			free(o->u.base_etag);
			o->u.base_etag = n;
		}
	}
	pthread_mutex_unlock(&wb->lock);
}

static int64_t backoff_ms(unsigned attempts)
{
	int64_t base = 500LL << (attempts > 7 ? 7 : attempts);   /* 1 s .. 64 s */
	uint32_t r = 0;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
		r = (uint32_t)time(NULL);
	return base / 2 + (int64_t)(r % (uint32_t)(base / 2 + 1));   /* jitter */
}

/* Picks the oldest runnable entry, or NULL; sets *wait_ms.  wb->lock held. */
static struct wb_entry *pick(struct objfs_writeback *wb, int64_t *wait_ms)
{
	int64_t now = now_ms();
	int pressure = staging_used(wb->ctx->staging) >= staging_max(wb->ctx->staging);

	*wait_ms = 1000;
	for (struct wb_entry *e = wb->head; e; e = e->next) {
		int busy = 0;

		if (e->in_flight || e->f->wb_hold || e->held)
			continue;
		for (struct wb_entry *o = wb->head; o; o = o->next)
			if (o != e && o->f == e->f && o->in_flight) {
				busy = 1;
				break;
			}
		if (busy)
			continue;
		/* under staging pressure the write-back delay is waived */
		if (now < e->not_before_ms && !(pressure && e->attempts == 0)) {
			if (e->not_before_ms - now < *wait_ms)
				*wait_ms = e->not_before_ms - now;
			continue;
		}
		return e;
	}
	return NULL;
}

/* 1 if a journal entry still uses upload_id.  wb->lock held. */
static int upload_in_journal(const struct objfs_writeback *wb, const char *upload_id)
{
	for (const struct wb_entry *e = wb->head; e; e = e->next)
		if (e->u.upload_id && !strcmp(e->u.upload_id, upload_id))
			return 1;
	return 0;
}

/*
 * Aborts multipart uploads that an earlier run started and no journal entry
 * names any more (a crash between create and journal, a journal lost with
 * its disk): the store would keep their parts, and bill them, forever.
 * Only uploads initiated before this run started are considered, so one in
 * the window between create and its journal write is never touched.  Runs
 * once, on one worker, so a slow store does not hold up the mount.
 */
static void sweep_abandoned(struct objfs_writeback *wb)
{
	struct objfs_ctx *ctx = wb->ctx;

	for (size_t i = 0; i < ctx->tenants.n; i++) {
		struct objfs_tenant *t = &ctx->tenants.v[i];
		struct objfs_mpu_info *v = NULL;
		struct objfs_err err;
		size_t n = 0, aborted = 0;
		int rc;

		if (t->conf->read_only)
			continue;
		rc = objfs_prov_mpu_list_uploads(t->prov, t->bucket, t->prefix, &v, &n, &err);
		if (rc == -ENOSYS) {
			log_info("tenant %s: %s; no abandoned uploads to clean up", t->name, err.msg);
			continue;
		}
		if (rc) {
			log_warn("tenant %s: listing unfinished uploads: %s", t->name, err.msg);
			continue;
		}
		for (size_t k = 0; k < n; k++) {
			int known;

			if (v[k].initiated_ns && v[k].initiated_ns / 1000000 >= wb->start_ms)
				continue;
			pthread_mutex_lock(&wb->lock);
			known = upload_in_journal(wb, v[k].upload_id);
			pthread_mutex_unlock(&wb->lock);
			if (known)
				continue;
			if (objfs_prov_mpu_abort(t->prov, t->bucket, v[k].key, v[k].upload_id, &err) == 0)
				aborted++;
			else
				log_warn("tenant %s: abort abandoned upload of %s: %s", t->name,
					 v[k].key, err.msg);
		}
		if (aborted)
			log_info("tenant %s: aborted %zu abandoned multipart upload(s)", t->name, aborted);
		objfs_mpu_info_free(v, n);
	}
}

/* ---- the content-type guardrail at upload ----
 *
 * With sniff_types, every commit is typed before it uploads: by its first
 * bytes (sniff.h), or by its name when they do not decide.  A refused
 * commit is held: it stays in the journal and its data in staging, it is
 * reported (guardrep.h, /v1/status), logged and audited, and it is not
 * tried again until something can change the verdict (release_held).  Held
 * entries do not hold up drain, flush or staging backpressure.
 */

/* The first bytes of e's content into buf; their count, or a negative errno. */
static ssize_t entry_head(struct objfs_writeback *wb, struct wb_entry *e, void *buf, size_t len)
{
	char key[OBJFS_KEY_MAX + 1];
	uint64_t n = e->u.size < len ? e->u.size : len;
	struct body b;
	ssize_t rc;
	size_t at = 0;

	memset(&b, 0, sizeof(b));
	rc = tenant_key(e->f->tenant, e->u.path, key, sizeof(key));
	if (rc == 0)
		rc = body_build(wb, e, 0, n, key, &b);
	for (size_t i = 0; rc == 0 && i < b.nsegs && at < n; i++) {
		const struct objfs_seg *g = &b.segs[i];
		size_t want = g->len < n - at ? (size_t)g->len : (size_t)(n - at);

		if (g->buf)
			memcpy((char *)buf + at, g->buf, want);
		else if (g->fd < 0)
			memset((char *)buf + at, 0, want);
		else if (pread(g->fd, (char *)buf + at, want, (off_t)g->off) != (ssize_t)want)
			rc = -EIO;
		at += want;
	}
	body_clear(&b);
	return rc ? rc : (ssize_t)at;
}

/* 1 when e must be held (the reason in why), 0 to upload it. */
static int hold_check(struct objfs_writeback *wb, struct wb_entry *e, char *why, size_t whylen)
{
	const struct objfs_tenant_conf *c = __atomic_load_n(&e->f->tenant->conf, __ATOMIC_ACQUIRE);
	char type[128], buf[SNIFF_BYTES];
	const char *decided;
	ssize_t n;
	int link;

	if (!c->sniff_types || (!c->allowed_types && !c->denied_types))
		return 0;
	pthread_mutex_lock(&e->f->lock);
	link = S_ISLNK(e->f->attr.mode);
	pthread_mutex_unlock(&e->f->lock);
	if (link)
		return 0;                /* a symlink's body is its target, not content */
	n = entry_head(wb, e, buf, sizeof(buf));
	if (n < 0) {
		/* the upload would fail the same way and retry with backoff */
		log_warn("content sniffing of %s/%s: %s", e->u.tenant, e->u.path, strerror((int)-n));
		return 0;
	}
	decided = sniff_type(buf, (size_t)n, type, sizeof(type)) == 1 ? type
		  : objfs_content_type_for(e->u.path);
	if (mimetype_policy(c->allowed_types, c->denied_types, decided, why, whylen))
		return 0;
	if (decided == type)
		snprintf(why + strlen(why), whylen - strlen(why), " (by content)");
	return 1;
}

/* Holds entry e (hold_check refused it) unless a newer commit of its file is
 * queued already: that one supersedes it.  wb->lock held. */
static void hold_entry(struct objfs_writeback *wb, struct wb_entry *e)
{
	for (struct wb_entry *o = e->next; o; o = o->next)
		if (o->f == e->f)
			return;
	e->held = 1;
	wb->nheld++;
}

/* Logs, audits and reports a hold of e, in flight (wb->lock not held). */
static void hold_report(struct wb_entry *e, const char *why)
{
	char safe[256];
	uid_t uid;

	pthread_mutex_lock(&e->f->lock);
	uid = e->f->attr.has_uid ? e->f->attr.uid : 0;
	pthread_mutex_unlock(&e->f->lock);
	log_warn("commit of %s/%s held in staging: %s", e->u.tenant,
		 objfs_log_safe(e->u.path, safe, sizeof(safe)), why);
	objfs_audit(uid, 0, e->u.tenant, "commit", e->u.path, NULL, -EACCES, why);
	guardrep_add(e->u.tenant, e->u.path, GUARDREP_HELD_COMMIT, why);
	e->reported = 1;
}

static void *worker(void *arg)
{
	struct objfs_writeback *wb = arg;

	pthread_mutex_lock(&wb->lock);
	if (!wb->sweep_taken && !wb->stop) {
		wb->sweep_taken = 1;
		pthread_mutex_unlock(&wb->lock);
		sweep_abandoned(wb);
		pthread_mutex_lock(&wb->lock);
	}
	while (!wb->stop) {
		char etag[OBJFS_ETAG_MAX] = "";
		struct wb_entry *e;
		int64_t wait_ms;
		struct timespec t0, t1;
		char why[256];
		int superseded, held = 0, rc;

		e = pick(wb, &wait_ms);
		if (!e) {
			struct timespec until;

			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += wait_ms / 1000;
			until.tv_nsec += (wait_ms % 1000) * 1000000L;
			if (until.tv_nsec >= 1000000000L) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&wb->work, &wb->lock, &until);
			continue;
		}
		e->in_flight = 1;
		pthread_mutex_unlock(&wb->lock);

		pthread_mutex_lock(&e->f->lock);
		superseded = e->u.seq != e->f->last_seq || e->f->unlinked;
		pthread_mutex_unlock(&e->f->lock);
		if (superseded) {
			drop_entry(wb, e);
			rc = 0;
		} else if (hold_check(wb, e, why, sizeof(why))) {
			hold_report(e, why);
			held = 1;
			rc = 0;
		} else {
			clock_gettime(CLOCK_MONOTONIC, &t0);
			rc = upload_entry(wb, e, etag);
			if (rc == 0) {
				struct meta_entry landed;

				/* Landing and commits of a file must not interleave: a commit
				 * snapshots the file's base and then inserts its entry, and
				 * the rebase below must see either both or neither. */
				pthread_mutex_lock(&e->f->commit_lock);
				landed_entry(e, etag, &landed);
				rc = meta_journal_done(wb->ctx->meta, e->u.seq, &e->u, &landed);
				meta_entry_clear(&landed);
				if (rc == 0) {
					log_debug("landed %s/%s (%" PRIu64 " bytes, etag %s)",
						  e->u.tenant, e->u.path, e->u.size, etag);
					if (e->reported)
						guardrep_clear(e->u.tenant, e->u.path,
							       GUARDREP_HELD_COMMIT);
					rebase_queued(wb, e, etag);
					file_landed(e->f, e->u.seq, e->u.base_etag, etag, e->u.size);
				}
				pthread_mutex_unlock(&e->f->commit_lock);
			}
			clock_gettime(CLOCK_MONOTONIC, &t1);
			objfs_metrics_wb_upload(e->f->tenant, rc == 0 ? OBJFS_WB_LANDED : OBJFS_WB_FAILED,
						(int64_t)(t1.tv_sec - t0.tv_sec) * 1000000000LL +
						(t1.tv_nsec - t0.tv_nsec));
		}

		pthread_mutex_lock(&wb->lock);
		if (held) {
			e->in_flight = 0;
			hold_entry(wb, e);
		} else if (rc == 0) {
			unlink_entry(wb, e);
			pthread_mutex_unlock(&wb->lock);
			file_put(e->f);
			entry_free(e);
			staging_kick(wb->ctx->staging);
			pthread_mutex_lock(&wb->lock);
		} else {
			e->in_flight = 0;
			e->attempts++;
			e->not_before_ms = now_ms() + backoff_ms(e->attempts);
			log_warn("upload of %s/%s failed (%s), attempt %u; retrying in %" PRId64 " ms",
				 e->u.tenant, e->u.path, strerror(-rc), e->attempts,
				 e->not_before_ms - now_ms());
		}
		pthread_cond_broadcast(&wb->done);
	}
	pthread_mutex_unlock(&wb->lock);
	return NULL;
}

int writeback_start(struct objfs_writeback *wb)
{
	unsigned n = wb->ctx->cfg->upload_workers;

	if (n < 1)
		n = 1;
	if (n > WB_MAX_WORKERS)
		n = WB_MAX_WORKERS;
	for (unsigned i = 0; i < n; i++) {
		if (pthread_create(&wb->threads[i], NULL, worker, wb))
			return -errno;
		wb->nthreads++;
	}
	return 0;
}

void writeback_free(struct objfs_writeback *wb)
{
	if (!wb)
		return;
	pthread_mutex_lock(&wb->lock);
	wb->stop = 1;
	pthread_cond_broadcast(&wb->work);
	pthread_mutex_unlock(&wb->lock);
	for (unsigned i = 0; i < wb->nthreads; i++)
		pthread_join(wb->threads[i], NULL);
	while (wb->head) {
		struct wb_entry *e = wb->head;

		unlink_entry(wb, e);
		file_put(e->f);
		entry_free(e);
	}
	pthread_mutex_destroy(&wb->lock);
	pthread_cond_destroy(&wb->work);
	pthread_cond_destroy(&wb->done);
	free(wb);
}

static void deadline(struct timespec *ts, unsigned ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* 1 if every queued entry of f is held (and there is one).  wb->lock not held. */
static int only_held(struct objfs_writeback *wb, struct objfs_file *f)
{
	int held = 0, other = 0;

	pthread_mutex_lock(&wb->lock);
	for (struct wb_entry *e = wb->head; e; e = e->next)
		if (e->f == f) {
			held |= e->held;
			other |= !e->held;
		}
	pthread_mutex_unlock(&wb->lock);
	return held && !other;
}

int writeback_wait_file(struct objfs_writeback *wb, struct objfs_file *f, unsigned timeout_s)
{
	int64_t end = now_ms() + (int64_t)timeout_s * 1000;
	int rc = 0;

	pthread_mutex_lock(&f->lock);
	while (f->pending) {
		struct timespec ts;
		int stuck;

		if (now_ms() >= end) {
			rc = -ETIMEDOUT;
			break;
		}
		pthread_mutex_unlock(&f->lock);
		stuck = only_held(wb, f);
		pthread_mutex_lock(&f->lock);
		if (stuck && f->pending) {
			rc = -EACCES;        /* held for its content type: waiting cannot help */
			break;
		}
		deadline(&ts, 200);
		pthread_cond_timedwait(&f->landed, &f->lock, &ts);
	}
	pthread_mutex_unlock(&f->lock);
	return rc;
}

void writeback_cancel_file(struct objfs_writeback *wb, struct objfs_file *f)
{
	struct wb_entry *drop, *e, *n;

	do {
		drop = NULL;
		pthread_mutex_lock(&wb->lock);
		for (e = wb->head; e; e = n) {
			n = e->next;
			if (e->f == f && !e->in_flight) {
				unlink_entry(wb, e);
				e->next = drop;
				drop = e;
			}
		}
		pthread_mutex_unlock(&wb->lock);
		for (e = drop; e; e = n) {
			n = e->next;
			drop_entry(wb, e);
			file_put(e->f);
			entry_free(e);
		}
		/* an upload in flight finishes (or is dropped as superseded) first;
		 * one held meanwhile (-EACCES) is dropped on the next round */
	} while (writeback_wait_file(wb, f, 24 * 3600) == -EACCES);
}

/* 1 if an entry of f is in flight.  wb->lock held. */
static int in_flight_locked(struct objfs_writeback *wb, struct objfs_file *f)
{
	for (struct wb_entry *e = wb->head; e; e = e->next)
		if (e->f == f && e->in_flight)
			return 1;
	return 0;
}

void writeback_hold_file(struct objfs_writeback *wb, struct objfs_file *f)
{
	pthread_mutex_lock(&wb->lock);
	f->wb_hold++;
	while (in_flight_locked(wb, f)) {
		struct timespec ts;

		deadline(&ts, 200);
		pthread_cond_timedwait(&wb->done, &wb->lock, &ts);
	}
	pthread_mutex_unlock(&wb->lock);
}

void writeback_unhold_file(struct objfs_writeback *wb, struct objfs_file *f)
{
	pthread_mutex_lock(&wb->lock);
	if (f->wb_hold)
		f->wb_hold--;
	pthread_cond_broadcast(&wb->work);
	pthread_mutex_unlock(&wb->lock);
}

int writeback_retarget_file(struct objfs_writeback *wb, struct objfs_file *f, const char *path)
{
	int rc = meta_journal_retarget(wb->ctx->meta, f->fid, f->tenant->name, path);

	if (rc)
		return rc;
	pthread_mutex_lock(&wb->lock);
	for (struct wb_entry *e = wb->head; e; e = e->next) {
		char *n;

		if (e->f != f || !(n = strdup(path)))
			continue;
		if (e->held) {
			/* reported under its old name; checked again under the new one */
			guardrep_clear(e->u.tenant, e->u.path, GUARDREP_HELD_COMMIT);
			release_held(wb, e);
		}
		free(e->u.path);
		e->u.path = n;
	}
	pthread_cond_broadcast(&wb->work);
	pthread_mutex_unlock(&wb->lock);
	return 0;
}

void writeback_release_held(struct objfs_writeback *wb)
{
	pthread_mutex_lock(&wb->lock);
	for (struct wb_entry *e = wb->head; e; e = e->next)
		release_held(wb, e);
	pthread_cond_broadcast(&wb->work);
	pthread_mutex_unlock(&wb->lock);
}

int writeback_rebase_file(struct objfs_writeback *wb, struct objfs_file *f, const char *old_etag,
			  const char *new_etag)
{
	int rc = meta_journal_rebase(wb->ctx->meta, f->fid, old_etag, new_etag);

	if (rc)
		return rc;
	pthread_mutex_lock(&wb->lock);
	for (struct wb_entry *e = wb->head; e; e = e->next) {
		char *n;

		if (e->f != f || !e->u.base_etag || strcmp(e->u.base_etag, old_etag) ||
		    !(n = strdup(new_etag)))
			continue;
		free(e->u.base_etag);
		e->u.base_etag = n;
	}
	pthread_mutex_unlock(&wb->lock);
	return 0;
}

void writeback_expedite_file(struct objfs_writeback *wb, struct objfs_file *f)
{
	pthread_mutex_lock(&wb->lock);
	for (struct wb_entry *e = wb->head; e; e = e->next)
		if (e->f == f && e->attempts == 0)
			e->not_before_ms = 0;
	pthread_cond_broadcast(&wb->work);
	pthread_mutex_unlock(&wb->lock);
}

size_t writeback_drain(struct objfs_writeback *wb, unsigned timeout_s)
{
	int64_t end = now_ms() + (int64_t)timeout_s * 1000;
	size_t left;

	pthread_mutex_lock(&wb->lock);
	/* waive the write-back delay: everything goes now */
	for (struct wb_entry *e = wb->head; e; e = e->next)
		if (e->attempts == 0)
			e->not_before_ms = 0;
	pthread_cond_broadcast(&wb->work);
	/* held entries stay in the journal for the next start */
	while (wb->count > wb->nheld && now_ms() < end) {
		struct timespec ts;

		deadline(&ts, 200);
		pthread_cond_timedwait(&wb->done, &wb->lock, &ts);
	}
	left = wb->count;
	pthread_mutex_unlock(&wb->lock);
	return left;
}

size_t writeback_flush_under(struct objfs_writeback *wb, const struct objfs_tenant *t,
			     const char *path, unsigned timeout_ms)
{
	int64_t end = now_ms() + (int64_t)timeout_ms;
	size_t left;

	pthread_mutex_lock(&wb->lock);
	for (struct wb_entry *e = wb->head; e; e = e->next)
		if (e->attempts == 0 && entry_under(e, t, path))
			e->not_before_ms = 0;
	pthread_cond_broadcast(&wb->work);
	/* held entries never land by waiting (they are reported in status) */
	while ((left = count_under(wb, t, path, 1)) && now_ms() < end) {
		struct timespec ts;

		deadline(&ts, 200);
		pthread_cond_timedwait(&wb->done, &wb->lock, &ts);
	}
	pthread_mutex_unlock(&wb->lock);
	return left;
}

/* ---- start-up recovery ---- */

struct keep_set {
	const struct meta_upload *v;
	size_t n;
	uint64_t fid;
};

static int keep_referenced(size_t idx, uint32_t ver, void *arg)
{
	const struct keep_set *k = arg;

	for (size_t i = 0; i < k->n; i++)
		if (k->v[i].fid == k->fid && idx < k->v[i].nchunks && k->v[i].chunks[idx] == ver)
			return 1;
	return 0;
}

/* The newest entry of f carries its content inline: put it back into a
 * chunk file so the file can be read and written on.  f->lock held. */
static void restore_inline(struct objfs_ctx *ctx, struct objfs_file *f,
			   const struct meta_upload *u, uint32_t *maxver)
{
	char p[4096];
	int created, fd;

	free(f->chunks);
	f->chunks = calloc(1, sizeof(*f->chunks));
	f->nchunks = f->chunks ? 1 : 0;
	if (!f->chunks || staging_fid_mkdir(ctx->staging, u->fid, &created))
		return;
	staging_chunk_path(ctx->staging, u->fid, 0, 1, p, sizeof(p));
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	if (pwrite(fd, u->inline_data, u->inline_len, 0) == (ssize_t)u->inline_len) {
		staging_charge(ctx->staging, u->inline_len);
		f->chunks[0].ver = 1;
		f->chunks[0].len = (uint32_t)u->inline_len;
		*maxver = 1;
	}
	close(fd);
}

int writeback_recover(struct objfs_writeback *wb)
{
	struct objfs_ctx *ctx = wb->ctx;
	struct meta_upload *v = NULL;
	uint64_t *fids = NULL;
	size_t n = 0, nfids = 0;
	int rc;

	wb->start_ms = now_ms();
	rc = meta_journal_load(ctx->meta, &v, &n);
	if (rc)
		return rc;
	/* staging data that no journal entry names was never acknowledged */
	if (staging_list_fids(ctx->staging, &fids, &nfids) == 0) {
		for (size_t i = 0; i < nfids; i++) {
			struct keep_set k = { v, n, fids[i] };
			int used = 0;

			for (size_t j = 0; j < n && !used; j++)
				used = v[j].fid == fids[i];
			if (used)
				staging_gc_fid(ctx->staging, fids[i], keep_referenced, &k);
			else
				staging_remove_fid(ctx->staging, fids[i]);
		}
	}
	free(fids);
	if (n)
		log_info("journal: resuming %zu pending upload(s)", n);
	for (size_t i = 0; i < n; i++) {
		struct meta_upload *u = &v[i];
		struct objfs_tenant *t = objfs_tenant_find(&ctx->tenants, u->tenant, strlen(u->tenant));
		struct objfs_fileattr attr;
		struct objfs_kv *kv = NULL;
		struct objfs_file *f = NULL;
		size_t nkv = 0;
		int last = 1;

		if (!t) {
			log_err("journal: tenant %s of pending upload %s is no longer configured;"
				" keeping it in the journal", u->tenant, u->path);
			continue;
		}
		for (size_t j = i + 1; j < n; j++)
			if (v[j].fid == u->fid)
				last = 0;
		memset(&attr, 0, sizeof(attr));
		if (file_meta_parse(u->meta, &kv, &nkv) == 0)
			objfs_objmeta_decode(kv, nkv, &attr);
		objfs_kv_free(kv, nkv);
		rc = files_get(ctx->files, t, u->path, u->fid, NULL, &attr, &f);
		objfs_fileattr_clear(&attr);
		if (rc)
			break;
		pthread_mutex_lock(&f->lock);
		f->pending++;
		if (last) {
			/* the file's state is its newest committed version */
			uint32_t maxver = 0;

			free(f->chunks);
			f->chunks = calloc(u->nchunks ? u->nchunks : 1, sizeof(*f->chunks));
			f->nchunks = f->chunks ? u->nchunks : 0;
			for (size_t c = 0; c < f->nchunks; c++) {
				char p[4096];
				struct stat st;

				f->chunks[c].ver = u->chunks[c];
				if (u->chunks[c] > maxver)
					maxver = u->chunks[c];
				if (u->chunks[c]) {
					staging_chunk_path(ctx->staging, u->fid, c, u->chunks[c], p, sizeof(p));
					if (stat(p, &st) == 0)
						f->chunks[c].len = (uint32_t)st.st_size;
				}
			}
			if (u->inline_data && u->inline_len)
				restore_inline(ctx, f, u, &maxver);
			f->size = u->size;
			free(f->base_etag);
			f->base_etag = u->base_etag ? strdup(u->base_etag) : NULL;
			f->base_len = u->base_len;
			f->commit_ver = maxver;
			f->cur_ver = maxver + 1;
			f->last_seq = u->seq;
			free(f->content_type);
			f->content_type = u->content_type ? strdup(u->content_type) : NULL;
		}
		pthread_mutex_unlock(&f->lock);
		/* files_get's reference becomes the pending upload's */
		enqueue(wb, f, u, 1);
	}
	for (size_t i = 0; i < n; i++)
		meta_upload_clear(&v[i]);
	free(v);
	return rc;
}
