// status_test: nrpc_code_name() knows every gRPC code and nothing else.
#include <stdio.h>
#include <string.h>

#include "nrpc/status.h"

static const struct {
	unsigned code;
	const char *name;
} cases[] = {
    {0, "OK"},
    {1, "CANCELLED"},
    {2, "UNKNOWN"},
    {3, "INVALID_ARGUMENT"},
    {4, "DEADLINE_EXCEEDED"},
    {5, "NOT_FOUND"},
    {6, "ALREADY_EXISTS"},
    {7, "PERMISSION_DENIED"},
    {8, "RESOURCE_EXHAUSTED"},
    {9, "FAILED_PRECONDITION"},
    {10, "ABORTED"},
    {11, "OUT_OF_RANGE"},
    {12, "UNIMPLEMENTED"},
    {13, "INTERNAL"},
    {14, "UNAVAILABLE"},
    {15, "DATA_LOSS"},
    {16, "UNAUTHENTICATED"},
    {17, "UNKNOWN"},  // first number past the table
    {999, "UNKNOWN"}, // far out of range
    {~0u, "UNKNOWN"}, // the largest unsigned
};

int main(void)
{
	int failed = 0;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = nrpc_code_name(cases[i].code);
		if (got == NULL || strcmp(got, cases[i].name) != 0) {
			fprintf(stderr, "FAIL code %u: got %s, want %s\n", cases[i].code,
			        got != NULL ? got : "(null)", cases[i].name);
			failed++;
		}
	}
	if (NRPC_CODE_COUNT != 17) {
		fprintf(stderr, "FAIL NRPC_CODE_COUNT is %d, want 17\n", NRPC_CODE_COUNT);
		failed++;
	}
	printf("status_test: %s\n", failed ? "FAILED" : "ok");
	return failed ? 1 : 0;
}
