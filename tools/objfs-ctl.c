/*
 * objfs-ctl: the command-line client of objfs.
 *
 * With --config FILE, commands run directly against the providers the
 * configuration names (no daemon needed): `presign` signs a URL for a
 * tenant's object and `health` probes every tenant's provider and bucket.
 * The daemon's control socket (--socket) arrives with its own issue.
 *
 * Output contract: `presign` prints the URL alone on stdout; errors are one
 * line on stderr; exit status 0 on success, 1 on failure or unhealthy, 2 on
 * bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "objfs/provider.h"
#include "config.h"
#include "log.h"

#define OBJFS_VERSION "0.1.0"
#define CTL_TTL_DEFAULT 900u
#define CTL_TTL_MAX     604800u

static void usage(FILE *out)
{
	fprintf(out,
		"usage: objfs-ctl --config FILE COMMAND [ARGS]\n"
		"       objfs-ctl [--socket PATH] COMMAND [ARGS]   (control socket: not yet)\n"
		"commands:\n"
		"  presign [--method GET|PUT] [--ttl SECONDS] TENANT/KEY\n"
		"          print a presigned URL (TTL default %u s, 1..%u)\n"
		"  health  probe each tenant's provider and bucket; exit 1 when unhealthy\n"
		"  -V, --version   print the version\n",
		CTL_TTL_DEFAULT, CTL_TTL_MAX);
}

static const char *health_name(enum objfs_health_state s)
{
	switch (s) {
	case OBJFS_HEALTH_OK: return "ok";
	case OBJFS_HEALTH_UNREACHABLE: return "unreachable";
	case OBJFS_HEALTH_AUTH: return "auth-failed";
	case OBJFS_HEALTH_NO_BUCKET: return "no-bucket";
	case OBJFS_HEALTH_CLOCK_SKEW: return "clock-skew";
	case OBJFS_HEALTH_DEGRADED: return "degraded";
	}
	return "unknown";
}

/* Tests move the clock with OBJFS_CTL_CLOCK_OFFSET (seconds), to see how
 * signing and the health probe react to a skewed clock. */
static long clock_offset;
static time_t ctl_clock(void)
{
	return time(NULL) + clock_offset;
}

/* Opens the provider of tenant t; *out freed with objfs_prov_free. */
static int open_tenant_provider(const struct objfs_config *cfg, const struct objfs_tenant_conf *t,
				struct objfs_prov **out)
{
	struct objfs_err err;
	int rc;

	for (size_t i = 0; i < cfg->nproviders; i++) {
		struct objfs_provider_conf pc = cfg->providers[i].conf;

		if (strcmp(pc.name, t->provider))
			continue;
		if (clock_offset)
			pc.clock = ctl_clock;
		rc = objfs_prov_open(&pc, out, &err);
		if (rc)
			fprintf(stderr, "objfs-ctl: provider %s: %s\n", pc.name,
				err.msg[0] ? err.msg : strerror(-rc));
		return rc;
	}
	fprintf(stderr, "objfs-ctl: tenant %s: provider %s not configured\n", t->name, t->provider);
	return -EINVAL;
}

static int cmd_presign(const struct objfs_config *cfg, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "method", required_argument, NULL, 'm' },
		{ "ttl", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	const char *method = "GET", *path, *slash;
	const struct objfs_tenant_conf *t = NULL;
	struct objfs_prov *prov = NULL;
	struct objfs_err err;
	unsigned long ttl = CTL_TTL_DEFAULT;
	char key[OBJFS_KEY_MAX + 1], *url = NULL, *end;
	int opt, rc;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "+m:t:", opts, NULL)) != -1) {
		switch (opt) {
		case 'm':
			method = optarg;
			break;
		case 't':
			errno = 0;
			ttl = strtoul(optarg, &end, 10);
			if (errno || *end || optarg[0] == '-' || ttl < 1 || ttl > CTL_TTL_MAX) {
				fprintf(stderr, "objfs-ctl: --ttl %s: expected seconds in 1..%u\n",
					optarg, CTL_TTL_MAX);
				return 2;
			}
			break;
		default:
			return 2;
		}
	}
	if (strcmp(method, "GET") && strcmp(method, "PUT")) {
		fprintf(stderr, "objfs-ctl: --method %s: expected GET or PUT\n", method);
		return 2;
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	path = argv[optind];
	while (*path == '/')
		path++;
	slash = strchr(path, '/');
	if (!slash || !slash[1]) {
		fprintf(stderr, "objfs-ctl: %s: expected TENANT/KEY\n", argv[optind]);
		return 2;
	}
	for (size_t i = 0; i < cfg->ntenants; i++)
		if (strlen(cfg->tenants[i].name) == (size_t)(slash - path) &&
		    !strncmp(cfg->tenants[i].name, path, (size_t)(slash - path)))
			t = &cfg->tenants[i];
	if (!t) {
		fprintf(stderr, "objfs-ctl: %.*s: no such tenant\n", (int)(slash - path), path);
		return 1;
	}
	if ((size_t)snprintf(key, sizeof(key), "%s%s", t->prefix, slash + 1) >= sizeof(key)) {
		fprintf(stderr, "objfs-ctl: key too long\n");
		return 1;
	}
	if (!strcmp(method, "PUT") && t->read_only) {
		fprintf(stderr, "objfs-ctl: tenant %s is read-only: no PUT URLs\n", t->name);
		return 1;
	}
	if (open_tenant_provider(cfg, t, &prov))
		return 1;
	rc = objfs_prov_presign(prov, t->bucket, key, method, (unsigned)ttl, &url, &err);
	if (rc)
		fprintf(stderr, "objfs-ctl: presign: %s\n", err.msg[0] ? err.msg : strerror(-rc));
	else
		printf("%s\n", url);
	free(url);
	objfs_prov_free(prov);
	return rc ? 1 : 0;
}

static int cmd_health(const struct objfs_config *cfg)
{
	int bad = 0;

	for (size_t i = 0; i < cfg->ntenants; i++) {
		const struct objfs_tenant_conf *t = &cfg->tenants[i];
		struct objfs_prov *prov = NULL;
		struct objfs_health h;
		struct objfs_err err;
		int rc;

		if (open_tenant_provider(cfg, t, &prov)) {
			bad = 1;
			continue;
		}
		memset(&h, 0, sizeof(h));
		rc = objfs_prov_health(prov, t->bucket, &h, &err);
		if (rc) {
			printf("tenant %s: provider %s: error: %s\n", t->name, t->provider,
			       err.msg[0] ? err.msg : strerror(-rc));
			bad = 1;
		} else {
			printf("tenant %s: provider %s bucket %s: %s (%.0f ms) %s\n", t->name,
			       t->provider, t->bucket, health_name(h.state), h.latency_s * 1000,
			       h.detail);
			bad |= h.state != OBJFS_HEALTH_OK;
		}
		objfs_prov_free(prov);
	}
	return bad;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = NULL, *env;
	struct objfs_config *cfg = NULL;
	char errbuf[1024];
	int opt, status;

	while ((opt = getopt_long(argc, argv, "+c:s:hV", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config = optarg;
			break;
		case 's':
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("objfs-ctl %s\n", OBJFS_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	if (!config) {
		fprintf(stderr, "objfs-ctl: %s: the control socket is not implemented in this"
			" version; use --config FILE\n", argv[optind]);
		return 2;
	}
	if ((env = getenv("OBJFS_CTL_CLOCK_OFFSET")))
		clock_offset = strtol(env, NULL, 10);
	objfs_log_set_level(OBJFS_LOG_WARN);
	if (objfs_config_load(config, &cfg, errbuf, sizeof(errbuf))) {
		fprintf(stderr, "objfs-ctl: %s\n", errbuf);
		return 1;
	}
	if (!strcmp(argv[optind], "presign")) {
		status = cmd_presign(cfg, argc - optind, argv + optind);
	} else if (!strcmp(argv[optind], "health")) {
		status = cmd_health(cfg);
	} else {
		fprintf(stderr, "objfs-ctl: unknown command %s\n", argv[optind]);
		usage(stderr);
		status = 2;
	}
	objfs_config_free(cfg);
	return status;
}
