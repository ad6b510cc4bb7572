/*
 * The daemon's wall clock for anything that expires on a calendar (the
 * trash's deletion times and retention): time(NULL) plus an offset in
 * seconds from the environment variable OBJFS_CLOCK_OFFSET, read once, at
 * the first call.  Tests move it to see expiry happen without waiting
 * days; unset (or empty) it is the system clock.  objfs-ctl has its own
 * (OBJFS_CTL_CLOCK_OFFSET, tools/objfs-ctl.c).
 */
#ifndef OBJFS_CLOCK_H
#define OBJFS_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Seconds since the epoch, moved by OBJFS_CLOCK_OFFSET.  Thread-safe. */
time_t objfs_clock_now(void);
/* The same in milliseconds. */
int64_t objfs_clock_now_ms(void);
/* The offset in effect (seconds); a malformed OBJFS_CLOCK_OFFSET is 0 and
 * logged once. */
long objfs_clock_offset(void);

#endif
