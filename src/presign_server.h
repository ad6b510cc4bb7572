/*
 * The presigned-URL listener of the local provider: a small HTTP server
 * (libmicrohttpd) on each used local provider's `listen` address that
 * serves URLs signed by objfs_local_presign_sign (presign_local.h):
 *   GET  (and HEAD) /BUCKET/KEY?X-Objfs-Method=GET&...   the object, Range supported
 *   PUT  /BUCKET/KEY?X-Objfs-Method=PUT&...              a new object content
 * The signature, method and expiry are checked before anything is read.
 * Reads and writes go through the mount (ctx->mountpoint), so a PUT is
 * staged, committed and uploaded like any write, and a GET sees the newest
 * committed content.  See docs/control-socket.md ("Presigned URLs").
 */
#ifndef OBJFS_PRESIGN_SERVER_H
#define OBJFS_PRESIGN_SERVER_H

#include <stddef.h>

#include "ctx.h"

struct objfs_presign_server;

/* Starts one listener per local provider that a tenant uses.  0, or a
 * negative errno with a one-line message (e.g. the address is in use). */
int objfs_presign_server_start(struct objfs_ctx *ctx, struct objfs_presign_server **out,
			       char *err, size_t errlen);
/* Stops the listeners (before unmount); accepts NULL. */
void objfs_presign_server_stop(struct objfs_presign_server *ps);

#endif
