// Log-linear histogram: see hist.h.
#include "hist.h"

#include <math.h>
#include <string.h>

void pl_hist_reset(pl_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

unsigned pl_hist_index(uint64_t v)
{
	const uint64_t top = (UINT64_C(1) << PL_HIST_MAX_EXP) - 1;
	if (v < 2u * PL_HIST_SUB)
		return (unsigned)v;
	if (v > top)
		v = top;
	unsigned e = 63u - (unsigned)__builtin_clzll(v); // >= SUB_BITS + 1
	unsigned shift = e - PL_HIST_SUB_BITS;
	unsigned mant = (unsigned)(v >> shift); // in [SUB, 2*SUB)
	return 2u * PL_HIST_SUB + (e - PL_HIST_SUB_BITS - 1u) * PL_HIST_SUB + (mant - PL_HIST_SUB);
}

uint64_t pl_hist_bucket_mid(unsigned idx)
{
	if (idx < 2u * PL_HIST_SUB)
		return idx;
	unsigned k = idx - 2u * PL_HIST_SUB;
	unsigned e = PL_HIST_SUB_BITS + 1u + k / PL_HIST_SUB;
	unsigned shift = e - PL_HIST_SUB_BITS;
	uint64_t lo = (uint64_t)(PL_HIST_SUB + k % PL_HIST_SUB) << shift;
	return lo + ((UINT64_C(1) << shift) - 1) / 2;
}

void pl_hist_record(pl_hist *h, uint64_t ns)
{
	h->b[pl_hist_index(ns)]++;
	h->count++;
	h->sum += (double)ns;
	if (ns < h->min)
		h->min = ns;
	if (ns > h->max)
		h->max = ns;
}

void pl_hist_merge(pl_hist *dst, const pl_hist *src)
{
	if (src->count == 0)
		return;
	for (unsigned i = 0; i < PL_HIST_BUCKETS; i++)
		dst->b[i] += src->b[i];
	dst->count += src->count;
	dst->sum += src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t pl_hist_percentile(const pl_hist *h, double p)
{
	if (h->count == 0)
		return 0;
	if (p >= 100.0)
		return h->max;
	double r = ceil(p / 100.0 * (double)h->count);
	uint64_t rank = r < 1.0 ? 1 : (uint64_t)r;
	uint64_t seen = 0;
	for (unsigned i = 0; i < PL_HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= rank) {
			uint64_t v = pl_hist_bucket_mid(i);
			if (v < h->min)
				v = h->min;
			if (v > h->max)
				v = h->max;
			return v;
		}
	}
	return h->max;
}

double pl_hist_mean(const pl_hist *h)
{
	return h->count ? h->sum / (double)h->count : 0.0;
}
