// base b64url: base64 (RFC 4648). Unpadded base64url (§5) is the encoding of
// JWT parts and page tokens; padded standard base64 (§4) that of protobuf
// bytes fields in JSON, read back in either alphabet. Pure; no allocation.
//
// Every decoder is strict about the bits: it refuses characters outside its
// alphabet, impossible lengths and non-zero trailing bits, so every byte
// string has exactly one accepted spelling (per alphabet and padding).
#ifndef BASE_B64URL_H
#define BASE_B64URL_H

#include <stddef.h>
#include <stdint.h>

// Characters of the base64url encoding of len bytes (no NUL).
size_t base_b64url_len(size_t len);
// Encodes in[len] into out, which must hold base_b64url_len(len) + 1 (NUL-terminated).
void base_b64url_encode(const uint8_t *in, size_t len, char *out);
// Strict decode of unpadded base64url in[len] into out[cap] (padding is
// refused too). Returns the number of bytes, or -1.
long base_b64url_decode(const char *in, size_t len, uint8_t *out, size_t cap);

// Characters of the padded standard encoding of len bytes (no NUL).
size_t base_b64_len(size_t len);
// Encodes in[len] with the standard alphabet and '=' padding into out, which
// must hold base_b64_len(len) + 1 (NUL-terminated).
void base_b64_encode(const uint8_t *in, size_t len, char *out);
// Decodes in[len] in the standard or the URL alphabet, padded or not ('='
// only as the last one or two characters of a group of four) into out[cap].
// Returns the number of bytes, or -1.
long base_b64_decode_any(const char *in, size_t len, uint8_t *out, size_t cap);

#endif
