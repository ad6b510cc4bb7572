/* systemd notifications (being written; see notify.h). */
#include "notify.h"

void objfs_notify_ready(const struct objfs_ctx *ctx) { (void)ctx; }
void objfs_notify_reloading(void) {}
void objfs_notify_reloaded(const struct objfs_ctx *ctx) { (void)ctx; }
void objfs_notify_stopping(void) {}
void objfs_notify_status(const char *fmt, ...) { (void)fmt; }
int objfs_watchdog_start(struct objfs_ctx *ctx) { (void)ctx; return 0; }
void objfs_watchdog_stop(void) {}
