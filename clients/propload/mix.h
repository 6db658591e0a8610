// pl_mix: a weighted choice among operations, parsed from
// "get=90,list=5,create=4,update=1" (weights are relative, any scale).
// Plain values; pure functions.
#ifndef PL_MIX_H
#define PL_MIX_H

#include <stddef.h>

#include "rng.h"
#include "stats.h"

typedef struct pl_mix {
	unsigned w[PL_OP_COUNT];
	unsigned total;
} pl_mix;

// Returns 0, or -1 with a reason in err (unknown op, bad weight, all zero).
int pl_mix_parse(const char *spec, pl_mix *m, char *err, size_t errcap);
pl_op pl_mix_pick(const pl_mix *m, pl_rng *r);

#endif
