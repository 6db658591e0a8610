// The JSON result document: see report.h and schema.json.
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "report.h"

// Points of the percentile curve: 0, 50, 75, 87.5, ... (halving the rest
// each time) up to 99.9999, and 100.
#define CURVE_STEPS 20

static double us(uint64_t ns)
{
	return (double)ns / 1000.0;
}

static json_t *latency(const pl_hist *h)
{
	return json_pack("{s:f,s:f,s:f,s:f,s:f,s:f,s:f}", "min", us(h->count ? h->min : 0), "mean",
	                 pl_hist_mean(h) / 1000.0, "p50", us(pl_hist_percentile(h, 50)), "p90",
	                 us(pl_hist_percentile(h, 90)), "p99", us(pl_hist_percentile(h, 99)),
	                 "p999", us(pl_hist_percentile(h, 99.9)), "max", us(h->max));
}

static json_t *curve(const pl_hist *h)
{
	json_t *a = json_array();
	double rest = 100.0;
	for (int i = 0; i <= CURVE_STEPS; i++) {
		double p = i == CURVE_STEPS ? 100.0 : 100.0 - rest;
		json_array_append_new(a, json_pack("[f,f]", p, us(pl_hist_percentile(h, p))));
		rest /= 2;
	}
	return a;
}

static json_t *opstats(const pl_opstats *o, double elapsed)
{
	uint64_t n = pl_opstats_total(o);
	json_t *codes = json_object();
	for (unsigned c = 0; c < PL_CODES; c++)
		if (o->codes[c])
			json_object_set_new(codes, pl_code_name(c),
			                    json_integer((json_int_t)o->codes[c]));
	return json_pack("{s:I,s:I,s:I,s:f,s:o,s:o,s:o}", "requests", (json_int_t)n, "ok",
	                 (json_int_t)o->codes[0], "errors", (json_int_t)(n - o->codes[0]),
	                 "throughput_rps", elapsed > 0 ? (double)n / elapsed : 0.0, "latency_us",
	                 latency(&o->lat), "codes", codes, "percentile_curve", curve(&o->lat));
}

static json_t *config(const pl_report_cfg *c, const pl_run *run)
{
	json_t *urls = json_array();
	for (size_t i = 0; i < c->nurls; i++)
		json_array_append_new(urls, json_string(c->urls[i]));
	json_t *mix = json_object();
	if (c->mix)
		for (int i = 0; i < PL_OP_COUNT; i++)
			if (c->mix->w[i])
				json_object_set_new(mix, pl_op_name((pl_op)i),
				                    json_integer(c->mix->w[i]));
	return json_pack(
	    "{s:s,s:i,s:f,s:f,s:I,s:f,s:i,s:o,s:o,s:o,s:I,s:s,s:f,s:i,s:o}", "mode",
	    c->rate > 0 ? "open" : "closed", "concurrency", (int)c->conc, "rate_rps", c->rate,
	    "duration_s", c->duration_s, "requests", (json_int_t)c->count, "warmup_s", c->warmup_s,
	    "timeout_ms", (int)c->timeout_ms, "urls", urls, "mix", mix, "call",
	    c->call ? json_string(c->call) : json_null(), "seed", (json_int_t)c->seed,
	    "key_distribution", c->key_dist ? c->key_dist : "uniform", "zipf_s", c->zipf_s,
	    "sockets", (int)run->sockets, "label", c->label ? json_string(c->label) : json_null());
}

static double mean_us(uint64_t sum_ns, uint64_t n)
{
	return n ? (double)sum_ns / (double)n / 1000.0 : 0.0;
}

static json_t *second_json(size_t i, const pl_second *t)
{
	return json_pack("{s:I,s:I,s:I,s:f,s:f,s:I,s:f,s:f}", "second", (json_int_t)i, "requests",
	                 (json_int_t)t->n, "errors", (json_int_t)t->errors, "latency_mean_us",
	                 mean_us(t->lat_sum_ns, t->n), "latency_max_us", us(t->lat_max_ns),
	                 "started", (json_int_t)t->started, "start_lag_mean_us",
	                 mean_us(t->lag_sum_ns, t->started), "start_lag_max_us", us(t->lag_max_ns));
}

// Every op together (op < 0), or one op.
static json_t *timeline(const pl_stats *s, int op)
{
	json_t *a = json_array();
	for (size_t i = 0; i < s->tl_len; i++) {
		pl_second all;
		if (op < 0)
			pl_stats_second_all(s, i, &all);
		json_array_append_new(
		    a, second_json(i, op < 0 ? &all : pl_stats_second(s, i, (pl_op)op)));
	}
	return a;
}

static json_t *harness(const pl_run *run)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	if (cores < 1)
		cores = 1;
	double cpu = run->wall_s > 0 ? (run->cpu_user_s + run->cpu_sys_s) / run->wall_s * 100 : 0;
	// Saturated: we used (nearly) every core; the numbers then measure us, not the server.
	bool saturated = cpu >= 90.0 * (double)cores;
	json_t *warn = json_array();
	char buf[256];
	if (saturated) {
		snprintf(
		    buf, sizeof buf,
		    "the harness used %.0f%% CPU of %ld cores: it is saturated and the results "
		    "understate the server",
		    cpu, cores);
		json_array_append_new(warn, json_string(buf));
	} else if (cpu >= 100.0 * (double)cores / 2) {
		snprintf(
		    buf, sizeof buf,
		    "the harness used %.0f%% CPU of %ld cores: it competes with the server for CPU",
		    cpu, cores);
		json_array_append_new(warn, json_string(buf));
	}
	if (run->unsent) {
		snprintf(buf, sizeof buf,
		         "%llu calls were never sent: the open-loop backlog overflowed",
		         (unsigned long long)run->unsent);
		json_array_append_new(warn, json_string(buf));
	}
	if (run->interrupted)
		json_array_append_new(warn, json_string("the run was interrupted"));
	return json_pack("{s:f,s:f,s:f,s:f,s:i,s:b,s:i,s:i,s:f,s:I,s:I,s:b,s:o}", "cpu_user_s",
	                 run->cpu_user_s, "cpu_sys_s", run->cpu_sys_s, "cpu_percent", cpu, "wall_s",
	                 run->wall_s, "cores", (int)cores, "saturated", saturated, "sockets",
	                 (int)run->sockets, "callers", (int)run->callers, "max_start_lag_us",
	                 us(run->max_lag_ns), "backlog_max", (json_int_t)run->backlog_max, "unsent",
	                 (json_int_t)run->unsent, "interrupted", run->interrupted, "warnings",
	                 warn);
}

json_t *pl_report_json(const pl_report_cfg *cfg, const pl_run *run)
{
	char started[32];
	time_t now = time(NULL) - (time_t)run->wall_s;
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(started, sizeof started, "%Y-%m-%dT%H:%M:%SZ", &tm);

	pl_opstats all;
	pl_stats_all(&run->stats, &all);
	json_t *methods = json_array();
	for (int i = 0; i < PL_OP_COUNT; i++) {
		const pl_opstats *o = &run->stats.ops[i];
		if (pl_opstats_total(o) == 0)
			continue;
		json_t *m = opstats(o, run->elapsed_s);
		json_object_set_new(m, "name", json_string(pl_op_name((pl_op)i)));
		json_object_set_new(m, "method", json_string(cfg->method[i] ? cfg->method[i] : ""));
		json_object_set_new(m, "timeline", timeline(&run->stats, i));
		json_array_append_new(methods, m);
	}
	json_t *errors = json_array();
	for (size_t i = 0; i < run->stats.n_errs; i++) {
		const pl_errgroup *g = &run->stats.errs[i];
		json_array_append_new(
		    errors, json_pack("{s:s,s:s,s:i,s:s,s:s,s:I}", "name", pl_op_name(g->op),
		                      "method", cfg->method[g->op] ? cfg->method[g->op] : "",
		                      "code", (int)g->code, "code_name", pl_code_name(g->code),
		                      "message", g->msg, "count", (json_int_t)g->count));
	}
	json_t *summary = opstats(&all, run->elapsed_s);
	json_object_set_new(summary, "elapsed_s", json_real(run->elapsed_s));
	return json_pack("{s:i,s:s,s:s,s:s,s:o,s:o,s:o,s:o,s:I,s:o,s:o}", "schema_version",
	                 PL_SCHEMA_VERSION, "tool", "propload", "tool_version", PROPERTYD_VERSION,
	                 "started_at", started, "config", config(cfg, run), "summary", summary,
	                 "methods", methods, "errors", errors, "errors_other",
	                 (json_int_t)run->stats.errs_other, "timeline", timeline(&run->stats, -1),
	                 "harness", harness(run));
}

int pl_report_write_json(const json_t *doc, const char *path, char *err, size_t errcap)
{
	if (json_dump_file(doc, path, JSON_INDENT(2) | JSON_REAL_PRECISION(10)) != 0) {
		snprintf(err, errcap, "cannot write %s", path);
		return -1;
	}
	return 0;
}

double pl_jnum(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return v ? json_number_value(v) : 0.0;
}

const char *pl_jstr(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}
