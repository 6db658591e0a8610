// base bigend: big-endian (network order) loads and stores of 32- and 64-bit
// unsigned integers at any alignment: the length prefixes and request ids of
// nng's SP wire format, page-token fields.
//
// Header only; pure. p must have 4 (…32) or 8 (…64) bytes; the caller owns it.
#ifndef BASE_BIGEND_H
#define BASE_BIGEND_H

#include <stdint.h>

static inline uint32_t base_be32_get(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void base_be32_put(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline uint64_t base_be64_get(const uint8_t *p)
{
	return (uint64_t)base_be32_get(p) << 32 | base_be32_get(p + 4);
}

static inline void base_be64_put(uint8_t *p, uint64_t v)
{
	base_be32_put(p, (uint32_t)(v >> 32));
	base_be32_put(p + 4, (uint32_t)v);
}

#endif
