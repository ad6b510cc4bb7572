/* Small string helpers shared by the parsers (percent-decoding in the
 * providers, the presign listener, objfs-ctl migrate's state file). */
#ifndef OBJFS_STRUTIL_H
#define OBJFS_STRUTIL_H

/* Value of hex digit c (either case), or -1. */
static inline int objfs_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

#endif
