// pl_hist: a log-linear (HDR-style) latency histogram in nanoseconds.
//
// Values below 2^(PL_HIST_SUB_BITS+1) ns are counted exactly; above that each
// power of two is split into 2^PL_HIST_SUB_BITS equal buckets, so a bucket is
// at most 1/128 of its lower bound wide. Percentiles report the bucket's middle
// (clamped to the exact min and max), so the relative error is at most 0.4%,
// from 1 ns to 2^PL_HIST_MAX_EXP ns (about 2.4 hours); longer values count in
// the top bucket. Fixed size, no allocation: a plain struct the caller owns.
// Not thread-safe: the caller serializes record/merge on one histogram.
#ifndef PL_HIST_H
#define PL_HIST_H

#include <stdint.h>

#define PL_HIST_SUB_BITS 7
#define PL_HIST_SUB      (1u << PL_HIST_SUB_BITS)
// 2^43 ns = 2.4 h: far above any call timeout the harness allows.
#define PL_HIST_MAX_EXP 43
#define PL_HIST_BUCKETS (2u * PL_HIST_SUB + (PL_HIST_MAX_EXP - PL_HIST_SUB_BITS - 1u) * PL_HIST_SUB)

typedef struct pl_hist {
	uint64_t count;
	uint64_t min, max; // exact, ns; min is UINT64_MAX when empty
	double sum;        // ns, for the mean
	uint64_t b[PL_HIST_BUCKETS];
} pl_hist;

void pl_hist_reset(pl_hist *h);
void pl_hist_record(pl_hist *h, uint64_t ns);
void pl_hist_merge(pl_hist *dst, const pl_hist *src);
// The value at percentile p (0..100): the smallest recorded value v such that
// at least ceil(p/100 * count) values are <= v, within the bucket error. 0 when empty.
uint64_t pl_hist_percentile(const pl_hist *h, double p);
double pl_hist_mean(const pl_hist *h);

// Bucket index of a value and the representative (middle) value of a bucket.
unsigned pl_hist_index(uint64_t ns);
uint64_t pl_hist_bucket_mid(unsigned idx);

#endif
