// Self-contained HTML rendering of a result document: the summary table and
// three inline SVG charts (latency by percentile, latency over time,
// throughput over time). No scripts, no external files. See report.h.
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

#define W          640 // chart size in px
#define H          260
#define PAD        50
#define MAX_SERIES 8

static const char *const colors[MAX_SERIES] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                               "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"};

typedef struct series {
	const char *name;
	const double *x, *y;
	size_t n;
} series;

static void html_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '<')
			fputs("&lt;", f);
		else if (*s == '>')
			fputs("&gt;", f);
		else if (*s == '&')
			fputs("&amp;", f);
		else if (*s == '"')
			fputs("&quot;", f);
		else
			fputc(*s, f);
	}
}

// A line chart; logy plots log10 of y. xlabels: the x tick text function.
static void chart(FILE *f, const char *title, const series *s, size_t ns, const char *xlabel,
                  const char *ylabel, int logy, int nines_x)
{
	double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
	for (size_t k = 0; k < ns; k++)
		for (size_t i = 0; i < s[k].n; i++) {
			double y = logy ? log10(s[k].y[i] > 1 ? s[k].y[i] : 1) : s[k].y[i];
			xmin = fmin(xmin, s[k].x[i]);
			xmax = fmax(xmax, s[k].x[i]);
			ymin = fmin(ymin, y);
			ymax = fmax(ymax, y);
		}
	if (!isfinite(xmin)) {
		xmin = ymin = 0;
		xmax = ymax = 1;
	}
	if (!logy)
		ymin = 0;
	if (logy) {
		ymin = floor(ymin);
		ymax = ceil(ymax);
	}
	if (xmax <= xmin)
		xmax = xmin + 1;
	if (ymax <= ymin)
		ymax = ymin + 1;
	fprintf(f, "<h2>");
	html_text(f, title);
	fprintf(f,
	        "</h2>\n<svg width=\"%d\" height=\"%d\" xmlns=\"http://www.w3.org/2000/svg\" "
	        "font-family=\"sans-serif\" font-size=\"11\">\n",
	        W + 2 * PAD, H + 2 * PAD);
	fprintf(
	    f,
	    "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#999\"/>\n",
	    PAD, PAD, W, H);
	for (int t = 0; t <= 4; t++) { // y ticks
		double v = ymin + (ymax - ymin) * t / 4;
		double py = PAD + H - H * t / 4.0;
		double shown = logy ? pow(10, v) : v;
		fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>",
		        PAD, PAD + W, py, py);
		// Plain numbers (12000, not 1.2e+04): axis labels must fit left of the plot.
		fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.0f</text>\n", PAD - 4,
		        py + 4, shown);
	}
	for (int t = 0; t <= 4; t++) { // x ticks
		double v = xmin + (xmax - xmin) * t / 4;
		double px = PAD + W * t / 4.0;
		if (nines_x)
			fprintf(f,
			        "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%.5g%%</text>\n",
			        px, PAD + H + 16, 100.0 - 100.0 * pow(10, -v));
		else
			fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%.4g</text>\n",
			        px, PAD + H + 16, v);
	}
	fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", PAD + W / 2,
	        PAD + H + 36, xlabel);
	fprintf(f,
	        "<text x=\"14\" y=\"%d\" transform=\"rotate(-90 14 %d)\" "
	        "text-anchor=\"middle\">%s</text>\n",
	        PAD + H / 2, PAD + H / 2, ylabel);
	for (size_t k = 0; k < ns; k++) {
		fprintf(f, "<polyline fill=\"none\" stroke-width=\"1.5\" stroke=\"%s\" points=\"",
		        colors[k % MAX_SERIES]);
		for (size_t i = 0; i < s[k].n; i++) {
			double y = logy ? log10(s[k].y[i] > 1 ? s[k].y[i] : 1) : s[k].y[i];
			fprintf(f, "%.1f,%.1f ", PAD + W * (s[k].x[i] - xmin) / (xmax - xmin),
			        PAD + H - H * (y - ymin) / (ymax - ymin));
		}
		fprintf(f, "\"/>\n<text x=\"%d\" y=\"%zu\" fill=\"%s\">", PAD + W + 4,
		        (size_t)PAD + 12 + 14 * k, colors[k % MAX_SERIES]);
		html_text(f, s[k].name);
		fprintf(f, "</text>\n");
	}
	fprintf(f, "</svg>\n");
}

// Percentile curve of an entry as (nines, latency): x = -log10(1 - p/100).
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
		y[n] = json_number_value(json_array_get(pt, 1));
		n++;
	}
	return n;
}

static void table(FILE *f, const json_t *doc)
{
	fputs(
	    "<table><tr><th>op</th><th>method</th><th>calls</th><th>rps</th><th>errors</th>"
	    "<th>p50 µs</th><th>p90 µs</th><th>p99 µs</th><th>p99.9 µs</th><th>max µs</th></tr>\n",
	    f);
	size_t i;
	json_t *m;
	json_t *rows = json_copy(json_object_get(doc, "methods"));
	json_t *total = json_copy(json_object_get(doc, "summary"));
	json_object_set_new(total, "name", json_string("total"));
	json_array_append_new(rows, total);
	json_array_foreach(rows, i, m)
	{
		const json_t *l = json_object_get(m, "latency_us");
		fputs("<tr><td>", f);
		html_text(f, pl_jstr(m, "name"));
		fputs("</td><td>", f);
		html_text(f, pl_jstr(m, "method"));
		fprintf(f,
		        "</td><td>%.0f</td><td>%.1f</td><td>%.0f</td><td>%.0f</td><td>%.0f</"
		        "td><td>%.0f</"
		        "td><td>%.0f</td><td>%.0f</td></tr>\n",
		        pl_jnum(m, "requests"), pl_jnum(m, "throughput_rps"), pl_jnum(m, "errors"),
		        pl_jnum(l, "p50"), pl_jnum(l, "p90"), pl_jnum(l, "p99"), pl_jnum(l, "p999"),
		        pl_jnum(l, "max"));
	}
	json_decref(rows);
	fputs("</table>\n", f);
}

int pl_report_write_html(const json_t *doc, const char *path, char *err, size_t errcap)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		snprintf(err, errcap, "%s: %s", path, strerror(errno));
		return -1;
	}
	enum { CAP = 64 };
	const json_t *cfg = json_object_get(doc, "config");
	fputs("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>propload</title>\n"
	      "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
	      "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}</style></head><body>\n"
	      "<h1>propload ",
	      f);
	html_text(f, pl_jstr(doc, "started_at"));
	fputs("</h1>\n<p>", f);
	char line[256];
	if (pl_jnum(cfg, "rate_rps") > 0) // open loop: the arrival rate is what was asked
		snprintf(line, sizeof line,
		         "%s loop, concurrency %.0f, rate %.0f rps, warm-up %.1fs",
		         pl_jstr(cfg, "mode"), pl_jnum(cfg, "concurrency"),
		         pl_jnum(cfg, "rate_rps"), pl_jnum(cfg, "warmup_s"));
	else
		snprintf(line, sizeof line, "%s loop, concurrency %.0f, warm-up %.1fs",
		         pl_jstr(cfg, "mode"), pl_jnum(cfg, "concurrency"),
		         pl_jnum(cfg, "warmup_s"));
	html_text(f, line);
	if (json_is_string(json_object_get(cfg, "label"))) {
		fputs(" — ", f);
		html_text(f, pl_jstr(cfg, "label"));
	}
	fputs("</p>\n", f);
	table(f, doc);

	// Latency by percentile: every method and the total.
	double px[MAX_SERIES][CAP] = {{0}}, py[MAX_SERIES][CAP] = {{0}};
	series s[MAX_SERIES];
	size_t ns = 0, i;
	json_t *m;
	json_array_foreach(json_object_get(doc, "methods"), i, m)
	{
		if (ns == MAX_SERIES - 1)
			break;
		s[ns] = (series){pl_jstr(m, "name"), px[ns], py[ns],
		                 curve_points(m, px[ns], py[ns], CAP)};
		ns++;
	}
	s[ns] = (series){"total", px[ns], py[ns],
	                 curve_points(json_object_get(doc, "summary"), px[ns], py[ns], CAP)};
	ns++;
	chart(f, "Latency by percentile", s, ns, "percentile", "latency (µs, log)", 1, 1);

	// Over time.
	const json_t *tl = json_object_get(doc, "timeline");
	size_t n = json_array_size(tl);
	// The last bucket is usually a fraction of a second: it would plot as a
	// false drop in throughput, so the charts end at the last whole second.
	if (n > 1)
		n--;
	double *t = calloc(n ? n : 1, sizeof(double) * 4);
	if (t) {
		double *mean = t + n, *max = t + 2 * n, *rps = t + 3 * n;
		json_array_foreach(tl, i, m)
		{
			if (i >= n)
				break;
			t[i] = pl_jnum(m, "second");
			mean[i] = pl_jnum(m, "latency_mean_us");
			max[i] = pl_jnum(m, "latency_max_us");
			rps[i] = pl_jnum(m, "requests");
		}
		series lt[2] = {{"mean", t, mean, n}, {"max", t, max, n}};
		chart(f, "Latency over time", lt, 2, "second", "latency (µs, log)", 1, 0);
		series th[1] = {{"calls/s", t, rps, n}};
		chart(f, "Throughput over time", th, 1, "second", "completed calls per second", 0,
		      0);
		free(t);
	}
	fputs("<h2>Harness</h2><p>", f);
	const json_t *h = json_object_get(doc, "harness");
	snprintf(line, sizeof line, "CPU %.0f%% of %.0f cores, %.0f sockets, %.0f callers",
	         pl_jnum(h, "cpu_percent"), pl_jnum(h, "cores"), pl_jnum(h, "sockets"),
	         pl_jnum(h, "callers"));
	html_text(f, line);
	fputs("</p>\n", f);
	json_array_foreach(json_object_get(h, "warnings"), i, m)
	{
		fputs("<p><b>Warning:</b> ", f);
		html_text(f, json_string_value(m));
		fputs("</p>\n", f);
	}
	fputs("</body></html>\n", f);
	if (fclose(f) != 0) {
		snprintf(err, errcap, "%s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}
