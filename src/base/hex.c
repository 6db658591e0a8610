// base hex: see hex.h.
#include "base/hex.h"

static const char digits[] = "0123456789abcdef";

void base_hex_encode(const uint8_t *in, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

void base_hex_uuid(const uint8_t b[16], char out[BASE_UUID_TEXT_LEN + 1])
{
	size_t o = 0;
	for (size_t i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = digits[b[i] >> 4];
		out[o++] = digits[b[i] & 15];
	}
	out[o] = '\0';
}

bool base_hex_uuid_parse(const char *s, uint8_t out[16])
{
	size_t j = 0;
	for (size_t i = 0; i < BASE_UUID_TEXT_LEN; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
			continue;
		}
		int v = base_hex_value(s[i]); // -1 for the NUL of a short s too
		if (v < 0)
			return false;
		if (j % 2 == 0)
			out[j / 2] = (uint8_t)(v << 4);
		else
			out[j / 2] = (uint8_t)(out[j / 2] | v);
		j++;
	}
	return s[BASE_UUID_TEXT_LEN] == '\0';
}

int base_hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}
