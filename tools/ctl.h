/*
 * objfs-ctl's commands that work from the configuration file rather than
 * the daemon's control socket, one file each:
 *   tools/ctl_onboard.c  objfs-ctl onboard [flags]         (writes a configuration)
 *   tools/ctl_doctor.c   objfs-ctl [--config F] doctor      (checks a setup)
 *   tools/ctl_migrate.c  objfs-ctl --config F migrate ...   (copies a tenant)
 * Each takes the arguments after the command name (argv[0] is the command)
 * and returns the process exit status: 0 success, 1 failure, 2 bad usage.
 * Messages: one line on stderr per problem, never a secret.
 */
#ifndef OBJFS_CTL_H
#define OBJFS_CTL_H

/* config_path: --config, or NULL for the default (/etc/objfs/objfs.conf). */
int ctl_onboard_main(const char *config_path, int argc, char **argv);
/* socket_path: --socket, or NULL (then the configuration's control_socket). */
int ctl_doctor_main(const char *config_path, const char *socket_path, int argc, char **argv);
int ctl_migrate_main(const char *config_path, int argc, char **argv);

#endif
