/*
 * objfs-ctl backup: incremental snapshots of a tenant on a provider, their
 * listing and their restore (docs/backup.md is the user's page).
 *
 *   objfs-ctl [--config F] backup --tenant T [--to PROVIDER[:BUCKET[/PREFIX]]]
 *       [--dry-run] [--keep N] [--parallel N]
 *   objfs-ctl [--config F] backup list --tenant T [--to|--from TARGET]
 *   objfs-ctl [--config F] backup restore --tenant T --snapshot ID|latest
 *       [--to TENANT] [--from TARGET] [--force] [--mount DIR]
 *
 * TARGET defaults to $OBJFS_BACKUP_TARGET; BUCKET to "objfs-backup",
 * PREFIX to "".  Layout under BUCKET, with BASE = PREFIX + T + "/":
 *   BASE snapshots/ID.manifest   one per snapshot, written last
 *   BASE data/H                  H = hex SHA-256 of (relative key, NUL, source
 *                                ETag): one object per version, shared by
 *                                every snapshot that holds that version
 * ID is the UTC time of the run, YYYYMMDDTHHMMSSZ (one second after the
 * newest existing ID when the clock has not moved past it), so IDs sort by
 * time.  The tenant's internal area (objfs_rel_internal) and its root
 * marker are not backed up; directory markers (keys ending in '/') are,
 * like any object, so empty directories come back.
 *
 * Manifest (and journal) lines, words escaped with ctl_esc_put:
 *   objfs-backup-manifest 1
 *   tenant T / snapshot ID / created UNIXSECONDS / objects N / bytes B
 *   source PROVIDER BUCKET PREFIX
 *   obj REL SIZE MTIME_NS ETAG SHA256 DATA CONTENT-TYPE NMETA [KEY VALUE]...
 *   end N
 *
 * A run: lists the snapshots, reads the newest manifest (the previous
 * snapshot) and the journal of an interrupted run, then lists the source.
 * An object whose ETag, size and Last-Modified equal the previous
 * snapshot's (or the journal's) entry is unchanged: no request.  Every
 * other object is headed (metadata), and its data object is copied unless
 * that version's data object is already known (only the metadata changed):
 * server-side (objfs_prov_copy) when the source and the target are the same
 * store and bucket, else streamed; verified by ctl_copy (size, MD5 ETag or
 * SHA-256 read back).  Each finished copy is appended to the journal
 * (CACHE_DIR/backup-T.journal, one write(2) per line), so a killed run's
 * successor recopies at most the objects that were in flight.  The manifest
 * is put only when every object succeeded; then the journal is removed,
 * the status file written (CACHE_DIR/backup-T.status, read by the daemon's
 * /metrics), and the retention rule applied: the newest --keep manifests
 * stay, older ones are deleted, and so is every data object no kept
 * manifest names.  A flock on CACHE_DIR/backup-T.lock keeps two runs apart
 * on one machine; one target must not be written by two machines at once.
 * Memory: the entries of the source listing, the previous manifest and the
 * journal are held (a few hundred bytes per object).
 *
 * Restore reads a manifest and writes every object into the tenant (or
 * --to TENANT).  When that tenant is mounted (the configuration's
 * mountpoint or --mount is an objfs FUSE mount), through the mount, so the
 * daemon's caches see it: files written and hashed, then mode, owner
 * (root only), xattrs and mtime set, the file read back and compared;
 * directories made and their attributes set last; symlinks made.  When it
 * is not mounted, straight to the tenant's provider with its metadata.  A
 * live object whose content differs is a conflict, kept unless --force.
 *
 * Output: progress on stderr (a live line on a terminal), the summary on
 * stdout:  backup T snapshot ID: copied N objects (B bytes), unchanged U,
 * failed F in S s.  Exit 0, 1 (a failure, a conflict), 2 (bad usage).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "objfs/provider.h"
#include "config.h"
#include "ctl.h"
#include "ctl_copy.h"
#include "log.h"
#include "objmeta.h"
#include "tenant.h"

#define BK_DEFAULT_CONFIG "/etc/objfs/objfs.conf"
#define BK_DEFAULT_BUCKET "objfs-backup"
#define BK_KEEP_DEF       7
#define BK_KEEP_MAX       10000
#define BK_PARALLEL_DEF   4
#define BK_PARALLEL_MAX   64
#define BK_ATTEMPTS       3
#define BK_MAX_WORDS      (9 + 2 * 64)     /* an obj line: 9 fields and metadata pairs */
#define BK_MANIFEST_MAX   (1ull << 31)     /* refuse to load a larger manifest */
#define BK_FUSE_MAGIC     0x65735546

/* One object of a snapshot. */
struct bk_entry {
	char *rel;                     /* key relative to the tenant's prefix; owned */
	uint64_t size;
	int64_t mtime_ns;              /* the source's Last-Modified */
	char etag[OBJFS_ETAG_MAX];
	char sha[CTL_SHA256_HEX];      /* of the content; "" unknown (dry run) */
	char data[CTL_SHA256_HEX];     /* data object name */
	char *ctype;                   /* owned, may be NULL */
	struct objfs_kv *meta;         /* owned */
	size_t nmeta;
	size_t seq;                    /* order read (list_sort: the last wins) */
	unsigned has_meta : 1, work : 1, gone : 1, failed : 1;
};

/* Entries sorted by rel (a manifest or a journal). */
struct bk_list {
	struct bk_entry *v;
	size_t n, cap;
	int64_t created;               /* manifests: "created" */
	uint64_t bytes;
};

struct bk_target {
	char *provider, *bucket, *prefix;  /* prefix normalised ("" or ends in '/') */
	char *base;                        /* prefix + tenant + "/" */
	const struct objfs_provider_conf *pc;
	struct objfs_prov *p;
};

struct bk {
	struct objfs_config *cfg;
	const struct objfs_tenant_conf *t;
	const struct objfs_provider_conf *src_pc;
	struct objfs_prov *src;
	struct bk_target tg;
	int server_side, dry_run;
	unsigned parallel, keep;
	char id[32];
	struct bk_list prev, jr;
	struct bk_entry *v;            /* this snapshot, in listing order */
	size_t n, cap;

	pthread_mutex_t lock;          /* everything below */
	pthread_cond_t cv;             /* a worker finished an entry or ended */
	size_t next;                   /* next entry to look at */
	unsigned live;                 /* workers still running */
	uint64_t n_copied, b_copied, n_unchanged, n_failed, n_resumed;
	int jfd;                       /* journal, or -1 */
	char *jpath;
};

#define bk_err(...) ctl_err("backup", __VA_ARGS__)

/* ---- entries ------------------------------------------------------------ */

static void entry_clear(struct bk_entry *e)
{
	free(e->rel);
	free(e->ctype);
	objfs_kv_free(e->meta, e->nmeta);
	memset(e, 0, sizeof(*e));
}

static void list_clear(struct bk_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		entry_clear(&l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static int entries_grow(struct bk_entry **v, size_t n, size_t *cap)
{
	struct bk_entry *nv;

	if (n < *cap)
		return 0;
	if (!(nv = realloc(*v, (*cap ? *cap * 2 : 256) * sizeof(*nv))))
		return -ENOMEM;
	*v = nv;
	*cap = *cap ? *cap * 2 : 256;
	return 0;
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct bk_entry *)a)->rel, ((const struct bk_entry *)b)->rel);
}

static struct bk_entry *list_find(const struct bk_list *l, const char *rel)
{
	struct bk_entry k;

	memset(&k, 0, sizeof(k));
	k.rel = (char *)rel;
	return l->n ? bsearch(&k, l->v, l->n, sizeof(k), entry_cmp) : NULL;
}

static int entry_cmp_seq(const void *a, const void *b)
{
	const struct bk_entry *x = a, *y = b;
	int c = strcmp(x->rel, y->rel);

	return c ? c : x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Sorts by rel; of duplicates (a journal line written twice) the last wins. */
static void list_sort(struct bk_list *l)
{
	size_t o = 0;

	for (size_t i = 0; i < l->n; i++)
		l->v[i].seq = i;
	if (l->n)
		qsort(l->v, l->n, sizeof(*l->v), entry_cmp_seq);
	for (size_t i = 0; i < l->n; i++) {
		if (o && !strcmp(l->v[o - 1].rel, l->v[i].rel)) {
			entry_clear(&l->v[o - 1]);
			l->v[o - 1] = l->v[i];
			continue;
		}
		l->v[o++] = l->v[i];
	}
	l->n = o;
}

/* The data object name of (rel, etag). */
static void data_name(const char *rel, const char *etag, char *out)
{
	static const char d[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();

	out[0] = '\0';
	if (!c)
		return;
	if (EVP_DigestInit_ex(c, EVP_sha256(), NULL) &&
	    EVP_DigestUpdate(c, rel, strlen(rel) + 1) && EVP_DigestUpdate(c, etag, strlen(etag)) &&
	    EVP_DigestFinal_ex(c, md, &mdlen)) {
		for (unsigned i = 0; i < mdlen; i++) {
			out[2 * i] = d[md[i] >> 4];
			out[2 * i + 1] = d[md[i] & 15];
		}
		out[2 * mdlen] = '\0';
	}
	EVP_MD_CTX_free(c);
}

static void put_word(FILE *f, const char *s)
{
	fputc(' ', f);
	ctl_esc_put(f, s ? s : "");
}

static void entry_write(FILE *f, const struct bk_entry *e)
{
	fputs("obj", f);
	put_word(f, e->rel);
	fprintf(f, " %llu %lld", (unsigned long long)e->size, (long long)e->mtime_ns);
	put_word(f, e->etag);
	put_word(f, e->sha);
	put_word(f, e->data);
	put_word(f, e->ctype);
	fprintf(f, " %zu", e->nmeta);
	for (size_t i = 0; i < e->nmeta; i++) {
		put_word(f, e->meta[i].key);
		put_word(f, e->meta[i].value);
	}
	fputc('\n', f);
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (!*s || *s == '-')
		return -EINVAL;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno || *end ? -EINVAL : 0;
}

/* Parses the words of an "obj" line (w[0] == "obj") into e (zeroed). */
static int entry_parse(char **w, int n, struct bk_entry *e)
{
	uint64_t nmeta, mt;
	char *end;

	if (n < 9 || parse_u64(w[2], &e->size) || parse_u64(w[8], &nmeta) ||
	    (uint64_t)n != 9 + 2 * nmeta || strlen(w[4]) >= sizeof(e->etag) ||
	    strlen(w[5]) >= sizeof(e->sha) || strlen(w[6]) >= sizeof(e->data) || !*w[6])
		return -EINVAL;
	errno = 0;
	mt = (uint64_t)strtoll(w[3], &end, 10);
	if (errno || *end || !*w[3])
		return -EINVAL;
	e->mtime_ns = (int64_t)mt;
	snprintf(e->etag, sizeof(e->etag), "%s", w[4]);
	snprintf(e->sha, sizeof(e->sha), "%s", w[5]);
	snprintf(e->data, sizeof(e->data), "%s", w[6]);
	if (!(e->rel = strdup(w[1])) || (*w[7] && !(e->ctype = strdup(w[7]))))
		return -ENOMEM;
	if (nmeta && !(e->meta = calloc((size_t)nmeta, sizeof(*e->meta))))
		return -ENOMEM;
	for (size_t i = 0; i < nmeta; i++) {
		if (!(e->meta[i].key = strdup(w[9 + 2 * i])) ||
		    !(e->meta[i].value = strdup(w[10 + 2 * i])))
			return -ENOMEM;
		e->nmeta++;
	}
	e->has_meta = 1;
	return 0;
}

/* Deep copy of the metadata of src into e (whose metadata is replaced). */
static int entry_take_meta(struct bk_entry *e, const char *ctype, const struct objfs_kv *meta,
			   size_t nmeta)
{
	free(e->ctype);
	objfs_kv_free(e->meta, e->nmeta);
	e->ctype = NULL;
	e->meta = NULL;
	e->nmeta = 0;
	if (ctype && *ctype && !(e->ctype = strdup(ctype)))
		return -ENOMEM;
	if (nmeta && !(e->meta = calloc(nmeta, sizeof(*e->meta))))
		return -ENOMEM;
	for (size_t i = 0; i < nmeta; i++) {
		if (!(e->meta[i].key = strdup(meta[i].key)) ||
		    !(e->meta[i].value = strdup(meta[i].value)))
			return -ENOMEM;
		e->nmeta++;
	}
	e->has_meta = 1;
	return 0;
}

/* ---- the target --------------------------------------------------------- */

/* Parses PROVIDER[:BUCKET[/PREFIX]] for tenant; 0 or -EINVAL (printed). */
static int target_parse(const char *spec, const char *tenant, struct bk_target *tg)
{
	const char *colon = strchr(spec, ':'), *slash;
	char *pfx = NULL;
	int rc = -EINVAL;

	tg->provider = colon ? strndup(spec, (size_t)(colon - spec)) : strdup(spec);
	if (!tg->provider)
		goto nomem;
	if (!*tg->provider) {
		bk_err("%s: no provider name before ':'", spec);
		return rc;
	}
	if (colon && colon[1]) {
		slash = strchr(colon + 1, '/');
		tg->bucket = slash ? strndup(colon + 1, (size_t)(slash - colon - 1)) :
			     strdup(colon + 1);
		pfx = strdup(slash ? slash + 1 : "");
	} else {
		tg->bucket = strdup(BK_DEFAULT_BUCKET);
		pfx = strdup("");
	}
	if (!tg->bucket || !pfx)
		goto nomem;
	if (!objfs_bucket_name_valid(tg->bucket)) {
		bk_err("%s: %s is not a valid bucket name (3-63 of a-z 0-9 . -)", spec, tg->bucket);
		goto out;
	}
	if (*pfx && ctl_check_prefix("backup", "prefix", pfx))
		goto out;
	if (!(tg->prefix = ctl_norm_prefix(pfx)) ||
	    asprintf(&tg->base, "%s%s/", tg->prefix, tenant) < 0) {
		tg->base = NULL;
		goto nomem;
	}
	rc = 0;
	goto out;
nomem:
	bk_err("out of memory");
	rc = -ENOMEM;
out:
	free(pfx);
	return rc;
}

static void target_free(struct bk_target *tg)
{
	objfs_prov_free(tg->p);
	free(tg->provider);
	free(tg->bucket);
	free(tg->prefix);
	free(tg->base);
	memset(tg, 0, sizeof(*tg));
}

/* Opens the target's provider (after target_parse); 0, or 1/2 exit status. */
static int target_open(struct objfs_config *cfg, const struct objfs_tenant_conf *t,
		       struct bk_target *tg)
{
	const struct objfs_provider_section *ps = ctl_find_provider(cfg, tg->provider);
	struct objfs_err err;

	if (!ps) {
		bk_err("no [provider %s] in the configuration", tg->provider);
		return 2;
	}
	tg->pc = &ps->conf;
	if (objfs_prov_open(tg->pc, &tg->p, &err)) {
		bk_err("backup provider %s: %s", tg->provider, err.msg);
		return 1;
	}
	if (ctl_apply_defaults("backup", t, tg->p, tg->bucket, tg->base, "backup"))
		return 1;
	return 0;
}

static int snap_key(const struct bk_target *tg, const char *id, char *out, size_t n)
{
	return (size_t)snprintf(out, n, "%ssnapshots/%s.manifest", tg->base, id) < n ? 0 :
	       -ENAMETOOLONG;
}

/*
 * Calls fn(arg, oi) for every object under prefix, a page at a time (each
 * page tried BK_ATTEMPTS times on transient errors).  Stops at fn's first
 * nonzero return, which it returns.  Listing errors are printed, except
 * -ENOENT (no such bucket), returned quietly.  0 or a negative errno.
 */
static int list_objects(struct objfs_prov *p, const char *bucket, const char *prefix,
			int (*fn)(void *arg, struct objfs_objinfo *oi), void *arg)
{
	struct objfs_listing l;
	struct objfs_err err;
	char *token = NULL;
	int rc = 0;

	memset(&l, 0, sizeof(l));
	for (;;) {
		for (int a = 0; a < BK_ATTEMPTS; a++) {
			objfs_listing_clear(&l);
			rc = objfs_prov_list(p, bucket, prefix, NULL, token, 0, &l, &err);
			if (!rc || !ctl_copy_transient(rc))
				break;
			sleep((unsigned)a + 1);
		}
		if (rc) {
			if (rc != -ENOENT)
				bk_err("listing %s/%s: %s", bucket, prefix, ctl_emsg(&err, rc));
			break;
		}
		for (size_t i = 0; i < l.nobjects && !rc; i++)
			rc = fn(arg, &l.objects[i]);
		free(token);
		token = l.next_token;
		l.next_token = NULL;
		if (rc || !token)
			break;
	}
	objfs_listing_clear(&l);
	free(token);
	return rc;
}

/* A growing array of malloc'ed strings. */
struct strv {
	char **v;
	size_t n, cap;
};

/* Appends a copy of s[0..len); 0 or -ENOMEM. */
static int strv_add(struct strv *sv, const char *s, size_t len)
{
	if (sv->n == sv->cap) {
		char **nv = realloc(sv->v, (sv->cap ? sv->cap * 2 : 64) * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		sv->v = nv;
		sv->cap = sv->cap ? sv->cap * 2 : 64;
	}
	if (!(sv->v[sv->n] = strndup(s, len)))
		return -ENOMEM;
	sv->n++;
	return 0;
}

static void strv_free(struct strv *sv)
{
	for (size_t i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	memset(sv, 0, sizeof(*sv));
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

struct snap_walk {
	size_t plen;
	struct strv *ids;
};

static int snap_one(void *arg, struct objfs_objinfo *oi)
{
	struct snap_walk *w = arg;
	const char *k = oi->key + w->plen;
	size_t kl = strlen(k);

	if (kl <= 9 || strcmp(k + kl - 9, ".manifest") || strchr(k, '/'))
		return 0;
	return strv_add(w->ids, k, kl - 9);
}

/* Snapshot IDs on the target, sorted (oldest first).  0 or a negative errno
 * (printed); -ENOENT: no bucket (not printed). */
static int snap_ids(const struct bk_target *tg, struct strv *ids)
{
	struct snap_walk w = { 0, ids };
	char *pfx = NULL;
	int rc;

	if (asprintf(&pfx, "%ssnapshots/", tg->base) < 0)
		return -ENOMEM;
	w.plen = strlen(pfx);
	rc = list_objects(tg->p, tg->bucket, pfx, snap_one, &w);
	free(pfx);
	if (rc == -ENOMEM)
		bk_err("out of memory");
	if (ids->n)
		qsort(ids->v, ids->n, sizeof(*ids->v), str_cmp);
	return rc;
}

/* Reads a whole object into memory (NUL-terminated, malloc'ed). */
static int get_all(struct objfs_prov *p, const char *bucket, const char *key, char **out,
		   size_t *len, char *why, size_t n)
{
	struct objfs_objinfo oi;
	struct objfs_err err;
	uint64_t done = 0, got;
	char *buf = NULL;
	int rc;

	memset(&oi, 0, sizeof(oi));
	*out = NULL;
	rc = objfs_prov_head(p, bucket, key, &oi, &err);
	if (rc) {
		snprintf(why, n, "%s", rc == -ENOENT ? "not found" : ctl_emsg(&err, rc));
		goto out;
	}
	if (oi.size > BK_MANIFEST_MAX) {
		snprintf(why, n, "larger than %llu bytes", (unsigned long long)BK_MANIFEST_MAX);
		rc = -EFBIG;
		goto out;
	}
	if (!(buf = malloc((size_t)oi.size + 1))) {
		rc = -ENOMEM;
		snprintf(why, n, "out of memory");
		goto out;
	}
	while (done < oi.size) {
		got = 0;
		rc = objfs_prov_get(p, bucket, key, done, oi.size - done, oi.etag,
				    (unsigned char *)buf + done, &got, &err);
		if (rc || !got) {
			rc = rc ? rc : -EIO;
			snprintf(why, n, "read: %s", err.msg[0] ? err.msg : strerror(-rc));
			goto out;
		}
		done += got;
	}
	buf[done] = '\0';
	*out = buf;
	*len = (size_t)done;
	buf = NULL;
out:
	free(buf);
	objfs_objinfo_clear(&oi);
	return rc;
}

/*
 * Parses a manifest (text, modified) into l (sorted by rel).  header_only:
 * stops after the header lines.  0 or -EINVAL with the line in why.
 */
static int manifest_parse(char *text, size_t len, struct bk_list *l, int header_only,
			  uint64_t *nobj, char *why, size_t n)
{
	char *w[BK_MAX_WORDS], *line = text, *nl;
	uint64_t count = 0, want = UINT64_MAX;
	int lineno = 0, rc = 0, nw, ended = 0;

	*nobj = 0;
	while (line < text + len && (nl = memchr(line, '\n', (size_t)(text + len - line)))) {
		*nl = '\0';
		lineno++;
		nw = ctl_split_words(line, w, BK_MAX_WORDS);
		line = nl + 1;
		if (nw < 1) {
			rc = -EINVAL;
		} else if (lineno == 1) {
			if (strcmp(w[0], "objfs-backup-manifest") || nw != 2 || strcmp(w[1], "1"))
				rc = -EINVAL;
		} else if (!strcmp(w[0], "obj")) {
			if (header_only)
				break;
			if (!(rc = entries_grow(&l->v, l->n, &l->cap))) {
				memset(&l->v[l->n], 0, sizeof(l->v[l->n]));
				rc = entry_parse(w, nw, &l->v[l->n]);
				l->n++;
				count++;
			}
		} else if (!strcmp(w[0], "objects") && nw == 2) {
			rc = parse_u64(w[1], nobj);
		} else if (!strcmp(w[0], "bytes") && nw == 2) {
			rc = parse_u64(w[1], &l->bytes);
		} else if (!strcmp(w[0], "created") && nw == 2) {
			uint64_t c;

			rc = parse_u64(w[1], &c);
			l->created = (int64_t)c;
		} else if (!strcmp(w[0], "end") && nw == 2) {
			rc = parse_u64(w[1], &want);
			ended = 1;
			break;
		}
		/* other header words (tenant, snapshot, source) are informative */
		if (rc)
			break;
	}
	if (!rc && !header_only && (!ended || want != count))
		rc = -EINVAL;
	if (rc) {
		snprintf(why, n, rc == -ENOMEM ? "out of memory" :
			 !ended && !header_only ? "truncated (no end line)" : "malformed at line %d",
			 lineno);
		return rc;
	}
	if (!header_only)
		list_sort(l);
	return 0;
}

/* Loads snapshot id from the target into l.  0 or a negative errno (printed). */
static int manifest_load(const struct bk_target *tg, const char *id, struct bk_list *l,
			 int header_only, uint64_t *nobj)
{
	char key[OBJFS_KEY_MAX + 1], why[512], *text = NULL;
	size_t len = 0;
	uint64_t dummy;
	int rc = snap_key(tg, id, key, sizeof(key));

	if (!rc)
		rc = get_all(tg->p, tg->bucket, key, &text, &len, why, sizeof(why));
	if (!rc)
		rc = manifest_parse(text, len, l, header_only, nobj ? nobj : &dummy, why,
				    sizeof(why));
	if (rc)
		bk_err("snapshot %s (%s/%s): %s", id, tg->bucket, key, why);
	free(text);
	return rc;
}

/* ---- the journal -------------------------------------------------------- */

static void journal_header(const struct bk *b, FILE *f)
{
	fputs("objfs-backup-journal 1\ntarget", f);
	put_word(f, b->tg.provider);
	put_word(f, b->tg.bucket);
	put_word(f, b->tg.base);
	fputc('\n', f);
}

/* Loads the journal of an interrupted run onto this target (into b->jr),
 * then opens it for appending (a new one when there was none or it was for
 * another target).  0 or a negative errno (printed). */
static int journal_open(struct bk *b)
{
	FILE *f = fopen(b->jpath, "r");
	char *line = NULL, *w[BK_MAX_WORDS];
	size_t cap = 0;
	ssize_t len;
	off_t good = 0;
	int lineno = 0, ok = 1, nw, rc = 0, torn = 0;

	while (f && ok && (len = getline(&line, &cap, f)) >= 0) {
		if (!len || line[len - 1] != '\n') {
			torn = 1;       /* a torn last line (killed while appending) */
			break;
		}
		lineno++;
		good += len;
		line[len - 1] = '\0';
		nw = ctl_split_words(line, w, BK_MAX_WORDS);
		if (lineno == 1) {
			ok = nw == 2 && !strcmp(w[0], "objfs-backup-journal") && !strcmp(w[1], "1");
		} else if (lineno == 2) {
			ok = nw == 4 && !strcmp(w[0], "target") && !strcmp(w[1], b->tg.provider) &&
			     !strcmp(w[2], b->tg.bucket) && !strcmp(w[3], b->tg.base);
			if (!ok)
				fprintf(stderr, "objfs-ctl: backup: %s is for another target; starting"
					" afresh\n", b->jpath);
		} else if (nw >= 1 && !strcmp(w[0], "obj")) {
			if ((rc = entries_grow(&b->jr.v, b->jr.n, &b->jr.cap)))
				break;
			memset(&b->jr.v[b->jr.n], 0, sizeof(b->jr.v[0]));
			rc = entry_parse(w, nw, &b->jr.v[b->jr.n]);
			b->jr.n++;
			if (rc == -ENOMEM)
				break;
			if (rc) {
				entry_clear(&b->jr.v[--b->jr.n]);
				rc = 0;
			}
		}
	}
	free(line);
	if (f)
		fclose(f);
	if (rc) {
		bk_err("journal %s: %s", b->jpath, strerror(-rc));
		return rc;
	}
	if (!ok)
		list_clear(&b->jr);
	list_sort(&b->jr);
	if (b->jr.n)
		fprintf(stderr, "objfs-ctl: backup: resuming: %zu objects were copied by an"
			" interrupted run\n", b->jr.n);
	b->jfd = open(b->jpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (ok && lineno >= 2 ?
		      0 : O_TRUNC), 0600);
	if (b->jfd < 0 || (ok && torn && ftruncate(b->jfd, good))) {
		rc = -errno;
		bk_err("journal %s: %s", b->jpath, strerror(-rc));
		return rc;
	}
	if (!ok || lineno < 2) {
		char *buf = NULL;
		size_t blen = 0;
		FILE *m = open_memstream(&buf, &blen);

		if (!m)
			return -ENOMEM;
		journal_header(b, m);
		fclose(m);
		if (write(b->jfd, buf, blen) != (ssize_t)blen)
			rc = -EIO;
		free(buf);
	}
	return rc;
}

/* Appends e with one write(2).  Lock held.  A failed write costs only a
 * recopy after an interruption. */
static void journal_append(struct bk *b, const struct bk_entry *e)
{
	static int warned;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	if (b->jfd < 0 || !(f = open_memstream(&buf, &len)))
		return;
	entry_write(f, e);
	if (fclose(f) == 0 && write(b->jfd, buf, len) != (ssize_t)len && !warned) {
		warned = 1;
		bk_err("journal %s: write failed; an interrupted run would copy again", b->jpath);
	}
	free(buf);
}

/* ---- one object --------------------------------------------------------- */

/* 1 if known (from the previous snapshot or the journal) holds the same
 * version of the same object. */
static int same_version(const struct bk_entry *known, const struct bk_entry *e)
{
	return known && known->sha[0] && !strcmp(known->etag, e->etag) &&
	       known->size == e->size && known->mtime_ns == e->mtime_ns;
}

/* A known entry whose data object holds e's version (data names equal). */
static const struct bk_entry *known_data(const struct bk *b, const struct bk_entry *e)
{
	const struct bk_entry *k = list_find(&b->prev, e->rel);

	if (k && k->sha[0] && !strcmp(k->data, e->data) && k->size == e->size)
		return k;
	k = list_find(&b->jr, e->rel);
	if (k && k->sha[0] && !strcmp(k->data, e->data) && k->size == e->size)
		return k;
	return NULL;
}

enum { BK_COPIED = 1, BK_UNCHANGED, BK_GONE };

/* Backs up entry e: 0 with *what BK_*, or a negative errno with why. */
static int backup_one(struct bk *b, struct ctl_copier *cp, struct bk_entry *e, int *what,
		      char *why, size_t n)
{
	struct objfs_objinfo oi;
	struct objfs_putopts po;
	struct objfs_err err;
	const struct bk_entry *k;
	char key[OBJFS_KEY_MAX + 1], dkey[OBJFS_KEY_MAX + 1];
	int rc;

	memset(&oi, 0, sizeof(oi));
	snprintf(key, sizeof(key), "%s%s", b->t->prefix, e->rel);
	if (!e->has_meta) {
		rc = objfs_prov_head(b->src, b->t->bucket, key, &oi, &err);
		if (rc == -ENOENT) {
			*what = BK_GONE;
			return 0;
		}
		if (rc) {
			snprintf(why, n, "head: %s", ctl_emsg(&err, rc));
			return rc;
		}
		/* the head is newer than the listing; mtime_ns stays the listing's,
		 * which is what the next run's listing is compared with (a head's
		 * Last-Modified may have another precision) */
		e->size = oi.size;
		snprintf(e->etag, sizeof(e->etag), "%s", oi.etag);
		rc = entry_take_meta(e, oi.content_type, oi.meta, oi.nmeta);
		objfs_objinfo_clear(&oi);
		if (rc) {
			snprintf(why, n, "out of memory");
			return rc;
		}
	}
	data_name(e->rel, e->etag, e->data);
	if ((k = known_data(b, e))) {
		/* that version is stored already: only the metadata changed */
		memcpy(e->sha, k->sha, sizeof(e->sha));
		*what = BK_UNCHANGED;
		return 0;
	}
	if (b->dry_run) {
		*what = BK_COPIED;
		return 0;
	}
	if ((size_t)snprintf(dkey, sizeof(dkey), "%sdata/%s", b->tg.base, e->data) >= sizeof(dkey)) {
		snprintf(why, n, "the data key would be longer than %d bytes", OBJFS_KEY_MAX);
		return -ENAMETOOLONG;
	}
	memset(&po, 0, sizeof(po));
	po.content_type = e->ctype;
	po.meta = e->meta;
	po.nmeta = e->nmeta;
	oi.key = key;
	oi.size = e->size;
	snprintf(oi.etag, sizeof(oi.etag), "%s", e->etag);
	rc = b->server_side ? ctl_copy_server_side(cp, &oi, dkey, &po, e->sha, why, n) :
	     ctl_copy_stream(cp, &oi, dkey, &po, e->sha, why, n);
	if (rc == -ENOENT && objfs_prov_head(b->src, b->t->bucket, key, &oi, &err) == -ENOENT) {
		*what = BK_GONE;
		return 0;
	}
	oi.key = NULL;
	objfs_objinfo_clear(&oi);
	if (!rc)
		*what = BK_COPIED;
	return rc;
}

/* One attempt of a worker at an entry (ctl_retry). */
struct bk_try {
	struct bk *b;
	struct ctl_copier *cp;
	struct bk_entry *e;
	int what;
};

static int try_one(void *arg, char *why, size_t n)
{
	struct bk_try *t = arg;

	return backup_one(t->b, t->cp, t->e, &t->what, why, n);
}

static void try_changed(void *arg)
{
	((struct bk_try *)arg)->e->has_meta = 0;
}

static void *worker_main(void *arg)
{
	struct ctl_copier *cp = arg;
	struct bk *b = cp->hook_arg;

	pthread_mutex_lock(&b->lock);
	for (;;) {
		struct bk_try t = { b, cp, NULL, 0 };
		struct bk_entry *e;
		char why[600];
		int what, rc;

		while (b->next < b->n && !b->v[b->next].work)
			b->next++;
		if (b->next >= b->n || ctl_signalled)
			break;
		e = t.e = &b->v[b->next++];
		pthread_mutex_unlock(&b->lock);
		rc = ctl_retry(BK_ATTEMPTS, try_one, try_changed, &t, why, sizeof(why));
		what = t.what;
		pthread_mutex_lock(&b->lock);
		if (rc) {
			e->failed = 1;
			b->n_failed++;
			ctl_report_failure("backup", e->rel, why, rc);
		} else if (what == BK_GONE) {
			e->gone = 1;
		} else if (what == BK_UNCHANGED) {
			b->n_unchanged++;
		} else {
			b->n_copied++;
			b->b_copied += e->size;
			if (!b->dry_run)
				journal_append(b, e);
		}
		pthread_cond_broadcast(&b->cv);
	}
	b->live--;
	pthread_cond_broadcast(&b->cv);
	pthread_mutex_unlock(&b->lock);
	return NULL;
}

/* ---- the run ------------------------------------------------------------ */

/* One object of the source listing into b->v: unchanged ones take the
 * known entry's description, the others are marked for the workers. */
static int collect_one(void *arg, struct objfs_objinfo *oi)
{
	struct bk *b = arg;
	size_t plen = strlen(b->t->prefix);
	const char *rel = oi->key + plen;
	const struct bk_entry *k;
	struct bk_entry *e;
	int rc;

	if (ctl_signalled)
		return -EINTR;
	if (strncmp(oi->key, b->t->prefix, plen) || !*rel || objfs_rel_internal(rel))
		return 0;       /* the tenant's root marker, its internal area */
	if ((rc = entries_grow(&b->v, b->n, &b->cap)))
		return rc;
	e = &b->v[b->n];
	memset(e, 0, sizeof(*e));
	if (!(e->rel = strdup(rel)))
		return -ENOMEM;
	b->n++;
	e->size = oi->size;
	e->mtime_ns = oi->mtime_ns;
	snprintf(e->etag, sizeof(e->etag), "%s", oi->etag);
	if ((k = list_find(&b->prev, rel)) && same_version(k, e)) {
		b->n_unchanged++;
	} else if ((k = list_find(&b->jr, rel)) && same_version(k, e)) {
		b->n_unchanged++;
		b->n_resumed++;
	} else {
		e->work = 1;
		return oi->has_meta ? entry_take_meta(e, oi->content_type, oi->meta, oi->nmeta) : 0;
	}
	memcpy(e->sha, k->sha, sizeof(e->sha));
	memcpy(e->data, k->data, sizeof(e->data));
	return entry_take_meta(e, k->ctype, k->meta, k->nmeta);
}

/* Lists the source into b->v.  0 or a negative errno (printed). */
static int collect(struct bk *b)
{
	int rc = list_objects(b->src, b->t->bucket, b->t->prefix, collect_one, b);

	if (rc == -ENOMEM)
		bk_err("out of memory");
	else if (rc == -ENOENT)
		bk_err("tenant %s: bucket %s does not exist", b->t->name, b->t->bucket);
	return rc;
}

static void progress(struct bk *b, struct ctl_progress *p, int force)
{
	uint64_t count = b->n_copied + b->n_unchanged + b->n_failed;
	char h[32];

	if (!ctl_progress_due(p, count, force))
		return;
	ctl_human(b->b_copied, h, sizeof(h));
	fprintf(stderr, "%sbackup%s: %llu/%zu objects, %llu copied (%s), %llu unchanged, %llu"
		" failed, %.0f s%s", ctl_progress_cr(p), b->dry_run ? " (dry run)" : "",
		(unsigned long long)count, b->n, (unsigned long long)b->n_copied, h,
		(unsigned long long)b->n_unchanged, (unsigned long long)b->n_failed,
		ctl_now() - p->t0, p->tty ? "" : "\n");
	fflush(stderr);
}

/* Runs the workers over b->v.  0 or -EINTR/-ENOMEM. */
static int run_workers(struct bk *b, struct ctl_progress *p)
{
	struct ctl_copier *cps = calloc(b->parallel, sizeof(*cps));
	pthread_t *th = calloc(b->parallel, sizeof(*th));
	unsigned started = 0;
	int rc = 0;

	if (!cps || !th) {
		rc = -ENOMEM;
		goto out;
	}
	for (unsigned i = 0; i < b->parallel; i++) {
		cps[i].spool_fd = -1;
		cps[i].src = b->src;
		cps[i].src_bucket = b->t->bucket;
		cps[i].dst = b->tg.p;
		cps[i].dst_bucket = b->tg.bucket;
		cps[i].dst_s3 = !strcmp(b->tg.pc->type, "s3");
		cps[i].spool_dir = b->cfg->cache_dir;
		cps[i].stop = &ctl_signalled;
		cps[i].hook_arg = b;
	}
	pthread_mutex_lock(&b->lock);
	for (unsigned i = 0; i < b->parallel; i++) {
		if (ctl_copier_init(&cps[i]) ||
		    pthread_create(&th[i], NULL, worker_main, &cps[i])) {
			rc = -ENOMEM;
			break;
		}
		b->live++;
		started++;
	}
	while (b->live) {
		ctl_cond_wait_ms(&b->cv, &b->lock, 250);
		progress(b, p, 0);
	}
	pthread_mutex_unlock(&b->lock);
	for (unsigned i = 0; i < started; i++)
		pthread_join(th[i], NULL);
out:
	for (unsigned i = 0; cps && i < b->parallel; i++)
		ctl_copier_free(&cps[i]);
	free(cps);
	free(th);
	if (rc == -ENOMEM)
		bk_err("cannot start the workers: out of memory");
	return rc ? rc : ctl_signalled ? -EINTR : 0;
}

/* The snapshot ID of this run: the UTC time, or one second after newest. */
static void choose_id(struct bk *b, const char *newest)
{
	time_t now = ctl_clock();
	struct tm tm;

	if (newest) {
		memset(&tm, 0, sizeof(tm));
		if (strptime(newest, "%Y%m%dT%H%M%SZ", &tm)) {
			time_t last = timegm(&tm);

			if (last >= now)
				now = last + 1;
		}
	}
	gmtime_r(&now, &tm);
	strftime(b->id, sizeof(b->id), "%Y%m%dT%H%M%SZ", &tm);
}

/* Writes the manifest to a spool file, puts it, reads it back.  0 or a
 * negative errno (printed). */
static int manifest_put(struct bk *b, uint64_t *nobj, uint64_t *bytes)
{
	struct ctl_copier cp;
	struct objfs_source src;
	struct objfs_putopts po;
	struct objfs_seg seg;
	struct objfs_objinfo oi;
	struct objfs_err err;
	char key[OBJFS_KEY_MAX + 1], tmp[PATH_MAX], sha[CTL_SHA256_HEX], back[CTL_SHA256_HEX];
	char why[512];
	uint64_t size = 0;
	FILE *f = NULL;
	int fd, rc;

	memset(&cp, 0, sizeof(cp));
	memset(&oi, 0, sizeof(oi));
	*nobj = *bytes = 0;
	for (size_t i = 0; i < b->n; i++)
		if (!b->v[i].gone) {
			(*nobj)++;
			*bytes += b->v[i].size;
		}
	snprintf(tmp, sizeof(tmp), "%s/backup-manifest.XXXXXX", b->cfg->cache_dir);
	fd = mkstemp(tmp);
	if (fd < 0 || !(f = fdopen(fd, "w+"))) {
		rc = -errno;
		bk_err("spool file in %s: %s", b->cfg->cache_dir, strerror(-rc));
		if (fd >= 0)
			close(fd);
		unlink(tmp);
		return rc;
	}
	unlink(tmp);
	fprintf(f, "objfs-backup-manifest 1\ntenant");
	put_word(f, b->t->name);
	fprintf(f, "\nsnapshot %s\ncreated %lld\nobjects %llu\nbytes %llu\nsource", b->id,
		(long long)ctl_clock(), (unsigned long long)*nobj, (unsigned long long)*bytes);
	put_word(f, b->src_pc->name);
	put_word(f, b->t->bucket);
	put_word(f, b->t->prefix);
	fputc('\n', f);
	for (size_t i = 0; i < b->n; i++)
		if (!b->v[i].gone)
			entry_write(f, &b->v[i]);
	fprintf(f, "end %llu\n", (unsigned long long)*nobj);
	if (fflush(f) || ctl_copier_init(&cp)) {
		rc = -EIO;
		bk_err("spool file in %s: write failed", b->cfg->cache_dir);
		goto out;
	}
	fd = fileno(f);
	if ((rc = ctl_hash_fd(&cp, fd, sha, &size))) {
		bk_err("spool file: %s", strerror(-rc));
		goto out;
	}
	memset(&seg, 0, sizeof(seg));
	seg.fd = fd;
	seg.len = size;
	src.segs = &seg;
	src.nsegs = 1;
	src.size = size;
	memset(&po, 0, sizeof(po));
	po.content_type = "text/plain";
	snap_key(&b->tg, b->id, key, sizeof(key));
	rc = objfs_prov_put(b->tg.p, b->tg.bucket, key, &src, &po, NULL, &err);
	if (rc) {
		bk_err("writing the manifest %s/%s: %s", b->tg.bucket, key, ctl_emsg(&err, rc));
		goto out;
	}
	rc = ctl_copy_hash_object(&cp, b->tg.p, b->tg.bucket, key, NULL, size, back,
				  "reading the manifest back", why, sizeof(why));
	if (!rc && strcmp(sha, back))
		rc = -EIO;
	if (rc) {
		bk_err("manifest %s/%s: %s", b->tg.bucket, key, why[0] && rc != -EIO ? why :
		       "the stored copy differs from what was written");
		objfs_prov_del(b->tg.p, b->tg.bucket, key, &err);
	}
out:
	ctl_copier_free(&cp);
	if (f)
		fclose(f);
	return rc;
}

/*
 * Retention: deletes the manifests older than the newest keep, then every
 * data object that no kept manifest names.  0, or a negative errno
 * (printed; the snapshot itself is written and good).
 */
struct gc_walk {
	struct bk *b;
	size_t plen;
	const struct strv *keep;       /* sorted data names */
	uint64_t deleted;
};

static int gc_one(void *arg, struct objfs_objinfo *oi)
{
	struct gc_walk *w = arg;
	struct objfs_err err;
	char *name = oi->key + w->plen;
	int rc;

	if (w->keep->n && bsearch(&name, w->keep->v, w->keep->n, sizeof(char *), str_cmp))
		return 0;
	rc = objfs_prov_del(w->b->tg.p, w->b->tg.bucket, oi->key, &err);
	if (rc && rc != -ENOENT) {
		bk_err("deleting %s: %s", oi->key, ctl_emsg(&err, rc));
		return rc;
	}
	w->deleted++;
	return 0;
}

static int retain(struct bk *b, uint64_t *n_deleted_snaps, uint64_t *n_deleted_data)
{
	struct strv ids = { NULL, 0, 0 }, names = { NULL, 0, 0 };
	struct gc_walk w = { b, 0, &names, 0 };
	struct objfs_err err;
	char key[OBJFS_KEY_MAX + 1], *pfx = NULL;
	int rc;

	*n_deleted_snaps = *n_deleted_data = 0;
	if ((rc = snap_ids(&b->tg, &ids)))
		goto out;
	for (size_t i = 0; i + b->keep < ids.n; i++) {
		snap_key(&b->tg, ids.v[i], key, sizeof(key));
		rc = objfs_prov_del(b->tg.p, b->tg.bucket, key, &err);
		if (rc && rc != -ENOENT) {
			bk_err("deleting snapshot %s: %s", ids.v[i], ctl_emsg(&err, rc));
			goto out;
		}
		(*n_deleted_snaps)++;
	}
	/* the data names of the kept snapshots */
	for (size_t i = ids.n > b->keep ? ids.n - b->keep : 0; i < ids.n; i++) {
		struct bk_list kl;

		memset(&kl, 0, sizeof(kl));
		if ((rc = manifest_load(&b->tg, ids.v[i], &kl, 0, NULL))) {
			list_clear(&kl);
			bk_err("not deleting unreferenced data: snapshot %s cannot be read", ids.v[i]);
			goto out;
		}
		for (size_t j = 0; j < kl.n && !rc; j++)
			rc = strv_add(&names, kl.v[j].data, strlen(kl.v[j].data));
		list_clear(&kl);
		if (rc) {
			bk_err("out of memory");
			goto out;
		}
	}
	if (names.n)
		qsort(names.v, names.n, sizeof(*names.v), str_cmp);
	if (asprintf(&pfx, "%sdata/", b->tg.base) < 0) {
		pfx = NULL;
		rc = -ENOMEM;
		goto out;
	}
	w.plen = strlen(pfx);
	rc = list_objects(b->tg.p, b->tg.bucket, pfx, gc_one, &w);
	*n_deleted_data = w.deleted;
out:
	free(pfx);
	strv_free(&ids);
	strv_free(&names);
	return rc;
}

/*
 * The status file read by the daemon's /metrics (src/metrics.c): lines
 * "NAME VALUE", written through a temporary file renamed into place.  A
 * failed run keeps the last success's values and records the failure.
 */
static void status_write(const struct bk *b, int ok, uint64_t nobj, uint64_t bytes)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8], *line = NULL;
	unsigned long long last_ok = 0, objs = 0, byts = 0, v;
	size_t cap = 0;
	char name[64];
	FILE *f;

	snprintf(path, sizeof(path), "%s/backup-%s.status", b->cfg->cache_dir, b->t->name);
	if ((f = fopen(path, "r"))) {
		while (getline(&line, &cap, f) > 0) {
			if (sscanf(line, "%63s %llu", name, &v) != 2)
				continue;
			if (!strcmp(name, "last_success_timestamp_seconds"))
				last_ok = v;
			else if (!strcmp(name, "objects"))
				objs = v;
			else if (!strcmp(name, "bytes"))
				byts = v;
		}
		free(line);
		fclose(f);
	}
	if (ok) {
		last_ok = (unsigned long long)ctl_clock();
		objs = nobj;
		byts = bytes;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (!(f = fopen(tmp, "w"))) {
		bk_err("status file %s: %s", tmp, strerror(errno));
		return;
	}
	fprintf(f, "last_success_timestamp_seconds %llu\nlast_run_timestamp_seconds %lld\n"
		"objects %llu\nbytes %llu\nlast_run_copied_objects %llu\nlast_run_copied_bytes %llu\n"
		"last_run_failed_objects %llu\n", last_ok, (long long)ctl_clock(), objs, byts,
		(unsigned long long)b->n_copied, (unsigned long long)b->b_copied,
		(unsigned long long)(ok ? 0 : b->n_failed ? b->n_failed : 1));
	if (fclose(f) || rename(tmp, path)) {
		bk_err("status file %s: %s", path, strerror(errno));
		unlink(tmp);
	}
}

/* ---- common set-up ------------------------------------------------------ */

static int parse_count(const char *opt, const char *s, unsigned long lo, unsigned long hi,
		       unsigned *out)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || !*s || s[0] == '-' || v < lo || v > hi) {
		bk_err("%s %s: expected %lu..%lu", opt, s, lo, hi);
		return -EINVAL;
	}
	*out = (unsigned)v;
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: objfs-ctl [--config FILE] backup --tenant T [--to PROVIDER[:BUCKET[/PREFIX]]]\n"
		"                 [--dry-run] [--keep N] [--parallel N]\n"
		"       objfs-ctl [--config FILE] backup list --tenant T [--to TARGET]\n"
		"       objfs-ctl [--config FILE] backup restore --tenant T --snapshot ID|latest\n"
		"                 [--to TENANT] [--from TARGET] [--force] [--mount DIR]\n"
		"  TARGET: [provider PROVIDER] of the configuration, BUCKET (default %s),\n"
		"  PREFIX (default none); default $OBJFS_BACKUP_TARGET.  --keep: snapshots kept\n"
		"  (1..%d, default %d); --parallel 1..%d (default %d).  See docs/backup.md.\n",
		BK_DEFAULT_BUCKET, BK_KEEP_MAX, BK_KEEP_DEF, BK_PARALLEL_MAX, BK_PARALLEL_DEF);
}

static const char *default_target(const char *given)
{
	const char *env = getenv("OBJFS_BACKUP_TARGET");

	return given ? given : env && *env ? env : NULL;
}

/* ---- backup ------------------------------------------------------------- */

static int backup_run(const char *config_path, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tenant", required_argument, NULL, 't' },
		{ "to", required_argument, NULL, 'o' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "keep", required_argument, NULL, 'k' },
		{ "parallel", required_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *tenant = NULL, *to = NULL;
	const struct objfs_provider_section *ps;
	struct sigaction old_int, old_term;
	struct ctl_progress prog;
	struct objfs_err err;
	struct bk *b = NULL;
	struct strv ids = { NULL, 0, 0 };
	char lockp[PATH_MAX], h[32];
	uint64_t nobj = 0, bytes = 0, dsnap = 0, ddata = 0;
	int opt, ended = -1, rc, status = 1, sig_set = 0, lock_fd = -1, dry = 0;
	unsigned keep = BK_KEEP_DEF, par = BK_PARALLEL_DEF;
	double t0 = ctl_now();

	optind = 0;
	while ((opt = ctl_getopt(argc, argv, opts, usage, &ended)) != -1) {
		switch (opt) {
		case 't': tenant = optarg; break;
		case 'o': to = optarg; break;
		case 'n': dry = 1; break;
		case 'k':
			if (parse_count("--keep", optarg, 1, BK_KEEP_MAX, &keep))
				return 2;
			break;
		case 'j':
			if (parse_count("--parallel", optarg, 1, BK_PARALLEL_MAX, &par))
				return 2;
			break;
		}
	}
	if (ended >= 0)
		return ended;
	to = default_target(to);
	if (optind < argc) {
		bk_err("unexpected argument %s", argv[optind]);
		return 2;
	}
	if (!tenant || !to) {
		bk_err("--tenant and --to (or $OBJFS_BACKUP_TARGET) are required");
		usage(stderr);
		return 2;
	}
	if (!(b = calloc(1, sizeof(*b)))) {
		bk_err("out of memory");
		return 1;
	}
	b->jfd = -1;
	b->dry_run = dry;
	b->keep = keep;
	b->parallel = par;
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->cv, NULL);
	if (target_parse(to, tenant, &b->tg)) {
		status = 2;
		goto out;
	}
	if (ctl_load_config("backup", config_path ? config_path : BK_DEFAULT_CONFIG, &b->cfg))
		goto out;
	if (!(b->t = ctl_find_tenant(b->cfg, tenant))) {
		bk_err("no tenant %s in the configuration", tenant);
		status = 2;
		goto out;
	}
	if (!(ps = ctl_find_provider(b->cfg, b->t->provider))) {
		bk_err("tenant %s: provider %s not configured", tenant, b->t->provider);
		goto out;
	}
	b->src_pc = &ps->conf;
	if ((status = target_open(b->cfg, b->t, &b->tg)))
		goto out;
	status = 1;
	if (ctl_same_store(b->src_pc, b->tg.pc) && !strcmp(b->t->bucket, b->tg.bucket)) {
		size_t a = strlen(b->t->prefix), c = strlen(b->tg.base);

		if (!strncmp(b->t->prefix, b->tg.base, a < c ? a : c)) {
			bk_err("the backup area (provider %s bucket %s prefix \"%s\") overlaps tenant"
			       " %s (bucket %s prefix \"%s\"): choose another bucket or prefix",
			       b->tg.provider, b->tg.bucket, b->tg.base, tenant, b->t->bucket,
			       b->t->prefix);
			status = 2;
			goto out;
		}
		b->server_side = 1;
	}
	if (objfs_prov_open(b->src_pc, &b->src, &err)) {
		bk_err("source provider %s: %s", b->src_pc->name, err.msg);
		goto out;
	}
	if (b->server_side) {
		/* one store and bucket: copies run on the source's handle */
		objfs_prov_free(b->tg.p);
		b->tg.p = b->src;
	}
	if (ctl_apply_defaults("backup", b->t, b->src, b->t->bucket, b->t->prefix, "source"))
		goto out;
	rc = objfs_prov_bucket_exists(b->tg.p, b->tg.bucket, &err);
	if (rc == -ENOENT && !dry) {
		rc = objfs_prov_bucket_create(b->tg.p, b->tg.bucket, &err);
		if (!rc)
			fprintf(stderr, "objfs-ctl: backup: created bucket %s\n", b->tg.bucket);
	}
	if (rc && !(rc == -ENOENT && dry)) {
		bk_err("backup bucket %s: %s", b->tg.bucket, ctl_emsg(&err, rc));
		goto out;
	}
	if (!dry) {
		snprintf(lockp, sizeof(lockp), "%s/backup-%s.lock", b->cfg->cache_dir, tenant);
		lock_fd = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (lock_fd < 0 || flock(lock_fd, LOCK_EX | LOCK_NB)) {
			bk_err(lock_fd < 0 ? "lock file %s: %s" : "another backup of tenant %s is"
			       " running (%s)", lock_fd < 0 ? lockp : tenant,
			       lock_fd < 0 ? strerror(errno) : lockp);
			goto out;
		}
	}
	if (rc == 0) {
		if (snap_ids(&b->tg, &ids))
			goto out;
		if (ids.n && manifest_load(&b->tg, ids.v[ids.n - 1], &b->prev, 0, NULL))
			goto out;
	}
	choose_id(b, ids.n ? ids.v[ids.n - 1] : NULL);
	if (asprintf(&b->jpath, "%s/backup-%s.journal", b->cfg->cache_dir, tenant) < 0) {
		b->jpath = NULL;
		bk_err("out of memory");
		goto out;
	}
	if (!dry && journal_open(b))
		goto out;

	fprintf(stderr, "objfs-ctl: backup: tenant %s (%s %s/%s) -> %s %s/%s, snapshot %s%s%s\n",
		tenant, b->src_pc->name, b->t->bucket, b->t->prefix, b->tg.provider, b->tg.bucket,
		b->tg.base, b->id, ids.n ? ", incremental from " : " (full)",
		ids.n ? ids.v[ids.n - 1] : "");
	if (dry)
		fprintf(stderr, "objfs-ctl: backup: dry run: nothing is copied\n");
	ctl_signals_catch(&old_int, &old_term);
	sig_set = 1;

	ctl_progress_init(&prog, t0);
	rc = collect(b);
	if (!rc)
		rc = run_workers(b, &prog);
	progress(b, &prog, 1);
	if (prog.tty)
		fputc('\n', stderr);
	if (b->n_resumed)
		fprintf(stderr, "objfs-ctl: backup: %llu objects were copied by the interrupted run\n",
			(unsigned long long)b->n_resumed);
	if (dry) {
		ctl_human(b->b_copied, h, sizeof(h));
		printf("dry run: backup %s would copy %llu objects (%llu bytes, %s), unchanged %llu;"
		       " nothing copied\n", tenant, (unsigned long long)b->n_copied,
		       (unsigned long long)b->b_copied, h, (unsigned long long)b->n_unchanged);
		status = rc || b->n_failed ? 1 : 0;
		goto out;
	}
	if (!rc && !b->n_failed)
		rc = manifest_put(b, &nobj, &bytes);
	printf("backup %s snapshot %s: copied %llu objects (%llu bytes), unchanged %llu, failed"
	       " %llu in %.1f s%s\n", tenant, b->id, (unsigned long long)b->n_copied,
	       (unsigned long long)b->b_copied, (unsigned long long)b->n_unchanged,
	       (unsigned long long)b->n_failed, ctl_now() - t0,
	       rc || b->n_failed ? " (not written)" : "");
	fflush(stdout);
	status_write(b, !rc && !b->n_failed, nobj, bytes);
	if (rc || b->n_failed) {
		fprintf(stderr, "objfs-ctl: backup: %s; no snapshot written; run the same command"
			" again to continue (the copies made are kept)\n", ctl_signalled ? "stopped" :
			b->n_failed ? "some objects failed" : "the run did not finish");
		goto out;
	}
	close(b->jfd);
	b->jfd = -1;
	unlink(b->jpath);
	status = 0;
	if (retain(b, &dsnap, &ddata))
		status = 1;
	else if (dsnap || ddata)
		fprintf(stderr, "objfs-ctl: backup: retention (keep %u): deleted %llu snapshots and"
			" %llu data objects\n", b->keep, (unsigned long long)dsnap,
			(unsigned long long)ddata);
out:
	if (sig_set)
		ctl_signals_restore(&old_int, &old_term);
	if (lock_fd >= 0)
		close(lock_fd);
	strv_free(&ids);
	if (b) {
		if (b->jfd >= 0)
			close(b->jfd);
		for (size_t i = 0; i < b->n; i++)
			entry_clear(&b->v[i]);
		free(b->v);
		list_clear(&b->prev);
		list_clear(&b->jr);
		if (b->tg.p == b->src)
			b->tg.p = NULL;
		objfs_prov_free(b->src);
		target_free(&b->tg);
		objfs_config_free(b->cfg);
		free(b->jpath);
		pthread_mutex_destroy(&b->lock);
		pthread_cond_destroy(&b->cv);
		free(b);
	}
	return status;
}

/* ---- list --------------------------------------------------------------- */

static int backup_list(const char *config_path, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tenant", required_argument, NULL, 't' },
		{ "to", required_argument, NULL, 'o' },
		{ "from", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *tenant = NULL, *to = NULL;
	const struct objfs_tenant_conf *t;
	struct objfs_config *cfg = NULL;
	struct bk_target tg;
	struct strv ids = { NULL, 0, 0 };
	char h[32], when[32];
	int opt, ended = -1, status = 1, rc;

	memset(&tg, 0, sizeof(tg));
	optind = 0;
	while ((opt = ctl_getopt(argc, argv, opts, usage, &ended)) != -1) {
		switch (opt) {
		case 't': tenant = optarg; break;
		case 'o': to = optarg; break;
		}
	}
	if (ended >= 0)
		return ended;
	to = default_target(to);
	if (optind < argc || !tenant || !to) {
		bk_err(optind < argc ? "unexpected argument" :
		       "--tenant and --to (or $OBJFS_BACKUP_TARGET) are required");
		return 2;
	}
	if (target_parse(to, tenant, &tg))
		return 2;
	if (ctl_load_config("backup", config_path ? config_path : BK_DEFAULT_CONFIG, &cfg))
		goto out;
	if (!(t = ctl_find_tenant(cfg, tenant))) {
		bk_err("no tenant %s in the configuration", tenant);
		status = 2;
		goto out;
	}
	if ((status = target_open(cfg, t, &tg)))
		goto out;
	status = 1;
	rc = snap_ids(&tg, &ids);
	if (rc && rc != -ENOENT)
		goto out;
	printf("%-18s %-20s %10s %14s\n", "SNAPSHOT", "TIME (UTC)", "OBJECTS", "BYTES");
	for (size_t i = 0; i < ids.n; i++) {
		struct bk_list l;
		uint64_t nobj = 0;
		time_t c;
		struct tm tm;

		memset(&l, 0, sizeof(l));
		if (manifest_load(&tg, ids.v[i], &l, 1, &nobj)) {
			list_clear(&l);
			continue;
		}
		c = (time_t)l.created;
		gmtime_r(&c, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
		ctl_human(l.bytes, h, sizeof(h));
		printf("%-18s %-20s %10llu %14llu (%s)\n", ids.v[i], when, (unsigned long long)nobj,
		       (unsigned long long)l.bytes, h);
		list_clear(&l);
	}
	status = 0;
out:
	strv_free(&ids);
	target_free(&tg);
	objfs_config_free(cfg);
	return status;
}

/* ---- restore ------------------------------------------------------------ */

struct rs {
	struct objfs_config *cfg;
	const struct objfs_tenant_conf *dt;   /* the tenant restored into */
	struct objfs_prov *dp;                /* its provider (direct restore) */
	const struct objfs_provider_conf *dpc;
	struct bk_target tg;
	struct ctl_copier cp;
	char *mnt;                            /* MOUNT/TENANT when mounted, else NULL */
	int force, server_side;
	uint64_t n_restored, b_restored, n_unchanged, n_conflicts, n_failed;
};

/* 1 if dir is on a FUSE file system. */
static int on_fuse(const char *dir)
{
	struct statfs sf;

	return statfs(dir, &sf) == 0 && (unsigned long)sf.f_type == BK_FUSE_MAGIC;
}

/* mkdir -p of the parents of path (inside r->mnt). */
static int make_parents(const char *path, size_t from)
{
	char buf[PATH_MAX];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + from; (p = strchr(p + 1, '/'));) {
		*p = '\0';
		if (mkdir(buf, 0755) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return 0;
}

/* Sets owner (root only), xattrs, mode and mtime on an open file or path. */
static int apply_attrs(int fd, const char *path, const struct objfs_fileattr *a, int is_link,
		       char *why, size_t n)
{
	struct timespec ts[2];

	if ((a->has_uid || a->has_gid) && geteuid() == 0 &&
	    (fd >= 0 ? fchown(fd, a->has_uid ? a->uid : (uid_t)-1, a->has_gid ? a->gid : (gid_t)-1) :
	     lchown(path, a->has_uid ? a->uid : (uid_t)-1, a->has_gid ? a->gid : (gid_t)-1))) {
		snprintf(why, n, "chown: %s", strerror(errno));
		return -errno;
	}
	for (size_t i = 0; !is_link && i < a->nxattrs; i++) {
		const struct objfs_xattr *x = &a->xattrs[i];

		if ((fd >= 0 ? fsetxattr(fd, x->name, x->value, x->len, 0) :
		     setxattr(path, x->name, x->value, x->len, 0)) && errno != ENOTSUP) {
			snprintf(why, n, "setxattr %s: %s", x->name, strerror(errno));
			return -errno;
		}
	}
	if (a->has_mode && !is_link &&
	    (fd >= 0 ? fchmod(fd, a->mode & 07777) : chmod(path, a->mode & 07777))) {
		snprintf(why, n, "chmod: %s", strerror(errno));
		return -errno;
	}
	if (a->has_mtime) {
		ts[0].tv_sec = ts[1].tv_sec = (time_t)(a->mtime_ns / 1000000000LL);
		ts[0].tv_nsec = ts[1].tv_nsec = (long)(a->mtime_ns % 1000000000LL);
		if (fd >= 0 ? futimens(fd, ts) :
		    utimensat(AT_FDCWD, path, ts, is_link ? AT_SYMLINK_NOFOLLOW : 0)) {
			snprintf(why, n, "utimens: %s", strerror(errno));
			return -errno;
		}
	}
	return 0;
}

enum { RS_RESTORED = 1, RS_UNCHANGED, RS_CONFLICT };

/* Restores e through the mount.  0 with *what RS_*, or a negative errno. */
static int restore_mount(struct rs *r, const struct bk_entry *e, const char *dkey,
			 const struct objfs_fileattr *a, int *what, char *why, size_t n)
{
	char path[PATH_MAX], sha[CTL_SHA256_HEX], back[CTL_SHA256_HEX];
	size_t rl = strlen(e->rel);
	int is_dir = e->rel[rl - 1] == '/' || (a->has_mode && S_ISDIR(a->mode));
	int is_link = a->has_mode && S_ISLNK(a->mode);
	uint64_t size = 0;
	struct stat st;
	int fd = -1, rc, exists;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", r->mnt, e->rel) >= sizeof(path)) {
		snprintf(why, n, "path too long");
		return -ENAMETOOLONG;
	}
	if (is_dir && path[strlen(path) - 1] == '/')
		path[strlen(path) - 1] = '\0';
	if ((rc = make_parents(path, strlen(r->mnt)))) {
		snprintf(why, n, "making its parent directories: %s", strerror(-rc));
		return rc;
	}
	exists = lstat(path, &st) == 0;
	if (is_dir) {
		if (exists && !S_ISDIR(st.st_mode)) {
			*what = RS_CONFLICT;
			return 0;
		}
		if (!exists && mkdir(path, 0755)) {
			snprintf(why, n, "mkdir: %s", strerror(errno));
			return -errno;
		}
		*what = exists ? RS_UNCHANGED : RS_RESTORED;
		return 0;               /* attributes set after the files inside */
	}
	if (is_link) {
		char target[PATH_MAX], cur[PATH_MAX];
		ssize_t cl;
		int tfd;

		if (e->size >= sizeof(target)) {
			snprintf(why, n, "symlink target too long");
			return -ENAMETOOLONG;
		}
		tfd = memfd_create("objfs-restore", MFD_CLOEXEC);
		if (tfd < 0)
			return -errno;
		rc = ctl_copy_to_fd(&r->cp, r->tg.p, r->tg.bucket, dkey, NULL, e->size, tfd, sha,
				    "reading the backup", why, n);
		if (!rc && pread(tfd, target, (size_t)e->size, 0) != (ssize_t)e->size)
			rc = -EIO;
		close(tfd);
		if (rc)
			return rc;
		target[e->size] = '\0';
		if (exists) {
			cl = readlink(path, cur, sizeof(cur) - 1);
			if (cl >= 0 && (cur[cl] = '\0', !strcmp(cur, target))) {
				*what = RS_UNCHANGED;
				return apply_attrs(-1, path, a, 1, why, n);
			}
			if (!r->force) {
				*what = RS_CONFLICT;
				return 0;
			}
			unlink(path);
		}
		if (symlink(target, path)) {
			snprintf(why, n, "symlink: %s", strerror(errno));
			return -errno;
		}
		*what = RS_RESTORED;
		return apply_attrs(-1, path, a, 1, why, n);
	}
	if (exists) {
		if (!S_ISREG(st.st_mode)) {
			*what = RS_CONFLICT;
			return 0;
		}
		if ((uint64_t)st.st_size == e->size && (fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
			rc = ctl_hash_fd(&r->cp, fd, back, &size);
			close(fd);
			fd = -1;
			if (!rc && size == e->size && !strcmp(back, e->sha)) {
				*what = RS_UNCHANGED;
				return apply_attrs(-1, path, a, 0, why, n);
			}
		}
		if (!r->force) {
			*what = RS_CONFLICT;
			return 0;
		}
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(why, n, "open: %s", strerror(errno));
		return -errno;
	}
	rc = ctl_copy_to_fd(&r->cp, r->tg.p, r->tg.bucket, dkey, NULL, e->size, fd, sha,
			    "reading the backup", why, n);
	if (!rc && strcmp(sha, e->sha)) {
		snprintf(why, n, "the backup's SHA-256 %.16s... differs from the manifest's %.16s...",
			 sha, e->sha);
		rc = -EIO;
	}
	if (!rc)
		rc = apply_attrs(fd, path, a, 0, why, n);
	if (close(fd) && !rc) {
		rc = -errno;
		snprintf(why, n, "close: %s", strerror(-rc));
	}
	if (!rc) {
		/* read it back through the mount */
		fd = open(path, O_RDONLY | O_CLOEXEC);
		rc = fd < 0 ? -errno : ctl_hash_fd(&r->cp, fd, back, &size);
		if (fd >= 0)
			close(fd);
		if (!rc && (size != e->size || strcmp(back, e->sha))) {
			snprintf(why, n, "verify: the restored file differs from the backup");
			rc = -EIO;
		} else if (rc) {
			snprintf(why, n, "verify: %s", strerror(-rc));
		}
	}
	if (rc) {
		unlink(path);
		return rc;
	}
	*what = RS_RESTORED;
	return 0;
}

/* Restores e straight into the tenant's store.  0 with *what, or errno. */
static int restore_direct(struct rs *r, const struct bk_entry *e, const char *dkey, int *what,
			  char *why, size_t n)
{
	struct objfs_objinfo live, oi;
	struct objfs_putopts po;
	struct objfs_err err;
	char key[OBJFS_KEY_MAX + 1], sha[CTL_SHA256_HEX];
	int rc;

	memset(&live, 0, sizeof(live));
	memset(&oi, 0, sizeof(oi));
	if ((size_t)snprintf(key, sizeof(key), "%s%s", r->dt->prefix, e->rel) >= sizeof(key)) {
		snprintf(why, n, "key too long");
		return -ENAMETOOLONG;
	}
	rc = objfs_prov_head(r->dp, r->dt->bucket, key, &live, &err);
	if (rc && rc != -ENOENT) {
		snprintf(why, n, "head of the live object: %s", ctl_emsg(&err, rc));
		goto out;
	}
	if (rc == 0) {
		int same = 0;

		if (live.size == e->size &&
		    !ctl_copy_hash_object(&r->cp, r->dp, r->dt->bucket, key, live.etag, live.size,
					  sha, "reading the live object", why, n))
			same = !strcmp(sha, e->sha);
		if (same && !strcasecmp(ctl_ctype_or_default(live.content_type),
					ctl_ctype_or_default(e->ctype))) {
			struct objfs_objinfo want;

			memset(&want, 0, sizeof(want));
			want.meta = e->meta;
			want.nmeta = e->nmeta;
			if (ctl_same_meta(&live, &want)) {
				*what = RS_UNCHANGED;
				rc = 0;
				goto out;
			}
		}
		if (!same && !r->force) {
			*what = RS_CONFLICT;
			rc = 0;
			goto out;
		}
	}
	rc = objfs_prov_head(r->tg.p, r->tg.bucket, dkey, &oi, &err);
	if (rc) {
		snprintf(why, n, "head of the backup %.200s: %.300s", dkey, ctl_emsg(&err, rc));
		goto out;
	}
	memset(&po, 0, sizeof(po));
	po.content_type = e->ctype;
	po.meta = e->meta;
	po.nmeta = e->nmeta;
	rc = r->server_side ? ctl_copy_server_side(&r->cp, &oi, key, &po, sha, why, n) :
	     ctl_copy_stream(&r->cp, &oi, key, &po, sha, why, n);
	if (!rc && strcmp(sha, e->sha)) {
		snprintf(why, n, "the backup's SHA-256 %.16s... differs from the manifest's %.16s...",
			 sha, e->sha);
		objfs_prov_del(r->dp, r->dt->bucket, key, &err);
		rc = -EIO;
	}
	if (!rc)
		*what = RS_RESTORED;
out:
	objfs_objinfo_clear(&live);
	objfs_objinfo_clear(&oi);
	return rc;
}

static int backup_restore(const char *config_path, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tenant", required_argument, NULL, 't' },
		{ "snapshot", required_argument, NULL, 's' },
		{ "to", required_argument, NULL, 'o' },
		{ "from", required_argument, NULL, 'f' },
		{ "force", no_argument, NULL, 'F' },
		{ "mount", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *tenant = NULL, *snap = NULL, *into = NULL, *from = NULL, *mount = NULL;
	const struct objfs_tenant_conf *t;
	const struct objfs_provider_section *ps;
	struct ctl_progress prog;
	struct objfs_err err;
	struct bk_list l;
	struct rs r;
	struct strv ids = { NULL, 0, 0 };
	struct sigaction old_int, old_term;
	char h[32];
	size_t *dirs = NULL, ndirs = 0;
	int opt, ended = -1, status = 1, sig_set = 0;
	double t0 = ctl_now();

	memset(&r, 0, sizeof(r));
	memset(&l, 0, sizeof(l));
	r.cp.spool_fd = -1;
	optind = 0;
	while ((opt = ctl_getopt(argc, argv, opts, usage, &ended)) != -1) {
		switch (opt) {
		case 't': tenant = optarg; break;
		case 's': snap = optarg; break;
		case 'o': into = optarg; break;
		case 'f': from = optarg; break;
		case 'F': r.force = 1; break;
		case 'm': mount = optarg; break;
		}
	}
	if (ended >= 0)
		return ended;
	from = default_target(from);
	if (optind < argc || !tenant || !snap || !from) {
		bk_err(optind < argc ? "unexpected argument" : "--tenant, --snapshot and --from (or"
		       " $OBJFS_BACKUP_TARGET) are required");
		return 2;
	}
	if (!into)
		into = tenant;
	if (target_parse(from, tenant, &r.tg))
		return 2;
	if (ctl_load_config("backup", config_path ? config_path : BK_DEFAULT_CONFIG, &r.cfg))
		goto out;
	if (!(t = ctl_find_tenant(r.cfg, tenant)) || !(r.dt = ctl_find_tenant(r.cfg, into))) {
		bk_err("no tenant %s in the configuration", t ? into : tenant);
		status = 2;
		goto out;
	}
	if ((status = target_open(r.cfg, t, &r.tg)))
		goto out;
	status = 1;
	if (!strcmp(snap, "latest")) {
		if (snap_ids(&r.tg, &ids) || !ids.n) {
			bk_err("no snapshot of tenant %s in %s/%s", tenant, r.tg.bucket, r.tg.base);
			goto out;
		}
		snap = ids.v[ids.n - 1];
	} else if (strchr(snap, '/') || !*snap) {
		bk_err("--snapshot %s: not a snapshot ID", snap);
		status = 2;
		goto out;
	}
	if (manifest_load(&r.tg, snap, &l, 0, NULL))
		goto out;
	if (mount && !on_fuse(mount)) {
		bk_err("--mount %s: not an objfs mount", mount);
		status = 2;
		goto out;
	}
	if (!mount)
		mount = r.cfg->mountpoint;
	if (mount && on_fuse(mount)) {
		if (asprintf(&r.mnt, "%s/%s", mount, into) < 0) {
			r.mnt = NULL;
			goto out;
		}
		if (!on_fuse(r.mnt)) {
			bk_err("%s is not a tenant directory of the objfs mount %s", r.mnt, mount);
			goto out;
		}
	} else {
		if (!(ps = ctl_find_provider(r.cfg, r.dt->provider))) {
			bk_err("tenant %s: provider %s not configured", into, r.dt->provider);
			goto out;
		}
		r.dpc = &ps->conf;
		if (objfs_prov_open(r.dpc, &r.dp, &err)) {
			bk_err("provider %s: %s", r.dpc->name, err.msg);
			goto out;
		}
		if (ctl_apply_defaults("backup", r.dt, r.dp, r.dt->bucket, r.dt->prefix, "tenant"))
			goto out;
		r.server_side = ctl_same_store(r.dpc, r.tg.pc) && !strcmp(r.dt->bucket, r.tg.bucket);
	}
	r.cp.src = r.server_side ? r.dp : r.tg.p;
	r.cp.src_bucket = r.tg.bucket;
	r.cp.dst = r.dp;
	r.cp.dst_bucket = r.dt->bucket;
	r.cp.dst_s3 = r.dpc && !strcmp(r.dpc->type, "s3");
	r.cp.spool_dir = r.cfg->cache_dir;
	if (ctl_copier_init(&r.cp) || (l.n && !(dirs = calloc(l.n, sizeof(*dirs))))) {
		bk_err("out of memory");
		goto out;
	}
	fprintf(stderr, "objfs-ctl: backup: restoring snapshot %s of %s (%zu objects) into"
		" tenant %s %s%s\n", snap, tenant, l.n, into, r.mnt ? "through the mount " :
		"straight to its store", r.mnt ? r.mnt : "");
	ctl_progress_init(&prog, t0);
	ctl_signals_catch(&old_int, &old_term);
	sig_set = 1;
	for (size_t i = 0; i < l.n && !ctl_signalled; i++) {
		const struct bk_entry *e = &l.v[i];
		struct objfs_fileattr a;
		char dkey[OBJFS_KEY_MAX + 1], why[600];
		int what = 0, rc;

		memset(&a, 0, sizeof(a));
		why[0] = '\0';
		snprintf(dkey, sizeof(dkey), "%sdata/%s", r.tg.base, e->data);
		if (r.mnt) {
			rc = objfs_objmeta_decode(e->meta, e->nmeta, &a);
			if (!rc)
				rc = restore_mount(&r, e, dkey, &a, &what, why, sizeof(why));
			if (!rc && what != RS_CONFLICT &&
			    (e->rel[strlen(e->rel) - 1] == '/' || (a.has_mode && S_ISDIR(a.mode))))
				dirs[ndirs++] = i;
			objfs_fileattr_clear(&a);
		} else {
			rc = restore_direct(&r, e, dkey, &what, why, sizeof(why));
		}
		if (rc) {
			r.n_failed++;
			fprintf(stderr, "%sobjfs-ctl: backup: restore %s: %s\n", ctl_progress_cr(&prog),
				e->rel, why[0] ? why : strerror(-rc));
		} else if (what == RS_CONFLICT) {
			r.n_conflicts++;
			fprintf(stderr, "%sobjfs-ctl: backup: restore %s: a different live object is"
				" there; kept (--force overwrites it)\n", ctl_progress_cr(&prog), e->rel);
		} else if (what == RS_UNCHANGED) {
			r.n_unchanged++;
		} else {
			r.n_restored++;
			r.b_restored += e->size;
		}
		if (ctl_progress_due(&prog, i + 1, 0)) {
			ctl_human(r.b_restored, h, sizeof(h));
			fprintf(stderr, "%srestore: %zu/%zu objects, %llu restored (%s)%s",
				ctl_progress_cr(&prog), i + 1, l.n, (unsigned long long)r.n_restored, h,
				prog.tty ? "" : "\n");
		}
	}
	/* directories last (deepest first), so the files made inside do not
	 * move their mtime again */
	for (size_t i = ndirs; i-- > 0;) {
		const struct bk_entry *e = &l.v[dirs[i]];
		struct objfs_fileattr a;
		char path[PATH_MAX], why[600];

		memset(&a, 0, sizeof(a));
		snprintf(path, sizeof(path), "%s/%s", r.mnt, e->rel);
		if (!objfs_objmeta_decode(e->meta, e->nmeta, &a) &&
		    apply_attrs(-1, path, &a, 0, why, sizeof(why))) {
			r.n_failed++;
			fprintf(stderr, "objfs-ctl: backup: restore %s: %s\n", e->rel, why);
		}
		objfs_fileattr_clear(&a);
	}
	if (prog.tty)
		fputc('\n', stderr);
	printf("restore %s snapshot %s into %s: restored %llu objects (%llu bytes), unchanged %llu,"
	       " conflicts %llu, failed %llu in %.1f s\n", tenant, snap, into,
	       (unsigned long long)r.n_restored, (unsigned long long)r.b_restored,
	       (unsigned long long)r.n_unchanged, (unsigned long long)r.n_conflicts,
	       (unsigned long long)r.n_failed, ctl_now() - t0);
	status = r.n_failed || r.n_conflicts || ctl_signalled ? 1 : 0;
out:
	if (sig_set)
		ctl_signals_restore(&old_int, &old_term);
	free(dirs);
	list_clear(&l);
	strv_free(&ids);
	ctl_copier_free(&r.cp);
	objfs_prov_free(r.dp);
	target_free(&r.tg);
	objfs_config_free(r.cfg);
	free(r.mnt);
	return status;
}

int ctl_backup_main(const char *config_path, int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "list"))
		return backup_list(config_path, argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "restore"))
		return backup_restore(config_path, argc - 1, argv + 1);
	return backup_run(config_path, argc, argv);
}
