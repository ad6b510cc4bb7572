/*
 * objfs daemon start-up:
 *   objfs [-f] [-d] [-o FUSE_OPTIONS] --config FILE [MOUNTPOINT]
 * Loads and validates the configuration (a bad one exits 1 with one line),
 * opens the providers, checks or creates the tenants' buckets, opens the
 * metadata store and staging area, then hands over to FUSE.  Journal
 * recovery and the upload workers start in the FUSE init callback, after
 * fuse_main() has daemonised.
 */
#include <errno.h>
#include <limits.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audit.h"
#include "config.h"
#include "ctx.h"
#include "file.h"
#include "fs.h"
#include "log.h"
#include "meta.h"
#include "metrics.h"
#include "quota.h"
#include "reload.h"
#include "readcache.h"
#include "services.h"
#include "staging.h"
#include "tenant.h"
#include "writeback.h"

#include "version.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: objfs [-f] [-d] [-o FUSE_OPTIONS] --config FILE [MOUNTPOINT]\n"
		"  -f            stay in the foreground\n"
		"  -d            FUSE debug output (implies -f)\n"
		"  -o OPTIONS    FUSE mount options (allow_other, default_permissions, ...)\n"
		"  --config FILE the configuration file (see docs/configuration.md)\n"
		"  -V, --version print the version\n");
}

/* Opens the providers the tenants use, links tenants to them and readies
 * each tenant (storage defaults, bucket checked or created). */
static int open_providers(struct objfs_ctx *ctx, const struct objfs_config *cfg)
{
	struct objfs_err err;
	char msg[512];
	int rc;

	ctx->provs = calloc(cfg->nproviders ? cfg->nproviders : 1, sizeof(*ctx->provs));
	if (!ctx->provs)
		return -ENOMEM;
	for (size_t i = 0; i < ctx->tenants.n; i++) {
		struct objfs_tenant *t = &ctx->tenants.v[i];
		const char *pname = t->conf->provider ? t->conf->provider : cfg->default_provider;
		size_t j;

		for (j = 0; j < cfg->nproviders; j++)
			if (!strcmp(cfg->providers[j].conf.name, pname))
				break;
		if (j == cfg->nproviders) {
			fprintf(stderr, "%s:%d: tenant %s: unknown provider %s\n", cfg->path,
				t->conf->line, t->name, pname);
			return -EINVAL;
		}
		if (!ctx->provs[j]) {
			rc = objfs_prov_open(&cfg->providers[j].conf, &ctx->provs[j], &err);
			if (rc) {
				fprintf(stderr, "%s:%d: provider %s: %s\n", cfg->path,
					cfg->providers[j].line, pname,
					err.msg[0] ? err.msg : strerror(-rc));
				return rc;
			}
			ctx->nprovs = cfg->nproviders;
		}
		t->prov = ctx->provs[j];
		rc = objfs_tenant_setup(t, msg, sizeof(msg));
		if (rc) {
			fprintf(stderr, "%s:%d: tenant %s: %s\n", cfg->path, t->conf->line, t->name,
				msg);
			return rc;
		}
	}
	return 0;
}

/*
 * A daemon that died (kill -9, a crash) leaves its mount behind, answering
 * ENOTCONN; mounting over it would fail, and systemd's Restart= would loop.
 * Detach it first (umount2 as root, else fusermount3 -uz).
 */
static void clear_stale_mount(const char *mountpoint)
{
	struct stat st;

	if (stat(mountpoint, &st) == 0 || errno != ENOTCONN)
		return;
	log_warn("%s: a dead objfs mount is still there; detaching it", mountpoint);
	if (umount2(mountpoint, MNT_DETACH) == 0)
		return;
	pid_t pid = fork();

	if (pid == 0) {
		execlp("fusermount3", "fusermount3", "-uz", mountpoint, (char *)NULL);
		_exit(127);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct objfs_config *cfg = NULL;
	struct objfs_ctx ctx;
	const char *config = NULL, *mountpoint = NULL;
	char *fargv[32], errbuf[1024], mnt_real[PATH_MAX];
	int fargc = 0, foreground = 0, debug = 0, opt, status = 1, rc;
	char *fuse_opts[8];
	int nfuse_opts = 0;

	memset(&ctx, 0, sizeof(ctx));
	while ((opt = getopt_long(argc, argv, "+fdo:c:hV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'f': foreground = 1; break;
		case 'd': debug = 1; foreground = 1; break;
		case 'o':
			if (nfuse_opts == (int)(sizeof(fuse_opts) / sizeof(fuse_opts[0]))) {
				fprintf(stderr, "objfs: too many -o options\n");
				return 1;
			}
			fuse_opts[nfuse_opts++] = optarg;
			break;
		case 'c': config = optarg; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("objfs %s\n", OBJFS_VERSION); return 0;
		default: usage(stderr); return 1;
		}
	}
	if (optind < argc)
		mountpoint = argv[optind++];
	if (optind < argc || !config) {
		usage(stderr);
		return 1;
	}
	rc = objfs_config_load(config, &cfg, errbuf, sizeof(errbuf));
	if (rc) {
		fprintf(stderr, "%s\n", errbuf);
		return 1;
	}
	if (!mountpoint)
		mountpoint = cfg->mountpoint;
	if (!mountpoint) {
		fprintf(stderr, "%s: no mount point: give one on the command line or set mountpoint\n",
			cfg->path);
		goto out;
	}
	if (cfg->log_level && objfs_log_parse_level(cfg->log_level) >= 0)
		objfs_log_set_level((enum objfs_log_level)objfs_log_parse_level(cfg->log_level));

	clear_stale_mount(mountpoint);
	ctx.cfg = cfg;
	ctx.started_ms = meta_now_ms();
	/* the control socket and presign listener resolve paths against it */
	ctx.mountpoint = realpath(mountpoint, mnt_real) ? mnt_real : mountpoint;
	rc = objfs_audit_open(cfg->audit_log, cfg->audit_log_max_bytes, cfg->audit_log_keep,
			      errbuf, sizeof(errbuf));
	if (rc) {
		fprintf(stderr, "%s: %s\n", cfg->path, errbuf);
		goto out;
	}
	ctx.uid = getuid();
	ctx.gid = getgid();
	ctx.chunk_size = cfg->chunk_size;
	if (objfs_tenants_init(&ctx.tenants, cfg) || open_providers(&ctx, cfg))
		goto out;
	rc = meta_open(cfg->cache_dir, &ctx.meta);
	if (rc) {
		fprintf(stderr, "%s: cannot open the metadata cache in %s: %s\n", cfg->path,
			cfg->cache_dir, strerror(-rc));
		goto out;
	}
	for (size_t i = 0; i < ctx.tenants.n; i++)
		quota_init(&ctx.tenants.v[i], &ctx);   /* a failed count is logged, not fatal */
	rc = staging_open(cfg->cache_dir, cfg->staging_max_bytes, &ctx.staging);
	if (rc) {
		fprintf(stderr, "%s: cannot open the staging area in %s: %s\n", cfg->path,
			cfg->cache_dir, strerror(-rc));
		goto out;
	}
	ctx.rcache_all = cfg->read_cache == OBJFS_READ_CACHE_ALWAYS;
	if (files_new(&ctx, &ctx.files) || writeback_new(&ctx, &ctx.wb) ||
	    objfs_metrics_init(&ctx))
		goto out;

	fargv[fargc++] = argv[0];
	if (foreground)
		fargv[fargc++] = (char *)"-f";
	if (debug)
		fargv[fargc++] = (char *)"-d";
	fargv[fargc++] = (char *)"-o";
	fargv[fargc++] = (char *)"fsname=objfs,subtype=objfs";
	for (int i = 0; i < nfuse_opts; i++) {
		fargv[fargc++] = (char *)"-o";
		fargv[fargc++] = fuse_opts[i];
	}
	fargv[fargc++] = (char *)mountpoint;
	fargv[fargc] = NULL;
	status = objfs_fs_main(&ctx, fargc, fargv) ? 1 : 0;
out:
	writeback_free(ctx.wb);
	objfs_metrics_free();            /* after the workers that record into it */
	files_free(ctx.files);
	objfs_readcache_free(ctx.rcache);    /* made by objfs_services_start */
	staging_free(ctx.staging);
	for (size_t i = 0; i < ctx.tenants.n; i++)
		quota_free(&ctx.tenants.v[i], ctx.meta);   /* stores the usage, clean */
	meta_close(ctx.meta);
	for (size_t i = 0; i < ctx.nprovs; i++)
		objfs_prov_free(ctx.provs[i]);
	free(ctx.provs);
	objfs_tenants_clear(&ctx.tenants);
	objfs_reload_free(&ctx);
	objfs_audit_close();
	objfs_config_free(cfg);
	return status;
}
