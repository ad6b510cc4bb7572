/* Content sniffing with libmagic: see sniff.h. */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <magic.h>

#include "log.h"
#include "sniff.h"

static pthread_mutex_t sn_lock = PTHREAD_MUTEX_INITIALIZER;
static magic_t sn_magic;             /* sn_lock */
static int sn_broken;                /* sn_lock: opening failed, logged */

/* Opens the handle if needed; sn_lock held.  0 or -EIO. */
static int sn_open(void)
{
	if (sn_magic)
		return 0;
	if (sn_broken)
		return -EIO;
	sn_magic = magic_open(MAGIC_MIME_TYPE | MAGIC_ERROR);
	if (sn_magic && magic_load(sn_magic, NULL) == 0)
		return 0;
	log_err("content sniffing: libmagic unusable (%s); types are decided by name only "
		"(install libmagic-mgc)",
		sn_magic ? magic_error(sn_magic) : "magic_open failed");
	if (sn_magic)
		magic_close(sn_magic);
	sn_magic = NULL;
	sn_broken = 1;
	return -EIO;
}

int sniff_type(const void *buf, size_t len, char *out, size_t outlen)
{
	const char *t;
	int rc = 0;

	if (outlen)
		out[0] = '\0';
	if (len == 0)
		return 0;
	pthread_mutex_lock(&sn_lock);
	rc = sn_open();
	if (rc == 0) {
		t = magic_buffer(sn_magic, buf, len);
		if (!t) {
			log_warn("content sniffing: %s", magic_error(sn_magic));
			rc = -EIO;
		} else {
			snprintf(out, outlen, "%s", t);
		}
	}
	pthread_mutex_unlock(&sn_lock);
	if (rc)
		return rc;
	for (char *p = out; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	/* what libmagic says of bytes it cannot place, or of any text, or of
	 * nothing: the name knows better */
	if (!strcmp(out, "application/octet-stream") || !strcmp(out, "text/plain") ||
	    !strcmp(out, "application/x-empty") || !strcmp(out, "inode/x-empty") || !out[0])
		return 0;
	return 1;
}

void sniff_shutdown(void)
{
	pthread_mutex_lock(&sn_lock);
	if (sn_magic)
		magic_close(sn_magic);
	sn_magic = NULL;
	sn_broken = 0;
	pthread_mutex_unlock(&sn_lock);
}
