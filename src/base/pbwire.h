// base pbwire: the protobuf wire format's primitives, for code that reads or
// writes serialized messages without unpacking them (the RPC envelope's
// pre-scan, the gateway's rewrites, the domain's string scan).
//
// Promises: a reader never reads outside [*p, end) and never allocates; a
// field's body points into the caller's buffer (borrowed, valid as long as
// it is). What counts as malformed is what protobuf-c 1.4.1 refuses too, so
// that a pre-scan never refuses a message protobuf-c would decode: a varint
// longer than 10 bytes or cut short, a tag longer than 5 bytes or whose first
// byte carries field number 0 (a longer tag keeps its number in 32 bits, as
// protobuf-c does; numbers it has no field for are unknown fields), wire
// types 3, 4 (groups), 6 and 7, and a length or fixed-size body that runs
// past the end. Writers write to caller-owned room of the size they say.
// Pure; any thread.
#ifndef BASE_PBWIRE_H
#define BASE_PBWIRE_H

#include <stddef.h>
#include <stdint.h>

enum base_pbwire_type { PBWIRE_VARINT = 0, PBWIRE_I64 = 1, PBWIRE_LEN = 2, PBWIRE_I32 = 5 };

#define PBWIRE_VARINT_MAX 10         // bytes of the longest varint
#define PBWIRE_FIELD_MAX  0x1fffffff // the largest field number

// A tag of one byte (field numbers 1..15), e.g. PBWIRE_TAG1(3, PBWIRE_LEN).
#define PBWIRE_TAG1(num, wt) ((uint8_t)((num) << 3 | (wt)))

// One field as read by base_pbwire_next.
typedef struct base_pbwire_field {
	uint32_t num;             // as protobuf-c reads it (see above)
	enum base_pbwire_type wt; // one of the four above
	uint64_t value;           // VARINT: the value; LEN: the body's length; I32/I64: 4 or 8
	const uint8_t *body;      // LEN, I32, I64: the body's bytes; VARINT: NULL
} base_pbwire_field;

// Reads a varint at *p (< end) into *v and advances *p past it. 0, or -1 when
// it is cut short or longer than PBWIRE_VARINT_MAX bytes (*p is then
// somewhere inside it).
int base_pbwire_get_varint(const uint8_t **p, const uint8_t *end, uint64_t *v);
// Reads the whole field at *p (< end) into *f and advances *p past it. 0, or
// -1 when malformed (see above).
int base_pbwire_next(const uint8_t **p, const uint8_t *end, base_pbwire_field *f);

// Bytes the varint of v takes (1..PBWIRE_VARINT_MAX).
size_t base_pbwire_varint_size(uint64_t v);
// Writes the varint of v at p (base_pbwire_varint_size(v) bytes); returns its length.
size_t base_pbwire_put_varint(uint8_t *p, uint64_t v);

#endif
