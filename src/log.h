/*
 * Logging with levels to stderr (and syslog-friendly single lines).
 * Messages must never contain secrets.  Thread-safe.
 */
#ifndef OBJFS_LOG_H
#define OBJFS_LOG_H

#include <stddef.h>

enum objfs_log_level { OBJFS_LOG_ERROR = 0, OBJFS_LOG_WARN, OBJFS_LOG_INFO, OBJFS_LOG_DEBUG };

void objfs_log_set_level(enum objfs_log_level lvl);
/* Parses "error", "warn", "info", "debug"; -1 if unknown. */
int objfs_log_parse_level(const char *s);
void objfs_log(enum objfs_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The most recent warnings and errors (kept whatever the log level), newest
 * first, for `objfs-ctl status`.  Returns how many were copied. */
#define OBJFS_LOG_RECENT 32
struct objfs_log_entry {
	long long time;              /* Unix seconds */
	enum objfs_log_level level;
	char msg[512];
};
size_t objfs_log_recent(struct objfs_log_entry *out, size_t max);

/* Copies s into buf (size bytes) for a log line, control bytes as %XX and
 * truncated to fit; NULL gives "-".  Returns buf (or "-"). */
const char *objfs_log_safe(const char *s, char *buf, size_t size);

#define log_err(...)   objfs_log(OBJFS_LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  objfs_log(OBJFS_LOG_WARN, __VA_ARGS__)
#define log_info(...)  objfs_log(OBJFS_LOG_INFO, __VA_ARGS__)
#define log_debug(...) objfs_log(OBJFS_LOG_DEBUG, __VA_ARGS__)

#endif
