/* Metrics registry (being written; see metrics.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

const char *const objfs_fsop_names[OBJFS_FSOP__N] = {
	"getattr", "access", "readlink", "opendir", "readdir", "releasedir", "mknod", "mkdir",
	"symlink", "unlink", "rmdir", "rename", "link", "chmod", "chown", "truncate",
	"utimens", "create", "open", "read", "write", "statfs", "flush", "release",
	"fsync", "fsyncdir", "setxattr", "getxattr", "listxattr", "removexattr",
};

int objfs_metrics_init(struct objfs_ctx *ctx) { (void)ctx; return 0; }
void objfs_metrics_free(void) {}
void objfs_metrics_fs_op(enum objfs_fsop op, const struct objfs_tenant *t, int rc, int64_t dur_ns)
{ (void)op; (void)t; (void)rc; (void)dur_ns; }
char *objfs_metrics_render(size_t *len) { *len = 0; return strdup(""); }
int objfs_metrics_listen_start(const char *addr, char *err, size_t errlen)
{ (void)addr; (void)err; (void)errlen; return 0; }
void objfs_metrics_listen_stop(void) {}
