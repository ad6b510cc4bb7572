/*
 * libFuzzer target: random requests to the control socket's handler
 * (objfs_ctl_handle, src/ctlsock_api.c) over a daemon context built once on
 * the `mem` provider (meta, staging, files and write-back as in the unit
 * tests), from four kinds of caller.
 *
 * Input layout:
 *   byte 0   method: GET POST HEAD PUT DELETE or "" (mod 6)
 *   byte 1   caller: root, acme's user, nobody, an admin-group member (mod 4)
 *   byte 2   even: a known endpoint (byte/2 mod 7) followed by the URL bytes;
 *            odd: the URL bytes alone
 *   then     the URL up to the first '\n' (at most 4 KiB), then the body.
 *
 * Checked on every input: the handler returns 0, the status is one the API
 * documents, a JSON answer parses as an object, and every error carries an
 * "error" string.  AddressSanitizer and LeakSanitizer catch the rest.
 * Run with `make fuzz FUZZ_SECONDS=60` (seeds: tests/fuzz/corpus_ctlsock/).
 */
#include <errno.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctlsock_api.h"
#include "ctx.h"
#include "file.h"
#include "log.h"
#include "meta.h"
#include "objfs/provider.h"
#include "staging.h"
#include "writeback.h"
#include "testutil.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uid_t acme_uids[] = { 71001 };
static gid_t globex_gids[] = { 72000 };

static struct objfs_config cfg;
static struct objfs_tenant_conf tc[3];
static struct objfs_prov *provs[1];
static struct objfs_ctx ctx;
static struct objfs_ctl_api *api;
static struct objfs_ctl_peer peers[4];
static char *dir, *mnt;
static unsigned nreload;

/* Reload, faked: each outcome in turn (the real one would read cfg->path). */
static int fake_reload(struct objfs_ctx *c, char *msg, size_t msglen)
{
	static const int rcs[] = { 0, -EBUSY, -EINVAL, -EIO };
	int rc = rcs[nreload++ % 4];

	(void)c;
	snprintf(msg, msglen, "fake reload: %d", rc);
	return rc;
}

static void die(const char *what)
{
	fprintf(stderr, "fuzz_ctlsock_api: setup failed: %s\n", what);
	abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct objfs_provider_conf pc = { .name = "mem", .type = "mem" };
	static const char *names[3] = { "acme", "globex", "initech" };
	static const char *buckets[3] = { "acme-bkt", "shared-bkt", "shared-bkt" };
	static const char *prefixes[3] = { "", "tenants/globex/", "tenants/initech/" };
	struct objfs_err err;
	char msg[256];

	(void)argc;
	(void)argv;
	objfs_log_set_level(OBJFS_LOG_ERROR);
	if (!(dir = tu_mkdtemp("fuzz-ctl")) || asprintf(&mnt, "%s/mnt", dir) < 0 ||
	    mkdir(mnt, 0755))
		die("scratch directory");
	if (objfs_prov_open(&pc, &provs[0], &err) ||
	    objfs_prov_bucket_create(provs[0], "acme-bkt", &err) ||
	    objfs_prov_bucket_create(provs[0], "shared-bkt", &err))
		die("mem provider");
	cfg.cache_dir = dir;
	cfg.chunk_size = 1 << 20;
	cfg.staging_max_bytes = 64u << 20;
	cfg.upload_workers = 1;
	cfg.upload_parallel_parts = 1;
	cfg.writeback_delay_ms = 600000;
	cfg.drain_timeout_s = 5;
	cfg.presign_ttl_default_s = 900;
	cfg.presign_ttl_max_s = 604800;
	cfg.control_admin_group = (char *)"74000";
	for (int k = 0; k < 3; k++) {
		tc[k].name = (char *)names[k];
		tc[k].bucket = (char *)buckets[k];
		tc[k].prefix = (char *)prefixes[k];
	}
	tc[0].allow_uids = acme_uids;
	tc[0].nallow_uids = 1;
	tc[1].allow_gids = globex_gids;
	tc[1].nallow_gids = 1;
	tc[1].read_only = 1;
	ctx.cfg = &cfg;
	ctx.tenants.v = calloc(OBJFS_TENANTS_MAX, sizeof(*ctx.tenants.v));
	if (!ctx.tenants.v)
		die("tenants");
	for (size_t k = 0; k < 3; k++) {
		ctx.tenants.v[k].idx = k;
		ctx.tenants.v[k].conf = &tc[k];
		ctx.tenants.v[k].prov = provs[0];
		ctx.tenants.v[k].name = names[k];
		ctx.tenants.v[k].bucket = buckets[k];
		ctx.tenants.v[k].prefix = prefixes[k];
	}
	ctx.tenants.n = 3;
	ctx.provs = provs;
	ctx.nprovs = 1;
	ctx.mountpoint = mnt;
	ctx.uid = getuid();
	ctx.gid = getgid();
	ctx.chunk_size = 1 << 20;
	if (meta_open(dir, &ctx.meta) || staging_open(dir, cfg.staging_max_bytes, &ctx.staging) ||
	    files_new(&ctx, &ctx.files) || writeback_new(&ctx, &ctx.wb) ||
	    writeback_start(ctx.wb))
		die("meta, staging, write-back");
	if (objfs_ctl_api_new(&ctx, &api, msg, sizeof(msg)))
		die(msg);
	objfs_ctl_api_set_reload(api, fake_reload);
	if (objfs_ctl_peer_init(api, 0, 0, 1, &peers[0]) ||
	    objfs_ctl_peer_init(api, 71001, 71001, 2, &peers[1]) ||
	    objfs_ctl_peer_init(api, 79998, 79998, 3, &peers[2]) ||
	    objfs_ctl_peer_init(api, 79997, 74000, 4, &peers[3]))
		die("callers");
	return 0;
}

static int documented(int status)
{
	static const int ok[] = { 200, 400, 403, 404, 405, 409, 413, 500, 503, 504 };

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (status == ok[i])
			return 1;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *methods[] = { "GET", "POST", "HEAD", "PUT", "DELETE", "" };
	static const char *known[] = { "/v1/health", "/v1/status", "/v1/tenants", "/v1/presign",
				       "/v1/flush", "/v1/metrics", "/v1/reload" };
	struct objfs_ctl_resp r;
	const uint8_t *nl;
	size_t ulen, plen = 0;
	char *url;
	int rc;

	if (size < 3)
		return 0;
	nl = memchr(data + 3, '\n', size - 3);
	ulen = nl ? (size_t)(nl - (data + 3)) : size - 3;
	if (ulen > 4096)
		return 0;
	if (data[2] % 2 == 0)
		plen = strlen(known[(data[2] / 2) % 7]);
	url = malloc(plen + ulen + 1);
	if (!url)
		return 0;
	if (plen)
		memcpy(url, known[(data[2] / 2) % 7], plen);
	memcpy(url + plen, data + 3, ulen);
	url[plen + ulen] = '\0';        /* a NUL inside ends the URL, as in a C string */

	{
		const char *body = nl ? (const char *)nl + 1 : NULL;
		size_t blen = nl ? size - (size_t)(nl + 1 - data) : 0;

		rc = objfs_ctl_handle(api, &peers[data[1] % 4], methods[data[0] % 6], url, body,
				      blen, &r);
	}
	if (rc != 0 || !r.body || !r.content_type || !documented(r.status)) {
		fprintf(stderr, "bad answer: rc %d status %d\n", rc, r.status);
		abort();
	}
	if (!strcmp(r.content_type, "application/json")) {
		json_error_t je;
		json_t *v = json_loadb(r.body, r.len, 0, &je);

		if (!v || !json_is_object(v) ||
		    (r.status >= 400 && !json_is_string(json_object_get(v, "error")))) {
			fprintf(stderr, "bad JSON answer (%d): %.*s\n", r.status, (int)r.len,
				r.body);
			abort();
		}
		json_decref(v);
	}
	objfs_ctl_resp_clear(&r);
	free(url);
	return 0;
}
