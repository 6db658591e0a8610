// Wire pre-scan of rpc.v1.Request (see envscan.h). Field numbers follow
// proto/rpc/v1/rpc.proto: 3 is `map<string,string> metadata`, i.e. a repeated
// length-delimited MetadataEntry whose field 1 is the key and 2 the value.
#include "envscan.h"

#include <string.h>

#include "base/pbwire.h"

#define F_METHOD   1
#define F_METADATA 3
#define F_TIMEOUT  4
#define F_KEY      1
#define F_VALUE    2

enum nrpc_envscan_result nrpc_envscan_request(const uint8_t *buf, size_t len, size_t max_entries,
                                              size_t max_key, size_t max_value, nrpc_envscan *out)
{
	static const char rid_key[] = "x-request-id";
	static const char idem_key[] = "idempotency-key";
	enum nrpc_envscan_result res = ENVSCAN_OK;
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
		base_pbwire_field f;
		if (base_pbwire_next(&p, end, &f) != 0)
			return ENVSCAN_MALFORMED;
		if (f.num == F_METHOD && f.wt == PBWIRE_LEN) {
			out->method = f.body;
			out->method_len = f.value;
			continue;
		}
		if (f.num == F_TIMEOUT && f.wt == PBWIRE_VARINT) {
			out->timeout_ms = f.value;
			out->has_timeout = true;
			continue;
		}
		if (f.num != F_METADATA)
			continue;
		if (f.wt != PBWIRE_LEN)
			return ENVSCAN_MALFORMED;
		if (++out->entries > max_entries && res == ENVSCAN_OK)
			res = ENVSCAN_TOO_MANY;
		// One entry; a repeated key or value replaces the earlier one (as
		// protobuf-c does), but every occurrence is measured.
		const uint8_t *q = f.body, *qend = f.body + f.value, *key = NULL, *val = NULL;
		size_t klen = 0, vlen = 0;
		while (q < qend) {
			base_pbwire_field e;
			if (base_pbwire_next(&q, qend, &e) != 0)
				return ENVSCAN_MALFORMED;
			if (e.num != F_KEY && e.num != F_VALUE)
				continue;
			if (e.wt != PBWIRE_LEN)
				return ENVSCAN_MALFORMED;
			if (e.num == F_KEY) {
				if (e.value > max_key && res == ENVSCAN_OK)
					res = ENVSCAN_KEY_TOO_LONG;
				key = e.body;
				klen = e.value;
			} else {
				if (e.value > max_value && res == ENVSCAN_OK)
					res = ENVSCAN_VALUE_TOO_LONG;
				val = e.body;
				vlen = e.value;
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
