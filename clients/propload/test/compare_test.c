// propload_compare: the ratios `propload compare` prints, on hand-made result
// documents.
#include <math.h>
#include <stdio.h>

#include "compare.h"

static json_t *doc(double get_rps, double get_p99, double tot_rps, double tot_p50)
{
	return json_pack("{s:{s:f,s:{s:f,s:f,s:f,s:f}},s:[{s:s,s:f,s:{s:f,s:f,s:f,s:f}}]}",
	                 "summary", "throughput_rps", tot_rps, "latency_us", "p50", tot_p50, "p90",
	                 200.0, "p99", 400.0, "p999", 0.0, "methods", "name", "get",
	                 "throughput_rps", get_rps, "latency_us", "p50", 100.0, "p90", 150.0, "p99",
	                 get_p99, "p999", 900.0);
}

static const struct {
	const char *name, *entry;
	int field; // 0 rps, 1 p50, 2 p90, 3 p99, 4 p999
	double want;
} cases[] = {
    {"get throughput doubled", "get", 0, 2.0},
    {"get p99 halved", "get", 3, 0.5},
    {"total rps", "total", 0, 1.25},
    {"total p50 same", "total", 1, 1.0},
    {"zero baseline gives 0", "total", 4, 0.0},
};

int main(void)
{
	int failed = 0;
	json_t *a = doc(1000, 800, 4000, 120), *b = doc(2000, 400, 5000, 120);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		pl_cmp_cell c[PL_CMP_FIELDS];
		if (pl_compare_entry(a, b, cases[i].entry, c) != 0) {
			printf("FAIL %s: entry missing\n", cases[i].name);
			failed++;
			continue;
		}
		double got = c[cases[i].field].ratio;
		if (fabs(got - cases[i].want) > 1e-9) {
			printf("FAIL %s: ratio %g, want %g\n", cases[i].name, got, cases[i].want);
			failed++;
		}
	}
	pl_cmp_cell c[PL_CMP_FIELDS];
	if (pl_compare_entry(a, b, "create", c) != -1) {
		printf("FAIL missing method not reported\n");
		failed++;
	}
	if (pl_ratio(0, 5) != 0 || pl_ratio(4, 2) != 0.5) {
		printf("FAIL pl_ratio\n");
		failed++;
	}
	if (pl_compare_print(stdout, a, b) != 0) {
		printf("FAIL print\n");
		failed++;
	}
	json_decref(a);
	json_decref(b);
	printf("%s\n", failed ? "FAILED" : "all passed");
	return failed ? 1 : 0;
}
