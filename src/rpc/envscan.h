// rpc envscan: a pre-scan of a serialized rpc.v1.Request, before unpacking.
//
// protobuf-c's unpacked form of a message can be many times larger than its
// wire form, and once unpacked a string's embedded NULs are invisible. So the
// metadata limits are checked on the wire, in one pass over the bytes, with
// no allocation: entries are counted and every key and value is measured in
// bytes as sent (NULs included). The scan also notes the first x-request-id
// value so that a refused request can still have its id echoed, and what a
// proxy needs to route the request without unpacking it.
#ifndef RPC_ENVSCAN_H
#define RPC_ENVSCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum nrpc_envscan_result {
	ENVSCAN_OK = 0,
	ENVSCAN_MALFORMED,     // not a valid protobuf encoding of rpc.v1.Request
	ENVSCAN_TOO_MANY,      // more than max_entries metadata entries
	ENVSCAN_KEY_TOO_LONG,  // a key longer than max_key bytes
	ENVSCAN_VALUE_TOO_LONG // a value longer than max_value bytes
};

typedef struct nrpc_envscan {
	size_t entries;     // metadata entries seen
	const uint8_t *rid; // first x-request-id value on the wire, or NULL
	size_t rid_len;
	// For a proxy, which forwards the bytes without unpacking them:
	const uint8_t *method; // the last `method` field's bytes (as protobuf-c keeps), or NULL
	size_t method_len;
	uint64_t timeout_ms;  // the last `timeout_ms` field, 0 when absent
	bool has_timeout;     // a timeout_ms field is on the wire (a proxy rewrites it)
	bool has_idempotency; // some metadata entry has the key idempotency-key
} nrpc_envscan;

// Scans buf[len]. Returns ENVSCAN_OK or the first problem found; a malformed
// encoding wins over a limit (the whole buffer is always walked), so `out`
// describes the complete message whenever the result is not ENVSCAN_MALFORMED.
enum nrpc_envscan_result nrpc_envscan_request(const uint8_t *buf, size_t len, size_t max_entries,
                                              size_t max_key, size_t max_value, nrpc_envscan *out);

#endif
