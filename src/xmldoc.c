/*
 * The hardened XML reader of the network providers (contract in
 * src/xmldoc.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#include "xmldoc.h"

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void xml_init_once(void)
{
	xmlInitParser();
}

/*
 * What one parse saw, for the hooks below.  libxml2 hands the hooks a context
 * pointer whose meaning differs between error paths and versions, so the
 * state of the parse running in this thread is found through a thread-local
 * pointer, set only around xmlCtxtReadMemory.
 */
struct xparse_state {
	int saw_doctype;
	int errors;                 /* errors (not warnings) libxml2 reported */
	int line;                   /* of the first error */
	char msg[160];              /* the first error */
};
static _Thread_local struct xparse_state *xparse_cur;

/* Per-context structured error handler: records the first error, prints
 * nothing.  Every error counts, also those after which libxml2 stops without
 * clearing wellFormed (its SAX2 tree builder's out-of-memory and "huge text
 * node" paths), so a document cut short that way is never taken as whole. */
#if LIBXML_VERSION >= 21200
static void record_error(void *data, const xmlError *e)
#else
static void record_error(void *data, xmlErrorPtr e)
#endif
{
	struct xparse_state *st = xparse_cur;
	size_t n;

	(void)data;
	if (!st || !e || e->level < XML_ERR_ERROR)
		return;
	if (st->errors++ == 0) {
		snprintf(st->msg, sizeof(st->msg), "%s", e->message ? e->message : "error");
		n = strlen(st->msg);
		while (n && (st->msg[n - 1] == '\n' || st->msg[n - 1] == ' '))
			st->msg[--n] = '\0';
		st->line = e->line;
	}
}

/* SAX internalSubset hook, called at "<!DOCTYPE" before its internal subset
 * is read: stop there, so no entity is ever declared.  ctx is the parser
 * context (libxml2 sets userData to the context for the tree builder). */
static void refuse_doctype(void *ctx, const xmlChar *name, const xmlChar *ext_id,
			   const xmlChar *sys_id)
{
	xmlParserCtxtPtr ctxt = ctx;

	(void)name;
	(void)ext_id;
	(void)sys_id;
	if (xparse_cur)
		xparse_cur->saw_doctype = 1;
	if (ctxt)
		xmlStopParser(ctxt);
}

static int is_xml_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int objfs_xml_read(const char *body, size_t len, int bom_ok, xmlDoc **docp, xmlNode **rootp,
		   struct objfs_err *err)
{
	const int opts = XML_PARSE_NONET | XML_PARSE_NOBLANKS | XML_PARSE_NOERROR |
			 XML_PARSE_NOWARNING;
	struct xparse_state st = { 0 };
	xmlParserCtxtPtr ctxt = NULL;
	xmlDoc *doc = NULL;
	xmlNode *root = NULL;
	int rc = 0;

	*docp = NULL;
	*rootp = NULL;
	pthread_once(&xml_once, xml_init_once);
	if (!body)
		len = 0;
	if (bom_ok && len >= 3 && !memcmp(body, "\xEF\xBB\xBF", 3)) {
		body += 3;
		len -= 3;
	}
	while (len && is_xml_blank(*body)) {
		body++;
		len--;
	}
	if (len == 0) {
		rc = objfs_err_set(err, -EIO, "empty XML body");
		goto out;
	}
	if (len > OBJFS_XML_MAX_BODY) {
		rc = objfs_err_set(err, -EIO, "XML body of %zu bytes (at most %u)", len,
				   (unsigned)OBJFS_XML_MAX_BODY);
		goto out;
	}
	if (memchr(body, '\0', len)) {
		rc = objfs_err_set(err, -EIO, "NUL byte in XML body");
		goto out;
	}
	ctxt = xmlNewParserCtxt();
	if (!ctxt || !ctxt->sax) {
		rc = objfs_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	ctxt->sax->serror = record_error;
	ctxt->sax->warning = NULL;
	ctxt->sax->error = NULL;
	ctxt->sax->fatalError = NULL;
	ctxt->sax->internalSubset = refuse_doctype;
	xparse_cur = &st;
	doc = xmlCtxtReadMemory(ctxt, body, (int)len, NULL, NULL, opts);
	xparse_cur = NULL;
	if (st.saw_doctype || (doc && doc->intSubset)) {
		rc = objfs_err_set(err, -EIO, "XML body has a document type declaration");
		goto out;
	}
	if (!doc || st.errors || !ctxt->wellFormed || !ctxt->nsWellFormed) {
		rc = objfs_err_set(err, -EIO, "malformed XML (line %d): %s", st.line,
				   st.errors ? st.msg : "not well-formed");
		goto out;
	}
	root = xmlDocGetRootElement(doc);
	if (!root) {
		rc = objfs_err_set(err, -EIO, "XML body without a root element");
		goto out;
	}
	*docp = doc;
	*rootp = root;
	doc = NULL;
out:
	if (doc)
		xmlFreeDoc(doc);
	if (ctxt)
		xmlFreeParserCtxt(ctxt);
	return rc;
}

int objfs_xml_text(const xmlNode *el, const char *where, char **out, struct objfs_err *err)
{
	const xmlNode *c;
	size_t n = 0;
	char *s;

	*out = NULL;
	for (c = el->children; c; c = c->next) {
		if (c->type != XML_TEXT_NODE)
			return objfs_err_set(err, -EIO, "%s%s<%s> holds markup, not text",
					     where ? where : "", where ? ": " : "",
					     (const char *)el->name);
		if (c->content)
			n += strlen((const char *)c->content);
	}
	s = malloc(n + 1);
	if (!s)
		return objfs_err_set(err, -ENOMEM, "out of memory");
	n = 0;
	for (c = el->children; c; c = c->next) {
		size_t l = c->content ? strlen((const char *)c->content) : 0;

		memcpy(s + n, c->content, l);
		n += l;
	}
	s[n] = '\0';
	*out = s;
	return 0;
}
