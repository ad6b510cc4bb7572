/*
 * Reading the XML answers of object stores (S3, Azure) safely with libxml2:
 * one hardened document reader and one text reader for every provider.
 *
 * objfs_xml_read():
 *   - skips leading XML white space (S3 sends blanks to keep a connection
 *     alive before a late "<?xml ..."), and first a UTF-8 byte-order mark
 *     when the caller allows one (Azure starts its bodies with one);
 *   - refuses empty bodies, bodies over OBJFS_XML_MAX_BODY and NUL bytes
 *     (the body is never assumed to be NUL-terminated);
 *   - parses with a private parser context, so many threads parse at once
 *     (libxml2 is initialised once); errors go to a per-context handler that
 *     prints nothing and keeps the first as the message; any error fails the
 *     parse, warnings do not;
 *   - forbids the network, substitutes no entities, and stops at any
 *     document type declaration before its internal subset is read;
 *   - accepts only well-formed, namespace-well-formed documents.
 */
#ifndef OBJFS_XMLDOC_H
#define OBJFS_XMLDOC_H

#include <stddef.h>

#include <libxml/tree.h>

#include "objfs/provider.h"

#define OBJFS_XML_MAX_BODY (16u << 20)

/* Parses body[0..len) into *docp (the caller frees it with xmlFreeDoc) and
 * its root element *rootp.  bom_ok: a leading UTF-8 byte-order mark is
 * skipped.  0, -EIO (message in err) or -ENOMEM. */
int objfs_xml_read(const char *body, size_t len, int bom_ok, xmlDoc **docp, xmlNode **rootp,
		   struct objfs_err *err);

/* The text of el (its text children concatenated), malloc'ed into *out.
 * Anything but text inside el (elements, comments, CDATA) is malformed, so a
 * document cannot smuggle another value past the reader under
 * XML_PARSE_NOBLANKS.  where (may be NULL) prefixes the message.  0, -EIO or
 * -ENOMEM. */
int objfs_xml_text(const xmlNode *el, const char *where, char **out, struct objfs_err *err);

#endif
