// The human summary of a result document: see report.h.
#include "report.h"

static void fmt_us(char *buf, size_t cap, double v)
{
	if (v >= 1e6)
		snprintf(buf, cap, "%.2fs", v / 1e6);
	else if (v >= 1e3)
		snprintf(buf, cap, "%.2fms", v / 1e3);
	else
		snprintf(buf, cap, "%.0fus", v);
}

static void row(FILE *f, const char *name, const json_t *o)
{
	const json_t *l = json_object_get(o, "latency_us");
	static const char *const keys[] = {"p50", "p90", "p99", "p999", "max"};
	char cells[5][16];
	for (int i = 0; i < 5; i++)
		fmt_us(cells[i], sizeof cells[i], pl_jnum(l, keys[i]));
	fprintf(f, "  %-8s %10.0f %10.1f %8.0f %9s %9s %9s %9s %9s\n", name, pl_jnum(o, "requests"),
	        pl_jnum(o, "throughput_rps"), pl_jnum(o, "errors"), cells[0], cells[1], cells[2],
	        cells[3], cells[4]);
}

void pl_report_print(FILE *f, const json_t *doc)
{
	const json_t *cfg = json_object_get(doc, "config");
	const json_t *sum = json_object_get(doc, "summary");
	const json_t *h = json_object_get(doc, "harness");
	const char *mode = pl_jstr(cfg, "mode");
	if (mode[0] == 'o')
		fprintf(f, "open loop at %.0f rps (at most %d in flight)", pl_jnum(cfg, "rate_rps"),
		        (int)pl_jnum(cfg, "concurrency"));
	else
		fprintf(f, "closed loop, %d callers", (int)pl_jnum(cfg, "concurrency"));
	fprintf(f, ", %.1fs measured after %.1fs warm-up, %d socket(s)\n",
	        pl_jnum(sum, "elapsed_s"), pl_jnum(cfg, "warmup_s"), (int)pl_jnum(h, "sockets"));
	fprintf(f, "  %-8s %10s %10s %8s %9s %9s %9s %9s %9s\n", "op", "calls", "rps", "errors",
	        "p50", "p90", "p99", "p99.9", "max");
	size_t i;
	json_t *m;
	json_array_foreach(json_object_get(doc, "methods"), i, m) row(f, pl_jstr(m, "name"), m);
	row(f, "total", sum);

	const char *k;
	json_t *v;
	fprintf(f, "codes:");
	json_object_foreach((json_t *)json_object_get(sum, "codes"), k, v)
	    fprintf(f, " %s=%lld", k, (long long)json_integer_value(v));
	fprintf(f, "\n");
	json_t *errs = json_object_get(doc, "errors");
	if (json_array_size(errs)) {
		fprintf(f, "errors:\n");
		json_array_foreach(errs, i, m)
		    fprintf(f, "  %8lld  %-7s %s: %s\n", (long long)pl_jnum(m, "count"),
		            pl_jstr(m, "name"), pl_jstr(m, "code_name"), pl_jstr(m, "message"));
		if (pl_jnum(doc, "errors_other") > 0)
			fprintf(f, "  %8.0f  (other messages)\n", pl_jnum(doc, "errors_other"));
	}
	fprintf(f, "harness: %.0f%% CPU (%d cores)", pl_jnum(h, "cpu_percent"),
	        (int)pl_jnum(h, "cores"));
	if (mode[0] == 'o')
		fprintf(f, ", latest start %.1fms after schedule, backlog up to %.0f",
		        pl_jnum(h, "max_start_lag_us") / 1e3, pl_jnum(h, "backlog_max"));
	fprintf(f, "\n");
	json_array_foreach(json_object_get(h, "warnings"), i, v)
	    fprintf(f, "WARNING: %s\n", json_string_value(v));
}
