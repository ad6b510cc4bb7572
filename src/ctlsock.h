/*
 * The control socket: HTTP/1.1 with JSON bodies on a Unix socket
 * (cfg->control_socket), served by libmicrohttpd.  The API is in
 * docs/control-socket.md; objfs-ctl and `curl --unix-socket` are clients.
 *
 * Every request is authorised from the peer's SO_PEERCRED credentials:
 * root, the daemon's own uid and members of control_admin_group may use
 * every endpoint; other users may presign, flush and see status only in
 * tenants whose allow_uids/allow_gids admit them, and see health.
 */
#ifndef OBJFS_CTLSOCK_H
#define OBJFS_CTLSOCK_H

#include <stddef.h>

#include "ctx.h"

struct objfs_ctlsock;

/* Creates the socket (its directory too, mode 0755), sets its mode and group,
 * and starts serving.  A stale socket file is replaced; one a live daemon
 * answers on is an error.  0, or a negative errno with a one-line message. */
int objfs_ctlsock_start(struct objfs_ctx *ctx, struct objfs_ctlsock **out, char *err,
			size_t errlen);
/* Stops serving (in-flight requests are finished or dropped), removes the
 * socket file and frees; accepts NULL. */
void objfs_ctlsock_stop(struct objfs_ctlsock *cs);

#endif
