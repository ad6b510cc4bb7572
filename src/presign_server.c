/* Presigned-URL listener (being written; see presign_server.h). */
#include <stddef.h>
#include "presign_server.h"

int objfs_presign_server_start(struct objfs_ctx *ctx, struct objfs_presign_server **out,
			       char *err, size_t errlen)
{ (void)ctx; (void)err; (void)errlen; *out = NULL; return 0; }
void objfs_presign_server_stop(struct objfs_presign_server *ps) { (void)ps; }
