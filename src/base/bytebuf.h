// base bytebuf: a byte queue for a socket's pending bytes.
//
// Zero-initialise one ({0}). Bytes b[off, len) are pending: a writer appends
// at len, a reader consumes by advancing off. When room is needed the pending
// bytes move to the front first, so the buffer only grows (doubling, from
// `first_cap`) for what is pending at once. The owner frees b with free().
#ifndef BASE_BYTEBUF_H
#define BASE_BYTEBUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct base_bytebuf {
	uint8_t *b;
	size_t off, len, cap;
} base_bytebuf;

// Bytes appended and not yet consumed.
static inline size_t base_bytebuf_pending(const base_bytebuf *q)
{
	return q->len - q->off;
}

// Room for at least n more bytes after len. -1 when memory ran out (the
// pending bytes are kept).
int base_bytebuf_reserve(base_bytebuf *q, size_t n, size_t first_cap);
// Appends p[0..n). -1 when memory ran out (nothing appended).
int base_bytebuf_add(base_bytebuf *q, const void *p, size_t n);
// Drops every pending byte (keeps the memory).
void base_bytebuf_clear(base_bytebuf *q);

#endif
