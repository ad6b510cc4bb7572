/*
 * The control socket's request handler, without the socket: one pure
 * function from (caller, method, URL, body) to (status, body), so it can be
 * unit-tested and fuzzed with no HTTP server.  src/ctlsock.c is the
 * transport (libmicrohttpd on the Unix socket, SO_PEERCRED); the API it
 * serves is docs/control-socket.md.
 *
 * Thread-safe: the transport calls objfs_ctl_handle from one thread per
 * connection.  A handler never runs on a FUSE thread; the slow ones (flush
 * waits for uploads, health probes providers) only hold their own thread.
 */
#ifndef OBJFS_CTLSOCK_API_H
#define OBJFS_CTLSOCK_API_H

#include <stddef.h>
#include <sys/types.h>

#include "ctx.h"

#define OBJFS_CTL_BODY_MAX   (64 * 1024)   /* longest request body */
#define OBJFS_CTL_FLUSH_MAX  86400u        /* longest flush timeout (s) */
#define OBJFS_CTL_FLUSH_DEF  300u          /* flush timeout when none is given (s) */
#define OBJFS_CTL_HEALTH_TTL_MS 2000       /* provider probes are reused this long */
#define OBJFS_CTL_MOUNT_WAIT_MS 2000       /* the mount must answer a stat this fast */

/* Who is calling, as the kernel says (SO_PEERCRED) plus the user database. */
struct objfs_ctl_peer {
	uid_t uid;
	gid_t gid;               /* the caller's gid at connect time */
	pid_t pid;
	int admin;               /* root, the daemon's uid, or in control_admin_group */
	gid_t *gids;             /* gid, the user's primary and supplementary groups; owned */
	size_t ngids;
};

/* An answer: status and a malloc'd body (JSON unless content_type says). */
struct objfs_ctl_resp {
	int status;
	char *body;
	size_t len;
	const char *content_type;   /* static string */
	const char *allow;          /* with 405: the methods the endpoint takes */
};
void objfs_ctl_resp_clear(struct objfs_ctl_resp *r);

struct objfs_ctl_api;

/* The reload entry point (objfs_reload in the daemon; tests inject their own). */
typedef int (*objfs_ctl_reload_fn)(struct objfs_ctx *ctx, char *msg, size_t msglen);

/*
 * The handler's state over ctx (which must outlive it): the provider-probe
 * cache, the mount probe, the admin group resolved from
 * cfg->control_admin_group.  0, or a negative errno with a one-line
 * message (-ENOENT: no such admin group).  Free with objfs_ctl_api_free.
 */
int objfs_ctl_api_new(struct objfs_ctx *ctx, struct objfs_ctl_api **out, char *err,
		      size_t errlen);
/* Makes waiting handlers (flush) return soon, with 503; before the transport
 * joins its threads. */
void objfs_ctl_api_shutdown(struct objfs_ctl_api *api);
/* No handler may be running; accepts NULL. */
void objfs_ctl_api_free(struct objfs_ctl_api *api);
/* Replaces objfs_reload (tests). */
void objfs_ctl_api_set_reload(struct objfs_ctl_api *api, objfs_ctl_reload_fn fn);

/*
 * Fills peer for the kernel-reported (uid, gid, pid): its groups from the
 * user database (getpwuid_r + getgrouplist; a uid without an entry has only
 * gid) and whether it is an admin.  0 or -ENOMEM.  Clear with
 * objfs_ctl_peer_clear.
 */
int objfs_ctl_peer_init(struct objfs_ctl_api *api, uid_t uid, gid_t gid, pid_t pid,
			struct objfs_ctl_peer *peer);
void objfs_ctl_peer_clear(struct objfs_ctl_peer *peer);

/* 1 if peer may use tenant t (admins: every tenant; others: t's allow_uids /
 * allow_gids, both empty admitting everybody); 0 for a removed tenant. */
int objfs_ctl_may_access(const struct objfs_ctl_peer *peer, const struct objfs_tenant *t);

/*
 * Answers one request.  method and url are NUL-terminated (url may carry a
 * query string, which is ignored); body is len bytes, not NUL-terminated,
 * at most OBJFS_CTL_BODY_MAX (longer: 413).  Every outcome, errors
 * included, is an answer in *out (clear it with objfs_ctl_resp_clear);
 * returns 0, or -ENOMEM when not even an error answer could be built.
 */
int objfs_ctl_handle(struct objfs_ctl_api *api, const struct objfs_ctl_peer *peer,
		     const char *method, const char *url, const char *body, size_t len,
		     struct objfs_ctl_resp *out);

#endif
