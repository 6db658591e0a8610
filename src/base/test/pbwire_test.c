// base pbwire and bigend: varints round-trip at every length, fields of each
// wire type are read with their bodies, and what protobuf-c refuses is
// malformed here too (cut varints and bodies, tags longer than 5 bytes or
// with field number 0 in their first byte, groups and wire types 6 and 7).
#include <string.h>

#include "base/bigend.h"
#include "base/pbwire.h"
#include "base/test/check.h"

static void varints(void)
{
	uint8_t b[PBWIRE_VARINT_MAX + 1];
	for (unsigned bits = 0; bits <= 64; bits++) {
		uint64_t v = bits == 64 ? UINT64_MAX : (UINT64_C(1) << bits) - 1;
		size_t n = base_pbwire_put_varint(b, v);
		CHECK_EQ(n, base_pbwire_varint_size(v));
		CHECK_EQ(n, bits == 0 ? 1 : (bits + 6) / 7);
		const uint8_t *p = b;
		uint64_t got = 0;
		CHECK(base_pbwire_get_varint(&p, b + n, &got) == 0 && got == v && p == b + n,
		      "%u bits", bits);
		p = b; // cut one byte short
		CHECK(n == 1 || base_pbwire_get_varint(&p, b + n - 1, &got) == -1, "%u bits cut",
		      bits);
	}
	memset(b, 0x80, sizeof b); // eleven bytes with the continuation bit
	b[PBWIRE_VARINT_MAX] = 0;
	const uint8_t *p = b;
	uint64_t v;
	CHECK(base_pbwire_get_varint(&p, b + sizeof b, &v) == -1, "11-byte varint");
	b[PBWIRE_VARINT_MAX - 1] = 0x01; // ten bytes: accepted
	p = b;
	CHECK(base_pbwire_get_varint(&p, b + sizeof b, &v) == 0 && p == b + PBWIRE_VARINT_MAX);
}

static int read_one(const uint8_t *b, size_t n, base_pbwire_field *f)
{
	const uint8_t *p = b;
	int rc = base_pbwire_next(&p, b + n, f);
	if (rc == 0 && p != b + n)
		CHECK_FAIL("field read %zu of %zu bytes", (size_t)(p - b), n);
	return rc;
}

static void fields(void)
{
	base_pbwire_field f;
	static const uint8_t varint[] = {PBWIRE_TAG1(4, PBWIRE_VARINT), 0xAC, 0x02};
	CHECK(read_one(varint, sizeof varint, &f) == 0 && f.num == 4 && f.wt == PBWIRE_VARINT &&
	      f.value == 300 && f.body == NULL);
	static const uint8_t len[] = {PBWIRE_TAG1(3, PBWIRE_LEN), 2, 'h', 'i'};
	CHECK(read_one(len, sizeof len, &f) == 0 && f.num == 3 && f.wt == PBWIRE_LEN &&
	      f.value == 2 && f.body == len + 2);
	static const uint8_t i32[] = {PBWIRE_TAG1(1, PBWIRE_I32), 1, 2, 3, 4};
	CHECK(read_one(i32, sizeof i32, &f) == 0 && f.wt == PBWIRE_I32 && f.value == 4 &&
	      f.body == i32 + 1);
	static const uint8_t i64[] = {PBWIRE_TAG1(2, PBWIRE_I64), 1, 2, 3, 4, 5, 6, 7, 8};
	CHECK(read_one(i64, sizeof i64, &f) == 0 && f.wt == PBWIRE_I64 && f.value == 8 &&
	      f.body == i64 + 1);
	// The largest field number, in a five-byte tag.
	uint8_t big[8];
	size_t n = base_pbwire_put_varint(big, (uint64_t)PBWIRE_FIELD_MAX << 3 | PBWIRE_VARINT);
	big[n++] = 7;
	CHECK(read_one(big, n, &f) == 0 && f.num == PBWIRE_FIELD_MAX && f.value == 7);

	// Beyond it, in five bytes: protobuf-c reads the number in 32 bits and
	// decodes the message (an unknown field), so the scan must not refuse it
	// (a fuzz finding of fuzz/pbscan.c).
	n = base_pbwire_put_varint(big, (uint64_t)(PBWIRE_FIELD_MAX + 1u) << 3 | PBWIRE_VARINT);
	big[n++] = 7;
	CHECK(read_one(big, n, &f) == 0 && f.num == PBWIRE_FIELD_MAX + 1u, "field number 2^29");
	static const uint8_t wide[] = {0xe8, 0xe8, 0xe8, 0xe8, 0x7f, 0xff, 0xff, 0x0f};
	CHECK(read_one(wide, sizeof wide, &f) == 0 && f.wt == PBWIRE_VARINT,
	      "a 5-byte tag, 32-bit number");
	// Malformed: a tag of six bytes.
	static const uint8_t six[] = {0x88, 0x80, 0x80, 0x80, 0x80, 0x01, 0x01};
	CHECK(read_one(six, sizeof six, &f) == -1, "a six-byte tag");
	static const uint8_t zero[] = {PBWIRE_TAG1(0, PBWIRE_VARINT), 1};
	CHECK(read_one(zero, sizeof zero, &f) == -1, "field number 0");
	for (unsigned wt = 3; wt <= 7; wt++) {
		uint8_t b[] = {(uint8_t)(1 << 3 | wt), 0, 0, 0, 0, 0, 0, 0, 0};
		if (wt != PBWIRE_I32)
			CHECK(read_one(b, sizeof b, &f) == -1, "wire type %u", wt);
	}
	CHECK(read_one(len, sizeof len - 1, &f) == -1, "body cut");
	CHECK(read_one(i32, sizeof i32 - 1, &f) == -1, "fixed32 cut");
	CHECK(read_one(i64, sizeof i64 - 1, &f) == -1, "fixed64 cut");
	CHECK(read_one(varint, sizeof varint - 1, &f) == -1, "varint value cut");
	static const uint8_t huge[] = {PBWIRE_TAG1(3, PBWIRE_LEN), 0xFF, 0xFF, 0xFF, 0xFF, 0x0F};
	CHECK(read_one(huge, sizeof huge, &f) == -1, "length past the end");
}

static void bigend(void)
{
	uint8_t b[8];
	base_be64_put(b, UINT64_C(0x0102030405060708));
	CHECK(memcmp(b, "\x01\x02\x03\x04\x05\x06\x07\x08", 8) == 0);
	CHECK(base_be64_get(b) == UINT64_C(0x0102030405060708));
	base_be32_put(b, 0x80000001u);
	CHECK(memcmp(b, "\x80\x00\x00\x01", 4) == 0);
	CHECK(base_be32_get(b) == 0x80000001u);
	base_be64_put(b, UINT64_MAX);
	CHECK(base_be64_get(b) == UINT64_MAX);
}

int main(void)
{
	varints();
	fields();
	bigend();
	return check_summary("base_pbwire");
}
