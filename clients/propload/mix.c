// Weighted operation mix: see mix.h.
#include "mix.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// A weight above this is surely a typo (and keeps the total far from overflow).
#define MIX_MAX_WEIGHT 1000000u

int pl_mix_parse(const char *spec, pl_mix *m, char *err, size_t errcap)
{
	memset(m, 0, sizeof(*m));
	const char *p = spec;
	while (*p) {
		const char *eq = strchr(p, '=');
		const char *comma = strchr(p, ',');
		if (!comma)
			comma = p + strlen(p);
		if (!eq || eq > comma) {
			snprintf(err, errcap, "mix: expected op=weight at \"%.*s\"",
			         (int)(comma - p), p);
			return -1;
		}
		int op = pl_op_parse(p, (size_t)(eq - p));
		if (op < 0 || op == PL_OP_CALL) {
			snprintf(
			    err, errcap,
			    "mix: unknown operation \"%.*s\" (get, list, create, update, search, "
			    "delete)",
			    (int)(eq - p), p);
			return -1;
		}
		char *end;
		unsigned long w = strtoul(eq + 1, &end, 10);
		if (end != comma || w > MIX_MAX_WEIGHT) {
			snprintf(err, errcap, "mix: bad weight for %s", pl_op_name((pl_op)op));
			return -1;
		}
		m->total -= m->w[op];
		m->w[op] = (unsigned)w;
		m->total += (unsigned)w;
		p = *comma ? comma + 1 : comma;
	}
	if (m->total == 0) {
		snprintf(err, errcap, "mix: all weights are zero");
		return -1;
	}
	return 0;
}

pl_op pl_mix_pick(const pl_mix *m, pl_rng *r)
{
	unsigned x = (unsigned)pl_rng_below(r, m->total);
	for (int i = 0; i < PL_OP_COUNT; i++) {
		if (x < m->w[i])
			return (pl_op)i;
		x -= m->w[i];
	}
	return PL_OP_GET;
}
