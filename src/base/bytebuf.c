// base bytebuf: see bytebuf.h.
#include "base/bytebuf.h"

#include <stdlib.h>
#include <string.h>

#define BYTEBUF_FIRST_CAP 4096

int base_bytebuf_reserve(base_bytebuf *q, size_t n, size_t first_cap)
{
	if (q->len + n <= q->cap)
		return 0;
	if (q->off > 0) {
		memmove(q->b, q->b + q->off, base_bytebuf_pending(q));
		q->len -= q->off;
		q->off = 0;
		if (q->len + n <= q->cap)
			return 0;
	}
	size_t cap = q->cap ? q->cap : first_cap;
	while (cap < q->len + n)
		cap *= 2;
	uint8_t *b = realloc(q->b, cap);
	if (b == NULL)
		return -1;
	q->b = b;
	q->cap = cap;
	return 0;
}

int base_bytebuf_add(base_bytebuf *q, const void *p, size_t n)
{
	if (n == 0)
		return 0; // b may still be NULL
	if (base_bytebuf_reserve(q, n, BYTEBUF_FIRST_CAP) != 0)
		return -1;
	memcpy(q->b + q->len, p, n);
	q->len += n;
	return 0;
}

void base_bytebuf_clear(base_bytebuf *q)
{
	q->off = q->len = 0;
}
