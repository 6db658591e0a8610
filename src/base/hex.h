// base hex: lower-case hexadecimal text of bytes (digests, script SHAs) and
// of UUIDs (8-4-4-4-12), UUID text back to bytes, and the value of one hex
// digit.
//
// Pure; no allocation; buffers are the caller's.
#ifndef BASE_HEX_H
#define BASE_HEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BASE_UUID_TEXT_LEN 36 // "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"

// Writes in[n] as 2n lower-case hex digits and a NUL to out (2n + 1 bytes).
void base_hex_encode(const uint8_t *in, size_t n, char *out);
// Writes the 16 bytes b as a lower-case UUID and a NUL to out.
void base_hex_uuid(const uint8_t b[16], char out[BASE_UUID_TEXT_LEN + 1]);
// True when s is exactly a UUID's text (hex digits of either case, dashes
// at 8, 13, 18, 23, then the NUL); its 16 bytes are then in out (else out
// holds garbage). Reads s no further than its NUL.
bool base_hex_uuid_parse(const char *s, uint8_t out[16]);
// The value 0..15 of the hex digit c (either case), or -1.
int base_hex_value(char c);

#endif
