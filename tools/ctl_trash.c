/*
 * objfs-ctl trash list|restore|purge: the daemon's trash (docs/trash.md)
 * through the control socket (POST /v1/trash/list, restore, purge).
 *
 * PATH is TENANT/PATH, an absolute path under the mount, or, with
 * --tenant T, a path inside tenant T.  Exit status: 0 done, 1 refused or
 * failed (the daemon's reason on stderr; a conflict on restore is 1 too),
 * 2 bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"

#define TRASH_TIMEOUT_S 600L      /* a restore of a large directory copies every file */

static void trash_usage(FILE *out)
{
	fprintf(out,
		"usage: objfs-ctl trash list [--tenant T] [--json] [PATH]\n"
		"       objfs-ctl trash restore [--tenant T] [--version ID] [--to NEWPATH] [--force]\n"
		"                               [--json] PATH\n"
		"       objfs-ctl trash purge [--tenant T] [--version ID] [--expired] [--json] [PATH]\n"
		"PATH: TENANT/PATH, a path under the mount, or a path in --tenant T; a directory\n"
		"names every file below it.  restore never replaces a live file without --force.\n");
}

/* The request path for arg: "T/arg" with --tenant, else arg.  NULL when out
 * of memory (printed). */
static char *trash_path(const char *tenant, const char *arg)
{
	char *s = NULL;

	if (!tenant)
		s = strdup(arg);
	else if (asprintf(&s, "%s/%s", tenant, arg + strspn(arg, "/")) < 0)
		s = NULL;
	if (!s)
		fprintf(stderr, "objfs-ctl: out of memory\n");
	return s;
}

/* Sends req to endpoint; *ans is the answer on 200.  0, or 1 with the
 * daemon's reason printed. */
static int trash_call(const char *sock, const char *endpoint, json_t *req, json_t **ans)
{
	char err[512], *text = json_dumps(req, JSON_COMPACT), *body = NULL;
	json_t *j = NULL;
	long status = 0;
	int rc;

	*ans = NULL;
	if (!text) {
		fprintf(stderr, "objfs-ctl: out of memory\n");
		return 1;
	}
	rc = ctl_sock_request(sock, "POST", endpoint, text, TRASH_TIMEOUT_S, &status, &body, err,
			      sizeof(err));
	free(text);
	if (rc < 0) {
		fprintf(stderr, "objfs-ctl: %s\n", err);
		return 1;
	}
	j = json_loads(body ? body : "", 0, NULL);
	free(body);
	if (status != 200 || !json_is_object(j)) {
		json_t *e = json_is_object(j) ? json_object_get(j, "error") : NULL;

		if (json_is_string(e))
			fprintf(stderr, "objfs-ctl: trash: %s%s\n",
				status == 403 ? "not allowed: " : "", json_string_value(e));
		else
			fprintf(stderr, "objfs-ctl: POST %s: HTTP %ld from the daemon\n", endpoint,
				status);
		json_decref(j);
		return 1;
	}
	*ans = j;
	return 0;
}

static void print_json(const json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));

	if (s)
		printf("%s\n", s);
	free(s);
}

static const char *when(const json_t *v, char *buf, size_t len)
{
	struct tm tm;
	time_t t;

	if (!json_is_number(v))
		return "never";
	t = (time_t)json_number_value(v);
	if (!localtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(buf, len, "%lld", (long long)t);
	return buf;
}

static const char *sget(const json_t *o, const char *k)
{
	const json_t *v = json_object_get(o, k);

	return json_is_string(v) ? json_string_value(v) : "?";
}

static void print_entries(const json_t *arr)
{
	const json_t *e;
	size_t i;
	char b1[32], b2[32], b3[32];

	json_array_foreach(arr, i, e) {
		printf("%s/%s  version %s  %" PRId64 " bytes  deleted %s  expires %s  mode %s  "
		       "mtime %s\n", sget(e, "tenant"), sget(e, "path"), sget(e, "version"),
		       (int64_t)json_integer_value(json_object_get(e, "size")),
		       when(json_object_get(e, "deleted"), b1, sizeof(b1)),
		       when(json_object_get(e, "expires"), b2, sizeof(b2)),
		       json_is_string(json_object_get(e, "mode")) ? sget(e, "mode") : "?",
		       json_is_number(json_object_get(e, "mtime"))
			       ? when(json_object_get(e, "mtime"), b3, sizeof(b3)) : "?");
	}
}

int ctl_trash_main(const char *sock, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tenant", required_argument, NULL, 't' },
		{ "version", required_argument, NULL, 'v' },
		{ "to", required_argument, NULL, 'o' },
		{ "force", no_argument, NULL, 'f' },
		{ "expired", no_argument, NULL, 'e' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *tenant = NULL, *version = NULL, *to = NULL, *sub;
	int force = 0, expired = 0, json = 0, opt, ret = 2;
	char *path = NULL, *topath = NULL;
	json_t *req = NULL, *ans = NULL;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		trash_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	sub = argv[1];
	if (strcmp(sub, "list") && strcmp(sub, "restore") && strcmp(sub, "purge")) {
		fprintf(stderr, "objfs-ctl: trash: unknown command %s (list, restore, purge)\n", sub);
		return 2;
	}
	argc--;
	argv++;
	optind = 0;              /* a full reset: options may follow PATH */
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 't': tenant = optarg; break;
		case 'v': version = optarg; break;
		case 'o': to = optarg; break;
		case 'f': force = 1; break;
		case 'e': expired = 1; break;
		case 'j': json = 1; break;
		case 'h': trash_usage(stdout); return 0;
		default: trash_usage(stderr); return 2;
		}
	}
	if (optind < argc - 1 || (!strcmp(sub, "restore") && optind != argc - 1)) {
		trash_usage(stderr);
		return 2;
	}
	if ((version && !strcmp(sub, "list")) || ((to || force) && strcmp(sub, "restore")) ||
	    (expired && strcmp(sub, "purge"))) {
		fprintf(stderr, "objfs-ctl: trash %s: option not valid here\n", sub);
		trash_usage(stderr);
		return 2;
	}
	if (version && optind == argc) {
		fprintf(stderr, "objfs-ctl: trash %s: --version needs the file's PATH\n", sub);
		return 2;
	}
	if (tenant && (!tenant[0] || strchr(tenant, '/'))) {
		fprintf(stderr, "objfs-ctl: --tenant %s: expected a tenant name\n", tenant);
		return 2;
	}
	ret = 1;
	req = json_object();
	if (!req)
		goto out;
	if (optind < argc) {
		if (!argv[optind][0]) {
			fprintf(stderr, "objfs-ctl: trash %s: empty PATH\n", sub);
			ret = 2;
			goto out;
		}
		if (!(path = trash_path(tenant, argv[optind])))
			goto out;
	} else if (tenant && !(path = strdup(tenant))) {
		goto out;
	}
	if (to && !(topath = trash_path(tenant, to)))
		goto out;
	if (path)
		json_object_set_new(req, "path", json_string(path));
	if (version)
		json_object_set_new(req, "version", json_string(version));
	if (topath)
		json_object_set_new(req, "to", json_string(topath));
	if (force)
		json_object_set_new(req, "force", json_true());
	if (expired)
		json_object_set_new(req, "expired", json_true());

	if (!strcmp(sub, "list")) {
		if (trash_call(sock, "/v1/trash/list", req, &ans))
			goto out;
		if (json)
			print_json(ans);
		else
			print_entries(json_object_get(ans, "entries"));
		if (!json && json_is_true(json_object_get(ans, "truncated")))
			fprintf(stderr, "objfs-ctl: trash list: more versions than shown; name a "
				"PATH to see the rest\n");
	} else if (!strcmp(sub, "restore")) {
		const json_t *e;
		size_t i;

		if (trash_call(sock, "/v1/trash/restore", req, &ans))
			goto out;
		if (json)
			print_json(ans);
		else
			json_array_foreach(json_object_get(ans, "entries"), i, e)
				printf("restored %s/%s (version %s)\n", sget(e, "tenant"),
				       sget(e, "path"), sget(e, "version"));
	} else {
		if (trash_call(sock, "/v1/trash/purge", req, &ans))
			goto out;
		if (json)
			print_json(ans);
		else
			printf("purged %" PRId64 " versions (%" PRId64 " bytes)\n",
			       (int64_t)json_integer_value(json_object_get(ans, "purged")),
			       (int64_t)json_integer_value(json_object_get(ans, "bytes")));
	}
	ret = 0;
out:
	free(path);
	free(topath);
	json_decref(req);
	json_decref(ans);
	return ret;
}
