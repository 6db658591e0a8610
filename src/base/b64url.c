// base b64url: see b64url.h.
#include "base/b64url.h"

#include <stdbool.h>

static const char url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char std_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// The value of one character of the URL alphabet (with `any`, of the
// standard one too), or -1 for anything else.
static int value(unsigned char c, bool any)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-' || (any && c == '+'))
		return 62;
	if (c == '_' || (any && c == '/'))
		return 63;
	return -1;
}

size_t base_b64url_len(size_t len)
{
	return len / 3 * 4 + (len % 3 == 0 ? 0 : len % 3 + 1);
}

size_t base_b64_len(size_t len)
{
	return (len + 2) / 3 * 4;
}

static void encode(const uint8_t *in, size_t len, char *out, const char *alphabet, bool pad)
{
	size_t o = 0;
	uint32_t acc = 0;
	unsigned bits = 0;
	for (size_t i = 0; i < len; i++) {
		acc = (acc << 8) | in[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			out[o++] = alphabet[(acc >> bits) & 63];
		}
	}
	if (bits > 0)
		out[o++] = alphabet[(acc << (6 - bits)) & 63];
	while (pad && o % 4 != 0)
		out[o++] = '=';
	out[o] = '\0';
}

void base_b64url_encode(const uint8_t *in, size_t len, char *out)
{
	encode(in, len, out, url_alphabet, false);
}

void base_b64_encode(const uint8_t *in, size_t len, char *out)
{
	encode(in, len, out, std_alphabet, true);
}

static long decode(const char *in, size_t len, uint8_t *out, size_t cap, bool any)
{
	if (len % 4 == 1)
		return -1;
	size_t need = len / 4 * 3 + (len % 4 == 0 ? 0 : len % 4 - 1);
	if (need > cap)
		return -1;
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		int v = value((unsigned char)in[i], any);
		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (acc != 0) // leftover bits of the last character must be zero
		return -1;
	return (long)n;
}

long base_b64url_decode(const char *in, size_t len, uint8_t *out, size_t cap)
{
	return decode(in, len, out, cap, false);
}

long base_b64_decode_any(const char *in, size_t len, uint8_t *out, size_t cap)
{
	size_t pad = 0;
	while (len > 0 && in[len - 1] == '=' && pad < 2) {
		len--;
		pad++;
	}
	if (pad > 0 && (len + pad) % 4 != 0)
		return -1;
	return decode(in, len, out, cap, true);
}
