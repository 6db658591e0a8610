// SVG line charts with round ticks: see report_chart.h.
#include "report_chart.h"

#include <math.h>

#define W   640 // plot area in px
#define H   260
#define PAD 56
// Log axes: values below this are drawn at it (1 µs when y is in ms).
#define LOG_FLOOR 0.001

static const char *const colors[PL_CHART_SERIES] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                                    "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"};

void pl_html_text(FILE *f, const char *s)
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

// The round step (1, 2 or 5 times a power of ten) that cuts span into at
// most about `ticks` parts.
static double nice_step(double span, int ticks)
{
	double raw = span / ticks;
	double mag = pow(10, floor(log10(raw)));
	double r = raw / mag;
	return (r <= 1 ? 1 : r <= 2 ? 2 : r <= 5 ? 5 : 10) * mag;
}

typedef struct axis {
	double lo, hi, step; // in plotted units (log10 for a log axis)
} axis;

// A linear axis from lo (0 unless negative) to a round value >= hi.
static axis linear_axis(double lo, double hi)
{
	if (lo > 0)
		lo = 0;
	if (hi <= lo)
		hi = lo + 1;
	double step = nice_step(hi - lo, 5);
	return (axis){floor(lo / step) * step, ceil(hi / step) * step, step};
}

// A log10 axis over whole decades (every second one when there are many).
static axis log_axis(double lo, double hi)
{
	lo = floor(lo);
	hi = ceil(hi);
	if (hi <= lo)
		hi = lo + 1;
	return (axis){lo, hi, hi - lo > 6 ? 2 : 1};
}

static double plot_y(const pl_chart *c, double y)
{
	return c->logy ? log10(y > LOG_FLOOR ? y : LOG_FLOOR) : y;
}

static void tick_label(FILE *f, double v)
{
	// %g of a rounded value: 0.01, 0.5, 20, 1500 (never 1.5e+03 below 1e6).
	double r = fabs(v) < 1e-9 ? 0 : v;
	fprintf(f, "%.6g", r);
}

void pl_chart_write(FILE *f, const pl_chart *c, const pl_series *s, size_t ns)
{
	if (ns > PL_CHART_SERIES)
		ns = PL_CHART_SERIES;
	double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
	for (size_t k = 0; k < ns; k++)
		for (size_t i = 0; i < s[k].n; i++) {
			double y = plot_y(c, s[k].y[i]);
			xmin = fmin(xmin, s[k].x[i]);
			xmax = fmax(xmax, s[k].x[i]);
			ymin = fmin(ymin, y);
			ymax = fmax(ymax, y);
		}
	if (!isfinite(xmin)) {
		xmin = ymin = 0;
		xmax = ymax = 1;
	}
	axis ya = c->logy ? log_axis(ymin, ymax) : linear_axis(ymin, ymax);
	axis xa =
	    c->xaxis == PL_X_NINES ? (axis){0, ceil(fmax(xmax, 1)), 1} : linear_axis(xmin, xmax);
	fputs("<h3>", f);
	pl_html_text(f, c->title);
	fprintf(f,
	        "</h3>\n<svg width=\"%d\" height=\"%d\" xmlns=\"http://www.w3.org/2000/svg\" "
	        "font-family=\"sans-serif\" font-size=\"11\">\n",
	        W + 2 * PAD + 90, H + 2 * PAD);
	fprintf(
	    f,
	    "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#999\"/>\n",
	    PAD, PAD, W, H);
	for (long t = 0, nt = lround((ya.hi - ya.lo) / ya.step); t <= nt; t++) {
		double v = ya.lo + (double)t * ya.step;
		double py = PAD + H - H * (v - ya.lo) / (ya.hi - ya.lo);
		fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>",
		        PAD, PAD + W, py, py);
		fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">", PAD - 4, py + 4);
		tick_label(f, c->logy ? pow(10, v) : v);
		fputs("</text>\n", f);
	}
	// A log axis over few decades also gets 2 and 5 in each.
	for (long t = 0, nt = c->logy && ya.hi - ya.lo <= 2 ? lround(ya.hi - ya.lo) : 0; t < nt;
	     t++)
		for (int k = 0; k < 2; k++) {
			double v = ya.lo + (double)t + log10(k ? 5 : 2);
			double py = PAD + H - H * (v - ya.lo) / (ya.hi - ya.lo);
			fprintf(f,
			        "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" "
			        "stroke=\"#f4f4f4\"/>",
			        PAD, PAD + W, py, py);
			fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" fill=\"#666\">",
			        PAD - 4, py + 4);
			tick_label(f, pow(10, v));
			fputs("</text>\n", f);
		}
	for (long t = 0, nt = lround((xa.hi - xa.lo) / xa.step); t <= nt; t++) {
		double v = xa.lo + (double)t * xa.step;
		double px = PAD + W * (v - xa.lo) / (xa.hi - xa.lo);
		fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">", px, PAD + H + 16);
		if (c->xaxis == PL_X_NINES) {
			tick_label(f, 100.0 - 100.0 * pow(10, -v));
			fputc('%', f);
		} else {
			tick_label(f, v);
		}
		fputs("</text>\n", f);
	}
	fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">", PAD + W / 2, PAD + H + 36);
	pl_html_text(f, c->xlabel);
	fprintf(f,
	        "</text>\n<text x=\"14\" y=\"%d\" transform=\"rotate(-90 14 %d)\" "
	        "text-anchor=\"middle\">",
	        PAD + H / 2, PAD + H / 2);
	pl_html_text(f, c->ylabel);
	fputs("</text>\n", f);
	for (size_t k = 0; k < ns; k++) {
		fprintf(f, "<polyline fill=\"none\" stroke-width=\"1.5\" stroke=\"%s\" points=\"",
		        colors[k]);
		for (size_t i = 0; i < s[k].n; i++)
			fprintf(f, "%.1f,%.1f ", PAD + W * (s[k].x[i] - xa.lo) / (xa.hi - xa.lo),
			        PAD + H - H * (plot_y(c, s[k].y[i]) - ya.lo) / (ya.hi - ya.lo));
		fprintf(f, "\"/>\n<text x=\"%d\" y=\"%zu\" fill=\"%s\">", PAD + W + 6,
		        (size_t)PAD + 12 + 14 * k, colors[k]);
		pl_html_text(f, s[k].name);
		fputs("</text>\n", f);
	}
	fputs("</svg>\n", f);
}
