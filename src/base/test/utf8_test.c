// base utf8: the one rule, against an independent decoder over every
// sequence of up to three bytes and every four-byte lead; the eight-byte
// ASCII steps of base_utf8_valid; no read past a NUL.
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/test/check.h"
#include "base/utf8.h"

// The reference: decode by the lead byte's length, then refuse overlong
// forms, surrogates and code points above U+10FFFF.
static size_t oracle(const uint8_t *s, size_t n)
{
	if (n == 0)
		return 0;
	uint8_t c = s[0];
	size_t len;
	uint32_t cp, min;
	if (c < 0x80)
		return 1;
	if ((c & 0xE0) == 0xC0)
		len = 2, cp = c & 0x1Fu, min = 0x80;
	else if ((c & 0xF0) == 0xE0)
		len = 3, cp = c & 0x0Fu, min = 0x800;
	else if ((c & 0xF8) == 0xF0)
		len = 4, cp = c & 0x07u, min = 0x10000;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t k = 1; k < len; k++) {
		if ((s[k] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (s[k] & 0x3Fu);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return len;
}

static void against_oracle(void)
{
	uint8_t b[4];
	static const uint8_t tails[] = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90,
	                                0x9F, 0xA0, 0xBF, 0xC0, 0xFF};
	for (unsigned a = 0; a < 256; a++) {
		b[0] = (uint8_t)a;
		CHECK_EQ(base_utf8_seq(b, 1), oracle(b, 1));
		for (unsigned c = 0; c < 256; c++) {
			b[1] = (uint8_t)c;
			CHECK_EQ(base_utf8_seq(b, 2), oracle(b, 2));
			if (a < 0xE0)
				continue;
			for (unsigned d = 0; d < 256; d++) {
				b[2] = (uint8_t)d;
				size_t got = base_utf8_seq(b, 3), want = oracle(b, 3);
				if (got != want)
					CHECK_FAIL("%02x %02x %02x: %zu, want %zu", a, c, d, got,
					           want);
				if (a < 0xF0)
					continue;
				for (size_t t = 0; t < sizeof tails; t++) {
					b[3] = tails[t];
					got = base_utf8_seq(b, 4);
					want = oracle(b, 4);
					if (got != want)
						CHECK_FAIL("%02x %02x %02x %02x: %zu, want %zu", a,
						           c, d, tails[t], got, want);
				}
			}
		}
	}
	CHECK_EQ(base_utf8_seq(b, 0), 0);
}

// Around the eight-byte ASCII steps: runs of ASCII before, between and after
// multi-byte and invalid sequences.
static void ascii_steps(void)
{
	static const struct {
		const char *s;
		bool ok;
		size_t ncp;
	} cases[] = {
	    {"", true, 0},
	    {"abcdefgh", true, 8},
	    {"abcdefghi", true, 9},
	    {"abcdefgh\xC3\xA9"
	     "ijklmnop",
	     true, 17},
	    {"\xC3\xA9"
	     "abcdefghijklmnopq",
	     true, 18},
	    {"abcdefghijklmnop\xE2\x82\xAC", true, 17},
	    {"abcdefgh\xF0\x9F\x98\x80", true, 9},
	    {"abcdefghi\xFF", false, 0},
	    {"abcdefghijklmnop\xC3", false, 0},
	    {"abcdefgh\xED\xA0\x80"
	     "abcdefgh",
	     false, 0},
	    {"abcdefg\xC0\x80", false, 0},
	    {"abcdefgh\xF4\x90\x80\x80", false, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = 999;
		bool ok = base_utf8_valid((const uint8_t *)cases[i].s, strlen(cases[i].s), &n);
		CHECK(ok == cases[i].ok && (!ok || n == cases[i].ncp),
		      "case %zu: %d, %zu code points", i, ok, n);
	}
	CHECK(base_utf8_valid((const uint8_t *)"a\0b", 3, NULL), "U+0000 is UTF-8");
	CHECK(base_utf8_valid(NULL, 0, NULL));
}

// A cut sequence at the end of NUL-terminated text, with n = SEQ_MAX: the
// NUL stops it (ASan catches a read past the allocation).
static void nul_terminated(void)
{
	static const char *const cut[] = {"\xC3", "\xE2\x82", "\xF0\x9F\x98", "\xF0", "\xE2"};
	for (size_t i = 0; i < sizeof cut / sizeof cut[0]; i++) {
		size_t n = strlen(cut[i]) + 1;
		uint8_t *p = malloc(n);
		memcpy(p, cut[i], n);
		CHECK_EQ(base_utf8_seq(p, BASE_UTF8_SEQ_MAX), 0);
		free(p);
	}
	uint8_t *p = malloc(4);
	memcpy(p, "\xE2\x82\xAC", 4);
	CHECK_EQ(base_utf8_seq(p, BASE_UTF8_SEQ_MAX), 3);
	free(p);
}

int main(void)
{
	against_oracle();
	ascii_steps();
	nul_terminated();
	return check_summary("base_utf8");
}
