/*
 * Content sniffing: the MIME type of a file's first bytes, by libmagic
 * (MAGIC_MIME_TYPE), for tenants with sniff_types = true.
 *
 * One magic handle, opened on first use with the system's compiled magic
 * database (libmagic-mgc) and used under a lock (a magic_t is not
 * thread-safe; sniffing runs only on upload workers, rarely at once).
 */
#ifndef OBJFS_SNIFF_H
#define OBJFS_SNIFF_H

#include <stddef.h>

/* Bytes worth reading for a verdict: libmagic's own default is larger, but
 * the formats worth refusing announce themselves in their first bytes. */
#define SNIFF_BYTES 4096

/*
 * Writes the type of buf[0, len) (lower-case) into out.  Returns 1 when the
 * content decides a type; 0 when it does not: empty content, or what
 * libmagic reports for bytes it cannot place (application/octet-stream) or
 * for any text (text/plain), where the file name's type stands; a negative
 * errno when libmagic is unusable (logged once), which also leaves the name's
 * type in charge.
 */
int sniff_type(const void *buf, size_t len, char *out, size_t outlen);
/* Closes the handle (exit, tests). */
void sniff_shutdown(void);

#endif
