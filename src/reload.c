/* Reloading the tenant configuration: see reload.h.  (Being written.) */
#include <errno.h>
#include <stdio.h>

#include "reload.h"

int objfs_reload(struct objfs_ctx *ctx, char *msg, size_t msglen)
{
	(void)ctx;
	snprintf(msg, msglen, "reload is not implemented yet");
	return -ENOSYS;
}

void objfs_reload_free(struct objfs_ctx *ctx)
{
	(void)ctx;
}
