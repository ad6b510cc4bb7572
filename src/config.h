/*
 * Configuration: the INI file of the interface contract (docs/configuration.md)
 * parsed into struct objfs_config, plus environment overrides.
 *
 * objfs_config_load() either returns a complete, validated configuration or
 * fails with one line "FILE:LINE: problem" (LINE omitted when the problem is
 * not on a line, e.g. a missing file) and no side effects beyond creating
 * cache_dir.  Bad configuration never half-starts the daemon.
 */
#ifndef OBJFS_CONFIG_H
#define OBJFS_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "objfs/provider.h"

struct objfs_provider_section {
	struct objfs_provider_conf conf;   /* strings point into this section's storage */
	int line;                          /* line of the [provider NAME] header;
	                                    * 0 for the implicit "local" provider */
};

struct objfs_tenant_conf {
	char *name;
	char *provider;          /* provider name (default_provider when unset) */
	char *bucket;            /* explicit, or bucket_pattern expanded */
	char *prefix;            /* "" or ends with '/' */
	uint64_t quota_bytes;    /* 0: unlimited */
	uint64_t quota_objects;  /* 0: unlimited */
	uint64_t max_object_size;/* 0: unlimited */
	char **allowed_types;    /* NULL-terminated or NULL */
	char **denied_types;     /* NULL-terminated or NULL */
	int sniff_types;         /* commits are also typed by their content (sniff.h) */
	uid_t *allow_uids; size_t nallow_uids;   /* none: everybody */
	gid_t *allow_gids; size_t nallow_gids;
	int read_only;
	unsigned trash_days;
	char *sse;               /* server-side encryption: NULL, "AES256", "aws:kms" or "customer" */
	char *sse_kms_key_id;    /* with aws:kms; NULL: the store's default key */
	char *sse_customer_key;  /* with customer: path of the key file (mode 0600) */
	unsigned char sse_c_key[32]; /* its 32 key bytes, read at load */
	char *storage_class;
	char *acl;               /* canned ACL sent with new objects (s3) */
	int line;                /* line of the [tenant NAME] header */
};

/* read_cache: auto = only for providers whose reads are not local-disk cheap */
enum { OBJFS_READ_CACHE_AUTO = 0, OBJFS_READ_CACHE_ALWAYS, OBJFS_READ_CACHE_NEVER };

struct objfs_config {
	char *path;              /* the file that was loaded */
	char *mountpoint;        /* may be NULL: then it must come from the command line */
	char *cache_dir;         /* created (mode 0700) by objfs_config_load */
	char *control_socket;
	mode_t control_socket_mode;
	char *control_socket_group;
	char *control_admin_group;    /* members may use every control-socket endpoint, like root */
	char *metrics_listen;
	unsigned presign_ttl_default_s; /* presign TTL when none is asked for, default 900 */
	unsigned presign_ttl_max_s;   /* longest presign TTL allowed, default 604800 (7 days) */
	char *audit_log;              /* JSON-lines audit log of mutations; NULL: off */
	uint64_t audit_log_max_bytes; /* rotate past this size (0: never), default 64 MiB */
	unsigned audit_log_keep;      /* rotated files kept (.1 ... .N), default 5 */
	char *default_provider;
	char *bucket_pattern;    /* contains {tenant} */
	char *log_level;

	uint64_t chunk_size;          /* staging chunk size, default 8 MiB */
	uint64_t staging_max_bytes;   /* staging space bound, default 4 GiB */
	uint64_t read_cache_max_bytes;/* on-disk read cache bound, default 2 GiB */
	uint64_t multipart_threshold; /* 0: the provider's default */
	unsigned upload_workers;      /* default 4 */
	unsigned upload_parallel_parts; /* parts in flight per file, default 4 */
	unsigned attr_ttl_s;          /* attribute cache TTL, default 300; 0 disables */
	unsigned dir_ttl_s;           /* listing cache TTL, default 300; 0 disables */
	unsigned neg_ttl_s;           /* negative entries, default 30 */
	unsigned revalidate_ms;       /* close-to-open: revalidate on open when older, default 1000 */
	unsigned drain_timeout_s;     /* SIGTERM/unmount drain bound, default 300 */
	unsigned quota_reconcile_s;   /* quota usage re-listed this often, default 3600; 0: never */
	int sync_upload;              /* fsync waits for the upload itself */
	unsigned writeback_delay_ms;  /* delay uploads after commit so rapid rewrites
	                               * coalesce (like rclone --vfs-write-back); default 0 */
	int read_cache;               /* OBJFS_READ_CACHE_*, default auto */

	struct objfs_provider_section *providers; size_t nproviders;
	struct objfs_tenant_conf *tenants; size_t ntenants;
};

/*
 * Loads and validates path.  Environment overrides applied after the file:
 * OBJFS_PROVIDER (default_provider), OBJFS_CACHE_DIR, OBJFS_MOUNTPOINT,
 * OBJFS_LOG_LEVEL.  On success *out is set (free with objfs_config_free).
 * On failure returns a negative errno and writes the one-line message into
 * errbuf.
 */
int objfs_config_load(const char *path, struct objfs_config **out, char *errbuf, size_t errlen);
void objfs_config_free(struct objfs_config *cfg);

const struct objfs_provider_section *objfs_config_provider(const struct objfs_config *cfg,
							     const char *name);

/* Bucket-name rules (S3): 3-63 of [a-z0-9.-], starting and ending with a letter
 * or digit, no "..", not an IPv4 address.  Returns 1 if valid. */
int objfs_bucket_name_valid(const char *name);
/* Tenant names: bucket-name rules, or '_' followed by a valid-ish name
 * (shared areas such as "_staging", which must name an explicit bucket). */
int objfs_tenant_name_valid(const char *name);

#endif
