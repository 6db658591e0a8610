// base duration: see duration.h.
#include "base/duration.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

typedef struct dur_unit {
	const char *name;
	int64_t us;
} dur_unit;

// Longest name first where one is a prefix of another ("ms" before "m").
static const dur_unit units[] = {
    {"us", 1},
    {"ms", 1000},
    {"s", 1000000},
    {"m", 60LL * 1000000},
    {"h", 3600LL * 1000000},
    {"d", 86400LL * 1000000},
};
#define N_UNITS (sizeof units / sizeof units[0])

static int fail(char *err, size_t errcap, const char *s, const char *why)
{
	if (errcap > 0)
		snprintf(err, errcap, "bad duration \"%s\": %s", s ? s : "", why);
	return -1;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

int base_duration_parse(const char *s, base_dur_unit bare, int64_t *out_us, char *err,
                        size_t errcap)
{
	if (s == NULL || *s == '\0')
		return fail(err, errcap, s, "empty");
	const char *p = s;
	const char *int_start = p;
	while (is_digit(*p))
		p++;
	const char *int_end = p;
	const char *frac_start = NULL, *frac_end = NULL;
	if (*p == '.') {
		frac_start = ++p;
		while (is_digit(*p))
			p++;
		frac_end = p;
	}
	size_t n_int = (size_t)(int_end - int_start);
	size_t n_frac = frac_start ? (size_t)(frac_end - frac_start) : 0;
	if (n_int + n_frac == 0 || (frac_start && n_frac == 0))
		return fail(err, errcap, s, "want a number and a unit, e.g. 250ms, 1.5s, 2m");
	int64_t mul = (int64_t)bare;
	if (*p != '\0') {
		mul = 0;
		for (size_t i = 0; i < N_UNITS; i++)
			if (strcmp(p, units[i].name) == 0) {
				mul = units[i].us;
				break;
			}
		if (mul == 0)
			return fail(err, errcap, s, "unknown unit (use us, ms, s, m, h or d)");
	} else if (mul == 0) {
		return fail(err, errcap, s, "a unit is required (us, ms, s, m, h, d)");
	}
	const int64_t max = BASE_DURATION_MAX_US;
	int64_t v = 0;
	for (const char *q = int_start; q < int_end; q++) {
		int64_t digit = *q - '0';
		if (v > (max / mul - digit) / 10)
			return fail(err, errcap, s, "too large (at most 100 years)");
		v = v * 10 + digit;
	}
	v *= mul;
	// The fraction, digit by digit: scale is what one unit of the current
	// decimal place is worth, in microseconds.
	int64_t scale = mul;
	for (const char *q = frac_start; q && q < frac_end; q++) {
		int64_t digit = *q - '0';
		if (scale % 10 != 0) {
			if (digit != 0)
				return fail(err, errcap, s, "finer than a microsecond");
			continue;
		}
		scale /= 10;
		v += digit * scale;
	}
	if (v > max)
		return fail(err, errcap, s, "too large (at most 100 years)");
	*out_us = v;
	return 0;
}

char *base_duration_format(int64_t us, char *buf, size_t cap)
{
	size_t i = N_UNITS - 1;
	while (i > 0 && (us == 0 || us % units[i].us != 0))
		i--;
	if (us == 0)
		i = 2; // "0s"
	snprintf(buf, cap, "%" PRId64 "%s", us / units[i].us, units[i].name);
	return buf;
}
