/*
 * Azure Blob XML bodies (src/azure_xml.c), parsed with libxml2, built by hand.
 *
 * Parsers take the body bytes and their length (never trusted to be
 * NUL-terminated), forbid the network and entity expansion and refuse any
 * document type declaration; they return 0, -ENOMEM, or -EIO with a message
 * in err when the document is malformed, truncated, has the wrong root, or
 * lacks a required element.  A partial result is never returned: the output
 * is cleared on failure.  Leading blanks and a UTF-8 byte order mark (Azure
 * sends one) are skipped.  Element names are matched exactly (Azure's are
 * case-sensitive); unknown elements are ignored.  Thread-safe.
 */
#ifndef OBJFS_AZURE_XML_H
#define OBJFS_AZURE_XML_H

#include <stddef.h>
#include <stdint.h>

#include "objfs/provider.h"

/* <Error><Code/><Message/></Error>: code and message copied (truncated).
 * -EIO, with both empty, if body is not such a document with a Code. */
int azure_xml_parse_error(const char *body, size_t len, char code[64], char msg[256]);

/* List Blobs (EnumerationResults) into out (zeroed by the caller): each
 * <Blob> needs <Name> and <Properties><Content-Length>; Etag (quotes
 * dropped), Last-Modified (RFC 1123), Content-Type are taken when present;
 * <Metadata> children become metadata with lower-cased names (has_meta = 1
 * when with_meta, the caller asked for include=metadata); <BlobPrefix><Name>
 * become prefixes.  A <Name Encoded="true"> is percent-decoded.  next_token =
 * <NextMarker> when not empty.  An empty name, a bad size, a bad escape or
 * an encoded NUL is malformed. */
int azure_xml_parse_list(const char *body, size_t len, int with_meta,
			 struct objfs_listing *out, struct objfs_err *err);

struct azure_block {
	char *name;                      /* the block id as sent (base64) */
	uint64_t size;
	int committed;
};
void azure_blocks_free(struct azure_block *b, size_t n);

/* Get Block List (BlockList with CommittedBlocks and/or UncommittedBlocks):
 * *out malloc'ed, freed with azure_blocks_free. */
int azure_xml_parse_blocklist(const char *body, size_t len, struct azure_block **out,
			      size_t *n, struct objfs_err *err);

/* The Put Block List body "<BlockList><Latest>id</Latest>...</BlockList>";
 * ids are base64 (no escaping needed, checked: -EINVAL otherwise).
 * *out malloc'ed.  0, -EINVAL or -ENOMEM. */
int azure_xml_build_blocklist(const char *const *ids, size_t n, char **out, size_t *len);

#endif
