// See value.h.
#include "cache/value.h"

#include <stdio.h>

static const char KIND_CHARS[] = {'F', 'P', 'D'};

size_t cache_value_header(char *buf, cache_kind kind, uint64_t version)
{
	int n = snprintf(buf, CACHE_VALUE_HEADER_MAX, "%c%llu:", KIND_CHARS[kind],
	                 (unsigned long long)version);
	return (size_t)n;
}

int cache_value_parse(const char *v, size_t len, cache_kind *kind, uint64_t *version,
                      const uint8_t **body, size_t *body_len)
{
	size_t i;
	uint64_t ver = 0;

	if (len < 3)
		return -1;
	switch (v[0]) {
	case 'F':
		*kind = CACHE_KIND_FENCE;
		break;
	case 'P':
		*kind = CACHE_KIND_ROW;
		break;
	case 'D':
		*kind = CACHE_KIND_TOMB;
		break;
	default:
		return -1;
	}
	if (v[1] == '0' && v[2] != ':')
		return -1; // leading zero
	for (i = 1; i < len && v[i] != ':'; i++) {
		unsigned d = (unsigned)(v[i] - '0');
		if (d > 9 || i > 20 || ver > (UINT64_MAX - d) / 10)
			return -1;
		ver = ver * 10 + d;
	}
	if (i == 1 || i == len)
		return -1; // no digits, or no ':'
	*version = ver;
	*body = (const uint8_t *)v + i + 1;
	*body_len = len - i - 1;
	if (*kind != CACHE_KIND_ROW && *body_len != 0)
		return -1;
	return 0;
}
