/* Starting and stopping the daemon's service threads; see services.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ctlsock.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "presign_server.h"
#include "presign_watch.h"
#include "quota.h"
#include "readcache.h"
#include "services.h"
#include "trash.h"

/* One daemon per process: the services are process-wide like the signals. */
static struct objfs_ctlsock *ctlsock;
static struct objfs_presign_server *presign;
static int metrics_listening, watchdog_on;

int objfs_services_start(struct objfs_ctx *ctx, char *err, size_t errlen)
{
	const struct objfs_config *cfg = ctx->cfg;
	char rcdir[4096];
	int rc;

	/* The read cache runs fetcher threads, so it is made here, after the
	 * fork; main.c frees it after the unmount's drain.  1 MiB blocks keep
	 * random reads cheap; a sequential reader is served by up to 32 MiB of
	 * readahead on 8 fetchers, which is what keeps a cold read of a large
	 * S3 object at the network's pace (docs/benchmarks.md: 8 MiB on 4
	 * fetchers read at half speed). */
	if (cfg->read_cache != OBJFS_READ_CACHE_NEVER && !ctx->rcache) {
		snprintf(rcdir, sizeof(rcdir), "%s/readcache", cfg->cache_dir);
		rc = objfs_readcache_new(rcdir, cfg->read_cache_max_bytes, 1 << 20, 32 << 20, 8,
					 &ctx->rcache);
		if (rc) {
			snprintf(err, errlen, "cannot open the read cache in %s: %s", rcdir,
				 strerror(-rc));
			return rc;
		}
	}

	if (cfg->metrics_listen) {
		rc = objfs_metrics_listen_start(cfg->metrics_listen, err, errlen);
		if (rc)
			goto fail;
		metrics_listening = 1;
	}
	rc = objfs_presign_server_start(ctx, &presign, err, errlen);
	if (rc)
		goto fail;
	rc = presign_watch_start(ctx);
	if (rc) {
		snprintf(err, errlen, "cannot start the presigned upload checks: %s",
			 strerror(-rc));
		goto fail;
	}
	rc = objfs_ctlsock_start(ctx, &ctlsock, err, errlen);
	if (rc)
		goto fail;
	rc = objfs_watchdog_start(ctx);
	if (rc) {
		snprintf(err, errlen, "cannot start the systemd watchdog: %s", strerror(-rc));
		goto fail;
	}
	watchdog_on = 1;
	rc = quota_start(ctx);
	if (rc) {
		snprintf(err, errlen, "cannot start the quota thread: %s", strerror(-rc));
		goto fail;
	}
	rc = objfs_trash_start(ctx);
	if (rc) {
		snprintf(err, errlen, "cannot start the trash purge: %s", strerror(-rc));
		goto fail;
	}
	return 0;
fail:
	objfs_services_stop(ctx);
	return rc;
}

void objfs_services_quiesce(struct objfs_ctx *ctx)
{
	(void)ctx;
	objfs_presign_server_stop(presign);
	presign = NULL;
}

void objfs_services_stop(struct objfs_ctx *ctx)
{
	objfs_services_quiesce(ctx);
	objfs_ctlsock_stop(ctlsock);
	ctlsock = NULL;
	presign_watch_stop();         /* after the socket: no more URLs to add */
	quota_stop();
	objfs_trash_stop();
	if (metrics_listening)
		objfs_metrics_listen_stop();
	metrics_listening = 0;
	if (watchdog_on)
		objfs_watchdog_stop();
	watchdog_on = 0;
}
