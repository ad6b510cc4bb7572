/*
 * objfs-ctl doctor: checks a setup and says how to fix what is wrong.
 *
 * One line per check, "STATUS  CHECK: what was checked", where STATUS is
 * ok, FAIL, warn or skip, and every FAIL (and warn) ends with "; fix: ...";
 * a last line "doctor: N failed, M warnings" sums up.  --json prints {"ok": BOOL, "failures": N, "warnings": N, "checks": [{"status",
 * "check", "detail", "fix"}]} instead.  Exit 0 when nothing FAILed, 1 otherwise,
 * 2 on bad usage.
 *
 * The checks, in order:
 *   fuse          /dev/fuse exists and opens read/write; fusermount3 in PATH
 *   config        the configuration loads (its one-line error otherwise)
 *   credentials   every credentials file (providers' credentials, tenants'
 *                 sse_customer_key) is a regular file, owner-only, owned by
 *                 the running user or root.  The paths come from the loaded
 *                 configuration, or from a plain INI scan of the file when it
 *                 does not load (a 0644 file is one reason it does not).
 *   provider      each (provider, bucket) pair a tenant uses: reachable,
 *                 credentials accepted, bucket exists, clocks agree
 *                 (objfs_prov_health tells these apart)
 *   clock         our clock against each remote endpoint's Date header
 *   mount         the mount point exists and objfs is mounted there
 *   socket        the control socket answers /v1/health
 *   presign       a round trip: PUT a small probe object through a presigned
 *                 URL, GET it back through another, compare, delete it.
 *                 Through the daemon's socket when it answers, else straight
 *                 from the providers (not for local ones, whose URLs only the
 *                 daemon serves).
 *
 * OBJFS_CTL_CLOCK_OFFSET moves our clock (signing and the clock check), for
 * tests.  Nothing here prints a secret: credentials files are stat'ed, never
 * shown, and the providers' messages carry none.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <ini.h>
#include <jansson.h>

#include "objfs/provider.h"
#include "config.h"
#include "ctl.h"
#include "log.h"


#define DOC_DEFAULT_CONFIG "/etc/objfs/objfs.conf"
#define DOC_DEFAULT_SOCKET "/run/objfs/ctl.sock"
#define DOC_SKEW_FAIL_S    900     /* S3 refuses requests 15 minutes off */
#define DOC_SKEW_WARN_S    30
#define DOC_HTTP_TIMEOUT   30L
#define DOC_PROBE_MAX      4096    /* bytes of a probe object we read back */
#define DOC_MAX_CREDS      64
#define DOC_MAX_PAIRS      256

struct doc_cred {
	char what[96];            /* "provider main credentials" */
	char path[PATH_MAX];
};

/* A (provider, bucket) pair some tenant uses, and what its probe said. */
struct doc_pair {
	const struct objfs_provider_section *ps;
	const struct objfs_tenant_conf *tenant;   /* the first tenant using it */
	int probed_ok;
};

struct doc {
	int json;
	json_t *checks;                  /* with --json */
	int nfail, nwarn;
	const char *config_path;
	struct objfs_config *cfg;        /* NULL when it does not load */
	const char *sock;
	struct objfs_prov **provs;       /* open providers, by index in cfg->providers */
	struct doc_pair pairs[DOC_MAX_PAIRS];
	size_t npairs;
	/* The control socket's answer to /v1/health (NULL: no answer). */
	json_t *health;
	char sock_err[512];
	int sock_rc;
	/* From a plain scan of a file that does not load ("" if absent). */
	char raw_sock[PATH_MAX];
	char raw_mnt[PATH_MAX];
	int mounted;                     /* objfs is mounted at the mount point */
	char mountpoint[PATH_MAX];       /* "" when unknown */
};

/* Prints (or records) one check.  fix may be NULL (ok and skip). */
static void __attribute__((format(printf, 5, 6)))
doc_report(struct doc *d, const char *status, const char *check, const char *fix,
	   const char *fmt, ...)
{
	char detail[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	if (!strcmp(status, "FAIL"))
		d->nfail++;
	else if (!strcmp(status, "warn"))
		d->nwarn++;
	if (d->json) {
		json_t *c = json_pack("{s:s, s:s, s:s}", "status", status, "check", check,
				      "detail", detail);

		if (c && fix)
			json_object_set_new(c, "fix", json_string(fix));
		if (c)
			json_array_append_new(d->checks, c);
		return;
	}
	printf("%-4s  %s: %s%s%s\n", status, check, detail, fix ? "; fix: " : "", fix ? fix : "");
	fflush(stdout);
}

/* ---- FUSE ---- */

static void doc_fuse(struct doc *d)
{
	static const char def_path[] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	const char *path = getenv("PATH");
	char found[PATH_MAX] = "", *dirs = NULL, *save = NULL, *dir;
	struct stat sb;
	int fd;

	if (stat("/dev/fuse", &sb) != 0) {
		doc_report(d, "FAIL", "fuse", "modprobe fuse (and apt-get install fuse3)",
			   "/dev/fuse: %s", strerror(errno));
	} else if (!S_ISCHR(sb.st_mode)) {
		doc_report(d, "FAIL", "fuse", "rm /dev/fuse && modprobe fuse",
			   "/dev/fuse is not a character device");
	} else if ((fd = open("/dev/fuse", O_RDWR | O_CLOEXEC)) < 0) {
		doc_report(d, "FAIL", "fuse",
			   errno == EACCES ? "chmod 666 /dev/fuse, or run objfs as root"
					   : "modprobe fuse",
			   "/dev/fuse does not open read/write: %s", strerror(errno));
	} else {
		close(fd);
		doc_report(d, "ok", "fuse", NULL, "/dev/fuse opens read/write");
	}

	dirs = strdup(path && *path ? path : def_path);
	for (dir = dirs ? strtok_r(dirs, ":", &save) : NULL; dir; dir = strtok_r(NULL, ":", &save)) {
		snprintf(found, sizeof(found), "%s/fusermount3", *dir ? dir : ".");
		if (access(found, X_OK) == 0)
			break;
		found[0] = '\0';
	}
	free(dirs);
	if (!found[0])
		doc_report(d, "FAIL", "fusermount3", "apt-get install fuse3",
			   "fusermount3 is not in PATH (unmounting needs it)");
	else if (geteuid() != 0 && stat(found, &sb) == 0 && !(sb.st_mode & S_ISUID))
		doc_report(d, "warn", "fusermount3", "chmod u+s %s, or run objfs as root",
			   "%s is not setuid root: only root can mount", found);
	else
		doc_report(d, "ok", "fusermount3", NULL, "%s", found);
}

/* ---- configuration ---- */

static void doc_config(struct doc *d)
{
	char errbuf[1024], fix[PATH_MAX + 64];

	if (objfs_config_load(d->config_path, &d->cfg, errbuf, sizeof(errbuf)) == 0) {
		doc_report(d, "ok", "config", NULL, "%s loads: %zu providers, %zu tenants",
			   d->config_path, d->cfg->nproviders, d->cfg->ntenants);
		return;
	}
	d->cfg = NULL;
	if (access(d->config_path, F_OK) != 0)
		snprintf(fix, sizeof(fix), "write one with `objfs-ctl onboard`, or pass --config FILE");
	else
		snprintf(fix, sizeof(fix), "edit %s (see docs/configuration.md)", d->config_path);
	doc_report(d, "FAIL", "config", fix, "%s", errbuf);
}

/* ---- credentials files ---- */

struct doc_scan {
	struct doc *d;
	struct doc_cred *creds;
	size_t n;
};

/* inih handler of the plain scan: collects credentials and sse_customer_key,
 * and [objfs] control_socket and mountpoint for the later checks. */
static int doc_scan_line(void *user, const char *section, const char *name, const char *value)
{
	struct doc_scan *s = user;

	if (!strcmp(section, "objfs") && value && *value) {
		if (!strcmp(name, "control_socket"))
			snprintf(s->d->raw_sock, sizeof(s->d->raw_sock), "%s", value);
		else if (!strcmp(name, "mountpoint"))
			snprintf(s->d->raw_mnt, sizeof(s->d->raw_mnt), "%s", value);
		return 1;
	}
	if (strcmp(name, "credentials") && strcmp(name, "sse_customer_key"))
		return 1;
	if (s->n >= DOC_MAX_CREDS || !value || !*value)
		return 1;
	snprintf(s->creds[s->n].what, sizeof(s->creds[s->n].what), "[%.60s] %s", section, name);
	snprintf(s->creds[s->n].path, sizeof(s->creds[s->n].path), "%s", value);
	s->n++;
	return 1;
}

/* The credentials files of the configuration into creds; how many, or -1
 * when the configuration file cannot be read at all. */
static int doc_cred_list(struct doc *d, struct doc_cred *creds)
{
	struct doc_scan s = { d, creds, 0 };

	if (!d->cfg) {
		/* The file did not load: read the paths without checking the rest. */
		if (ini_parse(d->config_path, doc_scan_line, &s) == -1)
			return -1;
		return (int)s.n;
	}
	for (size_t i = 0; i < d->cfg->nproviders && s.n < DOC_MAX_CREDS; i++) {
		const struct objfs_provider_conf *pc = &d->cfg->providers[i].conf;

		if (!pc->credentials)
			continue;
		snprintf(creds[s.n].what, sizeof(creds[s.n].what), "[provider %.60s] credentials",
			 pc->name);
		snprintf(creds[s.n].path, sizeof(creds[s.n].path), "%s", pc->credentials);
		s.n++;
	}
	for (size_t i = 0; i < d->cfg->ntenants && s.n < DOC_MAX_CREDS; i++) {
		const struct objfs_tenant_conf *t = &d->cfg->tenants[i];

		if (!t->sse_customer_key)
			continue;
		snprintf(creds[s.n].what, sizeof(creds[s.n].what), "[tenant %.60s] sse_customer_key",
			 t->name);
		snprintf(creds[s.n].path, sizeof(creds[s.n].path), "%s", t->sse_customer_key);
		s.n++;
	}
	return (int)s.n;
}

static void doc_credentials(struct doc *d)
{
	struct doc_cred *creds = calloc(DOC_MAX_CREDS, sizeof(*creds));
	uid_t me = geteuid();
	char fix[PATH_MAX + 64];
	int n;

	if (!creds) {
		doc_report(d, "FAIL", "credentials", NULL, "out of memory");
		return;
	}
	n = doc_cred_list(d, creds);
	if (n < 0)
		doc_report(d, "skip", "credentials", NULL, "cannot read %s", d->config_path);
	else if (n == 0)
		doc_report(d, "skip", "credentials", NULL, "no credentials files in %s",
			   d->config_path);
	for (int i = 0; i < n; i++) {
		const char *p = creds[i].path;
		struct stat sb;
		int fd;

		if (stat(p, &sb) != 0) {
			snprintf(fix, sizeof(fix), "create %s (chmod 600) or fix %s", p, creds[i].what);
			doc_report(d, "FAIL", "credentials", fix, "%s %s: %s", creds[i].what, p,
				   strerror(errno));
		} else if (!S_ISREG(sb.st_mode)) {
			snprintf(fix, sizeof(fix), "point %s at a regular file", creds[i].what);
			doc_report(d, "FAIL", "credentials", fix, "%s %s is not a regular file",
				   creds[i].what, p);
		} else if (sb.st_mode & 077) {
			snprintf(fix, sizeof(fix), "chmod 600 %s", p);
			doc_report(d, "FAIL", "credentials", fix,
				   "%s %s has mode %04o: group or others may read it",
				   creds[i].what, p, (unsigned)(sb.st_mode & 07777));
		} else if (sb.st_uid != me && sb.st_uid != 0) {
			struct passwd *pw = getpwuid(me);

			snprintf(fix, sizeof(fix), "chown %s %s", pw ? pw->pw_name : "root", p);
			doc_report(d, "FAIL", "credentials", fix,
				   "%s %s is owned by uid %u, neither you (uid %u) nor root",
				   creds[i].what, p, (unsigned)sb.st_uid, (unsigned)me);
		} else if ((fd = open(p, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0) {
			doc_report(d, "warn", "credentials", "run doctor as the user objfs runs as",
				   "%s %s: owner-only, but not readable by uid %u: %s",
				   creds[i].what, p, (unsigned)me, strerror(errno));
		} else {
			close(fd);
			doc_report(d, "ok", "credentials", NULL, "%s %s: mode %04o, owner uid %u",
				   creds[i].what, p, (unsigned)(sb.st_mode & 07777),
				   (unsigned)sb.st_uid);
		}
	}
	free(creds);
}

/* ---- providers ---- */

/* The endpoint a provider talks to, for messages and the clock check. */
static void doc_endpoint(const struct objfs_provider_conf *pc, char *out, size_t len)
{
	if (pc->endpoint)
		snprintf(out, len, "%s", pc->endpoint);
	else if (!strcmp(pc->type, "s3"))
		snprintf(out, len, "https://s3.%s.amazonaws.com", pc->region ? pc->region : "us-east-1");
	else if (!strcmp(pc->type, "gcs"))
		snprintf(out, len, "https://storage.googleapis.com");
	else if (!strcmp(pc->type, "azure") && pc->account)
		snprintf(out, len, "https://%s.blob.core.windows.net", pc->account);
	else
		out[0] = '\0';
}

/* The provider of index i, opened once; NULL when it does not open (err set). */
static struct objfs_prov *doc_prov(struct doc *d, size_t i, struct objfs_err *err)
{
	struct objfs_provider_conf pc;

	memset(err, 0, sizeof(*err));
	if (d->provs[i])
		return d->provs[i];
	pc = d->cfg->providers[i].conf;
	if (ctl_clock_offset())
		pc.clock = ctl_clock;
	if (objfs_prov_open(&pc, &d->provs[i], err) < 0) {
		if (!err->msg[0])
			snprintf(err->msg, sizeof(err->msg), "cannot open the provider");
		d->provs[i] = NULL;
	}
	return d->provs[i];
}

/* How to create bucket b of provider pc, as a fix line. */
static void doc_bucket_fix(const struct objfs_provider_conf *pc, const char *b, char *fix,
			   size_t len)
{
	if (!strcmp(pc->type, "local"))
		snprintf(fix, len, "create the bucket with `mkdir -m 700 %s/%s`", pc->root, b);
	else if (!strcmp(pc->type, "s3") && pc->endpoint)
		snprintf(fix, len, "create the bucket with `aws s3 mb s3://%s --endpoint-url %s`", b,
			 pc->endpoint);
	else if (!strcmp(pc->type, "s3"))
		snprintf(fix, len, "create the bucket with `aws s3 mb s3://%s --region %s`", b,
			 pc->region ? pc->region : "us-east-1");
	else if (!strcmp(pc->type, "gcs"))
		snprintf(fix, len, "create the bucket with `gcloud storage buckets create gs://%s`", b);
	else if (!strcmp(pc->type, "azure"))
		snprintf(fix, len, "create the container with `az storage container create --name %s "
			 "--account-name %s`", b, pc->account ? pc->account : "ACCOUNT");
	else
		snprintf(fix, len, "create the bucket %s", b);
}

static size_t doc_prov_index(const struct doc *d, const struct objfs_provider_section *ps)
{
	return (size_t)(ps - d->cfg->providers);
}

static void doc_providers(struct doc *d)
{
	char check[128], ep[512], fix[PATH_MAX + 256], where[PATH_MAX + 640];

	if (!d->cfg) {
		doc_report(d, "skip", "provider", NULL, "the configuration did not load");
		return;
	}
	/* The pairs, in tenant order. */
	for (size_t i = 0; i < d->cfg->ntenants && d->npairs < DOC_MAX_PAIRS; i++) {
		const struct objfs_tenant_conf *t = &d->cfg->tenants[i];
		const struct objfs_provider_section *ps = objfs_config_provider(d->cfg, t->provider);
		size_t k;

		for (k = 0; k < d->npairs; k++)
			if (d->pairs[k].ps == ps && !strcmp(d->pairs[k].tenant->bucket, t->bucket))
				break;
		if (k == d->npairs && ps) {
			d->pairs[d->npairs].ps = ps;
			d->pairs[d->npairs].tenant = t;
			d->npairs++;
		}
	}
	for (size_t i = 0; i < d->cfg->nproviders; i++) {
		int used = 0;

		for (size_t k = 0; k < d->npairs; k++)
			used |= d->pairs[k].ps == &d->cfg->providers[i];
		if (!used)
			doc_report(d, "skip", "provider", NULL, "%s: no tenant uses it",
				   d->cfg->providers[i].conf.name);
	}
	for (size_t k = 0; k < d->npairs; k++) {
		const struct objfs_provider_conf *pc = &d->pairs[k].ps->conf;
		const char *b = d->pairs[k].tenant->bucket;
		struct objfs_prov *prov;
		struct objfs_health h;
		struct objfs_err err;
		struct stat sb;
		int rc;

		snprintf(check, sizeof(check), "provider %s", pc->name);
		doc_endpoint(pc, ep, sizeof(ep));
		/* Opening a local provider creates its root: say it is missing instead. */
		if (!strcmp(pc->type, "local") && stat(pc->root, &sb) != 0) {
			snprintf(fix, sizeof(fix), "mkdir -p -m 700 %s", pc->root);
			doc_report(d, "FAIL", check, fix, "local root %s: %s", pc->root, strerror(errno));
			continue;
		}
		prov = doc_prov(d, doc_prov_index(d, d->pairs[k].ps), &err);
		if (!prov) {
			snprintf(fix, sizeof(fix), "check [provider %s] in %s%s%s", pc->name,
				 d->config_path, pc->credentials ? " and " : "",
				 pc->credentials ? pc->credentials : "");
			doc_report(d, "FAIL", check, fix, "%s: %s", pc->type, err.msg);
			continue;
		}
		memset(&h, 0, sizeof(h));
		rc = objfs_prov_health(prov, b, &h, &err);
		if (rc < 0) {
			snprintf(fix, sizeof(fix), "check [provider %s] in %s", pc->name, d->config_path);
			doc_report(d, "FAIL", check, fix, "bucket %s: probe failed: %s", b,
				   err.msg[0] ? err.msg : strerror(-rc));
			continue;
		}
		/* "s3 http://host:port bucket B" / "local /root bucket B" */
		snprintf(where, sizeof(where), "%s %s bucket %s", pc->type,
			 !strcmp(pc->type, "local") ? pc->root : ep, b);
		switch (h.state) {
		case OBJFS_HEALTH_OK:
			d->pairs[k].probed_ok = 1;
			if (!strcmp(pc->type, "local"))
				doc_report(d, "ok", check, NULL, "%s: root writable, bucket exists", where);
			else
				doc_report(d, "ok", check, NULL, "%s: reachable, credentials accepted, "
					   "bucket exists (%.0f ms)", where, h.latency_s * 1000);
			continue;
		case OBJFS_HEALTH_UNREACHABLE:
			if (!strcmp(pc->type, "local"))
				snprintf(fix, sizeof(fix), "make %s writable by the user objfs runs as",
					 pc->root);
			else
				snprintf(fix, sizeof(fix), "check endpoint %s in [provider %s] and that "
					 "the store is up (curl -sI %s)", ep, pc->name, ep);
			break;
		case OBJFS_HEALTH_AUTH:
			snprintf(fix, sizeof(fix), "check the access key and secret in %s",
				 pc->credentials ? pc->credentials : "the credentials file");
			break;
		case OBJFS_HEALTH_NO_BUCKET:
			doc_bucket_fix(pc, b, fix, sizeof(fix));
			break;
		case OBJFS_HEALTH_CLOCK_SKEW:
			snprintf(fix, sizeof(fix), "sync the clock (chrony)");
			break;
		case OBJFS_HEALTH_DEGRADED:
			snprintf(fix, sizeof(fix), "%s", !strcmp(pc->type, "local") ?
				 "free space on the store's file system" : "check the store");
			break;
		}
		doc_report(d, h.state == OBJFS_HEALTH_DEGRADED ? "warn" : "FAIL", check, fix,
			   "%s: %s: %s (tenant %s)", where, objfs_health_state_name(h.state), h.detail,
			   d->pairs[k].tenant->name);
	}
}

/* ---- clock ---- */

struct doc_date {
	time_t date;
};

static size_t doc_date_header(char *buf, size_t size, size_t n, void *user)
{
	struct doc_date *dd = user;
	size_t len = size * n;
	char line[256];

	if (len > 5 && len < sizeof(line) && !strncasecmp(buf, "date:", 5)) {
		memcpy(line, buf + 5, len - 5);
		line[len - 5] = '\0';
		dd->date = curl_getdate(line, NULL);
	}
	return len;
}

static size_t doc_discard(char *buf, size_t size, size_t n, void *user)
{
	(void)buf;
	(void)user;
	return size * n;
}

/* The Date an endpoint answers with; -1 when it does not answer. */
static time_t doc_server_date(const char *url)
{
	struct doc_date dd = { -1 };
	CURL *c = curl_easy_init();

	if (!c)
		return -1;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, doc_date_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &dd);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, doc_discard);
	if (curl_easy_perform(c) != CURLE_OK)
		dd.date = -1;
	curl_easy_cleanup(c);
	return dd.date;
}

static void doc_clock(struct doc *d)
{
	char ep[512], seen[8][512];
	size_t nseen = 0;

	if (!d->cfg) {
		doc_report(d, "skip", "clock", NULL, "the configuration did not load");
		return;
	}
	for (size_t k = 0; k < d->npairs; k++) {
		const struct objfs_provider_conf *pc = &d->pairs[k].ps->conf;
		time_t srv, now;
		long skew;
		size_t i;

		if (!strcmp(pc->type, "local"))
			continue;
		doc_endpoint(pc, ep, sizeof(ep));
		for (i = 0; i < nseen; i++)
			if (!strcmp(seen[i], ep))
				break;
		if (i < nseen || !*ep)
			continue;
		if (nseen < sizeof(seen) / sizeof(seen[0]))
			snprintf(seen[nseen++], sizeof(seen[0]), "%s", ep);
		srv = doc_server_date(ep);
		now = ctl_clock();
		if (srv <= 0) {
			doc_report(d, "skip", "clock", NULL, "%s gave no Date to compare with", ep);
			continue;
		}
		skew = (long)(now - srv);
		if (labs(skew) > DOC_SKEW_FAIL_S)
			doc_report(d, "FAIL", "clock", "sync the clock (chrony)",
				   "our clock is %+ld s off %s's (more than %d s: requests are refused)",
				   skew, ep, DOC_SKEW_FAIL_S);
		else if (labs(skew) > DOC_SKEW_WARN_S)
			doc_report(d, "warn", "clock", "sync the clock (chrony)",
				   "our clock is %+ld s off %s's", skew, ep);
		else
			doc_report(d, "ok", "clock", NULL, "within %ld s of %s", labs(skew), ep);
	}
	if (nseen == 0)
		doc_report(d, "skip", "clock", NULL, "no remote provider to compare with");
}

/* ---- mount and control socket ---- */

/* Undoes the \ooo escapes of /proc/self/mountinfo in place. */
static void doc_unescape(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

/* The file-system type mounted at path ("" if none) into type. */
static void doc_mounted_type(const char *path, char *type, size_t len)
{
	char line[4096];
	FILE *f = fopen("/proc/self/mountinfo", "re");

	type[0] = '\0';
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *save = NULL, *tok, *mnt = NULL, *fstype = NULL;
		int field = 0, dash = 0;

		for (tok = strtok_r(line, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
			field++;
			if (field == 5)
				mnt = tok;
			if (dash) {
				fstype = tok;
				break;
			}
			if (field > 6 && !strcmp(tok, "-"))
				dash = 1;
		}
		if (!mnt || !fstype)
			continue;
		doc_unescape(mnt);
		if (!strcmp(mnt, path))   /* the last mount on top wins */
			snprintf(type, len, "%s", fstype);
	}
	fclose(f);
}

static void doc_socket_probe(struct doc *d)
{
	long status = 0;
	char *body = NULL;

	d->sock_rc = ctl_sock_request(d->sock, "GET", "/v1/health", NULL, 15, &status, &body,
				      d->sock_err, sizeof(d->sock_err));
	if (d->sock_rc == 0 && status != 200) {
		snprintf(d->sock_err, sizeof(d->sock_err), "%s answered /v1/health with HTTP %ld",
			 d->sock, status);
		d->sock_rc = -EPROTO;
	} else if (d->sock_rc == 0) {
		/* (json_is_object evaluates its argument twice: no call inside it) */
		d->health = json_loads(body, 0, NULL);
		if (!json_is_object(d->health)) {
			json_decref(d->health);
			d->health = NULL;
			snprintf(d->sock_err, sizeof(d->sock_err), "%s: /v1/health is not JSON",
				 d->sock);
			d->sock_rc = -EPROTO;
		}
	}
	free(body);
}

static void doc_mount(struct doc *d)
{
	const json_t *m = d->health ? json_object_get(d->health, "mount") : NULL;
	const char *mp = d->cfg ? d->cfg->mountpoint : d->raw_mnt[0] ? d->raw_mnt : NULL;
	char type[64], real[PATH_MAX], fix[PATH_MAX + 128];
	struct stat sb;

	if (!mp && json_is_string(json_object_get(m, "path")))
		mp = json_string_value(json_object_get(m, "path"));
	if (!mp) {
		doc_report(d, "skip", "mount", NULL, "no mountpoint in the configuration (it comes "
			   "from objfs's command line)");
		return;
	}
	snprintf(d->mountpoint, sizeof(d->mountpoint), "%s", mp);
	/* From mountinfo first: a stat of a hung FUSE mount would hang here. */
	doc_mounted_type(mp, type, sizeof(type));
	if (!type[0] && realpath(mp, real)) {
		doc_mounted_type(real, type, sizeof(type));
		if (type[0])
			snprintf(d->mountpoint, sizeof(d->mountpoint), "%s", real);
	}
	if (!strcmp(type, "fuse.objfs")) {
		d->mounted = 1;
		if (m && !json_is_true(json_object_get(m, "ok")))
			doc_report(d, "FAIL", "mount", "see the daemon's log; restart objfs",
				   "objfs is mounted at %s but not answering: %s", mp,
				   json_string_value(json_object_get(m, "detail")) ?
				   json_string_value(json_object_get(m, "detail")) : "");
		else
			doc_report(d, "ok", "mount", NULL, "objfs is mounted at %s", mp);
		return;
	}
	if (type[0]) {
		snprintf(fix, sizeof(fix), "umount %s, or choose another mountpoint", mp);
		doc_report(d, "FAIL", "mount", fix, "%s has a %s file system mounted, not objfs", mp,
			   type);
		return;
	}
	if (stat(mp, &sb) != 0) {
		snprintf(fix, sizeof(fix), "mkdir -p %s", mp);
		doc_report(d, "FAIL", "mount", fix, "mount point %s: %s", mp, strerror(errno));
	} else if (!S_ISDIR(sb.st_mode)) {
		doc_report(d, "FAIL", "mount", "set mountpoint to a directory",
			   "mount point %s is not a directory", mp);
	} else {
		snprintf(fix, sizeof(fix), "start it: objfs --config %s (or systemctl start objfs)",
			 d->config_path);
		doc_report(d, "warn", "mount", fix, "%s exists; objfs is not mounted there", mp);
	}
}

static void doc_socket(struct doc *d)
{
	const json_t *dm;

	if (d->sock_rc == 0) {
		dm = json_object_get(d->health, "daemon");
		if (json_is_true(json_object_get(d->health, "healthy")))
			doc_report(d, "ok", "socket", NULL, "%s answers: daemon pid %.0f, healthy",
				   d->sock, json_number_value(json_object_get(dm, "pid")));
		else
			doc_report(d, "warn", "socket", "see the failures above and `objfs-ctl health`",
				   "%s answers: daemon pid %.0f reports itself unhealthy", d->sock,
				   json_number_value(json_object_get(dm, "pid")));
		return;
	}
	if (d->sock_rc == -EACCES)
		doc_report(d, "warn", "socket", "ask an admin for the socket's group "
			   "(control_socket_group)", "%s", d->sock_err);
	else if (d->mounted)
		doc_report(d, "FAIL", "socket", "check control_socket in the configuration, or "
			   "pass --socket", "objfs is mounted but %s", d->sock_err);
	else
		doc_report(d, "warn", "socket", "start objfs", "%s", d->sock_err);
}

/* ---- presign round trip ---- */

struct doc_body {
	const char *data;   /* to send */
	size_t len, off;
	char got[DOC_PROBE_MAX];
	size_t gotlen;
	int overflow;
};

static size_t doc_read_cb(char *buf, size_t size, size_t n, void *user)
{
	struct doc_body *b = user;
	size_t k = size * n;

	if (k > b->len - b->off)
		k = b->len - b->off;
	memcpy(buf, b->data + b->off, k);
	b->off += k;
	return k;
}

static size_t doc_write_cb(char *buf, size_t size, size_t n, void *user)
{
	struct doc_body *b = user;
	size_t k = size * n;

	if (k > sizeof(b->got) - b->gotlen) {
		b->overflow = 1;
		return 0;
	}
	memcpy(b->got + b->gotlen, buf, k);
	b->gotlen += k;
	return k;
}

/* PUT data (put != 0) to, or GET into b->got from, a presigned URL.
 * 0 on a 2xx; else -EIO with a message in err. */
static int doc_fetch(const char *url, int put, struct doc_body *b, char *err, size_t errlen)
{
	struct curl_slist *hdrs = NULL;
	CURL *c = curl_easy_init();
	CURLcode cc;
	long status = 0;
	int rc = 0;

	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, DOC_HTTP_TIMEOUT);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, doc_write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
	if (put) {
		hdrs = curl_slist_append(hdrs, "Expect:");
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, doc_read_cb);
		curl_easy_setopt(c, CURLOPT_READDATA, b);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)b->len);
	}
	b->gotlen = 0;
	b->off = 0;
	cc = curl_easy_perform(c);
	if (cc != CURLE_OK) {
		snprintf(err, errlen, "%s failed: %s", put ? "PUT" : "GET",
			 b->overflow ? "answer too large" : curl_easy_strerror(cc));
		rc = -EIO;
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (status / 100 != 2) {
		snprintf(err, errlen, "%s answered HTTP %ld: %.120s", put ? "PUT" : "GET", status,
			 b->gotlen ? b->got : "");
		/* one line: the answer body may be XML over several */
		for (char *p = err; *p; p++)
			if (*p == '\n' || *p == '\r')
				*p = ' ';
		rc = -EIO;
	}
out:
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	return rc;
}

/* A presigned URL from the daemon, or NULL with err set. */
static char *doc_sock_presign(struct doc *d, const char *path, const char *method,
			      char *err, size_t errlen)
{
	json_t *req = json_pack("{s:s, s:s, s:i}", "path", path, "method", method, "ttl", 120);
	json_t *ans = NULL;
	char *reqtext = req ? json_dumps(req, JSON_COMPACT) : NULL, *body = NULL, *url = NULL;
	long status = 0;

	if (!reqtext) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (ctl_sock_request(d->sock, "POST", "/v1/presign", reqtext, 30, &status, &body,
			     err, errlen) < 0)
		goto out;
	ans = json_loads(body, 0, NULL);
	if (status != 200) {
		const char *m = json_string_value(json_object_get(ans, "error"));

		snprintf(err, errlen, "presign %s %s: %s%s", method, path,
			 status == 403 ? "not allowed: " : "", m ? m : "error from the daemon");
		goto out;
	}
	if (!json_is_string(json_object_get(ans, "url"))) {
		snprintf(err, errlen, "presign %s: the daemon's answer has no url", method);
		goto out;
	}
	url = strdup(json_string_value(json_object_get(ans, "url")));
out:
	json_decref(req);
	json_decref(ans);
	free(reqtext);
	free(body);
	return url;
}

/* The tenant configuration of name, or NULL. */
static const struct objfs_tenant_conf *doc_tenant(const struct doc *d, const char *name)
{
	for (size_t i = 0; d->cfg && i < d->cfg->ntenants; i++)
		if (!strcmp(d->cfg->tenants[i].name, name))
			return &d->cfg->tenants[i];
	return NULL;
}

/* Deletes the probe object key of tenant t (bucket/prefix from the
 * configuration) straight from its provider.  0 or a negative errno. */
static int doc_prov_delete(struct doc *d, const struct objfs_tenant_conf *t, const char *key,
			   char *err, size_t errlen)
{
	const struct objfs_provider_section *ps = t ? objfs_config_provider(d->cfg, t->provider) : NULL;
	struct objfs_prov *prov;
	struct objfs_err e;
	char full[OBJFS_KEY_MAX + 1];
	int rc;

	if (!ps) {
		snprintf(err, errlen, "the tenant is not in %s", d->config_path);
		return -ENOENT;
	}
	if (!(prov = doc_prov(d, doc_prov_index(d, ps), &e))) {
		snprintf(err, errlen, "%s", e.msg);
		return -EIO;
	}
	snprintf(full, sizeof(full), "%s%s", t->prefix, key);
	rc = objfs_prov_del(prov, t->bucket, full, &e);
	if (rc < 0)
		snprintf(err, errlen, "%s", e.msg[0] ? e.msg : strerror(-rc));
	return rc;
}

/* The round trip through the daemon: presign PUT, curl, presign GET, curl,
 * compare; the probe is then removed through the mount (so the daemon's
 * cache forgets it), else flushed and deleted with the provider. */
static void doc_presign_daemon(struct doc *d)
{
	char err[512], path[512], key[128], data[96], fix[256], *url = NULL, *body = NULL;
	const char *tenant = NULL, *cleanup = "";
	json_t *ans = NULL, *ts, *t;
	struct doc_body b;
	long status = 0;
	size_t i;

	if (ctl_sock_request(d->sock, "GET", "/v1/tenants", NULL, 30, &status, &body, err,
			     sizeof(err)) < 0 || status != 200) {
		if (status)
			snprintf(err, sizeof(err), "tenants: HTTP %ld", status);
		doc_report(d, "FAIL", "presign", "see `objfs-ctl tenants`", "%s", err);
		goto out;
	}
	ans = json_loads(body, 0, NULL);
	ts = json_object_get(ans, "tenants");
	json_array_foreach(ts, i, t) {
		const struct objfs_tenant_conf *tc;
		const char *name = json_string_value(json_object_get(t, "name"));

		if (!name || json_is_true(json_object_get(t, "read_only")))
			continue;
		/* SSE-C objects need key headers a plain URL does not carry. */
		tc = doc_tenant(d, name);
		if (tc && tc->sse && !strcmp(tc->sse, "customer"))
			continue;
		tenant = name;
		break;
	}
	if (!tenant) {
		doc_report(d, "skip", "presign", NULL, "no writable tenant you may access");
		goto out;
	}
	snprintf(key, sizeof(key), ".objfs-doctor-probe-%ld-%ld", (long)getpid(), (long)time(NULL));
	snprintf(path, sizeof(path), "%s/%s", tenant, key);
	snprintf(data, sizeof(data), "objfs doctor probe %ld %d\n", (long)time(NULL), rand());
	memset(&b, 0, sizeof(b));
	b.data = data;
	b.len = strlen(data);
	if (!(url = doc_sock_presign(d, path, "PUT", err, sizeof(err)))) {
		doc_report(d, "FAIL", "presign", "see the daemon's log", "%s", err);
		goto out;
	}
	if (doc_fetch(url, 1, &b, err, sizeof(err)) < 0) {
		snprintf(fix, sizeof(fix), "check that the URL's host is reachable from here%s",
			 strstr(url, "X-Objfs-Signature") ? " (the local provider's listen address)" : "");
		doc_report(d, "FAIL", "presign", fix, "%s: presigned %s", path, err);
		goto out;
	}
	free(url);
	if (!(url = doc_sock_presign(d, path, "GET", err, sizeof(err)))) {
		doc_report(d, "FAIL", "presign", "see the daemon's log", "%s", err);
		goto cleanup;
	}
	if (doc_fetch(url, 0, &b, err, sizeof(err)) < 0) {
		doc_report(d, "FAIL", "presign", "see the daemon's log", "%s: presigned %s", path, err);
		goto cleanup;
	}
	if (b.gotlen != b.len || memcmp(b.got, data, b.len)) {
		doc_report(d, "FAIL", "presign", "see the daemon's log",
			   "%s: GET returned %zu bytes that differ from the %zu PUT", path, b.gotlen,
			   b.len);
		goto cleanup;
	}
	cleanup = "ok";
cleanup:
	{
		char mpath[PATH_MAX + 512], derr[256] = "";
		int gone = 0;

		if (d->mounted && d->mountpoint[0]) {
			snprintf(mpath, sizeof(mpath), "%s/%s", d->mountpoint, path);
			gone = unlink(mpath) == 0 || errno == ENOENT;
		}
		if (!gone) {
			char *fb = NULL, *ft = NULL;
			json_t *fr = json_pack("{s:s, s:i}", "path", path, "timeout", 30);
			long fs = 0;

			/* Flushed first, or a pending upload would bring it back. */
			if (fr && (ft = json_dumps(fr, JSON_COMPACT)))
				ctl_sock_request(d->sock, "POST", "/v1/flush", ft, 60, &fs, &fb, derr,
						 sizeof(derr));
			json_decref(fr);
			free(ft);
			free(fb);
			gone = doc_prov_delete(d, doc_tenant(d, tenant), key, derr, sizeof(derr)) == 0;
		}
		if (!strcmp(cleanup, "ok") && gone)
			doc_report(d, "ok", "presign", NULL, "PUT and GET through the daemon's "
				   "presigned URLs of %s round trip (%zu bytes); probe deleted", path,
				   b.len);
		else if (!strcmp(cleanup, "ok"))
			doc_report(d, "warn", "presign", "delete it by hand",
				   "round trip of %s ok, but the probe could not be deleted: %s", path,
				   derr);
	}
out:
	free(url);
	free(body);
	json_decref(ans);
}

/* The round trip without a daemon, for a non-local provider. */
static void doc_presign_direct(struct doc *d)
{
	const struct objfs_tenant_conf *t = NULL;
	struct objfs_prov *prov = NULL;
	struct objfs_err e;
	struct doc_body b;
	char key[OBJFS_KEY_MAX + 1], data[96], err[512], *url = NULL;
	int have_local = 0, rc;

	for (size_t k = 0; k < d->npairs && !t; k++) {
		const struct objfs_tenant_conf *c = d->pairs[k].tenant;

		if (!strcmp(d->pairs[k].ps->conf.type, "local")) {
			have_local = 1;
			continue;
		}
		if (!d->pairs[k].probed_ok)
			continue;
		/* The pair's first tenant, or any writable one on the same pair. */
		for (size_t i = 0; i < d->cfg->ntenants; i++) {
			const struct objfs_tenant_conf *o = &d->cfg->tenants[i];

			if (!strcmp(o->provider, c->provider) && !strcmp(o->bucket, c->bucket) &&
			    !o->read_only && !(o->sse && !strcmp(o->sse, "customer"))) {
				t = o;
				prov = d->provs[doc_prov_index(d, d->pairs[k].ps)];
				break;
			}
		}
	}
	if (!t || !prov) {
		doc_report(d, "skip", "presign", NULL, "%s", have_local && d->npairs ?
			   "the local provider's URLs are served by the daemon, which does not answer" :
			   "no writable tenant on a provider that answered");
		return;
	}
	snprintf(key, sizeof(key), "%s.objfs-doctor-probe-%ld-%ld", t->prefix, (long)getpid(),
		 (long)time(NULL));
	snprintf(data, sizeof(data), "objfs doctor probe %ld %d\n", (long)time(NULL), rand());
	memset(&b, 0, sizeof(b));
	b.data = data;
	b.len = strlen(data);
	rc = objfs_prov_presign(prov, t->bucket, key, "PUT", 120, &url, &e);
	if (rc < 0) {
		doc_report(d, "FAIL", "presign", "check the provider's configuration",
			   "%s: presign PUT: %s", t->name, e.msg[0] ? e.msg : strerror(-rc));
		return;
	}
	rc = doc_fetch(url, 1, &b, err, sizeof(err));
	free(url);
	url = NULL;
	if (rc < 0) {
		doc_report(d, "FAIL", "presign", "check the endpoint and the clock",
			   "%s bucket %s: presigned %s", t->name, t->bucket, err);
		return;
	}
	rc = objfs_prov_presign(prov, t->bucket, key, "GET", 120, &url, &e);
	if (rc == 0)
		rc = doc_fetch(url, 0, &b, err, sizeof(err));
	else
		snprintf(err, sizeof(err), "presign GET: %s", e.msg[0] ? e.msg : strerror(-rc));
	free(url);
	if (rc < 0)
		doc_report(d, "FAIL", "presign", "check the endpoint and the clock",
			   "%s bucket %s: %s", t->name, t->bucket, err);
	else if (b.gotlen != b.len || memcmp(b.got, data, b.len))
		doc_report(d, "FAIL", "presign", "check the store",
			   "%s bucket %s: GET returned %zu bytes that differ from the %zu PUT",
			   t->name, t->bucket, b.gotlen, b.len);
	if (objfs_prov_del(prov, t->bucket, key, &e) < 0)
		doc_report(d, "warn", "presign", "delete it by hand", "probe %s/%s not deleted: %s",
			   t->bucket, key, e.msg);
	else if (rc == 0 && b.gotlen == b.len && !memcmp(b.got, data, b.len))
		doc_report(d, "ok", "presign", NULL, "PUT and GET through %s's presigned URLs "
			   "round trip (%zu bytes, without the daemon); probe deleted", t->name, b.len);
}

static void doc_presign(struct doc *d)
{
	if (d->sock_rc == 0)
		doc_presign_daemon(d);
	else if (d->cfg)
		doc_presign_direct(d);
	else
		doc_report(d, "skip", "presign", NULL, "no configuration and no daemon");
}

int ctl_doctor_main(const char *config_path, const char *socket_path, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct doc d;
	int opt, ret;

	memset(&d, 0, sizeof(d));
	optind = 1;
	while ((opt = getopt_long(argc, argv, "+j", opts, NULL)) != -1) {
		if (opt != 'j') {
			fprintf(stderr, "usage: objfs-ctl [--config FILE] doctor [--json]\n");
			return 2;
		}
		d.json = 1;
	}
	if (optind != argc) {
		fprintf(stderr, "objfs-ctl: doctor: unexpected argument %s\n", argv[optind]);
		return 2;
	}
	if (d.json && !(d.checks = json_array())) {
		fprintf(stderr, "objfs-ctl: out of memory\n");
		return 1;
	}
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	/* The providers' own warnings would interleave with the report. */
	objfs_log_set_level(OBJFS_LOG_ERROR);
	d.config_path = config_path ? config_path : DOC_DEFAULT_CONFIG;

	doc_fuse(&d);
	doc_config(&d);
	if (d.cfg && !(d.provs = calloc(d.cfg->nproviders + 1, sizeof(*d.provs)))) {
		fprintf(stderr, "objfs-ctl: out of memory\n");
		ret = 1;
		goto out;
	}
	doc_credentials(&d);
	doc_providers(&d);
	doc_clock(&d);
	d.sock = socket_path ? socket_path : d.cfg ? d.cfg->control_socket :
		 d.raw_sock[0] ? d.raw_sock : DOC_DEFAULT_SOCKET;
	doc_socket_probe(&d);
	doc_mount(&d);
	doc_socket(&d);
	doc_presign(&d);

	if (d.json) {
		json_t *o = json_pack("{s:b, s:i, s:i, s:O}", "ok", d.nfail == 0, "failures", d.nfail,
				      "warnings", d.nwarn, "checks", d.checks);
		char *s = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12)) : NULL;

		if (s)
			printf("%s\n", s);
		free(s);
		json_decref(o);
	} else {
		printf("doctor: %d failed, %d warning%s\n", d.nfail, d.nwarn, d.nwarn == 1 ? "" : "s");
	}
	ret = d.nfail ? 1 : 0;
out:
	for (size_t i = 0; d.provs && d.cfg && i < d.cfg->nproviders; i++)
		objfs_prov_free(d.provs[i]);
	free(d.provs);
	json_decref(d.health);
	json_decref(d.checks);
	objfs_config_free(d.cfg);
	return ret;
}
