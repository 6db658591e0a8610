// CSV rendering of a result document, in long format: one table, one row
// per (method, metric) for the whole run and per (second, method, metric)
// for the timeline (clients/propload/README.md). See report.h.
#include <errno.h>
#include <string.h>

#include "report.h"

// A field, quoted when it holds a comma, a quote or a line break.
static void field(FILE *f, const char *s)
{
	if (strpbrk(s, ",\"\r\n") == NULL) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

// One row; second < 0 leaves the column empty (a whole-run row).
static void row(FILE *f, double second, const char *name, const char *method, const char *metric,
                double value)
{
	if (second >= 0)
		fprintf(f, "%.0f", second);
	fputc(',', f);
	field(f, name);
	fputc(',', f);
	field(f, method);
	fputc(',', f);
	field(f, metric);
	fprintf(f, ",%.10g\n", value);
}

static const char *const whole_keys[] = {"requests", "ok", "errors", "throughput_rps"};
static const char *const lat_keys[] = {"min", "mean", "p50", "p90", "p99", "p999", "max"};
static const char *const second_keys[] = {"requests",        "errors",  "latency_mean_us",
                                          "latency_max_us",  "started", "start_lag_mean_us",
                                          "start_lag_max_us"};
#define N(a) (sizeof(a) / sizeof((a)[0]))

static void whole_run(FILE *f, const char *name, const char *method, const json_t *o)
{
	for (size_t k = 0; k < N(whole_keys); k++)
		row(f, -1, name, method, whole_keys[k], pl_jnum(o, whole_keys[k]));
	const json_t *l = json_object_get(o, "latency_us");
	char metric[64];
	for (size_t k = 0; k < N(lat_keys); k++) {
		snprintf(metric, sizeof metric, "latency_%s_us", lat_keys[k]);
		row(f, -1, name, method, metric, pl_jnum(l, lat_keys[k]));
	}
	const char *code;
	json_t *v;
	json_object_foreach((json_t *)json_object_get(o, "codes"), code, v)
	{
		snprintf(metric, sizeof metric, "code_%s", code);
		row(f, -1, name, method, metric, json_number_value(v));
	}
}

static void timeline(FILE *f, const char *name, const char *method, const json_t *tl)
{
	size_t i;
	json_t *e;
	json_array_foreach(tl, i, e) for (size_t k = 0; k < N(second_keys); k++)
	{
		if (json_object_get(e, second_keys[k])) // older documents lack the lag keys
			row(f, pl_jnum(e, "second"), name, method, second_keys[k],
			    pl_jnum(e, second_keys[k]));
	}
}

int pl_report_write_csv(const json_t *doc, const char *path, char *err, size_t errcap)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		snprintf(err, errcap, "%s: %s", path, strerror(errno));
		return -1;
	}
	fputs("second,name,method,metric,value\n", f);
	const json_t *methods = json_object_get(doc, "methods");
	size_t i;
	json_t *m;
	json_array_foreach(methods, i, m) whole_run(f, pl_jstr(m, "name"), pl_jstr(m, "method"), m);
	whole_run(f, "total", "", json_object_get(doc, "summary"));
	json_array_foreach(methods, i, m)
	    timeline(f, pl_jstr(m, "name"), pl_jstr(m, "method"), json_object_get(m, "timeline"));
	timeline(f, "total", "", json_object_get(doc, "timeline"));
	if (fclose(f) != 0) {
		snprintf(err, errcap, "%s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}
