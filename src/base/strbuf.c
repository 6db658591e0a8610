// base strbuf: see strbuf.h.
#include "base/strbuf.h"

#include <stdlib.h>
#include <string.h>

#define FIRST_CAP 256

bool base_strbuf_put(base_strbuf *b, const char *s, size_t n)
{
	if (b->failed)
		return false;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap != 0 ? b->cap : FIRST_CAP;
		while (b->len + n + 1 > cap)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (p == NULL) {
			b->failed = true;
			return false;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return true;
}
