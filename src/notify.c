/*
 * systemd notifications and the watchdog (see notify.h).
 *
 * Every message goes through libsystemd's sd_notify, which is a no-op
 * (returns 0) when NOTIFY_SOCKET is not set, so none of this needs a
 * "started by systemd?" test of its own.  The unit runs the daemon with -f
 * and NotifyAccess=main: the process that sends is the one systemd started.
 *
 * The watchdog thread proves liveness rather than just existence: before
 * each WATCHDOG=1 it asks the metadata store a question (a lookup of a path
 * that is never cached, which takes the store's mutex and runs an SQLite
 * statement) and takes a snapshot of the write-back queue (which takes the
 * queue's lock).  A deadlock in either blocks the probe, so the pings stop
 * and systemd kills and restarts the service after WatchdogSec; a probe that
 * answers but took longer than the whole period does not ping either.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "log.h"
#include "meta.h"
#include "notify.h"
#include "writeback.h"

/* Never cached: tenant names are identifiers, so "" is no tenant. */
#define PROBE_TENANT ""
#define PROBE_PATH   ".objfs-watchdog-probe"
/* How long objfs_watchdog_stop waits for a probe in progress. */
#define STOP_JOIN_S  5

/* Watchdog state.  wd_lock protects every field; the thread sleeps on
 * wd_cond so that stop wakes it at once. */
static pthread_mutex_t wd_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wd_cond;
static pthread_t wd_thread;
static int wd_running;          /* thread started and not yet joined */
static int wd_stop;             /* asks the thread to return */
static int wd_abandoned;        /* a stuck thread was left behind: never restart */
static uint64_t wd_period_us;   /* WATCHDOG_USEC */

/* Replaces the characters that would end or split a notify line (a
 * mount point may hold a newline), in place. */
static void one_line(char *s)
{
	for (; *s; s++)
		if (*s == '\n' || *s == '\r')
			*s = ' ';
}

static void notify_send(const char *msg)
{
	int rc = sd_notify(0, msg);

	if (rc < 0)
		log_debug("sd_notify: %s", strerror(-rc));
}

static void status_line(char *buf, size_t len, const struct objfs_ctx *ctx)
{
	snprintf(buf, len, "mounted at %s, %zu tenant%s",
		 ctx && ctx->mountpoint ? ctx->mountpoint : "?", ctx ? ctx->tenants.n : 0,
		 ctx && ctx->tenants.n == 1 ? "" : "s");
	one_line(buf);
}

void objfs_notify_ready(const struct objfs_ctx *ctx)
{
	char status[1024], msg[1100];

	status_line(status, sizeof(status), ctx);
	snprintf(msg, sizeof(msg), "READY=1\nSTATUS=%s", status);
	notify_send(msg);
}

void objfs_notify_reloading(void)
{
	struct timespec ts;
	char msg[128];

	/* MONOTONIC_USEC lets systemd (253+, Type=notify-reload) tell this
	 * reload from an earlier one; older versions ignore it. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading",
		 (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
	notify_send(msg);
}

void objfs_notify_reloaded(const struct objfs_ctx *ctx)
{
	objfs_notify_ready(ctx);
}

void objfs_notify_stopping(void)
{
	notify_send("STOPPING=1\nSTATUS=stopping: unmounting and flushing uploads");
}

void objfs_notify_status(const char *fmt, ...)
{
	char status[1024], msg[1100];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(status, sizeof(status), fmt, ap);
	va_end(ap);
	one_line(status);
	snprintf(msg, sizeof(msg), "STATUS=%s", status);
	notify_send(msg);
}

static int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* 0 when the metadata store and the write-back queue answered; a negative
 * errno when the store reported a failure.  Blocks as long as a lock they
 * need is held (which is the point). */
static int probe(struct objfs_ctx *ctx)
{
	struct meta_entry e;
	int rc = 0;

	if (meta_now_ms() <= 0)
		return -EIO;
	if (ctx->meta) {
		memset(&e, 0, sizeof(e));
		rc = meta_get(ctx->meta, PROBE_TENANT, PROBE_PATH, &e);
		if (rc == 0)
			meta_entry_clear(&e);
		else if (rc == -ENOENT)
			rc = 0;
	}
	if (ctx->wb) {
		struct writeback_stats st;

		writeback_get_stats(ctx->wb, &st);
	}
	return rc;
}

static void *watchdog_main(void *arg)
{
	struct objfs_ctx *ctx = arg;
	int64_t period = (int64_t)wd_period_us;
	int failing = 0;

	pthread_mutex_lock(&wd_lock);
	while (!wd_stop) {
		int64_t t0, took;
		struct timespec until;
		int rc;

		pthread_mutex_unlock(&wd_lock);
		t0 = mono_us();
		rc = probe(ctx);
		took = mono_us() - t0;
		if (rc == 0 && took < period) {
			notify_send("WATCHDOG=1");
			if (failing)
				log_info("watchdog: the daemon answers again");
			failing = 0;
		} else if (!failing) {
			/* logged once per failing stretch, not every half period */
			if (rc)
				log_err("watchdog: metadata store failed (%s): no ping",
					strerror(-rc));
			else
				log_err("watchdog: probe took %lld ms (period %lld ms): no ping",
					(long long)took / 1000, (long long)period / 1000);
			failing = 1;
		}
		/* half the period from the start of this probe */
		clock_gettime(CLOCK_MONOTONIC, &until);
		{
			int64_t wait = period / 2 - took;

			if (wait < 1000)
				wait = 1000;
			until.tv_sec += wait / 1000000;
			until.tv_nsec += (wait % 1000000) * 1000;
			if (until.tv_nsec >= 1000000000L) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000L;
			}
		}
		pthread_mutex_lock(&wd_lock);
		while (!wd_stop && pthread_cond_timedwait(&wd_cond, &wd_lock, &until) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&wd_lock);
	return NULL;
}

int objfs_watchdog_start(struct objfs_ctx *ctx)
{
	pthread_condattr_t ca;
	uint64_t usec = 0;
	int rc;

	/* > 0: WATCHDOG_USEC is set (and WATCHDOG_PID, when set, is us) */
	rc = sd_watchdog_enabled(0, &usec);
	if (rc < 0) {
		log_warn("watchdog: bad WATCHDOG_USEC/WATCHDOG_PID: %s", strerror(-rc));
		return rc;
	}
	if (rc == 0 || usec == 0)
		return 0;
	pthread_mutex_lock(&wd_lock);
	if (wd_running || wd_abandoned) {
		pthread_mutex_unlock(&wd_lock);
		return 0;
	}
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&wd_cond, &ca);
	pthread_condattr_destroy(&ca);
	wd_period_us = usec;
	wd_stop = 0;
	rc = -pthread_create(&wd_thread, NULL, watchdog_main, ctx);
	if (rc == 0)
		wd_running = 1;
	else
		pthread_cond_destroy(&wd_cond);
	pthread_mutex_unlock(&wd_lock);
	if (rc)
		log_err("watchdog: cannot start the thread: %s", strerror(-rc));
	else
		log_info("watchdog: pinging systemd every %llu ms",
			 (unsigned long long)usec / 2000);
	return rc;
}

void objfs_watchdog_stop(void)
{
	struct timespec until;
	int rc;

	pthread_mutex_lock(&wd_lock);
	if (!wd_running) {
		pthread_mutex_unlock(&wd_lock);
		return;
	}
	wd_stop = 1;
	pthread_cond_broadcast(&wd_cond);
	pthread_mutex_unlock(&wd_lock);
	/* A thread stuck in its probe (a deadlocked store) is left behind
	 * rather than hanging the stop; the process is ending anyway. */
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += STOP_JOIN_S;
	rc = pthread_timedjoin_np(wd_thread, NULL, &until);
	pthread_mutex_lock(&wd_lock);
	if (rc == 0) {
		pthread_cond_destroy(&wd_cond);
	} else {
		log_err("watchdog: the thread is stuck in its probe; leaving it");
		pthread_detach(wd_thread);
		wd_abandoned = 1;
	}
	wd_running = 0;
	pthread_mutex_unlock(&wd_lock);
}
