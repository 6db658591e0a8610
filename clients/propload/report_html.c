// Self-contained HTML rendering of a result document (no scripts, no external
// files, no network): the settings, the summary, status-code and error tables,
// and inline SVG charts (report_chart.h) of latency by percentile and of
// throughput, latency and (open loop) start lag over time, in all and per
// method. Latencies are shown in milliseconds. See report.h.
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "report_chart.h"

// Points of a percentile curve drawn (the document has about 20).
#define CURVE_CAP 64

static void cell_text(FILE *f, const char *tag, const char *s)
{
	fprintf(f, "<%s>", tag);
	pl_html_text(f, s);
	fprintf(f, "</%s>", tag);
}

// v with `decimals` places (-1: %g) and a unit suffix ("" for none).
static const char *fmt_num(char *b, size_t cap, int decimals, double v, const char *unit)
{
	if (decimals < 0)
		snprintf(b, cap, "%g%s", v, unit);
	else
		snprintf(b, cap, "%.*f%s", decimals, v, unit);
	return b;
}

static void cell_num(FILE *f, int decimals, double v)
{
	char b[64];
	cell_text(f, "td", fmt_num(b, sizeof b, decimals, v, ""));
}

static void setting(FILE *f, const char *key, const char *value)
{
	fputs("<tr>", f);
	cell_text(f, "th", key);
	cell_text(f, "td", value);
	fputs("</tr>\n", f);
}

static void setting_num(FILE *f, const char *key, int decimals, double v, const char *unit)
{
	char b[64];
	setting(f, key, fmt_num(b, sizeof b, decimals, v, unit));
}

// What was run: every input that shapes the numbers.
static void settings(FILE *f, const json_t *doc)
{
	const json_t *cfg = json_object_get(doc, "config");
	bool open = strcmp(pl_jstr(cfg, "mode"), "open") == 0;
	fputs("<h2>Settings</h2>\n<table class=\"kv\" id=\"settings\">\n", f);
	setting(f, "propload version", pl_jstr(doc, "tool_version"));
	setting(f, "started at", pl_jstr(doc, "started_at"));
	setting(f, "mode", open ? "open loop (fixed arrival rate)" : "closed loop");
	if (open)
		setting_num(f, "rate", 0, pl_jnum(cfg, "rate_rps"), " calls/s");
	setting_num(f, open ? "most in flight" : "concurrency", 0, pl_jnum(cfg, "concurrency"), "");
	if (pl_jnum(cfg, "requests") > 0)
		setting_num(f, "requests", 0, pl_jnum(cfg, "requests"), "");
	if (pl_jnum(cfg, "duration_s") > 0)
		setting_num(f, "duration", -1, pl_jnum(cfg, "duration_s"), " s");
	setting_num(f, "warm-up", -1, pl_jnum(cfg, "warmup_s"), " s");
	setting_num(f, "timeout", 0, pl_jnum(cfg, "timeout_ms"), " ms");
	char b[512] = "";
	size_t i, used = 0;
	json_t *v;
	json_array_foreach(json_object_get(cfg, "urls"), i, v) used +=
	    (size_t)snprintf(b + used, used < sizeof b ? sizeof b - used : 0, "%s%s", i ? ", " : "",
	                     json_string_value(v));
	setting(f, "URLs", b);
	if (json_is_string(json_object_get(cfg, "call"))) {
		setting(f, "call", pl_jstr(cfg, "call"));
	} else {
		const char *k;
		b[0] = '\0';
		used = 0;
		json_object_foreach((json_t *)json_object_get(cfg, "mix"), k, v) used +=
		    (size_t)snprintf(b + used, used < sizeof b ? sizeof b - used : 0, "%s%s=%lld",
		                     used ? "," : "", k, (long long)json_integer_value(v));
		setting(f, "mix", b);
	}
	snprintf(b, sizeof b, "%lld", (long long)json_integer_value(json_object_get(cfg, "seed")));
	setting(f, "seed", b);
	setting(f, "keys", pl_jstr(cfg, "key_distribution"));
	if (pl_jnum(cfg, "zipf_s") > 0)
		setting_num(f, "zipf s", -1, pl_jnum(cfg, "zipf_s"), "");
	setting_num(f, "sockets", 0, pl_jnum(cfg, "sockets"), "");
	if (json_is_string(json_object_get(cfg, "label")))
		setting(f, "label", pl_jstr(cfg, "label"));
	fputs("</table>\n", f);
}

// The methods, then the total (a new array: the caller decrefs it).
static json_t *rows_with_total(const json_t *doc)
{
	json_t *rows = json_copy(json_object_get(doc, "methods"));
	json_t *total = json_copy(json_object_get(doc, "summary"));
	json_object_set_new(total, "name", json_string("total"));
	json_array_append_new(rows, total);
	return rows;
}

static void summary_table(FILE *f, const json_t *doc)
{
	fputs("<h2>Summary</h2>\n<table id=\"summary\"><tr><th>op</th><th>method</th>"
	      "<th>calls</th><th>calls/s</th><th>errors</th><th>p50 ms</th><th>p90 ms</th>"
	      "<th>p99 ms</th><th>p99.9 ms</th><th>max ms</th></tr>\n",
	      f);
	json_t *rows = rows_with_total(doc);
	size_t i;
	json_t *m;
	json_array_foreach(rows, i, m)
	{
		const json_t *l = json_object_get(m, "latency_us");
		fputs("<tr>", f);
		cell_text(f, "td", pl_jstr(m, "name"));
		cell_text(f, "td", pl_jstr(m, "method"));
		cell_num(f, 0, pl_jnum(m, "requests"));
		cell_num(f, 1, pl_jnum(m, "throughput_rps"));
		cell_num(f, 0, pl_jnum(m, "errors"));
		static const char *const keys[] = {"p50", "p90", "p99", "p999", "max"};
		for (size_t k = 0; k < 5; k++)
			cell_num(f, 3, pl_jnum(l, keys[k]) / 1000.0);
		fputs("</tr>\n", f);
	}
	json_decref(rows);
	fputs("</table>\n", f);
}

// Status codes: one column per code that occurred, one row per method and the total.
static void codes_table(FILE *f, const json_t *doc)
{
	const json_t *seen = json_object_get(json_object_get(doc, "summary"), "codes");
	fputs("<h2>Status codes</h2>\n<table id=\"codes\"><tr><th>op</th>", f);
	const char *code;
	json_t *v;
	json_object_foreach((json_t *)seen, code, v) cell_text(f, "th", code);
	fputs("</tr>\n", f);
	json_t *rows = rows_with_total(doc);
	size_t i;
	json_t *m;
	json_array_foreach(rows, i, m)
	{
		fputs("<tr>", f);
		cell_text(f, "td", pl_jstr(m, "name"));
		const json_t *codes = json_object_get(m, "codes");
		json_object_foreach((json_t *)seen, code, v) cell_num(f, 0, pl_jnum(codes, code));
		fputs("</tr>\n", f);
	}
	json_decref(rows);
	fputs("</table>\n", f);
}

// Error messages grouped by (method, code, message), with their counts.
static void errors_table(FILE *f, const json_t *doc)
{
	const json_t *errs = json_object_get(doc, "errors");
	fputs("<h2>Errors</h2>\n", f);
	if (json_array_size(errs) == 0) {
		fputs("<p id=\"errors\">No errors.</p>\n", f);
		return;
	}
	fputs("<table id=\"errors\"><tr><th>op</th><th>method</th><th>code</th><th>message</th>"
	      "<th>count</th></tr>\n",
	      f);
	size_t i;
	json_t *e;
	json_array_foreach(errs, i, e)
	{
		char code[64];
		snprintf(code, sizeof code, "%.0f %s", pl_jnum(e, "code"), pl_jstr(e, "code_name"));
		fputs("<tr>", f);
		cell_text(f, "td", pl_jstr(e, "name"));
		cell_text(f, "td", pl_jstr(e, "method"));
		cell_text(f, "td", code);
		fputs("<td class=\"msg\">", f);
		pl_html_text(f, pl_jstr(e, "message"));
		fputs("</td>", f);
		cell_num(f, 0, pl_jnum(e, "count"));
		fputs("</tr>\n", f);
	}
	if (pl_jnum(doc, "errors_other") > 0) {
		fputs("<tr><td colspan=\"4\">other (beyond the groups kept)</td>", f);
		cell_num(f, 0, pl_jnum(doc, "errors_other"));
		fputs("</tr>\n", f);
	}
	fputs("</table>\n", f);
}

// Percentile curve of an entry as (nines, latency ms): x = -log10(1 - p/100).
static size_t curve_points(const json_t *e, double *x, double *y, size_t cap)
{
	size_t i, n = 0;
	json_t *pt;
	json_array_foreach(json_object_get(e, "percentile_curve"), i, pt)
	{
		double p = json_number_value(json_array_get(pt, 0));
		if (p >= 100.0 || n == cap)
			continue;
		x[n] = -log10(1.0 - p / 100.0);
		y[n] = json_number_value(json_array_get(pt, 1)) / 1000.0;
		n++;
	}
	return n;
}

static void percentile_chart(FILE *f, const json_t *doc)
{
	double px[PL_CHART_SERIES][CURVE_CAP] = {{0}}, py[PL_CHART_SERIES][CURVE_CAP] = {{0}};
	pl_series s[PL_CHART_SERIES];
	size_t ns = 0, i;
	json_t *m;
	json_t *rows = rows_with_total(doc);
	size_t nrows = json_array_size(rows);
	json_array_foreach(rows, i, m)
	{
		// With too many methods the total (last) takes the last place.
		if (ns == PL_CHART_SERIES - 1 && i + 1 < nrows)
			continue;
		s[ns] = (pl_series){pl_jstr(m, "name"), px[ns], py[ns],
		                    curve_points(m, px[ns], py[ns], CURVE_CAP)};
		ns++;
	}
	pl_chart c = {"Latency by percentile", "percentile", "latency (ms, log)", PL_X_NINES, 1};
	pl_chart_write(f, &c, s, ns);
	json_decref(rows);
}

// Column `key` of a timeline, times scale, into y[] and its seconds into
// x[]; the last second, usually partial, is left out (it would plot as a
// false drop in throughput).
static size_t tl_column(const json_t *tl, const char *key, double scale, double *x, double *y)
{
	size_t n = json_array_size(tl);
	if (n > 1)
		n--;
	for (size_t i = 0; i < n; i++) {
		const json_t *e = json_array_get(tl, i);
		x[i] = pl_jnum(e, "second");
		y[i] = pl_jnum(e, key) * scale;
	}
	return n;
}

typedef struct tl_col {
	const char *name, *key; // series name, timeline key
	const json_t *tl;
} tl_col;

// One chart of up to PL_CHART_SERIES timeline columns; buf holds
// 2 * PL_CHART_SERIES * cap doubles.
static void tl_chart(FILE *f, const pl_chart *c, const tl_col *cols, size_t n, double scale,
                     double *buf, size_t cap)
{
	pl_series s[PL_CHART_SERIES];
	if (n > PL_CHART_SERIES)
		n = PL_CHART_SERIES;
	for (size_t k = 0; k < n; k++) {
		double *x = buf + 2 * k * cap, *y = x + cap;
		size_t len = json_array_size(cols[k].tl) <= cap
		                 ? tl_column(cols[k].tl, cols[k].key, scale, x, y)
		                 : 0;
		s[k] = (pl_series){cols[k].name, x, y, len};
	}
	pl_chart_write(f, c, s, n);
}

// Over time: in all, per method (documents from before per-method timelines
// have none: those charts are left out), and the open loop's start lag.
static void time_charts(FILE *f, const json_t *doc, bool open)
{
	const json_t *tl = json_object_get(doc, "timeline");
	const json_t *methods = json_object_get(doc, "methods");
	size_t cap = json_array_size(tl) + 1;
	double *buf = malloc(2 * PL_CHART_SERIES * cap * sizeof(double));
	if (!buf)
		return;
	fputs("<h2>Over time</h2>\n", f);
	tl_col all[2] = {{"mean", "latency_mean_us", tl}, {"max", "latency_max_us", tl}};
	pl_chart c = {"Latency over time, all methods", "second", "latency (ms, log)", PL_X_LINEAR,
	              1};
	tl_chart(f, &c, all, 2, 1e-3, buf, cap);

	tl_col per[PL_CHART_SERIES];
	size_t n = 0, i;
	json_t *m;
	per[n++] = (tl_col){"total", "requests", tl};
	json_array_foreach(methods, i, m) if (n < PL_CHART_SERIES &&
	                                      json_is_array(json_object_get(m, "timeline")))
	    per[n++] = (tl_col){pl_jstr(m, "name"), "requests", json_object_get(m, "timeline")};
	c = (pl_chart){"Throughput over time, per method", "second", "completed calls per second",
	               PL_X_LINEAR, 0};
	fputs("<div id=\"per-method-timelines\">\n", f);
	tl_chart(f, &c, per, n, 1, buf, cap);
	if (n > 1) {
		for (size_t k = 1; k < n; k++)
			per[k - 1] = (tl_col){per[k].name, "latency_mean_us", per[k].tl};
		c = (pl_chart){"Mean latency over time, per method", "second", "latency (ms, log)",
		               PL_X_LINEAR, 1};
		tl_chart(f, &c, per, n - 1, 1e-3, buf, cap);
		for (size_t k = 0; k < n - 1; k++)
			per[k].key = "latency_max_us";
		c.title = "Max latency over time, per method";
		tl_chart(f, &c, per, n - 1, 1e-3, buf, cap);
	}
	fputs("</div>\n", f);
	if (open) {
		const json_t *h = json_object_get(doc, "harness");
		fputs("<h2 id=\"start-lag\">Start lag (open loop)</h2>\n<p>", f);
		char line[256];
		snprintf(
		    line, sizeof line,
		    "How late calls started after their slot in the schedule: at most %.3f ms; "
		    "at most %.0f calls waited for a free caller; %.0f were never sent.",
		    pl_jnum(h, "max_start_lag_us") / 1000.0, pl_jnum(h, "backlog_max"),
		    pl_jnum(h, "unsent"));
		pl_html_text(f, line);
		fputs(" Latency counts from the intended start, so this lag is part of it.</p>\n",
		      f);
		if (json_object_get(json_array_get(tl, 0), "start_lag_max_us")) {
			tl_col lag[2] = {{"mean", "start_lag_mean_us", tl},
			                 {"max", "start_lag_max_us", tl}};
			c = (pl_chart){"Start lag over time (by intended start)", "second",
			               "lag (ms, log)", PL_X_LINEAR, 1};
			tl_chart(f, &c, lag, 2, 1e-3, buf, cap);
		}
	}
	free(buf);
}

int pl_report_write_html(const json_t *doc, const char *path, char *err, size_t errcap)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		snprintf(err, errcap, "%s: %s", path, strerror(errno));
		return -1;
	}
	const json_t *cfg = json_object_get(doc, "config");
	bool open = strcmp(pl_jstr(cfg, "mode"), "open") == 0;
	fputs("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>propload</title>\n"
	      "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
	      "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}"
	      "table.kv th,td.msg{text-align:left}</style></head><body>\n<h1>propload ",
	      f);
	pl_html_text(f, pl_jstr(doc, "started_at"));
	if (json_is_string(json_object_get(cfg, "label"))) {
		fputs(" — ", f);
		pl_html_text(f, pl_jstr(cfg, "label"));
	}
	fputs("</h1>\n", f);
	settings(f, doc);
	summary_table(f, doc);
	codes_table(f, doc);
	errors_table(f, doc);
	fputs("<h2>Latency</h2>\n", f);
	percentile_chart(f, doc);
	time_charts(f, doc, open);

	fputs("<h2>Harness</h2><p>", f);
	const json_t *h = json_object_get(doc, "harness");
	char line[256];
	snprintf(line, sizeof line, "CPU %.0f%% of %.0f cores, %.0f sockets, %.0f callers",
	         pl_jnum(h, "cpu_percent"), pl_jnum(h, "cores"), pl_jnum(h, "sockets"),
	         pl_jnum(h, "callers"));
	pl_html_text(f, line);
	fputs("</p>\n", f);
	size_t i;
	json_t *m;
	json_array_foreach(json_object_get(h, "warnings"), i, m)
	{
		fputs("<p><b>Warning:</b> ", f);
		pl_html_text(f, json_string_value(m));
		fputs("</p>\n", f);
	}
	fputs("</body></html>\n", f);
	if (fclose(f) != 0) {
		snprintf(err, errcap, "%s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}
