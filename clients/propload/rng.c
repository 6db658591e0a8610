// splitmix64 and a table-driven Zipf sampler: see rng.h.
#include "rng.h"

#include <math.h>
#include <stdlib.h>

void pl_rng_seed(pl_rng *r, uint64_t seed, uint64_t stream)
{
	r->s = seed * UINT64_C(0x9E3779B97F4A7C15) ^ (stream + 1) * UINT64_C(0xD1B54A32D192ED03);
	(void)pl_rng_next(r);
}

uint64_t pl_rng_next(pl_rng *r)
{
	uint64_t z = (r->s += UINT64_C(0x9E3779B97F4A7C15));
	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

uint64_t pl_rng_below(pl_rng *r, uint64_t n)
{
	// Lemire's multiply-shift: bias below 2^-32 for the sizes used here.
	return (uint64_t)(((unsigned __int128)pl_rng_next(r) * n) >> 64);
}

double pl_rng_unit(pl_rng *r)
{
	return (double)(pl_rng_next(r) >> 11) * 0x1.0p-53;
}

int pl_zipf_init(pl_zipf *z, size_t n, double s)
{
	z->n = n;
	z->cdf = malloc((n ? n : 1) * sizeof(double));
	if (!z->cdf)
		return -1;
	double sum = 0;
	for (size_t i = 0; i < n; i++) {
		sum += 1.0 / pow((double)(i + 1), s);
		z->cdf[i] = sum;
	}
	for (size_t i = 0; i < n; i++)
		z->cdf[i] /= sum;
	return 0;
}

size_t pl_zipf_pick(const pl_zipf *z, pl_rng *r)
{
	double u = pl_rng_unit(r);
	size_t lo = 0, hi = z->n ? z->n - 1 : 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (z->cdf[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void pl_zipf_free(pl_zipf *z)
{
	free(z->cdf);
	z->cdf = NULL;
	z->n = 0;
}
