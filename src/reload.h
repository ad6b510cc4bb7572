/*
 * Reloading the tenant configuration without unmounting (SIGHUP, or POST
 * /v1/reload on the control socket).  The configuration file is loaded and
 * validated again; on any error nothing changes.  Then:
 *   - a tenant that is new is appended to the table (its provider opened if
 *     no tenant used it yet, its bucket checked or created);
 *   - a tenant that is gone is marked removed: hidden from the root listing
 *     and ENOENT for new lookups; its pending uploads still land;
 *   - a tenant that stays takes its new settings (allow_uids/allow_gids,
 *     read_only, guardrails, quota) at once; a change of its provider,
 *     bucket or prefix is refused (the reload fails) since open files and
 *     pending uploads name the old location.
 * [objfs] and [provider] settings of providers already open are not reloaded
 * (a restart applies them); the audit log is reopened.
 * Serialised: one reload at a time.
 */
#ifndef OBJFS_RELOAD_H
#define OBJFS_RELOAD_H

#include <stddef.h>

#include "ctx.h"

/* 0 with a one-line summary in msg ("3 tenants: 1 added, 0 removed, 2
 * updated"), or a negative errno with the reason in msg. */
int objfs_reload(struct objfs_ctx *ctx, char *msg, size_t msglen);
/* Frees the configurations earlier reloads replaced (at exit). */
void objfs_reload_free(struct objfs_ctx *ctx);

#endif
