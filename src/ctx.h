/*
 * The daemon's shared state, built by main.c and handed to every layer.
 * Fields are set once at start-up and read-only afterwards (the objects they
 * point to have their own locks).
 */
#ifndef OBJFS_CTX_H
#define OBJFS_CTX_H

#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "tenant.h"

struct objfs_meta;
struct objfs_staging;
struct objfs_readcache;
struct objfs_files;
struct objfs_writeback;

struct objfs_ctx {
	const struct objfs_config *cfg;
	struct objfs_tenants tenants;
	struct objfs_prov **provs;          /* one per configured provider in use */
	size_t nprovs;
	struct objfs_meta *meta;
	struct objfs_staging *staging;
	struct objfs_readcache *rcache;     /* NULL: read straight from providers */
	int rcache_all;                     /* use the read cache even for local-read providers */
	struct objfs_files *files;
	struct objfs_writeback *wb;
	const char *mountpoint;             /* absolute path of the mount */
	int64_t started_ms;                 /* when the daemon started (Unix ms) */
	uid_t uid;                          /* owner shown for objects without metadata */
	gid_t gid;
	uint64_t chunk_size;
};

#endif
