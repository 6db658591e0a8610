// propload_hist: percentiles from the histogram agree with percentiles
// computed exactly from the sorted samples, within 1% relative error.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "hist.h"
#include "rng.h"

#define N 200000

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

typedef uint64_t (*gen_fn)(pl_rng *r);

static uint64_t log_uniform(pl_rng *r) // 1 µs .. 10 minutes
{
	return (uint64_t)(1000.0 * pow(10.0, pl_rng_unit(r) * log10(600e6)));
}
static uint64_t exponential(pl_rng *r) // mean 2 ms
{
	return (uint64_t)(-2e6 * log(1.0 - pl_rng_unit(r))) + 1000;
}
static uint64_t tiny(pl_rng *r) // 0 .. 300 ns: the exact range and just above
{
	return pl_rng_below(r, 300);
}
static uint64_t bimodal(pl_rng *r) // fast calls, and 1% stalls of ~500 ms
{
	return pl_rng_below(r, 100) == 0 ? 500000000u + pl_rng_below(r, 1000000)
	                                 : 100000u + pl_rng_below(r, 50000);
}

static const struct {
	const char *name;
	gen_fn gen;
} cases[] = {
    {"log-uniform 1us..10min", log_uniform},
    {"exponential", exponential},
    {"tiny values", tiny},
    {"bimodal stalls", bimodal},
};

static const double ps[] = {0, 0.1, 1, 25, 50, 75, 90, 99, 99.9, 99.99, 100};

int main(void)
{
	int failed = 0;
	uint64_t *v = malloc(N * sizeof(*v));
	pl_hist *h = malloc(sizeof(*h));
	if (!v || !h)
		return 1;
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		pl_rng r;
		pl_rng_seed(&r, 42, c);
		pl_hist_reset(h);
		for (size_t i = 0; i < N; i++) {
			v[i] = cases[c].gen(&r);
			pl_hist_record(h, v[i]);
		}
		qsort(v, N, sizeof(*v), cmp_u64);
		for (size_t k = 0; k < sizeof ps / sizeof ps[0]; k++) {
			double rank = ceil(ps[k] / 100.0 * N);
			size_t idx = rank < 1 ? 0 : (size_t)rank - 1;
			double exact = (double)v[idx];
			double got = (double)pl_hist_percentile(h, ps[k]);
			double rel = exact > 0 ? fabs(got - exact) / exact : fabs(got);
			if (rel > 0.01) {
				printf("FAIL %s p%g: exact %.0f got %.0f (%.2f%%)\n", cases[c].name,
				       ps[k], exact, got, rel * 100);
				failed++;
			}
		}
		if (h->count != N || h->min != v[0] || h->max != v[N - 1]) {
			printf("FAIL %s: count/min/max\n", cases[c].name);
			failed++;
		}
		printf("%s %s\n", failed ? "..." : "ok  ", cases[c].name);
	}
	// Merging two halves equals recording everything in one.
	pl_hist *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	pl_rng r;
	pl_rng_seed(&r, 7, 0);
	pl_hist_reset(a);
	pl_hist_reset(b);
	pl_hist_reset(h);
	for (int i = 0; i < 10000; i++) {
		uint64_t x = log_uniform(&r);
		pl_hist_record(i % 2 ? a : b, x);
		pl_hist_record(h, x);
	}
	pl_hist_merge(a, b);
	if (pl_hist_percentile(a, 99) != pl_hist_percentile(h, 99) || a->count != h->count) {
		printf("FAIL merge\n");
		failed++;
	}
	// Huge values land in the top bucket, not out of bounds.
	pl_hist_reset(h);
	pl_hist_record(h, UINT64_MAX);
	if (pl_hist_index(UINT64_MAX) >= PL_HIST_BUCKETS || h->count != 1) {
		printf("FAIL huge value\n");
		failed++;
	}
	free(a);
	free(b);
	free(v);
	free(h);
	printf("%s\n", failed ? "FAILED" : "all passed");
	return failed ? 1 : 0;
}
