#include "top_view.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define M_REQUESTS "propertyd_requests_total"
#define M_DURATION "propertyd_request_duration_seconds"

typedef struct method_row {
	const char *method; // borrowed from the current scrape
	double rps;
	double err_ratio; // NaN when no request
	double p50_ms, p99_ms;
} method_row;

// cur - prev, or cur when the counter went down (the process restarted).
static double delta(double cur, double prev)
{
	return cur >= prev ? cur - prev : cur;
}

static double sum_delta(const pdc_promtext *prev, const pdc_promtext *cur, const char *name,
                        const char *const *match)
{
	return delta(pdc_promtext_sum(cur, name, match), pdc_promtext_sum(prev, name, match));
}

// True when the metric appears in the scrape at all.
static int has_metric(const pdc_promtext *p, const char *name)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->samples[i].name, name) == 0)
			return 1;
	return 0;
}

static void quantiles(const pdc_promtext *prev, const pdc_promtext *cur, const char *method,
                      double *p50, double *p99)
{
	const char *match[] = {"method", method, NULL};
	pdc_promtext_bucket *bc = NULL, *bp = NULL;
	size_t nc = pdc_promtext_buckets(cur, M_DURATION, match, &bc);
	size_t np = pdc_promtext_buckets(prev, M_DURATION, match, &bp);
	for (size_t i = 0; i < nc; i++)
		for (size_t j = 0; j < np; j++)
			if (bp[j].le == bc[i].le) {
				bc[i].count = delta(bc[i].count, bp[j].count);
				break;
			}
	*p50 = pdc_promtext_quantile(0.5, bc, nc) * 1000;
	*p99 = pdc_promtext_quantile(0.99, bc, nc) * 1000;
	free(bc);
	free(bp);
}

static size_t collect_methods(const pdc_promtext *cur, method_row *rows)
{
	size_t n = 0;
	for (size_t i = 0; i < cur->n && n < TOP_MAX_METHODS; i++) {
		if (strcmp(cur->samples[i].name, M_REQUESTS) != 0)
			continue;
		const char *m = pdc_promtext_label_value(&cur->samples[i], "method");
		if (m == NULL)
			continue;
		size_t j = 0;
		while (j < n && strcmp(rows[j].method, m) != 0)
			j++;
		if (j == n)
			rows[n++].method = m;
	}
	return n;
}

static int by_rate(const void *a, const void *b)
{
	const method_row *x = a, *y = b;
	if (x->rps != y->rps)
		return x->rps < y->rps ? 1 : -1;
	return strcmp(x->method, y->method);
}

static void put_ms(FILE *out, double ms)
{
	if (isnan(ms))
		fprintf(out, " %9s", "-");
	else
		fprintf(out, " %9.2f", ms);
}

static void put_percent(FILE *out, double ratio)
{
	if (isnan(ratio))
		fprintf(out, " %7s", "-");
	else
		fprintf(out, " %6.1f%%", ratio * 100);
}

static void header(FILE *out, const pdc_promtext *prev, const pdc_promtext *cur, double interval_s,
                   const char *addr)
{
	fprintf(out, "propertyd %s   interval %.1f s\n", addr, interval_s);

	const char *leader = "-";
	if (has_metric(cur, "propertyd_relay_leader"))
		leader = pdc_promtext_sum(cur, "propertyd_relay_leader", NULL) > 0 ? "yes" : "no";
	fprintf(out, "leader: %s   pool: %.0f/%.0f in use", leader,
	        pdc_promtext_sum(cur, "propertyd_db_pool_in_use", NULL),
	        pdc_promtext_sum(cur, "propertyd_db_pool_size", NULL));
	if (has_metric(cur, "propertyd_db_pool_waits_total"))
		fprintf(out, ", %.1f waits/s",
		        sum_delta(prev, cur, "propertyd_db_pool_waits_total", NULL) / interval_s);
	fputc('\n', out);

	const char *hit[] = {"result", "hit", NULL}, *miss[] = {"result", "miss", NULL};
	double h = sum_delta(prev, cur, "propertyd_cache_requests_total", hit);
	double m = sum_delta(prev, cur, "propertyd_cache_requests_total", miss);
	if (h + m > 0)
		fprintf(out, "cache hit: %.1f%% of %.1f lookups/s", 100 * h / (h + m),
		        (h + m) / interval_s);
	else
		fprintf(out, "cache hit: - (no lookups)");
	fprintf(out, "   relay lag: %.0f rows, %.3f s",
	        pdc_promtext_sum(cur, "propertyd_relay_lag_rows", NULL),
	        pdc_promtext_sum(cur, "propertyd_relay_lag_seconds", NULL));
	fprintf(out, "   events: %.1f/s\n",
	        sum_delta(prev, cur, "propertyd_events_published_total", NULL) / interval_s);
}

void top_render(FILE *out, const pdc_promtext *prev, const pdc_promtext *cur, double interval_s,
                const char *addr)
{
	if (!(interval_s > 0))
		interval_s = 1;
	header(out, prev, cur, interval_s, addr);

	method_row rows[TOP_MAX_METHODS];
	size_t n = collect_methods(cur, rows);
	double total = 0, total_err = 0;
	for (size_t i = 0; i < n; i++) {
		method_row *r = &rows[i];
		const char *all[] = {"method", r->method, NULL};
		const char *ok[] = {"method", r->method, "code", "0", NULL};
		double reqs = sum_delta(prev, cur, M_REQUESTS, all);
		double errs = reqs - sum_delta(prev, cur, M_REQUESTS, ok);
		if (errs < 0)
			errs = 0;
		total += reqs;
		total_err += errs;
		r->rps = reqs / interval_s;
		r->err_ratio = reqs > 0 ? errs / reqs : NAN;
		quantiles(prev, cur, r->method, &r->p50_ms, &r->p99_ms);
	}
	qsort(rows, n, sizeof rows[0], by_rate);

	fprintf(out, "\n%-48s %9s %7s %9s %9s\n", "METHOD", "REQ/S", "ERR%", "P50 ms", "P99 ms");
	for (size_t i = 0; i < n; i++) {
		fprintf(out, "%-48s %9.1f", rows[i].method, rows[i].rps);
		put_percent(out, rows[i].err_ratio);
		put_ms(out, rows[i].p50_ms);
		put_ms(out, rows[i].p99_ms);
		fputc('\n', out);
	}
	fprintf(out, "%-48s %9.1f", "TOTAL", total / interval_s);
	put_percent(out, total > 0 ? total_err / total : NAN);
	fputc('\n', out);
}
