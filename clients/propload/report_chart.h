// pl_chart: one inline SVG line chart for the HTML report (report_html.c):
// several named series, round tick values on both axes, a linear or
// logarithmic y axis. Writes to f only; keeps no state and no pointer.
#ifndef PL_REPORT_CHART_H
#define PL_REPORT_CHART_H

#include <stddef.h>
#include <stdio.h>

// Series beyond this many are not drawn.
#define PL_CHART_SERIES 8

// One line: n points (x[i], y[i]); the arrays and the name stay the caller's.
typedef struct pl_series {
	const char *name;
	const double *x, *y;
	size_t n;
} pl_series;

typedef enum pl_xaxis {
	PL_X_LINEAR, // plain numbers (seconds)
	PL_X_NINES,  // x is -log10(1 - p/100); ticks at 90%, 99%, 99.9%, ...
} pl_xaxis;

typedef struct pl_chart {
	const char *title, *xlabel, *ylabel; // plain text (escaped here)
	pl_xaxis xaxis;
	int logy; // y on a log10 scale, ticks at 1, 10, 100, ... (values <= 0 at the floor)
} pl_chart;

// Writes an <h3> title and the <svg> for s[0..ns).
void pl_chart_write(FILE *f, const pl_chart *c, const pl_series *s, size_t ns);

// Writes s as HTML text (<, >, &, " escaped).
void pl_html_text(FILE *f, const char *s);

#endif
