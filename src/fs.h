/* FUSE operations (the only module that includes libfuse). */
#ifndef OBJFS_FS_H
#define OBJFS_FS_H

#include "ctx.h"

/* Mounts and serves until unmounted or signalled; argv are the FUSE
 * arguments (program name, options, mount point).  Returns the exit status. */
int objfs_fs_main(struct objfs_ctx *ctx, int argc, char **argv);

#endif
