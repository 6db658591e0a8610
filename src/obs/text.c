// obs text: UTF-8 validation and shortest round-trip double formatting.
#include "obs/text.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_cont(unsigned char c)
{
	return (c & 0xC0) == 0x80;
}

size_t obs_text_utf8_len(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	unsigned char c = u[0];

	if (c < 0x80) {
		return 1;
	}
	if (c >= 0xC2 && c <= 0xDF) {
		return is_cont(u[1]) ? 2 : 0;
	}
	if (c >= 0xE0 && c <= 0xEF) {
		// E0 needs A0..BF (no overlongs); ED needs 80..9F (no surrogates).
		unsigned char lo = c == 0xE0 ? 0xA0 : 0x80;
		unsigned char hi = c == 0xED ? 0x9F : 0xBF;
		if (u[1] < lo || u[1] > hi || !is_cont(u[2])) {
			return 0;
		}
		return 3;
	}
	if (c >= 0xF0 && c <= 0xF4) {
		// F0 needs 90..BF (no overlongs); F4 needs 80..8F (<= U+10FFFF).
		unsigned char lo = c == 0xF0 ? 0x90 : 0x80;
		unsigned char hi = c == 0xF4 ? 0x8F : 0xBF;
		if (u[1] < lo || u[1] > hi || !is_cont(u[2]) || !is_cont(u[3])) {
			return 0;
		}
		return 4;
	}
	return 0; // 80..C1 (continuation or overlong lead) and F5..FF
}

size_t obs_text_double(char *buf, double v, const char *nan, const char *inf, const char *ninf)
{
	const char *word = NULL;
	int n = 0;

	if (isnan(v)) {
		word = nan;
	} else if (isinf(v)) {
		word = v > 0 ? inf : ninf;
	}
	if (word != NULL) {
		n = snprintf(buf, OBS_TEXT_DOUBLE_CAP, "%s", word);
		return n < 0 ? 0 : (size_t)n;
	}
	for (int prec = 15; prec <= 17; prec++) {
		n = snprintf(buf, OBS_TEXT_DOUBLE_CAP, "%.*g", prec, v);
		if (prec == 17 || strtod(buf, NULL) == v) {
			break;
		}
	}
	return n < 0 ? 0 : (size_t)n;
}
