// it_http: /healthz, /readyz and /metrics (docs/contract.md section 7), and no
// secret or token in the logs.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define PROMTOOL "/usr/bin/promtool"

typedef struct ctx {
	h_proc p;
	char owner[96];
	char *auth;
} ctx;

static const char *const get_5 =
    "propertyd_requests_total{method=\"/property.v1.PropertyService/GetProperty\",code=\"5\"}";

static char *metrics(ctx *c)
{
	int st;
	char *body;
	if (h_http_get(c->p.http_addr, "/metrics", &st, &body) != 0) {
		H_FAIL("GET /metrics failed");
		return NULL;
	}
	H_CHECK(st == 200, "/metrics status %d", st);
	return body;
}

static void case_health_endpoints(void *arg)
{
	ctx *c = arg;
	static const char *const paths[] = {"/healthz", "/readyz"};
	for (int i = 0; i < 2; i++) {
		int st;
		char *body;
		int rc = h_http_get(c->p.http_addr, paths[i], &st, &body);
		H_CHECK(rc == 0 && st == 200, "GET %s: status %d", paths[i], st);
		free(body);
	}
}

// Every propertyd_requests_total sample line, for before/after comparison.
static void request_series(const char *body, char ***lines, size_t *n)
{
	*lines = NULL;
	*n = 0;
	const char *prefix = "propertyd_requests_total{";
	for (const char *l = body; l && *l;) {
		const char *end = strchr(l, '\n');
		size_t len = end ? (size_t)(end - l) : strlen(l);
		if (strncmp(l, prefix, strlen(prefix)) == 0) {
			*lines = realloc(*lines, (*n + 1) * sizeof(char *));
			(*lines)[(*n)++] = strndup(l, len);
		}
		l = end ? end + 1 : NULL;
	}
}

static double series_value(char **lines, size_t n, const char *series, bool *found)
{
	size_t sl = strlen(series);
	for (size_t i = 0; i < n; i++)
		if (strncmp(lines[i], series, sl) == 0 && lines[i][sl] == ' ') {
			*found = true;
			return strtod(lines[i] + sl + 1, NULL);
		}
	*found = false;
	return 0;
}

static void free_lines(char **lines, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
}

static void case_request_counter(void *arg)
{
	ctx *c = arg;
	char *b0 = metrics(c);
	if (b0 == NULL)
		return;
	H_CHECK(strstr(b0, "propertyd_requests_total") != NULL, "no propertyd_requests_total");
	char **l0, **l1;
	size_t n0, n1;
	request_series(b0, &l0, &n0);
	free(b0);

	unsigned code;
	Property__V1__Property *g =
	    h_get(c->p.cli, c->auth, "5e5e5e5e-1111-4222-8333-944444444444", &code);
	H_CHECK(code == 5, "Get of a missing id: code %u", code);
	if (g != NULL)
		protobuf_c_message_free_unpacked(&g->base, NULL);

	char *b1 = metrics(c);
	if (b1 == NULL) {
		free_lines(l0, n0);
		return;
	}
	request_series(b1, &l1, &n1);
	free(b1);
	bool f0, f1;
	double v0 = series_value(l0, n0, get_5, &f0);
	double v1 = series_value(l1, n1, get_5, &f1);
	H_CHECK(f1 && v1 == v0 + 1, "%s went from %g to %g (present before: %d), want +1", get_5,
	        v0, v1, f0);
	// Every other series of the family is unchanged.
	for (size_t i = 0; i < n1; i++) {
		const char *sp = strrchr(l1[i], ' ');
		if (sp == NULL)
			continue;
		char series[512];
		snprintf(series, sizeof(series), "%.*s", (int)(sp - l1[i]), l1[i]);
		if (strcmp(series, get_5) == 0)
			continue;
		bool f;
		double before = series_value(l0, n0, series, &f);
		H_CHECK(strtod(sp + 1, NULL) == before, "%s changed from %g to %s", series, before,
		        sp + 1);
	}
	free_lines(l0, n0);
	free_lines(l1, n1);
}

static void case_metric_families(void *arg)
{
	ctx *c = arg;
	// Creates move propertyd_properties_created_total by exactly the number made.
	char *b0 = metrics(c);
	double created0 = 0;
	if (b0 != NULL)
		h_metric(b0, "propertyd_properties_created_total", &created0);
	free(b0);
	for (int i = 0; i < 3; i++) {
		Property__V1__Property *p = h_create(c->p.cli, c->auth, "");
		if (p != NULL) {
			unsigned code;
			Property__V1__Property *g = h_get(c->p.cli, c->auth, p->id, &code);
			if (g != NULL)
				protobuf_c_message_free_unpacked(&g->base, NULL);
			protobuf_c_message_free_unpacked(&p->base, NULL);
		}
	}
	char *b = metrics(c);
	if (b == NULL)
		return;
	double created1 = 0;
	H_CHECK(h_metric(b, "propertyd_properties_created_total", &created1) &&
	            created1 == created0 + 3,
	        "propertyd_properties_created_total went from %g to %g, want +3", created0,
	        created1);
	// What the contract lists: per-method counts by code and latency histograms,
	// pool use and waits, cache hits and misses, events published, relay lag.
	static const char *const families[] = {
	    "propertyd_requests_total{",
	    "propertyd_request_duration_seconds_bucket{",
	    "propertyd_request_duration_seconds_count{",
	    "propertyd_db_pool_in_use",
	    "propertyd_db_pool_wait",
	    "propertyd_cache_requests_total{",
	    "result=\"hit\"",
	    "result=\"miss\"",
	    "propertyd_events_published_total",
	    "propertyd_relay_lag",
	    "propertyd_connections{listener=\"rpc\"}",
	    "# TYPE process_cpu_seconds_total counter",
	    "\nprocess_resident_memory_bytes ",
	    "\nprocess_open_fds ",
	    "\nprocess_max_fds ",
	    "\nprocess_start_time_seconds ",
	};
	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++)
		H_CHECK(strstr(b, families[i]) != NULL, "/metrics has no %s", families[i]);
	H_CHECK(strstr(b, "# TYPE propertyd_requests_total counter") != NULL,
	        "propertyd_requests_total is not typed as a counter");
	H_CHECK(strstr(b, "# TYPE propertyd_request_duration_seconds histogram") != NULL,
	        "propertyd_request_duration_seconds is not typed as a histogram");
	free(b);
}

static void case_promtool(void *arg)
{
	ctx *c = arg;
	if (access(PROMTOOL, X_OK) != 0) {
		H_FAIL("%s not found (scripts/lib/services.sh installs the prometheus package)",
		       PROMTOOL);
		return;
	}
	char *b = metrics(c);
	if (b == NULL)
		return;
	char path[256];
	snprintf(path, sizeof(path), "%s/metrics.txt", c->p.dir);
	FILE *f = fopen(path, "w");
	if (f == NULL) {
		H_FAIL("cannot write %s", path);
		free(b);
		return;
	}
	fputs(b, f);
	fclose(f);
	free(b);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), PROMTOOL " check metrics < '%s' 2>&1", path);
	FILE *pp = popen(cmd, "r");
	char out[4096] = "";
	size_t n = pp ? fread(out, 1, sizeof(out) - 1, pp) : 0;
	out[n] = '\0';
	int st = pp ? pclose(pp) : -1;
	H_CHECK(st == 0, "promtool check metrics failed (status %d):\n%s", st, out);
	unlink(path);
}

static void case_no_secrets_in_log(void *arg)
{
	ctx *c = arg;
	// Calls with a good, a bad and an expired token, so every path has logged.
	char *bad = h_bearer("wrong-secret-abcdef", c->owner, 600);
	char *expired = h_bearer(H_SECRET, c->owner, -100);
	const char *toks[] = {c->auth, bad, expired};
	for (int i = 0; i < 3; i++) {
		unsigned code;
		Property__V1__Property *g =
		    h_get(c->p.cli, toks[i], "5e5e5e5e-1111-4222-8333-944444444444", &code);
		if (g != NULL)
			protobuf_c_message_free_unpacked(&g->base, NULL);
	}
	char *log = h_read_log(&c->p);
	if (log == NULL) {
		H_FAIL("no log");
	} else {
		H_CHECK(strstr(log, H_SECRET) == NULL, "the secret appears in the log");
		for (int i = 0; i < 3; i++) {
			const char *tok = toks[i] + 7; // after "Bearer "
			const char *sig = strrchr(tok, '.');
			H_CHECK(strstr(log, tok) == NULL, "token #%d appears in the log", i);
			H_CHECK(sig == NULL || strlen(sig) < 10 || strstr(log, sig + 1) == NULL,
			        "token #%d's signature appears in the log", i);
		}
		H_CHECK(strstr(log, "Bearer ") == NULL, "a bearer value appears in the log");
		free(log);
	}
	free(bad);
	free(expired);
}

int main(int argc, char **argv)
{
	static const h_case cases[] = {
	    {"health_endpoints", case_health_endpoints},
	    {"request_counter", case_request_counter},
	    {"metric_families", case_metric_families},
	    {"promtool", case_promtool},
	    {"no_secrets_in_log", case_no_secrets_in_log},
	};
	int rc = h_init(argc, argv);
	if (rc != 0)
		return rc;
	ctx c;
	memset(&c, 0, sizeof(c));
	h_owner(c.owner, sizeof(c.owner), "http");
	c.auth = h_bearer(H_SECRET, c.owner, 600);
	// Log every request, at debug level: the most a log could leak.
	h_opts o = {.env = {"LOG_LEVEL=debug", "LOG_REQUESTS=1"}};
	if (h_start(&c.p, &o) == 0) {
		h_run_cases(cases, sizeof(cases) / sizeof(cases[0]), &c, argc, argv);
		rc = h_stop(&c.p);
		H_CHECK(rc == 0, "exit status after SIGTERM %d", rc);
	}
	h_cleanup(&c.p);
	free(c.auth);
	return h_status();
}
