// pl_compare: per-method differences between two result documents (A is the
// baseline, B the candidate): throughput and latency percentiles side by
// side with the ratio B/A. Pure functions; json_t arguments are borrowed.
#ifndef PL_COMPARE_H
#define PL_COMPARE_H

#include <jansson.h>
#include <stdio.h>

// B/A, or 0 when A is 0 (no baseline to compare with).
double pl_ratio(double a, double b);

// One compared figure: its value in A and B and the ratio.
typedef struct pl_cmp_cell {
	double a, b, ratio;
} pl_cmp_cell;

#define PL_CMP_FIELDS 5 // rps, p50, p90, p99, p999

// Compares the entry named `name` ("total" for the summary) in docs A and B;
// returns 0, or -1 when either document lacks it.
int pl_compare_entry(const json_t *a, const json_t *b, const char *name,
                     pl_cmp_cell out[PL_CMP_FIELDS]);
// Prints a table for every method in A or B, then the total. Returns 0, or
// -1 when a document is not a propload result.
int pl_compare_print(FILE *f, const json_t *a, const json_t *b);

#endif
