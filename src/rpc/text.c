// nrpc text: see nrpc/text.h. The rule itself is base/utf8.h.
#include "nrpc/text.h"

#include <stdint.h>

#include "base/utf8.h"

bool nrpc_utf8_valid(const char *s, size_t n)
{
	return base_utf8_valid((const uint8_t *)s, n, NULL);
}

size_t nrpc_utf8_count(const char *s, size_t n)
{
	size_t count = 0;
	for (size_t i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			count++;
	return count;
}
