// gate wire: see wire.h.
#include "wire.h"

#include <string.h>

enum { WT_VARINT = 0, WT_64BIT = 1, WT_LEN = 2, WT_32BIT = 5 };

#define REQ_METHOD   1
#define REQ_METADATA 3
#define REQ_TIMEOUT  4
#define RESP_CODE    1
#define RESP_PAYLOAD 3
#define HEALTH_STAT  1

static const char health_method[] = "/grpc.health.v1.Health/Check";

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

static size_t put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

static size_t varint_size(uint64_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

// One field at *p: its number, wire type, value (varint) or bytes (LEN).
// Advances *p past it. 0, or -1 when malformed.
static int field(const uint8_t **p, const uint8_t *end, uint32_t *num, unsigned *wt, uint64_t *v,
                 const uint8_t **body)
{
	uint64_t tag;
	if (varint(p, end, &tag) != 0 || (tag >> 3) == 0 || (tag >> 3) > 0x1fffffff)
		return -1;
	*num = (uint32_t)(tag >> 3);
	*wt = (unsigned)(tag & 7);
	switch (*wt) {
	case WT_VARINT:
		return varint(p, end, v);
	case WT_64BIT:
	case WT_32BIT: {
		size_t n = *wt == WT_64BIT ? 8 : 4;
		if ((size_t)(end - *p) < n)
			return -1;
		*p += n;
		return 0;
	}
	case WT_LEN:
		if (varint(p, end, v) != 0 || *v > (uint64_t)(end - *p))
			return -1;
		*body = *p;
		*p += *v;
		return 0;
	default:
		return -1;
	}
}

size_t gate_env_strip_timeout(const uint8_t *in, size_t len, uint8_t *out)
{
	const uint8_t *p = in, *end = in + len;
	size_t n = 0;
	while (p < end) {
		const uint8_t *start = p, *body = NULL;
		uint32_t num;
		unsigned wt;
		uint64_t v;
		if (field(&p, end, &num, &wt, &v, &body) != 0)
			return 0;
		if (num == REQ_TIMEOUT)
			continue;
		memcpy(out + n, start, (size_t)(p - start));
		n += (size_t)(p - start);
	}
	return n;
}

size_t gate_env_put_timeout(uint8_t *p, uint32_t ms)
{
	p[0] = REQ_TIMEOUT << 3 | WT_VARINT;
	return 1 + put_varint(p + 1, ms);
}

size_t gate_env_meta_size(size_t klen, size_t vlen)
{
	size_t entry = 1 + varint_size(klen) + klen + 1 + varint_size(vlen) + vlen;
	return 1 + varint_size(entry) + entry;
}

size_t gate_env_put_meta(uint8_t *p, const char *key, size_t klen, const char *value, size_t vlen)
{
	size_t entry = 1 + varint_size(klen) + klen + 1 + varint_size(vlen) + vlen;
	size_t n = 0;
	p[n++] = REQ_METADATA << 3 | WT_LEN;
	n += put_varint(p + n, entry);
	p[n++] = 1 << 3 | WT_LEN;
	n += put_varint(p + n, klen);
	memcpy(p + n, key, klen);
	n += klen;
	p[n++] = 2 << 3 | WT_LEN;
	n += put_varint(p + n, vlen);
	memcpy(p + n, value, vlen);
	return n + vlen;
}

int gate_resp_code(const uint8_t *b, size_t len)
{
	const uint8_t *p = b, *end = b + len;
	uint64_t code = 0;
	while (p < end) {
		const uint8_t *body = NULL;
		uint32_t num;
		unsigned wt;
		uint64_t v;
		if (field(&p, end, &num, &wt, &v, &body) != 0)
			return -1;
		if (num == RESP_CODE && wt == WT_VARINT)
			code = v;
	}
	return code > 0xFFFF ? -1 : (int)code;
}

int gate_health_status(const uint8_t *b, size_t len)
{
	const uint8_t *p = b, *end = b + len, *payload = NULL;
	uint64_t code = 0, plen = 0;
	while (p < end) {
		const uint8_t *body = NULL;
		uint32_t num;
		unsigned wt;
		uint64_t v;
		if (field(&p, end, &num, &wt, &v, &body) != 0)
			return -1;
		if (num == RESP_CODE && wt == WT_VARINT)
			code = v;
		else if (num == RESP_PAYLOAD && wt == WT_LEN) {
			payload = body;
			plen = v;
		}
	}
	if (code != 0)
		return -1;
	uint64_t status = 0; // UNKNOWN when absent
	p = payload;
	end = payload != NULL ? payload + plen : NULL;
	while (p != NULL && p < end) {
		const uint8_t *body = NULL;
		uint32_t num;
		unsigned wt;
		uint64_t v;
		if (field(&p, end, &num, &wt, &v, &body) != 0)
			return -1;
		if (num == HEALTH_STAT && wt == WT_VARINT)
			status = v;
	}
	return status > 100 ? -1 : (int)status;
}

size_t gate_health_request(uint8_t *out, size_t cap, uint32_t timeout_ms)
{
	size_t ml = sizeof health_method - 1;
	if (cap < 2 + ml + GATE_TIMEOUT_FIELD_MAX)
		return 0;
	size_t n = 0;
	out[n++] = REQ_METHOD << 3 | WT_LEN;
	out[n++] = (uint8_t)ml;
	memcpy(out + n, health_method, ml);
	n += ml;
	return n + gate_env_put_timeout(out + n, timeout_ms);
}
