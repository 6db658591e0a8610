// propload_mix: parsing of --mix and the picked ratios (within 2 percentage
// points over many picks, deterministic seed).
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "mix.h"

static const struct {
	const char *name, *spec;
	int ok;
} parse_cases[] = {
    {"standard", "get=90,list=5,create=4,update=1", 1},
    {"all ops", "get=1,list=1,create=1,update=1,search=1,delete=1", 1},
    {"single", "create=1", 1},
    {"unknown op", "get=1,fetch=2", 0},
    {"missing weight", "get=", 0},
    {"no equals", "get", 0},
    {"all zero", "get=0,list=0", 0},
    {"negative", "get=-1", 0},
    {"call is not a mix op", "call=1", 0},
};

static const char *const pick_specs[] = {
    "get=90,list=5,create=4,update=1",
    "get=50,search=30,create=10,update=5,delete=5",
    "list=1,create=1",
};

#define PICKS 1000000

int main(void)
{
	int failed = 0;
	char err[256];
	pl_mix m;
	for (size_t i = 0; i < sizeof parse_cases / sizeof parse_cases[0]; i++) {
		int ok = pl_mix_parse(parse_cases[i].spec, &m, err, sizeof err) == 0;
		if (ok != parse_cases[i].ok) {
			printf("FAIL parse %s: got %s (%s)\n", parse_cases[i].name,
			       ok ? "ok" : "error", ok ? "" : err);
			failed++;
		}
	}
	for (size_t i = 0; i < sizeof pick_specs / sizeof pick_specs[0]; i++) {
		if (pl_mix_parse(pick_specs[i], &m, err, sizeof err) != 0) {
			printf("FAIL %s: %s\n", pick_specs[i], err);
			failed++;
			continue;
		}
		unsigned long n[PL_OP_COUNT] = {0};
		pl_rng r;
		pl_rng_seed(&r, 1234, i);
		for (int k = 0; k < PICKS; k++)
			n[pl_mix_pick(&m, &r)]++;
		for (int op = 0; op < PL_OP_COUNT; op++) {
			double want = (double)m.w[op] / m.total, got = (double)n[op] / PICKS;
			if (fabs(got - want) > 0.02 || (m.w[op] == 0 && n[op] != 0)) {
				printf("FAIL %s: %s picked %.4f, want %.4f\n", pick_specs[i],
				       pl_op_name((pl_op)op), got, want);
				failed++;
			}
		}
	}
	// Same seed, same sequence.
	pl_mix_parse(pick_specs[0], &m, err, sizeof err);
	pl_rng a, b;
	pl_rng_seed(&a, 9, 3);
	pl_rng_seed(&b, 9, 3);
	for (int k = 0; k < 1000; k++)
		if (pl_mix_pick(&m, &a) != pl_mix_pick(&m, &b)) {
			printf("FAIL determinism\n");
			failed++;
			break;
		}
	printf("%s\n", failed ? "FAILED" : "all passed");
	return failed ? 1 : 0;
}
