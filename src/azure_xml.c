/*
 * Azure Blob XML bodies (contract in src/azure_xml.h).
 *
 * Every parser goes through objfs_xml_read() and objfs_xml_text()
 * (src/xmldoc.c, the reader s3xml.c uses too): a private parser context per
 * call, no network, no entities, no DOCTYPE, text elements of text only.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#include "azure_xml.h"
#include "xmldoc.h"
#include "strutil.h"


static int is_el(const xmlNode *n, const char *name)
{
	return n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

static const xmlNode *child(const xmlNode *n, const char *name)
{
	for (const xmlNode *c = n->children; c; c = c->next)
		if (is_el(c, name))
			return c;
	return NULL;
}


static int parse_udec(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (v > INT64_MAX)
		return -1;
	*out = v;
	return 0;
}

/* In-place percent-decoding of a name sent with Encoded="true". */
static int pct_decode_inplace(char *s)
{
	char *o = s;

	for (char *c = s; *c; c++) {
		if (*c == '%') {
			int h = objfs_hexval((unsigned char)c[1]), l = h < 0 ? -1 : objfs_hexval((unsigned char)c[2]);

			if (h < 0 || l < 0 || (h == 0 && l == 0))
				return -1;
			*o++ = (char)(h * 16 + l);
			c += 2;
		} else {
			*o++ = *c;
		}
	}
	*o = '\0';
	return 0;
}

/* <Name> (possibly Encoded="true") of el, required and non-empty. */
static int name_of(const xmlNode *el, const char *what, char **out, struct objfs_err *err)
{
	const xmlNode *n = child(el, "Name");
	xmlChar *enc;
	int rc;

	*out = NULL;
	if (!n)
		return objfs_err_set(err, -EIO, "<%s> without <Name>", what);
	rc = objfs_xml_text(n, NULL, out, err);
	if (rc)
		return rc;
	enc = xmlGetProp(n, (const xmlChar *)"Encoded");
	if (enc && !strcmp((const char *)enc, "true") && pct_decode_inplace(*out))
		rc = objfs_err_set(err, -EIO, "<%s> name with a bad escape", what);
	xmlFree(enc);
	if (rc == 0 && !**out)
		rc = objfs_err_set(err, -EIO, "<%s> with an empty name", what);
	if (rc) {
		free(*out);
		*out = NULL;
	}
	return rc;
}

int azure_xml_parse_error(const char *body, size_t len, char code[64], char msg[256])
{
	struct objfs_err e;
	xmlDoc *doc = NULL;
	xmlNode *root = NULL;
	const xmlNode *c;
	char *s = NULL;
	int rc = -EIO;

	code[0] = msg[0] = '\0';
	if (objfs_xml_read(body, len, 1, &doc, &root, &e))
		return -EIO;
	if (!is_el(root, "Error") || !(c = child(root, "Code")) ||
	    objfs_xml_text(c, NULL, &s, &e) || !s[0])
		goto out;
	snprintf(code, 64, "%s", s);
	free(s);
	s = NULL;
	if ((c = child(root, "Message")) && objfs_xml_text(c, NULL, &s, &e) == 0) {
		/* the message's second line is a request id and time: keep the first */
		s[strcspn(s, "\r\n")] = '\0';
		snprintf(msg, 256, "%s", s);
	}
	rc = 0;
out:
	free(s);
	xmlFreeDoc(doc);
	return rc;
}

static int parse_blob(const xmlNode *b, int with_meta, struct objfs_objinfo *oi,
		      struct objfs_err *err)
{
	const xmlNode *props = child(b, "Properties"), *md = child(b, "Metadata"), *c;
	struct objfs_kv *kv = NULL;
	size_t nkv = 0, cap = 0;
	char *s = NULL, *ctype = NULL;
	int rc;

	memset(oi, 0, sizeof(*oi));
	rc = name_of(b, "Blob", &oi->key, err);
	if (rc)
		goto out;
	if (!props) {
		rc = objfs_err_set(err, -EIO, "<Blob> without <Properties>");
		goto out;
	}
	if (!(c = child(props, "Content-Length"))) {
		rc = objfs_err_set(err, -EIO, "<Blob> without <Content-Length>");
		goto out;
	}
	if ((rc = objfs_xml_text(c, NULL, &s, err)))
		goto out;
	if (parse_udec(s, &oi->size)) {
		rc = objfs_err_set(err, -EIO, "<Content-Length> is not a size");
		goto out;
	}
	free(s);
	s = NULL;
	if ((c = child(props, "Etag"))) {
		size_t n;
		const char *v;

		if ((rc = objfs_xml_text(c, NULL, &s, err)))
			goto out;
		v = s;
		n = strlen(v);
		if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
			v++;
			n -= 2;
		}
		if (n >= OBJFS_ETAG_MAX || memchr(v, '"', n)) {
			rc = objfs_err_set(err, -EIO, "<Etag> unusable");
			goto out;
		}
		memcpy(oi->etag, v, n);
		oi->etag[n] = '\0';
		free(s);
		s = NULL;
	}
	if ((c = child(props, "Last-Modified"))) {
		time_t t;

		if ((rc = objfs_xml_text(c, NULL, &s, err)))
			goto out;
		t = curl_getdate(s, NULL);
		oi->mtime_ns = t > 0 ? (int64_t)t * 1000000000 : 0;
		free(s);
		s = NULL;
	}
	if ((c = child(props, "Content-Type")) && (rc = objfs_xml_text(c, NULL, &ctype, err)))
		goto out;
	for (c = md ? md->children : NULL; c; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		/* names Azure cannot return as elements come as x-ms-invalid-name */
		if (!strcmp((const char *)c->name, "x-ms-invalid-name"))
			continue;
		if (nkv == cap) {
			struct objfs_kv *v;

			cap = cap ? cap * 2 : 8;
			v = realloc(kv, cap * sizeof(*v));
			if (!v) {
				rc = objfs_err_set(err, -ENOMEM, "out of memory");
				goto out;
			}
			kv = v;
		}
		if ((rc = objfs_xml_text(c, NULL, &kv[nkv].value, err)))
			goto out;
		if (!(kv[nkv].key = strdup((const char *)c->name))) {
			free(kv[nkv].value);
			rc = objfs_err_set(err, -ENOMEM, "out of memory");
			goto out;
		}
		for (char *p = kv[nkv].key; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
		nkv++;
	}
	if (with_meta) {
		if (objfs_objinfo_set_meta(oi, ctype && ctype[0] ? ctype : NULL, kv, nkv)) {
			rc = objfs_err_set(err, -ENOMEM, "out of memory");
			goto out;
		}
	} else if (ctype && ctype[0]) {
		oi->content_type = ctype;
		ctype = NULL;
	}
out:
	for (size_t i = 0; i < nkv; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
	free(s);
	free(ctype);
	if (rc)
		objfs_objinfo_clear(oi);
	return rc;
}

int azure_xml_parse_list(const char *body, size_t len, int with_meta,
			 struct objfs_listing *out, struct objfs_err *err)
{
	struct objfs_listing l;
	size_t cap_o = 0, cap_p = 0;
	xmlDoc *doc = NULL;
	xmlNode *root = NULL;
	const xmlNode *blobs, *c;
	int rc;

	memset(&l, 0, sizeof(l));
	memset(out, 0, sizeof(*out));
	rc = objfs_xml_read(body, len, 1, &doc, &root, err);
	if (rc)
		return rc;
	if (!is_el(root, "EnumerationResults")) {
		rc = objfs_err_set(err, -EIO, "<EnumerationResults> expected, got <%.64s>",
				   (const char *)root->name);
		goto out;
	}
	blobs = child(root, "Blobs");
	if (!blobs) {
		rc = objfs_err_set(err, -EIO, "listing without <Blobs>");
		goto out;
	}
	/* a document cut short cannot reach here (not well-formed), but a page
	 * must also say whether it is the last: <NextMarker> is required */
	if (!(c = child(root, "NextMarker"))) {
		rc = objfs_err_set(err, -EIO, "listing without <NextMarker>");
		goto out;
	}
	if ((rc = objfs_xml_text(c, NULL, &l.next_token, err)))
		goto out;
	if (!l.next_token[0]) {
		free(l.next_token);
		l.next_token = NULL;
	}
	for (c = blobs->children; c; c = c->next) {
		if (is_el(c, "Blob")) {
			if (l.nobjects == cap_o) {
				struct objfs_objinfo *v;

				cap_o = cap_o ? cap_o * 2 : 64;
				v = realloc(l.objects, cap_o * sizeof(*v));
				if (!v) {
					rc = objfs_err_set(err, -ENOMEM, "out of memory");
					goto out;
				}
				l.objects = v;
			}
			if ((rc = parse_blob(c, with_meta, &l.objects[l.nobjects], err)))
				goto out;
			l.nobjects++;
		} else if (is_el(c, "BlobPrefix")) {
			if (l.nprefixes == cap_p) {
				char **v;

				cap_p = cap_p ? cap_p * 2 : 16;
				v = realloc(l.prefixes, cap_p * sizeof(*v));
				if (!v) {
					rc = objfs_err_set(err, -ENOMEM, "out of memory");
					goto out;
				}
				l.prefixes = v;
			}
			if ((rc = name_of(c, "BlobPrefix", &l.prefixes[l.nprefixes], err)))
				goto out;
			l.nprefixes++;
		}
	}
	*out = l;
	memset(&l, 0, sizeof(l));
out:
	objfs_listing_clear(&l);
	xmlFreeDoc(doc);
	return rc;
}

void azure_blocks_free(struct azure_block *b, size_t n)
{
	for (size_t i = 0; b && i < n; i++)
		free(b[i].name);
	free(b);
}

int azure_xml_parse_blocklist(const char *body, size_t len, struct azure_block **out,
			      size_t *nout, struct objfs_err *err)
{
	static const char *const lists[] = { "CommittedBlocks", "UncommittedBlocks" };
	struct azure_block *v = NULL;
	size_t n = 0, cap = 0;
	xmlDoc *doc = NULL;
	xmlNode *root = NULL;
	int rc;

	*out = NULL;
	*nout = 0;
	rc = objfs_xml_read(body, len, 1, &doc, &root, err);
	if (rc)
		return rc;
	if (!is_el(root, "BlockList")) {
		rc = objfs_err_set(err, -EIO, "<BlockList> expected, got <%.64s>",
				   (const char *)root->name);
		goto out;
	}
	for (int k = 0; k < 2; k++) {
		const xmlNode *lst = child(root, lists[k]);

		for (const xmlNode *b = lst ? lst->children : NULL; b; b = b->next) {
			const xmlNode *sz;
			char *s = NULL;

			if (!is_el(b, "Block"))
				continue;
			if (n == cap) {
				struct azure_block *nv;

				cap = cap ? cap * 2 : 64;
				nv = realloc(v, cap * sizeof(*nv));
				if (!nv) {
					rc = objfs_err_set(err, -ENOMEM, "out of memory");
					goto out;
				}
				v = nv;
			}
			memset(&v[n], 0, sizeof(v[n]));
			v[n].committed = k == 0;
			if ((rc = name_of(b, "Block", &v[n].name, err)))
				goto out;
			n++;
			if (!(sz = child(b, "Size"))) {
				rc = objfs_err_set(err, -EIO, "<Block> without <Size>");
				goto out;
			}
			if ((rc = objfs_xml_text(sz, NULL, &s, err)))
				goto out;
			if (parse_udec(s, &v[n - 1].size))
				rc = objfs_err_set(err, -EIO, "<Size> is not a size");
			free(s);
			if (rc)
				goto out;
		}
	}
	*out = v;
	*nout = n;
	v = NULL;
	n = 0;
out:
	azure_blocks_free(v, n);
	xmlFreeDoc(doc);
	return rc;
}

int azure_xml_build_blocklist(const char *const *ids, size_t n, char **out, size_t *len)
{
	static const char head[] = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<BlockList>";
	static const char tail[] = "</BlockList>\n";
	size_t total = sizeof(head) + sizeof(tail), o = 0;
	char *b;

	*out = NULL;
	*len = 0;
	for (size_t i = 0; i < n; i++) {
		for (const char *c = ids[i]; *c; c++)
			if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
			      (*c >= '0' && *c <= '9') || *c == '+' || *c == '/' || *c == '='))
				return -EINVAL;
		if (!ids[i][0])
			return -EINVAL;
		total += strlen(ids[i]) + 17;
	}
	b = malloc(total);
	if (!b)
		return -ENOMEM;
	memcpy(b, head, sizeof(head) - 1);
	o = sizeof(head) - 1;
	for (size_t i = 0; i < n; i++)
		o += (size_t)sprintf(b + o, "<Latest>%s</Latest>", ids[i]);
	memcpy(b + o, tail, sizeof(tail));
	o += sizeof(tail) - 1;
	*out = b;
	*len = o;
	return 0;
}
