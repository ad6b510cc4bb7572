/* The daemon's movable wall clock; see clock.h. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "clock.h"
#include "log.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static long offset;

static void clock_init(void)
{
	const char *env = getenv("OBJFS_CLOCK_OFFSET");
	char *end;
	long v;

	if (!env || !*env)
		return;
	errno = 0;
	v = strtol(env, &end, 10);
	if (errno || *end) {
		log_warn("OBJFS_CLOCK_OFFSET=%s is not a whole number of seconds: ignored", env);
		return;
	}
	offset = v;
	log_info("clock moved by OBJFS_CLOCK_OFFSET=%ld s", v);
}

long objfs_clock_offset(void)
{
	pthread_once(&once, clock_init);
	return offset;
}

time_t objfs_clock_now(void)
{
	return time(NULL) + (time_t)objfs_clock_offset();
}

int64_t objfs_clock_now_ms(void)
{
	struct timespec ts;
	long off = objfs_clock_offset();

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((int64_t)ts.tv_sec + off) * 1000 + ts.tv_nsec / 1000000;
}
