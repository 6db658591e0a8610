// b64: base64 for pbjson's bytes fields (RFC 4648).
//
// Encoding writes the standard alphabet with padding. Decoding accepts the
// standard and the URL-safe alphabet, with or without padding, and nothing
// else (no whitespace). Pure functions; results are malloc'd for the caller.
#ifndef PDC_B64_H
#define PDC_B64_H

#include <stddef.h>
#include <stdint.h>

// Returns a malloc'd NUL-terminated string, or NULL on allocation failure.
char *pdc_b64_encode(const uint8_t *data, size_t len);

// Decodes s[n]. On success returns 0 with *out malloc'd (NULL when the result
// is empty) and *outlen set. Returns -1 on malformed input, -2 on allocation
// failure; *out is then NULL.
int pdc_b64_decode(const char *s, size_t n, uint8_t **out, size_t *outlen);

#endif
