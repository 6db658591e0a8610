// cache value: the encoding of the values stored under property:<id>.
//
//   <kind><version>:<body>
//
//   kind     one byte: 'F' fence, 'P' row, 'D' tombstone
//   version  the row's version in decimal, no sign, no leading zeros
//   body     'P': the serialized property.v1.Property at that version;
//            'F', 'D': empty
//
// A value is ordered by (version, kind) with F < P < D; the put script
// (scripts.c) writes a value only over a strictly smaller one, or over a key
// that is absent or holds garbage. So a row never goes back in version, a
// tombstone at v blocks rows of version <= v, and a fence at v ("the row is
// at least at version v; nothing cached") blocks rows older than v while
// letting the row of version v itself be cached. Fences are what the
// adapter writes when it replays a failed put (it did not keep the bytes).
//
// A reader sees: 'P' a hit, 'D' gone, 'F' a miss, anything else garbage
// (deleted, then a miss). The first byte makes the three kinds and garbage
// unambiguous, and ':' ends the version, so the body may hold any bytes.
//
// Pure functions, thread-safe.
#ifndef CACHE_VALUE_H
#define CACHE_VALUE_H

#include <stddef.h>
#include <stdint.h>

typedef enum cache_kind {
	CACHE_KIND_FENCE = 0, // ranks as in the put script: F < P < D
	CACHE_KIND_ROW = 1,
	CACHE_KIND_TOMB = 2,
} cache_kind;

// kind + at most 20 digits of a uint64 + ':' + NUL.
#define CACHE_VALUE_HEADER_MAX 23

// Writes "<kind><version>:" and a NUL into buf[CACHE_VALUE_HEADER_MAX];
// returns the length without the NUL.
size_t cache_value_header(char *buf, cache_kind kind, uint64_t version);

// Splits a stored value. Returns 0 and sets the outputs (body points into v),
// or -1 when v is not a well-formed value of any kind (garbage: also a
// fence or tombstone with a body).
int cache_value_parse(const char *v, size_t len, cache_kind *kind, uint64_t *version,
                      const uint8_t **body, size_t *body_len);

#endif
