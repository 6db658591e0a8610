// base test check: see check.h.
#include "base/test/check.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static atomic_int failures;
static const char *current_case; // set by check_run on the main thread

static void head(const char *file, int line, const char *expr)
{
	atomic_fetch_add(&failures, 1);
	fprintf(stderr, "FAIL %s:%d: ", file, line);
	if (current_case != NULL)
		fprintf(stderr, "[%s] ", current_case);
	if (expr != NULL)
		fprintf(stderr, "%s", expr);
}

void check_fail(const char *file, int line, const char *expr)
{
	flockfile(stderr);
	head(file, line, expr);
	fputc('\n', stderr);
	funlockfile(stderr);
}

void check_failf(const char *file, int line, const char *expr, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	flockfile(stderr);
	head(file, line, expr);
	if (expr != NULL)
		fputs(": ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	funlockfile(stderr);
	va_end(ap);
}

int check_eq(const char *file, int line, const char *expr, intmax_t got, intmax_t want)
{
	if (got == want)
		return 1;
	check_failf(file, line, expr, "got %" PRIdMAX ", want %" PRIdMAX, got, want);
	return 0;
}

int check_str(const char *file, int line, const char *expr, const char *got, const char *want)
{
	if (got == want || (got != NULL && want != NULL && strcmp(got, want) == 0))
		return 1;
	const char *gq = got != NULL ? "\"" : "", *wq = want != NULL ? "\"" : "";
	check_failf(file, line, expr, "got %s%s%s, want %s%s%s", gq, got != NULL ? got : "NULL", gq,
	            wq, want != NULL ? want : "NULL", wq);
	return 0;
}

int check_failures(void)
{
	return atomic_load(&failures);
}

int check_run(const check_case *cases, size_t n, const char *only, void (*before)(void))
{
	int failed = 0;
	for (size_t i = 0; i < n; i++) {
		if (only != NULL && strcmp(only, cases[i].name) != 0)
			continue;
		int was = check_failures();
		current_case = cases[i].name;
		if (before != NULL)
			before();
		cases[i].fn();
		current_case = NULL;
		bool bad = check_failures() != was;
		failed += bad;
		printf("%s %s\n", bad ? "FAIL" : "ok  ", cases[i].name);
		fflush(stdout);
	}
	return failed;
}

int check_summary(const char *name)
{
	int n = check_failures();
	if (n > 0) {
		fprintf(stderr, "%s: %d failed check(s)\n", name, n);
		return 1;
	}
	printf("%s: ok\n", name);
	return 0;
}
