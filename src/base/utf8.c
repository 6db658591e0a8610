// base utf8: see utf8.h.
#include "base/utf8.h"

#include <string.h>

static bool cont(uint8_t c)
{
	return (c & 0xC0) == 0x80;
}

size_t base_utf8_seq(const uint8_t *s, size_t n)
{
	if (n == 0)
		return 0;
	uint8_t c = s[0];
	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF) // C0, C1 would only start overlong forms
		return n >= 2 && cont(s[1]) ? 2 : 0;
	if (c >= 0xE0 && c <= 0xEF) {
		// E0 needs A0..BF (no overlongs); ED needs 80..9F (no surrogates).
		uint8_t lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
		return n >= 3 && s[1] >= lo && s[1] <= hi && cont(s[2]) ? 3 : 0;
	}
	if (c >= 0xF0 && c <= 0xF4) {
		// F0 needs 90..BF (no overlongs); F4 needs 80..8F (<= U+10FFFF).
		uint8_t lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
		return n >= 4 && s[1] >= lo && s[1] <= hi && cont(s[2]) && cont(s[3]) ? 4 : 0;
	}
	return 0; // 80..BF (a continuation byte), C0, C1, F5..FF
}

bool base_utf8_valid(const uint8_t *s, size_t n, size_t *ncp)
{
	size_t i = 0, count = 0;
	while (i < n) {
		// ASCII, the common case, eight bytes at a time.
		while (n - i >= 8) {
			uint64_t w;
			memcpy(&w, s + i, 8);
			if (w & 0x8080808080808080ull)
				break;
			i += 8;
			count += 8;
		}
		if (i == n)
			break;
		size_t len = base_utf8_seq(s + i, n - i);
		if (len == 0)
			return false;
		i += len;
		count++;
	}
	if (ncp != NULL)
		*ncp = count;
	return true;
}
