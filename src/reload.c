/*
 * Reloading the tenant configuration: see reload.h.
 *
 * Two passes over the new configuration: the first checks everything and
 * opens what new tenants need (providers, buckets) without touching the
 * live table; the second, which cannot fail, publishes the changes.  A
 * reader of the table sees either a tenant's old conf or its new one (one
 * pointer store), and a new tenant only once it is complete (the count is
 * published after the entry is filled).  Replaced configurations are never
 * freed while the daemon runs: threads may hold pointers into them.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "quota.h"
#include "reload.h"
#include "writeback.h"

static pthread_mutex_t reload_lock = PTHREAD_MUTEX_INITIALIZER;

/* Configurations loaded by reloads, and providers opened for them
 * (reload_lock; freed by objfs_reload_free at exit). */
static struct objfs_config **cfgs;
static size_t ncfgs;
static struct reload_prov {
	char *name;
	struct objfs_prov *prov;
} *provs;
static size_t nprovs;

static const char *prov_name(const struct objfs_config *cfg, const struct objfs_tenant_conf *c)
{
	return c->provider ? c->provider : cfg->default_provider;
}

static int str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* The provider instance named `name`, already open (at start-up or by an
 * earlier reload), or NULL. */
static struct objfs_prov *open_prov(struct objfs_ctx *ctx, const char *name)
{
	for (size_t i = 0; i < ctx->cfg->nproviders && i < ctx->nprovs; i++)
		if (ctx->provs[i] && strcmp(ctx->cfg->providers[i].conf.name, name) == 0)
			return ctx->provs[i];
	for (size_t i = 0; i < nprovs; i++)
		if (strcmp(provs[i].name, name) == 0)
			return provs[i].prov;
	return NULL;
}

/* What a tenant keeps across a reload: where its objects are and how they
 * are written.  A difference is the reason in msg, and -EBUSY. */
static int same_location(const struct objfs_config *ocfg, const struct objfs_tenant *t,
			 const struct objfs_config *ncfg, const struct objfs_tenant_conf *n,
			 char *msg, size_t msglen)
{
	const struct objfs_tenant_conf *o = t->conf;
	const char *what = NULL;

	if (!str_eq(prov_name(ocfg, o), prov_name(ncfg, n)))
		what = "provider";
	else if (!str_eq(t->bucket, n->bucket))
		what = "bucket";
	else if (!str_eq(t->prefix, n->prefix ? n->prefix : ""))
		what = "prefix";
	else if (!str_eq(o->sse, n->sse) || !str_eq(o->sse_kms_key_id, n->sse_kms_key_id) ||
		 !str_eq(o->sse_customer_key, n->sse_customer_key) ||
		 (o->sse_customer_key && memcmp(o->sse_c_key, n->sse_c_key, sizeof(o->sse_c_key))))
		what = "server-side encryption";
	else if (!str_eq(o->storage_class, n->storage_class))
		what = "storage_class";
	else if (!str_eq(o->acl, n->acl))
		what = "acl";
	if (!what)
		return 0;
	snprintf(msg, msglen, "%s:%d: tenant %s: its %s changed; restart objfs to apply that",
		 ncfg->path, n->line, n->name, what);
	return -EBUSY;
}

/* Which new-config tenant each live one became (NULL: removed), and the
 * new tenants with their providers, prepared by check(). */
struct plan {
	const struct objfs_tenant_conf **keep;   /* per live tenant */
	const struct objfs_tenant_conf **add;
	struct objfs_prov **add_prov;
	size_t nadd;
	size_t nremoved, nupdated;
};

static void plan_free(struct plan *pl)
{
	free(pl->keep);
	free(pl->add);
	free(pl->add_prov);
}

/* Opens provider `name` of ncfg for a new tenant (or finds it open). */
static int get_prov(struct objfs_ctx *ctx, const struct objfs_config *ncfg, const char *name,
		    int line, const char *tenant, struct objfs_prov **out, char *msg,
		    size_t msglen)
{
	const struct objfs_provider_section *ps;
	struct reload_prov *v;
	struct objfs_err err;
	int rc;

	*out = open_prov(ctx, name);
	if (*out)
		return 0;
	ps = objfs_config_provider(ncfg, name);
	if (!ps) {
		snprintf(msg, msglen, "%s:%d: tenant %s: unknown provider %s", ncfg->path, line,
			 tenant, name);
		return -EINVAL;
	}
	v = realloc(provs, (nprovs + 1) * sizeof(*provs));
	if (!v)
		return -ENOMEM;
	provs = v;
	rc = objfs_prov_open(&ps->conf, out, &err);
	if (rc) {
		snprintf(msg, msglen, "%s:%d: provider %s: %s", ncfg->path, ps->line, name,
			 err.msg[0] ? err.msg : strerror(-rc));
		return rc;
	}
	provs[nprovs].name = strdup(name);
	if (!provs[nprovs].name) {
		objfs_prov_free(*out);
		*out = NULL;
		return -ENOMEM;
	}
	provs[nprovs++].prov = *out;
	return 0;
}

static int check(struct objfs_ctx *ctx, const struct objfs_config *ncfg, struct plan *pl,
		 char *msg, size_t msglen)
{
	struct objfs_tenants *ts = &ctx->tenants;
	size_t n = objfs_tenants_count(ts);
	int rc;

	pl->keep = calloc(n ? n : 1, sizeof(*pl->keep));
	pl->add = calloc(ncfg->ntenants ? ncfg->ntenants : 1, sizeof(*pl->add));
	pl->add_prov = calloc(ncfg->ntenants ? ncfg->ntenants : 1, sizeof(*pl->add_prov));
	if (!pl->keep || !pl->add || !pl->add_prov)
		return -ENOMEM;
	for (size_t j = 0; j < ncfg->ntenants; j++) {
		const struct objfs_tenant_conf *c = &ncfg->tenants[j];
		size_t i;

		/* a tenant removed by an earlier reload and named again comes back */
		for (i = 0; i < n; i++)
			if (strcmp(ts->v[i].name, c->name) == 0)
				break;
		if (i < n) {
			rc = same_location(ctx->cfg, &ts->v[i], ncfg, c, msg, msglen);
			if (rc)
				return rc;
			pl->keep[i] = c;
			continue;
		}
		if (n + pl->nadd >= OBJFS_TENANTS_MAX) {
			snprintf(msg, msglen, "%s: more than %d tenants", ncfg->path,
				 OBJFS_TENANTS_MAX);
			return -E2BIG;
		}
		rc = get_prov(ctx, ncfg, prov_name(ncfg, c), c->line, c->name,
			      &pl->add_prov[pl->nadd], msg, msglen);
		if (rc)
			return rc;
		pl->add[pl->nadd++] = c;
	}
	return 0;
}

/* Fills table entry idx for new tenant c on prov and readies it (bucket,
 * storage defaults, quota); the entry is published by the caller. */
static int setup_new(struct objfs_ctx *ctx, size_t idx, const struct objfs_tenant_conf *c,
		     struct objfs_prov *prov, char *msg, size_t msglen)
{
	struct objfs_tenant *t = &ctx->tenants.v[idx];
	char why[384];
	int rc;

	objfs_tenant_fill(t, idx, c);
	t->prov = prov;
	rc = objfs_tenant_setup(t, why, sizeof(why));
	if (rc) {
		snprintf(msg, msglen, "tenant %s: %s", c->name, why);
		return rc;
	}
	quota_init(t, ctx);              /* a failed count is logged, not fatal */
	return 0;
}

int objfs_reload(struct objfs_ctx *ctx, char *msg, size_t msglen)
{
	struct objfs_tenants *ts = &ctx->tenants;
	struct objfs_config *ncfg = NULL, **v;
	struct plan pl;
	size_t n, base;
	int rc;

	memset(&pl, 0, sizeof(pl));
	pthread_mutex_lock(&reload_lock);
	rc = objfs_config_load(ctx->cfg->path, &ncfg, msg, msglen);
	if (rc)
		goto out;
	v = realloc(cfgs, (ncfgs + 1) * sizeof(*cfgs));
	if (!v) {
		rc = -ENOMEM;
		goto out;
	}
	cfgs = v;
	rc = check(ctx, ncfg, &pl, msg, msglen);
	if (rc)
		goto out;
	/* new tenants are readied in entries past the published count */
	base = n = objfs_tenants_count(ts);
	for (size_t k = 0; k < pl.nadd; k++) {
		rc = setup_new(ctx, base + k, pl.add[k], pl.add_prov[k], msg, msglen);
		if (rc) {
			for (size_t m = 0; m < k; m++)
				quota_free(&ts->v[base + m], NULL);
			goto out;
		}
	}
	/* from here nothing fails */
	for (size_t i = 0; i < n; i++) {
		struct objfs_tenant *t = &ts->v[i];
		const struct objfs_tenant_conf *c = pl.keep[i];

		if (!c) {
			if (!t->removed) {
				pl.nremoved++;
				log_info("reload: tenant %s removed (its pending uploads still land)",
					 t->name);
			}
			__atomic_store_n(&t->removed, 1, __ATOMIC_RELEASE);
			continue;
		}
		quota_set_limits(t, ctx, c->quota_bytes, c->quota_objects);
		__atomic_store_n(&t->conf, c, __ATOMIC_RELEASE);
		if (t->removed)
			log_info("reload: tenant %s is back", t->name);
		__atomic_store_n(&t->removed, 0, __ATOMIC_RELEASE);
		pl.nupdated++;
	}
	for (size_t k = 0; k < pl.nadd; k++)
		log_info("reload: tenant %s added (bucket %s, prefix '%s')", pl.add[k]->name,
			 pl.add[k]->bucket, pl.add[k]->prefix ? pl.add[k]->prefix : "");
	__atomic_store_n(&ts->n, base + pl.nadd, __ATOMIC_RELEASE);
	/* commits held for their content type are judged by the new types */
	if (ctx->wb)
		writeback_release_held(ctx->wb);
	cfgs[ncfgs++] = ncfg;
	ncfg = NULL;
	snprintf(msg, msglen, "%zu tenants: %zu added, %zu removed, %zu updated",
		 pl.nupdated + pl.nadd, pl.nadd, pl.nremoved, pl.nupdated);
out:
	pthread_mutex_unlock(&reload_lock);
	plan_free(&pl);
	objfs_config_free(ncfg);
	return rc;
}

void objfs_reload_free(struct objfs_ctx *ctx)
{
	(void)ctx;
	pthread_mutex_lock(&reload_lock);
	for (size_t i = 0; i < nprovs; i++) {
		objfs_prov_free(provs[i].prov);
		free(provs[i].name);
	}
	free(provs);
	provs = NULL;
	nprovs = 0;
	for (size_t i = 0; i < ncfgs; i++)
		objfs_config_free(cfgs[i]);
	free(cfgs);
	cfgs = NULL;
	ncfgs = 0;
	pthread_mutex_unlock(&reload_lock);
}
