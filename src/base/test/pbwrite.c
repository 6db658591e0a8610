// base test pbwrite: see pbwrite.h.
#include "base/test/pbwrite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/pbwire.h"

void check_pb_bytes(check_pb *b, const void *data, size_t len)
{
	if (b->n + len > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->n + len)
			cap *= 2;
		uint8_t *p = realloc(b->p, cap);
		if (p == NULL) {
			fprintf(stderr, "check_pb: out of memory\n");
			abort();
		}
		b->p = p;
		b->cap = cap;
	}
	if (len > 0)
		memcpy(b->p + b->n, data, len);
	b->n += len;
}

void check_pb_byte(check_pb *b, uint8_t v)
{
	check_pb_bytes(b, &v, 1);
}

void check_pb_varint(check_pb *b, uint64_t v)
{
	uint8_t tmp[PBWIRE_VARINT_MAX];
	check_pb_bytes(b, tmp, base_pbwire_put_varint(tmp, v));
}

void check_pb_field(check_pb *b, unsigned field, const void *data, size_t len)
{
	check_pb_varint(b, (uint64_t)field << 3 | PBWIRE_LEN);
	check_pb_varint(b, len);
	check_pb_bytes(b, data, len);
}

void check_pb_meta(check_pb *b, const void *key, size_t klen, const void *val, size_t vlen)
{
	check_pb e = {0};
	check_pb_field(&e, 1, key, klen);
	check_pb_field(&e, 2, val, vlen);
	check_pb_field(b, 3, e.p, e.n);
	free(e.p);
}
