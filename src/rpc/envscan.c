// Wire pre-scan of rpc.v1.Request (see envscan.h). Field numbers follow
// proto/rpc/v1/rpc.proto: 3 is `map<string,string> metadata`, i.e. a repeated
// length-delimited MetadataEntry whose field 1 is the key and 2 the value.
#include "envscan.h"

#include <string.h>

#define F_METHOD   1
#define F_METADATA 3
#define F_TIMEOUT  4
#define F_KEY      1
#define F_VALUE    2

enum { WT_VARINT = 0, WT_64BIT = 1, WT_LEN = 2, WT_32BIT = 5 };

// Reads a varint (at most 10 bytes) at *p < end. Returns 0, or -1 when cut.
static int varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	uint64_t r = 0;
	for (unsigned shift = 0; shift < 70 && *p < end; shift += 7) {
		uint8_t b = *(*p)++;
		r |= (uint64_t)(b & 0x7f) << shift;
		if ((b & 0x80) == 0) {
			*v = r;
			return 0;
		}
	}
	return -1;
}

// Reads one field header and locates its body. For a length-delimited field
// *body/*blen are its bytes, for a varint *blen is its value; otherwise they
// are unused. Advances *p past the whole field. Returns 0 or -1 (malformed).
static int field(const uint8_t **p, const uint8_t *end, uint32_t *num, unsigned *wt,
                 const uint8_t **body, uint64_t *blen)
{
	uint64_t tag, v;
	if (varint(p, end, &tag) != 0 || (tag >> 3) == 0 || (tag >> 3) > 0x1fffffff)
		return -1;
	*num = (uint32_t)(tag >> 3);
	*wt = (unsigned)(tag & 7);
	size_t left;
	switch (*wt) {
	case WT_VARINT:
		return varint(p, end, blen);
	case WT_64BIT:
	case WT_32BIT: {
		size_t n = *wt == WT_64BIT ? 8 : 4;
		if ((size_t)(end - *p) < n)
			return -1;
		*p += n;
		return 0;
	}
	case WT_LEN:
		if (varint(p, end, &v) != 0)
			return -1;
		left = (size_t)(end - *p);
		if (v > left)
			return -1;
		*body = *p;
		*blen = v;
		*p += v;
		return 0;
	default: // groups (3, 4) and 6, 7: protobuf-c refuses them too
		return -1;
	}
}

enum envscan_result envscan_request(const uint8_t *buf, size_t len, size_t max_entries,
                                    size_t max_key, size_t max_value, envscan *out)
{
	static const char rid_key[] = "x-request-id";
	static const char idem_key[] = "idempotency-key";
	enum envscan_result res = ENVSCAN_OK;
	const uint8_t *p = buf, *end = buf + len;
	out->entries = 0;
	out->rid = NULL;
	out->rid_len = 0;
	out->method = NULL;
	out->method_len = 0;
	out->timeout_ms = 0;
	out->has_timeout = false;
	out->has_idempotency = false;
	while (p < end) {
		uint32_t num;
		unsigned wt;
		const uint8_t *body = NULL;
		uint64_t blen = 0;
		if (field(&p, end, &num, &wt, &body, &blen) != 0)
			return ENVSCAN_MALFORMED;
		if (num == F_METHOD && wt == WT_LEN) {
			out->method = body;
			out->method_len = blen;
			continue;
		}
		if (num == F_TIMEOUT && wt == WT_VARINT) {
			out->timeout_ms = blen;
			out->has_timeout = true;
			continue;
		}
		if (num != F_METADATA)
			continue;
		if (wt != WT_LEN)
			return ENVSCAN_MALFORMED;
		if (++out->entries > max_entries && res == ENVSCAN_OK)
			res = ENVSCAN_TOO_MANY;
		// One entry; a repeated key or value replaces the earlier one (as
		// protobuf-c does), but every occurrence is measured.
		const uint8_t *q = body, *qend = body + blen, *key = NULL, *val = NULL;
		size_t klen = 0, vlen = 0;
		while (q < qend) {
			uint32_t en;
			unsigned ewt;
			const uint8_t *eb = NULL;
			uint64_t el = 0;
			if (field(&q, qend, &en, &ewt, &eb, &el) != 0)
				return ENVSCAN_MALFORMED;
			if (en != F_KEY && en != F_VALUE)
				continue;
			if (ewt != WT_LEN)
				return ENVSCAN_MALFORMED;
			if (en == F_KEY) {
				if (el > max_key && res == ENVSCAN_OK)
					res = ENVSCAN_KEY_TOO_LONG;
				key = eb;
				klen = el;
			} else {
				if (el > max_value && res == ENVSCAN_OK)
					res = ENVSCAN_VALUE_TOO_LONG;
				val = eb;
				vlen = el;
			}
		}
		if (key != NULL && klen == sizeof(idem_key) - 1 && memcmp(key, idem_key, klen) == 0)
			out->has_idempotency = true;
		if (out->rid == NULL && key != NULL && klen == sizeof(rid_key) - 1 &&
		    memcmp(key, rid_key, klen) == 0) {
			out->rid = val != NULL ? val : (const uint8_t *)"";
			out->rid_len = vlen;
		}
	}
	return res;
}
