/*
 * Audit log (see audit.h for the record format).
 *
 * One global log, since the daemon has one audit_log.  Every record is built
 * with jansson (so quoting and escaping are jansson's, not ours) and written
 * with a single write(2) on an O_APPEND descriptor while au_lock is held:
 * lines of concurrent FUSE threads never interleave, and the size that
 * drives rotation is exact.  The lock is held only across a local write of a
 * few hundred bytes, never across network I/O; a log on a hung filesystem
 * would stall mutations, which is why docs/operations.md says to keep it on
 * local disk.
 *
 * Paths come from users and need not be UTF-8, while JSON strings must be.
 * A string with invalid bytes is written with each bad byte replaced by
 * U+FFFD, and the exact bytes are kept next to it in hex ("path_hex"), so
 * the record is never dropped and never ambiguous.
 *
 * Rotation (max_bytes > 0, regular files only): before a line that would
 * take the file past max_bytes, PATH.N-1 is renamed to PATH.N, ..., PATH to
 * PATH.1, and PATH is created anew; with keep 0 the old file is removed.
 * objfs_audit_reopen() reopens PATH by name, for logrotate's "create" mode
 * (the daemon calls it on SIGHUP).
 *
 * Lock order: au_lock, then the log module's lock (log_* is called with
 * au_lock held; the log module never calls back into audit).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "audit.h"
#include "log.h"

#define AUDIT_MODE         0640
/* After a failed rotation, the next attempt waits this long (ms). */
#define ROTATE_RETRY_MS    60000
/* Write errors are logged at most once per this many ms. */
#define ERR_LOG_EVERY_MS   10000
/* Room for ".NNN" after the path when rotating. */
#define SUFFIX_ROOM        16

static pthread_mutex_t au_lock = PTHREAD_MUTEX_INITIALIZER;
static int au_fd = -1;             /* au_lock; -1: auditing off */
static char *au_path;              /* au_lock */
static uint64_t au_max;            /* au_lock; 0: never rotate */
static unsigned au_keep;           /* au_lock */
static uint64_t au_size;           /* au_lock: bytes in the current file */
static int au_regular;             /* au_lock: the file is a regular file */
static int64_t au_rotate_after_ms; /* au_lock: no rotation attempt before */
static int64_t au_err_ms;          /* au_lock: last write error logged */
static unsigned long au_dropped;   /* au_lock: records lost since then */
static int au_on;                  /* atomic copy of au_fd >= 0 */

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Opens path for appending (creating it).  0 with *fd and *st filled, or a
 * negative errno with a message in err. */
static int open_log(const char *path, int *fd, struct stat *st, char *err, size_t errlen)
{
	int rc = 0;

	*fd = -1;
	if (strlen(path) + SUFFIX_ROOM >= PATH_MAX) {
		rc = -ENAMETOOLONG;
		snprintf(err, errlen, "audit_log: path too long (%zu bytes, at most %d)",
			 strlen(path), PATH_MAX - SUFFIX_ROOM - 1);
		goto out;
	}
	*fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, AUDIT_MODE);
	if (*fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "audit_log %s: cannot open for appending: %s%s", path,
			 strerror(-rc),
			 rc == -EACCES || rc == -EROFS
				 ? " (the daemon must be able to create and write it)"
				 : rc == -ENOENT ? " (its directory must exist)" : "");
		goto out;
	}
	if (fstat(*fd, st) != 0) {
		rc = -errno;
		snprintf(err, errlen, "audit_log %s: fstat: %s", path, strerror(-rc));
		close(*fd);
		*fd = -1;
	}
out:
	return rc;
}

/* Installs fd as the current log (au_lock held); closes the previous one. */
static void install_locked(int fd, const struct stat *st)
{
	if (au_fd >= 0)
		close(au_fd);
	au_fd = fd;
	au_size = (uint64_t)st->st_size;
	au_regular = S_ISREG(st->st_mode);
	__atomic_store_n(&au_on, fd >= 0, __ATOMIC_RELEASE);
}

int objfs_audit_open(const char *path, uint64_t max_bytes, unsigned keep, char *err,
		     size_t errlen)
{
	struct stat st;
	char *copy = NULL;
	int fd = -1, rc;

	if (errlen)
		err[0] = '\0';
	if (!path || !*path) {
		objfs_audit_close();
		return 0;
	}
	copy = strdup(path);
	if (!copy) {
		snprintf(err, errlen, "audit_log: out of memory");
		return -ENOMEM;
	}
	/* open the new file before touching the current one, so a bad path
	 * at reload leaves the running log alone */
	rc = open_log(path, &fd, &st, err, errlen);
	if (rc) {
		free(copy);
		return rc;
	}
	pthread_mutex_lock(&au_lock);
	install_locked(fd, &st);
	free(au_path);
	au_path = copy;
	au_max = max_bytes;
	au_keep = keep;
	au_rotate_after_ms = 0;
	pthread_mutex_unlock(&au_lock);
	return 0;
}

void objfs_audit_close(void)
{
	pthread_mutex_lock(&au_lock);
	if (au_fd >= 0)
		close(au_fd);
	au_fd = -1;
	__atomic_store_n(&au_on, 0, __ATOMIC_RELEASE);
	free(au_path);
	au_path = NULL;
	pthread_mutex_unlock(&au_lock);
}

int objfs_audit_enabled(void)
{
	return __atomic_load_n(&au_on, __ATOMIC_ACQUIRE);
}

int objfs_audit_reopen(void)
{
	char err[PATH_MAX + 128];
	struct stat st;
	int fd = -1, rc = 0;

	pthread_mutex_lock(&au_lock);
	if (!au_path)
		goto out;
	rc = open_log(au_path, &fd, &st, err, sizeof(err));
	if (rc) {
		log_err("%s; still writing to the previous file", err);
		goto out;
	}
	install_locked(fd, &st);
	au_rotate_after_ms = 0;
out:
	pthread_mutex_unlock(&au_lock);
	return rc;
}

/* Rotates the log (au_lock held).  On failure the current file stays in use
 * and no new attempt is made for ROTATE_RETRY_MS. */
static int rotate_locked(void)
{
	char from[PATH_MAX], to[PATH_MAX], err[PATH_MAX + 128];
	struct stat st;
	int fd = -1, rc = 0;

	if (au_keep == 0) {
		if (unlink(au_path) != 0 && errno != ENOENT) {
			rc = -errno;
			log_err("audit_log %s: cannot remove it to rotate: %s", au_path,
				strerror(-rc));
			goto out;
		}
	} else {
		for (unsigned i = au_keep - 1; i >= 1; i--) {
			snprintf(from, sizeof(from), "%s.%u", au_path, i);
			snprintf(to, sizeof(to), "%s.%u", au_path, i + 1);
			if (rename(from, to) != 0 && errno != ENOENT)
				log_warn("audit_log: rename %s -> %s: %s", from, to,
					 strerror(errno));
		}
		snprintf(to, sizeof(to), "%s.1", au_path);
		if (rename(au_path, to) != 0 && errno != ENOENT) {
			rc = -errno;
			log_err("audit_log: rename %s -> %s: %s", au_path, to, strerror(-rc));
			goto out;
		}
	}
	rc = open_log(au_path, &fd, &st, err, sizeof(err));
	if (rc) {
		log_err("%s; rotation failed, writing on in the rotated file", err);
		goto out;
	}
	install_locked(fd, &st);
out:
	if (rc)
		au_rotate_after_ms = wall_ms() + ROTATE_RETRY_MS;
	return rc;
}

/* strict UTF-8: the length of the valid sequence at s (n bytes left), or 0
 * (overlong forms, surrogates and code points past U+10FFFF are invalid) */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned c = s[0], cp, need;

	if (c < 0x80)
		return 1;
	if (c < 0xC2)
		return 0;
	if (c < 0xE0) {
		need = 1;
		cp = c & 0x1F;
	} else if (c < 0xF0) {
		need = 2;
		cp = c & 0x0F;
	} else if (c < 0xF5) {
		need = 3;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (n < need + 1)
		return 0;
	for (unsigned i = 1; i <= need; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) || cp > 0x10FFFF ||
	    (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return need + 1;
}

/* Sets o[key] to s.  Invalid UTF-8 bytes become U+FFFD and key_hex gets the
 * exact bytes in hex.  0, or -ENOMEM. */
static int set_str(json_t *o, const char *key, const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t n = strlen(s), i = 0, j = 0, l;
	char *fixed = NULL, *hex = NULL, hkey[32];
	int bad = 0, rc = 0;

	for (i = 0; i < n; i += l ? l : 1) {
		l = utf8_len(u + i, n - i);
		if (!l) {
			bad = 1;
			break;
		}
	}
	if (!bad) {
		rc = json_object_set_new(o, key, json_string(s)) ? -ENOMEM : 0;
		goto out;
	}
	fixed = malloc(3 * n + 1);
	hex = malloc(2 * n + 1);
	if (!fixed || !hex) {
		rc = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i += l ? l : 1) {
		l = utf8_len(u + i, n - i);
		if (l) {
			memcpy(fixed + j, u + i, l);
			j += l;
		} else {
			memcpy(fixed + j, "\xEF\xBF\xBD", 3);   /* U+FFFD */
			j += 3;
		}
	}
	fixed[j] = '\0';
	for (i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", u[i]);
	hex[2 * n] = '\0';
	snprintf(hkey, sizeof(hkey), "%s_hex", key);
	if (json_object_set_new(o, key, json_string(fixed)) ||
	    json_object_set_new(o, hkey, json_string(hex)))
		rc = -ENOMEM;
out:
	free(fixed);
	free(hex);
	return rc;
}

/* RFC 3339 UTC with milliseconds: 2026-11-23T10:00:00.123Z */
static void rfc3339_now(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

/* The record as one line ending in '\n', malloc'ed (caller frees), or NULL
 * when out of memory. */
static char *build_line(uid_t uid, pid_t pid, const char *tenant, const char *op,
			const char *path, const char *to, int rc, const char *detail,
			size_t *len)
{
	char when[64], ebuf[16];
	const char *result = "ok";
	json_t *o = json_object();
	char *s = NULL, *line = NULL;
	int bad = !o;

	rfc3339_now(when, sizeof(when));
	if (rc) {
		result = strerrorname_np(rc < 0 ? -rc : rc);
		if (!result) {
			snprintf(ebuf, sizeof(ebuf), "E%d", rc < 0 ? -rc : rc);
			result = ebuf;
		}
	}
	bad = bad || json_object_set_new(o, "time", json_string(when));
	bad = bad || json_object_set_new(o, "uid", json_integer((json_int_t)uid));
	bad = bad || json_object_set_new(o, "pid", json_integer((json_int_t)pid));
	bad = bad || (tenant && set_str(o, "tenant", tenant));
	bad = bad || set_str(o, "op", op ? op : "?");
	bad = bad || (path && set_str(o, "path", path));
	bad = bad || (to && set_str(o, "to", to));
	bad = bad || json_object_set_new(o, "result", json_string(result));
	bad = bad || (detail && set_str(o, "detail", detail));
	if (bad)
		goto out;
	s = json_dumps(o, JSON_COMPACT);
	if (!s)
		goto out;
	*len = strlen(s) + 1;
	line = realloc(s, *len + 1);
	if (!line)
		goto out;
	s = NULL;
	line[*len - 1] = '\n';
	line[*len] = '\0';
out:
	free(s);
	json_decref(o);
	return line;
}

/* Counts a lost record and logs it at most every ERR_LOG_EVERY_MS (au_lock
 * held). */
static void dropped_locked(const char *why, int err)
{
	int64_t now = wall_ms();

	au_dropped++;
	if (now - au_err_ms < ERR_LOG_EVERY_MS)
		return;
	log_err("audit_log %s: %s%s%s (%lu record%s lost)", au_path ? au_path : "?", why,
		err ? ": " : "", err ? strerror(err) : "", au_dropped, au_dropped == 1 ? "" : "s");
	au_err_ms = now;
	au_dropped = 0;
}

void objfs_audit(uid_t uid, pid_t pid, const char *tenant, const char *op, const char *path,
		 const char *to, int rc, const char *detail)
{
	char *line = NULL;
	size_t len = 0;
	ssize_t n;

	if (!objfs_audit_enabled())
		return;
	line = build_line(uid, pid, tenant, op, path, to, rc, detail, &len);
	pthread_mutex_lock(&au_lock);
	if (au_fd < 0)
		goto out;                       /* closed meanwhile */
	if (!line) {
		dropped_locked("cannot build a record", ENOMEM);
		goto out;
	}
	if (au_regular && au_max && au_size > 0 && au_size + len > au_max &&
	    wall_ms() >= au_rotate_after_ms)
		rotate_locked();
	n = write(au_fd, line, len);
	if (n == (ssize_t)len) {
		au_size += len;
	} else if (n < 0) {
		dropped_locked("write", errno);
	} else {
		/* a short write (disk full): end the torn line so that the next
		 * record starts on a line of its own */
		au_size += (uint64_t)n;
		if (write(au_fd, "\n", 1) == 1)
			au_size++;
		dropped_locked("short write", ENOSPC);
	}
out:
	pthread_mutex_unlock(&au_lock);
	free(line);
}
