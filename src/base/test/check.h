// base test check: the assertions of the unit tests (library pd_check).
//
//   CHECK(cond)              a failure when cond is false: "FAIL file:line: cond"
//   CHECK(cond, fmt, ...)    the same, with a printf-style note after it
//   CHECK_EQ(got, want)      two integers (any integer types), both printed
//   CHECK_STR(got, want)     two strings (NULL allowed), both printed
//   CHECK_FAIL(fmt, ...)     a failure, unconditionally
//
// A failed check is counted and reported on stderr; the test goes on. Cases
// run through check_run are named in the report and get an "ok"/"FAIL" line
// each; check_summary ends main. The count is process-wide and atomic, so
// checks may run on any thread; a case name is set by check_run only.
#ifndef BASE_TEST_CHECK_H
#define BASE_TEST_CHECK_H

#include <stddef.h>
#include <stdint.h>

// Up to 16 arguments: CHECK_1_ for one, CHECK_N_ for more.
#define CHECK_PICK_(a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, m, ...) m
#define CHECK(...)                                                                                 \
	CHECK_PICK_(__VA_ARGS__, CHECK_N_, CHECK_N_, CHECK_N_, CHECK_N_, CHECK_N_, CHECK_N_,       \
	            CHECK_N_, CHECK_N_, CHECK_N_, CHECK_N_, CHECK_N_, CHECK_N_, CHECK_N_,          \
	            CHECK_N_, CHECK_N_, CHECK_1_, 0)                                               \
	(__VA_ARGS__)
#define CHECK_1_(cond)                                                                             \
	do {                                                                                       \
		if (!(cond))                                                                       \
			check_fail(__FILE__, __LINE__, #cond);                                     \
	} while (0)
#define CHECK_N_(cond, ...)                                                                        \
	do {                                                                                       \
		if (!(cond))                                                                       \
			check_failf(__FILE__, __LINE__, #cond, __VA_ARGS__);                       \
	} while (0)
#define CHECK_EQ(got, want)                                                                        \
	check_eq(__FILE__, __LINE__, #got " == " #want, (intmax_t)(got), (intmax_t)(want))
#define CHECK_STR(got, want) check_str(__FILE__, __LINE__, #got " == " #want, (got), (want))
#define CHECK_FAIL(...)      check_failf(__FILE__, __LINE__, NULL, __VA_ARGS__)

void check_fail(const char *file, int line, const char *expr);
// expr may be NULL (CHECK_FAIL).
void check_failf(const char *file, int line, const char *expr, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
// Return whether the values are equal (a failure is counted when not).
int check_eq(const char *file, int line, const char *expr, intmax_t got, intmax_t want);
int check_str(const char *file, int line, const char *expr, const char *got, const char *want);

// Failed checks so far.
int check_failures(void);

typedef struct check_case {
	const char *name;
	void (*fn)(void);
} check_case;
// Runs cases[0..n) in order, or only the one named `only` (NULL: all), each
// after before() (may be NULL), and prints "ok   NAME" or "FAIL NAME" on
// stdout after each. Returns the number of cases with a failed check.
int check_run(const check_case *cases, size_t n, const char *only, void (*before)(void));

// Prints "NAME: ok" on stdout, or "NAME: N failed check(s)" on stderr;
// returns main's exit status (0 when no check failed, else 1).
int check_summary(const char *name);

#endif
