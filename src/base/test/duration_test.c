// base duration: the syntax every duration flag and setting uses.
#include <string.h>

#include "base/duration.h"
#include "base/test/check.h"

static int64_t ok(const char *s, base_dur_unit bare)
{
	int64_t v = -1;
	char err[128] = "";
	CHECK(base_duration_parse(s, bare, &v, err, sizeof err) == 0, "\"%s\": %s", s, err);
	return v;
}

static void bad(const char *s, base_dur_unit bare, const char *why)
{
	int64_t v = 42;
	char err[128] = "";
	CHECK(base_duration_parse(s, bare, &v, err, sizeof err) == -1, "\"%s\" parsed", s);
	CHECK(v == 42, "\"%s\" wrote %lld", s, (long long)v);
	CHECK(strstr(err, why) != NULL, "\"%s\": \"%s\" lacks \"%s\"", s, err, why);
}

static void units(void)
{
	CHECK_EQ(ok("90us", BASE_DUR_REQUIRED), 90);
	CHECK_EQ(ok("250ms", BASE_DUR_REQUIRED), 250000);
	CHECK_EQ(ok("1.5s", BASE_DUR_REQUIRED), 1500000);
	CHECK_EQ(ok("2m", BASE_DUR_REQUIRED), 120000000);
	CHECK_EQ(ok("1h", BASE_DUR_REQUIRED), 3600000000LL);
	CHECK_EQ(ok("7d", BASE_DUR_REQUIRED), 7LL * 86400 * 1000000);
	CHECK_EQ(ok("0.25h", BASE_DUR_REQUIRED), 900000000LL);
	CHECK_EQ(ok(".5s", BASE_DUR_REQUIRED), 500000);
	CHECK_EQ(ok("0s", BASE_DUR_REQUIRED), 0);
	CHECK_EQ(ok("1.000us", BASE_DUR_REQUIRED), 1);
	CHECK_EQ(ok("0.001ms", BASE_DUR_REQUIRED), 1);
	CHECK_EQ(ok("007s", BASE_DUR_REQUIRED), 7000000);
}

static void bare_numbers(void)
{
	CHECK_EQ(ok("5000", BASE_DUR_MS), 5000000);
	CHECK_EQ(ok("2.5", BASE_DUR_MS), 2500);
	CHECK_EQ(ok("10", BASE_DUR_S), 10000000);
	CHECK_EQ(ok("0.5", BASE_DUR_S), 500000);
	CHECK_EQ(ok("3", BASE_DUR_US), 3);
	CHECK_EQ(ok("3s", BASE_DUR_MS), 3000000); // a unit wins over the bare one
	bad("5000", BASE_DUR_REQUIRED, "unit is required");
}

static void junk(void)
{
	bad("", BASE_DUR_S, "empty");
	bad(NULL, BASE_DUR_S, "empty");
	bad("s", BASE_DUR_S, "want a number");
	bad(".", BASE_DUR_S, "want a number");
	bad("1.", BASE_DUR_S, "want a number");
	bad("-1s", BASE_DUR_S, "want a number");
	bad("+1s", BASE_DUR_S, "want a number");
	bad(" 1s", BASE_DUR_S, "want a number");
	bad("1s ", BASE_DUR_S, "unknown unit");
	bad("1 s", BASE_DUR_S, "unknown unit");
	bad("1e3ms", BASE_DUR_S, "unknown unit");
	bad("1sec", BASE_DUR_S, "unknown unit");
	bad("1ns", BASE_DUR_S, "unknown unit");
	bad("1S", BASE_DUR_S, "unknown unit");
	bad("1s2ms", BASE_DUR_S, "unknown unit");
	bad("0x10", BASE_DUR_S, "unknown unit");
	bad("1.2.3s", BASE_DUR_S, "unknown unit");
	bad("0.5us", BASE_DUR_S, "finer than a microsecond");
	bad("1.0001ms", BASE_DUR_S, "finer than a microsecond");
}

static void overflow(void)
{
	CHECK_EQ(ok("36600d", BASE_DUR_REQUIRED), BASE_DURATION_MAX_US);
	bad("36601d", BASE_DUR_REQUIRED, "too large");
	bad("36600.5d", BASE_DUR_REQUIRED, "too large");
	bad("9223372036854775807", BASE_DUR_S, "too large");
	bad("99999999999999999999999999us", BASE_DUR_S, "too large");
	bad("18446744073709551617s", BASE_DUR_S, "too large");
	CHECK_EQ(ok("3162240000000000us", BASE_DUR_REQUIRED), BASE_DURATION_MAX_US);
	bad("3162240000000001us", BASE_DUR_REQUIRED, "too large");
	int64_t v = 0;
	CHECK(base_duration_parse("x", BASE_DUR_S, &v, NULL, 0) == -1); // no room for a reason
}

static void format(void)
{
	char b[32];
	CHECK_STR(base_duration_format(0, b, sizeof b), "0s");
	CHECK_STR(base_duration_format(90, b, sizeof b), "90us");
	CHECK_STR(base_duration_format(250000, b, sizeof b), "250ms");
	CHECK_STR(base_duration_format(1500000, b, sizeof b), "1500ms");
	CHECK_STR(base_duration_format(120000000, b, sizeof b), "2m");
	CHECK_STR(base_duration_format(7LL * 86400 * 1000000, b, sizeof b), "7d");
	const int64_t samples[] = {1, 999, 1001, 61000000, 3600000001LL, BASE_DURATION_MAX_US};
	for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++)
		CHECK_EQ(ok(base_duration_format(samples[i], b, sizeof b), BASE_DUR_REQUIRED),
		         samples[i]);
}

int main(int argc, char **argv)
{
	static const check_case cases[] = {
	    {"units", units},   {"bare_numbers", bare_numbers},
	    {"junk", junk},     {"overflow", overflow},
	    {"format", format},
	};
	return check_run(cases, sizeof cases / sizeof cases[0], argc > 1 ? argv[1] : NULL, NULL) !=
	       0;
}
