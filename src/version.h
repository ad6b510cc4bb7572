/* The objfs version, shown by objfs -V, objfs-ctl -V, the health answer,
 * objfs_build_info and the HTTP User-Agent. */
#ifndef OBJFS_VERSION_H
#define OBJFS_VERSION_H

#define OBJFS_VERSION "0.1.0"

#endif
