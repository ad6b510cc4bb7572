/* Control socket (being written; see ctlsock.h). */
#include <stddef.h>
#include "ctlsock.h"

int objfs_ctlsock_start(struct objfs_ctx *ctx, struct objfs_ctlsock **out, char *err, size_t errlen)
{ (void)ctx; (void)err; (void)errlen; *out = NULL; return 0; }
void objfs_ctlsock_stop(struct objfs_ctlsock *cs) { (void)cs; }
