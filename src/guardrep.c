/* Guardrail reports: see guardrep.h.  A small array, searched linearly:
 * reports are rare (each is a refusal somebody has to act on). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "guardrep.h"
#include "log.h"

struct report {
	char *tenant, *path, *reason;
	enum guardrep_kind kind;
	int64_t time;
};

static pthread_mutex_t gr_lock = PTHREAD_MUTEX_INITIALIZER;
static struct report *gr_v;          /* gr_lock */
static size_t gr_n, gr_cap;          /* gr_lock */

static const char *const kind_names[GUARDREP_KIND_COUNT] = {
	[GUARDREP_HELD_COMMIT] = "held_commit",
	[GUARDREP_PRESIGNED_UPLOAD] = "presigned_upload",
};

static void report_free(struct report *r)
{
	free(r->tenant);
	free(r->path);
	free(r->reason);
}

static void remove_at(size_t i)
{
	report_free(&gr_v[i]);
	memmove(&gr_v[i], &gr_v[i + 1], (gr_n - i - 1) * sizeof(*gr_v));
	gr_n--;
}

static size_t find(const char *tenant, const char *path, enum guardrep_kind kind)
{
	for (size_t i = 0; i < gr_n; i++)
		if (gr_v[i].kind == kind && !strcmp(gr_v[i].tenant, tenant) &&
		    !strcmp(gr_v[i].path, path))
			return i;
	return (size_t)-1;
}

void guardrep_add(const char *tenant, const char *path, enum guardrep_kind kind,
		  const char *reason)
{
	struct report r = { strdup(tenant), strdup(path), strdup(reason ? reason : ""), kind,
			    (int64_t)time(NULL) };
	size_t i;

	if (!r.tenant || !r.path || !r.reason) {
		report_free(&r);
		return;
	}
	pthread_mutex_lock(&gr_lock);
	if ((i = find(tenant, path, kind)) != (size_t)-1)
		remove_at(i);                     /* re-added at the end: newest */
	if (gr_n == GUARDREP_MAX) {
		log_warn("guardrail reports: %d kept, the oldest (%s/%s) is dropped",
			 GUARDREP_MAX, gr_v[0].tenant, gr_v[0].path);
		remove_at(0);
	}
	if (gr_n == gr_cap) {
		size_t cap = gr_cap ? gr_cap * 2 : 16;
		struct report *v = realloc(gr_v, cap * sizeof(*v));

		if (!v) {
			pthread_mutex_unlock(&gr_lock);
			report_free(&r);
			return;
		}
		gr_v = v;
		gr_cap = cap;
	}
	gr_v[gr_n++] = r;
	pthread_mutex_unlock(&gr_lock);
}

void guardrep_clear(const char *tenant, const char *path, enum guardrep_kind kind)
{
	size_t i;

	pthread_mutex_lock(&gr_lock);
	if ((i = find(tenant, path, kind)) != (size_t)-1)
		remove_at(i);
	pthread_mutex_unlock(&gr_lock);
}

json_t *guardrep_json(const char *tenant)
{
	json_t *arr = json_array();

	pthread_mutex_lock(&gr_lock);
	for (size_t i = 0; arr && i < gr_n; i++) {
		if (strcmp(gr_v[i].tenant, tenant))
			continue;
		if (json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:I}",
			"kind", kind_names[gr_v[i].kind], "path", gr_v[i].path,
			"reason", gr_v[i].reason, "time", (json_int_t)gr_v[i].time))) {
			json_decref(arr);
			arr = NULL;
		}
	}
	pthread_mutex_unlock(&gr_lock);
	return arr;
}
