/*
 * Metadata store on SQLite.  See meta.h for the contract.
 *
 * Locking: m->lock serialises every use of the single connection (and so of
 * every prepared statement).  Callers must not hold any other objfs lock
 * that a provider-I/O path may wait on while calling in here; meta calls are
 * short and local.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include <time.h>

#include "log.h"
#include "meta.h"

enum {
	ST_GET, ST_PUT, ST_DEL, ST_DEL_TREE, ST_DEL_TREE_DIRS,
	ST_REN_DROP, ST_REN_MOVE, ST_REN_DIRS_DROP, ST_REN_DIRS_MOVE,
	ST_LIST_BEGIN, ST_LIST_GEN, ST_LIST_ADD, ST_LIST_SWEEP, ST_LIST_END, ST_LIST_TIME, ST_LIST_INVAL,
	ST_READDIR, ST_HAS_CHILD, ST_EXPIRE_TREE,
	ST_J_INSERT, ST_J_UPLOAD_ID, ST_J_ADD_PART, ST_J_PARTS, ST_J_DEL, ST_J_DEL_PARTS,
	ST_J_RETARGET, ST_J_LOAD, ST_J_REBASE,
	ST_U_GET, ST_U_PUT, ST_U_DEL, ST_J_COUNT,
	ST_BEGIN, ST_COMMIT, ST_ROLLBACK,
	ST_COUNT
};

/* Trees: "path = ?p OR path >= ?p || '/' AND path < ?p || '0'" ('0' follows '/'). */
#define TREE(col, p) "(" col " = " p " OR (" col " >= " p " || '/' AND " col " < " p " || '0'))"

static const char *const sql_text[ST_COUNT] = {
	[ST_GET] = "SELECT ino, type, mode, uid, gid, size, mtime_ns, etag, xattr, target, fetched_ms"
		   " FROM entries WHERE tenant = ?1 AND path = ?2",
	[ST_PUT] = "INSERT INTO entries(tenant, path, parent, name, type, mode, uid, gid, size,"
		   " mtime_ns, etag, xattr, target, fetched_ms, gen)"
		   " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
		   " ON CONFLICT(tenant, path) DO UPDATE SET type = excluded.type,"
		   " mode = excluded.mode, uid = excluded.uid, gid = excluded.gid,"
		   " size = excluded.size, mtime_ns = excluded.mtime_ns, etag = excluded.etag,"
		   " xattr = excluded.xattr, target = excluded.target,"
		   " fetched_ms = excluded.fetched_ms,"
		   " gen = CASE WHEN excluded.gen != 0 THEN excluded.gen ELSE entries.gen END"
		   " RETURNING ino",
	[ST_DEL] = "DELETE FROM entries WHERE tenant = ?1 AND path = ?2",
	[ST_DEL_TREE] = "DELETE FROM entries WHERE tenant = ?1 AND " TREE("path", "?2"),
	[ST_DEL_TREE_DIRS] = "DELETE FROM dirs WHERE tenant = ?1 AND " TREE("path", "?2"),
	[ST_REN_DROP] = "DELETE FROM entries WHERE tenant = ?1 AND " TREE("path", "?2"),
	[ST_REN_MOVE] = "UPDATE entries SET"
		   " path = ?3 || substr(path, length(?2) + 1),"
		   " parent = CASE WHEN path = ?2 THEN ?4 ELSE ?3 || substr(parent, length(?2) + 1) END,"
		   " name = CASE WHEN path = ?2 THEN ?5 ELSE name END"
		   " WHERE tenant = ?1 AND " TREE("path", "?2"),
	[ST_REN_DIRS_DROP] = "DELETE FROM dirs WHERE tenant = ?1 AND " TREE("path", "?2"),
	[ST_REN_DIRS_MOVE] = "UPDATE dirs SET path = ?3 || substr(path, length(?2) + 1)"
		   " WHERE tenant = ?1 AND " TREE("path", "?2"),
	[ST_LIST_BEGIN] = "INSERT INTO dirs(tenant, path, listed_ms, gen) VALUES(?1, ?2, NULL, 1)"
		   " ON CONFLICT(tenant, path) DO UPDATE SET listed_ms = NULL, gen = dirs.gen + 1"
		   " RETURNING gen",
	[ST_LIST_GEN] = "SELECT gen FROM dirs WHERE tenant = ?1 AND path = ?2",
	[ST_LIST_ADD] = "", /* ST_PUT with a generation */
	[ST_LIST_SWEEP] = "DELETE FROM entries WHERE tenant = ?1 AND parent = ?2 AND path != ''"
		   " AND gen != ?3",
	[ST_LIST_END] = "UPDATE dirs SET listed_ms = ?4 WHERE tenant = ?1 AND path = ?2 AND gen = ?3",
	[ST_LIST_TIME] = "SELECT listed_ms FROM dirs WHERE tenant = ?1 AND path = ?2"
		   " AND listed_ms IS NOT NULL",
	[ST_LIST_INVAL] = "UPDATE dirs SET listed_ms = NULL WHERE tenant = ?1 AND path = ?2",
	[ST_READDIR] = "SELECT ino, type, mode, uid, gid, size, mtime_ns, etag, xattr, target,"
		   " fetched_ms, name FROM entries WHERE tenant = ?1 AND parent = ?2 AND path != ''"
		   " AND type != 0 AND ino > ?3 ORDER BY ino LIMIT ?4",
	[ST_HAS_CHILD] = "SELECT 1 FROM entries WHERE tenant = ?1 AND parent = ?2 AND path != ''"
		   " AND type != 0 LIMIT 1",
	[ST_EXPIRE_TREE] = "UPDATE entries SET fetched_ms = 0 WHERE tenant = ?1 AND " TREE("path", "?2"),
	[ST_J_INSERT] = "INSERT INTO uploads(fid, tenant, path, size, base_etag, base_len, chunks,"
		   " meta, content_type, upload_id, created_ms, inline)"
		   " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
	[ST_J_UPLOAD_ID] = "UPDATE uploads SET upload_id = ?2 WHERE seq = ?1",
	[ST_J_ADD_PART] = "INSERT OR REPLACE INTO parts(seq, number, size, etag) VALUES(?1, ?2, ?3, ?4)",
	[ST_J_PARTS] = "SELECT number, size, etag FROM parts WHERE seq = ?1 ORDER BY number",
	[ST_J_DEL] = "DELETE FROM uploads WHERE seq = ?1",
	[ST_J_DEL_PARTS] = "DELETE FROM parts WHERE seq = ?1",
	[ST_J_RETARGET] = "UPDATE uploads SET tenant = ?2, path = ?3 WHERE fid = ?1",
	[ST_J_LOAD] = "SELECT seq, fid, tenant, path, size, base_etag, base_len, chunks, meta,"
		   " content_type, upload_id, created_ms, inline FROM uploads ORDER BY seq",
	[ST_J_REBASE] = "UPDATE uploads SET base_etag = ?3 WHERE fid = ?1 AND seq > ?2"
		   " AND base_etag IS ?4",
	[ST_U_GET] = "SELECT location, bytes, objects, seeded_ms, reconciled_ms, clean FROM usage"
		   " WHERE tenant = ?1",
	[ST_U_PUT] = "INSERT OR REPLACE INTO usage(tenant, location, bytes, objects, seeded_ms,"
		   " reconciled_ms, clean) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[ST_U_DEL] = "DELETE FROM usage WHERE tenant = ?1",
	[ST_J_COUNT] = "SELECT count(*) FROM uploads WHERE tenant = ?1",
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
};

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS entries("
	" ino INTEGER PRIMARY KEY AUTOINCREMENT,"
	" tenant TEXT NOT NULL, path TEXT NOT NULL, parent TEXT NOT NULL, name TEXT NOT NULL,"
	" type INTEGER NOT NULL, mode INTEGER, uid INTEGER, gid INTEGER, size INTEGER,"
	" mtime_ns INTEGER, etag TEXT, xattr TEXT, target TEXT, fetched_ms INTEGER,"
	" gen INTEGER NOT NULL DEFAULT 0, UNIQUE(tenant, path));"
	"CREATE INDEX IF NOT EXISTS entries_parent ON entries(tenant, parent, ino);"
	"CREATE TABLE IF NOT EXISTS dirs(tenant TEXT NOT NULL, path TEXT NOT NULL,"
	" listed_ms INTEGER, gen INTEGER NOT NULL, PRIMARY KEY(tenant, path));"
	"CREATE TABLE IF NOT EXISTS uploads(seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	" fid INTEGER NOT NULL, tenant TEXT NOT NULL, path TEXT NOT NULL, size INTEGER NOT NULL,"
	" base_etag TEXT, base_len INTEGER NOT NULL, chunks BLOB, meta TEXT NOT NULL,"
	" content_type TEXT, upload_id TEXT, created_ms INTEGER NOT NULL, inline BLOB);"
	"CREATE TABLE IF NOT EXISTS parts(seq INTEGER NOT NULL, number INTEGER NOT NULL,"
	" size INTEGER NOT NULL, etag TEXT NOT NULL, PRIMARY KEY(seq, number));"
	/* quota usage of a tenant (quota.c); location: where it was counted */
	"CREATE TABLE IF NOT EXISTS usage(tenant TEXT PRIMARY KEY, location TEXT NOT NULL,"
	" bytes INTEGER NOT NULL, objects INTEGER NOT NULL, seeded_ms INTEGER NOT NULL,"
	" reconciled_ms INTEGER NOT NULL, clean INTEGER NOT NULL);"
	/* the mount root owns inode number 1 */
	"INSERT OR IGNORE INTO entries(ino, tenant, path, parent, name, type)"
	" VALUES(1, '', '', '', '', 2);";

struct objfs_meta {
	pthread_mutex_t lock;
	sqlite3 *db;                         /* lock */
	sqlite3_stmt *st[ST_COUNT];          /* lock */
};

int64_t meta_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void meta_entry_clear(struct meta_entry *e)
{
	if (!e)
		return;
	free(e->etag);
	free(e->xattr);
	free(e->target);
	free(e->name);
	memset(e, 0, sizeof(*e));
}

void meta_upload_clear(struct meta_upload *u)
{
	if (!u)
		return;
	free(u->tenant);
	free(u->path);
	free(u->base_etag);
	free(u->chunks);
	free(u->meta);
	free(u->content_type);
	free(u->upload_id);
	free(u->inline_data);
	memset(u, 0, sizeof(*u));
}

static int db_fail(struct objfs_meta *m, const char *what)
{
	log_err("meta: %s: %s", what, sqlite3_errmsg(m->db));
	return -EIO;
}

static sqlite3_stmt *stmt(struct objfs_meta *m, int id)
{
	sqlite3_stmt *s = m->st[id];

	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return s;
}

static int exec_simple(struct objfs_meta *m, int id)
{
	sqlite3_stmt *s = stmt(m, id);
	int rc = sqlite3_step(s);

	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : db_fail(m, sql_text[id]);
}

static int begin(struct objfs_meta *m)
{
	return exec_simple(m, ST_BEGIN);
}

/* Commits, or rolls back when rc says the transaction failed.  Returns rc or
 * the commit's failure. */
static int finish(struct objfs_meta *m, int rc)
{
	if (rc == 0)
		rc = exec_simple(m, ST_COMMIT);
	if (rc != 0 && !sqlite3_get_autocommit(m->db))
		exec_simple(m, ST_ROLLBACK);
	return rc;
}

static int pragma(struct objfs_meta *m, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(m->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		log_err("meta: %s: %s", sql, msg ? msg : "?");
		sqlite3_free(msg);
		return -EIO;
	}
	return 0;
}

int meta_open(const char *cache_dir, struct objfs_meta **out)
{
	struct objfs_meta *m = NULL;
	char path[4096];
	int rc = -EIO;

	*out = NULL;
	if (snprintf(path, sizeof(path), "%s/meta.db", cache_dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	pthread_mutex_init(&m->lock, NULL);
	if (sqlite3_open_v2(path, &m->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		log_err("meta: cannot open %s: %s", path, m->db ? sqlite3_errmsg(m->db) : "?");
		goto out;
	}
	sqlite3_busy_timeout(m->db, 10000);
	if (pragma(m, "PRAGMA journal_mode=WAL") || pragma(m, "PRAGMA synchronous=NORMAL") ||
	    pragma(m, "PRAGMA foreign_keys=OFF") || pragma(m, schema))
		goto out;
	for (int i = 0; i < ST_COUNT; i++) {
		if (!sql_text[i][0])
			continue;
		if (sqlite3_prepare_v3(m->db, sql_text[i], -1, SQLITE_PREPARE_PERSISTENT,
				       &m->st[i], NULL) != SQLITE_OK) {
			db_fail(m, sql_text[i]);
			goto out;
		}
	}
	rc = 0;
out:
	if (rc) {
		meta_close(m);
		m = NULL;
	}
	*out = m;
	return rc;
}

void meta_close(struct objfs_meta *m)
{
	if (!m)
		return;
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(m->st[i]);
	sqlite3_close(m->db);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

static char *col_strdup(sqlite3_stmt *s, int col)
{
	const unsigned char *t = sqlite3_column_text(s, col);

	return t ? strdup((const char *)t) : NULL;
}

/* Reads columns ino..fetched_ms (0..10) of a row into e. */
static void row_to_entry(sqlite3_stmt *s, struct meta_entry *e)
{
	e->ino = (uint64_t)sqlite3_column_int64(s, 0);
	e->type = (enum meta_type)sqlite3_column_int(s, 1);
	e->mode = (mode_t)sqlite3_column_int64(s, 2);
	e->uid = (uid_t)sqlite3_column_int64(s, 3);
	e->gid = (gid_t)sqlite3_column_int64(s, 4);
	e->size = (uint64_t)sqlite3_column_int64(s, 5);
	e->mtime_ns = sqlite3_column_int64(s, 6);
	e->etag = col_strdup(s, 7);
	e->xattr = col_strdup(s, 8);
	e->target = col_strdup(s, 9);
	e->fetched_ms = sqlite3_column_int64(s, 10);
}

int meta_get(struct objfs_meta *m, const char *tenant, const char *path, struct meta_entry *out)
{
	sqlite3_stmt *s;
	int rc;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&m->lock);
	s = stmt(m, ST_GET);
	sqlite3_bind_text(s, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, path, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		row_to_entry(s, out);
		rc = 0;
	} else {
		rc = rc == SQLITE_DONE ? -ENOENT : db_fail(m, "get");
	}
	sqlite3_reset(s);
	pthread_mutex_unlock(&m->lock);
	return rc;
}

static void split_path(const char *path, char *parent, size_t plen, const char **name)
{
	const char *slash = strrchr(path, '/');

	if (!slash) {
		parent[0] = '\0';
		*name = path;
		return;
	}
	snprintf(parent, plen, "%.*s", (int)(slash - path), path);
	*name = slash + 1;
}

static void bind_opt_text(sqlite3_stmt *s, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, i);
}

/* Upserts one row; caller holds the lock. */
static int put_locked(struct objfs_meta *m, const char *tenant, const char *path,
		      const struct meta_entry *e, int64_t gen, uint64_t *ino_out)
{
	char parent[4096];
	const char *name;
	sqlite3_stmt *s = stmt(m, ST_PUT);
	int rc;

	split_path(path, parent, sizeof(parent), &name);
	sqlite3_bind_text(s, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, path, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, parent, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, 4, name, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 5, (int)e->type);
	sqlite3_bind_int64(s, 6, (sqlite3_int64)e->mode);
	sqlite3_bind_int64(s, 7, (sqlite3_int64)e->uid);
	sqlite3_bind_int64(s, 8, (sqlite3_int64)e->gid);
	sqlite3_bind_int64(s, 9, (sqlite3_int64)e->size);
	sqlite3_bind_int64(s, 10, e->mtime_ns);
	bind_opt_text(s, 11, e->etag);
	bind_opt_text(s, 12, e->xattr);
	bind_opt_text(s, 13, e->target);
	sqlite3_bind_int64(s, 14, e->fetched_ms);
	sqlite3_bind_int64(s, 15, gen);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		if (ino_out)
			*ino_out = (uint64_t)sqlite3_column_int64(s, 0);
		rc = sqlite3_step(s) == SQLITE_DONE ? 0 : db_fail(m, "put");
	} else {
		rc = db_fail(m, "put");
	}
	sqlite3_reset(s);
	return rc;
}

int meta_put(struct objfs_meta *m, const char *tenant, const char *path,
	     const struct meta_entry *e, uint64_t *ino_out)
{
	int rc;

	pthread_mutex_lock(&m->lock);
	rc = put_locked(m, tenant, path, e, 0, ino_out);
	pthread_mutex_unlock(&m->lock);
	return rc;
}

int meta_ino(struct objfs_meta *m, const char *tenant, const char *path, uint64_t *ino)
{
	struct meta_entry e;
	int rc = meta_get(m, tenant, path, &e);

	if (rc == 0) {
		*ino = e.ino;
		meta_entry_clear(&e);
		return 0;
	}
	if (rc != -ENOENT)
		return rc;
	/* placeholder: a negative entry that is already stale */
	memset(&e, 0, sizeof(e));
	e.type = META_NEG;
	return meta_put(m, tenant, path, &e, ino);
}

/* Runs a statement binding (tenant, path) and optional extra text params. */
static int run_tp(struct objfs_meta *m, int id, const char *tenant, const char *path,
		  const char *p3, const char *p4, const char *p5)
{
	sqlite3_stmt *s = stmt(m, id);
	int rc;

	sqlite3_bind_text(s, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, path, -1, SQLITE_STATIC);
	if (p3)
		sqlite3_bind_text(s, 3, p3, -1, SQLITE_STATIC);
	if (p4)
		sqlite3_bind_text(s, 4, p4, -1, SQLITE_STATIC);
	if (p5)
		sqlite3_bind_text(s, 5, p5, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : db_fail(m, sql_text[id]);
}

int meta_create(struct objfs_meta *m, const char *tenant, const char *path,
		const struct meta_entry *e, uint64_t *ino_out)
{
	int rc;

	pthread_mutex_lock(&m->lock);
	rc = begin(m);
	if (!rc)
		rc = run_tp(m, ST_DEL, tenant, path, NULL, NULL, NULL);
	if (!rc)
		rc = put_locked(m, tenant, path, e, 0, ino_out);
	rc = finish(m, rc);
	pthread_mutex_unlock(&m->lock);
	return rc;
}

int meta_del(struct objfs_meta *m, const char *tenant, const char *path)
{
	int rc;

	pthread_mutex_lock(&m->lock);
	rc = run_tp(m, ST_DEL, tenant, path, NULL, NULL, NULL);
	pthread_mutex_unlock(&m->lock);
	return rc;
}

int meta_del_tree(struct objfs_meta *m, const char *tenant, const char *path)
{
	int rc;

	pthread_mutex_lock(&m->lock);
	rc = begin(m);
	if (!rc)
		rc = run_tp(m, ST_DEL_TREE, tenant, path, NULL, NULL, NULL);
	if (!rc)
		rc = run_tp(m, ST_DEL_TREE_DIRS, tenant, path, NULL, NULL, NULL);
	rc = finish(m, rc);
	pthread_mutex_unlock(&m->lock);
	return rc;
}

int meta_expire_tree(struct objfs_meta *m, const char *tenant, const char *path)
{
	int rc;

	pthread_mutex_lock(&m->lock);
	rc = run_tp(m, ST_EXPIRE_TREE, tenant, path, NULL, NULL, NULL);
	pthread_mutex_unlock(&m->lock);
	return rc;
}

int meta_rename(struct objfs_meta *m, const char *tenant, const char *path, const char *new_path)
{
	char parent[4096];
	const char *name;
	int rc;

	split_path(new_path, parent, sizeof(parent), &name);
	pthread_mutex_lock(&m->lock);
	rc = begin(m);
	if (!rc)
		rc = run_tp(m, ST_REN_DROP, tenant, new_path, NULL, NULL, NULL);
	if (!rc)
		rc = run_tp(m, ST_REN_MOVE, tenant, path, new_path, parent, name);
	if (!rc)
		rc = run_tp(m, ST_REN_DIRS_DROP, tenant, new_path, NULL, NULL, NULL);
	if (!rc)
		rc = run_tp(m, ST_REN_DIRS_MOVE, tenant, path, new_path, NULL, NULL);
	rc = finish(m, rc);
	pthread_mutex_unlock(&m->lock);
	return rc;
}

int meta_listing_begin(struct objfs_meta *m, const char *tenant, const char *dir, int64_t *gen)
{
	sqlite3_stmt *s;
	int rc;

	pthread_mutex_lock(&m->lock);
	s = stmt(m, ST_LIST_BEGIN);
	sqlite3_bind_text(s, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, dir, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*gen = sqlite3_column_int64(s, 0);
		rc = sqlite3_step(s) == SQLITE_DONE ? 0 : db_fail(m, "listing begin");
	} else {
		rc = db_fail(m, "listing begin");
	}
	sqlite3_reset(s);
	pthread_mutex_unlock(&m->lock);
	return rc;
}

/* 1 if gen is still dir's current listing generation (a newer listing
 * supersedes an older one still running: the older one must neither tag rows
 * with its generation nor sweep).  Caller holds the lock. */
static int gen_current(struct objfs_meta *m, const char *tenant, const char *dir, int64_t gen)
{
	sqlite3_stmt *s = stmt(m, ST_LIST_GEN);
	int cur;

	sqlite3_bind_text(s, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, dir, -1, SQLITE_STATIC);
	cur = sqlite3_step(s) == SQLITE_ROW && sqlite3_column_int64(s, 0) == gen;
	sqlite3_reset(s);
	return cur;
}

int meta_listing_add(struct objfs_meta *m, const char *tenant, const char *dir, int64_t gen,
		     const char *const *names, const struct meta_entry *entries, size_t n)
{
	char path[4096];
	int rc;

	pthread_mutex_lock(&m->lock);
	rc = begin(m);
	if (rc == 0 && !gen_current(m, tenant, dir, gen))
		n = 0;                       /* superseded: the newer listing decides */
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (snprintf(path, sizeof(path), "%s%s%s", dir, dir[0] ? "/" : "", names[i]) >=
		    (int)sizeof(path)) {
			rc = -ENAMETOOLONG;
			break;
		}
		rc = put_locked(m, tenant, path, &entries[i], gen, NULL);
	}
	rc = finish(m, rc);
	pthread_mutex_unlock(&m->lock);
	return rc;
}

int meta_listing_end(struct objfs_meta *m, const char *tenant, const char *dir, int64_t gen,
		     int64_t now_ms)
{
	sqlite3_stmt *s;
	int rc;

	pthread_mutex_lock(&m->lock);
	rc = begin(m);
	if (!rc && !gen_current(m, tenant, dir, gen)) {
		rc = finish(m, 0);           /* superseded: no sweep, not complete */
		pthread_mutex_unlock(&m->lock);
		return rc;
	}
	if (!rc) {
		s = stmt(m, ST_LIST_SWEEP);
		sqlite3_bind_text(s, 1, tenant, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, dir, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 3, gen);
		rc = sqlite3_step(s) == SQLITE_DONE ? 0 : db_fail(m, "listing sweep");
		sqlite3_reset(s);
	}
	if (!rc) {
		s = stmt(m, ST_LIST_END);
		sqlite3_bind_text(s, 1, tenant, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, dir, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 3, gen);
		sqlite3_bind_int64(s, 4, now_ms);
		rc = sqlite3_step(s) == SQLITE_DONE ? 0 : db_fail(m, "listing end");
		sqlite3_reset(s);
	}
	rc = finish(m, rc);
	pthread_mutex_unlock(&m->lock);
	return rc;
}

int meta_listing_time(struct objfs_meta *m, const char *tenant, const char *dir, int64_t *listed_ms)
{
	sqlite3_stmt *s;
	int rc;

	pthread_mutex_lock(&m->lock);
	s = stmt(m, ST_LIST_TIME);
	sqlite3_bind_text(s, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, dir, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*listed_ms = sqlite3_column_int64(s, 0);
		rc = 0;
	} else {
		rc = rc == SQLITE_DONE ? -ENOENT : db_fail(m, "listing time");
	}
	sqlite3_reset(s);
	pthread_mutex_unlock(&m->lock);
	return rc;
}

int meta_listing_invalidate(struct objfs_meta *m, const char *tenant, const char *dir)
{
	int rc;

	pthread_mutex_lock(&m->lock);
	rc = run_tp(m, ST_LIST_INVAL, tenant, dir, NULL, NULL, NULL);
	pthread_mutex_unlock(&m->lock);
	return rc;
}

int meta_readdir(struct objfs_meta *m, const char *tenant, const char *dir, uint64_t after,
		 struct meta_entry *out, size_t max, size_t *n)
{
	sqlite3_stmt *s;
	int rc;

	*n = 0;
	pthread_mutex_lock(&m->lock);
	s = stmt(m, ST_READDIR);
	sqlite3_bind_text(s, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, dir, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)after);
	sqlite3_bind_int64(s, 4, (sqlite3_int64)max);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct meta_entry *e = &out[(*n)++];

		memset(e, 0, sizeof(*e));
		row_to_entry(s, e);
		e->name = col_strdup(s, 11);
		e->cookie = e->ino;
	}
	rc = rc == SQLITE_DONE ? 0 : db_fail(m, "readdir");
	sqlite3_reset(s);
	pthread_mutex_unlock(&m->lock);
	return rc;
}

int meta_has_children(struct objfs_meta *m, const char *tenant, const char *dir)
{
	sqlite3_stmt *s;
	int rc;

	pthread_mutex_lock(&m->lock);
	s = stmt(m, ST_HAS_CHILD);
	sqlite3_bind_text(s, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, dir, -1, SQLITE_STATIC);
	rc = sqlite3_step(s) == SQLITE_ROW;
	sqlite3_reset(s);
	pthread_mutex_unlock(&m->lock);
	return rc;
}

int meta_journal_commit(struct objfs_meta *m, struct meta_upload *u)
{
	sqlite3_stmt *s;
	int rc;

	pthread_mutex_lock(&m->lock);
	/* FULL for this transaction: the WAL is fsynced at commit. */
	rc = pragma(m, "PRAGMA synchronous=FULL");
	if (!rc)
		rc = begin(m);
	if (!rc) {
		s = stmt(m, ST_J_INSERT);
		sqlite3_bind_int64(s, 1, (sqlite3_int64)u->fid);
		sqlite3_bind_text(s, 2, u->tenant, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, u->path, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 4, (sqlite3_int64)u->size);
		bind_opt_text(s, 5, u->base_etag);
		sqlite3_bind_int64(s, 6, (sqlite3_int64)u->base_len);
		sqlite3_bind_blob(s, 7, u->chunks, (int)(u->nchunks * sizeof(uint32_t)), SQLITE_STATIC);
		sqlite3_bind_text(s, 8, u->meta ? u->meta : "", -1, SQLITE_STATIC);
		bind_opt_text(s, 9, u->content_type);
		bind_opt_text(s, 10, u->upload_id);
		sqlite3_bind_int64(s, 11, u->created_ms);
		if (u->inline_data)
			sqlite3_bind_blob(s, 12, u->inline_data, (int)u->inline_len, SQLITE_STATIC);
		else
			sqlite3_bind_null(s, 12);
		rc = sqlite3_step(s) == SQLITE_DONE ? 0 : db_fail(m, "journal commit");
		sqlite3_reset(s);
		if (!rc)
			u->seq = sqlite3_last_insert_rowid(m->db);
	}
	rc = finish(m, rc);
	pragma(m, "PRAGMA synchronous=NORMAL");
	pthread_mutex_unlock(&m->lock);
	return rc;
}

/* Runs statement id with ?1 = seq (a journal row); caller holds the lock. */
static int step_seq(struct objfs_meta *m, int id, int64_t seq, const char *what)
{
	sqlite3_stmt *s = stmt(m, id);
	int rc;

	sqlite3_bind_int64(s, 1, seq);
	rc = sqlite3_step(s) == SQLITE_DONE ? 0 : db_fail(m, what);
	sqlite3_reset(s);
	return rc;
}

int meta_journal_set_upload_id(struct objfs_meta *m, int64_t seq, const char *upload_id)
{
	sqlite3_stmt *s;
	int rc;

	pthread_mutex_lock(&m->lock);
	rc = begin(m);
	if (!rc) {
		s = stmt(m, ST_J_UPLOAD_ID);
		sqlite3_bind_int64(s, 1, seq);
		bind_opt_text(s, 2, upload_id);
		rc = sqlite3_step(s) == SQLITE_DONE ? 0 : db_fail(m, "journal upload id");
		sqlite3_reset(s);
	}
	/* parts belong to one upload id: a new (or no) upload starts empty */
	if (!rc)
		rc = step_seq(m, ST_J_DEL_PARTS, seq, "journal upload id parts");
	rc = finish(m, rc);
	pthread_mutex_unlock(&m->lock);
	return rc;
}

int meta_journal_add_part(struct objfs_meta *m, int64_t seq, const struct meta_part *p)
{
	sqlite3_stmt *s;
	int rc;

	pthread_mutex_lock(&m->lock);
	s = stmt(m, ST_J_ADD_PART);
	sqlite3_bind_int64(s, 1, seq);
	sqlite3_bind_int(s, 2, p->number);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)p->size);
	sqlite3_bind_text(s, 4, p->etag, -1, SQLITE_STATIC);
	rc = sqlite3_step(s) == SQLITE_DONE ? 0 : db_fail(m, "journal part");
	sqlite3_reset(s);
	pthread_mutex_unlock(&m->lock);
	return rc;
}

int meta_journal_parts(struct objfs_meta *m, int64_t seq, struct meta_part **parts, size_t *n)
{
	struct meta_part *v = NULL, *nv;
	size_t cap = 0, cnt = 0;
	sqlite3_stmt *s;
	int rc;

	pthread_mutex_lock(&m->lock);
	s = stmt(m, ST_J_PARTS);
	sqlite3_bind_int64(s, 1, seq);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (cnt == cap) {
			cap = cap ? cap * 2 : 16;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				rc = SQLITE_NOMEM;
				break;
			}
			v = nv;
		}
		v[cnt].number = sqlite3_column_int(s, 0);
		v[cnt].size = (uint64_t)sqlite3_column_int64(s, 1);
		snprintf(v[cnt].etag, sizeof(v[cnt].etag), "%s",
			 (const char *)sqlite3_column_text(s, 2));
		cnt++;
	}
	rc = rc == SQLITE_DONE ? 0 : rc == SQLITE_NOMEM ? -ENOMEM : db_fail(m, "journal parts");
	sqlite3_reset(s);
	pthread_mutex_unlock(&m->lock);
	if (rc) {
		free(v);
		v = NULL;
		cnt = 0;
	}
	*parts = v;
	*n = cnt;
	return rc;
}

int meta_journal_done(struct objfs_meta *m, int64_t seq, const struct meta_upload *u,
		      const struct meta_entry *landed)
{
	sqlite3_stmt *s;
	int rc;

	pthread_mutex_lock(&m->lock);
	rc = begin(m);
	if (!rc)
		rc = step_seq(m, ST_J_DEL, seq, "journal done");
	if (!rc)
		rc = step_seq(m, ST_J_DEL_PARTS, seq, "journal done parts");
	if (!rc && landed && u)
		rc = put_locked(m, u->tenant, u->path, landed, 0, NULL);
	if (!rc && landed && u && landed->etag) {
		s = stmt(m, ST_J_REBASE);
		sqlite3_bind_int64(s, 1, (sqlite3_int64)u->fid);
		sqlite3_bind_int64(s, 2, seq);
		sqlite3_bind_text(s, 3, landed->etag, -1, SQLITE_STATIC);
		bind_opt_text(s, 4, u->base_etag);
		rc = sqlite3_step(s) == SQLITE_DONE ? 0 : db_fail(m, "journal rebase");
		sqlite3_reset(s);
	}
	rc = finish(m, rc);
	pthread_mutex_unlock(&m->lock);
	return rc;
}

int meta_journal_retarget(struct objfs_meta *m, uint64_t fid, const char *tenant, const char *path)
{
	sqlite3_stmt *s;
	int rc;

	pthread_mutex_lock(&m->lock);
	s = stmt(m, ST_J_RETARGET);
	sqlite3_bind_int64(s, 1, (sqlite3_int64)fid);
	sqlite3_bind_text(s, 2, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, path, -1, SQLITE_STATIC);
	rc = sqlite3_step(s) == SQLITE_DONE ? 0 : db_fail(m, "journal retarget");
	sqlite3_reset(s);
	pthread_mutex_unlock(&m->lock);
	return rc;
}

int meta_journal_rebase(struct objfs_meta *m, uint64_t fid, const char *old_etag,
			const char *new_etag)
{
	sqlite3_stmt *s;
	int rc;

	pthread_mutex_lock(&m->lock);
	s = stmt(m, ST_J_REBASE);
	sqlite3_bind_int64(s, 1, (sqlite3_int64)fid);
	sqlite3_bind_int64(s, 2, 0);
	sqlite3_bind_text(s, 3, new_etag, -1, SQLITE_STATIC);
	bind_opt_text(s, 4, old_etag);
	rc = sqlite3_step(s) == SQLITE_DONE ? 0 : db_fail(m, "journal rebase");
	sqlite3_reset(s);
	pthread_mutex_unlock(&m->lock);
	return rc;
}

int meta_journal_load(struct objfs_meta *m, struct meta_upload **out, size_t *n)
{
	struct meta_upload *v = NULL, *nv;
	size_t cap = 0, cnt = 0;
	sqlite3_stmt *s;
	int rc;

	pthread_mutex_lock(&m->lock);
	s = stmt(m, ST_J_LOAD);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct meta_upload *u;
		int blen;

		if (cnt == cap) {
			cap = cap ? cap * 2 : 16;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				rc = SQLITE_NOMEM;
				break;
			}
			v = nv;
		}
		u = &v[cnt++];
		memset(u, 0, sizeof(*u));
		u->seq = sqlite3_column_int64(s, 0);
		u->fid = (uint64_t)sqlite3_column_int64(s, 1);
		u->tenant = col_strdup(s, 2);
		u->path = col_strdup(s, 3);
		u->size = (uint64_t)sqlite3_column_int64(s, 4);
		u->base_etag = col_strdup(s, 5);
		u->base_len = (uint64_t)sqlite3_column_int64(s, 6);
		blen = sqlite3_column_bytes(s, 7);
		u->nchunks = (size_t)blen / sizeof(uint32_t);
		if (u->nchunks) {
			u->chunks = malloc((size_t)blen);
			if (u->chunks)
				memcpy(u->chunks, sqlite3_column_blob(s, 7), (size_t)blen);
		}
		u->meta = col_strdup(s, 8);
		u->content_type = col_strdup(s, 9);
		u->upload_id = col_strdup(s, 10);
		u->created_ms = sqlite3_column_int64(s, 11);
		if (sqlite3_column_type(s, 12) == SQLITE_BLOB) {
			u->inline_len = (size_t)sqlite3_column_bytes(s, 12);
			u->inline_data = malloc(u->inline_len ? u->inline_len : 1);
			if (u->inline_data && u->inline_len)
				memcpy(u->inline_data, sqlite3_column_blob(s, 12), u->inline_len);
		}
		if (!u->tenant || !u->path || !u->meta || (u->nchunks && !u->chunks) ||
		    (u->inline_len && !u->inline_data)) {
			rc = SQLITE_NOMEM;
			break;
		}
	}
	rc = rc == SQLITE_DONE ? 0 : rc == SQLITE_NOMEM ? -ENOMEM : db_fail(m, "journal load");
	sqlite3_reset(s);
	pthread_mutex_unlock(&m->lock);
	if (rc) {
		for (size_t i = 0; i < cnt; i++)
			meta_upload_clear(&v[i]);
		free(v);
		v = NULL;
		cnt = 0;
	}
	*out = v;
	*n = cnt;
	return rc;
}

/* --- quota usage --- */

void meta_usage_clear(struct meta_usage *u)
{
	if (!u)
		return;
	free(u->location);
	memset(u, 0, sizeof(*u));
}

int meta_usage_get(struct objfs_meta *m, const char *tenant, struct meta_usage *out)
{
	sqlite3_stmt *s;
	int rc;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&m->lock);
	s = stmt(m, ST_U_GET);
	sqlite3_bind_text(s, 1, tenant, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		out->location = col_strdup(s, 0);
		out->bytes = (uint64_t)sqlite3_column_int64(s, 1);
		out->objects = (uint64_t)sqlite3_column_int64(s, 2);
		out->seeded_ms = sqlite3_column_int64(s, 3);
		out->reconciled_ms = sqlite3_column_int64(s, 4);
		out->clean = sqlite3_column_int(s, 5);
		rc = out->location ? 0 : -ENOMEM;
	} else {
		rc = rc == SQLITE_DONE ? -ENOENT : db_fail(m, "usage get");
	}
	sqlite3_reset(s);
	pthread_mutex_unlock(&m->lock);
	if (rc)
		meta_usage_clear(out);
	return rc;
}

int meta_usage_put(struct objfs_meta *m, const char *tenant, const struct meta_usage *u)
{
	sqlite3_stmt *s;
	int rc;

	pthread_mutex_lock(&m->lock);
	s = stmt(m, ST_U_PUT);
	sqlite3_bind_text(s, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, u->location ? u->location : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)u->bytes);
	sqlite3_bind_int64(s, 4, (sqlite3_int64)u->objects);
	sqlite3_bind_int64(s, 5, u->seeded_ms);
	sqlite3_bind_int64(s, 6, u->reconciled_ms);
	sqlite3_bind_int(s, 7, u->clean ? 1 : 0);
	rc = sqlite3_step(s) == SQLITE_DONE ? 0 : db_fail(m, "usage put");
	sqlite3_reset(s);
	pthread_mutex_unlock(&m->lock);
	return rc;
}

int meta_usage_del(struct objfs_meta *m, const char *tenant)
{
	sqlite3_stmt *s;
	int rc;

	pthread_mutex_lock(&m->lock);
	s = stmt(m, ST_U_DEL);
	sqlite3_bind_text(s, 1, tenant, -1, SQLITE_STATIC);
	rc = sqlite3_step(s) == SQLITE_DONE ? 0 : db_fail(m, "usage del");
	sqlite3_reset(s);
	pthread_mutex_unlock(&m->lock);
	return rc;
}

int meta_journal_count(struct objfs_meta *m, const char *tenant, uint64_t *n)
{
	sqlite3_stmt *s;
	int rc;

	*n = 0;
	pthread_mutex_lock(&m->lock);
	s = stmt(m, ST_J_COUNT);
	sqlite3_bind_text(s, 1, tenant, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*n = (uint64_t)sqlite3_column_int64(s, 0);
		rc = 0;
	} else {
		rc = db_fail(m, "journal count");
	}
	sqlite3_reset(s);
	pthread_mutex_unlock(&m->lock);
	return rc;
}
