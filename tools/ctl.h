/*
 * objfs-ctl's commands that work from the configuration file rather than
 * the daemon's control socket, one file each:
 *   tools/ctl_onboard.c  objfs-ctl onboard [flags]         (writes a configuration)
 *   tools/ctl_doctor.c   objfs-ctl [--config F] doctor      (checks a setup)
 *   tools/ctl_migrate.c  objfs-ctl --config F migrate ...   (copies a tenant)
 *   tools/ctl_backup.c   objfs-ctl --config F backup ...    (snapshots, restore)
 * (tools/ctl_copy.c holds the copy engine migrate and backup share.)
 * Each takes the arguments after the command name (argv[0] is the command)
 * and returns the process exit status: 0 success, 1 failure, 2 bad usage.
 * Messages: one line on stderr per problem, never a secret.
 */
#ifndef OBJFS_CTL_H
#define OBJFS_CTL_H

#include <stddef.h>
#include <time.h>

#include "objfs/provider.h"

/*
 * Shared by the commands, defined in tools/objfs-ctl.c.
 *
 * ctl_sock_request: one request on the control socket.  Returns 0 when the
 * daemon answered (any HTTP status, in *status; the body, NUL-terminated
 * and malloc'ed, in *body: the caller frees it), or a negative errno when
 * it did not (-ENOENT/-ECONNREFUSED: no daemon, -EACCES: socket not
 * permitted, -ETIMEDOUT, -EIO) with a one-line message in err that names
 * the socket and says what to do.  body_json may be NULL (no body).
 */
int ctl_sock_request(const char *sock, const char *method, const char *endpoint,
		     const char *body_json, long timeout_s, long *status, char **body,
		     char *err, size_t errlen);
/* The clock of --direct and doctor: time(NULL) + OBJFS_CTL_CLOCK_OFFSET. */
time_t ctl_clock(void);
long ctl_clock_offset(void);

/* config_path: --config, or NULL for the default (/etc/objfs/objfs.conf). */
int ctl_onboard_main(const char *config_path, int argc, char **argv);
/* socket_path: --socket, or NULL (then the configuration's control_socket). */
int ctl_doctor_main(const char *config_path, const char *socket_path, int argc, char **argv);
int ctl_migrate_main(const char *config_path, int argc, char **argv);
int ctl_backup_main(const char *config_path, int argc, char **argv);
/* objfs-ctl trash list|restore|purge (tools/ctl_trash.c): through the
 * control socket sock. */
int ctl_trash_main(const char *sock, int argc, char **argv);

#endif
