// pl_rng: a small deterministic PRNG (splitmix64) and the samplers the
// workloads use. A pl_rng is a plain value owned by one thread at a time.
#ifndef PL_RNG_H
#define PL_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct pl_rng {
	uint64_t s;
} pl_rng;

void pl_rng_seed(pl_rng *r, uint64_t seed, uint64_t stream);
uint64_t pl_rng_next(pl_rng *r);
// Uniform in [0, n); n > 0.
uint64_t pl_rng_below(pl_rng *r, uint64_t n);
// Uniform in [0, 1).
double pl_rng_unit(pl_rng *r);

// A Zipf(s) sampler over ranks 0..n-1 (rank 0 the hottest): a cumulative table,
// malloc'd by pl_zipf_init (returns -1 on allocation failure), freed by pl_zipf_free.
typedef struct pl_zipf {
	double *cdf;
	size_t n;
} pl_zipf;

int pl_zipf_init(pl_zipf *z, size_t n, double s);
size_t pl_zipf_pick(const pl_zipf *z, pl_rng *r);
void pl_zipf_free(pl_zipf *z);

#endif
