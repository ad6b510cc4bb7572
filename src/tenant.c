/*
 * Tenants: path -> (tenant, key), the isolation boundary.
 *
 * Every FUSE path is "/<tenant>/<seg>/<seg>...".  Each segment is checked on
 * its own (objfs_name_check) before anything is joined, so no combination of
 * "..", ".", empty segments, control bytes or bad UTF-8 can make a key that
 * leaves "<prefix>" of the tenant's bucket: the key is always the tenant's
 * prefix followed by segments that are plain names.  Tenant lookup is exact
 * (no case folding, no prefix match).  Parsing never allocates.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "tenant.h"

int objfs_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;

	while (p < end) {
		unsigned c = *p;
		size_t n;
		uint32_t cp, min;

		if (c < 0x80) {
			p++;
			continue;
		} else if ((c & 0xE0) == 0xC0) {
			n = 1; cp = c & 0x1F; min = 0x80;
		} else if ((c & 0xF0) == 0xE0) {
			n = 2; cp = c & 0x0F; min = 0x800;
		} else if ((c & 0xF8) == 0xF0) {
			n = 3; cp = c & 0x07; min = 0x10000;
		} else {
			return 0;   /* continuation byte first, or 0xF8..0xFF */
		}
		if ((size_t)(end - p) <= n)
			return 0;   /* truncated */
		for (size_t i = 1; i <= n; i++) {
			if ((p[i] & 0xC0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i] & 0x3F);
		}
		if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return 0;   /* overlong, out of range, surrogate */
		p += n + 1;
	}
	return 1;
}

int objfs_name_check(const char *name, size_t len)
{
	if (!name || len == 0)
		return -EINVAL;
	if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
		return -EINVAL;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == '/')
			return -EINVAL;
	if (len > OBJFS_NAME_MAX)
		return -ENAMETOOLONG;
	if (!objfs_utf8_valid(name, len))
		return -EILSEQ;
	return 0;
}

struct objfs_tenant *objfs_tenant_find(struct objfs_tenants *ts, const char *name, size_t len)
{
	if (!ts || !name)
		return NULL;
	size_t n = objfs_tenants_count(ts);

	for (size_t i = 0; i < n; i++) {
		const char *tn = ts->v[i].name;

		if (tn && !ts->v[i].removed && strlen(tn) == len && memcmp(tn, name, len) == 0)
			return &ts->v[i];
	}
	return NULL;
}

int objfs_path_parse(struct objfs_tenants *ts, const char *path, struct objfs_path *out)
{
	const char *seg, *slash;
	struct objfs_tenant *t;
	size_t tlen, plen, rlen = 0;
	int rc;

	if (!out)
		return -EINVAL;
	out->tenant = NULL;
	out->rel[0] = '\0';
	out->key[0] = '\0';
	if (!path || path[0] != '/')
		return -EINVAL;
	if (path[1] == '\0')
		return 0;

	seg = path + 1;
	slash = strchr(seg, '/');
	tlen = slash ? (size_t)(slash - seg) : strlen(seg);
	rc = objfs_name_check(seg, tlen);
	if (rc)
		return rc;
	t = objfs_tenant_find(ts, seg, tlen);
	if (!t)
		return -ENOENT;
	plen = t->prefix ? strlen(t->prefix) : 0;
	if (plen > OBJFS_KEY_MAX)
		return -ENAMETOOLONG;

	if (slash) {
		const char *rel = slash + 1;

		/* every segment of rel must be a plain name; "a/" has an empty last one */
		for (seg = rel;; seg = slash + 1) {
			size_t sl;

			slash = strchr(seg, '/');
			sl = slash ? (size_t)(slash - seg) : strlen(seg);
			rc = objfs_name_check(seg, sl);
			if (rc)
				return rc;
			if (!slash)
				break;
		}
		rlen = strlen(rel);
		if (plen + rlen > OBJFS_KEY_MAX)
			return -ENAMETOOLONG;
		memcpy(out->rel, rel, rlen + 1);
	}
	if (plen)
		memcpy(out->key, t->prefix, plen);
	memcpy(out->key + plen, out->rel, rlen + 1);
	out->tenant = t;
	return 0;
}

void objfs_tenant_fill(struct objfs_tenant *t, size_t idx, const struct objfs_tenant_conf *c)
{
	memset(t, 0, sizeof(*t));
	t->idx = idx;
	t->conf = c;
	t->name = c->name;
	t->bucket = c->bucket;
	t->prefix = c->prefix ? c->prefix : "";
}

int objfs_tenants_init(struct objfs_tenants *ts, const struct objfs_config *cfg)
{
	if (!ts || !cfg)
		return -EINVAL;
	ts->v = NULL;
	ts->n = 0;
	if (cfg->ntenants > OBJFS_TENANTS_MAX)
		return -E2BIG;
	ts->v = calloc(OBJFS_TENANTS_MAX, sizeof(*ts->v));
	if (!ts->v)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->ntenants; i++)
		objfs_tenant_fill(&ts->v[i], i, &cfg->tenants[i]);
	ts->n = cfg->ntenants;
	return 0;
}

void objfs_tenants_clear(struct objfs_tenants *ts)
{
	if (!ts)
		return;
	free(ts->v);
	ts->v = NULL;
	ts->n = 0;
}

int objfs_tenant_setup(struct objfs_tenant *t, char *msg, size_t msglen)
{
	const struct objfs_tenant_conf *c = t->conf;
	struct objfs_err err;
	int rc;

	if (c->sse || c->storage_class || c->acl) {
		struct objfs_store_defaults d = {
			.sse = c->sse,
			.sse_kms_key_id = c->sse_kms_key_id,
			.sse_c_key = c->sse_customer_key ? c->sse_c_key : NULL,
			.storage_class = c->storage_class,
			.acl = c->acl,
		};

		rc = objfs_prov_set_defaults(t->prov, t->bucket, t->prefix, &d, &err);
		if (rc == -ENOSYS) {
			log_warn("tenant %s: its provider has no server-side encryption, storage"
				 " classes or ACLs; sse, storage_class and acl have no effect",
				 t->name);
		} else if (rc) {
			snprintf(msg, msglen, "%s", err.msg[0] ? err.msg : strerror(-rc));
			return rc;
		}
	}
	rc = objfs_prov_bucket_exists(t->prov, t->bucket, &err);
	if (rc == -ENOENT) {
		rc = objfs_prov_bucket_create(t->prov, t->bucket, &err);
		if (rc == 0)
			log_info("created bucket %s for tenant %s", t->bucket, t->name);
	}
	if (rc)
		snprintf(msg, msglen, "bucket %s: %s", t->bucket, err.msg[0] ? err.msg : strerror(-rc));
	return rc;
}

int objfs_rel_internal(const char *rel)
{
	size_t n = sizeof(OBJFS_TRASH_DIR) - 1;

	return rel && strncmp(rel, OBJFS_TRASH_DIR, n) == 0 && (rel[n] == '\0' || rel[n] == '/');
}
