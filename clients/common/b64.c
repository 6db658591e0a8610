// b64: see b64.h. The codec itself is src/base/b64url.h's.
#include "b64.h"

#include <stdlib.h>

#include "base/b64url.h"

char *pdc_b64_encode(const uint8_t *data, size_t len)
{
	char *out = malloc(base_b64_len(len) + 1);
	if (out != NULL)
		base_b64_encode(data, len, out);
	return out;
}

int pdc_b64_decode(const char *s, size_t n, uint8_t **out, size_t *outlen)
{
	*out = NULL;
	*outlen = 0;
	uint8_t *buf = malloc(n / 4 * 3 + 3);
	if (buf == NULL)
		return -2;
	long got = base_b64_decode_any(s, n, buf, n / 4 * 3 + 3);
	if (got <= 0) {
		free(buf);
		return got == 0 ? 0 : -1;
	}
	*out = buf;
	*outlen = (size_t)got;
	return 0;
}
