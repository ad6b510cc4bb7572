/* FUSE operations (the only module that includes libfuse). */
#ifndef OBJFS_FS_H
#define OBJFS_FS_H

#include "ctx.h"

/* Mounts and serves until unmounted or signalled; argv are the FUSE
 * arguments (program name, options, mount point).  Returns the exit status. */
int objfs_fs_main(struct objfs_ctx *ctx, int argc, char **argv);

/* Drops what the kernel caches of tenant t's path rel (attributes, pages,
 * the name), after a change made beside the FUSE operations (a trash
 * restore).  Any thread; a no-op when not mounted or not known. */
void objfs_fs_invalidate(const struct objfs_tenant *t, const char *rel);

#endif
