/*
 * The daemon's services beside the FUSE loop: the control socket, the
 * metrics scrape address, the local providers' presigned-URL listeners,
 * the systemd watchdog.  They are threads, so they start after fuse has
 * daemonised (a fork would lose them) and before the loop serves requests.
 *
 * Stop order (fs.c): objfs_services_quiesce() before the pre-unmount flush
 * (no new presigned PUTs arrive through the mount), objfs_services_stop()
 * after the FUSE loop has ended.
 */
#ifndef OBJFS_SERVICES_H
#define OBJFS_SERVICES_H

#include <stddef.h>

#include "ctx.h"

/* 0, or a negative errno with a one-line message in err (the caller
 * unmounts and exits 1). */
int objfs_services_start(struct objfs_ctx *ctx, char *err, size_t errlen);
void objfs_services_quiesce(struct objfs_ctx *ctx);
void objfs_services_stop(struct objfs_ctx *ctx);

#endif
