// gate wire: see wire.h.
#include "wire.h"

#include <string.h>

#include "base/pbwire.h"

#define REQ_METHOD   1
#define REQ_METADATA 3
#define REQ_TIMEOUT  4
#define RESP_CODE    1
#define RESP_PAYLOAD 3
#define HEALTH_STAT  1

static const char health_method[] = "/grpc.health.v1.Health/Check";

size_t gate_env_strip_timeout(const uint8_t *in, size_t len, uint8_t *out)
{
	const uint8_t *p = in, *end = in + len;
	size_t n = 0;
	while (p < end) {
		const uint8_t *start = p;
		base_pbwire_field f;
		if (base_pbwire_next(&p, end, &f) != 0)
			return 0;
		if (f.num == REQ_TIMEOUT)
			continue;
		memcpy(out + n, start, (size_t)(p - start));
		n += (size_t)(p - start);
	}
	return n;
}

size_t gate_env_put_timeout(uint8_t *p, uint32_t ms)
{
	p[0] = PBWIRE_TAG1(REQ_TIMEOUT, PBWIRE_VARINT);
	return 1 + base_pbwire_put_varint(p + 1, ms);
}

// Bytes of a MetadataEntry's body: its key and value fields.
static size_t entry_size(size_t klen, size_t vlen)
{
	return 1 + base_pbwire_varint_size(klen) + klen + 1 + base_pbwire_varint_size(vlen) + vlen;
}

size_t gate_env_meta_size(size_t klen, size_t vlen)
{
	size_t entry = entry_size(klen, vlen);
	return 1 + base_pbwire_varint_size(entry) + entry;
}

size_t gate_env_put_meta(uint8_t *p, const char *key, size_t klen, const char *value, size_t vlen)
{
	size_t entry = entry_size(klen, vlen);
	size_t n = 0;
	p[n++] = PBWIRE_TAG1(REQ_METADATA, PBWIRE_LEN);
	n += base_pbwire_put_varint(p + n, entry);
	p[n++] = PBWIRE_TAG1(1, PBWIRE_LEN);
	n += base_pbwire_put_varint(p + n, klen);
	memcpy(p + n, key, klen);
	n += klen;
	p[n++] = PBWIRE_TAG1(2, PBWIRE_LEN);
	n += base_pbwire_put_varint(p + n, vlen);
	memcpy(p + n, value, vlen);
	return n + vlen;
}

// The code and the payload of a serialized rpc.v1.Response (0 and NULL when
// absent); 0, or -1 when it is malformed.
static int resp_fields(const uint8_t *b, size_t len, uint64_t *code, const uint8_t **payload,
                       uint64_t *plen)
{
	const uint8_t *p = b, *end = b + len;
	*code = 0;
	*payload = NULL;
	*plen = 0;
	while (p < end) {
		base_pbwire_field f;
		if (base_pbwire_next(&p, end, &f) != 0)
			return -1;
		if (f.num == RESP_CODE && f.wt == PBWIRE_VARINT) {
			*code = f.value;
		} else if (f.num == RESP_PAYLOAD && f.wt == PBWIRE_LEN) {
			*payload = f.body;
			*plen = f.value;
		}
	}
	return 0;
}

int gate_resp_code(const uint8_t *b, size_t len)
{
	uint64_t code, plen;
	const uint8_t *payload;
	if (resp_fields(b, len, &code, &payload, &plen) != 0)
		return -1;
	return code > 0xFFFF ? -1 : (int)code;
}

int gate_health_status(const uint8_t *b, size_t len)
{
	uint64_t code, plen;
	const uint8_t *payload;
	if (resp_fields(b, len, &code, &payload, &plen) != 0 || code != 0)
		return -1;
	uint64_t status = 0; // UNKNOWN when absent
	const uint8_t *p = payload, *end = payload != NULL ? payload + plen : NULL;
	while (p != NULL && p < end) {
		base_pbwire_field f;
		if (base_pbwire_next(&p, end, &f) != 0)
			return -1;
		if (f.num == HEALTH_STAT && f.wt == PBWIRE_VARINT)
			status = f.value;
	}
	return status > 100 ? -1 : (int)status;
}

size_t gate_health_request(uint8_t *out, size_t cap, uint32_t timeout_ms)
{
	size_t ml = sizeof health_method - 1;
	if (cap < 2 + ml + GATE_TIMEOUT_FIELD_MAX)
		return 0;
	size_t n = 0;
	out[n++] = PBWIRE_TAG1(REQ_METHOD, PBWIRE_LEN);
	out[n++] = (uint8_t)ml;
	memcpy(out + n, health_method, ml);
	n += ml;
	return n + gate_env_put_timeout(out + n, timeout_ms);
}
