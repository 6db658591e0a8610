// base test pbwrite: hand-made protobuf for tests (library pd_check): fields
// whose bytes protobuf-c's packer cannot produce (strings with NULs inside,
// unknown fields, malformed envelopes).
//
// A check_pb starts zeroed ({0}); the bytes are p[0..n), owned by the caller
// and freed with free(p). Running out of memory aborts the test.
#ifndef BASE_TEST_PBWRITE_H
#define BASE_TEST_PBWRITE_H

#include <stddef.h>
#include <stdint.h>

typedef struct check_pb {
	uint8_t *p;
	size_t n, cap;
} check_pb;

void check_pb_bytes(check_pb *b, const void *data, size_t len);
void check_pb_byte(check_pb *b, uint8_t v);
void check_pb_varint(check_pb *b, uint64_t v);
// A length-delimited field: tag (field, wire type 2), length, data.
void check_pb_field(check_pb *b, unsigned field, const void *data, size_t len);
// One rpc.v1 metadata entry (field 3: key 1, value 2), any bytes in either.
void check_pb_meta(check_pb *b, const void *key, size_t klen, const void *val, size_t vlen);

#endif
