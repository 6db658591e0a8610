// promtext: a parser for the Prometheus text exposition format (0.0.4) and
// the arithmetic that clients do on it (sums by label, histogram quantiles).
//
// Used by `propctl top` and propload to read propertyd's /metrics. Comment
// lines (# HELP, # TYPE) are skipped; timestamps are read and ignored.
// Everything a parse returns is owned by the promtext value and released by
// pdc_promtext_free(). Pure functions: thread-safe, never blocking.
#ifndef PROMTEXT_H
#define PROMTEXT_H

#include <stddef.h>

// More series than this is refused: a scrape of propertyd has a few hundred,
// and a runaway exposition must not exhaust the client's memory.
#define PROMTEXT_MAX_SAMPLES 200000
// Labels per series; propertyd uses at most three.
#define PROMTEXT_MAX_LABELS 32

typedef struct pdc_promtext_label {
	char *name;
	char *value; // unescaped
} pdc_promtext_label;

typedef struct pdc_promtext_sample {
	char *name;
	pdc_promtext_label *labels;
	size_t n_labels;
	double value;
} pdc_promtext_sample;

typedef struct pdc_promtext {
	pdc_promtext_sample *samples;
	size_t n;
} pdc_promtext;

// Parses text[len]. Returns 0 and fills *out (free with pdc_promtext_free), or -1
// with a reason naming the line in err[errcap]; *out is then empty.
int pdc_promtext_parse(const char *text, size_t len, pdc_promtext *out, char *err, size_t errcap);
void pdc_promtext_free(pdc_promtext *p);

// The value of label `name` of sample s, or NULL.
const char *pdc_promtext_label_value(const pdc_promtext_sample *s, const char *name);

// True when sample s is named `name` and carries every label pair of
// `match` ({"k1", "v1", "k2", "v2", NULL}; NULL or {NULL} matches all).
int pdc_promtext_matches(const pdc_promtext_sample *s, const char *name, const char *const *match);

// The sum of the values of all samples matching (name, match); 0 when none.
double pdc_promtext_sum(const pdc_promtext *p, const char *name, const char *const *match);

// One cumulative histogram bucket: `count` observations were <= `le`.
typedef struct pdc_promtext_bucket {
	double le; // upper bound; the last bucket is +Inf
	double count;
} pdc_promtext_bucket;

// The q-quantile (0 <= q <= 1) of a histogram given as cumulative buckets
// sorted by `le`, the last being +Inf, by linear interpolation inside the
// bucket holding the rank (as PromQL's histogram_quantile: the first bucket
// starts at 0; a rank in the +Inf bucket gives the highest finite bound).
// Returns NaN when the histogram is empty.
double pdc_promtext_quantile(double q, const pdc_promtext_bucket *b, size_t n);

// Collects the `<name>_bucket` series of one histogram whose labels carry
// every pair of `match`, summing series that differ in other labels, into
// *out (malloc'd, sorted by le; the caller frees). Returns the bucket count
// (0 with *out NULL when none, or on allocation failure).
size_t pdc_promtext_buckets(const pdc_promtext *p, const char *name, const char *const *match,
                            pdc_promtext_bucket **out);

#endif
