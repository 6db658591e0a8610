// Prints a registry with one family of every type, escaped labels and odd
// values, for `promtool check metrics` (test obs_metrics_promtool).
#include "obs/metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
	obs_registry *r = obs_registry_create();
	char esc[128];
	char labels[256];
	char *text = NULL;

	obs_counter_add(obs_counter_get(r, "rpc_requests_total", "RPC requests by method and code.",
	                                "method=\"/property.v1.PropertyService/Get\",code=\"0\""),
	                42);
	snprintf(labels, sizeof(labels), "method=\"%s\",code=\"12\"",
	         obs_label_escape("/odd\"name\\with\nnewline\xFF", esc, sizeof(esc)));
	obs_counter_add(obs_counter_get(r, "rpc_requests_total", "ignored", labels), 1);
	obs_gauge_set(
	    obs_gauge_get(r, "db_pool_connections", "Pool connections by state.", "state=\"idle\""),
	    3);
	obs_gauge_set(obs_gauge_get(r, "db_pool_connections", "", "state=\"in_use\""), 1);
	obs_gauge_set(obs_gauge_get(r, "events_relay_lag_seconds", "Relay lag.", NULL), NAN);
	obs_histogram *h =
	    obs_histogram_get(r, "rpc_duration_seconds", "RPC latency.", "method=\"/x.Y/Z\"",
	                      obs_latency_bounds, obs_latency_bounds_n);
	obs_histogram_observe(h, 0.0003);
	obs_histogram_observe(h, 0.02);
	obs_histogram_observe(h, 42);

	obs_registry_render(r, &text);
	fputs(text, stdout);
	free(text);
	obs_registry_destroy(r);
	return 0;
}
