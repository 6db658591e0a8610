// base pbwire: see pbwire.h.
#include "base/pbwire.h"

int base_pbwire_get_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	uint64_t r = 0;
	for (unsigned shift = 0; shift < 7 * PBWIRE_VARINT_MAX && *p < end; shift += 7) {
		uint8_t b = *(*p)++;
		r |= (uint64_t)(b & 0x7f) << shift;
		if ((b & 0x80) == 0) {
			*v = r;
			return 0;
		}
	}
	return -1;
}

int base_pbwire_next(const uint8_t **p, const uint8_t *end, base_pbwire_field *f)
{
	// The tag as protobuf-c 1.4.1 reads it (parse_tag_and_wiretype): at most
	// five bytes, the field number kept in 32 bits (higher bits dropped), and
	// a first byte whose number bits are all zero refused.
	const uint8_t *q = *p;
	if (q >= end || (q[0] & 0xf8) == 0)
		return -1;
	uint32_t num = (uint32_t)(q[0] & 0x7f) >> 3;
	size_t used = 0, max = (size_t)(end - q) < 5 ? (size_t)(end - q) : 5;
	if ((q[0] & 0x80) == 0)
		used = 1;
	for (size_t i = 1, shift = 4; used == 0 && i < max; i++, shift += 7) {
		num |= (uint32_t)(q[i] & 0x7f) << shift;
		if ((q[i] & 0x80) == 0)
			used = i + 1;
	}
	if (used == 0)
		return -1;
	*p += used;
	f->num = num;
	f->wt = (enum base_pbwire_type)(q[0] & 7);
	f->body = NULL;
	switch (f->wt) {
	case PBWIRE_VARINT:
		return base_pbwire_get_varint(p, end, &f->value);
	case PBWIRE_I64:
	case PBWIRE_I32:
		f->value = f->wt == PBWIRE_I64 ? 8 : 4;
		break;
	case PBWIRE_LEN:
		if (base_pbwire_get_varint(p, end, &f->value) != 0)
			return -1;
		break;
	default: // groups (3, 4) and 6, 7: protobuf-c refuses them too
		return -1;
	}
	if (f->value > (uint64_t)(end - *p))
		return -1;
	f->body = *p;
	*p += f->value;
	return 0;
}

size_t base_pbwire_varint_size(uint64_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

size_t base_pbwire_put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}
