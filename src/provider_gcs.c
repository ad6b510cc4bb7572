/* gcs provider: being written (issue 7); replaced within this change. */
#include <errno.h>

#include "objfs/provider.h"

static int gcs_open(const struct objfs_provider_conf *conf, struct objfs_provider **out,
		     struct objfs_err *err)
{
	(void)conf;
	(void)out;
	return objfs_err_set(err, -ENOSYS, "the gcs provider is not built yet");
}

static void gcs_close(struct objfs_provider *p)
{
	(void)p;
}

const struct objfs_provider_ops objfs_provider_gcs = {
	.type = "gcs",
	.open = gcs_open,
	.close = gcs_close,
};
