#include "observer.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obs/log.h"

#define MAX_METHODS 32 // every method of every service propertyd serves, plus "unknown"

struct method_series {
	const char *name;
	_Atomic(obs_counter *) by_code[NRPC_CODE_COUNT];
	obs_histogram *latency;
};

struct app_observer {
	obs_registry *reg;
	bool log_requests;
	size_t n;
	struct method_series m[MAX_METHODS];
};

app_observer *app_observer_create(obs_registry *reg, const char *const *methods, size_t n,
                                  bool log_requests)
{
	app_observer *o = calloc(1, sizeof(*o));
	if (o == NULL)
		return NULL;
	o->reg = reg;
	o->log_requests = log_requests;
	if (n > MAX_METHODS - 1)
		n = MAX_METHODS - 1;
	char labels[320], esc[256];
	for (size_t i = 0; i <= n; i++) {
		o->m[i].name = i < n ? methods[i] : "unknown";
		snprintf(labels, sizeof(labels), "method=\"%s\"",
		         obs_label_escape(o->m[i].name, esc, sizeof(esc)));
		o->m[i].latency = obs_histogram_get(reg, "propertyd_request_duration_seconds",
		                                    "RPC latency from receive to reply", labels,
		                                    obs_latency_bounds, obs_latency_bounds_n);
	}
	o->n = n + 1;
	return o;
}

void app_observer_destroy(app_observer *o)
{
	free(o);
}

static struct method_series *find(app_observer *o, const nrpc_call_summary *s)
{
	if (s->known_method)
		for (size_t i = 0; i + 1 < o->n; i++)
			if (strcmp(o->m[i].name, s->method) == 0)
				return &o->m[i];
	return &o->m[o->n - 1];
}

void app_observer_on_call(const nrpc_call_summary *s, void *arg)
{
	app_observer *o = arg;
	struct method_series *ms = find(o, s);
	unsigned code = s->code < NRPC_CODE_COUNT ? s->code : NRPC_UNKNOWN;
	obs_counter *c = atomic_load_explicit(&ms->by_code[code], memory_order_acquire);
	if (c == NULL) {
		char labels[320], esc[256];
		snprintf(labels, sizeof(labels), "method=\"%s\",code=\"%u\"",
		         obs_label_escape(ms->name, esc, sizeof(esc)), code);
		c = obs_counter_get(o->reg, "propertyd_requests_total",
		                    "RPC requests by method and status code", labels);
		atomic_store_explicit(&ms->by_code[code], c, memory_order_release);
	}
	obs_counter_add(c, 1);
	obs_histogram_observe(ms->latency, (double)s->duration_us / 1e6);

	obs_level lvl =
	    s->code == NRPC_INTERNAL || s->code == NRPC_UNKNOWN || s->code == NRPC_DATA_LOSS
	        ? OBS_ERROR
	        : OBS_INFO;
	if (!o->log_requests && lvl == OBS_INFO)
		return;
	OBS_LOG(lvl, "rpc", OBS_S("method", ms->name), OBS_I("code", s->code),
	        OBS_S("status", nrpc_code_name(s->code)), OBS_I("duration_us", s->duration_us),
	        OBS_S("request_id", s->request_id), OBS_S("traceparent", s->traceparent),
	        OBS_S("peer", s->peer), OBS_S("error", s->code ? s->message : NULL));
}
