/*
 * systemd integration (libsystemd's sd_notify): readiness, reload and stop
 * notifications and the watchdog.  All calls are no-ops when the daemon was
 * not started by systemd (no NOTIFY_SOCKET in the environment).
 */
#ifndef OBJFS_NOTIFY_H
#define OBJFS_NOTIFY_H

#include "ctx.h"

/* READY=1 with a STATUS= line; called once the mount is up. */
void objfs_notify_ready(const struct objfs_ctx *ctx);
/* RELOADING=1 / READY=1 around a SIGHUP reload; STOPPING=1 at stop. */
void objfs_notify_reloading(void);
void objfs_notify_reloaded(const struct objfs_ctx *ctx);
void objfs_notify_stopping(void);
/* A STATUS= line (e.g. "flushing 12 uploads"). */
void objfs_notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* When systemd asked for a watchdog (WATCHDOG_USEC), starts a thread that
 * sends WATCHDOG=1 every half period while the daemon is responsive (its
 * metadata store and write-back queue answer).  0 or a negative errno. */
int objfs_watchdog_start(struct objfs_ctx *ctx);
void objfs_watchdog_stop(void);

#endif
