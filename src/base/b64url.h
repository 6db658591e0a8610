// base b64url: unpadded base64url (RFC 4648 §5), the encoding of JWT parts and
// page tokens. Pure; no allocation.
#ifndef BASE_B64URL_H
#define BASE_B64URL_H

#include <stddef.h>
#include <stdint.h>

// Characters of the encoding of len bytes (no NUL).
size_t base_b64url_len(size_t len);
// Encodes in[len] into out, which must hold base_b64url_len(len) + 1 (NUL-terminated).
void base_b64url_encode(const uint8_t *in, size_t len, char *out);
// Strict decode of in[len] into out[cap]: refuses characters outside the
// alphabet (padding included), impossible lengths and non-zero trailing bits,
// so every byte string has exactly one accepted spelling. Returns the number
// of bytes, or -1.
long base_b64url_decode(const char *in, size_t len, uint8_t *out, size_t cap);

#endif
