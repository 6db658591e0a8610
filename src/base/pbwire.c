// base pbwire: see pbwire.h.
#include "base/pbwire.h"

int pbwire_get_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
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

int pbwire_next(const uint8_t **p, const uint8_t *end, pbwire_field *f)
{
	uint64_t tag;
	if (pbwire_get_varint(p, end, &tag) != 0 || (tag >> 3) == 0 ||
	    (tag >> 3) > PBWIRE_FIELD_MAX)
		return -1;
	f->num = (uint32_t)(tag >> 3);
	f->wt = (enum pbwire_type)(tag & 7);
	f->body = NULL;
	switch (f->wt) {
	case PBWIRE_VARINT:
		return pbwire_get_varint(p, end, &f->value);
	case PBWIRE_I64:
	case PBWIRE_I32:
		f->value = f->wt == PBWIRE_I64 ? 8 : 4;
		break;
	case PBWIRE_LEN:
		if (pbwire_get_varint(p, end, &f->value) != 0)
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

size_t pbwire_varint_size(uint64_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

size_t pbwire_put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}
