/* azure provider: being written (issue 7); replaced within this change. */
#include <errno.h>

#include "objfs/provider.h"

static int azure_open(const struct objfs_provider_conf *conf, struct objfs_provider **out,
		     struct objfs_err *err)
{
	(void)conf;
	(void)out;
	return objfs_err_set(err, -ENOSYS, "the azure provider is not built yet");
}

static void azure_close(struct objfs_provider *p)
{
	(void)p;
}

const struct objfs_provider_ops objfs_provider_azure = {
	.type = "azure",
	.open = azure_open,
	.close = azure_close,
};
