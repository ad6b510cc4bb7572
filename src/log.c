/* Levelled logging to stderr: "objfs: LEVEL: message", one line per call. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"

static enum objfs_log_level log_level = OBJFS_LOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *const level_names[] = { "error", "warn", "info", "debug" };

/* The last OBJFS_LOG_RECENT warnings and errors, for `objfs-ctl status`
 * (log_lock; a ring, next is where the next one goes). */
static struct objfs_log_entry recent[OBJFS_LOG_RECENT];
static size_t recent_next, recent_count;

void objfs_log_set_level(enum objfs_log_level lvl)
{
	log_level = lvl;
}

int objfs_log_parse_level(const char *s)
{
	for (int i = 0; i < (int)(sizeof(level_names) / sizeof(level_names[0])); i++)
		if (strcmp(s, level_names[i]) == 0)
			return i;
	return -1;
}

void objfs_log(enum objfs_log_level lvl, const char *fmt, ...)
{
	char line[2048];
	struct timespec ts;
	struct tm tm;
	va_list ap;

	if (lvl > log_level && lvl > OBJFS_LOG_WARN)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&log_lock);
	if (lvl <= OBJFS_LOG_WARN) {
		struct objfs_log_entry *e = &recent[recent_next];

		e->time = ts.tv_sec;
		e->level = lvl;
		size_t n = strnlen(line, sizeof(e->msg) - 1);

		memcpy(e->msg, line, n);
		e->msg[n] = '\0';
		recent_next = (recent_next + 1) % OBJFS_LOG_RECENT;
		if (recent_count < OBJFS_LOG_RECENT)
			recent_count++;
	}
	if (lvl > log_level) {
		pthread_mutex_unlock(&log_lock);
		return;
	}
	fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ objfs %s: %s\n",
		tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		tm.tm_sec, ts.tv_nsec / 1000000, level_names[lvl], line);
	pthread_mutex_unlock(&log_lock);
}

size_t objfs_log_recent(struct objfs_log_entry *out, size_t max)
{
	size_t n;

	pthread_mutex_lock(&log_lock);
	n = recent_count < max ? recent_count : max;
	/* newest first */
	for (size_t i = 0; i < n; i++)
		out[i] = recent[(recent_next + OBJFS_LOG_RECENT - 1 - i) % OBJFS_LOG_RECENT];
	pthread_mutex_unlock(&log_lock);
	return n;
}

const char *objfs_log_safe(const char *s, char *buf, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	if (!s)
		return "-";
	for (; *s && o + 4 < size; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c == 0x7f) {
			buf[o++] = '%';
			buf[o++] = hex[c >> 4];
			buf[o++] = hex[c & 15];
		} else {
			buf[o++] = (char)c;
		}
	}
	buf[o] = '\0';
	return buf;
}
